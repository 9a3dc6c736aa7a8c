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
}
