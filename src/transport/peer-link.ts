// The sending side of the peer protocol: one gRPC client per peer.
//
// grpc-js can hang on a partitioned link (half-open TCP, SYNs dropped with no
// RST): a call without a deadline may never end and a channel can sit in
// CONNECTING for minutes (grpc-node #924, #2785). So every call has a
// deadline, channels send keepalive pings, and a link that has not
// delivered anything for `reconnectAfterMs` is torn down and dialled afresh
// (a private subchannel pool makes the new channel really reconnect). The
// protocol tolerates lost messages, so a full link drops instead of queueing.

import { credentials, Metadata, status, type ServiceError } from "@grpc/grpc-js";
import { DeliverRequest, PeerServiceClient } from "../../gen/paxos/v1/paxos.js";
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

export class PeerLink {
  private client: PeerServiceClient;
  private inflight = 0;
  private lastProgress = Date.now();
  dropped = 0;
  sent = 0;
  failed = 0;

  constructor(
    readonly peer: NodeAddress,
    private readonly opts: PeerLinkOptions = DEFAULT_PEER_LINK_OPTIONS,
    private readonly onError: (peer: NodeAddress, err: ServiceError) => void = () => {},
  ) {
    this.client = this.dial();
  }

  private dial(): PeerServiceClient {
    return new PeerServiceClient(`${dialHost(this.peer.host)}:${this.peer.grpcPort}`, credentials.createInsecure(), CHANNEL_OPTIONS);
  }

  send(request: DeliverRequest): void {
    if (this.inflight >= this.opts.maxInflightCalls) {
      this.dropped += request.messages.length;
      return;
    }
    this.inflight++;
    this.client.deliver(request, new Metadata(), { deadline: Date.now() + this.opts.callTimeoutMs }, (err) => {
      this.inflight--;
      if (err === null) {
        this.sent += request.messages.length;
        this.lastProgress = Date.now();
        return;
      }
      this.failed += request.messages.length;
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
