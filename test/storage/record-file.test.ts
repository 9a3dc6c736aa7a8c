// RecordFile and DurableLog against real files in a fresh temp directory.

import { appendFileSync, mkdtempSync, readFileSync, rmSync, statSync, truncateSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { crc32 } from "node:zlib";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { GENESIS3 } from "../support/genesis.js";
import type { PersistRecord } from "../../src/core/types.js";
import { DurableLog, LOG_FILE_NAME } from "../../src/storage/durable-log.js";
import { CorruptLogError, RecordFile } from "../../src/storage/record-file.js";

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

/** Writes records through RecordFile and closes it; returns the path. */
async function writeRecords(name: string, records: readonly string[]): Promise<string> {
  const path = join(dir, name);
  const { file } = await openFile(path);
  await file.append(records.map(payload));
  await closeFile(file);
  return path;
}

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
    expect(readFileSync(path).equals(expectedBytes)).toBe(true);

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
      expect(statSync(path).size).toBe(full - lastFrame + HEADER + 4);
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

    it.each([3, 8, 100, 4096])("cuts %i trailing zero bytes", async (zeros) => {
      const path = await writeRecords("log", ["one", "two"]);
      const clean = statSync(path).size;
      appendFileSync(path, Buffer.alloc(zeros));

      const opened = await openFile(path);
      expect(text(opened.records)).toEqual(["one", "two"]);
      expect(opened.truncatedBytes).toBe(zeros);
      expect(statSync(path).size).toBe(clean);

      await opened.file.append([payload("three")]);
      await closeFile(opened.file);
      const again = await openFile(path);
      expect(text(again.records)).toEqual(["one", "two", "three"]);
      expect(again.truncatedBytes).toBe(0);
      expect(statSync(path).size).toBe(clean + HEADER + 5);
    });

    it("cuts a file that is nothing but zeros down to empty", async () => {
      const path = join(dir, "log");
      writeFileSync(path, Buffer.alloc(64));
      const opened = await openFile(path);
      expect(opened.records).toEqual([]);
      expect(opened.truncatedBytes).toBe(64);
      expect(statSync(path).size).toBe(0);
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
    const goodBytes = statSync(path).size;

    // Field 4 (varint): valid protobuf, but no DurableRecord kind.
    const { file } = await openFile(path);
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
    const clean = statSync(path).size;
    appendFileSync(path, Buffer.from([9, 0, 0, 0, 1, 2]));

    const again = await DurableLog.open(dir, GENESIS3);
    await again.log.close();
    expect(again.records).toStrictEqual([samples[0], samples[3]]);
    expect(again.truncatedBytes).toBe(6);
    expect(statSync(path).size).toBe(clean);
  });
});
