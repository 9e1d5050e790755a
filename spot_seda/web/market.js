// The market view: candles with volume (REST klines, then the kline stream), the order book kept in
// sync as Binance documents for its diff depth stream, recent trades and the 24h ticker.
//
// One combined stream per (symbol, interval) on Push's port; every (re)connection resyncs all four
// from REST, buffering what the stream says meanwhile:
//   depth   buffer diffs; GET /api/v3/depth; drop diffs with u <= lastUpdateId; the first kept one
//           must have U <= lastUpdateId + 1, each next one U == previous u + 1, else fetch again
//   klines  GET /api/v3/klines, then each kline event replaces (same open time) or appends a candle
//   trades  GET /api/v3/trades, then trade events with a higher id
//   ticker  GET /api/v3/ticker/24hr, then 24hrTicker events

import { $, api, canvas2d, clock, COLORS, compact, decimalsOf, fixed, fixedRows, reportState, setCells, Stream, trim } from "./common.js";

const LEVELS = 10;       // book rows per side
const TRADE_ROWS = 21;   // recent trades shown
const CANDLES = 500;     // candles kept (REST loads this many)

let symbol = null, info = null, interval = "1m";
let stream = null, generation = 0, visible = false;
let priceDecimals = 2, qtyDecimals = 5;

const book = { bids: new Map(), asks: new Map(), lastUpdateId: -1, synced: false, buffer: [], fetching: 0 };
let candles = [];        // [{t, o, h, l, c, v}] by open time (numbers for drawing, text for the caption)
let trades = [];         // newest first: {id, price, qty, time, maker}
let lastTradeId = -1;

// ------------------------------------------------------------------------------------ stream

function streamNames() {
  const s = symbol.toLowerCase();
  return [`${s}@depth@100ms`, `${s}@trade`, `${s}@kline_${interval}`, `${s}@ticker`];
}

function connect() {
  if (stream) stream.close();
  const gen = ++generation;
  book.synced = false; book.buffer = []; book.lastUpdateId = -1;
  candles = []; trades = []; lastTradeId = -1;
  renderAll();
  stream = new Stream(`/stream?streams=${streamNames().join("/")}`, {
    onstate: (s) => reportState("market", s),
    onopen: () => resync(gen),
    onmessage: (msg) => { if (gen === generation && msg.data) dispatch(msg.stream, msg.data); },
  });
}

function dispatch(name, d) {
  if (d.e === "depthUpdate") onDepth(d);
  else if (d.e === "trade") onTrade({ id: d.t, price: d.p, qty: d.q, time: d.T, maker: d.m });
  else if (d.e === "kline") onKline(d.k);
  else if (d.e === "24hrTicker") showTicker({ last: d.c, change: d.p, pct: d.P, high: d.h, low: d.l, vol: d.v, qvol: d.q, count: d.n });
}

async function resync(gen) {
  book.synced = false;
  book.buffer = [];
  const s = symbol, i = interval;
  const [ticker, klines, recent] = await Promise.all([
    api(`/api/v3/ticker/24hr?symbol=${s}`).catch(() => null),
    api(`/api/v3/klines?symbol=${s}&interval=${i}&limit=${CANDLES}`).catch(() => []),
    api(`/api/v3/trades?symbol=${s}&limit=${TRADE_ROWS}`).catch(() => []),
    fetchDepth(gen),
  ]);
  if (gen !== generation) return;
  if (ticker) showTicker({ last: ticker.lastPrice, change: ticker.priceChange, pct: ticker.priceChangePercent,
    high: ticker.highPrice, low: ticker.lowPrice, vol: ticker.volume, qvol: ticker.quoteVolume, count: ticker.count });
  // what the stream already sent (kept in `candles`/`trades`) is newer than or as new as REST
  const streamed = candles;
  candles = klines.map((k) => candle(k[0], k[1], k[2], k[3], k[4], k[5]));
  for (const c of streamed) upsertCandle(c);
  const fresh = trades;
  trades = [];
  lastTradeId = -1;
  recent.sort((a, b) => a.id - b.id);
  for (const t of recent) onTrade({ id: t.id, price: t.price, qty: t.qty, time: t.time, maker: t.isBuyerMaker }, false);
  for (const t of fresh.slice().reverse()) onTrade(t, false);
  renderAll();
}

// ------------------------------------------------------------------------------------ depth

async function fetchDepth(gen) {
  if (book.fetching === gen) return;  // (a fetch of an older stream does not count: it gives up)
  book.fetching = gen;
  try {
    for (let attempt = 0; attempt < 5 && gen === generation; attempt++) {
      const snap = await api(`/api/v3/depth?symbol=${symbol}&limit=1000`);
      if (gen !== generation) return;
      const first = book.buffer.find((ev) => ev.u > snap.lastUpdateId);
      if (book.buffer.length && snap.lastUpdateId < book.buffer[0].U - 1) continue; // snapshot older than the stream
      if (first && first.U > snap.lastUpdateId + 1) continue;                        // a hole between them
      book.bids = new Map(snap.bids.map(([p, q]) => [p, q]));
      book.asks = new Map(snap.asks.map(([p, q]) => [p, q]));
      book.lastUpdateId = snap.lastUpdateId;
      book.synced = true;
      const buffered = book.buffer;
      book.buffer = [];
      for (const ev of buffered) onDepth(ev);
      renderBook();
      return;
    }
  } catch (e) {
    setText("book-state", `cannot sync: ${e.text || e.message}`);
  } finally {
    if (book.fetching === gen) book.fetching = 0;
  }
  if (gen === generation && !book.synced) setTimeout(() => gen === generation && fetchDepth(gen), 500);
}

function onDepth(ev) {
  if (!book.synced) { book.buffer.push(ev); return; }
  if (ev.u <= book.lastUpdateId) return;                  // already in the snapshot
  if (ev.U > book.lastUpdateId + 1) {                     // a gap: start again from a snapshot
    book.synced = false;
    book.buffer = [ev];
    fetchDepth(generation);
    return;
  }
  for (const [p, q] of ev.b) if (Number(q) === 0) book.bids.delete(p); else book.bids.set(p, q);
  for (const [p, q] of ev.a) if (Number(q) === 0) book.asks.delete(p); else book.asks.set(p, q);
  book.lastUpdateId = ev.u;
  schedule();
}

// ------------------------------------------------------------------------------------ trades, candles

function onTrade(t, draw = true) {
  if (t.id <= lastTradeId) return;
  lastTradeId = t.id;
  trades.unshift(t);
  if (trades.length > TRADE_ROWS) trades.length = TRADE_ROWS;
  if (draw) schedule();
}

function candle(t, o, h, l, c, v) {
  return { t, o: Number(o), h: Number(h), l: Number(l), c: Number(c), v: Number(v), text: { o, h, l, c, v } };
}

function upsertCandle(k) {
  const last = candles[candles.length - 1];
  if (last && last.t === k.t) candles[candles.length - 1] = k;
  else if (!last || k.t > last.t) { candles.push(k); if (candles.length > CANDLES) candles.shift(); }
  else {
    const i = candles.findIndex((c) => c.t === k.t);
    if (i >= 0) candles[i] = k;
  }
}

function onKline(k) {
  if (k.i !== interval) return;
  upsertCandle(candle(k.t, k.o, k.h, k.l, k.c, k.v));
  schedule();
}

// ------------------------------------------------------------------------------------ drawing

let pending = false;
function schedule() {
  if (pending) return;
  pending = true;
  requestAnimationFrame(() => { pending = false; renderAll(); });
}

function setText(id, text) {
  const e = $(id);
  if (e.textContent !== text) e.textContent = text;
}

function renderAll() {
  if (!symbol) return;
  renderBook();
  renderTrades();
  if (visible) drawCandles();
}

function renderBook() {
  const asks = [...book.asks].sort((a, b) => Number(a[0]) - Number(b[0])).slice(0, LEVELS);
  const bids = [...book.bids].sort((a, b) => Number(b[0]) - Number(a[0])).slice(0, LEVELS);
  const cum = (levels) => { let s = 0; return levels.map(([, q]) => (s += Number(q))); };
  const askCum = cum(asks), bidCum = cum(bids);
  const max = Math.max(askCum[askCum.length - 1] || 0, bidCum[bidCum.length - 1] || 0) || 1;
  const askRows = fixedRows($("asks"), LEVELS, 3, "level");
  const bidRows = fixedRows($("bids"), LEVELS, 3, "level");
  // asks: the best (lowest) at the bottom, next to the spread
  for (let i = 0; i < LEVELS; i++) {
    const k = LEVELS - 1 - i;
    const a = asks[k];
    setCells(askRows[i], a ? [fixed(a[0], priceDecimals), fixed(a[1], qtyDecimals), askCum[k].toFixed(qtyDecimals)] : ["", "", ""]);
    askRows[i].lastElementChild.style.setProperty("--w", a ? (askCum[k] / max).toFixed(3) : "0");
    const b = bids[i];
    setCells(bidRows[i], b ? [fixed(b[0], priceDecimals), fixed(b[1], qtyDecimals), bidCum[i].toFixed(qtyDecimals)] : ["", "", ""]);
    bidRows[i].lastElementChild.style.setProperty("--w", b ? (bidCum[i] / max).toFixed(3) : "0");
  }
  if (asks.length && bids.length) {
    const spread = Number(asks[0][0]) - Number(bids[0][0]);
    const mid = (Number(asks[0][0]) + Number(bids[0][0])) / 2;
    setText("spread", `spread ${spread.toFixed(priceDecimals)} (${((spread / mid) * 100).toFixed(3)}%)`);
  } else setText("spread", asks.length || bids.length ? "one side empty" : "empty book");
  setText("book-state", book.synced ? `in sync · update ${book.lastUpdateId}` : "syncing…");
}

function renderTrades() {
  const rows = fixedRows($("trades"), TRADE_ROWS, 3);
  for (let i = 0; i < TRADE_ROWS; i++) {
    const t = trades[i];
    setCells(rows[i], t ? [fixed(t.price, priceDecimals), fixed(t.qty, qtyDecimals), clock(t.time)] : ["", "", ""]);
    rows[i].cells[0].className = t ? (t.maker ? "sell" : "buy") : "";
    if (t) rows[i].dataset.id = t.id; else delete rows[i].dataset.id;
  }
}

function showTicker(t) {
  setText("t-last", fixed(t.last, priceDecimals));
  const change = $("t-change");
  setText("t-change", `${fixed(t.change, priceDecimals)} (${t.pct}%)`);
  change.className = Number(t.change) > 0 ? "up" : Number(t.change) < 0 ? "down" : "";
  setText("t-high", fixed(t.high, priceDecimals));
  setText("t-low", fixed(t.low, priceDecimals));
  setText("t-vol", `${trim(t.vol)} ${info ? info.baseAsset : ""}`);
  setText("t-qvol", `${fixed(t.qvol, 2)} ${info ? info.quoteAsset : ""}`);
  setText("t-count", String(t.count));
}

function timeLabel(ms) {
  const d = new Date(ms);
  const long = ["1d", "3d", "1w", "1M"].includes(interval);
  return long ? d.toISOString().slice(5, 10) : clock(ms).slice(0, interval === "1s" ? 8 : 5);
}

function drawCandles() {
  const canvas = $("candles");
  const { ctx, w, h } = canvas2d(canvas);
  const axis = 70, bottom = 18, top = 8;
  const plotW = w - axis, plotH = h - top - bottom;
  const volH = plotH * 0.22, priceH = plotH - volH - 6;
  const step = 9, body = 6;
  const count = Math.max(1, Math.floor(plotW / step));
  const shown = candles.slice(-count);
  ctx.font = "11px system-ui, sans-serif";
  ctx.textBaseline = "middle";
  ctx.fillStyle = COLORS.line;
  ctx.fillRect(plotW, top, 1, plotH);
  if (!shown.length) {
    ctx.fillStyle = COLORS.muted;
    ctx.textAlign = "center";
    ctx.fillText(`No trades yet for ${symbol} (${interval})`, plotW / 2, h / 2);
    setText("candle-last", `${symbol} ${interval}: no candles yet`);
    canvas.setAttribute("aria-label", `Candlestick chart of ${symbol}, ${interval}: no trades yet`);
    return;
  }
  let lo = Infinity, hi = -Infinity, vmax = 0;
  for (const c of shown) { lo = Math.min(lo, c.l); hi = Math.max(hi, c.h); vmax = Math.max(vmax, c.v); }
  if (hi === lo) { hi += hi * 0.001 || 1; lo -= lo * 0.001 || 1; }
  const pad = (hi - lo) * 0.06;
  hi += pad; lo -= pad;
  const y = (p) => top + ((hi - p) / (hi - lo)) * priceH;
  // grid and price labels
  ctx.textAlign = "left";
  for (let i = 0; i <= 4; i++) {
    const p = lo + ((hi - lo) * i) / 4;
    const yy = Math.round(y(p)) + 0.5;
    ctx.fillStyle = COLORS.line;
    ctx.fillRect(0, yy, plotW, 1);
    ctx.fillStyle = COLORS.muted;
    ctx.fillText(p.toFixed(priceDecimals), plotW + 6, yy);
  }
  const x0 = plotW - shown.length * step;
  const volTop = top + priceH + 6;
  let lastLabel = -Infinity;
  shown.forEach((c, i) => {
    const x = x0 + i * step + (step - body) / 2;
    const up = c.c >= c.o;
    ctx.fillStyle = up ? COLORS.buy : COLORS.sell;
    const cx = Math.round(x + body / 2);
    ctx.fillRect(cx, Math.round(y(c.h)), 1, Math.max(1, Math.round(y(c.l) - y(c.h))));
    const yb = Math.round(y(Math.max(c.o, c.c)));
    ctx.fillRect(Math.round(x), yb, body, Math.max(1, Math.round(y(Math.min(c.o, c.c))) - yb));
    const vh = vmax > 0 ? (c.v / vmax) * volH : 0;
    ctx.globalAlpha = 0.45;
    ctx.fillRect(Math.round(x), volTop + volH - vh, body, vh);
    ctx.globalAlpha = 1;
    if (x - lastLabel > 90 && cx > 28 && cx < plotW - 28) {  // whole labels only
      ctx.fillStyle = COLORS.muted;
      ctx.textAlign = "center";
      ctx.fillText(timeLabel(c.t), cx, h - bottom / 2);
      lastLabel = x;
    }
  });
  const last = shown[shown.length - 1];
  const ly = Math.round(y(last.c)) + 0.5;
  ctx.fillStyle = COLORS.accent;
  ctx.setLineDash([3, 3]);
  ctx.strokeStyle = COLORS.accent;
  ctx.beginPath(); ctx.moveTo(0, ly); ctx.lineTo(plotW, ly); ctx.stroke();
  ctx.setLineDash([]);
  ctx.fillRect(plotW + 1, ly - 8, axis - 1, 16);
  ctx.fillStyle = COLORS.bg;
  ctx.textAlign = "left";
  const f = (p) => fixed(p, priceDecimals);
  const t = last.text;
  ctx.fillText(f(t.c), plotW + 6, ly);
  const caption = `${timeLabel(last.t)} · open ${f(t.o)} · high ${f(t.h)} · low ${f(t.l)} · close ${f(t.c)} · volume ${trim(t.v)}`;
  setText("candle-last", caption);
  canvas.setAttribute("aria-label", `Candlestick chart of ${symbol}, ${interval}, ${shown.length} candles; last ${caption}`);
}

// ------------------------------------------------------------------------------------ hooks

export function marketSymbol(s, i) {
  symbol = s;
  info = i;
  const price = i.filters.find((f) => f.filterType === "PRICE_FILTER");
  const lot = i.filters.find((f) => f.filterType === "LOT_SIZE");
  priceDecimals = price ? decimalsOf(price.tickSize) : 2;
  qtyDecimals = lot ? decimalsOf(lot.stepSize) : 8;
  for (const id of ["t-last", "t-change", "t-high", "t-low", "t-vol", "t-qvol", "t-count"]) setText(id, "–");
  connect();
}

export function showMarket(on) {
  visible = on;
  if (on) renderAll();
}

$("interval").addEventListener("change", (e) => {
  interval = e.target.value;
  if (symbol) connect();
});
new ResizeObserver(() => visible && symbol && drawCandles()).observe($("candles"));
