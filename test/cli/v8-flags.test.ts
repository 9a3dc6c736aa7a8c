// Which V8 flags `paxos node` sets at start: its heap and tier-up tuning,
// each unless node was started with that flag already.

import { spawnSync } from "node:child_process";
import { describe, expect, it } from "vitest";
import { v8FlagsToSet } from "../../src/cli/node-command.js";

describe("v8FlagsToSet", () => {
  it("sets the heap limit and the tier-up flags when node was given none", () => {
    expect(v8FlagsToSet([])).toEqual(["--heap-growing-percent=40", "--interrupt-budget=16896", "--minimum-invocations-after-ic-update=100"]);
  });

  it("leaves a flag given to node itself, in either spelling, with or without a value", () => {
    expect(v8FlagsToSet(["--interrupt_budget=67584", "--max-old-space-size=512", "--heap-growing-percent"])).toEqual(["--minimum-invocations-after-ic-update=100"]);
  });

  it("names only flags this Node's V8 knows, with values it accepts", () => {
    // setFlagsFromString ignores a flag V8 does not know, silently; node itself refuses one ("bad option", exit 9).
    // So a flag renamed or dropped by a Node upgrade fails here rather than quietly stopping to tune anything.
    const flags = v8FlagsToSet([]);
    const r = spawnSync(process.execPath, [...flags, "-e", "0"], { encoding: "utf8" });
    expect(r.stderr).toBe("");
    expect(r.status).toBe(0);
    const bad = spawnSync(process.execPath, ["--interrupt-budget-no-such-flag=1", "-e", "0"], { encoding: "utf8" });
    expect(bad.status).not.toBe(0); // the check above can fail
  });
});
