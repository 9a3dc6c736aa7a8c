// Input of the HTML report (report.ts): the recorded history and what the run
// and the checker concluded.

/** One line of the history (`time`: nanoseconds since the test started). */
export type { RecordedEvent as HistoryEvent } from "../check/history.js";

/** A period during which the nemesis had a fault in place. */
export interface NemesisInterval {
  /** "partition" | "partition-leader" | "kill" | "pause" (others are drawn too). */
  kind: string;
  description: string;
  /** Nanoseconds since the test started. */
  start: number;
  end: number;
}

export interface RunResults {
  name: string;
  /** ISO 8601. */
  startedAt: string;
  valid: true | false | "unknown";
  model: string;
  /** The checker's words; empty when valid. */
  explanation: string;
  /**
   * Operations named in the violation, as the checker numbers them ("op #N"):
   * 0-based positions in invoke order, each invoke paired with the next
   * completion of the same process. May be empty.
   */
  failingOps: number[];
  nodes: number;
  concurrency: number;
  timeLimitS: number;
  nemeses: string[];
  rate: number;
  counts: {
    invoke: number;
    ok: number;
    fail: number;
    info: number;
    byF: Record<string, { ok: number; fail: number; info: number }>;
  };
  latencyMs: { p50: number; p90: number; p99: number; max: number };
  nemesisIntervals: NemesisInterval[];
  /** The cluster serves again after healing. */
  finalCheck: { ok: boolean; detail: string };
  /** Whether the run used mutual TLS between peers and for clients (--tls). */
  tls: boolean;
  /** Node slots (namespaces) in all: `nodes` bootstrap the cluster, the others are spares for the member nemesis. Absent: as many as nodes. */
  slots?: number;
  /** The membership over time, as the nodes reported it to the harness's poller (absent in results of older runs). */
  membership?: MembershipObservation;
}

export type MemberRole = "voter" | "learner";

export interface ObservedMember {
  id: number;
  /** "host:httpPort" */
  address: string;
  /** The harness slot (namespace) at that address, or null. */
  slot: number | null;
}

/** One configuration, as first reported by some node. */
export interface ObservedConfig {
  configSlot: number;
  /** ns since the test started: the first poll in which a node reported it. */
  firstSeen: number;
  firstSeenBy: number;
  /** Slots that reported it at some point. */
  seenBy: number[];
  voters: ObservedMember[];
  learners: ObservedMember[];
}

/** The difference between two consecutive observed configurations. */
export interface ObservedChange {
  time: number;
  fromSlot: number;
  configSlot: number;
  /** grow/shrink: the number of voters went up/down. */
  kind: "grow" | "shrink" | "learner-added" | "learner-removed" | "other";
  votersBefore: number;
  votersAfter: number;
  detail: string;
}

/** What a slot's own GET /status said it was; "no answer": nothing answered there (no process, paused, or slow). */
export type SlotLaneState = "leader" | "voter" | "learner" | "joining" | "removed" | "no answer";

export interface SlotLane {
  slot: number;
  host: string;
  segments: { start: number; end: number; state: SlotLaneState; id: number | null; configSlot: number | null }[];
}

export interface MembershipObservation {
  hosts: string[];
  pollIntervalMs: number;
  samples: number;
  configs: ObservedConfig[];
  changes: ObservedChange[];
  grows: number;
  shrinks: number;
  /** Two different memberships reported for one config_slot. */
  conflicts: string[];
  lanes: SlotLane[];
  /** required: the member nemesis ran, so a grow and a shrink must have been observed. */
  check: { required: boolean; ok: boolean; detail: string };
}
