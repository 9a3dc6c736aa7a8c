// The gate every call passes before any handler of ours runs: a grpc-js
// server interceptor that refuses a call from a connection without a valid
// client certificate (when one is required) and, on the peer port, a call
// that does not carry this cluster's id. A refused call is answered with a
// status that says why, so the refused side can log the reason; nothing it
// sent reaches the node.

import { Metadata, ServerInterceptingCall, status, type ServerInterceptingCallInterface, type ServerInterceptor, type StatusObject } from "@grpc/grpc-js";
import type { OnceLog } from "./once-log.js";
import type { RefusedConnections } from "./tls-listener.js";

/** gRPC metadata naming the sender's cluster on every peer call. */
export const CLUSTER_ID_KEY = "x-paxos-cluster";

export interface CallGuardOptions {
  /** Refuse calls whose connection has no verified client certificate. */
  readonly requireClientCert: boolean;
  /** Why connections were refused at the TLS layer (set when requireClientCert). */
  readonly refused: RefusedConnections | null;
  /** When set, a call must carry this cluster id. */
  readonly clusterId: string | null;
  /** Methods (full paths) that need no cluster id: a joining node's Join, which asks for it. */
  readonly withoutClusterId?: readonly string[];
  /** This node, for the messages the refused side sees. */
  readonly selfName: string;
  readonly onceLog: OnceLog;
}

export function callGuard(o: CallGuardOptions): ServerInterceptor {
  const problemOf = (path: string, call: ServerInterceptingCallInterface, md: Metadata): Partial<StatusObject> | null => {
    if (o.requireClientCert) {
      const cert = call.getAuthContext().sslPeerCertificate;
      if (cert === undefined) {
        const reason = o.refused?.reasonFor(call.getPeer()) ?? "no verified client certificate";
        return { code: status.UNAUTHENTICATED, details: `${o.selfName} refuses this connection: ${reason}` };
      }
      // TLS checked validity at the handshake; the connection may have outlived the certificate since.
      if (Date.parse(cert.valid_to) < Date.now()) {
        return { code: status.UNAUTHENTICATED, details: `${o.selfName} refuses this connection: certificate expired at ${new Date(cert.valid_to).toISOString()}` };
      }
    }
    if (o.clusterId !== null && !(o.withoutClusterId ?? []).includes(path)) {
      const theirs = md.get(CLUSTER_ID_KEY)[0];
      if (theirs !== o.clusterId) {
        const said = typeof theirs === "string" ? `cluster ${theirs}` : "no cluster id";
        const remote = call.getPeer().replace(/:\d+$/, "");
        // Keyed by address only: the id is the sender's to choose, and each new one would log again.
        o.onceLog.warn(`cluster|${remote}`, { remote, theirCluster: theirs ?? null, cluster: o.clusterId }, `refusing peer traffic from ${said} (this is cluster ${o.clusterId})`);
        return { code: status.PERMISSION_DENIED, details: `${o.selfName} belongs to cluster ${o.clusterId}, and this call carries ${said}` };
      }
    }
    return null;
  };
  return (method, call) =>
    new ServerInterceptingCall(call, {
      start: (next) =>
        next({
          onReceiveMetadata: (md, mdNext) => {
            const problem = problemOf(method.path, call, md);
            if (problem === null) mdNext(md);
            else call.sendStatus({ code: problem.code ?? status.UNKNOWN, details: problem.details ?? "", metadata: new Metadata() });
          },
        }),
    });
}
