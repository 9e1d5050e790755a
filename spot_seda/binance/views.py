"""Orders (model/orders.py's Order, as Acquiring and the History hold them), the account's own trades
and the account to Binance's JSON shapes; public market data is marketviews.py's. Here the order's
enums become Binance's names.

Amounts are decimal strings with 8 decimals, as Binance writes them ("0.00100000"): quantities and
quote amounts are already 10**-8 units; prices (10**-price_decimals quote per base) are scaled up
exactly (amount_text, price_text: every view's, streams' too). Nothing rounds.

Order views, and what Binance's fields mean for this node's orders:
- origQty: the quantity asked. A MARKET order by quoteOrderQty has no asked quantity (Acquiring holds
  the whole free balance for a sell by quote amount): there origQty is the executed quantity.
- origQuoteOrderQty: the quoteOrderQty asked, else 0 (a MARKET buy by quantity holds a quote budget
  internally; that is not something the client asked for and is not shown).
- workingTime: when Match first reported the order; its creation time until then. A stop order
  (STOP_LOSS, STOP_LOSS_LIMIT, TAKE_PROFIT, TAKE_PROFIT_LIMIT) works from its trigger: -1 until
  then, as Binance shows a pending stop.
- isWorking: false for a stop order until its trigger, true otherwise (the other types work at once).
- stopPrice: a stop order's stop price; 0 for the others (in the answers to a new order or a
  cancel only for stop orders, as Binance's conditional field). A trailing stop's is its activation
  price, 0 when it has none.
- trailingDelta, trailingTime: a trailing stop's delta (BIPS) and the time it started tracking
  prices, -1 until then (Binance's conditional fields: trailing stops only).
- strategyId, strategyType: as the client sent them with the order, in every view of it (its
  placement's answer, order queries, the cancels' answers); absent when not sent (Binance's
  conditional fields), where web-socket-api.md's examples put them: just before
  selfTradePreventionMode.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from ..model.enums import (ORDER_STATUS_NAMES, ORDER_TYPE_NAMES, SIDE_NAMES, STP_NAMES, TIME_IN_FORCE_NAMES,
                           OrderStatus, OrderType, Side)
from ..model.fixedpoint import ASSET_DECIMALS, to_text
from ..model.orders import Order
from ..model.reasons import Reason
from ..model.symbols import FEE_SCALE, SymbolRules

# read once: an enum member read through its class costs ~0.2 µs on Python 3.11 (EnumType.__getattr__)
_BUY, _SELL, _MARKET = Side.BUY, Side.SELL, OrderType.MARKET
_PENDING_NEW, _EXPIRED = OrderStatus.PENDING_NEW, OrderStatus.EXPIRED


ZERO = "0.00000000"


def amount_text(units: int) -> str:
    """10**-8 units as Binance's 8-decimal string."""
    return to_text(units, ASSET_DECIMALS)


def _rounddiv(a: int, b: int) -> int:
    """a / b rounded to an integer, a half away from zero."""
    q, r = divmod(abs(a), abs(b))
    if 2 * r >= abs(b):
        q += 1
    return q if (a >= 0) == (b > 0) else -q


def average_price_text(quote_volume: int, volume: int) -> str:
    """quote over base volume as Binance shows a weighted average price (tickers' weightedAvgPrice,
    avgPrice): 8 decimals, rounded, a half away from zero (rest-api.md's example: a quoteVolume of
    485217905.04210480 over 18495.35066000 is "26234.58803036"); 0 without volume."""
    return amount_text(_rounddiv(quote_volume * 10**ASSET_DECIMALS, volume) if volume else 0)


def change_percent_text(change: int, open_price: int) -> str:
    """A price change as a percent of the open price, as Binance shows priceChangePercent: 3
    decimals, rounded, a half away from zero (rest-api.md: -94.99999800 over 98.99999800 is
    "-95.960"); "0.000" without an open price."""
    return to_text(_rounddiv(change * 100_000, open_price), 3) if open_price else "0.000"


def contingency_name(contingency_type: str | None) -> str:
    """An order list's contingencyType as Binance shows it (enums.md: OCO or OTO; an OTOCO is an
    OTO; a list from before the type was kept, an OCO)."""
    return "OTO" if contingency_type == "OTOCO" else contingency_type or "OCO"


def price_text(rules: SymbolRules, price: int) -> str:
    """A price in the symbol's price units as an 8-decimal string (exact)."""
    return to_text(price * 10 ** (ASSET_DECIMALS - rules.price_decimals), ASSET_DECIMALS)


# ------------------------------------------------------------------------------------ orders


def _is_quote_order(order: Order) -> bool:
    """A MARKET order placed by quoteOrderQty (see the module docstring)."""
    if order.type != _MARKET or not order.quote_qty:
        return False
    return order.side == _SELL or not order.qty


def _orig_qty(order: Order) -> int:
    return order.executed_qty if _is_quote_order(order) else order.qty


def _orig_quote_qty(order: Order) -> int:
    return order.quote_qty if _is_quote_order(order) else 0


def _waits(order: Order) -> bool:
    """A stop order before its trigger, an OTO's pending order before it is placed: not working."""
    return order.type.is_stop or order.status == _PENDING_NEW


def _is_working(order: Order) -> bool:
    """A stop order works from its trigger (Match's report with working_time), an OTO's pending order
    once placed; others at once."""
    return not _waits(order) or order.working_time >= 0


def working_time_of(order: Order) -> int:
    if order.working_time >= 0:
        return order.working_time
    return -1 if _waits(order) else order.time


def _stop_price(order: Order, rules: SymbolRules) -> dict:
    """Binance's conditional stopPrice of the answers to a new order or a cancel: stop orders only."""
    return {"stopPrice": price_text(rules, order.stop_price)} if order.type.is_stop else {}


def _trailing(order: Order) -> dict:
    """Binance's conditional trailingDelta and trailingTime: trailing stops only."""
    if not order.trailing_delta:
        return {}
    return {"trailingDelta": order.trailing_delta, "trailingTime": order.trailing_time}


def _strategy(order: Order) -> dict:
    """Binance's conditional strategyId and strategyType: each only when the client sent it."""
    if order.strategy_id < 0 and order.strategy_type < 0:  # (most orders)
        return {}
    out = {}
    if order.strategy_id >= 0:
        out["strategyId"] = order.strategy_id
    if order.strategy_type >= 0:
        out["strategyType"] = order.strategy_type
    return out


def conditional_fields(order: Order, rules: SymbolRules) -> dict:
    """rest-api.md's "Conditional fields in Order Responses" an order has: stopPrice (a stop order),
    trailingDelta and trailingTime (a trailing stop), strategyId and strategyType (when sent)."""
    return {**_stop_price(order, rules), **_trailing(order), **_strategy(order)}


def order_json(order: Order, rules: SymbolRules) -> dict:
    """GET /api/v3/order, openOrders, allOrders and the cancel answers."""
    return {
        "symbol": order.symbol,
        "orderId": order.order_id,
        "orderListId": order.order_list_id,
        "clientOrderId": order.client_order_id,
        "price": price_text(rules, order.price),
        "origQty": amount_text(_orig_qty(order)),
        "executedQty": amount_text(order.executed_qty),
        "cummulativeQuoteQty": amount_text(order.cum_quote_qty),
        "status": ORDER_STATUS_NAMES[order.status],
        "timeInForce": TIME_IN_FORCE_NAMES[order.time_in_force],
        "type": ORDER_TYPE_NAMES[order.type],
        "side": SIDE_NAMES[order.side],
        "stopPrice": price_text(rules, order.stop_price),
        "icebergQty": ZERO,
        "time": order.time,
        "updateTime": order.update_time or order.time,
        "isWorking": _is_working(order),
        "workingTime": working_time_of(order),
        "origQuoteOrderQty": amount_text(_orig_quote_qty(order)),
        **_strategy(order),
        "selfTradePreventionMode": STP_NAMES[order.stp],
        **_prevented(order),
        **_trailing(order),
        **_expiry(order),
    }


#: why an EXPIRED order expired, as Binance names it (enums.md, "Expiry Reasons"), by the node's reason
EXPIRY_REASONS = {Reason.IOC_LEFTOVER: "UNFILLED_IOC_QUANTITY_EXPIRED", Reason.FOK_UNFILLED: "UNFILLED_FOK_ORDER_EXPIRED",
                  Reason.NO_LIQUIDITY: "INSUFFICIENT_LIQUIDITY", Reason.OCO_TRIGGER: "OCO_TRIGGER",
                  Reason.OTO_EXPIRED: "OTO_PHASE_ONE_EXPIRED"}


def expiry_reason(order: Order) -> str | None:
    """An EXPIRED order's expiryReason ("NONE" for one the node ends for a reason Binance does not
    name, e.g. an amend to what has executed); None for any other status."""
    if order.status != _EXPIRED:
        return None
    return EXPIRY_REASONS.get(order.reason, "NONE")


def _expiry(order: Order) -> dict:
    """Binance's conditional expiryReason of an order query (only for an expired order)."""
    reason = expiry_reason(order)
    return {} if reason is None else {"expiryReason": reason}


def _prevented(order: Order, match_id: bool = True) -> dict:
    """Binance's conditional preventedMatchId (the last prevented match that took quantity off the
    order) and preventedQuantity (what self-trade prevention took off it in all), as faqs/stp_faq.md's
    orders show them; a placement answer (`match_id` False) only the quantity, as stp_faq's FULL
    answers (their `preventedMatches` name the ids)."""
    if not order.prevented_qty:
        return {}
    if match_id and order.prevented_match_id >= 0:
        return {"preventedMatchId": order.prevented_match_id, "preventedQuantity": amount_text(order.prevented_qty)}
    return {"preventedQuantity": amount_text(order.prevented_qty)}


def prevented_match_json(pm: Mapping, rules: SymbolRules, taker: bool = False) -> dict:
    """A prevented match as myPreventedMatches lists it (rest-api.md), or, `taker`, as a FULL
    placement answer's `preventedMatches` (faqs/stp_faq.md): a prevented quantity only for an order
    it took quantity off."""
    out = {} if taker else {"symbol": pm["symbol"]}
    out["preventedMatchId"] = pm["prevented_match_id"]
    if not taker:
        out["takerOrderId"] = pm["taker_order_id"]
    out["makerSymbol"] = pm["symbol"]
    out["makerOrderId"] = pm["maker_order_id"]
    if not taker:
        out["tradeGroupId"] = -1  # (no trade groups here: faqs/stp_faq.md, -1 "has not been set")
        out["selfTradePreventionMode"] = pm["stp"]
    out["price"] = price_text(rules, pm["price"])
    if pm.get("taker_prevented_qty") is not None:
        out["takerPreventedQuantity"] = amount_text(pm["taker_prevented_qty"])
    if pm.get("maker_prevented_qty") is not None:
        out["makerPreventedQuantity"] = amount_text(pm["maker_prevented_qty"])
    if not taker:
        out["transactTime"] = pm["time"]
    return out


def _result_fields(order: Order, rules: SymbolRules) -> dict:
    """The order's state as a RESULT answer and a cancel's answer give it (same fields, same order)."""
    return {
        "price": price_text(rules, order.price),
        "origQty": amount_text(_orig_qty(order)),
        "executedQty": amount_text(order.executed_qty),
        "origQuoteOrderQty": amount_text(_orig_quote_qty(order)),
        "cummulativeQuoteQty": amount_text(order.cum_quote_qty),
        "status": ORDER_STATUS_NAMES[order.status],
        "timeInForce": TIME_IN_FORCE_NAMES[order.time_in_force],
        "type": ORDER_TYPE_NAMES[order.type],
        "side": SIDE_NAMES[order.side],
        **_stop_price(order, rules),
        **_trailing(order),
    }


def cancel_json(order: Order, rules: SymbolRules, cancel_client_id: str, transact_time: int) -> dict:
    """DELETE /api/v3/order and each item of DELETE /api/v3/openOrders, as Binance answers a cancel:
    clientOrderId is the cancel's own id, origClientOrderId the order's, transactTime the cancel's."""
    return {
        "symbol": order.symbol,
        "origClientOrderId": order.client_order_id,
        "orderId": order.order_id,
        "orderListId": order.order_list_id,
        "clientOrderId": cancel_client_id,
        "transactTime": transact_time,
        **_result_fields(order, rules),
        **_strategy(order),
        "selfTradePreventionMode": STP_NAMES[order.stp],
    }


def _ack_fields(order: Order) -> dict:
    return {
        "symbol": order.symbol,
        "orderId": order.order_id,
        "orderListId": order.order_list_id,
        "clientOrderId": order.client_order_id,
        "transactTime": order.time,
    }


def order_ack(order: Order, rules: SymbolRules | None = None) -> dict:
    """newOrderRespType=ACK (with the order's strategyId / strategyType when it has them)."""
    out = _ack_fields(order)
    if order.strategy_id >= 0 or order.strategy_type >= 0:
        out.update(_strategy(order))
    return out


def order_result(order: Order, rules: SymbolRules) -> dict:
    """newOrderRespType=RESULT: the order as Match left it after its first pass."""
    return {
        **_ack_fields(order),
        **_result_fields(order, rules),
        "workingTime": working_time_of(order),
        **_strategy(order),
        "selfTradePreventionMode": STP_NAMES[order.stp],
        **_prevented(order, match_id=False),
        **_expiry(order),  # (rest-api.md: placement answers carry it too; an IOC or market leftover)
    }


def order_full(order: Order, rules: SymbolRules, fills: Iterable[Mapping], account: int | None = None) -> dict:
    """newOrderRespType=FULL: RESULT plus the order's fills (the trades it took as the taker), and its
    prevented matches when self-trade prevention stopped any (`fills` holds those too)."""
    is_buyer = order.side == _BUY
    owner = order.account if account is None else account
    out = order_result(order, rules)
    out["fills"] = [fill_json(trade, rules, owner, is_buyer) for trade in fills if "trade_id" in trade]
    prevented = [prevented_match_json(pm, rules, taker=True) for pm in fills if "prevented_match_id" in pm]
    if prevented:  # the matches self-trade prevention stopped (faqs/stp_faq.md's FULL answers)
        out["preventedMatches"] = prevented
    return out


def fill_json(trade: Mapping, rules: SymbolRules, account: int, is_buyer: bool) -> dict:
    commission, asset = fee_of(rules, trade, account, is_buyer)
    return {
        "price": price_text(rules, trade["price"]),
        "qty": amount_text(trade["qty"]),
        "commission": amount_text(commission),
        "commissionAsset": asset,
        "tradeId": trade["trade_id"],
    }


# ------------------------------------------------------------------------------------ trades


def _is_buyer(trade: Mapping, account: int, is_buyer: bool | None) -> bool:
    if is_buyer is not None:
        return is_buyer
    return trade["buyer_account"] == account


def fee_of(rules: SymbolRules, trade: Mapping, account: int, is_buyer: bool | None = None) -> tuple[int, str]:
    """(commission, asset) that `account` paid on `trade`, by the Ledger's rule: in the asset that side
    receives (the buyer base, the seller quote), at the maker or taker rate by whether that side's
    order was the maker, rounded down; a history row's own figure where it keeps one. `is_buyer`
    picks the side of a self-trade (default: buyer)."""
    buyer = _is_buyer(trade, account, is_buyer)
    paid = trade.get("buyer_fee" if buyer else "seller_fee")
    if paid is not None:  # a history row: what it paid at the rates of then (history/schema.py)
        return paid, rules.base if buyer else rules.quote
    maker = buyer == bool(trade["buyer_is_maker"])
    rate = rules.maker_fee_ppm if maker else rules.taker_fee_ppm
    if buyer:
        return trade["qty"] * rate // FEE_SCALE, rules.base
    return trade["quote_qty"] * rate // FEE_SCALE, rules.quote


def my_trade_json(trade: Mapping, account: int, rules: SymbolRules, is_buyer: bool | None = None,
                  list_ids: Mapping[int, int] | None = None) -> dict:
    """GET /api/v3/myTrades, one side of one trade (the buyer's side of a self-trade unless told);
    `list_ids`: order id -> order list id, for the orders that belong to a list (-1 otherwise)."""
    buyer = _is_buyer(trade, account, is_buyer)
    commission, asset = fee_of(rules, trade, account, buyer)
    order_id = trade["buyer_order_id"] if buyer else trade["seller_order_id"]
    return {
        "symbol": trade["symbol"],
        "id": trade["trade_id"],
        "orderId": order_id,
        "orderListId": (list_ids or {}).get(order_id, -1),
        "price": price_text(rules, trade["price"]),
        "qty": amount_text(trade["qty"]),
        "quoteQty": amount_text(trade["quote_qty"]),
        "commission": amount_text(commission),
        "commissionAsset": asset,
        "time": trade["time"],
        "isBuyer": buyer,
        "isMaker": buyer == bool(trade["buyer_is_maker"]),
        "isBestMatch": True,
    }


def my_trades_json(trades: Iterable[Mapping], account: int, rules: SymbolRules,
                   list_ids: Mapping[int, int] | None = None) -> list[dict]:
    """myTrades rows: a self-trade (the account on both sides) gives two rows, as on Binance."""
    out = []
    for trade in trades:
        if trade["buyer_account"] == account:
            out.append(my_trade_json(trade, account, rules, True, list_ids))
        if trade["seller_account"] == account:
            out.append(my_trade_json(trade, account, rules, False, list_ids))
    return out


# ----------------------------------------------------------------------------------- account


def balance_json(asset: str, free: int, locked: int) -> dict:
    return {"asset": asset, "free": amount_text(free), "locked": amount_text(locked)}


def account_json(account_id: int, balances: Mapping[str, tuple[int, int]], rules: SymbolRules | None = None,
                 update_time: int = 0, omit_zero_balances: bool = False) -> dict:
    """GET /api/v3/account. Commission figures come from `rules` (one symbol's fees stand for the
    account's: Binance shows one rate per account); balances sorted by asset; `update_time` the
    time of the account's last balance change."""
    maker = rules.maker_fee_ppm if rules is not None else 0
    taker = rules.taker_fee_ppm if rules is not None else 0
    rows = [balance_json(asset, free, locked) for asset, (free, locked) in sorted(balances.items())
            if not (omit_zero_balances and free == 0 and locked == 0)]
    return {
        "makerCommission": maker // 100,  # basis points
        "takerCommission": taker // 100,
        "buyerCommission": 0,
        "sellerCommission": 0,
        "commissionRates": {
            "maker": to_text(maker * 100, ASSET_DECIMALS),  # ppm -> 8 decimals
            "taker": to_text(taker * 100, ASSET_DECIMALS),
            "buyer": ZERO,
            "seller": ZERO,
        },
        "canTrade": True,
        "canWithdraw": False,
        "canDeposit": False,
        "brokered": False,
        "requireSelfTradePrevention": False,
        "preventSor": False,
        "updateTime": update_time,
        "accountType": "SPOT",
        "balances": rows,
        "permissions": ["SPOT"],
        "uid": account_id,
    }


def listen_key_json(listen_key: str) -> dict:
    """POST /api/v3/userDataStream."""
    return {"listenKey": listen_key}
