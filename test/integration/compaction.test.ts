// Log compaction on a real cluster: with a snapshot every 20 slots, the
// list survives restarts, each snapshot appends only the new items to
// list.bin, and a node that was down while the log was compacted catches up
// from a snapshot.

import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ProcessCluster } from "../support/process-cluster.js";
import { listChunkFromBytes } from "../../src/codec/wire.js";
import { scanFrames } from "../../src/storage/record-file.js";

let cluster: ProcessCluster;
const expected: number[] = [];

beforeAll(async () => {
  cluster = await ProcessCluster.start(3, ["--snapshot-every", "20"]);
});

afterAll(async () => {
  await cluster?.destroy();
});

async function appendMany(from: number, count: number, via: number) {
  for (let i = 0; i < count; i++) {
    const payload = from + i;
    const r = await cluster.append(via, 40_000 + payload, 1, payload);
    expect(r.status, r.text).toBe(200);
    expected.push(payload);
    expect((r.body as { state: number[] }).state).toEqual(expected);
  }
}

describe("log compaction with snapshots", () => {
  it("keeps the log short and the list whole", async () => {
    await appendMany(1, 70, 0);
    const leader = await cluster.waitForLeader();
    const dir = cluster.dataDir(leader);
    expect(existsSync(join(dir, "snapshot.bin"))).toBe(true);
    // 70 appends (plus one no-op per election) would be far more than 20 slots of records
    // (the records' bytes: zeros preallocated ahead of them follow).
    const logPath = join(dir, "paxos.log");
    expect(scanFrames(logPath, readFileSync(logPath)).validBytes).toBeLessThan(20 * 200);
    // Three or more snapshots, each appending the items applied since the one before.
    const path = join(dir, "list.bin");
    const chunks = scanFrames(path, readFileSync(path)).records.map(listChunkFromBytes);
    expect(chunks.length).toBeGreaterThanOrEqual(3);
    chunks.forEach((c, i) => expect(c.start).toBe(i === 0 ? 0 : chunks[i - 1]!.start + chunks[i - 1]!.items.length));
    expect(chunks.flatMap((c) => [...c.items])).toEqual(expected.slice(0, chunks.at(-1)!.start + chunks.at(-1)!.items.length));
  });

  it("catches up a node that was down while the others compacted, through a snapshot", async () => {
    const leader = await cluster.waitForLeader();
    const follower = (leader + 1) % 3;
    await cluster.kill(follower, "SIGKILL");
    await appendMany(1000, 60, leader);
    cluster.startNode(follower);
    await cluster.waitUntil(
      async () => (await cluster.status(follower).catch(() => null))?.list_length === expected.length,
      15_000,
      `node ${follower} to catch up`,
    );
    expect(cluster.logs.get(follower)!.join("\n")).not.toMatch(/"level":[56]0/);
  });

  it("restarts every node from snapshot plus log, and goes on appending", async () => {
    for (let i = 0; i < 3; i++) await cluster.kill(i, "SIGKILL");
    for (let i = 0; i < 3; i++) cluster.startNode(i);
    await cluster.waitForLeader();
    for (let i = 0; i < 3; i++) expect(await cluster.state(i)).toEqual(expected);
    await appendMany(5000, 5, 2);
  });
});
