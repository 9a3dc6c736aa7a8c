// Records one simulated run for the step-by-step viewer (html.ts), from
// what the simulator already sees: its queue's events, the messages it
// carries or drops, the fault schedule, the records each core asks to
// write, each core's status after every input, and the checker's view of
// votes and chosen values. The recorder only reads: a run gives the same
// digest with and without it (test/sim/viewer.test.ts checks that).
//
// A "step" of the viewer is one queue event that did something visible
// (a delivery, messages leaving, a state change, a fault, a client's
// operation); ticks that changed nothing are left out. Node state is kept
// as deltas per step; the page replays them to show any moment.

import { formatBallot } from "../../core/ballot.js";
import type { Membership } from "../../core/membership.js";
import type { PaxosCore } from "../../core/paxos-core.js";
import type { Ballot, ClientResult, Envelope, MessageType, NodeId, PersistRecord, Value } from "../../core/types.js";
import type { LinkCuts } from "../faults.js";
import type { SlotVoteView, ViolationDetail } from "../invariants.js";
import { replayCommand } from "../run-seeds.js";
import { Simulation, type HistoryEvent, type SimEvent, type SimObserver, type SimOptions, type SimResult } from "../simulation.js";
import { describeMessage, describeValue } from "../trace.js";

/** Every message type of the core, in the order the viewer's legend shows them. */
export const MESSAGE_KINDS: readonly MessageType[] = [
  "preVote",
  "preVoteReply",
  "prepare",
  "promise",
  "nack",
  "accept",
  "accepted",
  "commit",
  "heartbeat",
  "heartbeatAck",
  "catchupRequest",
  "catchupReply",
  "installSnapshot",
  "propose",
  "proposeRefused",
];

/** A node as the viewer shows it at one moment. */
export interface NodeView {
  readonly up: boolean;
  readonly role: string;
  readonly member: string;
  readonly leader: NodeId | null;
  readonly promised: string;
  readonly own: string | null;
  readonly commit: number;
  readonly list: number;
  /** The newest membership it knows, e.g. "0,1,2,3L" (L: learner), and the slot that installed it. */
  readonly members: string;
  readonly mslot: number;
}

/** One slot of a node's log: the ballot of its vote ("" when it learned the value without voting), the value, chosen (applied). */
export type LogDelta = [node: NodeId, slot: number, ballot: string, value: string, chosen: 0 | 1];

export const STEP_ROLE = 1;
export const STEP_FAULT = 2;
export const STEP_CLIENT = 4;
export const STEP_VIOLATION = 8;

export interface StepRec {
  /** Simulated ms. */
  t: number;
  /** The queue event's kind. */
  e: string;
  /** The node it happened at, if one. */
  n?: NodeId;
  /** Trace lines, as `--trace` prints them. */
  l?: string[];
  /** A title when there is no trace line. */
  ti?: string;
  /** The message delivered (an index into messages). */
  d?: number;
  /** STEP_* bits. */
  f?: number;
  /** Nodes whose view changed. */
  st?: [NodeId, NodeView][];
  /** Nodes that restarted: their log is rebuilt from the durable records (the lg entries that follow). */
  rs?: NodeId[];
  /** Log slots that changed. */
  lg?: LogDelta[];
  /** Snapshots: [node, upTo]; slots below upTo leave the node's log. */
  sn?: [NodeId, number][];
  /** Values found chosen, by the checker's definition (a quorum voted in one ballot): [slot, ballot, value]. */
  ch?: [number, string, string][];
}

/** Drop codes of MsgRec. */
export const DROP_NONE = 0;
export const DROP_CUT_AT_SEND = 1;
export const DROP_LOST = 2;
export const DROP_DOWN = 3;
export const DROP_CUT_AT_ARRIVAL = 4;

/** A message: [from, to, kind (index into MESSAGE_KINDS), sent at step, arrived at step (-1: never), drop code, label]. */
export type MsgRec = [from: NodeId, to: NodeId, kind: number, sent: number, arrived: number, drop: number, label: string];

/** A client's operation, from invoke to completion (end -1: still open when the run stopped). */
export interface OpRec {
  readonly c: number;
  readonly f: "append" | "read";
  readonly v: number | null;
  readonly s: number;
  e: number;
  r: string;
  /** The reply's list, summarized. */
  st: string;
}

/** A client's attempt reaching a node (dir 0) or a node's answer reaching the client (dir 1). */
export type HopRec = [client: number, node: NodeId, step: number, dir: 0 | 1, label: string];

export interface PartitionRec {
  readonly s: number;
  e: number;
  readonly d: string;
  /** [from, to] of every cut link. */
  readonly cuts: [NodeId, NodeId][];
}

export interface VoteRec {
  readonly slot: number;
  readonly ballot: string;
  readonly value: string;
  /** Who voted, and at which step the vote left (with its Accepted). */
  readonly voters: [NodeId, number][];
}

export interface ViolationRec {
  readonly step: number;
  readonly message: string;
  readonly slots: readonly number[];
  readonly ballots: readonly string[];
  readonly nodes: readonly NodeId[];
  readonly payloads: readonly number[];
  /** Every vote cast for the offending slots, and the voters of the membership in force there. */
  readonly votes: readonly VoteRec[];
  readonly quorum: readonly { slot: number; voters: readonly NodeId[] }[];
}

export interface ViewerData {
  readonly seed: number;
  readonly nodes: number;
  readonly ok: boolean;
  readonly failure: string | null;
  readonly digest: string;
  readonly stats: SimResult["stats"];
  readonly replay: string;
  /** Node ids, one lane each. */
  readonly lanes: readonly NodeId[];
  readonly clients: number;
  readonly kinds: readonly MessageType[];
  readonly steps: readonly StepRec[];
  readonly messages: readonly MsgRec[];
  readonly ops: readonly OpRec[];
  readonly hops: readonly HopRec[];
  readonly partitions: readonly PartitionRec[];
  readonly violation: ViolationRec | null;
}

function membersText(m: Membership): string {
  return m.members.map((x) => `${x.id}${x.role === "voter" ? "" : "L"}`).join(",");
}

function viewOf(core: PaxosCore): NodeView {
  const s = core.status();
  return {
    up: true,
    role: s.role,
    member: s.member,
    leader: s.leader,
    promised: formatBallot(s.promised),
    own: s.ownBallot === null ? null : formatBallot(s.ownBallot),
    commit: s.commitIndex,
    list: s.listLength,
    members: membersText(s.membership),
    mslot: s.membership.slot,
  };
}

function sameView(a: NodeView | undefined, b: NodeView): boolean {
  return (
    a !== undefined &&
    a.up === b.up &&
    a.role === b.role &&
    a.member === b.member &&
    a.leader === b.leader &&
    a.promised === b.promised &&
    a.own === b.own &&
    a.commit === b.commit &&
    a.list === b.list &&
    a.mslot === b.mslot &&
    a.members === b.members
  );
}

function resultLabel(r: ClientResult): string {
  switch (r.kind) {
    case "appended":
      return `appended at ${r.index}${r.duplicate ? " (duplicate)" : ""}`;
    case "read":
      return `read ${r.length} items`;
    case "rejected":
      return `rejected: ${r.reason} (${r.outcome})${r.leader === null ? "" : `, leader hint n${r.leader}`}`;
    default:
      return r.kind;
  }
}

function nodeOf(ev: SimEvent): NodeId | undefined {
  switch (ev.kind) {
    case "tick":
    case "release":
    case "restart":
    case "client-arrive":
    case "node-request-timeout":
      return ev.node;
    case "deliver":
      return ev.env.to;
    default:
      return undefined;
  }
}

type SlotModel = { ballot: string; value: string; chosen: boolean };

export class Recorder implements SimObserver {
  private readonly steps: StepRec[] = [];
  private cur: StepRec = { t: 0, e: "start" };
  private used = false;
  /** Kinds of messages sent in the current step, for its title. */
  private sentKinds = new Map<string, number>();
  /** What the current release event carries, for its title. */
  private release: { fsync: boolean; self: string[]; results: number } | null = null;
  /** The message sent last: a second copy of it is the network duplicating it. */
  private lastEnv: Envelope | null = null;
  private readonly messages: MsgRec[] = [];
  /** Queued deliveries -> the message they carry. */
  private readonly inFlight = new Map<SimEvent, number>();
  private readonly views = new Map<NodeId, NodeView>();
  /** What the viewer shows of each node's log, so that only changes are recorded. */
  private readonly logs = new Map<NodeId, Map<number, SlotModel>>();
  private readonly ops: OpRec[] = [];
  private readonly openOps = new Map<number, number>();
  private readonly hops: HopRec[] = [];
  private readonly partitions: PartitionRec[] = [];
  private openPartition: PartitionRec | null = null;
  /** Every vote, by slot and ballot: the offending ones are picked out on a violation. */
  private readonly votes = new Map<number, Map<string, { value: string; voters: [NodeId, number][] }>>();
  private violationRec: Omit<ViolationRec, "quorum"> | null = null;
  private clientCount = 0;

  /** The index the current step gets if it turns out to show something. */
  private get index(): number {
    return this.steps.length;
  }

  private use(flag = 0): StepRec {
    this.used = true;
    if (flag !== 0) this.cur.f = (this.cur.f ?? 0) | flag;
    return this.cur;
  }

  private commit(): void {
    if (!this.used) return;
    const s = this.cur;
    if (s.l === undefined) s.ti = this.title(s);
    this.steps.push(s);
  }

  private title(s: StepRec): string {
    const who = s.n === undefined ? "" : `n${s.n} `;
    if (s.d !== undefined) {
      // a delivery without a trace line: it did not reach its node
      const m = this.messages[s.d]!;
      return `n${m[1]} <- n${m[0]} ${m[6]}: ${m[5] === DROP_DOWN ? "dropped, the node is down" : "dropped, the link is cut"}`;
    }
    const sent = [...this.sentKinds].map(([k, c]) => (c > 1 ? `${k} x${c}` : k)).join(", ");
    const hop = this.hops.length > 0 && this.hops[this.hops.length - 1]![2] === this.index ? this.hops[this.hops.length - 1]! : undefined;
    if (hop !== undefined) return hop[3] === 0 ? `client ${hop[0]}'s request reaches n${hop[1]}${hop[4]}` : `n${hop[1]} answers client ${hop[0]}: ${hop[4]}`;
    switch (s.e) {
      case "release": {
        const r = this.release;
        const parts = [sent === "" ? "" : `sends ${sent}`];
        if (r !== null && r.self.length > 0) parts.push(`steps its own ${r.self.join(", ")}`);
        if (r !== null && r.results > 0) parts.push(`answers ${r.results} request${r.results > 1 ? "s" : ""}`);
        const what = parts.filter((p) => p !== "").join("; ");
        if (what === "") return `${who}${r?.fsync ? "fsync done" : "output released"}`;
        return `${who}${r?.fsync ? "(fsync done) " : ""}${what}`;
      }
      case "tick":
        return sent === "" ? `${who}timer` : `${who}timer: sends ${sent}`;
      default:
        return `${who}${s.e}${sent === "" ? "" : `: sends ${sent}`}`;
    }
  }

  // ------------------------------------------------------------ hooks ----

  event(time: number, ev: SimEvent): void {
    this.commit();
    this.cur = { t: Math.round(time * 1000) / 1000, e: ev.kind };
    const n = nodeOf(ev);
    if (n !== undefined) this.cur.n = n;
    this.used = false;
    this.sentKinds = new Map();
    this.lastEnv = null;
    this.release =
      ev.kind === "release"
        ? { fsync: ev.synced.length > 0 || ev.votes.length > 0, self: ev.messages.filter((e) => e.to === ev.node).map((e) => e.msg.type), results: ev.results.length }
        : null;
    if (ev.kind === "deliver") {
      const id = this.inFlight.get(ev);
      if (id !== undefined) {
        this.inFlight.delete(ev);
        this.messages[id]![4] = this.index;
        this.use().d = id;
      }
    }
  }

  line(text: string): void {
    (this.use().l ??= []).push(text);
  }

  booted(id: NodeId, core: PaxosCore, durable: readonly PersistRecord[]): void {
    const s = this.use(STEP_FAULT);
    (s.rs ??= []).push(id);
    this.logs.set(id, new Map());
    for (const r of durable) this.applyRecord(id, r);
    this.noteView(id, viewOf(core));
  }

  crashed(id: NodeId): void {
    this.use(STEP_FAULT);
    const last = this.views.get(id);
    if (last !== undefined) this.noteView(id, { ...last, up: false, role: "down" });
  }

  persisted(id: NodeId, records: readonly PersistRecord[]): void {
    for (const r of records) this.applyRecord(id, r);
  }

  drained(id: NodeId, core: PaxosCore): void {
    this.noteView(id, viewOf(core));
  }

  sent(env: Envelope, delivery: SimEvent | null, dropped: "partition" | "loss" | null): void {
    const kind = MESSAGE_KINDS.indexOf(env.msg.type);
    const drop = dropped === "partition" ? DROP_CUT_AT_SEND : dropped === "loss" ? DROP_LOST : DROP_NONE;
    const id = this.messages.length;
    const duplicate = env === this.lastEnv;
    this.lastEnv = env;
    this.messages.push([env.from, env.to, kind, this.index, -1, drop, `${describeMessage(env.msg)}${duplicate ? " (a copy: the network duplicated it)" : ""}`]);
    if (delivery !== null) this.inFlight.set(delivery, id);
    if (!duplicate) this.sentKinds.set(env.msg.type, (this.sentKinds.get(env.msg.type) ?? 0) + 1);
    this.use();
  }

  undelivered(_env: Envelope, why: "down" | "partition"): void {
    const id = this.cur.d;
    if (id !== undefined) this.messages[id]![5] = why === "down" ? DROP_DOWN : DROP_CUT_AT_ARRIVAL;
  }

  partition(cuts: LinkCuts, description: string | null): void {
    const open = this.openPartition;
    if (open !== null) {
      open.e = this.index;
      this.openPartition = null;
      this.use(STEP_FAULT);
    }
    if (description === null) return;
    const cut: [NodeId, NodeId][] = [];
    cuts.forEach((row, from) => row.forEach((c, to) => c && cut.push([from, to])));
    this.openPartition = { s: this.index, e: -1, d: description, cuts: cut };
    this.partitions.push(this.openPartition);
    this.use(STEP_FAULT);
  }

  clientOp(client: number, event: HistoryEvent): void {
    this.clientCount = Math.max(this.clientCount, client + 1);
    this.use(STEP_CLIENT);
    if (event.type === "invoke") {
      this.openOps.set(client, this.ops.length);
      this.ops.push({ c: client, f: event.f, v: event.value, s: this.index, e: -1, r: "", st: "" });
      return;
    }
    const i = this.openOps.get(client);
    if (i === undefined) return;
    this.openOps.delete(client);
    const op = this.ops[i]!;
    op.e = this.index;
    op.r = event.type;
    const state = event.state;
    if (state !== null) op.st = `[${state.length} items${state.length > 0 ? `, last ${state[state.length - 1]}` : ""}]`;
  }

  clientRequest(client: number, node: NodeId, up: boolean): void {
    const op = this.openOps.get(client);
    const what = op === undefined ? "" : ` (${this.ops[op]!.f}${this.ops[op]!.v === null ? "" : ` ${this.ops[op]!.v}`})`;
    this.hops.push([client, node, this.index, 0, `${what}${up ? "" : ": the node is down"}`]);
    this.use();
  }

  clientReply(client: number, node: NodeId, result: ClientResult): void {
    this.hops.push([client, node, this.index, 1, resultLabel(result)]);
    this.use();
  }

  voted(node: NodeId, slot: number, ballot: string, value: Value): void {
    let bySlot = this.votes.get(slot);
    if (bySlot === undefined) this.votes.set(slot, (bySlot = new Map()));
    let b = bySlot.get(ballot);
    if (b === undefined) bySlot.set(ballot, (b = { value: describeValue(value), voters: [] }));
    b.voters.push([node, this.index]);
    this.use();
  }

  chosen(slot: number, ballot: string, value: Value): void {
    (this.use().ch ??= []).push([slot, ballot, describeValue(value)]);
  }

  violation(failure: string, detail: ViolationDetail | undefined): void {
    const slots = detail?.slots ?? [];
    const votes: VoteRec[] = [];
    for (const slot of slots) {
      for (const [ballot, b] of this.votes.get(slot) ?? []) votes.push({ slot, ballot, value: b.value, voters: b.voters });
    }
    this.violationRec = { step: this.index, message: failure, slots, ballots: detail?.ballots ?? [], nodes: detail?.nodes ?? [], payloads: detail?.payloads ?? [], votes };
    this.use(STEP_VIOLATION);
  }

  // ----------------------------------------------------------- models ----

  private noteView(id: NodeId, view: NodeView): void {
    const last = this.views.get(id);
    if (sameView(last, view)) return;
    this.views.set(id, view);
    // A role change is an up node's: crashes and restarts are faults (key f), not elections.
    const roleChanged = last !== undefined && last.up && view.up && (last.role !== view.role || last.leader !== view.leader);
    const s = this.use(roleChanged ? STEP_ROLE : 0);
    (s.st ??= []).push([id, view]);
  }

  private setSlot(id: NodeId, slot: number, ballot: Ballot | null, value: Value, chosen: boolean): void {
    const log = this.logs.get(id)!;
    const old = log.get(slot);
    // A chosen slot keeps its value, as in the core (PaxosCore.onAccept).
    if (old?.chosen && !chosen) return;
    const next: SlotModel = { ballot: ballot === null ? (old?.ballot ?? "") : formatBallot(ballot), value: describeValue(value), chosen };
    if (old !== undefined && old.ballot === next.ballot && old.value === next.value && old.chosen === next.chosen) return;
    log.set(slot, next);
    (this.use().lg ??= []).push([id, slot, next.ballot, next.value, chosen ? 1 : 0]);
  }

  private applyRecord(id: NodeId, r: PersistRecord): void {
    if (!this.logs.has(id)) this.logs.set(id, new Map());
    switch (r.type) {
      case "promised":
        return; // the status shows the promise
      case "accepted":
        r.values.forEach((v, i) => this.setSlot(id, r.fromSlot + i, r.ballot, v, false));
        return;
      case "chosen":
        r.values.forEach((v, i) => this.setSlot(id, r.fromSlot + i, null, v, true));
        return;
      case "snapshot": {
        const log = this.logs.get(id)!;
        for (const slot of log.keys()) if (slot < r.snapshot.upTo) log.delete(slot);
        (this.use().sn ??= []).push([id, r.snapshot.upTo]);
        for (const x of r.retained) this.applyRecord(id, x);
        return;
      }
    }
  }

  /** The whole recording, once the run is over. */
  finish(result: SimResult, quorum: (slot: number) => { votes: SlotVoteView[]; voters: NodeId[] } | null): ViewerData {
    this.commit();
    const v = this.violationRec;
    return {
      seed: result.seed,
      nodes: result.nodes,
      ok: result.ok,
      failure: result.failure ?? null,
      digest: result.digest,
      stats: result.stats,
      replay: replayCommand(result),
      lanes: [...this.logs.keys()].sort((a, b) => a - b),
      clients: this.clientCount,
      kinds: MESSAGE_KINDS,
      steps: this.steps,
      messages: this.messages,
      ops: this.ops,
      hops: this.hops,
      partitions: this.partitions,
      violation: v === null ? null : { ...v, step: Math.min(v.step, this.steps.length - 1), quorum: v.slots.map((slot) => ({ slot, voters: quorum(slot)?.voters ?? [] })) },
    };
  }
}

/** Runs one seed with a recorder: the result (as the plain run's) and the viewer's data. */
export function recordRun(opts: SimOptions): { result: SimResult; data: ViewerData } {
  const recorder = new Recorder();
  const sim = new Simulation({ ...opts, observer: recorder });
  const result = sim.run();
  return { result, data: recorder.finish(result, (slot) => sim.slotVotes(slot)) };
}
