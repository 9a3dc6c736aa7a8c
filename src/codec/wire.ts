// Conversions between the core's plain types and the generated protobuf
// types (gen/). Decoding is strict: a message missing a required part is
// rejected with a WireError rather than guessed at.

import { BinaryWriter } from "@bufbuild/protobuf/wire";
import * as pb from "../../gen/paxos/v1/paxos.js";
import * as store from "../../gen/paxos/v1/storage.js";
import { encodeListState } from "./packed-int64.js";
import { itemsArray, wholeItems } from "../core/replicated-list.js";
import type { Member, Membership, MembershipChange } from "../core/membership.js";
import type { Ballot, Command, ListItems, ListState, Message, PersistRecord, SlotVote, Snapshot, Value } from "../core/types.js";

export class WireError extends Error {}

function need<T>(v: T | undefined, what: string): T {
  if (v === undefined) throw new WireError(`malformed message: missing ${what}`);
  return v;
}

export function ballotToPb(b: Ballot): pb.Ballot {
  return { round: b.round, node: b.node };
}

export function ballotFromPb(b: pb.Ballot | undefined): Ballot {
  const x = need(b, "ballot");
  return { round: x.round, node: x.node };
}

export function valueToPb(v: Value): pb.Value {
  switch (v.kind) {
    case "noop":
      return { kind: { $case: "noop", value: {} } };
    case "command":
      return { kind: { $case: "command", value: { ...v.command } } };
    case "membership":
      return { kind: { $case: "membership", value: { change: changeToPb(v.change) } } };
  }
}

export function valueFromPb(v: pb.Value | undefined): Value {
  const kind = need(need(v, "value").kind, "value kind");
  switch (kind.$case) {
    case "noop":
      return { kind: "noop" };
    case "command":
      return { kind: "command", command: commandFromPb(kind.value) };
    case "membership":
      return { kind: "membership", change: changeFromPb(need(kind.value.change, "membership change")) };
  }
}

export function membershipToPb(m: Membership): pb.Membership {
  return {
    members: m.members.map((x) => ({
      id: x.id,
      role: x.role === "voter" ? pb.MemberRole.MEMBER_ROLE_VOTER : pb.MemberRole.MEMBER_ROLE_LEARNER,
      address: x.address,
    })),
    slot: m.slot,
    nextId: m.nextId,
  };
}

export function membershipFromPb(m: pb.Membership | undefined): Membership {
  const x = need(m, "membership");
  const members: Member[] = x.members.map((y) => {
    if (y.role !== pb.MemberRole.MEMBER_ROLE_VOTER && y.role !== pb.MemberRole.MEMBER_ROLE_LEARNER) throw new WireError(`malformed membership: member ${y.id} has no role`);
    return { id: y.id, role: y.role === pb.MemberRole.MEMBER_ROLE_VOTER ? "voter" : "learner", address: y.address };
  });
  return { members, slot: x.slot, nextId: x.nextId };
}

export function changeToPb(c: MembershipChange): pb.MembershipChange {
  switch (c.kind) {
    case "add":
      return { kind: { $case: "add", value: c.address } };
    case "promote":
      return { kind: { $case: "promote", value: c.id } };
    case "remove":
      return { kind: { $case: "remove", value: c.id } };
  }
}

export function changeFromPb(c: pb.MembershipChange): MembershipChange {
  const k = need(c.kind, "membership change kind");
  switch (k.$case) {
    case "add":
      return { kind: "add", address: k.value };
    case "promote":
      return { kind: "promote", id: k.value };
    case "remove":
      return { kind: "remove", id: k.value };
  }
}

function commandFromPb(c: pb.Command): Command {
  return { clientId: c.clientId, commandId: c.commandId, payload: c.payload };
}

const valuesToPb = (vs: readonly Value[]): pb.Value[] => vs.map(valueToPb);
const valuesFromPb = (vs: readonly pb.Value[]): Value[] => vs.map(valueFromPb);

function voteToPb(v: SlotVote): pb.SlotVote {
  return { slot: v.slot, ballot: ballotToPb(v.ballot), value: valueToPb(v.value), chosen: v.chosen };
}

function voteFromPb(v: pb.SlotVote): SlotVote {
  return { slot: v.slot, ballot: ballotFromPb(v.ballot), value: valueFromPb(v.value), chosen: v.chosen };
}

function listStateToPb(s: ListState): pb.ListState {
  return { items: [...itemsArray(s.items)], sessions: [...s.sessions], recent: [...s.recent] };
}

function listStateFromPb(s: pb.ListState | undefined): ListState {
  const x = need(s, "list state");
  return { items: wholeItems(x.items), sessions: x.sessions, recent: x.recent };
}

export function messageToPb(m: Message): pb.PeerMessage {
  switch (m.type) {
    case "installSnapshot":
      return {
        kind: {
          $case: "installSnapshot",
          value: { upTo: m.snapshot.upTo, state: listStateToPb(m.snapshot.state), membership: membershipToPb(m.snapshot.membership) },
        },
      };
    case "prepare":
      return { kind: { $case: "prepare", value: { ballot: ballotToPb(m.ballot), fromSlot: m.fromSlot } } };
    case "promise":
      return {
        kind: {
          $case: "promise",
          value: { ballot: ballotToPb(m.ballot), fromSlot: m.fromSlot, votes: m.votes.map(voteToPb), commitIndex: m.commitIndex },
        },
      };
    case "accept":
      return {
        kind: {
          $case: "accept",
          value: { ballot: ballotToPb(m.ballot), fromSlot: m.fromSlot, values: valuesToPb(m.values), commitIndex: m.commitIndex, quiet: m.quiet === undefined ? [] : [...m.quiet] },
        },
      };
    case "accepted":
      return { kind: { $case: "accepted", value: { ballot: ballotToPb(m.ballot), fromSlot: m.fromSlot, count: m.count } } };
    case "nack":
      return { kind: { $case: "nack", value: { ballot: ballotToPb(m.ballot), promised: ballotToPb(m.promised) } } };
    case "heartbeat":
      return { kind: { $case: "heartbeat", value: { ballot: ballotToPb(m.ballot), commitIndex: m.commitIndex, seq: m.seq } } };
    case "heartbeatAck":
      return { kind: { $case: "heartbeatAck", value: { ballot: ballotToPb(m.ballot), seq: m.seq, commitIndex: m.commitIndex } } };
    case "catchupRequest":
      return { kind: { $case: "catchupRequest", value: { fromSlot: m.fromSlot } } };
    case "preVote":
      return { kind: { $case: "preVote", value: { ballot: ballotToPb(m.ballot), commitIndex: m.commitIndex } } };
    case "preVoteReply":
      return { kind: { $case: "preVoteReply", value: { ballot: ballotToPb(m.ballot), granted: m.granted, promised: ballotToPb(m.promised) } } };
    case "catchupReply":
      return {
        kind: { $case: "catchupReply", value: { fromSlot: m.fromSlot, values: valuesToPb(m.values), commitIndex: m.commitIndex } },
      };
    case "propose":
      return { kind: { $case: "propose", value: { commands: m.commands.map((c) => ({ ...c })), seq: m.seq } } };
    case "proposeRefused":
      return {
        kind: {
          $case: "proposeRefused",
          value: {
            commands: m.commands.map((c) => ({ ...c })),
            reason: m.reason === "stale" ? pb.RefusalReason.REFUSAL_REASON_STALE : pb.RefusalReason.REFUSAL_REASON_OVERLOADED,
            seq: m.seq,
          },
        },
      };
    case "commit":
      return { kind: { $case: "commit", value: { ballot: ballotToPb(m.ballot), commitIndex: m.commitIndex } } };
  }
}

/** One peer message as protobuf bytes (a PeerMessage). */
export function encodeMessage(m: Message): Uint8Array {
  return pb.PeerMessage.encode(messageToPb(m)).finish();
}

/**
 * A DeliverRequest from messages encoded by encodeMessage: the same bytes as
 * DeliverRequest.encode (an embedded message is its length and its bytes),
 * so a message broadcast to several peers is encoded once, not once per peer.
 */
export function encodeDelivery(from: number, to: number, messages: readonly Uint8Array[]): Uint8Array {
  const w = new BinaryWriter();
  if (from !== 0) w.uint32(8).uint32(from); // field 1, varint (proto3 omits zeros, as DeliverRequest.encode does)
  if (to !== 0) w.uint32(16).uint32(to); // field 2, varint
  for (const m of messages) w.uint32(26).bytes(m); // field 3, length-delimited
  return w.finish();
}

export function messageFromPb(p: pb.PeerMessage): Message {
  const k = need(p.kind, "message kind");
  switch (k.$case) {
    case "installSnapshot":
      return {
        type: "installSnapshot",
        snapshot: { upTo: k.value.upTo, state: listStateFromPb(k.value.state), membership: membershipFromPb(k.value.membership) },
      };
    case "prepare":
      return { type: "prepare", ballot: ballotFromPb(k.value.ballot), fromSlot: k.value.fromSlot };
    case "promise":
      return {
        type: "promise",
        ballot: ballotFromPb(k.value.ballot),
        fromSlot: k.value.fromSlot,
        votes: k.value.votes.map(voteFromPb),
        commitIndex: k.value.commitIndex,
      };
    case "accept":
      return {
        type: "accept",
        ballot: ballotFromPb(k.value.ballot),
        fromSlot: k.value.fromSlot,
        values: valuesFromPb(k.value.values),
        commitIndex: k.value.commitIndex,
        ...(k.value.quiet.length > 0 ? { quiet: k.value.quiet } : {}),
      };
    case "accepted":
      return { type: "accepted", ballot: ballotFromPb(k.value.ballot), fromSlot: k.value.fromSlot, count: k.value.count };
    case "nack":
      return { type: "nack", ballot: ballotFromPb(k.value.ballot), promised: ballotFromPb(k.value.promised) };
    case "heartbeat":
      return { type: "heartbeat", ballot: ballotFromPb(k.value.ballot), commitIndex: k.value.commitIndex, seq: k.value.seq };
    case "heartbeatAck":
      return { type: "heartbeatAck", ballot: ballotFromPb(k.value.ballot), seq: k.value.seq, commitIndex: k.value.commitIndex };
    case "catchupRequest":
      return { type: "catchupRequest", fromSlot: k.value.fromSlot };
    case "preVote":
      return { type: "preVote", ballot: ballotFromPb(k.value.ballot), commitIndex: k.value.commitIndex };
    case "preVoteReply":
      return {
        type: "preVoteReply",
        ballot: ballotFromPb(k.value.ballot),
        granted: k.value.granted,
        promised: ballotFromPb(k.value.promised),
      };
    case "catchupReply":
      return { type: "catchupReply", fromSlot: k.value.fromSlot, values: valuesFromPb(k.value.values), commitIndex: k.value.commitIndex };
    case "propose":
      return { type: "propose", commands: k.value.commands.map(commandFromPb), seq: k.value.seq };
    case "proposeRefused": {
      const r = k.value.reason;
      if (r !== pb.RefusalReason.REFUSAL_REASON_STALE && r !== pb.RefusalReason.REFUSAL_REASON_OVERLOADED) {
        throw new WireError(`malformed message: unknown refusal reason ${r}`);
      }
      return {
        type: "proposeRefused",
        commands: k.value.commands.map(commandFromPb),
        reason: r === pb.RefusalReason.REFUSAL_REASON_STALE ? "stale" : "overloaded",
        seq: k.value.seq,
      };
    }
    case "commit":
      return { type: "commit", ballot: ballotFromPb(k.value.ballot), commitIndex: k.value.commitIndex };
  }
}

export function recordToBytes(r: PersistRecord): Uint8Array {
  let rec: store.DurableRecord;
  switch (r.type) {
    case "promised":
      rec = { kind: { $case: "promised", value: ballotToPb(r.ballot) } };
      break;
    case "accepted":
      rec = { kind: { $case: "accepted", value: { ballot: ballotToPb(r.ballot), fromSlot: r.fromSlot, values: valuesToPb(r.values) } } };
      break;
    case "chosen":
      rec = { kind: { $case: "chosen", value: { fromSlot: r.fromSlot, values: valuesToPb(r.values) } } };
      break;
    case "snapshot":
      throw new WireError("a snapshot is stored in its own file, not as a log record (see DurableLog)");
  }
  return store.DurableRecord.encode(rec).finish();
}

export function recordFromBytes(bytes: Uint8Array): PersistRecord {
  const k = need(store.DurableRecord.decode(bytes).kind, "record kind");
  switch (k.$case) {
    case "promised":
      return { type: "promised", ballot: ballotFromPb(k.value) };
    case "accepted":
      return { type: "accepted", ballot: ballotFromPb(k.value.ballot), fromSlot: k.value.fromSlot, values: valuesFromPb(k.value.values) };
    case "chosen":
      return { type: "chosen", fromSlot: k.value.fromSlot, values: valuesFromPb(k.value.values) };
  }
}

/**
 * A snapshot file's bytes, as store.SnapshotFile.encode writes them: the
 * exactly-once tables through the fast path, and the list's length only
 * (its items go to list.bin, see ListFile).
 */
export function snapshotToBytes(s: Snapshot): Uint8Array {
  const w = new BinaryWriter();
  if (s.upTo !== 0) w.uint32(8).uint64(s.upTo);
  const tables = encodeListState({ items: [], sessions: s.state.sessions, recent: s.state.recent });
  w.uint32(18).bytes(tables); // field 2: an embedded message is its length and bytes
  pb.Membership.encode(membershipToPb(s.membership), w.uint32(26).fork()).join();
  if (s.state.items.length !== 0) w.uint32(32).uint64(s.state.items.length);
  return w.finish();
}

/** A decoded snapshot file: everything but the list, which is inline (older files) or in list.bin. */
export interface SnapshotFileContents {
  readonly upTo: number;
  readonly membership: Membership;
  readonly sessions: readonly number[];
  readonly recent: readonly number[];
  readonly list: { readonly inline: readonly number[] } | { readonly inListFile: number };
}

/** A snapshot file; one written before membership changes existed holds none: `genesis` governs it. */
export function snapshotFromBytes(bytes: Uint8Array, genesis: Membership): SnapshotFileContents {
  const f = store.SnapshotFile.decode(bytes);
  const state = listStateFromPb(f.state);
  const inline = state.items.array;
  return {
    upTo: f.upTo,
    membership: f.membership === undefined ? genesis : membershipFromPb(f.membership),
    sessions: state.sessions,
    recent: state.recent,
    // A file written before list.bin existed holds the items and no list_length; a newer one the reverse.
    list: inline.length > 0 ? { inline } : { inListFile: f.listLength },
  };
}

/** The snapshot a decoded file and its list make. */
export function snapshotWithList(f: SnapshotFileContents, items: ListItems): Snapshot {
  return { upTo: f.upTo, state: { items, sessions: f.sessions, recent: f.recent }, membership: f.membership };
}

/** One record of list.bin (written by encodeListChunk). */
export function listChunkFromBytes(bytes: Uint8Array): { start: number; items: readonly number[] } {
  const c = store.ListChunk.decode(bytes);
  return { start: c.start, items: c.items };
}
