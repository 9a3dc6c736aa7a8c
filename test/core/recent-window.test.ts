// The exactly-once window's hash index against a plain Map, over random
// pushes, lookups and evictions: through ring growth, wrap-around, long
// probe runs and deletions inside them.
import { describe, expect, it } from "vitest";
import { RecentWindow } from "../../src/core/recent-window.js";

function rng(seed: number): () => number {
  let x = seed >>> 0;
  return () => (x = (Math.imul(x, 1664525) + 1013904223) >>> 0) / 2 ** 32;
}

describe("RecentWindow", () => {
  it("agrees with a Map of string keys on every lookup", () => {
    for (const seed of [1, 2, 3]) {
      const next = rng(seed);
      const window = new RecentWindow();
      const model = new Map<string, { index: number; slot: number }>();
      const order: { key: string; slot: number }[] = [];
      let slot = 0;
      const pick = () => {
        // A small key space, so lookups hit often; large and negative numbers too.
        const c = Math.floor(next() * 60) * (next() < 0.1 ? 2 ** 40 : 1);
        const k = Math.floor(next() * 100);
        const p = Math.floor(next() * 5) - (next() < 0.2 ? 2 ** 45 : 0);
        return [c, k, p] as const;
      };
      for (let step = 0; step < 90_000; step++) {
        // The window grows, then sits just under a ring size (the index half full: long probe runs that wrap around its end), then shrinks.
        const width = step < 30_000 ? 3000 : step < 60_000 ? 4090 : 200;
        const [c, k, p] = pick();
        const key = `${c}/${k}/${p}`;
        expect(window.indexOf(c, k, p)).toBe(model.get(key)?.index);
        if (next() < 0.7) {
          slot++;
          window.evictBefore(slot - width);
          while (order.length > 0 && order[0]!.slot < slot - width) model.delete(order.shift()!.key);
          if (!model.has(key)) {
            window.push(c, k, p, step, slot);
            model.set(key, { index: step, slot });
            order.push({ key, slot });
          }
        }
        expect(window.size).toBe(model.size);
        if (step % 100 === 0) {
          // Every entry still found (a deletion that broke a probe run would hide one).
          let missing = 0;
          for (const [key, v] of model) {
            const [mc, mk, mp] = key.split("/").map(Number) as [number, number, number];
            if (window.indexOf(mc, mk, mp) !== v.index) missing++;
          }
          expect(missing).toBe(0);
        }
      }
      const flat = window.flatten();
      expect(flat.length).toBe(5 * model.size);
      expect(flat.filter((_, i) => i % 5 === 4)).toEqual(order.map((o) => o.slot));
    }
  });

  it("forgets everything on clear, and works after", () => {
    const w = new RecentWindow();
    for (let i = 0; i < 5000; i++) w.push(i, 1, i, i, i);
    expect(w.indexOf(4999, 1, 4999)).toBe(4999);
    w.clear();
    expect(w.size).toBe(0);
    expect(w.indexOf(4999, 1, 4999)).toBeUndefined();
    w.push(7, 2, 3, 42, 0);
    expect(w.indexOf(7, 2, 3)).toBe(42);
    expect(w.indexOf(7, 2, 4)).toBeUndefined();
  });
});
