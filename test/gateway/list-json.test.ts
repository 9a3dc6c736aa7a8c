import { describe, expect, it } from "vitest";
import { ListJson } from "../../src/gateway/list-json.js";

const body = (text: ListJson, n: number) => Buffer.concat(text.reply(n)).toString();

describe("ListJson: replies cut from one growing JSON text", () => {
  it("gives exactly JSON.stringify({state: prefix}) for every prefix, across buffer growth", () => {
    const values: number[] = [];
    const text = new ListJson();
    expect(body(text, 0)).toBe('{"state":[]}');
    for (let i = 0; i < 30_000; i++) {
      values.push(i % 7 === 0 ? -(2 ** 53 - 1) + i : i * 1_000_003);
      if (i % 97 === 0) text.sync(values);
    }
    text.sync(values);
    for (const n of [0, 1, 2, 1000, 12_345, 30_000]) {
      expect(body(text, n)).toBe(JSON.stringify({ state: values.slice(0, n) }));
    }
    expect(() => text.reply(30_001)).toThrow(RangeError);
  });

  it("keeps earlier replies intact when the text grows, though they are views of it, not copies", () => {
    const text = new ListJson();
    const values = [1, 2, 3];
    text.sync(values);
    const early = text.reply(3);
    // A view, not a copy: the reply for fewer elements starts at the same byte of the same memory
    // (two copies, even from Buffer's shared pool, never would).
    const shorter = text.reply(2)[0];
    expect(shorter.buffer).toBe(early[0].buffer);
    expect(shorter.byteOffset).toBe(early[0].byteOffset);
    for (let i = 0; i < 100_000; i++) values.push(i);
    text.sync(values);
    expect(Buffer.concat(early).toString()).toBe('{"state":[1,2,3]}');
  });
});
