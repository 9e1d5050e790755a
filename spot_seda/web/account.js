// The account view: an API key and secret kept in this page only (the secret becomes a
// non-extractable WebCrypto HMAC-SHA256 key and the text is dropped), signed REST calls exactly as
// a Binance client makes them, orders placed and canceled through the public API, and the account
// kept live by the user data stream (a listen key, on Push's port). Whatever the node refuses is
// shown with the node's own text next to the form or button that caused it.

import { $, api, ApiError, dateTime, fixed, reportState, Stream, trim } from "./common.js";

const OPEN = new Set(["NEW", "PARTIALLY_FILLED"]);
// stop orders wait off the book until the last trade price reaches their stop (README); the market
// ones become MARKET orders, so they have no price of their own
const STOP_TYPES = new Set(["STOP_LOSS", "STOP_LOSS_LIMIT", "TAKE_PROFIT", "TAKE_PROFIT_LIMIT"]);
const MARKET_TYPES = new Set(["MARKET", "STOP_LOSS", "TAKE_PROFIT"]);
const ROWS_KEPT = 100;
const KEEPALIVE_MS = 30 * 60 * 1000;   // Binance: a listen key lives 60 minutes unless kept alive

let creds = null;        // {apiKey, key: CryptoKey, offset: server clock - local clock}
let stream = null, listenKey = null, keepalive = null, session = 0;
let symbol = null, info = null, symbols = {};
const openOrders = new Map();  // orderId -> order (Binance order JSON fields)
const history = new Map();     // orderId -> order, this symbol
let fills = [];                // newest first, this symbol
const balances = new Map();    // asset -> {free, locked}
// While a REST snapshot (refresh) is in flight, user data events wait here and are applied on top of
// it once it lands: each event carries the whole state of what it changed (an order, an asset), so
// replaying every event since before the snapshot was read leaves the newest state, where applying
// the snapshot last could undo what the stream already showed (an order's frozen funds, its fill).
let syncing = 0, held = [];

// ------------------------------------------------------------------------------------ signing

const hex = (buf) => Array.from(new Uint8Array(buf), (b) => b.toString(16).padStart(2, "0")).join("");

async function signedCall(method, path, params = {}) {
  if (!creds) throw new ApiError(0, undefined, "enter an API key and secret first");
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== "") q.append(k, v);
  q.append("timestamp", String(Date.now() + creds.offset));
  const payload = q.toString();
  const signature = hex(await crypto.subtle.sign("HMAC", creds.key, new TextEncoder().encode(payload)));
  const headers = { "X-MBX-APIKEY": creds.apiKey };
  if (method === "POST") {  // parameters in the body: the signature covers query (none) + body
    headers["Content-Type"] = "application/x-www-form-urlencoded";
    return api(path, { method, headers, body: `${payload}&signature=${signature}` });
  }
  return api(`${path}?${payload}&signature=${signature}`, { method, headers });
}

function keyCall(method, params = {}) {  // the listen-key endpoints: API key, no signature
  const q = new URLSearchParams(params).toString();
  return api(`/api/v3/userDataStream${q ? `?${q}` : ""}`, { method, headers: { "X-MBX-APIKEY": creds.apiKey } });
}

// ------------------------------------------------------------------------------------ log in / out

function setText(id, text) {
  const e = $(id);
  if (e.textContent !== text) e.textContent = text;
}

function showError(id, err, field = null) {
  setText(id, err ? (err.text || err.message || String(err)) : "");
  for (const input of document.querySelectorAll(`[aria-describedby~="${id}"]`)) {
    input.removeAttribute("aria-invalid");
    const rest = input.getAttribute("aria-describedby").split(/\s+/).filter((x) => x && x !== id);
    if (rest.length) input.setAttribute("aria-describedby", rest.join(" ")); else input.removeAttribute("aria-describedby");
  }
  if (field) {  // the message describes the field, beside whatever hint already does
    field.setAttribute("aria-invalid", "true");
    const ids = (field.getAttribute("aria-describedby") || "").split(/\s+/).filter(Boolean);
    field.setAttribute("aria-describedby", [id, ...ids].join(" "));
  }
}

async function login(ev) {
  ev.preventDefault();
  const apiKey = $("api-key").value.trim(), secret = $("api-secret").value;
  showError("login-error", null);
  if (!apiKey || !secret) {
    showError("login-error", new Error("Enter both the API key and the secret key."), !apiKey ? $("api-key") : $("api-secret"));
    return;
  }
  logout(false);
  const mine = ++session;
  $("login-button").disabled = true;
  setText("login-state", "checking the key…");
  try {
    const key = await crypto.subtle.importKey("raw", new TextEncoder().encode(secret), { name: "HMAC", hash: "SHA-256" },
      false, ["sign"]);
    const t0 = Date.now();
    const { serverTime } = await api("/api/v3/time");
    const offset = serverTime - Math.round((t0 + Date.now()) / 2);
    creds = { apiKey, key, offset };
    const account = await signedCall("GET", "/api/v3/account");  // a wrong key or secret fails here
    if (mine !== session) return;
    $("api-secret").value = "";  // the CryptoKey signs from now on; the text is not kept
    setText("login-state", `Signed in as account ${account.uid}. The secret stays in this page.`);
    $("logout").disabled = false;
    $("order-button").disabled = false;
    $("cancel-all").disabled = false;
    balances.clear();
    for (const b of account.balances) balances.set(b.asset, { free: b.free, locked: b.locked });
    renderBalances();
    await openUserStream(mine);
  } catch (err) {
    if (mine !== session) return;
    creds = null;
    setText("login-state", "");
    showError("login-error", err, err.code === -1022 ? $("api-secret") : [-2014, -2015].includes(err.code) ? $("api-key") : null);
  } finally {
    $("login-button").disabled = false;
  }
}

function logout(clearInputs = true) {
  session++;
  if (stream) { stream.close(); stream = null; }
  if (keepalive) { clearInterval(keepalive); keepalive = null; }
  if (listenKey && creds) keyCall("DELETE", { listenKey }).catch(() => {});
  listenKey = null;
  creds = null;
  reportState("account", null);
  openOrders.clear(); history.clear(); fills = []; balances.clear();
  $("logout").disabled = true;
  $("order-button").disabled = true;
  $("cancel-all").disabled = true;
  if (clearInputs) {
    $("api-key").value = "";
    $("api-secret").value = "";
    setText("login-state", "Key forgotten.");
  }
  renderAll(true);
}

async function openUserStream(mine) {
  ({ listenKey } = await keyCall("POST"));
  if (mine !== session) return;
  keepalive = setInterval(() => keyCall("PUT", { listenKey }).catch(() => {}), KEEPALIVE_MS);
  stream = new Stream(`/ws/${listenKey}`, {
    onstate: (s) => reportState("account", s),
    onopen: () => refresh(mine),  // (re)connected: what happened meanwhile comes from REST
    onmessage: (msg) => {
      if (mine !== session) return;
      const d = msg.stream && msg.data ? msg.data : msg;
      if (syncing) held.push([mine, d]); else onEvent(d, mine);
    },
  });
}

async function refresh(mine) {
  if (!creds || !symbol) return;
  if (syncing++ === 0) held = [];
  try {
    const [account, open, all, trades] = await Promise.all([
      signedCall("GET", "/api/v3/account"),
      signedCall("GET", "/api/v3/openOrders"),
      signedCall("GET", "/api/v3/allOrders", { symbol, limit: 50 }),
      signedCall("GET", "/api/v3/myTrades", { symbol, limit: 50 }),
    ]);
    if (mine !== session) return;
    balances.clear();
    for (const b of account.balances) balances.set(b.asset, { free: b.free, locked: b.locked });
    openOrders.clear();
    for (const o of open) openOrders.set(o.orderId, o);
    history.clear();
    for (const o of all) history.set(o.orderId, o);
    fills = trades.slice().reverse().map((t) => ({ id: t.id, orderId: t.orderId, side: t.isBuyer ? "BUY" : "SELL",
      price: t.price, qty: t.qty, fee: `${trim(t.commission)} ${t.commissionAsset}`, maker: t.isMaker, time: t.time }));
    renderAll();
  } catch (err) {
    if (mine === session) showError("cancel-error", err);
  } finally {
    if (--syncing === 0) {
      const events = held;
      held = [];
      for (const [of, d] of events) if (of === session) onEvent(d, of);
    }
  }
}

// ------------------------------------------------------------------------------------ user data events

function onEvent(d, mine) {
  if (d.e === "executionReport") {
    const o = {
      symbol: d.s, orderId: d.i, clientOrderId: d.c, side: d.S, type: d.o, timeInForce: d.f, price: d.p,
      origQty: d.q, executedQty: d.z, status: d.X, time: d.O, updateTime: d.T, origQuoteOrderQty: d.Q,
      // a stop order: its stop price, and whether it works yet ("w" false and no "W" until its trigger)
      stopPrice: d.P, isWorking: d.w, workingTime: d.W === undefined ? -1 : d.W,
    };
    if (OPEN.has(o.status)) openOrders.set(o.orderId, o); else openOrders.delete(o.orderId);
    if (o.symbol === symbol) {
      history.set(o.orderId, { ...(history.get(o.orderId) || {}), ...o });
      if (d.x === "TRADE" && !fills.some((f) => f.id === d.t && f.orderId === d.i)) {  // (a snapshot may have it)
        fills.unshift({ id: d.t, orderId: d.i, side: d.S, price: d.L, qty: d.l, fee: `${trim(d.n)} ${d.N || ""}`,
          maker: d.m, time: d.T });
        if (fills.length > ROWS_KEPT) fills.length = ROWS_KEPT;
      }
    }
    renderAll();
  } else if (d.e === "outboundAccountPosition") {
    for (const b of d.B) balances.set(b.a, { free: b.f, locked: b.l });
    renderBalances();
  } else if (d.e === "listenKeyExpired") {
    if (stream) stream.close();
    openUserStream(mine).catch((err) => showError("login-error", err));
  }
}

// ------------------------------------------------------------------------------------ orders

const TYPE_FIELDS = {  // which inputs each order type takes (Binance's mandatory parameters)
  LIMIT: ["price", "tif"], LIMIT_MAKER: ["price"], MARKET: [],
  STOP_LOSS: ["stop"], TAKE_PROFIT: ["stop"], STOP_LOSS_LIMIT: ["price", "stop", "tif"], TAKE_PROFIT_LIMIT: ["price", "stop", "tif"],
};

function typeChanged() {
  const type = $("o-type").value, fields = TYPE_FIELDS[type] || [];
  $("o-price-row").hidden = !fields.includes("price");
  $("o-stop-row").hidden = !fields.includes("stop");
  $("o-tif-row").hidden = !fields.includes("tif");
  if (fields.includes("stop")) {
    const side = document.querySelector('input[name="side"]:checked').value;
    const becomes = type.endsWith("_LIMIT") ? "a LIMIT order at the price above" : "a MARKET order";
    setText("o-stop-hint", `Waits off the book until the last trade price ${falls({ type, side }) ? "falls" : "rises"} `
      + `to the stop price, then works as ${becomes}.`);
  }
}

/** A STOP_LOSS sell or TAKE_PROFIT buy triggers when the last price falls to its stop, the others when it rises. */
function falls(o) {
  return o.type.startsWith("STOP_LOSS") === (o.side === "SELL");
}

/** Whether an order works (is matched) yet: a stop order only from its trigger. REST has isWorking,
 *  a RESULT answer workingTime (-1 until the trigger), the user data stream both ("w", "W"). */
function working(o) {
  if (!STOP_TYPES.has(o.type)) return true;
  if (typeof o.isWorking === "boolean" && o.isWorking) return true;
  return o.workingTime !== undefined && o.workingTime >= 0;
}

/** Which input an error is about, so it is marked invalid next to its message. */
function fieldOf(err) {
  const msg = err.message || "";
  const named = msg.match(/'(price|quantity|stopPrice|timeInForce|quoteOrderQty)'/);
  if (named) return { price: "o-price", quantity: "o-qty", stopPrice: "o-stop", timeInForce: "o-tif", quoteOrderQty: "o-qty" }[named[1]];
  if (/^Stop price/.test(msg)) return "o-stop";  // -2010 "Stop price would trigger immediately."
  if (/PRICE_FILTER|PERCENT_PRICE/.test(msg)) return "o-price";
  if (/LOT_SIZE|NOTIONAL|insufficient balance/i.test(msg)) return "o-qty";
  return null;
}

async function placeOrder(ev) {
  ev.preventDefault();
  showError("order-error", null);
  const type = $("o-type").value, fields = TYPE_FIELDS[type] || [];
  const params = {
    symbol, side: document.querySelector('input[name="side"]:checked').value, type,
    quantity: $("o-qty").value.trim(),
    price: fields.includes("price") ? $("o-price").value.trim() : undefined,
    stopPrice: fields.includes("stop") ? $("o-stop").value.trim() : undefined,
    timeInForce: fields.includes("tif") ? $("o-tif").value : undefined,
    newOrderRespType: "RESULT",
  };
  const button = $("order-button");
  button.disabled = true;
  setText("order-state", "sending…");
  try {
    const o = await signedCall("POST", "/api/v3/order", params);
    const filled = o.executedQty && Number(o.executedQty) ? `, filled ${trim(o.executedQty)}` : "";
    const waits = OPEN.has(o.status) && !working(o) ? `, waiting for the last price ${stopText(o)}` : "";
    setText("order-state", `Order ${o.orderId}: ${o.status}${filled}${waits}`);
    // the answer may come after the stream told more (a fill, a trigger): it adds only an order not seen yet
    if (!openOrders.has(o.orderId) && !history.has(o.orderId)) {
      if (OPEN.has(o.status)) openOrders.set(o.orderId, o);
      if (o.symbol === symbol) history.set(o.orderId, o);
    }
    renderAll();
  } catch (err) {
    setText("order-state", "");
    const id = fieldOf(err);
    showError("order-error", err, id ? $(id) : null);
  } finally {
    button.disabled = !creds;
  }
}

async function cancelOrder(o, button) {
  showError("cancel-error", null);
  button.disabled = true;
  try {
    const answer = await signedCall("DELETE", "/api/v3/order", { symbol: o.symbol, orderId: o.orderId });
    openOrders.delete(o.orderId);
    if (answer.symbol === symbol) history.set(answer.orderId, { ...(history.get(answer.orderId) || {}), ...answer });
    renderAll();
  } catch (err) {
    showError("cancel-error", new ApiError(err.status, err.code, `order ${o.orderId}: ${err.message}`));
    button.disabled = false;
  }
}

async function cancelAll() {
  showError("cancel-error", null);
  try {
    await signedCall("DELETE", "/api/v3/openOrders", { symbol });
    for (const [id, o] of openOrders) if (o.symbol === symbol) openOrders.delete(id);
    renderAll();
  } catch (err) {
    showError("cancel-error", err);
  }
}

// ------------------------------------------------------------------------------------ rendering

function decimals(sym, filter, field) {
  const s = symbols[sym];
  const f = s && s.filters.find((x) => x.filterType === filter);
  if (!f) return 8;
  const t = trim(f[field]);
  return t.includes(".") ? t.length - t.indexOf(".") - 1 : 0;
}
const px = (o) => (MARKET_TYPES.has(o.type) ? "market" : fixed(o.price, decimals(o.symbol, "PRICE_FILTER", "tickSize")));
/** A stop order's trigger, "≤ 49000.00" (falls to it) or "≥ 51000.00"; "–" for the other types. */
const stopText = (o) => (STOP_TYPES.has(o.type) && o.stopPrice !== undefined
  ? `${falls(o) ? "≤" : "≥"} ${fixed(o.stopPrice, decimals(o.symbol, "PRICE_FILTER", "tickSize"))}` : "–");
/** An order's status, and for an open stop order whether it waits for its stop or was triggered. */
const statusText = (o) => (STOP_TYPES.has(o.type) && OPEN.has(o.status)
  ? `${o.status} · ${working(o) ? "triggered" : "waiting for stop"}` : o.status);
const qty = (sym, q) => fixed(q, decimals(sym, "LOT_SIZE", "stepSize"));

/** Rows of cells (text, [text, class] or a node); `keys` name each row (data-key) for tests and tools,
 *  `data` gives more data- attributes per row. */
function fill(tbody, rows, cols, empty, keys = [], data = []) {
  tbody.textContent = "";
  if (!rows.length) {
    const td = tbody.insertRow().insertCell();
    td.colSpan = cols;
    td.className = "muted";
    td.textContent = empty;
    return;
  }
  rows.forEach((cells, r) => {
    const tr = tbody.insertRow();
    if (keys[r] !== undefined) tr.dataset.key = keys[r];
    Object.assign(tr.dataset, data[r] || {});
    for (const c of cells) {
      const td = tr.insertCell();
      if (c instanceof Node) td.appendChild(c);
      else if (Array.isArray(c)) { td.textContent = c[0]; td.className = c[1]; }
      else td.textContent = c;
    }
  });
}

function renderBalances() {
  const rows = [...balances].filter(([, b]) => Number(b.free) || Number(b.locked)).sort((a, b) => a[0].localeCompare(b[0]))
    .map(([asset, b]) => [asset, trim(b.free), trim(b.locked)]);
  fill($("balances"), rows, 3, creds ? "No balances" : "No key yet", rows.map((r) => r[0]));
}

function renderAll(cleared = false) {
  const none = creds ? null : "No key yet";
  renderBalances();
  const open = [...openOrders.values()].sort((a, b) => b.orderId - a.orderId);
  fill($("open-orders"), open.map((o) => {
    const b = document.createElement("button");
    b.type = "button";
    b.textContent = "Cancel";
    const stop = STOP_TYPES.has(o.type) ? `, stop ${stopText(o)}` : "";
    b.setAttribute("aria-label", `Cancel order ${o.orderId}: ${o.side} ${trim(o.origQty)} ${o.symbol} at ${px(o)}${stop}`);
    b.addEventListener("click", () => cancelOrder(o, b));
    return [String(o.orderId), o.symbol, [o.side, o.side], o.type, px(o), stopText(o), qty(o.symbol, o.origQty),
      qty(o.symbol, o.executedQty), statusText(o), b];
  }), 10, none || "No open orders", open.map((o) => o.orderId), open.map((o) => ({ working: String(working(o)) })));
  const hist = [...history.values()].sort((a, b) => b.orderId - a.orderId).slice(0, ROWS_KEPT);
  fill($("history"), hist.map((o) => [String(o.orderId), [o.side, o.side], o.type, px(o), stopText(o), qty(o.symbol, o.origQty),
    qty(o.symbol, o.executedQty), statusText(o), o.time ? dateTime(o.time) : ""]), 9, none || `No orders on ${symbol}`,
  hist.map((o) => o.orderId), hist.map((o) => ({ working: String(working(o)) })));
  fill($("fills"), fills.map((f) => [String(f.id), String(f.orderId), [f.side, f.side],
    fixed(f.price, decimals(symbol, "PRICE_FILTER", "tickSize")), qty(symbol, f.qty), f.fee, f.maker ? "maker" : "taker",
    dateTime(f.time)]), 8, none || `No fills on ${symbol}`, fills.map((f) => f.id));
  if (cleared) showError("order-error", null);
}

// ------------------------------------------------------------------------------------ hooks

export function accountSymbol(s, i, all) {
  symbol = s;
  info = i;
  symbols = all;
  const select = $("o-type"), keep = select.value;
  select.textContent = "";
  for (const t of i.orderTypes) {
    const o = document.createElement("option");
    o.value = o.textContent = t;
    select.appendChild(o);
  }
  select.value = i.orderTypes.includes(keep) ? keep : "LIMIT";
  typeChanged();
  setText("o-price-unit", `(${i.quoteAsset})`);
  setText("o-stop-unit", `(${i.quoteAsset})`);
  setText("o-qty-unit", `(${i.baseAsset})`);
  setText("history-title", `Order history (${s})`);
  setText("fills-title", `Fills (${s})`);
  setText("cancel-all", `Cancel all ${s}`);
  history.clear();
  fills = [];
  renderAll();
  if (creds) refresh(session);
}

$("login").addEventListener("submit", login);
$("logout").addEventListener("click", () => logout(true));
$("order").addEventListener("submit", placeOrder);
$("o-type").addEventListener("change", typeChanged);
for (const r of document.querySelectorAll('input[name="side"]')) r.addEventListener("change", typeChanged);
$("cancel-all").addEventListener("click", cancelAll);
