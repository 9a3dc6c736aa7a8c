// A node's durable protocol state: the core's PersistRecords in one
// append-only RecordFile inside the node's data directory.

import { join } from "node:path";
import type { PersistRecord } from "../core/types.js";
import { recordFromBytes, recordToBytes, WireError } from "../codec/wire.js";
import { CorruptLogError, RecordFile } from "./record-file.js";

export const LOG_FILE_NAME = "paxos.log";

export class DurableLog {
  private constructor(private readonly file: RecordFile) {}

  /** Opens the data directory's log and decodes its records, in write order. */
  static async open(dataDir: string): Promise<{ log: DurableLog; records: PersistRecord[]; truncatedBytes: number }> {
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
        throw new CorruptLogError(path, offset, `undecodable record: ${reason}`);
      }
      offset += 8 + bytes.length;
    }
    return { log: new DurableLog(opened.file), records, truncatedBytes: opened.truncatedBytes };
  }

  /** Writes and fdatasyncs the records; resolves once they are durable. */
  append(records: readonly PersistRecord[]): Promise<void> {
    return this.file.append(records.map(recordToBytes));
  }

  get syncCount(): number {
    return this.file.syncCount;
  }

  close(): Promise<void> {
    return this.file.close();
  }
}
