// The sending side of the peer protocol: one gRPC channel and one
// long-lived client stream (PeerService.Stream) per peer, carrying every
// batch in order, so a batch costs no HTTP/2 stream setup or headers.
//
// grpc-js can hang on a partitioned link (half-open TCP, SYNs dropped with no
// RST; grpc-node #924, #2785), so: channels send keepalive pings (a dead
// connection ends the stream within ~3 s, and the next batch opens a new
// one); a channel that stays out of READY for `reconnectAfterMs` while there
// is something to send is torn down and dialled afresh (a private
// subchannel pool makes the new channel really reconnect); and nothing ever
// waits on the network: the protocol tolerates lost messages, so a link
// whose stream has `maxBufferedBytes` unsent drops instead of queueing.
//
// Every call carries this cluster's id; with mutual TLS the link presents
// this node's certificate and accepts only a peer whose certificate, signed
// by the cluster CA, names the peer's host as the config writes it. A link
// reports trouble once per kind of error, not once per retry, and says when
// the peer took a stream again.

import {
  connectivityState,
  credentials,
  makeGenericClientConstructor,
  Metadata,
  status,
  type ChannelCredentials,
  type Client,
  type ClientWritableStream,
  type ServiceError,
} from "@grpc/grpc-js";
import { isIP } from "node:net";
import {
  Membership as MembershipPb,
  PeerServiceService,
  ProposeChangeReply,
  ProposeChangeRequest,
  ReadIndexReply,
  ReadIndexRequest,
} from "../../gen/paxos/v1/paxos.js";
import { changeToPb, membershipFromPb } from "../codec/wire.js";
import type { Membership, MembershipChange } from "../core/membership.js";
import { dialHost, type NodeAddress } from "../config/cluster-config.js";
import type { TlsMaterial } from "../tls/tls-material.js";
import { CLUSTER_ID_KEY } from "./call-guard.js";
import { FROM_ADDRESS_KEY, FROM_NODE_KEY, MEMBERSHIP_TRAILER, REFUSAL_TRAILER, type ChangeAnswer, type PeerSecurity } from "./peer-server.js";

/** A peer stream counts as up once it has lived this long (a stream refused right after it opened is not up). */
const UP_AFTER_MS = 1000;

/** The leader did not give a read index; `overloaded` when its queue is full (then trying again only adds load). */
export class ReadIndexRefused extends Error {
  constructor(
    message: string,
    readonly overloaded: boolean,
  ) {
    super(message);
  }
}

export interface PeerLinkOptions {
  /** Redial when the channel has not been READY for this long while there is something to send. */
  readonly reconnectAfterMs: number;
  /** Unsent bytes on the stream beyond which new batches are dropped. */
  readonly maxBufferedBytes: number;
}

export const DEFAULT_PEER_LINK_OPTIONS: PeerLinkOptions = {
  reconnectAfterMs: 2000,
  maxBufferedBytes: 8 * 1024 * 1024,
};

/** Channel options shared by every client this node opens to another node. */
export const CHANNEL_OPTIONS = {
  "grpc.keepalive_time_ms": 2000,
  "grpc.keepalive_timeout_ms": 1000,
  "grpc.keepalive_permit_without_calls": 1,
  "grpc.initial_reconnect_backoff_ms": 100,
  "grpc.max_reconnect_backoff_ms": 1000,
  "grpc.use_local_subchannel_pool": 1,
  "grpc.max_receive_message_length": 64 * 1024 * 1024,
  "grpc.max_send_message_length": 64 * 1024 * 1024,
} as const;

/**
 * PeerService's client, but its stream takes requests already encoded: the
 * link encodes each DeliverRequest once, and so knows exactly how many bytes it sends.
 */
const PreEncodedPeerClient = makeGenericClientConstructor(
  {
    stream: { ...PeerServiceService.stream, requestSerialize: (bytes: Uint8Array) => Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength) },
    readIndex: PeerServiceService.readIndex,
    proposeChange: PeerServiceService.proposeChange,
  },
  "paxos.v1.PeerService",
);

type StreamClient = Client & {
  stream(metadata: Metadata, callback: (error: ServiceError | null) => void): ClientWritableStream<Uint8Array>;
  readIndex(req: ReadIndexRequest, metadata: Metadata, options: { deadline: number }, callback: (error: ServiceError | null, reply?: ReadIndexReply) => void): void;
  proposeChange(
    req: ProposeChangeRequest,
    metadata: Metadata,
    options: { deadline: number },
    callback: (error: ServiceError | null, reply?: ProposeChangeReply) => void,
  ): void;
};

/** The node a link speaks for: its id and its membership address (host:httpPort:grpcPort:peerPort). */
export interface LinkSelf {
  readonly id: number;
  readonly address: string;
}

/** What a link tells its node about (the node logs it). */
export type LinkEvent =
  | { readonly kind: "up" }
  /** A kind of failure seen for the first time since the link was last up. */
  | { readonly kind: "refused" | "unreachable"; readonly error: string }
  /** The peer applied this node's removal; its membership says so. */
  | { readonly kind: "removed"; readonly membership: Membership };

/** Mutual TLS for one peer: this node's certificate, and the peer's checked against the CA and its config host. */
export function peerCredentials(peer: NodeAddress, tls: TlsMaterial | null): { creds: ChannelCredentials; options: Record<string, string> } {
  if (tls === null) return { creds: credentials.createInsecure(), options: {} };
  const creds = credentials.createSsl(tls.ca, tls.key, tls.cert);
  // The certificate must name the host as the config writes it ("localhost" even though we dial 127.0.0.1).
  // An IP needs no override: it is what we dial, and TLS must not send an IP as the server name (RFC 6066).
  return { creds, options: isIP(peer.host) === 0 ? { "grpc.ssl_target_name_override": peer.host } : {} };
}

export class PeerLink {
  private client: StreamClient;
  private stream: ClientWritableStream<Uint8Array> | null = null;
  private notReadySince: number | null = null;
  /** Failures reported since the link was last up, so that a retry failing the same way is not reported again (bounded). */
  private readonly reported = new Set<string>();
  /** False until a stream has lived UP_AFTER_MS, and after any failure: the next such stream is reported. */
  private up = false;
  private upTimer: NodeJS.Timeout | null = null;
  private security: PeerSecurity;
  dropped = 0;
  sent = 0;
  failed = 0;
  bytesSent = 0;

  constructor(
    /** This node, which its calls name. */
    private readonly self: LinkSelf,
    readonly peer: NodeAddress,
    security: PeerSecurity,
    private readonly opts: PeerLinkOptions = DEFAULT_PEER_LINK_OPTIONS,
    private readonly onEvent: (peer: NodeAddress, event: LinkEvent) => void = () => {},
  ) {
    this.security = security;
    this.client = this.dial();
  }

  private dial(): StreamClient {
    const { creds, options } = peerCredentials(this.peer, this.security.tls);
    // Cast: makeGenericClientConstructor returns an untyped client; its methods are the ones declared above.
    return new PreEncodedPeerClient(`${dialHost(this.peer.host)}:${this.peer.peerPort}`, creds, { ...CHANNEL_OPTIONS, ...options }) as unknown as StreamClient;
  }

  private metadata(): Metadata {
    const md = new Metadata();
    md.set(CLUSTER_ID_KEY, this.security.clusterId);
    md.set(FROM_NODE_KEY, String(this.self.id));
    md.set(FROM_ADDRESS_KEY, this.self.address);
    return md;
  }

  /** New certificates (SIGHUP): the next connection presents them; the current one is replaced now. */
  reload(security: PeerSecurity): void {
    this.security = security;
    this.redial();
  }

  /** Bytes written to the stream that have not left the process yet. */
  get bufferedBytes(): number {
    return this.stream?.writableLength ?? 0;
  }

  /** Sends an encoded DeliverRequest (see encodeDelivery) of `count` messages if the link can take it now; never waits. */
  send(bytes: Uint8Array, count: number): void {
    this.maybeRedial();
    const stream = this.stream ?? this.open();
    if (stream.writableLength > this.opts.maxBufferedBytes) {
      this.dropped += count;
      return;
    }
    this.bytesSent += bytes.length;
    this.sent += count;
    stream.write(bytes);
  }

  /**
   * Asks the peer (the leader) for its read index: the list's length at a
   * point where it confirmed that it leads. Rejects when it does not lead,
   * is unreachable, or the deadline passes.
   */
  readIndex(deadline: number): Promise<number> {
    this.maybeRedial();
    return new Promise((resolve, reject) => {
      this.client.readIndex({ from: this.self.id, to: this.peer.id }, this.metadata(), { deadline }, (err, reply) => {
        if (err === null && reply !== undefined) return resolve(reply.length);
        if (err === null) return reject(new ReadIndexRefused("empty reply", false));
        const expected = [status.FAILED_PRECONDITION, status.RESOURCE_EXHAUSTED, status.DEADLINE_EXCEEDED];
        if (!expected.includes(err.code)) this.report(err); // a refusal of this node, or the peer unreachable
        reject(new ReadIndexRefused(err.details || err.message, err.code === status.RESOURCE_EXHAUSTED));
      });
    });
  }

  /**
   * Hands a membership change to the peer, the leader; resolves once it is
   * chosen and applied there, or with the peer's refusal ("not_leader" when
   * it does not lead). Rejects when the peer cannot be reached in time.
   */
  proposeChange(change: MembershipChange, deadline: number): Promise<ChangeAnswer> {
    this.maybeRedial();
    return new Promise((resolve, reject) => {
      this.client.proposeChange({ from: this.self.id, to: this.peer.id, change: changeToPb(change) }, this.metadata(), { deadline }, (err, reply) => {
        if (err === null) {
          try {
            return resolve({ kind: "changed", membership: membershipFromPb(reply?.membership) });
          } catch (e) {
            return reject(e as Error);
          }
        }
        const refusal = err.metadata?.get(REFUSAL_TRAILER)[0];
        if (err.code === status.FAILED_PRECONDITION && typeof refusal === "string") return resolve({ kind: "refused", refusal, message: err.details });
        this.report(err);
        reject(new Error(err.details || err.message));
      });
    });
  }

  private open(): ClientWritableStream<Uint8Array> {
    const stream = this.client.stream(this.metadata(), (err) => {
      // The stream ended (the peer restarted, the connection died, or we closed it): the next batch opens another.
      if (this.stream === stream) this.stream = null;
      if (err !== null && err.code !== status.CANCELLED) {
        this.failed++;
        this.report(err);
      }
    });
    // The peer sends headers once it has checked this node and taken the stream; a stream that then
    // lives a moment is up (again). One ended by its first batch (a version mismatch) is not.
    stream.on("metadata", () => {
      if (this.up || this.upTimer !== null) return;
      this.upTimer = setTimeout(() => {
        this.upTimer = null;
        if (this.stream !== stream) return;
        this.up = true;
        this.reported.clear();
        this.onEvent(this.peer, { kind: "up" });
      }, UP_AFTER_MS);
      this.upTimer.unref();
    });
    stream.on("error", () => {}); // reported through the callback above
    this.stream = stream;
    return stream;
  }

  /** Reports a failure unless the last report was the same failure. */
  private report(err: ServiceError): void {
    const membership = err.metadata?.get(MEMBERSHIP_TRAILER)[0];
    if (err.code === status.FAILED_PRECONDITION && membership instanceof Buffer) {
      try {
        this.onEvent(this.peer, { kind: "removed", membership: membershipFromPb(MembershipPb.decode(membership)) });
      } catch {
        /* a malformed trailer: reported as the refusal it came with */
      }
    }
    const refused = err.code === status.UNAUTHENTICATED || err.code === status.PERMISSION_DENIED || err.code === status.FAILED_PRECONDITION;
    // grpc-js puts a timestamp into "No connection established" details: compare without it.
    const details = err.details.replace(/\s*\(\d{4}-\d\d-\d\dT[^)]*\)/g, "").replace(/\s*Resolution note:\s*$/, "");
    const error = `${status[err.code] ?? err.code}: ${details}`.trim();
    this.up = false;
    if (this.upTimer !== null) clearTimeout(this.upTimer);
    this.upTimer = null;
    if (this.reported.has(error) || this.reported.size >= 16) return;
    this.reported.add(error);
    this.onEvent(this.peer, { kind: refused ? "refused" : "unreachable", error });
  }

  /** A channel stuck outside READY (e.g. CONNECTING through a black hole) is replaced by a fresh one. */
  private maybeRedial(): void {
    const state = this.client.getChannel().getConnectivityState(false);
    const now = Date.now();
    if (state === connectivityState.READY || state === connectivityState.IDLE) {
      this.notReadySince = null;
      return;
    }
    this.notReadySince ??= now;
    if (now - this.notReadySince < this.opts.reconnectAfterMs) return;
    this.redial();
  }

  private redial(): void {
    this.notReadySince = null;
    this.stream?.cancel();
    this.stream = null;
    const old = this.client;
    this.client = this.dial();
    old.close();
  }

  close(): void {
    if (this.upTimer !== null) clearTimeout(this.upTimer);
    this.stream?.cancel();
    this.stream = null;
    this.client.close();
  }
}
