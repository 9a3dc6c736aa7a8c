import type { Ballot } from "./types.js";

/** "No ballot yet": lower than every real ballot, whose round is >= 1. */
export const NO_BALLOT: Ballot = { round: 0, node: 0 };

/** Total order on ballots: by round, then node id (Paxos Made Simple, sec. 2.2). */
export function compareBallots(a: Ballot, b: Ballot): number {
  if (a.round !== b.round) return a.round < b.round ? -1 : 1;
  if (a.node !== b.node) return a.node < b.node ? -1 : 1;
  return 0;
}

export function ballotEquals(a: Ballot, b: Ballot): boolean {
  return a.round === b.round && a.node === b.node;
}

export function maxBallot(a: Ballot, b: Ballot): Ballot {
  return compareBallots(a, b) >= 0 ? a : b;
}

export function formatBallot(b: Ballot): string {
  return `${b.round}.${b.node}`;
}
