// A node killed with SIGKILL during its warm-up runs no exit handler, so its
// scratch directory stays in the temp dir; the next warm-up on the machine
// removes it (src/node/warm-up.ts, removeOrphanedScratchDirs). Jepsen's kill
// nemesis does exactly this: a restarted node spends its first seconds warming
// up, and the next kill may land there.
//
// Real processes and a real SIGKILL; the node's temp dir is one of the test's
// own (TMPDIR), so other nodes on the machine cannot add or remove entries.

import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { SCRATCH_DIR_PREFIX } from "../../src/node/warm-up.js";
import { ProcessCluster } from "../support/process-cluster.js";

let tmp: string;
let cluster: ProcessCluster;

beforeAll(async () => {
  tmp = mkdtempSync(join(tmpdir(), "paxos-orphans-"));
  cluster = await ProcessCluster.start(1, [], { warmUp: true, env: { TMPDIR: tmp } });
}, 60_000);

afterAll(async () => {
  await cluster?.destroy();
  rmSync(tmp, { recursive: true, force: true });
});

/** The scratch directories in the test's temp dir. */
function scratchDirs(): string[] {
  return readdirSync(tmp).filter((n) => n.startsWith(SCRATCH_DIR_PREFIX));
}

describe("a warm-up cut short by SIGKILL", () => {
  it("leaves its scratch directory, and the next warm-up removes it, keeping those of live processes", async () => {
    // The first start warmed up and removed its own directory.
    expect(scratchDirs()).toEqual([]);

    // Restart and kill -9 while the node warms up: its directory is there, named after its pid.
    await cluster.kill(0);
    cluster.startNode(0);
    const pid = cluster.pid(0);
    const ownDir = () => scratchDirs().find((n) => n.startsWith(`${SCRATCH_DIR_PREFIX}${pid}-`));
    await cluster.waitUntil(async () => ownDir() !== undefined, 15_000, "the warm-up's scratch directory");
    const orphan = ownDir()!;
    const exited = new Promise<NodeJS.Signals | null>((resolve) => cluster.onExit(0, (_code, signal) => resolve(signal)));
    process.kill(pid, "SIGKILL");
    const signal = await exited;
    // Evidence from outside the tool that killed it: the kernel reports the signal, and /proc has no such process.
    expect(signal).toBe("SIGKILL");
    expect(existsSync(`/proc/${pid}`)).toBe(false);
    expect(existsSync(join(tmp, orphan))).toBe(true); // the leak this guards against

    // Directories the sweep must keep: a live process's (this test's own pid), and names not of this form.
    const live = `${SCRATCH_DIR_PREFIX}${process.pid}-aB3dE9`;
    const other = `${SCRATCH_DIR_PREFIX}zzzzzz`;
    mkdirSync(join(tmp, live));
    mkdirSync(join(tmp, other));

    // The next start's warm-up removes the orphan (and its own directory) and says so.
    cluster.startNode(0);
    await cluster.waitForLeader(30_000);
    expect(existsSync(join(tmp, orphan))).toBe(false);
    expect(scratchDirs().sort()).toEqual([live, other].sort());
    const warmed = (cluster.logs.get(0) ?? []).filter((l) => l.includes("warmed up on scratch clusters")).at(-1);
    expect(warmed, cluster.tailLogs(20)).toBeDefined();
    expect((JSON.parse(warmed!) as { orphanedScratchDirsRemoved: string[] }).orphanedScratchDirsRemoved).toEqual([join(tmp, orphan)]);
  }, 90_000);
});
