// The peer port: PeerService, which only the other nodes of this cluster
// may use. Every call passes the call guard first (a client certificate from
// the cluster's CA when peers use mutual TLS, and this cluster's id in the
// metadata); then the sender a batch names must be a member whose host, as
// written in the config, the certificate names. Only then do its messages
// reach the protocol core.

import { Metadata, status, type ServerUnaryCall, type ServiceError } from "@grpc/grpc-js";
import { checkServerIdentity, type PeerCertificate } from "node:tls";
import type { Logger } from "pino";
import { PeerServiceService, type DeliverRequest, type PeerServiceServer } from "../../gen/paxos/v1/paxos.js";
import { messageFromPb, WireError } from "../codec/wire.js";
import type { NodeAddress } from "../config/cluster-config.js";
import type { Message, NodeId } from "../core/types.js";
import { certNames, type TlsMaterial } from "../tls/tls-material.js";
import { GrpcPort } from "./grpc-port.js";

export type ReadIndexAnswer =
  | { readonly kind: "length"; readonly length: number }
  /** overloaded: the leader's queue is full (the reader should fail fast rather than try again). */
  | { readonly kind: "refused"; readonly reason: string; readonly overloaded?: boolean };

/** gRPC metadata naming the sending node on a peer stream (checked before the stream is taken). */
export const FROM_NODE_KEY = "x-paxos-from";

export interface PeerInbox {
  deliver(from: NodeId, messages: Message[]): void;
  /**
   * A follower's read index: the list's length at a point where this node
   * confirmed that it leads, or a refusal (it does not lead).
   */
  readIndex(deadline: number): Promise<ReadIndexAnswer>;
}

/** How this node authenticates its peers. */
export interface PeerSecurity {
  readonly clusterId: string;
  /** Mutual TLS (this node's certificate and the cluster CA), or null for plaintext peers. */
  readonly tls: TlsMaterial | null;
}

export interface PeerServerOptions {
  readonly host: string;
  readonly self: NodeAddress;
  readonly nodes: readonly NodeAddress[];
  readonly inbox: PeerInbox;
  readonly security: PeerSecurity;
  readonly logger: Logger;
}

/** id-kp-serverAuth (RFC 5280 §4.2.1.12). */
const SERVER_AUTH_OID = "1.3.6.1.5.5.7.3.1";

export class PeerServer extends GrpcPort {
  constructor(private readonly opts: PeerServerOptions) {
    const { tls, clusterId } = opts.security;
    super({
      host: opts.host,
      port: opts.self.peerPort,
      what: "peer",
      tls,
      requireClientCert: tls !== null,
      clusterId,
      selfName: `node ${opts.self.id}`,
      logger: opts.logger,
      serverOptions: { "grpc.max_receive_message_length": 64 * 1024 * 1024 },
    });
    this.addService(PeerServiceService, this.handlers());
  }

  private handlers(): PeerServiceServer {
    return {
      deliver: (call, cb) => {
        const problem = this.senderProblem(call.request.from, call) ?? this.accept(call.request);
        cb(problem, problem === null ? {} : undefined);
      },
      stream: (call, cb) => {
        let ended = false;
        const fail = (problem: Partial<ServiceError>) => {
          if (ended) return;
          ended = true;
          cb(problem);
          call.destroy();
        };
        // The stream names its sender in the metadata, checked before anything is taken, so a refused
        // sender never sees the headers that tell a link its peer took the stream.
        const from = Number(call.metadata.get(FROM_NODE_KEY)[0]);
        const refused = this.senderProblem(from, call);
        if (refused !== null) return fail(refused);
        call.sendMetadata(new Metadata());
        call.on("data", (req: DeliverRequest) => {
          if (ended) return;
          if (req.from !== from) return fail({ code: status.PERMISSION_DENIED, details: `a batch from node ${req.from} on the stream of node ${from}` });
          // A bad batch ends the stream with its error; the peer opens a new one.
          const problem = this.accept(req);
          if (problem !== null) fail(problem);
        });
        call.on("end", () => {
          if (!ended) cb(null, {});
          ended = true;
        });
        call.on("error", () => {});
      },
      readIndex: (call, cb) => {
        const problem = this.senderProblem(call.request.from, call) ?? this.addresseeProblem(call.request.to);
        if (problem !== null) return cb(problem);
        void this.opts.inbox.readIndex(deadlineOf(call)).then((answer) =>
          answer.kind === "length"
            ? cb(null, { length: answer.length })
            : cb({ code: answer.overloaded ? status.RESOURCE_EXHAUSTED : status.FAILED_PRECONDITION, details: answer.reason }),
        );
      },
    };
  }

  /**
   * The node a call says it comes from must be another member, and with
   * mutual TLS its certificate must name that member's host as the config
   * writes it (as a server certificate names the host a client dials).
   */
  private senderProblem(from: number, call: { getAuthContext(): { sslPeerCertificate?: PeerCertificate } ; getPeer(): string }): Partial<ServiceError> | null {
    const self = this.opts.self.id;
    const node = this.opts.nodes[from];
    if (node === undefined || from === self) {
      return { code: status.PERMISSION_DENIED, details: `node ${self} has no peer node ${from}: check that the config files agree` };
    }
    if (this.opts.security.tls === null) return null;
    const cert = call.getAuthContext().sslPeerCertificate;
    // A node certificate is also a server certificate; a client certificate of the same CA must not pass as a node.
    if (cert !== undefined && !(cert.ext_key_usage ?? []).includes(SERVER_AUTH_OID)) {
      const details = `node ${from} presented a certificate without serverAuth (a client certificate?), not a node certificate`;
      this.onceLog.warn(`sender-eku|${from}`, { from }, `refusing peer traffic: ${details}`);
      return { code: status.PERMISSION_DENIED, details };
    }
    if (cert === undefined || checkServerIdentity(node.host, cert) !== undefined) {
      const names = cert === undefined ? [] : certNames(cert);
      const details = `node ${from} is ${node.host} in the config, but its certificate names ${names.join(", ") || "nothing"}`;
      this.onceLog.warn(`sender|${from}|${names.join(",")}`, { from, host: node.host, names }, `refusing peer traffic: ${details}`);
      return { code: status.PERMISSION_DENIED, details };
    }
    return null;
  }

  private addresseeProblem(to: number): Partial<ServiceError> | null {
    const self = this.opts.self.id;
    return to === self ? null : { code: status.FAILED_PRECONDITION, details: `this is node ${self}, not node ${to}: check the config files agree` };
  }

  /** Hands a batch of peer messages to the node; returns the error to answer with, or null. */
  private accept(req: DeliverRequest): Partial<ServiceError> | null {
    const wrongAddressee = this.addresseeProblem(req.to);
    if (wrongAddressee !== null) return wrongAddressee;
    let messages: Message[];
    try {
      messages = req.messages.map(messageFromPb);
    } catch (e) {
      return { code: status.INVALID_ARGUMENT, details: e instanceof WireError ? e.message : String(e) };
    }
    this.opts.inbox.deliver(req.from, messages);
    return null;
  }
}

function deadlineOf(call: ServerUnaryCall<unknown, unknown>): number {
  const d = call.getDeadline();
  const given = d instanceof Date ? d.getTime() : Number.isFinite(d) ? Number(d) : Infinity;
  return Math.min(given, Date.now() + 10_000);
}
