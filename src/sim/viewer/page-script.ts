// The viewer page's script, inlined by html.ts (the page is one file, no
// CDN). Plain browser JavaScript in a string: it must contain no backtick
// and no dollar-brace, and String.raw keeps its backslashes.
//
// It reads the recording (record.ts's ViewerData) from the page's JSON
// script tag and draws a window of it: only the steps, messages and bands
// inside the visible part of the time axis are in the DOM, so a run of
// tens of thousands of events scrolls and steps as fast as a short one.
// The state under the cursor is rebuilt from checkpoints of the per-step
// deltas.

export const PAGE_SCRIPT = String.raw`
(function () {
  "use strict";
  var D = JSON.parse(document.getElementById("sim-data").textContent);
  var steps = D.steps, msgs = D.messages, N = steps.length;
  var STEP_ROLE = 1, STEP_FAULT = 2, STEP_CLIENT = 4;
  var DROP_TEXT = ["", "dropped: link cut", "lost", "dropped: node down", "dropped: link cut"];
  var COLORS = {
    preVote: "#9775fa", preVoteReply: "#b197fc", prepare: "#6741d9", promise: "#ae3ec9", nack: "#e03131",
    accept: "#1c7ed6", accepted: "#0ca678", commit: "#f08c00", heartbeat: "#adb5bd", heartbeatAck: "#ced4da",
    catchupRequest: "#a0522d", catchupReply: "#c97b4a", installSnapshot: "#5c940d", propose: "#1098ad", proposeRefused: "#f06595"
  };
  var LANE_H = 30, CLIENT_H = 13, AXIS_H = 18, FAULT_H = 16, MAX_ARROWS = 1500, CHECKPOINT = 256;
  var $ = function (id) { return document.getElementById(id); };
  var scroller = $("scroller"), spacer = $("spacer"), svg = $("tl");

  function esc(s) {
    return String(s).replace(/[&<>"]/g, function (c) { return c === "&" ? "&amp;" : c === "<" ? "&lt;" : c === ">" ? "&gt;" : "&quot;"; });
  }
  function fmtT(ms) { return (ms / 1000).toFixed(3) + " s"; }
  function kindName(k) { return D.kinds[k]; }
  function color(k) { return COLORS[D.kinds[k]] || "#495057"; }
  function bsearch(n, pred) { var lo = 0, hi = n; while (lo < hi) { var mid = (lo + hi) >> 1; if (pred(mid)) hi = mid; else lo = mid + 1; } return lo; }
  function shortValue(v) {
    var m = /^(-?\d+)\(/.exec(v);
    if (m) return m[1];
    m = /^membership\((\w+) (?:sim-)?(\d+)/.exec(v);
    if (m) return (m[1] === "add" ? "+n" : m[1] === "remove" ? "-n" : "^n") + m[2];
    return v;
  }

  // ------------------------------------------------------------- rows ---
  var laneIndex = {};
  D.lanes.forEach(function (id, i) { laneIndex[id] = i; });
  var CLIENT_TOP = AXIS_H + FAULT_H;
  var LANE_TOP = CLIENT_TOP + D.clients * CLIENT_H + 4;
  var HEIGHT = LANE_TOP + D.lanes.length * LANE_H + 4;
  function laneY(id) { return LANE_TOP + laneIndex[id] * LANE_H + LANE_H / 2; }
  function clientY(c) { return CLIENT_TOP + c * CLIENT_H + CLIENT_H / 2; }

  // ------------------------------------------------- derived indexes ----
  var maxSpan = 0;
  var kindSteps = D.kinds.map(function () { return []; });
  msgs.forEach(function (m) {
    kindSteps[m[2]].push(m[3]);
    if (m[4] >= 0) { kindSteps[m[2]].push(m[4]); maxSpan = Math.max(maxSpan, m[4] - m[3]); }
  });
  kindSteps = kindSteps.map(function (a) {
    a.sort(function (x, y) { return x - y; });
    return a.filter(function (x, i) { return i === 0 || a[i - 1] !== x; });
  });
  function flagged(bit) { var r = []; for (var i = 0; i < N; i++) if ((steps[i].f || 0) & bit) r.push(i); return r; }
  var roleSteps = flagged(STEP_ROLE), faultSteps = flagged(STEP_FAULT), clientSteps = flagged(STEP_CLIENT);
  // messages sent and delivered at each step (for the step panel and highlighting)
  var sentAt = {};
  msgs.forEach(function (m, i) { (sentAt[m[3]] = sentAt[m[3]] || []).push(i); });

  // Per node: bands of one role (or down, removed, not started) over steps.
  var bands = D.lanes.map(function () { return []; });
  (function () {
    var open = {};
    for (var i = 0; i < N; i++) {
      var st = steps[i].st;
      if (!st) continue;
      st.forEach(function (e) {
        var id = e[0], v = e[1], li = laneIndex[id];
        var kind = !v.up ? "down" : v.member === "removed" ? "removed" : v.role;
        var o = open[id];
        if (o && o.kind === kind && o.member === v.member) return;
        if (o) o.e = i;
        open[id] = { s: i, e: N - 1, kind: kind, member: v.member };
        bands[li].push(open[id]);
      });
    }
  })();

  // ---------------------------------------------------------- layout ----
  // x of each step: time scaled by zoom, but never closer than a minimum gap,
  // so events of one millisecond stay apart and in order.
  var ZOOMS = [0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 4, 8, 16, 32, 64, 128];
  var zoomIndex = 8;
  var X = new Float64Array(N + 1);
  function layout() {
    var z = ZOOMS[zoomIndex], gap = Math.min(24, 2 * z), x = 30;
    for (var i = 0; i < N; i++) {
      if (i > 0) x += Math.max((steps[i].t - steps[i - 1].t) * z, gap);
      X[i] = x;
    }
    X[N] = x + 60;
    spacer.style.width = X[N] + "px";
    spacer.style.height = HEIGHT + "px";
    svg.setAttribute("height", HEIGHT);
    $("zoom").textContent = (z >= 1 ? z : z.toFixed(3)) + " px/ms";
  }
  function stepAtX(x) { return Math.max(0, bsearch(N, function (i) { return X[i] > x; }) - 1); }
  function xAtTime(t) {
    var i = bsearch(N, function (j) { return steps[j].t >= t; });
    if (i >= N) return X[N - 1];
    if (i === 0) return X[0];
    var z = ZOOMS[zoomIndex];
    return Math.min(X[i], X[i - 1] + (t - steps[i - 1].t) * z);
  }

  // ------------------------------------------------- state at a step ----
  function emptyState() { return { nodes: {}, chosen: new Map() }; }
  function nodeState(s, id) {
    var n = s.nodes[id];
    if (!n) n = s.nodes[id] = { view: null, log: new Map(), snap: 0 };
    return n;
  }
  function cloneState(s) {
    var c = { nodes: {}, chosen: new Map(s.chosen) };
    Object.keys(s.nodes).forEach(function (id) {
      var n = s.nodes[id];
      c.nodes[id] = { view: n.view, log: new Map(n.log), snap: n.snap };
    });
    return c;
  }
  function applyStep(s, i) {
    var st = steps[i];
    if (st.rs) st.rs.forEach(function (id) { nodeState(s, id).log = new Map(); });
    if (st.st) st.st.forEach(function (e) { nodeState(s, e[0]).view = e[1]; });
    if (st.lg) st.lg.forEach(function (e) { nodeState(s, e[0]).log.set(e[1], [e[2], e[3], e[4]]); });
    if (st.sn) st.sn.forEach(function (e) {
      var n = nodeState(s, e[0]);
      n.snap = e[1];
      n.log.forEach(function (_, slot) { if (slot < e[1]) n.log.delete(slot); });
    });
    if (st.ch) st.ch.forEach(function (e) { s.chosen.set(e[0], [e[1], e[2], i]); });
  }
  // checkpoints[j]: the state before step j * CHECKPOINT
  var checkpoints = [];
  (function () {
    var s = emptyState();
    for (var i = 0; i < N; i++) {
      if (i % CHECKPOINT === 0) checkpoints.push(cloneState(s));
      applyStep(s, i);
    }
  })();
  var cached = { step: -1, state: null };
  function stateAt(k) {
    if (cached.step === k) return cached.state;
    var s, from;
    if (cached.step >= 0 && cached.step < k && k - cached.step <= CHECKPOINT) { s = cached.state; from = cached.step + 1; }
    else { var j = Math.floor(k / CHECKPOINT); s = cloneState(checkpoints[j]); from = j * CHECKPOINT; }
    for (var i = from; i <= k; i++) applyStep(s, i);
    cached = { step: k, state: s };
    return s;
  }

  // ------------------------------------------------------- ui state ----
  var V = D.violation;
  var cursor = V ? V.step : 0;
  var selectedKind = Math.max(0, D.kinds.indexOf("accept"));
  var hiddenKinds = {};
  var slotLo = null; // null: follow the newest slots
  var playing = null;
  var badSlots = {}, badBallots = {}, badPayloads = {}, badNodes = {}, voteMarks = [];
  if (V) {
    V.slots.forEach(function (s) { badSlots[s] = true; });
    V.ballots.forEach(function (b) { badBallots[b] = true; });
    V.payloads.forEach(function (p) { badPayloads[p] = true; });
    V.nodes.forEach(function (n) { badNodes[n] = true; });
    V.votes.forEach(function (v) { v.voters.forEach(function (x) { voteMarks.push({ node: x[0], step: x[1], slot: v.slot, ballot: v.ballot, value: v.value }); }); });
    if (V.slots.length > 0) slotLo = Math.max(0, V.slots[0] - 6);
  }
  function payloadOf(v) { var m = /^(-?\d+)\(/.exec(v); return m ? Number(m[1]) : null; }

  // ------------------------------------------------------- timeline ----
  var defs = "<defs>" + D.kinds.map(function (k, i) {
    return '<marker id="ah' + i + '" viewBox="0 0 6 6" refX="6" refY="3" markerWidth="6" markerHeight="6" orient="auto"><path d="M0,0L6,3L0,6z" fill="' + color(i) + '"/></marker>';
  }).join("") + '<pattern id="hatch" width="6" height="6" patternUnits="userSpaceOnUse" patternTransform="rotate(45)"><rect width="6" height="6" fill="#dee2e6"/><line x1="0" y1="0" x2="0" y2="6" stroke="#868e96" stroke-width="2"/></pattern></defs>';
  var GROUP_TINTS = ["rgba(51,154,240,.16)", "rgba(250,82,82,.16)", "rgba(81,207,102,.18)", "rgba(252,196,25,.2)", "rgba(204,93,232,.16)", "rgba(255,146,43,.18)"];

  function partitionGroups(p) {
    // nodes that lose the same links are on the same side; nodes that lose none are not tinted
    var sig = {};
    p.cuts.forEach(function (c) { sig[c[0]] = (sig[c[0]] || "") + ">" + c[1]; sig[c[1]] = (sig[c[1]] || "") + "<" + c[0]; });
    var groups = {}, next = 0, out = {};
    Object.keys(sig).sort().forEach(function (id) {
      var key = sig[id].split(/(?=[<>])/).sort().join("");
      if (!(key in groups)) groups[key] = next++;
      out[id] = groups[key];
    });
    return out;
  }
  var partGroups = D.partitions.map(partitionGroups);

  var renderQueued = false;
  function queueRender() { if (!renderQueued) { renderQueued = true; requestAnimationFrame(function () { renderQueued = false; renderTimeline(); }); } }

  function renderTimeline() {
    var w = scroller.clientWidth, left = scroller.scrollLeft, right = left + w;
    svg.setAttribute("width", w);
    svg.style.left = left + "px";
    var a = Math.max(0, stepAtX(left) - 1), b = Math.min(N - 1, stepAtX(right) + 1);
    var out = [defs, '<g transform="translate(' + (-left) + ',0)">'];
    // lanes
    D.lanes.forEach(function (id, i) {
      out.push('<rect class="lane" data-node="' + id + '" x="' + left + '" y="' + (LANE_TOP + i * LANE_H) + '" width="' + w + '" height="' + LANE_H + '" fill="' + (i % 2 ? "#f8f9fa" : "#ffffff") + '"/>');
    });
    for (var c = 0; c < D.clients; c++) out.push('<line class="client-row" x1="' + left + '" x2="' + right + '" y1="' + clientY(c) + '" y2="' + clientY(c) + '" stroke="#e9ecef"/>');
    // role bands: leader, candidate, down, removed
    bands.forEach(function (list, li) {
      var y = LANE_TOP + li * LANE_H;
      list.forEach(function (bd) {
        if (bd.e < a || bd.s > b || bd.kind === "follower") return;
        var x1 = X[bd.s], x2 = bd.e >= N - 1 ? X[N] : X[bd.e];
        var fill = bd.kind === "leader" ? "rgba(252,196,25,.35)" : bd.kind === "candidate" ? "rgba(255,169,77,.2)" : bd.kind === "down" ? "url(#hatch)" : "rgba(134,142,150,.18)";
        out.push('<rect class="band ' + bd.kind + '" x="' + x1 + '" y="' + (y + 2) + '" width="' + Math.max(1, x2 - x1) + '" height="' + (LANE_H - 4) + '" fill="' + fill + '"><title>n' + D.lanes[li] + " " + bd.kind + " from " + fmtT(steps[bd.s].t) + "</title></rect>");
        if (bd.kind === "down" && x2 - x1 > 40) out.push('<text class="band-label" x="' + (Math.max(x1, left) + 4) + '" y="' + (y + LANE_H / 2 + 4) + '">crashed</text>');
      });
    });
    // partitions: a bar on the fault row, and each side's lanes tinted
    D.partitions.forEach(function (p, pi) {
      var e = p.e < 0 ? N - 1 : p.e;
      if (e < a || p.s > b) return;
      var x1 = X[p.s], x2 = p.e < 0 ? X[N] : X[p.e];
      out.push('<rect class="partition" x="' + x1 + '" y="' + (AXIS_H + 1) + '" width="' + Math.max(1, x2 - x1) + '" height="' + (FAULT_H - 2) + '" fill="#ffe3e3" stroke="#fa5252" stroke-width=".5"><title>' + esc(p.d) + "</title></rect>");
      if (x2 - x1 > 30) out.push('<text class="partition-label" x="' + (Math.max(x1, left) + 3) + '" y="' + (AXIS_H + FAULT_H - 4) + '">' + esc(p.d) + "</text>");
      var g = partGroups[pi];
      Object.keys(g).forEach(function (id) {
        if (!(id in laneIndex)) return;
        out.push('<rect class="side" x="' + x1 + '" y="' + (LANE_TOP + laneIndex[id] * LANE_H) + '" width="' + Math.max(1, x2 - x1) + '" height="' + LANE_H + '" fill="' + GROUP_TINTS[g[id] % GROUP_TINTS.length] + '"/>');
      });
    });
    // time axis
    var t0 = steps[a].t, t1 = steps[b].t, steps_ = [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000], every = 10000;
    for (var si = 0; si < steps_.length; si++) if ((t1 - t0) / steps_[si] <= w / 90) { every = steps_[si]; break; }
    var lastTick = -Infinity;
    for (var t = Math.ceil(t0 / every) * every; t <= t1; t += every) {
      var tx = xAtTime(t);
      if (tx - lastTick < 70) continue; // many events in little time spread it apart: keep labels readable
      lastTick = tx;
      out.push('<line class="tick" x1="' + tx + '" x2="' + tx + '" y1="' + (AXIS_H - 4) + '" y2="' + HEIGHT + '" stroke="#f1f3f5"/><text class="tick-label" x="' + (tx + 2) + '" y="' + (AXIS_H - 6) + '">' + fmtT(t) + "</text>");
    }
    D.lanes.forEach(function (id) { out.push('<line class="lane-line" x1="' + left + '" x2="' + right + '" y1="' + laneY(id) + '" y2="' + laneY(id) + '" stroke="#dee2e6"/>'); });
    // client operations
    D.ops.forEach(function (o, oi) {
      var e = o.e < 0 ? N - 1 : o.e;
      if (e < a || o.s > b) return;
      var x1 = X[o.s], x2 = o.e < 0 ? X[N] : X[o.e], y = clientY(o.c);
      var cls = "op " + (o.r || "open") + (o.v !== null && badPayloads[o.v] ? " offending" : "");
      var label = (o.f === "append" ? "append " + o.v : "read") + (o.r ? " -> " + o.r + (o.st ? " " + o.st : "") : " (open)");
      out.push('<rect class="' + cls + '" data-op="' + oi + '" x="' + x1 + '" y="' + (y - 4) + '" width="' + Math.max(2, x2 - x1) + '" height="8" rx="2"><title>client ' + o.c + ": " + esc(label) + "</title></rect>");
      if (x2 - x1 > 36) out.push('<text class="op-label" x="' + (Math.max(x1, left) + 3) + '" y="' + (y + 3) + '">' + (o.f === "append" ? "a" + o.v : "r") + "</text>");
    });
    var h0 = bsearch(D.hops.length, function (i) { return D.hops[i][2] >= a; });
    for (var hi = h0; hi < D.hops.length && D.hops[hi][2] <= b; hi++) {
      var hop = D.hops[hi], hx = X[hop[2]], y1 = clientY(hop[0]), y2 = laneY(hop[1]);
      out.push('<line class="hop' + (hop[3] ? " reply" : " request") + '" x1="' + hx + '" x2="' + hx + '" y1="' + (hop[3] ? y2 : y1) + '" y2="' + (hop[3] ? y1 : y2) + '"><title>' + esc(hop[3] ? "n" + hop[1] + " answers client " + hop[0] + ": " + hop[4] : "client " + hop[0] + " -> n" + hop[1] + hop[4]) + "</title></line>");
    }
    // messages
    var m0 = bsearch(msgs.length, function (i) { return msgs[i][3] >= a - maxSpan; });
    var m1 = bsearch(msgs.length, function (i) { return msgs[i][3] > b; });
    var vis = [];
    for (var mi = m0; mi < m1; mi++) {
      var m = msgs[mi];
      if (hiddenKinds[m[2]]) continue;
      var end = m[4] >= 0 ? m[4] : m[3];
      if (end < a) continue;
      vis.push(mi);
    }
    var stride = Math.max(1, Math.ceil(vis.length / MAX_ARROWS));
    $("thinned").textContent = stride > 1 ? "zoomed out: 1 of " + stride + " arrows drawn" : "";
    vis.forEach(function (mi, j) {
      var m = msgs[mi];
      var current = m[3] === cursor || m[4] === cursor;
      if (j % stride !== 0 && !current) return;
      var x1 = X[m[3]], y1 = laneY(m[0]), y2 = laneY(m[1]), x2, cls = "msg";
      if (m[4] >= 0) x2 = X[m[4]];
      else { x2 = x1 + Math.min(14, 4 + Math.abs(y2 - y1) * 0.2); y2 = y1 + (y2 - y1) * 0.45; cls += " lost"; }
      if (m[5] !== 0) cls += " dropped";
      if (current) cls += " current";
      var tip = "n" + m[0] + " -> n" + m[1] + ": " + m[6] + " (sent " + fmtT(steps[m[3]].t) + (m[4] >= 0 ? ", arrived " + fmtT(steps[m[4]].t) : m[5] === 0 ? ", in flight at the end" : "") + (m[5] ? ", " + DROP_TEXT[m[5]] : "") + ")";
      out.push('<line class="' + cls + '" data-kind="' + kindName(m[2]) + '" data-msg="' + mi + '" x1="' + x1 + '" y1="' + y1 + '" x2="' + x2 + '" y2="' + y2 + '" stroke="' + color(m[2]) + '"' + (m[5] === 0 && m[4] >= 0 ? ' marker-end="url(#ah' + m[2] + ')"' : "") + "><title>" + esc(tip) + "</title></line>");
      if (m[5] !== 0) out.push('<text class="drop-x" x="' + (x2 - 3) + '" y="' + (y2 + 4) + '" fill="' + color(m[2]) + '">x</text>');
    });
    // events on their node's lane (when there is room)
    if (b - a < 1200) {
      for (var i = a; i <= b; i++) {
        var s = steps[i];
        if (s.n !== undefined && s.n in laneIndex) out.push('<circle class="ev" cx="' + X[i] + '" cy="' + laneY(s.n) + '" r="1.6"/>');
      }
    }
    // the offending votes, the violation, the cursor
    voteMarks.forEach(function (vm) {
      if (vm.step < a || vm.step > b || !(vm.node in laneIndex)) return;
      out.push('<circle class="vote-mark" data-slot="' + vm.slot + '" data-ballot="' + vm.ballot + '" cx="' + X[vm.step] + '" cy="' + laneY(vm.node) + '" r="6"><title>n' + vm.node + " votes for slot " + vm.slot + " in ballot " + vm.ballot + ": " + esc(vm.value) + "</title></circle>");
      out.push('<text class="vote-label" x="' + (X[vm.step] + 7) + '" y="' + (laneY(vm.node) - 6) + '">' + esc(vm.ballot) + "</text>");
    });
    if (V && V.step >= a && V.step <= b) out.push('<line class="violation-line" x1="' + X[V.step] + '" x2="' + X[V.step] + '" y1="' + AXIS_H + '" y2="' + HEIGHT + '"/><text class="violation-label" x="' + (X[V.step] + 3) + '" y="' + (AXIS_H + 12) + '">violation</text>');
    var cx = X[cursor], cs = steps[cursor];
    out.push('<line id="cursor-line" x1="' + cx + '" x2="' + cx + '" y1="0" y2="' + HEIGHT + '"/>');
    if (cs.n !== undefined && cs.n in laneIndex) out.push('<circle id="cursor-dot" cx="' + cx + '" cy="' + laneY(cs.n) + '" r="5"/>');
    out.push("</g>");
    svg.innerHTML = out.join("");
  }

  function renderLabels() {
    var html = ['<div class="lbl axis" style="height:' + AXIS_H + 'px">time</div><div class="lbl fault" style="height:' + FAULT_H + 'px">faults</div>'];
    for (var c = 0; c < D.clients; c++) html.push('<div class="lbl client" style="height:' + CLIENT_H + 'px">client ' + c + "</div>");
    html.push('<div style="height:4px"></div>');
    var s = stateAt(cursor);
    D.lanes.forEach(function (id) {
      var n = s.nodes[id], v = n && n.view;
      var role = !v ? "not started" : !v.up ? "down" : v.member === "removed" ? "removed" : v.role;
      html.push('<div class="lbl node role-' + role.replace(" ", "-") + '" data-node="' + id + '" style="height:' + LANE_H + 'px"><b>n' + id + "</b> " + role + (v && v.up && v.own ? " " + v.own : "") + "</div>");
    });
    $("labels").innerHTML = html.join("");
  }

  // ---------------------------------------------------------- panels ----
  // where the slot columns start and how wide one is, measured after each render
  var slotGeometry = { left: 440, cell: 45 };
  function slotWindow(s) {
    var hi = -1;
    s.chosen.forEach(function (_, slot) { if (slot > hi) hi = slot; });
    Object.keys(s.nodes).forEach(function (id) { s.nodes[id].log.forEach(function (_, slot) { if (slot > hi) hi = slot; }); });
    var width = $("state").clientWidth - slotGeometry.left - 2;
    var count = Math.max(8, Math.min(60, Math.floor(width / slotGeometry.cell)));
    var lo = slotLo === null ? Math.max(0, hi - count + 1) : slotLo;
    return { lo: lo, hi: lo + count - 1 };
  }

  function renderState(again) {
    var s = stateAt(cursor), st = steps[cursor];
    var changed = {};
    (st.lg || []).forEach(function (e) { changed[e[0] + ":" + e[1]] = true; });
    (st.ch || []).forEach(function (e) { changed["c:" + e[0]] = true; });
    var changedNode = {};
    (st.st || []).forEach(function (e) { changedNode[e[0]] = true; });
    var win = slotWindow(s);
    var h = ['<table id="nodes"><thead><tr><th>node</th><th>role</th><th title="the highest ballot it promised">promised</th><th title="the ballot it leads or campaigns with">own</th><th>leader</th><th title="slots chosen and applied">commit</th><th>list</th><th title="the newest membership it knows (L: learner)">members</th>'];
    for (var slot = win.lo; slot <= win.hi; slot++) h.push('<th class="slot-h' + (badSlots[slot] ? " offending" : "") + '">' + slot + "</th>");
    h.push("</tr></thead><tbody>");
    // the checker's row: what a quorum voted for, in one ballot
    h.push('<tr class="oracle"><td colspan="8" title="a value is chosen once a majority of the voters in force voted for it in one ballot (the checker sees every vote)">chosen by a quorum</td>');
    for (slot = win.lo; slot <= win.hi; slot++) {
      var ch = s.chosen.get(slot);
      var cls = "slot" + (ch ? " chosen" : " empty") + (changed["c:" + slot] ? " changed" : "") + (badSlots[slot] ? " offending" : "") + (ch && badBallots[ch[0]] ? " offending-vote" : "");
      h.push('<td class="' + cls + '" data-slot="' + slot + '" data-node="chosen"' + (ch ? ' title="slot ' + slot + ": " + esc(ch[1]) + " chosen in ballot " + ch[0] + " (step " + ch[2] + ')"' : "") + ">" + (ch ? '<span class="v">' + esc(shortValue(ch[1])) + '</span><span class="b">' + ch[0] + "</span>" : "") + "</td>");
    }
    h.push("</tr>");
    D.lanes.forEach(function (id) {
      var n = s.nodes[id], v = n && n.view;
      var role = !v ? "-" : !v.up ? "down" : v.member === "removed" ? "removed" : v.role;
      h.push('<tr class="node-row role-' + role + (changedNode[id] ? " changed" : "") + (badNodes[id] ? " offending" : "") + '" data-node="' + id + '"><td><b>n' + id + "</b></td>");
      if (!v) h.push('<td colspan="7" class="muted">not started</td>');
      else h.push('<td class="role">' + role + (v.member !== "voter" && v.member !== "removed" ? " (" + v.member + ")" : "") + "</td><td>" + v.promised + "</td><td>" + (v.own || "") + "</td><td>" + (v.leader === null ? "" : "n" + v.leader) + "</td><td>" + v.commit + "</td><td>" + v.list + '</td><td class="members">' + esc(v.members) + "</td>");
      for (var sl = win.lo; sl <= win.hi; sl++) {
        var e = n ? n.log.get(sl) : undefined;
        var inSnap = n && sl < n.snap;
        var c2 = "slot" + (e ? (e[2] ? " chosen" : " voted") : inSnap ? " snap" : " empty") + (changed[id + ":" + sl] ? " changed" : "") + (badSlots[sl] ? " offending" : "");
        if (e && badBallots[e[0]] && badSlots[sl]) c2 += " offending-vote";
        if (e && badPayloads[payloadOf(e[1])]) c2 += " offending";
        var tip = e ? "n" + id + " slot " + sl + ": " + e[1] + (e[0] ? ", voted in ballot " + e[0] : "") + (e[2] ? ", chosen (applied)" : ", accepted, not known chosen") : inSnap ? "in n" + id + "'s snapshot (below " + n.snap + ")" : "";
        h.push('<td class="' + c2 + '" data-slot="' + sl + '" data-node="' + id + '"' + (tip ? ' title="' + esc(tip) + '"' : "") + ">" + (e ? '<span class="v">' + esc(shortValue(e[1])) + '</span><span class="b">' + (e[0] || "&nbsp;") + "</span>" : "") + "</td>");
      }
      h.push("</tr>");
    });
    h.push("</tbody></table>");
    $("state").innerHTML = h.join("");
    $("slot-range").textContent = "slots " + win.lo + "-" + win.hi + (slotLo === null ? " (following the newest)" : "");
    var first = $("state").querySelector("th.slot-h");
    if (first && (first.offsetLeft !== slotGeometry.left || first.offsetWidth !== slotGeometry.cell)) {
      slotGeometry = { left: first.offsetLeft, cell: Math.max(20, first.offsetWidth) };
      if (!again && slotWindow(s).hi !== win.hi) renderState(true); // once more, with as many columns as fit
    }
  }

  function stepTitle(i) { var s = steps[i]; return s.l ? s.l[0] : s.ti || s.e; }

  function renderStep() {
    var s = steps[cursor];
    var h = ['<div class="step-head"><b>step ' + cursor + "</b> of " + (N - 1) + " &middot; t = " + fmtT(s.t) + " &middot; " + esc(s.e) + (s.n !== undefined ? " at n" + s.n : "") + "</div>"];
    h.push('<div class="step-title">' + esc(stepTitle(cursor)) + "</div>");
    if (s.l && s.l.length > 1) h.push('<pre class="lines">' + s.l.slice(1).map(esc).join("\n") + "</pre>");
    if (s.d !== undefined) {
      var m = msgs[s.d];
      h.push('<div class="msgline"><span class="sw" style="background:' + color(m[2]) + '"></span>n' + m[0] + " -> n" + m[1] + " " + esc(m[6]) + ' <span class="muted">sent at step ' + m[3] + " (" + fmtT(steps[m[3]].t) + ")" + (m[5] ? ", " + DROP_TEXT[m[5]] : "") + "</span></div>");
    }
    var sent = sentAt[cursor] || [];
    sent.forEach(function (mi) {
      var m = msgs[mi];
      h.push('<div class="msgline"><span class="sw" style="background:' + color(m[2]) + '"></span>sends n' + m[0] + " -> n" + m[1] + " " + esc(m[6]) + (m[5] ? ' <span class="drop">' + DROP_TEXT[m[5]] + "</span>" : m[4] < 0 ? ' <span class="muted">(still in flight at the end)</span>' : ' <span class="muted">arrives at step ' + m[4] + "</span>") + "</div>");
    });
    $("step").innerHTML = h.join("");
    // the story around the cursor
    var ctx = [];
    for (var i = Math.max(0, cursor - 14); i <= Math.min(N - 1, cursor + 5); i++) {
      ctx.push('<div class="ctx' + (i === cursor ? " here" : "") + (V && i === V.step ? " bad" : "") + '" data-step="' + i + '"><span class="t">' + (steps[i].t / 1000).toFixed(3) + "</span> " + esc(stepTitle(i)) + "</div>");
    }
    $("context").innerHTML = ctx.join("");
  }

  function renderLegend() {
    var h = D.kinds.map(function (k, i) {
      var n = kindSteps[i].length;
      var tip = (i < 10 ? "key " + ((i + 1) % 10) + ": " : "") + "select for m / M (" + n + " steps); shift-click: hide or show";
      return '<span class="kind' + (i === selectedKind ? " selected" : "") + (hiddenKinds[i] ? " hidden" : "") + (n === 0 ? " absent" : "") + '" data-kind="' + i + '" title="' + tip + '"><span class="sw" style="background:' + color(i) + '"></span>' + k + "</span>";
    });
    $("legend").innerHTML = h.join("");
  }

  function renderAll() {
    document.body.setAttribute("data-step", String(cursor));
    renderTimeline();
    renderLabels();
    renderState();
    renderStep();
  }

  // ---------------------------------------------------------- moving ----
  function ensureVisible() {
    var x = X[cursor], left = scroller.scrollLeft, w = scroller.clientWidth;
    if (x < left + w * 0.1 || x > left + w * 0.9) scroller.scrollLeft = x - w / 2;
  }
  function go(k) {
    cursor = Math.max(0, Math.min(N - 1, k));
    ensureVisible();
    renderAll();
  }
  function nextIn(list, dir) {
    if (dir > 0) { var i = bsearch(list.length, function (j) { return list[j] > cursor; }); if (i < list.length) go(list[i]); }
    else { var i2 = bsearch(list.length, function (j) { return list[j] >= cursor; }) - 1; if (i2 >= 0) go(list[i2]); }
  }
  function setZoom(zi) {
    var screen = X[cursor] - scroller.scrollLeft;
    zoomIndex = Math.max(0, Math.min(ZOOMS.length - 1, zi));
    layout();
    scroller.scrollLeft = X[cursor] - screen;
    renderAll();
  }
  function togglePlay() {
    if (playing !== null) { clearInterval(playing); playing = null; $("play").textContent = "play (space)"; return; }
    playing = setInterval(function () { if (cursor >= N - 1) togglePlay(); else go(cursor + 1); }, 120);
    $("play").textContent = "pause (space)";
  }

  document.addEventListener("keydown", function (ev) {
    if (ev.ctrlKey || ev.metaKey || ev.altKey) return;
    var k = ev.key, handled = true;
    if (k === "ArrowRight" || k === "ArrowDown" || k === "j" || k === "l") go(cursor + (ev.shiftKey ? 10 : 1));
    else if (k === "ArrowLeft" || k === "ArrowUp" || k === "k" || k === "h") go(cursor - (ev.shiftKey ? 10 : 1));
    else if (k === "PageDown") go(cursor + 100);
    else if (k === "PageUp") go(cursor - 100);
    else if (k === "Home") go(0);
    else if (k === "End") go(N - 1);
    else if (k === "m") nextIn(kindSteps[selectedKind], 1);
    else if (k === "M") nextIn(kindSteps[selectedKind], -1);
    else if (k === "r") nextIn(roleSteps, 1);
    else if (k === "R") nextIn(roleSteps, -1);
    else if (k === "f") nextIn(faultSteps, 1);
    else if (k === "F") nextIn(faultSteps, -1);
    else if (k === "o") nextIn(clientSteps, 1);
    else if (k === "O") nextIn(clientSteps, -1);
    else if (k === "v") { if (V) go(V.step); }
    else if (k === "+" || k === "=") setZoom(zoomIndex + 1);
    else if (k === "-" || k === "_") setZoom(zoomIndex - 1);
    else if (k === "z") setZoom(8);
    else if (/^[0-9]$/.test(k)) { var ki = (Number(k) + 9) % 10; if (ki < D.kinds.length) { selectedKind = ki; renderLegend(); } }
    else if (k === "t" || k === "T") { selectedKind = (selectedKind + (k === "t" ? 1 : D.kinds.length - 1)) % D.kinds.length; renderLegend(); }
    else if (k === "[" || k === "]") {
      var win = slotWindow(stateAt(cursor)), half = Math.max(1, Math.floor((win.hi - win.lo + 1) / 2));
      slotLo = Math.max(0, win.lo + (k === "]" ? half : -half));
      renderState();
    }
    else if (k === "\\") { slotLo = null; renderState(); }
    else if (k === " ") togglePlay();
    else if (k === "?") $("help").hidden = !$("help").hidden;
    else if (k === "Escape") $("help").hidden = true;
    else handled = false;
    if (handled) ev.preventDefault();
  });

  scroller.addEventListener("scroll", queueRender);
  window.addEventListener("resize", function () { renderAll(); });
  scroller.addEventListener("click", function (ev) {
    var t = ev.target, mi = t && t.getAttribute ? t.getAttribute("data-msg") : null;
    if (mi !== null) { go(msgs[Number(mi)][3]); return; }
    var r = scroller.getBoundingClientRect(), x = ev.clientX - r.left + scroller.scrollLeft;
    var i = stepAtX(x);
    if (i + 1 < N && Math.abs(X[i + 1] - x) < Math.abs(X[i] - x)) i++;
    go(i);
  });
  $("legend").addEventListener("click", function (ev) {
    var el = ev.target.closest("[data-kind]");
    if (!el) return;
    var i = Number(el.getAttribute("data-kind"));
    if (ev.shiftKey) { hiddenKinds[i] = !hiddenKinds[i]; renderTimeline(); }
    else selectedKind = i;
    renderLegend();
  });
  $("context").addEventListener("click", function (ev) {
    var el = ev.target.closest("[data-step]");
    if (el) go(Number(el.getAttribute("data-step")));
  });
  $("violation").addEventListener("click", function (ev) {
    var el = ev.target.closest("[data-step]");
    if (!el) return;
    ev.preventDefault();
    go(Number(el.getAttribute("data-step")));
  });
  $("play").addEventListener("click", togglePlay);
  $("help-button").addEventListener("click", function () { $("help").hidden = !$("help").hidden; });
  $("slot-prev").addEventListener("click", function () { document.dispatchEvent(new KeyboardEvent("keydown", { key: "[" })); });
  $("slot-next").addEventListener("click", function () { document.dispatchEvent(new KeyboardEvent("keydown", { key: "]" })); });
  $("slot-follow").addEventListener("click", function () { slotLo = null; renderState(); });

  // the violation: what it says, and every vote for the offending slots
  if (V) {
    var h = ['<div class="vhead">First violated invariant, at step ' + V.step + ' (<a href="#" data-step="' + V.step + '">go there</a>, key v):</div><div class="vmsg">' + esc(V.message) + "</div>"];
    V.slots.forEach(function (slot) {
      var q = V.quorum.filter(function (x) { return x.slot === slot; })[0];
      var voters = q ? q.voters : [];
      h.push('<div class="vcap">Votes for slot ' + slot + (voters.length ? " (voters in force: " + voters.map(function (v) { return "n" + v; }).join(", ") + "; a majority is " + (Math.floor(voters.length / 2) + 1) + ")" : "") + ':</div><table class="votes"><tr><th>ballot</th><th>value</th><th>votes (click: the step the vote left)</th></tr>');
      V.votes.filter(function (v) { return v.slot === slot; }).forEach(function (v) {
        h.push('<tr class="' + (badBallots[v.ballot] ? "offending-vote" : "") + '"><td>' + v.ballot + "</td><td>" + esc(v.value) + "</td><td>" + v.voters.map(function (x) { return '<a href="#" data-step="' + x[1] + '">n' + x[0] + "</a>"; }).join(" ") + "</td></tr>");
      });
      h.push("</table>");
    });
    $("violation").innerHTML = h.join("");
    $("violation").hidden = false;
  }

  layout();
  renderLegend();
  go(cursor);
  scroller.scrollLeft = Math.max(0, X[cursor] - scroller.clientWidth / 2);
  renderTimeline();
  document.body.setAttribute("data-ready-ms", String(Math.round(performance.now())));
})();
`;
