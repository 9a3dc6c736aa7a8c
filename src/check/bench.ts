// Benchmark of the linearizability checker:
//   npm run build && node dist/src/check/bench.js [OPS] [SEED] [DIR]
// (with DIR, also writes DIR/valid.jsonl and DIR/violation.jsonl, for `paxos check`).
//
// Generates a synthetic history (default 10,000 ops) of 5 concurrent clients
// on a simulated linearizable list, with random overlapping latencies and ~2%
// info ops (about half of the info appends did take effect, some only after
// the client gave up), and checks it with both models; then injects one
// violation (an acknowledged element removed from a later reply) and checks
// again. Prints ops, times and verdicts.

import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { historyFromEvents, parseHistory, type History, type RecordedEvent } from "./history.js";
import { checkHistory, type CheckResult } from "./linearizability.js";
import type { ModelName } from "./models.js";

type BenchEvent = RecordedEvent;

function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

interface SimOp {
  process: number;
  f: "append" | "read";
  value: number | null;
  invoke: number;
  complete: number;
  lin: number;
  outcome: "ok" | "info";
  effect: boolean;
  reply: number[] | null;
}

/** Times are in microseconds of simulated time. */
function simulate(rand: () => number, ops: number, clients: number, infoRate: number): BenchEvent[] {
  const free = Array.from({ length: clients }, () => rand() * 1000);
  const proc = Array.from({ length: clients }, (_, i) => i);
  const sim: SimOp[] = [];
  for (let k = 0; k < ops; k++) {
    let c = 0;
    for (let i = 1; i < clients; i++) if ((free[i] ?? 0) < (free[c] ?? 0)) c = i;
    const invoke = (free[c] ?? 0) + rand() * 200;
    // Mostly 0.5-3 ms, sometimes up to 50 ms (an election, a slow disk).
    const latency = rand() < 0.03 ? 5000 + rand() * 45_000 : 500 + rand() * 2500;
    const f = rand() < 0.5 ? "append" : "read";
    const outcome = rand() < infoRate ? "info" : "ok";
    const effect = outcome === "ok" || (f === "append" && rand() < 0.5);
    // An info append that took effect may do so long after the client gave up.
    const lin = invoke + rand() * latency * (outcome === "info" ? 4 : 1);
    sim.push({ process: proc[c] ?? 0, f, value: f === "append" ? k + 1 : null, invoke, complete: invoke + latency, lin, outcome, effect, reply: null });
    free[c] = invoke + latency;
    if (outcome === "info") proc[c] = (proc[c] ?? 0) + clients;
  }
  const list: number[] = [];
  for (const op of [...sim].filter((s) => s.effect).sort((a, b) => a.lin - b.lin)) {
    if (op.f === "append") list.push(op.value ?? 0);
    if (op.outcome === "ok") op.reply = list.slice();
  }
  const timed: { t: number; e: BenchEvent }[] = [];
  for (const op of sim) {
    timed.push({ t: op.invoke, e: { process: op.process, type: "invoke", f: op.f, value: op.value, state: null, time: 0 } });
    timed.push({ t: op.complete, e: { process: op.process, type: op.outcome, f: op.f, value: op.value, state: op.reply, time: 0 } });
  }
  timed.sort((a, b) => a.t - b.t);
  return timed.map(({ t, e }) => ({ ...e, time: Math.round(t * 1000) }));
}

/** Removes, from the reply of an ok op near the middle, a value acknowledged before that op was invoked. */
function injectViolation(events: BenchEvent[], h: History, rand: () => number): string {
  const n = h.ops.length;
  for (let tries = 0; tries < 1000; tries++) {
    const b = h.ops[Math.floor(n / 2 + (rand() - 0.5) * n * 0.2)];
    if (b === undefined || b.type !== "ok" || b.reply === null) continue;
    const acked = h.ops.filter((a) => a.f === "append" && a.type === "ok" && (a.completeSeq ?? 0) < b.invokeSeq);
    const a = acked[Math.floor(rand() * acked.length)];
    if (a === undefined) continue;
    const ev = events[b.completeSeq ?? 0];
    if (ev === undefined || ev.state === null) continue;
    ev.state = ev.state.filter((x) => x !== a.value);
    return `removed ${String(a.value)} (acknowledged by op #${a.index}) from the reply of op #${b.index} (${b.f}, line ${String(b.completeLine)})`;
  }
  throw new Error("found no op to corrupt");
}

function time<T>(f: () => T): [T, number] {
  const t0 = performance.now();
  const r = f();
  return [r, performance.now() - t0];
}

function verdict(r: CheckResult): string {
  if (r.valid === true) return "linearizable";
  if (r.valid === "unknown") return `unknown (${r.reason})`;
  return `NOT linearizable: op #${r.opIndex} (${r.kind})`;
}

function row(label: string, model: ModelName, r: CheckResult, ms: number): void {
  const conf = r.configurations === undefined ? "" : `, ${r.configurations} configurations`;
  console.log(`  ${label.padEnd(28)} ${model.padEnd(16)} ${`${ms.toFixed(1)} ms`.padStart(11)}  ${r.method}${conf}: ${verdict(r)}`);
}

function main(): void {
  const ops = Number(process.argv[2] ?? 10_000);
  const seed = Number(process.argv[3] ?? 42);
  const dir = process.argv[4];
  const rand = prng(seed);
  const [events, genMs] = time(() => simulate(rand, ops, 5, 0.02));
  const [history, parseMs] = time(() => historyFromEvents(events));
  const info = history.ops.filter((o) => o.type === "info");
  const infoAppends = info.filter((o) => o.f === "append").length;
  const replyItems = history.ops.reduce((s, o) => s + (o.reply?.length ?? 0), 0);
  const [text, textMs] = time(() => events.map((e) => JSON.stringify(e)).join("\n"));
  const [, jsonParseMs] = time(() => parseHistory(text));
  console.log(
    `history: ${history.ops.length} ops (${history.events} events), 5 clients, ${info.length} info (${infoAppends} appends), ` +
      `${replyItems} list items in replies, ${(text.length / 1e6).toFixed(1)} MB as JSON lines (seed ${seed})`,
  );
  console.log(
    `  generate ${genMs.toFixed(0)} ms; validate events ${parseMs.toFixed(0)} ms; to JSON lines ${textMs.toFixed(0)} ms; parse JSON lines ${jsonParseMs.toFixed(0)} ms`,
  );

  const timeoutMs = 120_000;
  for (const model of ["strict", "appendable-list"] as const) {
    const [r, ms] = time(() => checkHistory(history, { model, timeoutMs }));
    row("valid history", model, r, ms);
  }
  for (const model of ["strict", "appendable-list"] as const) {
    const [r, ms] = time(() => checkHistory(history, { model, timeoutMs, strategy: "search" }));
    row("valid history, search only", model, r, ms);
  }

  if (dir !== undefined) writeFileSync(join(dir, "valid.jsonl"), `${text}\n`);
  const what = injectViolation(events, history, rand);
  if (dir !== undefined) writeFileSync(join(dir, "violation.jsonl"), `${events.map((e) => JSON.stringify(e)).join("\n")}\n`);
  const bad = historyFromEvents(events);
  console.log(`one violation injected: ${what}`);
  let explanation = "";
  for (const model of ["strict", "appendable-list"] as const) {
    const [r, ms] = time(() => checkHistory(bad, { model, timeoutMs }));
    row("with the violation", model, r, ms);
    if (r.valid === false && explanation === "") explanation = r.explanation;
  }
  {
    const [r, ms] = time(() => checkHistory(bad, { model: "strict", timeoutMs, strategy: "search" }));
    row("with the violation, search", "strict", r, ms);
  }
  console.log(`\nexplanation (strict):\n${explanation}`);
}

main();
