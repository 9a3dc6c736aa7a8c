// The membership as the nodes report it, observed from outside the nemesis:
// every ~500 ms the harness asks every slot's address for GET /members and
// GET /status and records what answered. From those samples it derives the
// configurations the cluster went through (by config_slot), the grows and
// shrinks of its voters, each node's own view of itself over time (the
// report's lanes), and one safety check: two nodes must never report two
// different memberships for the same config_slot (each configuration is a
// chosen log entry, so that would be two values chosen for one slot).

import { request, type Dispatcher } from "undici";
import type { MemberRole, MembershipObservation, ObservedChange, ObservedConfig, ObservedMember, SlotLane, SlotLaneState } from "./report-types.js";

export interface MembersJson {
  members: { id: number; address: string; grpc?: string; role: MemberRole }[];
  config_slot: number;
}

interface StatusJson {
  id?: number;
  role?: string;
  member?: string;
  leader?: number | null;
  config_slot?: number;
}

/** One poll of one slot (`time`: ns since the test started). */
export interface MembershipSample {
  time: number;
  slot: number;
  /** GET /members, or null when it did not answer 200 in time. */
  members: MembersJson | null;
  /** GET /status, or null. */
  status: { id: number | null; role: string; member: string; leader: number | null; configSlot: number | null } | null;
}

export const POLL_INTERVAL_MS = 500;
const POLL_TIMEOUT_MS = 400;

async function getJson(url: string, agent: Dispatcher, timeoutMs: number): Promise<unknown> {
  try {
    const r = await request(url, { dispatcher: agent, headersTimeout: timeoutMs, bodyTimeout: timeoutMs, signal: AbortSignal.timeout(timeoutMs + 100) });
    const text = await r.body.text();
    return r.statusCode === 200 ? (JSON.parse(text) as unknown) : null;
  } catch {
    return null;
  }
}

function isMembersJson(v: unknown): v is MembersJson {
  const o = v as MembersJson | null;
  return (
    typeof o === "object" &&
    o !== null &&
    typeof o.config_slot === "number" &&
    Array.isArray(o.members) &&
    o.members.every((m) => typeof m.id === "number" && typeof m.address === "string" && (m.role === "voter" || m.role === "learner"))
  );
}

/** Asks one node for its membership; null when it does not answer. */
export async function fetchMembers(baseUrl: string, agent: Dispatcher, timeoutMs = 2000): Promise<MembersJson | null> {
  const v = await getJson(`${baseUrl}/members`, agent, timeoutMs);
  return isMembersJson(v) ? v : null;
}

/**
 * Polls every slot until stop() is called. It asks all slots, whatever the
 * nemesis believes about them: a slot without a process simply does not
 * answer, and that is recorded too.
 */
export class MembershipObserver {
  readonly samples: MembershipSample[] = [];
  private stopped = false;
  private loop: Promise<void> | null = null;

  constructor(
    private readonly urls: readonly string[],
    private readonly agent: Dispatcher,
    private readonly clock: () => number,
  ) {}

  start(): void {
    this.loop = (async () => {
      while (!this.stopped) {
        const began = Date.now();
        await this.pollOnce();
        const rest = POLL_INTERVAL_MS - (Date.now() - began);
        if (rest > 0 && !this.stopped) await new Promise((r) => setTimeout(r, rest));
      }
    })();
  }

  async pollOnce(): Promise<void> {
    const time = this.clock();
    const got = await Promise.all(
      this.urls.map(async (url, slot): Promise<MembershipSample> => {
        const [members, status] = await Promise.all([getJson(`${url}/members`, this.agent, POLL_TIMEOUT_MS), getJson(`${url}/status`, this.agent, POLL_TIMEOUT_MS)]);
        const s = status as StatusJson | null;
        return {
          time,
          slot,
          members: isMembersJson(members) ? members : null,
          status:
            s === null || typeof s !== "object" || typeof s.member !== "string"
              ? null
              : { id: typeof s.id === "number" ? s.id : null, role: String(s.role), member: s.member, leader: typeof s.leader === "number" ? s.leader : null, configSlot: typeof s.config_slot === "number" ? s.config_slot : null },
        };
      }),
    );
    this.samples.push(...got);
  }

  /** Stops polling, after one last poll: the nemesis's last change is seen even if it ended just after a poll. */
  async stop(): Promise<void> {
    this.stopped = true;
    await this.loop;
    await this.pollOnce();
  }
}

/** The slot whose address has this host (member addresses are "host:port"). */
export function slotOfAddress(address: string, hosts: readonly string[]): number | null {
  const host = address.split(":")[0] ?? "";
  const i = hosts.indexOf(host);
  return i < 0 ? null : i;
}

function memberKey(m: MembersJson): string {
  return [...m.members]
    .sort((a, b) => a.id - b.id)
    .map((x) => `${x.id}:${x.role}:${x.address}`)
    .join(" ");
}

const idList = (ms: readonly ObservedMember[]) => ms.map((m) => `${m.id}${m.slot === null ? "" : `@n${m.slot}`}`).join(",");

/**
 * What the samples show: the configurations in config_slot order (each with
 * when it was first reported and by whom), the changes between consecutive
 * ones, each slot's own state over time, and conflicts.
 */
export function deriveMembership(samples: readonly MembershipSample[], hosts: readonly string[], tEnd: number, required: boolean): MembershipObservation {
  const configs = new Map<number, ObservedConfig & { key: string }>();
  const conflicts: string[] = [];
  for (const s of samples) {
    const m = s.members;
    // A joining node that has not reached a member yet answers {"members":[],"config_slot":-1}: no
    // configuration (a real one has a voter), though -1 is also the bootstrap configuration's slot.
    if (m === null || m.members.length === 0) continue;
    const key = memberKey(m);
    const known = configs.get(m.config_slot);
    if (known === undefined) {
      const members = [...m.members].sort((a, b) => a.id - b.id).map((x): ObservedMember => ({ id: x.id, address: x.address, slot: slotOfAddress(x.address, hosts) }));
      const roles = new Map(m.members.map((x) => [x.id, x.role]));
      configs.set(m.config_slot, {
        key,
        configSlot: m.config_slot,
        firstSeen: s.time,
        firstSeenBy: s.slot,
        seenBy: [s.slot],
        voters: members.filter((x) => roles.get(x.id) === "voter"),
        learners: members.filter((x) => roles.get(x.id) === "learner"),
      });
    } else {
      if (known.key !== key) {
        const c = `config_slot ${m.config_slot}: n${known.firstSeenBy} reported [${known.key}] but n${s.slot} reported [${key}] at ${(s.time / 1e9).toFixed(3)} s`;
        if (!conflicts.includes(c)) conflicts.push(c);
      }
      if (s.time < known.firstSeen) {
        known.firstSeen = s.time;
        known.firstSeenBy = s.slot;
      }
      if (!known.seenBy.includes(s.slot)) known.seenBy.push(s.slot);
    }
  }
  const ordered = [...configs.values()].sort((a, b) => a.configSlot - b.configSlot).map(({ key: _key, ...c }) => ({ ...c, seenBy: [...c.seenBy].sort((a, b) => a - b) }));

  const changes: ObservedChange[] = [];
  for (let k = 1; k < ordered.length; k++) {
    const before = ordered[k - 1]!;
    const after = ordered[k]!;
    const ids = (ms: readonly ObservedMember[]) => new Set(ms.map((m) => m.id));
    const [vb, va, lb, la] = [ids(before.voters), ids(after.voters), ids(before.learners), ids(after.learners)];
    const parts: string[] = [];
    const promoted = after.voters.filter((m) => lb.has(m.id));
    const newVoters = after.voters.filter((m) => !vb.has(m.id) && !lb.has(m.id));
    const goneVoters = before.voters.filter((m) => !va.has(m.id));
    const newLearners = after.learners.filter((m) => !lb.has(m.id));
    const goneLearners = before.learners.filter((m) => !la.has(m.id) && !va.has(m.id));
    if (newLearners.length > 0) parts.push(`learner ${idList(newLearners)} added`);
    if (promoted.length > 0) parts.push(`${idList(promoted)} promoted`);
    if (newVoters.length > 0) parts.push(`voter ${idList(newVoters)} added`);
    if (goneVoters.length > 0) parts.push(`voter ${idList(goneVoters)} removed`);
    if (goneLearners.length > 0) parts.push(`learner ${idList(goneLearners)} removed`);
    const dv = after.voters.length - before.voters.length;
    const kind: ObservedChange["kind"] = dv > 0 ? "grow" : dv < 0 ? "shrink" : newLearners.length > 0 ? "learner-added" : goneLearners.length > 0 ? "learner-removed" : "other";
    changes.push({
      time: after.firstSeen,
      fromSlot: before.configSlot,
      configSlot: after.configSlot,
      kind,
      votersBefore: before.voters.length,
      votersAfter: after.voters.length,
      detail: parts.length === 0 ? "no visible difference" : parts.join("; "),
    });
  }

  // Each slot's own account of itself, merged into segments.
  const lanes: SlotLane[] = hosts.map((host, slot) => ({ slot, host, segments: [] }));
  const bySlot = new Map<number, MembershipSample[]>();
  for (const s of samples) (bySlot.get(s.slot) ?? bySlot.set(s.slot, []).get(s.slot)!).push(s);
  for (const [slot, list] of bySlot) {
    const lane = lanes[slot];
    if (lane === undefined) continue;
    list.sort((a, b) => a.time - b.time);
    list.forEach((s, k) => {
      const state = laneState(s);
      const id = s.status?.id ?? null;
      const end = list[k + 1]?.time ?? Math.max(s.time, tEnd);
      const last = lane.segments[lane.segments.length - 1];
      if (last !== undefined && last.state === state && last.id === id) last.end = end;
      else lane.segments.push({ start: s.time, end, state, id, configSlot: s.status?.configSlot ?? null });
    });
  }

  const grows = changes.filter((c) => c.kind === "grow").length;
  const shrinks = changes.filter((c) => c.kind === "shrink").length;
  const problems: string[] = [];
  if (conflicts.length > 0) problems.push(`${conflicts.length} conflicting report(s) of one config_slot`);
  if (required && grows === 0) problems.push("no grow of the voters was observed");
  if (required && shrinks === 0) problems.push("no shrink of the voters was observed");
  const summary = `${ordered.length} configuration(s) observed in ${samples.length} samples: ${grows} grow(s), ${shrinks} shrink(s) of the voters`;
  return {
    hosts: [...hosts],
    pollIntervalMs: POLL_INTERVAL_MS,
    samples: samples.length,
    configs: ordered,
    changes,
    grows,
    shrinks,
    conflicts,
    lanes,
    check: { required, ok: problems.length === 0, detail: problems.length === 0 ? summary : `${problems.join("; ")} (${summary})` },
  };
}

function laneState(s: MembershipSample): SlotLaneState {
  const st = s.status;
  if (st === null) return "no answer";
  if (st.member === "voter") return st.role === "leader" ? "leader" : "voter";
  if (st.member === "learner" || st.member === "joining" || st.member === "removed") return st.member;
  return "no answer";
}
