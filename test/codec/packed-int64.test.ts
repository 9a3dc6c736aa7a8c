// The snapshot's hand-written ListState encoder writes exactly the bytes of
// the generated one (so files written before and after it are the same, and
// any protobuf reader decodes them), over the whole range of safe integers.
import { describe, expect, it } from "vitest";
import { ListState } from "../../gen/paxos/v1/paxos.js";
import { SnapshotFile } from "../../gen/paxos/v1/storage.js";
import { encodeListState } from "../../src/codec/packed-int64.js";
import { membershipToPb, snapshotFromBytes, snapshotToBytes } from "../../src/codec/wire.js";
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

describe("snapshotToBytes", () => {
  const snapshot: Snapshot = {
    upTo: 2 ** 33 + 5,
    state: { items: randomSafe(7, 500), sessions: [7, 1, 3, 2, -4, 9, 0, 1], recent: [7, 1, 3, 2, 2] },
    membership: GENESIS3,
  };

  it("writes what the generated SnapshotFile encoder writes", () => {
    const { items, sessions, recent } = snapshot.state;
    const state = { items: [...items], sessions: [...sessions], recent: [...recent] };
    const generated = SnapshotFile.encode({ upTo: snapshot.upTo, state, membership: membershipToPb(snapshot.membership) }).finish();
    expect(Buffer.from(snapshotToBytes(snapshot))).toEqual(Buffer.from(generated));
  });

  it("round-trips, an empty list included", () => {
    expect(snapshotFromBytes(snapshotToBytes(snapshot), GENESIS3)).toEqual(snapshot);
    const empty: Snapshot = { upTo: 0, state: { items: [], sessions: [], recent: [] }, membership: GENESIS3 };
    expect(snapshotFromBytes(snapshotToBytes(empty), GENESIS3)).toEqual(empty);
  });
});
