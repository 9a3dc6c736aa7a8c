// A peer link over a connection that goes silent (a partition: no FIN, no
// RST) must never block: calls end at their deadline, and once the network
// heals the link delivers again within a bounded time, by keepalive or by
// redialling. grpc-js alone can sit on such a connection for minutes.

import { Server, ServerCredentials } from "@grpc/grpc-js";
import { afterEach, describe, expect, it } from "vitest";
import { DeliverRequest, PeerServiceService } from "../../gen/paxos/v1/paxos.js";
import { messageToPb } from "../../src/codec/wire.js";
import { PeerLink } from "../../src/transport/peer-link.js";
import { BlackholeProxy } from "../support/blackhole-proxy.js";
import { sleep } from "../support/process-cluster.js";

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  while (cleanups.length > 0) await cleanups.pop()!();
});

async function countingPeer(): Promise<{ port: number; received: () => number }> {
  let received = 0;
  const server = new Server();
  const count = (req: DeliverRequest) => (received += req.messages.length);
  server.addService(PeerServiceService, {
    deliver: (call: { request: DeliverRequest }, cb: (e: null, r: object) => void) => {
      count(call.request);
      cb(null, {});
    },
    stream: (call: NodeJS.EventEmitter, cb: (e: null, r: object) => void) => {
      call.on("data", count);
      call.on("end", () => cb(null, {}));
      call.on("error", () => {});
    },
  });
  const port = await new Promise<number>((res, rej) =>
    server.bindAsync("127.0.0.1:0", ServerCredentials.createInsecure(), (e, p) => (e ? rej(e) : res(p))),
  );
  cleanups.push(() => new Promise<void>((r) => server.tryShutdown(() => r())));
  return { port, received: () => received };
}

const heartbeat = (seq: number): DeliverRequest => ({
  from: 0,
  to: 1,
  messages: [messageToPb({ type: "heartbeat", ballot: { round: 1, node: 0 }, commitIndex: 0, seq })],
});

/** Hands a request to the link the way the node does: encoded once. */
const sendTo = (link: PeerLink, req: DeliverRequest) => link.send(DeliverRequest.encode(req).finish(), req.messages.length);

describe("PeerLink on a partitioned connection", () => {
  it("never blocks, and delivers again within a few seconds after the partition heals", async () => {
    const peer = await countingPeer();
    const proxy = await BlackholeProxy.start(peer.port);
    cleanups.push(() => proxy.close());
    const link = new PeerLink(
      { id: 0, address: "127.0.0.1:1:2:3" },
      { id: 1, host: "127.0.0.1", httpPort: 1, grpcPort: 2, peerPort: proxy.port, line: "test" },
      { clusterId: "0123456789abcdef", tls: null },
      { reconnectAfterMs: 1000, maxBufferedBytes: 64 * 1024 },
    );
    cleanups.push(() => link.close());

    sendTo(link, heartbeat(1));
    await sleepUntil(() => peer.received() === 1, 5000);

    proxy.partition();
    const before = peer.received();
    const t0 = Date.now();
    // About 40 MB for a peer that answers nothing: more than HTTP/2 flow control lets leave the process.
    const big = (seq: number): DeliverRequest => ({ ...heartbeat(seq), messages: Array.from({ length: 5000 }, () => heartbeat(seq).messages[0]!) });
    for (let i = 0; i < 500; i++) {
      sendTo(link, big(100 + i)); // must return at once
      if (i % 50 === 0) await sleep(10); // let the stream flush what flow control allows
    }
    expect(Date.now() - t0).toBeLessThan(3000);
    await sleep(1500);
    expect(peer.received()).toBe(before);
    // What the link holds for a silent peer is bounded (by its cap plus one batch): nothing piles up.
    expect(link.bufferedBytes).toBeLessThanOrEqual(64 * 1024 + 100 * 1024);

    proxy.heal();
    const healedAt = Date.now();
    let n = 0;
    await sleepUntil(() => {
      sendTo(link, heartbeat(1000 + n++));
      return peer.received() > before;
    }, 10_000);
    expect(Date.now() - healedAt).toBeLessThan(10_000);
  });
});

async function sleepUntil(cond: () => boolean, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`condition not met within ${timeoutMs} ms`);
    await sleep(100);
  }
}
