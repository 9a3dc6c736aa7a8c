// The local Jepsen harness itself: it must call a broken cluster broken,
// refuse to run without root, and leave no namespace or link behind.

import { execFileSync, spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { runLocalJepsen } from "../../src/harness/local-jepsen.js";
import { NAME_PREFIX } from "../../src/harness/netns.js";
import { PAXOS_BIN, ROOT } from "../support/process-cluster.js";

const canRun = process.getuid?.() === 0 && spawnSync("iptables", ["--version"]).status === 0 && spawnSync("ip", ["-V"]).status === 0;
const store = mkdtempSync(join(tmpdir(), "paxos-jepsen-store-"));
afterAll(() => rmSync(store, { recursive: true, force: true }));

function leftovers(): string[] {
  const ns = execFileSync("ip", ["netns", "list"], { encoding: "utf8" });
  const links = execFileSync("ip", ["-o", "link", "show"], { encoding: "utf8" });
  return [...ns.split("\n"), ...links.split("\n")].filter((l) => l.includes(`${NAME_PREFIX}-`));
}

describe.skipIf(!canRun)("the local Jepsen harness (root, ip, iptables)", () => {
  it("reports a cluster that answers from local state without consensus as not linearizable", async () => {
    const broken = join(ROOT, "test/support/broken-node.mjs");
    const outcome = await runLocalJepsen(
      {
        nodes: 3,
        concurrency: 3,
        timeLimitS: 4,
        rate: 30,
        nemeses: ["none"],
        reads: false,
        healthyS: 1,
        faultyS: 1,
        model: "strict",
        name: "broken",
        storeDir: store,
        requestTimeoutMs: 2000,
        nodeCommand: (i, config) => [process.execPath, broken, "node", config, "--self", String(i)],
        log: () => {},
      },
      PAXOS_BIN,
    );
    expect(outcome.results.valid).toBe(false);
    expect(outcome.exitCode).toBe(1);
    expect(outcome.results.explanation.length).toBeGreaterThan(0);
    for (const f of ["history.jsonl", "history.edn", "results.json", "index.html"]) expect(existsSync(join(outcome.dir, f)), f).toBe(true);
    const html = readFileSync(join(outcome.dir, "index.html"), "utf8");
    expect(html).toContain("NOT LINEARIZABLE");
    expect(leftovers()).toEqual([]);
  }, 60_000);

  it("passes a short run of the real cluster with mutual TLS under partitions and kills, and cleans up", async () => {
    const outcome = await runLocalJepsen(
      {
        nodes: 3,
        concurrency: 5,
        timeLimitS: 12,
        rate: 40,
        nemeses: ["partition", "kill"],
        reads: true,
        healthyS: 2,
        faultyS: 3,
        model: "strict",
        name: "short",
        storeDir: store,
        requestTimeoutMs: 3000,
        tls: true,
        log: () => {},
      },
      PAXOS_BIN,
    );
    // TLS really was on, by the nodes' own account: peers and clients, with client certificates.
    for (let i = 0; i < 3; i++) {
      const started = readFileSync(join(outcome.dir, `n${i}`, "node.log"), "utf8").split("\n").find((l) => l.includes('"node started"'));
      expect(started).toContain('"peerTls":true');
      expect(started).toContain('"clientTls":"client certificates required"');
    }
    expect(outcome.results.explanation).toBe("");
    expect(outcome.results.valid).toBe(true);
    expect(outcome.results.finalCheck.ok).toBe(true);
    expect(outcome.results.nemesisIntervals.map((n) => n.kind)).toEqual(expect.arrayContaining(["partition", "kill"]));
    expect(outcome.results.counts.ok).toBeGreaterThan(50);
    expect(outcome.exitCode).toBe(0);
    expect(leftovers()).toEqual([]);
  }, 90_000);

  it("grows, shrinks and replaces members between partitions and kills: linearizable, and the nodes themselves report a grow and a shrink", async () => {
    const lines: string[] = [];
    const outcome = await runLocalJepsen(
      {
        nodes: 3,
        concurrency: 5,
        timeLimitS: 22,
        rate: 40,
        nemeses: ["member", "kill", "member", "partition"],
        reads: true,
        healthyS: 1,
        faultyS: 4,
        model: "strict",
        name: "member",
        storeDir: store,
        requestTimeoutMs: 3000,
        log: (l) => lines.push(l),
      },
      PAXOS_BIN,
    );
    const r = outcome.results;
    const context = `${lines.join("\n")}\n${JSON.stringify(r.membership?.changes, null, 1)}`;
    expect(r.explanation, context).toBe("");
    expect(r.valid, context).toBe(true);
    expect(r.finalCheck.ok, r.finalCheck.detail).toBe(true);
    expect(r.slots).toBe(5);
    // The nemesis did change the membership...
    expect(r.nemesisIntervals.filter((n) => n.kind === "member" && !n.description.includes("FAILED")).length, context).toBeGreaterThanOrEqual(2);
    // ...and the evidence comes from the nodes' own GET /members, not from the nemesis.
    const m = r.membership!;
    expect(m.conflicts, context).toEqual([]);
    expect(m.grows, context).toBeGreaterThanOrEqual(1);
    expect(m.shrinks, context).toBeGreaterThanOrEqual(1);
    expect(m.check).toMatchObject({ required: true, ok: true });
    expect(Math.max(...m.configs.map((c) => c.voters.length))).toBeGreaterThanOrEqual(4);
    for (const c of m.configs) expect(c.voters.length, `config_slot ${c.configSlot}`).toBeGreaterThanOrEqual(3);
    // A spare slot's node started with --join and was added, as its own log says.
    const joined = [3, 4].filter((i) => existsSync(join(outcome.dir, `n${i}`, "node.log")) && readFileSync(join(outcome.dir, `n${i}`, "node.log"), "utf8").includes("added to the cluster"));
    expect(joined.length, context).toBeGreaterThanOrEqual(1);
    const html = readFileSync(join(outcome.dir, "index.html"), "utf8");
    expect(html).toContain('<svg id="membership"');
    expect(existsSync(join(outcome.dir, "membership.jsonl"))).toBe(true);
    expect(r.counts.ok).toBeGreaterThan(100);
    expect(outcome.exitCode).toBe(0);
    expect(leftovers()).toEqual([]);
  }, 60_000);

  it("removes leftovers of a crashed run when it starts", async () => {
    execFileSync("ip", ["netns", "add", `${NAME_PREFIX}-n7`]);
    try {
      expect(leftovers().length).toBeGreaterThan(0);
      const r = spawnSync(process.execPath, [PAXOS_BIN, "jepsen", "--nodes", "7"], { encoding: "utf8" });
      expect(r.status).not.toBe(0); // --nodes 7 is refused by the option parser before anything runs
      const run = spawnSync(process.execPath, [PAXOS_BIN, "jepsen", "--time-limit", "1", "--nemesis", "none", "--store", store], { encoding: "utf8", timeout: 60_000 });
      expect(run.stdout).toContain("removed leftovers of an earlier run");
      expect(leftovers()).toEqual([]);
    } finally {
      spawnSync("ip", ["netns", "delete", `${NAME_PREFIX}-n7`]);
    }
  }, 90_000);

  it("refuses to run without root, saying so", () => {
    if (spawnSync("runuser", ["--help"]).status !== 0) return;
    const r = spawnSync("runuser", ["-u", "nobody", "--", process.execPath, PAXOS_BIN, "jepsen", "--time-limit", "1"], { encoding: "utf8", cwd: tmpdir() });
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/needs root/);
  });
});
