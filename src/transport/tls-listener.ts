// A TLS listener in front of a grpc-js server. grpc-js can terminate TLS
// itself, but then a refused handshake is invisible: Node destroys a socket
// whose client certificate does not verify without an alert or an event,
// so neither side can say why. Here the node owns the TLS server
// (node:tls), logs every kind of refusal (once per reason and address, not
// once per retry), and hands each completed handshake to grpc-js through a
// connection injector. A connection whose client certificate did not verify
// still reaches grpc-js, but every call on it is refused by the server's
// interceptor (see RefusedConnections) with the reason, so the refused node
// can log that reason too; nothing it sends is ever delivered.

import type { Server } from "@grpc/grpc-js";
import { ServerCredentials } from "@grpc/grpc-js";
import { createServer, type Server as TlsServer, type TLSSocket } from "node:tls";
import type { Logger } from "pino";
import { OnceLog } from "./once-log.js";
import type { TlsMaterial } from "../tls/tls-material.js";

export interface TlsListenerOptions {
  readonly grpc: Server;
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

export class TlsListener {
  private readonly refused: RefusedConnections;
  private readonly server: TlsServer;
  private readonly onceLog: OnceLog;

  constructor(private readonly opts: TlsListenerOptions) {
    this.onceLog = new OnceLog(opts.logger);
    this.refused = opts.refused;
    const injector = opts.grpc.createConnectionInjector(ServerCredentials.createInsecure());
    this.server = createServer(
      {
        ...this.contextOptions(opts.material),
        requestCert: opts.requestClientCert,
        // Verified below, so that a refusal can be logged and explained (Node would drop it silently).
        rejectUnauthorized: false,
        ALPNProtocols: ["h2"],
        minVersion: "TLSv1.2",
      },
      (socket: TLSSocket) => {
        const peer = `${socket.remoteAddress}:${socket.remotePort}`;
        if (opts.requestClientCert && !socket.authorized) {
          const hasCert = Object.keys(socket.getPeerCertificate()).length > 0;
          const reason = explainVerifyError(hasCert ? socket.authorizationError : "");
          this.refused.set(peer, reason);
          socket.once("close", () => this.refused.delete(peer));
          this.onceLog.warn(`${reason}|${socket.remoteAddress}`, { remote: socket.remoteAddress, reason }, `refusing ${opts.what} connection: ${reason}`);
        }
        socket.on("error", () => {}); // a reset mid-stream is grpc-js's to report, per call
        injector.injectConnection(socket);
      },
    );
    this.server.on("tlsClientError", (err: Error & { code?: string }, socket: TLSSocket) => {
      const reason = /wrong version number|http request|packet length too long/i.test(err.message)
        ? "not a TLS connection (is the other side configured without TLS?)"
        : err.code === "ECONNRESET"
          ? "the client hung up during the handshake (does it trust this node's CA?)"
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

  /** New connections use the new certificate and CA; established ones keep theirs until they reconnect. */
  reload(material: TlsMaterial): void {
    this.server.setSecureContext(this.contextOptions(material));
  }

  close(): Promise<void> {
    return new Promise((resolve) => this.server.close(() => resolve()));
  }

  private contextOptions(m: TlsMaterial) {
    return { cert: m.cert, key: m.key, ...(m.ca === null ? {} : { ca: m.ca }) };
  }
}
