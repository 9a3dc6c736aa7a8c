// @ts-check
// The live cluster page (GET /ui, served by every node). It polls the node's
// GET /cluster once a second: every member's /status as that node sees it
// (src/ui/cluster-view.ts). Everything over time is kept here, in the
// browser, for the last few minutes: throughput and latency for the charts,
// each member's role for the timeline, and events derived by comparing one
// poll with the one before (a new leader, a member that stops answering,
// elections counted by the nodes themselves, the nemesis's faults). So the
// node keeps no history for the page, and a reload starts afresh.
//
// Plain script, no library: the charts are hand-made SVG. Every text that
// comes from the cluster is set with textContent, never parsed as HTML.
// Elements the tests look for: .node[data-node-id][data-role][data-up],
// #leader, #events li[data-kind], body[data-polls][data-leader].

/** @typedef {import("../src/ui/cluster-view.js").ClusterJson} ClusterJson */
/** @typedef {import("../src/ui/cluster-view.js").MemberEntry} MemberEntry */
/** @typedef {"leader" | "follower" | "candidate" | "down"} LaneState */
/**
 * One poll, for the charts and the timeline.
 * @typedef {object} Sample
 * @property {number} t browser time (ms)
 * @property {number} ok
 * @property {number} failed
 * @property {number | null} p50
 * @property {number | null} p99
 * @property {number | null} leader
 * @property {Map<number, LaneState>} lanes
 */
/** @typedef {{ t: number, kind: string, text: string }} PageEvent */
/** @typedef {{ start: number, end: number | null, text: string, since: number }} FaultPeriod */
/** @typedef {{ id: number | null, ballot: string, agreed: number, up: number, others: number[] }} LeaderView */

const POLL_MS = 1000;
const HISTORY_MS = 5 * 60_000;
/** The charts span at least this much, so the first minutes do not stretch a few points across. */
const MIN_SPAN_MS = 60_000;
const MAX_EVENTS = 500;
/** A gap between samples longer than this breaks the lines (the page could not poll). */
const GAP_MS = 3 * POLL_MS;
const SVG_NS = "http://www.w3.org/2000/svg";

const page = {
  /** @type {Sample[]} */ samples: [],
  /** @type {PageEvent[]} */ events: [],
  /** @type {FaultPeriod[]} */ faults: [],
  /** @type {{ t: number, id: number }[]} */ elections: [],
  /** When each member last answered, and what it was then. @type {Map<number, { t: number, role: string }>} */ lastUp: new Map(),
  /** @type {ClusterJson | null} */ prev: null,
  /** @type {LeaderView | null} */ prevLeader: null,
  /** @type {number | null} */ lastOk: null,
  /** @type {string | null} */ connError: null,
  polls: 0,
};

// ------------------------------------------------------------ format ----

/** @param {number | null | undefined} n */
function fmtBytes(n) {
  if (n === null || n === undefined) return "-";
  if (n < 1024) return `${n} B`;
  if (n < 1024 ** 2) return `${(n / 1024).toFixed(1)} KiB`;
  if (n < 1024 ** 3) return `${(n / 1024 ** 2).toFixed(1)} MiB`;
  return `${(n / 1024 ** 3).toFixed(2)} GiB`;
}

/** @param {number | null | undefined} ms */
function fmtMs(ms) {
  if (ms === null || ms === undefined) return "-";
  if (ms >= 1000) return `${(ms / 1000).toFixed(ms >= 10_000 ? 0 : 1)} s`;
  return `${ms < 1 ? ms.toFixed(2) : ms < 10 ? ms.toFixed(1) : Math.round(ms)} ms`;
}

/** A duration: 850 ms, 4.2 s, 3 m 10 s. @param {number} ms */
function fmtAgo(ms) {
  if (ms < 1000) return `${Math.max(0, Math.round(ms))} ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)} s`;
  const s = Math.round(ms / 1000);
  if (s < 3600) return `${Math.floor(s / 60)} m ${s % 60} s`;
  return `${Math.floor(s / 3600)} h ${Math.floor((s % 3600) / 60)} m`;
}

/** @param {number} t */
function fmtClock(t) {
  return new Date(t).toLocaleTimeString([], { hour12: false });
}

/** At most n characters (the whole text goes in a tooltip). @param {string} text @param {number} n */
function clip(text, n) {
  return text.length <= n ? text : `${text.slice(0, n - 3)}...`;
}

/** @param {number} x */
function fmtRate(x) {
  return x >= 100 ? String(Math.round(x)) : x.toFixed(1);
}

// --------------------------------------------------------------- DOM ----

/**
 * An element with attributes and children (strings become text nodes).
 * @param {string} tag
 * @param {Record<string, string>} [attrs]
 * @param {(Node | string | null)[]} [children]
 */
function h(tag, attrs = {}, children = []) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
  for (const c of children) if (c !== null) e.append(c);
  return e;
}

/**
 * An SVG element.
 * @param {string} tag
 * @param {Record<string, string | number>} [attrs]
 * @param {string} [text]
 */
function s(tag, attrs = {}, text) {
  const e = document.createElementNS(SVG_NS, tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, String(v));
  if (text !== undefined) e.textContent = text;
  return e;
}

/** @param {string} id */
function byId(id) {
  const e = document.getElementById(id);
  if (e === null) throw new Error(`#${id} is missing from the page`);
  return e;
}

/** What the fields mean, as tooltips: the page is also for learning how Multi-Paxos runs. @type {Record<string, string>} */
const FIELD_HELP = {
  ballot: "The highest ballot (round.node) this node promised: it votes for nothing lower. A leader leads with its own ballot; a node that hears a higher one stops leading.",
  leader: "The node this node believes leads. During a partition an old leader may still believe in itself; the highest ballot wins.",
  "commit / applied": "Slots of the log this node knows are chosen (commit), and has applied to its copy of the list (applied).",
  "list length": "The replicated list's length on this node: the state every node applies in slot order.",
  "log / snapshot": "Bytes of this node's durable log file and of its latest snapshot (the applied log folded into one record every 10,000 slots).",
  "ops/s": "Appends and reads this node answered per second over its last 5 complete seconds (a follower's go through the leader).",
  "p50 / p99": "Latency of the successful requests this node answered, over its last 5 seconds.",
  "elections started": "Campaigns this node started since it started (Phase 1 with a new ballot).",
  "leader changes": "Times the leader this node believes in changed, since it started.",
  error: "Why GET /status of this member failed from the node serving this page.",
};

/** @type {Record<string, string>} */
const ROLE_HELP = {
  voter: "A voter: its promises and votes count towards majorities.",
  learner: "A learner: it receives the log but does not vote (a new node catching up).",
};

const LINK_HELP = "This node's peer link to the other node (up, unreachable, refused; no traffic: followers only talk to the leader), and when a message from it last arrived.";

// ------------------------------------------------------------- model ----

/**
 * The leader: the member that says it leads with the highest ballot (an
 * old leader cut off from the others may still say so for a moment).
 * @param {ClusterJson} v
 * @returns {LeaderView}
 */
function leaderOf(v) {
  const up = v.members.filter((m) => m.up);
  const claimants = up.filter((m) => m.status?.role === "leader");
  const ballot = (/** @type {MemberEntry} */ m) => m.status?.ballot ?? { round: -1, node: -1 };
  claimants.sort((a, b) => ballot(b).round - ballot(a).round || ballot(b).node - ballot(a).node);
  const best = claimants[0];
  if (best === undefined) return { id: null, ballot: "", agreed: 0, up: up.length, others: [] };
  const id = best.status?.id ?? best.id;
  const b = ballot(best);
  return {
    id,
    ballot: `${b.round}.${b.node}`,
    agreed: up.filter((m) => m.status?.leader === id).length,
    up: up.length,
    others: claimants.slice(1).map((m) => m.id),
  };
}

/** @param {MemberEntry} m @returns {LaneState} */
function laneOf(m) {
  if (!m.up || m.status === null) return "down";
  const r = m.status.role;
  return r === "leader" || r === "candidate" ? r : "follower";
}

/** @param {number} t @param {string} kind @param {string} text */
function addEvent(t, kind, text) {
  page.events.push({ t, kind, text });
  if (page.events.length > MAX_EVENTS) page.events.splice(0, page.events.length - MAX_EVENTS);
}

/**
 * Events from what changed since the last poll.
 * @param {ClusterJson} v @param {LeaderView} leader @param {number} t
 */
function deriveEvents(v, leader, t) {
  const prev = page.prev;
  if (prev === null || page.prevLeader === null) {
    addEvent(t, "watch", `watching ${v.members.length} members from node ${v.served_by ?? "?"}; ${leader.id === null ? "no leader" : `leader is node ${leader.id} (ballot ${leader.ballot})`}`);
    return;
  }
  if (v.config_slot !== prev.config_slot) {
    addEvent(t, "membership", `membership changed (slot ${v.config_slot}): ${v.members.map((m) => `${m.id} ${m.role}`).join(", ")}`);
  }
  const before = new Map(prev.members.map((m) => [m.id, m]));
  for (const m of v.members) {
    const p = before.get(m.id);
    if (p === undefined) continue;
    if (p.up && !m.up) addEvent(t, "down", `node ${m.id} does not answer: ${m.error ?? "?"}`);
    else if (!p.up && m.up) addEvent(t, "up", `node ${m.id} answers again (${m.status?.role ?? "?"})`);
    if (!p.up || !m.up || p.status === null || m.status === null) continue;
    const [ps, ms] = [p.status.stats, m.status.stats];
    if (ps !== null && ms !== null && ms.uptime_s < ps.uptime_s) addEvent(t, "up", `node ${m.id} restarted`);
    // (A new leader has its own event, and campaigns are counted below.)
    if (p.status.role === "leader" && m.status.role !== "leader") addEvent(t, "role", `node ${m.id} stepped down (now ${m.status.role})`);
    // The nodes count their campaigns: this catches elections that began and ended between two polls.
    if (ps !== null && ms !== null && ms.elections > ps.elections && ms.uptime_s >= ps.uptime_s) {
      const n = ms.elections - ps.elections;
      addEvent(t, "election", `node ${m.id} started ${n === 1 ? "an election" : `${n} elections`} (ballot ${m.status.ballot ? `${m.status.ballot.round}.${m.status.ballot.node}` : "?"})`);
      page.elections.push({ t, id: m.id });
    }
  }
  const was = page.prevLeader;
  if (leader.id !== was.id) {
    if (leader.id === null) addEvent(t, "leader", `no leader (was node ${was.id})`);
    else addEvent(t, "leader", `node ${leader.id} leads (ballot ${leader.ballot})${was.id === null ? "" : `, after node ${was.id}`}`);
  }
}

/**
 * The nemesis's fault periods, from the annotations a harness writes
 * (paxos node --ui-annotations). `since` is on the harness's clock, which is
 * the serving node's in a local run: mapped to the browser's through v.time.
 * @param {ClusterJson} v @param {number} t
 */
function trackFault(v, t) {
  const fault = v.annotations?.fault ?? null;
  const open = page.faults.find((f) => f.end === null);
  if (open !== undefined && (fault === null || fault.since !== open.since)) {
    open.end = t;
    if (fault === null) addEvent(t, "healed", `nemesis: healed (${open.text})`);
  }
  if (fault !== null && (open === undefined || open.since !== fault.since)) {
    const start = Math.min(t, fault.since + (t - v.time));
    page.faults.push({ start, end: null, text: `${fault.description}`, since: fault.since });
    addEvent(t, "fault", `nemesis: ${fault.description}`);
  }
}

/** @param {ClusterJson} v @param {number} t */
function update(v, t) {
  const leader = leaderOf(v);
  // The fault first: within one poll, events are added cause first (the list shows the newest on top).
  trackFault(v, t);
  deriveEvents(v, leader, t);
  /** @type {Map<number, LaneState>} */
  const lanes = new Map();
  for (const m of v.members) {
    lanes.set(m.id, laneOf(m));
    if (m.up && m.status !== null) page.lastUp.set(m.id, { t, role: m.status.role });
  }
  page.samples.push({ t, ok: v.totals.ok_per_s, failed: v.totals.failed_per_s, p50: v.totals.p50_ms, p99: v.totals.p99_ms, leader: leader.id, lanes });
  const horizon = t - HISTORY_MS;
  while (page.samples.length > 0 && (page.samples[0]?.t ?? t) < horizon) page.samples.shift();
  page.faults = page.faults.filter((f) => f.end === null || f.end >= horizon);
  page.elections = page.elections.filter((e) => e.t >= horizon);
  page.prev = v;
  page.prevLeader = leader;
  render(v, leader, t);
}

// ------------------------------------------------------------ render ----

/** @param {ClusterJson} v @param {LeaderView} leader @param {number} now */
function render(v, leader, now) {
  const le = byId("leader");
  le.textContent = leader.id === null ? "none" : `node ${leader.id} (ballot ${leader.ballot})`;
  le.className = leader.id === null ? "none" : "";
  byId("agreement").textContent = leader.id === null ? "-" : `${leader.agreed} of ${leader.up} answering${leader.others.length > 0 ? `; node ${leader.others.join(", ")} also claims to lead (older ballot)` : ""}`;
  byId("up-count").textContent = `${leader.up} of ${v.members.length}`;
  byId("total-ops").textContent = `${fmtRate(v.totals.ok_per_s)}${v.totals.failed_per_s > 0 ? ` (+${fmtRate(v.totals.failed_per_s)} failed)` : ""}`;
  byId("total-latency").textContent = `${fmtMs(v.totals.p50_ms)} / ${fmtMs(v.totals.p99_ms)}`;
  byId("config-slot").textContent = String(v.config_slot);
  document.body.dataset.leader = leader.id === null ? "none" : String(leader.id);
  document.body.dataset.polls = String(page.polls);
  renderNemesis(v);
  const leaderApplied = v.members.find((m) => m.up && m.status?.id === leader.id)?.status?.applied_index ?? null;
  byId("nodes").replaceChildren(...v.members.map((m) => nodeCard(m, leader, leaderApplied, now)));
  renderOps(now);
  renderLatency(now);
  renderTimeline(v, now);
  renderEvents();
  renderFooter(v);
}

/** @param {ClusterJson} v */
function renderNemesis(v) {
  const box = byId("nemesis");
  const a = v.annotations;
  if (a === null && v.annotations_error === null) {
    box.hidden = true;
    return;
  }
  box.hidden = false;
  if (a === null) {
    box.className = "nemesis faulty";
    box.replaceChildren(h("b", {}, ["annotations:"]), String(v.annotations_error));
    return;
  }
  const age = v.time - a.updated;
  const stale = age > 30_000 ? h("span", { class: "stale" }, [` (not updated for ${fmtAgo(age)}: has ${a.source || "the harness"} stopped?)`]) : null;
  box.className = a.fault === null ? "nemesis" : "nemesis faulty";
  box.dataset.fault = a.fault === null ? "" : a.fault.kind;
  box.replaceChildren(
    h("b", {}, [`${a.source || "harness"}:`]),
    a.fault === null ? "healthy, no fault injected" : `${a.fault.description} (for ${fmtAgo(Math.max(0, v.time - a.fault.since))})`,
    ...(stale === null ? [] : [stale]),
  );
}

/**
 * @param {MemberEntry} m @param {LeaderView} leader
 * @param {number | null} leaderApplied the leader's applied index, to show how far a follower lags
 * @param {number} now
 */
function nodeCard(m, leader, leaderApplied, now) {
  const lane = laneOf(m);
  const st = m.status;
  const card = h("article", { class: "node", "data-node-id": String(m.id), "data-role": st?.role ?? "down", "data-up": String(m.up), "data-member": m.role });
  const badge = h("span", { class: `badge ${lane === "follower" ? "" : lane}` }, [lane === "down" ? "down" : st?.role ?? "?"]);
  const title = h("h3", {}, [`node ${m.id}`, badge, h("span", { class: "badge quiet", title: ROLE_HELP[m.role] ?? "" }, [m.role])]);
  card.append(title, h("div", { class: "addr" }, [m.address, m.self ? " (serves this page)" : ""]));
  /** @type {[string, string | Node][]} */
  const rows = [];
  if (!m.up || st === null) {
    rows.push(["error", h("span", { class: "error" }, [m.error ?? "no answer"])]);
    const seen = page.lastUp.get(m.id);
    rows.push(["last seen", seen === undefined ? "not since this page opened" : `${fmtAgo(now - seen.t)} ago (${seen.role})`]);
  } else {
    const ops = st.stats?.ops ?? null;
    rows.push(
      ["ballot", st.ballot === null ? "-" : `${st.ballot.round}.${st.ballot.node}`],
      ["leader", st.leader === null ? "none known" : `node ${st.leader}${leader.id !== null && st.leader !== leader.id ? " (stale)" : ""}`],
      ["commit / applied", `${st.commit_index ?? "-"} / ${st.applied_index ?? "-"}${lag(st.applied_index, leaderApplied)}`],
      ["list length", String(st.list_length ?? "-")],
      ["log / snapshot", st.stats === null ? "-" : `${fmtBytes(st.stats.log_bytes)} / ${st.stats.snapshot_bytes === null ? "none" : fmtBytes(st.stats.snapshot_bytes)}`],
      ["ops/s", ops === null ? "-" : `${fmtRate(ops.ok_per_s)}${ops.failed_per_s > 0 ? ` (+${fmtRate(ops.failed_per_s)} failed)` : ""}`],
      ["p50 / p99", ops === null ? "-" : `${fmtMs(ops.p50_ms)} / ${fmtMs(ops.p99_ms)}`],
      ["elections started", st.stats === null ? "-" : String(st.stats.elections)],
      ["leader changes", st.stats === null ? "-" : String(st.stats.leader_changes)],
      ["up for", st.stats === null ? "-" : fmtAgo(st.stats.uptime_s * 1000)],
    );
  }
  const dl = h("dl");
  for (const [k, val] of rows) dl.append(h("dt", { title: FIELD_HELP[k] ?? "" }, [k]), h("dd", {}, [val]));
  card.append(dl);
  const links = st?.stats?.links ?? [];
  if (m.up && links.length > 0) {
    const ul = h("ul", { class: "links", "aria-label": "peer links" });
    for (const l of links) {
      const heard = l.last_heard_ms;
      const cls = l.link === "unreachable" || l.link === "refused" ? "bad" : heard !== null && heard < 1000 ? "fresh" : heard !== null && heard < 5000 ? "slow" : "";
      const said = l.link === "idle" ? "no traffic" : `link ${l.link}${l.error !== null && l.link !== "up" ? ` (${clip(l.error, 48)})` : ""}`;
      ul.append(
        h("li", { "data-peer": String(l.id), title: `${LINK_HELP}${l.error === null ? "" : `\n\n${l.error}`}` }, [
          h("span", { class: `dot ${cls}` }),
          `node ${l.id}: ${said}; heard from ${heard === null ? "never" : `${fmtAgo(heard)} ago`}`,
        ]),
      );
    }
    card.append(ul);
  }
  return card;
}

/**
 * " (N behind the leader)" when a follower has applied clearly less than the leader (a
 * restarted node or a learner catching up). Under load the members' statuses are taken
 * a few milliseconds apart, so a small difference is no lag.
 * @param {number | null} applied @param {number | null} leaders
 */
function lag(applied, leaders) {
  if (applied === null || leaders === null || leaders - applied < 100) return "";
  return ` (${leaders - applied} behind the leader)`;
}

/** The x range of the charts: the history so far, at least MIN_SPAN_MS, at most HISTORY_MS. @param {number} now */
function span(now) {
  const first = page.samples[0]?.t ?? now;
  const width = Math.min(HISTORY_MS, Math.max(MIN_SPAN_MS, now - first));
  return { t0: now - width, t1: now };
}

/**
 * The frame every chart shares: size, x scale, time ticks, fault bands and leader changes.
 * @param {SVGSVGElement} svg @param {number} now @param {number} height @param {number} left
 */
function frame(svg, now, height, left) {
  const width = Math.max(300, svg.clientWidth || svg.parentElement?.clientWidth || 600);
  svg.setAttribute("viewBox", `0 0 ${width} ${height}`);
  svg.setAttribute("height", String(height));
  svg.replaceChildren();
  const { t0, t1 } = span(now);
  const right = 8;
  const x = (/** @type {number} */ t) => left + ((t - t0) / (t1 - t0)) * (width - left - right);
  const bottom = height - 16;
  for (const f of page.faults) {
    const a = Math.max(t0, f.start);
    const b = Math.min(t1, f.end ?? now);
    if (b > a) svg.append(s("rect", { class: "fault-band", x: x(a), y: 0, width: Math.max(1, x(b) - x(a)), height: bottom }));
  }
  for (const e of page.events) {
    if (e.kind === "leader" && e.t >= t0) svg.append(s("line", { class: "leader-mark", x1: x(e.t), x2: x(e.t), y1: 0, y2: bottom }));
  }
  const stepS = [5, 10, 15, 30, 60, 120].find((v) => (t1 - t0) / 1000 / v <= 6) ?? 60;
  svg.append(s("line", { class: "axis", x1: left, x2: width - right, y1: bottom, y2: bottom }));
  for (let ago = 0; ago * 1000 <= t1 - t0; ago += stepS) {
    const tx = x(now - ago * 1000);
    svg.append(s("text", { x: tx, y: height - 3, "text-anchor": ago === 0 ? "end" : "middle" }, ago === 0 ? "now" : ago % 60 === 0 ? `-${ago / 60} min` : `-${ago} s`));
  }
  return { x, width, bottom, left, right };
}

/**
 * A polyline path, broken where the value is missing or the page missed polls.
 * @param {(number | null)[]} ys @param {(i: number) => number} x
 */
function path(ys, x) {
  let d = "";
  let pen = false;
  for (let i = 0; i < ys.length; i++) {
    const y = ys[i];
    const gap = i > 0 && (page.samples[i]?.t ?? 0) - (page.samples[i - 1]?.t ?? 0) > GAP_MS;
    if (y === null || y === undefined || !Number.isFinite(y)) {
      pen = false;
      continue;
    }
    d += `${pen && !gap ? "L" : "M"}${x(i).toFixed(1)},${y.toFixed(1)}`;
    pen = true;
  }
  return d;
}

/** @param {number} now */
function renderOps(now) {
  const svg = /** @type {SVGSVGElement} */ (/** @type {unknown} */ (byId("chart-ops")));
  const f = frame(svg, now, 150, 40);
  const max = Math.max(1, ...page.samples.map((p) => Math.max(p.ok, p.failed))) * 1.15;
  const y = (/** @type {number} */ v) => f.bottom - (v / max) * (f.bottom - 6);
  for (const v of [0, max / 2, max / 1.15]) {
    svg.append(s("text", { x: f.left - 4, y: y(v) + 3, "text-anchor": "end" }, fmtRate(v)));
  }
  const xi = (/** @type {number} */ i) => f.x(page.samples[i]?.t ?? now);
  svg.append(s("path", { class: "s-ok", d: path(page.samples.map((p) => y(p.ok)), xi) }));
  svg.append(s("path", { class: "s-failed", d: path(page.samples.map((p) => (p.failed > 0 || page.samples.some((q) => q.failed > 0) ? y(p.failed) : null)), xi) }));
}

/** @param {number} now */
function renderLatency(now) {
  const svg = /** @type {SVGSVGElement} */ (/** @type {unknown} */ (byId("chart-latency")));
  const f = frame(svg, now, 150, 48);
  const values = page.samples.flatMap((p) => [p.p50, p.p99]).filter((v) => v !== null && v > 0).map(Number);
  if (values.length === 0) {
    svg.append(s("text", { class: "empty", x: f.left + 10, y: 70 }, "no successful operations yet"));
    return;
  }
  // Log scale: an election's seconds and a healthy append's milliseconds on one chart.
  const lo = Math.floor(Math.log10(Math.min(...values)));
  const hi = Math.max(lo + 1, Math.ceil(Math.log10(Math.max(...values))));
  const y = (/** @type {number | null} */ v) => (v === null || v <= 0 ? null : f.bottom - ((Math.log10(v) - lo) / (hi - lo)) * (f.bottom - 6));
  for (let e = lo; e <= hi; e++) {
    const ty = y(10 ** e) ?? 0;
    svg.append(s("line", { class: "axis", x1: f.left, x2: f.width - f.right, y1: ty, y2: ty }));
    svg.append(s("text", { x: f.left - 4, y: ty + 3, "text-anchor": "end" }, fmtMs(10 ** e)));
  }
  const xi = (/** @type {number} */ i) => f.x(page.samples[i]?.t ?? now);
  svg.append(s("path", { class: "s-p99", d: path(page.samples.map((p) => y(p.p99)), xi) }));
  svg.append(s("path", { class: "s-p50", d: path(page.samples.map((p) => y(p.p50)), xi) }));
}

/** One lane per member (its role over time), then the faults. @param {ClusterJson} v @param {number} now */
function renderTimeline(v, now) {
  const svg = /** @type {SVGSVGElement} */ (/** @type {unknown} */ (byId("timeline")));
  const ids = [...new Set([...page.samples.flatMap((p) => [...p.lanes.keys()]), ...v.members.map((m) => m.id)])].sort((a, b) => a - b);
  const row = 18;
  const height = (ids.length + 1) * row + 22;
  const f = frame(svg, now, height, 64);
  // The frame's fault bands are for the charts; here faults get a lane of their own.
  for (const el of [...svg.querySelectorAll(".fault-band")]) el.remove();
  const t0 = span(now).t0;
  ids.forEach((id, k) => {
    const top = 4 + k * row;
    svg.append(s("text", { x: 4, y: top + 12 }, `node ${id}`));
    // A poll's state stands for the time since the poll before it (a poll's interval back after a gap).
    /** @type {{ state: string, a: number, b: number } | null} */
    let run = null;
    const flush = () => {
      if (run === null) return;
      const x0 = f.x(Math.max(t0, run.a));
      const x1 = f.x(Math.min(now, run.b));
      if (x1 > x0) svg.append(s("rect", { class: run.state, x: x0, y: top, width: Math.max(1, x1 - x0), height: row - 4 }));
    };
    page.samples.forEach((p, i) => {
      const state = p.lanes.get(id) ?? "unknown";
      const before = page.samples[i - 1]?.t ?? -Infinity;
      const a = p.t - before <= GAP_MS ? before : p.t - POLL_MS;
      if (run !== null && run.state === state && a <= run.b) {
        run.b = p.t;
        return;
      }
      flush();
      run = { state, a, b: p.t };
    });
    flush();
    for (const e of page.elections) {
      if (e.id === id && e.t >= t0) svg.append(s("line", { class: "election", x1: f.x(e.t), x2: f.x(e.t), y1: top - 1, y2: top + row - 3 }));
    }
  });
  const top = 4 + ids.length * row;
  svg.append(s("text", { x: 4, y: top + 12 }, "faults"));
  for (const fp of page.faults) {
    const a = Math.max(t0, fp.start);
    const b = Math.min(now, fp.end ?? now);
    if (b <= a) continue;
    const r = s("rect", { class: "fault", x: f.x(a), y: top, width: Math.max(2, f.x(b) - f.x(a)), height: row - 4 });
    r.append(s("title", {}, fp.text));
    svg.append(r);
  }
}

function renderEvents() {
  const list = byId("events");
  const items = [];
  for (let i = page.events.length - 1; i >= 0; i--) {
    const e = page.events[i];
    if (e === undefined) continue;
    items.push(h("li", { "data-kind": e.kind }, [h("span", { class: "when" }, [fmtClock(e.t)]), h("span", { class: "kind" }, [e.kind]), h("span", {}, [e.text])]));
  }
  list.replaceChildren(...items);
}

/** @param {ClusterJson} v */
function renderFooter(v) {
  byId("served-by").textContent = `As seen from node ${v.served_by ?? "?"} (cluster ${v.cluster_id.slice(0, 12)}).`;
  const views = byId("views");
  views.replaceChildren("View from: ");
  for (const m of v.members) {
    views.append(m.self ? h("span", { class: "here" }, [`node ${m.id}`]) : h("a", { href: m.page }, [`node ${m.id}`]), " ");
  }
}

function renderConn() {
  const c = byId("conn");
  if (page.connError === null) {
    c.className = "conn";
    c.textContent = `updated ${fmtClock(page.lastOk ?? Date.now())}`;
    return;
  }
  c.className = "conn lost";
  const since = page.lastOk === null ? "" : `; last view ${fmtAgo(Date.now() - page.lastOk)} ago, shown below as it was`;
  c.textContent = `this node does not answer /cluster: ${page.connError}${since}. Try another member's page (links at the bottom).`;
  document.body.dataset.conn = "lost";
}

// -------------------------------------------------------------- poll ----

async function poll() {
  const started = Date.now();
  try {
    const res = await fetch("/cluster", { cache: "no-store", signal: AbortSignal.timeout(5000) });
    if (!res.ok) throw new Error(`HTTP ${res.status}`);
    const v = /** @type {ClusterJson} */ (await res.json());
    const t = Date.now();
    page.polls++;
    page.lastOk = t;
    page.connError = null;
    document.body.dataset.conn = "ok";
    update(v, t);
  } catch (e) {
    page.connError = e instanceof Error ? e.message : String(e);
  }
  renderConn();
  setTimeout(poll, Math.max(0, POLL_MS - (Date.now() - started)));
}

void poll();
