// GET /cluster and what feeds it: the per-node request window, the
// annotations file a harness writes, the aggregation over members (one
// down, one silent, one not a node), HTTPS with client certificates
// between real nodes, and the nemesis telling the harness its faults.

import { createServer as createHttpServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { createServer as createHttpsServer } from "node:https";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Agent, request } from "undici";
import { afterAll, describe, expect, it } from "vitest";
import type { NemesisKind, NodeControl } from "../../src/harness/nemesis.js";
import { runNemesis } from "../../src/harness/nemesis.js";
import type { TestNet } from "../../src/harness/netns.js";
import type { MemberView } from "../../src/service/node-service.js";
import { createCa, createClientCert, createNodeCert } from "../../src/tls/certs.js";
import { parseAnnotations, readAnnotations, writeAnnotations } from "../../src/ui/annotations.js";
import { ClusterView, type ClusterJson, type MemberTls } from "../../src/ui/cluster-view.js";
import { binOf, binValue, mergeHistograms, OpWindow, percentileOf } from "../../src/ui/op-window.js";
import { freePort, ProcessCluster } from "../support/process-cluster.js";

const tmp = mkdtempSync(join(tmpdir(), "paxos-ui-test-"));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

describe("the request window of one node", () => {
  it("gives rates and percentiles over the last complete seconds, and forgets older ones", () => {
    let now = 10_000.5; // ms on the window's clock
    const w = new OpWindow(5, () => now);
    for (let i = 0; i < 90; i++) w.record(2, true); // second 10
    for (let i = 0; i < 10; i++) w.record(200, true);
    w.record(5, false);
    now = 11_000;
    // second 10 is complete now: 100 ok and 1 failed in 5 s
    let s = w.snapshot();
    expect(s.ok_per_s).toBe(20);
    expect(s.failed_per_s).toBe(0.2);
    expect(s.p50_ms).toBeCloseTo(2, 0);
    expect(s.p99_ms! / 200).toBeGreaterThan(0.9);
    expect(s.p99_ms! / 200).toBeLessThan(1.1);
    expect([s.ok_total, s.failed_total]).toEqual([100, 1]);
    // the current second does not count until it is complete
    w.record(1, true);
    expect(w.snapshot().ok_per_s).toBe(20);
    now = 16_500; // second 10 left the window (11..15 are the last 5 complete)
    s = w.snapshot();
    expect(s.ok_per_s).toBe(0.2); // the one request of second 11
    expect(s.hist).toHaveLength(1);
    expect(s.p50_ms).toBeCloseTo(1, 0);
    expect(s.ok_total).toBe(101);
  });

  it("keeps a percentile within 10% of the true value, and merges histograms", () => {
    for (const ms of [0.05, 0.7, 3, 42, 950, 12_000]) {
      expect(Math.abs(binValue(binOf(ms)) / ms - 1)).toBeLessThan(0.1);
    }
    const a: [number, number][] = [[binOf(1), 50]];
    const b: [number, number][] = [[binOf(100), 50], [999, 7], [-1, 3]]; // out-of-range bins are ignored
    const m = mergeHistograms([a, b]);
    expect(m).toEqual([[binOf(1), 50], [binOf(100), 50]]);
    expect(percentileOf(m, 50)).toBeCloseTo(1, 0);
    expect(percentileOf(m, 51)! / 100).toBeGreaterThan(0.9);
    expect(percentileOf([], 50)).toBeNull();
  });
});

describe("the annotations file", () => {
  it("is replaced whole, read back with only its known fields, and a missing file is no annotations", async () => {
    const file = join(tmp, "notes.json");
    expect(await readAnnotations(file)).toEqual({ annotations: null, error: null });
    writeAnnotations(file, { source: "test", fault: { kind: "kill", description: "SIGKILL node 1", since: 5 }, updated: 6 });
    expect(await readAnnotations(file)).toEqual({ annotations: { source: "test", fault: { kind: "kill", description: "SIGKILL node 1", since: 5 }, updated: 6 }, error: null });
    expect(parseAnnotations(JSON.stringify({ source: "x", fault: null, updated: 1, extra: "<script>" }))).toEqual({ source: "x", fault: null, updated: 1 });
    expect(parseAnnotations("{")).toMatch(/not JSON/);
    expect(parseAnnotations(JSON.stringify({ fault: { kind: 1 }, updated: 1 }))).toMatch(/fault needs/);
    writeFileSync(file, "x".repeat(20_000));
    expect((await readAnnotations(file)).error).toMatch(/larger than/);
  });
});

/** A stand-in member: answers GET /status with `body` (a function of the request count). */
async function fakeMember(handler: (req: IncomingMessage, res: ServerResponse) => void): Promise<{ server: Server; port: number }> {
  const server = createHttpServer(handler);
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  return { server, port: (server.address() as AddressInfo).port };
}

function statusBody(id: number, role: string, leader: number, okPerS: number, hist: [number, number][]) {
  return {
    id,
    role,
    leader,
    ballot: { round: 3, node: leader },
    commit_index: 7,
    applied_index: 7,
    list_length: 7,
    member: "voter",
    config_slot: -1,
    stats: {
      uptime_s: 1,
      log_bytes: 100,
      snapshot_bytes: null,
      elections: 1,
      leader_changes: 1,
      ops: { window_s: 5, ok_per_s: okPerS, failed_per_s: 0, p50_ms: 1, p99_ms: 1, ok_total: 5, failed_total: 0, hist },
      links: [{ id: 9, link: "up", error: null, last_heard_ms: 3 }],
    },
  };
}

const member = (id: number, port: number): MemberView => ({ id, address: `localhost:${port}`, grpc: "-", peer: "-", role: "voter" });

describe("GET /cluster's view", () => {
  it("lists a member that does not answer as down with the reason, within the timeout, and totals the others", async () => {
    const leader = await fakeMember((_req, res) => res.end(JSON.stringify(statusBody(0, "leader", 0, 10, [[binOf(1), 50]]))));
    const follower = await fakeMember((_req, res) => res.end(JSON.stringify(statusBody(1, "follower", 0, 30, [[binOf(100), 150]]))));
    const silent = await fakeMember(() => {}); // accepts, never answers (a paused node)
    const stranger = await fakeMember((_req, res) => res.writeHead(200).end("<html>not a node</html>"));
    const closed = await freePort(); // nothing listens: refused
    const annotations = join(tmp, "faults.json");
    writeAnnotations(annotations, { source: "test", fault: { kind: "pause", description: "SIGSTOP node 2", since: Date.now() }, updated: Date.now() });
    const members = [member(0, leader.port), member(1, follower.port), member(2, silent.port), member(3, closed), member(4, stranger.port)];
    const view = new ClusterView({ self: () => ({ id: 1, clusterId: "c1", members, configSlot: -1 }), tls: () => null, annotationsFile: annotations, timeoutMs: 400 });
    try {
      const t0 = Date.now();
      const v: ClusterJson = await view.get();
      expect(Date.now() - t0).toBeLessThan(2000);
      expect(v.members.map((m) => [m.id, m.up, m.self])).toEqual([
        [0, true, false],
        [1, true, true],
        [2, false, false],
        [3, false, false],
        [4, false, false],
      ]);
      expect(v.members[2]!.error).toBe("no answer within 400 ms");
      expect(v.members[3]!.error).toMatch(/ECONNREFUSED/);
      expect(v.members[4]!.error).toMatch(/not JSON/);
      expect(v.members[0]!.status?.role).toBe("leader");
      expect(v.members[1]!.status?.stats?.links).toEqual([{ id: 9, link: "up", error: null, last_heard_ms: 3 }]);
      expect(v.members[0]!.page).toBe(`http://localhost:${leader.port}/ui`);
      // 50 requests near 1 ms and 150 near 100 ms: the merged median is ~100 ms, not an average of medians
      expect(v.totals.ok_per_s).toBe(40);
      expect(v.totals.p50_ms! / 100).toBeGreaterThan(0.9);
      expect(v.totals.p50_ms! / 100).toBeLessThan(1.1);
      expect(v.annotations?.fault?.description).toBe("SIGSTOP node 2");
      // Polls close together share one round of requests.
      expect(await view.get()).toBe(v);
    } finally {
      await view.close();
      for (const m of [leader, follower, silent, stranger]) m.server.closeAllConnections();
      for (const m of [leader, follower, silent, stranger]) m.server.close();
    }
  });

  it("asks members over HTTPS with its certificate, and reports one whose certificate it cannot trust", async () => {
    const dir = join(tmp, "tls");
    const other = join(tmp, "tls-other");
    for (const d of [dir, other]) {
      await createCa(d);
      await createNodeCert(d, ["localhost"]);
    }
    const read = (d: string, f: string) => readFileSync(join(d, f));
    const serve = async (d: string) => {
      // Like a node with --client-cert-auth: a client certificate of the cluster CA is required.
      const server = createHttpsServer({ cert: read(d, "node.crt"), key: read(d, "node.key"), ca: read(dir, "ca.crt"), requestCert: true, rejectUnauthorized: true }, (_req, res) =>
        res.end(JSON.stringify(statusBody(0, "leader", 0, 1, []))),
      );
      await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
      return { server, port: (server.address() as AddressInfo).port };
    };
    const good = await serve(dir);
    const foreign = await serve(other); // a certificate of another CA
    const tls: MemberTls = { ca: read(dir, "ca.crt"), cert: read(dir, "node.crt"), key: read(dir, "node.key") };
    const view = new ClusterView({ self: () => ({ id: 0, clusterId: "c", members: [member(0, good.port), member(1, foreign.port)], configSlot: -1 }), tls: () => tls });
    try {
      const v = await view.get();
      expect(v.scheme).toBe("https");
      expect(v.members[0]!.up).toBe(true);
      expect(v.members[0]!.page).toBe(`https://localhost:${good.port}/ui`);
      expect(v.members[1]!.up).toBe(false);
      expect(v.members[1]!.error).toMatch(/certificate/i);
    } finally {
      await view.close();
      for (const s of [good, foreign]) s.server.close();
    }
  });
});

describe("GET /cluster on real nodes serving HTTPS with required client certificates", () => {
  it("shows every member up: a node presents its own certificate to the others", async () => {
    const dir = join(tmp, "cluster-tls");
    await createCa(dir);
    await createNodeCert(dir, ["localhost"]);
    await createClientCert(dir, "root");
    const f = (n: string) => join(dir, n);
    const args = ["--cert-file", f("node.crt"), "--key-file", f("node.key"), "--trusted-ca-file", f("ca.crt"), "--client-cert-auth"];
    const https = { ca: readFileSync(f("ca.crt")), cert: readFileSync(f("client.root.crt")), key: readFileSync(f("client.root.key")) };
    const cluster = await ProcessCluster.start(3, args, { https });
    const agent = new Agent({ connect: { ...https, servername: "localhost" } });
    try {
      const r = await request(cluster.url(1, "/cluster"), { dispatcher: agent });
      const v = (await r.body.json()) as ClusterJson;
      expect(r.statusCode).toBe(200);
      expect(v.scheme).toBe("https");
      expect(v.members.map((m) => [m.id, m.up, m.error])).toEqual([0, 1, 2].map((i) => [i, true, null]));
      expect(v.members.filter((m) => m.status?.role === "leader")).toHaveLength(1);
      // Without a client certificate the page and /cluster are refused like every other path.
      const bare = new Agent({ connect: { ca: https.ca, servername: "localhost" } });
      const refused = await request(cluster.url(1, "/ui"), { dispatcher: bare });
      expect(refused.statusCode).toBe(403);
      await refused.body.dump();
      await bare.close();
    } finally {
      await agent.close();
      await cluster.destroy();
    }
  }, 60_000);
});

describe("the nemesis tells the harness each fault as it begins and ends", () => {
  it("reports a pause, then null once healed", async () => {
    const calls: ({ kind: NemesisKind; description: string } | null)[] = [];
    const signals: string[] = [];
    const nodes: NodeControl = {
      count: 3,
      kill: async () => {},
      start: () => {},
      signal: (i, sig) => void signals.push(`${sig} ${i}`),
      isRunning: () => true,
      isActive: () => true,
      leader: async () => 0,
    };
    const end = Date.now() + 700;
    await runNemesis({
      kinds: ["pause"],
      net: {} as TestNet, // a pause touches no network
      nodes,
      healthyMs: 100,
      faultyMs: 200,
      clock: () => Date.now(),
      stopped: () => Date.now() >= end,
      log: () => {},
      onFault: (f) => void calls.push(f),
    });
    expect(calls.length).toBeGreaterThanOrEqual(2);
    expect(calls.length % 2).toBe(0);
    calls.forEach((c, i) => {
      if (i % 2 === 1) expect(c).toBeNull();
      else expect(c?.description).toMatch(/^SIGSTOP node \d$/);
    });
    expect(signals.filter((s) => s.startsWith("SIGSTOP")).length).toBe(calls.length / 2);
  });
});
