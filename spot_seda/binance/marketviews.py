"""Public market data to Binance's JSON shapes: trades and aggregate trades, klines, depth, the
tickers, the average price, and exchangeInfo (each symbol's filters). The orders, the account's
trades and the account are views.py's, whose decimal-text helpers these share (8 decimals, exact;
only Binance's ratios, weightedAvgPrice, priceChangePercent and avgPrice, are rounded at their shown
precision: views.average_price_text, views.change_percent_text).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from ..model.summary import TradeSummary
from ..model.enums import OrderType, SelfTradePrevention
from ..model.fixedpoint import ASSET_DECIMALS
from ..model.symbols import AVG_PRICE_MINS, SymbolRules
from .orderparams import MAX_NOTIONAL, max_price
from .views import ZERO, amount_text, average_price_text, change_percent_text, price_text

#: every type this node takes, in the order Binance lists them
ORDER_TYPES = sorted(t.name for t in OrderType)
STP_MODES = [m.name for m in SelfTradePrevention]
DAY_MS = 86_400_000


# ------------------------------------------------------------------------------------ trades


def trade_json(trade: Mapping, rules: SymbolRules) -> dict:
    """GET /api/v3/trades and historicalTrades."""
    return {
        "id": trade["trade_id"],
        "price": price_text(rules, trade["price"]),
        "qty": amount_text(trade["qty"]),
        "quoteQty": amount_text(trade["quote_qty"]),
        "time": trade["time"],
        "isBuyerMaker": bool(trade["buyer_is_maker"]),
        "isBestMatch": True,
    }


def agg_trade_json(trades: list[Mapping], rules: SymbolRules, time: int | None = None) -> dict:
    """GET /api/v3/aggTrades, one aggregate trade (model/summary.py's aggregate_trades: a taker's
    consecutive fills at one price), numbered by its first trade's id; the aggTrade stream's payload
    too (binance/streams.py), `time` its trades' time where they carry none."""
    first, last = trades[0], trades[-1]
    return {
        "a": first["trade_id"],
        "p": price_text(rules, first["price"]),
        "q": amount_text(sum(t["qty"] for t in trades) if len(trades) > 1 else first["qty"]),
        "f": first["trade_id"],
        "l": last["trade_id"],
        "T": first["time"] if time is None else time,
        "m": bool(first["buyer_is_maker"]),
        "M": True,
    }


def agg_trades_json(groups: Iterable[list[Mapping]], rules: SymbolRules) -> list[dict]:
    """aggTrades: each aggregate's JSON, in order."""
    return [agg_trade_json(trades, rules) for trades in groups]


# ------------------------------------------------------------------------------- market data


def kline_row(kline: Mapping, rules: SymbolRules) -> list:
    """Binance's 12-field kline array."""
    return [
        kline["open_time"],
        price_text(rules, kline["open"]),
        price_text(rules, kline["high"]),
        price_text(rules, kline["low"]),
        price_text(rules, kline["close"]),
        amount_text(kline["volume"]),
        kline["close_time"],
        amount_text(kline["quote_volume"]),
        kline["trades"],
        amount_text(kline["taker_buy_volume"]),
        amount_text(kline["taker_buy_quote_volume"]),
        "0",
    ]


def depth_json(rules: SymbolRules, last_update_id: int, bids: Iterable[tuple[int, int]],
               asks: Iterable[tuple[int, int]]) -> dict:
    """GET /api/v3/depth: levels as [price, qty] strings, best first."""
    return {
        "lastUpdateId": last_update_id,
        "bids": [[price_text(rules, p), amount_text(q)] for p, q in bids],
        "asks": [[price_text(rules, p), amount_text(q)] for p, q in asks],
    }


def book_ticker_json(rules: SymbolRules, bid: tuple[int, int] | None, ask: tuple[int, int] | None) -> dict:
    """GET /api/v3/ticker/bookTicker (an empty side shows zeros)."""
    bp, bq = bid or (0, 0)
    ap, aq = ask or (0, 0)
    return {
        "symbol": rules.symbol,
        "bidPrice": price_text(rules, bp),
        "bidQty": amount_text(bq),
        "askPrice": price_text(rules, ap),
        "askQty": amount_text(aq),
    }


def ticker_price_json(rules: SymbolRules, last_trade: Mapping | None) -> dict:
    """GET /api/v3/ticker/price: the last trade's price (zero before the first trade)."""
    return {"symbol": rules.symbol, "price": price_text(rules, last_trade["price"] if last_trade else 0)}


#: ticker/24hr type=MINI: these fields of the FULL answer, in its order (rest-api.md)
MINI_TICKER_FIELDS = ("symbol", "openPrice", "highPrice", "lowPrice", "lastPrice", "volume", "quoteVolume", "openTime",
                      "closeTime", "firstId", "lastId", "count")


def mini_ticker(full: dict) -> dict:
    """A ticker/24hr answer as type=MINI gives it."""
    return {name: full[name] for name in MINI_TICKER_FIELDS}


def ticker_24hr_json(rules: SymbolRules, summary: TradeSummary | None,
                     best: tuple[tuple[int, int] | None, tuple[int, int] | None], now: int,
                     prev_close: int | None = None, window_ms: int = DAY_MS) -> dict:
    """GET /api/v3/ticker/24hr from the summary of the last `window_ms` of trades (None: no trade)
    and the best levels. prevClosePrice is the last price before the window (0 if none)."""
    bid, ask = best
    bp, bq = bid or (0, 0)
    ap, aq = ask or (0, 0)
    count = 0
    if summary is not None:
        open_, close, high, low = summary.open, summary.close, summary.high, summary.low
        volume, quote_volume, count = summary.volume, summary.quote_volume, summary.count
        change = close - open_
        percent = change_percent_text(change, open_)
        first_id, last_id, last_qty = summary.first_id, summary.last_id, summary.last_qty
    else:
        open_ = close = high = low = volume = quote_volume = change = last_qty = 0
        percent = "0.000"
        first_id = last_id = -1
    return {
        "symbol": rules.symbol,
        "priceChange": price_text(rules, change),
        "priceChangePercent": percent,
        "weightedAvgPrice": average_price_text(quote_volume, volume),
        "prevClosePrice": price_text(rules, prev_close or 0),
        "lastPrice": price_text(rules, close),
        "lastQty": amount_text(last_qty),
        "bidPrice": price_text(rules, bp),
        "bidQty": amount_text(bq),
        "askPrice": price_text(rules, ap),
        "askQty": amount_text(aq),
        "openPrice": price_text(rules, open_),
        "highPrice": price_text(rules, high),
        "lowPrice": price_text(rules, low),
        "volume": amount_text(volume),
        "quoteVolume": amount_text(quote_volume),
        "openTime": now - window_ms,
        "closeTime": now,
        "firstId": first_id,
        "lastId": last_id,
        "count": count,
    }


#: the fields of GET /api/v3/ticker and ticker/tradingDay (FULL): 24hr's without the previous close,
#: the last quantity and the best bid and ask
WINDOW_TICKER_FIELDS = ("symbol", "priceChange", "priceChangePercent", "weightedAvgPrice", "openPrice", "highPrice",
                        "lowPrice", "lastPrice", "volume", "quoteVolume", "openTime", "closeTime", "firstId", "lastId",
                        "count")


def window_ticker_json(rules: SymbolRules, summary: TradeSummary | None, open_time: int, now: int,
                       mini: bool = False, close_time: int | None = None) -> dict:
    """GET /api/v3/ticker (a rolling window) and ticker/tradingDay: the trades from `open_time` to
    `now`, as the 24-hour ticker sums them. closeTime is `now`, or `close_time` (tradingDay: the
    day's last millisecond, as rest-api.md's examples show it, while the trades summed end now)."""
    full = ticker_24hr_json(rules, summary, (None, None), now, window_ms=now - open_time)
    if close_time is not None:
        full["closeTime"] = close_time
    return {name: full[name] for name in (MINI_TICKER_FIELDS if mini else WINDOW_TICKER_FIELDS)}


def avg_price_json(rules: SymbolRules, trades: Iterable[Mapping], now: int, last_trade: Mapping | None = None) -> dict:
    """GET /api/v3/avgPrice: volume-weighted price of the last 5 minutes' trades; without any, the last
    trade's price if the caller passes it, else 0. closeTime: the last trade's time."""
    rows = list(trades)
    volume = sum(t["qty"] for t in rows)
    if volume:
        price = average_price_text(sum(t["quote_qty"] for t in rows), volume)
        close_time = max(t["time"] for t in rows)
    elif last_trade is not None:
        price, close_time = price_text(rules, last_trade["price"]), last_trade["time"]
    else:
        price, close_time = ZERO, now
    return {"mins": AVG_PRICE_MINS, "price": price, "closeTime": close_time}


def filters_json(rules: SymbolRules) -> list[dict]:
    """PRICE_FILTER, LOT_SIZE, MARKET_LOT_SIZE, NOTIONAL, MAX_NUM_ORDERS, MAX_NUM_ALGO_ORDERS,
    TRAILING_DELTA and, where configured, PERCENT_PRICE_BY_SIDE as exchangeInfo shows them: every
    filter the node enforces, and only those."""
    (min_above, max_above), (min_below, max_below) = rules.trailing_delta
    return [
        {"filterType": "PRICE_FILTER", "minPrice": price_text(rules, rules.tick),
         "maxPrice": price_text(rules, max_price(rules)), "tickSize": price_text(rules, rules.tick)},
        {"filterType": "LOT_SIZE", "minQty": amount_text(rules.min_qty), "maxQty": amount_text(rules.max_qty),
         "stepSize": amount_text(rules.step)},
        {"filterType": "MARKET_LOT_SIZE", "minQty": amount_text(rules.min_qty),
         "maxQty": amount_text(rules.market_max_qty), "stepSize": amount_text(rules.step)},
        {"filterType": "NOTIONAL", "minNotional": amount_text(rules.min_notional), "applyMinToMarket": True,
         "maxNotional": amount_text(MAX_NOTIONAL), "applyMaxToMarket": False, "avgPriceMins": AVG_PRICE_MINS},
        {"filterType": "MAX_NUM_ORDERS", "maxNumOrders": rules.max_num_orders},
        {"filterType": "MAX_NUM_ALGO_ORDERS", "maxNumAlgoOrders": rules.max_num_algo_orders},
        {"filterType": "TRAILING_DELTA", "minTrailingAboveDelta": min_above, "maxTrailingAboveDelta": max_above,
         "minTrailingBelowDelta": min_below, "maxTrailingBelowDelta": max_below},
        *_percent_price_by_side(rules),
    ]


def _percent_price_by_side(rules: SymbolRules) -> list[dict]:
    """PERCENT_PRICE_BY_SIDE, for a symbol configured with it (engine/avgprice.py enforces it)."""
    if rules.percent_price is None:
        return []
    (bid_up, bid_down, ask_up, ask_down), window_ms = rules.percent_price
    return [{"filterType": "PERCENT_PRICE_BY_SIDE", "bidMultiplierUp": amount_text(bid_up),
             "bidMultiplierDown": amount_text(bid_down), "askMultiplierUp": amount_text(ask_up),
             "askMultiplierDown": amount_text(ask_down), "avgPriceMins": window_ms // 60_000}]


def symbol_info_json(rules: SymbolRules) -> dict:
    return {
        "symbol": rules.symbol,
        "status": "TRADING",
        "baseAsset": rules.base,
        "baseAssetPrecision": ASSET_DECIMALS,
        "quoteAsset": rules.quote,
        "quotePrecision": ASSET_DECIMALS,
        "quoteAssetPrecision": ASSET_DECIMALS,
        "baseCommissionPrecision": ASSET_DECIMALS,
        "quoteCommissionPrecision": ASSET_DECIMALS,
        "orderTypes": list(ORDER_TYPES),
        "icebergAllowed": False,
        "ocoAllowed": True,
        "otoAllowed": True,
        "opoAllowed": False,  # (no OPO / OPOCO lists: POST /api/v3/orderList/opo is not served)
        "quoteOrderQtyMarketAllowed": True,
        "allowTrailingStop": True,
        "cancelReplaceAllowed": True,
        "amendAllowed": True,
        "pegInstructionsAllowed": False,  # (the docs' example's order: after amendAllowed)
        "isSpotTradingAllowed": True,
        "isMarginTradingAllowed": False,
        "filters": filters_json(rules),
        "permissions": [],
        "permissionSets": [["SPOT"]],
        "defaultSelfTradePreventionMode": rules.default_stp,
        "allowedSelfTradePreventionModes": list(STP_MODES),
    }


def exchange_info_json(rules_by_symbol: Mapping[str, SymbolRules], server_time: int,
                       show_permission_sets: bool = True) -> dict:
    """GET /api/v3/exchangeInfo for the given symbols (in the mapping's order); without
    `show_permission_sets` each permissionSets is empty, as Binance's showPermissionSets=false
    leaves it. The caller adds the rate limits it enforces."""
    symbols = [symbol_info_json(r) for r in rules_by_symbol.values()]
    if not show_permission_sets:
        for symbol in symbols:
            symbol["permissionSets"] = []
    return {
        "timezone": "UTC",
        "serverTime": server_time,
        "rateLimits": [],
        "exchangeFilters": [],
        "symbols": symbols,
    }

