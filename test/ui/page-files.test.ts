// The live page's static files ship with the package and are found from the
// built code as from the source; its script type-checks against the DOM and
// the server's JSON types (ui/tsconfig.json: checkJs, strict).

import { execFile } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { promisify } from "node:util";
import { describe, expect, it } from "vitest";
import { findUiDir } from "../../src/ui/node-ui.js";
import { ROOT } from "../support/process-cluster.js";

describe("the live page's files", () => {
  it("are in the package, found from src/ui and from dist/src/ui, and load nothing from elsewhere", () => {
    const pkg = JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")) as { files: string[] };
    expect(pkg.files).toContain("ui/");
    expect(findUiDir(join(ROOT, "src/ui"))).toBe(join(ROOT, "ui"));
    expect(findUiDir(join(ROOT, "dist/src/ui"))).toBe(join(ROOT, "ui"));
    const html = readFileSync(join(ROOT, "ui/index.html"), "utf8");
    const refs = [...html.matchAll(/(?:src|href)="([^"]*)"/g)].map((m) => m[1]);
    expect(refs.filter((r) => !r!.startsWith("/ui/") && r !== "/cluster" && r !== "data:,")).toEqual([]);
    expect(readFileSync(join(ROOT, "ui/live.js"), "utf8")).not.toMatch(/innerHTML|outerHTML|insertAdjacentHTML|document\.write|eval\(/);
  });

  it("has a script that type-checks (tsc --checkJs, strict)", { timeout: 120_000 }, async () => {
    const tsc = join(ROOT, "node_modules/typescript/bin/tsc");
    const r = await promisify(execFile)(process.execPath, [tsc, "-p", join(ROOT, "ui/tsconfig.json")], { cwd: ROOT }).catch((e: { stdout?: string; message: string }) => ({
      stdout: `${e.stdout ?? ""}\n${e.message}`,
      failed: true,
    }));
    expect("failed" in r ? r.stdout : "").toBe("");
  });
});
