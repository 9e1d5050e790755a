"""The fields of each entity_type, defined once: API, WebSocket, history and stages all read these.

All amounts are integers (model/fixedpoint.py, model/symbols.py): prices in 10**-price_decimals quote
per base, quantities and asset amounts in 10**-8 units. Enums travel as Binance's names (strings).
Timestamps are ms since the epoch, assigned by Acquiring when it accepted the command.

SpotOrder — entity_id: str(order_id) (order ids are global, assigned by Acquiring, increasing). An
  order as the stages hold it, these fields typed: model/orders.py Order (created_fields writes its
  Created entry, from_fields reads one).
  Created by Acquiring (a new-order command on OrderChangeLog, key = symbol):
    symbol, account, client_order_id, side, type, time_in_force, price (0 for MARKET), qty (base
    units; 0 for a MARKET buy by quote amount), quote_qty (quote budget of a MARKET order by
    quoteOrderQty, else 0), stp (selfTradePreventionMode), frozen_asset, frozen (amount frozen for it),
    status ("NEW"); a stop order (STOP_LOSS, STOP_LOSS_LIMIT, TAKE_PROFIT, TAKE_PROFIT_LIMIT) also
    stop_price, its trigger price (the other types do not carry it: their entries stay as they were),
    and a trailing stop trailing_delta (BIPS; its stop_price is its activation price, 0 for none);
    strategy_id and strategy_type (Binance's strategyId, strategyType), each only when the client
    sent it (an order without them has an entry as it was before they were kept)
  Updated by Acquiring — a cancel request: cancel_requested=True, account, symbol; an amend request
    (amend keep priority): amend_requested=True, account, symbol, new_qty, amend_client_order_id.
  Updated by Match — every state change: status, executed_qty, cum_quote_qty, account, symbol; on the
    first report of an order (its taker report) also the order's side, type, price, frozen_asset and
    frozen; working_time on the report with which the order starts working: its first, or for a stop
    order the one of its trigger (a pending stop's first report, NEW, has none; Binance: isWorking
    false, workingTime -1); reason on EXPIRED/REJECTED/EXPIRED_IN_MATCH (e.g. "would_take",
    "would_trigger", "fok_unfilled", "stp", "no_liquidity", "ioc_leftover"); trailing_time on the
    report with which a trailing stop starts tracking prices (the one that places it, when it has no
    activation price), or alone (with account and symbol, no status) when a trade activates it (Binance:
    trailingTime, -1 until then). A cancel that found
    nothing open: cancel_rejected=True, account, symbol. An amend's answer: its report carries
    amended=True, and, when the order was reduced (not ended), qty (the new total), client_order_id
    (the order's from now on) and hold (what it keeps frozen: Settlement releases the rest); an amend
    that changed nothing: amend_rejected=True, account, symbol, reason ("unknown_order",
    "not_reducing", "duplicate_client_order_id"). DECREMENT self-trade prevention: prevented_qty (what
    it took off the order so far, never executed) on the reports of a prevention and on the taker's
    own, with hold on those of an order that stays open.
  A report of an order a prevented match took quantity off (below) also carries prevented_match_id
    (that match's) and counter_order_id (the other order of it): Binance's preventedMatchId, and an
    executionReport's "v" and "U".
SpotPreventedMatch — entity_id: f"{symbol}:{prevented_match_id}" (ids per symbol from 0, assigned by
  Match: Binance's preventedMatchId).
  Created by Match (OrderChangeLog, key = symbol), before the reports of the orders it took quantity
    off, when self-trade prevention stops a match: symbol, prevented_match_id, taker_order_id,
    maker_order_id, account, stp (the taker's selfTradePreventionMode), price (the maker's);
    taker_prevented_qty and maker_prevented_qty, what it took off each order (an expiry: all it had
    left; DECREMENT: the overlap), only for an order it touched (EXPIRE_MAKER leaves the taker alone,
    EXPIRE_TAKER the maker). The other stages pass over it; Persist keeps it (myPreventedMatches),
    Acquiring shows the taker's in its FULL answer (preventedMatches).
SpotTrade — entity_id: f"{symbol}:{trade_id}" (trade ids per symbol, assigned by Match).
  Created by Match (TradeChangeLog, key = symbol): symbol, trade_id, price, qty, quote_qty,
    buyer_order_id, seller_order_id, buyer_account, seller_account, buyer_is_maker,
    maker_order_id, taker_order_id
SpotKLine — entity_id: f"{symbol}:{interval}:{open_time}".
  Created/Updated by KLine (KLineChangeLog, key = symbol): symbol, interval, open_time, close_time,
    open, high, low, close, volume, quote_volume, trades, taker_buy_volume, taker_buy_quote_volume,
    closed. An open candle's state goes out once per `node.candle_update_ms` of trade time and at
    each Tick; a closed one when a later trade closes it (engine/kline.py, "Cadence").
Clock — not an entity: entity_id f"tick:{symbol}", Updated: symbol. A journaled Tick (model/commands.py)
  from Acquiring to Match (OrderChangeLog), passed on by Match among the symbol's trades to KLine
  (TradeChangeLog); every other stage passes over it.
SpotBalance — entity_id: f"{account}:{asset}".
  Updated by Acquiring (deposit, withdraw, freeze) and Settlement (trade, fee, release, reduce) on
    BalanceChangeLog (key: the account for Acquiring's changes; the order's symbol for Settlement's,
    so its output follows its symbol-keyed input partition by partition): account, asset,
    available_delta, frozen_delta, reason, ref
    (the order id whose hold a freeze/trade/fee/release/reduce concerns, or a transfer id "transfer-N").
    Deltas only: a balance is the sum of its deltas. (No writer publishes absolute balances: Acquiring's
    view depends on when Settlement's changes reached it, which would make the log timing-dependent.)
"""

from __future__ import annotations

ORDER_CREATED = (
    "symbol", "account", "client_order_id", "side", "type", "time_in_force", "price", "qty", "quote_qty",
    "stp", "frozen_asset", "frozen", "status",
)
ORDER_UPDATED = ("status", "executed_qty", "cum_quote_qty", "working_time", "reason")
ORDER_CANCEL_REQUEST = ("cancel_requested", "account", "symbol")
TRADE_CREATED = (
    "symbol", "trade_id", "price", "qty", "quote_qty", "buyer_order_id", "seller_order_id", "buyer_account",
    "seller_account", "buyer_is_maker", "maker_order_id", "taker_order_id",
)
#: what a trade shows anyone (as Binance's public trade streams): no account and no order ids, which
#: would let one user follow another's orders (DESIGN.md invariant 9)
TRADE_PUBLIC = frozenset({"symbol", "trade_id", "price", "qty", "quote_qty", "buyer_is_maker"})
KLINE_FIELDS = (
    "symbol", "interval", "open_time", "close_time", "open", "high", "low", "close", "volume", "quote_volume",
    "trades", "taker_buy_volume", "taker_buy_quote_volume", "closed",
)
BALANCE_FIELDS = ("account", "asset", "available_delta", "frozen_delta", "reason", "ref")

BALANCE_REASONS = ("deposit", "withdraw", "freeze", "trade", "fee", "release", "reduce")


PREVENTED_MATCH_FIELDS = ("symbol", "prevented_match_id", "taker_order_id", "maker_order_id", "account", "stp", "price",
                          "taker_prevented_qty", "maker_prevented_qty")


def trade_id_of(symbol: str, trade_id: int) -> str:
    return f"{symbol}:{trade_id}"


def kline_id_of(symbol: str, interval: str, open_time: int) -> str:
    return f"{symbol}:{interval}:{open_time}"


def balance_id_of(account: int, asset: str) -> str:
    return f"{account}:{asset}"
