// freePorts: the ports test, bench and warm-up clusters listen on.

import { describe, expect, it } from "vitest";
import { CLUSTER_PORTS, freePorts } from "../../src/config/free-ports.js";
import { SCRATCH_PORTS } from "../../src/node/warm-up.js";

describe("freePorts", () => {
  it("never hands out a port it was told to avoid", async () => {
    const range = { low: 21_000, high: 21_019 };
    const avoid = new Set([21_000, 21_002, 21_004, 21_006, 21_008, 21_010, 21_012, 21_014, 21_016, 21_018]);
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
    await expect(freePorts(2, { low: 21_100, high: 21_101 }, new Set([21_100]))).rejects.toThrow(/no 2 free ports/);
  });

  it("keeps the warm-up's scratch ports apart from test clusters' and below the ephemeral range", () => {
    expect(SCRATCH_PORTS.high).toBeLessThan(CLUSTER_PORTS.low);
    expect(CLUSTER_PORTS.high).toBeLessThan(32_768);
  });
});
