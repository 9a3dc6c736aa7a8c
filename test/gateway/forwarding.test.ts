// The gateway's forwarding rules, with stand-in NodeServices (the gateway
// only routes; the real node behind it is tested in test/integration): a
// forwarded request carries the time left and whether an attempt on the way
// may have applied it, so no node answers "not_applied" for an append that
// may still happen.

import { pino } from "pino";
import { afterEach, describe, expect, it } from "vitest";
import type { NodeAddress } from "../../src/config/cluster-config.js";
import { startGateway, type Gateway } from "../../src/gateway/http-gateway.js";
import type { AppendRoute, RouteOptions } from "../../src/service/node-service.js";
import { freePort, httpJson } from "../support/process-cluster.js";
import { StandIn } from "../support/stand-in-service.js";

const gateways: Gateway[] = [];
afterEach(async () => {
  while (gateways.length > 0) await gateways.pop()!.close();
});

type Answer = (opts: RouteOptions, n: number, nodes: NodeAddress[]) => AppendRoute;

async function twoNodes(answer0: Answer, answer1: Answer) {
  const nodes: NodeAddress[] = [];
  for (let id = 0; id < 2; id++) nodes.push({ id, host: "127.0.0.1", httpPort: await freePort(), grpcPort: 1, line: "" });
  const services = [new StandIn(nodes[0]!, nodes, (o, n) => answer0(o, n, nodes)), new StandIn(nodes[1]!, nodes, (o, n) => answer1(o, n, nodes))];
  for (const s of services) {
    gateways.push(await startGateway({ service: s, host: "127.0.0.1", port: s.self.httpPort, logger: pino({ level: "silent" }), requestTimeoutMs: 3000, maxInflightRequests: 100 }));
  }
  const post = () =>
    httpJson(`http://127.0.0.1:${nodes[0]!.httpPort}/proposer/client-request`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ client_id: 1, command_id: 1, payload: 5 }),
    });
  return { services, post };
}

describe("forwarding to the leader's gateway", () => {
  it("tells the leader an attempt here may have applied the append, so its 503 says unknown", async () => {
    // Node 0 tried itself (its Accept left), then learned node 1 leads; node 1 answers as the real node does.
    const { services, post } = await twoNodes(
      (_o, _n, nodes) => ({ kind: "forward", leader: nodes[1]!, outcome: "unknown" }),
      (o) => ({ kind: "failed", outcome: o.maybeApplied ? "unknown" : "not_applied", reason: "no leader was elected in time" }),
    );
    const r = await post();
    expect(r.status).toBe(503);
    expect(r.body).toEqual({ error: "no leader was elected in time", outcome: "unknown" });
    const atLeader = services[1]!.seen[0]!;
    expect(atLeader.maybeApplied).toBe(true);
    const left = atLeader.deadline - Date.now();
    expect(left).toBeGreaterThan(0);
    expect(left).toBeLessThanOrEqual(3000); // the time left travelled along: no fresh timeout per hop
  });

  it("passes the leader's reply through, and says nothing was applied only when nothing can have been", async () => {
    const { services, post } = await twoNodes(
      (_o, _n, nodes) => ({ kind: "forward", leader: nodes[1]!, outcome: "not_applied" }),
      () => ({ kind: "appended", index: 2, duplicate: false }),
    );
    const r = await post();
    expect(r.status).toBe(200);
    expect(r.text).toBe('{"state":[0,1,2]}');
    expect(services[1]!.seen[0]!.maybeApplied).toBe(false);
  });

  it("routes the request again when a forward to a cut-off leader hangs, saying it may have been applied", async () => {
    // Node 1 "leads" but never answers (cut off); then node 0 learns it leads itself.
    const { services, post } = await twoNodes(
      (_o, n, nodes) => (n === 1 ? { kind: "forward", leader: nodes[1]!, outcome: "not_applied" } : { kind: "appended", index: 1, duplicate: false }),
      () => new Promise<AppendRoute>(() => {}),
    );
    const t0 = Date.now();
    const r = await post();
    expect(r.status).toBe(200);
    expect(r.text).toBe('{"state":[0,1]}');
    expect(Date.now() - t0).toBeGreaterThanOrEqual(1900); // one forwarding attempt's budget, not the whole deadline
    const again = services[0]!.seen[1]!;
    expect(again.avoidLeader).toBe(1);
    expect(again.maybeApplied).toBe(true);
  });

  it("after a refused connection to a dead leader, waits for another instead of failing", async () => {
    // Node 0 first believes in a leader whose port is closed, then in node 1.
    let dead: NodeAddress | null = null;
    const { services, post } = await twoNodes(
      (o, n, nodes) => {
        dead ??= { ...nodes[1]!, id: 7, httpPort: 1 };
        return n === 1 ? { kind: "forward", leader: dead, outcome: "not_applied" } : { kind: "forward", leader: nodes[1]!, outcome: "not_applied" };
      },
      () => ({ kind: "appended", index: 0, duplicate: false }),
    );
    const r = await post();
    expect(r.status).toBe(200);
    expect(services[0]!.seen.map((o) => o.avoidLeader)).toEqual([undefined, 7]);
  });
});
