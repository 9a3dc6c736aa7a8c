// freePorts: the ports test, bench and warm-up clusters listen on.

import { describe, expect, it } from "vitest";
import { CLUSTER_PORTS, freePorts } from "../../src/config/free-ports.js";
import { SCRATCH_PORTS } from "../../src/node/warm-up.js";

describe("freePorts", () => {
  it("never hands out a port it was told to avoid", async () => {
    // Outside the ranges test clusters and warm-ups take theirs from: holding these for a moment steals none.
    const range = { low: 9_100, high: 9_119 };
    const avoid = new Set([9_100, 9_102, 9_104, 9_106, 9_108, 9_110, 9_112, 9_114, 9_116, 9_118]);
    // Five draws of five: an implementation that ignored `avoid` would hit one of the ten almost surely.
    for (let draw = 0; draw < 5; draw++) {
      const ports = await freePorts(5, range, avoid);
      expect(new Set(ports).size).toBe(5);
      for (const p of ports) {
        expect(avoid.has(p)).toBe(false);
        expect(p).toBeGreaterThanOrEqual(range.low);
        expect(p).toBeLessThanOrEqual(range.high);
      }
    }
  });

  it("says so when the range cannot hold them", async () => {
    await expect(freePorts(2, { low: 9_200, high: 9_201 }, new Set([9_200]))).rejects.toThrow(/no 2 free ports/);
  });

  it("keeps the warm-up's scratch ports apart from test clusters' and below the ephemeral range", () => {
    expect(SCRATCH_PORTS.high).toBeLessThan(CLUSTER_PORTS.low);
    expect(CLUSTER_PORTS.high).toBeLessThan(32_768);
  });
});
