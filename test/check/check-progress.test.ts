// The checker's progress: phases, and in the search the ops linearized of all,
// reported at most once per 1024 steps; `paxos check` prints the same verdict with it.

import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, afterEach, describe, expect, it, vi } from "vitest";
import { historyFromEvents, type RecordedEvent } from "../../src/check/history.js";
import { checkHistory } from "../../src/check/linearizability.js";
import { runCheck } from "../../src/cli/check-command.js";
import type { Progress } from "../../src/cli/progress.js";

/** n appends one after another by 3 processes; the reply is the list so far (values repeat every 50, so the fast path cannot decide). */
function sequential(n: number): RecordedEvent[] {
  const events: RecordedEvent[] = [];
  const list: number[] = [];
  let t = 0;
  for (let i = 0; i < n; i++) {
    const v = i % 50;
    events.push({ process: i % 3, type: "invoke", f: "append", value: v, state: null, time: t++ });
    list.push(v);
    events.push({ process: i % 3, type: "ok", f: "append", value: v, state: [...list], time: t++ });
  }
  return events;
}

const dir = mkdtempSync(join(tmpdir(), "paxos-check-progress-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
afterEach(() => vi.restoreAllMocks());

describe("checkHistory onProgress", () => {
  it("reports the fast path, then the search's ops linearized of all, every 1024 steps", () => {
    const calls: [string, number, number, string][] = [];
    const r = checkHistory(historyFromEvents(sequential(3000)), { model: "strict", onProgress: (...a) => calls.push(a) });
    expect(r.valid).toBe(true);
    expect(r.method).toBe("search");
    expect(calls[0]).toEqual(["fast-path", 0, 3000, ""]);
    expect(calls[1]).toEqual(["search", 0, 3000, "0 configurations"]);
    const search = calls.slice(2);
    expect(search.length).toBeGreaterThanOrEqual(2);
    expect(search.length).toBeLessThanOrEqual(Math.ceil((r.configurations ?? 0) / 1024) + 2);
    for (let i = 0; i < search.length; i++) {
      const [phase, done, total] = search[i]!;
      expect(phase).toBe("search");
      expect(total).toBe(3000);
      expect(done).toBeGreaterThan(0);
      expect(done).toBeLessThanOrEqual(total);
      if (i > 0) expect(done).toBeGreaterThanOrEqual(search[i - 1]![1]); // the deepest point only grows
    }
  });

  it("changes no verdict", () => {
    const h = historyFromEvents(sequential(2000));
    const a = checkHistory(h, { model: "appendable-list" });
    const b = checkHistory(h, { model: "appendable-list", onProgress: () => undefined });
    expect({ ...b, elapsedMs: 0 }).toEqual({ ...a, elapsedMs: 0 });
  });
});

describe("runCheck with progress", () => {
  it("drives the progress through the phases, stops it, and prints the same verdict", async () => {
    const path = join(dir, "seq.jsonl");
    writeFileSync(path, sequential(3000).map((e) => JSON.stringify(e)).join("\n") + "\n");
    const seen: string[] = [];
    const progress: Progress = {
      start: (total, label, o) => seen.push(`start ${label} ${total} ${o?.unit}`),
      update: () => undefined,
      interrupt: (w) => w(),
      stop: () => seen.push("stop"),
    };
    const log = vi.spyOn(console, "log").mockImplementation(() => undefined);
    expect(await runCheck(path, { model: "strict", timeoutMs: 60_000, progress })).toBe(0);
    expect(seen).toEqual(["start check (fast-path) 3000 ops", "start check (search) 3000 ops", "stop"]);
    expect(log.mock.calls).toHaveLength(1);
    expect(String(log.mock.calls[0]![0])).toMatch(/^linearizable \(3000 operations, strict model, search, [\d.]+ ms\)$/);
  });
});
