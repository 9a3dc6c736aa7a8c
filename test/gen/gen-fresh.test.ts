// gen/ must be exactly what `buf generate` (npm run gen) makes from proto/:
// regenerate into a scratch copy of the project and compare byte for byte.

import { execFile } from "node:child_process";
import { cpSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import { afterEach, expect, it } from "vitest";

const ROOT = fileURLToPath(new URL("../..", import.meta.url));

/** Every regular file under `dir`, as sorted paths relative to it. */
function listFiles(dir: string): string[] {
  const out: string[] = [];
  const walk = (d: string) => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const p = join(d, e.name);
      if (e.isDirectory()) walk(p);
      else out.push(relative(dir, p));
    }
  };
  walk(dir);
  return out.sort();
}

let scratch: string | undefined;

afterEach(() => {
  if (scratch) rmSync(scratch, { recursive: true, force: true });
  scratch = undefined;
});

it("gen/ is up to date with proto/ (run `npm run gen` if this fails)", { timeout: 60_000 }, async () => {
  scratch = mkdtempSync(join(tmpdir(), "paxos-gen-"));
  for (const name of ["proto", "buf.yaml", "buf.gen.yaml"]) cpSync(join(ROOT, name), join(scratch, name), { recursive: true });
  // buf.gen.yaml runs the plugin as `node node_modules/ts-proto/...` relative to the working directory.
  symlinkSync(join(ROOT, "node_modules"), join(scratch, "node_modules"), "dir");

  const cwd = scratch;
  const result = await new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
    const child = execFile(join(ROOT, "node_modules/.bin/buf"), ["generate"], { cwd, timeout: 55_000 }, (_err, stdout, stderr) =>
      resolve({ code: child.exitCode, stdout: String(stdout), stderr: String(stderr) }),
    );
  });
  expect(result.stderr).toBe("");
  expect(result.code).toBe(0);

  const fresh = join(scratch, "gen");
  const committed = join(ROOT, "gen");
  const freshFiles = listFiles(fresh);
  const committedFiles = listFiles(committed);
  expect(freshFiles.length).toBeGreaterThan(0);
  expect(freshFiles).toContain(join("paxos", "v1", "paxos.ts"));
  expect(freshFiles).toContain(join("paxos", "v1", "storage.ts"));
  // Same set of files: none missing from gen/, none extra in it.
  expect(committedFiles).toEqual(freshFiles);

  const stale = freshFiles.filter((f) => !readFileSync(join(fresh, f)).equals(readFileSync(join(committed, f))));
  // Compare the stale files as text first, so a failure shows a diff...
  for (const f of stale) expect(readFileSync(join(committed, f), "utf8"), `gen/${f} is stale`).toBe(readFileSync(join(fresh, f), "utf8"));
  // ...and byte for byte, which catches what text hides (encoding).
  expect(stale, `these gen/ files differ from a fresh \`buf generate\`: ${stale.join(", ")}`).toEqual([]);
});
