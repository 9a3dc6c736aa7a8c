// `paxos check`: the verdict line and the exit codes (0 linearizable, 1 not,
// 2 unknown or unreadable), via runCheck on temporary files, and the
// subcommand's registration in the program.

import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, afterEach, beforeEach, describe, expect, it, vi, type MockInstance } from "vitest";
import { runCheck } from "../../src/cli/check-command.js";
import { buildProgram } from "../../src/cli/main.js";

const dir = mkdtempSync(join(tmpdir(), "paxos-check-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

let t = 0;
function ev(process: number, type: string, f: string, value: number | null, state: number[] | null): string {
  return JSON.stringify({ process, type, f, value, state, time: t++ });
}

function file(name: string, lines: string[]): string {
  const path = join(dir, name);
  writeFileSync(path, lines.length === 0 ? "" : `${lines.join("\n")}\n`);
  return path;
}

const valid = () =>
  file("valid.jsonl", [
    ev(0, "invoke", "append", 1, null),
    ev(1, "invoke", "append", 2, null),
    ev(0, "ok", "append", 1, [1]),
    ev(1, "ok", "append", 2, [1, 2]),
    ev(2, "invoke", "read", null, null),
    ev(2, "ok", "read", null, [1, 2]),
  ]);

const stale = () =>
  file("stale.jsonl", [
    ev(0, "invoke", "append", 1, null),
    ev(0, "ok", "append", 1, [1]),
    ev(1, "invoke", "read", null, null),
    ev(1, "ok", "read", null, []),
  ]);

let log: MockInstance<typeof console.log>;
let err: MockInstance<typeof console.error>;
beforeEach(() => {
  log = vi.spyOn(console, "log").mockImplementation(() => undefined);
  err = vi.spyOn(console, "error").mockImplementation(() => undefined);
});
afterEach(() => vi.restoreAllMocks());

const out = () => log.mock.calls.map((c) => c.join(" ")).join("\n");
const errors = () => err.mock.calls.map((c) => c.join(" ")).join("\n");

describe("runCheck", () => {
  it("exit 0 for a linearizable history, with a one-line verdict", async () => {
    expect(await runCheck(valid(), { model: "strict", timeoutMs: 60_000 })).toBe(0);
    expect(out()).toMatch(/^linearizable \(2 operations|^linearizable \(3 operations/);
    expect(log.mock.calls).toHaveLength(1);
  });

  it("exit 0 for an empty history", async () => {
    expect(await runCheck(file("empty.jsonl", []), { model: "appendable-list", timeoutMs: 60_000 })).toBe(0);
  });

  it("exit 1 for a violation, with the explanation", async () => {
    expect(await runCheck(stale(), { model: "strict", timeoutMs: 60_000 })).toBe(1);
    const text = out();
    expect(text).toMatch(/^NOT linearizable \(2 operations, strict model, fast-path, [\d.]+ ms\): op #1, real-time\n/);
    expect(text).toContain("op #1: process 1's read (ok, reply []) [lines 3-4] cannot be linearized: process 0's append 1 (ok, reply [1]) completed before it was invoked");
    expect(await runCheck(stale(), { model: "appendable-list", timeoutMs: 60_000 })).toBe(1);
  });

  it("exit 2 for a file that does not exist", async () => {
    expect(await runCheck(join(dir, "nope.jsonl"), { model: "strict", timeoutMs: 60_000 })).toBe(2);
    expect(errors()).toMatch(/cannot read .*nope\.jsonl \(ENOENT\)/);
  });

  it("exit 2 for a malformed history, naming the line", async () => {
    const path = file("bad.jsonl", [ev(0, "invoke", "append", 1, null), ev(0, "ok", "append", 1, [1]), "{oops"]);
    expect(await runCheck(path, { model: "strict", timeoutMs: 60_000 })).toBe(2);
    expect(errors()).toMatch(/bad\.jsonl: line 3: not valid JSON/);
  });

  it("exit 2 when the search times out", async () => {
    // Strict rejects the first reply at once, so appendable-list has to search 3,000 ops.
    const lines = [ev(0, "invoke", "append", 1, null), ev(1, "invoke", "append", 2, null), ev(0, "ok", "append", 1, [1, 2]), ev(1, "info", "append", 2, null)];
    const list = [1, 2];
    for (let v = 3; v < 3000; v++) {
      list.push(v);
      lines.push(ev(0, "invoke", "append", v, null), ev(0, "ok", "append", v, list));
    }
    const path = file("long.jsonl", lines);
    expect(await runCheck(path, { model: "appendable-list", timeoutMs: 0 })).toBe(2);
    expect(out()).toMatch(/^unknown \(.*\): timed out after 0 ms/);
    expect(await runCheck(path, { model: "strict", timeoutMs: 0 })).toBe(1);
  });
});

describe("paxos check (registration)", () => {
  async function run(args: string[]): Promise<{ code: number | undefined; stdout: string; stderr: string }> {
    let stdout = "";
    let stderr = "";
    const program = buildProgram("bin/paxos.js");
    for (const c of [program, ...program.commands]) {
      c.exitOverride().configureOutput({ writeOut: (s) => (stdout += s), writeErr: (s) => (stderr += s) });
    }
    const before = process.exitCode;
    try {
      await program.parseAsync(["node", "paxos", ...args]);
      return { code: typeof process.exitCode === "number" ? process.exitCode : undefined, stdout, stderr };
    } catch (e) {
      return { code: e instanceof Error && "exitCode" in e ? Number(e.exitCode) : -1, stdout, stderr };
    } finally {
      process.exitCode = before;
    }
  }

  it("has --help naming the options", async () => {
    const r = await run(["check", "--help"]);
    r.stdout = r.stdout.replace(/\s+/g, " "); // commander wraps long lines
    expect(r.stdout).toContain("check [options] <history>");
    expect(r.stdout).toContain("--model <model>");
    expect(r.stdout).toContain("--timeout-ms <ms>");
    expect(r.stdout).toContain('(default: "strict")');
    expect(r.stdout).toContain("(default: 60000)");
  });

  it("runs the check with the default model, and exits 1 on a violation", async () => {
    expect((await run(["check", valid()])).code).toBe(0);
    expect((await run(["check", stale()])).code).toBe(1);
    expect((await run(["check", stale(), "--model", "appendable-list", "--timeout-ms", "5000"])).code).toBe(1);
  });

  it("refuses an unknown model", async () => {
    const r = await run(["check", valid(), "--model", "loose"]);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain("model must be one of: strict, appendable-list");
  });
});
