// Cluster membership as replicated state (after hashicorp/raft's
// configuration.go and etcd's confchange): a plain value, changed only by
// a command chosen in the log, validated by a pure function that names
// every refusal.
//
// The rules, as the core applies them (see docs/reconfiguration.md):
//
//   Effect    A membership chosen in slot c governs every slot above c:
//             the quorums of slot i are those of the membership chosen in
//             the highest slot below i. (Lamport's reconfiguration of a
//             state machine with alpha = 1, as in van Renesse and
//             Altinbuken, "Paxos Made Moderately Complex", 2015, sec. 3,
//             with WINDOW = 1 for the slots after a change.)
//   Stall     A leader proposes nothing above slot c while the membership
//             it proposed (or recovered) in c is not chosen, so it always
//             knows the membership of every slot it proposes; away from a
//             change the pipeline is not limited.
//   Coverage  A leader sends an Accept for slot i only when the nodes that
//             promised its ballot include a quorum of the membership of i
//             (Phase 1 in the new configuration before Phase 2 in it, as
//             Vertical Paxos requires of a new configuration: Lamport,
//             Malkhi, Zhou, 2009).
//   One       One change at a time, each moving one node: add a learner,
//             promote a learner, remove a member. A leader proposes a change
//             only once every slot it recovered is chosen (Ongaro's thesis,
//             sec. 4.1, the fix of the single-server bug: a leader must
//             commit an entry of its own term first) and no change is
//             pending.
//
// Node ids are never reused: ballots are (round, node id), so a new node
// with a removed node's id could share that node's ballots. New ids come
// from `nextId`, which only grows along the chosen log.

import type { NodeId } from "./types.js";

export type MemberRole = "voter" | "learner";

export interface Member {
  readonly id: NodeId;
  readonly role: MemberRole;
  /** Where the node listens, "host:httpPort:grpcPort:peerPort" (the core never looks inside). */
  readonly address: string;
}

export interface Membership {
  /** Every member, by ascending id. */
  readonly members: readonly Member[];
  /** The slot whose chosen value installed it; it governs the slots above (-1: the bootstrap config). */
  readonly slot: number;
  /** The id the next added node gets; never goes down. */
  readonly nextId: number;
}

/** One change, moving one node. */
export type MembershipChange =
  | { readonly kind: "add"; readonly address: string }
  | { readonly kind: "promote"; readonly id: NodeId }
  | { readonly kind: "remove"; readonly id: NodeId };

/** Why a change is refused; one value per refusal, each with a message (cf. TigerBeetle's ReconfigurationResult). */
export type ChangeRefusal =
  | "address_taken"
  | "bad_address"
  | "unknown_member"
  | "not_a_learner"
  | "last_voter"
  /** One change at a time: another is proposed and not yet chosen. */
  | "change_pending"
  /** The leader has not yet had every slot it recovered chosen (Ongaro's rule): try again shortly. */
  | "not_ready"
  /** Only the leader proposes changes. */
  | "not_leader"
  /** After the change, the voters this leader hears from would not make a majority. */
  | "would_lose_quorum"
  /** A learner is promoted only once it has caught up. */
  | "learner_behind";

export type ChangeResult =
  | { readonly ok: true; readonly membership: Membership; readonly changed: Member }
  | { readonly ok: false; readonly refusal: ChangeRefusal; readonly message: string };

/** host:httpPort:grpcPort:peerPort, ports 1-65535. */
const ADDRESS = /^[^\s:]+:\d{1,5}:\d{1,5}:\d{1,5}$/;

export function isAddress(address: string): boolean {
  return ADDRESS.test(address) && address.split(":").slice(1).every((p) => Number(p) >= 1 && Number(p) <= 65535);
}

/** The membership a cluster starts with: the config file's nodes, all voters, ids 0..n-1 in file order. */
export function bootstrapMembership(addresses: readonly string[]): Membership {
  const m: Membership = {
    members: addresses.map((address, id) => ({ id, role: "voter" as const, address })),
    slot: -1,
    nextId: addresses.length,
  };
  checkMembership(m);
  return m;
}

// Memberships are immutable values: their id sets are computed once (the core asks on every batch).
const votersCache = new WeakMap<Membership, ReadonlySet<NodeId>>();
const membersCache = new WeakMap<Membership, ReadonlySet<NodeId>>();

export function voterIds(m: Membership): ReadonlySet<NodeId> {
  let ids = votersCache.get(m);
  if (ids === undefined) votersCache.set(m, (ids = new Set(m.members.filter((x) => x.role === "voter").map((x) => x.id))));
  return ids;
}

export function memberIds(m: Membership): ReadonlySet<NodeId> {
  let ids = membersCache.get(m);
  if (ids === undefined) membersCache.set(m, (ids = new Set(m.members.map((x) => x.id))));
  return ids;
}

export function findMember(m: Membership, id: NodeId): Member | undefined {
  return m.members.find((x) => x.id === id);
}

/**
 * The membership after `change`, chosen in `slot`, or the refusal. Pure: it
 * reads only replicated state, so every node computes the same result.
 * What only the leader knows (who is alive, how far a learner got) is
 * checked when the change is proposed, not here.
 */
export function nextMembership(current: Membership, change: MembershipChange, slot: number): ChangeResult {
  const refuse = (refusal: ChangeRefusal, message: string): ChangeResult => ({ ok: false, refusal, message });
  let members: Member[];
  let changed: Member;
  let nextId = current.nextId;
  switch (change.kind) {
    case "add": {
      if (!isAddress(change.address)) return refuse("bad_address", `"${change.address}" is not host:httpPort:grpcPort:peerPort`);
      const taken = current.members.find((x) => sameEndpoint(x.address, change.address));
      if (taken !== undefined) return refuse("address_taken", `${change.address} is already member ${taken.id} (${taken.address})`);
      changed = { id: nextId++, role: "learner", address: change.address };
      members = [...current.members, changed];
      break;
    }
    case "promote": {
      const m = findMember(current, change.id);
      if (m === undefined) return refuse("unknown_member", `there is no member ${change.id}`);
      if (m.role !== "learner") return refuse("not_a_learner", `member ${change.id} is already a voter`);
      changed = { ...m, role: "voter" };
      members = current.members.map((x) => (x.id === m.id ? changed : x));
      break;
    }
    case "remove": {
      const m = findMember(current, change.id);
      if (m === undefined) return refuse("unknown_member", `there is no member ${change.id}`);
      if (m.role === "voter" && voterIds(current).size === 1) return refuse("last_voter", `member ${change.id} is the last voter`);
      changed = m;
      members = current.members.filter((x) => x.id !== m.id);
      break;
    }
  }
  const next: Membership = { members, slot, nextId };
  checkMembership(next);
  return { ok: true, membership: next, changed };
}

/** Two addresses on the same host share a port: they are one endpoint. */
function sameEndpoint(a: string, b: string): boolean {
  const [ha, ...pa] = a.split(":");
  const [hb, ...pb] = b.split(":");
  return ha === hb && pa.some((p) => pb.includes(p));
}

/** The invariants of every membership (asserted when one is made, replayed or received in a snapshot). */
export function checkMembership(m: Membership): void {
  const fail = (why: string) => {
    throw new Error(`invalid membership (slot ${m.slot}): ${why}`);
  };
  if (!m.members.some((x) => x.role === "voter")) fail("no voter");
  const ids = new Set<NodeId>();
  let last = -1;
  for (const x of m.members) {
    if (!Number.isInteger(x.id) || x.id < 0) fail(`bad id ${x.id}`);
    if (x.id <= last) fail("ids not ascending and unique");
    if (x.id >= m.nextId) fail(`id ${x.id} not below nextId ${m.nextId}`);
    if (!isAddress(x.address)) fail(`bad address "${x.address}"`);
    last = x.id;
    ids.add(x.id);
  }
  for (let i = 0; i < m.members.length; i++) {
    for (let j = i + 1; j < m.members.length; j++) {
      if (sameEndpoint(m.members[i]!.address, m.members[j]!.address)) fail(`members ${m.members[i]!.id} and ${m.members[j]!.id} share an endpoint`);
    }
  }
}
