// Faults for the local Jepsen run, on real processes and a real network:
// partitions with iptables DROP inside the nodes' namespaces, SIGKILL with
// a later restart, SIGSTOP with a later SIGCONT, and membership changes
// (member-nemesis.ts).

import type { MemberNemesis } from "./member-nemesis.js";
import { heal, partition, type TestNet } from "./netns.js";
import type { NemesisInterval } from "./report-types.js";

export const NEMESES = ["partition", "partition-leader", "kill", "pause", "member", "none"] as const;
export type NemesisKind = (typeof NEMESES)[number];

export interface NodeControl {
  /** Node slots, one per namespace. */
  readonly count: number;
  kill(i: number): Promise<void>;
  /** (Re)starts slot i's node the way that slot needs (config, joined, joining); does nothing for a slot whose member was removed. */
  start(i: number): void;
  signal(i: number, sig: "SIGSTOP" | "SIGCONT"): void;
  isRunning(i: number): boolean;
  /** Slot i has a node the harness keeps running: not a removed member, not an unused spare. */
  isActive(i: number): boolean;
  /** The leader as the nodes report it, or null. */
  leader(): Promise<number | null>;
}

export interface ActiveFault {
  readonly kind: Exclude<NemesisKind, "member">;
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

/** Slots with a node the harness keeps running, and whose process runs now. */
function live(nodes: NodeControl): number[] {
  return Array.from({ length: nodes.count }, (_, i) => i).filter((i) => nodes.isActive(i) && nodes.isRunning(i));
}

export async function startFault(kind: Exclude<NemesisKind, "member">, net: TestNet, nodes: NodeControl): Promise<ActiveFault> {
  switch (kind) {
    case "partition": {
      // Jepsen's partition-random-halves: a random minority and the majority,
      // of the slots the harness keeps running (the members); a slot without
      // a member (a spare, a removed node) goes to a random side.
      const active = shuffled(nodes.count).filter((i) => nodes.isActive(i));
      const minority = active.slice(0, Math.floor(active.length / 2));
      const majority = active.slice(minority.length);
      for (let i = 0; i < nodes.count; i++) if (!nodes.isActive(i)) (Math.random() < 0.5 ? minority : majority).push(i);
      minority.sort((a, b) => a - b);
      majority.sort((a, b) => a - b);
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
      const running = live(nodes);
      const victim = running[Math.floor(Math.random() * running.length)];
      if (victim === undefined) return { kind, description: "no node running to kill", heal: async () => {} };
      await nodes.kill(victim);
      return {
        kind,
        description: `SIGKILL node ${victim}`,
        heal: async () => {
          // start() knows how this slot starts (config or its member file) and skips a removed member.
          if (!nodes.isRunning(victim)) nodes.start(victim);
        },
      };
    }
    case "pause": {
      const running = live(nodes);
      const victim = running[Math.floor(Math.random() * running.length)] ?? 0;
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
  /** Needed when kinds has "member". */
  member?: MemberNemesis;
  /** Told of each fault as it begins, and null once it is healed (the live page shows it: local-jepsen.ts). */
  onFault?: (fault: { kind: NemesisKind; description: string } | null) => void;
}): Promise<NemesisInterval[]> {
  const onFault = o.onFault ?? (() => {});
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
    if (kind === "member") {
      // A membership change is not healed: the cluster stays as changed. The
      // fault period is filled with changes, one after another (at least one);
      // each is an interval of its own, as long as the change took.
      if (o.member === undefined) throw new Error("the member nemesis needs slots to grow into (runNemesis without `member`)");
      const windowEnd = Date.now() + o.faultyMs;
      do {
        const start = o.clock();
        onFault({ kind, description: "member: changing the membership" });
        const description = await o.member.act();
        onFault({ kind, description: `member: ${description}` });
        intervals.push({ kind, description, start, end: o.clock() });
        o.log(`nemesis: member: ${description}`);
        // The result of each op lasts a poll or two before the next, so the observer can see it.
        await sleep(Math.min(1000, Math.max(0, windowEnd - Date.now())));
      } while (!o.stopped() && Date.now() < windowEnd);
      onFault(null);
      continue;
    }
    const start = o.clock();
    const fault = await startFault(kind, o.net, o.nodes);
    o.log(`nemesis: ${fault.description}`);
    onFault({ kind, description: fault.description });
    await sleep(o.faultyMs);
    await fault.heal();
    onFault(null);
    o.log(`nemesis: healed (${fault.description})`);
    intervals.push({ kind, description: fault.description, start, end: o.clock() });
  }
  return intervals;
}
