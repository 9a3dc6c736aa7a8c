// The history parser: pairing invokes with completions, and strict errors naming the line.

import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { HistoryParseError, parseHistory, readHistoryFile } from "../../src/check/history.js";

const line = (o: Record<string, unknown>): string => JSON.stringify(o);
const inv = (process: number, f: string, value: unknown, time: number) => line({ process, type: "invoke", f, value, state: null, time });
const done = (process: number, type: string, f: string, value: unknown, state: unknown, time: number) => line({ process, type, f, value, state, time });

function parseError(text: string): HistoryParseError {
  try {
    parseHistory(text);
  } catch (e) {
    if (e instanceof HistoryParseError) return e;
    throw e;
  }
  throw new Error("expected a HistoryParseError");
}

describe("parseHistory", () => {
  it("pairs each invoke with the next completion of the same process", () => {
    const h = parseHistory(
      [
        inv(0, "append", 1, 10),
        inv(1, "read", null, 11),
        done(1, "ok", "read", null, [], 12),
        done(0, "ok", "append", 1, [1], 13),
        inv(0, "append", 2, 14),
        done(0, "fail", "append", 2, null, 15),
        "",
      ].join("\n"),
    );
    expect(h.events).toBe(6);
    expect(h.ops.map((o) => [o.index, o.process, o.f, o.type, o.value, o.reply])).toEqual([
      [0, 0, "append", "ok", 1, [1]],
      [1, 1, "read", "ok", null, []],
      [2, 0, "append", "fail", 2, null],
    ]);
    expect(h.ops[0]).toMatchObject({ invokeLine: 1, completeLine: 4, invokeSeq: 0, completeSeq: 3, invokeTime: 10, completeTime: 13 });
  });

  it("counts an invoke with no completion by the end of the file as info", () => {
    const h = parseHistory([inv(0, "append", 1, 1), inv(1, "append", 2, 2), done(1, "ok", "append", 2, [1, 2], 3)].join("\n"));
    expect(h.ops[0]).toMatchObject({ type: "info", completeLine: null, completeSeq: null, reply: null });
    expect(h.ops[1]?.type).toBe("ok");
  });

  it("accepts CRLF line ends, blank lines and Jepsen's extra keys", () => {
    const h = parseHistory(`${line({ process: 0, type: "invoke", f: "read", value: null, time: 0, index: 0 })}\r\n\r\n${done(0, "ok", "read", null, [], 1)}\r\n`);
    expect(h.ops).toHaveLength(1);
    expect(h.ops[0]?.completeLine).toBe(3);
  });

  it("an empty file is an empty history", () => {
    expect(parseHistory("").ops).toEqual([]);
  });

  const cases: [string, string[], number, RegExp][] = [
    ["bad JSON", [inv(0, "append", 1, 0), "{not json"], 2, /not valid JSON/],
    ["not an object", ["[1,2]"], 1, /expected a JSON object/],
    ["unknown type", [line({ process: 0, type: "done", f: "read", value: null, time: 0 })], 1, /unknown type "done"/],
    ["unknown f", [line({ process: 0, type: "invoke", f: "cas", value: null, time: 0 })], 1, /unknown f "cas"/],
    ["missing process", [line({ type: "invoke", f: "read", value: null, time: 0 })], 1, /missing "process"/],
    ["completion without invoke", [inv(0, "read", null, 0), done(1, "ok", "read", null, [], 1)], 2, /ok completion for process 1, which has no invoke in progress/],
    ["process invoking twice", [inv(0, "read", null, 0), inv(1, "read", null, 1), inv(0, "append", 3, 2)], 3, /process 0 invokes again while its invoke on line 1/],
    ["non-integer append value", [inv(0, "append", 1.5, 0)], 1, /"value" must be a safe integer, got 1.5/],
    ["string append value", [inv(0, "append", "7", 0)], 1, /"value" must be a safe integer/],
    ["unsafe integer", [inv(0, "append", 2 ** 60, 0)], 1, /safe integer/],
    ["read with a value", [inv(0, "read", 3, 0)], 1, /a read's "value" must be null/],
    ["non-integer in state", [inv(0, "read", null, 0), done(0, "ok", "read", null, [1, "2"], 1)], 2, /"state"\[1\] must be a safe integer/],
    ["ok without state", [inv(0, "read", null, 0), done(0, "ok", "read", null, null, 1)], 2, /an ok completion needs "state"/],
    ["state on invoke", [line({ process: 0, type: "invoke", f: "read", value: null, state: [], time: 0 })], 1, /"state" must be null on invoke/],
    ["completion f differs", [inv(0, "read", null, 0), done(0, "ok", "append", 1, [1], 1)], 2, /completion is a append but the invoke on line 1 is a read/],
    ["completion value differs", [inv(0, "append", 1, 0), done(0, "ok", "append", 2, [2], 1)], 2, /completion value 2 does not match the value 1 invoked on line 1/],
    ["time going backwards", [inv(0, "read", null, 5), done(0, "ok", "read", null, [], 4)], 2, /time 4 is earlier than 5 on line 1/],
    ["negative time", [inv(0, "read", null, -1)], 1, /"time" must be a non-negative integer/],
  ];
  for (const [name, text, lineNo, message] of cases) {
    it(`rejects ${name}, naming line ${lineNo}`, () => {
      const e = parseError(text.join("\n"));
      expect(e.line).toBe(lineNo);
      expect(e.message).toMatch(new RegExp(`^line ${lineNo}: `));
      expect(e.message).toMatch(message);
    });
  }
});

describe("readHistoryFile", () => {
  const dir = mkdtempSync(join(tmpdir(), "paxos-history-"));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it("reads a file line by line, with the same line numbers in errors", async () => {
    const good = join(dir, "good.jsonl");
    writeFileSync(good, `${inv(0, "append", 4, 0)}\n${done(0, "ok", "append", 4, [4], 1)}\n`);
    const h = await readHistoryFile(good);
    expect(h.ops[0]?.reply).toEqual([4]);

    const bad = join(dir, "bad.jsonl");
    writeFileSync(bad, `${inv(0, "append", 4, 0)}\n\n${done(0, "ok", "append", 4, [4], 1)}\n{"process":0}\n`);
    await expect(readHistoryFile(bad)).rejects.toThrow(/^line 4: missing "type"/);
  });
});
