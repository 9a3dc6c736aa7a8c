// The peer port on a hostile network: real 3-process clusters with mutual
// TLS, attacked with real gRPC clients. Each attack sends a Prepare with a
// ballot far above anything the cluster uses; that the node's promised
// ballot never reaches it is the evidence that nothing was delivered (and a
// control with the right credentials shows the same Prepare does land).

import { credentials, Metadata, type ChannelCredentials, type ServiceError } from "@grpc/grpc-js";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { PeerServiceClient, type DeliverRequest } from "../../gen/paxos/v1/paxos.js";
import { messageToPb } from "../../src/codec/wire.js";
import { clusterIdFor } from "../../src/storage/cluster-identity.js";
import { parseClusterConfig } from "../../src/config/cluster-config.js";
import { createCa, createClientCert, createNodeCert } from "../../src/tls/certs.js";
import { PAXOS_BIN, ProcessCluster, sleep } from "../support/process-cluster.js";
import { execFile } from "node:child_process";
import { connect as netConnect } from "node:net";
import { connect as tlsConnect } from "node:tls";

const HUGE_ROUND = 1_000_000;

let dir: string;
let good: string; // CA, node.crt (localhost), client.root, other-host.crt
let other: string; // another CA and a node certificate it signed

const peerFlags = (certs: string, name = "node") => [
  "--peer-cert-file",
  join(certs, `${name}.crt`),
  "--peer-key-file",
  join(certs, `${name}.key`),
  "--peer-trusted-ca-file",
  join(certs, "ca.crt"),
];

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "paxos-peer-auth-"));
  good = join(dir, "good");
  other = join(dir, "other");
  await createCa(good);
  await createNodeCert(good, ["localhost"]);
  await createNodeCert(good, ["10.9.9.9"], { name: "other-host" });
  await createNodeCert(good, ["localhost"], { name: "expired", now: new Date(Date.now() - 10 * 86_400_000), lifetimeDays: 2 });
  await createClientCert(good, "root");
  await createCa(other);
  await createNodeCert(other, ["localhost"]);
});

afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

const read = (certs: string, f: string) => readFileSync(join(certs, f));
const tlsCreds = (certs: string | null, leaf: string | null, ca = good): ChannelCredentials =>
  certs === null || leaf === null
    ? credentials.createSsl(read(ca, "ca.crt"))
    : credentials.createSsl(read(ca, "ca.crt"), read(certs, `${leaf}.key`), read(certs, `${leaf}.crt`));

/** Sends one Prepare (by default from node 1 to node 0) with a huge ballot; resolves with the error, or null when it was taken. */
function sendPrepare(port: number, creds: ChannelCredentials, clusterId: string | null, route = { from: 1, to: 0 }): Promise<ServiceError | null> {
  const client = new PeerServiceClient(`127.0.0.1:${port}`, creds, { "grpc.ssl_target_name_override": "localhost" });
  const md = new Metadata();
  if (clusterId !== null) md.set("x-paxos-cluster", clusterId);
  const req: DeliverRequest = { ...route, messages: [messageToPb({ type: "prepare", ballot: { round: HUGE_ROUND, node: route.from }, fromSlot: 0 })] };
  return new Promise((resolve) =>
    client.deliver(req, md, { deadline: Date.now() + 3000 }, (err) => {
      client.close();
      resolve(err);
    }),
  );
}

/** A ReadIndex call (harmless): "ok", or the status code and details it was refused with. */
function readIndexProbe(client: PeerServiceClient, clusterId: string): Promise<string> {
  const md = new Metadata();
  md.set("x-paxos-cluster", clusterId);
  return new Promise((resolve) =>
    client.readIndex({ from: 1, to: 0 }, md, { deadline: Date.now() + 3000 }, (err) => resolve(err === null ? "ok" : `${err.code} ${err.details}`)),
  );
}

function paxos(args: readonly string[]): Promise<{ code: number | null; stderr: string }> {
  return new Promise((resolve) => {
    const child = execFile(process.execPath, [PAXOS_BIN, ...args], { timeout: 20_000 }, (_e, _out, stderr) => resolve({ code: child.exitCode, stderr: String(stderr) }));
  });
}

describe("a cluster whose peers use mutual TLS", () => {
  let cluster: ProcessCluster;
  let clusterId: string;

  beforeAll(async () => {
    cluster = await ProcessCluster.start(3, peerFlags(good));
    clusterId = clusterIdFor("paxos-cluster", parseClusterConfig(readFileSync(cluster.configPath, "utf8")));
  });

  afterAll(async () => {
    await cluster?.destroy();
  });

  it("serves appends, fails over after kill -9 of the leader, and catches the node up after restart", async () => {
    const first = await cluster.append(0, 1, 1, 11);
    expect(first.status, first.text).toBe(200);
    const leader = await cluster.waitForLeader();
    await cluster.kill(leader);
    const t0 = Date.now();
    const survivor = (leader + 1) % 3;
    const during = await cluster.append(survivor, 2, 1, 22, 15_000);
    expect(during.status, during.text).toBe(200);
    expect(Date.now() - t0).toBeLessThan(10_000);
    expect((during.body as { state: number[] }).state).toEqual([11, 22]);
    cluster.startNode(leader);
    await cluster.waitUntil(async () => (await cluster.status(leader).catch(() => null))?.list_length === 2, 15_000, "the restarted node to catch up");
    expect(await cluster.state(leader)).toEqual([11, 22]);
  });

  it.each([
    ["plaintext", () => credentials.createInsecure(), /UNAVAILABLE|No connection|Connection dropped/i, "not a TLS connection"],
    ["TLS without a client certificate", () => tlsCreds(null, null), /refuses this connection: no certificate/, "refusing peer connection: no certificate"],
    ["a certificate from another CA", () => tlsCreds(other, "node", good), /not signed by this cluster's CA/, "not signed by this cluster's CA"],
    ["the cluster CA's certificate for another host", () => tlsCreds(good, "other-host"), /node \d is localhost in the membership, but its certificate names 10\.9\.9\.9/, "is localhost in the membership, but its certificate names 10.9.9.9"],
    ["the cluster CA's client certificate", () => tlsCreds(good, "client.root"), /without serverAuth/, "without serverAuth"],
    ["an expired certificate of the cluster CA", () => tlsCreds(good, "expired"), /refuses this connection: certificate expired \(CERT_HAS_EXPIRED\)/, "refusing peer connection: certificate expired"],
  ])("delivers nothing from a peer with %s, and logs the refusal once", async (_what, creds, error, logged) => {
    // In the leader's name to a follower, the one route a Prepare is taken on (see the control below).
    const leader = await cluster.waitForLeader();
    const follower = (leader + 1) % 3;
    const before = await cluster.status(follower);
    for (let attempt = 0; attempt < 3; attempt++) {
      const err = await sendPrepare(cluster.peerPorts[follower]!, creds(), clusterId, { from: leader, to: follower });
      expect(err).not.toBeNull();
      expect(`${err!.code} ${err!.details}`).toMatch(error);
    }
    await sleep(200);
    const after = await cluster.status(follower);
    expect(after.ballot.round).toBeLessThan(HUGE_ROUND);
    expect(after.ballot).toEqual(before.ballot);
    expect(cluster.logs.get(follower)!.filter((l) => l.includes(logged))).toHaveLength(1);
  });

  it("delivers nothing from a node of another cluster, and logs it once", async () => {
    const leader = await cluster.waitForLeader();
    const follower = (leader + 1) % 3;
    for (const id of ["ffffffffffffffff", "ffffffffffffffff", null]) {
      const err = await sendPrepare(cluster.peerPorts[follower]!, tlsCreds(good, "node"), id, { from: leader, to: follower });
      expect(err?.details).toMatch(/belongs to cluster [0-9a-f]{16}, and this call carries (cluster ffffffffffffffff|no cluster id)/);
    }
    expect((await cluster.status(follower)).ballot.round).toBeLessThan(HUGE_ROUND);
    expect(cluster.logs.get(follower)!.filter((l) => l.includes("refusing peer traffic from cluster ffffffffffffffff"))).toHaveLength(1);
  });

  it("closes a connection that never completes a TLS handshake, and one without a certificate, within seconds", async () => {
    const port = cluster.peerPorts[0]!;
    const closedWithin = (socket: NodeJS.EventEmitter) =>
      new Promise<number>((resolve) => {
        const t0 = Date.now();
        socket.once("close", () => resolve(Date.now() - t0));
      });
    const raw = netConnect(port, "127.0.0.1");
    const noCert = tlsConnect({ port, host: "127.0.0.1", ca: read(good, "ca.crt"), servername: "localhost", ALPNProtocols: ["h2"] });
    for (const s of [raw, noCert]) {
      s.on("error", () => {});
      s.resume(); // read (and drop) what comes, so the end of the connection is seen
    }
    const [rawMs, noCertMs] = await Promise.all([closedWithin(raw), closedWithin(noCert)]);
    expect(rawMs).toBeLessThan(15_000); // the handshake timeout (10 s)
    expect(noCertMs).toBeLessThan(5_000); // refused calls get their reason for 2 s, then the connection goes
  }, 20_000);

  it("(control) the same Prepare with the cluster's certificate and id is delivered", async () => {
    // Sent in the leader's name to a follower: a follower ignores anyone else's Prepare while its leader is alive.
    const leader = await cluster.waitForLeader();
    const follower = (leader + 1) % 3;
    expect(await sendPrepare(cluster.peerPorts[follower]!, tlsCreds(good, "node"), clusterId, { from: leader, to: follower })).toBeNull();
    await cluster.waitUntil(async () => (await cluster.status(follower)).ballot.round >= HUGE_ROUND, 5000, `node ${follower} to promise the injected ballot`);
    // The cluster gets over it: a leader with a still higher ballot, and appends work.
    const r = await cluster.append(1, 3, 1, 33, 15_000);
    expect(r.status, r.text).toBe(200);
  });
});

describe("a node with mutual TLS among running peers", () => {
  it("stops cleanly on SIGTERM (its peers keep their connections open)", async () => {
    const cluster = await ProcessCluster.start(3, peerFlags(good));
    try {
      expect((await cluster.append(0, 1, 1, 1)).status).toBe(200);
      const t0 = Date.now();
      const exited = new Promise<number | null>((resolve) => cluster.onExit(0, resolve));
      process.kill(cluster.pid(0), "SIGTERM");
      expect(await exited).toBe(0);
      expect(Date.now() - t0).toBeLessThan(5000);
    } finally {
      await cluster.destroy();
    }
  });

  it("a node whose certificate names another host is refused, and says so once per peer (not on every retry)", async () => {
    const cluster = await ProcessCluster.start(3, peerFlags(good));
    try {
      await cluster.kill(2);
      cluster.setExtraArgs(2, peerFlags(good, "other-host"));
      cluster.startNode(2);
      await cluster.waitUntil(async () => cluster.logs.get(2)!.some((l) => l.includes('"node started"')), 10_000, "node 2 to start");
      await sleep(3000); // dozens of retries: heartbeats, elections, catch-up
      for (const peer of [0, 1]) {
        const lines = cluster.logs.get(2)!.filter((l) => l.includes(`"peer":${peer}`));
        expect(lines.filter((l) => l.includes("refuses this node's peer traffic"))).toHaveLength(1);
        expect(lines.filter((l) => l.includes("is up"))).toHaveLength(0);
      }
      expect((await cluster.status(2)).list_length).toBe(0);
    } finally {
      await cluster.destroy();
    }
  });
});

describe("cluster identity", () => {
  it("refuses a leftover node of another cluster on the same addresses, and its data directory", async () => {
    const cluster = await ProcessCluster.start(3, [...peerFlags(good), "--cluster-token", "run-a"]);
    try {
      const ok = await cluster.append(0, 1, 1, 7);
      expect(ok.status, ok.text).toBe(200);
      // Node 2 is replaced by a node of another run (another token) with its own, empty data directory.
      await cluster.kill(2);
      rmSync(cluster.dataDir(2), { recursive: true, force: true });
      cluster.setExtraArgs(2, [...peerFlags(good), "--cluster-token", "run-b"]);
      cluster.startNode(2);
      await cluster.waitUntil(
        async () => cluster.logs.get(0)!.some((l) => l.includes("refusing peer traffic from cluster")),
        10_000,
        "node 0 to refuse the leftover node",
      );
      const during = await cluster.append(1, 2, 1, 8);
      expect(during.status, during.text).toBe(200);
      await sleep(500);
      expect((await cluster.status(2)).list_length).toBe(0); // it learned nothing from the other cluster
      // The leftover node's links retry all the time; each says why it is refused, once per peer.
      for (const peer of [0, 1]) {
        expect(cluster.logs.get(2)!.filter((l) => l.includes(`node ${peer} refuses this node's peer traffic`) && l.includes("PERMISSION_DENIED"))).toHaveLength(1);
      }
      expect((await cluster.status(0)).list_length).toBe(2);

      // Started again for the first cluster, on the other run's data directory: it refuses to start.
      await cluster.kill(2);
      const r = await paxos(["node", cluster.configPath, "--self", "2", "--data-dir", cluster.dataDir(2), "--cluster-token", "run-a", ...peerFlags(good)]);
      expect(r.code).not.toBe(0);
      expect(r.stderr).toMatch(/data directory .* belongs to cluster [0-9a-f]{16}, but this node was started for cluster [0-9a-f]{16}/);
    } finally {
      await cluster.destroy();
    }
  });
});

describe("certificate checks at start and on SIGHUP", () => {
  it("refuses to start with an expired certificate, saying so", async () => {
    const certs = join(dir, "expired");
    await createCa(certs);
    await createNodeCert(certs, ["localhost"], { now: new Date(Date.now() - 10 * 86_400_000), lifetimeDays: 2 });
    const cfg = join(dir, "one-node");
    writeFileSync(cfg, "localhost:1:2:3\n");
    const r = await paxos(["node", cfg, "--self", "0", "--data-dir", join(dir, "expired-data"), ...peerFlags(certs)]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/--peer-cert-file .*node\.crt expired at \d{4}-/);
  });

  it("takes a new CA and certificates on SIGHUP: the cluster keeps working, and the old CA's certificates are refused", async () => {
    const certs = join(dir, "rotating");
    const next = join(dir, "rotating-next");
    await createCa(certs);
    await createNodeCert(certs, ["localhost"]);
    const cluster = await ProcessCluster.start(3, peerFlags(certs));
    try {
      expect((await cluster.append(0, 1, 1, 1)).status).toBe(200);
      const clusterId = clusterIdFor("paxos-cluster", parseClusterConfig(readFileSync(cluster.configPath, "utf8")));
      // A peer connected under the old CA, kept open across the rotation (as a node to be evicted would).
      const before = new PeerServiceClient(`127.0.0.1:${cluster.peerPorts[0]}`, tlsCreds(certs, "node", certs), { "grpc.ssl_target_name_override": "localhost" });
      const probe = () => readIndexProbe(before, clusterId);
      expect(await probe()).toMatch(/^(ok|9 )/); // through the guard: a length, or "does not lead"
      await createCa(next);
      await createNodeCert(next, ["localhost"]);
      for (const f of ["ca.crt", "node.crt", "node.key"]) writeFileSync(join(certs, f), readFileSync(join(next, f)));
      for (let i = 0; i < 3; i++) process.kill(cluster.pid(i), "SIGHUP");
      await cluster.waitUntil(async () => [0, 1, 2].every((i) => cluster.logs.get(i)!.some((l) => l.includes("peer TLS certificate reloaded"))), 5000, "every node to reload");
      const after = await cluster.append(1, 2, 1, 2, 15_000);
      expect(after.status, after.text).toBe(200);
      // The connection opened under the old CA is gone, and the old certificate does not get back in.
      expect(await probe()).toMatch(/^(14|16) /); // UNAVAILABLE or UNAUTHENTICATED
      before.close();
      // A peer with a certificate of the old CA is refused now.
      const err = await sendPrepare(cluster.peerPorts[0]!, credentials.createSsl(read(next, "ca.crt"), read(good, "node.key"), read(good, "node.crt")), clusterId);
      expect(err?.details).toMatch(/not signed by this cluster's CA/);

      // A broken file on SIGHUP keeps the certificates in use.
      writeFileSync(join(certs, "node.crt"), "not a certificate");
      process.kill(cluster.pid(0), "SIGHUP");
      await cluster.waitUntil(async () => cluster.logs.get(0)!.some((l) => l.includes("cannot reload the TLS certificates")), 5000, "node 0 to refuse the broken file");
      expect((await cluster.append(0, 3, 1, 3, 15_000)).status).toBe(200);
    } finally {
      await cluster.destroy();
    }
  });
});
