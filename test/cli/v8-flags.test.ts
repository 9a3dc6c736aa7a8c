// Which V8 flags `paxos node` sets at start: its heap and tier-up tuning,
// each unless node was started with that flag already.

import { describe, expect, it } from "vitest";
import { v8FlagsToSet } from "../../src/cli/node-command.js";

describe("v8FlagsToSet", () => {
  it("sets the heap limit and the tier-up flags when node was given none", () => {
    expect(v8FlagsToSet([])).toEqual(["--heap-growing-percent=40", "--interrupt-budget=16896", "--minimum-invocations-after-ic-update=100"]);
  });

  it("leaves a flag given to node itself, in either spelling, with or without a value", () => {
    expect(v8FlagsToSet(["--interrupt_budget=67584", "--max-old-space-size=512", "--heap-growing-percent"])).toEqual(["--minimum-invocations-after-ic-update=100"]);
  });
});
