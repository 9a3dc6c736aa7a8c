// A node's durable protocol state: the core's PersistRecords in one
// append-only RecordFile inside the node's data directory.

import { mkdirSync } from "node:fs";
import { join } from "node:path";
import type { Membership } from "../core/membership.js";
import type { PersistRecord, Snapshot } from "../core/types.js";
import { recordFromBytes, recordToBytes, WireError } from "../codec/wire.js";
import { DataDirLock } from "./dir-lock.js";
import { CorruptLogError, RecordFile } from "./record-file.js";
import { ListFile } from "./list-file.js";
import { readSnapshot, writeSnapshot } from "./snapshot-file.js";

export const LOG_FILE_NAME = "paxos.log";
/** Longest a record that nothing waits on (see syncNeeded) waits for a write to ride along with. */
export const LAZY_FLUSH_MS = 100;

export interface OpenedLog {
  readonly log: DurableLog;
  /** The latest snapshot, if the log was ever compacted. */
  readonly snapshot: Snapshot | null;
  /** The records written after it, in order. */
  readonly records: PersistRecord[];
  readonly truncatedBytes: number;
}

export class DurableLog {
  /** Records nothing waits on, waiting to ride along with the next write. */
  private lazy: PersistRecord[] = [];
  private lazyTimer: NodeJS.Timeout | null = null;
  /** Completes when everything handed to the file so far is durable. */
  private last: Promise<void> = Promise.resolve();

  private constructor(
    private readonly dir: string,
    private readonly file: RecordFile,
    private readonly list: ListFile,
    private readonly lock: DataDirLock,
  ) {}

  /**
   * Locks the data directory, reads its snapshot, opens its log and decodes
   * its records, in write order. `genesis` is the bootstrap membership, which
   * governs a snapshot written before membership changes existed.
   */
  static async open(dataDir: string, genesis: Membership): Promise<OpenedLog> {
    mkdirSync(dataDir, { recursive: true });
    const lock = DataDirLock.acquire(dataDir);
    try {
      return await DurableLog.openLocked(dataDir, lock, genesis);
    } catch (e) {
      lock.release();
      throw e;
    }
  }

  private static async openLocked(dataDir: string, lock: DataDirLock, genesis: Membership): Promise<OpenedLog> {
    const list = new ListFile(dataDir);
    const snapshot = await readSnapshot(dataDir, genesis, list);
    const path = join(dataDir, LOG_FILE_NAME);
    const opened = await RecordFile.open(path);
    const records: PersistRecord[] = [];
    let offset = 0;
    for (const bytes of opened.records) {
      try {
        records.push(recordFromBytes(bytes));
      } catch (e) {
        // The CRC matched, so these bytes are what was written: a bug or a foreign file, not a torn write.
        const reason = e instanceof WireError || e instanceof Error ? e.message : String(e);
        await opened.file.close();
        throw new CorruptLogError(path, offset, `undecodable record: ${reason}`);
      }
      offset += 8 + bytes.length;
    }
    return { log: new DurableLog(dataDir, opened.file, list, lock), snapshot, records, truncatedBytes: opened.truncatedBytes };
  }

  /**
   * Writes and fdatasyncs the records; resolves once they are durable. A
   * snapshot record makes the snapshot durable and then replaces the log by
   * what it retains (log compaction); records around it keep their order.
   * With `sync` false (no vote waits on them: syncNeeded) the records get no
   * fdatasync of their own: chosen values only spare a restart some
   * catch-up, a quiet acceptor's values were never voted for. They ride
   * along with the next write, or go after LAZY_FLUSH_MS on their own.
   */
  append(records: readonly PersistRecord[], sync = true): Promise<void> {
    if (!sync && !records.some((r) => r.type === "snapshot")) {
      this.lazy.push(...records);
      this.lazyTimer ??= setTimeout(() => {
        this.lazyTimer = null;
        if (this.lazy.length > 0) this.last = this.write([]);
      }, LAZY_FLUSH_MS);
      return this.last;
    }
    this.last = this.write(records);
    return this.last;
  }

  private write(records: readonly PersistRecord[]): Promise<void> {
    let done: Promise<void> = this.last;
    let run: PersistRecord[] = this.lazy;
    this.lazy = [];
    const flush = () => {
      if (run.length > 0) done = this.file.append(run.map(recordToBytes));
      run = [];
    };
    for (const r of records) {
      if (r.type !== "snapshot") {
        run.push(r);
        continue;
      }
      flush();
      const snapshot = r.snapshot;
      done = this.file.rewrite(r.retained.map(recordToBytes), () => writeSnapshot(this.dir, snapshot, this.list));
    }
    flush();
    // The file works through its queue in order: the last operation's completion covers the earlier ones.
    return done;
  }

  /** Bytes of the log's records: the file on disk is larger, zero-filled ahead of them (RecordFile). */
  get recordBytes(): number {
    return this.file.size;
  }

  get syncCount(): number {
    return this.file.syncCount;
  }

  get bytesWritten(): number {
    return this.file.bytesWritten;
  }

  async close(): Promise<void> {
    if (this.lazyTimer) clearTimeout(this.lazyTimer);
    if (this.lazy.length > 0) await this.write([]).catch(() => {});
    await this.file.close();
    this.lock.release();
  }
}
