// The snapshot's hand-written ListState and ListChunk encoders write exactly
// the bytes of the generated ones (so files written before and after them
// are the same, and any protobuf reader decodes them), over the whole range
// of safe integers.
import { describe, expect, it } from "vitest";
import { ListState } from "../../gen/paxos/v1/paxos.js";
import { ListChunk, SnapshotFile } from "../../gen/paxos/v1/storage.js";
import { encodeListChunk, encodeListState } from "../../src/codec/packed-int64.js";
import { listChunkFromBytes, membershipToPb, snapshotFromBytes, snapshotToBytes, snapshotWithList } from "../../src/codec/wire.js";
import { wholeItems } from "../../src/core/replicated-list.js";
import type { Snapshot } from "../../src/core/types.js";
import { GENESIS3 } from "../support/genesis.js";

// Each varint length boundary, both signs, and the safe-integer limits.
const EDGES: number[] = [0, 1, -1, Number.MAX_SAFE_INTEGER, Number.MIN_SAFE_INTEGER, 2 ** 32, -(2 ** 32), 2 ** 32 - 1, 2 ** 31, -(2 ** 31)];
for (let bits = 7; bits <= 52; bits += 7) EDGES.push(2 ** bits - 1, 2 ** bits, -(2 ** bits), -(2 ** bits) + 1);

function randomSafe(seed: number, n: number): number[] {
  let x = seed;
  const next = () => (x = (Math.imul(x, 1103515245) + 12345) >>> 0);
  return Array.from({ length: n }, () => {
    const magnitude = (next() * 2 ** 21 + (next() >>> 11)) % 2 ** (next() % 54); // up to 2^53
    return next() % 4 === 0 ? -magnitude : magnitude;
  });
}

describe("encodeListState", () => {
  it("writes the generated encoder's bytes for edge values", () => {
    const s = { items: EDGES, sessions: [...EDGES].reverse(), recent: EDGES.slice(3) };
    expect(Buffer.from(encodeListState(s))).toEqual(Buffer.from(ListState.encode(s).finish()));
  });

  it("writes the generated encoder's bytes for random safe integers", () => {
    for (let seed = 1; seed <= 20; seed++) {
      const s = { items: randomSafe(seed, 300), sessions: randomSafe(seed + 100, 40), recent: randomSafe(seed + 200, 75) };
      expect(Buffer.from(encodeListState(s))).toEqual(Buffer.from(ListState.encode(s).finish()));
    }
  });

  it("leaves empty lists out, as proto3 does", () => {
    expect(encodeListState({ items: [], sessions: [], recent: [] }).length).toBe(0);
    const s = { items: [], sessions: [5, 6, 7, 8], recent: [] };
    expect(Buffer.from(encodeListState(s))).toEqual(Buffer.from(ListState.encode(s).finish()));
  });
});

describe("encodeListChunk", () => {
  it("writes the generated encoder's bytes for a range of edge and random values", () => {
    const items = [...EDGES, ...randomSafe(3, 400)];
    for (const [start, end] of [[0, items.length], [5, 9], [1, items.length], [items.length - 1, items.length]] as const) {
      const generated = ListChunk.encode({ start, items: items.slice(start, end) }).finish();
      expect(Buffer.from(encodeListChunk(items, start, end))).toEqual(Buffer.from(generated));
      expect(listChunkFromBytes(encodeListChunk(items, start, end))).toEqual({ start, items: items.slice(start, end) });
    }
  });

  it("leaves an empty range and a zero start out, as proto3 does", () => {
    expect(encodeListChunk([1, 2, 3], 0, 0).length).toBe(0);
    expect(Buffer.from(encodeListChunk([1, 2, 3], 2, 2))).toEqual(Buffer.from(ListChunk.encode({ start: 2, items: [] }).finish()));
  });
});

describe("snapshotToBytes", () => {
  const items = randomSafe(7, 500);
  const snapshot: Snapshot = {
    upTo: 2 ** 33 + 5,
    state: { items: wholeItems(items), sessions: [7, 1, 3, 2, -4, 9, 0, 1], recent: [7, 1, 3, 2, 2] },
    membership: GENESIS3,
  };

  it("writes what the generated SnapshotFile encoder writes: the tables and the list's length, not its items", () => {
    const { sessions, recent } = snapshot.state;
    const state = { items: [], sessions: [...sessions], recent: [...recent] };
    const fields = { upTo: snapshot.upTo, state, membership: membershipToPb(snapshot.membership), listLength: items.length };
    expect(Buffer.from(snapshotToBytes(snapshot))).toEqual(Buffer.from(SnapshotFile.encode(fields).finish()));
  });

  it("names only the prefix a snapshot shares with a list that grew after it", () => {
    const live = [...items];
    const shared: Snapshot = { ...snapshot, state: { ...snapshot.state, items: { array: live, length: 200 } } };
    live.push(1, 2, 3);
    expect(snapshotFromBytes(snapshotToBytes(shared), GENESIS3).list).toEqual({ inListFile: 200 });
  });

  it("round-trips with its list, an empty list included", () => {
    const contents = snapshotFromBytes(snapshotToBytes(snapshot), GENESIS3);
    expect(contents.list).toEqual({ inListFile: items.length });
    expect(snapshotWithList(contents, wholeItems(items))).toEqual(snapshot);
    const empty: Snapshot = { upTo: 0, state: { items: wholeItems([]), sessions: [], recent: [] }, membership: GENESIS3 };
    const emptyContents = snapshotFromBytes(snapshotToBytes(empty), GENESIS3);
    expect(emptyContents.list).toEqual({ inListFile: 0 });
    expect(snapshotWithList(emptyContents, wholeItems([]))).toEqual(empty);
  });

  it("reads a file written before list.bin existed, with the items inline", () => {
    const { sessions, recent } = snapshot.state;
    const old = SnapshotFile.encode({ upTo: 9, state: { items, sessions: [...sessions], recent: [...recent] }, membership: undefined, listLength: 0 }).finish();
    const contents = snapshotFromBytes(old, GENESIS3);
    expect(contents.list).toEqual({ inline: items });
    expect(contents.membership).toEqual(GENESIS3);
  });
});
