// What the three views share: DOM helpers, the node's REST (same origin) and streams (Push's port),
// Binance errors, number formatting and HiDPI canvases. No third-party code.

export const $ = (id) => document.getElementById(id);

export function meta(name) {
  const m = document.querySelector(`meta[name="${name}"]`);
  return m ? m.content : "";
}

/** The Push stage's WebSocket base URL: same host as the page, the node's ws_port. */
export function wsBase() {
  const scheme = location.protocol === "https:" ? "wss" : "ws";
  return `${scheme}://${location.hostname.includes(":") ? `[${location.hostname}]` : location.hostname}:${meta("spot-seda-ws-port")}`;
}

/** A node refusal: Binance's {"code", "msg"} with the HTTP status. `text` is what the page shows. */
export class ApiError extends Error {
  constructor(status, code, msg) {
    super(msg);
    this.status = status;
    this.code = code;
  }
  get text() {
    return this.code !== undefined ? `${this.message} (code ${this.code})` : this.message;
  }
}

/** fetch + JSON; a refusal (4xx/5xx) throws ApiError with the node's own code and message. */
export async function api(path, { method = "GET", headers = {}, body } = {}) {
  let resp;
  try {
    resp = await fetch(path, { method, headers, body, cache: "no-store" });
  } catch (e) {
    throw new ApiError(0, undefined, `the node did not answer (${e.message})`);
  }
  const text = await resp.text();
  let data = null;
  try { data = text ? JSON.parse(text) : null; } catch { data = null; }
  if (!resp.ok) {
    if (data && typeof data.code === "number") throw new ApiError(resp.status, data.code, data.msg);
    throw new ApiError(resp.status, undefined, `HTTP ${resp.status}: ${text.slice(0, 200)}`);
  }
  return data;
}

/** Trailing zeros off a decimal string ("0.50000000" -> "0.5"), keeping at least `min` decimals. */
export function trim(text, min = 0) {
  if (text == null) return "–";
  let s = String(text);
  if (!s.includes(".")) return min ? `${s}.${"0".repeat(min)}` : s;
  s = s.replace(/0+$/, "");
  const decimals = s.length - s.indexOf(".") - 1;
  if (decimals < min) s += "0".repeat(min - decimals);
  return s.endsWith(".") ? s.slice(0, -1) : s;
}

/** Decimals of a tick or step ("0.01" -> 2, "1" -> 0). */
export function decimalsOf(step) {
  const s = trim(step);
  return s.includes(".") ? s.length - s.indexOf(".") - 1 : 0;
}

/** A decimal string cut to `decimals` places (display only; the node's own text is exact). */
export function fixed(text, decimals) {
  if (text == null || text === "") return "–";
  const [w, f = ""] = String(text).split(".");
  return decimals > 0 ? `${w}.${(f + "0".repeat(decimals)).slice(0, decimals)}` : w;
}

const compactFmt = new Intl.NumberFormat("en", { notation: "compact", maximumFractionDigits: 1 });
export function compact(n) {
  if (n == null || Number.isNaN(n)) return "–";
  return Math.abs(n) < 1000 ? (Number.isInteger(n) ? String(n) : n.toFixed(1)) : compactFmt.format(n);
}

export function clock(ms) {
  const d = new Date(ms);
  return d.toLocaleTimeString("en-GB", { hour12: false });
}

export function dateTime(ms) {
  const d = new Date(ms);
  return `${d.toISOString().slice(0, 10)} ${clock(ms)}`;
}

/** Set a table body to exactly `n` rows of `cols` cells (created once: rows never come and go,
 *  so the layout does not move as data streams in). Returns the rows. */
export function fixedRows(tbody, n, cols, cls = "") {
  if (tbody.rows.length !== n) {
    tbody.textContent = "";
    for (let i = 0; i < n; i++) {
      const tr = tbody.insertRow();
      if (cls) tr.className = cls;
      for (let c = 0; c < cols; c++) tr.insertCell().textContent = "\u00a0";
    }
  }
  return tbody.rows;
}

export function setCells(tr, values) {
  for (let i = 0; i < values.length; i++) {
    const v = values[i] ?? "\u00a0";
    if (tr.cells[i].textContent !== v) tr.cells[i].textContent = v;
  }
}

/** Size a canvas's backing store to its CSS box times devicePixelRatio; returns the 2D context
 *  scaled to CSS pixels, and the width and height in CSS pixels. */
export function canvas2d(canvas) {
  const ratio = window.devicePixelRatio || 1;
  const w = canvas.clientWidth, h = canvas.clientHeight;
  if (canvas.width !== Math.round(w * ratio) || canvas.height !== Math.round(h * ratio)) {
    canvas.width = Math.round(w * ratio);
    canvas.height = Math.round(h * ratio);
  }
  const ctx = canvas.getContext("2d");
  ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
  ctx.clearRect(0, 0, w, h);
  return { ctx, w, h };
}

/** What the canvases draw with: app.css's colours (--bg, --text, --muted, ...), each text colour at
 *  least 4.5:1 on the panel it is drawn on (tests/page/test_page_quality.py measures it). */
export const COLORS = {
  bg: "#0e1217", text: "#e6edf3", muted: "#a3adb8", line: "#2d333b", buy: "#3fb950", sell: "#ff7b72", accent: "#79c0ff",
};

/** A small area chart of `values` (nulls leave gaps) on a canvas, scaled from 0 to the max; the
 *  last value at the right edge, `capacity` values across (so a young series grows from the right). */
export function sparkline(canvas, values, color = COLORS.accent, capacity = values.length) {
  const { ctx, w, h } = canvas2d(canvas);
  let max = 0;
  for (const v of values) if (v != null && v > max) max = v;
  ctx.fillStyle = COLORS.line;
  ctx.fillRect(0, h - 1, w, 1);
  const n = values.length;
  if (!n) return;
  const step = w / Math.max(capacity - 1, n - 1, 1);
  const x0 = w - (n - 1) * step;
  const y = (v) => h - 2 - (max > 0 ? (v / max) * (h - 4) : 0);
  const line = new Path2D(), area = new Path2D();
  let runStart = -1, lastX = 0;
  const endRun = () => {
    if (runStart < 0) return;
    area.lineTo(lastX, h); area.lineTo(runStart, h); area.closePath();
    runStart = -1;
  };
  values.forEach((v, i) => {
    const x = x0 + i * step;
    if (v == null) { endRun(); return; }
    if (runStart < 0) { line.moveTo(x, y(v)); area.moveTo(x, y(v)); runStart = x; }
    else { line.lineTo(x, y(v)); area.lineTo(x, y(v)); }
    lastX = x;
  });
  endRun();
  ctx.fillStyle = color + "33";
  ctx.fill(area);
  ctx.strokeStyle = color;
  ctx.lineWidth = 1.5;
  ctx.stroke(line);
}

/** One WebSocket to Push's combined stream endpoint, reconnecting with back-off; `onopen` runs on
 *  every (re)connection (the views resync there), `onmessage` gets {stream, data}. */
export class Stream {
  constructor(path, { onopen, onmessage, onstate }) {
    this.path = path;
    this.onopen = onopen;
    this.onmessage = onmessage;
    this.onstate = onstate || (() => {});
    this.ws = null;
    this.closed = false;
    this.backoff = 250;
    this.connect();
  }
  connect() {
    if (this.closed) return;
    this.onstate("connecting");
    const ws = new WebSocket(wsBase() + this.path);
    this.ws = ws;
    ws.onopen = () => {
      this.backoff = 250;
      this.onstate("open");
      this.onopen && this.onopen();
    };
    ws.onmessage = (ev) => {
      let msg;
      try { msg = JSON.parse(ev.data); } catch { return; }
      this.onmessage(msg);
    };
    ws.onclose = () => {
      if (this.ws !== ws) return;
      this.onstate("closed");
      if (!this.closed) {
        setTimeout(() => this.connect(), this.backoff);
        this.backoff = Math.min(this.backoff * 2, 5000);
      }
    };
    ws.onerror = () => {}; // onclose follows; the state line says it
  }
  close() {
    this.closed = true;
    if (this.ws) { const ws = this.ws; this.ws = null; ws.close(); }
  }
}

/** The connection line in the header: the worst state of the page's streams. */
const states = new Map();
export function reportState(name, state) {
  if (state === null) states.delete(name); else states.set(name, state);
  const el = $("conn"), text = $("conn-text");
  const all = [...states.values()];
  const down = all.filter((s) => s !== "open").length;
  el.classList.toggle("ok", all.length > 0 && down === 0);
  el.classList.toggle("down", down > 0 && all.some((s) => s === "closed"));
  const t = !all.length ? "idle" : down === 0 ? "live" : all.includes("closed") ? "reconnecting…" : "connecting…";
  if (text.textContent !== t) text.textContent = t;
}
