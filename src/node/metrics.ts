// Prometheus metrics of one node (GET /metrics), read from the counters the
// runtime keeps anyway when scraped, so the hot path pays nothing for them.

import { Counter, Gauge, Registry, collectDefaultMetrics } from "prom-client";
import type { CoreStatus } from "../core/types.js";

export interface MetricSources {
  status(): CoreStatus;
  fdatasyncs(): number;
  logBytesWritten(): number;
  peerBytesSent(): number;
  peerMessagesSent(): number;
  peerMessagesDropped(): number;
  clientRequests(): number;
  thriftyFallbacks(): number;
  /** When this node's peer and client TLS certificates expire (ms since the epoch), null without TLS. */
  certificateExpiry(): { peer: number | null; client: number | null };
}

let shapesPrimed: Promise<void> | null = null;

/**
 * Runs prom-client's collect path once in this process, on a throwaway
 * registry: its first Counter.inc changes an object shape that V8's optimized
 * code depends on. At the first scrape of a loaded node, ~22 hot functions per
 * node (the Ready loop, peer sends, the HTTP path) were deoptimized and
 * compiled again, ~400 ms of CPU per node (--trace-deopt: "code
 * dependencies"); primed before any code runs hot, that scrape deoptimizes
 * nothing, and 128 clients cost 150 CPU us/append summed over the nodes, not
 * 163 (4 alternated pairs, docs/performance.md). Once per process is enough
 * (the shape is prom-client's, not a registry's), and no default metrics
 * here: each set of them starts an event-loop-delay sampler and a GC observer
 * that nothing turns off again.
 */
export function primeMetricShapes(): Promise<void> {
  shapesPrimed ??= (async () => {
    const registry = new Registry();
    let n = 0;
    new Counter({
      name: "prime_total",
      help: "primes prom-client's shapes",
      registers: [registry],
      collect() {
        this.reset();
        this.inc(++n);
      },
    });
    new Gauge({
      name: "prime",
      help: "primes prom-client's shapes",
      registers: [registry],
      collect() {
        this.set(++n);
      },
    });
    for (let i = 0; i < 3; i++) await registry.metrics();
  })();
  return shapesPrimed;
}

export function nodeMetrics(src: MetricSources): Registry {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  const total = (name: string, help: string, read: () => number) =>
    new Counter({
      name,
      help,
      registers: [registry],
      collect() {
        this.reset();
        this.inc(read());
      },
    });
  const gauge = (name: string, help: string, read: () => number) =>
    new Gauge({
      name,
      help,
      registers: [registry],
      collect() {
        this.set(read());
      },
    });
  total("paxos_fdatasyncs_total", "fdatasync calls on the durable log (group commit: one covers many records)", src.fdatasyncs);
  total("paxos_log_bytes_written_total", "bytes appended to the durable log", src.logBytesWritten);
  total("paxos_peer_bytes_sent_total", "protobuf bytes of message batches written to peer streams", src.peerBytesSent);
  total("paxos_peer_messages_sent_total", "protocol messages written to peer streams", src.peerMessagesSent);
  total("paxos_peer_messages_dropped_total", "protocol messages dropped because a peer link was full", src.peerMessagesDropped);
  total("paxos_client_requests_total", "appends and reads handed to the core", src.clientRequests);
  total(
    "paxos_thrifty_fallbacks_total",
    "batches that asked a quorum to vote, heard nothing in time, and asked every acceptor (a slow or gone follower)",
    src.thriftyFallbacks,
  );
  gauge("paxos_commit_index", "slots known chosen and applied", () => src.status().commitIndex);
  gauge("paxos_list_length", "length of the replicated list", () => src.status().listLength);
  gauge("paxos_is_leader", "1 while this node leads", () => (src.status().role === "leader" ? 1 : 0));
  gauge("paxos_promised_round", "round of the highest promised ballot", () => src.status().promised.round);
  // Alert on these before they pass: an expired certificate cuts the node off from its peers or clients.
  for (const use of ["peer", "client"] as const) {
    if (src.certificateExpiry()[use] === null) continue;
    gauge(`paxos_${use}_certificate_expiry_timestamp_seconds`, `when this node's ${use} TLS certificate expires (Unix time)`, () => (src.certificateExpiry()[use] ?? 0) / 1000);
  }
  return registry;
}
