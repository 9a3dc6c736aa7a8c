// The wire contract between node versions: `npm run proto:check` runs buf
// lint and buf breaking (WIRE_JSON rules) against proto/released.binpb, the
// descriptors of the last release. This shows the check passes on proto/ as
// committed, and fails for a change that would break a rolling upgrade.

import { execFile } from "node:child_process";
import { cpSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, expect, it } from "vitest";
import { ROOT } from "../support/process-cluster.js";

let scratch: string | undefined;
afterEach(() => {
  if (scratch) rmSync(scratch, { recursive: true, force: true });
  scratch = undefined;
});

function protoCheck(cwd: string): Promise<{ code: number | null; out: string }> {
  return new Promise((resolve) => {
    const child = execFile("npm", ["run", "--silent", "proto:check"], { cwd, timeout: 55_000 }, (_e, stdout, stderr) => resolve({ code: child.exitCode, out: `${stdout}${stderr}` }));
  });
}

it("proto/ is lint-clean and wire-compatible with the last release", { timeout: 60_000 }, async () => {
  const r = await protoCheck(ROOT);
  expect(r.out).toBe("");
  expect(r.code).toBe(0);
});

it.each([
  ["a field renumbered", (p: string) => p.replace("uint64 round = 1;", "uint64 round = 9;"), /Ballot/],
  ["a field's type changed", (p: string) => p.replace("uint32 node = 2;", "string node = 2;"), /type/i],
  ["a field renamed (proto3 JSON)", (p: string) => p.replace("uint64 from_slot = 2;\n}", "uint64 first_slot = 2;\n}"), /name|json/i],
])("fails for %s", { timeout: 60_000 }, async (_what, edit, message) => {
  scratch = mkdtempSync(join(tmpdir(), "paxos-proto-"));
  for (const name of ["proto", "buf.yaml", "package.json"]) cpSync(join(ROOT, name), join(scratch, name), { recursive: true });
  symlinkSync(join(ROOT, "node_modules"), join(scratch, "node_modules"), "dir");
  const path = join(scratch, "proto/paxos/v1/paxos.proto");
  const before = readFileSync(path, "utf8");
  const after = edit(before);
  expect(after).not.toBe(before);
  writeFileSync(path, after);
  const r = await protoCheck(scratch);
  expect(r.code).not.toBe(0);
  expect(r.out).toMatch(message);
});
