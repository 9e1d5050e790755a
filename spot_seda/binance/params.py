"""Request parameters' primitives: a mapping merged from the query string and a form body (name ->
text) read as exact decimals, integers, booleans, limits, symbols and client order ids.

Every bad input becomes an ApiError with Binance's code and text; nothing else is ever raised. One
order's rules are in orderparams.py, the time windows of the queries in queryparams.py.

Decimals (price, quantity, quoteOrderQty) are parsed exactly: any plain or exponent form of a
non-negative decimal is accepted ("0.1", "0.10", ".1", "1e-1", "1E-1", "+0.1" are equal) — more
than Binance's own `^([0-9]{1,20})(\\.[0-9]{1,20})?$`, because the seed endpoint's JSON numbers arrive
in Python's float repr ("1e-05"). The errors, in the order Binance checks them:
- not sent or empty (a mandatory one): -1102 "Mandatory parameter '%s' was not sent, ...";
- not a finite non-negative decimal (garbage, NaN, inf, "-1", blanks, over 64 characters): -1100
  "Illegal characters found in parameter '%s'; legal range is '<Binance's decimal regex>'.";
- more than 8 decimals that are not zeros (finer than any asset unit): -1111 "Parameter '%s' has too
  much precision.";
- then the symbol's filters (orderparams.py).

Other choices where Binance leaves room (each tested):
- integer parameters (orderId, startTime, endTime, fromId, limit): -1100 with '^[0-9]{1,20}$' when
  not digits, -1108 "Parameter '%s' overflowed." beyond a signed 64-bit integer.
- a parameter sent empty (`limit=`) is never taken as not sent (check_none_empty, before the
  operation): -1102 for one the endpoint cannot do without (and for a pair of which it needs one,
  both empty: "Param '%s' or '%s' must be sent, but both were empty/null!"), a client order id's
  own code (-1118 / -1119), -1106 "sent when not required" for one the order's type does not take,
  -1105 "Parameter '%s' was empty." for any other. Binance answers `aggTrades?fromId=` so (-1105).
- `limit` above its maximum is clamped to it (Binance truncates depth the same way); 0 is -1130
  "Data sent for parameter 'limit' is not valid.".
- symbols=[...]: JSON with symbol names; malformed -> -1100 with Binance's symbols regex, empty ->
  -1102, a repeated name -> -1151, an unknown one -> -1121. symbol and symbols together: -1128.
- a parameter the endpoint does not read: -1104 (check_all_read), never dropped without a word.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Collection, Mapping
from decimal import Decimal, InvalidOperation

import msgspec

from ..model.fixedpoint import ASSET_DECIMALS, MAX_UNITS, to_units
from ..model.symbols import SymbolRules
from . import errors
from .errors import ApiError

MAX_DECIMAL_CHARS = 64
MAX_CLIENT_ORDER_ID = 36

_DECIMAL = re.compile(r"\+?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
_SYMBOL = re.compile(r"[A-Z0-9\-_.]{1,20}")
CLIENT_ORDER_ID = re.compile(r"[a-zA-Z0-9\-_]{1,36}")


#: what a SIGNED request carries beside its endpoint's own parameters (rest-api.md, "SIGNED
#: (TRADE, USER_DATA AND MARGIN) Endpoint security")
SIGNED_PARAMS = frozenset({"timestamp", "recvWindow", "signature"})


def check_all_read(sent: Collection[str], known: frozenset[str]) -> None:
    """-1104 "Not all sent parameters were read; read '%s' parameter(s) but was sent '%s'." when a
    parameter `sent` is not one the endpoint reads (`known`), rather than dropping it. Counted as
    Binance counts them: every parameter sent, `signature` included, and of those the ones it reads
    (a misspelt `timeInforce` on a signed order: "read '7' ... but was sent '8'")."""
    if known.issuperset(sent):  # (almost every request: one pass in C)
        return
    read = sum(1 for name in sent if name in known)
    if read != len(sent):
        raise errors.unread_parameters(read, len(sent))


#: the pairs of which an operation needs one, or where one stands in for the other (an order's quantity
#: or quoteOrderQty, a stop's stopPrice or trailingDelta, and each order list leg's; an order's id or
#: client id): name -> its partner. One sent empty is for the operation to answer when its partner is
#: not sent either (-1102 "... but both were empty/null!"); beside a partner it is -1105.
EITHER: dict[str, str] = {
    "quantity": "quoteOrderQty", "quoteOrderQty": "quantity", "orderId": "origClientOrderId",
    "cancelOrderId": "cancelOrigClientOrderId", "stopPrice": "trailingDelta", "trailingDelta": "stopPrice",
    **{f"{leg}StopPrice": f"{leg}TrailingDelta"
       for leg in ("above", "below", "working", "pending", "pendingAbove", "pendingBelow")},
    **{f"{leg}TrailingDelta": f"{leg}StopPrice"
       for leg in ("above", "below", "working", "pending", "pendingAbove", "pendingBelow")},
}
#: an order list's id: named beside `listClientOrderId` (DELETE) or `origClientOrderId` (GET)
_LIST_ID_PARTNERS = ("listClientOrderId", "origClientOrderId")


def check_none_empty(params: Mapping[str, object], known: frozenset[str], mandatory: frozenset[str]) -> None:
    """-1105 "Parameter '%s' was empty." for a parameter sent empty that the operation would otherwise
    take as not sent; run after check_all_read, before the operation reads anything. Left to the
    operation: one of its `mandatory` ones (-1102), a client order id (-1118 / -1119), one of an
    EITHER pair whose partner the endpoint reads (`known`) and is not sent either (-1102), and so one
    the order's type does not take (-1106). (A journal's commands replay without it: they were taken
    as they were.)"""
    if "" not in params.values():  # (almost every request: one scan in C)
        return
    for name, value in params.items():
        if value != "" or name in mandatory or name.endswith("ClientOrderId"):
            continue
        partners = _LIST_ID_PARTNERS if name == "orderListId" else (EITHER.get(name),)
        # (a partner sent is any value but "": a WebSocket API request's JSON 0 or false is one, which
        # the operation reads as "0" / "false", and then it would take this one as not sent)
        if any(p in known for p in partners) and \
                not any(params.get(p, "") != "" for p in partners if p is not None):
            continue
        raise errors.param_empty(name)


def check_params(params: Mapping[str, object], known: frozenset[str], mandatory: frozenset[str]) -> None:
    """check_all_read, then check_none_empty: what a request's parameters must pass before its
    operation starts."""
    check_all_read(params, known)
    check_none_empty(params, known, mandatory)


# ------------------------------------------------------------------------------- primitives


def without_nulls(params: dict) -> dict:
    """A WebSocket API request's params less those sent as null: a null is a parameter not sent
    (errors.md -1102: "was not sent, was empty/null"), for the checks, the signature and the
    operation alike. Both ports' WebSocket APIs take their params through this first."""
    if None not in params.values():
        return params
    return {name: value for name, value in params.items() if value is not None}


def json_text(name: str, value: object) -> str:
    """A JSON request value (a WebSocket API request's params, a command file's fields) as the text
    parameter REST's query string would carry: a string as it is, a number as written, a boolean
    `true` / `false`; anything else (null, an array, an object) is -1100, never the text "None"."""
    kind = type(value)
    if kind is str:
        return value
    if kind is bool:
        return "true" if value else "false"
    if kind is int:
        return str(value)
    if kind is float:
        return repr(value)
    raise errors.illegal_chars(name)


def text_param(params: Mapping[str, str], name: str) -> str | None:
    value = params.get(name)
    if type(value) is str or value is None:
        return value
    if not isinstance(value, str):  # a JSON body's number or bool turned into params by a caller
        raise errors.illegal_chars(name)
    return value


def required_param(params: Mapping[str, str], name: str) -> str:
    value = text_param(params, name)
    if not value:
        raise errors.mandatory_missing(name)
    return value


def parse_choice(params: Mapping[str, str], name: str, choices: tuple[str, ...], default: str) -> str:
    """An optional parameter that names one of `choices`: `default` when not sent; -1100 otherwise."""
    value = text_param(params, name)
    if not value:
        return default
    if value not in choices:
        raise errors.illegal_chars(name, ", ".join(choices))
    return value


def was_sent(params: Mapping[str, str], name: str) -> bool:
    value = params.get(name)
    return value is not None and value != ""


def parse_decimal(params: Mapping[str, str], name: str, decimals: int = ASSET_DECIMALS, *,
                  required: bool = True, too_large: Callable[[], ApiError] | None = None) -> int | None:
    """An exact non-negative decimal as a count of 10**-decimals units (module docstring for errors).

    `too_large` makes the error for a value beyond MAX_UNITS (default -1108 overflowed): errors are
    made only when raised (an order's parameters are parsed on every order)."""
    text = text_param(params, name)
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
    # the plain form, 1-20 ASCII digits and optionally a dot and up to 40 more, told by str methods
    # in C (a regular expression and its groups took twice as long)
    whole, _dot, frac = text.partition(".")
    if not (text.isascii() and 0 < len(whole) <= 20 and whole.isdigit() and len(frac) <= 40
            and (frac.isdigit() or not frac)):
        return general_decimal_units(text, name, decimals, too_large=too_large)
    frac = frac.rstrip("0")
    if len(frac) > decimals:
        raise errors.too_much_precision(name)
    units = int(whole + frac.ljust(decimals, "0"))  # (the digits, scaled by padding: one int() and no power)
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
    text = text_param(params, name)
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


def ws_request_id_ok(request: dict) -> bool:
    """A WebSocket API request's `id` as web-socket-api.md takes it: sent (it is mandatory), and an
    integer, a string of at most 64 characters, or null (Acquiring's and Push's ports alike)."""
    if "id" not in request:
        return False
    req_id = request["id"]
    return req_id is None or type(req_id) is int or (type(req_id) is str and len(req_id) <= 64)


def subscription_id(value: object) -> int | None:
    """userDataStream.unsubscribe's `subscriptionId` as a WebSocket API request sends it: a JSON
    integer or, as Binance's own SDK (binance-sdk-spot) sends every integer parameter, its decimal
    string; None if not sent; anything else (a bool, a float, a string with a sign or a letter) -1100."""
    if value is None or type(value) is int:
        return value
    if isinstance(value, str) and 0 < len(value) <= 20 and value.isascii() and value.isdigit():
        return int(value)
    raise errors.illegal_chars("subscriptionId")


#: a time parameter (timestamp, startTime, endTime) at or above this is in microseconds: Binance takes
#: either, told apart by size (a time in ms has 13 digits until the year 2286, in µs 16)
MICROS_FROM = 10**14


def micros(time: int) -> int:
    """A time parameter's value, sent in ms or µs (MICROS_FROM), in µs."""
    return time if time >= MICROS_FROM else time * 1000


def parse_limit(params: Mapping[str, str], name: str = "limit", default: int = 500, maximum: int = 1000) -> int:
    """`limit`: the default when not sent, clamped to `maximum`; -1130 for 0."""
    value = parse_int(params, name)
    if value is None:
        return default
    if value == 0:
        raise errors.invalid_parameter(name)
    return min(value, maximum)



def parse_bool(params: Mapping[str, str], name: str, default: bool = False) -> bool:
    """A BOOLEAN parameter as Binance spells it (true / false; not sent or empty: `default`); -1100 otherwise."""
    text = text_param(params, name)
    if not text:
        return default
    if text.lower() not in ("true", "false"):
        raise errors.illegal_chars(name, "true, false")
    return text.lower() == "true"



# ---------------------------------------------------------------------------------- symbols


def symbol_name(text: str, rules: Mapping[str, SymbolRules], name: str = "symbol") -> str:
    if not _SYMBOL.fullmatch(text):
        raise errors.illegal_chars(name, errors.SYMBOL_RANGE)
    if text not in rules:
        raise errors.invalid_symbol()
    return text


def parse_symbol(params: Mapping[str, str], rules: Mapping[str, SymbolRules], required: bool = True) -> str | None:
    """`symbol`: -1102 when required and not sent, -1100 when not a symbol name, -1121 when unknown."""
    text = text_param(params, "symbol")
    if not text:
        if required:
            raise errors.mandatory_missing("symbol")
        return None
    return symbol_name(text, rules)


def parse_symbols_list(params: Mapping[str, str], rules: Mapping[str, SymbolRules],
                       most: int | None = None) -> list[str] | None:
    """`symbols=["A","B"]` (already URL-decoded), or None when not sent. More than `most` names:
    -1101, counted before the names are checked (CHANGELOG.md 2022-06-20, GET /api/v3/ticker)."""
    text = text_param(params, "symbols")
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
    if most is not None and len(names) > most:
        raise errors.too_many_symbols(most)
    for item in names:
        if not _SYMBOL.fullmatch(item):
            raise errors.illegal_chars("symbols", errors.SYMBOLS_RANGE)
    if len(set(names)) != len(names):
        raise errors.duplicate_symbols()
    for item in names:
        if item not in rules:
            raise errors.invalid_symbol()
    return names


def parse_symbols_filter(params: Mapping[str, str], rules: Mapping[str, SymbolRules],
                         most: int | None = None) -> list[str]:
    """exchangeInfo and the tickers: `symbol=`, `symbols=[...]` (at most `most`) or neither (every
    symbol, sorted)."""
    if was_sent(params, "symbol") and "symbols" in params:
        raise errors.bad_combination()
    if was_sent(params, "symbol"):
        return [parse_symbol(params, rules)]
    names = parse_symbols_list(params, rules, most)
    return names if names is not None else sorted(rules)



# ---------------------------------------------------------------------- enums and client ids

_MEMBERS: dict[type, dict] = {}  # parse_enum's name -> member maps, one per enum


def parse_enum(params: Mapping[str, str], name: str, enum, error: Callable[[], ApiError]):
    value = required_param(params, name)
    members = _MEMBERS.get(enum)
    if members is None:  # (an Enum's __members__ builds a new mapping proxy on every call)
        members = _MEMBERS[enum] = dict(enum.__members__)
    member = members.get(value)
    if member is None:
        raise error()
    return member


def parse_id_or_client_id(params: Mapping[str, str], id_name: str, cid_name: str,
                          id_first: bool = False) -> tuple[int | None, str | None]:
    """Something named by its id and/or a client id (orderId / origClientOrderId, cancelOrderId /
    cancelOrigClientOrderId, orderListId / listClientOrderId): (id, client id), None where not sent.
    A malformed client id: -1100; an empty one beside an id: -1119. Neither (or both empty): -1102
    "Param '<cid_name>' or '<id_name>' must be sent, ..." (the names the other way round with
    `id_first`, as Binance words it for order lists)."""
    ident = parse_int(params, id_name)
    client_id = text_param(params, cid_name)
    if client_id == "":
        if ident is not None:
            raise errors.empty_orig_client_order_id()
        client_id = None
    if client_id is not None and not CLIENT_ORDER_ID.fullmatch(client_id):
        raise errors.illegal_chars(cid_name, errors.CLIENT_ORDER_ID_RANGE)
    if ident is None and client_id is None:
        raise errors.either_missing(*((id_name, cid_name) if id_first else (cid_name, id_name)))
    return ident, client_id


def parse_client_order_id(params: Mapping[str, str], name: str = "newClientOrderId") -> str | None:
    value = text_param(params, name)
    if value is None:
        return None
    if value == "":
        raise errors.empty_new_client_order_id() if name == "newClientOrderId" else errors.empty_orig_client_order_id()
    if not CLIENT_ORDER_ID.fullmatch(value):
        raise errors.illegal_chars(name, errors.CLIENT_ORDER_ID_RANGE)
    return value

