// RecordFile and DurableLog against real files in a fresh temp directory.

import { appendFileSync, closeSync, mkdtempSync, openSync, readFileSync, rmSync, statSync, truncateSync, writeFileSync, writeSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { crc32 } from "node:zlib";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { GENESIS3 } from "../support/genesis.js";
import type { PersistRecord } from "../../src/core/types.js";
import { DurableLog, LAZY_FLUSH_MS, LOG_FILE_NAME } from "../../src/storage/durable-log.js";
import { CorruptLogError, PREALLOCATED_BYTES, RecordFile } from "../../src/storage/record-file.js";

let dir: string;
const open: RecordFile[] = [];

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "paxos-record-file-"));
});

afterEach(async () => {
  for (const f of open.splice(0)) await f.close().catch(() => undefined);
  rmSync(dir, { recursive: true, force: true });
});

async function openFile(path: string) {
  const opened = await RecordFile.open(path);
  open.push(opened.file);
  return opened;
}

async function closeFile(f: RecordFile): Promise<void> {
  const i = open.indexOf(f);
  if (i >= 0) open.splice(i, 1);
  await f.close();
}

const HEADER = 8;
const text = (bufs: readonly Buffer[]) => bufs.map((b) => b.toString("utf8"));
const payload = (s: string) => Buffer.from(s, "utf8");

/** The on-disk frame, built independently of the code under test. */
function frameOf(p: Buffer): Buffer {
  const h = Buffer.alloc(HEADER);
  h.writeUInt32LE(p.length, 0);
  h.writeUInt32LE(crc32(p), 4);
  return Buffer.concat([h, p]);
}

/**
 * Writes records through RecordFile and closes it; returns the path. The
 * preallocated zeros after them are cut, so the file ends at its last
 * record, as the damage tests below expect (the zeros have tests of their own).
 */
async function writeRecords(name: string, records: readonly string[]): Promise<string> {
  const path = join(dir, name);
  const { file } = await openFile(path);
  await file.append(records.map(payload));
  const size = file.size;
  await closeFile(file);
  truncateSync(path, size);
  return path;
}

/** Whether the bytes from `off` on are all zero. */
const zerosFrom = (data: Buffer, off: number) => data.subarray(off).every((b) => b === 0);

describe("RecordFile", () => {
  it("creates a missing file (and its directory) empty", async () => {
    const path = join(dir, "sub", "deeper", "log");
    const { file, records, truncatedBytes } = await openFile(path);
    expect(records).toEqual([]);
    expect(truncatedBytes).toBe(0);
    expect(statSync(path).size).toBe(0);
    expect(file.bytesWritten).toBe(0);
  });

  it("keeps appended records across close and reopen, in order, framed as [len][crc][payload]", async () => {
    const path = join(dir, "log");
    const first = await openFile(path);
    await first.file.append([payload("alpha")]);
    await first.file.append([payload("beta"), payload("gamma")]);
    await first.file.append([payload("δέλτα")]);
    await closeFile(first.file);

    const expectedBytes = Buffer.concat(["alpha", "beta", "gamma", "δέλτα"].map((s) => frameOf(payload(s))));
    const onDisk = readFileSync(path);
    expect(onDisk.subarray(0, expectedBytes.length).equals(expectedBytes)).toBe(true);
    expect(zerosFrom(onDisk, expectedBytes.length)).toBe(true); // the preallocated space

    const second = await openFile(path);
    expect(text(second.records)).toEqual(["alpha", "beta", "gamma", "δέλτα"]);
    expect(second.truncatedBytes).toBe(0);
    expect(second.file.size).toBe(expectedBytes.length);

    // Appending after a reopen continues at the end of the file.
    await second.file.append([payload("epsilon")]);
    await closeFile(second.file);
    const third = await openFile(path);
    expect(text(third.records)).toEqual(["alpha", "beta", "gamma", "δέλτα", "epsilon"]);
  });

  it("resolves 100 appends of one turn, keeps them in call order, and writes them with one fdatasync in a later turn", async () => {
    const path = join(dir, "log");
    const { file } = await openFile(path);
    const n = 100;
    const promises: Promise<void>[] = [];
    for (let i = 0; i < n; i++) promises.push(file.append([payload(`record-${i}`)]));
    // Nothing is written in the caller's turn (the node's messages of that turn leave first)...
    expect(file.syncCount).toBe(0);
    expect(statSync(path).size).toBe(0);
    await Promise.all(promises);
    // ...and the whole turn shares one write and one fdatasync (group commit).
    expect(file.syncCount).toBe(1);
    await closeFile(file);

    const reopened = await openFile(path);
    expect(text(reopened.records)).toEqual(Array.from({ length: n }, (_, i) => `record-${i}`));
    expect(reopened.truncatedBytes).toBe(0);
  });

  it("appends inside zeros it wrote ahead, and writes more zeros only when a write would pass them", async () => {
    const path = join(dir, "log");
    const { file } = await openFile(path);
    await file.append([payload("alpha")]);
    const preallocated = statSync(path).size;
    expect(preallocated).toBe(HEADER + 5 + PREALLOCATED_BYTES);
    for (let i = 0; i < 100; i++) await file.append([payload(`record-${i}`)]);
    expect(statSync(path).size).toBe(preallocated); // every one written over zeros
    const big = Buffer.alloc(PREALLOCATED_BYTES, 1);
    await file.append([big]);
    expect(statSync(path).size).toBe(file.size + PREALLOCATED_BYTES);
    expect(file.bytesWritten).toBe(file.size); // zeros are not counted as written records
    await closeFile(file);
    const again = await openFile(path);
    expect(again.records.length).toBe(102);
    expect(again.records[101]!.equals(big)).toBe(true);
  });

  it("leaves the file preallocated after a rewrite", async () => {
    const path = join(dir, "log");
    const { file } = await openFile(path);
    await file.append([payload("old-1"), payload("old-2")]);
    await file.rewrite([payload("kept")], async () => {});
    expect(file.size).toBe(HEADER + 4);
    expect(statSync(path).size).toBe(HEADER + 4 + PREALLOCATED_BYTES);
    await file.append([payload("after")]);
    expect(statSync(path).size).toBe(HEADER + 4 + PREALLOCATED_BYTES);
    await closeFile(file);
    expect(text((await openFile(path)).records)).toEqual(["kept", "after"]);
  });

  it("rejects an empty record", async () => {
    const { file } = await openFile(join(dir, "log"));
    // Whether append throws or rejects, the caller sees a RangeError and nothing is written.
    await expect((async () => file.append([Buffer.alloc(0)]))()).rejects.toThrow(RangeError);
    expect(file.bytesWritten).toBe(0);
  });

  describe("torn tail", () => {
    it("cuts a frame that runs past the end of the file, and later appends survive a reopen", async () => {
      const path = await writeRecords("log", ["one", "two", "three-is-longer"]);
      const full = statSync(path).size;
      const lastFrame = HEADER + "three-is-longer".length;
      const cut = 5; // the last frame keeps its header and all but 5 payload bytes
      truncateSync(path, full - cut);

      const opened = await openFile(path);
      expect(text(opened.records)).toEqual(["one", "two"]);
      expect(opened.truncatedBytes).toBe(lastFrame - cut);
      expect(statSync(path).size).toBe(full - lastFrame);

      await opened.file.append([payload("four")]);
      await closeFile(opened.file);
      const again = await openFile(path);
      expect(text(again.records)).toEqual(["one", "two", "four"]);
      expect(again.truncatedBytes).toBe(0);
      expect(again.file.size).toBe(full - lastFrame + HEADER + 4);
    });

    it("cuts a partial header", async () => {
      const path = await writeRecords("log", ["one", "two"]);
      const clean = statSync(path).size;
      appendFileSync(path, frameOf(payload("three")).subarray(0, 5));

      const opened = await openFile(path);
      expect(text(opened.records)).toEqual(["one", "two"]);
      expect(opened.truncatedBytes).toBe(5);
      expect(statSync(path).size).toBe(clean);

      await opened.file.append([payload("three")]);
      await closeFile(opened.file);
      const again = await openFile(path);
      expect(text(again.records)).toEqual(["one", "two", "three"]);
      expect(again.truncatedBytes).toBe(0);
    });

    it("cuts a header whose payload is entirely missing", async () => {
      const path = await writeRecords("log", ["one"]);
      const clean = statSync(path).size;
      appendFileSync(path, frameOf(payload("two")).subarray(0, HEADER));

      const opened = await openFile(path);
      expect(text(opened.records)).toEqual(["one"]);
      expect(opened.truncatedBytes).toBe(HEADER);
      expect(statSync(path).size).toBe(clean);
    });

    it.each([3, 8, 100, 4096])("keeps %i trailing zero bytes as preallocated space and appends over them", async (zeros) => {
      const path = await writeRecords("log", ["one", "two"]);
      const clean = statSync(path).size;
      appendFileSync(path, Buffer.alloc(zeros));

      const opened = await openFile(path);
      expect(text(opened.records)).toEqual(["one", "two"]);
      expect(opened.truncatedBytes).toBe(0);
      expect(opened.file.size).toBe(clean);
      expect(statSync(path).size).toBe(clean + zeros);

      await opened.file.append([payload("three")]);
      await closeFile(opened.file);
      const again = await openFile(path);
      expect(text(again.records)).toEqual(["one", "two", "three"]);
      expect(again.truncatedBytes).toBe(0);
      expect(again.file.size).toBe(clean + HEADER + 5);
      // Written inside the zeros when they had room: the file did not grow.
      if (zeros >= HEADER + 5) expect(statSync(path).size).toBe(clean + zeros);
    });

    it("reads a file that is nothing but zeros as empty, and appends at its start", async () => {
      const path = join(dir, "log");
      writeFileSync(path, Buffer.alloc(64));
      const opened = await openFile(path);
      expect(opened.records).toEqual([]);
      expect(opened.truncatedBytes).toBe(0);
      await opened.file.append([payload("one")]);
      await closeFile(opened.file);
      expect(readFileSync(path).subarray(0, HEADER + 3).equals(frameOf(payload("one")))).toBe(true);
      expect(statSync(path).size).toBe(64);
    });

    it("cuts a torn write inside the preallocated space, zeros after it included, and counts only the torn bytes", async () => {
      const path = join(dir, "log");
      const { file } = await openFile(path);
      await file.append([payload("one")]);
      const clean = file.size;
      await closeFile(file);
      const fd = openSync(path, "r+");
      writeSync(fd, frameOf(payload("two-torn")).subarray(0, HEADER + 3), 0, HEADER + 3, clean); // a crash mid-write
      closeSync(fd);

      const opened = await openFile(path);
      expect(text(opened.records)).toEqual(["one"]);
      expect(opened.truncatedBytes).toBe(HEADER + 3);
      expect(statSync(path).size).toBe(clean);
      await opened.file.append([payload("two")]);
      await closeFile(opened.file);
      expect(text((await openFile(path)).records)).toEqual(["one", "two"]);
    });
  });

  describe("damage before the tail", () => {
    it("refuses to open when a payload byte of the first of three records is flipped, naming file and offset 0", async () => {
      const path = await writeRecords("log", ["first record", "second", "third"]);
      const before = readFileSync(path);
      const damaged = Buffer.from(before);
      damaged[HEADER + 3]! ^= 0x40;
      writeFileSync(path, damaged);

      const err = await RecordFile.open(path).then(
        () => null,
        (e: unknown) => e,
      );
      expect(err).toBeInstanceOf(CorruptLogError);
      const c = err as CorruptLogError;
      expect(c.name).toBe("CorruptLogError");
      expect(c.offset).toBe(0);
      expect(c.file).toBe(path);
      expect(c.message).toContain(path);
      expect(c.message).toContain("byte offset 0 ");
      expect(c.message).toContain("CRC32 mismatch");
      // Nothing was cut: the evidence stays on disk.
      expect(readFileSync(path).equals(damaged)).toBe(true);
    });

    it("names the offset of a damaged second record", async () => {
      const path = await writeRecords("log", ["first record", "second", "third"]);
      const damaged = readFileSync(path);
      const secondAt = HEADER + "first record".length;
      damaged[secondAt + HEADER]! ^= 0x01;
      writeFileSync(path, damaged);

      const err = await RecordFile.open(path).then(
        () => null,
        (e: unknown) => e,
      );
      expect(err).toBeInstanceOf(CorruptLogError);
      expect((err as CorruptLogError).offset).toBe(secondAt);
      expect((err as CorruptLogError).message).toContain(`byte offset ${secondAt} `);
      expect((err as CorruptLogError).message).toContain(path);
    });

    it("refuses a zero-length header followed by non-zero data", async () => {
      const path = await writeRecords("log", ["one"]);
      appendFileSync(path, Buffer.concat([Buffer.alloc(HEADER), frameOf(payload("two"))]));
      const err = await RecordFile.open(path).then(
        () => null,
        (e: unknown) => e,
      );
      expect(err).toBeInstanceOf(CorruptLogError);
      expect((err as CorruptLogError).offset).toBe(HEADER + 3);
      expect((err as CorruptLogError).message).toContain("impossible record length 0");
    });
  });
});

describe("DurableLog", () => {
  const ballot = (round: number, node: number) => ({ round, node });
  const command = (clientId: number, commandId: number, p: number) => ({ kind: "command" as const, command: { clientId, commandId, payload: p } });
  const noop = { kind: "noop" as const };

  const samples: PersistRecord[] = [
    { type: "promised", ballot: ballot(1, 0) },
    { type: "promised", ballot: ballot(0, 0) },
    { type: "promised", ballot: ballot(987_654_321, 4) },
    { type: "accepted", ballot: ballot(3, 2), fromSlot: 0, values: [command(1, 1, 5)] },
    { type: "accepted", ballot: ballot(3, 2), fromSlot: 17, values: [noop] },
    {
      type: "accepted",
      ballot: ballot(12, 1),
      fromSlot: 2 ** 40,
      values: [command(2 ** 47 - 1, 9_007_199_254_740_991, -9_007_199_254_740_991), noop, command(0, 0, 0), command(7, 2, -1)],
    },
    { type: "accepted", ballot: ballot(4, 0), fromSlot: 3, values: [] },
    { type: "chosen", fromSlot: 0, values: [command(1, 1, 5), noop] },
    { type: "chosen", fromSlot: 123_456, values: [noop, noop, command(42, 3, 2 ** 31)] },
    { type: "chosen", fromSlot: 5, values: [] },
  ];

  it("round-trips every kind of PersistRecord exactly, in order, across reopen", async () => {
    const opened = await DurableLog.open(dir, GENESIS3);
    expect(opened.records).toEqual([]);
    expect(opened.truncatedBytes).toBe(0);
    await opened.log.append(samples.slice(0, 3));
    await opened.log.append(samples.slice(3));
    expect(opened.log.syncCount).toBe(2);
    await opened.log.close();

    expect(statSync(join(dir, LOG_FILE_NAME)).isFile()).toBe(true);
    const again = await DurableLog.open(dir, GENESIS3);
    try {
      expect(again.records).toStrictEqual(samples);
      expect(again.truncatedBytes).toBe(0);
    } finally {
      await again.log.close();
    }
  });

  it("records no vote waits on (sync false) get no fdatasync of their own: they ride with the next write, or go after LAZY_FLUSH_MS", async () => {
    const opened = await DurableLog.open(dir, GENESIS3);
    const quiet = samples[3]!; // an accepted batch, as a quiet acceptor of a thrifty Accept keeps it
    await opened.log.append([quiet], false);
    expect(opened.log.syncCount).toBe(0);
    expect(opened.log.bytesWritten).toBe(0); // held, not yet written
    await opened.log.append([samples[0]!]); // a vote's records: written after the held one, one fdatasync for both
    expect(opened.log.syncCount).toBe(1);
    await opened.log.append([samples[4]!], false);
    expect(opened.log.syncCount).toBe(1);
    await new Promise((r) => setTimeout(r, LAZY_FLUSH_MS + 100));
    expect(opened.log.syncCount).toBe(2); // on its own after LAZY_FLUSH_MS
    await opened.log.close();
    const again = await DurableLog.open(dir, GENESIS3);
    await again.log.close();
    expect(again.records).toStrictEqual([quiet, samples[0]!, samples[4]!]);
  });

  it.each(samples.map((r, i) => [i, r.type, r] as const))("round-trips sample %i (%s) on its own", async (_i, _t, record) => {
    const opened = await DurableLog.open(dir, GENESIS3);
    await opened.log.append([record]);
    await opened.log.close();
    const again = await DurableLog.open(dir, GENESIS3);
    await again.log.close();
    expect(again.records).toStrictEqual([record]);
  });

  it("refuses a CRC-valid frame that is not a DurableRecord, naming its offset", async () => {
    const path = join(dir, LOG_FILE_NAME);
    const first = await DurableLog.open(dir, GENESIS3);
    await first.log.append([{ type: "promised", ballot: ballot(2, 1) }]);
    await first.log.close();

    // Field 4 (varint): valid protobuf, but no DurableRecord kind.
    const { file } = await openFile(path);
    const goodBytes = file.size;
    await file.append([Buffer.from([0x20, 0x01])]);
    await closeFile(file);

    const err = await DurableLog.open(dir, GENESIS3).then(
      () => null,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(CorruptLogError);
    const c = err as CorruptLogError;
    expect(c.offset).toBe(goodBytes);
    expect(c.file).toBe(path);
    expect(c.message).toContain(path);
    expect(c.message).toContain(`byte offset ${goodBytes} `);
    expect(c.message).toContain("undecodable record");
  });

  it("refuses a CRC-valid frame of protobuf garbage at offset 0", async () => {
    const path = join(dir, LOG_FILE_NAME);
    const { file } = await openFile(path);
    await file.append([Buffer.from([0xff, 0xff, 0xff])]);
    await closeFile(file);

    const err = await DurableLog.open(dir, GENESIS3).then(
      () => null,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(CorruptLogError);
    expect((err as CorruptLogError).offset).toBe(0);
    expect((err as CorruptLogError).message).toContain(`${path}: corrupt record at byte offset 0 (undecodable record`);
  });

  it("reports the bytes cut off a torn tail and keeps the earlier records", async () => {
    const path = join(dir, LOG_FILE_NAME);
    const first = await DurableLog.open(dir, GENESIS3);
    await first.log.append([samples[0]!, samples[3]!]);
    await first.log.close();
    const { file } = await openFile(path);
    const clean = file.size;
    await closeFile(file);
    const fd = openSync(path, "r+");
    writeSync(fd, Buffer.from([9, 0, 0, 0, 1, 2]), 0, 6, clean); // a torn write over the preallocated zeros
    closeSync(fd);

    const again = await DurableLog.open(dir, GENESIS3);
    await again.log.close();
    expect(again.records).toStrictEqual([samples[0], samples[3]]);
    expect(again.truncatedBytes).toBe(6);
    expect(statSync(path).size).toBe(clean);
  });
});
