// The step-by-step viewer of one simulated run: a single self-contained
// HTML page (inline CSS and script, the recording as JSON in the page; no
// CDN, works from file://). Lanes of nodes with messages as arrows between
// them, faults as shaded periods, client operations, and under the cursor
// each node's ballot and log.

import { writeFileSync } from "node:fs";
import { describeFailure } from "../run-seeds.js";
import type { SimOptions, SimResult } from "../simulation.js";
import { PAGE_SCRIPT } from "./page-script.js";
import { recordRun, type ViewerData } from "./record.js";

function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]!);
}

/** JSON that is safe inside a script element: no "<" can close it ("</script>") or open a comment. */
export function jsonForScript(data: unknown): string {
  return JSON.stringify(data).replace(/</g, "\\u003c").replace(/\u2028/g, "\\u2028").replace(/\u2029/g, "\\u2029");
}

export function renderViewer(data: ViewerData): string {
  const s = data.stats;
  const verdict = data.ok
    ? `<div id="verdict" class="ok">seed ${data.seed}: every invariant held; the cluster recovered after the faults</div>`
    : `<div id="verdict" class="failed">seed ${data.seed} FAILED: ${escapeHtml(data.failure ?? "")}</div>`;
  const summary =
    `${data.nodes} nodes (lanes: ${data.lanes.map((id) => `n${id}`).join(" ")}) &middot; ${(s.simulatedMs / 1000).toFixed(1)} s simulated &middot; ` +
    `${data.steps.length} steps shown of ${s.events} events &middot; ${data.messages.length} messages &middot; ${s.ops} client ops (${s.ok} ok, ${s.info} info, ${s.fail} fail) &middot; ` +
    `${s.crashes} crashes, ${s.partitions} partitions, ${s.changes} membership changes &middot; trace digest ${escapeHtml(data.digest)}`;
  return [
    "<!doctype html>",
    '<html lang="en"><head><meta charset="utf-8">',
    `<title>seed ${data.seed}${data.ok ? "" : " FAILED"}: paxos-ts simulator</title>`,
    '<meta name="viewport" content="width=device-width, initial-scale=1">',
    `<style>${CSS}</style></head><body>`,
    `<header><h1>paxos-ts simulator, seed ${data.seed}</h1><div class="summary">${summary}</div>`,
    `<div class="replay">replay: <code>${escapeHtml(data.replay)}</code></div></header>`,
    verdict,
    '<div id="violation" hidden></div>',
    '<div id="toolbar"><div id="legend"></div><div class="tools"><span id="zoom"></span> <span id="thinned"></span> ',
    '<button id="play" type="button">play (space)</button> <button id="help-button" type="button">keys (?)</button></div></div>',
    '<div id="timeline"><div id="labels"></div><div id="scroller"><div id="spacer"></div><svg id="tl" xmlns="http://www.w3.org/2000/svg"></svg></div></div>',
    '<div id="panels"><section id="state-section"><div class="section-head">each node at the cursor: its ballot and log (green: chosen and applied; yellow: accepted, not known chosen; grey: in its snapshot) ',
    '<span id="slot-range"></span> <button id="slot-prev" type="button" title="[">&lsaquo;</button><button id="slot-next" type="button" title="]">&rsaquo;</button><button id="slot-follow" type="button" title="\\">newest</button></div>',
    '<div id="state"></div></section>',
    '<section id="step-section"><div id="step"></div><div class="section-head">around it</div><div id="context"></div></section></div>',
    `<div id="help" hidden><h2>Keys</h2><table>
<tr><td>&rarr; &darr; j l / &larr; &uarr; k h</td><td>next / previous step (with shift: 10 steps); PageDown / PageUp: 100; Home / End</td></tr>
<tr><td>1 &hellip; 9, 0 / t T</td><td>select a message kind (or click it in the legend; shift-click hides it)</td></tr>
<tr><td>m / M</td><td>next / previous step that sends or delivers a message of the selected kind</td></tr>
<tr><td>r / R</td><td>next / previous role change (an election won or lost, a leader learned)</td></tr>
<tr><td>f / F</td><td>next / previous fault: crash, restart, partition, heal</td></tr>
<tr><td>o / O</td><td>next / previous client operation (invoked or completed)</td></tr>
<tr><td>v</td><td>the first violated invariant</td></tr>
<tr><td>+ / - / z</td><td>zoom the time axis in / out / back to the default</td></tr>
<tr><td>[ / ] / \\</td><td>the log's slot window: earlier / later / follow the newest slots</td></tr>
<tr><td>space</td><td>play / pause</td></tr>
<tr><td>click</td><td>on the timeline: the nearest step; on an arrow: the step that sent it</td></tr>
</table><p>Lanes: a gold band is a leader's term, hatched is a crashed node, grey a removed one. The fault row shows partitions; each side's lanes are tinted alike.
Arrows go from the step a message left to the step it arrived; an x marks a message lost or dropped (link cut, node down).
Client rows show each operation from invoke to completion (green ok, orange info, red fail) and dashed hops to and from the nodes.
Slots: a node's log as it wrote it (its votes, and the values it knows chosen); the top row is what the checker counts as chosen (a majority of the voters in force voted for it in one ballot).</p></div>`,
    `<script type="application/json" id="sim-data">${jsonForScript(data)}</script>`,
    `<script>${PAGE_SCRIPT}</script>`,
    "</body></html>",
  ].join("\n");
}

/** `paxos sim --seed S [--nodes 3|5] --html FILE`: the viewer of one seed. Exit code as the run's (2: bad options). */
export function runViewerCommand(file: string, o: { seed?: number; seeds?: number; nodes: string; trace: boolean; faultPhaseMs: number }): number {
  if (o.seed === undefined || o.seeds !== undefined || (o.nodes !== "3" && o.nodes !== "5")) {
    console.error("--html draws one run: give one --seed and --nodes 3 or 5 (not --seeds or mixed)");
    return 2;
  }
  const { result } = writeViewer(file, {
    seed: o.seed,
    nodes: o.nodes === "5" ? 5 : 3,
    faultPhaseMs: o.faultPhaseMs,
    ...(o.trace ? { echo: (line: string) => console.log(line) } : {}),
  });
  return result.ok ? 0 : 1;
}

/**
 * Runs the seed with a recorder, writes the page, and reports the run as a
 * plain run would.
 */
export function writeViewer(file: string, opts: SimOptions, print: (line: string) => void = console.log): { result: SimResult; bytes: number } {
  const { result, data } = recordRun(opts);
  const html = renderViewer(data);
  writeFileSync(file, html);
  if (result.ok) print(`seed ${result.seed}: ok, trace digest ${result.digest}, stats ${JSON.stringify(result.stats)}`);
  else print(describeFailure(result));
  print(`wrote ${file}: ${data.steps.length} steps, ${data.messages.length} messages, ${(Buffer.byteLength(html) / 1024).toFixed(0)} KiB; open it in a browser (? lists the keys)`);
  return { result, bytes: Buffer.byteLength(html) };
}

const CSS = `
*{box-sizing:border-box}
body{font:13px/1.35 system-ui,-apple-system,"Segoe UI",sans-serif;margin:0;padding:10px 14px;color:#212529;background:#fff}
h1{font-size:17px;margin:0 0 2px}
h2{font-size:15px;margin:0 0 6px}
code,pre,.members,#state td,.ctx .t,#zoom{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace}
.summary,.replay{color:#495057;font-size:12px}
#verdict{margin:6px 0;padding:5px 9px;border-radius:4px;font-weight:600}
#verdict.ok{background:#ebfbee;color:#2b8a3e;border:1px solid #b2f2bb}
#verdict.failed{background:#fff5f5;color:#c92a2a;border:1px solid #ffc9c9}
#violation{border:2px solid #fa5252;border-radius:4px;padding:6px 9px;margin:6px 0;background:#fff8f8}
#violation .vmsg{font-family:ui-monospace,Menlo,monospace;margin:3px 0 6px;white-space:pre-wrap}
table.votes{border-collapse:collapse;margin:4px 0}
#violation .vcap{font-weight:600;margin-top:4px}
table.votes td,table.votes th{border:1px solid #dee2e6;padding:2px 6px;text-align:left}
table.votes tr.offending-vote td{background:#ffe3e3}
table.votes a{margin-right:6px}
#toolbar{display:flex;justify-content:space-between;align-items:center;gap:10px;margin:6px 0 4px}
#legend{display:flex;flex-wrap:wrap;gap:3px 10px}
.kind{cursor:pointer;white-space:nowrap;padding:0 3px;border-radius:3px;user-select:none}
.kind.selected{outline:2px solid #343a40}
.kind.hidden{opacity:.35;text-decoration:line-through}
.kind.absent{color:#adb5bd}
.sw{display:inline-block;width:10px;height:10px;border-radius:2px;margin-right:4px;vertical-align:-1px}
.tools{white-space:nowrap;color:#495057}
#thinned{color:#e67700}
button{font:inherit;font-size:12px;padding:1px 7px;border:1px solid #ced4da;border-radius:3px;background:#f8f9fa;cursor:pointer}
#timeline{display:flex;border:1px solid #dee2e6;border-radius:4px}
#labels{flex:0 0 118px;border-right:1px solid #dee2e6;background:#f8f9fa;font-size:12px}
.lbl{display:flex;align-items:center;padding:0 6px;white-space:nowrap;overflow:hidden}
.lbl.axis,.lbl.fault,.lbl.client{color:#868e96;font-size:11px}
.lbl.node b{margin-right:5px}
.lbl.role-leader{background:rgba(252,196,25,.45)}
.lbl.role-candidate{background:rgba(255,169,77,.3)}
.lbl.role-down{background:#dee2e6;color:#868e96}
.lbl.role-removed,.lbl.role-not-started{color:#adb5bd}
#scroller{flex:1;overflow-x:auto;overflow-y:hidden;position:relative;cursor:crosshair}
#spacer{position:relative}
#tl{position:absolute;top:0;left:0}
#tl text{font-size:10px;fill:#495057;pointer-events:none}
#tl .tick-label{fill:#868e96}
#tl .partition-label{fill:#c92a2a}
#tl .band-label{fill:#495057;font-style:italic}
#tl .op-label{fill:#fff;font-size:9px}
#tl .msg{stroke-width:1.2;opacity:.85}
#tl .msg[data-kind="heartbeat"],#tl .msg[data-kind="heartbeatAck"]{opacity:.6}
#tl .msg.lost,#tl .msg.dropped{stroke-dasharray:3 2}
#tl .msg.current{stroke-width:3;opacity:1}
#tl .drop-x{font-size:11px;font-weight:700}
#tl .op{stroke:none}
#tl .op.ok{fill:#40c057}
#tl .op.info{fill:#fd7e14}
#tl .op.fail{fill:#fa5252}
#tl .op.open{fill:#adb5bd}
#tl .op.offending{stroke:#c92a2a;stroke-width:2}
#tl .hop{stroke:#868e96;stroke-width:.8;stroke-dasharray:2 2}
#tl .hop.reply{stroke:#40c057}
#tl .ev{fill:#495057}
#tl #cursor-line{stroke:#1c7ed6;stroke-width:2;opacity:.75}
#tl #cursor-dot{fill:none;stroke:#1c7ed6;stroke-width:2}
#tl .violation-line{stroke:#e03131;stroke-width:2;stroke-dasharray:5 3}
#tl .violation-label{fill:#e03131;font-weight:700}
#tl .vote-mark{fill:none;stroke:#e03131;stroke-width:2}
#tl .vote-label{fill:#c92a2a;font-weight:700}
#panels{display:flex;gap:12px;margin-top:8px;align-items:flex-start}
#state-section{flex:1;min-width:0}
#step-section{flex:0 0 380px;max-width:380px}
.section-head{color:#495057;font-size:12px;margin:2px 0 4px}
.section-head button{padding:0 6px}
#state{overflow-x:auto}
#nodes{border-collapse:collapse;font-size:12px}
#nodes th{font-weight:600;color:#495057;padding:2px 4px;text-align:left;white-space:nowrap;background:#f8f9fa}
#nodes td{padding:2px 4px;border-top:1px solid #f1f3f5;white-space:nowrap}
#nodes th.slot-h{text-align:center;min-width:40px}
#nodes td.slot{width:42px;min-width:42px;text-align:center;border:1px solid #e9ecef;padding:1px 2px;line-height:1.1}
#nodes td.slot .v{display:block;font-weight:600}
#nodes td.slot .b{display:block;font-size:10px;color:#868e96}
#nodes td.slot.chosen{background:#d3f9d8}
#nodes td.slot.voted{background:#fff3bf}
#nodes td.slot.snap{background:repeating-linear-gradient(45deg,#f1f3f5,#f1f3f5 3px,#e9ecef 3px,#e9ecef 6px)}
#nodes td.slot.changed{outline:2px solid #1c7ed6;outline-offset:-2px}
#nodes .offending{box-shadow:inset 0 0 0 2px #fa5252}
#nodes th.offending{background:#ffe3e3;color:#c92a2a}
#nodes td.slot.offending-vote{background:#ffc9c9}
#nodes tr.oracle td{background:#f8f9fa;color:#495057}
#nodes tr.oracle td.slot.chosen{background:#b2f2bb}
#nodes tr.role-leader td:first-child,#nodes tr.role-leader td.role{background:rgba(252,196,25,.45)}
#nodes tr.role-candidate td.role{background:rgba(255,169,77,.3)}
#nodes tr.role-down td{color:#adb5bd}
#nodes tr.changed td.role{outline:2px solid #1c7ed6;outline-offset:-2px}
.muted{color:#868e96}
.drop{color:#c92a2a}
#step{border:1px solid #dee2e6;border-radius:4px;padding:5px 7px;margin-bottom:6px;min-height:60px}
.step-head{color:#495057;font-size:12px}
.step-title{font-family:ui-monospace,Menlo,monospace;margin:3px 0;word-break:break-word}
pre.lines{margin:2px 0;font-size:11px;white-space:pre-wrap}
.msgline{font-size:12px;margin:1px 0;word-break:break-word}
#context{font-size:11px;font-family:ui-monospace,Menlo,monospace;border:1px solid #f1f3f5;border-radius:4px}
.ctx{padding:0 5px;cursor:pointer;white-space:nowrap;overflow:hidden;text-overflow:ellipsis}
.ctx .t{color:#868e96}
.ctx.here{background:#d0ebff}
.ctx.bad{color:#c92a2a;font-weight:700}
#help{position:fixed;right:16px;top:16px;max-width:640px;background:#fff;border:1px solid #adb5bd;border-radius:6px;padding:10px 14px;box-shadow:0 4px 18px rgba(0,0,0,.15);z-index:5}
#help td{padding:1px 8px 1px 0;vertical-align:top}
#help td:first-child{font-family:ui-monospace,Menlo,monospace;white-space:nowrap}
`;
