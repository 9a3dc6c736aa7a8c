import { existsSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

/** The folder holding package.json and proto/, whether we run from src/ (tests) or dist/ (built). */
export function projectRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    if (existsSync(join(dir, "package.json")) && existsSync(join(dir, "proto"))) return dir;
    const up = dirname(dir);
    if (up === dir) throw new Error("cannot find the project root (package.json next to proto/)");
    dir = up;
  }
}
