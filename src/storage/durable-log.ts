// A node's durable protocol state: the core's PersistRecords in one
// append-only RecordFile inside the node's data directory.

import { mkdirSync } from "node:fs";
import { join } from "node:path";
import type { PersistRecord } from "../core/types.js";
import { recordFromBytes, recordToBytes, WireError } from "../codec/wire.js";
import { DataDirLock } from "./dir-lock.js";
import { CorruptLogError, RecordFile } from "./record-file.js";

export const LOG_FILE_NAME = "paxos.log";

export class DurableLog {
  private constructor(
    private readonly file: RecordFile,
    private readonly lock: DataDirLock,
  ) {}

  /** Locks the data directory, opens its log and decodes its records, in write order. */
  static async open(dataDir: string): Promise<{ log: DurableLog; records: PersistRecord[]; truncatedBytes: number }> {
    mkdirSync(dataDir, { recursive: true });
    const lock = DataDirLock.acquire(dataDir);
    try {
      return await DurableLog.openLocked(dataDir, lock);
    } catch (e) {
      lock.release();
      throw e;
    }
  }

  private static async openLocked(dataDir: string, lock: DataDirLock): Promise<{ log: DurableLog; records: PersistRecord[]; truncatedBytes: number }> {
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
    return { log: new DurableLog(opened.file, lock), records, truncatedBytes: opened.truncatedBytes };
  }

  /** Writes and fdatasyncs the records; resolves once they are durable. */
  append(records: readonly PersistRecord[]): Promise<void> {
    return this.file.append(records.map(recordToBytes));
  }

  get syncCount(): number {
    return this.file.syncCount;
  }

  get bytesWritten(): number {
    return this.file.bytesWritten;
  }

  async close(): Promise<void> {
    await this.file.close();
    this.lock.release();
  }
}
