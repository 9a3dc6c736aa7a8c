// gen/ must be exactly what `npm run gen` (buf generate, then buf build of the
// descriptor set reflection serves) makes from proto/: regenerate into a
// scratch copy of the project and compare byte for byte. And protoc with the
// same ts-proto plugin (`npm run gen:protoc`) must make the same code and an
// equivalent descriptor set (protoc stores the comments a little differently).

import { execFile, spawnSync } from "node:child_process";
import { cpSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import { afterEach, expect, it } from "vitest";
import { equals, fromBinary } from "@bufbuild/protobuf";
import { FileDescriptorSetSchema, type FileDescriptorSet } from "@bufbuild/protobuf/wkt";

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

/** A scratch copy of what generation reads, with node_modules linked in (the plugin runs from there). */
function scratchProject(): string {
  const dir = mkdtempSync(join(tmpdir(), "paxos-gen-"));
  for (const name of ["proto", "buf.yaml", "buf.gen.yaml", "package.json"]) cpSync(join(ROOT, name), join(dir, name), { recursive: true });
  symlinkSync(join(ROOT, "node_modules"), join(dir, "node_modules"), "dir");
  return dir;
}

function run(cmd: string, args: readonly string[], cwd: string): Promise<{ code: number | null; stderr: string }> {
  return new Promise((resolve) => {
    const child = execFile(cmd, args, { cwd, timeout: 55_000 }, (_err, _stdout, stderr) => resolve({ code: child.exitCode, stderr: String(stderr) }));
  });
}

const npmRun = (script: string, cwd: string) => run("npm", ["run", "--silent", script], cwd);

/** Compares two trees file by file: as text first (a readable diff), then byte for byte. */
function expectSameFiles(fresh: string, committed: string): void {
  const stale = listFiles(fresh).filter((f) => !readFileSync(join(fresh, f)).equals(readFileSync(join(committed, f))));
  for (const f of stale.filter((x) => x.endsWith(".ts"))) {
    expect(readFileSync(join(committed, f), "utf8"), `gen/${f} is stale`).toBe(readFileSync(join(fresh, f), "utf8"));
  }
  expect(stale, `these gen/ files differ: ${stale.join(", ")}`).toEqual([]);
}

it("gen/ is up to date with proto/ (run `npm run gen` if this fails)", { timeout: 60_000 }, async () => {
  scratch = scratchProject();
  const r = await npmRun("gen", scratch);
  expect(r.stderr).toBe("");
  expect(r.code).toBe(0);
  const fresh = join(scratch, "gen");
  const freshFiles = listFiles(fresh);
  expect(freshFiles).toEqual(expect.arrayContaining([join("paxos", "v1", "paxos.ts"), join("paxos", "v1", "storage.ts"), "descriptors.binpb"]));
  // Same set of files: none missing from gen/, none extra in it.
  expect(listFiles(join(ROOT, "gen"))).toEqual(freshFiles);
  expectSameFiles(fresh, join(ROOT, "gen"));
});

it("a bare `buf generate` (as a user might run it) leaves the committed gen/ exactly as it is", { timeout: 60_000 }, async () => {
  scratch = scratchProject();
  cpSync(join(ROOT, "gen"), join(scratch, "gen"), { recursive: true });
  // Without the stubs, so that they are there afterwards only if buf wrote them.
  rmSync(join(scratch, "gen", "paxos"), { recursive: true });
  const r = await run(join(ROOT, "node_modules/.bin/buf"), ["generate"], scratch);
  expect(r.stderr).toBe("");
  expect(r.code).toBe(0);
  expect(listFiles(join(scratch, "gen"))).toEqual(listFiles(join(ROOT, "gen")));
  expectSameFiles(join(scratch, "gen"), join(ROOT, "gen"));
});

const haveProtoc = spawnSync("protoc", ["--version"]).status === 0;

it.skipIf(!haveProtoc)("protoc with the ts-proto plugin (npm run gen:protoc) makes the same code as buf", { timeout: 60_000 }, async () => {
  scratch = scratchProject();
  // The plugin options of the protoc command are buf.gen.yaml's, so the two cannot drift apart.
  const bufOpts = [...readFileSync(join(ROOT, "buf.gen.yaml"), "utf8").matchAll(/^\s+- ([a-zA-Z]+=\S+)$/gm)].map((m) => m[1]!);
  const script = (JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")) as { scripts: Record<string, string> }).scripts["gen:protoc"]!;
  const protocOpts = /--ts_proto_opt=(\S+)/.exec(script)![1]!.split(",");
  expect(protocOpts).toEqual(bufOpts);

  const r = await npmRun("gen:protoc", scratch);
  expect(r.stderr).toBe("");
  expect(r.code).toBe(0);
  const fresh = join(scratch, "gen");
  expect(listFiles(fresh)).toEqual(listFiles(join(ROOT, "gen")));
  // The code byte for byte: annotateFilesWithVersion=false keeps the compiler's version (which buf does not pass) out of the header.
  const code = (dir: string) => listFiles(dir).filter((f) => f.endsWith(".ts"));
  const stale = code(fresh).filter((f) => !readFileSync(join(fresh, f)).equals(readFileSync(join(ROOT, "gen", f))));
  expect(stale, `protoc made other code than buf for: ${stale.join(", ")}`).toEqual([]);
  // The descriptor set reflection serves: the same files, messages, services and options; the same comments.
  const set = (dir: string) => fromBinary(FileDescriptorSetSchema, readFileSync(join(dir, "descriptors.binpb")));
  const [byProtoc, byBuf] = [set(fresh), set(join(ROOT, "gen"))];
  expect(byProtoc.file.map((f) => f.name)).toEqual(byBuf.file.map((f) => f.name));
  expect(commentsOf(byProtoc)).toEqual(commentsOf(byBuf));
  expect(equals(FileDescriptorSetSchema, withoutSourceInfo(byProtoc), withoutSourceInfo(byBuf))).toBe(true);
});

/** Each file's source locations as sorted strings; protoc ends a trailing comment with "\n", buf does not. */
function commentsOf(set: FileDescriptorSet): string[][] {
  return set.file.map((f) =>
    (f.sourceCodeInfo?.location ?? [])
      .map((l) => JSON.stringify([l.path, l.span, l.leadingComments, l.trailingComments?.replace(/\n$/, ""), l.leadingDetachedComments]))
      .sort(),
  );
}

function withoutSourceInfo(set: FileDescriptorSet): FileDescriptorSet {
  for (const f of set.file) f.sourceCodeInfo = undefined;
  return set;
}
