// The page's entry point: the symbol list (REST exchangeInfo), the views (#market, #account,
// #pipeline: plain links, so the keyboard and the back button work) and who is told what.

import { $, api } from "./common.js";
import { accountSymbol } from "./account.js";
import { marketSymbol, showMarket } from "./market.js";
import { showPipeline } from "./pipeline.js";

const VIEWS = ["market", "account", "pipeline"];
// what each view does when shown (true) or hidden (false)
const hooks = { market: showMarket, pipeline: showPipeline };
// who follows the chosen symbol: (symbol, its exchangeInfo entry, every symbol's entry)
const symbolListeners = [marketSymbol, accountSymbol];
const symbols = {};

function current() {
  const name = location.hash.replace("#", "");
  return VIEWS.includes(name) ? name : "market";
}

let shown = null;
function route() {
  const view = current();
  if (view === shown) return;
  for (const v of VIEWS) {
    $(`view-${v}`).hidden = v !== view;
    const tab = $(`tab-${v}`);
    if (v === view) tab.setAttribute("aria-current", "page"); else tab.removeAttribute("aria-current");
  }
  if (shown && hooks[shown]) hooks[shown](false);
  shown = view;
  if (hooks[view]) hooks[view](true);
  document.title = `spot_seda · ${view[0].toUpperCase()}${view.slice(1)}`;
}

async function loadSymbols() {
  const info = await api("/api/v3/exchangeInfo");
  const select = $("symbol");
  select.textContent = "";
  for (const s of info.symbols) {
    symbols[s.symbol] = s;
    const o = document.createElement("option");
    o.value = o.textContent = s.symbol;
    select.appendChild(o);
  }
  const wanted = new URLSearchParams(location.search).get("symbol");
  setSymbol(wanted && symbols[wanted] ? wanted : info.symbols[0].symbol);
}

function setSymbol(symbol) {
  $("symbol").value = symbol;
  for (const f of symbolListeners) f(symbol, symbols[symbol], symbols);
}

window.addEventListener("hashchange", route);
$("symbol").addEventListener("change", (e) => setSymbol(e.target.value));
route();
loadSymbols().catch((e) => { $("conn-text").textContent = `cannot load symbols: ${e.text || e.message}`; });
