"""Public market data of the REST API (no key needed): exchange info, depth, trades, candles, tickers.
Books come from Acquiring's views, trades and candles from the SQLite history."""

from __future__ import annotations

from aiohttp import web

from ..binance import params, views
from .plumbing import HISTORY, now_ms, read_fresh, request_params, stage_of
from .ratelimit import LIMITER

# ------------------------------------------------------------------------------- public


async def ping(request: web.Request) -> web.Response:
    return web.json_response({})


async def server_time(request: web.Request) -> web.Response:
    return web.json_response({"serverTime": now_ms()})


async def exchange_info(request: web.Request) -> web.Response:
    p, _, _ = await request_params(request)
    rules = stage_of(request).rules
    chosen = params.parse_symbols_filter(p, rules)
    info = views.exchange_info_json({s: rules[s] for s in chosen}, now_ms())
    info["rateLimits"] = request.app[LIMITER].rate_limits_json()  # the node's limits (ratelimit.py)
    return web.json_response(info)


async def depth(request: web.Request) -> web.Response:
    p, _, _ = await request_params(request)
    stage = stage_of(request)
    symbol = params.parse_symbol(p, stage.rules)
    limit = params.parse_depth_limit(p)
    view = stage.depth[symbol]
    bids, asks = view.top(limit)
    return web.json_response(views.depth_json(stage.rules[symbol], view.update_id, bids, asks))


async def _latest_trades(request: web.Request):
    """(symbol rules, the latest trades) for GET /trades and /aggTrades (symbol, limit <= 1000)."""
    p, _, _ = await request_params(request)
    stage = stage_of(request)
    symbol = params.parse_symbol(p, stage.rules)
    limit = params.parse_limit(p, "limit", default=500, maximum=1000)
    await read_fresh(request)
    return stage.rules[symbol], request.app[HISTORY].trades(symbol, limit=limit)


async def recent_trades(request: web.Request) -> web.Response:
    rules, rows = await _latest_trades(request)
    return web.json_response([views.trade_json(t, rules) for t in rows])


async def agg_trades(request: web.Request) -> web.Response:
    """Binance aggTrades: fromId (aggregate id, inclusive) pages forward; startTime / endTime
    (inclusive, at most an hour apart) pick a window, the first `limit` of it with startTime, the
    last with endTime alone; none of them: the most recent. One aggregate per trade (views.py)."""
    p, _, _ = await request_params(request)
    stage = stage_of(request)
    symbol = params.parse_symbol(p, stage.rules)
    limit = params.parse_limit(p, "limit", default=500, maximum=1000)
    from_id, start, end = params.parse_agg_trades_window(p)
    await read_fresh(request)
    rows = request.app[HISTORY].trades_window(symbol, from_id, start, end, limit)
    return web.json_response(views.agg_trades_json(rows, stage.rules[symbol]))


async def historical_trades(request: web.Request) -> web.Response:
    """Binance historicalTrades: trades from fromId (inclusive) forward, else the most recent; limit
    default 500, at most 1000. No API key needed (Binance's MARKET_DATA, which it no longer requires)."""
    p, _, _ = await request_params(request)
    stage = stage_of(request)
    symbol = params.parse_symbol(p, stage.rules)
    limit = params.parse_limit(p, "limit", default=500, maximum=1000)
    from_id = params.parse_int(p, "fromId")
    await read_fresh(request)
    rows = request.app[HISTORY].trades_window(symbol, from_id=from_id, limit=limit)
    return web.json_response([views.trade_json(t, stage.rules[symbol]) for t in rows])


async def klines(request: web.Request) -> web.Response:
    p, _, _ = await request_params(request)
    stage = stage_of(request)
    symbol = params.parse_symbol(p, stage.rules)
    interval = params.parse_interval(p)
    limit = params.parse_limit(p, "limit", default=500, maximum=1000)
    start, end = params.parse_time_range(p)
    await read_fresh(request)
    rows = request.app[HISTORY].klines(symbol, interval, start_time=start, end_time=end, limit=limit)
    return web.json_response([views.kline_row(k, stage.rules[symbol]) for k in rows])


def _ticker_symbols(p: dict[str, str], rules) -> tuple[list[str], bool]:
    """symbol= gives one object; symbols=[...] or nothing gives an array."""
    if "symbol" in p:
        return [params.parse_symbol(p, rules)], True
    return params.parse_symbols_filter(p, rules), False


async def ticker_24hr(request: web.Request) -> web.Response:
    p, _, _ = await request_params(request)
    stage = stage_of(request)
    symbols, single = _ticker_symbols(p, stage.rules)
    await read_fresh(request)
    now = now_ms()
    out = []
    for symbol in symbols:
        summary, prev_close = request.app[HISTORY].trade_window(symbol, now - views.DAY_MS)
        out.append(views.ticker_24hr_json(stage.rules[symbol], summary, stage.depth[symbol].best(), now, prev_close))
    return web.json_response(out[0] if single else out)


async def ticker_price(request: web.Request) -> web.Response:
    p, _, _ = await request_params(request)
    stage = stage_of(request)
    symbols, single = _ticker_symbols(p, stage.rules)
    await read_fresh(request)
    out = []
    for symbol in symbols:
        last = request.app[HISTORY].trades(symbol, limit=1)
        out.append(views.ticker_price_json(stage.rules[symbol], last[0] if last else None))
    return web.json_response(out[0] if single else out)


async def book_ticker(request: web.Request) -> web.Response:
    p, _, _ = await request_params(request)
    stage = stage_of(request)
    symbols, single = _ticker_symbols(p, stage.rules)
    out = [views.book_ticker_json(stage.rules[s], *stage.depth[s].best()) for s in symbols]
    return web.json_response(out[0] if single else out)


async def avg_price(request: web.Request) -> web.Response:
    p, _, _ = await request_params(request)
    stage = stage_of(request)
    symbol = params.parse_symbol(p, stage.rules)
    await read_fresh(request)
    now = now_ms()
    trades = request.app[HISTORY].trades_since(symbol, now - 300_000)
    return web.json_response(views.avg_price_json(stage.rules[symbol], trades, now))
