// Snapshots on disk: compaction through DurableLog, restart from snapshot
// plus log, a crash between the snapshot and the log rewrite, and damage.

import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { GENESIS3 } from "../support/genesis.js";
import { PaxosCore } from "../../src/core/paxos-core.js";
import type { CoreConfig, PersistRecord, Snapshot, Value } from "../../src/core/types.js";
import { DurableLog } from "../../src/storage/durable-log.js";
import { CorruptLogError } from "../../src/storage/record-file.js";
import { SNAPSHOT_FILE_NAME, writeSnapshot } from "../../src/storage/snapshot-file.js";

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});
function tempDir(): string {
  const d = mkdtempSync(join(tmpdir(), "paxos-snap-"));
  dirs.push(d);
  return d;
}

const v = (p: number): Value => ({ kind: "command", command: { clientId: p, commandId: 1, payload: p } });
const ballot = { round: 2, node: 1 };
const snapshot: Snapshot = {
  upTo: 3,
  state: { items: [10, 11, 12], sessions: [10, 1, 10, 0, 11, 1, 11, 1, 12, 1, 12, 2], recent: [12, 1, 12, 2, 2] },
  membership: GENESIS3,
};

describe("snapshots in the data directory", () => {
  it("compaction replaces the log by what the snapshot retains; later records follow", async () => {
    const dir = tempDir();
    const { log } = await DurableLog.open(dir, GENESIS3);
    const retained: PersistRecord[] = [
      { type: "promised", ballot },
      { type: "accepted", ballot, fromSlot: 4, values: [v(14)] },
    ];
    await log.append([
      { type: "promised", ballot },
      { type: "accepted", ballot, fromSlot: 0, values: [v(10), v(11), v(12)] },
      { type: "chosen", fromSlot: 0, values: [v(10), v(11), v(12)] },
      { type: "snapshot", snapshot, retained },
      { type: "chosen", fromSlot: 3, values: [v(13)] },
    ]);
    await log.close();
    const reopened = await DurableLog.open(dir, GENESIS3);
    expect(reopened.snapshot).toEqual(snapshot);
    expect(reopened.records).toEqual([...retained, { type: "chosen", fromSlot: 3, values: [v(13)] }]);
    await reopened.log.close();
  });

  it("a crash after the snapshot but before the log rewrite restores the same state", async () => {
    const dir = tempDir();
    const { log } = await DurableLog.open(dir, GENESIS3);
    await log.append([
      { type: "accepted", ballot, fromSlot: 0, values: [v(10), v(11), v(12), v(13)] },
      { type: "chosen", fromSlot: 0, values: [v(10), v(11), v(12), v(13)] },
    ]);
    await log.close();
    await writeSnapshot(dir, snapshot); // the snapshot is durable; the old log is still whole
    const { log: l2, snapshot: s, records } = await DurableLog.open(dir, GENESIS3);
    await l2.close();
    const cfg: CoreConfig = {
      id: 0, genesis: GENESIS3, heartbeatTicks: 2, electionTicksMin: 10, electionTicksMax: 20, seed: 1,
      maxBatch: 8, maxInflight: 2, maxPending: 100, catchupBatch: 10, resendTicks: 5, maxSessions: 100,
    };
    const core = new PaxosCore(cfg, records, s);
    expect(core.commitIndex).toBe(4);
    expect([...core.list.values]).toEqual([10, 11, 12, 13]);
    expect(core.status().promised).toEqual(ballot);
  });

  it("refuses to start on a damaged snapshot, naming the file", async () => {
    const dir = tempDir();
    await writeSnapshot(dir, snapshot);
    const path = join(dir, SNAPSHOT_FILE_NAME);
    const bytes = readFileSync(path);
    bytes[bytes.length - 1]! ^= 0xff;
    writeFileSync(path, bytes);
    const err = await DurableLog.open(dir, GENESIS3).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CorruptLogError);
    expect((err as Error).message).toContain(path);
  });
});
