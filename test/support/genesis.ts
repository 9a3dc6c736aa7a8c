// The bootstrap membership of a test cluster of n nodes (ids 0..n-1), as
// `paxos node` makes it from a config file.

import { bootstrapMembership, type Membership } from "../../src/core/membership.js";

export function genesisOf(n: number): Membership {
  return bootstrapMembership(Array.from({ length: n }, (_, i) => `node-${i}:${5000 + i}:${6000 + i}:${7000 + i}`));
}

export const GENESIS3 = genesisOf(3);
