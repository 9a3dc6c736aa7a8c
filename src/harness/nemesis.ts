// Faults for the local Jepsen run, on real processes and a real network:
// partitions with iptables DROP inside the nodes' namespaces, SIGKILL with
// a later restart, SIGSTOP with a later SIGCONT.

import { heal, partition, type TestNet } from "./netns.js";
import type { NemesisInterval } from "./report-types.js";

export const NEMESES = ["partition", "partition-leader", "kill", "pause", "none"] as const;
export type NemesisKind = (typeof NEMESES)[number];

export interface NodeControl {
  readonly count: number;
  kill(i: number): Promise<void>;
  start(i: number): void;
  signal(i: number, sig: "SIGSTOP" | "SIGCONT"): void;
  isRunning(i: number): boolean;
  /** The leader as the nodes report it, or null. */
  leader(): Promise<number | null>;
}

export interface ActiveFault {
  readonly kind: NemesisKind;
  readonly description: string;
  /** Undoes the fault. */
  readonly heal: () => Promise<void>;
}

function shuffled(n: number): number[] {
  const a = Array.from({ length: n }, (_, i) => i);
  for (let i = a.length - 1; i > 0; i--) {
    const j = Math.floor(Math.random() * (i + 1));
    [a[i], a[j]] = [a[j]!, a[i]!];
  }
  return a;
}

export async function startFault(kind: NemesisKind, net: TestNet, nodes: NodeControl): Promise<ActiveFault> {
  switch (kind) {
    case "partition": {
      // Jepsen's partition-random-halves: a random minority and the majority.
      const order = shuffled(nodes.count);
      const minority = order.slice(0, Math.floor(nodes.count / 2));
      const majority = order.slice(minority.length);
      await partition(net, [minority, majority]);
      return { kind, description: `partition {${minority.join(",")}} | {${majority.join(",")}}`, heal: () => heal(net) };
    }
    case "partition-leader": {
      const leader = (await nodes.leader()) ?? Math.floor(Math.random() * nodes.count);
      const rest = Array.from({ length: nodes.count }, (_, i) => i).filter((i) => i !== leader);
      await partition(net, [[leader], rest]);
      return { kind, description: `isolate leader ${leader}`, heal: () => heal(net) };
    }
    case "kill": {
      const running = Array.from({ length: nodes.count }, (_, i) => i).filter((i) => nodes.isRunning(i));
      const victim = running[Math.floor(Math.random() * running.length)]!;
      await nodes.kill(victim);
      return {
        kind,
        description: `SIGKILL node ${victim}`,
        heal: async () => {
          if (!nodes.isRunning(victim)) nodes.start(victim);
        },
      };
    }
    case "pause": {
      const victim = Math.floor(Math.random() * nodes.count);
      nodes.signal(victim, "SIGSTOP");
      return { kind, description: `SIGSTOP node ${victim}`, heal: async () => nodes.signal(victim, "SIGCONT") };
    }
    case "none":
      return { kind, description: "no fault", heal: async () => {} };
  }
}

/**
 * Cycles healthy and faulty periods (the old test's 5 s / 5 s), picking the
 * next fault round-robin from `kinds`, until stop() resolves. Returns the
 * fault intervals, in nanoseconds since the test started.
 */
export async function runNemesis(o: {
  kinds: readonly NemesisKind[];
  net: TestNet;
  nodes: NodeControl;
  healthyMs: number;
  faultyMs: number;
  clock: () => number;
  stopped: () => boolean;
  log: (line: string) => void;
}): Promise<NemesisInterval[]> {
  const intervals: NemesisInterval[] = [];
  const sleep = async (ms: number) => {
    const end = Date.now() + ms;
    while (!o.stopped() && Date.now() < end) await new Promise((r) => setTimeout(r, Math.min(100, end - Date.now())));
  };
  let k = 0;
  while (!o.stopped()) {
    await sleep(o.healthyMs);
    if (o.stopped()) break;
    const kind = o.kinds[k++ % o.kinds.length]!;
    if (kind === "none") {
      await sleep(o.faultyMs);
      continue;
    }
    const start = o.clock();
    const fault = await startFault(kind, o.net, o.nodes);
    o.log(`nemesis: ${fault.description}`);
    await sleep(o.faultyMs);
    await fault.heal();
    o.log(`nemesis: healed (${fault.description})`);
    intervals.push({ kind, description: fault.description, start, end: o.clock() });
  }
  return intervals;
}
