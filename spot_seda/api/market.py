"""Public market data (no key needed): exchange info, depth, trades, candles, tickers. Books come
from Acquiring's views, trades and candles from the SQLite history.

Each is an operation of the app and the request's parameters (name -> text) that returns the answer's
JSON document or raises ApiError, whatever carried the request: rest.py serves them as GET
/api/v3/..., wsapi.py as WebSocket API methods (`depth`, `klines`, ...), so both give the same answer
and the same errors."""

from __future__ import annotations

import asyncio

from aiohttp import web

from ..binance import marketviews, params, queryparams
from ..binance.queryparams import symbols_of_status
from .plumbing import HISTORY, STAGE, now_ms, read_fresh, tick
from .ratelimit import LIMITER

Params = dict[str, str]

# ------------------------------------------------------------------------------- public


async def ping(app: web.Application, p: Params) -> dict:
    return {}


async def server_time(app: web.Application, p: Params) -> dict:
    return {"serverTime": now_ms()}


async def exchange_info(app: web.Application, p: Params, websocket: bool = False) -> dict:
    """GET /api/v3/exchangeInfo; `websocket`: the WebSocket API's `exchangeInfo`, whose rateLimits
    list CONNECTIONS where REST's list RAW_REQUESTS (ratelimit.py)."""
    rules = app[STAGE].rules
    chosen = params.parse_symbols_filter(p, rules)
    passes, show_sets = queryparams.parse_exchange_info_filter(p)  # every symbol here is SPOT and TRADING
    info = marketviews.exchange_info_json({s: rules[s] for s in chosen if passes}, now_ms(), show_sets)
    info["rateLimits"] = app[LIMITER].rate_limits_json(websocket)  # the node's limits (ratelimit.py)
    return info


async def ws_exchange_info(app: web.Application, p: Params) -> dict:
    return await exchange_info(app, p, websocket=True)


async def depth(app: web.Application, p: Params) -> dict:
    stage = app[STAGE]
    symbol = params.parse_symbol(p, stage.rules)
    limit = queryparams.parse_depth_limit(p)
    symbols_of_status(p, [symbol], True)  # (-1220 if not in the symbolStatus asked)
    await read_fresh(app, views_only=True)  # Acquiring's book view, from Match's reports: an ACK'd order in it
    view = stage.depth[symbol]
    bids, asks = view.top(limit)
    return marketviews.depth_json(stage.rules[symbol], view.update_id, bids, asks)


async def _latest_trades(app: web.Application, p: Params):
    """(symbol rules, the latest trades) for GET /trades and /aggTrades (symbol, limit <= 1000)."""
    stage = app[STAGE]
    symbol = params.parse_symbol(p, stage.rules)
    limit = params.parse_limit(p, "limit", default=500, maximum=1000)
    await read_fresh(app)
    return stage.rules[symbol], app[HISTORY].trades(symbol, limit=limit)


async def recent_trades(app: web.Application, p: Params) -> list:
    rules, rows = await _latest_trades(app, p)
    return [marketviews.trade_json(t, rules) for t in rows]


async def agg_trades(app: web.Application, p: Params) -> list:
    """Binance aggTrades: fromId (aggregate id, inclusive) pages forward; startTime / endTime
    (inclusive, any span) pick a window, the first `limit` of it with startTime, the last with
    endTime alone; none of them: the most recent. An aggregate is a taker's consecutive fills at one
    price, numbered by its first trade's id (model/summary.py)."""
    stage = app[STAGE]
    symbol = params.parse_symbol(p, stage.rules)
    limit = params.parse_limit(p, "limit", default=500, maximum=1000)
    from_id, start, end = queryparams.parse_agg_trades_window(p)
    await read_fresh(app)
    groups = app[HISTORY].agg_trades(symbol, from_id, start, end, limit)
    return marketviews.agg_trades_json(groups, stage.rules[symbol])


async def historical_trades(app: web.Application, p: Params) -> list:
    """Binance historicalTrades: trades from fromId (inclusive) forward, else the most recent; limit
    default 500, at most 1000. No API key needed (Binance's MARKET_DATA, which it no longer requires)."""
    stage = app[STAGE]
    symbol = params.parse_symbol(p, stage.rules)
    limit = params.parse_limit(p, "limit", default=500, maximum=1000)
    from_id = params.parse_int(p, "fromId")
    await read_fresh(app)
    history = app[HISTORY]
    rows = history.trades(symbol, limit) if from_id is None else history.trades_from(symbol, from_id, limit)
    return [marketviews.trade_json(t, stage.rules[symbol]) for t in rows]


async def klines(app: web.Application, p: Params) -> list:
    """Binance klines; with `timeZone` on that clock (History.klines_in_zone)."""
    stage = app[STAGE]
    symbol = params.parse_symbol(p, stage.rules)
    interval = queryparams.parse_interval(p)
    limit = params.parse_limit(p, "limit", default=500, maximum=1000)
    start, end = queryparams.parse_time_range(p)
    offset_ms = queryparams.parse_time_zone(p)
    # its open candles out now, so that the read sees them
    await tick(app, symbol, asyncio.get_running_loop().time() + stage.ctx.settings.node.result_timeout_s)
    await read_fresh(app)
    rows = app[HISTORY].klines_in_zone(symbol, interval, offset_ms, start_time=start, end_time=end, limit=limit)
    return [marketviews.kline_row(k, stage.rules[symbol]) for k in rows]


def _ticker_symbols(p: dict[str, str], rules) -> tuple[list[str], bool]:
    """symbol= gives one object; symbols=[...] or nothing gives an array; both: -1128. Only those in
    the symbolStatus asked (queryparams.symbols_of_status)."""
    if "symbol" in p and "symbols" not in p:
        return symbols_of_status(p, [params.parse_symbol(p, rules)], True), True
    return symbols_of_status(p, params.parse_symbols_filter(p, rules), False), False


async def ticker_24hr(app: web.Application, p: Params) -> dict | list:
    stage = app[STAGE]
    symbols, single = _ticker_symbols(p, stage.rules)
    mini = queryparams.parse_ticker_type(p) == "MINI"
    await read_fresh(app)
    now = now_ms()
    out = []
    for symbol in symbols:
        summary, prev_close = app[HISTORY].trade_window(symbol, now - marketviews.DAY_MS)
        doc = marketviews.ticker_24hr_json(stage.rules[symbol], summary, stage.depth[symbol].best(), now, prev_close)
        out.append(marketviews.mini_ticker(doc) if mini else doc)
    return out[0] if single else out


async def rolling_ticker(app: web.Application, p: Params) -> dict | list:
    """GET /api/v3/ticker, `ticker`: the last `windowSize` of trades, the window opening on the
    minute (rest-api.md: up to 59,999 ms wider than asked)."""
    now = now_ms()
    return await _window_tickers(app, p, (now - queryparams.parse_window_size(p)) // 60_000 * 60_000, now)


async def trading_day_ticker(app: web.Application, p: Params) -> dict | list:
    """GET /api/v3/ticker/tradingDay, `ticker.tradingDay`: the trades since the day began on the
    `timeZone`'s clock (default UTC); closeTime is the day's last millisecond (rest-api.md)."""
    now, offset = now_ms(), queryparams.parse_time_zone(p)
    open_time = (now + offset) // marketviews.DAY_MS * marketviews.DAY_MS - offset
    return await _window_tickers(app, p, open_time, now, open_time + marketviews.DAY_MS - 1)


async def _window_tickers(app: web.Application, p: Params, open_time: int, now: int,
                          close_time: int | None = None) -> dict | list:
    stage = app[STAGE]
    symbols, single = queryparams.parse_symbol_or_symbols(p, stage.rules)
    symbols = symbols_of_status(p, symbols, single)
    mini = queryparams.parse_ticker_type(p) == "MINI"
    await read_fresh(app)
    out = [marketviews.window_ticker_json(stage.rules[symbol], app[HISTORY].trade_window(symbol, open_time)[0],
                                          open_time, now, mini, close_time) for symbol in symbols]
    return out[0] if single else out


async def ticker_price(app: web.Application, p: Params) -> dict | list:
    stage = app[STAGE]
    symbols, single = _ticker_symbols(p, stage.rules)
    await read_fresh(app)
    out = []
    for symbol in symbols:
        last = app[HISTORY].trades(symbol, limit=1)
        out.append(marketviews.ticker_price_json(stage.rules[symbol], last[0] if last else None))
    return out[0] if single else out


async def book_ticker(app: web.Application, p: Params) -> dict | list:
    stage = app[STAGE]
    symbols, single = _ticker_symbols(p, stage.rules)
    await read_fresh(app, views_only=True)  # (as depth)
    out = [marketviews.book_ticker_json(stage.rules[s], *stage.depth[s].best()) for s in symbols]
    return out[0] if single else out


async def avg_price(app: web.Application, p: Params) -> dict:
    stage = app[STAGE]
    symbol = params.parse_symbol(p, stage.rules)
    await read_fresh(app)
    now = now_ms()
    trades = app[HISTORY].trades_since(symbol, now - 300_000)
    # a quiet market (no trade in the window): the last trade's price and time, as the @avgPrice
    # stream and NOTIONAL's check on market orders have it (engine/avgprice.py); 0 before any trade
    last = None if trades else next(iter(app[HISTORY].trades(symbol, limit=1)), None)
    return marketviews.avg_price_json(stage.rules[symbol], trades, now, last)
