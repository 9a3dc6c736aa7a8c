// The sending side of the peer protocol: one gRPC client per peer.
//
// grpc-js can hang on a partitioned link (half-open TCP, SYNs dropped with no
// RST): a call without a deadline may never end and a channel can sit in
// CONNECTING for minutes (grpc-node #924, #2785). So every call has a
// deadline, channels send keepalive pings, and a link that has not
// delivered anything for `reconnectAfterMs` is torn down and dialled afresh
// (a private subchannel pool makes the new channel really reconnect). The
// protocol tolerates lost messages, so a full link drops instead of queueing.

import { credentials, makeGenericClientConstructor, Metadata, status, type Client, type ServiceError } from "@grpc/grpc-js";
import { DeliverRequest, PeerServiceService } from "../../gen/paxos/v1/paxos.js";
import { dialHost, type NodeAddress } from "../config/cluster-config.js";

export interface PeerLinkOptions {
  /** Deadline of each Deliver call. */
  readonly callTimeoutMs: number;
  /** Redial when nothing was delivered for this long and calls fail. */
  readonly reconnectAfterMs: number;
  /** Most Deliver calls in flight to one peer; beyond it messages are dropped. */
  readonly maxInflightCalls: number;
}

export const DEFAULT_PEER_LINK_OPTIONS: PeerLinkOptions = {
  callTimeoutMs: 1000,
  reconnectAfterMs: 2000,
  maxInflightCalls: 256,
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
 * PeerService's client, but taking the request already encoded: the link
 * encodes each DeliverRequest once, and so knows exactly how many bytes it sends.
 */
const PreEncodedPeerClient = makeGenericClientConstructor(
  { deliver: { ...PeerServiceService.deliver, requestSerialize: (bytes: Uint8Array) => Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength) } },
  "paxos.v1.PeerService",
);

type DeliverClient = Client & {
  deliver(request: Uint8Array, metadata: Metadata, options: { deadline: number }, callback: (error: ServiceError | null) => void): void;
};

export class PeerLink {
  private client: DeliverClient;
  private inflight = 0;
  private lastProgress = Date.now();
  dropped = 0;
  sent = 0;
  failed = 0;
  bytesSent = 0;

  constructor(
    readonly peer: NodeAddress,
    private readonly opts: PeerLinkOptions = DEFAULT_PEER_LINK_OPTIONS,
    private readonly onError: (peer: NodeAddress, err: ServiceError) => void = () => {},
  ) {
    this.client = this.dial();
  }

  private dial(): DeliverClient {
    // Cast: makeGenericClientConstructor returns an untyped client; its deliver method is the one declared above.
    return new PreEncodedPeerClient(`${dialHost(this.peer.host)}:${this.peer.grpcPort}`, credentials.createInsecure(), CHANNEL_OPTIONS) as unknown as DeliverClient;
  }

  send(request: DeliverRequest): void {
    const count = request.messages.length;
    if (this.inflight >= this.opts.maxInflightCalls) {
      this.dropped += count;
      return;
    }
    const bytes = DeliverRequest.encode(request).finish();
    this.bytesSent += bytes.length;
    this.inflight++;
    this.client.deliver(bytes, new Metadata(), { deadline: Date.now() + this.opts.callTimeoutMs }, (err) => {
      this.inflight--;
      if (err === null) {
        this.sent += count;
        this.lastProgress = Date.now();
        return;
      }
      this.failed += count;
      this.onError(this.peer, err);
      if (err.code === status.DEADLINE_EXCEEDED || err.code === status.UNAVAILABLE) this.maybeRedial();
    });
  }

  private maybeRedial(): void {
    const now = Date.now();
    if (now - this.lastProgress < this.opts.reconnectAfterMs) return;
    this.lastProgress = now; // at most one redial per interval
    const old = this.client;
    this.client = this.dial();
    old.close();
  }

  close(): void {
    this.client.close();
  }
}
