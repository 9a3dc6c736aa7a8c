// A removed node keeps answering the members that still need it (real
// processes). Two voters left, L leading and A following; L removes itself,
// and A is the only member. If A never learns that the removal was chosen
// (the last Commit lost in a crash), A's commit point is still governed by
// {L, A}: it can neither learn the slots it lacks nor win an election
// without L. The removed L answers A's election with the chosen values, the
// removal among them, but only while it keeps its peer link to A: that link
// used to close 5 s after L applied its removal.
//
// The lost Commit cannot be timed on real processes (it arrives within a
// millisecond of A's vote), so A's state is rolled back instead: A's data
// directory is copied after a SIGKILL before the last appends and the
// removal, and put back after them. A then lacks the removal and the
// appends as A would lack the Commit, and more (its votes too); what L
// hands it is chosen, so it is safe to hand anyone.

import { cpSync, rmSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ProcessCluster, httpJson, sleep } from "../support/process-cluster.js";

let cluster: ProcessCluster;

beforeAll(async () => {
  cluster = await ProcessCluster.start(3);
});

afterAll(async () => {
  await cluster?.destroy();
});

async function removeMember(via: number, id: number): Promise<void> {
  const r = await httpJson(cluster.url(via, `/members/${id}`), { method: "DELETE", timeoutMs: 20_000 });
  expect(r.status, `DELETE /members/${id} via ${via}: ${r.text}`).toBe(200);
}

async function appendAll(via: number, from: number, n: number): Promise<void> {
  for (let p = from; p < from + n; p++) {
    const r = await cluster.append(via, 9, p, p);
    expect(r.status, `append ${p}: ${r.text}`).toBe(200);
  }
}

describe("a removed leader", () => {
  it("still hands the last voter what it lacks, more than 5 s after its removal", async () => {
    const leader = await cluster.waitForLeader();
    const [a, b] = [0, 1, 2].filter((i) => i !== leader) as [number, number];
    await appendAll(leader, 1, 10);
    await removeMember(leader, b);
    await cluster.kill(b);
    await appendAll(leader, 11, 10);

    // A's state as of a crash now: before appends 21-30 and before L's removal.
    await cluster.kill(a);
    const image = join(cluster.dir, "a-image");
    cpSync(cluster.dataDir(a), image, { recursive: true });
    cluster.startNode(a);
    await cluster.waitUntil(async () => (await cluster.status(a).catch(() => null))?.leader === leader, 15_000, "A to follow L again");
    await appendAll(leader, 21, 10);
    await removeMember(a, leader);
    await cluster.waitUntil(async () => (await cluster.status(leader).catch(() => null))?.member === "removed", 10_000, "L to apply its removal");

    // A forgets the appends and the removal (as if the last Commit had been lost), and comes back after 6 s.
    await cluster.kill(a);
    rmSync(cluster.dataDir(a), { recursive: true });
    cpSync(image, cluster.dataDir(a), { recursive: true });
    await sleep(6_000);
    expect(cluster.isRunning(leader)).toBe(true);
    cluster.startNode(a);

    // A learns the removal and the appends from L, leads {A}, and serves.
    await cluster.waitUntil(async () => (await cluster.status(a).catch(() => null))?.role === "leader", 15_000, "A to lead alone");
    const members = await httpJson(cluster.url(a, "/members"));
    expect((members.body as { members: { id: number }[] }).members.map((m) => m.id)).toEqual([a]);
    const r = await cluster.append(a, 9, 31, 31);
    expect(r.status, r.text).toBe(200);
    expect(await cluster.state(a)).toEqual(Array.from({ length: 31 }, (_, i) => i + 1));
  });
});
