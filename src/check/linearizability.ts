// Linearizability checker for histories of the replicated list.
//
// 1. Fast path (the strict model; Elle reads list-append orders off replies
//    the same way). Every ok reply in the strict model is the state at the op's
//    linearization point, and states only grow, so all ok replies must be
//    prefixes of the longest one, L; when each value was appended by at most
//    one ok/info operation, L *is* the order of every append that took effect
//    (info appends not in L are dropped: they never took effect, or did so
//    after everything observed, which changes nothing). So each operation gets
//    a fixed place: the append of L[i] sits between lengths i and i+1, an ok
//    read of m items at length m. The history is linearizable iff the replies
//    are consistent with L (each ok append's reply ends with its value, no
//    value twice, no value that was never appended or whose append failed) and
//    these places respect real time: an op that completed before another was
//    invoked must not be placed after it. One sweep over the events in order
//    checks that. Time O(n log n + total reply length); it decides every strict
//    history in which appended values are unique.
//
// 2. Search (Wing & Gong, with Lowe's memoization, as Knossos `linear` and
//    Porcupine): the call and return entries in real-time order in a doubly
//    linked list; repeatedly "lift" a call (with its return) that is
//    consistent with the model from the current state, backtrack ("unlift") on
//    reaching a return entry whose call cannot be lifted, and remember each
//    configuration (set of linearized ops, state) already explored. States are
//    hash-consed lists (ListStore, a trie) so a step is O(1) or O(log n), and a
//    configuration has a compact exact key: the first return entry still in
//    the list, the calls before it still in the list, and the state id. It
//    runs for the appendable-list model when the strict fast path does not
//    accept, and for the strict model when values repeat. Three sound
//    reductions keep it near-linear on real histories (explained in search()):
//    a read that fits the state is lifted at once and never revisited; a lift
//    whose new state is not a prefix of the reply of the op that returns first
//    is skipped; and an info append whose value only it appends gets a return
//    entry (a deadline) just before the first ok op whose state shows the
//    value, while other info appends may stay unlinearized forever.
//
// Semantics as Jepsen's: a fail never happened; an info op may take effect at
// any point after its invoke, or never. Info reads constrain nothing and are
// dropped; an info append whose value no ok reply contains is dropped too
// (taking effect could only break later ok ops, none of which may contain it).

import type { History, Operation, Process } from "./history.js";
import { firstDifference, ListStore, modelByName, prepareReply, showList, type ListModel, type ModelName, type PreparedReply } from "./models.js";

export interface CheckOptions {
  model: ModelName;
  /** Give up (valid: "unknown") after this long; default 60 s. */
  timeoutMs?: number;
  /** "auto": fast path, then search where it cannot decide; "search": always search (for tests). */
  strategy?: "auto" | "search";
  /**
   * Progress, for a display: the phase, and in the search the operations
   * linearized at the deepest point seen so far of all it must place, with
   * the configurations explored. Called at the start of each phase and then
   * at most once per 1024 search steps.
   */
  onProgress?: (phase: CheckMethod, done: number, total: number, extra: string) => void;
}

export type CheckMethod = "fast-path" | "search";

export interface CheckStats {
  model: ModelName;
  method: CheckMethod;
  /** Operations in the history (all of them, including fail and info). */
  ops: number;
  elapsedMs: number;
  /** Configurations the search memoized (search only). */
  configurations?: number;
}

export type ViolationKind =
  | "bad-reply" // an ok append's reply that no state can produce (strict: not ending with its value)
  | "divergent-replies" // two ok replies neither of which is a prefix of the other
  | "duplicate-value" // a value twice in the list, appended once
  | "unknown-value" // a value in a reply that no operation appended
  | "failed-append-took-effect" // a value whose only append failed
  | "real-time" // the order the replies force contradicts real time
  | "no-linearization"; // the search found none (the op is where every attempt got stuck)

export interface Violation extends CheckStats {
  valid: false;
  kind: ViolationKind;
  /** The operation that cannot be linearized. */
  opIndex: number;
  process: Process;
  f: "append" | "read";
  value: number | null;
  type: "ok" | "fail" | "info";
  reply: readonly number[] | null;
  invokeLine: number;
  completeLine: number | null;
  /** Op indices around it: the op, the ops concurrent with it, and the related ops. */
  window: number[];
  /** Other ops the explanation names (e.g. the one that completed before it). */
  related: number[];
  /** Search only: the lists the state could be when the op had to be linearized (at most 3). */
  states?: number[][];
  /** Human-readable explanation, possibly several lines. */
  explanation: string;
}

export type CheckResult = ({ valid: true } & CheckStats) | Violation | ({ valid: "unknown"; reason: string } & CheckStats);

const DEFAULT_TIMEOUT_MS = 60_000;
const WINDOW_SIZE = 10;

export function checkHistory(history: History, options: CheckOptions): CheckResult {
  const started = performance.now();
  const deadline = Date.now() + (options.timeoutMs ?? DEFAULT_TIMEOUT_MS);
  const elapsed = () => Math.round((performance.now() - started) * 10) / 10;
  const ops = history.ops;

  if ((options.strategy ?? "auto") === "auto") {
    options.onProgress?.("fast-path", 0, ops.length, "");
    const fast = strictFastPath(ops);
    if (fast.decided) {
      if (fast.violation === null) return { valid: true, model: options.model, method: "fast-path", ops: ops.length, elapsedMs: elapsed() };
      if (options.model === "strict") return { ...fast.violation, model: "strict", method: "fast-path", ops: ops.length, elapsedMs: elapsed() };
      // appendable-list is looser: a strict violation may still be fine there, search.
    }
  }

  const model = modelByName(options.model);
  const outcome = search(ops, model, deadline, options.onProgress);
  const stats = { model: options.model, method: "search" as const, ops: ops.length, configurations: outcome.configurations };
  if (outcome.kind === "ok") return { valid: true, ...stats, elapsedMs: elapsed() };
  if (outcome.kind === "timeout") {
    const where = outcome.furthest === null ? "" : `; it got as far as op #${outcome.furthest.index} (line ${outcome.furthest.invokeLine}) of ${ops.length}`;
    return {
      valid: "unknown",
      reason: `timed out after ${options.timeoutMs ?? DEFAULT_TIMEOUT_MS} ms searching for a linearization (${outcome.configurations} configurations explored${where})`,
      ...stats,
      elapsedMs: elapsed(),
    };
  }
  return { ...outcome.violation, ...stats, elapsedMs: elapsed() };
}

// ---------------------------------------------------------------------------
// Descriptions

function procName(p: Process): string {
  return typeof p === "number" ? String(p) : p;
}

/** "process 3's append 17 (ok, reply [..3 items.., 17])" */
export function describeOp(op: Operation, focus?: number): string {
  const what = op.f === "append" ? `append ${String(op.value)}` : "read";
  const how = op.reply === null ? op.type : `${op.type}, reply ${showList(op.reply, focus)}`;
  return `process ${procName(op.process)}'s ${what} (${how})`;
}

function lines(op: Operation): string {
  return op.completeLine === null ? `line ${op.invokeLine}, never completed` : `lines ${op.invokeLine}-${op.completeLine}`;
}

/** End of an op's interval for display: its completion, or never. */
function displayEnd(op: Operation): number {
  return op.completeSeq ?? Number.POSITIVE_INFINITY;
}

function buildWindow(ops: readonly Operation[], x: Operation, related: readonly Operation[]): number[] {
  const xEnd = displayEnd(x);
  const concurrent = ops.filter((y) => y !== x && y.invokeSeq < xEnd && displayEnd(y) > x.invokeSeq);
  concurrent.sort((a, b) => Math.abs(a.invokeSeq - x.invokeSeq) - Math.abs(b.invokeSeq - x.invokeSeq));
  const set = new Set<number>([x.index, ...concurrent.slice(0, WINDOW_SIZE).map((y) => y.index), ...related.map((y) => y.index)]);
  return [...set].sort((a, b) => a - b);
}

type Details = Omit<Violation, keyof CheckStats>;

function violation(ops: readonly Operation[], kind: ViolationKind, x: Operation, related: readonly Operation[], why: string, focus?: number, states?: number[][]): Details {
  const window = buildWindow(ops, x, related);
  const others = window.filter((i) => i !== x.index);
  const listed = others.map((i) => {
    const y = ops[i];
    return y === undefined ? "" : `\n  #${i} ${describeOp(y, focus)} [${lines(y)}]`;
  });
  const explanation =
    `op #${x.index}: ${describeOp(x, focus)} [${lines(x)}] cannot be linearized: ${why}` +
    (listed.length > 0 ? `\nconcurrent and related operations:${listed.join("")}` : "\nno concurrent operations");
  const d: Details = {
    valid: false,
    kind,
    opIndex: x.index,
    process: x.process,
    f: x.f,
    value: x.value,
    type: x.type,
    reply: x.reply,
    invokeLine: x.invokeLine,
    completeLine: x.completeLine,
    window,
    related: related.map((y) => y.index),
    explanation,
  };
  if (states !== undefined) d.states = states;
  return d;
}

// ---------------------------------------------------------------------------
// The fast path (strict model)

type FastResult = { decided: true; violation: Details | null } | { decided: false; reason: string };

function byCompletion(ops: readonly Operation[]): Operation[] {
  return ops.filter((o) => o.type === "ok").sort((a, b) => (a.completeSeq ?? 0) - (b.completeSeq ?? 0));
}

export function strictFastPath(ops: readonly Operation[]): FastResult {
  const oks = byCompletion(ops);
  // Each check below finds its first problem; the report is the one whose op
  // completed first (where the search, too, would first get stuck), so each
  // later check only looks at what completed before the problems found so far.
  let found: Details | null = null;
  let cutoff = Number.POSITIVE_INFINITY; // completeSeq of found's op
  const report = (d: Details, x: Operation): void => {
    const t = x.completeSeq ?? Number.POSITIVE_INFINITY;
    if (t < cutoff) {
      found = d;
      cutoff = t;
    }
  };

  // 1. Replies, in completion order: each ok append's ends with its value, and
  //    each is a prefix of the longest so far or extends it.
  let longest: Operation | null = null;
  for (const x of oks) {
    const r = x.reply ?? [];
    if (x.f === "append" && r[r.length - 1] !== x.value) {
      const ends = r.length === 0 ? "is empty" : `ends with ${String(r[r.length - 1])}`;
      const why = `in the strict model an append replies with the list right after it, which must end with ${String(x.value)}, but this reply ${ends}`;
      report(violation(ops, "bad-reply", x, [], why), x);
      break;
    }
    if (longest !== null) {
      const g = longest.reply ?? [];
      const m = Math.min(r.length, g.length);
      let i = 0;
      while (i < m && r[i] === g[i]) i++;
      if (i < m) {
        const [why, related] = divergence(oks, x, longest, i);
        report(violation(ops, "divergent-replies", x, related, why, i), x);
        break;
      }
    }
    if (longest === null || r.length > (longest.reply?.length ?? 0)) longest = x;
  }
  const L = longest?.reply ?? [];

  // Who appended each value: with more than one ok/info append of a value the
  // order cannot be read off the replies (unless they already contradict).
  const effective = new Map<number, Operation>();
  const failed = new Map<number, Operation>();
  for (const o of ops) {
    if (o.f !== "append" || o.value === null) continue;
    if (o.type === "fail") {
      failed.set(o.value, o);
    } else if (effective.has(o.value)) {
      return found === null ? { decided: false, reason: `value ${o.value} is appended by more than one operation` } : { decided: true, violation: found };
    } else {
      effective.set(o.value, o);
    }
  }

  // 2. Every element of L was appended, by an op that did not fail, and once.
  const posOf = new Map<number, number>();
  const firstSeer = (i: number): Operation => oks.find((o) => (o.reply?.length ?? 0) > i) ?? (longest as Operation);
  for (let i = 0; i < L.length; i++) {
    const x = L[i] ?? 0;
    const j = posOf.get(x);
    const appender = effective.get(x);
    if (appender === undefined || j !== undefined) {
      const seer = firstSeer(i);
      const f = failed.get(x);
      if (appender === undefined && f !== undefined) {
        const why = `its reply holds ${x} at position ${i}, but the only append of ${x}, ${describeOp(f)} [${lines(f)}], failed, and a failed operation never takes effect`;
        report(violation(ops, "failed-append-took-effect", seer, [f], why, i), seer);
      } else if (appender === undefined) {
        report(violation(ops, "unknown-value", seer, [], `its reply holds ${x} at position ${i}, but no operation appended ${x}`, i), seer);
      } else {
        const why = `its reply holds ${x} twice (positions ${String(j)} and ${i}), but only one operation appended ${x}: ${describeOp(appender, j)} [${lines(appender)}]`;
        report(violation(ops, "duplicate-value", seer, seer === appender ? [] : [appender], why, i), seer);
      }
      break; // positions from i on have no place; every op that needs them completes at or after the cutoff
    }
    posOf.set(x, i);
  }

  // Places: append of L[i] -> 2i+1, ok read of m items -> 2m. Ops without a
  // place (fail ops, info reads, info appends whose value is not in L) are dropped.
  const key = (o: Operation): number => {
    if (o.type === "fail") return -1;
    if (o.f === "read") return o.type === "ok" ? 2 * (o.reply?.length ?? 0) : -1;
    const p = posOf.get(o.value ?? 0);
    return p === undefined ? -1 : 2 * p + 1;
  };

  // 3. Sweep the events in real-time order, up to the cutoff. The places
  //    respect real time iff no op that completed before another was invoked
  //    has a later place. Like the search, blame the first op, in order of
  //    completion, that cannot be placed:
  //    - an op whose reply needs an element whose append was not yet invoked
  //      when it completed (it saw the future), or
  //    - an op invoked after another op with a later place completed (a stale
  //      reply; given the first rule, only a read can be stale).
  const invoked = new Uint8Array(L.length);
  let invokedPrefix = 0; // the appends of L[0..invokedPrefix) have all been invoked
  let maxKey = -1;
  let maxOp: Operation | null = null;
  const staleAfter = new Map<Operation, Operation>();
  const sweepCompletion = (x: Operation): Details | null => {
    const need = x.f === "append" ? (posOf.get(x.value ?? 0) ?? 0) : (x.reply?.length ?? 0);
    if (need > invokedPrefix) return futureViolation(ops, x, invokedPrefix, L, effective);
    const a = staleAfter.get(x);
    if (a !== undefined) return staleViolation(ops, x, a, L, posOf, effective);
    const k = key(x);
    if (k > maxKey) {
      maxKey = k;
      maxOp = x;
    }
    return null;
  };
  let c = 0;
  const completeUpTo = (seq: number): Details | null => {
    for (let x = oks[c]; x !== undefined && (x.completeSeq ?? 0) < seq && (x.completeSeq ?? 0) < cutoff; x = oks[++c]) {
      const v = sweepCompletion(x);
      if (v !== null) return v;
    }
    return null;
  };
  for (const b of ops) {
    const v = completeUpTo(b.invokeSeq);
    if (v !== null) return { decided: true, violation: v };
    const kb = key(b);
    if (kb < 0) continue;
    if (b.f === "append") {
      invoked[(kb - 1) / 2] = 1;
      while (invokedPrefix < L.length && invoked[invokedPrefix] === 1) invokedPrefix++;
    }
    if (kb < maxKey && maxOp !== null) staleAfter.set(b, maxOp);
  }
  const v = completeUpTo(Number.POSITIVE_INFINITY);
  return { decided: true, violation: v ?? found };
}

/** Why x's reply and y's (y completed first; both ok) cannot both be states: they differ at position i. */
function divergence(oks: readonly Operation[], x: Operation, y: Operation, i: number): [string, Operation[]] {
  const r = x.reply ?? [];
  const g = y.reply ?? [];
  const expected = g[i] ?? 0;
  if (!r.includes(expected)) {
    // A lost element? Find an op that completed before x was invoked and already
    // had it at position i (every reply so far is a prefix of y's): preferably its own append.
    let z: Operation | undefined;
    for (const o of oks) {
      if ((o.completeSeq ?? 0) >= x.invokeSeq) break;
      if ((o.reply?.length ?? 0) > i && o.reply?.[i] === expected && (z === undefined || (o.f === "append" && o.value === expected))) z = o;
    }
    if (z !== undefined) {
      const why =
        `${describeOp(z, i)} completed before it was invoked, and its reply already held ${expected} at position ${i}; ` +
        `this reply holds ${String(r[i])} there and lacks ${expected} altogether: an acknowledged element was lost`;
      return [why, z === y ? [y] : [z, y]];
    }
  }
  if ((y.completeSeq ?? 0) < x.invokeSeq) {
    const why =
      `${describeOp(y, i)} completed before it was invoked, so the list must start with ${showList(g, i)}; ` +
      `but this reply holds ${String(r[i])} at position ${i} instead of ${expected}`;
    return [why, [y]];
  }
  const why =
    `its reply and that of ${describeOp(y, i)} (which completed earlier, while this one was in progress) ` +
    `disagree at position ${i} (${String(r[i])} here, ${expected} there), so they cannot both be states of one append-only list`;
  return [why, [y]];
}

/** x's reply contains L[k], whose append was invoked only after x completed. */
function futureViolation(ops: readonly Operation[], x: Operation, k: number, L: readonly number[], effective: ReadonlyMap<number, Operation>): Details {
  const v = L[k] ?? 0;
  const y = effective.get(v);
  const who = y === undefined ? "" : `, ${describeOp(y, k)} [${lines(y)}],`;
  const why = `its reply already holds ${v} at position ${k}, but the append of ${v}${who} was invoked only after this op had completed`;
  return violation(ops, "real-time", x, y === undefined ? [] : [y], why, k);
}

/** x (a read) returned a list shorter than what `a`, which completed before x was invoked, implies. */
function staleViolation(
  ops: readonly Operation[],
  x: Operation,
  a: Operation,
  L: readonly number[],
  posOf: ReadonlyMap<number, number>,
  effective: ReadonlyMap<number, Operation>,
): Details {
  const related: Operation[] = [a];
  let aFact: string;
  let need: number; // the list had at least this many items when x was invoked
  if (a.f === "append") {
    const j = posOf.get(a.value ?? 0) ?? 0;
    need = j + 1;
    aFact = `${describeOp(a, j)} completed before it was invoked, so by then the list already held ${String(a.value)} at position ${j}`;
  } else {
    need = a.reply?.length ?? 0;
    aFact = `${describeOp(a)} completed before it was invoked, so by then the list already had at least ${need} items, ${showList(L.slice(0, need))}`;
  }
  let xFact: string;
  let focus: number;
  if (x.f === "read") {
    const m = x.reply?.length ?? 0;
    const lacking = L[m] ?? 0;
    const appender = effective.get(lacking);
    if (appender !== undefined && appender !== a) related.push(appender);
    focus = m;
    xFact = `but this read returned only ${m} items; it lacks ${lacking} (position ${m})${appender !== undefined && appender !== a ? `, appended by ${describeOp(appender, m)}` : ""}`;
  } else {
    // Not reached (a stale append's value would be in a's reply, which the first rule catches), but say something sensible.
    const i = posOf.get(x.value ?? 0) ?? 0;
    focus = i;
    xFact = `but its reply puts ${String(x.value)} at position ${i}, so it took effect when the list had ${i} items, fewer than ${need}`;
  }
  return violation(ops, "real-time", x, related, `${aFact}; ${xFact}`, focus);
}

// ---------------------------------------------------------------------------
// The search (Wing-Gong-Lowe)

const APPEND_OK = 0;
const READ_OK = 1;
const APPEND_INFO = 2;

interface SearchOp {
  op: Operation;
  kind: typeof APPEND_OK | typeof READ_OK | typeof APPEND_INFO;
  v: number;
  reply: PreparedReply | null;
}

type SearchOutcome =
  | { kind: "ok"; configurations: number }
  | { kind: "timeout"; configurations: number; furthest: Operation | null }
  | { kind: "fail"; configurations: number; violation: Details };

/**
 * For each info append that is the only op appending its value, the event
 * position by which it must have taken effect: the first completion of an ok
 * op whose state contains the value (reads; in the strict model also appends,
 * whose reply is the state). Both states and replies are checked through the
 * spine (the longest reply) when they lie on it, so this is O(n + |L|).
 */
function infoDeadlines(
  ops: readonly Operation[],
  oks: readonly Operation[],
  sops: readonly SearchOp[],
  store: ListStore,
  replies: ReadonlyMap<Operation, PreparedReply>,
  longest: readonly number[],
  model: ModelName,
): Map<Operation, number> {
  const out = new Map<Operation, number>();
  const appenders = new Map<number, number>();
  for (const o of ops) if (o.f === "append" && o.type !== "fail" && o.value !== null) appenders.set(o.value, (appenders.get(o.value) ?? 0) + 1);
  const sole = new Map<number, Operation>();
  for (const s of sops) if (s.kind === APPEND_INFO && appenders.get(s.v) === 1) sole.set(s.v, s.op);
  if (sole.size === 0) return out;

  const deadline = new Map<number, number>();
  const earlier = (x: number, seq: number) => {
    if (seq < (deadline.get(x) ?? Number.POSITIVE_INFINITY)) deadline.set(x, seq);
  };
  // minAtLeast[len]: first completion of a constraining op whose state is a spine prefix of length >= len.
  const minAtLeast = new Float64Array(longest.length + 2).fill(Number.POSITIVE_INFINITY);
  for (const o of oks) {
    if (o.f === "append" && model !== "strict") continue;
    const node = replies.get(o)?.node ?? ListStore.EMPTY;
    const seq = o.completeSeq ?? Number.POSITIVE_INFINITY;
    if (store.onSpine(node)) {
      const len = store.depth(node);
      if (seq < (minAtLeast[len] ?? Number.POSITIVE_INFINITY)) minAtLeast[len] = seq;
    } else {
      for (const x of o.reply ?? []) if (sole.has(x)) earlier(x, seq);
    }
  }
  for (let len = longest.length - 1; len >= 0; len--) minAtLeast[len] = Math.min(minAtLeast[len] ?? Number.POSITIVE_INFINITY, minAtLeast[len + 1] ?? Number.POSITIVE_INFINITY);
  for (let i = 0; i < longest.length; i++) {
    const x = longest[i] ?? 0;
    if (sole.has(x)) earlier(x, minAtLeast[i + 1] ?? Number.POSITIVE_INFINITY);
  }
  for (const [x, op] of sole) {
    const d = deadline.get(x);
    if (d !== undefined && Number.isFinite(d)) out.set(op, d);
  }
  return out;
}

function search(ops: readonly Operation[], model: ListModel, deadline: number, onProgress?: CheckOptions["onProgress"]): SearchOutcome {
  const store = new ListStore();
  const oks = ops.filter((o) => o.type === "ok");
  let longest: readonly number[] = [];
  for (const o of oks) if ((o.reply?.length ?? 0) > longest.length) longest = o.reply ?? [];
  store.setSpine(longest);
  const replies = new Map<Operation, PreparedReply>();
  for (const o of oks) replies.set(o, prepareReply(store, o.reply ?? [], o.value));
  // Every value any ok reply contains is the value of some node of the trie (so far).
  const seen = new Set<number>();
  for (let n = 1; n < store.size; n++) seen.add(store.last(n));

  const sops: SearchOp[] = [];
  for (const o of ops) {
    if (o.type === "ok") {
      sops.push({ op: o, kind: o.f === "append" ? APPEND_OK : READ_OK, v: o.value ?? 0, reply: replies.get(o) ?? null });
    } else if (o.type === "info" && o.f === "append" && o.value !== null && seen.has(o.value)) {
      sops.push({ op: o, kind: APPEND_INFO, v: o.value, reply: null });
    }
  }

  // Entries in real-time order. An info op returns after everything (in
  // invoke order), unless it alone appends its value: then it must be
  // linearized before the first ok op whose state shows that value returns.
  const n = sops.length;
  const E = 2 * n;
  const positions: { pos: number; s: number; call: boolean; optional: boolean }[] = [];
  const far = Number.MAX_SAFE_INTEGER / 2;
  const mustPrecede = infoDeadlines(ops, oks, sops, store, replies, longest, model.name);
  sops.forEach((s, i) => {
    let ret = s.op.completeSeq ?? far;
    let optional = false;
    if (s.op.type === "info") {
      const d = mustPrecede.get(s.op) ?? far;
      optional = !(d > s.op.invokeSeq && d < far);
      ret = optional ? far + s.op.invokeSeq : d - 0.5;
    }
    positions.push({ pos: s.op.invokeSeq, s: i, call: true, optional: false });
    positions.push({ pos: ret, s: i, call: false, optional });
  });
  positions.sort((a, b) => a.pos - b.pos);
  const entOp = new Int32Array(E);
  const entCall = new Uint8Array(E);
  // Return entries of info ops that need never take effect: all at the end, so
  // reaching one means every op that must be linearized is.
  const optionalRet = new Uint8Array(E);
  const match = new Int32Array(E);
  const callOf = new Int32Array(n);
  positions.forEach((p, e) => {
    entOp[e] = p.s;
    entCall[e] = p.call ? 1 : 0;
    optionalRet[e] = p.optional ? 1 : 0;
    if (p.call) callOf[p.s] = e;
    else match[callOf[p.s] ?? 0] = e;
  });

  const HEAD = E;
  const next = new Int32Array(E + 1);
  const prev = new Int32Array(E + 1);
  for (let e = 0; e <= E; e++) {
    next[e] = e + 1 < E ? e + 1 : -1;
    prev[e] = e - 1;
  }
  next[HEAD] = E > 0 ? 0 : -1;
  if (E > 0) prev[0] = HEAD;
  if (E > 0) next[E - 1] = -1;

  const unlink = (e: number): void => {
    const p = prev[e] ?? HEAD;
    const q = next[e] ?? -1;
    next[p] = q;
    if (q >= 0) prev[q] = p;
  };
  const relink = (e: number): void => {
    const p = prev[e] ?? HEAD;
    const q = next[e] ?? -1;
    next[p] = e;
    if (q >= 0) prev[q] = e;
  };
  const lift = (e: number): void => {
    unlink(e);
    unlink(match[e] ?? 0);
  };
  const unlift = (e: number): void => {
    relink(match[e] ?? 0);
    relink(e);
  };
  /** The configuration's exact key: state, first return entry, calls still before it. */
  const configKey = (state: number): string => {
    let k = `${state}`;
    let e = next[HEAD] ?? -1;
    while (e >= 0 && entCall[e] === 1) {
      k += `,${e}`;
      e = next[e] ?? -1;
    }
    return `${k}|${e}`;
  };

  const step = (s: SearchOp, st: number): number => {
    switch (s.kind) {
      case APPEND_OK:
        return model.appendOk(store, st, s.v, s.reply as PreparedReply);
      case READ_OK:
        return model.readOk(store, st, s.reply as PreparedReply);
      default:
        return model.appendInfo(store, st, s.v);
    }
  };

  // A read that fits the current state can be linearized right away: states
  // only grow, so in any linearization only other reads come between now and
  // its place, and moving it first keeps real-time order (it was invoked; what
  // must precede it already returned). So a configuration where a read fits is
  // linearizable iff the one with the read lifted is: reads are tried first and
  // never backtracked into alternatives ("forced").
  //
  // Also, every op linearized from now on starts from a state that is a prefix
  // of its reply (strict and appendable-list alike), and states only grow. So
  // lifting op o into state st2 is pointless unless st2 is a prefix of the
  // reply of the op r whose return entry comes first (when r is ok and not o):
  // r still has to follow. This keeps info appends from being tried anywhere
  // but where the replies show them.
  let firstRetReply = -1; // node of the reply of the first return entry's op, -1 if none applies
  let firstRetOp = -1;
  const firstCandidate = (st: number): number => {
    let candidate = -1;
    let p = next[HEAD] ?? -1;
    for (; p >= 0 && entCall[p] === 1; p = next[p] ?? -1) {
      const s = sops[entOp[p] ?? 0] as SearchOp;
      if (candidate < 0 && s.kind === READ_OK && (s.reply as PreparedReply).node === st) candidate = p;
    }
    // The first return entry of an ok op (info ops' deadline entries have no reply; skip them).
    while (p >= 0 && (entCall[p] === 1 || (sops[entOp[p] ?? 0] as SearchOp).reply === null) && optionalRet[p] === 0) p = next[p] ?? -1;
    const r = p >= 0 && optionalRet[p] === 0 ? (sops[entOp[p] ?? 0] as SearchOp) : undefined;
    firstRetOp = r !== undefined ? (entOp[p] ?? -1) : -1;
    firstRetReply = r !== undefined && r.reply !== null ? r.reply.node : -1;
    return candidate >= 0 ? candidate : (next[HEAD] ?? -1);
  };

  const memo = new Set<string>();
  const stackEntry: number[] = [];
  const stackState: number[] = [];
  const stackForced: boolean[] = [];
  let state = ListStore.EMPTY;
  let e = firstCandidate(state);
  let iterations = 0;
  let deepest = 0; // most ops linearized at once, as sampled for onProgress
  onProgress?.("search", 0, n, "0 configurations");
  let maxR = -1;
  const blockedStates = new Set<number>();
  let blockedPath: number[] = [];
  let blockedPending: number[] = []; // ops invoked but not linearized when first stuck there (not counting the stuck op)

  /** Undoes lifts up to and including the last unforced one; false when nothing is left. */
  const backtrack = (): boolean => {
    for (;;) {
      const top = stackEntry.pop();
      if (top === undefined) return false;
      state = stackState.pop() ?? ListStore.EMPTY;
      const forced = stackForced.pop() ?? false;
      unlift(top);
      if (!forced) {
        firstCandidate(state);
        e = next[top] ?? -1;
        return true;
      }
    }
  };

  while ((next[HEAD] ?? -1) >= 0) {
    if ((++iterations & 1023) === 0) {
      if (Date.now() >= deadline) {
        const furthest = maxR >= 0 ? (sops[entOp[maxR] ?? 0]?.op ?? null) : null;
        return { kind: "timeout", configurations: memo.size, furthest };
      }
      if (onProgress !== undefined) {
        if (stackEntry.length > deepest) deepest = stackEntry.length;
        onProgress("search", deepest, n, `${memo.size} configurations`);
      }
    }
    if (e < 0) break; // cannot happen: every call's return follows it
    const s = sops[entOp[e] ?? 0] as SearchOp;
    if (entCall[e] === 1) {
      const st2 = step(s, state);
      if (st2 >= 0 && (firstRetReply < 0 || entOp[e] === firstRetOp || store.isPrefix(st2, firstRetReply))) {
        const forced = s.kind === READ_OK;
        lift(e);
        const key = configKey(st2);
        if (!memo.has(key)) {
          memo.add(key);
          stackEntry.push(e);
          stackState.push(state);
          stackForced.push(forced);
          state = st2;
          e = firstCandidate(state);
          continue;
        }
        unlift(e);
        // Already explored, and it failed; for a read that settles this configuration too.
        if (forced && !backtrack()) break;
        if (forced) continue;
      }
      e = next[e] ?? -1;
    } else if (optionalRet[e] === 1) {
      return { kind: "ok", configurations: memo.size };
    } else {
      // A return entry whose call is not linearized: stuck here.
      if (e > maxR) {
        maxR = e;
        blockedStates.clear();
        blockedPath = stackEntry.slice(-3).map((x) => entOp[x] ?? 0);
        blockedPending = [];
        for (let p = next[HEAD] ?? -1; p >= 0 && p !== e; p = next[p] ?? -1) if (entCall[p] === 1 && p !== match[e]) blockedPending.push(entOp[p] ?? 0);
      }
      if (e === maxR && blockedStates.size < 1000) blockedStates.add(state);
      if (!backtrack()) break;
    }
  }
  if ((next[HEAD] ?? -1) < 0) return { kind: "ok", configurations: memo.size };

  // No linearization: explain at the furthest return entry any attempt reached.
  const stuck = sops[entOp[maxR] ?? 0] as SearchOp;
  // Stuck at an info append's deadline: the op that needs it (whose return comes next) is the one blamed.
  const needer = stuck.kind === APPEND_INFO ? oks.find((o) => o.completeSeq === mustPrecede.get(stuck.op)) : undefined;
  const x = needer ?? stuck.op;
  const states = [...blockedStates].slice(0, 3).map((st) => store.toArray(st));
  const path = blockedPath.map((i) => sops[i]?.op).filter((o): o is Operation => o !== undefined);
  const first = states[0] ?? [];
  const focus = x.reply === null ? undefined : Math.max(0, firstDifference(x.f === "append" ? [...first, x.value ?? 0] : first, x.reply));
  let why: string;
  if (blockedStates.size <= 1) {
    why = `at that point the list must be ${showList(first, focus)}`;
  } else {
    const shown = states.map((st) => showList(st, focus)).join(", ");
    why = `at that point the list can only be one of ${blockedStates.size >= 1000 ? "1000 or more" : blockedStates.size} lists (${shown}${blockedStates.size > 3 ? ", ..." : ""})`;
  }
  if (path.length > 0) {
    why += `, because every operation that completed before it must come first (in every order the concurrent ones allow; one such order ends with ${path.map((o) => describeOp(o, focus)).join(", then ")})`;
  } else {
    why += `, because every operation that completed before it must come first`;
  }
  if (x.reply !== null) {
    const reason = model.whyNot(first, x.f, x.value, x.reply);
    if (reason !== "") why += `; ${blockedStates.size > 1 ? `from the first of them, ` : ""}${reason}`;
  }
  const pending = blockedPending.map((i) => sops[i]?.op).filter((o): o is Operation => o !== undefined && o !== x);
  if (pending.length > 0) {
    const shown = pending.slice(0, 5).map((o) => `#${o.index}`);
    why += `; linearizing first any of the operations still pending then (${shown.join(", ")}${pending.length > 5 ? ", ..." : ""}) does not help`;
  }
  return { kind: "fail", configurations: memo.size, violation: violation(ops, "no-linearization", x, [...path, ...pending.slice(0, 5)], why, focus, states) };
}
