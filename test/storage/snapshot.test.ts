// Snapshots on disk: compaction through DurableLog, restart from snapshot
// plus log, a crash between the snapshot and the log rewrite, and damage;
// list.bin, which holds the list's items, appended to at each compaction.

import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { GENESIS3 } from "../support/genesis.js";
import { PaxosCore } from "../../src/core/paxos-core.js";
import type { CoreConfig, PersistRecord, Snapshot, Value } from "../../src/core/types.js";
import { DurableLog } from "../../src/storage/durable-log.js";
import { CorruptLogError, frame, scanFrames } from "../../src/storage/record-file.js";
import { SNAPSHOT_FILE_NAME, writeSnapshot } from "../../src/storage/snapshot-file.js";
import { LIST_FILE_NAME, ListFile } from "../../src/storage/list-file.js";
import { listChunkFromBytes } from "../../src/codec/wire.js";
import { wholeItems } from "../../src/core/replicated-list.js";
import { ListChunk, SnapshotFile } from "../../gen/paxos/v1/storage.js";


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
  state: { items: wholeItems([10, 11, 12]), sessions: [10, 1, 10, 0, 11, 1, 11, 1, 12, 1, 12, 2], recent: [12, 1, 12, 2, 2] },
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
    await writeSnapshot(dir, snapshot, new ListFile(dir)); // the snapshot is durable; the old log is still whole
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
    await writeSnapshot(dir, snapshot, new ListFile(dir));
    const path = join(dir, SNAPSHOT_FILE_NAME);
    const bytes = readFileSync(path);
    bytes[bytes.length - 1]! ^= 0xff;
    writeFileSync(path, bytes);
    const err = await DurableLog.open(dir, GENESIS3).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CorruptLogError);
    expect((err as Error).message).toContain(path);
  });
});

/** The chunks of a data directory's list.bin, as (start, item count). */
function chunksOf(dir: string): [number, number][] {
  const path = join(dir, LIST_FILE_NAME);
  return scanFrames(path, readFileSync(path)).records.map((b) => {
    const c = listChunkFromBytes(b);
    return [c.start, c.items.length];
  });
}

const tables = { sessions: [], recent: [] };
const at = (array: number[], length: number): Snapshot => ({ upTo: length, state: { items: { array, length }, ...tables }, membership: GENESIS3 });

describe("list.bin", () => {
  it("appends only the items applied since the last compaction, and a restart reads them all", async () => {
    const dir = tempDir();
    const { log } = await DurableLog.open(dir, GENESIS3);
    const live = [1, 2, 3];
    await log.append([{ type: "snapshot", snapshot: at(live, 3), retained: [] }]);
    live.push(4, 5);
    await log.append([{ type: "snapshot", snapshot: at(live, 5), retained: [] }]);
    live.push(6, 7, 8, 9); // applied, not yet in a snapshot
    await log.append([{ type: "snapshot", snapshot: at(live, 8), retained: [] }]);
    await log.close();
    expect(chunksOf(dir)).toEqual([[0, 3], [3, 2], [5, 3]]);
    const reopened = await DurableLog.open(dir, GENESIS3);
    expect(reopened.snapshot?.state.items).toEqual(wholeItems([1, 2, 3, 4, 5, 6, 7, 8]));
    await reopened.log.close();
  });

  it("is written whole at the first compaction after a start, and when the list was replaced", async () => {
    const dir = tempDir();
    const first = await DurableLog.open(dir, GENESIS3);
    const live = [1, 2, 3, 4];
    await first.log.append([{ type: "snapshot", snapshot: at(live, 2), retained: [] }]);
    await first.log.append([{ type: "snapshot", snapshot: at(live, 4), retained: [] }]);
    await first.log.close();
    expect(chunksOf(dir)).toEqual([[0, 2], [2, 2]]);
    const second = await DurableLog.open(dir, GENESIS3);
    const restored = [...itemsOf(second.snapshot), 5]; // what the core's restore() makes: a new array
    await second.log.append([{ type: "snapshot", snapshot: at(restored, 5), retained: [] }]);
    expect(chunksOf(dir)).toEqual([[0, 5]]);
    const installed = [9, 9, 9, 9, 9, 9]; // an installed snapshot's list: another array
    await second.log.append([{ type: "snapshot", snapshot: at(installed, 6), retained: [] }]);
    expect(chunksOf(dir)).toEqual([[0, 6]]);
    await second.log.close();
  });

  it("ignores items after the count snapshot.bin names (a crash before the snapshot was renamed into place)", async () => {
    const dir = tempDir();
    const live = [1, 2, 3];
    const list = new ListFile(dir);
    await writeSnapshot(dir, at(live, 3), list);
    live.push(4, 5);
    await list.write({ array: live, length: 5 }); // list.bin durable, the snapshot that names 5 never written
    writeFileSync(join(dir, LIST_FILE_NAME), Buffer.concat([readFileSync(join(dir, LIST_FILE_NAME)), Buffer.from([7, 0, 0])])); // and a torn chunk
    const { log, snapshot: s } = await DurableLog.open(dir, GENESIS3);
    expect(s?.state.items).toEqual(wholeItems([1, 2, 3]));
    await log.close();
  });

  it("refuses to start when list.bin holds fewer items than snapshot.bin names, naming the file", async () => {
    const dir = tempDir();
    await writeSnapshot(dir, at([1, 2, 3, 4], 4), new ListFile(dir));
    const path = join(dir, LIST_FILE_NAME);
    writeFileSync(path, frame(encodeChunk(0, [1, 2])));
    const err = await DurableLog.open(dir, GENESIS3).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CorruptLogError);
    expect((err as Error).message).toContain(path);
    expect((err as Error).message).toContain("holds 2 items, the snapshot needs 4");
  });

  it("refuses chunks that do not follow each other", async () => {
    const dir = tempDir();
    await writeSnapshot(dir, at([1, 2, 3, 4], 4), new ListFile(dir));
    writeFileSync(join(dir, LIST_FILE_NAME), Buffer.concat([frame(encodeChunk(0, [1, 2])), frame(encodeChunk(3, [4]))]));
    const err = await DurableLog.open(dir, GENESIS3).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CorruptLogError);
    expect((err as Error).message).toContain("chunk starts at item 3, expected 2");
  });

  it("starts from a snapshot.bin written before list.bin existed, then moves the list to list.bin", async () => {
    const dir = tempDir();
    const { sessions, recent } = snapshot.state;
    const old = SnapshotFile.encode({ upTo: 3, state: { items: [10, 11, 12], sessions: [...sessions], recent: [...recent] }, membership: undefined, listLength: 0 }).finish();
    writeFileSync(join(dir, SNAPSHOT_FILE_NAME), frame(old));
    const { log, snapshot: s } = await DurableLog.open(dir, GENESIS3);
    expect(s).toEqual(snapshot);
    const live = [10, 11, 12, 13];
    await log.append([{ type: "snapshot", snapshot: { ...snapshot, upTo: 4, state: { ...snapshot.state, items: wholeItems(live) } }, retained: [] }]);
    await log.close();
    expect(chunksOf(dir)).toEqual([[0, 4]]);
    const reopened = await DurableLog.open(dir, GENESIS3);
    expect(reopened.snapshot?.state.items).toEqual(wholeItems(live));
    await reopened.log.close();
  });
});

function itemsOf(s: Snapshot | null): number[] {
  if (s === null) throw new Error("no snapshot");
  return s.state.items.array.slice(0, s.state.items.length);
}

function encodeChunk(start: number, items: number[]): Uint8Array {
  return ListChunk.encode({ start, items }).finish();
}
