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
// Any node accepts requests and answers them from its own copy of the list:
// a follower hands an append's command to the leader over the peer protocol
// and answers once it has applied it; for a read it asks the leader for a
// read index, then serves its own list (see ClusterNode.routeRead). So the
// reply, which carries the list, never crosses between nodes, and no
// request header means anything between nodes: the gateway trusts nothing a
// client sends but the body and the Prefer header.
// Errors are JSON: 400 {"error"} for bad input (nothing is appended), 503
// {"error","outcome"} when no answer came, where outcome "not_applied" means
// the append did not and will not happen and "unknown" means it may still.
// Every other refusal (malformed HTTP, timeouts, unknown paths and methods,
// upgrades, content codings: see http-edge.ts) is a 4xx with a JSON
// {"error"}, and an append that may have been applied is never answered 4xx.

import Fastify, { LogController, type FastifyReply, type FastifyRequest } from "fastify";
import { createServer as createHttpServer, type IncomingHttpHeaders, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { createServer as createHttpsServer, type Server as HttpsServer } from "node:https";
import type { TLSSocket } from "node:tls";
import type { Logger } from "pino";
import type { Outcome } from "../core/types.js";
import { normalizeMemberAddress } from "../config/cluster-config.js";
import type { MembershipChange } from "../core/membership.js";
import type { ChangeRoute, Failed, MembersView, NodeService } from "../service/node-service.js";
import type { TlsMaterial } from "../tls/tls-material.js";
import type { ClientTls } from "../transport/client-grpc-server.js";
import { OnceLog } from "../transport/once-log.js";
import { closeWhenCertificateExpires, explainVerifyError } from "../transport/tls-listener.js";
import {
  closesConnection,
  ConnectionGuard,
  contentProblem,
  EDGE_LIMITS,
  JSON_CONTENT_TYPE,
  requestProblem,
  rewriteTarget,
  routeProblem,
  serverOptions,
  type EdgeError,
} from "./http-edge.js";
import { isPlainAppend, readPlainBody } from "./append-lane.js";
import { ListJson } from "./list-json.js";
import type { GatewayUi } from "../ui/node-ui.js";
import { parseAddMemberBody, parseAppendBody } from "./strict-json.js";

export const APPEND_PATH = "/proposer/client-request";
/** Far above any valid body (three integers); larger bodies are refused unread. */
export const BODY_LIMIT_BYTES = 1024;

export interface GatewayOptions {
  readonly service: NodeService;
  readonly host: string;
  readonly port: number;
  readonly logger: Logger;
  readonly requestTimeoutMs: number;
  /** Requests in progress beyond which new ones get 503 at once. */
  readonly maxInflightRequests: number;
  /** HTTPS (and optionally required client certificates) instead of plain HTTP. */
  readonly tls?: ClientTls | null;
  /** The live cluster page (GET /ui, GET /cluster) and /status's `stats` field; absent: neither (a joining node). */
  readonly ui?: GatewayUi | null;
}

/**
 * An append's answers (and /state's 200) are written straight to Node's
 * response, past Fastify's send (its onSend hook chain, payload checks and
 * header copies), so that they are the same whether the request came
 * through Fastify or the append lane. The headers are the ones Fastify's
 * send writes, in the same order, so the bytes on the wire are the same;
 * the gateway has no onSend or onResponse hook that this skips.
 */
function writeJson(res: ServerResponse, status: number, body: string): void {
  res.writeHead(status, { "content-type": JSON_CONTENT_TYPE, "content-length": Buffer.byteLength(body) });
  res.end(body);
}

/** The body of a 503 that says whether the request may still be applied. */
function unavailableBody(error: string, outcome: Outcome, members?: MembersView): string {
  return JSON.stringify(members === undefined ? { error, outcome } : { error, outcome, members: membersJson(members).members });
}

const INTERNAL_ERROR_BODY = JSON.stringify({ error: "internal error", outcome: "unknown" });

function sendJson(reply: FastifyReply, code: number, body: string): FastifyReply {
  return reply.code(code).header("content-type", JSON_CONTENT_TYPE).send(body);
}

function badRequest(reply: FastifyReply, error: string): FastifyReply {
  return sendJson(reply, 400, JSON.stringify({ error }));
}

function unavailable(reply: FastifyReply, error: string, outcome: Outcome, members?: MembersView): FastifyReply {
  return sendJson(reply, 503, unavailableBody(error, outcome, members));
}

function failedReply(reply: FastifyReply, f: Failed): FastifyReply {
  return unavailable(reply, f.reason, f.outcome, f.members);
}

/** GET /members' body: exactly these fields. */
function membersJson(v: MembersView) {
  return { members: v.members.map((m) => ({ id: m.id, address: m.address, grpc: m.grpc, role: m.role })), config_slot: v.configSlot };
}

/** A refused change: 400 bad input, 404 no such member, 409 refused in the cluster's current state; nothing changed. */
const REFUSAL_STATUS: Readonly<Record<string, number>> = {
  bad_address: 400,
  address_taken: 400,
  not_a_learner: 400,
  last_voter: 400,
  unknown_member: 404,
  change_pending: 409,
  would_lose_quorum: 409,
  learner_behind: 409,
};

/** A member id in a path: a decimal integer. */
function parseMemberId(text: string): number | null {
  return /^(?:0|[1-9][0-9]{0,9})$/.test(text) && Number(text) < 2 ** 32 ? Number(text) : null;
}

/** RFC 7240: `Prefer: return=minimal` asks for {"index": N} instead of the whole list. */
function wantsMinimal(headers: IncomingHttpHeaders): boolean {
  const prefer = headers.prefer;
  if (prefer === undefined) return false;
  if (prefer === "return=minimal") return true; // the usual header, without splitting it per request
  const values = Array.isArray(prefer) ? prefer : [prefer];
  return values.some((v) => v.split(",").some((p) => p.trim().toLowerCase() === "return=minimal"));
}

export interface Gateway {
  /** New connections use the new certificate and CA (SIGHUP). */
  reloadTls(material: TlsMaterial): void;
  close(): Promise<void>;
}

export async function startGateway(opts: GatewayOptions): Promise<Gateway> {
  const { service } = opts;
  const listJson = new ListJson();
  /**
   * The contract's reply, exactly one field: the list's first n elements.
   * Written past Fastify's send (which takes one buffer) as the two pieces
   * of list-json.ts, so no reply-sized buffer is allocated per request;
   * end() uncorks, so headers and both pieces leave in one writev.
   */
  const stateReply = (res: ServerResponse, n: number): void => {
    listJson.sync(service.listValues());
    const [text, close] = listJson.reply(n);
    res.writeHead(200, { "content-type": JSON_CONTENT_TYPE, "content-length": text.length + close.length });
    res.cork();
    res.write(text);
    res.end(close);
  };
  const guard = new ConnectionGuard(opts.logger);
  /** An edge refusal; a reply that closes the connection stops later pipelined requests on it. */
  const refuse = (req: FastifyRequest, reply: FastifyReply, e: EdgeError): FastifyReply => {
    for (const [k, v] of Object.entries(e.headers ?? {})) reply.header(k, v);
    if (closesConnection(e, req.raw)) {
      reply.header("connection", "close");
      guard.markClosing(req.raw.socket);
    }
    return sendJson(reply, e.status, JSON.stringify({ error: e.error }));
  };

  const tls = opts.tls ?? null;
  const app = Fastify({
    loggerInstance: opts.logger,
    logController: new LogController({ disableRequestLogging: true }), // protocol events are logged, not every request
    // Nothing logs per request, so no request gets a child logger of its own
    // (pino's child() cost ~1% of a node's CPU under load); Fastify's own rare
    // messages go to the node's logger, without a reqId.
    childLoggerFactory: (logger) => logger,
    bodyLimit: BODY_LIMIT_BYTES,
    // While closing, onRequest answers 503 not_applied itself (Fastify's own 503 has no outcome).
    return503OnClosing: false,
    // Parse errors and timeouts answered in request order, in JSON (Fastify's default answers at once).
    clientErrorHandler: (err, socket) => guard.onClientError(err, socket),
    rewriteUrl: (req) => rewriteTarget(req),
    // A target the router cannot decode (bad percent-encoding): our JSON, not Fastify's.
    frameworkErrors: (err, req, reply) =>
      refuse(req, reply, requestProblem(req.raw) ?? { status: 400, error: `bad request-target: ${err.message} (RFC 3986 §2.1)` }),
    // Our own server, so that a plain append can skip Fastify (append-lane.ts).
    serverFactory: (fastifyHandler) => {
      const onRequest = (req: IncomingMessage, res: ServerResponse) => {
        if (!takeAppendLane(req, res)) fastifyHandler(req, res);
      };
      // Node's timeouts and limits (http-edge.ts).
      const server: Server =
        tls === null
          ? createHttpServer(serverOptions(), onRequest)
          : createHttpsServer(
              {
                ...serverOptions(),
                handshakeTimeout: EDGE_LIMITS.tlsHandshakeTimeoutMs,
                cert: tls.material.cert,
                key: tls.material.key,
                ...(tls.material.ca === null ? {} : { ca: tls.material.ca }),
                requestCert: tls.clientCertAuth,
                rejectUnauthorized: false, // checked per request below, so that the refusal says why
                minVersion: "TLSv1.2",
              },
              onRequest,
            );
      // No traffic either way for this long (a client that stopped reading our answers): drop the connection.
      server.setTimeout(Math.max(EDGE_LIMITS.minIdleSocketTimeoutMs, opts.requestTimeoutMs + 10_000));
      return server;
    },
  });
  guard.attach(app.server);
  const onceLog = new OnceLog(opts.logger);
  let closing = false;
  /** Connections authenticated by a client certificate: closed when it expires, and when the CA changes (SIGHUP). */
  const certConnections = new Set<TLSSocket>();
  if (tls?.clientCertAuth) {
    app.server.on("secureConnection", (socket: TLSSocket) => {
      if (!socket.authorized) return; // refused per request (onRequest)
      certConnections.add(socket);
      const cancel = closeWhenCertificateExpires(socket, () =>
        opts.logger.warn({ remote: socket.remoteAddress }, "closing HTTPS connection: its client certificate expired"),
      );
      socket.once("close", () => {
        certConnections.delete(socket);
        cancel();
      });
    });
  }
  if (tls !== null) {
    app.server.on("tlsClientError", (err: Error & { code?: string }, socket: TLSSocket) => {
      const reason = /wrong version number|http request/i.test(err.message) ? "not a TLS connection (plain HTTP to the HTTPS port?)" : `TLS handshake failed: ${err.code ?? err.message}`;
      onceLog.warn(`${reason}|${socket.remoteAddress}`, { remote: socket.remoteAddress, reason }, `refusing HTTPS connection: ${reason}`);
    });
  }

  // Every body is read as JSON whatever its Content-Type (`curl -d` sends
  // form-urlencoded), so a client's header never decides between 400 and 415;
  // the route reads the text strictly (strict-json.ts).
  app.removeAllContentTypeParsers();
  const readText = (_req: FastifyRequest, body: string | Buffer, done: (err: null, text: string) => void) => {
    done(null, typeof body === "string" ? body : body.toString("utf8"));
  };
  app.addContentTypeParser("*", { parseAs: "string" }, readText);
  // The same parser under the type clients send: Fastify caches the parser
  // it finds by exact type, but not the catch-all, which it finds again per
  // request by parsing the header.
  app.addContentTypeParser("application/json", { parseAs: "string" }, readText);

  app.setErrorHandler((err: Error & { statusCode?: number; code?: string }, req, reply) => {
    // Fastify closes the connection after a body it could not read (too large, aborted).
    if (reply.getHeader("connection") === "close") guard.markClosing(req.raw.socket);
    if (err.code === "FST_ERR_CTP_BODY_TOO_LARGE") {
      return badRequest(reply, `body larger than ${BODY_LIMIT_BYTES} bytes`);
    }
    if (err.code === "FST_ERR_CTP_INVALID_MEDIA_TYPE") {
      // Any well-formed Content-Type is read as JSON; a malformed one is refused (RFC 9110 §8.3).
      const ct = String(req.headers["content-type"]).slice(0, 100);
      return badRequest(reply, `malformed Content-Type header ${JSON.stringify(ct)} (RFC 9110 §8.3)`);
    }
    if (err.statusCode !== undefined && err.statusCode >= 400 && err.statusCode < 500) {
      return badRequest(reply, err.message);
    }
    opts.logger.error({ err }, "gateway error");
    return sendJson(reply, 500, INTERNAL_ERROR_BODY);
  });
  app.setNotFoundHandler((req, reply) => refuse(req, reply, routeProblem(req.raw)));

  // (A callback hook, not an async one: it runs on every request.)
  app.addHook("onRequest", (req, reply, done) => {
    // A reply before this one on the connection said Connection: close: this
    // pipelined request is not processed, and its client sees the connection
    // close (unknown), never an answer that lies.
    if (guard.isClosing(req.raw.socket)) {
      reply.hijack();
      return;
    }
    if (closing) {
      unavailable(reply, "the node is shutting down", "not_applied"); // this request was not looked at
      return;
    }
    if (tls?.clientCertAuth) {
      const socket = req.raw.socket as TLSSocket;
      if (!socket.authorized) {
        const hasCert = Object.keys(socket.getPeerCertificate()).length > 0;
        const reason = explainVerifyError(hasCert ? socket.authorizationError : "");
        onceLog.warn(`${reason}|${socket.remoteAddress}`, { remote: socket.remoteAddress, reason }, `refusing HTTPS client: ${reason}`);
        sendJson(reply, 403, JSON.stringify({ error: `a client certificate signed by this cluster's CA is required: ${reason}` }));
        return;
      }
    }
    // RFC 9110/9112 checks before routing and before the body is read (http-edge.ts).
    const problem = requestProblem(req.raw) ?? (req.is404 ? routeProblem(req.raw) : contentProblem(req.raw));
    if (problem !== null) {
      refuse(req, reply, problem);
      return;
    }
    // Flow control: beyond a bounded number of requests in progress, refuse at
    // once (nothing was applied) instead of queueing without end. The guard
    // counts this request too, and those whose connection went away.
    if (req.url === "/status" || req.url === "/metrics") return done();
    const others = guard.inflight - 1;
    if (others >= opts.maxInflightRequests) {
      unavailable(reply, `overloaded: ${others} requests in progress on this node`, "not_applied");
      return;
    }
    done();
  });

  app.get("/metrics", async (_req, reply) =>
    reply.code(200).header("content-type", "text/plain; version=0.0.4; charset=utf-8").send(await service.metricsText()),
  );

  app.get("/status", async (_req, reply) => {
    const stats = opts.ui ? await opts.ui.statusStats() : undefined; // for the live page (src/ui/live-stats.ts)
    const s = service.status();
    return sendJson(
      reply,
      200,
      JSON.stringify({
        id: s.member === "joining" ? null : s.id, // a joining node gets its id when it is added
        role: s.role,
        leader: s.leader,
        ballot: s.promised,
        commit_index: s.commitIndex,
        applied_index: s.appliedIndex,
        list_length: s.listLength,
        peers: s.peers,
        member: s.member,
        cluster_id: s.member === "joining" ? null : s.clusterId,
        config_slot: s.members.configSlot,
        members: membersJson(s.members).members,
        stats,
      }),
    );
  });

  app.get("/members", async (_req, reply) => {
    // A joining node is no member yet: what it last heard is not a membership it may vouch for.
    if (service.status().member === "joining") return unavailable(reply, "this node is joining the cluster and has not been added yet; ask a member", "not_applied");
    return sendJson(reply, 200, JSON.stringify(membersJson(service.members())));
  });

  const changeReply = (reply: FastifyReply, r: ChangeRoute) => {
    if (r.kind === "failed") return failedReply(reply, r);
    if (r.kind === "refused") return sendJson(reply, REFUSAL_STATUS[r.refusal] ?? 409, JSON.stringify({ error: r.message, refusal: r.refusal }));
    const { id, address, grpc, role } = r.member;
    return sendJson(reply, 200, JSON.stringify({ member: { id, address, grpc, role }, ...membersJson(r.view) }));
  };
  const change = async (reply: FastifyReply, c: MembershipChange) => changeReply(reply, await service.routeChange(c, { deadline: deadlineOf() }));

  app.post("/members", async (req, reply) => {
    if (guard.isDoomed(req.raw)) return reply.hijack();
    const body = parseAddMemberBody(typeof req.body === "string" ? req.body : "");
    if (typeof body === "string") return badRequest(reply, body);
    const address = normalizeMemberAddress(body.address);
    if (typeof address !== "string") return sendJson(reply, 400, JSON.stringify({ error: address.problem, refusal: "bad_address" }));
    return change(reply, { kind: "add", address });
  });

  app.post<{ Params: { id: string } }>("/members/:id/promote", async (req, reply) => {
    if (guard.isDoomed(req.raw)) return reply.hijack();
    const id = parseMemberId(req.params.id);
    if (id === null) return badRequest(reply, `member id must be a non-negative integer, got ${JSON.stringify(req.params.id.slice(0, 40))}`);
    return change(reply, { kind: "promote", id });
  });

  app.delete<{ Params: { id: string } }>("/members/:id", async (req, reply) => {
    if (guard.isDoomed(req.raw)) return reply.hijack();
    const id = parseMemberId(req.params.id);
    if (id === null) return badRequest(reply, `member id must be a non-negative integer, got ${JSON.stringify(req.params.id.slice(0, 40))}`);
    return change(reply, { kind: "remove", id });
  });

  const deadlineOf = () => Date.now() + opts.requestTimeoutMs;

  /** The append route, from the body's text on; the same whether the request came through Fastify or the append lane. */
  const answerAppend = async (req: IncomingMessage, res: ServerResponse, text: string): Promise<void> => {
    // Its connection failed (408, malformed bytes) while the body was still
    // arriving, and that error was its answer: never apply it.
    if (guard.isDoomed(req)) return;
    service.steps?.record("gateway in");
    const command = parseAppendBody(text);
    if (typeof command === "string") return writeJson(res, 400, JSON.stringify({ error: command }));
    const r = await service.routeAppend(command, { deadline: deadlineOf() });
    service.steps?.record("reply out");
    if (r.kind === "failed") return writeJson(res, 503, unavailableBody(r.reason, r.outcome, r.members));
    if (wantsMinimal(req.headers)) {
      const body = `{"index":${r.index}}`; // ASCII: its length is its byte length
      res.writeHead(200, { "preference-applied": "return=minimal", "content-type": JSON_CONTENT_TYPE, "content-length": body.length });
      res.end(body);
      return;
    }
    stateReply(res, r.index + 1);
  };
  const answerAppendOrFail = (req: IncomingMessage, res: ServerResponse, text: string): Promise<void> =>
    answerAppend(req, res, text).catch((err: unknown) => {
      opts.logger.error({ err }, "gateway error");
      if (!res.headersSent) writeJson(res, 500, INTERNAL_ERROR_BODY);
    });

  /**
   * The append lane (append-lane.ts): a plain append goes to answerAppend
   * at once when nothing the onRequest hook checks would stop it; every
   * other request goes to Fastify. Whether it took the request.
   */
  const takeAppendLane = (req: IncomingMessage, res: ServerResponse): boolean => {
    if (closing || guard.isClosing(req.socket) || guard.inflight > opts.maxInflightRequests) return false;
    if (tls?.clientCertAuth && !(req.socket as TLSSocket).authorized) return false;
    if (!isPlainAppend(req, APPEND_PATH, BODY_LIMIT_BYTES)) return false;
    readPlainBody(req, (text) => void answerAppendOrFail(req, res, text));
    return true;
  };

  app.post(APPEND_PATH, async (req, reply) => {
    reply.hijack();
    await answerAppendOrFail(req.raw, reply.raw, typeof req.body === "string" ? req.body : "");
    return reply;
  });

  app.get("/state", async (_req, reply) => {
    const res = await service.routeRead({ deadline: deadlineOf() });
    if (res.kind === "failed") return failedReply(reply, res);
    reply.hijack();
    stateReply(reply.raw, res.length);
    return reply;
  });

  opts.ui?.register(app); // GET /ui, its files, GET /cluster (src/ui/node-ui.ts)

  await app.listen({ host: opts.host, port: opts.port });
  return {
    reloadTls: (m) => {
      const server = app.server as unknown as HttpsServer;
      server.setSecureContext({ cert: m.cert, key: m.key, ...(m.ca === null ? {} : { ca: m.ca }) });
      // Connections authenticated under the old CA end now (their clients reconnect and are checked again);
      // idle ones simply make their next request on a new connection.
      for (const s of certConnections) s.destroy();
      server.closeIdleConnections();
    },
    close: () => {
      closing = true;
      return app.close();
    },
  };
}
