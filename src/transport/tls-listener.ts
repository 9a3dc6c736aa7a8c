// A TLS listener in front of a grpc-js server. grpc-js can terminate TLS
// itself, but then a refused handshake is invisible: Node destroys a socket
// whose client certificate does not verify without an alert or an event,
// so neither side can say why. Here the node owns the TLS server
// (node:tls), logs every kind of refusal (once per reason and address, not
// once per retry), and hands each completed handshake to grpc-js through a
// connection injector. A connection whose client certificate did not verify
// goes to a second grpc-js server, which has the same services but closes
// every connection after REFUSED_CONNECTION_GRACE_MS: meanwhile each call is
// refused by the interceptor (see RefusedConnections) with the reason, so
// the refused node can log that reason too; nothing it sends is delivered.
//
// Once grpc-js has a connection, only grpc-js can close it (destroying the
// TLS socket under an HTTP/2 session does nothing), so connections end by
// its means: the refused server's connection age, drain() on reload (a new
// CA: everyone reconnects and is checked again), and a maximum connection
// age on the main server, so that a certificate that expires while its
// connection is open is checked again within CONNECTION_MAX_AGE_MS (new
// calls on it are refused at once by the call guard).

import type { Server } from "@grpc/grpc-js";
import { ServerCredentials } from "@grpc/grpc-js";
import { createServer, type Server as TlsServer, type TLSSocket } from "node:tls";
import type { Logger } from "pino";
import { OnceLog } from "./once-log.js";
import type { TlsMaterial } from "../tls/tls-material.js";

export interface TlsListenerOptions {
  readonly grpc: Server;
  /** Takes connections whose client certificate did not verify (see the header). */
  readonly refusedGrpc: Server;
  /** Where refusals are recorded for the call guard (see call-guard.ts). */
  readonly refused: RefusedConnections;
  readonly host: string;
  readonly port: number;
  readonly material: TlsMaterial;
  /** Ask clients for a certificate; calls without a valid one are refused by the interceptor. */
  readonly requestClientCert: boolean;
  readonly logger: Logger;
  /** Names the listener in logs, e.g. "peer" or "client gRPC". */
  readonly what: string;
}

/** Why each live connection without a valid client certificate was refused, by "address:port". */
export class RefusedConnections {
  private readonly reasons = new Map<string, string>();
  set(peer: string, reason: string): void {
    this.reasons.set(peer, reason);
  }
  delete(peer: string): void {
    this.reasons.delete(peer);
  }
  /** The refusal reason for a call's peer (grpc-js's getPeer(): "address:port"), if any. */
  reasonFor(peer: string): string | undefined {
    return this.reasons.get(peer);
  }
}

/** Turns OpenSSL's verification codes into words an operator can act on. */
export function explainVerifyError(code: string | Error | null | undefined): string {
  const c = code instanceof Error ? ((code as { code?: string }).code ?? code.message) : (code ?? "");
  switch (c) {
    case "UNABLE_TO_VERIFY_LEAF_SIGNATURE":
    case "UNABLE_TO_GET_ISSUER_CERT":
    case "UNABLE_TO_GET_ISSUER_CERT_LOCALLY":
    case "SELF_SIGNED_CERT_IN_CHAIN":
    case "DEPTH_ZERO_SELF_SIGNED_CERT":
    case "CERT_SIGNATURE_FAILURE":
      return `certificate not signed by this cluster's CA (${c})`;
    case "CERT_HAS_EXPIRED":
      return "certificate expired (CERT_HAS_EXPIRED)";
    case "CERT_NOT_YET_VALID":
      return "certificate not valid yet (CERT_NOT_YET_VALID)";
    case "":
      return "no certificate";
    default:
      return `certificate refused (${c})`;
  }
}

/** Longest a TLS handshake may take (Node's default is 120 s). */
export const TLS_HANDSHAKE_TIMEOUT_MS = 10_000;
/** Most connections one TLS port holds at once; beyond it new ones are dropped. */
export const MAX_TLS_CONNECTIONS = 1024;
/** How long a connection without a valid client certificate is kept, so its calls can be told why they are refused. */
export const REFUSED_CONNECTION_GRACE_MS = 2_000;
/** Connections are recycled this often (each reconnect is a new handshake: certificates are checked again). */
export const CONNECTION_MAX_AGE_MS = 60 * 60_000;

/** grpc-js options that make connections end by themselves (see the header). */
export const CONNECTION_AGE_OPTIONS = {
  main: { "grpc.max_connection_age_ms": CONNECTION_MAX_AGE_MS, "grpc.max_connection_age_grace_ms": 10_000 },
  refused: { "grpc.max_connection_age_ms": REFUSED_CONNECTION_GRACE_MS, "grpc.max_connection_age_grace_ms": 100 },
} as const;

/**
 * Calls `fn` once `at` (ms since the epoch) has passed; returns a cancel
 * function. setTimeout takes at most 2^31-1 ms (24.8 days), so far
 * deadlines are reached in steps.
 */
export function whenPassed(at: number, fn: () => void): () => void {
  let timer: NodeJS.Timeout;
  const arm = () => {
    const left = at - Date.now();
    if (left <= 0) return fn();
    timer = setTimeout(arm, Math.min(left, 2 ** 31 - 1));
    timer.unref();
  };
  arm();
  return () => clearTimeout(timer);
}

/**
 * Closes an authenticated connection when the client certificate it was
 * opened with expires: TLS checks validity only at the handshake, and a
 * peer's connection may stay open for weeks. Returns a cancel function.
 */
export function closeWhenCertificateExpires(socket: TLSSocket, onExpired: () => void): () => void {
  const notAfter = Date.parse(socket.getPeerCertificate().valid_to ?? "");
  if (!Number.isFinite(notAfter)) return () => {};
  return whenPassed(notAfter, () => {
    onExpired();
    socket.destroy();
  });
}

export class TlsListener {
  private readonly refused: RefusedConnections;
  private readonly server: TlsServer;
  private readonly onceLog: OnceLog;
  private readonly injector: ReturnType<Server["createConnectionInjector"]>;
  private readonly refusedInjector: ReturnType<Server["createConnectionInjector"]>;

  constructor(private readonly opts: TlsListenerOptions) {
    this.onceLog = new OnceLog(opts.logger);
    this.refused = opts.refused;
    this.injector = opts.grpc.createConnectionInjector(ServerCredentials.createInsecure());
    this.refusedInjector = opts.refusedGrpc.createConnectionInjector(ServerCredentials.createInsecure());
    this.server = createServer(
      {
        ...this.contextOptions(opts.material),
        requestCert: opts.requestClientCert,
        // Verified below, so that a refusal can be logged and explained (Node would drop it silently).
        rejectUnauthorized: false,
        ALPNProtocols: ["h2"],
        minVersion: "TLSv1.2",
        handshakeTimeout: TLS_HANDSHAKE_TIMEOUT_MS,
      },
      (socket: TLSSocket) => {
        socket.on("error", () => {}); // a reset mid-stream is grpc-js's to report, per call
        if (opts.requestClientCert && !socket.authorized) {
          const peer = `${socket.remoteAddress}:${socket.remotePort}`;
          const hasCert = Object.keys(socket.getPeerCertificate()).length > 0;
          const reason = explainVerifyError(hasCert ? socket.authorizationError : "");
          this.refused.set(peer, reason);
          socket.once("close", () => this.refused.delete(peer));
          this.onceLog.warn(`${reason}|${socket.remoteAddress}`, { remote: socket.remoteAddress, reason }, `refusing ${opts.what} connection: ${reason}`);
          this.refusedInjector.injectConnection(socket);
          return;
        }
        this.injector.injectConnection(socket);
      },
    );
    this.server.maxConnections = MAX_TLS_CONNECTIONS;
    this.server.on("tlsClientError", (err: Error & { code?: string }, socket: TLSSocket) => {
      socket.destroy(); // with a listener for this event, Node leaves the socket open
      const reason = /wrong version number|http request|packet length too long/i.test(err.message)
        ? "not a TLS connection (is the other side configured without TLS?)"
        : err.code === "ECONNRESET"
          ? "the client hung up during the handshake (does it trust this node's CA?)"
          : err.code === "ERR_TLS_HANDSHAKE_TIMEOUT"
            ? `no TLS handshake within ${TLS_HANDSHAKE_TIMEOUT_MS / 1000} s`
            : `TLS handshake failed: ${err.code ?? err.message}`;
      this.onceLog.warn(`${reason}|${socket.remoteAddress}`, { remote: socket.remoteAddress, reason }, `refusing ${opts.what} connection: ${reason}`);
    });
  }

  start(): Promise<number> {
    return new Promise((resolve, reject) => {
      this.server.once("error", (e) => reject(new Error(`cannot listen for ${this.opts.what} on ${this.opts.host}:${this.opts.port}: ${e.message}`)));
      this.server.listen(this.opts.port, this.opts.host, () => {
        const addr = this.server.address();
        resolve(typeof addr === "object" && addr !== null ? addr.port : this.opts.port);
      });
    });
  }

  /**
   * New connections use the new certificate and CA. Open ones were
   * authenticated under the old CA, so they are drained: honest peers and
   * clients reconnect and are checked again (an evicted node is not).
   */
  reload(material: TlsMaterial): void {
    this.server.setSecureContext(this.contextOptions(material));
    this.injector.drain(1000);
  }

  /** Stops accepting and closes every connection (peers keep theirs open with keepalives, so waiting would never end). */
  close(): void {
    this.server.close();
    this.injector.destroy();
    this.refusedInjector.destroy();
  }

  private contextOptions(m: TlsMaterial) {
    return { cert: m.cert, key: m.key, ...(m.ca === null ? {} : { ca: m.ca }) };
  }
}
