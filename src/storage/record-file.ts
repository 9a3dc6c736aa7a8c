// An append-only file of checksummed records with group commit.
//
// Frame: [u32 LE payload length][u32 LE CRC32 of payload][payload]. Every
// append() is written and fdatasync'd before its promise resolves, in the
// calling thread at the loop's next check phase; appends made before then, or
// while a rewrite runs, share one write and one fdatasync (group commit).
//
// The file is kept zero-filled ahead of its last record (PREALLOCATED_BYTES
// at a time, as etcd preallocates its WAL segments), so an append overwrites
// zeros inside the file instead of growing it: its fdatasync then has no
// file size or block allocation to journal (44-54 vs 59-85 us of CPU and
// 164-178 vs 198-263 us per 600-byte write + fdatasync on the dev VM).
//
// On open, zeros after the last record are that preallocated space, and
// kept. Damage at the end of the file with no intact frame after it (a
// write torn by a crash, which was never acknowledged) is cut off, as etcd's
// WAL and LevelDB do; so is a damaged last record, which a torn write cannot
// be told apart from. Damage followed by an intact frame is corruption of
// synced data: opening refuses with the file name and offset, since
// guessing could silently drop an acknowledged vote.

import { closeSync, fdatasyncSync, fsyncSync, openSync, writeSync } from "node:fs";
import { mkdir, open, readFile, rename, type FileHandle } from "node:fs/promises";
import { dirname } from "node:path";
import { crc32 } from "node:zlib";

const HEADER_BYTES = 8;
/** Zeros written ahead of the records whenever an append would pass the end of the file. */
export const PREALLOCATED_BYTES = 1024 * 1024;
/** No record is larger; a length above it is damage, not data. */
export const MAX_RECORD_BYTES = 64 * 1024 * 1024;

export class CorruptLogError extends Error {
  constructor(
    readonly file: string,
    readonly offset: number,
    reason: string,
  ) {
    super(`${file}: corrupt record at byte offset ${offset} (${reason}); refusing to start. ` +
      `Move the data directory aside to rebuild this node from its peers.`);
    this.name = "CorruptLogError";
  }
}

export interface OpenedRecordFile {
  readonly file: RecordFile;
  readonly records: Buffer[];
  /** Bytes cut off a torn tail, 0 when the file ended cleanly. */
  readonly truncatedBytes: number;
}

interface PendingWrite {
  readonly frames: Buffer[];
  /** Set for a rewrite: runs first, then the file is replaced by `frames` alone. */
  readonly beforeRewrite?: () => Promise<void>;
  readonly resolve: () => void;
  readonly reject: (e: Error) => void;
}

export class RecordFile {
  private queue: PendingWrite[] = [];
  private syncing = false;
  private failure: Error | null = null;
  /** Where the next frame goes. */
  private fileLength = 0;
  /** The file's size on disk: zeros from fileLength to here. */
  private allocated = 0;
  /** fdatasync calls made (a figure for benchmarks). */
  syncCount = 0;
  /** Bytes written since open, rewrites included. */
  bytesWritten = 0;

  private constructor(
    readonly path: string,
    private handle: FileHandle,
  ) {}

  /** The length of the file's records in bytes (zeros follow them up to the size on disk). */
  get size(): number {
    return this.fileLength;
  }

  /** Opens (creating if needed) the file, validates it and returns its records. */
  static async open(path: string): Promise<OpenedRecordFile> {
    await mkdir(dirname(path), { recursive: true });
    let data: Buffer;
    let created = false;
    try {
      data = await readFile(path);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== "ENOENT") throw e;
      data = Buffer.alloc(0);
      created = true;
    }
    const { records, validBytes } = scanFrames(path, data);
    const handle = await open(path, created ? "wx+" : "r+");
    // Zeros alone after the records are preallocated space: kept. Anything else there is a torn
    // write: cut, zeros after it included (they come back at the next append).
    const truncatedBytes = endOfNonZero(data, validBytes) - validBytes;
    if (truncatedBytes > 0) {
      await handle.truncate(validBytes);
      await handle.sync();
    }
    if (created) fsyncDirectory(dirname(path)); // make the new file's name durable
    const file = new RecordFile(path, handle);
    file.fileLength = validBytes;
    file.allocated = truncatedBytes > 0 ? validBytes : data.length;
    return { file, records, truncatedBytes };
  }

  /** Appends records durably: resolves after they are written and fdatasync'd. */
  append(payloads: readonly Uint8Array[]): Promise<void> {
    return this.enqueue(payloads, undefined);
  }

  /**
   * Replaces the whole file by these records, in order with the appends
   * around it: `before` runs first (e.g. making a snapshot durable), then a
   * new file is written and fsync'd beside this one and renamed over it, so
   * a crash leaves either the old file or the new one.
   */
  rewrite(payloads: readonly Uint8Array[], before: () => Promise<void>): Promise<void> {
    return this.enqueue(payloads, before);
  }

  private enqueue(payloads: readonly Uint8Array[], beforeRewrite: (() => Promise<void>) | undefined): Promise<void> {
    if (this.failure) return Promise.reject(this.failure);
    const frames = payloads.map(frame);
    return new Promise<void>((resolve, reject) => {
      this.queue.push(beforeRewrite === undefined ? { frames, resolve, reject } : { frames, beforeRewrite, resolve, reject });
      if (!this.syncing) void this.drain();
    });
  }

  private async drain(): Promise<void> {
    this.syncing = true;
    while (this.queue.length > 0) {
      // The fdatasync below holds this thread up: first let this turn's messages leave (Node's
      // http2, under grpc-js, writes from a native immediate, which runs before this one), and
      // let what else this turn appends join the group.
      await new Promise<void>((r) => setImmediate(r));
      // Appends up to the next rewrite share one write and one fdatasync (group commit); a rewrite goes alone.
      let n = 1;
      if (this.queue[0]!.beforeRewrite === undefined) {
        while (n < this.queue.length && this.queue[n]!.beforeRewrite === undefined) n++;
      }
      const group = this.queue.slice(0, n);
      this.queue = this.queue.slice(n);
      try {
        const buf = Buffer.concat(group.flatMap((g) => g.frames));
        const rewrite = group[0]!.beforeRewrite;
        if (rewrite !== undefined) {
          await rewrite();
          await this.replaceFile(buf);
        } else {
          // Both in this thread, as etcd's raft loop waits for its WAL's fsync: the write
          // only fills the page cache, and a thread-pool trip for the fdatasync costs
          // ~45 us more CPU per call on a 2-core VM (waking a pool thread, then this
          // loop again: 59 vs 103 us per 600-byte write + fdatasync; docs/performance.md).
          // The node answers nothing while the disk works: its votes wait for it anyway,
          // and this turn's other messages left before it (above).
          if (this.fileLength + buf.length > this.allocated) {
            // The fdatasync below makes the new size durable along with the records.
            const zeros = Buffer.alloc(this.fileLength + buf.length + PREALLOCATED_BYTES - this.allocated);
            this.writeAt(zeros, this.allocated);
            this.allocated += zeros.length;
          }
          this.writeAt(buf, this.fileLength);
          fdatasyncSync(this.handle.fd);
          this.fileLength += buf.length;
        }
        this.syncCount++;
        this.bytesWritten += buf.length;
        for (const g of group) g.resolve();
      } catch (e) {
        // After a failed write or sync the file's state is unknown: refuse everything from now on.
        this.failure = e as Error;
        for (const g of [...group, ...this.queue]) g.reject(this.failure);
        this.queue = [];
      }
    }
    this.syncing = false;
  }

  private writeAt(buf: Buffer, position: number): void {
    writeAllSync(this.handle.fd, buf, position, this.path);
  }

  private async replaceFile(content: Buffer): Promise<void> {
    const preallocated = Buffer.alloc(content.length + PREALLOCATED_BYTES);
    content.copy(preallocated);
    await replaceFileDurably(this.path, preallocated);
    await this.handle.close();
    this.handle = await open(this.path, "r+");
    this.fileLength = content.length;
    this.allocated = preallocated.length;
  }

  async close(): Promise<void> {
    while (this.syncing) await new Promise((r) => setImmediate(r));
    await this.handle.close();
  }
}

export function frame(payload: Uint8Array): Buffer {
  if (payload.length === 0 || payload.length > MAX_RECORD_BYTES) {
    throw new RangeError(`record of ${payload.length} bytes cannot be framed`);
  }
  const header = Buffer.allocUnsafe(HEADER_BYTES);
  header.writeUInt32LE(payload.length, 0);
  header.writeUInt32LE(crc32(payload), 4);
  return Buffer.concat([header, payload]);
}

/**
 * Splits a file into record payloads. A damaged frame with nothing valid
 * after it is a write torn by a crash (never acknowledged: the sync did not
 * finish) and ends the scan; a damaged frame followed by a valid one is
 * corruption of data that was synced, and throws.
 */
export function scanFrames(path: string, data: Buffer): { records: Buffer[]; validBytes: number } {
  const records: Buffer[] = [];
  let off = 0;
  while (off < data.length) {
    const problem = frameProblem(data, off);
    if (problem === null) {
      const len = data.readUInt32LE(off);
      records.push(data.subarray(off + HEADER_BYTES, off + HEADER_BYTES + len));
      off += HEADER_BYTES + len;
      continue;
    }
    if (endOfNonZero(data, off) === off || !validFrameAfter(data, off)) break;
    throw new CorruptLogError(path, off, problem);
  }
  return { records, validBytes: off };
}

function frameProblem(data: Buffer, off: number): string | null {
  if (data.length - off < HEADER_BYTES) return "partial header";
  const len = data.readUInt32LE(off);
  const end = off + HEADER_BYTES + len;
  if (len === 0 || len > MAX_RECORD_BYTES) return `impossible record length ${len}`;
  if (end > data.length) return "record runs past end of file";
  if (crc32(data.subarray(off + HEADER_BYTES, end)) !== data.readUInt32LE(off + 4)) return "CRC32 mismatch";
  return null;
}

/** Whether an intact frame starts anywhere after `off` (then the damage at `off` is not a torn tail). */
function validFrameAfter(data: Buffer, off: number): boolean {
  for (let i = off + 1; i + HEADER_BYTES < data.length; i++) {
    if (frameProblem(data, i) === null) return true;
  }
  return false;
}

/** One past the last non-zero byte at or after `off`, or `off` if there is none. */
function endOfNonZero(data: Buffer, off: number): number {
  for (let i = data.length; i > off; i--) if (data[i - 1] !== 0) return i;
  return off;
}

/** Replaces a file atomically: the content to a temporary file beside it, fsync, rename over it, fsync the directory. */
export async function replaceFileDurably(path: string, content: Uint8Array): Promise<void> {
  const tmp = `${path}.tmp`;
  const h = await open(tmp, "w");
  try {
    await h.writeFile(content);
    await h.sync();
  } finally {
    await h.close();
  }
  await rename(tmp, path);
  fsyncDirectory(dirname(path));
}

/** Writes all of buf at `position` (null: at the file's offset, as with O_APPEND), however many calls it takes. */
export function writeAllSync(fd: number, buf: Uint8Array, position: number | null, path: string): void {
  let off = 0;
  while (off < buf.length) {
    const n = writeSync(fd, buf, off, buf.length - off, position === null ? null : position + off);
    if (n <= 0) throw new Error(`${path}: write made no progress`);
    off += n;
  }
}

export function fsyncDirectory(dir: string): void {
  const fd = openSync(dir, "r");
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}
