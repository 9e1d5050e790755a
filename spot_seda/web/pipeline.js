// The pipeline view: the SEDA graph (topology.py) as SVG, and per stage instance small live charts
// of the last minutes, from GET /page/v1/pipeline (the shared metrics table, sampled each second).

import { $, api, compact, sparkline, COLORS, reportState } from "./common.js";

const SVG = "http://www.w3.org/2000/svg";
const TOPIC_COLORS = {
  OrderChangeLog: "#79c0ff", TradeChangeLog: "#e3b341", KLineChangeLog: "#d2a8ff", BalanceChangeLog: "#56d4dd",
};
const METRICS = [
  // [field, label, color, unit]
  ["in_per_s", "In / s", COLORS.accent, ""],
  ["out_per_s", "Out / s", "#56d4dd", ""],
  ["depth", "Queue depth", "#e3b341", ""],
  ["batch", "Batch size", "#d2a8ff", ""],
  ["busy_pct", "Busy", COLORS.buy, "%"],
  ["cpu_pct", "CPU", "#ffa657", "%"],
];

let doc = null;          // the last document (graph, rows, fields)
let points = [];         // [{t, v}] within the window
let timer = null;
let active = false;
let built = "";          // the layout the DOM was built for (rows + graph)
const cards = new Map(); // row name -> {el, values: {field: span}, canvases: {field: canvas}, ...}

function el(tag, attrs = {}, parent = null, ns = null) {
  const e = ns ? document.createElementNS(ns, tag) : document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === "text") e.textContent = v; else e.setAttribute(k, v);
  }
  if (parent) parent.appendChild(e);
  return e;
}

const short = (topic) => topic.replace("ChangeLog", "");

// ------------------------------------------------------------------------------------ the graph

function layout(graph) {
  const names = graph.stages.map((s) => s.name);
  const index = Object.fromEntries(names.map((n, i) => [n, i]));
  const layer = Object.fromEntries(names.map((n) => [n, 0]));
  // longest path over the forward edges (flow order); edges back up the flow are feedback
  for (const name of names) {
    for (const e of graph.edges) {
      if (e.to === name && index[e.from] < index[e.to]) layer[name] = Math.max(layer[name], layer[e.from] + 1);
    }
  }
  const nodes = graph.stages.map((s) => ({ id: s.name, label: s.name, stage: s, layer: layer[s.name] + 1 }));
  // the outside world: clients in at the HTTP stage, clients out at the WebSocket one, stages that
  // produce nothing on the Bus and serve nothing (Persist) write the history
  const ext = [];
  for (const n of nodes) {
    const s = n.stage;
    if (s.serves === "HTTP") ext.push({ id: "ext-http", label: "HTTP clients", ext: true, layer: 0, to: n.id });
    else if (s.serves === "WebSocket") ext.push({ id: `ext-ws-${n.id}`, label: "WebSocket clients", ext: true, layer: n.layer + 1, from: n.id });
    else if (!s.produces.length) ext.push({ id: `ext-db-${n.id}`, label: "SQLite history", ext: true, layer: n.layer + 1, from: n.id });
  }
  const all = [...nodes, ...ext];
  const layers = Math.max(...all.map((n) => n.layer)) + 1;
  const W = 150, H = 50, GX = 70, GY = 26;
  const columns = Array.from({ length: layers }, () => []);
  // sinks sit in line with the stage they come from
  for (const n of all) if (!n.from) columns[n.layer].push(n);
  for (const n of all) if (n.from) {
    const col = columns[n.layer];
    const src = columns[all.find((m) => m.id === n.from).layer];
    n.row = src.findIndex((m) => m.id === n.from);
    col.push(n);
  }
  const tallest = Math.max(...columns.map((c) => c.length));
  const height = tallest * H + (tallest - 1) * GY + 70;
  const width = layers * W + (layers - 1) * GX + 20;
  columns.forEach((col, c) => {
    const rowsHere = Math.max(col.length, ...col.map((n) => (n.row ?? 0) + 1));
    const top = (height - 30 - (rowsHere * H + (rowsHere - 1) * GY)) / 2;
    col.forEach((n, i) => {
      const r = n.row ?? i;
      n.x = 10 + c * (W + GX);
      n.y = top + r * (H + GY);
      n.w = W; n.h = H;
    });
  });
  return { nodes, ext, all, width, height, index };
}

function drawGraph(graph) {
  const svg = $("graph");
  svg.textContent = "";
  el("desc", { id: "graph-desc", text: "Stages and the topics between them" }, svg, SVG);
  const g = layout(graph);
  svg.setAttribute("viewBox", `0 0 ${g.width} ${g.height}`);
  const defs = el("defs", {}, svg, SVG);
  for (const [topic, color] of Object.entries(TOPIC_COLORS)) {
    const m = el("marker", { id: `arrow-${short(topic)}`, viewBox: "0 0 8 8", refX: "7", refY: "4", markerWidth: "7",
      markerHeight: "7", orient: "auto-start-reverse" }, defs, SVG);
    el("path", { d: "M0,0 L8,4 L0,8 z", fill: color }, m, SVG);
  }
  const outside = el("marker", { id: "arrow-ext", viewBox: "0 0 8 8", refX: "7", refY: "4", markerWidth: "7",
    markerHeight: "7", orient: "auto-start-reverse" }, defs, SVG);
  el("path", { d: "M0,0 L8,4 L0,8 z", fill: "#768390" }, outside, SVG);
  const byId = Object.fromEntries(g.all.map((n) => [n.id, n]));
  // one line per (producer, consumer, topic), side by side when a pair shares several topics
  const pairs = new Map();
  for (const e of graph.edges) {
    const key = `${e.from}>${e.to}`;
    if (!pairs.has(key)) pairs.set(key, []);
    pairs.get(key).push(e.topic);
  }
  const edges = el("g", {}, svg, SVG);
  const list = $("edges");
  list.textContent = "";
  for (const [key, topics] of pairs) {
    const [from, to] = key.split(">");
    const a = byId[from], b = byId[to];
    const back = g.index[from] > g.index[to];
    topics.forEach((topic, k) => {
      const off = (k - (topics.length - 1) / 2) * 4;
      let d;
      if (!back) {
        const x1 = a.x + a.w, y1 = a.y + a.h / 2 + off, x2 = b.x - 2, y2 = b.y + b.h / 2 + off;
        const mx = (x1 + x2) / 2;
        d = `M${x1},${y1} C${mx},${y1} ${mx},${y2} ${x2},${y2}`;
      } else { // feedback: under the boxes, right to left
        const x1 = a.x + a.w / 2 + off, y1 = a.y + a.h, x2 = b.x + b.w / 2 + off, y2 = b.y + b.h + 2;
        const low = Math.max(y1, y2) + 22 + k * 3;
        d = `M${x1},${y1} C${x1},${low} ${x2},${low} ${x2},${y2}`;
      }
      const color = TOPIC_COLORS[topic] || "#768390";
      const p = el("path", { d, class: back ? "edge back" : "edge", "marker-end": `url(#arrow-${short(topic)})` }, edges, SVG);
      p.style.stroke = color; // (CSSOM: allowed by the page's CSP, unlike a style attribute)
      el("title", { text: `${from} → ${to}: ${topic}${back ? " (feedback)" : ""}` }, p, SVG);
      el("li", { text: `${from} feeds ${to} with ${topic}${back ? " (feedback)" : ""}` }, list);
    });
  }
  for (const n of g.ext) {
    const a = n.to ? n : byId[n.from], b = n.to ? byId[n.to] : n;
    const y = a.y + a.h / 2;
    el("path", { d: `M${a.x + a.w},${y} L${b.x - 2},${b.y + b.h / 2}`, class: "edge", "marker-end": "url(#arrow-ext)" }, edges, SVG);
  }
  for (const n of g.all) {
    const grp = el("g", { class: n.ext ? "node ext" : "node", id: `gnode-${n.id}` }, svg, SVG);
    el("rect", { x: n.x, y: n.y, width: n.w, height: n.h, rx: 7 }, grp, SVG);
    el("text", { x: n.x + 10, y: n.y + (n.ext ? 29 : 20), text: n.label }, grp, SVG);
    if (!n.ext) {
      const count = n.stage.instances.length;
      if (count > 1) el("text", { x: n.x + n.w - 10, y: n.y + 20, "text-anchor": "end", class: "rate", text: `×${count}` }, grp, SVG);
      el("text", { x: n.x + 10, y: n.y + 38, class: "rate", id: `grate-${n.id}`, text: "– in/s · – out/s" }, grp, SVG);
    }
  }
  // legend
  const legend = el("g", {}, svg, SVG);
  let lx = 10;
  for (const [topic, color] of Object.entries(TOPIC_COLORS)) {
    if (!graph.edges.some((e) => e.topic === topic)) continue;
    el("rect", { x: lx, y: g.height - 16, width: 14, height: 4, fill: color }, legend, SVG);
    el("text", { x: lx + 20, y: g.height - 11, class: "label", text: topic }, legend, SVG);
    lx += 30 + topic.length * 6.5;
  }
  el("text", { x: lx + 10, y: g.height - 11, class: "label", text: "dashed: feedback to Acquiring" }, legend, SVG);
}

// ------------------------------------------------------------------------------------ the cards

function buildCards() {
  const box = $("stages");
  box.textContent = "";
  cards.clear();
  const kafka = doc.transport === "kafka";
  for (const row of doc.rows) {
    const card = el("section", { class: "panel stage", "aria-labelledby": `card-${row}` }, box);
    const h = el("h3", { id: `card-${row}` }, card);
    el("span", { text: row }, h);
    const meta = el("span", { class: "meta" }, h);
    const state = el("p", { class: "state muted" }, card);
    const dl = el("dl", { class: "metrics" }, card);
    const values = {}, canvases = {};
    for (const [field, label, , unit] of METRICS) {
      const m = el("div", { class: "metric" }, dl);
      const dt = el("dt", {}, m);
      const name = field === "depth" && kafka ? "Kafka lag" : label;
      el("span", { text: name }, dt);
      values[field] = el("span", { text: "–" }, dt);
      const dd = el("dd", {}, m);
      canvases[field] = el("canvas", { class: "spark", role: "img", "aria-label": `${row} ${name}${unit ? ` (${unit})` : ""}, last minutes` }, dd);
    }
    cards.set(row, { card, meta, state, values, canvases });
  }
}

function render() {
  const key = JSON.stringify([doc.rows, doc.graph]);
  if (key !== built) {
    drawGraph(doc.graph);
    buildCards();
    built = key;
    $("pipe-note").textContent = `${doc.graph.topology} topology · ${doc.transport} transport · last ${Math.round(doc.window_s / 60)} min, every ${doc.interval_ms / 1000} s`;
  }
  const fields = doc.fields;
  const capacity = Math.round((doc.window_s * 1000) / doc.interval_ms);
  const fi = Object.fromEntries(fields.map((f, i) => [f, i]));
  const last = points.length ? points[points.length - 1].v : null;
  const perStage = {};
  doc.rows.forEach((row, r) => {
    const c = cards.get(row);
    const latest = doc.latest[r];
    const v = last ? last[r] : null;
    if (latest) {
      c.meta.textContent = `pid ${latest.pid || "–"} · core ${latest.core >= 0 ? latest.core : "–"}`;
    }
    const up = v ? v[fi.up] === 1 : latest && latest.pid > 0;
    const restarts = latest ? latest.restarts : 0;
    const totals = latest ? ` · ${compact(latest.events_in)} in, ${compact(latest.events_out)} out in all` : "";
    const stateText = `${up ? "running" : "down"} · ${restarts} restart${restarts === 1 ? "" : "s"}${totals}`;
    if (c.state.textContent !== stateText) c.state.textContent = stateText;
    c.card.classList.toggle("down", !up);
    for (const [field, , color, unit] of METRICS) {
      const series = points.map((p) => p.v[r] ? p.v[r][fi[field]] : null);
      const cur = v ? v[fi[field]] : null;
      const text = cur == null ? "–" : `${compact(cur)}${unit}`;
      if (c.values[field].textContent !== text) c.values[field].textContent = text;
      sparkline(c.canvases[field], series, color, capacity);
    }
    const stage = row.replace(/-\d+$/, "");
    const s = perStage[stage] || (perStage[stage] = { in: 0, out: 0, up: true });
    if (v) { s.in += v[fi.in_per_s] || 0; s.out += v[fi.out_per_s] || 0; }
    s.up = s.up && up;
  });
  for (const [stage, s] of Object.entries(perStage)) {
    const t = document.getElementById(`grate-${stage}`);
    if (t) t.textContent = `${compact(s.in)} in/s · ${compact(s.out)} out/s`;
    const n = document.getElementById(`gnode-${stage}`);
    if (n) n.classList.toggle("down", !s.up);
  }
}

async function poll() {
  timer = null;
  if (!active) return;
  const since = points.length ? points[points.length - 1].t : 0;
  try {
    const d = await api(`/page/v1/pipeline?since=${since}`);
    if (doc && JSON.stringify(doc.rows) !== JSON.stringify(d.rows)) points = [];
    doc = d;
    points.push(...d.points);
    const horizon = d.now - d.window_s * 1000;
    while (points.length && points[0].t < horizon) points.shift();
    render();
    reportState("pipeline", "open");
  } catch (e) {
    reportState("pipeline", "closed");
  }
  if (active) timer = setTimeout(poll, 1000);
}

export function showPipeline(on) {
  active = on;
  if (on && !timer) poll();
  if (!on) {
    if (timer) clearTimeout(timer);
    timer = null;
    reportState("pipeline", null);
  }
}
