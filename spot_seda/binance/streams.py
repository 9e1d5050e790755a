"""Binance WebSocket stream names and payloads, pure functions (no I/O, no state).

Names (binance-spot-api-docs, web-socket-streams.md), symbol part lower case:
    <symbol>@trade  @aggTrade  @kline_<interval>[@+08:00]  @depth  @depth@100ms  @depth<5|10|20>[@100ms]
    @bookTicker  @ticker  @miniTicker  @ticker_<1h|4h|1d>  @avgPrice;
    !miniTicker@arr  !ticker@arr  !ticker_<1h|4h|1d>@arr (every symbol whose statistics changed);
    changelog@<Topic>  (ours: the raw ChangeLogEntry JSON)
User data events (user-data-stream.md): executionReport (one-letter fields), outboundAccountPosition,
balanceUpdate. Prices are decimal strings in the symbol's price scale, quantities and amounts in
10**-8 units (model/fixedpoint.py); event times are the entries' timestamps, so the streams are a
function of the change log alone.

The diff depth events carry `U`/`u` (first/final update id, the same counter as REST
`lastUpdateId`, engine/depthview.py): each event's `U` is the previous event's `u` + 1, as spot's
streams chain them (no `pu`: that is futures').
"""

from __future__ import annotations

from typing import NamedTuple

from ..engine.kline import INTERVALS
from ..model.enums import (ORDER_STATUS_NAMES, ORDER_TYPE_NAMES, SIDE_NAMES, STP_NAMES, TIME_IN_FORCE_NAMES,
                           OrderStatus, OrderType, Side, TimeInForce, Topic)
from ..model.orders import Order, default_cancel_id
from ..model.symbols import AVG_PRICE_MINS, SymbolRules
from .marketviews import agg_trade_json
from .views import (ZERO, amount_text, average_price_text, change_percent_text, contingency_name, expiry_reason,
                    price_text)

PARTIAL_LEVELS = (5, 10, 20)
#: executionReport ids ("I", Binance's execution id) per change-log entry: the entry's sequence x this
#: + the report's place among the entry's reports (a NEW, one TRADE per fill, a prevention, a
#: replacement, an end), the same in every replay; an amend's answer names its report's so
EXECUTION_IDS = 1 << 20
#: the rolling-window tickers' windows (ms), as Binance names them
ROLLING_WINDOWS = {"1h": 3_600_000, "4h": 4 * 3_600_000, "1d": 86_400_000}
#: the one time-zone offset Binance's kline streams take (`@kline_<interval>@+08:00`), in ms
KLINE_OFFSETS = {"+08:00": 8 * 3_600_000}
#: all-market streams: name -> (kind, rolling window or None for 24 hours)
ALL_MARKET = {"!miniTicker@arr": ("allMiniTicker", None), "!ticker@arr": ("allTicker", None),
               **{f"!ticker_{w}@arr": ("allRollingTicker", w) for w in ROLLING_WINDOWS}}


class StreamError(ValueError):
    """A stream name that is not one the node serves (the message is what the client is told)."""


class Stream(NamedTuple):
    """A parsed stream name: `name` is the canonical form subscriptions are keyed by."""

    name: str
    # trade, aggTrade, kline, depth, partial, bookTicker, ticker, miniTicker, rollingTicker, avgPrice,
    # allMiniTicker, allTicker, allRollingTicker, changelog
    kind: str
    symbol: str | None  # upper case (the rules' key); None for changelog and the all-market streams
    # kline (interval, offset ms), depth speed ("1000ms"/"100ms"), partial (levels, speed), rolling
    # window ("1h"), topic
    arg: object = None


_SIMPLE = {"trade": "trade", "aggtrade": "aggTrade", "bookticker": "bookTicker", "ticker": "ticker",
           "miniticker": "miniTicker", "avgprice": "avgPrice"}


def parse_stream(text: object, symbols: dict[str, SymbolRules]) -> Stream:
    """Parse and validate a stream name; raises StreamError naming what is wrong."""
    if not isinstance(text, str) or not text or len(text) > 100:
        raise StreamError(f"Invalid request: stream name must be a non-empty string, got {text!r}")
    if text in ALL_MARKET:
        return Stream(text, *ALL_MARKET[text])
    head, at, rest = text.partition("@")
    if not at:
        raise StreamError(f"Invalid request: unknown stream '{text}'")
    if head == "changelog":
        if rest not in Topic.ALL:
            raise StreamError(f"Invalid request: unknown topic '{rest}'; topics are {', '.join(Topic.ALL)}")
        return Stream(f"changelog@{rest}", "changelog", None, rest)
    symbol = head.upper()
    if symbol not in symbols or not head.isalnum():
        raise StreamError(f"Invalid request: unknown symbol '{head}' in stream '{text}'")
    lower = head.lower()
    event, _, speed = rest.partition("@")
    key = event.lower()
    if key in _SIMPLE and not speed:
        return Stream(f"{lower}@{_SIMPLE[key]}", _SIMPLE[key], symbol)
    if key.startswith("ticker_") and not speed:
        window = key[len("ticker_"):]
        if window not in ROLLING_WINDOWS:
            raise StreamError(f"Invalid request: unknown ticker window '{window}'; windows are {', '.join(ROLLING_WINDOWS)}")
        return Stream(f"{lower}@ticker_{window}", "rollingTicker", symbol, window)
    if key.startswith("kline_"):
        interval = event[len("kline_"):]
        if interval not in INTERVALS:
            raise StreamError(f"Invalid request: unknown kline interval '{interval}'; intervals are {', '.join(INTERVALS)}")
        if not speed:
            return Stream(f"{lower}@kline_{interval}", "kline", symbol, (interval, 0))
        if speed not in KLINE_OFFSETS:
            raise StreamError(f"Invalid request: unknown kline time zone '{speed}'; use {', '.join(KLINE_OFFSETS)}")
        return Stream(f"{lower}@kline_{interval}@{speed}", "kline", symbol, (interval, KLINE_OFFSETS[speed]))
    if key.startswith("depth"):
        levels = key[len("depth"):]
        if speed not in ("", "100ms", "1000ms"):
            raise StreamError(f"Invalid request: unknown depth update speed '{speed}'; use 100ms or 1000ms")
        ms = speed or "1000ms"
        suffix = "@100ms" if ms == "100ms" else ""
        if not levels:
            return Stream(f"{lower}@depth{suffix}", "depth", symbol, ms)
        if levels.isdigit() and int(levels) in PARTIAL_LEVELS:
            return Stream(f"{lower}@depth{levels}{suffix}", "partial", symbol, (int(levels), ms))
        raise StreamError(f"Invalid request: partial depth levels must be 5, 10 or 20, got '{levels}'")
    raise StreamError(f"Invalid request: unknown stream '{text}'")


# ------------------------------------------------------------------------------ formatting


def levels_json(rules: SymbolRules, levels) -> list[list[str]]:
    return [[price_text(rules, p), amount_text(q)] for p, q in levels]


# ------------------------------------------------------------------------------ market data


def trade_event(rules: SymbolRules, f: dict, ts: int) -> dict:
    """`<symbol>@trade`: one trade (the buyer/seller order ids Binance dropped in 2023 stay private)."""
    return {"e": "trade", "E": ts, "s": rules.symbol, "t": f["trade_id"], "p": price_text(rules, f["price"]),
            "q": amount_text(f["qty"]), "T": ts, "m": f["buyer_is_maker"], "M": True}


def agg_trade_event(rules: SymbolRules, trades: list[dict], ts: int) -> dict:
    """`<symbol>@aggTrade`: one aggregate trade, as REST /aggTrades shows it (marketviews.py)."""
    return {"e": "aggTrade", "E": ts, "s": rules.symbol} | agg_trade_json(trades, rules, ts)


def kline_event(rules: SymbolRules, f: dict, ts: int, first_trade: int, last_trade: int) -> dict:
    """`<symbol>@kline_<interval>`: the candle as the KLine stage last reported it."""
    return {"e": "kline", "E": ts, "s": rules.symbol, "k": {
        "t": f["open_time"], "T": f["close_time"], "s": rules.symbol, "i": f["interval"],
        "f": first_trade, "L": last_trade, "o": price_text(rules, f["open"]), "c": price_text(rules, f["close"]),
        "h": price_text(rules, f["high"]), "l": price_text(rules, f["low"]), "v": amount_text(f["volume"]),
        "n": f["trades"], "x": bool(f["closed"]), "q": amount_text(f["quote_volume"]),
        "V": amount_text(f["taker_buy_volume"]), "Q": amount_text(f["taker_buy_quote_volume"]), "B": "0"}}


def depth_update_event(rules: SymbolRules, ts: int, first: int, final: int, bids, asks) -> dict:
    """`<symbol>@depth[@100ms]`: levels changed since the previous event (whose "u" is this one's "U"
    - 1); quantity 0 removes a level. Spot's fields: no "pu" (a futures stream's)."""
    return {"e": "depthUpdate", "E": ts, "s": rules.symbol, "U": first, "u": final,
            "b": levels_json(rules, bids), "a": levels_json(rules, asks)}


def partial_depth_event(rules: SymbolRules, update_id: int, bids, asks) -> dict:
    """`<symbol>@depth<N>[@100ms]`: the top N levels, shaped like REST /api/v3/depth."""
    return {"lastUpdateId": update_id, "bids": levels_json(rules, bids), "asks": levels_json(rules, asks)}


def book_ticker_event(rules: SymbolRules, update_id: int, bid, ask) -> dict:
    """`<symbol>@bookTicker`: best bid and ask (price and quantity), sent when either changes."""
    return {"u": update_id, "s": rules.symbol,
            "b": price_text(rules, bid[0]) if bid else price_text(rules, 0), "B": amount_text(bid[1]) if bid else ZERO,
            "a": price_text(rules, ask[0]) if ask else price_text(rules, 0), "A": amount_text(ask[1]) if ask else ZERO}


class Window(NamedTuple):
    """24-hour rolling statistics of one symbol (integers; see stages/push.py for how it is kept)."""

    open: int
    high: int
    low: int
    close: int
    last_qty: int
    volume: int
    quote_volume: int
    first_id: int
    last_id: int
    count: int
    prev_close: int
    #: where the statistics begin: a minute's start (stages/pushwindows.py keeps them per minute)
    open_time: int = 0


def _change(rules: SymbolRules, w: Window) -> tuple[str, str, str]:
    """A window's price change, its percent and its volume-weighted average price, as REST
    /ticker/24hr shows them (binance/marketviews.py): percent rounded to 3 decimals, vwap to 8."""
    change = w.close - w.open
    return price_text(rules, change), change_percent_text(change, w.open), average_price_text(w.quote_volume, w.volume)


def ticker_event(rules: SymbolRules, ts: int, w: Window, bid, ask) -> dict:
    """`<symbol>@ticker`: 24-hour rolling window statistics. "O" is where they begin: the minute of
    24 hours ago (they once said `ts` - 24 h while counting that whole minute's trades)."""
    change, pct, wavg = _change(rules, w)
    return {"e": "24hrTicker", "E": ts, "s": rules.symbol, "p": change, "P": pct, "w": wavg,
            "x": price_text(rules, w.prev_close), "c": price_text(rules, w.close), "Q": amount_text(w.last_qty),
            "b": price_text(rules, bid[0]) if bid else price_text(rules, 0), "B": amount_text(bid[1]) if bid else ZERO,
            "a": price_text(rules, ask[0]) if ask else price_text(rules, 0), "A": amount_text(ask[1]) if ask else ZERO,
            "o": price_text(rules, w.open), "h": price_text(rules, w.high), "l": price_text(rules, w.low),
            "v": amount_text(w.volume), "q": amount_text(w.quote_volume), "O": w.open_time, "C": ts,
            "F": w.first_id, "L": w.last_id, "n": w.count}


def rolling_ticker_event(rules: SymbolRules, ts: int, window: str, w: Window) -> dict:
    """`<symbol>@ticker_<window>` (and an item of `!ticker_<window>@arr`): the statistics of the trades
    from `w.open_time` (a minute's start) to `ts`, as Binance's rolling windows count them."""
    change, pct, wavg = _change(rules, w)
    return {"e": f"{window}Ticker", "E": ts, "s": rules.symbol, "p": change, "P": pct,
            "o": price_text(rules, w.open), "h": price_text(rules, w.high), "l": price_text(rules, w.low),
            "c": price_text(rules, w.close), "w": wavg, "v": amount_text(w.volume), "q": amount_text(w.quote_volume),
            "O": w.open_time, "C": ts, "F": w.first_id, "L": w.last_id, "n": w.count}


def avg_price_event(rules: SymbolRules, ts: int, quote_volume: int, volume: int, last_price: int,
                    last_trade_time: int) -> dict:
    """`<symbol>@avgPrice`: quote over base volume of the window's trades, rounded to 8 decimals as
    REST avgPrice's; with no trade in the window, the last trade's price. "T": the last trade's time."""
    price = average_price_text(quote_volume, volume) if volume else price_text(rules, last_price)
    return {"e": "avgPrice", "E": ts, "s": rules.symbol, "i": f"{AVG_PRICE_MINS}m", "w": price, "T": last_trade_time}


def mini_ticker_event(rules: SymbolRules, ts: int, w: Window) -> dict:
    """`<symbol>@miniTicker`: the short form of the 24-hour statistics."""
    return {"e": "24hrMiniTicker", "E": ts, "s": rules.symbol, "c": price_text(rules, w.close), "o": price_text(rules, w.open),
            "h": price_text(rules, w.high), "l": price_text(rules, w.low), "v": amount_text(w.volume),
            "q": amount_text(w.quote_volume)}


# ------------------------------------------------------------------------------ user data

_ENDS = {OrderStatus.CANCELED: "CANCELED", OrderStatus.EXPIRED: "EXPIRED",
         OrderStatus.EXPIRED_IN_MATCH: "TRADE_PREVENTION", OrderStatus.REJECTED: "REJECTED"}
#: by order status: the execution type of the report that ends an order without a fill (None: the
#: status does not)
END_EXECUTION = tuple(_ENDS.get(s) for s in OrderStatus)
#: by order status: whether an order of that status may be on the book
_RESTING = tuple(s in (OrderStatus.NEW, OrderStatus.PARTIALLY_FILLED) for s in OrderStatus)
_NO_FIELDS: dict = {}
#: by order type: whether it works as a MARKET order (never on the book)
_MARKET = tuple(t.working_type == OrderType.MARKET for t in OrderType)
_GTC, _MARKET_TYPE, _SELL_SIDE = TimeInForce.GTC, OrderType.MARKET, Side.SELL


class Fill(NamedTuple):
    """What an executionReport of execution type TRADE adds about the fill."""

    trade_id: int
    qty: int
    price: int
    quote_qty: int
    commission: int
    commission_asset: str
    is_maker: bool


def execution_report(rules: SymbolRules, order: Order, execution: str, ts: int, execution_id: int,
                     fill: Fill | None = None) -> dict:
    """`executionReport` for one order change or fill; `order` is Push's view of the order (with
    executed_qty/cum_quote_qty/status as of this event). A stop order shows its stop price in "P";
    until its trigger it is not working ("w" false, no "W"). A trailing stop also shows its
    trailingDelta in "d" and its trailingTime in "D" (-1 until it tracks prices). An order placed
    with a strategyId / strategyType shows them in "j" / "J" (user-data-stream.md's conditional
    fields; absent otherwise)."""
    type = order.type
    market = _MARKET[type]
    qty, quote_qty = order.qty, order.quote_qty
    by_quote = type == _MARKET_TYPE and quote_qty and (order.side == _SELL_SIDE or not qty)
    status = order.status
    working = not market and order.time_in_force == _GTC and order.working_time >= 0  # (a limit order working)
    client_id = order.client_order_id
    report = {
        "e": "executionReport", "E": ts, "s": rules.symbol,
        # a cancel's report: "c" is the cancel's own client id, "C" the order's (Binance): the one
        # it was sent with, else the one the API answered with (an order list's other leg, one of
        # openOrders' cancel-all: cancel-<id>); an amend's (REPLACED): "c" the order's new client
        # id, "C" the one it had
        "c": (order.cancel_client_order_id or default_cancel_id(order.order_id)) if execution == "CANCELED" else client_id,
        "S": SIDE_NAMES[order.side], "o": ORDER_TYPE_NAMES[type],
        "f": TIME_IN_FORCE_NAMES[order.time_in_force], "q": amount_text(0 if by_quote else qty),
        "p": price_text(rules, order.price), "P": price_text(rules, order.stop_price), "F": ZERO,
        "g": order.order_list_id,
        "C": client_id if execution == "CANCELED" else order.replaced_client_order_id
        if execution == "REPLACED" else "", "x": execution, "X": ORDER_STATUS_NAMES[status], "r": "NONE",
        "i": order.order_id, "l": ZERO, "z": amount_text(order.executed_qty), "L": price_text(rules, 0),
        "n": "0", "N": None, "T": ts, "t": -1,
        # the prevented match that took quantity off it (user-data-stream.md: "v", before "I")
        **({"v": order.prevented_match_id} if order.prevented_match_id >= 0 and order.prevented_qty else _NO_FIELDS),
        "I": execution_id, "w": working and _RESTING[status], "m": False, "M": False,
        "O": order.time, "Z": amount_text(order.cum_quote_qty), "Y": ZERO,
        "Q": amount_text(quote_qty if by_quote else 0),
    }
    if fill is not None:
        report.update({"l": amount_text(fill.qty), "L": price_text(rules, fill.price), "n": amount_text(fill.commission),
                       "N": fill.commission_asset, "t": fill.trade_id, "m": fill.is_maker, "Y": amount_text(fill.quote_qty)})
    if working:
        report["W"] = order.working_time
    if order.trailing_delta:
        report["d"] = order.trailing_delta
        report["D"] = order.trailing_time
    if order.strategy_id >= 0:
        report["j"] = order.strategy_id
    if order.strategy_type >= 0:
        report["J"] = order.strategy_type
    report["V"] = STP_NAMES[order.stp]
    if execution == "EXPIRED" and (reason := expiry_reason(order)) is not None:
        report["eR"] = reason  # why it expired (user-data-stream.md, "Order Expiry Reason")
    if order.prevented_qty:  # self-trade prevention: all it took off, and this time
        report["A"] = amount_text(order.prevented_qty)
        if execution == "TRADE_PREVENTION":
            report["B"] = amount_text(order.last_prevented_qty)
        if order.counter_order_id >= 0:  # the other order of its prevented match, and its symbol
            report["U"] = order.counter_order_id
            report["Cs"] = rules.symbol
    return report


def list_status_event(symbol: str, order_list_id: int, list_client_order_id: str, status_type: str,
                      order_status: str, ts: int, orders: list[tuple[int, str]], contingency: str | None = "OCO") -> dict:
    """`listStatus`: an order list started or ended; `orders` its (order id, client id) pairs;
    `contingency` the list's type as the node keeps it (views.contingency_name: OCO or OTO)."""
    return {"e": "listStatus", "E": ts, "s": symbol, "g": order_list_id, "c": contingency_name(contingency),
            "l": status_type, "L": order_status, "r": "NONE", "C": list_client_order_id, "T": ts,
            "O": [{"s": symbol, "i": order_id, "c": cid} for order_id, cid in orders]}


def account_position_event(ts: int, balances: list[tuple[str, int, int]]) -> dict:
    """`outboundAccountPosition`: the assets an event changed, as (asset, free, locked) after it."""
    return {"e": "outboundAccountPosition", "E": ts, "u": ts,
            "B": [{"a": a, "f": amount_text(free), "l": amount_text(locked)} for a, free, locked in balances]}


def balance_update_event(ts: int, asset: str, delta: int) -> dict:
    """`balanceUpdate`: a deposit (positive) or withdrawal (negative)."""
    return {"e": "balanceUpdate", "E": ts, "a": asset, "d": amount_text(delta), "T": ts}


def listen_key_expired_event(ts: int, key: str) -> dict:
    return {"e": "listenKeyExpired", "E": ts, "listenKey": key}
