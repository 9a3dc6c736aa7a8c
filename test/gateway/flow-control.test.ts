// Flow control and the minimal reply, on the gateway alone (stand-in node).

import { connect } from "node:net";
import { pino } from "pino";
import { afterEach, describe, expect, it } from "vitest";
import type { AppendRoute } from "../../src/service/node-service.js";
import { startGateway, type Gateway } from "../../src/gateway/http-gateway.js";
import { freePort, httpJson, sleep } from "../support/process-cluster.js";
import { StandIn } from "../support/stand-in-service.js";

let gateway: Gateway | null = null;
afterEach(async () => {
  await gateway?.close();
  gateway = null;
});

async function start(answer: () => AppendRoute | Promise<AppendRoute>, maxInflightRequests = 100) {
  const self = { id: 0, host: "127.0.0.1", httpPort: await freePort(), grpcPort: 1, peerPort: 2, line: "" };
  const service = new StandIn(self, [self], answer);
  gateway = await startGateway({ service, host: "127.0.0.1", port: self.httpPort, logger: pino({ level: "silent" }), requestTimeoutMs: 3000, maxInflightRequests });
  const post = (headers: Record<string, string> = {}) =>
    httpJson(`http://127.0.0.1:${self.httpPort}/proposer/client-request`, {
      method: "POST",
      headers: { "content-type": "application/json", ...headers },
      body: JSON.stringify({ client_id: 1, command_id: 1, payload: 2 }),
    });
  return { post, self };
}

describe("the gateway under load", () => {
  it("refuses requests beyond its bound at once with 503 not_applied, and serves again after", async () => {
    const release: (() => void)[] = [];
    const { post } = await start(() => new Promise<AppendRoute>((r) => release.push(() => r({ kind: "appended", index: 2, duplicate: false }))), 2);
    const held = [post(), post()];
    while (release.length < 2) await new Promise((r) => setTimeout(r, 10));
    const refused = await post();
    expect(refused.status).toBe(503);
    expect((refused.body as { outcome: string }).outcome).toBe("not_applied");
    for (const r of release.splice(0)) r();
    expect((await Promise.all(held)).map((r) => r.status)).toEqual([200, 200]);
    const again = post();
    while (release.length < 1) await new Promise((r) => setTimeout(r, 10));
    release[0]!();
    expect((await again).status).toBe(200);
  });
});

describe("requests in progress whose connection went away", () => {
  it("are counted out, also pipelined ones that never had their turn to be answered", async () => {
    const release: (() => void)[] = [];
    const { post, self } = await start(() => new Promise<AppendRoute>((r) => release.push(() => r({ kind: "appended", index: 2, duplicate: false }))), 3);
    // A held append and two bad ones pipelined on one connection, which then
    // goes away. Only the first response was attached to the socket; Node never
    // closes the two queued behind it, so a count kept on their 'close' leaked
    // them for ever (and, once at the bound, refused every request with 503).
    const good = JSON.stringify({ client_id: 1, command_id: 1, payload: 2 });
    const req = (b: string) => `POST /proposer/client-request HTTP/1.1\r\nHost: x\r\nContent-Length: ${b.length}\r\n\r\n${b}`;
    const socket = connect(self.httpPort, "127.0.0.1", () => socket.write(req(good) + req("{}") + req("{}")));
    socket.on("error", () => {});
    while (release.length < 1) await sleep(10);
    await sleep(100); // the two bad ones are answered, behind the held one
    socket.destroy();
    await sleep(200);
    for (const r of release.splice(0)) r();
    // With one append in progress, the bound (3) leaves room for another.
    const held = post();
    while (release.length < 1) await sleep(10);
    const next = post();
    for (let i = 0; i < 300 && release.length < 2; i++) await sleep(10); // (a refused one never arrives)
    for (const r of release.splice(0)) r();
    expect((await Promise.all([held, next])).map((r) => r.status)).toEqual([200, 200]);
  });
});

describe("Prefer: return=minimal (RFC 7240)", () => {
  it("answers {index} with Preference-Applied, and the whole list without it", async () => {
    const { post } = await start(() => ({ kind: "appended", index: 2, duplicate: false }));
    const minimal = await post({ prefer: "return=minimal" });
    expect(minimal.status).toBe(200);
    expect(minimal.text).toBe('{"index":2}');
    expect(minimal.headers["preference-applied"]).toBe("return=minimal");
    const full = await post();
    expect(full.text).toBe('{"state":[0,1,2]}');
  });

  it("finds return=minimal among other preferences, in any case, and nothing else asks for it", async () => {
    const { post } = await start(() => ({ kind: "appended", index: 2, duplicate: false }));
    for (const prefer of ["respond-async, RETURN=Minimal", " return=minimal ", "wait=5,return=minimal"]) {
      expect((await post({ prefer })).text, prefer).toBe('{"index":2}');
    }
    for (const prefer of ["return=representation", "return=minimalist", ""]) {
      const r = await post({ prefer });
      expect(r.text, prefer).toBe('{"state":[0,1,2]}');
      expect(r.headers["preference-applied"], prefer).toBeUndefined();
    }
  });
});
