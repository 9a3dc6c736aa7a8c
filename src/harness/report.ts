// The HTML report of a harness run: one self-contained page (inline CSS, inline
// SVG, a few lines of inline JS; nothing fetched) that says at a glance whether
// the run was linearizable and, if not, where it went wrong.
//
//   1. Verdict banner (green VALID / red NOT LINEARIZABLE / amber UNKNOWN) with
//      op counts, latency percentiles, nemeses and the final-check result; the
//      checker's explanation and links to the ops it names.
//   2. Latency over time (svg#latency-plot): one point per completed op
//      (class "point ok|fail|info"), info ops as triangles in a band above the
//      plot (their latency is only "at least the timeout"), nemesis intervals
//      shaded, the violation marked.
//   3. Timeline (svg#timeline): one lane per process, one bar per op from
//      invoke to completion (class "op ok|info|fail", data-process,
//      data-index); an invoke never completed is drawn to the end as info;
//      reads hatched; ops named in the violation outlined, the first one with
//      id="violation"; nemesis intervals shaded behind the lanes.
//   4. Membership over time (svg#membership), when the run observed it: a
//      lane of the configurations the nodes reported (by config_slot, with
//      grows and shrinks marked), one lane per node slot with what that
//      node said it was (leader, voter, learner, joining, removed, no
//      answer), nemesis intervals shaded behind; then a table of the
//      configurations.
//   5. The nemesis schedule as a table.
//
// Everything that comes from data is HTML-escaped; the script embeds no data.
// Sizes: about 500 bytes per op, so 10,000 ops make a ~5 MB page.

import type { HistoryEvent, MembershipObservation, NemesisInterval, ObservedMember, RunResults, SlotLaneState } from "./report-types.js";

export type { HistoryEvent, NemesisInterval, RunResults } from "./report-types.js";

/** An invoke paired with its completion (if any). */
export interface ReportOp {
  /** 0-based position in invoke order (the checker's "op #N"). */
  index: number;
  process: number;
  f: "append" | "read";
  value: number | null;
  /** "info" also when it never completed (pending). */
  type: "ok" | "fail" | "info";
  pending: boolean;
  invoke: number;
  /** ns; null when pending. */
  complete: number | null;
  reply: number[] | null;
}

/**
 * Pairs each invoke with the next completion of the same process. An invoke
 * that is never completed (or is followed by another invoke of its process)
 * stays pending; a completion with no open invoke is ignored.
 */
export function pairOperations(history: readonly HistoryEvent[]): ReportOp[] {
  const ops: ReportOp[] = [];
  const open = new Map<number, ReportOp>();
  for (const e of history) {
    if (e.type === "invoke") {
      const op: ReportOp = {
        index: ops.length,
        process: e.process,
        f: e.f,
        value: e.value,
        type: "info",
        pending: true,
        invoke: e.time,
        complete: null,
        reply: null,
      };
      ops.push(op);
      open.set(e.process, op);
    } else {
      const op = open.get(e.process);
      if (op === undefined) continue;
      open.delete(e.process);
      op.type = e.type;
      op.pending = false;
      op.complete = e.time;
      op.reply = e.state;
      if (op.value === null && e.value !== null) op.value = e.value;
    }
  }
  return ops;
}

// ---------------------------------------------------------------------------
// Formatting helpers

const ESC: Record<string, string> = { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" };

/** Escapes text for HTML/SVG content and attribute values. */
export function escapeHtml(s: unknown): string {
  return String(s).replace(/[&<>"']/g, (c) => ESC[c] ?? c);
}

function fmtInt(n: number): string {
  if (!Number.isFinite(n)) return String(n);
  const s = String(Math.round(Math.abs(n)));
  return (n < 0 ? "-" : "") + s.replace(/\B(?=(\d{3})+(?!\d))/g, ",");
}

function fmtMs(ms: number): string {
  if (!Number.isFinite(ms)) return "–";
  if (ms >= 10_000) return `${(ms / 1000).toFixed(1)} s`;
  if (ms >= 100) return `${Math.round(ms)} ms`;
  if (ms >= 10) return `${ms.toFixed(1)} ms`;
  return `${ms.toFixed(2)} ms`;
}

/** ns → "12.345678 s" */
function fmtT(ns: number): string {
  return `${(ns / 1e9).toFixed(6)} s`;
}

function fmtTShort(ns: number): string {
  return `${(ns / 1e9).toFixed(3)} s`;
}

/** Rounds a coordinate to one decimal, as a short string. */
function r1(x: number): string {
  return String(Math.round(x * 10) / 10);
}

function niceStep(range: number, targetTicks: number): number {
  const raw = range / Math.max(1, targetTicks);
  if (!(raw > 0) || !Number.isFinite(raw)) return 1;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const norm = raw / mag;
  const m = norm <= 1 ? 1 : norm <= 2 ? 2 : norm <= 5 ? 5 : 10;
  return m * mag;
}

function tickLabelS(t: number, step: number): string {
  const decimals = step >= 1 ? 0 : Math.min(6, Math.ceil(-Math.log10(step) - 1e-9));
  return `${t.toFixed(decimals)} s`;
}

function showReply(reply: readonly number[] | null): string {
  if (reply === null) return "";
  const n = reply.length;
  const tail = reply.slice(Math.max(0, n - 5)).join(", ");
  return `reply: ${fmtInt(n)} item${n === 1 ? "" : "s"}${n === 0 ? "" : `, last: ${n > 5 ? "…, " : ""}${tail}`}`;
}

function opWhat(op: ReportOp): string {
  return op.f === "append" ? `append ${String(op.value)}` : "read";
}

function opLabel(op: ReportOp): string {
  if (op.f === "append") return `a${String(op.value)}`;
  return op.reply !== null ? `r[${op.reply.length}]` : "r";
}

function opTooltip(op: ReportOp, failing: boolean): string {
  const lines = [`op #${op.index} · process ${op.process} · ${opWhat(op)} → ${op.pending ? "info (never completed)" : op.type}`];
  if (op.complete === null) lines.push(`invoked ${fmtT(op.invoke)}; no completion`);
  else lines.push(`invoked ${fmtT(op.invoke)}, completed ${fmtT(op.complete)} (${fmtMs((op.complete - op.invoke) / 1e6)})`);
  if (op.reply !== null) lines.push(showReply(op.reply));
  if (failing) lines.push("⚠ named in the violation");
  return escapeHtml(lines.join("\n"));
}

// ---------------------------------------------------------------------------
// Colors

const NEMESIS_COLORS: Record<string, string> = {
  partition: "#4c6ef5",
  "partition-leader": "#7048e8",
  kill: "#e8590c",
  pause: "#868e96",
  member: "#0c8599",
};
const EXTRA_NEMESIS_COLORS = ["#1098ad", "#c2255c", "#5c940d", "#a61e4d"];

function nemesisColorMap(intervals: readonly NemesisInterval[], declared: readonly string[]): Map<string, string> {
  const m = new Map<string, string>();
  let extra = 0;
  for (const kind of [...intervals.map((i) => i.kind), ...declared]) {
    if (m.has(kind)) continue;
    const c = NEMESIS_COLORS[kind] ?? EXTRA_NEMESIS_COLORS[extra++ % EXTRA_NEMESIS_COLORS.length] ?? "#868e96";
    m.set(kind, c);
  }
  return m;
}

// ---------------------------------------------------------------------------
// Page

interface Layout {
  ops: ReportOp[];
  failing: Set<number>;
  /** First failing op present in the history (the anchor), if any. */
  anchor: ReportOp | null;
  tEnd: number;
  nemColors: Map<string, string>;
}

export function renderReport(results: RunResults, history: HistoryEvent[]): string {
  const ops = pairOperations(history);
  const failing = new Set(results.failingOps.filter((i) => Number.isInteger(i) && i >= 0 && i < ops.length));
  let anchor: ReportOp | null = null;
  for (const i of results.failingOps) {
    const op = ops[i];
    if (op !== undefined) {
      anchor = op;
      break;
    }
  }
  let tEnd = 0;
  for (const e of history) if (e.time > tEnd) tEnd = e.time;
  for (const iv of results.nemesisIntervals) if (iv.end > tEnd) tEnd = iv.end;
  // The poller's last look (it ends after the nemesis's last change) belongs on the time axis too.
  for (const lane of results.membership?.lanes ?? []) for (const seg of lane.segments) if (seg.end > tEnd) tEnd = seg.end;
  if (!(tEnd > 0)) tEnd = Math.max(1e9, results.timeLimitS * 1e9);
  const layout: Layout = { ops, failing, anchor, tEnd, nemColors: nemesisColorMap(results.nemesisIntervals, results.nemeses) };

  const verdict = results.valid === true ? "VALID" : results.valid === false ? "NOT LINEARIZABLE" : "UNKNOWN";
  const parts = [
    "<!DOCTYPE html>",
    '<html lang="en"><head><meta charset="utf-8">',
    '<meta name="viewport" content="width=device-width, initial-scale=1">',
    `<title>${escapeHtml(`${verdict} — ${results.name}`)}</title>`,
    `<style>${CSS}</style>`,
    "</head><body>",
    renderBanner(results, layout),
    '<main>',
    renderSummary(results, layout),
    renderExplanation(results, layout),
    renderLatencyPlot(results, layout),
    renderMembership(results, layout),
    renderTimeline(results, layout),
    renderNemesisTable(results, layout),
    `<footer>Generated ${escapeHtml(new Date().toISOString())} · ${fmtInt(history.length)} events · ${fmtInt(ops.length)} operations</footer>`,
    "</main>",
    `<script>${SCRIPT}</script>`,
    "</body></html>",
  ];
  return parts.join("\n");
}

function renderBanner(results: RunResults, l: Layout): string {
  const c = results.counts;
  const cls = results.valid === true ? "valid" : results.valid === false ? "invalid" : "unknown";
  const headline =
    results.valid === true
      ? `VALID — linearizable (${escapeHtml(results.model)})`
      : results.valid === false
        ? "NOT LINEARIZABLE"
        : "UNKNOWN — the checker could not decide";
  const sub =
    results.valid === true ? "" : `<div class="model">model: ${escapeHtml(results.model)}</div>`;
  const stats = [
    `${fmtInt(c.invoke)} ops`,
    `<b>${fmtInt(c.ok)}</b> ok`,
    `<b>${fmtInt(c.info)}</b> info`,
    `<b>${fmtInt(c.fail)}</b> fail`,
    `p50 ${fmtMs(results.latencyMs.p50)} · p99 ${fmtMs(results.latencyMs.p99)}`,
    `nemeses: ${results.nemeses.length === 0 ? "none" : escapeHtml(results.nemeses.join(", "))}`,
    `cluster after healing: ${results.finalCheck.ok ? "serving" : "<b>NOT serving</b>"}`,
  ];
  const m = results.membership;
  if (m !== undefined && (m.check.required || m.changes.length > 0 || !m.check.ok)) {
    stats.push(
      m.check.ok
        ? `membership: ${fmtInt(m.grows)} grow${m.grows === 1 ? "" : "s"}, ${fmtInt(m.shrinks)} shrink${m.shrinks === 1 ? "" : "s"} observed`
        : `<b>membership: ${escapeHtml(m.conflicts.length > 0 ? "CONFLICTING configurations" : "changes NOT observed")}</b>`,
    );
  }
  const jump =
    l.anchor !== null
      ? `<a class="jump button" href="#violation" data-target="violation">Jump to the violation: op #${l.anchor.index} (process ${escapeHtml(l.anchor.process)}, ${escapeHtml(opWhat(l.anchor))}, at ${fmtTShort(l.anchor.invoke)}) ↓</a>`
      : "";
  return `<header id="verdict" class="banner ${cls}" role="status">
<div class="headline">${headline}</div>${sub}
<div class="runname">${escapeHtml(results.name)} · started ${escapeHtml(results.startedAt)}</div>
<div class="stats">${stats.map((s) => `<span>${s}</span>`).join("")}</div>
${jump}
</header>`;
}

function renderSummary(results: RunResults, _l: Layout): string {
  const c = results.counts;
  const fs = Object.keys(c.byF).sort();
  const rows = fs
    .map((f) => {
      const b = c.byF[f] ?? { ok: 0, fail: 0, info: 0 };
      return `<tr><th>${escapeHtml(f)}</th><td class="n c-ok">${fmtInt(b.ok)}</td><td class="n c-info">${fmtInt(b.info)}</td><td class="n c-fail">${fmtInt(b.fail)}</td><td class="n">${fmtInt(b.ok + b.info + b.fail)}</td></tr>`;
    })
    .join("");
  const lat = results.latencyMs;
  const fc = results.finalCheck;
  return `<section class="cards">
<div class="card"><h3>Run</h3><table class="kv">
<tr><th>nodes</th><td>${fmtInt(results.nodes)}${results.slots !== undefined && results.slots !== results.nodes ? ` (${fmtInt(results.slots)} slots)` : ""}</td></tr>
<tr><th>clients</th><td>${fmtInt(results.concurrency)}</td></tr>
<tr><th>time limit</th><td>${escapeHtml(results.timeLimitS)} s</td></tr>
<tr><th>rate</th><td>${escapeHtml(results.rate)} ops/s</td></tr>
<tr><th>model</th><td>${escapeHtml(results.model)}</td></tr>
<tr><th>nemeses</th><td>${results.nemeses.length === 0 ? "none" : escapeHtml(results.nemeses.join(", "))}</td></tr>
<tr><th>transport</th><td>${results.tls ? "mutual TLS (peers and clients)" : "plaintext"}</td></tr>
</table></div>
<div class="card"><h3>Operations</h3><table class="counts">
<tr><th></th><th class="c-ok">ok</th><th class="c-info">info</th><th class="c-fail">fail</th><th>total</th></tr>
${rows}
<tr class="total"><th>all</th><td class="n c-ok">${fmtInt(c.ok)}</td><td class="n c-info">${fmtInt(c.info)}</td><td class="n c-fail">${fmtInt(c.fail)}</td><td class="n">${fmtInt(c.invoke)}</td></tr>
</table></div>
<div class="card"><h3>Latency (ok ops)</h3><table class="kv">
<tr><th>p50</th><td class="n">${fmtMs(lat.p50)}</td></tr>
<tr><th>p90</th><td class="n">${fmtMs(lat.p90)}</td></tr>
<tr><th>p99</th><td class="n">${fmtMs(lat.p99)}</td></tr>
<tr><th>max</th><td class="n">${fmtMs(lat.max)}</td></tr>
</table></div>
<div class="card ${fc.ok ? "fc-ok" : "fc-bad"}"><h3>After healing</h3>
<div class="fc-verdict">${fc.ok ? "✔ cluster serves again" : "✘ cluster does NOT serve"}</div>
<div class="fc-detail">${escapeHtml(fc.detail)}</div></div>
</section>`;
}

function renderExplanation(results: RunResults, l: Layout): string {
  if (results.valid === true) return "";
  const title = results.valid === false ? "Why it is not linearizable" : "Why the checker could not decide";
  const text = results.explanation.trim() === "" ? "(the checker gave no explanation)" : results.explanation;
  const named = results.failingOps
    .map((i) => {
      const op = l.ops[i];
      if (op === undefined) return `<li>op #${escapeHtml(i)} (not in this history)</li>`;
      const when = op.complete === null ? `${fmtTShort(op.invoke)} → never completed` : `${fmtTShort(op.invoke)} → ${fmtTShort(op.complete)}`;
      return `<li><a class="jump" href="#op-${op.index}" data-target="op-${op.index}">op #${op.index}</a> process ${escapeHtml(op.process)} · ${escapeHtml(opWhat(op))} → ${op.pending ? "never completed" : op.type} · ${when}${op.reply !== null ? ` · ${escapeHtml(showReply(op.reply))}` : ""}</li>`;
    })
    .join("");
  return `<section class="explain ${results.valid === false ? "invalid" : "unknown"}"><h2>${title}</h2>
<pre class="explanation">${escapeHtml(text)}</pre>
${named === "" ? "" : `<h3>Operations named (outlined in the timeline)</h3><ul class="named">${named}</ul>`}
</section>`;
}

// ---------------------------------------------------------------------------
// Latency plot

function renderLatencyPlot(results: RunResults, l: Layout): string {
  const W = 1200;
  const H = 400;
  const mL = 76;
  const mR = 16;
  const labelY = 13; // nemesis labels
  const infoTop = 20; // info band
  const infoBot = 40;
  const pTop = 48; // plot area
  const pBot = H - 44;
  const pw = W - mL - mR;
  const tEndS = l.tEnd / 1e9;
  const xOf = (ns: number) => mL + (ns / 1e9 / tEndS) * pw;

  const completed = l.ops.filter((o) => o.complete !== null);
  const lat = (o: ReportOp) => ((o.complete ?? o.invoke) - o.invoke) / 1e6;
  const measured = completed.filter((o) => o.type !== "info").map(lat);
  let lo = Infinity;
  let hi = 0;
  for (const v of measured) {
    if (v > 0 && v < lo) lo = v;
    if (v > hi) hi = v;
  }
  if (!Number.isFinite(lo)) lo = 1;
  if (hi <= 0) hi = 1;
  const useLog = hi / lo > 30;
  let yOf: (ms: number) => number;
  const ticks: { v: number; label: string; major: boolean }[] = [];
  if (useLog) {
    const lmin = Math.floor(Math.log10(lo));
    const lmax = Math.ceil(Math.log10(hi));
    const span = Math.max(1, lmax - lmin);
    yOf = (ms) => {
      const v = Math.min(Math.max(ms, 10 ** lmin), 10 ** lmax);
      return pBot - ((Math.log10(v) - lmin) / span) * (pBot - pTop);
    };
    for (let k = lmin; k <= lmax; k++) {
      for (const m of [1, 2, 5]) {
        const v = m * 10 ** k;
        if (v < 10 ** lmin || v > 10 ** lmax) continue;
        if (m !== 1 && span > 4) continue;
        ticks.push({ v, label: fmtMs(v).replace(/\.0+ /, " ").replace(/(\.\d*?)0+ /, "$1 ").replace(/\. /, " "), major: m === 1 });
      }
    }
  } else {
    const top = hi * 1.08;
    const step = niceStep(top, 6);
    const ymax = Math.ceil(top / step) * step;
    yOf = (ms) => pBot - (Math.min(ms, ymax) / ymax) * (pBot - pTop);
    for (let v = 0; v <= ymax + step / 2; v += step) ticks.push({ v, label: `${Number(v.toPrecision(6))} ms`, major: true });
  }

  const out: string[] = [];
  out.push(
    `<svg id="latency-plot" class="chart" viewBox="0 0 ${W} ${H}" width="100%" preserveAspectRatio="xMinYMin meet" role="img" aria-label="latency over time" data-x0="${mL}" data-pxs="${r1(pw / tEndS)}">`,
  );
  // plot and info-band backgrounds
  out.push(`<rect class="plot-bg" x="${mL}" y="${pTop}" width="${pw}" height="${pBot - pTop}"/>`);
  out.push(`<rect class="info-band" x="${mL}" y="${infoTop}" width="${pw}" height="${infoBot - infoTop}"/>`);
  // nemesis shading
  out.push(nemesisBands(results.nemesisIntervals, l, xOf, infoTop, pBot, labelY));
  // grid + y ticks
  for (const t of ticks) {
    const y = r1(yOf(t.v));
    out.push(`<line class="${t.major ? "grid" : "grid minor"}" x1="${mL}" x2="${W - mR}" y1="${y}" y2="${y}"/>`);
    out.push(`<text class="tick" x="${mL - 6}" y="${y}" dy="0.32em" text-anchor="end">${escapeHtml(t.label)}</text>`);
  }
  // x ticks
  const xStep = niceStep(tEndS, 12);
  for (let t = 0; t <= tEndS + 1e-9; t += xStep) {
    const x = r1(mL + (t / tEndS) * pw);
    out.push(`<line class="grid" x1="${x}" x2="${x}" y1="${pTop}" y2="${pBot}"/>`);
    out.push(`<line class="axis" x1="${x}" x2="${x}" y1="${pBot}" y2="${pBot + 5}"/>`);
    out.push(`<text class="tick" x="${x}" y="${pBot + 18}" text-anchor="middle">${tickLabelS(t, xStep)}</text>`);
  }
  out.push(`<line class="axis" x1="${mL}" x2="${W - mR}" y1="${pBot}" y2="${pBot}"/>`);
  out.push(`<line class="axis" x1="${mL}" x2="${mL}" y1="${pTop}" y2="${pBot}"/>`);
  out.push(`<text class="axis-label" x="${mL + pw / 2}" y="${H - 6}" text-anchor="middle">time since the start of the test (s) — x = when the op was invoked</text>`);
  out.push(
    `<text class="axis-label" transform="translate(14 ${(pTop + pBot) / 2}) rotate(-90)" text-anchor="middle">latency (ms${useLog ? ", log scale" : ""})</text>`,
  );
  out.push(`<text class="band-label" x="${mL - 6}" y="${(infoTop + infoBot) / 2}" dy="0.32em" text-anchor="end">info ▲</text>`);

  // violation markers (behind points)
  for (const i of l.failing) {
    const op = l.ops[i];
    if (op === undefined) continue;
    const x = r1(xOf(op.invoke));
    out.push(`<line class="violation-line" x1="${x}" x2="${x}" y1="${infoTop}" y2="${pBot}"/>`);
  }
  if (l.anchor !== null) {
    const x = xOf(l.anchor.invoke);
    const right = x > mL + pw - 140;
    out.push(`<text class="violation-label" x="${r1(right ? x - 4 : x + 4)}" y="${pTop + 14}" text-anchor="${right ? "end" : "start"}">⚠ violation (op #${l.anchor.index})</text>`);
  }

  // points
  const infoMid = (infoTop + infoBot) / 2;
  const pts: string[] = [];
  for (const o of completed) {
    const x = r1(xOf(o.invoke));
    const ms = lat(o);
    const title = `<title>${escapeHtml(`op #${o.index} · p${o.process} · ${opWhat(o)} → ${o.type} · ${fmtMs(ms)} · invoked ${fmtTShort(o.invoke)}`)}</title>`;
    const cls = `point ${o.type} ${o.f}${l.failing.has(o.index) ? " failing" : ""}`;
    if (o.type === "info") {
      const xn = Number(x);
      pts.push(`<path class="${cls}" d="M${r1(xn - 4)} ${r1(infoMid + 4)}h8l-4-8z">${title}</path>`);
    } else if (o.type === "fail") {
      const xn = Number(x);
      const y = yOf(ms);
      pts.push(`<path class="${cls}" d="M${r1(xn - 3)} ${r1(y - 3)}l6 6m0-6l-6 6">${title}</path>`);
    } else {
      pts.push(`<circle class="${cls}" cx="${x}" cy="${r1(yOf(ms))}" r="${o.f === "read" ? 2.6 : 2.2}">${title}</circle>`);
    }
  }
  out.push(`<g class="points">${pts.join("")}</g>`);
  // rings around the failing ops' points, on top
  for (const i of l.failing) {
    const o = l.ops[i];
    if (o === undefined || o.complete === null) continue;
    const y = o.type === "info" ? infoMid : yOf(lat(o));
    out.push(`<circle class="violation-ring" cx="${r1(xOf(o.invoke))}" cy="${r1(y)}" r="7"/>`);
  }
  out.push("</svg>");

  const legend = `<div class="legend">
<span><svg width="14" height="14"><circle cx="7" cy="7" r="4" class="lg ok"/></svg>ok append</span>
<span><svg width="14" height="14"><circle cx="7" cy="7" r="4" class="lg ok read"/></svg>ok read</span>
<span><svg width="14" height="14"><path d="M3 3l8 8m0-8l-8 8" class="lg fail"/></svg>fail (did not happen)</span>
<span><svg width="14" height="14"><path d="M2 11h10l-5-9z" class="lg info"/></svg>info (timed out / unknown — latency ≥ timeout, drawn in the top band)</span>
${nemesisLegend(l)}
${l.failing.size > 0 ? `<span><svg width="14" height="14"><circle cx="7" cy="7" r="5" class="lg ring"/></svg>op named in the violation</span>` : ""}
</div>`;
  return `<section class="chart-section"><h2>Latency over time</h2>
<p class="hint">Each point is one completed operation. Shaded: nemesis faults in place. Hover for details; click to show that moment in the timeline below.</p>
${out.join("\n")}
${legend}
</section>`;
}

function nemesisLegend(l: Layout): string {
  return [...l.nemColors]
    .map(([kind, color]) => `<span><svg width="14" height="14"><rect x="1" y="1" width="12" height="12" fill="${color}" fill-opacity="0.22" stroke="${color}"/></svg>${escapeHtml(kind)}</span>`)
    .join("");
}

/** Shaded rectangles (class "nemesis") for the intervals, labeled where the label fits. */
function nemesisBands(
  intervals: readonly NemesisInterval[],
  l: Layout,
  xOf: (ns: number) => number,
  top: number,
  bottom: number,
  labelY: number,
  repeatEvery = Infinity,
): string {
  const out: string[] = [];
  let lastLabelEnd = -Infinity;
  for (const iv of intervals) {
    const color = l.nemColors.get(iv.kind) ?? "#868e96";
    const x1 = xOf(Math.max(0, iv.start));
    const x2 = xOf(Math.min(l.tEnd, Math.max(iv.start, iv.end)));
    const w = Math.max(1, x2 - x1);
    const tip = escapeHtml(`${iv.kind}: ${iv.description}\n${fmtTShort(iv.start)} → ${fmtTShort(iv.end)} (${((iv.end - iv.start) / 1e9).toFixed(2)} s)`);
    out.push(
      `<rect class="nemesis" data-kind="${escapeHtml(iv.kind)}" x="${r1(x1)}" y="${top}" width="${r1(w)}" height="${bottom - top}" fill="${color}"><title>${tip}</title></rect>`,
    );
    out.push(`<line class="nem-edge" x1="${r1(x1)}" x2="${r1(x1)}" y1="${top}" y2="${bottom}" stroke="${color}"/>`);
    // A solid strip along the top edge: visible even where the timeline's bars cover the shading.
    out.push(`<rect class="nem-strip" x="${r1(x1)}" y="${top}" width="${r1(w)}" height="4" fill="${color}"/>`);
    const labelW = iv.kind.length * 6.6 + 6;
    if (labelW <= Math.max(w, 40) + 20 && x1 >= lastLabelEnd + 4) {
      // In a wide band (the scrolling timeline), repeat the label so it is in view wherever one looks.
      for (let lx = x1 + 2; lx === x1 + 2 || lx + labelW <= x1 + w; lx += repeatEvery) {
        out.push(`<text class="nem-label" x="${r1(lx)}" y="${labelY}" fill="${color}">${escapeHtml(iv.kind)}</text>`);
        lastLabelEnd = lx + labelW;
      }
    }
  }
  return out.join("\n");
}

// ---------------------------------------------------------------------------
// Timeline

function renderTimeline(results: RunResults, l: Layout): string {
  const procs = [...new Set(l.ops.map((o) => o.process))].sort((a, b) => a - b);
  const laneOf = new Map(procs.map((p, i) => [p, i] as const));
  const lanes = Math.max(1, procs.length);
  const laneH = lanes <= 16 ? 24 : Math.max(8, Math.floor(400 / lanes));
  const barH = Math.max(4, laneH - 6);
  const tEndS = l.tEnd / 1e9;

  // Horizontal scale: the median completed op gets ~14 px, within bounds.
  const durs = l.ops.filter((o) => o.complete !== null).map((o) => ((o.complete ?? 0) - o.invoke) / 1e9).sort((a, b) => a - b);
  const median = durs[Math.floor(durs.length / 2)] ?? 0.01;
  const MIN_W = 1100;
  const MAX_W = 40_000;
  let pxPerS = 14 / Math.max(median, 1e-4);
  pxPerS = Math.min(pxPerS, MAX_W / tEndS);
  pxPerS = Math.max(pxPerS, MIN_W / tEndS);
  const left = 6;
  const plotW = Math.ceil(tEndS * pxPerS);
  const W = plotW + left + 12;
  const labelY = 12;
  const axisY = 36;
  const top = 40;
  const H = top + lanes * laneH + 4;
  const xOf = (ns: number) => left + (ns / 1e9) * pxPerS;

  const out: string[] = [];
  out.push(
    `<svg id="timeline" class="chart" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" role="img" aria-label="timeline of operations per process" data-x0="${left}" data-pxs="${r1(pxPerS)}">`,
  );
  out.push(`<defs>${["ok", "info", "fail"].map((t) => `<pattern id="hatch-${t}" patternUnits="userSpaceOnUse" width="6" height="6" patternTransform="rotate(45)"><rect width="6" height="6" class="hb ${t}"/><rect width="2.5" height="6" class="hs"/></pattern>`).join("")}</defs>`);
  for (let i = 0; i < lanes; i++) if (i % 2 === 1) out.push(`<rect class="lane-alt" x="0" y="${top + i * laneH}" width="${W}" height="${laneH}"/>`);
  out.push(nemesisBands(results.nemesisIntervals, l, xOf, labelY + 3, H, labelY, 700));
  const step = niceStep(tEndS, Math.max(2, plotW / 110));
  for (let t = 0; t <= tEndS + 1e-9; t += step) {
    const x = r1(left + t * pxPerS);
    out.push(`<line class="grid" x1="${x}" x2="${x}" y1="${axisY - 3}" y2="${H}"/>`);
    out.push(`<text class="tick" x="${x}" y="${axisY - 5}" text-anchor="${t === 0 ? "start" : "middle"}">${tickLabelS(t, step)}</text>`);
  }
  out.push(`<line class="axis" x1="${left}" x2="${W}" y1="${axisY}" y2="${axisY}"/>`);

  const bars: string[] = [];
  const labels: string[] = [];
  const halos: string[] = [];
  for (const o of l.ops) {
    const lane = laneOf.get(o.process) ?? 0;
    const x1 = xOf(o.invoke);
    const x2 = xOf(o.complete ?? l.tEnd);
    const w = Math.max(1, x2 - x1);
    const y = top + lane * laneH + (laneH - barH) / 2;
    const isFailing = l.failing.has(o.index);
    const id = isFailing ? ` id="${l.anchor === o ? "violation" : `op-${o.index}`}"` : "";
    const cls = `op ${o.type} ${o.f}${o.pending ? " pending" : ""}${isFailing ? " failing" : ""}`;
    bars.push(
      `<rect${id} class="${cls}" x="${r1(x1)}" y="${r1(y)}" width="${r1(w)}" height="${barH}" data-process="${o.process}" data-index="${o.index}"><title>${opTooltip(o, isFailing)}</title></rect>`,
    );
    if (isFailing) {
      // The first named op's bar is #violation; its halo carries #op-N so links to any named op work.
      const haloId = l.anchor === o ? ` id="op-${o.index}"` : "";
      halos.push(`<rect${haloId} class="halo" x="${r1(x1 - 5)}" y="${r1(y - 4)}" width="${r1(w + 10)}" height="${barH + 8}" rx="4"/>`);
    }
    const text = opLabel(o);
    if (barH >= 10 && w >= text.length * 6.2 + 5) {
      labels.push(`<text class="lbl ${o.type}" x="${r1(x1 + 3)}" y="${r1(y + barH / 2)}" dy="0.35em">${escapeHtml(text)}</text>`);
    }
  }
  out.push(`<g class="halos">${halos.join("")}</g>`);
  out.push(`<g class="bars">${bars.join("\n")}</g>`);
  out.push(`<g class="labels">${labels.join("")}</g>`);
  out.push("</svg>");

  const laneSvg = [`<svg class="lanes" width="64" height="${H}" viewBox="0 0 64 ${H}" aria-hidden="true">`];
  laneSvg.push(`<text class="tick" x="58" y="${axisY - 5}" text-anchor="end">process</text>`);
  procs.forEach((p, i) => {
    const fs = laneH >= 14 ? "" : ` style="font-size:${Math.max(6, laneH - 2)}px"`;
    laneSvg.push(`<text class="lane-label" x="58" y="${top + i * laneH + laneH / 2}" dy="0.35em" text-anchor="end"${fs}>${escapeHtml(`p${p}`)}</text>`);
  });
  laneSvg.push("</svg>");

  const legend = `<div class="legend">
<span><svg width="26" height="14"><rect x="1" y="2" width="24" height="10" class="lgbar ok"/></svg>ok</span>
<span><svg width="26" height="14"><rect x="1" y="2" width="24" height="10" class="lgbar info"/></svg>info (unknown outcome; never completed: drawn to the end)</span>
<span><svg width="26" height="14"><rect x="1" y="2" width="24" height="10" class="lgbar fail"/></svg>fail</span>
<span><svg width="26" height="14"><rect x="1" y="2" width="24" height="10" fill="url(#hatch-ok)" class="lgbar"/></svg>read (hatched; label r[n] = n items)</span>
<span><code>a17</code> = append 17</span>
${nemesisLegend(l)}
${l.failing.size > 0 ? `<span><svg width="26" height="14"><rect x="3" y="3" width="20" height="8" class="lgbar ok failing"/></svg>named in the violation</span>` : ""}
</div>`;
  return `<section id="timeline-section" class="chart-section"><h2>Timeline <small>${fmtInt(l.ops.length)} operations · ${procs.length} processes · 1 s = ${fmtInt(Math.round(pxPerS))} px</small></h2>
<p class="hint">One lane per client process; each bar runs from invoke to completion. Scroll sideways; hover a bar for the full details.${l.anchor !== null ? ` <a class="jump" href="#violation" data-target="violation">Jump to the violation</a>.` : ""}</p>
${legend}
<div class="timeline-wrap">${laneSvg.join("")}<div id="timeline-scroll" class="timeline-scroll">
${out.join("\n")}
</div></div>
</section>`;
}

// ---------------------------------------------------------------------------
// Membership

const LANE_COLORS: Record<SlotLaneState, string> = {
  leader: "#1b7f3b",
  voter: "#69db7c",
  learner: "#4dabf7",
  joining: "#d0ebff",
  removed: "#adb5bd",
  "no answer": "#ffe3e3",
};

function membersText(ms: readonly ObservedMember[]): string {
  return ms.length === 0 ? "–" : ms.map((m) => `${m.id}${m.slot === null ? `@${m.address}` : ` (n${m.slot})`}`).join(", ");
}

function renderMembership(results: RunResults, l: Layout): string {
  const m: MembershipObservation | undefined = results.membership;
  if (m === undefined || m.samples === 0) return "";
  const W = 1200;
  const mL = 76; // the latency plot's margins: both charts share the time axis
  const mR = 16;
  const pw = W - mL - mR;
  const tEndS = l.tEnd / 1e9;
  const xOf = (ns: number) => mL + (Math.min(Math.max(ns, 0), l.tEnd) / 1e9 / tEndS) * pw;
  const labelY = 13;
  const axisY = 34;
  const cfgTop = 40;
  const cfgH = 26;
  const laneTop = cfgTop + cfgH + 8;
  const laneH = 20;
  const H = laneTop + m.lanes.length * laneH + 10;

  const out: string[] = [];
  out.push(`<svg id="membership" class="chart" viewBox="0 0 ${W} ${H}" width="100%" preserveAspectRatio="xMinYMin meet" role="img" aria-label="membership over time">`);
  out.push(nemesisBands(results.nemesisIntervals, l, xOf, labelY + 3, H, labelY));
  const xStep = niceStep(tEndS, 12);
  for (let t = 0; t <= tEndS + 1e-9; t += xStep) {
    const x = r1(mL + (t / tEndS) * pw);
    out.push(`<line class="grid" x1="${x}" x2="${x}" y1="${axisY}" y2="${H}"/>`);
    out.push(`<text class="tick" x="${x}" y="${axisY - 4}" text-anchor="middle">${tickLabelS(t, xStep)}</text>`);
  }

  // The configurations, each from when a node first reported it to when the next one was first reported.
  out.push(`<text class="lane-label" x="${mL - 6}" y="${cfgTop + cfgH / 2}" dy="0.35em" text-anchor="end">config</text>`);
  const kindOf = new Map(m.changes.map((c) => [c.configSlot, c] as const));
  m.configs.forEach((c, k) => {
    const next = m.configs[k + 1];
    const x1 = xOf(c.firstSeen);
    const x2 = xOf(next === undefined ? l.tEnd : Math.max(c.firstSeen, next.firstSeen));
    const w = Math.max(1, x2 - x1);
    const change = kindOf.get(c.configSlot);
    const tip = escapeHtml(
      [
        `config_slot ${c.configSlot}: ${c.voters.length} voter(s), ${c.learners.length} learner(s)`,
        `voters: ${membersText(c.voters)}`,
        `learners: ${membersText(c.learners)}`,
        `first reported at ${fmtTShort(c.firstSeen)} by n${c.firstSeenBy}`,
        ...(change === undefined ? [] : [`${change.kind}: ${change.detail}`]),
      ].join("\n"),
    );
    const cls = `config v${Math.min(5, c.voters.length)}${c.learners.length > 0 ? " with-learner" : ""}`;
    out.push(`<rect class="${cls}" x="${r1(x1)}" y="${cfgTop}" width="${r1(w)}" height="${cfgH}" data-config-slot="${escapeHtml(c.configSlot)}" data-voters="${c.voters.length}" data-learners="${c.learners.length}"><title>${tip}</title></rect>`);
    const text = `${c.voters.length}v${c.learners.length > 0 ? `+${c.learners.length}l` : ""}`;
    if (w >= text.length * 6.5 + 4) out.push(`<text class="cfg-lbl" x="${r1(x1 + 3)}" y="${cfgTop + cfgH / 2}" dy="0.35em">${escapeHtml(text)}</text>`);
    if (change !== undefined && (change.kind === "grow" || change.kind === "shrink")) {
      const up = change.kind === "grow";
      out.push(
        `<path class="change ${change.kind}" d="${up ? `M${r1(x1 - 5)} ${cfgTop - 1}h10l-5-7z` : `M${r1(x1 - 5)} ${cfgTop - 8}h10l-5 7z`}"><title>${escapeHtml(`${change.kind} at ${fmtTShort(change.time)}: ${change.votersBefore} → ${change.votersAfter} voters (${change.detail})`)}</title></path>`,
      );
    }
  });

  // Each slot's own account of itself.
  m.lanes.forEach((lane, k) => {
    const y = laneTop + k * laneH;
    if (k % 2 === 1) out.push(`<rect class="lane-alt" x="${mL}" y="${y}" width="${pw}" height="${laneH}"/>`);
    out.push(`<text class="lane-label" x="${mL - 6}" y="${y + laneH / 2}" dy="0.35em" text-anchor="end"><title>${escapeHtml(lane.host)}</title>n${lane.slot}</text>`);
    for (const seg of lane.segments) {
      if (seg.start >= l.tEnd) continue;
      const x1 = xOf(seg.start);
      const w = Math.max(1, xOf(seg.end) - x1);
      const tip = escapeHtml(
        `n${lane.slot} (${lane.host}): ${seg.state}${seg.id === null ? "" : `, id ${seg.id}`}${seg.configSlot === null ? "" : `, config_slot ${seg.configSlot}`}\n${fmtTShort(seg.start)} → ${fmtTShort(seg.end)}`,
      );
      out.push(
        `<rect class="member-seg" data-slot="${lane.slot}" data-state="${escapeHtml(seg.state)}" x="${r1(x1)}" y="${y + 3}" width="${r1(w)}" height="${laneH - 6}" fill="${LANE_COLORS[seg.state] ?? "#fff"}"><title>${tip}</title></rect>`,
      );
    }
  });
  out.push("</svg>");

  const legend = `<div class="legend">${(Object.keys(LANE_COLORS) as SlotLaneState[])
    .map((st) => `<span><svg width="14" height="14"><rect x="1" y="1" width="12" height="12" fill="${LANE_COLORS[st]}" stroke="#868e96" stroke-width=".5"/></svg>${escapeHtml(st)}</span>`)
    .join("")}
<span><svg width="14" height="14"><path d="M2 11h10l-5-8z" class="change grow"/></svg>grow (more voters)</span>
<span><svg width="14" height="14"><path d="M2 3h10l-5 8z" class="change shrink"/></svg>shrink (fewer voters)</span>
${nemesisLegend(l)}</div>`;

  const rows = m.configs
    .map((c) => {
      const ch = kindOf.get(c.configSlot);
      const chText = ch === undefined ? "bootstrap / first seen" : `${ch.kind}: ${ch.detail}`;
      return `<tr class="${ch?.kind ?? ""}"><td class="n">${fmtTShort(c.firstSeen)}</td><td class="n">${fmtInt(c.configSlot)}</td><td>${escapeHtml(membersText(c.voters))}</td><td>${escapeHtml(membersText(c.learners))}</td><td>${escapeHtml(chText)}</td><td>n${escapeHtml(c.firstSeenBy)} (${c.seenBy.length} node${c.seenBy.length === 1 ? "" : "s"} in all)</td></tr>`;
    })
    .join("");
  const verdictCls = m.check.ok ? "fc-ok" : "fc-bad";
  const evidence = m.check.required
    ? m.check.ok
      ? "✔ the member nemesis's changes were seen by the nodes"
      : "✘ the member nemesis's changes were NOT all seen"
    : m.check.ok
      ? "membership as the nodes reported it"
      : "✘ conflicting reports";
  const conflicts = m.conflicts.length === 0 ? "" : `<ul class="named">${m.conflicts.map((c) => `<li>${escapeHtml(c)}</li>`).join("")}</ul>`;
  return `<section id="membership-section" class="chart-section"><h2>Membership over time <small>${fmtInt(m.configs.length)} configurations · ${fmtInt(m.grows)} grows · ${fmtInt(m.shrinks)} shrinks · polled every ${fmtInt(m.pollIntervalMs)} ms</small></h2>
<div class="card ${verdictCls} evidence"><div class="fc-verdict">${escapeHtml(evidence)}</div><div class="fc-detail">${escapeHtml(m.check.detail)}</div>${conflicts}</div>
<p class="hint">Observed from outside the nemesis: every node's address was asked GET /members and GET /status every ${fmtInt(m.pollIntervalMs)} ms. Top lane: the configurations, from when a node first reported each. Below: what each node slot said it was. Shaded: nemesis intervals (member = a change in progress).</p>
${out.join("\n")}
${legend}
<table class="nemesis-table membership-table"><thead><tr><th>first seen</th><th>config_slot</th><th>voters (id, slot)</th><th>learners</th><th>change</th><th>first reported by</th></tr></thead><tbody>${rows}</tbody></table>
</section>`;
}

function renderNemesisTable(results: RunResults, l: Layout): string {
  if (results.nemesisIntervals.length === 0) {
    return `<section class="nemesis-section"><h2>Nemesis</h2><p>No faults were injected.</p></section>`;
  }
  const rows = results.nemesisIntervals
    .map((iv) => {
      const color = l.nemColors.get(iv.kind) ?? "#868e96";
      return `<tr><td><span class="swatch" style="background:${color}"></span>${escapeHtml(iv.kind)}</td><td class="n">${fmtTShort(iv.start)}</td><td class="n">${fmtTShort(iv.end)}</td><td class="n">${((iv.end - iv.start) / 1e9).toFixed(2)} s</td><td>${escapeHtml(iv.description)}</td></tr>`;
    })
    .join("");
  return `<section class="nemesis-section"><h2>Nemesis schedule <small>${results.nemesisIntervals.length} intervals</small></h2>
<table class="nemesis-table"><thead><tr><th>kind</th><th>start</th><th>end</th><th>duration</th><th>what</th></tr></thead><tbody>${rows}</tbody></table></section>`;
}

// ---------------------------------------------------------------------------
// Static assets (no data in here)

const CSS = `
*{box-sizing:border-box}
body{margin:0;font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,"DejaVu Sans","Liberation Sans",Arial,sans-serif;color:#1f2328;background:#f6f7f9}
main{padding:0 24px 24px}
h2{font-size:18px;margin:0 0 6px}
h2 small{font-size:13px;font-weight:normal;color:#656d76;margin-left:8px}
h3{font-size:13px;margin:0 0 6px;text-transform:uppercase;letter-spacing:.04em;color:#656d76}
code,pre,.n{font-family:ui-monospace,"DejaVu Sans Mono","Liberation Mono",Menlo,Consolas,monospace}
.banner{padding:18px 24px 16px;color:#fff;border-bottom:6px solid rgba(0,0,0,.25)}
.banner.valid{background:#1b7f3b}
.banner.invalid{background:#c92a2a}
.banner.unknown{background:#f59f00;color:#1f1300}
.banner .headline{font-size:34px;font-weight:800;letter-spacing:.01em;line-height:1.15}
.banner .model{font-size:15px;opacity:.9;margin-top:2px}
.banner .runname{font-size:14px;opacity:.85;margin-top:4px}
.banner .stats{display:flex;flex-wrap:wrap;gap:6px 10px;margin-top:10px;font-size:14px}
.banner .stats span{background:rgba(255,255,255,.16);padding:2px 10px;border-radius:12px}
.banner.unknown .stats span{background:rgba(0,0,0,.08)}
.banner a.button{display:inline-block;margin-top:12px;padding:6px 14px;background:#fff;color:#a61e1e;font-weight:700;border-radius:6px;text-decoration:none}
.banner a.button:hover{background:#ffe3e3}
.cards{display:grid;grid-template-columns:repeat(auto-fit,minmax(230px,1fr));gap:14px;margin:18px 0}
.card{background:#fff;border:1px solid #d8dee4;border-radius:8px;padding:12px 14px}
.card table{border-collapse:collapse;width:100%}
.card th,.card td{padding:2px 6px;text-align:left}
.card td.n,.card th.c-ok,.card th.c-info,.card th.c-fail{text-align:right}
.card .counts th:last-child{text-align:right}
.card tr.total{border-top:1px solid #d8dee4;font-weight:600}
.kv th{font-weight:normal;color:#656d76;width:45%}
.c-ok{color:#1b7f3b}.c-info{color:#b35c00}.c-fail{color:#c92a2a}
.fc-verdict{font-size:17px;font-weight:700}
.fc-ok .fc-verdict{color:#1b7f3b}.fc-bad{border-color:#c92a2a;background:#fff5f5}.fc-bad .fc-verdict{color:#c92a2a}
.fc-detail{color:#656d76;margin-top:4px;word-break:break-word}
.explain{background:#fff;border:1px solid #d8dee4;border-left:6px solid #c92a2a;border-radius:8px;padding:12px 16px;margin:0 0 18px}
.explain.unknown{border-left-color:#f59f00}
.explanation{white-space:pre-wrap;word-break:break-word;font-size:13px;background:#f6f8fa;border-radius:6px;padding:10px 12px;margin:6px 0 10px;max-height:360px;overflow:auto}
.named{margin:0;padding-left:20px;font-size:13px}
.chart-section,.nemesis-section{background:#fff;border:1px solid #d8dee4;border-radius:8px;padding:12px 16px;margin:0 0 18px}
.hint{margin:0 0 8px;color:#656d76;font-size:13px}
.legend{display:flex;flex-wrap:wrap;gap:4px 16px;font-size:12.5px;color:#424a53;margin:6px 0}
.legend span{display:inline-flex;align-items:center;gap:5px}
.chart{display:block;font-size:11px}
#latency-plot{max-width:1600px;cursor:crosshair}
.plot-bg{fill:#fff}
.info-band{fill:#fff8e6;stroke:#f2d9a6}
.grid{stroke:#e6e9ed;stroke-width:1}
.grid.minor{stroke:#f1f3f5}
.axis{stroke:#57606a;stroke-width:1}
.tick{fill:#57606a;font-size:11px}
.axis-label{fill:#424a53;font-size:12px}
.band-label{fill:#b35c00;font-size:11px;font-weight:600}
.nemesis{fill-opacity:.13}
.nem-edge{stroke-opacity:.6;stroke-width:1}
.nem-strip{fill-opacity:.75}
.nem-label{font-size:11px;font-weight:700}
.point{stroke-width:0}
.point.ok{fill:#2b8a3e;fill-opacity:.75}
.point.ok.read{fill:#fff;fill-opacity:1;stroke:#2b8a3e;stroke-width:1.3}
.point.fail{fill:none;stroke:#e03131;stroke-width:1.8}
.point.info{fill:#f59f00;stroke:#b35c00;stroke-width:.6}
.violation-line{stroke:#7b1fa2;stroke-width:1.5;stroke-dasharray:4 3}
.violation-label{fill:#7b1fa2;font-size:12px;font-weight:700}
.violation-ring{fill:none;stroke:#7b1fa2;stroke-width:2.5}
.lg.ok{fill:#2b8a3e}.lg.ok.read{fill:#fff;stroke:#2b8a3e;stroke-width:1.5}.lg.fail{stroke:#e03131;stroke-width:2;fill:none}.lg.info{fill:#f59f00;stroke:#b35c00}.lg.ring{fill:none;stroke:#7b1fa2;stroke-width:2}
.timeline-wrap{display:flex;border:1px solid #d8dee4;border-radius:6px;overflow:hidden}
.lanes{flex:none;background:#fafbfc;border-right:1px solid #d8dee4}
.lane-label{font-size:12px;fill:#424a53;font-family:ui-monospace,"DejaVu Sans Mono",monospace}
.timeline-scroll{overflow-x:auto;overflow-y:hidden;flex:1}
.lane-alt{fill:#f3f5f7}
.op{stroke:rgba(0,0,0,.35);stroke-width:.5}
.op.ok,.lgbar.ok{fill:#2f9e44}
.op.info,.lgbar.info{fill:#fab005}
.op.fail,.lgbar.fail{fill:#e03131}
.op.read.ok{fill:url(#hatch-ok)}.op.read.info{fill:url(#hatch-info)}.op.read.fail{fill:url(#hatch-fail)}
.op.pending{fill-opacity:.55;stroke-dasharray:3 2}
.op.failing,.lgbar.failing{stroke:#4a0072;stroke-width:3}
.op:hover{stroke:#000;stroke-width:1.5}
.hb.ok{fill:#2f9e44}.hb.info{fill:#fab005}.hb.fail{fill:#e03131}.hs{fill:#fff;fill-opacity:.45}
.halo{fill:#be4bdb;fill-opacity:.35;stroke:#7b1fa2;stroke-width:1.5}
.lbl{font-size:10px;font-family:ui-monospace,"DejaVu Sans Mono",monospace;fill:#fff;pointer-events:none}
.lbl.info{fill:#2b1d00}
.nemesis-table{border-collapse:collapse;font-size:13px}
.nemesis-table th,.nemesis-table td{padding:3px 10px;border-bottom:1px solid #eaeef2;text-align:left}
.nemesis-table td.n{text-align:right;white-space:nowrap}
#membership{max-width:1600px}
.config{stroke:#fff;stroke-width:1}
.config.v1,.config.v2{fill:#e8590c}.config.v3{fill:#96f2d7}.config.v4{fill:#38d9a9}.config.v5{fill:#0ca678}
.config.with-learner{stroke:#1c7ed6;stroke-width:2;stroke-dasharray:4 2}
.cfg-lbl{font-size:11px;font-weight:700;fill:#102a22;pointer-events:none;font-family:ui-monospace,"DejaVu Sans Mono",monospace}
.change.grow{fill:#0b7285}.change.shrink{fill:#c2255c}
.member-seg{stroke:rgba(0,0,0,.2);stroke-width:.5}
.evidence{margin:6px 0 10px}
.membership-table tr.grow td:nth-child(5){color:#0b7285;font-weight:600}
.membership-table tr.shrink td:nth-child(5){color:#c2255c;font-weight:600}
.swatch{display:inline-block;width:10px;height:10px;border-radius:2px;margin-right:6px;vertical-align:middle}
footer{color:#8c959f;font-size:12px;margin-top:8px}
`;

const SCRIPT = `
(function(){
  var sc=document.getElementById('timeline-scroll'), tl=document.getElementById('timeline');
  function centerOn(el){
    if(!sc||!el)return;
    var r=el.getBoundingClientRect(), s=sc.getBoundingClientRect();
    sc.scrollLeft+= (r.left+r.width/2)-(s.left+s.width/2);
  }
  document.querySelectorAll('a.jump').forEach(function(a){
    a.addEventListener('click',function(ev){
      var id=a.getAttribute('data-target'); var el=id&&document.getElementById(id);
      if(!el)return; ev.preventDefault();
      document.getElementById('timeline-section').scrollIntoView({block:'start'});
      centerOn(el); history.replaceState(null,'','#'+id);
    });
  });
  centerOn(document.getElementById('violation'));
  var plot=document.getElementById('latency-plot');
  if(plot&&tl&&sc){
    plot.addEventListener('click',function(ev){
      var m=plot.getScreenCTM(); if(!m)return;
      var p=plot.createSVGPoint(); p.x=ev.clientX; p.y=ev.clientY; p=p.matrixTransform(m.inverse());
      var t=(p.x-Number(plot.dataset.x0))/Number(plot.dataset.pxs); if(!(t>=0))t=0;
      document.getElementById('timeline-section').scrollIntoView({block:'start'});
      sc.scrollLeft=Number(tl.dataset.x0)+t*Number(tl.dataset.pxs)-sc.clientWidth/2;
    });
  }
})();
`;
