// The faults of one run, all drawn from its seed: network quality, timer
// skew, and a schedule of fault episodes (partitions of several shapes,
// crashes with restarts, membership changes).

import type { Rng } from "../core/rng.js";
import type { NodeId } from "../core/types.js";

export interface NetworkProfile {
  /** Probability that a message is lost. */
  readonly loss: number;
  /** Probability that a message is delivered twice. */
  readonly duplicate: number;
  /** Every message takes minDelay + uniform(0, jitter) ms... */
  readonly minDelayMs: number;
  readonly jitterMs: number;
  /** ...and with this probability an extra 50-300 ms (reordering). */
  readonly slowProbability: number;
}

export type PartitionShape =
  /** Two random halves that cannot talk to each other. */
  | "halves"
  /** The current leader alone on one side. */
  | "isolate-leader"
  /** One random direction of one random link is cut; the other direction works. */
  | "one-way"
  /** One node sees everyone, the others see only it (a "bridge"). */
  | "bridge";

export type Episode =
  | { readonly kind: "partition"; readonly shape: PartitionShape; readonly at: number; readonly durationMs: number }
  /**
   * "leader-after-accept": the leader dies right after its next Accept leaves,
   * before it can announce the outcome; "voter-after-accepted": the next node
   * to vote for another node's Accept dies right after its Accepted leaves.
   */
  | { readonly kind: "crash"; readonly target: CrashTarget; readonly at: number; readonly durationMs: number }
  /** A membership change asked of the leader; which one depends on the membership then (see Simulation). */
  | { readonly kind: "membership"; readonly at: number };

export type CrashTarget = "random" | "leader" | "leader-after-accept" | "voter-after-accepted";

export interface FaultPlan {
  readonly network: NetworkProfile;
  /** Milliseconds per tick of each node, by id, for every node a run may create (timer skew). */
  readonly tickMs: readonly number[];
  /** Milliseconds an fdatasync takes, uniform in [min, max). */
  readonly fsyncMinMs: number;
  readonly fsyncMaxMs: number;
  readonly episodes: readonly Episode[];
  readonly storm: boolean;
}

function pick<T>(rng: Rng, items: readonly T[]): T {
  return items[rng.intBetween(0, items.length)]!;
}

/**
 * Draws a run's faults. Half of the seeds are "storms": short
 * episodes back to back, leaders crashed and isolated often, slow disks and
 * lossier links, which is where rare interleavings (a leader dying with a
 * half-accepted batch, a vote answered just before a crash) show up.
 */
export function planFaults(rng: Rng, capacity: number, faultPhaseMs: number, reconfigure: boolean): FaultPlan {
  const storm = rng.intBetween(0, 2) === 0;
  const network: NetworkProfile = {
    loss: pick(rng, storm ? [0.05, 0.1, 0.2] : [0, 0, 0.01, 0.05, 0.1]),
    duplicate: pick(rng, [0, 0.01, 0.05]),
    minDelayMs: rng.intBetween(1, 4),
    jitterMs: pick(rng, [1, 5, 20]),
    slowProbability: pick(rng, [0, 0.01, 0.05]),
  };
  const skew = pick(rng, [0, 0.1, 0.3]);
  const tickMs = Array.from({ length: capacity }, () => 10 * (1 - skew + (2 * skew * rng.intBetween(0, 1001)) / 1000));
  const episodes: Episode[] = [];
  let at = rng.intBetween(300, 1500);
  while (at < faultPhaseMs) {
    const durationMs = storm ? rng.intBetween(50, 800) : rng.intBetween(300, 3000);
    const roll = rng.intBetween(0, 10);
    if (roll < (storm ? 3 : 6)) {
      const shapes = storm ? (["isolate-leader", "isolate-leader", "halves", "bridge", "one-way"] as const) : (["halves", "isolate-leader", "one-way", "bridge"] as const);
      episodes.push({ kind: "partition", shape: pick(rng, shapes), at, durationMs });
    } else {
      // Storms favour crashes timed for the worst moment.
      const timed = storm ? (["leader-after-accept", "voter-after-accepted", "leader-after-accept", "voter-after-accepted", "leader"] as const) : (["leader", "leader-after-accept", "voter-after-accepted"] as const);
      const target: CrashTarget = roll < (storm ? 5 : 8) ? "random" : pick(rng, timed);
      episodes.push({ kind: "crash", target, at, durationMs });
    }
    at += durationMs + (storm ? rng.intBetween(50, 700) : rng.intBetween(200, 2500));
  }
  // Membership changes, interleaved with the faults above: grow, shrink, replace, remove the leader.
  // A third of the runs change the membership all the time, so that partitioned nodes fall several changes behind.
  if (reconfigure) {
    const churn = rng.intBetween(0, 3) === 0;
    const changes = churn ? rng.intBetween(20, 60) : storm ? rng.intBetween(4, 16) : rng.intBetween(2, 10);
    for (let i = 0; i < changes; i++) episodes.push({ kind: "membership", at: rng.intBetween(200, faultPhaseMs) });
  }
  return { network, tickMs, fsyncMinMs: 1, fsyncMaxMs: storm ? rng.intBetween(5, 40) : rng.intBetween(2, 10), episodes, storm };
}

/** Which directed links are cut: cut[from][to]. */
export type LinkCuts = boolean[][];

export function noCuts(capacity: number): LinkCuts {
  return Array.from({ length: capacity }, () => Array.from({ length: capacity }, () => false));
}

/** Cuts of one shape among `ids` (the nodes that exist), in a matrix for `capacity` ids. */
export function cutsFor(shape: PartitionShape, rng: Rng, ids: readonly NodeId[], capacity: number, leader: NodeId | null): { cuts: LinkCuts; description: string } {
  const cuts = noCuts(capacity);
  const nodes = ids.length;
  const at = (i: number) => ids[i]!;
  const separate = (side: Set<NodeId>) => {
    for (const a of ids) for (const b of ids) if (side.has(a) !== side.has(b)) cuts[a]![b] = true;
  };
  switch (shape) {
    case "halves": {
      const shuffled = ids.map((x) => ({ x, k: rng.nextU32() })).sort((p, q) => p.k - q.k || p.x - q.x).map((p) => p.x);
      const side = new Set(shuffled.slice(0, Math.floor(nodes / 2)));
      separate(side);
      return { cuts, description: `partition halves {${[...side].join(",")}} | {${ids.filter((i) => !side.has(i)).join(",")}}` };
    }
    case "isolate-leader": {
      const target = leader ?? at(rng.intBetween(0, nodes));
      separate(new Set([target]));
      return { cuts, description: `partition isolates node ${target}${leader === null ? " (no leader known)" : " (the leader)"}` };
    }
    case "one-way": {
      const i = rng.intBetween(0, nodes);
      const [a, b] = [at(i), at((i + 1 + rng.intBetween(0, nodes - 1)) % nodes)];
      cuts[a]![b] = true;
      return { cuts, description: `one-way cut ${a} -> ${b}` };
    }
    case "bridge": {
      const hub = at(rng.intBetween(0, nodes));
      for (const a of ids) for (const b of ids) if (a !== b && a !== hub && b !== hub) cuts[a]![b] = true;
      return { cuts, description: `bridge: only node ${hub} sees everyone` };
    }
  }
}
