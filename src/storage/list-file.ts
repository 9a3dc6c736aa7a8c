// list.bin: the list's items, for the snapshot (snapshot-file.ts). The list
// only grows, so a compaction appends the items applied since the last one
// as one CRC-framed ListChunk and fdatasyncs, instead of writing the whole
// list into every snapshot: a compaction's cost no longer grows with the
// list (O(history) every 10,000 slots before: ~13 ms of CPU per node at
// 50,000 items and ~70 ms at 1,000,000, on the dev VM).
//
// The file is written whole (temp file, fsync, rename, fsync the directory)
// when what it holds is not known to be a prefix of the snapshot's list: the
// first compaction after a start, and after an installed snapshot replaced
// the list. snapshot.bin names how many items are the list, so items a
// crash left after that count (a chunk whose snapshot was never renamed into
// place, or a torn chunk) are ignored on open and gone at the next rewrite.

import { closeSync, fdatasyncSync, openSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { listChunkFromBytes } from "../codec/wire.js";
import { encodeListChunk } from "../codec/packed-int64.js";
import type { ListItems } from "../core/types.js";
import { CorruptLogError, frame, replaceFileDurably, scanFrames, writeAllSync } from "./record-file.js";

export const LIST_FILE_NAME = "list.bin";
/** Items per chunk: an int64 takes at most 10 bytes, so a chunk stays far below MAX_RECORD_BYTES (64 MiB). */
const CHUNK_ITEMS = 1_000_000;

export class ListFile {
  /** The array whose prefix [0, persisted) the file holds, or null when that is not known (then the next write is whole). */
  private mirrors: readonly number[] | null = null;
  private persisted = 0;

  constructor(private readonly dir: string) {}

  get path(): string {
    return join(this.dir, LIST_FILE_NAME);
  }

  /**
   * The file's first `length` items. Fewer than that, or chunks that do not
   * follow each other, is corruption of synced data: refuses with the offset.
   */
  async read(length: number): Promise<number[]> {
    let data: Buffer;
    try {
      data = await readFile(this.path);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === "ENOENT" && length === 0) return [];
      throw e;
    }
    const { records } = scanFrames(this.path, data);
    const items: number[] = [];
    let offset = 0;
    for (const bytes of records) {
      if (items.length >= length) break;
      const chunk = listChunkFromBytes(bytes);
      if (chunk.start !== items.length) {
        throw new CorruptLogError(this.path, offset, `chunk starts at item ${chunk.start}, expected ${items.length}`);
      }
      for (let i = 0; i < chunk.items.length && items.length < length; i++) items.push(chunk.items[i]!);
      offset += 8 + bytes.length;
    }
    if (items.length < length) {
      throw new CorruptLogError(this.path, offset, `holds ${items.length} items, the snapshot needs ${length}`);
    }
    return items;
  }

  /** Makes the file hold (at least) these items durably, appending only what it lacks when it can. */
  async write(items: ListItems): Promise<void> {
    const appendable = items.array === this.mirrors && items.length >= this.persisted;
    this.mirrors = null; // until this write is durable, what the file holds is not known
    if (appendable) {
      if (items.length > this.persisted) this.appendChunk(items.array, this.persisted, items.length);
    } else {
      // The whole list, in chunks of CHUNK_ITEMS (a frame holds at most MAX_RECORD_BYTES).
      const frames: Buffer[] = [];
      for (let start = 0; start < items.length; start += CHUNK_ITEMS) {
        frames.push(frame(encodeListChunk(items.array, start, Math.min(items.length, start + CHUNK_ITEMS))));
      }
      await replaceFileDurably(this.path, Buffer.concat(frames));
    }
    this.mirrors = items.array;
    this.persisted = items.length;
  }

  private appendChunk(array: readonly number[], start: number, end: number): void {
    const fd = openSync(this.path, "a");
    try {
      for (let from = start; from < end; from += CHUNK_ITEMS) {
        writeAllSync(fd, frame(encodeListChunk(array, from, Math.min(end, from + CHUNK_ITEMS))), null, this.path);
      }
      fdatasyncSync(fd);
    } finally {
      closeSync(fd);
    }
  }
}
