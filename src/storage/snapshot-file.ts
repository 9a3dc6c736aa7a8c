// A node's latest snapshot: one CRC-framed record in snapshot.bin, replaced
// atomically (temp file, fsync, rename, fsync the directory).

import { rename, readFile } from "node:fs/promises";
import { join } from "node:path";
import { snapshotFromBytes, snapshotToBytes } from "../codec/wire.js";
import type { Membership } from "../core/membership.js";
import type { Snapshot } from "../core/types.js";
import { CorruptLogError, frame, fsyncDirectory, scanFrames, writeFileDurably } from "./record-file.js";

export const SNAPSHOT_FILE_NAME = "snapshot.bin";

export async function writeSnapshot(dir: string, snapshot: Snapshot): Promise<void> {
  const path = join(dir, SNAPSHOT_FILE_NAME);
  await writeFileDurably(`${path}.tmp`, frame(snapshotToBytes(snapshot)));
  await rename(`${path}.tmp`, path);
  fsyncDirectory(dir);
}

/** The snapshot, or null if there is none; a damaged one refuses to start (it was written atomically). */
export async function readSnapshot(dir: string, genesis: Membership): Promise<Snapshot | null> {
  const path = join(dir, SNAPSHOT_FILE_NAME);
  let data: Buffer;
  try {
    data = await readFile(path);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT") return null;
    throw e;
  }
  const { records, validBytes } = scanFrames(path, data);
  if (records.length !== 1 || validBytes !== data.length) throw new CorruptLogError(path, validBytes, "damaged snapshot");
  try {
    return snapshotFromBytes(records[0]!, genesis);
  } catch (e) {
    throw new CorruptLogError(path, 0, `undecodable snapshot: ${(e as Error).message}`);
  }
}
