import { mkdtempSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { describe, expect, it } from "vitest";
import { deriveMembership, type MembershipSample } from "../../src/harness/membership.js";
import { pairOperations, renderReport } from "../../src/harness/report.js";
import type { HistoryEvent, NemesisInterval, RunResults } from "../../src/harness/report-types.js";
import { haveChromium, launchChromium, warnIfNoChromium, watchPage } from "../support/chromium.js";

const S = 1e9;
const MS = 1e6;

// ---------------------------------------------------------------------------
// Synthetic histories

function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

interface Synth {
  history: HistoryEvent[];
  /** Operations in invoke order, as the report numbers them. */
  opCount: number;
  /** Ops with a completion event. */
  completed: number;
  pending: number;
}

/**
 * `ops` operations by `processes` clients; during nemesis intervals ~25% of ops
 * time out (info, 1 s) and ~5% fail; the last `pending` processes leave one
 * invoke open at the end.
 */
function synth(ops: number, processes: number, intervals: NemesisInterval[], seed = 1, pending = 1, thinkMs = 0): Synth {
  const rand = rng(seed);
  type Op = { p: number; f: "append" | "read"; v: number | null; t0: number; t1: number | null; type: "ok" | "fail" | "info"; state: number[] | null };
  const list: number[] = [];
  const clocks = Array.from({ length: processes }, (_, i) => i * 0.3 * MS);
  const all: Op[] = [];
  let next = 1;
  const faulty = (t: number) => intervals.some((iv) => t >= iv.start && t < iv.end);
  for (let n = 0; n < ops; n++) {
    let p = 0;
    for (let i = 1; i < processes; i++) if ((clocks[i] ?? 0) < (clocks[p] ?? 0)) p = i;
    const t0 = (clocks[p] ?? 0) + (rand() * 2 + thinkMs * 2 * rand()) * MS;
    const f = rand() < 0.2 ? "read" : "append";
    const v = f === "append" ? next++ : null;
    const isPending = n >= ops - pending;
    let type: Op["type"] = "ok";
    let lat = (2 + rand() * 10 + (rand() < 0.03 ? 80 * rand() : 0)) * MS;
    if (faulty(t0)) {
      const r = rand();
      if (r < 0.25) {
        type = "info";
        lat = 1000 * MS;
      } else if (r < 0.3) {
        type = "fail";
        lat = (1 + rand() * 5) * MS;
      } else lat *= 4;
    }
    let state: number[] | null = null;
    if (type === "ok") {
      if (v !== null) list.push(v);
      // The report only shows a reply's length and last elements; keep them short.
      state = list.slice(Math.max(0, list.length - 20));
    }
    all.push({ p, f, v, t0, t1: isPending ? null : t0 + lat, type, state });
    clocks[p] = isPending ? Infinity : t0 + lat;
  }
  const events: (HistoryEvent & { seq: number })[] = [];
  let seq = 0;
  for (const o of all) {
    events.push({ process: o.p, type: "invoke", f: o.f, value: o.v, state: null, time: Math.round(o.t0), seq: seq++ });
    if (o.t1 !== null) events.push({ process: o.p, type: o.type, f: o.f, value: o.v, state: o.state, time: Math.round(o.t1), seq: seq++ });
  }
  events.sort((a, b) => a.time - b.time || a.seq - b.seq);
  const history = events.map(({ seq: _seq, ...e }) => e);
  const completed = all.filter((o) => o.t1 !== null).length;
  return { history, opCount: all.length, completed, pending: all.length - completed };
}

function resultsFor(history: HistoryEvent[], over: Partial<RunResults> = {}): RunResults {
  const byF: RunResults["counts"]["byF"] = {};
  const counts = { invoke: 0, ok: 0, fail: 0, info: 0, byF };
  for (const e of history) {
    if (e.type === "invoke") {
      counts.invoke++;
      continue;
    }
    counts[e.type]++;
    const b = (byF[e.f] ??= { ok: 0, fail: 0, info: 0 });
    b[e.type]++;
  }
  const ops = pairOperations(history);
  for (const o of ops)
    if (o.pending) {
      counts.info++;
      const b = (byF[o.f] ??= { ok: 0, fail: 0, info: 0 });
      b.info++;
    }
  const lats = ops.filter((o) => o.type === "ok" && o.complete !== null).map((o) => ((o.complete ?? 0) - o.invoke) / MS).sort((a, b) => a - b);
  const pct = (q: number) => lats[Math.min(lats.length - 1, Math.floor(q * lats.length))] ?? 0;
  return {
    name: "append-partition",
    startedAt: "2026-11-20T10:00:00.000Z",
    valid: true,
    model: "strict",
    explanation: "",
    failingOps: [],
    nodes: 5,
    concurrency: 5,
    timeLimitS: 20,
    nemeses: ["partition", "kill"],
    rate: 100,
    counts,
    latencyMs: { p50: pct(0.5), p90: pct(0.9), p99: pct(0.99), max: lats[lats.length - 1] ?? 0 },
    nemesisIntervals: [],
    finalCheck: { ok: true, detail: "all 5 nodes answered a read with 1,234 items within 3 s" },
    tls: false,
    ...over,
  };
}

function svgOf(html: string, id: string): string {
  const start = html.indexOf(`<svg id="${id}"`);
  expect(start).toBeGreaterThanOrEqual(0);
  const end = html.indexOf("</svg>", start);
  return html.slice(start, end);
}

function count(s: string, re: RegExp): number {
  return (s.match(re) ?? []).length;
}

const tinyIntervals: NemesisInterval[] = [
  { kind: "partition", description: "n1 n2 | n3 n4 n5", start: 0.02 * S, end: 0.04 * S },
  { kind: "kill", description: "killed n3", start: 0.06 * S, end: 0.08 * S },
];

/** A hand-written history: 3 processes, 5 ops (one fail, one info, one pending). */
function smallHistory(): HistoryEvent[] {
  return [
    { process: 0, type: "invoke", f: "append", value: 1, state: null, time: 1 * MS },
    { process: 1, type: "invoke", f: "append", value: 2, state: null, time: 2 * MS },
    { process: 0, type: "ok", f: "append", value: 1, state: [1], time: 5 * MS },
    { process: 2, type: "invoke", f: "read", value: null, state: null, time: 6 * MS },
    { process: 1, type: "fail", f: "append", value: 2, state: null, time: 8 * MS },
    { process: 2, type: "ok", f: "read", value: null, state: [1], time: 9 * MS },
    { process: 0, type: "invoke", f: "append", value: 3, state: null, time: 30 * MS },
    { process: 0, type: "info", f: "append", value: 3, state: null, time: 70 * MS },
    { process: 1, type: "invoke", f: "append", value: 4, state: null, time: 80 * MS },
    // process 1's append 4 never completes
    { process: 2, type: "invoke", f: "read", value: null, state: null, time: 85 * MS },
    { process: 2, type: "ok", f: "read", value: null, state: [1, 3], time: 100 * MS },
  ];
}

// ---------------------------------------------------------------------------

describe("renderReport (HTML)", () => {
  it("renders a valid run: green banner, one bar per op, nemesis shading", () => {
    const history = smallHistory();
    const html = renderReport(resultsFor(history, { nemesisIntervals: tinyIntervals }), history);
    expect(html.startsWith("<!DOCTYPE html>")).toBe(true);
    expect(html).toContain('class="banner valid"');
    expect(html).toContain("VALID — linearizable (strict)");
    expect(html).not.toContain("NOT LINEARIZABLE");
    const tl = svgOf(html, "timeline");
    expect(count(tl, /<rect[^>]* class="op /g)).toBe(6);
    // bars carry their process and op index
    for (let i = 0; i < 6; i++) expect(tl).toContain(`data-index="${i}"`);
    expect(count(tl, /class="op ok /g)).toBe(3);
    expect(count(tl, /class="op fail /g)).toBe(1);
    expect(count(tl, /class="op info /g)).toBe(1 + 1);
    // nemesis shading in both charts
    expect(count(tl, /class="nemesis"/g)).toBe(2);
    expect(count(svgOf(html, "latency-plot"), /class="nemesis"/g)).toBe(2);
    // the plot has one point per completed op (the pending one has no latency)
    expect(count(svgOf(html, "latency-plot"), /class="point /g)).toBe(5);
    // no network: nothing external
    expect(html).not.toMatch(/<(script|link|img)[^>]+(src|href)=/i);
    expect(html).not.toMatch(/https?:\/\/(?!www\.w3\.org)/);
    expect(html).not.toContain('id="violation"');
  });

  it("draws an invoke with no completion to the end as info", () => {
    const history = smallHistory();
    const ops = pairOperations(history);
    const pending = ops.find((o) => o.pending);
    expect(pending).toMatchObject({ index: 4, process: 1, f: "append", value: 4, type: "info", complete: null });
    const tl = svgOf(renderReport(resultsFor(history), history), "timeline");
    const bar = /<rect class="op info append pending" x="([\d.]+)" y="[\d.]+" width="([\d.]+)"[^>]*data-process="1" data-index="4">/.exec(tl);
    expect(bar).not.toBeNull();
    const end = Number(bar?.[1]) + Number(bar?.[2]);
    // the last event is at 100 ms: the bar ends where the read completing at 100 ms ends
    const last = /<rect class="op ok read" x="([\d.]+)" y="[\d.]+" width="([\d.]+)"[^>]*data-index="5">/.exec(tl);
    expect(last).not.toBeNull();
    expect(end).toBeCloseTo(Number(last?.[1]) + Number(last?.[2]), 0);
  });

  it("renders a violation: red banner, explanation, outlined failing ops and an anchor", () => {
    const history = smallHistory();
    const html = renderReport(
      resultsFor(history, {
        valid: false,
        explanation: "process 2's read (ok, reply [1, 3]) contains 3,\nbut process 0's append 3 was info",
        failingOps: [5, 3],
      }),
      history,
    );
    expect(html).toContain('class="banner invalid"');
    expect(html).toContain("NOT LINEARIZABLE");
    expect(html).not.toContain("VALID — linearizable");
    expect(html).toContain("process 2&#39;s read (ok, reply [1, 3]) contains 3,\nbut process 0&#39;s append 3 was info");
    expect(html).toContain("Jump to the violation");
    const tl = svgOf(html, "timeline");
    expect(count(tl, /class="op [a-z ]*failing"/g)).toBe(2);
    expect(tl).toMatch(/<rect id="violation" class="op ok read failing"[^>]*data-index="5"/);
    expect(tl).toMatch(/<rect id="op-3" class="op info append failing"[^>]*data-index="3"/);
    expect(tl).toContain('id="op-5"'); // the anchor's halo, so the list's links work
    expect(html).toContain('href="#op-3"');
    expect(count(svgOf(html, "latency-plot"), /class="violation-line"/g)).toBe(2);
  });

  it("renders an unknown verdict in amber with the reason", () => {
    const history = smallHistory();
    const html = renderReport(resultsFor(history, { valid: "unknown", explanation: "timed out after 60000 ms" }), history);
    expect(html).toContain('class="banner unknown"');
    expect(html).toContain("UNKNOWN");
    expect(html).toContain("timed out after 60000 ms");
    expect(html).not.toContain("NOT LINEARIZABLE");
    expect(html).not.toContain("VALID — linearizable");
  });

  it("escapes everything that comes from data", () => {
    const history = smallHistory();
    const evil = `</script><img src=x onerror=alert(1)><script>alert("x")</script>`;
    const html = renderReport(
      resultsFor(history, {
        valid: false,
        name: `<b>run</b>`,
        model: `strict"><svg onload=alert(2)>`,
        explanation: evil,
        nemeses: ["<i>kill</i>"],
        nemesisIntervals: [{ kind: `pause" onmouseover="alert(3)`, description: evil, start: 0, end: 10 * MS }],
        finalCheck: { ok: false, detail: evil },
        failingOps: [0],
      }),
      history,
    );
    expect(html).not.toContain("<img");
    expect(html).not.toContain("<b>run</b>");
    expect(html).not.toContain("<i>kill</i>");
    expect(html).not.toContain("<svg onload");
    expect(html).not.toContain('" onmouseover="');
    expect(html).toContain("&lt;/script&gt;&lt;img src=x onerror=alert(1)&gt;");
    expect(count(html, /<script>/g)).toBe(1);
    expect(count(html, /<\/script>/g)).toBe(1);
  });

  it("stays small and fast for 10,000 ops", () => {
    const intervals = [5, 15, 25, 35, 45].map((s, i): NemesisInterval => ({
      kind: ["partition", "kill", "pause", "partition-leader", "partition"][i] ?? "partition",
      description: `fault ${i}`,
      start: s * S,
      end: (s + 5) * S,
    }));
    const { history, opCount } = synth(10_000, 10, intervals, 7, 3);
    const t0 = performance.now();
    const html = renderReport(resultsFor(history, { nemesisIntervals: intervals, concurrency: 10 }), history);
    const ms = performance.now() - t0;
    expect(count(svgOf(html, "timeline"), /class="op /g)).toBe(opCount);
    expect(Buffer.byteLength(html)).toBeLessThan(10 * 1024 * 1024);
    expect(ms).toBeLessThan(5000);
  });
});

// ---------------------------------------------------------------------------
// In a real browser

warnIfNoChromium("report.test.ts");

describe.skipIf(!haveChromium)("renderReport in headless Chromium", () => {
  const intervals: NemesisInterval[] = [
    { kind: "partition", description: "isolated n1 from n2 n3 n4 n5", start: 1 * S, end: 2.5 * S },
    { kind: "kill", description: "killed n2, n4", start: 4 * S, end: 5.5 * S },
    { kind: "pause", description: "paused the leader n3 (SIGSTOP)", start: 7 * S, end: 8.5 * S },
  ];

  interface PageCheck {
    html: string;
    opCount: number;
    completed: number;
    valid: boolean;
    shot: string;
  }

  async function check(page: PageCheck, dir: string): Promise<{ bytes: number; loadMs: number }> {
    const file = join(dir, `${page.valid ? "valid" : "invalid"}-${page.opCount}.html`);
    writeFileSync(file, page.html);
    const { tab, close } = await launchChromium({ width: 1400, height: 1000 });
    try {
      const { errors, requests } = watchPage(tab, (url) => !url.startsWith("file:"));
      const t0 = performance.now();
      await tab.goto(pathToFileURL(file).href, { waitUntil: "load" });
      // one frame after load: layout and paint done
      await tab.evaluate("new Promise((r) => requestAnimationFrame(() => r(null)))");
      const loadMs = performance.now() - t0;

      for (const id of ["#timeline", "#latency-plot", ...(page.html.includes('<svg id="membership"') ? ["#membership"] : [])]) {
        const box = await tab.locator(id).boundingBox();
        expect(box, id).not.toBeNull();
        expect(box?.width ?? 0, id).toBeGreaterThan(0);
        expect(box?.height ?? 0, id).toBeGreaterThan(0);
      }
      expect(await tab.locator("#timeline .op").count()).toBe(page.opCount);
      expect(await tab.locator("#latency-plot .point").count()).toBe(page.completed);
      const banner = tab.locator("#verdict");
      expect(await banner.isVisible()).toBe(true);
      const text = await banner.innerText();
      if (page.valid) {
        expect(text).toContain("VALID");
        expect(text).not.toContain("NOT LINEARIZABLE");
      } else {
        expect(text).toContain("NOT LINEARIZABLE");
        // the violation is scrolled into the timeline's view
        const v = await tab.locator("#violation").boundingBox();
        const sc = await tab.locator("#timeline-scroll").boundingBox();
        expect(v).not.toBeNull();
        expect(sc).not.toBeNull();
        if (v !== null && sc !== null) {
          expect(v.x).toBeGreaterThanOrEqual(sc.x);
          expect(v.x + v.width).toBeLessThanOrEqual(sc.x + sc.width);
        }
      }
      await tab.screenshot({ path: page.shot, fullPage: true });
      expect(statSync(page.shot).size).toBeGreaterThan(10_000);
      expect(errors).toEqual([]);
      expect(requests).toEqual([]);
      return { bytes: Buffer.byteLength(page.html), loadMs };
    } finally {
      await close();
    }
  }

  it("shows a valid 2,000-op run and a non-linearizable one", { timeout: 120_000 }, async () => {
    const dir = process.env.REPORT_SHOT_DIR ?? mkdtempSync(join(tmpdir(), "report-test-"));
    const s = synth(2000, 5, intervals, 42, 2);
    // With a membership that grows and shrinks, as a member-nemesis run records it.
    const hosts = ["10.0.0.1", "10.0.0.2", "10.0.0.3", "10.0.0.4", "10.0.0.5"];
    const cfg = (slot: number, ids: number[], learner?: number): MembershipSample["members"] => ({
      config_slot: slot,
      members: [...ids.map((id) => ({ id, address: `${hosts[id % 5]}:5000`, role: "voter" as const })), ...(learner === undefined ? [] : [{ id: learner, address: `${hosts[learner % 5]}:5000`, role: "learner" as const }])],
    });
    const timeline: [number, MembershipSample["members"]][] = [[0, cfg(-1, [0, 1, 2])], [2, cfg(40, [0, 1, 2], 3)], [3, cfg(55, [0, 1, 2, 3])], [6, cfg(90, [0, 2, 3])]];
    const samples: MembershipSample[] = [];
    for (let t = 0; t < 10; t += 0.5) {
      const current = [...timeline].reverse().find(([at]) => at <= t)![1];
      for (let slot = 0; slot < 5; slot++) {
        const member = current!.members.find((m) => m.id % 5 === slot);
        samples.push({ time: t * S, slot, members: member ? current : null, status: member ? { id: member.id, role: slot === 0 ? "leader" : "follower", member: member.role, leader: 0, configSlot: current!.config_slot } : null });
      }
    }
    const membership = deriveMembership(samples, hosts, 10 * S, true);
    expect([membership.grows, membership.shrinks]).toEqual([1, 1]);
    const valid = renderReport(resultsFor(s.history, { nemesisIntervals: intervals, timeLimitS: 10, membership, slots: 5 }), s.history);
    const r1 = await check({ html: valid, opCount: s.opCount, completed: s.completed, valid: true, shot: join(dir, "report-valid.png") }, dir);

    const bad = pairOperations(s.history).filter((o) => o.type === "ok" && o.f === "read" && o.invoke > 4.2 * S);
    const victim = bad[0];
    expect(victim).toBeDefined();
    const invalid = renderReport(
      resultsFor(s.history, {
        nemesisIntervals: intervals,
        timeLimitS: 10,
        valid: false,
        explanation: `process ${victim?.process}'s read (ok) at ${((victim?.invoke ?? 0) / S).toFixed(3)} s returned a list without value 1207,\nbut process 3's append 1207 completed ok before that read was invoked.`,
        failingOps: [victim?.index ?? 0, (victim?.index ?? 0) - 7],
        finalCheck: { ok: false, detail: "n2 did not answer within 3 s" },
      }),
      s.history,
    );
    const r2 = await check({ html: invalid, opCount: s.opCount, completed: s.completed, valid: false, shot: join(dir, "report-invalid.png") }, dir);
    console.log(`report: 2,000 ops: ${(r1.bytes / 1024).toFixed(0)} KiB valid / ${(r2.bytes / 1024).toFixed(0)} KiB invalid, load+paint ${r1.loadMs.toFixed(0)} / ${r2.loadMs.toFixed(0)} ms; screenshots in ${dir}`);
  });

  it("loads a 10,000-op run in a few seconds", { timeout: 120_000 }, async () => {
    const dir = process.env.REPORT_SHOT_DIR ?? mkdtempSync(join(tmpdir(), "report-test-"));
    const big: NemesisInterval[] = [5, 15, 25, 35, 45].map((s, i) => ({
      kind: ["partition", "kill", "pause", "partition-leader", "partition"][i] ?? "partition",
      description: `fault ${i}`,
      start: s * S,
      end: (s + 5) * S,
    }));
    const s = synth(10_000, 10, big, 9, 3, 50);
    const html = renderReport(resultsFor(s.history, { nemesisIntervals: big, concurrency: 10, timeLimitS: 60 }), s.history);
    const r = await check({ html, opCount: s.opCount, completed: s.completed, valid: true, shot: join(dir, "report-10k.png") }, dir);
    console.log(`report: 10,000 ops: ${(r.bytes / 1024 / 1024).toFixed(2)} MiB, load+paint ${r.loadMs.toFixed(0)} ms`);
    expect(r.bytes).toBeLessThan(10 * 1024 * 1024);
    expect(r.loadMs).toBeLessThan(15_000);
  });
});
