// The HTTP/1.1 edge of the gateway: what Node's server and Fastify let
// through or answer in their own way, checked against RFC 9110/9112 before a
// request reaches a route, and every refusal answered with a JSON body.
//
// The rule that matters most (../shared/PITFALLS.md): on one keep-alive
// connection, responses go in request order (RFC 9112 §9.3.2), so an error
// found after requests that may already have been applied is written only
// once their responses are out. An append that may have been applied is
// answered 200 or its connection is closed without a reply (the client sees
// "unknown"); it is never answered 4xx.

import { STATUS_CODES, type IncomingMessage, type Server, type ServerOptions, type ServerResponse } from "node:http";
import type { Socket } from "node:net";
import type { Logger } from "pino";

/** Limits of the edge; see serverOptions() for where Node applies them. */
export const EDGE_LIMITS = {
  /** A request line and headers arrive within this (slowloris, and idle new connections). */
  headersTimeoutMs: 5_000,
  /** A whole request (at most 16 KiB of headers and a 1 KiB body) arrives within this; answering it may take longer. */
  requestTimeoutMs: 5_000,
  /** How often Node looks for connections past those timeouts (its default, 30 s, lets them linger). */
  connectionsCheckingIntervalMs: 1_000,
  /** An idle keep-alive connection is closed after this (Fastify's default is 72 s). */
  keepAliveTimeoutMs: 10_000,
  /** Request line plus header fields (Node's default). */
  maxHeaderBytes: 16 * 1024,
  /** A request-target longer than any of ours by far (RFC 9112 §3: 414 beyond what we parse). */
  maxTargetBytes: 8 * 1024,
  /**
   * Requests pipelined on one connection and not yet answered. Node parses a
   * whole read (64 KiB: 2,000 small GETs) at once; without a bound, a client
   * that never reads makes the node hold a full-list reply for each.
   */
  maxPipelined: 32,
  /** A connection with no traffic either way for this long is dropped (a client that stopped reading); at least the request deadline plus 10 s. */
  minIdleSocketTimeoutMs: 20_000,
  /** After an error reply, how long we keep reading (and dropping) before closing for good. */
  lingerMs: 2_000,
  /** A TLS handshake that does not finish in this time is dropped (Node's default is 120 s). */
  tlsHandshakeTimeoutMs: 10_000,
} as const;

/** Options for http.createServer / https.createServer. */
export function serverOptions(): ServerOptions {
  return {
    headersTimeout: EDGE_LIMITS.headersTimeoutMs,
    requestTimeout: EDGE_LIMITS.requestTimeoutMs,
    connectionsCheckingInterval: EDGE_LIMITS.connectionsCheckingIntervalMs,
    keepAliveTimeout: EDGE_LIMITS.keepAliveTimeoutMs,
    maxHeaderSize: EDGE_LIMITS.maxHeaderBytes,
    // Node's own refusal has an empty body; requestProblem() answers in JSON.
    requireHostHeader: false,
  };
}

/** A refusal: status, the JSON body's `error`, extra headers, and whether the connection closes after it. */
export interface EdgeError {
  readonly status: number;
  readonly error: string;
  readonly headers?: Readonly<Record<string, string>>;
  readonly close?: boolean;
}

export const JSON_CONTENT_TYPE = "application/json; charset=utf-8";

/** A complete HTTP/1.1 error response, for when no ServerResponse exists (clientError, CONNECT). */
export function rawErrorResponse(e: EdgeError): string {
  const body = JSON.stringify({ error: e.error });
  let head =
    `HTTP/1.1 ${e.status} ${STATUS_CODES[e.status] ?? "Error"}\r\n` +
    `Date: ${new Date().toUTCString()}\r\n` + // RFC 9110 §6.6.1: 4xx responses carry Date
    `Content-Type: ${JSON_CONTENT_TYPE}\r\n` +
    `Content-Length: ${Buffer.byteLength(body)}\r\n` +
    "Connection: close\r\n";
  for (const [k, v] of Object.entries(e.headers ?? {})) head += `${k}: ${v}\r\n`;
  return `${head}\r\n${body}`;
}

/** Client-sent text quoted in a message: bounded, and JSON-escaped by the caller. */
function quote(s: string, max = 64): string {
  return JSON.stringify(s.length > max ? `${s.slice(0, max)}...` : s);
}

type ParseError = Error & { code?: string; reason?: string; rawPacket?: unknown; bytesParsed?: number };

/**
 * True when a header-size overflow happened in the request line (a huge
 * target: 414) rather than in a header field (431). llhttp counts both
 * against one limit; the bytes parsed before the error tell which line it was in.
 */
function overflowInRequestLine(err: ParseError): boolean {
  const raw = err.rawPacket;
  if (!Buffer.isBuffer(raw) || typeof err.bytesParsed !== "number") return false;
  const seen = raw.subarray(0, Math.min(err.bytesParsed, raw.length));
  const lineStart = seen.lastIndexOf(0x0a) + 1;
  return /^[A-Z]+ [^ ]/.test(seen.subarray(lineStart, lineStart + 16).toString("latin1"));
}

/**
 * The reply to a parse error from llhttp or a request timeout (Node's
 * 'clientError'), or null for a broken connection (reset, EPIPE) that gets none.
 */
export function classifyClientError(err: ParseError): EdgeError | null {
  const code = err.code ?? "";
  const why = err.reason ?? err.message;
  switch (code) {
    case "ERR_HTTP_REQUEST_TIMEOUT":
      // RFC 9110 §15.5.9
      return { status: 408, error: `request not received in full within ${EDGE_LIMITS.requestTimeoutMs / 1000} s` };
    case "HPE_HEADER_OVERFLOW":
      return overflowInRequestLine(err)
        ? { status: 414, error: `request-target longer than ${EDGE_LIMITS.maxTargetBytes} bytes` } // RFC 9112 §3
        : { status: 431, error: `request line and header fields larger than ${EDGE_LIMITS.maxHeaderBytes} bytes` }; // RFC 6585 §5
    case "HPE_PAUSED_H2_UPGRADE":
      return { status: 400, error: "HTTP/2 (prior knowledge) is not served on this port: it speaks HTTP/1.1" };
    case "HPE_INVALID_METHOD":
      // RFC 9110 §9.1: methods are case-sensitive tokens; llhttp knows the registered ones.
      return { status: 400, error: "invalid or unknown method in the request line" };
    case "HPE_INVALID_CONSTANT":
    case "HPE_INVALID_VERSION":
      return { status: 400, error: `malformed request line or unsupported HTTP version (${why}); this port speaks HTTP/1.1` };
    case "HPE_INVALID_URL":
      return { status: 400, error: `invalid request-target (${why})` }; // RFC 9112 §3.2
    case "HPE_UNEXPECTED_CONTENT_LENGTH":
    case "HPE_INVALID_CONTENT_LENGTH":
    case "HPE_INVALID_TRANSFER_ENCODING":
    case "HPE_INVALID_CHUNK_SIZE":
    case "HPE_CHUNK_EXTENSIONS_OVERFLOW":
      // RFC 9112 §6.3: a message whose length cannot be determined reliably is a 400, and the connection closes.
      return { status: 400, error: `message framing: ${why}` };
    case "HPE_INVALID_EOF_STATE":
      return { status: 400, error: "connection closed in the middle of a request" };
    default:
      // Header syntax (RFC 9110 §5.5, RFC 9112 §5: bad tokens, NUL and control bytes, obs-fold, bare LF or CR) and the rest of llhttp.
      if (code.startsWith("HPE_")) return { status: 400, error: `malformed request: ${why}` };
      return null;
  }
}

/** RFC 3986 §3.2.2-3.2.3 `uri-host [ ":" port ]`, as RFC 9110 §7.2 defines Host (an empty value is valid). */
const HOST_VALUE =
  /^(?:\[[0-9A-Fa-f:.]+\]|\[v[0-9A-Fa-f]+\.[A-Za-z0-9\-._~!$&'()*+,;=:]+\]|(?:[A-Za-z0-9\-._~!$&'()*+,;=]|%[0-9A-Fa-f]{2})*)(?::[0-9]*)?$/;
const BAD_PERCENT = /%(?![0-9A-Fa-f]{2})/;

/** RFC 9112 §3.2: exactly one valid Host in HTTP/1.1; at most one, valid, in HTTP/1.0. */
function hostProblem(req: IncomingMessage): EdgeError | null {
  const raw = req.rawHeaders;
  let count = 0;
  let value = "";
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]!;
    if (name.length === 4 && name.toLowerCase() === "host") {
      count++;
      value = raw[i + 1]!;
    }
  }
  if (count > 1) return { status: 400, error: `${count} Host header fields; a request carries exactly one (RFC 9112 §3.2)`, close: true };
  if (count === 0) {
    if (req.httpVersionMinor === 0) return null; // HTTP/1.0 may omit Host
    return { status: 400, error: "missing Host header field, required in HTTP/1.1 (RFC 9112 §3.2)", close: true };
  }
  if (!HOST_VALUE.test(value)) return { status: 400, error: `invalid Host header field ${quote(value)} (RFC 9112 §3.2)`, close: true };
  return null;
}

/**
 * Origin-form of an absolute-form target (RFC 9112 §3.2.2: a server MUST
 * accept `POST http://host/path HTTP/1.1`, and then ignores Host), for
 * Fastify's rewriteUrl. Any other target is returned as it is, and
 * requestProblem() refuses it.
 */
export function rewriteTarget(req: IncomingMessage): string {
  const url = req.url ?? "/";
  if (url.charCodeAt(0) === 0x2f /* "/" */) return url;
  const m = /^https?:\/\/([^/?#]*)([/?][^#]*)?$/i.exec(url);
  if (m === null) return url;
  const authority = m[1]!;
  // RFC 9110 §4.2.4: userinfo in an http(s) URI is an error; the host must be well-formed and not empty.
  if (authority === "" || authority.includes("@") || !HOST_VALUE.test(authority)) return url;
  const rest = m[2] ?? "/";
  return rest.startsWith("?") ? `/${rest}` : rest;
}

const GET_HEAD = "GET, HEAD";
/** Path -> the methods it allows, for 405's Allow (RFC 9110 §15.5.6). */
export const ALLOWED_METHODS: ReadonlyMap<string, string> = new Map([
  ["/proposer/client-request", "POST"],
  ["/state", GET_HEAD],
  ["/status", GET_HEAD],
  ["/metrics", GET_HEAD],
  ["/members", "GET, HEAD, POST"],
  // The live page (src/ui/node-ui.ts).
  ["/cluster", GET_HEAD],
  ["/ui", GET_HEAD],
  ["/ui/", GET_HEAD],
  ["/ui/live.js", GET_HEAD],
  ["/ui/live.css", GET_HEAD],
]);

/** Paths with a member id in them -> the methods they allow. */
const ALLOWED_METHODS_BY_PATTERN: readonly (readonly [RegExp, string])[] = [
  [/^\/members\/[^/]+$/, "DELETE"],
  [/^\/members\/[^/]+\/promote$/, "POST"],
];

function allowedMethods(path: string): string | undefined {
  return ALLOWED_METHODS.get(path) ?? ALLOWED_METHODS_BY_PATTERN.find(([re]) => re.test(path))?.[1];
}

function hasContent(req: IncomingMessage): boolean {
  const cl = req.headers["content-length"];
  return req.headers["transfer-encoding"] !== undefined || (cl !== undefined && cl !== "0");
}

/**
 * Checks that the request is one this server understands, before routing
 * and before its body is read. Cheap on the common path: a few header lookups.
 */
export function requestProblem(req: IncomingMessage): EdgeError | null {
  // llhttp lets through a missing version (HTTP/0.9) and "HTTP/2.0"; this port serves HTTP/1.0 and 1.1 (RFC 9112 §2.3).
  // (505 would name it, but no refusal here is a 5xx: the request is the client's fault.)
  if (req.httpVersionMajor !== 1) {
    const v = req.httpVersionMajor === 0 ? "missing (HTTP/0.9)" : req.httpVersion;
    return { status: 400, error: `HTTP version ${v} is not served on this port: it speaks HTTP/1.1`, close: true };
  }
  const host = hostProblem(req);
  if (host !== null) return host;
  // RFC 9112 §6.1: an HTTP/1.0 message with Transfer-Encoding has faulty framing.
  if (req.httpVersionMinor === 0 && req.headers["transfer-encoding"] !== undefined) {
    return { status: 400, error: "Transfer-Encoding in an HTTP/1.0 request (RFC 9112 §6.1)", close: true };
  }
  const url = req.url ?? "";
  if (url.length > EDGE_LIMITS.maxTargetBytes) {
    return { status: 414, error: `request-target longer than ${EDGE_LIMITS.maxTargetBytes} bytes`, close: true }; // RFC 9112 §3
  }
  if (url.charCodeAt(0) !== 0x2f /* "/" */) {
    if (url === "*" && req.method === "OPTIONS") {
      return { status: 405, error: "OPTIONS is not supported", headers: { allow: "GET, HEAD, POST" } };
    }
    return { status: 400, error: `request-target ${quote(url)} is neither origin-form (/path) nor absolute-form (http://host/path) (RFC 9112 §3.2)`, close: true };
  }
  if (url.includes("%") && BAD_PERCENT.test(url)) {
    return { status: 400, error: `bad percent-encoding in request-target ${quote(url)} (RFC 3986 §2.1)` };
  }
  // RFC 9110 §7.8: a server may refuse an upgrade; this one never switches protocols (no WebSocket, no h2c).
  const upgrade = req.headers.upgrade;
  if (upgrade !== undefined) {
    return { status: 400, error: `protocol upgrade to ${quote(upgrade)} is not supported: this port speaks HTTP/1.1 only`, close: true };
  }
  return null;
}

/** 404 for an unknown path, 405 with Allow for a known path and another method. */
export function routeProblem(req: IncomingMessage): EdgeError {
  const url = req.url ?? "";
  const q = url.indexOf("?");
  const path = q < 0 ? url : url.slice(0, q);
  const allow = allowedMethods(path);
  if (allow !== undefined) {
    return { status: 405, error: `method ${req.method} not allowed on ${path}; allowed: ${allow}`, headers: { allow } };
  }
  return { status: 404, error: `no route ${req.method} ${url.length > 200 ? `${url.slice(0, 200)}...` : url}` };
}

/** Checks of a routed request's content, before its body is read. */
export function contentProblem(req: IncomingMessage): EdgeError | null {
  // RFC 9110 §8.4.1, §15.5.16: bodies are not decoded here, so a content coding is refused with the codings we accept.
  const coding = req.headers["content-encoding"];
  if (coding !== undefined && coding.trim().toLowerCase() !== "identity") {
    return { status: 415, error: `Content-Encoding ${quote(coding)} is not supported: send the JSON body unencoded`, headers: { "accept-encoding": "identity" }, close: true };
  }
  // RFC 9110 §9.3.1-9.3.2: content in a GET or HEAD has no meaning; refused rather than ignored (request smuggling).
  if ((req.method === "GET" || req.method === "HEAD") && hasContent(req)) {
    return { status: 400, error: `a ${req.method} request carries no content`, close: true };
  }
  return null;
}

/** Whether a refusal must close the connection: it says so, or the request's body is left unread. */
export function closesConnection(e: EdgeError, req: IncomingMessage): boolean {
  return e.close === true || (hasContent(req) && !req.complete);
}

interface SocketState {
  /** Responses not yet ended, in request order. */
  readonly open: Set<ServerResponse>;
  /** A parse error, timeout or CONNECT was seen: its error reply is the connection's last, and no later request is processed. */
  failed: boolean;
  /** The error reply waiting for the responses before it. */
  pending: EdgeError | null;
  /** A reply said Connection: close; requests parsed after it are not processed. */
  closing: boolean;
}

/**
 * Tracks requests per connection: answers parse errors, CONNECT and
 * unmet expectations in request order, closes the connection gracefully
 * after them, and counts the requests in progress (also those whose
 * connection went away before their turn to be answered).
 */
export class ConnectionGuard {
  private readonly sockets = new WeakMap<Socket, SocketState>();
  /** Requests still arriving when their connection failed: answered by the error, so never applied. */
  private readonly doomed = new WeakSet<IncomingMessage>();
  /** Requests whose response has not ended and whose connection is open. */
  inflight = 0;

  constructor(private readonly log: Logger) {}

  attach(server: Server): void {
    // Before the server's own request listener (the append lane, then Fastify), so every request is counted.
    server.prependListener("request", (req: IncomingMessage, res: ServerResponse) => this.track(req, res));
    // RFC 9110 §10.1.1: an expectation other than 100-continue may be refused with 417 (Node's own has no body).
    server.on("checkExpectation", (req: IncomingMessage, res: ServerResponse) => {
      if (this.isClosing(req.socket)) return; // not processed, like any request after a final reply
      this.track(req, res);
      const body = JSON.stringify({ error: `unsupported expectation ${quote(String(req.headers.expect))}: only 100-continue is understood` });
      res.writeHead(417, { "content-type": JSON_CONTENT_TYPE, "content-length": Buffer.byteLength(body) });
      res.end(body);
    });
    // Without a listener Node drops a CONNECT silently. This is an origin
    // server, not a proxy (RFC 9110 §9.3.6): refuse, after earlier responses.
    server.on("connect", (req: IncomingMessage, socket: Socket) => {
      // Node removed its own listeners when it handed the socket over.
      socket.on("error", () => socket.destroy());
      if (this.state(socket).failed) return void socket.destroy();
      this.fail(socket, { status: 400, error: `CONNECT ${quote(req.url ?? "")}: this is an origin server, not a proxy` });
    });
  }

  private state(socket: Socket): SocketState {
    let st = this.sockets.get(socket);
    if (st === undefined) {
      const created: SocketState = { open: new Set(), failed: false, pending: null, closing: false };
      st = created;
      this.sockets.set(socket, created);
      // Responses queued behind a pipelined one never emit 'close' when the
      // connection goes away: count them out here.
      socket.once("close", () => {
        this.inflight -= created.open.size;
        created.open.clear();
      });
    }
    return st;
  }

  private track(req: IncomingMessage, res: ServerResponse): void {
    const socket = req.socket;
    const st = this.state(socket);
    // Read after the connection failed (a request timeout does not stop the
    // parser): never processed (isClosing), and nothing waits for it.
    if (st.failed) return;
    if (st.open.size >= EDGE_LIMITS.maxPipelined) {
      // RFC 6585 §4. This request and the ones after it are not processed.
      this.fail(socket, { status: 429, error: `more than ${EDGE_LIMITS.maxPipelined} requests pipelined on one connection without reading the answers` });
      return;
    }
    st.open.add(res);
    this.inflight++;
    res.once("close", () => {
      if (!st.open.delete(res)) return;
      this.inflight--;
      if (st.pending !== null) this.flush(socket, st);
    });
  }

  /** Later pipelined requests on this connection are not to be processed. */
  isClosing(socket: Socket): boolean {
    return this.sockets.get(socket)?.closing === true;
  }

  markClosing(socket: Socket): void {
    this.state(socket).closing = true;
  }

  /**
   * True for a request whose connection failed (e.g. 408) before its body
   * arrived in full: the error reply answers it, so even if the rest of the
   * body comes later, it must not be applied.
   */
  isDoomed(req: IncomingMessage): boolean {
    return this.doomed.has(req);
  }

  /** Fastify's clientErrorHandler: a parse error or a request timeout on this connection. */
  onClientError(err: Error, socket: Socket): void {
    const st = this.state(socket);
    if (st.failed) return; // the parser repeats its error for every later chunk, and at EOF
    const e = classifyClientError(err as ParseError);
    if (e === null || socket.destroyed) {
      st.failed = true;
      socket.destroy();
      return;
    }
    this.log.debug({ err, status: e.status, remote: socket.remoteAddress }, "refusing a malformed or timed-out HTTP request");
    this.fail(socket, e);
  }

  private fail(socket: Socket, e: EdgeError): void {
    const st = this.state(socket);
    st.failed = true;
    st.closing = true;
    for (const res of st.open) if (!res.req.complete) this.doomed.add(res.req);
    st.pending = e;
    socket.pause(); // nothing more is parsed; stop reading until our turn to answer
    this.flush(socket, st);
  }

  /**
   * Writes the pending error reply once every request before it that was
   * received in full (and so may have been applied) has been answered, then
   * closes. A request still incomplete (its body timed out or was malformed)
   * was not applied: the error is its answer, unless it was answered already.
   */
  private flush(socket: Socket, st: SocketState): void {
    const e = st.pending;
    if (e === null) return;
    let answered = false;
    for (const res of st.open) {
      if (!res.req.complete) answered ||= res.headersSent;
      else if (!res.writableFinished) return;
    }
    st.pending = null;
    if (!answered && socket.writable) socket.write(rawErrorResponse(e));
    lingeringClose(socket);
  }
}

/**
 * Closes after a final reply: FIN first, then keep reading (and dropping)
 * what the client had already sent, for a while. Closing with unread data
 * makes the kernel send a reset, which can destroy the reply in the client's
 * buffers before it reads it (RFC 9112 §9.6).
 */
export function lingeringClose(socket: Socket): void {
  if (socket.destroyed) return;
  const timer = setTimeout(() => socket.destroy(), EDGE_LIMITS.lingerMs);
  timer.unref();
  socket.once("close", () => clearTimeout(timer));
  socket.end();
  // Once the client has closed its side too, nothing is left to read.
  if (socket.readableEnded) destroyWhenFlushed(socket);
  else socket.once("end", () => destroyWhenFlushed(socket));
  socket.resume();
}

function destroyWhenFlushed(socket: Socket): void {
  if (socket.writableFinished) socket.destroy();
  else socket.once("finish", () => socket.destroy());
}
