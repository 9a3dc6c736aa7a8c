// src/cli/progress.ts: the bar on a terminal, plain lines elsewhere, with an
// injected clock and stream; and the bench's adapter onto it.

import { afterEach, describe, expect, it, vi } from "vitest";
import { benchProgress } from "../../src/cli/bench-command.js";
import { createProgress, formatDuration, formatRate, NO_PROGRESS, phased, type Progress, type ProgressStream } from "../../src/cli/progress.js";

class FakeStream implements ProgressStream {
  chunks: string[] = [];
  constructor(
    readonly isTTY: boolean,
    readonly columns?: number,
  ) {}
  write(text: string): boolean {
    this.chunks.push(text);
    return true;
  }
  get text(): string {
    return this.chunks.join("");
  }
}

/** What a terminal shows after these writes: \r goes to the line's start, ESC[K clears to its end, \n starts a new line. */
function screen(text: string): string[] {
  const lines: string[] = [""];
  let col = 0;
  for (let i = 0; i < text.length; i++) {
    const ch = text[i]!;
    const row = lines.length - 1;
    if (text.startsWith("\x1b[K", i)) {
      lines[row] = lines[row]!.slice(0, col);
      i += 2;
    } else if (ch === "\r") {
      col = 0;
    } else if (ch === "\n") {
      lines.push("");
      col = 0;
    } else {
      const l = lines[row]!;
      lines[row] = l.slice(0, col) + ch + l.slice(col + 1);
      col++;
    }
  }
  return lines;
}

function fakeClock(): { now: () => number; set: (ms: number) => void } {
  let t = 0;
  return { now: () => t, set: (ms) => (t = ms) };
}

describe("formatting", () => {
  it("durations and rates", () => {
    expect(formatDuration(0)).toBe("0 s");
    expect(formatDuration(11.2)).toBe("12 s");
    expect(formatDuration(185)).toBe("3 min 05 s");
    expect(formatDuration(3720)).toBe("1 h 02 min");
    expect(formatDuration(Number.POSITIVE_INFINITY)).toBe("?");
    expect(formatRate(310.4)).toBe("310/s");
    expect(formatRate(2.46)).toBe("2.5/s");
    expect(formatRate(0.04)).toBe("0.04/s");
    expect(formatRate(0)).toBe("0/s");
  });
});

describe("plain lines (not a terminal)", () => {
  it("prints one line per interval with done/total, rate, ETA and the extra; nothing before the first interval", () => {
    const stream = new FakeStream(false);
    const clock = fakeClock();
    const p = createProgress({ stream, clock: clock.now, intervalMs: 5000, pollMs: 0, enabled: true });
    p.start(5000, "sim", { unit: "seeds" });
    for (let t = 100; t < 5000; t += 100) {
      clock.set(t);
      p.update(t / 10);
    }
    expect(stream.text).toBe(""); // a command that ends within the interval prints nothing
    clock.set(5000);
    p.update(1550);
    expect(stream.text).toBe("sim: 1550/5000 seeds, 310/s, ETA 12 s\n");
    clock.set(7000);
    p.update(2000, "2 failed");
    expect(stream.chunks).toHaveLength(1); // not yet: 2 s since the last line
    clock.set(10_000);
    p.update(3100, "2 failed");
    expect(stream.chunks[1]).toBe("sim: 3100/5000 seeds, 310/s, ETA 7 s, 2 failed\n");
    p.stop();
    clock.set(20_000);
    p.update(4000);
    expect(stream.chunks).toHaveLength(2); // stopped: silent, and stop itself wrote nothing
    expect(stream.text).not.toContain("\x1b");
  });

  it("interrupt just runs the write; without a rate the line has no x/s", () => {
    const stream = new FakeStream(false);
    const clock = fakeClock();
    const p = createProgress({ stream, clock: clock.now, intervalMs: 1000, pollMs: 0, enabled: true });
    p.start(30, "jepsen", { unit: "s", rate: false });
    expect(p.interrupt(() => 42)).toBe(42);
    clock.set(12_000);
    p.update(12, "240 ops");
    expect(stream.text).toBe("jepsen: 12/30 s, ETA 18 s, 240 ops\n");
  });

  it("is off with PAXOS_PROGRESS=0, and reads the interval from PAXOS_PROGRESS_INTERVAL_MS", () => {
    expect(createProgress({ env: { PAXOS_PROGRESS: "0" }, stream: new FakeStream(true) })).toBe(NO_PROGRESS);
    const stream = new FakeStream(false);
    const clock = fakeClock();
    const p = createProgress({ env: { PAXOS_PROGRESS_INTERVAL_MS: "50" }, stream, clock: clock.now, pollMs: 0 });
    p.start(10, "x");
    clock.set(49);
    p.update(1);
    expect(stream.text).toBe("");
    clock.set(50);
    p.update(2);
    expect(stream.text).toBe("x: 2/10, 40/s, ETA 1 s\n");
  });
});

describe("bar (terminal)", () => {
  it("draws done/total, percent, rate and ETA in place, at most once per redraw period, and clears on stop", () => {
    const stream = new FakeStream(true, 200);
    const clock = fakeClock();
    const p = createProgress({ stream, clock: clock.now, redrawMs: 100, delayMs: 0, pollMs: 0, enabled: true });
    p.start(5000, "sim", { unit: "seeds" });
    expect(screen(stream.text)).toEqual([`sim ${"░".repeat(20)}   0% 0/5000 seeds, 0/s, ETA ?`]);
    clock.set(50);
    p.update(10);
    expect(stream.chunks).toHaveLength(1); // within the redraw period
    clock.set(5000);
    p.update(1550);
    const drawn = screen(stream.text);
    expect(drawn).toHaveLength(1);
    expect(drawn[0]).toBe(`sim ${"█".repeat(6)}${"░".repeat(14)}  31% 1550/5000 seeds, 310/s, ETA 12 s`);
    expect(stream.text).not.toContain("\n"); // one line, redrawn with \r
    p.stop();
    expect(stream.text.endsWith("\r\x1b[K")).toBe(true);
    expect(screen(stream.text)).toEqual([""]);
    p.stop(); // idempotent
    expect(stream.text.endsWith("\r\x1b[K\r\x1b[K")).toBe(false);
  });

  it("waits delayMs before the first draw, so a quick command shows nothing", () => {
    const stream = new FakeStream(true, 80);
    const clock = fakeClock();
    const p = createProgress({ stream, clock: clock.now, delayMs: 300, pollMs: 0, enabled: true });
    p.start(3, "check (search)", { unit: "ops" });
    clock.set(200);
    p.update(3);
    p.stop();
    expect(stream.text).toBe("");
  });

  it("keeps what the command prints meanwhile on its own lines, and leaves only the final output", () => {
    // One terminal shows both stdout and stderr: interleave them as the command would.
    const term = new FakeStream(true, 120);
    const clock = fakeClock();
    const p = createProgress({ stream: term, clock: clock.now, redrawMs: 0, delayMs: 0, pollMs: 0, enabled: true });
    const print = (line: string) => term.write(`${line}\n`); // stands in for console.log
    p.start(4, "sim", { unit: "seeds" });
    clock.set(1000);
    p.update(1);
    p.interrupt(() => print("seed 2 (3 nodes) FAILED: two values chosen for slot 7"));
    clock.set(2000);
    p.update(2, "1 failed");
    expect(screen(term.text)).toEqual(["seed 2 (3 nodes) FAILED: two values chosen for slot 7", expect.stringMatching(/^sim .* 2\/4 seeds, 1\.0\/s, ETA 2 s, 1 failed$/)]);
    p.update(4, "1 failed");
    p.stop();
    print("4 seeds: 3 passed, 1 failed");
    expect(screen(term.text)).toEqual(["seed 2 (3 nodes) FAILED: two values chosen for slot 7", "4 seeds: 3 passed, 1 failed", ""]);
  });

  it("never wraps: the line is cut to the terminal's width", () => {
    const stream = new FakeStream(true, 40);
    const p = createProgress({ stream, clock: () => 0, delayMs: 0, pollMs: 0, enabled: true });
    p.start(100, "bench", { unit: "appends" });
    p.update(1, "run 1/9 paxos-level-1c-1 and a long tail");
    p.stop();
    for (const chunk of stream.chunks) expect(chunk.replace("\r\x1b[K", "").length).toBeLessThanOrEqual(39);
  });

  it("phased: a new phase starts the count over under its own label", () => {
    const stream = new FakeStream(true, 200);
    const clock = fakeClock();
    const p = createProgress({ stream, clock: clock.now, redrawMs: 0, delayMs: 0, pollMs: 0, enabled: true });
    const report = phased(p, "check", "ops");
    report("fast-path", 0, 1000);
    expect(screen(stream.text)[0]).toMatch(/^check \(fast-path\) .* 0\/1000 ops/);
    clock.set(1000);
    report("search", 0, 800, "0 configurations");
    clock.set(2000);
    report("search", 400, 800, "1024 configurations");
    expect(screen(stream.text)[0]).toMatch(/^check \(search\) .* 400\/800 ops, 400\/s, ETA 1 s, 1024 configurations$/);
    p.stop();
  });
});

describe("poll", () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it("asks poll every pollMs while running, and no more after stop", () => {
    vi.useFakeTimers();
    const stream = new FakeStream(false);
    let now = 0;
    let done = 0;
    const p = createProgress({ stream, clock: () => now, intervalMs: 5000, pollMs: 1000, enabled: true });
    p.start(30, "jepsen", { unit: "s", rate: false, poll: () => ({ done, extra: `${done * 10} ops` }) });
    for (let s = 1; s <= 10; s++) {
      now = s * 1000;
      done = s;
      vi.advanceTimersByTime(1000);
    }
    expect(stream.text).toBe("jepsen: 5/30 s, ETA 25 s, 50 ops\njepsen: 10/30 s, ETA 20 s, 100 ops\n");
    p.stop();
    now = 20_000;
    vi.advanceTimersByTime(10_000);
    expect(stream.chunks).toHaveLength(2);
  });
});

describe("benchProgress", () => {
  it("counts appends over runs, names the run, and stops after the last run (before the report)", () => {
    const calls: string[] = [];
    let poll: (() => { done: number; extra?: string }) | undefined;
    const fake: Progress = {
      start: (total, label, o) => {
        calls.push(`start ${total} ${label} ${o?.unit}`);
        poll = o?.poll;
      },
      update: (done, extra) => calls.push(`update ${done} ${extra}`),
      interrupt: (w) => w(),
      stop: () => calls.push("stop"),
    };
    const b = benchProgress(fake);
    b.plan(2, 300);
    let sent = 0;
    b.run("paxos-level-1c-1", () => sent);
    sent = 40;
    expect(poll?.()).toEqual({ done: 40, extra: "run 1/2 paxos-level-1c-1" });
    sent = 100;
    b.runDone();
    let sent2 = 0;
    b.run("paxos-long-4c-2", () => sent2);
    sent2 = 150;
    expect(poll?.()).toEqual({ done: 250, extra: "run 2/2 paxos-long-4c-2" });
    sent2 = 200;
    b.runDone();
    expect(calls).toEqual(["start 300 bench appends", "update 100 run 2/2 starting the next cluster", "stop"]);
  });
});
