// Parsing a Jepsen-style history of the replicated list: JSON lines, one event
// per line, `{"process":P,"type":"invoke"|"ok"|"fail"|"info","f":"append"|"read",
// "value":V,"state":[...]|null,"time":NANOS}`.
//
// Each invoke is paired with the next completion of the same process. An invoke
// still open at the end of the file counts as `info` (it may or may not have
// taken effect). Validation is strict and every error names its line; keys
// other than the ones above (Jepsen adds `index`, `error`, ...) are ignored.

import { createReadStream } from "node:fs";
import { createInterface } from "node:readline";

export type Process = number | string;
export type OpF = "append" | "read";
export type OpType = "ok" | "fail" | "info";
export type EventType = "invoke" | OpType;

/** One operation: an invoke and its completion. */
export interface Operation {
  /** 0-based position of the operation in invoke order. */
  readonly index: number;
  readonly process: Process;
  readonly f: OpF;
  /** The appended integer, null for reads. */
  readonly value: number | null;
  /** How it completed; "info" also when it never did. */
  readonly type: OpType;
  /** The list in an ok completion, null otherwise. */
  readonly reply: readonly number[] | null;
  /** 1-based line numbers in the history file (completeLine null: never completed). */
  readonly invokeLine: number;
  readonly completeLine: number | null;
  /** 0-based positions in the sequence of events: the real-time order. */
  readonly invokeSeq: number;
  readonly completeSeq: number | null;
  readonly invokeTime: number;
  readonly completeTime: number | null;
}

export interface History {
  /** Sorted by invokeSeq; ops[i].index === i. */
  readonly ops: readonly Operation[];
  /** Number of events (invokes and completions) read. */
  readonly events: number;
}

/** An event as it appears on one line, after validation. */
export interface HistoryEvent {
  process: Process;
  type: EventType;
  f: OpF;
  value: number | null;
  state: number[] | null;
  time: number;
}

/** An event as our recorders (the simulator, the local Jepsen harness) write it: processes are numbers. */
export interface RecordedEvent extends HistoryEvent {
  process: number;
}

export class HistoryParseError extends Error {
  constructor(
    readonly line: number,
    message: string,
  ) {
    super(line > 0 ? `line ${line}: ${message}` : message);
    this.name = "HistoryParseError";
  }
}

const EVENT_TYPES: readonly string[] = ["invoke", "ok", "fail", "info"];
const FS: readonly string[] = ["append", "read"];

function describe(x: unknown): string {
  const s = JSON.stringify(x);
  if (s === undefined) return String(x);
  return s.length > 60 ? `${s.slice(0, 57)}...` : s;
}

function processName(p: Process): string {
  return typeof p === "number" ? String(p) : JSON.stringify(p);
}

/** Validates one decoded JSON value as an event; throws HistoryParseError naming `line`. */
export function validateEvent(raw: unknown, line: number): HistoryEvent {
  const fail = (msg: string): never => {
    throw new HistoryParseError(line, msg);
  };
  if (typeof raw !== "object" || raw === null || Array.isArray(raw)) fail(`expected a JSON object, got ${describe(raw)}`);
  const o = raw as Record<string, unknown>;

  const process = o["process"];
  if (process === undefined) fail(`missing "process"`);
  if (!((typeof process === "number" && Number.isSafeInteger(process)) || (typeof process === "string" && process.length > 0))) {
    fail(`"process" must be an integer or a non-empty string, got ${describe(process)}`);
  }

  const type = o["type"];
  if (type === undefined) fail(`missing "type"`);
  if (typeof type !== "string" || !EVENT_TYPES.includes(type)) fail(`unknown type ${describe(type)} (expected "invoke", "ok", "fail" or "info")`);
  const f = o["f"];
  if (f === undefined) fail(`missing "f"`);
  if (typeof f !== "string" || !FS.includes(f)) fail(`unknown f ${describe(f)} (expected "append" or "read")`);

  const value = o["value"] === undefined ? null : o["value"];
  if (f === "append") {
    if (typeof value !== "number" || !Number.isSafeInteger(value)) fail(`an append's "value" must be a safe integer, got ${describe(value)}`);
  } else if (value !== null) {
    fail(`a read's "value" must be null (the list goes in "state"), got ${describe(value)}`);
  }

  const state = o["state"] === undefined ? null : o["state"];
  if (type === "ok") {
    if (!Array.isArray(state)) fail(`an ok completion needs "state", the list, got ${describe(state)}`);
    const list = state as unknown[];
    for (let i = 0; i < list.length; i++) {
      const x = list[i];
      if (typeof x !== "number" || !Number.isSafeInteger(x)) fail(`"state"[${i}] must be a safe integer, got ${describe(x)}`);
    }
  } else if (state !== null) {
    fail(`"state" must be null on ${type as string}, got ${describe(state)}`);
  }

  const time = o["time"];
  if (time === undefined) fail(`missing "time"`);
  if (typeof time !== "number" || !Number.isSafeInteger(time) || time < 0) fail(`"time" must be a non-negative integer (nanoseconds), got ${describe(time)}`);

  return {
    process: process as Process,
    type: type as EventType,
    f: f as OpF,
    value: value as number | null,
    state: state as number[] | null,
    time: time as number,
  };
}

interface Pending {
  process: Process;
  f: OpF;
  value: number | null;
  line: number;
  seq: number;
  time: number;
  slot: number;
}

/**
 * Incremental parser: feed lines (or already decoded events) in file order,
 * then call finish(). Blank lines are skipped but still counted.
 */
export class HistoryParser {
  private line = 0;
  private seq = 0;
  private lastTime = 0;
  private lastTimeLine = 0;
  private readonly pending = new Map<Process, Pending>();
  private readonly slots: (Operation | Pending)[] = [];

  /** Parses the next line of the file. */
  pushLine(text: string): void {
    this.line++;
    if (text.trim() === "") return;
    let raw: unknown;
    try {
      raw = JSON.parse(text);
    } catch (e) {
      throw new HistoryParseError(this.line, `not valid JSON (${e instanceof Error ? e.message : String(e)})`);
    }
    this.addEvent(validateEvent(raw, this.line), this.line);
  }

  /** Adds an event that is already a JS object (it is validated); counts as the next line. */
  pushEvent(raw: unknown): void {
    this.line++;
    this.addEvent(validateEvent(raw, this.line), this.line);
  }

  private addEvent(ev: HistoryEvent, line: number): void {
    if (ev.time < this.lastTime) {
      throw new HistoryParseError(line, `time ${ev.time} is earlier than ${this.lastTime} on line ${this.lastTimeLine}: events must be in time order`);
    }
    this.lastTime = ev.time;
    this.lastTimeLine = line;
    const seq = this.seq++;
    const open = this.pending.get(ev.process);
    if (ev.type === "invoke") {
      if (open !== undefined) {
        throw new HistoryParseError(line, `process ${processName(ev.process)} invokes again while its invoke on line ${open.line} has not completed`);
      }
      const p: Pending = { process: ev.process, f: ev.f, value: ev.value, line, seq, time: ev.time, slot: this.slots.length };
      this.pending.set(ev.process, p);
      this.slots.push(p);
      return;
    }
    if (open === undefined) {
      throw new HistoryParseError(line, `${ev.type} completion for process ${processName(ev.process)}, which has no invoke in progress`);
    }
    if (open.f !== ev.f) {
      throw new HistoryParseError(line, `completion is a ${ev.f} but the invoke on line ${open.line} is a ${open.f}`);
    }
    if (ev.f === "append" && ev.value !== open.value) {
      throw new HistoryParseError(line, `completion value ${String(ev.value)} does not match the value ${String(open.value)} invoked on line ${open.line}`);
    }
    this.pending.delete(ev.process);
    this.slots[open.slot] = {
      index: open.slot,
      process: open.process,
      f: open.f,
      value: open.value,
      type: ev.type,
      reply: ev.type === "ok" ? ev.state : null,
      invokeLine: open.line,
      completeLine: line,
      invokeSeq: open.seq,
      completeSeq: seq,
      invokeTime: open.time,
      completeTime: ev.time,
    };
  }

  /** Ends the history: invokes still open become info operations. */
  finish(): History {
    const ops = this.slots.map((s): Operation => {
      if ("index" in s) return s;
      return {
        index: s.slot,
        process: s.process,
        f: s.f,
        value: s.value,
        type: "info",
        reply: null,
        invokeLine: s.line,
        completeLine: null,
        invokeSeq: s.seq,
        completeSeq: null,
        invokeTime: s.time,
        completeTime: null,
      };
    });
    return { ops, events: this.seq };
  }
}

/** Parses a whole history held in a string. */
export function parseHistory(text: string): History {
  const parser = new HistoryParser();
  let start = 0;
  while (start <= text.length) {
    let end = text.indexOf("\n", start);
    if (end < 0) end = text.length;
    const line = text.slice(start, end).replace(/\r$/, "");
    if (end === text.length && line === "") break; // the newline ending the last line
    parser.pushLine(line);
    start = end + 1;
  }
  return parser.finish();
}

/** Builds a history from event objects (as they would be written, one per line). */
export function historyFromEvents(events: Iterable<unknown>): History {
  const parser = new HistoryParser();
  for (const ev of events) parser.pushEvent(ev);
  return parser.finish();
}

/** Reads and parses a history file line by line (so files bigger than a string can hold still work). */
export async function readHistoryFile(path: string): Promise<History> {
  const parser = new HistoryParser();
  const input = createReadStream(path, { encoding: "utf8" });
  const lines = createInterface({ input, crlfDelay: Infinity });
  try {
    for await (const line of lines) parser.pushLine(line);
  } finally {
    lines.close();
    input.destroy();
  }
  return parser.finish();
}
