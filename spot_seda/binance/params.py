"""Request parameters (a mapping merged from the query string and a form body) to typed commands.

Every bad input becomes an ApiError with Binance's code and text; nothing else is ever raised.

Decimals (price, quantity, quoteOrderQty) are parsed exactly: any plain or exponent form of a
non-negative decimal is accepted ("0.1", "0.10", ".1", "1e-1", "1E-1", "+0.1" are equal) — more
than Binance's own `^([0-9]{1,20})(\\.[0-9]{1,20})?$`, because the seed endpoint's JSON numbers arrive
in Python's float repr ("1e-05"). The errors, in the order Binance checks them:
- not sent or empty (a mandatory one): -1102 "Mandatory parameter '%s' was not sent, ...";
- not a finite non-negative decimal (garbage, NaN, inf, "-1", blanks, over 64 characters): -1100
  "Illegal characters found in parameter '%s'; legal range is '<Binance's decimal regex>'.";
- more than 8 decimals that are not zeros (finer than any asset unit): -1111 "Parameter '%s' has too
  much precision.";
- then the symbol's filters: a price or stopPrice off the tick, zero or above the largest price ->
  -1013 PRICE_FILTER; a quantity off the step, below min_qty or above max_qty -> -1013 LOT_SIZE;
  price x quantity (or a quoteOrderQty) below min_notional or above the largest amount -> -1013
  NOTIONAL; a MARKET (or STOP_LOSS / TAKE_PROFIT) quantity above market_max_qty -> -1013
  MARKET_LOT_SIZE. MAX_NUM_ORDERS and MAX_NUM_ALGO_ORDERS count the account's open orders, which
  Acquiring knows (stages/acquiring.py).
  A value too large for the node's integers fails the same filter (it is above that filter's maximum).

Other choices where Binance leaves room (each tested):
- integer parameters (orderId, startTime, endTime, fromId, limit): -1100 with '^[0-9]{1,20}$' when
  not digits, -1108 "Parameter '%s' overflowed." beyond a signed 64-bit integer; an empty optional
  parameter counts as not sent.
- `limit` above its maximum is clamped to it (Binance truncates depth the same way); 0, or a value
  outside an endpoint's allowed set, is -1130 "Data sent for parameter 'limit' is not valid.".
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
- strategyId (an integer) and strategyType (an integer >= 1000000, else -1130) are checked and
  echoed in the order's answer, as Binance does; they are not kept, so order queries, allOrders and
  executionReports do not show them.
- POST /api/v3/order with a parameter it does not know (not one of Binance's, recvWindow,
  timestamp, signature): -1104 "Not all sent parameters were read; read '%s' parameter(s) but was
  sent '%s'." rather than dropping it.
- `timeInForce` with MARKET or LIMIT_MAKER, `price` with MARKET, `quoteOrderQty` with LIMIT or
  LIMIT_MAKER, or both quantity and quoteOrderQty: -1106 "Parameter '%s' sent when not required.".
- newOrderRespType defaults as Binance: FULL for LIMIT and MARKET, ACK for every other type (stop
  orders included: their first answer is NEW, not working yet).
- selfTradePreventionMode defaults, as on Binance, to the symbol's default (`default_stp` in the
  symbol's config, reported as exchangeInfo's defaultSelfTradePreventionMode). The shipped config
  keeps NONE, the seed's behaviour, where an account's orders may trade with each other; Binance
  uses EXPIRE_MAKER on most symbols.
- symbols=[...]: JSON with symbol names; malformed -> -1100 with Binance's symbols regex, empty ->
  -1102, a repeated name -> -1151, an unknown one -> -1121. symbol and symbols together: -1128.
- Other endpoints leave parameters they do not know (signature, timestamp, recvWindow, ...) alone.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from decimal import Decimal, InvalidOperation

import msgspec

from ..engine.kline import INTERVALS
from ..model.commands import NewOrder
from ..model.enums import OrderType, SelfTradePrevention, Side, TimeInForce, triggers_on_fall
from ..model.fixedpoint import ASSET_DECIMALS, MAX_UNITS, to_units
from ..model.symbols import SymbolRules
from . import errors
from .errors import ApiError

DEFAULT_STP = SelfTradePrevention.NONE
RESP_TYPES = ("ACK", "RESULT", "FULL")
DEPTH_LIMITS = (5, 10, 20, 50, 100, 500, 1000, 5000)
MAX_DECIMAL_CHARS = 64
MAX_CLIENT_ORDER_ID = 36
#: the largest notional (quote units) and the bound every amount is held to: a signed 64-bit integer
MAX_NOTIONAL = MAX_UNITS

#: digits, optionally a dot and more digits: decimal_units reads these without Decimal
_PLAIN_DECIMAL = re.compile(r"([0-9]{1,20})(?:\.([0-9]{0,40}))?")
_DECIMAL = re.compile(r"\+?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
_SYMBOL = re.compile(r"[A-Z0-9\-_.]{1,20}")
_CLIENT_ORDER_ID = re.compile(r"[a-zA-Z0-9\-_]{1,36}")
_STP_RANGE = ", ".join(m.name for m in SelfTradePrevention)
#: pegged-order parameters (Binance's pegInstructions): not supported, refused with -2010
PEG_PARAMS = ("pegPriceType", "pegOffsetValue", "pegOffsetType")
#: Binance: strategyType values below this are reserved
MIN_STRATEGY_TYPE = 1_000_000
#: every parameter POST /api/v3/order knows (Binance's list); any other is -1104
NEW_ORDER_PARAMS = frozenset({
    "symbol", "side", "type", "timeInForce", "quantity", "quoteOrderQty", "price", "newClientOrderId", "strategyId",
    "strategyType", "stopPrice", "trailingDelta", "icebergQty", "newOrderRespType", "selfTradePreventionMode",
    *PEG_PARAMS, "recvWindow", "timestamp", "signature",
})
_RESP_RANGE = ", ".join(RESP_TYPES)


class OrderRequest(msgspec.Struct, frozen=True, kw_only=True):
    """A validated POST /api/v3/order: what the client asked for, not yet the command. Amounts are
    integers: price in 10**-price_decimals quote per base (0 for MARKET), qty and quote_qty in 10**-8
    units (0 when not given).

    Not model/commands.NewOrder itself, though it carries the same order fields: the command's are
    the journal's format (strings for side, type, time in force and STP mode; "" for a client id the
    node assigns), while this one keeps the enums the API's checks and answers use, and the
    answer's options (resp_type, strategy ids) that are echoed to the client and never journaled.
    `command()` makes the one from the other, in one place."""

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
    #: Binance's strategyId / strategyType: checked and echoed in the order's answer, not kept
    strategy_id: int | None = None
    strategy_type: int | None = None

    def command(self, account: int, timestamp: int = 0) -> NewOrder:
        """The journaled command for this request (order id 0 and, from the API, timestamp 0: Acquiring
        assigns both when it accepts it)."""
        return NewOrder(account, self.symbol, self.side.name, self.type.name, self.time_in_force.name, self.price,
                        self.qty, self.quote_qty, self.client_order_id or "", self.stp.name, timestamp,
                        stop_price=self.stop_price, trailing_delta=self.trailing_delta)


# ------------------------------------------------------------------------------- primitives


def _get(params: Mapping[str, str], name: str) -> str | None:
    value = params.get(name)
    if value is None:
        return None
    if not isinstance(value, str):  # a JSON body's number or bool turned into params by a caller
        raise errors.illegal_chars(name)
    return value


def _required(params: Mapping[str, str], name: str) -> str:
    value = _get(params, name)
    if not value:
        raise errors.mandatory_missing(name)
    return value


def _sent(params: Mapping[str, str], name: str) -> bool:
    value = params.get(name)
    return value is not None and value != ""


def parse_decimal(params: Mapping[str, str], name: str, decimals: int = ASSET_DECIMALS, *,
                  required: bool = True, too_large: Callable[[], ApiError] | None = None) -> int | None:
    """An exact non-negative decimal as a count of 10**-decimals units (module docstring for errors).

    `too_large` makes the error for a value beyond MAX_UNITS (default -1108 overflowed): errors are
    made only when raised (an order's parameters are parsed on every order)."""
    text = _get(params, name)
    if not text:
        if required:
            raise errors.mandatory_missing(name)
        return None
    return decimal_units(text, name, decimals, too_large=too_large)


def decimal_units(text: str, name: str, decimals: int = ASSET_DECIMALS, *, too_large: Callable[[], ApiError] | None = None) -> int:
    """`text` (a decimal string) as 10**-decimals units; raises ApiError -1100/-1111/`too_large`.

    What clients send almost always ("0.00120000", "30000.5") is read with integer arithmetic
    alone; any other form (exponent, sign, leading dot, very long) takes the general path through
    Decimal, which gives the same answer for the plain forms too (tests/api/test_params.py)."""
    plain = _PLAIN_DECIMAL.fullmatch(text)
    if plain is None:
        return general_decimal_units(text, name, decimals, too_large=too_large)
    whole, frac = plain.group(1), (plain.group(2) or "").rstrip("0")
    if len(frac) > decimals:
        raise errors.too_much_precision(name)
    units = int(whole) * 10**decimals + (int(frac) * 10 ** (decimals - len(frac)) if frac else 0)
    if units > MAX_UNITS:
        raise too_large() if too_large is not None else errors.overflow(name)
    return units


def general_decimal_units(text: str, name: str, decimals: int = ASSET_DECIMALS, *,
                          too_large: Callable[[], ApiError] | None = None) -> int:
    """decimal_units for any decimal form the API accepts (exponents, a sign, a leading dot)."""
    if len(text) > MAX_DECIMAL_CHARS or not _DECIMAL.fullmatch(text):
        raise errors.illegal_chars(name, errors.DECIMAL_RANGE)
    try:
        _sign, digits, exponent = Decimal(text).as_tuple()
    except InvalidOperation:  # not reachable after the pattern; kept so nothing but ApiError escapes
        raise errors.illegal_chars(name, errors.DECIMAL_RANGE) from None
    significand = int("".join(map(str, digits))) if digits else 0
    if significand == 0:
        return 0
    shift = exponent + decimals  # units = significand * 10**shift
    while shift < 0 and significand % 10 == 0:
        significand //= 10
        shift += 1
    if shift < 0:
        raise errors.too_much_precision(name)
    if shift > 19 or significand * 10**shift > MAX_UNITS:
        raise too_large() if too_large is not None else errors.overflow(name)
    return to_units(text, decimals)  # the one exact conversion of the code base; cannot fail here


def parse_int(params: Mapping[str, str], name: str, required: bool = False) -> int | None:
    """A non-negative integer parameter (orderId, startTime, endTime, fromId...), or None if not sent."""
    text = _get(params, name)
    if not text:
        if required:
            raise errors.mandatory_missing(name)
        return None
    if len(text) > 20 or not text.isascii() or not text.isdigit():
        raise errors.illegal_chars(name, errors.INT_RANGE)
    value = int(text)
    if value > MAX_UNITS:
        raise errors.overflow(name)
    return value


def parse_limit(params: Mapping[str, str], name: str = "limit", default: int = 500, maximum: int = 1000,
                allowed: tuple[int, ...] | None = None) -> int:
    """`limit`: the default when not sent, clamped to `maximum`; -1130 for 0 or a value not in `allowed`."""
    value = parse_int(params, name)
    if value is None:
        return default
    if value == 0 or (allowed is not None and value not in allowed):
        raise errors.invalid_parameter(name)
    return min(value, maximum)


def parse_depth_limit(params: Mapping[str, str]) -> int:
    """GET /api/v3/depth: default 100, one of 5, 10, 20, 50, 100, 500, 1000, 5000."""
    return parse_limit(params, "limit", default=100, maximum=5000, allowed=DEPTH_LIMITS)


def parse_interval(params: Mapping[str, str], name: str = "interval") -> str:
    """A kline interval (1s 1m 3m 5m 15m 30m 1h 2h 4h 6h 8h 12h 1d 3d 1w 1M): -1102 missing, -1120 other."""
    value = _required(params, name)
    if value not in INTERVALS:
        raise errors.invalid_interval()
    return value


def parse_time_range(params: Mapping[str, str]) -> tuple[int | None, int | None]:
    """startTime and endTime; -1128 when startTime is after endTime."""
    start, end = parse_int(params, "startTime"), parse_int(params, "endTime")
    if start is not None and end is not None and start > end:
        raise errors.bad_combination()
    return start, end


def parse_bool(params: Mapping[str, str], name: str, default: bool = False) -> bool:
    """A BOOLEAN parameter as Binance spells it (true / false; not sent or empty: `default`); -1100 otherwise."""
    text = _get(params, name)
    if not text:
        return default
    if text.lower() not in ("true", "false"):
        raise errors.illegal_chars(name, "true, false")
    return text.lower() == "true"


HOUR_MS = 3_600_000


def parse_agg_trades_window(params: Mapping[str, str]) -> tuple[int | None, int | None, int | None]:
    """GET /api/v3/aggTrades: (fromId, startTime, endTime). fromId pages forward by aggregate id and
    goes with neither time (-1128); startTime and endTime together span at most one hour (-1127)."""
    from_id = parse_int(params, "fromId")
    start, end = parse_time_range(params)
    if from_id is not None and (start is not None or end is not None):
        raise errors.bad_combination()
    if start is not None and end is not None and end - start > HOUR_MS:
        raise errors.interval_too_big(1)
    return from_id, start, end


def parse_my_trades_window(params: Mapping[str, str]) -> tuple[int | None, int | None, int | None, int | None]:
    """GET /api/v3/myTrades: (orderId, fromId, startTime, endTime) in Binance's combinations: symbol
    alone, + orderId, + fromId, + orderId + fromId, + startTime and/or endTime (at most 24 hours
    apart, -1127); a time with orderId or fromId is -1128."""
    order_id, from_id = parse_int(params, "orderId"), parse_int(params, "fromId")
    start, end = parse_time_range(params)
    if (order_id is not None or from_id is not None) and (start is not None or end is not None):
        raise errors.bad_combination()
    if start is not None and end is not None and end - start > 24 * HOUR_MS:
        raise errors.interval_too_big(24)
    return order_id, from_id, start, end


# ---------------------------------------------------------------------------------- symbols


def symbol_name(text: str, rules: Mapping[str, SymbolRules], name: str = "symbol") -> str:
    if not _SYMBOL.fullmatch(text):
        raise errors.illegal_chars(name, errors.SYMBOL_RANGE)
    if text not in rules:
        raise errors.invalid_symbol()
    return text


def parse_symbol(params: Mapping[str, str], rules: Mapping[str, SymbolRules], required: bool = True) -> str | None:
    """`symbol`: -1102 when required and not sent, -1100 when not a symbol name, -1121 when unknown."""
    text = _get(params, "symbol")
    if not text:
        if required:
            raise errors.mandatory_missing("symbol")
        return None
    return symbol_name(text, rules)


def parse_symbols_list(params: Mapping[str, str], rules: Mapping[str, SymbolRules]) -> list[str] | None:
    """`symbols=["A","B"]` (already URL-decoded), or None when not sent."""
    text = _get(params, "symbols")
    if text is None:
        return None
    if not text:
        raise errors.mandatory_missing("symbols")
    try:
        names = msgspec.json.decode(text, type=list[str])
    except (msgspec.DecodeError, msgspec.ValidationError):
        raise errors.illegal_chars("symbols", errors.SYMBOLS_RANGE) from None
    if not names:
        raise errors.mandatory_missing("symbols")
    for item in names:
        if not _SYMBOL.fullmatch(item):
            raise errors.illegal_chars("symbols", errors.SYMBOLS_RANGE)
    if len(set(names)) != len(names):
        raise errors.duplicate_symbols()
    for item in names:
        if item not in rules:
            raise errors.invalid_symbol()
    return names


def parse_symbols_filter(params: Mapping[str, str], rules: Mapping[str, SymbolRules]) -> list[str]:
    """exchangeInfo and the tickers: `symbol=`, `symbols=[...]` or neither (every symbol, sorted)."""
    if _sent(params, "symbol") and "symbols" in params:
        raise errors.bad_combination()
    if _sent(params, "symbol"):
        return [parse_symbol(params, rules)]
    names = parse_symbols_list(params, rules)
    return names if names is not None else sorted(rules)


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


def _enum(params: Mapping[str, str], name: str, enum, error: Callable[[], ApiError]):
    value = _required(params, name)
    member = enum.__members__.get(value)
    if member is None:
        raise error()
    return member


def parse_client_order_id(params: Mapping[str, str], name: str = "newClientOrderId") -> str | None:
    value = _get(params, name)
    if value is None:
        return None
    if value == "":
        raise errors.empty_new_client_order_id() if name == "newClientOrderId" else errors.empty_orig_client_order_id()
    if not _CLIENT_ORDER_ID.fullmatch(value):
        raise errors.illegal_chars(name, errors.CLIENT_ORDER_ID_RANGE)
    return value


#: the order parameters parse_new_order refuses or stores aside; checked only when one is sent
_RARE_PARAMS = frozenset({"icebergQty", *PEG_PARAMS, "strategyId", "strategyType", "stopPrice", "trailingDelta"})


def parse_new_order(params: Mapping[str, str], rules: Mapping[str, SymbolRules]) -> OrderRequest:
    """POST /api/v3/order parameters to an OrderRequest (module docstring for every rule and error).

    A MARKET order by quantity, or a trailing STOP_LOSS / TAKE_PROFIT without a stopPrice, has no
    notional check here (its price is unknown): call `check_notional` with the price it will
    trade at if one is known."""
    symbol = parse_symbol(params, rules)
    sr = rules[symbol]
    side = _enum(params, "side", Side, errors.invalid_side)
    type_ = OrderType.__members__.get(_required(params, "type"))
    if type_ is None:
        raise errors.invalid_order_type()
    working = type_.working_type  # LIMIT or MARKET for a stop order: what it becomes when triggered

    resp_text = _get(params, "newOrderRespType")
    if resp_text:
        if resp_text not in RESP_TYPES:
            raise errors.illegal_chars("newOrderRespType", _RESP_RANGE)
        resp_type = resp_text
    else:
        resp_type = "FULL" if type_ in (OrderType.LIMIT, OrderType.MARKET) else "ACK"
    stp_text = _get(params, "selfTradePreventionMode")
    if stp_text:
        stp = SelfTradePrevention.__members__.get(stp_text)
        if stp is None:
            raise errors.illegal_chars("selfTradePreventionMode", _STP_RANGE)
    else:
        stp = SelfTradePrevention[sr.default_stp]
    client_order_id = parse_client_order_id(params)

    strategy_id = strategy_type = None
    if not _RARE_PARAMS.isdisjoint(params):  # (most orders send none of these: one set test in C)
        if _sent(params, "icebergQty") and decimal_units(params["icebergQty"], "icebergQty") != 0:
            raise ApiError(-2010, "Iceberg orders are not supported for this symbol.")
        if any(_sent(params, name) for name in PEG_PARAMS):  # never placed as a plain order instead
            raise ApiError(-2010, "Pegged orders are not supported for this symbol.")
        strategy_id = parse_int(params, "strategyId")
        strategy_type = parse_int(params, "strategyType")
        if strategy_type is not None and strategy_type < MIN_STRATEGY_TYPE:
            raise errors.invalid_parameter("strategyType")
        if not type_.is_stop:
            for name in ("stopPrice", "trailingDelta"):
                if _sent(params, name):
                    raise errors.not_required(name)
    stop_price = trailing_delta = 0
    if type_.is_stop:
        trailing = _sent(params, "trailingDelta")
        if not _sent(params, "stopPrice"):
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

    if type_ == OrderType.MARKET:
        for name in ("price", "timeInForce"):
            if _sent(params, name):
                raise errors.not_required(name)
        has_qty, has_quote = _sent(params, "quantity"), _sent(params, "quoteOrderQty")
        if not has_qty and not has_quote:
            raise errors.either_missing("quantity", "quoteOrderQty")
        if has_qty and has_quote:
            raise errors.not_required("quoteOrderQty")
        tif = TimeInForce.GTC
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
    elif working == OrderType.MARKET:  # STOP_LOSS, TAKE_PROFIT: a market order by quantity when triggered
        for name in ("price", "timeInForce", "quoteOrderQty"):
            if _sent(params, name):
                raise errors.not_required(name)
        tif = TimeInForce.GTC
        price = quote_qty = 0
        qty = parse_decimal(params, "quantity", too_large=errors.lot_size)
        check_qty(sr, qty)
        check_market_qty(sr, qty)
        if stop_price:
            check_notional(sr, stop_price, qty)
    else:
        if _sent(params, "quoteOrderQty"):
            raise errors.not_required("quoteOrderQty")
        if working == OrderType.LIMIT:  # LIMIT, STOP_LOSS_LIMIT, TAKE_PROFIT_LIMIT
            tif = _enum(params, "timeInForce", TimeInForce, errors.invalid_tif)
        else:  # LIMIT_MAKER rests or is rejected: no time in force
            if _sent(params, "timeInForce"):
                raise errors.not_required("timeInForce")
            tif = TimeInForce.GTC
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


def check_new_order_params(params: Mapping[str, str]) -> None:
    """-1104 "Not all sent parameters were read" for a parameter POST /api/v3/order does not know (a
    misspelt one would otherwise be dropped without a word)."""
    read = sum(1 for name in params if name in NEW_ORDER_PARAMS)
    if read != len(params):
        raise errors.unread_parameters(read, len(params))


def parse_order_ref(params: Mapping[str, str], rules: Mapping[str, SymbolRules]) -> tuple[str, int | None, str | None]:
    """symbol and orderId and/or origClientOrderId (GET and DELETE /api/v3/order).

    -1102 "Param 'origClientOrderId' or 'orderId' must be sent, but both were empty/null!" when
    neither was sent. With both, the caller finds the order by id and must check the client id."""
    symbol = parse_symbol(params, rules)
    order_id = parse_int(params, "orderId")
    client_id = _get(params, "origClientOrderId") or None
    if client_id is not None and not _CLIENT_ORDER_ID.fullmatch(client_id):
        raise errors.illegal_chars("origClientOrderId", errors.CLIENT_ORDER_ID_RANGE)
    if order_id is None and client_id is None:
        raise errors.either_missing("origClientOrderId", "orderId")
    return symbol, order_id, client_id


CANCEL_RESTRICTIONS = ("ONLY_NEW", "ONLY_PARTIALLY_FILLED")


def parse_cancel_restrictions(params: Mapping[str, str]) -> str:
    """DELETE /api/v3/order cancelRestrictions: "" (none), ONLY_NEW or ONLY_PARTIALLY_FILLED; -1100 otherwise."""
    value = _get(params, "cancelRestrictions")
    if not value:
        return ""
    if value not in CANCEL_RESTRICTIONS:
        raise errors.illegal_chars("cancelRestrictions", ", ".join(CANCEL_RESTRICTIONS))
    return value


def order_matches_ref(order: Mapping, order_id: int | None, client_id: str | None) -> bool:
    """Whether a found order is the one a (orderId, origClientOrderId) pair names (both must agree)."""
    if order_id is not None and order.get("order_id") != order_id:
        return False
    return client_id is None or order.get("client_order_id") == client_id
