// The membership value and quorum arithmetic, as pure functions: every
// refusal named, the invariants asserted, ids never reused.

import { describe, expect, it } from "vitest";
import {
  bootstrapMembership,
  checkMembership,
  nextMembership,
  voterIds,
  type ChangeRefusal,
  type Membership,
  type MembershipChange,
} from "../../src/core/membership.js";
import { isQuorum, majoritySize } from "../../src/core/quorum.js";

const addr = (i: number) => `h${i}:${5000 + i}:${6000 + i}:${7000 + i}`;
const three = () => bootstrapMembership([addr(0), addr(1), addr(2)]);

function apply(m: Membership, change: MembershipChange, slot: number): Membership {
  const r = nextMembership(m, change, slot);
  if (!r.ok) throw new Error(`refused: ${r.refusal}: ${r.message}`);
  return r.membership;
}

describe("quorums", () => {
  it("is a majority of the voters, and only voters count", () => {
    expect([1, 2, 3, 4, 5, 6, 7].map(majoritySize)).toEqual([1, 2, 2, 3, 3, 4, 4]);
    const voters = new Set([0, 1, 2]);
    expect(isQuorum(voters, [0, 1])).toBe(true);
    expect(isQuorum(voters, [0])).toBe(false);
    expect(isQuorum(voters, [0, 7, 8, 9])).toBe(false); // 7, 8, 9 are not voters (learners, strangers)
    expect(isQuorum(new Set(), [0])).toBe(false);
  });

  it("any two majorities of one voter set meet, and so do those of sets one node apart", () => {
    const subsets = <T>(xs: T[]): T[][] => xs.reduce<T[][]>((acc, x) => acc.concat(acc.map((s) => [...s, x])), [[]]);
    for (const n of [1, 2, 3, 4, 5]) {
      const a = Array.from({ length: n }, (_, i) => i);
      const b = [...a, n]; // one more voter
      const qa = subsets(a).filter((s) => isQuorum(new Set(a), s));
      const qb = subsets(b).filter((s) => isQuorum(new Set(b), s));
      for (const x of qa) for (const y of [...qa, ...qb]) expect(x.some((id) => y.includes(id)), `${x} / ${y}`).toBe(true);
    }
  });
});

describe("nextMembership", () => {
  it("adds a learner with a fresh id, promotes it, removes a voter: ids are never reused", () => {
    let m = three();
    expect(m).toMatchObject({ slot: -1, nextId: 3 });
    m = apply(m, { kind: "add", address: addr(3) }, 10);
    expect(m.members.at(-1)).toEqual({ id: 3, role: "learner", address: addr(3) });
    expect([...voterIds(m)]).toEqual([0, 1, 2]);
    m = apply(m, { kind: "promote", id: 3 }, 20);
    expect([...voterIds(m)]).toEqual([0, 1, 2, 3]);
    m = apply(m, { kind: "remove", id: 0 }, 30);
    expect(m.members.map((x) => x.id)).toEqual([1, 2, 3]);
    // The removed node's address comes back: it gets a new id, never 0 again.
    m = apply(m, { kind: "add", address: addr(0) }, 40);
    expect(m.members.at(-1)!.id).toBe(4);
    expect(m).toMatchObject({ slot: 40, nextId: 5 });
  });

  it("names every refusal", () => {
    const m = apply(three(), { kind: "add", address: addr(3) }, 5);
    const cases: [MembershipChange, Membership, ChangeRefusal][] = [
      [{ kind: "add", address: addr(1) }, m, "address_taken"],
      [{ kind: "add", address: "h1:1:2:7001" }, m, "address_taken"], // another port of a member's endpoint
      [{ kind: "add", address: "nohost" }, m, "bad_address"],
      [{ kind: "add", address: "h9:1:2:70000" }, m, "bad_address"],
      [{ kind: "promote", id: 9 }, m, "unknown_member"],
      [{ kind: "remove", id: 9 }, m, "unknown_member"],
      [{ kind: "promote", id: 1 }, m, "not_a_learner"],
      [{ kind: "remove", id: 0 }, bootstrapMembership([addr(0)]), "last_voter"],
    ];
    const seen = new Set<ChangeRefusal>();
    for (const [change, from, refusal] of cases) {
      const r = nextMembership(from, change, 9);
      expect(r.ok, JSON.stringify(change)).toBe(false);
      if (!r.ok) {
        expect(r.refusal).toBe(refusal);
        expect(r.message.length).toBeGreaterThan(0);
        seen.add(r.refusal);
      }
    }
    // The refusals nextMembership itself gives (the others are the leader's: change_pending, not_ready, ...).
    expect([...seen].sort()).toEqual(["address_taken", "bad_address", "last_voter", "not_a_learner", "unknown_member"]);
  });

  it("removing the last learner or a voter among several is fine; removing the last voter is not", () => {
    const one = bootstrapMembership([addr(0)]);
    const withLearner = apply(one, { kind: "add", address: addr(1) }, 1);
    expect(apply(withLearner, { kind: "remove", id: 1 }, 2).members.map((x) => x.id)).toEqual([0]);
    const r = nextMembership(withLearner, { kind: "remove", id: 0 }, 2);
    expect(r.ok ? null : r.refusal).toBe("last_voter");
  });
});

describe("checkMembership", () => {
  it.each([
    ["no voter", { members: [{ id: 0, role: "learner", address: addr(0) }], slot: 0, nextId: 1 }],
    ["ids not ascending", { members: [{ id: 1, role: "voter", address: addr(1) }, { id: 0, role: "voter", address: addr(0) }], slot: 0, nextId: 2 }],
    ["not below nextId", { members: [{ id: 3, role: "voter", address: addr(3) }], slot: 0, nextId: 3 }],
    ["bad address", { members: [{ id: 0, role: "voter", address: "x" }], slot: 0, nextId: 1 }],
    ["share an endpoint", { members: [{ id: 0, role: "voter", address: addr(0) }, { id: 1, role: "voter", address: addr(0) }], slot: 0, nextId: 2 }],
  ] as const)("refuses a membership with %s", (why, m) => {
    expect(() => checkMembership(m as Membership)).toThrow(why);
  });
});
