// The live page's storage figures (GET /status `stats`): log_bytes counts the
// durable log's records, not its file, which is kept zero-filled up to 1 MiB
// ahead of them; snapshot_bytes counts snapshot.bin and list.bin.

import { mkdtempSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { GENESIS3 } from "../support/genesis.js";
import type { PersistRecord, Snapshot, Value } from "../../src/core/types.js";
import { recordToBytes } from "../../src/codec/wire.js";
import { wholeItems } from "../../src/core/replicated-list.js";
import { DurableLog, LOG_FILE_NAME } from "../../src/storage/durable-log.js";
import { LIST_FILE_NAME } from "../../src/storage/list-file.js";
import { frame, PREALLOCATED_BYTES } from "../../src/storage/record-file.js";
import { SNAPSHOT_FILE_NAME } from "../../src/storage/snapshot-file.js";
import { LiveStats } from "../../src/ui/live-stats.js";

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

const v = (p: number): Value => ({ kind: "command", command: { clientId: p, commandId: 1, payload: p } });
const ballot = { round: 2, node: 1 };
/** A record's bytes in the log: its frame (length and CRC) and its payload. */
const framed = (r: PersistRecord) => frame(recordToBytes(r)).length;

describe("live stats of the data directory", () => {
  it("log_bytes follows the log's records, not its preallocated file; snapshot_bytes adds list.bin", async () => {
    const dir = mkdtempSync(join(tmpdir(), "paxos-live-stats-"));
    dirs.push(dir);
    const { log } = await DurableLog.open(dir, GENESIS3);
    try {
      const records: PersistRecord[] = [
        { type: "promised", ballot },
        { type: "accepted", ballot, fromSlot: 0, values: [v(10), v(11), v(12)] },
      ];
      await log.append(records);
      const expected = records.reduce((n, r) => n + framed(r), 0);
      const stats = new LiveStats(dir, () => log.recordBytes);
      const before = await stats.json([]);
      expect(before.log_bytes).toBe(expected);
      expect(statSync(join(dir, LOG_FILE_NAME)).size).toBeGreaterThanOrEqual(expected + PREALLOCATED_BYTES); // the zeros ahead
      expect(before.snapshot_bytes).toBeNull();

      // A compaction: the log keeps what the snapshot retains; the list goes to list.bin.
      const snapshot: Snapshot = { upTo: 3, state: { items: wholeItems([10, 11, 12]), sessions: [], recent: [] }, membership: GENESIS3 };
      const retained: PersistRecord[] = [{ type: "promised", ballot }];
      await log.append([{ type: "snapshot", snapshot, retained }]);
      const after = await new LiveStats(dir, () => log.recordBytes).json([]);
      expect(after.log_bytes).toBe(framed(retained[0]!));
      expect(after.snapshot_bytes).toBe(statSync(join(dir, SNAPSHOT_FILE_NAME)).size + statSync(join(dir, LIST_FILE_NAME)).size);
    } finally {
      await log.close();
    }
  });

  it("log_bytes comes from the log, not the file: null while no log is open, even beside a paxos.log", async () => {
    const dir = mkdtempSync(join(tmpdir(), "paxos-live-stats-"));
    dirs.push(dir);
    writeFileSync(join(dir, LOG_FILE_NAME), Buffer.alloc(4096)); // what a stat of the file would report
    const stats = new LiveStats(dir, () => null);
    expect((await stats.json([])).log_bytes).toBeNull();
  });
});
