// Quorum arithmetic, as pure functions over sets of node ids (after etcd's
// quorum package and TigerBeetle's vsr.quorums): the core never counts a
// majority inline. Only voters count, so a learner's vote or ack is ignored
// by construction, and this node counts only when it is a voter itself.
//
// Why majorities are safe [PMS 2.1]: any two majorities of one set of
// voters share an acceptor, so two ballots cannot both gather a quorum
// without one of them hearing of the other. Across a configuration change
// the two sets differ, and that is what the reconfiguration rules in
// membership.ts are for.

import type { NodeId } from "./types.js";

/** The smallest number of voters that forms a majority of `voters`. */
export function majoritySize(voterCount: number): number {
  return Math.floor(voterCount / 2) + 1;
}

/** How many of `ids` are voters. */
export function votersAmong(voters: ReadonlySet<NodeId>, ids: Iterable<NodeId>): number {
  let n = 0;
  for (const id of ids) if (voters.has(id)) n++;
  return n;
}

/** Whether `ids` include a majority of `voters` (ids that are not voters do not count). */
export function isQuorum(voters: ReadonlySet<NodeId>, ids: Iterable<NodeId>): boolean {
  return voters.size > 0 && votersAmong(voters, ids) >= majoritySize(voters.size);
}
