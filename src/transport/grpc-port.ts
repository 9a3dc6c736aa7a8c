// One listening gRPC port of a node: a grpc-js server, plaintext or behind
// this node's own TLS listener (tls-listener.ts), with the call guard in
// front of every handler when client certificates or a cluster id are
// required (call-guard.ts). Both the peer port and the client port are one.

import { Server, ServerCredentials, type ChannelOptions, type ServiceDefinition, type UntypedServiceImplementation } from "@grpc/grpc-js";
import type { Logger } from "pino";
import type { TlsMaterial } from "../tls/tls-material.js";
import { callGuard } from "./call-guard.js";
import { OnceLog } from "./once-log.js";
import { CONNECTION_AGE_OPTIONS, RefusedConnections, TlsListener } from "./tls-listener.js";

export interface GrpcPortOptions {
  readonly host: string;
  readonly port: number;
  /** Names the port in logs and errors, e.g. "peer" or "client gRPC". */
  readonly what: string;
  /** Serve over TLS with this certificate; null: plaintext. */
  readonly tls: TlsMaterial | null;
  /** Refuse every call without a client certificate signed by tls.ca (needs tls). */
  readonly requireClientCert: boolean;
  /** Refuse every call that does not carry this cluster id; null: no check. */
  readonly clusterId: string | null;
  /** Methods (full paths) exempt from the cluster-id check. */
  readonly withoutClusterId?: readonly string[];
  /** This node, in the refusals the other side sees. */
  readonly selfName: string;
  readonly logger: Logger;
  readonly serverOptions?: ChannelOptions;
}

export class GrpcPort {
  /** The server of every accepted connection. */
  readonly server: Server;
  /** With TLS, connections whose client certificate did not verify go here (tls-listener.ts); same services. */
  private readonly refusedServer: Server | null;
  /** Logs each kind of refusal once (shared with the port's handlers). */
  readonly onceLog: OnceLog;
  private readonly tlsListener: TlsListener | null;

  constructor(private readonly o: GrpcPortOptions) {
    this.onceLog = new OnceLog(o.logger);
    const refused = o.tls === null ? null : new RefusedConnections();
    const guarded = o.requireClientCert || o.clusterId !== null;
    const make = (ageOptions: ChannelOptions) =>
      new Server({
        // Peers ping every 2 s, also when idle (peer-link.ts): allow it rather than answer too_many_pings.
        "grpc.keepalive_permit_without_calls": 1,
        // A connection with no call for a minute is closed (peer links are never idle: heartbeats every 50 ms).
        "grpc.max_connection_idle_ms": 60_000,
        ...ageOptions,
        ...o.serverOptions,
        interceptors: guarded
          ? [callGuard({ requireClientCert: o.requireClientCert, refused, clusterId: o.clusterId, withoutClusterId: o.withoutClusterId ?? [], selfName: o.selfName, onceLog: this.onceLog })]
          : [],
      });
    this.server = make(o.tls === null ? {} : CONNECTION_AGE_OPTIONS.main);
    this.refusedServer = o.tls === null ? null : make(CONNECTION_AGE_OPTIONS.refused);
    this.tlsListener =
      o.tls === null || refused === null || this.refusedServer === null
        ? null
        : new TlsListener({
            grpc: this.server,
            refusedGrpc: this.refusedServer,
            refused,
            host: o.host,
            port: o.port,
            material: o.tls,
            requestClientCert: o.requireClientCert,
            logger: o.logger,
            what: o.what,
          });
  }

  /** Registers a service on the port (on both servers: a refused connection's calls reach the guard, not a 404). */
  addService(service: ServiceDefinition, implementation: UntypedServiceImplementation): void {
    for (const server of this.servers()) server.addService(service, implementation);
  }

  /** The port's grpc-js servers, e.g. to add reflection to each. */
  servers(): Server[] {
    return this.refusedServer === null ? [this.server] : [this.server, this.refusedServer];
  }

  async start(): Promise<void> {
    if (this.tlsListener !== null) {
      await this.tlsListener.start();
      return;
    }
    const { host, port, what } = this.o;
    await new Promise<number>((resolve, reject) => {
      this.server.bindAsync(`${host}:${port}`, ServerCredentials.createInsecure(), (err, bound) =>
        err ? reject(new Error(`cannot listen for ${what} on ${host}:${port}: ${err.message}`)) : resolve(bound),
      );
    });
  }

  /** New connections use the new certificate and CA; established ones keep theirs. */
  reload(tls: TlsMaterial): void {
    this.tlsListener?.reload(tls);
  }

  async close(): Promise<void> {
    this.tlsListener?.close();
    await new Promise<void>((resolve) => {
      this.server.tryShutdown(() => resolve());
      this.refusedServer?.forceShutdown();
      setTimeout(() => {
        this.server.forceShutdown();
        resolve();
      }, 1000).unref();
    });
  }
}
