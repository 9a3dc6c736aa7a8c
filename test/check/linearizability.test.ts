// The checker on hand-written histories. Each history is checked with both
// models, and with the fast path and with the search alone: the two methods
// must always agree.

import { describe, expect, it } from "vitest";
import { historyFromEvents, type History } from "../../src/check/history.js";
import { checkHistory, type CheckResult, type Violation } from "../../src/check/linearizability.js";
import type { ModelName } from "../../src/check/models.js";

/** Builds a history event by event; time advances by one per event. */
class H {
  private readonly events: Record<string, unknown>[] = [];
  private t = 0;

  private ev(process: number, type: string, f: string, value: number | null, state: number[] | null): this {
    this.events.push({ process, type, f, value, state, time: this.t++ });
    return this;
  }
  append(p: number, v: number): this {
    return this.ev(p, "invoke", "append", v, null);
  }
  read(p: number): this {
    return this.ev(p, "invoke", "read", null, null);
  }
  ok(p: number, v: number, state: number[]): this {
    return this.ev(p, "ok", "append", v, state);
  }
  okRead(p: number, state: number[]): this {
    return this.ev(p, "ok", "read", null, state);
  }
  fail(p: number, v: number): this {
    return this.ev(p, "fail", "append", v, null);
  }
  info(p: number, v: number): this {
    return this.ev(p, "info", "append", v, null);
  }
  infoRead(p: number): this {
    return this.ev(p, "info", "read", null, null);
  }
  /** Sequential shorthands. */
  seqAppend(p: number, v: number, state: number[]): this {
    return this.append(p, v).ok(p, v, state);
  }
  seqRead(p: number, state: number[]): this {
    return this.read(p).okRead(p, state);
  }
  history(): History {
    return historyFromEvents(this.events);
  }
}

/** Checks with the model, by both methods; they must agree on the verdict. */
function check(h: History, model: ModelName): CheckResult {
  const auto = checkHistory(h, { model });
  const searched = checkHistory(h, { model, strategy: "search" });
  expect(searched.valid, `search and ${auto.method} disagree (${model})`).toBe(auto.valid);
  // Both blame the first op (in order of completion) that cannot be linearized.
  if (auto.valid === false && searched.valid === false) expect(searched.opIndex, "search and fast path blame different ops").toBe(auto.opIndex);
  return auto;
}

function expectValid(h: History, model: ModelName): void {
  const r = check(h, model);
  if (r.valid !== true) throw new Error(`expected linearizable under ${model}, got ${JSON.stringify(r, null, 1)}`);
}

function expectViolation(h: History, model: ModelName): Violation {
  const r = check(h, model);
  if (r.valid !== false) throw new Error(`expected a violation under ${model}, got ${JSON.stringify(r)}`);
  return r;
}

const BOTH: ModelName[] = ["strict", "appendable-list"];

describe("linearizable histories", () => {
  it("an empty history", () => {
    for (const m of BOTH) expectValid(new H().history(), m);
  });

  it("sequential appends and reads", () => {
    const h = new H().seqRead(0, []).seqAppend(0, 1, [1]).seqAppend(1, 2, [1, 2]).seqRead(2, [1, 2]).seqAppend(0, 3, [1, 2, 3]).history();
    for (const m of BOTH) expectValid(h, m);
    expect(checkHistory(h, { model: "strict" }).method).toBe("fast-path");
  });

  it("two concurrent appends, in either order", () => {
    const first = new H().append(0, 1).append(1, 2).ok(0, 1, [1]).ok(1, 2, [1, 2]).seqRead(2, [1, 2]).history();
    const second = new H().append(0, 1).append(1, 2).ok(0, 1, [2, 1]).ok(1, 2, [2]).seqRead(2, [2, 1]).history();
    for (const m of BOTH) {
      expectValid(first, m);
      expectValid(second, m);
    }
  });

  it("a read concurrent with an append may see it or not", () => {
    for (const seen of [[], [5]]) {
      const h = new H().append(0, 5).read(1).okRead(1, seen).ok(0, 5, [5]).history();
      for (const m of BOTH) expectValid(h, m);
    }
  });

  it("an info append that did take effect, seen by later ops", () => {
    const h = new H().append(0, 1).info(0, 1).seqAppend(1, 2, [1, 2]).seqRead(2, [1, 2]).history();
    for (const m of BOTH) expectValid(h, m);
  });

  it("an info append that took effect long after the client gave up", () => {
    const h = new H().append(0, 1).info(0, 1).seqAppend(1, 2, [2]).seqRead(2, [2]).seqAppend(1, 3, [2, 1, 3]).history();
    for (const m of BOTH) expectValid(h, m);
  });

  it("an info append that never took effect", () => {
    const h = new H().append(0, 1).info(0, 1).seqAppend(1, 2, [2]).seqRead(2, [2]).history();
    for (const m of BOTH) expectValid(h, m);
  });

  it("an info read constrains nothing", () => {
    const h = new H().seqAppend(0, 1, [1]).read(1).infoRead(1).seqRead(2, [1]).history();
    for (const m of BOTH) expectValid(h, m);
  });

  it("an invoke without completion counts as info: it may have taken effect", () => {
    // Process 0 never hears back; its 1 shows up in later replies.
    const h = new H().append(0, 1).seqAppend(1, 2, [1, 2]).seqRead(2, [1, 2]).history();
    expect(h.ops[0]?.type).toBe("info");
    for (const m of BOTH) expectValid(h, m);
    // ... or not.
    const never = new H().append(0, 1).seqAppend(1, 2, [2]).seqRead(2, [2]).history();
    for (const m of BOTH) expectValid(never, m);
  });

  it("a failed append that did not take effect", () => {
    const h = new H().append(0, 1).fail(0, 1).seqAppend(0, 2, [2]).seqRead(1, [2]).history();
    for (const m of BOTH) expectValid(h, m);
  });

  it("the same value appended twice (the search decides)", () => {
    const h = new H().seqAppend(0, 7, [7]).append(1, 7).append(2, 8).ok(2, 8, [7, 8]).ok(1, 7, [7, 8, 7]).seqRead(0, [7, 8, 7]).history();
    for (const m of BOTH) expectValid(h, m);
    const r = checkHistory(h, { model: "strict" });
    expect(r.method).toBe("search");
  });
});

describe("violations", () => {
  it("a stale read: a reply missing an element acknowledged before it was invoked", () => {
    const h = new H().seqAppend(0, 1, [1]).seqAppend(1, 2, [1, 2]).seqRead(2, [1]).history();
    for (const m of BOTH) {
      const v = expectViolation(h, m);
      expect(v).toMatchObject({ opIndex: 2, process: 2, f: "read", value: null, reply: [1] });
    }
    const v = expectViolation(h, "strict");
    expect(v.kind).toBe("real-time");
    expect(v.related).toEqual([1]);
    expect(v.explanation).toContain("op #2: process 2's read (ok, reply [1]) [lines 5-6] cannot be linearized");
    expect(v.explanation).toContain("process 1's append 2 (ok, reply [1, 2]) completed before it was invoked");
    expect(v.explanation).toContain("it lacks 2 (position 1)");
  });

  it("a stale append reply: missing an element acknowledged before it was invoked", () => {
    const h = new H().seqAppend(0, 1, [1]).seqAppend(1, 2, [2]).history();
    for (const m of BOTH) expect(expectViolation(h, m).opIndex).toBe(1);
    const v = expectViolation(h, "strict");
    expect(v.kind).toBe("divergent-replies");
    expect(v.explanation).toContain(
      "process 0's append 1 (ok, reply [1]) completed before it was invoked, and its reply already held 1 at position 0; this reply holds 2 there and lacks 1 altogether: an acknowledged element was lost",
    );
  });

  it("a lost acknowledged append: later replies lack it", () => {
    const h = new H().seqAppend(0, 1, [1]).seqAppend(1, 2, [1, 2]).seqAppend(2, 3, [2, 3]).seqRead(0, [2, 3]).history();
    for (const m of BOTH) expect(expectViolation(h, m).opIndex).toBe(2);
    const v = expectViolation(h, "appendable-list");
    expect(v.kind).toBe("no-linearization");
    expect(v.states).toEqual([[1, 2]]);
    expect(v.explanation).toContain("at that point the list must be [1, 2]");
    expect(v.explanation).toContain("an append to [1, 2] must reply with a list that starts with it");
  });

  it("a duplicated value: a value twice in a reply, appended once", () => {
    const strictOnly = new H().seqAppend(0, 1, [1]).seqAppend(1, 2, [1, 1, 2]).history();
    const v = expectViolation(strictOnly, "strict");
    expect(v).toMatchObject({ kind: "duplicate-value", opIndex: 1 });
    expect(v.explanation).toContain("its reply holds 1 twice (positions 0 and 1)");
    // appendable-list lets an append reply hold extra items after the state...
    expectValid(strictOnly, "appendable-list");
    // ... but a read must equal the state.
    const both = new H().seqAppend(0, 1, [1]).seqAppend(1, 2, [1, 1, 2]).seqRead(2, [1, 1, 2]).history();
    expect(expectViolation(both, "appendable-list").opIndex).toBe(2);
  });

  it("a failed append must not take effect", () => {
    const h = new H().append(0, 1).fail(0, 1).seqRead(1, [1]).history();
    for (const m of BOTH) expect(expectViolation(h, m).opIndex).toBe(1);
    const v = expectViolation(h, "strict");
    expect(v.kind).toBe("failed-append-took-effect");
    expect(v.related).toEqual([0]);
    expect(v.explanation).toContain("failed, and a failed operation never takes effect");
  });

  it("a value nobody appended", () => {
    const h = new H().seqAppend(0, 1, [1]).seqRead(1, [1, 9]).history();
    for (const m of BOTH) expect(expectViolation(h, m).opIndex).toBe(1);
    expect(expectViolation(h, "strict").kind).toBe("unknown-value");
  });

  it("real-time order: B invoked after A completed, but ordered before A", () => {
    // A's reply [2, 1] puts B's 2 first, yet B was invoked only after A completed.
    // Strict blames A, the first op that cannot be linearized: when it
    // completed, its reply already held 2, which nobody had asked to append yet.
    const h = new H().append(0, 1).ok(0, 1, [2, 1]).append(1, 2).ok(1, 2, [2]).history();
    const v = expectViolation(h, "strict");
    expect(v).toMatchObject({ kind: "real-time", opIndex: 0, related: [1] });
    expect(v.explanation).toContain(
      "its reply already holds 2 at position 0, but the append of 2, process 1's append 2 (ok, reply [2]) [lines 3-4], was invoked only after this op had completed",
    );
    // appendable-list lets A's reply hold a later 2 as long as 1 follows it, so A
    // goes first, [1]; then B's reply [2] does not start with [1].
    expect(expectViolation(h, "appendable-list").opIndex).toBe(1);
    // The same with B concurrent with A is fine.
    const ok = new H().append(0, 1).append(1, 2).ok(0, 1, [2, 1]).ok(1, 2, [2]).history();
    for (const m of BOTH) expectValid(ok, m);
  });

  it("an info append seen before it was invoked", () => {
    const h = new H().seqRead(0, [5]).append(1, 5).info(1, 5).history();
    for (const m of BOTH) expect(expectViolation(h, m).opIndex).toBe(0);
  });

  it("a read may not go backwards", () => {
    const h = new H().append(0, 1).seqRead(1, [1]).seqRead(2, []).ok(0, 1, [1]).history();
    for (const m of BOTH) expect(expectViolation(h, m).opIndex).toBe(2);
  });

  it("the report names the window of concurrent operations", () => {
    const h = new H().seqAppend(0, 1, [1]).append(3, 4).append(1, 2).ok(1, 2, [1, 2]).read(2).okRead(2, [1]).ok(3, 4, [1, 2, 4]).seqAppend(0, 5, [1, 2, 4, 5]).history();
    const v = expectViolation(h, "strict");
    expect(v.opIndex).toBe(3);
    expect(v.window).toEqual([1, 2, 3]);
    expect(v.explanation).toMatch(/concurrent and related operations:\n {2}#1 process 3's append 4 \(ok, reply \[1, 2, 4\]\)/);
  });
});

describe("appendable-list is looser than strict", () => {
  it("accepts an append reply holding an extra element from a concurrent info append after its own value", () => {
    // Process 0 appends 1 while process 1 appends 2, which times out (info).
    // The server answers process 0 with a list read a little later, after 2
    // was applied too: [1, 2]. Strict says the reply to an append is the list
    // right after it, so it must end with 1: violation. The appendable-list
    // model only asks that the reply start with the state before the append
    // ([]) and contain 1 after that: fine, with order append 1, append 2, read.
    const h = new H().append(0, 1).append(1, 2).ok(0, 1, [1, 2]).info(1, 2).seqRead(2, [1, 2]).history();
    const v = expectViolation(h, "strict");
    expect(v).toMatchObject({ kind: "bad-reply", opIndex: 0 });
    expect(v.explanation).toContain("must end with 1, but this reply ends with 2");
    expectValid(h, "appendable-list");
  });
});

describe("timeouts", () => {
  it("returns unknown when the search runs out of time", () => {
    const b = new H().append(0, 1).append(1, 2).ok(0, 1, [1, 2]).info(1, 2);
    const list = [1, 2];
    for (let v = 3; v < 3000; v++) {
      list.push(v);
      b.seqAppend(0, v, [...list]);
    }
    const h = b.history();
    expect(checkHistory(h, { model: "strict", timeoutMs: 0 }).valid).toBe(false); // the fast path needs no time
    const r = checkHistory(h, { model: "appendable-list", timeoutMs: 0 });
    expect(r.valid).toBe("unknown");
    if (r.valid === "unknown") expect(r.reason).toMatch(/timed out after 0 ms/);
    expect(checkHistory(h, { model: "appendable-list", timeoutMs: 60_000 }).valid).toBe(true);
  });
});
