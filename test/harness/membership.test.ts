// What the harness concludes from the nodes' GET /members and GET /status
// answers: the configurations in config_slot order, grows and shrinks,
// conflicts, and each slot's lane. And how the report draws them.

import { describe, expect, it } from "vitest";
import { deriveMembership, slotOfAddress, type MembersJson, type MembershipSample } from "../../src/harness/membership.js";
import { renderReport } from "../../src/harness/report.js";
import type { RunResults } from "../../src/harness/report-types.js";

const S = 1e9;
const HOSTS = ["10.0.0.11", "10.0.0.12", "10.0.0.13", "10.0.0.14", "10.0.0.15"];

function members(slot: number, roles: Record<number, "voter" | "learner">, slotOf: Record<number, number>): MembersJson {
  return {
    config_slot: slot,
    members: Object.entries(roles).map(([id, role]) => ({ id: Number(id), address: `${HOSTS[slotOf[Number(id)]!]}:5000`, grpc: "", role })),
  };
}

function sample(time: number, slot: number, m: MembersJson | null, member = "voter", role = "follower"): MembershipSample {
  return { time: time * S, slot, members: m, status: m === null ? null : { id: slot, role, member, leader: 0, configSlot: m.config_slot } };
}

// 3 voters; n3 added as learner (id 3), promoted; voter 1 removed.
const c0 = members(-1, { 0: "voter", 1: "voter", 2: "voter" }, { 0: 0, 1: 1, 2: 2 });
const c1 = members(10, { 0: "voter", 1: "voter", 2: "voter", 3: "learner" }, { 0: 0, 1: 1, 2: 2, 3: 3 });
const c2 = members(14, { 0: "voter", 1: "voter", 2: "voter", 3: "voter" }, { 0: 0, 1: 1, 2: 2, 3: 3 });
const c3 = members(20, { 0: "voter", 2: "voter", 3: "voter" }, { 0: 0, 2: 2, 3: 3 });

function growAndShrink(): MembershipSample[] {
  return [
    sample(0, 0, c0, "voter", "leader"),
    sample(0, 1, c0),
    sample(0, 2, c0),
    sample(0, 3, null),
    sample(1, 0, c1, "voter", "leader"),
    sample(1, 1, c0), // lags: still reports the older configuration
    sample(1, 3, c1, "learner"),
    sample(2, 0, c2, "voter", "leader"),
    sample(2, 3, c2),
    sample(3, 0, c3, "voter", "leader"),
    sample(3, 1, c3, "removed"),
    sample(4, 1, c3, "removed"),
    sample(4, 2, c3),
  ];
}

describe("deriveMembership", () => {
  it("orders the configurations by config_slot and finds a grow and a shrink", () => {
    const m = deriveMembership(growAndShrink(), HOSTS, 5 * S, true);
    expect(m.configs.map((c) => c.configSlot)).toEqual([-1, 10, 14, 20]);
    expect(m.configs[1]).toMatchObject({ firstSeen: 1 * S, firstSeenBy: 0, seenBy: [0, 3] });
    expect(m.configs[2]!.voters.map((v) => [v.id, v.slot])).toEqual([[0, 0], [1, 1], [2, 2], [3, 3]]);
    expect(m.changes.map((c) => c.kind)).toEqual(["learner-added", "grow", "shrink"]);
    expect(m.changes[1]!.detail).toBe("3@n3 promoted");
    expect(m.changes[2]).toMatchObject({ votersBefore: 4, votersAfter: 3, detail: "voter 1@n1 removed", time: 3 * S });
    expect([m.grows, m.shrinks]).toEqual([1, 1]);
    expect(m.conflicts).toEqual([]);
    expect(m.check.ok).toBe(true);
  });

  it("counts a grow even when the learner's configuration was never polled", () => {
    const samples = [sample(0, 0, c0), sample(2, 0, c2), sample(3, 0, c3)];
    const m = deriveMembership(samples, HOSTS, 4 * S, true);
    expect(m.changes.map((c) => [c.kind, c.detail])).toEqual([
      ["grow", "voter 3@n3 added"],
      ["shrink", "voter 1@n1 removed"],
    ]);
  });

  it("fails the check when the member nemesis ran but no shrink (or grow) was observed", () => {
    const onlyGrow = growAndShrink().filter((s) => s.members?.config_slot !== 20);
    const m = deriveMembership(onlyGrow, HOSTS, 5 * S, true);
    expect([m.grows, m.shrinks]).toEqual([1, 0]);
    expect(m.check.ok).toBe(false);
    expect(m.check.detail).toContain("no shrink of the voters was observed");
    // Without the member nemesis nothing is required.
    expect(deriveMembership(onlyGrow, HOSTS, 5 * S, false).check.ok).toBe(true);
    const nothing = deriveMembership([sample(0, 0, c0)], HOSTS, 1 * S, true);
    expect(nothing.check.detail).toContain("no grow of the voters was observed");
  });

  it("reports two memberships for one config_slot as a conflict", () => {
    const forged = members(14, { 0: "voter", 1: "voter", 4: "voter" }, { 0: 0, 1: 1, 4: 4 });
    const m = deriveMembership([...growAndShrink(), sample(2.5, 4, forged)], HOSTS, 5 * S, true);
    expect(m.conflicts).toHaveLength(1);
    expect(m.conflicts[0]).toContain("config_slot 14");
    expect(m.check.ok).toBe(false);
    // The same members listed in another order are the same configuration.
    const reordered: MembersJson = { config_slot: c2.config_slot, members: [...c2.members].reverse() };
    expect(deriveMembership([...growAndShrink(), sample(2.5, 2, reordered)], HOSTS, 5 * S, true).conflicts).toEqual([]);
  });

  it("ignores the empty membership of a joining node that has not reached a member yet", () => {
    const joining = sample(2.5, 4, { config_slot: -1, members: [] }, "joining");
    const m = deriveMembership([...growAndShrink(), joining], HOSTS, 5 * S, true);
    expect(m.conflicts).toEqual([]);
    expect(m.configs[0]!.seenBy).toEqual([0, 1, 2]);
    expect(m.lanes[4]!.segments.map((x) => x.state)).toEqual(["joining"]);
  });

  it("merges each slot's own states into lanes", () => {
    const m = deriveMembership(growAndShrink(), HOSTS, 5 * S, true);
    const lane = (slot: number) => m.lanes[slot]!.segments.map((s) => [s.state, s.start / S, s.end / S]);
    expect(lane(0)).toEqual([["leader", 0, 5]]);
    expect(lane(1)).toEqual([
      ["voter", 0, 3],
      ["removed", 3, 5],
    ]);
    expect(lane(3)).toEqual([
      ["no answer", 0, 1],
      ["learner", 1, 2],
      ["voter", 2, 5],
    ]);
    expect(lane(4)).toEqual([]);
  });

  it("maps member addresses to slots by host", () => {
    expect(slotOfAddress("10.0.0.13:5000", HOSTS)).toBe(2);
    expect(slotOfAddress("10.0.0.99:5000", HOSTS)).toBe(null);
  });
});

function results(over: Partial<RunResults>): RunResults {
  return {
    name: "member",
    startedAt: "2026-12-01T10:00:00.000Z",
    valid: true,
    model: "strict",
    explanation: "",
    failingOps: [],
    nodes: 3,
    concurrency: 5,
    timeLimitS: 5,
    nemeses: ["member", "kill"],
    rate: 20,
    counts: { invoke: 0, ok: 0, fail: 0, info: 0, byF: {} },
    latencyMs: { p50: 1, p90: 1, p99: 1, max: 1 },
    nemesisIntervals: [{ kind: "member", description: "grow: n3 joined as id 3", start: 0.9 * S, end: 2.1 * S }],
    finalCheck: { ok: true, detail: "ok" },
    tls: false,
    slots: 5,
    ...over,
  };
}

describe("the report's membership section", () => {
  it("draws the configurations, the changes and one lane per slot, with a table", () => {
    const membership = deriveMembership(growAndShrink(), HOSTS, 5 * S, true);
    const html = renderReport(results({ membership }), []);
    const start = html.indexOf('<svg id="membership"');
    expect(start).toBeGreaterThan(0);
    const svg = html.slice(start, html.indexOf("</svg>", start));
    expect(svg.match(/<rect class="config /g)).toHaveLength(4);
    expect(svg).toContain('data-config-slot="14" data-voters="4" data-learners="0"');
    expect(svg.match(/class="change grow"/g)).toHaveLength(1);
    expect(svg.match(/class="change shrink"/g)).toHaveLength(1);
    expect(svg.match(/class="member-seg" data-slot="3"/g)).toHaveLength(3);
    expect(svg).toContain('data-slot="1" data-state="removed"');
    expect(svg.match(/class="nemesis" data-kind="member"/g)).toHaveLength(1);
    expect(html).toContain("membership: 1 grow, 1 shrink observed");
    expect(html).toContain("the member nemesis&#39;s changes were seen by the nodes");
    expect(html).toContain("3 (5 slots)");
    const table = html.slice(html.indexOf('class="nemesis-table membership-table"'));
    expect(table.match(/<tr class="(grow|shrink|learner-added|)"/g)).toHaveLength(4);
    expect(table).toContain("shrink: voter 1@n1 removed");
  });

  it("says so loudly when the changes were not observed, and escapes what the nodes sent", () => {
    const evil = "<img src=x onerror=alert(1)>";
    const m = deriveMembership([sample(0, 0, { config_slot: 1, members: [{ id: 0, address: `${evil}:5000`, role: "voter" }] })], HOSTS, 1 * S, true);
    const html = renderReport(results({ membership: m }), []);
    expect(html).toContain("<b>membership: changes NOT observed</b>");
    expect(html).toContain("the member nemesis&#39;s changes were NOT all seen");
    expect(html).not.toContain("<img");
  });

  it("leaves the section out for results without a membership", () => {
    expect(renderReport(results({}), [])).not.toContain('id="membership"');
  });
});
