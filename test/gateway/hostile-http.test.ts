// Hostile HTTP against the gateway, sent as raw bytes over node:net sockets
// (an HTTP client library would normalize most of it away): every refusal is
// a 4xx with a JSON {"error"}, nothing hangs, and the replicated list never
// changes; responses on one connection stay in request order, so an append
// that may have been applied is never answered with a 4xx.
//
// - strict JSON and its cost: unit checks, no cluster;
// - the connection guard on a stand-in node: ordering that a real cluster
//   answers too fast to observe;
// - a real 3-node cluster (the built bin/paxos.js): the table of hostile
//   inputs through a follower and the leader, pipelining, slow clients,
//   internal headers, absolute-form targets.

import { connect } from "node:net";
import { pino } from "pino";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { EDGE_LIMITS } from "../../src/gateway/http-edge.js";
import { APPEND_PATH, startGateway, type Gateway } from "../../src/gateway/http-gateway.js";
import { EMPTY_BODY, parseAppendBody } from "../../src/gateway/strict-json.js";
import type { AppendRoute } from "../../src/service/node-service.js";
import { freePort, ProcessCluster, sleep } from "../support/process-cluster.js";
import { StandIn } from "../support/stand-in-service.js";

// ---------------------------------------------------------------------------
// A raw HTTP/1.1 client: bytes in, responses parsed by hand.

interface RawResponse {
  status: number;
  headers: Record<string, string>;
  body: string;
}

interface Exchange {
  responses: RawResponse[];
  /** The server closed the connection (or reset it) before we stopped listening. */
  closed: boolean;
  ms: number;
}

interface ExchangeOptions {
  /** Stop once this many responses arrived (unless untilClose). */
  readonly expect?: number;
  /** Keep listening until the server closes the connection (or timeoutMs). */
  readonly untilClose?: boolean;
  /** Half-close our side after writing (EOF in the middle of a request). */
  readonly halfClose?: boolean;
  readonly timeoutMs?: number;
  /** Written one by one, this far apart, after `data` (a slow client). */
  readonly drip?: { readonly pieces: readonly string[]; readonly everyMs: number };
}

function parseResponses(buf: Buffer): RawResponse[] {
  const out: RawResponse[] = [];
  let off = 0;
  for (;;) {
    const end = buf.indexOf("\r\n\r\n", off, "latin1");
    if (end < 0) return out;
    const [statusLine, ...lines] = buf.subarray(off, end).toString("latin1").split("\r\n");
    const m = /^HTTP\/1\.1 (\d{3}) /.exec(`${statusLine} `);
    if (m === null) throw new Error(`not an HTTP/1.1 status line: ${JSON.stringify(statusLine)}`);
    const headers: Record<string, string> = {};
    for (const line of lines) {
      const colon = line.indexOf(":");
      const name = line.slice(0, colon).toLowerCase();
      const value = line.slice(colon + 1).trim();
      headers[name] = headers[name] === undefined ? value : `${headers[name]}, ${value}`;
    }
    const length = Number(headers["content-length"]);
    if (!Number.isInteger(length)) throw new Error(`response without Content-Length: ${statusLine} ${JSON.stringify(headers)}`);
    if (buf.length < end + 4 + length) return out;
    out.push({ status: Number(m[1]), headers, body: buf.subarray(end + 4, end + 4 + length).toString("utf8") });
    off = end + 4 + length;
  }
}

function exchange(port: number, data: string | Buffer, opts: ExchangeOptions = {}): Promise<Exchange> {
  const want = opts.expect ?? 1;
  const started = Date.now();
  return new Promise((resolve, reject) => {
    const socket = connect(port, "127.0.0.1");
    let buf = Buffer.alloc(0);
    let done = false;
    const timers: NodeJS.Timeout[] = [];
    const finish = (closed: boolean) => {
      if (done) return;
      done = true;
      for (const t of timers) clearTimeout(t);
      socket.destroy();
      try {
        resolve({ responses: parseResponses(buf), closed, ms: Date.now() - started });
      } catch (e) {
        reject(e);
      }
    };
    timers.push(setTimeout(() => finish(false), opts.timeoutMs ?? 5_000));
    socket.on("connect", () => {
      // One write: every pipelined request reaches the server together.
      if (data.length > 0) socket.write(typeof data === "string" ? Buffer.from(data, "latin1") : data);
      opts.drip?.pieces.forEach((p, i) => timers.push(setTimeout(() => socket.writable && socket.write(p, "latin1"), (i + 1) * opts.drip!.everyMs)));
      if (opts.halfClose) socket.end();
    });
    socket.on("data", (d: Buffer) => {
      buf = Buffer.concat([buf, d]);
      if (!opts.untilClose && parseResponses(buf).length >= want) finish(false);
    });
    socket.on("close", () => finish(true));
    socket.on("error", () => {
      /* a reset: 'close' follows */
    });
  });
}

function expectJsonError(r: RawResponse | undefined, status: number, what: string, error?: RegExp): void {
  expect(r, `${what}: no response`).toBeDefined();
  expect(r!.status, `${what}: ${r!.body}`).toBe(status);
  expect(r!.headers["content-type"], what).toMatch(/^application\/json/);
  const parsed = JSON.parse(r!.body) as { error?: unknown };
  expect(typeof parsed.error, `${what}: ${r!.body}`).toBe("string");
  if (error !== undefined) expect(parsed.error as string, what).toMatch(error);
}

function stateOf(r: RawResponse | undefined): number[] {
  expect(r?.status, r?.body).toBe(200);
  return (JSON.parse(r!.body) as { state: number[] }).state;
}

// Requests. Every append body carries a payload used nowhere else.
let nextPayload = 7_700_000;
const sent: number[] = [];
const fresh = (): number => {
  const p = nextPayload++;
  sent.push(p);
  return p;
};
const body = (p: number): string => `{"client_id":77,"command_id":${p},"payload":${p}}`;
const withBody = (p: number, fields: string): string => `{"client_id":77,"command_id":${p},${fields}}`;

interface PostOptions {
  readonly method?: string;
  readonly target?: string;
  readonly version?: string;
  readonly host?: string | null;
  readonly headers?: string;
}
function request(content: string, o: PostOptions = {}): string {
  const host = o.host === null ? "" : `Host: ${o.host ?? "paxos"}\r\n`;
  return `${o.method ?? "POST"} ${o.target ?? APPEND_PATH} ${o.version ?? "HTTP/1.1"}\r\n${host}Content-Length: ${Buffer.byteLength(content)}\r\n${o.headers ?? ""}\r\n${content}`;
}
const post = (o: PostOptions = {}): string => request(body(fresh()), o);
const get = (target: string, headers = ""): string => `GET ${target} HTTP/1.1\r\nHost: paxos\r\n${headers}\r\n`;
const GARBAGE = "BOGUS\x01 /x HTTP/1.1\r\n\r\n";

// ---------------------------------------------------------------------------

describe("strict reading of the append body (no cluster)", () => {
  it("accepts the contract's bodies, in any member order and spacing", () => {
    const ok = { clientId: 1, commandId: 2, payload: 3 };
    expect(parseAppendBody('{"client_id":1,"command_id":2,"payload":3}')).toEqual(ok);
    expect(parseAppendBody(' {\n\t"payload" : 3 ,"command_id":2,\r\n"client_id":1 }\n')).toEqual(ok);
    expect(parseAppendBody('{"client_id":1,"command_id":2,"pay\\u006coad":3}')).toEqual(ok); // escaped, but once
    expect(parseAppendBody('{"client_id":-9007199254740991,"command_id":0,"payload":9007199254740991}')).toEqual({
      clientId: -9007199254740991,
      commandId: 0,
      payload: 9007199254740991,
    });
  });

  const refused: [string, string, RegExp][] = [
    ["duplicate payload", '{"client_id":1,"command_id":1,"payload":1,"payload":2}', /duplicate field: payload/],
    ["duplicate client_id", '{"client_id":1,"client_id":2,"command_id":1,"payload":1}', /duplicate field: client_id/],
    ["duplicate spelled with an escape", '{"client_id":1,"command_id":1,"payload":1,"pay\\u006coad":2}', /duplicate field: payload/],
    ["duplicate with a bad last value", '{"client_id":1,"command_id":1,"payload":1,"payload":"x"}', /duplicate field: payload/],
    ["1.0", '{"client_id":1,"command_id":1,"payload":1.0}', /payload must be written as an integer literal.*got 1\.0$/],
    ["1e3", '{"client_id":1,"command_id":1,"payload":1e3}', /payload .*integer literal.*got 1e3$/],
    ["-0", '{"client_id":1,"command_id":-0,"payload":1}', /command_id .*integer literal.*got -0$/],
    ["1E0", '{"client_id":1E0,"command_id":1,"payload":1}', /client_id .*integer literal.*got 1E0$/],
    ["0.5e1", '{"client_id":1,"command_id":1,"payload":0.5e1}', /payload .*integer literal.*got 0\.5e1$/],
    ["-0.0", '{"client_id":1,"command_id":1,"payload":-0.0}', /payload .*integer literal/],
    ["1.5 (the existing message)", '{"client_id":1,"command_id":1,"payload":1.5}', /^payload must be an integer, got 1\.5$/],
    ["leading BOM", '\ufeff{"client_id":1,"command_id":1,"payload":1}', /byte order mark/],
    ["trailing garbage", '{"client_id":1,"command_id":1,"payload":1} x', /not valid JSON/],
    ["a second value", '{"client_id":1,"command_id":1,"payload":1}{}', /not valid JSON/],
    ["NaN", '{"client_id":1,"command_id":1,"payload":NaN}', /not valid JSON/],
    ["Infinity", '{"client_id":1,"command_id":1,"payload":Infinity}', /not valid JSON/],
    ["-Infinity", '{"client_id":1,"command_id":1,"payload":-Infinity}', /not valid JSON/],
    ["line comment", '{"client_id":1,"command_id":1,"payload":1} // c', /not valid JSON/],
    ["block comment", '{"client_id":1,/* c */"command_id":1,"payload":1}', /not valid JSON/],
    ["single quotes", "{'client_id':1,'command_id':1,'payload':1}", /not valid JSON/],
    ["trailing comma", '{"client_id":1,"command_id":1,"payload":1,}', /not valid JSON/],
    ["leading zero", '{"client_id":1,"command_id":1,"payload":01}', /not valid JSON/],
    ["plus sign", '{"client_id":1,"command_id":1,"payload":+1}', /not valid JSON/],
    ["hex", '{"client_id":1,"command_id":1,"payload":0x10}', /not valid JSON/],
    ["non-JSON whitespace", '{"client_id":1,"command_id":1,"payload":1}\u00a0', /not valid JSON/],
    ["unquoted keys", "{client_id:1,command_id:1,payload:1}", /not valid JSON/],
    ["raw control character in a key", '{"client_id":1,"command_id":1,"pay\u0001load":1}', /not valid JSON|unknown field/],
    // The messages the contract already had (test/integration/cluster.test.ts asserts some).
    ["an array", "[1,2,3]", /^body must be a JSON object, got an array$/],
    ["null", "null", /^body must be a JSON object, got null$/],
    ["missing field", '{"client_id":1,"command_id":1}', /^missing field: payload$/],
    ["unknown field", '{"client_id":1,"command_id":1,"payload":1,"extra":2}', /^unknown field: extra$/],
    ["string number", '{"client_id":"1","command_id":1,"payload":1}', /^client_id must be an integer, got "1"$/],
    ["beyond 2^53", '{"client_id":1,"command_id":1,"payload":9007199254740993}', /safe integer range/],
    ["empty", "", /^empty body/],
    ["whitespace only", " \r\n\t", /^empty body/],
  ];
  it.each(refused)("refuses %s", (_name, text, message) => {
    const r = parseAppendBody(text);
    expect(typeof r, JSON.stringify(r)).toBe("string");
    expect(r as string).toMatch(message);
  });

  it("refuses every text JSON.parse refuses (a cross-check of the fast path)", () => {
    const texts = [
      '{"client_id":1,"command_id":1,"payload":1',
      '{"client_id":1 "command_id":1,"payload":1}',
      '{"client_id":1,,"command_id":1,"payload":1}',
      '{"client_id":1,"command_id":1,"payload":1]',
      '{"client_id":1,"command_id":1,"payload":1.}',
      '{"client_id":1,"command_id":1,"payload":.1}',
      '{"client_id":1,"command_id":1,"payload":-}',
      '{"client_id":1,"command_id":1,"payload":1}\u0000',
      '{"client_id":1,"command_id":1,"payload":"\\x41"}',
      '\u2028{"client_id":1,"command_id":1,"payload":1}',
      '{"client_id":1,"command_id":1,"payload":1 2}',
    ];
    for (const t of texts) {
      expect(() => JSON.parse(t), t).toThrow();
      expect(typeof parseAppendBody(t), t).toBe("string");
    }
    expect(parseAppendBody("")).toBe(EMPTY_BODY);
  });

  it("costs little per request (micro-benchmark, ns/op printed)", () => {
    const typical = '{"client_id":123456,"command_id":42,"payload":9876543}';
    const spaced = '{"client_id": 123456, "command_id": 42, "payload": 9876543}';
    const escaped = '{"client_id":123456,"command_id":42,"pay\\u006coad":9876543}';
    const nsPerOp = (f: () => unknown, n: number): number => {
      for (let i = 0; i < n; i++) f(); // warm-up
      let best = Infinity;
      for (let round = 0; round < 5; round++) {
        const t = process.hrtime.bigint();
        for (let i = 0; i < n; i++) f();
        best = Math.min(best, Number(process.hrtime.bigint() - t) / n);
      }
      return best;
    };
    const baseline = nsPerOp(() => JSON.parse(typical), 50_000);
    const compact = nsPerOp(() => parseAppendBody(typical), 50_000);
    const withSpaces = nsPerOp(() => parseAppendBody(spaced), 50_000);
    const slow = nsPerOp(() => parseAppendBody(escaped), 5_000);
    console.log(
      `strict append body: ${compact.toFixed(0)} ns/op compact, ${withSpaces.toFixed(0)} ns/op with spaces, ` +
        `${slow.toFixed(0)} ns/op on the momoa path; JSON.parse alone ${baseline.toFixed(0)} ns/op`,
    );
    // Generous bounds (a loaded CI machine): the common path stays in the microseconds.
    expect(compact).toBeLessThan(20_000);
    expect(slow).toBeLessThan(200_000);
  });
});

// ---------------------------------------------------------------------------

describe("the connection guard on a stand-in node", () => {
  let gateway: Gateway | null = null;
  afterEach(async () => {
    await gateway?.close();
    gateway = null;
  });

  async function start(answer: () => Promise<AppendRoute>): Promise<{ port: number; service: StandIn }> {
    const self = { id: 0, host: "127.0.0.1", httpPort: await freePort(), grpcPort: 1, peerPort: 2, line: "" };
    const service = new StandIn(self, [self], answer, () => ({ kind: "read", length: 3 }));
    gateway = await startGateway({
      service,
      host: "127.0.0.1",
      port: self.httpPort,
      logger: pino({ level: "silent" }),
      requestTimeoutMs: 3000,
      maxInflightRequests: 100,
    });
    return { port: self.httpPort, service };
  }

  it("holds a parse error's reply until the append before it is answered, then closes", async () => {
    const release: (() => void)[] = [];
    const { port } = await start(() => new Promise((r) => release.push(() => r({ kind: "appended", index: 2, duplicate: false }))));
    const socket = connect(port, "127.0.0.1");
    let received = "";
    socket.on("data", (d: Buffer) => (received += d.toString("latin1")));
    const closed = new Promise<void>((r) => socket.on("close", () => r()));
    socket.write(Buffer.from(post() + GARBAGE + post(), "latin1"));
    while (release.length < 1) await sleep(10);
    await sleep(300);
    // The append is in progress: nothing may be written before its answer (HTTP/1.1 answers in order).
    expect(received).toBe("");
    release[0]!();
    await closed;
    const responses = parseResponses(Buffer.from(received, "latin1"));
    expect(responses.map((r) => r.status)).toEqual([200, 400]);
    expect(responses[0]!.body).toBe('{"state":[0,1,2]}');
    expectJsonError(responses[1], 400, "garbage after an append", /method/);
    expect(release).toHaveLength(1); // the append after the garbage was never read
  });

  it("writes an append's 200s (full and minimal, written past Fastify's send) with the header block Fastify's send writes", async () => {
    const { port } = await start(async () => ({ kind: "appended", index: 2, duplicate: false }));
    const raw = async (data: string) => {
      let text = "";
      await new Promise<void>((resolve) => {
        const socket = connect(port, "127.0.0.1", () => socket.write(data, "latin1"));
        socket.on("data", (d: Buffer) => {
          text += d.toString("latin1");
          if (parseResponses(Buffer.from(text, "latin1")).length === 1) socket.end();
        });
        socket.on("close", () => resolve());
      });
      return text.replace(/\r\nDate: [^\r]*/, "\r\nDate: (now)");
    };
    const tail = "\r\nDate: (now)\r\nConnection: keep-alive\r\nKeep-Alive: timeout=10\r\n\r\n";
    const json = "content-type: application/json; charset=utf-8";
    // Through Fastify's send (sendJson): an unknown path's 404.
    const notFound = await raw(get("/nope"));
    const notFoundBody = notFound.slice(notFound.indexOf("\r\n\r\n") + 4);
    expect(notFound).toBe(`HTTP/1.1 404 Not Found\r\n${json}\r\ncontent-length: ${notFoundBody.length}${tail}${notFoundBody}`);
    // The hot path, the same shape.
    expect(await raw(post())).toBe(`HTTP/1.1 200 OK\r\n${json}\r\ncontent-length: 17${tail}{"state":[0,1,2]}`);
    expect(await raw(post({ headers: "Prefer: return=minimal\r\n" }))).toBe(
      `HTTP/1.1 200 OK\r\npreference-applied: return=minimal\r\n${json}\r\ncontent-length: 11${tail}{"index":2}`,
    );
  });

  it("answers an append with the same bytes through the append lane and through Fastify", async () => {
    // A plain append (no Content-Type) takes the lane; the same append with a
    // Content-Type the lane does not list goes through Fastify's router and parser.
    let next: AppendRoute = { kind: "appended", index: 2, duplicate: false };
    const { port } = await start(async () => next);
    const raw = async (data: string) => {
      const x = await exchange(port, data);
      expect(x.responses).toHaveLength(1);
      const r = x.responses[0]!;
      return { status: r.status, headers: { ...r.headers, date: "(now)" }, body: r.body };
    };
    const viaFastify = "Content-Type: application/json; charset=UTF-8\r\n";
    const cases: [string, (headers: string) => string][] = [
      ["full reply", (h) => post({ headers: h })],
      ["minimal reply", (h) => post({ headers: `${h}Prefer: return=minimal\r\n` })],
      ["bad body", (h) => request('{"client_id":1}', { headers: h })],
    ];
    for (const [what, make] of cases) {
      const lane = await raw(make(""));
      expect(await raw(make(viaFastify)), what).toEqual(lane);
      expect(lane.status, what).toBe(what === "bad body" ? 400 : 200);
    }
    next = { kind: "failed", outcome: "unknown", reason: "no leader answered in time" };
    const lane503 = await raw(post());
    expect(lane503.status).toBe(503);
    expect(await raw(post({ headers: viaFastify }))).toEqual(lane503);
  });

  it("answers a slow body 408 after the append before it, on the same connection", async () => {
    const { port } = await start(async () => ({ kind: "appended", index: 2, duplicate: false }));
    const partial = `POST ${APPEND_PATH} HTTP/1.1\r\nHost: paxos\r\nContent-Length: 60\r\n\r\n{"client_id":1,`;
    const x = await exchange(port, post() + partial, { untilClose: true, timeoutMs: 30_000 });
    expect(x.closed).toBe(true);
    expect(x.responses.map((r) => r.status)).toEqual([200, 408]);
    expectJsonError(x.responses[1], 408, "slow body");
    expect(x.ms).toBeLessThan(EDGE_LIMITS.requestTimeoutMs + 5_000);
  });

  it("never applies an append answered 408, even when the rest of its body arrives after the 408", async () => {
    const { port, service } = await start(async () => ({ kind: "appended", index: 2, duplicate: false }));
    const content = body(1);
    const socket = connect(port, "127.0.0.1");
    socket.on("error", () => {});
    let received = "";
    const got408 = new Promise<void>((r) =>
      socket.on("data", (d: Buffer) => {
        received += d.toString("latin1");
        if (received.includes("\r\n\r\n{")) r();
      }),
    );
    socket.write(`POST ${APPEND_PATH} HTTP/1.1\r\nHost: p\r\nContent-Length: ${content.length}\r\n\r\n${content.slice(0, 10)}`);
    await got408;
    expectJsonError(parseResponses(Buffer.from(received, "latin1"))[0], 408, "slow body");
    // The slow client finishes its body, and pipelines another append, after the 408.
    socket.write(content.slice(10) + post());
    await sleep(500);
    socket.destroy();
    expect(service.seen).toHaveLength(0);
  });

  it("answers at most 32 pipelined requests at once: the first 32, then 429, and none after is processed", async () => {
    // Node parses every bodiless request of a read at once (2,000 GETs in 64 KiB),
    // so each would hold a full-list reply until a client that never reads is dropped.
    const { port, service } = await start(async () => ({ kind: "appended", index: 2, duplicate: false }));
    const x = await exchange(port, get("/state").repeat(2_000), { untilClose: true, timeoutMs: 10_000 });
    expect(x.closed).toBe(true);
    expect(x.responses.map((r) => r.status)).toEqual([...Array(EDGE_LIMITS.maxPipelined).fill(200), 429]);
    expectJsonError(x.responses.at(-1), 429, "too many pipelined", /pipelined/);
    expect(service.seenReads).toHaveLength(EDGE_LIMITS.maxPipelined);
  });

  it("does not process a request pipelined after a reply that closes the connection", async () => {
    const { port, service } = await start(async () => ({ kind: "appended", index: 2, duplicate: false }));
    const tooLarge = request(withBody(1, `"payload":1,"pad":"${"x".repeat(2000)}"`));
    const x = await exchange(port, tooLarge + post(), { untilClose: true, timeoutMs: 10_000 });
    expect(x.closed).toBe(true);
    expect(x.responses).toHaveLength(1);
    expectJsonError(x.responses[0], 400, "body too large", /larger than 1024 bytes/);
    expect(service.seen).toHaveLength(0); // the valid append after it was never routed
  });

  it("answers an unmet expectation in order, after the append before it", async () => {
    const { port } = await start(async () => ({ kind: "appended", index: 2, duplicate: false }));
    const x = await exchange(port, post() + request("{}", { headers: "Expect: teapot\r\n" }) + post(), { expect: 3, timeoutMs: 10_000 });
    expect(x.responses.map((r) => r.status)).toEqual([200, 417, 200]);
    expectJsonError(x.responses[1], 417, "Expect: teapot", /expectation/);
  });
});

// ---------------------------------------------------------------------------

describe("hostile HTTP against a real 3-node cluster", () => {
  let cluster: ProcessCluster;
  let leader = 0;
  let follower = 1;
  const port = (i: number): number => cluster.httpPorts[i]!;
  const nodes = (): [string, number][] => [
    ["follower", follower],
    ["leader", leader],
  ];

  beforeAll(async () => {
    cluster = await ProcessCluster.start(3);
    leader = await cluster.waitForLeader();
    follower = (leader + 1) % 3;
  });
  afterAll(async () => {
    await cluster?.destroy();
  });

  /** The list and every node's list_length; the list is read after an append through the leader, which orders after everything before it. */
  async function snapshot(): Promise<{ list: number[]; lengths: number[] }> {
    const p = fresh();
    const x = await exchange(port(leader), request(body(p)), { timeoutMs: 10_000 });
    const list = stateOf(x.responses[0]);
    expect(list[list.length - 1]).toBe(p);
    sent.splice(sent.indexOf(p), 1); // this one was meant to be applied
    await cluster.waitUntil(
      async () => (await Promise.all([0, 1, 2].map((i) => cluster.status(i)))).every((s) => s.list_length === list.length),
      10_000,
      "every node to apply the barrier append",
    );
    return { list, lengths: (await Promise.all([0, 1, 2].map((i) => cluster.status(i)))).map((s) => s.list_length) };
  }

  interface HostileCase {
    readonly name: string;
    readonly raw: () => string | Buffer;
    /** The status of the reply, or of each reply in order (pipelined requests). */
    readonly status: number | readonly number[];
    readonly error?: RegExp;
    readonly header?: readonly [string, RegExp];
    readonly halfClose?: boolean;
  }

  const VALID_JSON_CT = "Content-Type: application/json\r\n";
  const TABLE: HostileCase[] = [
    // The request line and methods (RFC 9110 §9, RFC 9112 §3).
    { name: "invalid method token", raw: () => `${GARBAGE}`, status: 400, error: /method/ },
    { name: "unknown method token", raw: () => get("/state").replace(/^GET/, "FOO"), status: 400, error: /method/ },
    { name: "lower-case method", raw: () => get("/state").replace(/^GET/, "get"), status: 400, error: /method/ },
    { name: "DELETE on /state", raw: () => `DELETE /state HTTP/1.1\r\nHost: p\r\n\r\n`, status: 405, header: ["allow", /^GET, HEAD$/] },
    { name: "PUT of a valid append", raw: () => post({ method: "PUT" }), status: 405, header: ["allow", /^POST$/] },
    { name: "GET on the append path", raw: () => get(APPEND_PATH), status: 405, header: ["allow", /^POST$/] },
    { name: "POST of a valid append to /state", raw: () => post({ target: "/state" }), status: 405, header: ["allow", /^GET, HEAD$/] },
    { name: "TRACE on /status", raw: () => `TRACE /status HTTP/1.1\r\nHost: p\r\n\r\n`, status: 405, header: ["allow", /^GET, HEAD$/] },
    { name: "POST of a valid append to an unknown path", raw: () => post({ target: "/proposer/client-request/x" }), status: 404, error: /no route/ },
    { name: "PATCH of a valid append to an unknown path", raw: () => post({ method: "PATCH", target: "/nope" }), status: 404 },
    { name: "OPTIONS *", raw: () => `OPTIONS * HTTP/1.1\r\nHost: p\r\n\r\n`, status: 405, header: ["allow", /POST/] },
    { name: "CONNECT", raw: () => `CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n`, status: 400, error: /not a proxy/ },
    { name: "request line without version", raw: () => `GET /state\r\n\r\n`, status: 400, error: /HTTP\/0\.9/ },
    { name: "HTTP/0.9 request, then EOF", raw: () => `GET /state\r\n`, halfClose: true, status: 400 },
    { name: "HTTP/2.0 in the request line, valid append", raw: () => post({ version: "HTTP/2.0" }), status: 400, error: /HTTP version 2\.0/ },
    { name: "HTTP/1.2", raw: () => post({ version: "HTTP/1.2" }), status: 400, error: /version/ },
    { name: "HTTP/2 prior-knowledge preface", raw: () => "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x00\x00\x04\x00\x00\x00\x00\x00", status: 400, error: /HTTP\/2/ },
    { name: "request line ending in a bare LF", raw: () => post().replace("HTTP/1.1\r\n", "HTTP/1.1\n"), status: 400 },
    // The request-target (RFC 9112 §3.2, RFC 3986).
    { name: "target over 8 KiB", raw: () => get(`/state?${"a".repeat(9_000)}`), status: 414 },
    { name: "target over the 16 KiB header limit", raw: () => get(`/${"a".repeat(20_000)}`), status: 414 },
    { name: "%00 in the path", raw: () => get("/state%00"), status: 404 },
    { name: "bad percent-encoding", raw: () => get("/state%zz"), status: 400, error: /percent-encoding/ },
    { name: "bad percent-encoding on a valid append", raw: () => post({ target: `${APPEND_PATH}%` }), status: 400, error: /percent-encoding/ },
    { name: "percent-encoding of invalid UTF-8", raw: () => get("/st%C0%AFate"), status: 400 },
    { name: "raw NUL in the target", raw: () => get("/st\x00ate"), status: 400 },
    { name: "absolute-form with userinfo", raw: () => post({ target: `http://user@paxos${APPEND_PATH}` }), status: 400, error: /origin-form/ },
    { name: "absolute-form with another scheme", raw: () => post({ target: `ftp://paxos${APPEND_PATH}` }), status: 400 },
    { name: "authority-form on a POST", raw: () => post({ target: "paxos:80" }), status: 400 },
    // Host (RFC 9112 §3.2).
    { name: "two Host headers", raw: () => post({ headers: "Host: other\r\n" }), status: 400, error: /2 Host/ },
    { name: "Host: a b", raw: () => post({ host: "a b" }), status: 400, error: /invalid Host/ },
    { name: "Host with userinfo", raw: () => post({ host: "user@paxos" }), status: 400, error: /invalid Host/ },
    { name: "Host with a bad port", raw: () => post({ host: "paxos:80x" }), status: 400, error: /invalid Host/ },
    { name: "no Host in HTTP/1.1", raw: () => post({ host: null }), status: 400, error: /missing Host/ },
    // Header syntax (RFC 9110 §5, RFC 9112 §5).
    { name: "Expect: teapot", raw: () => post({ headers: "Expect: teapot\r\n" }), status: 417, error: /expectation/ },
    { name: "NUL in a header value", raw: () => post({ headers: "X-A: a\x00b\r\n" }), status: 400 },
    { name: "control byte in a header value", raw: () => post({ headers: "X-A: a\x01b\r\n" }), status: 400 },
    { name: "DEL in a header value", raw: () => post({ headers: "X-A: a\x7fb\r\n" }), status: 400 },
    { name: "space in a header name", raw: () => post({ headers: "X A: b\r\n" }), status: 400 },
    { name: "space before the colon", raw: () => post({ headers: "X-A : b\r\n" }), status: 400 },
    { name: "obs-fold", raw: () => post({ headers: "X-A: b\r\n c\r\n" }), status: 400 },
    { name: "header over 16 KiB", raw: () => post({ headers: `X-A: ${"a".repeat(20_000)}\r\n` }), status: 431 },
    // Message framing (RFC 9112 §6).
    { name: "Content-Length with Transfer-Encoding", raw: () => post({ headers: "Transfer-Encoding: chunked\r\n" }), status: 400, error: /framing/ },
    { name: "two different Content-Lengths", raw: () => post({ headers: "Content-Length: 3\r\n" }), status: 400, error: /framing/ },
    { name: "two equal Content-Lengths", raw: () => { const b = body(fresh()); return `POST ${APPEND_PATH} HTTP/1.1\r\nHost: p\r\nContent-Length: ${b.length}\r\nContent-Length: ${b.length}\r\n\r\n${b}`; }, status: 400 },
    { name: "invalid Content-Length", raw: () => post().replace(/Content-Length: (\d+)/, "Content-Length: $1x"), status: 400, error: /framing/ },
    { name: "negative Content-Length", raw: () => post().replace(/Content-Length: (\d+)/, "Content-Length: -$1"), status: 400 },
    { name: "Content-Length beyond the body, then EOF", raw: () => post().replace(/Content-Length: (\d+)/, "Content-Length: 500"), halfClose: true, status: 400 },
    { name: "Transfer-Encoding: gzip", raw: () => `POST ${APPEND_PATH} HTTP/1.1\r\nHost: p\r\nTransfer-Encoding: gzip\r\n\r\n${body(fresh())}`, status: 400 },
    { name: "Transfer-Encoding: chunked, chunked", raw: () => `POST ${APPEND_PATH} HTTP/1.1\r\nHost: p\r\nTransfer-Encoding: chunked, chunked\r\n\r\n0\r\n\r\n`, status: 400 },
    { name: "invalid chunk size", raw: () => `POST ${APPEND_PATH} HTTP/1.1\r\nHost: p\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n${body(fresh())}\r\n0\r\n\r\n`, status: 400 },
    {
      name: "chunked body over 1 KiB",
      raw: () => { const b = withBody(fresh(), `"payload":1,"pad":"${"x".repeat(2000)}"`); return `POST ${APPEND_PATH} HTTP/1.1\r\nHost: p\r\nTransfer-Encoding: chunked\r\n\r\n${b.length.toString(16)}\r\n${b}\r\n0\r\n\r\n`; },
      status: 400,
      error: /larger than 1024 bytes/,
    },
    { name: "Content-Length body over 1 KiB", raw: () => request(withBody(fresh(), `"payload":1,"pad":"${"x".repeat(2000)}"`)), status: 400, error: /larger than 1024 bytes/ },
    { name: "Transfer-Encoding in HTTP/1.0", raw: () => { const b = body(fresh()); return `POST ${APPEND_PATH} HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n${b.length.toString(16)}\r\n${b}\r\n0\r\n\r\n`; }, status: 400 },
    // Content (RFC 9110 §8.3, §8.4, §9.3.1) and protocol switching (§7.8, §9.3.6).
    { name: "malformed Content-Type", raw: () => post({ headers: "Content-Type: ;;\r\n" }), status: 400, error: /Content-Type/ },
    { name: "Content-Encoding: gzip", raw: () => post({ headers: "Content-Encoding: gzip\r\n" }), status: 415, header: ["accept-encoding", /^identity$/] },
    { name: "Upgrade: websocket", raw: () => get("/state", "Connection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"), status: 400, error: /upgrade/ },
    { name: "Upgrade: h2c", raw: () => get("/state", "Connection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAAQAAP__\r\n"), status: 400, error: /upgrade/ },
    { name: "Upgrade: websocket on a valid append", raw: () => post({ headers: "Connection: Upgrade\r\nUpgrade: websocket\r\n" }), status: 400, error: /upgrade/ },
    { name: "a body on GET /state", raw: () => request(body(fresh()), { method: "GET", target: "/state" }), status: 400, error: /carries no content/ },
    { name: "a chunked body on GET /state", raw: () => `GET /state HTTP/1.1\r\nHost: p\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n`, status: 400 },
    // Ambiguous JSON (the contract's fields are integer literals, each exactly once).
    { name: "duplicate payload", raw: () => request(withBody(fresh(), `"payload":1,"payload":${fresh()}`), { headers: VALID_JSON_CT }), status: 400, error: /duplicate field: payload/ },
    { name: "duplicate client_id", raw: () => request(`{"client_id":1,"client_id":2,"command_id":1,"payload":${fresh()}}`), status: 400, error: /duplicate field: client_id/ },
    { name: "duplicate spelled with an escape", raw: () => request(withBody(fresh(), `"payload":1,"pay\\u006coad":${fresh()}`)), status: 400, error: /duplicate field: payload/ },
    ...["1.0", "1e3", "-0", "1E0", "0.5e1"].map((lit) => ({
      name: `payload ${lit}`,
      raw: () => request(`{"client_id":77,"command_id":${fresh()},"payload":${lit}}`),
      status: 400,
      error: /integer literal/,
    })),
    {
      name: "leading BOM",
      raw: () => {
        const content = Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from(body(fresh()))]);
        return Buffer.concat([Buffer.from(`POST ${APPEND_PATH} HTTP/1.1\r\nHost: p\r\nContent-Length: ${content.length}\r\n\r\n`), content]);
      },
      status: 400,
      error: /byte order mark/,
    },
    { name: "trailing garbage", raw: () => request(`${body(fresh())} x`), status: 400, error: /not valid JSON/ },
    { name: "NaN", raw: () => request(withBody(fresh(), `"payload":NaN`)), status: 400, error: /not valid JSON/ },
    { name: "Infinity", raw: () => request(withBody(fresh(), `"payload":Infinity`)), status: 400, error: /not valid JSON/ },
    { name: "a comment", raw: () => request(`${body(fresh())} // c`), status: 400, error: /not valid JSON/ },
    { name: "single quotes", raw: () => request(body(fresh()).replace(/"/g, "'")), status: 400, error: /not valid JSON/ },
    // Many pipelined requests, every one answered in order. Node reads requests with a body one at a time,
    // bodiless ones all at once: beyond 32 unanswered, 429 and close (RFC 6585 §4).
    { name: "100 pipelined bad appends", raw: () => request(`{"client_id":77,"command_id":${fresh()}}`).repeat(100), status: Array(100).fill(400), error: /missing field: payload/ },
    { name: "2,000 pipelined GETs of an unknown path", raw: () => get("/nope").repeat(2_000), status: [...Array(EDGE_LIMITS.maxPipelined).fill(404), 429], error: /no route|pipelined/ },
  ];

  it("answers every hostile input with the right 4xx and a JSON error, through a follower and the leader, and the list never changes", async () => {
    const before = await snapshot();
    for (const c of TABLE) {
      for (const [role, i] of nodes()) {
        const what = `${c.name} (via the ${role})`;
        const statuses = typeof c.status === "number" ? [c.status] : c.status;
        const x = await exchange(port(i), c.raw(), { expect: statuses.length, halfClose: c.halfClose, timeoutMs: 5_000 });
        expect(x.responses.map((r) => r.status), `${what}: ${JSON.stringify(x.responses.slice(0, 3))}`).toEqual(statuses);
        x.responses.forEach((r, k) => expectJsonError(r, statuses[k]!, what, c.error));
        if (c.header !== undefined) expect(x.responses[0]!.headers[c.header[0]], what).toMatch(c.header[1]);
      }
    }
    const after = await snapshot();
    expect(after.list.slice(0, before.list.length)).toEqual(before.list);
    expect(after.list).toHaveLength(before.list.length + 1); // only the second barrier append
    expect(after.lengths).toEqual(before.lengths.map((n) => n + 1));
    for (const p of sent) expect(after.list, `payload ${p}`).not.toContain(p);
  }, 120_000);

  it("answers pipelined appends in order, and never a 4xx for an append that may have been applied", async () => {
    for (const [role, i] of nodes()) {
      // A valid append, garbage, a valid append: 200 for A, then the error (or a close); B is never read.
      const [a, b] = [fresh(), fresh()];
      const x1 = await exchange(port(i), request(body(a)) + GARBAGE + request(body(b)), { untilClose: true, timeoutMs: 15_000 });
      expect(x1.closed, role).toBe(true);
      expect(x1.responses[0]?.status, `${role}: ${JSON.stringify(x1.responses)}`).toBe(200);
      expect(stateOf(x1.responses[0]).at(-1)).toBe(a);
      expect(x1.responses.length).toBeLessThanOrEqual(2);
      if (x1.responses[1] !== undefined) expectJsonError(x1.responses[1], 400, `${role}: garbage after an append`);

      // Garbage first: 400, nothing applied.
      const c = fresh();
      const x2 = await exchange(port(i), GARBAGE + request(body(c)), { untilClose: true, timeoutMs: 15_000 });
      expect(x2.closed).toBe(true);
      expect(x2.responses).toHaveLength(1);
      expectJsonError(x2.responses[0], 400, `${role}: garbage first`);

      // Two valid appends, then garbage: 200, 200, then the error.
      const [d, e] = [fresh(), fresh()];
      const x3 = await exchange(port(i), request(body(d)) + request(body(e)) + "GARBAGE\r\n\r\n", { untilClose: true, timeoutMs: 15_000 });
      expect(x3.responses.map((r) => r.status), role).toEqual([200, 200, 400]);
      const [sd, se] = [stateOf(x3.responses[0]), stateOf(x3.responses[1])];
      expect(sd.at(-1)).toBe(d);
      expect(se).toEqual([...sd, e]);
      expectJsonError(x3.responses[2], 400, `${role}: garbage after two appends`);
      for (const applied of [a, d, e]) sent.splice(sent.indexOf(applied), 1);
    }
    const { list } = await snapshot();
    for (const p of sent) expect(list, `payload ${p}`).not.toContain(p);
  }, 60_000);

  it("ends slow requests with a JSON 408 within a bounded time, and the list never changes", async () => {
    const before = await snapshot();
    const f = port(follower);
    const started = Date.now();
    const [slowBody, slowHeaders, idle] = await Promise.all([
      // Headers, then a body that never completes.
      exchange(f, `POST ${APPEND_PATH} HTTP/1.1\r\nHost: p\r\nContent-Length: 60\r\n\r\n{"client_id":77,"command_id":${fresh()},`, { untilClose: true, timeoutMs: 30_000 }),
      // Slowloris: a header byte every 500 ms, never the end of the headers.
      exchange(port(leader), `POST ${APPEND_PATH} HTTP/1.1\r\nHost: p\r\n`, { untilClose: true, timeoutMs: 30_000, drip: { pieces: "X-Slow: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa".split(""), everyMs: 500 } }),
      // A connection that sends nothing.
      exchange(f, "", { untilClose: true, timeoutMs: 30_000 }),
    ]);
    for (const [what, x] of [["slow body", slowBody], ["slow headers", slowHeaders], ["idle connection", idle]] as const) {
      expect(x.closed, what).toBe(true);
      expect(x.ms, what).toBeLessThan(30_000);
      expect(x.responses, what).toHaveLength(1);
      expectJsonError(x.responses[0], 408, what);
    }
    console.log(`slow clients answered 408 after ${slowBody.ms} / ${slowHeaders.ms} / ${idle.ms} ms (body / headers / idle); all done in ${Date.now() - started} ms`);
    const after = await snapshot();
    expect(after.list).toEqual([...before.list, after.list.at(-1)]);
    expect(after.lengths).toEqual(before.lengths.map((n) => n + 1));
  }, 60_000);

  it("gives x-paxos-* headers from a client no meaning: served exactly as without them, promptly", async () => {
    const internal = "x-paxos-hops: 99\r\nx-paxos-deadline-ms: 1\r\nx-paxos-maybe-applied: 1\r\nx-paxos-forwarded: 1\r\nx-paxos-leader: 99\r\nx-paxos-read-index: 999999999\r\n";
    for (const [role, i] of nodes()) {
      const p = fresh();
      const a = await exchange(port(i), request(body(p), { headers: internal }), { timeoutMs: 5_000 });
      expect(a.ms, role).toBeLessThan(2_000);
      const appended = stateOf(a.responses[0]);
      expect(appended.at(-1)).toBe(p);
      sent.splice(sent.indexOf(p), 1);
      const r = await exchange(port(i), get("/state", internal), { timeoutMs: 5_000 });
      expect(r.ms, role).toBeLessThan(2_000);
      expect(stateOf(r.responses[0]).slice(0, appended.length)).toEqual(appended);
    }
  });

  it("accepts absolute-form targets (RFC 9112 §3.2.2), through a follower and the leader", async () => {
    for (const [role, i] of nodes()) {
      const p = fresh();
      const x = await exchange(port(i), request(body(p), { target: `http://127.0.0.1:${port(i)}${APPEND_PATH}`, host: "ignored.example" }), { timeoutMs: 10_000 });
      expect(stateOf(x.responses[0]).at(-1), role).toBe(p);
      sent.splice(sent.indexOf(p), 1);
      const r = await exchange(port(i), `GET HTTP://127.0.0.1:${port(i)}/state?x=1 HTTP/1.1\r\nHost: p\r\n\r\n`, { timeoutMs: 10_000 });
      expect(stateOf(r.responses[0])).toContain(p);
    }
  });
});
