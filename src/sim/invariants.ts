// The properties the simulator checks on every step, from outside the cores:
//
// - Paxos safety, by its definition: a value is chosen for a slot once a
//   majority of acceptors voted for it in one ballot (every vote ever cast
//   counts, even one later lost in a crash), and at most one value is ever
//   chosen per slot [PMS sec. 2.1];
// - only proposed values are chosen (no-ops aside);
// - every node's log agrees with what was chosen, and every node's applied
//   list is a prefix of one common list;
// - an acknowledged append stays at the index it was acknowledged at, and no
//   payload is applied twice.
// Work per step is proportional to what changed, not to the history.

import type { PaxosCore } from "../core/paxos-core.js";
import type { Command, NodeId, PersistRecord, Value } from "../core/types.js";
import { describeValue } from "./trace.js";

export class SafetyViolation extends Error {}

function valueKey(v: Value): string {
  return v.kind === "noop" ? "noop" : `${v.command.clientId}/${v.command.commandId}/${v.command.payload}`;
}

interface SlotVotes {
  /** ballot "round.node" -> value key and the acceptors that voted for it */
  readonly byBallot: Map<string, { key: string; voters: Set<NodeId> }>;
  chosen: { key: string; ballot: string } | null;
}

export class Invariants {
  private readonly majority: number;
  private readonly slots = new Map<number, SlotVotes>();
  private readonly proposedKeys = new Set<string>();
  /** The one list every node's applied list must be a prefix of. */
  private readonly reference: number[] = [];
  private readonly inReference = new Set<number>();
  private readonly acked = new Map<number, number>(); // payload -> index
  private readonly logChecked: number[];
  private readonly listChecked: number[];
  chosenSlots = 0;

  constructor(nodes: number) {
    this.majority = Math.floor(nodes / 2) + 1;
    this.logChecked = Array.from({ length: nodes }, () => 0);
    this.listChecked = Array.from({ length: nodes }, () => 0);
  }

  proposed(c: Command): void {
    this.proposedKeys.add(`${c.clientId}/${c.commandId}/${c.payload}`);
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
        if (b === undefined) sv.byBallot.set(ballot, (b = { key, voters: new Set() }));
        if (b.key !== key) {
          throw new SafetyViolation(`slot ${slot}: ballot ${ballot} proposed two values (${b.key} and ${key})`);
        }
        b.voters.add(node);
        if (b.voters.size < this.majority) return;
        if (sv.chosen === null) {
          sv.chosen = { key, ballot };
          this.chosenSlots++;
          if (value.kind === "command" && !this.proposedKeys.has(key)) {
            throw new SafetyViolation(`slot ${slot}: chosen value ${describeValue(value)} was never proposed by a client`);
          }
        } else if (sv.chosen.key !== key) {
          throw new SafetyViolation(
            `slot ${slot}: two values chosen: ${sv.chosen.key} (ballot ${sv.chosen.ballot}) and ${key} (ballot ${ballot}, ` +
              `voters ${[...b.voters].join(",")}) at ${now} ms`,
          );
        }
      });
    }
  }

  nodeRestarted(node: NodeId): void {
    this.logChecked[node] = 0;
    this.listChecked[node] = 0;
  }

  /** Checks what a node learned and applied since the last check. */
  checkNode(node: NodeId, core: PaxosCore): void {
    // Slots folded into a snapshot have no value in the log any more; the list check below still covers them.
    for (let slot = Math.max(this.logChecked[node]!, core.firstLoggedSlot); slot < core.commitIndex; slot++) {
      const value = core.chosenValue(slot)!;
      const chosen = this.slots.get(slot)?.chosen ?? null;
      if (chosen === null) {
        throw new SafetyViolation(`node ${node} applied slot ${slot} = ${describeValue(value)}, but no majority ever accepted a value there`);
      }
      if (chosen.key !== valueKey(value)) {
        throw new SafetyViolation(`node ${node} applied slot ${slot} = ${valueKey(value)}, but ${chosen.key} was chosen (ballot ${chosen.ballot})`);
      }
    }
    this.logChecked[node] = core.commitIndex;
    const list = core.list.values;
    for (let i = this.listChecked[node]!; i < list.length; i++) {
      const v = list[i]!;
      if (i < this.reference.length) {
        if (this.reference[i] !== v) {
          throw new SafetyViolation(`node ${node}'s list has ${v} at index ${i}, another node has ${this.reference[i]}`);
        }
        continue;
      }
      if (this.inReference.has(v)) throw new SafetyViolation(`payload ${v} applied twice (indexes ${this.reference.indexOf(v)} and ${i})`);
      this.reference.push(v);
      this.inReference.add(v);
      const ackedAt = this.acked.get(v);
      if (ackedAt !== undefined && ackedAt !== i) {
        throw new SafetyViolation(`payload ${v} was acknowledged at index ${ackedAt} but applied at ${i}`);
      }
    }
    this.listChecked[node] = list.length;
  }

  /** A client got "appended at index" with reply `state`. */
  acknowledged(payload: number, index: number, state: readonly number[], now: number): void {
    if (state[index] !== payload || state.length !== index + 1) {
      throw new SafetyViolation(`reply for ${payload} does not end with it at index ${index}: [${state.join(",")}]`);
    }
    for (let i = 0; i < state.length; i++) {
      if (i < this.reference.length && this.reference[i] !== state[i]) {
        throw new SafetyViolation(`reply for ${payload} at ${now} ms has ${state[i]} at index ${i}, the applied list has ${this.reference[i]}`);
      }
    }
    const before = this.acked.get(payload);
    if (before !== undefined && before !== index) {
      throw new SafetyViolation(`payload ${payload} acknowledged at index ${before} and again at index ${index}`);
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
