// The peer port: PeerService, which only the other nodes of this cluster
// may use. Every call passes the call guard first (a client certificate from
// the cluster's CA when peers use mutual TLS, and this cluster's id in the
// metadata); then the sender a batch names must be a member whose host, as
// its membership address writes it, the certificate names. Only then do its
// messages reach the protocol core.
//
// Who may send follows the membership this node knows (membership.ts):
// - a member: yes, with the host check above;
// - an id below the membership's nextId that is no member: a removed node.
//   It is refused with FAILED_PRECONDITION and the membership, in binary, in
//   the MEMBERSHIP_TRAILER, so it learns it was removed and stops (etcd
//   answers a removed member 410 Gone the same way);
// - an id at or above nextId: a node added by a change this node has not
//   applied yet (it lags). It must still hear that node, a leader perhaps,
//   to catch up: it is taken, with the host check against the address the
//   call names in FROM_ADDRESS_KEY, which is also where replies go.

import { Metadata, status, type ServerUnaryCall, type ServiceError } from "@grpc/grpc-js";
import { checkServerIdentity, type PeerCertificate } from "node:tls";
import type { Logger } from "pino";
import { PeerServiceService, type DeliverRequest, type PeerServiceServer } from "../../gen/paxos/v1/paxos.js";
import { messageFromPb, WireError } from "../codec/wire.js";
import { ConfigError, memberNodeAddress, type NodeAddress } from "../config/cluster-config.js";
import { findMember, isAddress, type Membership, type MembershipChange } from "../core/membership.js";
import type { Message, NodeId } from "../core/types.js";
import { changeFromPb, membershipToPb } from "../codec/wire.js";
import { Membership as MembershipPb } from "../../gen/paxos/v1/paxos.js";
import { certNames, type TlsMaterial } from "../tls/tls-material.js";
import { GrpcPort } from "./grpc-port.js";

export type ReadIndexAnswer =
  | { readonly kind: "length"; readonly length: number }
  /** overloaded: the leader's queue is full (the reader should fail fast rather than try again). */
  | { readonly kind: "refused"; readonly reason: string; readonly overloaded?: boolean };

/** gRPC metadata naming the sending node on a peer stream (checked before the stream is taken). */
export const FROM_NODE_KEY = "x-paxos-from";
/** gRPC metadata: the sending node's own address, host:httpPort:grpcPort:peerPort (for nodes that do not know it yet). */
export const FROM_ADDRESS_KEY = "x-paxos-from-address";
/** Trailer of a refusal of a removed node: the receiver's membership, a binary paxos.v1.Membership. */
export const MEMBERSHIP_TRAILER = "x-paxos-membership-bin";
/** Trailer of a refused ProposeChange: the refusal's name (ChangeRefusal). */
export const REFUSAL_TRAILER = "x-paxos-refusal";

/** The answer to a membership change handed to this node. */
export type ChangeAnswer =
  | { readonly kind: "changed"; readonly membership: Membership }
  | { readonly kind: "refused"; readonly refusal: string; readonly message: string };

export interface PeerInbox {
  deliver(from: NodeId, messages: Message[]): void;
  /**
   * A follower's read index: the list's length at a point where this node
   * confirmed that it leads, or a refusal (it does not lead).
   */
  readIndex(deadline: number): Promise<ReadIndexAnswer>;
  /** The newest membership this node knows: who may send. */
  membership(): Membership;
  /** A node above this node's ids took part (see above): replies to it go to this address. */
  noteNewcomer(address: NodeAddress): void;
  /** What a joining node needs: the cluster's id, its bootstrap membership, and the newest one. */
  joinInfo(): { clusterId: string; genesis: Membership; membership: Membership };
  /** A membership change another member hands to this node, the leader (or a refusal). */
  proposeChange(change: MembershipChange, deadline: number): Promise<ChangeAnswer>;
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
      withoutClusterId: ["/paxos.v1.PeerService/Join"],
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
      join: (call, cb) => {
        if (!isAddress(call.request.address)) {
          return cb({ code: status.INVALID_ARGUMENT, details: `"${call.request.address}" is not host:httpPort:grpcPort:peerPort` });
        }
        const info = this.opts.inbox.joinInfo();
        // Logged once per address (a joining node asks every second until it is added).
        if (!info.membership.members.some((m) => m.address === call.request.address)) {
          this.onceLog.warn(`join|${call.request.address}`, { joining: call.request.address }, `node ${call.request.address} waits to join: add it with paxos members add`);
        }
        cb(null, { clusterId: info.clusterId, genesis: membershipToPb(info.genesis), membership: membershipToPb(info.membership) });
      },
      proposeChange: (call, cb) => {
        const problem = this.senderProblem(call.request.from, call) ?? this.addresseeProblem(call.request.to);
        if (problem !== null) return cb(problem);
        let change: MembershipChange;
        try {
          if (call.request.change === undefined) throw new Error("the request names no change");
          change = changeFromPb(call.request.change);
        } catch (e) {
          return cb({ code: status.INVALID_ARGUMENT, details: (e as Error).message });
        }
        void this.opts.inbox.proposeChange(change, deadlineOf(call)).then((answer) => {
          if (answer.kind === "changed") return cb(null, { membership: membershipToPb(answer.membership) });
          const trailer = new Metadata();
          trailer.set(REFUSAL_TRAILER, answer.refusal);
          cb({ code: status.FAILED_PRECONDITION, details: answer.message, metadata: trailer });
        });
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
   * The node a call says it comes from must be allowed to send (see the top
   * of this file), and with mutual TLS its certificate must name that node's
   * host as its address writes it (as a server certificate names the host a
   * client dials).
   */
  private senderProblem(
    from: number,
    call: { getAuthContext(): { sslPeerCertificate?: PeerCertificate }; getPeer(): string; metadata: Metadata },
  ): Partial<ServiceError> | null {
    const self = this.opts.self.id;
    if (!Number.isInteger(from) || from < 0 || from === self) {
      return { code: status.PERMISSION_DENIED, details: `node ${self} has no peer node ${from}` };
    }
    const m = this.opts.inbox.membership();
    const member = findMember(m, from);
    let node: NodeAddress;
    if (member !== undefined) {
      node = memberNodeAddress(from, member.address);
    } else if (from < m.nextId) {
      const trailer = new Metadata();
      trailer.set(MEMBERSHIP_TRAILER, Buffer.from(MembershipPb.encode(membershipToPb(m)).finish()));
      return { code: status.FAILED_PRECONDITION, details: `node ${from} was removed from the cluster (membership of slot ${m.slot})`, metadata: trailer };
    } else {
      const claimed = call.metadata.get(FROM_ADDRESS_KEY)[0];
      try {
        node = memberNodeAddress(from, typeof claimed === "string" ? claimed : "");
      } catch (e) {
        if (!(e instanceof ConfigError)) throw e;
        return { code: status.PERMISSION_DENIED, details: `node ${self} does not know node ${from} yet, and the call names no address for it` };
      }
    }
    if (this.opts.security.tls !== null) {
      const cert = call.getAuthContext().sslPeerCertificate;
      // A node certificate is also a server certificate; a client certificate of the same CA must not pass as a node.
      if (cert !== undefined && !(cert.ext_key_usage ?? []).includes(SERVER_AUTH_OID)) {
        const details = `node ${from} presented a certificate without serverAuth (a client certificate?), not a node certificate`;
        this.onceLog.warn(`sender-eku|${from}`, { from }, `refusing peer traffic: ${details}`);
        return { code: status.PERMISSION_DENIED, details };
      }
      if (cert === undefined || checkServerIdentity(node.host, cert) !== undefined) {
        const names = cert === undefined ? [] : certNames(cert);
        const details = `node ${from} is ${node.host} in the membership, but its certificate names ${names.join(", ") || "nothing"}`;
        this.onceLog.warn(`sender|${from}|${names.join(",")}`, { from, host: node.host, names }, `refusing peer traffic: ${details}`);
        return { code: status.PERMISSION_DENIED, details };
      }
    }
    if (member === undefined) this.opts.inbox.noteNewcomer(node);
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
