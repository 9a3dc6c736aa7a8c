// Persist before vote, at the edge of real processes: a node sends an
// Accepted only after an fdatasync that finished after the Accept it answers
// arrived (or, on the leader, after it sent that Accept: its own vote). The
// core only says which records a vote needs; the runtime (ClusterNode's
// Ready loop) is what holds the vote until the log's promise resolves, so a
// wrong promise there would let a vote out early. The evidence is each
// node's own step trace (--trace-steps), written when it stops.

import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { TracedStep } from "../../src/node/step-trace.js";
import { ProcessCluster } from "../support/process-cluster.js";

let cluster: ProcessCluster;
const traceDir = mkdtempSync(join(tmpdir(), "paxos-votes-"));
const traceFile = (i: number) => join(traceDir, `steps-${i}.json`);

beforeAll(async () => {
  cluster = await ProcessCluster.start(3);
  for (let i = 0; i < 3; i++) {
    cluster.setExtraArgs(i, ["--trace-steps", traceFile(i)]);
    await cluster.restart(i);
  }
  await cluster.waitForLeader();
}, 60_000);

afterAll(async () => {
  await cluster?.destroy();
  rmSync(traceDir, { recursive: true, force: true });
});

/** Sends of "accepted" in a node's trace, and how many had no fdatasync done between their cause and them. */
function checkVotes(steps: readonly TracedStep[]): { votes: number; early: string[] } {
  let cause: number | null = null; // when the latest Accept arrived here or left here
  let durableSinceCause = false;
  let votes = 0;
  const early: string[] = [];
  for (const s of steps) {
    if (s.step === "recv accept" || s.step === "send accept") {
      cause = s.atMs;
      durableSinceCause = false;
    } else if (s.step === "fsync done") {
      durableSinceCause = true;
    } else if (s.step === "send accepted" && cause !== null) {
      votes++;
      if (!durableSinceCause) early.push(`an Accepted at ${s.atMs.toFixed(3)} ms, ${(s.atMs - cause).toFixed(3)} ms after its Accept, with no fdatasync done in between`);
    }
  }
  return { votes, early };
}

describe("persist before vote, in real processes", () => {
  it("sends no Accepted before the fdatasync of what it votes for", async () => {
    const leader = await cluster.waitForLeader();
    const follower = (leader + 1) % 3;
    // One request at a time: every Accept carries one value; the leader and the follower the requests go
    // through vote on it (thrifty: the third node takes it quietly), each telling every member.
    for (let k = 1; k <= 60; k++) {
      for (const via of [leader, follower]) {
        const r = await cluster.append(via, 7000 + via, k, k);
        expect(r.status, r.text).toBe(200);
      }
    }
    for (let i = 0; i < 3; i++) await cluster.kill(i, "SIGTERM"); // a clean stop writes the trace
    for (let i = 0; i < 3; i++) {
      const { steps } = JSON.parse(readFileSync(traceFile(i), "utf8")) as { steps: TracedStep[] };
      const { votes, early } = checkVotes(steps);
      // The leader and that follower voted on (nearly) all 120 appends; the third on the first (a small batch
      // after none asks everyone) and after a fallback.
      if (i === leader || i === follower) expect(votes, `node ${i}`).toBeGreaterThanOrEqual(100);
      expect(early, `node ${i}`).toEqual([]);
    }
  }, 60_000);
});
