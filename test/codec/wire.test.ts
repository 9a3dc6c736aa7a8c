// The codec between core messages and protobuf: every message type survives
// a round trip, and a DeliverRequest framed by hand from messages encoded
// once (what a broadcast uses) is byte for byte what the generated encoder
// writes, so peers cannot tell the two apart.
import { describe, expect, it } from "vitest";
import { GENESIS3 } from "../support/genesis.js";
import { DeliverRequest } from "../../gen/paxos/v1/paxos.js";
import { encodeDelivery, encodeMessage, messageFromPb, messageToPb } from "../../src/codec/wire.js";
import type { Message } from "../../src/core/types.js";
import { wholeItems } from "../../src/core/replicated-list.js";

const b = (round: number, node: number) => ({ round, node });
const command = { kind: "command" as const, command: { clientId: 7, commandId: 2 ** 40, payload: -(2 ** 53 - 1) } };

const EVERY_TYPE: Message[] = [
  { type: "prepare", ballot: b(3, 1), fromSlot: 10 },
  { type: "promise", ballot: b(3, 1), fromSlot: 10, votes: [{ slot: 11, ballot: b(2, 0), value: command, chosen: false }], commitIndex: 10 },
  { type: "accept", ballot: b(3, 1), fromSlot: 12, values: [command, { kind: "noop" }], commitIndex: 11 },
  { type: "accepted", ballot: b(3, 1), fromSlot: 12, count: 2 },
  { type: "nack", ballot: b(3, 1), promised: b(4, 2) },
  { type: "heartbeat", ballot: b(3, 1), commitIndex: 14, seq: 9 },
  { type: "heartbeatAck", ballot: b(3, 1), seq: 9, commitIndex: 14 },
  { type: "catchupRequest", fromSlot: 0 },
  { type: "catchupReply", fromSlot: 0, values: [command], commitIndex: 1 },
  { type: "installSnapshot", snapshot: { upTo: 3, state: { items: wholeItems([1, 2, 3]), sessions: [7, 1, 3, 2], recent: [7, 1, 3, 2, 2] }, membership: GENESIS3 } },
  {
    type: "accept",
    ballot: b(3, 1),
    fromSlot: 16,
    values: [
      { kind: "membership", change: { kind: "add", address: "h9:1:2:3" } },
      { kind: "membership", change: { kind: "promote", id: 3 } },
      { kind: "membership", change: { kind: "remove", id: 0 } },
    ],
    commitIndex: 16,
  },
  { type: "accept", ballot: b(3, 1), fromSlot: 19, values: [command, command, command], commitIndex: 19, quiet: [2, 0] },
  { type: "preVote", ballot: b(5, 0), commitIndex: 12 },
  { type: "preVoteReply", ballot: b(5, 0), granted: true, promised: b(3, 1) },
  { type: "propose", commands: [command.command, { clientId: 1, commandId: 1, payload: 0 }], seq: 12 },
  { type: "proposeRefused", commands: [command.command], reason: "stale", seq: 3 },
  { type: "proposeRefused", commands: [command.command], reason: "overloaded", seq: 2 ** 40 },
  { type: "commit", ballot: b(3, 1), commitIndex: 15 },
];

describe("wire codec", () => {
  it("round-trips every message type", () => {
    for (const m of EVERY_TYPE) expect(messageFromPb(messageToPb(m))).toEqual(m);
  });

  it("frames a DeliverRequest from pre-encoded messages exactly as DeliverRequest.encode does", () => {
    for (const [from, to] of [[0, 1], [2, 0], [1, 2]] as const) {
      const byHand = encodeDelivery(from, to, EVERY_TYPE.map(encodeMessage));
      const generated = DeliverRequest.encode({ from, to, messages: EVERY_TYPE.map(messageToPb) }).finish();
      expect(Buffer.from(byHand).equals(Buffer.from(generated))).toBe(true);
      expect(DeliverRequest.decode(byHand).messages.map(messageFromPb)).toEqual(EVERY_TYPE);
    }
  });

  it("sends only the prefix of the list an InstallSnapshot's state names", () => {
    const live = [1, 2, 3, 4, 5];
    const state = { items: { array: live, length: 3 }, sessions: [], recent: [] };
    const m: Message = { type: "installSnapshot", snapshot: { upTo: 3, state, membership: GENESIS3 } };
    const back = messageFromPb(messageToPb(m));
    if (back.type !== "installSnapshot") throw new Error("unexpected type");
    expect(back.snapshot.state.items).toEqual(wholeItems([1, 2, 3]));
  });

  it("refuses a ProposeRefused without a reason", () => {
    const pbMsg = messageToPb({ type: "proposeRefused", commands: [], reason: "stale", seq: 1 });
    if (pbMsg.kind?.$case !== "proposeRefused") throw new Error("unexpected case");
    pbMsg.kind.value.reason = 0;
    expect(() => messageFromPb(pbMsg)).toThrow(/refusal reason/);
  });
});
