// The properties the simulator checks on every step, from outside the cores:
//
// - Paxos safety, by its definition: a value is chosen for a slot once a
//   majority of the voters of the membership in force for that slot voted
//   for it in one ballot (every vote ever cast counts, even one later lost
//   in a crash), and at most one value is ever chosen per slot [PMS sec.
//   2.1]. The membership in force for a slot is the one chosen in the
//   highest slot below it (or the bootstrap one): this module works that
//   out from the votes itself, with code of its own (not src/core/quorum.ts),
//   so that the oracle stays independent of what it checks;
// - only proposed values are chosen (no-ops aside);
// - every node's log agrees with what was chosen, and every node's applied
//   list is a prefix of one common list;
// - an acknowledged append stays at the index it was acknowledged at, and no
//   payload is applied twice.
// Work per step is proportional to what changed, not to the history.

import type { Membership, MembershipChange } from "../core/membership.js";
import type { PaxosCore } from "../core/paxos-core.js";
import type { Command, NodeId, PersistRecord, Value } from "../core/types.js";
import { describeValue } from "./trace.js";

/** What a violation is about, for the viewer to point at (ballots as "round.node"). */
export interface ViolationDetail {
  readonly slots?: readonly number[];
  readonly ballots?: readonly string[];
  readonly nodes?: readonly NodeId[];
  readonly payloads?: readonly number[];
}

export class SafetyViolation extends Error {
  constructor(
    message: string,
    readonly detail: ViolationDetail = {},
  ) {
    super(message);
  }
}

/** Told every vote and every value found chosen (the step-by-step viewer shows them); it only reads. */
export interface InvariantsListener {
  voted(node: NodeId, slot: number, ballot: string, value: Value): void;
  chosen(slot: number, ballot: string, value: Value): void;
}

/** The votes of one slot, by ballot. */
export interface SlotVoteView {
  readonly ballot: string;
  readonly value: Value;
  readonly voters: readonly NodeId[];
}

function valueKey(v: Value): string {
  switch (v.kind) {
    case "noop":
      return "noop";
    case "command":
      return `${v.command.clientId}/${v.command.commandId}/${v.command.payload}`;
    case "membership":
      return `membership:${JSON.stringify(v.change)}`;
  }
}

interface SlotVotes {
  /** ballot "round.node" -> value and the acceptors that voted for it */
  readonly byBallot: Map<string, { key: string; value: Value; voters: Set<NodeId> }>;
  chosen: { key: string; ballot: string } | null;
}

export class Invariants {
  private readonly slots = new Map<number, SlotVotes>();
  /** Membership changes found chosen, by slot: each changes the membership of the slots above it. */
  private readonly chosenChanges = new Map<number, MembershipChange>();
  private readonly proposedKeys = new Set<string>();
  /** The one list every node's applied list must be a prefix of. */
  private readonly reference: number[] = [];
  private readonly inReference = new Set<number>();
  private readonly acked = new Map<number, number>(); // payload -> index
  private readonly logChecked = new Map<NodeId, number>();
  private readonly listChecked = new Map<NodeId, number>();
  chosenSlots = 0;

  constructor(
    private readonly genesis: Membership,
    private readonly listener?: InvariantsListener,
  ) {}

  /** Every vote cast for a slot so far, by ballot, and the voters of the membership in force there. */
  slotVotes(slot: number): { votes: SlotVoteView[]; voters: NodeId[] } {
    const votes = [...(this.slots.get(slot)?.byBallot ?? [])].map(([ballot, b]) => ({ ballot, value: b.value, voters: [...b.voters] }));
    return { votes, voters: this.votersAt(slot) };
  }

  proposed(c: Command): void {
    this.proposedKeys.add(`${c.clientId}/${c.commandId}/${c.payload}`);
  }

  /**
   * The voters in force for `slot`: the bootstrap membership with every
   * change chosen below `slot` applied in slot order. Written here again,
   * naively, rather than taken from src/core/membership.ts.
   */
  private votersAt(slot: number): NodeId[] {
    const members = new Map(this.genesis.members.map((x) => [x.id, { role: x.role, address: x.address }]));
    let nextId = this.genesis.nextId;
    for (const [s, c] of [...this.chosenChanges].sort((a, b) => a[0] - b[0])) {
      if (s >= slot) break;
      if (c.kind === "add") {
        // The core also refuses an address sharing a host and port with a member; the simulator's addresses never do.
        if ([...members.values()].some((m) => m.address === c.address)) continue;
        members.set(nextId++, { role: "learner", address: c.address });
      } else if (c.kind === "promote") {
        const m = members.get(c.id);
        if (m?.role === "learner") m.role = "voter";
      } else if (members.has(c.id)) {
        const voters = [...members.values()].filter((m) => m.role === "voter").length;
        if (members.get(c.id)!.role === "voter" && voters === 1) continue; // the last voter stays
        members.delete(c.id);
      }
    }
    return [...members].filter(([, m]) => m.role === "voter").map(([id]) => id);
  }

  /** Votes announced by an acceptor (its `accepted` records, released with its Accepted messages). */
  votesCast(node: NodeId, records: readonly PersistRecord[], now: number): void {
    for (const r of records) {
      if (r.type !== "accepted") continue;
      const ballot = `${r.ballot.round}.${r.ballot.node}`;
      r.values.forEach((value, i) => {
        const slot = r.fromSlot + i;
        let sv = this.slots.get(slot);
        if (sv === undefined) this.slots.set(slot, (sv = { byBallot: new Map(), chosen: null }));
        const key = valueKey(value);
        let b = sv.byBallot.get(ballot);
        if (b === undefined) sv.byBallot.set(ballot, (b = { key, value, voters: new Set() }));
        if (b.key !== key) {
          throw new SafetyViolation(`slot ${slot}: ballot ${ballot} proposed two values (${b.key} and ${key})`, { slots: [slot], ballots: [ballot], nodes: [node] });
        }
        b.voters.add(node);
        this.listener?.voted(node, slot, ballot, value);
        this.evaluate(slot, now);
      });
    }
  }

  /**
   * Decides whether a slot's votes make a value chosen under the membership
   * in force there. A membership found chosen changes the membership of the
   * slots above it, so they are decided again.
   */
  private evaluate(slot: number, now: number): void {
    const sv = this.slots.get(slot)!;
    const voters = this.votersAt(slot);
    const needed = Math.floor(voters.length / 2) + 1;
    for (const [ballot, b] of sv.byBallot) {
      let count = 0;
      for (const v of voters) if (b.voters.has(v)) count++;
      if (count < needed) continue;
      if (sv.chosen === null) {
        sv.chosen = { key: b.key, ballot };
        this.chosenSlots++;
        this.listener?.chosen(slot, ballot, b.value);
        if (b.value.kind === "command" && !this.proposedKeys.has(b.key)) {
          throw new SafetyViolation(`slot ${slot}: chosen value ${describeValue(b.value)} was never proposed by a client`, { slots: [slot], ballots: [ballot] });
        }
        if (b.value.kind === "membership") {
          this.chosenChanges.set(slot, b.value.change);
          for (const above of [...this.slots.keys()].sort((x, y) => x - y)) if (above > slot) this.evaluate(above, now);
        }
      } else if (sv.chosen.key !== b.key) {
        throw new SafetyViolation(
          `slot ${slot}: two values chosen: ${sv.chosen.key} (ballot ${sv.chosen.ballot}) and ${b.key} (ballot ${ballot}, ` +
            `voters ${[...b.voters].join(",")} of ${voters.join(",")}) at ${now} ms`,
          { slots: [slot], ballots: [sv.chosen.ballot, ballot] },
        );
      }
    }
  }

  nodeRestarted(node: NodeId): void {
    this.logChecked.set(node, 0);
    this.listChecked.set(node, 0);
  }

  /** Checks what a node learned and applied since the last check. */
  checkNode(node: NodeId, core: PaxosCore): void {
    // Slots folded into a snapshot have no value in the log any more; the list check below still covers them.
    for (let slot = Math.max(this.logChecked.get(node) ?? 0, core.firstLoggedSlot); slot < core.commitIndex; slot++) {
      const value = core.chosenValue(slot)!;
      const chosen = this.slots.get(slot)?.chosen ?? null;
      if (chosen === null) {
        throw new SafetyViolation(`node ${node} applied slot ${slot} = ${describeValue(value)}, but no quorum of its membership ever accepted a value there`, { slots: [slot], nodes: [node] });
      }
      if (chosen.key !== valueKey(value)) {
        throw new SafetyViolation(`node ${node} applied slot ${slot} = ${valueKey(value)}, but ${chosen.key} was chosen (ballot ${chosen.ballot})`, { slots: [slot], ballots: [chosen.ballot], nodes: [node] });
      }
    }
    this.logChecked.set(node, core.commitIndex);
    const list = core.list.values;
    for (let i = this.listChecked.get(node) ?? 0; i < list.length; i++) {
      const v = list[i]!;
      if (i < this.reference.length) {
        if (this.reference[i] !== v) {
          throw new SafetyViolation(`node ${node}'s list has ${v} at index ${i}, another node has ${this.reference[i]}`, { nodes: [node], payloads: [v, this.reference[i]!] });
        }
        continue;
      }
      if (this.inReference.has(v)) throw new SafetyViolation(`payload ${v} applied twice (indexes ${this.reference.indexOf(v)} and ${i})`, { nodes: [node], payloads: [v] });
      this.reference.push(v);
      this.inReference.add(v);
      const ackedAt = this.acked.get(v);
      if (ackedAt !== undefined && ackedAt !== i) {
        throw new SafetyViolation(`payload ${v} was acknowledged at index ${ackedAt} but applied at ${i}`, { nodes: [node], payloads: [v] });
      }
    }
    this.listChecked.set(node, list.length);
  }

  /** A client got "appended at index" with reply `state`. */
  acknowledged(payload: number, index: number, state: readonly number[], now: number): void {
    if (state[index] !== payload || state.length !== index + 1) {
      throw new SafetyViolation(`reply for ${payload} does not end with it at index ${index}: [${state.join(",")}]`, { payloads: [payload] });
    }
    for (let i = 0; i < state.length; i++) {
      if (i < this.reference.length && this.reference[i] !== state[i]) {
        throw new SafetyViolation(`reply for ${payload} at ${now} ms has ${state[i]} at index ${i}, the applied list has ${this.reference[i]}`, { payloads: [payload, state[i]!, this.reference[i]!] });
      }
    }
    const before = this.acked.get(payload);
    if (before !== undefined && before !== index) {
      throw new SafetyViolation(`payload ${payload} acknowledged at index ${before} and again at index ${index}`, { payloads: [payload] });
    }
    this.acked.set(payload, index);
  }

  /** After the run: every acknowledged append is in every node's list, where it was acknowledged. */
  finalCheck(cores: readonly PaxosCore[]): string | undefined {
    for (const [payload, index] of this.acked) {
      for (const core of cores) {
        if (core.list.values[index] !== payload) {
          return `acknowledged append ${payload} (index ${index}) is missing on node ${core.id}: it has ${core.list.values[index] ?? "nothing"} there`;
        }
      }
    }
    return undefined;
  }
}
