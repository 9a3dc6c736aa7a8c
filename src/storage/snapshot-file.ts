// A node's latest snapshot: one CRC-framed record in snapshot.bin, replaced
// atomically (temp file, fsync, rename, fsync the directory), naming how
// many items of list.bin (list-file.ts) are the list. The list's items are
// made durable first, so a snapshot.bin never names items list.bin lacks.

import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { snapshotFromBytes, snapshotToBytes, snapshotWithList } from "../codec/wire.js";
import { wholeItems } from "../core/replicated-list.js";
import type { Membership } from "../core/membership.js";
import type { Snapshot } from "../core/types.js";
import type { ListFile } from "./list-file.js";
import { CorruptLogError, frame, replaceFileDurably, scanFrames } from "./record-file.js";

export const SNAPSHOT_FILE_NAME = "snapshot.bin";

export async function writeSnapshot(dir: string, snapshot: Snapshot, list: ListFile): Promise<void> {
  await list.write(snapshot.state.items);
  const path = join(dir, SNAPSHOT_FILE_NAME);
  await replaceFileDurably(path, frame(snapshotToBytes(snapshot)));
}

/** The snapshot, or null if there is none; a damaged one refuses to start (it was written atomically). */
export async function readSnapshot(dir: string, genesis: Membership, list: ListFile): Promise<Snapshot | null> {
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
  let contents;
  try {
    contents = snapshotFromBytes(records[0]!, genesis);
  } catch (e) {
    throw new CorruptLogError(path, 0, `undecodable snapshot: ${(e as Error).message}`);
  }
  const items = "inline" in contents.list ? contents.list.inline : await list.read(contents.list.inListFile);
  return snapshotWithList(contents, wholeItems(items));
}
