// The load generator of `paxos bench`, the same for every system under test:
// C client loops, each sending one request at a time (like a Jepsen client),
// until N requests have been sent in total. One undici Pool per target node,
// with as many connections as client loops on that node. Per request it
// records the latency (hrtime), the status and the reply's body bytes.

import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { Pool } from "undici";

/** Where the client loops go: spread round-robin over all nodes (as Jepsen does), or all to the leader. */
export type Placement = "spread" | "leader";

/** One request of a workload: what client loop `client` sends as its `seq`-th request. */
export interface WorkRequest {
  readonly path: string;
  readonly body: string;
  readonly headers: Record<string, string>;
}

export interface Workload {
  readonly name: string;
  /**
   * client: a cluster-unique client id; seq: 1, 2, ... per client;
   * payload: unique over the whole run on this cluster.
   */
  request(clientId: number, seq: number, payload: number): WorkRequest;
}

/** The paxos contract: an append with a unique (client_id, command_id, payload). */
export function paxosWorkload(minimal: boolean): Workload {
  const headers: Record<string, string> = { "content-type": "application/json" };
  if (minimal) headers["prefer"] = "return=minimal";
  return {
    name: minimal ? "paxos append (Prefer: return=minimal)" : "paxos append (full reply)",
    request: (clientId, seq, payload) => ({
      path: "/proposer/client-request",
      body: `{"client_id":${clientId},"command_id":${seq},"payload":${payload}}`,
      headers,
    }),
  };
}

/** etcd 3.4's v3 JSON gateway: a put of a fresh key (keys and values are base64). */
export function etcdWorkload(): Workload {
  const headers = { "content-type": "application/json" };
  const b64 = (s: string) => Buffer.from(s, "utf8").toString("base64");
  return {
    name: "etcd put (v3 JSON gateway)",
    request: (clientId, seq, payload) => ({
      path: "/v3/kv/put",
      body: `{"key":"${b64(`bench/${clientId}/${seq}`)}","value":"${b64(String(payload))}"}`,
      headers,
    }),
  };
}

export interface LoadSpec {
  /** Concurrent client loops. */
  readonly clients: number;
  /** Requests to send in total (over all loops). */
  readonly total: number;
  /** First client id; loop i uses clientIdBase + i. */
  readonly clientIdBase: number;
  /** Per-request timeout (headers and body). */
  readonly timeoutMs: number;
}

export interface LoadResult {
  readonly clients: number;
  readonly sent: number;
  readonly ok: number;
  readonly errors: number;
  /** Status code (or error code) -> count, for the non-200 replies. */
  readonly errorKinds: Record<string, number>;
  readonly elapsedMs: number;
  /** Latency of every successful request, in milliseconds, in completion order. */
  readonly latenciesMs: Float64Array;
  readonly replyBytesTotal: number;
  readonly replyBytesMax: number;
  /** Body bytes of the very last successful reply. */
  readonly replyBytesLast: number;
}

/**
 * Holds the connection pools to one cluster's nodes; run() can be called
 * several times (the long run is run in segments with the same pools).
 */
export class LoadDriver {
  private readonly pools: Pool[];
  private payloadSeq = 0;

  /** origins: http://host:port of the nodes the loops talk to (loop i -> origins[i % n]). */
  constructor(
    readonly origins: readonly string[],
    readonly workload: Workload,
    maxClients: number,
  ) {
    if (origins.length === 0) throw new Error("no target nodes");
    this.pools = origins.map(
      (o) =>
        new Pool(o, {
          connections: Math.max(1, Math.ceil(maxClients / origins.length)),
          pipelining: 1,
          keepAliveTimeout: 60_000,
        }),
    );
  }

  async run(spec: LoadSpec): Promise<LoadResult> {
    const latencies = new Float64Array(spec.total);
    let issued = 0;
    let ok = 0;
    let errors = 0;
    let replyBytesTotal = 0;
    let replyBytesMax = 0;
    let replyBytesLast = 0;
    const errorKinds: Record<string, number> = {};
    const fail = (kind: string) => {
      errors++;
      errorKinds[kind] = (errorKinds[kind] ?? 0) + 1;
    };

    const loop = async (i: number) => {
      const pool = this.pools[i % this.pools.length]!;
      const clientId = spec.clientIdBase + i;
      let seq = 0;
      while (issued < spec.total) {
        issued++;
        seq++;
        const req = this.workload.request(clientId, seq, ++this.payloadSeq);
        const t0 = process.hrtime.bigint();
        try {
          const res = await pool.request({
            method: "POST",
            path: req.path,
            body: req.body,
            headers: req.headers,
            headersTimeout: spec.timeoutMs,
            bodyTimeout: spec.timeoutMs,
          });
          let bytes = 0;
          for await (const chunk of res.body) bytes += (chunk as Buffer).length;
          const ms = Number(process.hrtime.bigint() - t0) / 1e6;
          if (res.statusCode === 200) {
            latencies[ok++] = ms;
            replyBytesTotal += bytes;
            replyBytesLast = bytes;
            if (bytes > replyBytesMax) replyBytesMax = bytes;
          } else {
            fail(`HTTP ${res.statusCode}`);
          }
        } catch (e) {
          fail((e as { code?: string }).code ?? (e as Error).name ?? "error");
        }
      }
    };

    const start = process.hrtime.bigint();
    await Promise.all(Array.from({ length: spec.clients }, (_, i) => loop(i)));
    const elapsedMs = Number(process.hrtime.bigint() - start) / 1e6;
    return {
      clients: spec.clients,
      sent: issued,
      ok,
      errors,
      errorKinds,
      elapsedMs,
      latenciesMs: latencies.slice(0, ok),
      replyBytesTotal,
      replyBytesMax,
      replyBytesLast,
    };
  }

  async close(): Promise<void> {
    await Promise.all(this.pools.map((p) => p.close().catch(() => p.destroy())));
  }
}

/**
 * Runs this process's client code (undici, the loops above, both systems' request shapes) against
 * an in-process server that answers at once, so that V8 has optimized it before anything is
 * measured. Without it the first system measured paid for the load generator's cold start and the
 * second did not: with one client, the first 200 of paxos's 1,000 appends took 3.2-3.9 ms at the
 * median against 2.1-2.6 ms for the last 500 (docs/performance.md).
 */
export async function warmLoadGenerator(requests = 4000): Promise<void> {
  let n = 0;
  const server = createServer((req, res) => {
    req.resume();
    req.on("end", () => {
      // Replies of both shapes the systems send: a full list that grows, and a short object.
      n++;
      const body = n % 2 === 0 ? `{"state":[${Array.from({ length: n % 1000 }, (_, i) => i).join(",")}]}` : `{"index":${n}}`;
      res.writeHead(200, { "content-type": "application/json" });
      res.end(body);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  try {
    for (const [workload, clients] of [[paxosWorkload(false), 1], [paxosWorkload(true), 8], [etcdWorkload(), 1], [etcdWorkload(), 8]] as const) {
      const driver = new LoadDriver([origin], workload, clients);
      try {
        await driver.run({ clients, total: requests / 4, clientIdBase: 1, timeoutMs: 10_000 });
      } finally {
        await driver.close();
      }
    }
  } finally {
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}

export interface LatencySummary {
  p50: number;
  p99: number;
  max: number;
  mean: number;
}

/** Nearest-rank percentiles (q in [0, 1]) of the latencies, in ms; zeros when there are none. */
export function summarize(latenciesMs: Float64Array): LatencySummary {
  const n = latenciesMs.length;
  if (n === 0) return { p50: 0, p99: 0, max: 0, mean: 0 };
  const sorted = Float64Array.from(latenciesMs).sort();
  const at = (q: number) => sorted[Math.min(n - 1, Math.max(0, Math.ceil(q * n) - 1))]!;
  let sum = 0;
  for (const v of sorted) sum += v;
  return { p50: at(0.5), p99: at(0.99), max: sorted[n - 1]!, mean: sum / n };
}
