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

import { connectivityState, credentials, makeGenericClientConstructor, Metadata, type Client, type ClientWritableStream } from "@grpc/grpc-js";
import { PeerServiceService } from "../../gen/paxos/v1/paxos.js";
import { dialHost, type NodeAddress } from "../config/cluster-config.js";

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
 * PeerService's client, but taking requests already encoded: the link
 * encodes each DeliverRequest once, and so knows exactly how many bytes it sends.
 */
const PreEncodedPeerClient = makeGenericClientConstructor(
  { stream: { ...PeerServiceService.stream, requestSerialize: (bytes: Uint8Array) => Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength) } },
  "paxos.v1.PeerService",
);

type StreamClient = Client & {
  stream(metadata: Metadata, callback: (error: Error | null) => void): ClientWritableStream<Uint8Array>;
};

export class PeerLink {
  private client: StreamClient;
  private stream: ClientWritableStream<Uint8Array> | null = null;
  private notReadySince: number | null = null;
  dropped = 0;
  sent = 0;
  failed = 0;
  bytesSent = 0;

  constructor(
    readonly peer: NodeAddress,
    private readonly opts: PeerLinkOptions = DEFAULT_PEER_LINK_OPTIONS,
    private readonly onError: (peer: NodeAddress, err: Error) => void = () => {},
  ) {
    this.client = this.dial();
  }

  private dial(): StreamClient {
    // Cast: makeGenericClientConstructor returns an untyped client; its stream method is the one declared above.
    return new PreEncodedPeerClient(`${dialHost(this.peer.host)}:${this.peer.grpcPort}`, credentials.createInsecure(), CHANNEL_OPTIONS) as unknown as StreamClient;
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

  private open(): ClientWritableStream<Uint8Array> {
    const stream = this.client.stream(new Metadata(), (err) => {
      // The stream ended (the peer restarted, the connection died, or we closed it): the next batch opens another.
      if (this.stream === stream) this.stream = null;
      if (err !== null) {
        this.failed++;
        this.onError(this.peer, err);
      }
    });
    stream.on("error", () => {}); // reported through the callback above
    this.stream = stream;
    return stream;
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
    this.notReadySince = null;
    this.stream?.cancel();
    this.stream = null;
    const old = this.client;
    this.client = this.dial();
    old.close();
  }

  close(): void {
    this.stream?.cancel();
    this.stream = null;
    this.client.close();
  }
}
