// The HTTP gateway: the JSON contract of ../shared/SEED-CONTRACT.md on the
// node's config port.
//
//   POST /proposer/client-request  {"client_id","command_id","payload"}
//        -> 200 {"state":[...]}: the whole list right after this append;
//           with `Prefer: return=minimal` (RFC 7240): 200 {"index":N}.
//   GET  /state   -> 200 {"state":[...]}: a linearizable read.
//   GET  /status  -> this node's view (never forwarded).
//   GET  /metrics -> Prometheus metrics of this node (never forwarded).
//
// Any node accepts requests. An append is served where it arrives: a
// follower hands the command to the leader over the peer protocol and
// answers from its own copy of the list once it has applied it (so the
// reply, which carries the list, never crosses between nodes). A read is
// answered by the leader: a follower forwards it to the leader's gateway
// with @fastify/http-proxy (the upstream is picked per request).
// Errors are JSON: 400 {"error"} for bad input (nothing is appended), 503
// {"error","outcome"} when no answer came, where outcome "not_applied" means
// the append did not and will not happen and "unknown" means it may still.

import httpProxy from "@fastify/http-proxy";
import Fastify, { LogController, type FastifyReply, type FastifyRequest } from "fastify";
import type { Logger } from "pino";
import { dialHost, type NodeAddress } from "../config/cluster-config.js";
import type { Outcome } from "../core/types.js";
import { HOPS_KEY, MAX_FORWARD_HOPS, type NodeService } from "../service/node-service.js";
import { ListJson } from "./list-json.js";
import { validateAppendBody } from "./validate.js";

export const APPEND_PATH = "/proposer/client-request";
/** Milliseconds the forwarding node has left for the request. */
export const DEADLINE_HEADER = "x-paxos-deadline-ms";
/** Far above any valid body (three integers); larger bodies are refused unread. */
export const BODY_LIMIT_BYTES = 1024;
/** Longest one forwarding attempt may take before the request is routed again. */
export const FORWARD_ATTEMPT_MS = 2000;

export interface GatewayOptions {
  readonly service: NodeService;
  readonly host: string;
  readonly port: number;
  readonly logger: Logger;
  readonly requestTimeoutMs: number;
  /** Requests in progress beyond which new ones get 503 at once. */
  readonly maxInflightRequests: number;
}

function sendJson(reply: FastifyReply, code: number, body: string): FastifyReply {
  return reply.code(code).header("content-type", "application/json; charset=utf-8").send(body);
}

function badRequest(reply: FastifyReply, error: string): FastifyReply {
  return sendJson(reply, 400, JSON.stringify({ error }));
}

function unavailable(reply: FastifyReply, error: string, outcome: Outcome): FastifyReply {
  return sendJson(reply, 503, JSON.stringify({ error, outcome }));
}


/** RFC 7240: `Prefer: return=minimal` asks for {"index": N} instead of the whole list. */
function wantsMinimal(req: FastifyRequest): boolean {
  const prefer = req.headers.prefer;
  const values = Array.isArray(prefer) ? prefer : prefer === undefined ? [] : [prefer];
  return values.some((v) => v.split(",").some((p) => p.trim().toLowerCase() === "return=minimal"));
}

function hopsOf(req: FastifyRequest): number {
  const h = Number(req.headers[HOPS_KEY] ?? 0);
  return Number.isInteger(h) && h >= 0 ? h : 0;
}

export interface Gateway {
  close(): Promise<void>;
}

export async function startGateway(opts: GatewayOptions): Promise<Gateway> {
  const { service } = opts;
  const listJson = new ListJson();
  /** The contract's reply, exactly one field: the list's first n elements. */
  const stateReply = (reply: FastifyReply, n: number) => {
    listJson.sync(service.listValues());
    return reply.code(200).header("content-type", "application/json; charset=utf-8").send(listJson.reply(n));
  };
  let inflight = 0;

  const app = Fastify({
    loggerInstance: opts.logger,
    logController: new LogController({ disableRequestLogging: true }), // protocol events are logged, not every request
    bodyLimit: BODY_LIMIT_BYTES,
    return503OnClosing: true,
  });

  // Every body is parsed as JSON whatever its Content-Type (`curl -d` sends
  // form-urlencoded), so a client's header never decides between 400 and 415.
  app.removeAllContentTypeParsers();
  app.addContentTypeParser("*", { parseAs: "string" }, (_req, body, done) => {
    const text = typeof body === "string" ? body : body.toString("utf8");
    if (text.trim() === "") return done(null, undefined);
    try {
      done(null, JSON.parse(text));
    } catch (e) {
      done(Object.assign(new Error(`body is not valid JSON: ${(e as Error).message}`), { statusCode: 400 }), undefined);
    }
  });

  app.setErrorHandler((err: Error & { statusCode?: number; code?: string }, _req, reply) => {
    if (err.code === "FST_ERR_CTP_BODY_TOO_LARGE") {
      return badRequest(reply, `body larger than ${BODY_LIMIT_BYTES} bytes`);
    }
    if (err.statusCode !== undefined && err.statusCode >= 400 && err.statusCode < 500) {
      return badRequest(reply, err.message);
    }
    opts.logger.error({ err }, "gateway error");
    return sendJson(reply, 500, JSON.stringify({ error: "internal error", outcome: "unknown" }));
  });
  app.setNotFoundHandler((req, reply) => sendJson(reply, 404, JSON.stringify({ error: `no route ${req.method} ${req.url}` })));

  // Flow control: beyond a bounded number of requests in progress, refuse at
  // once (nothing was applied) instead of queueing without end.
  // (A callback hook, not an async one: it runs on every request.)
  app.addHook("onRequest", (req, reply, done) => {
    if (req.url === "/status" || req.url === "/metrics") return done();
    if (inflight >= opts.maxInflightRequests) {
      unavailable(reply, `overloaded: ${inflight} requests in progress on this node`, "not_applied");
      return;
    }
    inflight++;
    reply.raw.once("close", () => inflight--);
    done();
  });

  app.get("/metrics", async (_req, reply) =>
    reply.code(200).header("content-type", "text/plain; version=0.0.4; charset=utf-8").send(await service.metricsText()),
  );

  app.get("/status", async (_req, reply) => {
    const s = service.status();
    return sendJson(
      reply,
      200,
      JSON.stringify({
        id: s.id,
        role: s.role,
        leader: s.leader,
        ballot: s.promised,
        commit_index: s.commitIndex,
        applied_index: s.appliedIndex,
        list_length: s.listLength,
        peers: s.peers,
      }),
    );
  });

  /** The request's deadline: our own timeout, or less when a forwarding node has less time left. */
  const deadlineOf = (req: FastifyRequest) => {
    const left = Number(req.headers[DEADLINE_HEADER]);
    return Date.now() + (Number.isFinite(left) && left > 0 ? Math.min(left, opts.requestTimeoutMs) : opts.requestTimeoutMs);
  };

  app.post(APPEND_PATH, async (req, reply) => {
    const command = validateAppendBody(req.body);
    if (typeof command === "string") return badRequest(reply, command);
    const res = await service.routeAppend(command, { deadline: deadlineOf(req) });
    if (res.kind === "failed") return unavailable(reply, res.reason, res.outcome);
    if (wantsMinimal(req)) {
      return sendJson(reply.header("preference-applied", "return=minimal"), 200, `{"index":${res.index}}`);
    }
    return stateReply(reply, res.index + 1);
  });

  /** One read on its way to the leader. */
  interface ReadJob {
    readonly req: FastifyRequest;
    readonly reply: FastifyReply;
    readonly dest: string;
    readonly deadline: number;
    avoidLeader?: number;
  }

  /**
   * Sends the read on to the leader's gateway with the time left. The leader
   * may have been cut off since this node last heard of it, so one attempt
   * gets at most FORWARD_ATTEMPT_MS; after a failure the read is routed
   * again once another leader is known (until the deadline). A read changes
   * nothing, so whatever failed, its outcome is "not_applied".
   */
  const forward = (job: ReadJob, leader: NodeAddress) => {
    const upstream = `http://${dialHost(leader.host)}:${leader.httpPort}`;
    const remaining = Math.max(1, job.deadline - Date.now());
    const headers: Record<string, string> = {
      [HOPS_KEY]: String(hopsOf(job.req) + 1),
      [DEADLINE_HEADER]: String(remaining),
    };
    return job.reply.from(job.dest, {
      getUpstream: () => upstream,
      rewriteRequestHeaders: (_r, h) => ({ ...h, ...headers }),
      retryDelay: () => null, // reply-from must not resend on its own: we route again, knowing who leads now
      timeout: Math.min(remaining, FORWARD_ATTEMPT_MS),
      onError: (r, { error }) => {
        if (job.deadline - Date.now() > 0 && !r.sent) {
          job.avoidLeader = leader.id;
          return void serveRead(job);
        }
        // reply-from types its reply for Fastify's default server; it is this route's reply.
        void unavailable(r as unknown as FastifyReply, `forwarding to leader ${leader.id} failed: ${error.message}`, "not_applied");
      },
    });
  };

  const serveRead = async (job: ReadJob): Promise<FastifyReply> => {
    const res = await service.routeRead({
      deadline: job.deadline,
      mayForward: hopsOf(job.req) < MAX_FORWARD_HOPS,
      ...(job.avoidLeader === undefined ? {} : { avoidLeader: job.avoidLeader }),
    });
    switch (res.kind) {
      case "read":
        return stateReply(job.reply, res.length);
      case "forward":
        return forward(job, res.leader);
      case "failed":
        return unavailable(job.reply, res.reason, "not_applied"); // a read changes nothing
    }
  };

  // Reads go through http-proxy: served by the leader, forwarded by everyone else.
  await app.register(httpProxy, {
    upstream: "",
    prefix: "/state",
    rewritePrefix: "/state",
    routes: ["/"],
    httpMethods: ["GET"],
    disableRequestLogging: true,
    replyOptions: { getUpstream: () => "" },
    handler: async (req: FastifyRequest, reply: FastifyReply, dest: string) => serveRead({ req, reply, dest, deadline: deadlineOf(req) }),
  });

  await app.listen({ host: opts.host, port: opts.port });
  return { close: () => app.close() };
}
