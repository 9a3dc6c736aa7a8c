// The `member` nemesis, as in Jepsen's etcd test: it grows the cluster (a
// fresh node in a spare slot starts with `paxos node --join`, is added as a
// learner with POST /members and promoted once caught up), shrinks it
// (DELETE /members/{id} of a random voter, sometimes the leader), and
// replaces nodes (one of each), keeping 3..5 voters. Every change goes
// through a random member, which forwards it to the leader.
//
// A change whose outcome is unknown (a 503, a timeout) is simply sent again:
// the refusals make that idempotent. An add that already happened is
// `address_taken`, a removal that already happened `unknown_member` (ids are
// never reused, and we only remove ids we saw), a promotion that already
// happened `not_a_learner`.
//
// A removed node's process keeps running (it must answer clients 503
// not_applied and stay out of the way) until its slot is needed again; then it
// is killed, its data set aside, and a new node with an empty data dir joins
// at the same address (a new member with a new id).

import { request, type Dispatcher } from "undici";
import { fetchMembers, slotOfAddress, type MembersJson } from "./membership.js";

export interface MemberSlots {
  /** Slots (namespaces) in all. */
  readonly count: number;
  /** Each slot's IP. */
  readonly hosts: readonly string[];
  /** The node address of slot i: host:httpPort:grpcPort:peerPort. */
  address(i: number): string;
  /** Base URL of slot i's HTTP port. */
  url(i: number): string;
  readonly agent: Dispatcher;
  isRunning(i: number): boolean;
  /** Slot i has a node the harness keeps running (restarts after kills): not removed, not a never-used spare. */
  isActive(i: number): boolean;
  /** Kills what runs in slot i, sets its data dir aside, and starts a new node there that joins through slot `via`. */
  launchJoin(i: number, via: number): Promise<void>;
  /** Slot i's member was removed: the harness never restarts it (its process may run on, as a removed node). */
  retire(i: number): void;
  /** The slot whose node says it leads, or null. */
  leader(): Promise<number | null>;
}

type Reply =
  | { kind: "ok"; body: { member?: { id: number; role: string }; members: MembersJson["members"]; config_slot: number } }
  | { kind: "refused"; refusal: string; error: string }
  | { kind: "unavailable"; detail: string };

/** The ops in the order they are tried; one that the voter count or the free slots forbid is skipped. */
const PLAN = ["grow", "shrink", "grow", "grow", "replace", "shrink", "shrink", "replace"] as const;
type Op = (typeof PLAN)[number];

export const MIN_VOTERS = 3;
export const MAX_VOTERS = 5;
const ADD_DEADLINE_MS = 20_000;
const PROMOTE_DEADLINE_MS = 30_000;
const REMOVE_DEADLINE_MS = 20_000;
/** A restarted voter may not be heard by the leader yet: would_lose_quorum is retried this long. */
const QUORUM_RETRY_MS = 5_000;
const RETRY_MS = 300;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const pick = <T>(xs: readonly T[]): T | undefined => xs[Math.floor(Math.random() * xs.length)];

class ChangeFailed extends Error {}

export class MemberNemesis {
  private next = 0;
  /** Changes the nemesis saw succeed (for the results). */
  changes = 0;
  /** The newest config_slot seen in a change's reply or a view. */
  private newest = -Infinity;

  constructor(
    private readonly s: MemberSlots,
    private readonly log: (line: string) => void,
  ) {}

  /**
   * The newest membership the running, active slots report, never older than
   * the newest one a change reply showed: a node that has not applied our
   * last change yet would make a new member look like a free slot, and the
   * nemesis would wipe a member's data. Null when none is that new within 10 s.
   */
  async view(): Promise<MembersJson | null> {
    const deadline = Date.now() + 10_000;
    for (;;) {
      const slots = Array.from({ length: this.s.count }, (_, i) => i).filter((i) => this.s.isRunning(i) && this.s.isActive(i));
      const got = await Promise.all(slots.map((i) => fetchMembers(this.s.url(i), this.s.agent)));
      let best: MembersJson | null = null;
      for (const m of got) if (m !== null && (best === null || m.config_slot > best.config_slot)) best = m;
      if (best !== null && best.config_slot >= this.newest) {
        this.newest = best.config_slot;
        return best;
      }
      if (Date.now() >= deadline) return null;
      await sleep(RETRY_MS);
    }
  }

  private slotOf(address: string): number | null {
    return slotOfAddress(address, this.s.hosts);
  }

  /** Slots of running members in `v`, the targets for a change (any member forwards it to the leader). */
  private memberSlots(v: MembersJson, role?: "voter"): number[] {
    const out: number[] = [];
    for (const m of v.members) {
      if (role !== undefined && m.role !== role) continue;
      const i = this.slotOf(m.address);
      if (i !== null && this.s.isRunning(i) && this.s.isActive(i)) out.push(i);
    }
    return out;
  }

  private async send(target: number, method: "POST" | "DELETE", path: string, body?: unknown): Promise<Reply> {
    try {
      const r = await request(`${this.s.url(target)}${path}`, {
        method,
        dispatcher: this.s.agent,
        headers: body === undefined ? {} : { "content-type": "application/json" },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
        // The node answers within its request timeout (10 s); a change waits for the leader and a chosen slot.
        headersTimeout: 12_000,
        bodyTimeout: 12_000,
      });
      const text = await r.body.text();
      let json: Record<string, unknown> = {};
      try {
        json = JSON.parse(text) as Record<string, unknown>;
      } catch {
        /* not JSON: reported below */
      }
      if (r.statusCode === 200) return { kind: "ok", body: json as Extract<Reply, { kind: "ok" }>["body"] };
      if (typeof json.refusal === "string") return { kind: "refused", refusal: json.refusal, error: String(json.error) };
      return { kind: "unavailable", detail: `HTTP ${r.statusCode} ${text.slice(0, 160)}` };
    } catch (e) {
      return { kind: "unavailable", detail: (e as { code?: string }).code ?? (e as Error).message };
    }
  }

  /**
   * Sends one change to random members until `decide` says it is done, or
   * the deadline passes. decide: a value ends the loop, "retry" goes on, a
   * string other than "retry" is a failure with that reason.
   */
  private async change<T>(what: string, method: "POST" | "DELETE", path: string, body: unknown, deadlineMs: number, decide: (r: Reply) => Promise<T | "retry" | { fail: string }>): Promise<T> {
    const deadline = Date.now() + deadlineMs;
    let last = "no member to ask";
    for (;;) {
      const v = await this.view();
      const target = v === null ? undefined : pick(this.memberSlots(v));
      if (target !== undefined) {
        const r = await this.send(target, method, path, body);
        if (r.kind === "ok" && typeof r.body.config_slot === "number") this.newest = Math.max(this.newest, r.body.config_slot);
        const d = await decide(r);
        if (d !== "retry") {
          if (typeof d === "object" && d !== null && "fail" in d) throw new ChangeFailed(`${what}: ${(d as { fail: string }).fail}`);
          return d as T;
        }
        last = r.kind === "refused" ? r.refusal : r.kind === "unavailable" ? r.detail : "ok";
      }
      if (Date.now() >= deadline) throw new ChangeFailed(`${what}: gave up after ${Math.round(deadlineMs / 1000)} s (last: ${last})`);
      await sleep(RETRY_MS);
    }
  }

  private async add(slot: number): Promise<number> {
    const address = this.s.address(slot);
    return this.change(`add n${slot}`, "POST", "/members", { address }, ADD_DEADLINE_MS, async (r) => {
      if (r.kind === "ok") return r.body.member?.id ?? { fail: "200 without a member" };
      if (r.kind === "refused" && r.refusal === "address_taken") {
        // An earlier try whose answer was lost did it (or a stale learner sits there): find the id.
        const v = await this.view();
        const m = v?.members.find((x) => this.slotOf(x.address) === slot);
        return m === undefined ? "retry" : m.id;
      }
      if (r.kind === "refused" && r.refusal !== "change_pending") return { fail: `${r.refusal}: ${r.error}` };
      return "retry";
    });
  }

  private async promote(id: number): Promise<void> {
    await this.change(`promote ${id}`, "POST", `/members/${id}/promote`, undefined, PROMOTE_DEADLINE_MS, async (r) => {
      if (r.kind === "ok") return true;
      if (r.kind === "refused" && r.refusal === "not_a_learner") {
        const v = await this.view();
        return v?.members.find((m) => m.id === id)?.role === "voter" ? true : { fail: `not_a_learner: ${r.error}` };
      }
      if (r.kind === "refused" && r.refusal === "unknown_member") return { fail: `unknown_member: ${r.error}` };
      return "retry"; // learner_behind (still catching up), change_pending, no leader
    });
  }

  private async remove(id: number): Promise<void> {
    const quorumUntil = Date.now() + QUORUM_RETRY_MS;
    await this.change(`remove ${id}`, "DELETE", `/members/${id}`, undefined, REMOVE_DEADLINE_MS, async (r) => {
      if (r.kind === "ok") return true;
      if (r.kind === "refused" && r.refusal === "unknown_member") return true; // an earlier try did it: ids are never reused
      if (r.kind === "refused" && r.refusal === "would_lose_quorum" && Date.now() < quorumUntil) return "retry";
      if (r.kind === "refused" && r.refusal !== "change_pending") return { fail: `${r.refusal}: ${r.error}` };
      return "retry";
    });
  }

  /** Adds a fresh node in a spare slot and promotes it. */
  private async grow(v: MembersJson): Promise<{ id: number; text: string }> {
    const used = new Set(v.members.map((m) => this.slotOf(m.address)));
    const spares = Array.from({ length: this.s.count }, (_, i) => i).filter((i) => !used.has(i));
    const slot = pick(spares);
    const via = pick(this.memberSlots(v, "voter"));
    if (slot === undefined || via === undefined) throw new ChangeFailed("grow: no spare slot or no running voter");
    const t0 = Date.now();
    await this.s.launchJoin(slot, via);
    const id = await this.add(slot);
    this.changes++;
    const t1 = Date.now();
    await this.promote(id);
    this.changes++;
    return { id, text: `n${slot} joined as id ${id} (learner after ${((t1 - t0) / 1000).toFixed(1)} s, voter after ${((Date.now() - t0) / 1000).toFixed(1)} s)` };
  }

  /** Removes a random voter (a third of the time the leader), except `keep`. */
  private async shrink(v: MembersJson, keep?: number): Promise<string> {
    const voters = v.members.filter((m) => m.role === "voter" && m.id !== keep && this.slotOf(m.address) !== null);
    const leaderSlot = Math.random() < 1 / 3 ? await this.s.leader() : null;
    const victim = voters.find((m) => this.slotOf(m.address) === leaderSlot) ?? pick(voters);
    if (victim === undefined) throw new ChangeFailed("shrink: no voter to remove");
    const slot = this.slotOf(victim.address)!;
    await this.remove(victim.id);
    this.changes++;
    this.s.retire(slot);
    return `removed id ${victim.id} (n${slot}${slot === leaderSlot ? ", the leader" : ""})`;
  }

  /** A learner left by an earlier op that did not finish: promote it if its node runs, else remove it. */
  private async settle(v: MembersJson): Promise<string[]> {
    const done: string[] = [];
    for (const m of v.members.filter((x) => x.role === "learner")) {
      const slot = this.slotOf(m.address);
      if (slot !== null && this.s.isRunning(slot) && this.s.isActive(slot)) {
        await this.promote(m.id);
        this.changes++;
        done.push(`promoted leftover learner ${m.id} (n${slot})`);
      } else {
        await this.remove(m.id);
        this.changes++;
        if (slot !== null) this.s.retire(slot);
        done.push(`removed leftover learner ${m.id}`);
      }
    }
    return done;
  }

  /** One op of the plan; returns what it did (a failure is described, not thrown). */
  async act(): Promise<string> {
    const done: string[] = [];
    try {
      let v = await this.view();
      if (v === null) return "skipped: no member answered GET /members with the newest configuration";
      done.push(...(await this.settle(v)));
      if (done.length > 0) v = (await this.view()) ?? v;
      const voters = v.members.filter((m) => m.role === "voter").length;
      const spares = this.s.count - v.members.length;
      const allowed = (op: Op) => (op === "grow" ? voters < MAX_VOTERS && spares > 0 : op === "shrink" ? voters > MIN_VOTERS : voters > MIN_VOTERS || spares > 0);
      let op: Op | undefined;
      for (let k = 0; k < PLAN.length && op === undefined; k++) {
        const cand = PLAN[(this.next + k) % PLAN.length]!;
        if (allowed(cand)) {
          op = cand;
          this.next += k + 1;
        }
      }
      if (op === undefined) return `skipped: nothing allowed with ${voters} voters and ${spares} free slots`;
      if (op === "grow") done.push(`grow: ${(await this.grow(v)).text}`);
      else if (op === "shrink") done.push(`shrink: ${await this.shrink(v)}`);
      else if (voters > MIN_VOTERS || spares === 0) {
        // Replace: remove first when that keeps enough voters (or no slot is free), else add first.
        const removed = await this.shrink(v);
        const added = await this.grow((await this.view()) ?? v);
        done.push(`replace: ${removed}; ${added.text}`);
      } else {
        const added = await this.grow(v);
        const removed = await this.shrink((await this.view()) ?? v, added.id);
        done.push(`replace: ${added.text}; ${removed}`);
      }
      const after = await this.view();
      if (after !== null) done.push(`now ${after.members.filter((m) => m.role === "voter").length} voters at config_slot ${after.config_slot}`);
      return done.join("; ");
    } catch (e) {
      if (!(e instanceof ChangeFailed)) throw e;
      this.log(`member nemesis: ${e.message}`);
      return [...done, `FAILED ${e.message}`].join("; ");
    }
  }
}
