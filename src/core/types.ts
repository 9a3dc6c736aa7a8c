// Types of the pure protocol core. Nothing here knows about protobuf, gRPC,
// files or clocks: the transport and storage layers convert to and from these.

import type { ChangeRefusal, Membership, MembershipChange } from "./membership.js";

/**
 * A node's id, unique for all time in its cluster: the bootstrap config's
 * nodes are 0..n-1 in file order, and each node added later gets the next
 * unused id (membership.ts). Never reused.
 */
export type NodeId = number;

/**
 * A ballot ("proposal number" in Lamport's Paxos Made Simple). Ballots are
 * totally ordered by round, then node, so two proposers never share one.
 * Round 0 is reserved for "no ballot yet"; real ballots have round >= 1.
 */
export interface Ballot {
  readonly round: number;
  readonly node: NodeId;
}

/** One client append. The triple identifies it for exactly-once. */
export interface Command {
  readonly clientId: number;
  readonly commandId: number;
  readonly payload: number;
}

/**
 * The value of one log slot: a client command, a no-op filling a gap, or a
 * membership change, which every node applies to the membership in force at
 * that slot (membership.ts).
 */
export type Value =
  | { readonly kind: "command"; readonly command: Command }
  | { readonly kind: "noop" }
  | { readonly kind: "membership"; readonly change: MembershipChange };

/** An acceptor's vote for one slot, as reported in a Promise. */
export interface SlotVote {
  readonly slot: number;
  readonly ballot: Ballot;
  readonly value: Value;
  /** True when the acceptor knows the value is chosen (ballot is then irrelevant). */
  readonly chosen: boolean;
}

/** The protocol's messages; the wire format is proto/paxos/v1/paxos.proto. */
export type Message =
  | { readonly type: "prepare"; readonly ballot: Ballot; readonly fromSlot: number }
  | {
      readonly type: "promise";
      readonly ballot: Ballot;
      readonly fromSlot: number;
      readonly votes: readonly SlotVote[];
      readonly commitIndex: number;
    }
  | {
      readonly type: "accept";
      readonly ballot: Ballot;
      readonly fromSlot: number;
      readonly values: readonly Value[];
      readonly commitIndex: number;
      /** Thrifty Phase 2a: acceptors that take the values without voting (a quorum was asked without them). */
      readonly quiet?: readonly NodeId[];
    }
  | { readonly type: "accepted"; readonly ballot: Ballot; readonly fromSlot: number; readonly count: number }
  | { readonly type: "nack"; readonly ballot: Ballot; readonly promised: Ballot }
  | { readonly type: "heartbeat"; readonly ballot: Ballot; readonly commitIndex: number; readonly seq: number }
  | { readonly type: "heartbeatAck"; readonly ballot: Ballot; readonly seq: number; readonly commitIndex: number }
  | { readonly type: "catchupRequest"; readonly fromSlot: number }
  | { readonly type: "installSnapshot"; readonly snapshot: Snapshot }
  | { readonly type: "preVote"; readonly ballot: Ballot; readonly commitIndex: number }
  | { readonly type: "preVoteReply"; readonly ballot: Ballot; readonly granted: boolean; readonly promised: Ballot }
  /** A follower hands its clients' commands to the leader; it answers them itself once it has applied them. */
  | { readonly type: "propose"; readonly commands: readonly Command[]; readonly seq: number }
  /** The leader will not take these forwarded commands of Propose `seq` (stale: the client already moved on). */
  | { readonly type: "proposeRefused"; readonly commands: readonly Command[]; readonly reason: "overloaded" | "stale"; readonly seq: number }
  /** The leader's commit point moved and no Accept carried it: followers learn it at once. */
  | { readonly type: "commit"; readonly ballot: Ballot; readonly commitIndex: number }
  | {
      readonly type: "catchupReply";
      readonly fromSlot: number;
      readonly values: readonly Value[];
      readonly commitIndex: number;
    };

export type MessageType = Message["type"];

/**
 * The list's items as of a snapshot: the first `length` numbers of `array`.
 * A snapshot shares the live list's array instead of copying it (O(history)
 * at every compaction): the list only ever pushes, and a restore gives it a
 * new array, so the prefix a snapshot names never changes.
 */
export interface ListItems {
  readonly array: readonly number[];
  readonly length: number;
}

/** The replicated state machine, as data (see ReplicatedList). */
export interface ListState {
  readonly items: ListItems;
  /** clientId, commandId, payload, index: 4 numbers per client. */
  readonly sessions: readonly number[];
  /** clientId, commandId, payload, index, slot: 5 numbers per recent command. */
  readonly recent: readonly number[];
}

/** Every slot below upTo is chosen and applied into state (and into the membership). */
export interface Snapshot {
  readonly upTo: number;
  readonly state: ListState;
  /** The membership in force after slot upTo - 1. */
  readonly membership: Membership;
}

/** A message addressed from one node to another (possibly itself). */
export interface Envelope {
  readonly from: NodeId;
  readonly to: NodeId;
  readonly msg: Message;
}

/**
 * A record the runtime must make durable (write + fdatasync) before it sends
 * any message of the same Ready. The latest snapshot and then every record
 * in order, replayed through PaxosCore's constructor, rebuild the node's state.
 */
export type PersistRecord =
  | { readonly type: "promised"; readonly ballot: Ballot }
  | {
      readonly type: "accepted";
      readonly ballot: Ballot;
      readonly fromSlot: number;
      readonly values: readonly Value[];
    }
  | { readonly type: "chosen"; readonly fromSlot: number; readonly values: readonly Value[] }
  /**
   * Log compaction: make the snapshot durable, then replace every record
   * written so far with `retained` (what still matters above the snapshot:
   * the promise, the votes and chosen values of later slots). Records after
   * it in the same Ready are appended after the replacement.
   */
  | { readonly type: "snapshot"; readonly snapshot: Snapshot; readonly retained: readonly PersistRecord[] };

/** Whether a request that did not succeed may still take effect. */
export type Outcome = "not_applied" | "unknown";

/** The answer to a propose() or read() call, identified by the caller's request id. */
export type ClientResult =
  | {
      readonly kind: "appended";
      readonly requestId: number;
      /** 0-based position of the payload in the list. */
      readonly index: number;
      /** True when this was a retry of an append that had already been applied. */
      readonly duplicate: boolean;
    }
  | {
      readonly kind: "read";
      readonly requestId: number;
      /** The list's length at the linearization point. */
      readonly length: number;
    }
  | {
      readonly kind: "rejected";
      readonly requestId: number;
      /**
       * stale: a newer command of the same client was already applied, so this request will not apply it.
       * removed: this node is no longer a member of the cluster.
       */
      readonly reason: "not_leader" | "overloaded" | "stale" | "removed";
      readonly outcome: Outcome;
      /** The leader this node believes in, if any (a hint for forwarding). */
      readonly leader: NodeId | null;
    }
  /** A membership change was chosen and applied. */
  | { readonly kind: "changed"; readonly requestId: number; readonly membership: Membership }
  /** A membership change was refused before it took a slot: nothing changed. */
  | {
      readonly kind: "changeRefused";
      readonly requestId: number;
      readonly refusal: ChangeRefusal;
      readonly message: string;
      readonly leader: NodeId | null;
    };

/** A slot applied to the replicated list, in slot order. */
export interface AppliedEntry {
  readonly slot: number;
  readonly value: Value;
}

/** Everything the runtime must do after feeding the core: persist; send (votes only once persisted, see waitsForDurability) and answer. */
export interface Ready {
  readonly persist: readonly PersistRecord[];
  readonly messages: readonly Envelope[];
  readonly results: readonly ClientResult[];
  readonly applied: readonly AppliedEntry[];
  /** The newest membership this node knows, when it changed since the last Ready (the runtime opens and closes peer links). */
  readonly membership: Membership | null;
}

export type Role = "follower" | "candidate" | "leader";

export interface CoreConfig {
  readonly id: NodeId;
  /**
   * The membership the cluster was bootstrapped with (slot -1), the same on
   * every node: the config file's nodes. After bootstrap the log is the truth.
   */
  readonly genesis: Membership;
  /**
   * A newer membership the runtime already knows (for a node that joined a
   * running cluster: the membership that added it), until the log catches up.
   */
  readonly known?: Membership;
  /** The leader sends a heartbeat every this many ticks. */
  readonly heartbeatTicks: number;
  /** A follower starts an election after a random timeout in [min, max) ticks without a leader. */
  readonly electionTicksMin: number;
  readonly electionTicksMax: number;
  /** Seed of the core's own deterministic PRNG (election timeouts). */
  readonly seed: number;
  /** Most commands in one Accept. */
  readonly maxBatch: number;
  /** Most Accept batches in flight at once (pipelining window). */
  readonly maxInflight: number;
  /**
   * While a batch is in flight, another goes out only once this many
   * commands wait (default 1: at once). Each batch costs every node an
   * fdatasync and a message; a larger value trades a little queueing under
   * moderate load for fewer, fuller batches under heavy load.
   */
  readonly minPipelinedBatch?: number;
  /**
   * An Accept of at most this many values is acknowledged to every member,
   * not only to the leader, so a follower learns the values chosen from a
   * quorum of Accepteds without waiting for the leader's Commit: one hop less
   * for an append through a follower (default 0: to the leader only). Small
   * batches only: under load the extra messages would cost more than the
   * Commit they spare, which then rides on the next Accept anyway.
   */
  readonly acceptedToAllUpTo?: number;
  /**
   * Thrifty Phase 2a: a client batch's Accept asks only a quorum to vote
   * (the leader, then the acceptors that answered the last batch); the
   * others take the values without voting, so they need no fdatasync for
   * them. A batch of at most acceptedToAllUpTo values is thrifty only at low
   * load (after another such batch, none in flight), and then asks the
   * followers that forwarded its commands first; under load it asks every
   * acceptor. A batch not chosen within this many ticks asks every acceptor.
   * Default 0: every acceptor always votes.
   */
  readonly thriftyFallbackTicks?: number;
  /** Most client commands waiting for a slot; beyond it proposals are refused. */
  readonly maxPending: number;
  /** Most chosen values in one CatchupReply. */
  readonly catchupBatch: number;
  /** An Accept not yet chosen after this many ticks is sent again to the nodes that did not answer. */
  readonly resendTicks: number;
  /** Most client sessions remembered for exactly-once (oldest forgotten first). */
  readonly maxSessions: number;
  /**
   * Identical commands applied within this many slots are duplicates (see
   * ReplicatedList). Default: max(10,000, 8 x maxInflight x maxBatch).
   */
  readonly dedupWindowSlots?: number;
  /** Fold the applied log into a snapshot every this many slots (default 10,000). */
  readonly snapshotEvery?: number;
}

export interface CoreStatus {
  readonly id: NodeId;
  readonly role: Role;
  /** What this node is in the newest membership it knows. */
  readonly member: "voter" | "learner" | "removed";
  readonly membership: Membership;
  readonly leader: NodeId | null;
  readonly promised: Ballot;
  /** The ballot this node leads or campaigns with, if any. */
  readonly ownBallot: Ballot | null;
  readonly commitIndex: number;
  readonly appliedIndex: number;
  readonly listLength: number;
}
