// GET /cluster: the whole cluster as one node sees it, for the live page.
// The serving node asks every member of the membership it knows for its
// GET /status, in parallel, each with a short timeout, and returns one JSON
// document. A member that does not answer (refused, timed out, TLS refused,
// not 200, not our JSON) is listed as down with the reason, never left out.
//
// Cost: one small request per member per poll, whatever the history; polls
// from several open pages within COALESCE_MS share one round of requests.
//
// Members are taken from the node's own membership (never from the request),
// so a client cannot point the node at an address of its choosing. With
// HTTPS (the node's gateway has --cert-file), the requests use HTTPS too and
// present this node's certificate (node certificates carry clientAuth), and
// check each member's certificate against the node's trusted CA (the client
// CA, or else the peer CA), for the host the membership names.

import { isIP } from "node:net";
import { Pool } from "undici";
import { dialHost } from "../config/cluster-config.js";
import type { MemberView } from "../service/node-service.js";
import { readAnnotations, type UiAnnotations } from "./annotations.js";
import type { LinkJson, LinkState, StatsJson } from "./live-stats.js";
import { mergeHistograms, percentileOf, type SparseHistogram } from "./op-window.js";

/** Longest a member's /status may take (connect included) before it is reported down. */
export const MEMBER_TIMEOUT_MS = 500;
/** Polls within this long of a finished round get its answer. */
const COALESCE_MS = 300;
/** A /status body larger than this is not read (a real one is a few KiB). */
const MAX_STATUS_BYTES = 256 * 1024;

/** TLS for the requests to members: the CA their certificates must chain to, and this node's certificate. */
export interface MemberTls {
  readonly ca: Buffer | null;
  readonly cert: Buffer;
  readonly key: Buffer;
}

/** The part of a member's GET /status the page uses, checked field by field. */
export interface MemberStatusJson {
  readonly id: number | null;
  readonly role: string;
  readonly leader: number | null;
  readonly ballot: { readonly round: number; readonly node: number } | null;
  readonly commit_index: number | null;
  readonly applied_index: number | null;
  readonly list_length: number | null;
  readonly member: string;
  readonly config_slot: number | null;
  /** Absent from nodes that do not serve the page (older versions, a joining node). */
  readonly stats: StatsJson | null;
}

export interface MemberEntry {
  readonly id: number;
  /** host:httpPort as the membership writes it. */
  readonly address: string;
  readonly role: string;
  /** This is the node that answered GET /cluster. */
  readonly self: boolean;
  /** The member's own live page, for a view from its side (e.g. across a partition). */
  readonly page: string;
  readonly up: boolean;
  /** Why a down member is down. */
  readonly error: string | null;
  /** How long its /status took. */
  readonly fetch_ms: number | null;
  readonly status: MemberStatusJson | null;
}

export interface ClusterJson {
  readonly served_by: number | null;
  readonly cluster_id: string;
  readonly config_slot: number;
  /** When this view was taken (ms since the epoch, the serving node's clock). */
  readonly time: number;
  readonly scheme: "http" | "https";
  readonly members: readonly MemberEntry[];
  /** Every answering member's requests together: rates summed, latency percentiles of the merged histograms. */
  readonly totals: {
    readonly window_s: number | null;
    readonly ok_per_s: number;
    readonly failed_per_s: number;
    readonly p50_ms: number | null;
    readonly p99_ms: number | null;
  };
  /** What a harness says (paxos node --ui-annotations): e.g. the nemesis's current fault. */
  readonly annotations: UiAnnotations | null;
  readonly annotations_error: string | null;
}

export interface ClusterViewOptions {
  /** The serving node as it is now: its id, cluster id and the membership it knows. */
  readonly self: () => { readonly id: number | null; readonly clusterId: string; readonly members: readonly MemberView[]; readonly configSlot: number };
  /** HTTPS material, or null for plain HTTP; asked for each round (SIGHUP can change it). */
  readonly tls: () => MemberTls | null;
  readonly annotationsFile?: string | undefined;
  readonly timeoutMs?: number;
}

// ---------------------------------------------------------- parsing ----

const num = (x: unknown): number | null => (typeof x === "number" && Number.isFinite(x) ? x : null);
const str = (x: unknown, max = 300): string | null => (typeof x === "string" ? x.slice(0, max) : null);
const isObject = (x: unknown): x is Record<string, unknown> => typeof x === "object" && x !== null && !Array.isArray(x);
const LINK_STATES: readonly LinkState[] = ["idle", "up", "unreachable", "refused"];

function parseHist(x: unknown): SparseHistogram {
  if (!Array.isArray(x)) return [];
  const pairs = x.filter((p): p is [number, number] => Array.isArray(p) && p.length === 2 && typeof p[0] === "number" && typeof p[1] === "number");
  return mergeHistograms([pairs]); // drops out-of-range bins and bad counts
}

function parseStats(x: unknown): StatsJson | null {
  if (!isObject(x) || !isObject(x.ops)) return null;
  const o = x.ops;
  const links: LinkJson[] = [];
  if (Array.isArray(x.links)) {
    for (const l of x.links.slice(0, 1000)) {
      if (!isObject(l) || num(l.id) === null) continue;
      const state = LINK_STATES.find((s) => s === l.link) ?? "idle";
      links.push({ id: num(l.id)!, link: state, error: str(l.error), last_heard_ms: num(l.last_heard_ms) });
    }
  }
  return {
    uptime_s: num(x.uptime_s) ?? 0,
    log_bytes: num(x.log_bytes),
    snapshot_bytes: num(x.snapshot_bytes),
    elections: num(x.elections) ?? 0,
    leader_changes: num(x.leader_changes) ?? 0,
    ops: {
      window_s: num(o.window_s) ?? 1,
      ok_per_s: num(o.ok_per_s) ?? 0,
      failed_per_s: num(o.failed_per_s) ?? 0,
      p50_ms: num(o.p50_ms),
      p99_ms: num(o.p99_ms),
      ok_total: num(o.ok_total) ?? 0,
      failed_total: num(o.failed_total) ?? 0,
      hist: parseHist(o.hist),
    },
    links,
  };
}

/** A member's /status body, or a string saying why it is not one. */
export function parseMemberStatus(body: unknown): MemberStatusJson | string {
  if (!isObject(body)) return "its /status is not a JSON object";
  const role = str(body.role, 40);
  if (role === null) return "its /status has no role";
  const b = body.ballot;
  return {
    id: num(body.id),
    role,
    leader: num(body.leader),
    ballot: isObject(b) && num(b.round) !== null && num(b.node) !== null ? { round: num(b.round)!, node: num(b.node)! } : null,
    commit_index: num(body.commit_index),
    applied_index: num(body.applied_index),
    list_length: num(body.list_length),
    member: str(body.member, 40) ?? "",
    config_slot: num(body.config_slot),
    stats: parseStats(body.stats),
  };
}

/** A fetch failure in a few words (undici's messages name the code but not always the cause). */
function describeError(e: unknown, timeoutMs: number): string {
  const err = e as Error & { code?: string; cause?: Error & { code?: string } };
  if (err.name === "TimeoutError" || err.code === "UND_ERR_HEADERS_TIMEOUT" || err.code === "UND_ERR_BODY_TIMEOUT") return `no answer within ${timeoutMs} ms`;
  if (err.code === "UND_ERR_CONNECT_TIMEOUT") return `no connection within ${timeoutMs} ms`;
  const cause = err.cause?.message;
  const msg = err.message || String(e);
  return (cause && !msg.includes(cause) ? `${msg}: ${cause}` : msg).slice(0, 300);
}

// ------------------------------------------------------------- view ----

export class ClusterView {
  private readonly timeoutMs: number;
  /** One connection pool per member origin; all replaced when the TLS material changes. */
  private pools = new Map<string, Pool>();
  private poolTls: MemberTls | null = null;
  private inflight: Promise<ClusterJson> | null = null;
  private last: { at: number; json: ClusterJson } | null = null;
  private closed = false;

  constructor(private readonly o: ClusterViewOptions) {
    this.timeoutMs = o.timeoutMs ?? MEMBER_TIMEOUT_MS;
  }

  /** The current view; concurrent and closely spaced callers share one round of requests. */
  get(): Promise<ClusterJson> {
    if (this.last !== null && Date.now() - this.last.at < COALESCE_MS) return Promise.resolve(this.last.json);
    this.inflight ??= this.take().finally(() => {
      this.inflight = null;
    });
    return this.inflight;
  }

  async close(): Promise<void> {
    this.closed = true;
    const pools = [...this.pools.values()];
    this.pools.clear();
    await Promise.all(pools.map((p) => p.destroy().catch(() => {})));
  }

  private async take(): Promise<ClusterJson> {
    const me = this.o.self();
    const tls = this.o.tls();
    this.usePools(tls, me.members);
    const scheme = tls === null ? "http" : "https";
    const [members, notes] = await Promise.all([
      Promise.all(me.members.map((m) => this.member(m, m.id === me.id, scheme))),
      this.o.annotationsFile === undefined ? Promise.resolve({ annotations: null, error: null }) : readAnnotations(this.o.annotationsFile),
    ]);
    const answering = members.map((m) => m.status?.stats ?? null).filter((s): s is StatsJson => s !== null);
    const hist = mergeHistograms(answering.map((s) => s.ops.hist));
    const round = (x: number) => Math.round(x * 10) / 10;
    const json: ClusterJson = {
      served_by: me.id,
      cluster_id: me.clusterId,
      config_slot: me.configSlot,
      time: Date.now(),
      scheme,
      members,
      totals: {
        window_s: answering[0]?.ops.window_s ?? null,
        ok_per_s: round(answering.reduce((a, s) => a + s.ops.ok_per_s, 0)),
        failed_per_s: round(answering.reduce((a, s) => a + s.ops.failed_per_s, 0)),
        p50_ms: percentileOf(hist, 50),
        p99_ms: percentileOf(hist, 99),
      },
      annotations: notes.annotations,
      annotations_error: notes.error,
    };
    this.last = { at: Date.now(), json };
    return json;
  }

  /** Keeps a pool per current member; new TLS material (or none) replaces them all. */
  private usePools(tls: MemberTls | null, members: readonly MemberView[]): void {
    const wanted = new Set(members.map((m) => m.address));
    const same = (a: MemberTls | null, b: MemberTls | null) => a === b || (a !== null && b !== null && a.cert === b.cert && a.key === b.key && a.ca === b.ca);
    const stale = !same(tls, this.poolTls) ? [...this.pools.keys()] : [...this.pools.keys()].filter((a) => !wanted.has(a));
    for (const a of stale) {
      void this.pools.get(a)?.destroy().catch(() => {});
      this.pools.delete(a);
    }
    this.poolTls = tls;
  }

  private pool(address: string, host: string, port: number, tls: MemberTls | null): Pool {
    let p = this.pools.get(address);
    if (p === undefined) {
      // "localhost" is dialled as 127.0.0.1 (Node 20 may try ::1 first), but the certificate names "localhost".
      const servername = isIP(host) === 0 ? { servername: host } : {};
      p = new Pool(`${tls === null ? "http" : "https"}://${dialHost(host)}:${port}`, {
        connections: 2,
        keepAliveTimeout: 4_000,
        headersTimeout: this.timeoutMs,
        bodyTimeout: this.timeoutMs,
        connect: {
          timeout: this.timeoutMs,
          ...(tls === null ? {} : { ...servername, cert: tls.cert, key: tls.key, ...(tls.ca === null ? {} : { ca: tls.ca }) }),
        },
      });
      this.pools.set(address, p);
    }
    return p;
  }

  private async member(m: MemberView, self: boolean, scheme: "http" | "https"): Promise<MemberEntry> {
    const colon = m.address.lastIndexOf(":");
    const host = m.address.slice(0, colon);
    const port = Number(m.address.slice(colon + 1));
    const base = { id: m.id, address: m.address, role: m.role, self, page: `${scheme}://${m.address}/ui` };
    const down = (error: string): MemberEntry => ({ ...base, up: false, error, fetch_ms: null, status: null });
    if (this.closed) return down("the node is shutting down");
    const t0 = performance.now();
    try {
      const r = await this.pool(m.address, host, port, this.poolTls).request({
        method: "GET",
        path: "/status",
        headers: { accept: "application/json" },
        signal: AbortSignal.timeout(this.timeoutMs),
      });
      const chunks: Buffer[] = [];
      let size = 0;
      for await (const c of r.body as AsyncIterable<Buffer>) {
        size += c.length;
        if (size > MAX_STATUS_BYTES) {
          r.body.destroy();
          return down(`its /status is larger than ${MAX_STATUS_BYTES} bytes`);
        }
        chunks.push(c);
      }
      const text = Buffer.concat(chunks).toString("utf8");
      const ms = Math.round((performance.now() - t0) * 10) / 10;
      if (r.statusCode !== 200) return down(`HTTP ${r.statusCode}: ${text.slice(0, 200)}`);
      let body: unknown;
      try {
        body = JSON.parse(text);
      } catch {
        return down(`its /status is not JSON: ${text.slice(0, 100)}`);
      }
      const status = parseMemberStatus(body);
      if (typeof status === "string") return down(status);
      return { ...base, up: true, error: null, fetch_ms: ms, status };
    } catch (e) {
      return down(describeError(e, this.timeoutMs));
    }
  }
}
