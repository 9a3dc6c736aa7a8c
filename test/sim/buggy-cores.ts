// Test-only cores, each with one protocol rule broken through the core's
// rule hooks (production code never constructs them). The simulator must
// catch every one of them.

import { compareBallots } from "../../src/core/ballot.js";
import { PaxosCore, type AcceptedVote } from "../../src/core/paxos-core.js";
import type { Ballot, CoreConfig, PersistRecord, Value } from "../../src/core/types.js";
import type { SimOptions } from "../../src/sim/simulation.js";

/** Breaks PMS P1a: answers Prepares and Accepts of ballots lower than the one promised. */
class AcceptsLowerBallots extends PaxosCore {
  protected override admits(_ballot: Ballot): boolean {
    return true;
  }
}

/** Breaks PMS P2c: recovers the lowest-ballot vote of a slot instead of the highest. */
class RecoversLowestBallot extends PaxosCore {
  protected override outranks(vote: AcceptedVote, current: AcceptedVote | undefined): boolean {
    return current === undefined || compareBallots(vote.ballot, current.ballot) < 0;
  }
}

/** Applies any chosen slot it knows, skipping gaps, instead of strictly in slot order. */
class AppliesOutOfOrder extends PaxosCore {
  protected override nextToApply(): { slot: number; value: Value } | undefined {
    let lowest: number | undefined;
    for (const slot of this.chosenAhead.keys()) if (lowest === undefined || slot < lowest) lowest = slot;
    return lowest === undefined ? undefined : { slot: lowest, value: this.chosenAhead.get(lowest)! };
  }
}

/** Rebuilds the list on restart but forgets the exactly-once session table. */
class ForgetsSessionsOnRestart extends PaxosCore {
  constructor(cfg: CoreConfig, records: readonly PersistRecord[]) {
    super(cfg, records);
    // Test-only reach into a private field: this is the bug being injected.
    const tables = this.list as unknown as { sessions: Map<number, unknown>; recent: Map<string, unknown> };
    tables.sessions.clear();
    tables.recent.clear();
  }
}

export interface InjectedBug {
  readonly name: string;
  readonly options: Partial<SimOptions>;
  /** What the simulator must say about it. */
  readonly expected: RegExp;
}

export const INJECTED_BUGS: readonly InjectedBug[] = [
  { name: "accept a lower ballot", options: { createCore: (c, r) => new AcceptsLowerBallots(c, r) }, expected: /two values chosen|applied twice|not linearizable/ },
  { name: "reply before the record is durable", options: { releaseBeforeSync: true }, expected: /two values chosen|applied twice|missing|not linearizable/ },
  { name: "recover a lower-ballot value", options: { createCore: (c, r) => new RecoversLowestBallot(c, r) }, expected: /two values chosen|not linearizable/ },
  { name: "apply out of slot order", options: { createCore: (c, r) => new AppliesOutOfOrder(c, r) }, expected: /applied slot|list has|not linearizable/ },
  { name: "forget the dedup table on restart", options: { createCore: (c, r) => new ForgetsSessionsOnRestart(c, r) }, expected: /applied twice|acknowledged at index|not linearizable/ },
];
