// Jepsen-style clients: `concurrency` logical processes, process p bound to
// node (p mod nodes) as in the old test, each appending unique integers over
// the HTTP contract (and reading, with --reads). A reply proving the append
// did not happen is :fail; a timeout or an ambiguous error is :info, after
// which the process continues under a fresh id (p + concurrency), as Jepsen's
// workers do, since its previous op may still be in flight.

import { readFileSync } from "node:fs";
import { Agent, request } from "undici";
import type { HistoryEvent } from "./report-types.js";

export interface WorkloadOptions {
  readonly nodeUrls: readonly string[];
  readonly concurrency: number;
  /** Target ops per second over all processes. */
  readonly rate: number;
  readonly reads: boolean;
  readonly requestTimeoutMs: number;
  /** Nanoseconds since the test started. */
  readonly clock: () => number;
  readonly shouldStop: () => boolean;
  /** HTTPS with this CA and client certificate (nodes started with --client-cert-auth); null: plain HTTP. */
  readonly tls?: ClientTlsFiles | null;
  /** Told of each completed op (ok, fail or info) as it happens, e.g. to count them for a progress line. */
  readonly onComplete?: (e: HistoryEvent) => void;
}

/** A client's TLS files: the CA that signed the nodes' certificates, and its own certificate and key. */
export interface ClientTlsFiles {
  readonly caFile: string;
  readonly certFile: string;
  readonly keyFile: string;
}

/** An HTTP(S) client (one connection pool) for the nodes. */
export function clientAgent(tls: ClientTlsFiles | null, connectTimeoutMs: number): Agent {
  return new Agent({
    keepAliveTimeout: 10_000,
    connect: {
      timeout: connectTimeoutMs,
      ...(tls === null ? {} : { ca: readFileSync(tls.caFile), cert: readFileSync(tls.certFile), key: readFileSync(tls.keyFile) }),
    },
  });
}

type Outcome = { type: "ok" | "fail" | "info"; state: number[] | null; error?: string };

async function call(agent: Agent, url: string, init: { method: "GET" | "POST"; body?: string }, timeoutMs: number): Promise<Outcome> {
  try {
    const res = await request(url, {
      method: init.method,
      dispatcher: agent,
      headers: init.body === undefined ? {} : { "content-type": "application/json" },
      ...(init.body === undefined ? {} : { body: init.body }),
      headersTimeout: timeoutMs,
      bodyTimeout: timeoutMs,
    });
    const text = await res.body.text();
    if (res.statusCode === 200) {
      const state = (JSON.parse(text) as { state?: unknown }).state;
      if (!Array.isArray(state)) return { type: "info", state: null, error: `malformed reply ${text.slice(0, 200)}` };
      return { type: "ok", state: state as number[] };
    }
    let outcome: unknown;
    try {
      outcome = (JSON.parse(text) as { outcome?: unknown }).outcome;
    } catch {
      outcome = undefined;
    }
    // Only a definite refusal is a failure: a 400, or a 503 that says the append did not and will not happen.
    if (res.statusCode === 400 || (res.statusCode === 503 && outcome === "not_applied")) {
      return { type: "fail", state: null, error: `HTTP ${res.statusCode} ${text.slice(0, 200)}` };
    }
    return { type: "info", state: null, error: `HTTP ${res.statusCode} ${text.slice(0, 200)}` };
  } catch (e) {
    const code = (e as { code?: string }).code;
    // A refused connection never reached the server: nothing can have been applied.
    if (code === "ECONNREFUSED") return { type: "fail", state: null, error: code };
    return { type: "info", state: null, error: code ?? (e as Error).message };
  }
}

/** Runs the clients until shouldStop(); returns the history in invocation/completion order. */
export async function runWorkload(o: WorkloadOptions): Promise<HistoryEvent[]> {
  const history: HistoryEvent[] = [];
  let nextValue = 1;
  const agents = o.nodeUrls.map(() => clientAgent(o.tls ?? null, o.requestTimeoutMs));
  // Each process waits on average concurrency/rate seconds between ops (Jepsen's stagger).
  const meanGapMs = (1000 * o.concurrency) / o.rate;
  const worker = async (slot: number) => {
    let process = slot;
    const node = slot % o.nodeUrls.length;
    const url = o.nodeUrls[node]!;
    let commandId = 1;
    while (!o.shouldStop()) {
      await new Promise((r) => setTimeout(r, Math.random() * 2 * meanGapMs));
      if (o.shouldStop()) break;
      const isRead = o.reads && Math.random() < 0.2;
      if (isRead) {
        history.push({ process, type: "invoke", f: "read", value: null, state: null, time: o.clock() });
        const r = await call(agents[node]!, `${url}/state`, { method: "GET" }, o.requestTimeoutMs);
        // A read changes nothing, so a read without an answer simply failed.
        history.push({ process, type: r.type === "ok" ? "ok" : "fail", f: "read", value: null, state: r.state, time: o.clock() });
        o.onComplete?.(history[history.length - 1]!);
        continue;
      }
      const value = nextValue++;
      history.push({ process, type: "invoke", f: "append", value, state: null, time: o.clock() });
      const body = JSON.stringify({ client_id: 1_000_000 + process, command_id: commandId++, payload: value });
      const r = await call(agents[node]!, `${url}/proposer/client-request`, { method: "POST", body }, o.requestTimeoutMs);
      history.push({ process, type: r.type, f: "append", value, state: r.state, time: o.clock() });
      o.onComplete?.(history[history.length - 1]!);
      if (r.type === "info") {
        process += o.concurrency;
        commandId = 1;
      }
    }
  };
  await Promise.all(Array.from({ length: o.concurrency }, (_, i) => worker(i)));
  await Promise.all(agents.map((a) => a.close()));
  return history;
}
