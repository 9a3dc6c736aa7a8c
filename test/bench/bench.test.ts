// `paxos bench`: the --quick run end to end on real 3-process clusters (no
// etcd), and the pure parts: percentiles, metric parsing, ratios, the table.
// Nothing here is timed: it only shows that the benchmark works.

import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { formatBreakdown, lineUpSteps } from "../../src/bench/breakdown.js";
import { EtcdCluster, etcdVersion, PaxosCluster, sumMetric } from "../../src/bench/clusters.js";
import { LoadDriver, summarize, paxosWorkload, etcdWorkload } from "../../src/bench/load.js";
import {
  alignTable,
  coldWarmUpNote,
  computeRatios,
  evaluateGoals,
  formatRatios,
  formatRuns,
  peerBytesGrowth,
  type BenchReport,
  type RunResult,
} from "../../src/bench/report.js";
import { parseLevels, runBench } from "../../src/cli/bench-command.js";
import { DEFAULT_CONFIG, interleavedSchedule, measureInterleaved, type RunSpec } from "../../src/bench/bench.js";

const out = mkdtempSync(join(tmpdir(), "paxos-bench-test-"));
afterAll(() => rmSync(out, { recursive: true, force: true }));

function run(over: Partial<RunResult>): RunResult {
  return {
    system: "paxos",
    kind: "level",
    clients: 1,
    placement: "spread",
    leader: 0,
    clientsOnLeader: 1,
    reply: "full",
    appends: 100,
    ok: 100,
    errors: 0,
    errorKinds: {},
    elapsedS: 1,
    opsPerS: 100,
    latencyMs: { p50: 1, p99: 2, max: 3, mean: 1.2 },
    peakRssMB: [50, 51, 52],
    rssAfterMB: [40, 41, 42],
    peerBytesPerAppend: 300,
    fdatasyncsPerAppend: 1.5,
    replyBytes: { mean: 100, max: 200, last: 200 },
    cpuCores: [0.5, 0.25, 0.25],
    loadGenCpuCores: 0.5,
    ...over,
  };
}

describe("bench: pure parts", () => {
  it("computes nearest-rank percentiles", () => {
    const lat = Float64Array.from({ length: 100 }, (_, i) => 100 - i); // 100..1, unsorted
    expect(summarize(lat)).toEqual({ p50: 50, p99: 99, max: 100, mean: 50.5 });
    expect(summarize(new Float64Array(0))).toEqual({ p50: 0, p99: 0, max: 0, mean: 0 });
  });

  it("sums a metric over its label sets and ignores longer names", () => {
    const text = [
      "# HELP etcd_network_peer_sent_bytes_total x",
      'etcd_network_peer_sent_bytes_total{To="a"} 100',
      'etcd_network_peer_sent_bytes_total{To="b"} 23.5',
      "paxos_fdatasyncs_total 7",
      "paxos_fdatasyncs_total_extra 1000",
    ].join("\n");
    expect(sumMetric(text, "etcd_network_peer_sent_bytes_total")).toBe(123.5);
    expect(sumMetric(text, "paxos_fdatasyncs_total")).toBe(7);
    expect(sumMetric(text, "missing_metric")).toBeNull();
  });

  it("builds unique requests for both systems", () => {
    const p = paxosWorkload(true).request(3, 4, 5);
    expect(JSON.parse(p.body)).toEqual({ client_id: 3, command_id: 4, payload: 5 });
    expect(p.headers["prefer"]).toBe("return=minimal");
    expect(paxosWorkload(false).request(1, 1, 1).headers["prefer"]).toBeUndefined();
    const e = etcdWorkload().request(3, 4, 5);
    expect(e.path).toBe("/v3/kv/put");
    const body = JSON.parse(e.body) as { key: string; value: string };
    expect(Buffer.from(body.key, "base64").toString()).toBe("bench/3/4");
    expect(Buffer.from(body.value, "base64").toString()).toBe("5");
  });

  it("parses --levels", () => {
    expect(parseLevels("1, 5,32,128")).toEqual([1, 5, 32, 128]);
    expect(() => parseLevels("1,x")).toThrow();
    expect(() => parseLevels("0")).toThrow();
    expect(() => parseLevels("")).toThrow();
  });

  it("computes paxos/etcd ratios per level and judges the goals", () => {
    const levels = [
      run({ clients: 1, opsPerS: 100, latencyMs: { p50: 2, p99: 4, max: 5, mean: 2 } }),
      run({ system: "etcd", clients: 1, opsPerS: 200, latencyMs: { p50: 4, p99: 4, max: 5, mean: 4 } }),
      run({ clients: 32, opsPerS: 3000 }),
      run({ system: "etcd", clients: 32, opsPerS: 1000 }),
      run({ clients: 128, opsPerS: 1500 }),
    ];
    const ratios = computeRatios(levels);
    expect(ratios).toEqual([
      { clients: 1, throughput: 0.5, p50: 0.5, p99: 1 },
      { clients: 32, throughput: 3, p50: 1, p99: 1 },
    ]);
    const seg = (startLength: number, peer: number) => ({
      startLength,
      appends: 10,
      opsPerS: 1,
      p50Ms: 1,
      peerBytesPerAppend: peer,
      fdatasyncsPerAppend: 1,
      replyBytesMean: 12,
    });
    const long = [run({ kind: "long", clients: 32, ok: 30, reply: "minimal", rssAfterMB: [150, 190, 210], segments: [seg(0, 300), seg(10, 310), seg(20, 330)] })];
    expect(peerBytesGrowth(long[0]!)).toEqual({ first: 300, last: 330, ratio: 1.1 });
    const steady = [run({ kind: "steady", clients: 32, opsPerS: 5000 }), run({ system: "etcd", kind: "steady", clients: 32, opsPerS: 2000 })];
    const goals = evaluateGoals(levels, long, 200, steady);
    // 1-client p50; steady 32 (2.5x: met); steady 128 (not measured); cold 32 (3x: met); peer bytes; RSS (210 MB: missed).
    expect(goals.map((g) => g.met)).toEqual([true, true, null, true, true, false]);
    expect(goals[1]!.detail).toBe("paxos/etcd ops/s = 2.50x");
    expect(formatRatios(ratios, null, computeRatios(steady))).toContain("steady 32");
  });

  it("lines the nodes' traced steps up per append, relative to the entry node's gateway in", () => {
    const at = (step: string, atMs: number) => ({ step, atMs });
    const traces = [
      { node: 0, steps: [at("gateway in", 100), at("send propose", 100.5), at("reply out", 104), at("gateway in", 200), at("send propose", 200.7), at("reply out", 206)] },
      { node: 1, steps: [at("recv propose", 101), at("fsync done", 102), at("fsync done", 102.5), at("recv propose", 201), at("fsync done", 203)] },
      { node: 2, steps: [at("fsync done", 150)] }, // between the appends: belongs to neither
    ];
    const b = lineUpSteps(traces, 0, 1);
    expect(b.appends).toBe(2);
    expect(b.medianTotalMs).toBe(4); // lower median of 4 and 6
    expect(b.rows.map((r) => [r.step, r.node, r.role, r.medianMs, r.seenShare])).toEqual([
      ["gateway in", 0, "entry", 0, 1],
      ["send propose", 0, "entry", 0.5, 1],
      ["recv propose", 1, "leader", 1, 1],
      ["fsync done", 1, "leader", 2, 1], // the first fsync done in each window
      ["reply out", 0, "entry", 4, 1],
    ]);
    expect(formatBreakdown(b)).toContain("median total 4.000 ms");
  });

  it("notes the paxos nodes' warm-ups before the cold levels: cut short, rerun on other ports, or failed", () => {
    const full = { appends: 3000, rounds: 4, ms: 7400, portRetries: 0 };
    const levels = [
      run({ clients: 1, nodeWarmUps: [full, full, { ...full, ms: 7700 }] }),
      run({ system: "etcd", clients: 1 }),
      run({ clients: 32, nodeWarmUps: [{ ...full, appends: 1156, ms: 8071 }, { ...full, portRetries: 1 }, { failed: "node 0 cannot start: listen EADDRINUSE" }] }),
    ];
    expect(coldWarmUpNote(levels, 3000)).toBe(
      "paxos nodes' own warm-up before serving, scratch appends per node (of 3000): 1 client: 3000 / 3000 / 3000 in 7.4-7.7 s; " +
        "32 clients: 1156 / 3000 / failed in 7.4-8.1 s (cut short by its time budget; 1 round(s) rerun on other ports; failed, served cold: node 0 cannot start: listen EADDRINUSE)",
    );
    expect(coldWarmUpNote([run({ system: "etcd" })], 3000)).toBeNull();
  });

  it("aligns the table: every line equally wide, numbers right-aligned", () => {
    const t = alignTable(["name", "n"], [["a", "1"], ["bbbb", "1000"]]);
    expect(t.split("\n")).toEqual(["name     n", "----  ----", "a        1", "bbbb  1000"]);
    const runs = formatRuns([run({}), run({ system: "etcd", peerBytesPerAppend: null, opsPerS: 12345.6 })]).split("\n");
    expect(runs).toHaveLength(4);
    expect(new Set(runs.map((l) => l.length)).size).toBe(1);
    expect(runs[3]).toContain("12346");
    expect(runs[3]).toContain("n/a");
  });
});

describe("bench: the --quick run on real clusters", () => {
  it("measures every level, a steady run and the long run, and writes the JSON", { timeout: 180_000 }, async () => {
    const lines: string[] = [];
    const code = await runBench({ quick: true, out, log: (l) => lines.push(l) });
    expect(code, lines.join("\n")).toBe(0);
    const files = readdirSync(out).filter((f) => /^bench-.*\.json$/.test(f));
    expect(files).toHaveLength(1);
    const rep = JSON.parse(readFileSync(join(out, files[0]!), "utf8")) as BenchReport;
    expect(rep.levels.map((l) => [l.system, l.clients])).toEqual([
      ["paxos", 1],
      ["paxos", 4],
    ]);
    expect(rep.long).toHaveLength(1);
    // The steady run: warm-up segments first (not measured), then the measured ones; CPU per append per node.
    expect(rep.steady!.map((r) => [r.system, r.kind, r.clients, r.warmupAppends])).toEqual([["paxos", "steady", 4, 200]]);
    expect(rep.breakdown!.appends).toBe(50);
    expect(rep.breakdown!.rows.map((r) => r.step)).toEqual(expect.arrayContaining(["gateway in", "fsync done", "reply out"]));
    const segs = rep.steady![0]!.segments!;
    expect(segs.filter((x) => x.warmup).reduce((a, x) => a + x.appends, 0)).toBe(200);
    expect(segs.filter((x) => !x.warmup).reduce((a, x) => a + x.appends, 0)).toBe(200);
    for (const r of [...rep.levels, ...rep.steady!, ...rep.long]) {
      expect(r.cpuUsPerAppend).toHaveLength(3);
      for (const us of r.cpuUsPerAppend!) expect(us).toBeGreaterThan(0);
      expect(r.ok).toBe(r.appends);
      expect(r.errors).toBe(0);
      expect(r.opsPerS).toBeGreaterThan(0);
      expect(r.latencyMs.p50).toBeGreaterThan(0);
      expect(r.latencyMs.p99).toBeGreaterThanOrEqual(r.latencyMs.p50);
      expect(r.latencyMs.max).toBeGreaterThanOrEqual(r.latencyMs.p99);
      expect(r.fdatasyncsPerAppend).toBeGreaterThan(0);
      expect(r.peerBytesPerAppend).toBeGreaterThan(0);
      expect(r.replyBytes.mean).toBeGreaterThan(0);
      expect(r.peakRssMB).toHaveLength(3);
      for (const m of r.peakRssMB) expect(m).toBeGreaterThan(0);
      for (const m of r.rssAfterMB) expect(m).toBeGreaterThan(0);
      expect(r.cpuCores).toHaveLength(3);
      expect(r.cpuCores.reduce<number>((a, c) => a + (c ?? 0), 0)).toBeGreaterThan(0);
    }
    // Each cold level's nodes warmed up before serving, as their logs say, and the report notes it.
    for (const l of rep.levels) {
      expect(l.nodeWarmUps).toHaveLength(3);
      for (const w of l.nodeWarmUps!) {
        expect(w).toMatchObject({ rounds: expect.any(Number), portRetries: expect.any(Number) });
        expect((w as { appends: number }).appends).toBeGreaterThan(0);
      }
    }
    expect(rep.meta.notes.find((n) => n.startsWith("paxos nodes' own warm-up"))).toMatch(/1 client: \d+ \/ \d+ \/ \d+ in .*; 4 clients: /);
    // Full replies grow with the list: the last reply holds all 100 values.
    expect(rep.levels[0]!.replyBytes.last).toBeGreaterThan(100);
    expect(rep.long[0]!.segments!.length).toBeGreaterThan(1);
    expect(lines.join("\n")).toContain("ops/s");
  });
});

describe("bench: interleaved steady runs", () => {
  it("warms every cluster up first, then alternates who goes first in each measured segment", () => {
    const steps = interleavedSchedule(
      [
        [5, 5],
        [5, 5],
      ],
      [
        [1, 2, 3],
        [4, 5, 6],
      ],
    ).map((x) => `${x.kind[0]}${x.session}:${x.s}=${x.count}`);
    expect(steps).toEqual(["w0:0=5", "w1:0=5", "w1:1=5", "w0:1=5", "m0:0=1", "m1:0=4", "m1:1=5", "m0:1=2", "m0:2=3", "m1:2=6"]);
    // Unequal plans: a session with fewer segments is skipped once it has none left.
    expect(interleavedSchedule([[], [7]], [[1], [2, 3]]).map((x) => `${x.kind[0]}${x.session}:${x.s}`)).toEqual(["w1:0", "m0:0", "m1:0", "m1:1"]);
  });

  it("pauses a cluster (SIGSTOP: /proc shows it stopped, using no CPU) and resumes it to serve again", { timeout: 60_000 }, async () => {
    const c = await PaxosCluster.start();
    const driver = new LoadDriver(c.origins, paxosWorkload(true), 3);
    try {
      const stateOf = (pid: number) => {
        const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
        return stat.slice(stat.lastIndexOf(")") + 2).split(" ")[0];
      };
      await c.pause();
      expect(c.pids.map(stateOf)).toEqual(["T", "T", "T"]);
      const cpu0 = c.cpuSeconds();
      await new Promise((r) => setTimeout(r, 500));
      expect(c.cpuSeconds()).toEqual(cpu0);
      await c.resume();
      for (const st of c.pids.map(stateOf)) expect(st).not.toBe("T");
      const r = await driver.run({ clients: 3, total: 30, clientIdBase: 1, timeoutMs: 10_000 });
      expect(r.errors, JSON.stringify(r.errorKinds)).toBe(0);
      expect(r.ok).toBe(30);
      await c.pause(); // stop() must still end a paused cluster at once, not after its SIGKILL grace
      const t0 = Date.now();
      await c.stop();
      expect(Date.now() - t0).toBeLessThan(10_000);
    } finally {
      await driver.close();
      await c.stop();
    }
  });

  // Two paxos clusters stand in for paxos and etcd (CI has no etcd): the interleaving is the system-independent part.
  it("measures two real clusters side by side, the other one paused during each run's segments", { timeout: 120_000 }, async () => {
    const lines: string[] = [];
    const cfg = { ...DEFAULT_CONFIG, log: (l: string) => lines.push(l) };
    const spec: RunSpec = { system: "paxos", kind: "steady", clients: 4, appends: 200, minimal: true, segments: 4, warmup: 100 };
    const runs = await measureInterleaved(cfg, [spec, spec]);
    expect(runs).toHaveLength(2);
    for (const r of runs) {
      expect(r.ok).toBe(200);
      expect(r.errors).toBe(0);
      expect(r.warmupAppends).toBe(100);
      expect(r.segments!.filter((x) => !x.warmup).map((x) => x.appends)).toEqual([50, 50, 50, 50]);
      // The other cluster was stopped while this one was measured: /proc counted (almost) no CPU for it.
      expect(r.idleNeighbourCores).toBeDefined();
      expect(r.idleNeighbourCores).toBeLessThan(0.01);
      expect(r.fdatasyncsPerAppend).toBeGreaterThan(0);
      for (const us of r.cpuUsPerAppend!) expect(us).toBeGreaterThan(0);
    }
  });
});

// Only where Debian's etcd-server is installed (CI does not install it).
describe.skipIf(etcdVersion() === null)("bench: the etcd side (etcd installed)", () => {
  it("starts a 3-member etcd, drives it with the same load generator and reads its counters", { timeout: 60_000 }, async () => {
    const etcd = await EtcdCluster.start();
    const driver = new LoadDriver(etcd.origins, etcdWorkload(), 3);
    try {
      const before = await etcd.scrape();
      const r = await driver.run({ clients: 3, total: 60, clientIdBase: 1, timeoutMs: 10_000 });
      const after = await etcd.scrape();
      expect(r.errors, JSON.stringify(r.errorKinds)).toBe(0);
      expect(r.ok).toBe(60);
      expect(r.replyBytesMax).toBeGreaterThan(0);
      expect(after.fdatasyncs! - before.fdatasyncs!).toBeGreaterThan(0);
      expect(after.peerBytes! - before.peerBytes!).toBeGreaterThan(0);
      for (const m of etcd.memory()) expect(m.peakRssBytes).toBeGreaterThan(0);
    } finally {
      await driver.close();
      await etcd.stop();
    }
  });
});
