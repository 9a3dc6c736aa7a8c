// One node process per data directory: two writers on one log would
// interleave votes and break every durability argument. The lock is a file
// holding the owner's pid; a lock left by a process that no longer exists
// (after kill -9) is taken over.

import { readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";

export const LOCK_FILE_NAME = "LOCK";

export class DataDirLockedError extends Error {}

/** Whether process `pid` exists in this PID namespace (signal 0 sends nothing; EPERM: it exists, another user's). */
export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === "EPERM";
  }
}

export class DataDirLock {
  private constructor(private readonly path: string) {}

  /** Takes the directory's lock (the directory must exist). */
  static acquire(dir: string): DataDirLock {
    const path = join(dir, LOCK_FILE_NAME);
    for (let attempt = 0; attempt < 2; attempt++) {
      try {
        writeFileSync(path, `${process.pid}\n`, { flag: "wx" });
        return new DataDirLock(path);
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== "EEXIST") throw e;
      }
      const owner = Number(readFileSync(path, "utf8").trim());
      if (Number.isInteger(owner) && owner > 0 && owner !== process.pid && processAlive(owner)) {
        throw new DataDirLockedError(`data directory ${dir} is in use by process ${owner} (${path})`);
      }
      rmSync(path, { force: true }); // stale: its owner is gone
    }
    throw new DataDirLockedError(`cannot lock data directory ${dir}`);
  }

  release(): void {
    rmSync(this.path, { force: true });
  }
}
