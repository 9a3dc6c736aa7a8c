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

import Fastify, { LogController, type FastifyReply, type FastifyRequest } from "fastify";
import type { Server as HttpsServer } from "node:https";
import type { TLSSocket } from "node:tls";
import type { Logger } from "pino";
import type { Outcome } from "../core/types.js";
import type { NodeService } from "../service/node-service.js";
import type { TlsMaterial } from "../tls/tls-material.js";
import type { ClientTls } from "../transport/client-grpc-server.js";
import { OnceLog } from "../transport/once-log.js";
import { explainVerifyError } from "../transport/tls-listener.js";
import { ListJson } from "./list-json.js";
import { validateAppendBody } from "./validate.js";

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

export interface Gateway {
  /** New connections use the new certificate and CA (SIGHUP). */
  reloadTls(material: TlsMaterial): void;
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

  const tls = opts.tls ?? null;
  const app = Fastify({
    loggerInstance: opts.logger,
    logController: new LogController({ disableRequestLogging: true }), // protocol events are logged, not every request
    bodyLimit: BODY_LIMIT_BYTES,
    return503OnClosing: true,
    // Cast: with `https` Fastify types its server as https.Server; the routes below do not care which.
    ...((tls === null
      ? {}
      : {
          https: {
            cert: tls.material.cert,
            key: tls.material.key,
            ...(tls.material.ca === null ? {} : { ca: tls.material.ca }),
            requestCert: tls.clientCertAuth,
            rejectUnauthorized: false, // checked per request below, so that the refusal says why
            minVersion: "TLSv1.2",
          },
        }) as object),
  });
  const onceLog = new OnceLog(opts.logger);
  if (tls !== null) {
    app.server.on("tlsClientError", (err: Error & { code?: string }, socket: TLSSocket) => {
      const reason = /wrong version number|http request/i.test(err.message) ? "not a TLS connection (plain HTTP to the HTTPS port?)" : `TLS handshake failed: ${err.code ?? err.message}`;
      onceLog.warn(`${reason}|${socket.remoteAddress}`, { remote: socket.remoteAddress, reason }, `refusing HTTPS connection: ${reason}`);
    });
  }

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

  const deadlineOf = () => Date.now() + opts.requestTimeoutMs;

  app.post(APPEND_PATH, async (req, reply) => {
    const command = validateAppendBody(req.body);
    if (typeof command === "string") return badRequest(reply, command);
    const res = await service.routeAppend(command, { deadline: deadlineOf() });
    if (res.kind === "failed") return unavailable(reply, res.reason, res.outcome);
    if (wantsMinimal(req)) {
      return sendJson(reply.header("preference-applied", "return=minimal"), 200, `{"index":${res.index}}`);
    }
    return stateReply(reply, res.index + 1);
  });

  app.get("/state", async (_req, reply) => {
    const res = await service.routeRead({ deadline: deadlineOf() });
    if (res.kind === "failed") return unavailable(reply, res.reason, res.outcome);
    return stateReply(reply, res.length);
  });

  await app.listen({ host: opts.host, port: opts.port });
  return {
    reloadTls: (m) =>
      (app.server as unknown as HttpsServer).setSecureContext({ cert: m.cert, key: m.key, ...(m.ca === null ? {} : { ca: m.ca }) }),
    close: () => app.close(),
  };
}
