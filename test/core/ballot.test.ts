import { describe, expect, it } from "vitest";
import { ballotEquals, compareBallots, formatBallot, maxBallot, NO_BALLOT } from "../../src/core/ballot.js";
import type { Ballot } from "../../src/core/types.js";

const b = (round: number, node: number): Ballot => ({ round, node });

describe("ballots", () => {
  // "Paxos Made Simple" sec 2.2: proposals are numbered from a totally ordered
  // set and different proposers use disjoint numbers; here (round, node),
  // compared by round first and by node id to break ties.
  it("ballots are totally ordered by round, then by node", () => {
    expect(compareBallots(b(1, 5), b(2, 0))).toBe(-1); // round dominates node
    expect(compareBallots(b(2, 0), b(1, 5))).toBe(1);
    expect(compareBallots(b(3, 1), b(3, 2))).toBe(-1); // same round: node breaks the tie
    expect(compareBallots(b(3, 2), b(3, 1))).toBe(1);
    expect(compareBallots(b(3, 2), b(3, 2))).toBe(0);

    // Sorting a shuffled set yields exactly the lexicographic (round, node) order.
    const shuffled = [b(2, 1), b(1, 2), b(10, 0), b(2, 0), b(1, 0), b(9, 4), b(2, 2)];
    const sorted = [...shuffled].sort(compareBallots).map(formatBallot);
    expect(sorted).toEqual(["1.0", "1.2", "2.0", "2.1", "2.2", "9.4", "10.0"]);

    // Antisymmetric and consistent with ballotEquals on every pair.
    for (const x of shuffled) {
      for (const y of shuffled) {
        expect(compareBallots(x, y)).toBe(-compareBallots(y, x) || 0);
        expect(compareBallots(x, y) === 0).toBe(ballotEquals(x, y));
      }
    }
  });

  // Rounds compare numerically, not as strings ("10" < "9" as text).
  it("rounds compare numerically", () => {
    expect(compareBallots(b(9, 0), b(10, 0))).toBe(-1);
    expect(compareBallots(b(2, 9), b(2, 10))).toBe(-1);
  });

  // Chand et al. 2016 Fig. 1: an acceptor starts with maxbal = -1, below every
  // proposer ballot; here NO_BALLOT = (0, 0) and real ballots have round >= 1.
  it("NO_BALLOT is below every real ballot", () => {
    expect(NO_BALLOT).toEqual({ round: 0, node: 0 });
    for (const real of [b(1, 0), b(1, 1), b(1, 7), b(2, 0), b(1000, 3)]) {
      expect(compareBallots(NO_BALLOT, real)).toBe(-1);
      expect(compareBallots(real, NO_BALLOT)).toBe(1);
      expect(maxBallot(NO_BALLOT, real)).toEqual(real);
      expect(maxBallot(real, NO_BALLOT)).toEqual(real);
    }
    expect(compareBallots(NO_BALLOT, { round: 0, node: 0 })).toBe(0);
  });

  it("maxBallot returns the higher ballot and ballotEquals compares both fields", () => {
    expect(maxBallot(b(2, 1), b(2, 3))).toEqual(b(2, 3));
    expect(maxBallot(b(4, 0), b(3, 9))).toEqual(b(4, 0));
    expect(ballotEquals(b(2, 1), b(2, 1))).toBe(true);
    expect(ballotEquals(b(2, 1), b(2, 2))).toBe(false);
    expect(ballotEquals(b(2, 1), b(3, 1))).toBe(false);
    expect(formatBallot(b(12, 3))).toBe("12.3");
  });
});
