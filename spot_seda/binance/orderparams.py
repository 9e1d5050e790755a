"""One order's parameters: POST /api/v3/order to a validated OrderRequest (the symbol's filters
included), and the reference to an existing order (GET / DELETE /api/v3/order). The primitives
(decimals, integers, symbols) and their errors are params.py's.

After a decimal's own checks (params.py) come the symbol's filters: a price or stopPrice off the
tick, zero or above the largest price -> -1013 PRICE_FILTER; a quantity off the step, below min_qty
or above max_qty -> -1013 LOT_SIZE; price x quantity (or a quoteOrderQty) below min_notional or
above the largest amount -> -1013 NOTIONAL; a MARKET (or STOP_LOSS / TAKE_PROFIT) quantity above
market_max_qty -> -1013 MARKET_LOT_SIZE. MAX_NUM_ORDERS and MAX_NUM_ALGO_ORDERS count the account's
open orders, which Acquiring knows (stages/acquiring.py). A value too large for the node's integers
fails the same filter (it is above that filter's maximum).

Other choices where Binance leaves room (each tested):
- stop orders, as rest-api.md lists their mandatory parameters: STOP_LOSS and TAKE_PROFIT take
  quantity and stopPrice (price, timeInForce or quoteOrderQty: -1106); STOP_LOSS_LIMIT and
  TAKE_PROFIT_LIMIT take timeInForce, quantity, price and stopPrice (quoteOrderQty: -1106). No
  stopPrice and no trailingDelta: -1102 "Param 'stopPrice' or 'trailingDelta' must be sent, but
  both were empty/null!". trailingDelta (an integer, BIPS) makes a trailing stop (Binance's
  trailing-stop FAQ; engine/book.py), with or without a stopPrice (then its activation price); it
  must lie within the symbol's TRAILING_DELTA filter, whose "above" range is for the stops that
  trigger above the market (STOP_LOSS buy, TAKE_PROFIT sell) and "below" range for the others:
  -1013 "Filter failure: TRAILING_DELTA" otherwise. NOTIONAL of a STOP_LOSS / TAKE_PROFIT is
  stopPrice x quantity (the price it is meant to trade at; a trailing one without stopPrice has no
  such price: like a MARKET order by quantity, see parse_new_order). Whether a stop would trigger
  at once is Match's question (the last trade price is exact there): -2010 "Stop price would
  trigger immediately.".
  stopPrice or trailingDelta with any other type: -1106. An unknown type: -1116. icebergQty: -2010
  "Iceberg orders are not supported for this symbol."
- pegPriceType / pegOffsetValue / pegOffsetType (pegged orders): -2010 "Pegged orders are not
  supported for this symbol." (never placed as the plain order they would otherwise be).
- strategyId (an integer) and strategyType (an integer >= 1000000, else -1134) are checked and
  kept with the order (journaled in its command, carried by its Created entry): every answer that
  shows the order (placement, GET /api/v3/order, openOrders, allOrders, the cancels) and its
  executionReports ("j", "J") carry them when they were sent, as Binance's conditional fields.
- a parameter not in NEW_ORDER_PARAMS (Binance's, recvWindow, timestamp, signature): -1104 "Not all
  sent parameters were read; ...", checked before any other (params.check_all_read, by the
  transport: api/knownparams.py), rather than dropped.
- `timeInForce` with MARKET or LIMIT_MAKER, `price` with MARKET, `quoteOrderQty` with LIMIT or
  LIMIT_MAKER, or both quantity and quoteOrderQty: -1106 "Parameter '%s' sent when not required.".
- newOrderRespType defaults as Binance: FULL for LIMIT and MARKET, ACK for every other type (stop
  orders included: their first answer is NEW, not working yet).
- selfTradePreventionMode defaults, as on Binance, to the symbol's default (`default_stp` in the
  symbol's config, reported as exchangeInfo's defaultSelfTradePreventionMode): EXPIRE_MAKER, as
  Binance ships its symbols, unless the config says otherwise (NONE lets an account's orders trade
  with each other, the seed's behaviour). A mode of Binance's that no symbol here allows (TRANSFER:
  trade groups) is -1013 "This symbol does not allow the specified self-trade prevention mode."
  (stp_faq.md); a word that is no mode at all, -1100.
"""

from __future__ import annotations

from collections.abc import Mapping

import msgspec

from ..model.commands import NewOrder
from ..model.enums import (ORDER_TYPE_NAMES, ORDER_TYPE_OF, OrderType, SIDE_NAMES, STP_NAMES, STP_OF,
                           SelfTradePrevention, Side, TIME_IN_FORCE_NAMES, TimeInForce, triggers_on_fall)
from ..model.fixedpoint import ASSET_DECIMALS, MAX_UNITS
from ..model.orders import Order
from ..model.symbols import SymbolRules
from . import errors
from .errors import ApiError
from .params import (decimal_units, parse_client_order_id, parse_decimal, parse_enum,
                     parse_id_or_client_id, parse_int, parse_symbol, required_param, text_param, was_sent)

RESP_TYPES = ("ACK", "RESULT", "FULL")
#: the largest notional (quote units) and the bound every amount is held to: a signed 64-bit integer
MAX_NOTIONAL = MAX_UNITS
_STP_RANGE = ", ".join(m.name for m in SelfTradePrevention)
#: Binance's selfTradePreventionMode names (enums.md) that no symbol here allows: TRANSFER moves a
#: prevented quantity between the accounts of a trade group, which the node does not have. Every
#: symbol allows exactly SelfTradePrevention's (exchangeInfo's allowedSelfTradePreventionModes).
_STP_NOT_ALLOWED = frozenset({"TRANSFER"})
#: pegged-order parameters (Binance's pegInstructions): not supported, refused with -2010
PEG_PARAMS = ("pegPriceType", "pegOffsetValue", "pegOffsetType")
#: Binance: strategyType values below this are reserved
MIN_STRATEGY_TYPE = 1_000_000
#: every parameter POST /api/v3/order reads (Binance's list); any other is -1104 (api/knownparams.py)
NEW_ORDER_PARAMS = frozenset({
    "symbol", "side", "type", "timeInForce", "quantity", "quoteOrderQty", "price", "newClientOrderId", "strategyId",
    "strategyType", "stopPrice", "trailingDelta", "icebergQty", "newOrderRespType", "selfTradePreventionMode",
    *PEG_PARAMS, "recvWindow", "timestamp", "signature",
})
#: those of them it cannot do without (rest-api.md's "Mandatory: YES"): one sent empty is -1102, any
#: other -1105 or the order's own code (params.check_none_empty)
NEW_ORDER_MANDATORY = frozenset({"symbol", "side", "type", "timestamp", "signature"})
_RESP_RANGE = ", ".join(RESP_TYPES)


class OrderRequest(msgspec.Struct, frozen=True, kw_only=True):
    """A validated POST /api/v3/order: what the client asked for, not yet the command. Amounts are
    integers: price in 10**-price_decimals quote per base (0 for MARKET), qty and quote_qty in 10**-8
    units (0 when not given).

    Not model/commands.NewOrder itself, though it carries the same order fields: the command's are
    the journal's format (strings for side, type, time in force and STP mode; "" for a client id the
    node assigns), while this one keeps the enums the API's checks and answers use, the answer's
    option (resp_type) that is never journaled, and None for a strategy id or type not sent (-1 in
    the command). `command()` makes the one from the other, in one place."""

    symbol: str
    side: Side
    type: OrderType
    time_in_force: TimeInForce  # GTC for MARKET and LIMIT_MAKER (what Binance reports for them)
    price: int
    qty: int
    quote_qty: int
    client_order_id: str | None  # None: the node assigns one
    resp_type: str  # ACK | RESULT | FULL
    stp: SelfTradePrevention
    #: a stop order's trigger price, or a trailing stop's activation price, in price units like
    #: `price` (0 for the other types and a trailing stop without one)
    stop_price: int = 0
    #: a trailing stop's trailingDelta in BIPS (0: not a trailing stop)
    trailing_delta: int = 0
    #: Binance's strategyId / strategyType (None: not sent), kept with the order
    strategy_id: int | None = None
    strategy_type: int | None = None

    def command(self, account: int, timestamp: int = 0) -> NewOrder:
        """The journaled command for this request (order id 0 and, from the API, timestamp 0: Acquiring
        assigns both when it accepts it)."""
        # (the names by value from tuples: an enum member's .name is a descriptor call, ~4x slower)
        return NewOrder(account, self.symbol, SIDE_NAMES[self.side], ORDER_TYPE_NAMES[self.type],
                        TIME_IN_FORCE_NAMES[self.time_in_force], self.price, self.qty, self.quote_qty,
                        self.client_order_id or "", STP_NAMES[self.stp], timestamp,
                        stop_price=self.stop_price, trailing_delta=self.trailing_delta,
                        strategy_id=-1 if self.strategy_id is None else self.strategy_id,
                        strategy_type=-1 if self.strategy_type is None else self.strategy_type)



# ------------------------------------------------------------------------------- the filters


def max_price(rules: SymbolRules) -> int:
    """The largest price (price units) the node accepts: a tick multiple within MAX_UNITS at 8 decimals."""
    return MAX_UNITS // 10 ** (ASSET_DECIMALS - rules.price_decimals) // rules.tick * rules.tick


def check_price(rules: SymbolRules, price: int) -> None:
    if not rules.price_ok(price) or price > max_price(rules):
        raise errors.price_filter()


def check_qty(rules: SymbolRules, qty: int) -> None:
    if not rules.qty_ok(qty):
        raise errors.lot_size()


def check_market_qty(rules: SymbolRules, qty: int) -> None:
    """MARKET_LOT_SIZE (after LOT_SIZE, whose minQty and stepSize it shares): a MARKET order's
    quantity, or a STOP_LOSS / TAKE_PROFIT's, at most the symbol's market_max_qty."""
    if qty > rules.market_max_qty:
        raise errors.filter_failure("MARKET_LOT_SIZE")


def check_notional(rules: SymbolRules, price: int, qty: int) -> None:
    """NOTIONAL filter for price x qty (a LIMIT order here; a MARKET order by quantity when the
    caller knows the price it will trade at)."""
    check_quote_amount(rules, rules.notional(price, qty))


def check_quote_amount(rules: SymbolRules, amount: int) -> None:
    if amount <= 0 or amount < rules.min_notional or amount > MAX_NOTIONAL:
        raise errors.notional()


def _price_units(rules: SymbolRules, units8: int) -> int:
    scale = 10 ** (ASSET_DECIMALS - rules.price_decimals)
    if units8 % scale:
        raise errors.price_filter()  # finer than the symbol's price precision: off the tick
    return units8 // scale



# ----------------------------------------------------------------------------------- orders


#: the order parameters parse_new_order refuses or stores aside; checked only when one is sent
_RARE_PARAMS = frozenset({"icebergQty", *PEG_PARAMS, "strategyId", "strategyType", "stopPrice", "trailingDelta"})
# read once: an enum member read through its class costs ~0.2 µs on Python 3.11 (EnumType.__getattr__)
_LIMIT, _MARKET, _GTC = OrderType.LIMIT, OrderType.MARKET, TimeInForce.GTC
_FULL_BY_DEFAULT = (_LIMIT, _MARKET)  # the types whose newOrderRespType defaults to FULL


def parse_new_order(params: Mapping[str, str], rules: Mapping[str, SymbolRules]) -> OrderRequest:
    """POST /api/v3/order parameters to an OrderRequest (module docstring for every rule and error).

    A MARKET order by quantity, or a trailing STOP_LOSS / TAKE_PROFIT without a stopPrice, has no
    notional check here (its price is unknown): Acquiring values a MARKET order by quantity at the
    average price of the last AVG_PRICE_MINS' trades (NOTIONAL's applyMinToMarket; check_filters in
    stages/acquiring.py)."""
    symbol = parse_symbol(params, rules)
    sr = rules[symbol]
    side = parse_enum(params, "side", Side, errors.invalid_side)
    type_ = ORDER_TYPE_OF.get(required_param(params, "type"))
    if type_ is None:
        raise errors.invalid_order_type()
    working = type_.working_type  # LIMIT or MARKET for a stop order: what it becomes when triggered

    resp_text = text_param(params, "newOrderRespType")
    if resp_text:
        if resp_text not in RESP_TYPES:
            raise errors.illegal_chars("newOrderRespType", _RESP_RANGE)
        resp_type = resp_text
    else:
        resp_type = "FULL" if type_ in _FULL_BY_DEFAULT else "ACK"
    stp_text = text_param(params, "selfTradePreventionMode")
    if stp_text:
        stp = STP_OF.get(stp_text)
        if stp is None:
            if stp_text in _STP_NOT_ALLOWED:  # a mode of Binance's the symbol does not allow (stp_faq.md)
                raise errors.stp_mode_not_allowed()
            raise errors.illegal_chars("selfTradePreventionMode", _STP_RANGE)
    else:
        stp = STP_OF[sr.default_stp]
    client_order_id = parse_client_order_id(params)

    strategy_id = strategy_type = None
    if not _RARE_PARAMS.isdisjoint(params):  # (most orders send none of these: one set test in C)
        if was_sent(params, "icebergQty") and decimal_units(params["icebergQty"], "icebergQty") != 0:
            raise ApiError(-2010, "Iceberg orders are not supported for this symbol.")
        if any(was_sent(params, name) for name in PEG_PARAMS):  # never placed as a plain order instead
            raise ApiError(-2010, "Pegged orders are not supported for this symbol.")
        strategy_id = parse_int(params, "strategyId")
        strategy_type = parse_int(params, "strategyType")
        if strategy_type is not None and strategy_type < MIN_STRATEGY_TYPE:
            raise errors.bad_strategy_type()
        if not type_.is_stop:
            for name in ("stopPrice", "trailingDelta"):
                if name in params:  # (sent empty too: params.check_none_empty left it to the order's type)
                    raise errors.not_required(name)
    stop_price = trailing_delta = 0
    if type_.is_stop:
        trailing = was_sent(params, "trailingDelta")
        if not was_sent(params, "stopPrice"):
            if not trailing:
                raise errors.either_missing("stopPrice", "trailingDelta")
        else:
            stop_price = _price_units(sr, parse_decimal(params, "stopPrice", too_large=errors.price_filter))
            check_price(sr, stop_price)
        if trailing:
            trailing_delta = parse_int(params, "trailingDelta") or 0
            low, high = sr.trailing_delta[triggers_on_fall(type_, side)]
            if not low <= trailing_delta <= high:
                raise errors.filter_failure("TRAILING_DELTA")

    if type_ == _MARKET:
        for name in ("price", "timeInForce"):
            if was_sent(params, name):
                raise errors.not_required(name)
        has_qty, has_quote = was_sent(params, "quantity"), was_sent(params, "quoteOrderQty")
        if not has_qty and not has_quote:
            raise errors.either_missing("quantity", "quoteOrderQty")
        if has_qty and has_quote:
            raise errors.not_required("quoteOrderQty")
        tif = _GTC
        price = 0
        if has_qty:
            qty = parse_decimal(params, "quantity", too_large=errors.lot_size)
            quote_qty = 0
            check_qty(sr, qty)
            check_market_qty(sr, qty)
        else:
            quote_qty = parse_decimal(params, "quoteOrderQty", too_large=errors.notional)
            qty = 0
            check_quote_amount(sr, quote_qty)
    elif working == _MARKET:  # STOP_LOSS, TAKE_PROFIT: a market order by quantity when triggered
        for name in ("price", "timeInForce", "quoteOrderQty"):
            if was_sent(params, name):
                raise errors.not_required(name)
        tif = _GTC
        price = quote_qty = 0
        qty = parse_decimal(params, "quantity", too_large=errors.lot_size)
        check_qty(sr, qty)
        check_market_qty(sr, qty)
        if stop_price:
            check_notional(sr, stop_price, qty)
    else:
        if was_sent(params, "quoteOrderQty"):
            raise errors.not_required("quoteOrderQty")
        if working == _LIMIT:  # LIMIT, STOP_LOSS_LIMIT, TAKE_PROFIT_LIMIT
            tif = parse_enum(params, "timeInForce", TimeInForce, errors.invalid_tif)
        else:  # LIMIT_MAKER rests or is rejected: no time in force
            if was_sent(params, "timeInForce"):
                raise errors.not_required("timeInForce")
            tif = _GTC
        qty = parse_decimal(params, "quantity", too_large=errors.lot_size)
        price8 = parse_decimal(params, "price", too_large=errors.price_filter)
        price = _price_units(sr, price8)
        check_price(sr, price)
        check_qty(sr, qty)
        check_notional(sr, price, qty)
        quote_qty = 0
    return OrderRequest(symbol=symbol, side=side, type=type_, time_in_force=tif, price=price, qty=qty,
                        quote_qty=quote_qty, client_order_id=client_order_id, resp_type=resp_type, stp=stp,
                        strategy_id=strategy_id, strategy_type=strategy_type, stop_price=stop_price,
                        trailing_delta=trailing_delta)


def parse_order_ref(params: Mapping[str, str], rules: Mapping[str, SymbolRules]) -> tuple[str, int | None, str | None]:
    """symbol and orderId and/or origClientOrderId (GET and DELETE /api/v3/order).

    -1102 "Param 'origClientOrderId' or 'orderId' must be sent, but both were empty/null!" when
    neither was sent. With both, the caller finds the order by id and must check the client id."""
    symbol = parse_symbol(params, rules)
    return symbol, *parse_id_or_client_id(params, "orderId", "origClientOrderId")


CANCEL_RESTRICTIONS = ("ONLY_NEW", "ONLY_PARTIALLY_FILLED")


def parse_cancel_restrictions(params: Mapping[str, str]) -> str:
    """A cancel's cancelRestrictions (DELETE /api/v3/order, cancelReplace): "" (none), ONLY_NEW or
    ONLY_PARTIALLY_FILLED; -1145 "Invalid cancelRestrictions" otherwise (rest-api.md)."""
    value = text_param(params, "cancelRestrictions")
    if value and value not in CANCEL_RESTRICTIONS:
        raise errors.invalid_cancel_restrictions()
    return value or ""


def order_matches_ref(order: Order, order_id: int | None, client_id: str | None) -> bool:
    """Whether a found order is the one a (orderId, origClientOrderId) pair names (both must agree)."""
    if order_id is not None and order.order_id != order_id:
        return False
    return client_id is None or order.client_order_id == client_id
