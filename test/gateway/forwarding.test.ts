// The gateway's forwarding rules, with stand-in NodeServices (the gateway
// only routes; the real node behind it is tested in test/integration). Only
// reads are forwarded between gateways (an append is served where it
// arrives: the node forwards the command over the peer protocol): a forwarded
// read carries the time left, one attempt gets a bounded budget, and a
// failed attempt is routed again instead of failing the read.

import { pino } from "pino";
import { afterEach, describe, expect, it } from "vitest";
import type { NodeAddress } from "../../src/config/cluster-config.js";
import { startGateway, type Gateway } from "../../src/gateway/http-gateway.js";
import type { ReadRoute, ReadRouteOptions } from "../../src/service/node-service.js";
import { freePort, httpJson } from "../support/process-cluster.js";
import { StandIn } from "../support/stand-in-service.js";

const gateways: Gateway[] = [];
afterEach(async () => {
  while (gateways.length > 0) await gateways.pop()!.close();
});

type ReadAnswer = (opts: ReadRouteOptions, n: number, nodes: NodeAddress[]) => ReadRoute | Promise<ReadRoute>;

async function twoNodes(answer0: ReadAnswer, answer1: ReadAnswer) {
  const nodes: NodeAddress[] = [];
  for (let id = 0; id < 2; id++) nodes.push({ id, host: "127.0.0.1", httpPort: await freePort(), grpcPort: 1, line: "" });
  const unused = () => ({ kind: "failed", outcome: "not_applied", reason: "unused" }) as const;
  const services = [
    new StandIn(nodes[0]!, nodes, unused, (o, n) => answer0(o, n, nodes)),
    new StandIn(nodes[1]!, nodes, unused, (o, n) => answer1(o, n, nodes)),
  ];
  for (const s of services) {
    gateways.push(await startGateway({ service: s, host: "127.0.0.1", port: s.self.httpPort, logger: pino({ level: "silent" }), requestTimeoutMs: 3000, maxInflightRequests: 100 }));
  }
  const read = () => httpJson(`http://127.0.0.1:${nodes[0]!.httpPort}/state`, { method: "GET" });
  return { services, read };
}

describe("forwarding a read to the leader's gateway", () => {
  it("passes the leader's reply through, with the time left and the hop count", async () => {
    const { services, read } = await twoNodes(
      (_o, _n, nodes) => ({ kind: "forward", leader: nodes[1]! }),
      () => ({ kind: "read", length: 3 }),
    );
    const r = await read();
    expect(r.status).toBe(200);
    expect(r.text).toBe('{"state":[0,1,2]}');
    const atLeader = services[1]!.seenReads[0]!;
    expect(atLeader.mayForward).toBe(true); // one hop so far, below the limit
    const left = atLeader.deadline - Date.now();
    expect(left).toBeGreaterThan(0);
    expect(left).toBeLessThanOrEqual(3000); // the time left travelled along: no fresh timeout per hop
  });

  it("a read forwarded too often is served only where it lands (no forwarding loops)", async () => {
    // Both nodes think the other leads.
    const { services, read } = await twoNodes(
      (o, _n, nodes) => (o.mayForward ? { kind: "forward", leader: nodes[1]! } : { kind: "failed", outcome: "not_applied", reason: "no leader" }),
      (o, _n, nodes) => (o.mayForward ? { kind: "forward", leader: nodes[0]! } : { kind: "failed", outcome: "not_applied", reason: "no leader" }),
    );
    const r = await read();
    expect(r.status).toBe(503);
    expect(r.body).toEqual({ error: "no leader", outcome: "not_applied" });
    expect(services[0]!.seenReads.map((o) => o.mayForward)).toEqual([true, false]);
  });

  it("routes the read again when a forward to a cut-off leader hangs, avoiding that leader", async () => {
    // Node 1 "leads" but never answers (cut off); then node 0 learns it leads itself.
    const { services, read } = await twoNodes(
      (_o, n, nodes) => (n === 1 ? { kind: "forward", leader: nodes[1]! } : { kind: "read", length: 2 }),
      () => new Promise<ReadRoute>(() => {}),
    );
    const t0 = Date.now();
    const r = await read();
    expect(r.status).toBe(200);
    expect(r.text).toBe('{"state":[0,1]}');
    expect(Date.now() - t0).toBeGreaterThanOrEqual(1900); // one forwarding attempt's budget, not the whole deadline
    expect(services[0]!.seenReads[1]!.avoidLeader).toBe(1);
  });

  it("after a refused connection to a dead leader, waits for another instead of failing", async () => {
    // Node 0 first believes in a leader whose port is closed, then in node 1.
    let dead: NodeAddress | null = null;
    const { services, read } = await twoNodes(
      (_o, n, nodes) => {
        dead ??= { ...nodes[1]!, id: 7, httpPort: 1 };
        return { kind: "forward", leader: n === 1 ? dead : nodes[1]! };
      },
      () => ({ kind: "read", length: 1 }),
    );
    const r = await read();
    expect(r.status).toBe(200);
    expect(services[0]!.seenReads.map((o) => o.avoidLeader)).toEqual([undefined, 7]);
  });

  it("a read that cannot be answered in time fails as not_applied (a read changes nothing)", async () => {
    const { read } = await twoNodes(
      () => ({ kind: "failed", outcome: "not_applied", reason: "no leader was elected in time" }),
      () => ({ kind: "read", length: 0 }),
    );
    const r = await read();
    expect(r.status).toBe(503);
    expect(r.body).toEqual({ error: "no leader was elected in time", outcome: "not_applied" });
  });
});
