"""Binance's rate limits at the REST API's front door (beside admission.py, which sheds overload).

Two different refusals, two different statuses:

- admission.py: the NODE is overloaded (its backlog, whoever caused it): HTTP 503, -1003 "Too many
  requests queued."; nothing happened, retry at once.
- here: THIS CLIENT used more than its share, as Binance counts it: HTTP 429 with `Retry-After`
  (seconds until its window resets), and HTTP 418 for an IP that keeps going after its 429s (banned
  for `rate_limits.ban_s`, doubling for a repeat offender, up to `ban_max_s`, as Binance does).

What is counted (binance-spot-api-docs, rest-api.md "LIMITS"):

- REQUEST_WEIGHT per client IP (an IPv6 client per /64: one host owns a whole /64): every /api/
  request adds its endpoint's weight (`WEIGHTS`, Binance's for each endpoint this node serves), also
  one that later fails (a bad signature, a bad parameter) or is shed; one refused 429/418 adds none.
  Since 2026-04-02 (binance-spot-api-docs CHANGELOG, 2026-03-27 and 2026-04-02) the requests that
  place, cancel or replace orders (`FREE_WHEN_DONE`) weigh 0 when they succeed; a failed one (any
  error: a -2010 rejection, a filter, a bad signature, a -1007 timeout, whose outcome is unknown) is
  still charged. `PUT /api/v3/order/amend/keepPriority` weighs 0 only when it succeeds and the order
  expires because of the amendment (`amend_expired`). Such a request is still weighed and charged up
  front like any other (so a burst of them is limited, and one refused 429/418 adds nothing); a
  success (2xx) gives its weight back to the windows it was added to (`give_back`; a window that has
  rolled over since has nothing to give back) before its answer's headers are written, so they show
  the count without it.
  Every /api/ answer carries `X-MBX-USED-WEIGHT-<n><unit>` (e.g. `X-MBX-USED-WEIGHT-1M`).
  Past the limit: 429 -1003 "Too much request weight used; current limit is 6000 request weight per
  1 MINUTE. ..."; banned: 418 -1003 "Way too much request weight used; IP banned until <ms>. ...".
- RAW_REQUESTS per client IP: every /api/ request counts 1, whatever its weight, a successful
  order's too, which weighs 0 (CHANGELOG 2026-03-27: 300,000 per 5 minutes); past it 429 -1003 "Too
  many requests; current limit is 300000 requests per 5 MINUTE. ..." (errors.md has no text of its
  own for it). No header shows it (Binance shows none). A WebSocket API request does not count:
  "For WebSocket API, removed `RAW REQUESTS` rate limit in `exchangeInfo`, replaced it with
  `CONNECTIONS`" (CHANGELOG 2023-08-25).
- CONNECTIONS per client IP: each new WebSocket connection (the WebSocket API's, the streams'; each
  port counts its own) counts 1, 300 per 5 minutes (web-socket-api.md, web-socket-streams.md);
  past it the handshake is answered HTTP 429 -1003 with Retry-After, and nothing is counted.
- ORDERS per account, from whatever IP: the unfilled order count (faqs/order_count_decrement.md).
  An order request (POST /api/v3/order, POST /api/spot/v2/, a new order list: each of its orders,
  and the new order of POST /api/v3/order/cancelReplace) counts once the request's signature is
  checked and before its parameters are (cancelReplace: after them, as Binance evaluates its
  filters first): past the limit 429 -1015 "Too many new orders; current limit is 100 orders per
  10 SECOND." and nothing is counted or placed. Counting first keeps concurrent requests of one
  account within the limit; a request then refused (bad parameters, a filter, the balance: the
  order was not placed) gives its count back ("Every successful request to place an order adds to
  the unfilled order count"), except cancelReplace's, which counts attempted or not (rest-api.md).
  An order's first fill, as taker at once or as maker later, takes one off every ORDERS window's
  current count, never below 0 ("You do not get credit for order fills"): Acquiring reports it
  (AcquiringStage.on_first_fill), on this loop. The order's answer carries `X-MBX-ORDER-COUNT-10S`
  and `X-MBX-ORDER-COUNT-1D` as counted when it was placed (its fill comes off "later", as
  Binance's example shows); `GET /api/v3/rateLimit/order` shows the counts now.

Windows are fixed and aligned on the clock (a minute's from :00, a day's from 00:00 UTC): a counter
is its window's number and a count, so a request costs a few dict and integer operations.

Memory is bounded: IPs and accounts live in two insertion-ordered tables of at most
`rate_limits.max_tracked` entries. Each request looks at the two oldest entries of its table and
forgets one whose windows, back-off and ban are all over (an IP with bans behind it is kept until
`ban_max_s` after its last ban ends, so that its next ban is longer), or moves it to the back; a
full table forgets its oldest entry outright.

The admin endpoints, /metrics, /openapi.json and the web page are not /api/ and are not counted.
"""

from __future__ import annotations

import ipaddress
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from contextlib import contextmanager
from functools import lru_cache
from urllib.parse import parse_qsl

import msgspec
from aiohttp import web

from ..binance import errors
from ..stages.accepting import CommandError
from .jsonbody import json_answer

#: ms per interval unit, and the letter of the unit in the header names (Binance's)
UNIT_MS = {"SECOND": 1000, "MINUTE": 60_000, "HOUR": 3_600_000, "DAY": 86_400_000}
UNIT_LETTER = {"SECOND": "S", "MINUTE": "M", "HOUR": "H", "DAY": "D"}
#: the requests that place an order: counted per account (count_order)
ORDER_ROUTES = frozenset({("POST", "/api/v3/order"), ("POST", "/api/spot/v2/"), ("POST", "/api/v3/order/cancelReplace"),
                          ("POST", "/api/v3/orderList/oco"), ("POST", "/api/v3/order/oco"),
                          ("POST", "/api/v3/orderList/oto"), ("POST", "/api/v3/orderList/otoco")})
#: request key: the account's order counts after this order (the middleware writes the headers)
ORDER_COUNTS = "spot_seda.order_counts"
#: request key: seconds to send in Retry-After with a 429 raised by a handler (the orders limit)
RETRY_AFTER = "spot_seda.retry_after"


# ------------------------------------------------------------------------------ the weights


def _depth(q: Mapping[str, str]) -> int:
    """1-100: 5, 101-500: 25, 501-1000: 50, 1001-5000: 250 (default limit 100); a limit above 5000
    is served 5000 levels, so weighs 250 too, however many digits it has."""
    limit = q.get("limit", "100")
    if limit.isascii() and limit.isdigit():  # (str.isdigit takes "²", which int() refuses)
        digits = limit.lstrip("0")
        n = int(digits or "0") if len(digits) < 10 else 5001
    else:
        n = 100
    return 5 if n <= 100 else 25 if n <= 500 else 50 if n <= 1000 else 250


def _symbol_count(q: Mapping[str, str]) -> int | None:
    """1 for `symbol`, the length of a `symbols` list, None for neither (every symbol)."""
    if q.get("symbol"):
        return 1
    symbols = q.get("symbols")
    if symbols:
        return symbols.count(",") + 1
    return None


def _ticker_24hr(q: Mapping[str, str]) -> int:
    """symbol: 2; symbols 1-20: 2, 21-100: 40, more: 80; neither (every symbol): 80."""
    n = _symbol_count(q)
    return 80 if n is None or n > 100 else 40 if n > 20 else 2


def _window_ticker(q: Mapping[str, str]) -> int:
    """ticker (rolling window) and ticker/tradingDay: 4 a symbol, at most 200."""
    return min(4 * (_symbol_count(q) or 1), 200)


def _ticker_one_or_all(q: Mapping[str, str]) -> int:
    """ticker/price and ticker/bookTicker: symbol 2, symbols or neither 4."""
    return 2 if q.get("symbol") else 4


def _open_orders(q: Mapping[str, str]) -> int:
    """6 for one symbol, 80 without."""
    return 6 if q.get("symbol") else 80


def _my_trades(q: Mapping[str, str]) -> int:
    """20; 5 with orderId."""
    return 5 if q.get("orderId") else 20


def _my_prevented_matches(q: Mapping[str, str]) -> int:
    """2 by preventedMatchId (or without orderId), 20 by orderId (rest-api.md)."""
    return 20 if q.get("orderId") and not q.get("preventedMatchId") else 2


#: Binance's request weight of each endpoint this node serves (rest-api.md), or a function of the
#: query's parameters for those whose weight depends on them. An /api/ path not listed weighs 1.
WEIGHTS: dict[tuple[str, str], int | Callable[[Mapping[str, str]], int]] = {
    ("GET", "/api/v3/ping"): 1,
    ("GET", "/api/v3/time"): 1,
    ("GET", "/api/v3/exchangeInfo"): 20,
    ("GET", "/api/v3/depth"): _depth,
    ("GET", "/api/v3/trades"): 25,
    ("GET", "/api/v3/historicalTrades"): 25,
    ("GET", "/api/v3/aggTrades"): 4,
    ("GET", "/api/v3/klines"): 2,
    ("GET", "/api/v3/uiKlines"): 2,
    ("GET", "/api/v3/avgPrice"): 2,
    ("GET", "/api/v3/ticker/24hr"): _ticker_24hr,
    ("GET", "/api/v3/ticker"): _window_ticker,
    ("GET", "/api/v3/ticker/tradingDay"): _window_ticker,
    ("GET", "/api/v3/ticker/price"): _ticker_one_or_all,
    ("GET", "/api/v3/ticker/bookTicker"): _ticker_one_or_all,
    ("POST", "/api/v3/order"): 1,
    ("POST", "/api/v3/order/test"): lambda q: 20 if q.get("computeCommissionRates", "").lower() == "true" else 1,
    ("POST", "/api/v3/order/cancelReplace"): 1,
    ("PUT", "/api/v3/order/amend/keepPriority"): 4,
    ("POST", "/api/v3/orderList/oco"): 1,
    ("POST", "/api/v3/order/oco"): 1,
    ("POST", "/api/v3/orderList/oto"): 1,
    ("POST", "/api/v3/orderList/otoco"): 1,
    ("GET", "/api/v3/orderList"): 4,
    ("DELETE", "/api/v3/orderList"): 1,
    ("GET", "/api/v3/allOrderList"): 20,
    ("GET", "/api/v3/openOrderList"): 6,
    ("GET", "/api/v3/order"): 4,
    ("DELETE", "/api/v3/order"): 1,
    ("GET", "/api/v3/openOrders"): _open_orders,
    ("DELETE", "/api/v3/openOrders"): 1,
    ("GET", "/api/v3/allOrders"): 20,
    ("GET", "/api/v3/myTrades"): _my_trades,
    ("GET", "/api/v3/myPreventedMatches"): _my_prevented_matches,
    ("GET", "/api/v3/account"): 20,
    ("GET", "/api/v3/account/commission"): 20,
    ("GET", "/api/v3/myFilters"): 40,
    ("GET", "/api/v3/rateLimit/order"): 40,
    ("POST", "/api/v3/userDataStream"): 2,
    ("PUT", "/api/v3/userDataStream"): 2,
    ("DELETE", "/api/v3/userDataStream"): 2,
    ("POST", "/api/spot/v2/"): 1,  # the seed's order entry: an order, as POST /api/v3/order
}


#: the requests that weigh 0 when they succeed (Binance's CHANGELOG, 2026-03-27, in effect since
#: 2026-04-02; "Failed requests are still charged the documented weight"): those of its list this
#: node serves (not POST /api/v3/sor/order, /api/v3/orderList/opo, /opoco), and the seed's order
#: entry, which is POST /api/v3/order. The WebSocket API's methods of the list (order.place,
#: order.cancel, ...) are these routes' (wsmethods.METHODS). ORDERS counting does not change.
FREE_WHEN_DONE = frozenset({("POST", "/api/v3/order"), ("POST", "/api/spot/v2/"), ("DELETE", "/api/v3/order"),
                            ("DELETE", "/api/v3/openOrders"), ("POST", "/api/v3/order/cancelReplace"),
                            ("POST", "/api/v3/order/oco"), ("POST", "/api/v3/orderList/oco"),
                            ("POST", "/api/v3/orderList/oto"), ("POST", "/api/v3/orderList/otoco"),
                            ("DELETE", "/api/v3/orderList"), ("PUT", "/api/v3/order/amend/keepPriority")})
#: of FREE_WHEN_DONE, the one that weighs 0 only when the success expired the order (2026-04-02)
AMEND = ("PUT", "/api/v3/order/amend/keepPriority")


def amend_expired(answer) -> bool:
    """Whether an amend's successful answer (orderops.amend_json) says the order expired because of
    the amendment (its new quantity at or below what has executed: engine/amend.py)."""
    try:
        return answer["amendedOrder"]["status"] == "EXPIRED"
    except (KeyError, TypeError):
        return False


def weight_of(method: str, path: str, query: Mapping[str, str]) -> int:
    weight = WEIGHTS.get((method, path), 1)
    return weight if weight.__class__ is int else weight(query)


# ------------------------------------------------------------------------------ the limits


class Limit:
    """One configured limit: what exchangeInfo shows, its window in ms, its header name."""

    __slots__ = ("kind", "interval", "interval_num", "limit", "ms", "header", "label")

    def __init__(self, kind: str, interval: str, interval_num: int, limit: int) -> None:
        self.kind, self.interval, self.interval_num, self.limit = kind, interval, interval_num, limit
        self.ms = UNIT_MS[interval] * interval_num
        prefix = {"REQUEST_WEIGHT": "X-MBX-USED-WEIGHT-", "ORDERS": "X-MBX-ORDER-COUNT-"}.get(kind)
        self.header = f"{prefix}{interval_num}{UNIT_LETTER[interval]}" if prefix else ""  # (RAW_REQUESTS: none)
        self.label = f"{interval_num} {interval}"  # as Binance's error texts say it: "1 MINUTE"

    def json(self) -> dict:
        return {"rateLimitType": self.kind, "interval": self.interval, "intervalNum": self.interval_num,
                "limit": self.limit}


class _Counters:
    """One IP's or account's counters: per limit, the window it counts in and its count."""

    __slots__ = ("windows", "counts", "backoff_until", "strikes", "ban_until", "bans", "keep_until")

    def __init__(self, n: int) -> None:
        self.windows = [-1] * n
        self.counts = [0] * n
        self.backoff_until = 0  # ms: the end of the window that answered this IP 429
        self.strikes = 0  # 429s answered since backoff_until was last reached
        self.ban_until = 0
        self.bans = 0  # bans so far: the next one lasts ban_s * 2**bans
        self.keep_until = 0  # ms: worth remembering until then (its last window's end, a ban's memory)


class _Table:
    """IPs or accounts -> counters, at most `cap` of them, idle ones forgotten (see the module doc)."""

    __slots__ = ("entries", "cap", "limits")

    def __init__(self, limits: list[Limit], cap: int) -> None:
        self.entries: OrderedDict = OrderedDict()
        self.cap = cap
        self.limits = limits

    def get(self, key, now_ms: int) -> _Counters:
        entries = self.entries
        self._sweep(now_ms)  # (it may forget this key's own entry: then nothing in it mattered any more)
        counters = entries.get(key)
        if counters is None:
            counters = entries[key] = _Counters(len(self.limits))
            if len(entries) > self.cap:
                entries.popitem(last=False)
        # roll each window on to now's
        windows, counts = counters.windows, counters.counts
        for i, limit in enumerate(self.limits):
            window = now_ms // limit.ms
            if windows[i] != window:
                windows[i], counts[i] = window, 0
        return counters

    def _sweep(self, now_ms: int) -> None:
        entries = self.entries
        for _ in range(2):
            if not entries:
                return
            key = next(iter(entries))
            if entries[key].keep_until <= now_ms:
                del entries[key]
            else:
                entries.move_to_end(key)

    def __len__(self) -> int:
        return len(self.entries)


@lru_cache(maxsize=4096)
def _ipv6_key(remote: str) -> str:
    try:
        address = ipaddress.IPv6Address(remote.split("%", 1)[0])
    except ValueError:
        return remote
    if address.ipv4_mapped is not None:
        return str(address.ipv4_mapped)
    return str(ipaddress.IPv6Network((int(address) >> 64 << 64, 64)))


def client_key(remote: str | None) -> str:
    """What an IP's weight is counted under: the IPv4 address; an IPv6 client's /64."""
    if not remote or ":" not in remote:
        return remote or ""
    return _ipv6_key(remote)


class RateLimiter:
    """The node's REQUEST_WEIGHT (per IP) and ORDERS (per account) limits; all times in ms."""

    def __init__(self, settings) -> None:
        """`settings`: config.RateLimitSettings."""
        self.enabled = settings.enabled
        self.weight_limits = [Limit("REQUEST_WEIGHT", l.interval, l.interval_num, l.limit)
                              for l in settings.request_weight] if self.enabled else []
        #: RAW_REQUESTS: counted per IP beside the weight, in the same counters (after its windows)
        self.raw_limits = [Limit("RAW_REQUESTS", l.interval, l.interval_num, l.limit)
                           for l in settings.raw_requests] if self.enabled else []
        self.order_limits = [Limit("ORDERS", l.interval, l.interval_num, l.limit)
                             for l in settings.orders] if self.enabled else []
        self.ban_after = settings.ban_after_429s
        self.ban_ms = int(settings.ban_s * 1000)
        self.ban_max_ms = int(settings.ban_max_s * 1000)
        #: CONNECTIONS: new WebSocket connections per IP, in a table of their own (`connect`)
        self.connection_limits = [Limit("CONNECTIONS", l.interval, l.interval_num, l.limit)
                                  for l in settings.connections] if self.enabled else []
        self.ips = _Table(self.weight_limits + self.raw_limits, settings.max_tracked)
        self.connects = _Table(self.connection_limits, settings.max_tracked)
        self.refused_connections = 0  # 429s for CONNECTIONS
        self.accounts = _Table(self.order_limits, settings.max_tracked)
        self.refused_weight = 0  # 429s for request weight
        self.refused_raw = 0  # 429s for RAW_REQUESTS
        self.refused_orders = 0  # 429s for orders
        self.banned = 0  # 418s

    def rate_limits_json(self, websocket: bool = False) -> list[dict]:
        """exchangeInfo's `rateLimits`: REST's lists RAW_REQUESTS last, the WebSocket API's CONNECTIONS
        instead (CHANGELOG 2023-08-25: "For WebSocket API, removed `RAW REQUESTS` rate limit in
        `exchangeInfo`, replaced it with `CONNECTIONS`"; web-socket-api.md's example)."""
        last = self.connection_limits if websocket else self.raw_limits
        return [limit.json() for limit in self.weight_limits + self.order_limits + last]  # (Binance's order)

    def connect(self, key: str, now_ms: int) -> tuple[errors.ApiError | None, int]:
        """A new WebSocket connection from `key` (client_key): (None, 0) when admitted and counted;
        past a CONNECTIONS limit (web-socket-api.md: "300 connections per attempt every 5 minutes",
        per IP; web-socket-streams.md the same) (429 -1003, Retry-After seconds), nothing counted."""
        if not self.connection_limits:
            return None, 0
        counters = self.connects.get(key, now_ms)
        counts = counters.counts
        full = [i for i, limit in enumerate(self.connection_limits) if counts[i] + 1 > limit.limit]
        if full:  # (Retry-After: until every full window has ended, as count_order's)
            self.refused_connections += 1
            limit = self.connection_limits[full[0]]
            window_end = max((counters.windows[i] + 1) * self.connection_limits[i].ms for i in full)
            return errors.too_many_connections(limit.limit, limit.label), _seconds(window_end - now_ms)
        for i in range(len(counts)):
            counts[i] += 1
        self._keep(counters, self.connection_limits)
        return None, 0

    # -------------------------------------------------------------------- request weight

    def charge(self, key: str, weight: int, now_ms: int, raw: bool = True) -> tuple[_Counters, errors.ApiError | None, int]:
        """Add a request's weight to its IP's windows: (the IP's counters, None, 0) when admitted;
        (counters, the 429 or 418 error, Retry-After seconds) when refused (nothing added). `raw`: it
        counts toward RAW_REQUESTS too (a REST request; the WebSocket API has no such limit since
        CHANGELOG 2023-08-25: "RAW_REQUESTS rate limit for REST API")."""
        counters = self.ips.get(key, now_ms)
        if counters.ban_until > now_ms:
            self.banned += 1
            return counters, errors.ip_banned(counters.ban_until), _seconds(counters.ban_until - now_ms)
        counts = counters.counts
        n = len(self.weight_limits)
        for i, limit in enumerate(self.weight_limits):
            if counts[i] + weight > limit.limit:
                return (counters, *self._refuse(counters, limit, counters.windows[i], now_ms))
        if raw:
            for i, limit in enumerate(self.raw_limits, n):
                if counts[i] + 1 > limit.limit:
                    return (counters, *self._refuse(counters, limit, counters.windows[i], now_ms))
        for i in range(n):
            counts[i] += weight
        if raw:
            for i in range(n, len(counts)):  # (a request, whatever its weight)
                counts[i] += 1
        self._keep(counters, self.ips.limits)
        return counters, None, 0

    def give_back(self, counters: _Counters, weight: int, charged_ms: int) -> None:
        """Take back `weight` that `charge` added at `charged_ms` (a request that weighs 0 when it
        succeeds, and did: FREE_WHEN_DONE), from each window that still counts the one it was added
        to (a window rolled over since never held it), never below 0."""
        counts, windows = counters.counts, counters.windows
        for i, limit in enumerate(self.weight_limits):
            if windows[i] == charged_ms // limit.ms:
                counts[i] = max(0, counts[i] - weight)

    def _refuse(self, counters: _Counters, limit: Limit, window: int, now_ms: int) -> tuple[errors.ApiError, int]:
        if now_ms >= counters.backoff_until:  # the last back-off was waited out: a fresh count
            counters.strikes = 0
        counters.strikes += 1
        window_end = (window + 1) * limit.ms
        counters.backoff_until = max(counters.backoff_until, window_end)
        if counters.strikes > self.ban_after:
            length = min(self.ban_ms << min(counters.bans, 40), self.ban_max_ms)
            counters.ban_until = now_ms + length
            counters.bans += 1
            counters.strikes = 0
            counters.keep_until = max(counters.keep_until, counters.ban_until + self.ban_max_ms)
            self.banned += 1
            return errors.ip_banned(counters.ban_until), _seconds(length)
        counters.keep_until = max(counters.keep_until, counters.backoff_until)
        if limit.kind == "RAW_REQUESTS":
            self.refused_raw += 1
            return errors.too_many_requests(limit.limit, limit.label), _seconds(window_end - now_ms)
        self.refused_weight += 1
        return errors.rate_limited(limit.limit, limit.label), _seconds(window_end - now_ms)

    @staticmethod
    def _keep(counters: _Counters, limits: list[Limit]) -> None:
        for i, limit in enumerate(limits):
            end = (counters.windows[i] + 1) * limit.ms
            if end > counters.keep_until:
                counters.keep_until = end

    def weight_usage(self, counters: _Counters) -> list[dict]:
        """The IP's REQUEST_WEIGHT windows as the WebSocket API's `rateLimits` lists them."""
        return [limit.json() | {"count": counters.counts[i]} for i, limit in enumerate(self.weight_limits)]

    def weight_headers(self, counters: _Counters) -> list[tuple[str, str]]:
        return [(limit.header, str(counters.counts[i])) for i, limit in enumerate(self.weight_limits)]

    # -------------------------------------------------------------------- orders

    def count_order(self, account_id: int, now_ms: int,
                    n: int = 1) -> tuple[list[tuple[str, str]], errors.ApiError | None, int]:
        """Count `n` orders of this account (an order list's): (its X-MBX-ORDER-COUNT headers, None,
        0), or, past a limit, (the headers, 429 -1015, Retry-After seconds) and nothing counted."""
        counters = self.accounts.get(account_id, now_ms)
        counts = counters.counts
        for i, limit in enumerate(self.order_limits):
            if counts[i] + n > limit.limit:  # (the first full limit is named; Retry-After waits out every full one)
                self.refused_orders += 1
                return self._order_headers(counters), errors.too_many_orders(limit.limit, limit.label), \
                    _seconds(self.order_retry_at(account_id, n) - now_ms)
        for i in range(len(counts)):
            counts[i] += n
        self._keep(counters, self.order_limits)
        return self._order_headers(counters), None, 0

    def uncount_order(self, account_id: int, counted_ms: int, n: int = 1) -> list[tuple[str, str]]:
        """Take `n` orders off the account's count in each window, if it still counts the window
        `counted_ms` fell in (a later window never held them), never below 0: orders count_order
        counted then and that were not placed after all (refused), or, at now, an order's first
        fill (order_filled). Returns the X-MBX-ORDER-COUNT headers after it."""
        counters = self.accounts.entries.get(account_id)
        if counters is None:  # (forgotten: its windows are over, there is nothing to take off)
            return [(limit.header, "0") for limit in self.order_limits]
        counts, windows = counters.counts, counters.windows
        for i, limit in enumerate(self.order_limits):
            if windows[i] == counted_ms // limit.ms:
                counts[i] = max(0, counts[i] - n)
        return self._order_headers(counters)

    def order_filled(self, account_id: int, now_ms: int) -> None:
        """An order of this account filled for the first time: one order off its current count in
        every ORDERS window (faqs/order_count_decrement.md), none below 0."""
        self.uncount_order(account_id, now_ms)

    def order_retry_at(self, account_id: int, n: int = 1) -> int:
        """When an account that count_order refused `n` orders may place again (ms): the end of the
        last of the windows that had no room for them."""
        counters = self.accounts.entries[account_id]
        return max((counters.windows[i] + 1) * limit.ms for i, limit in enumerate(self.order_limits)
                   if counters.counts[i] + n > limit.limit)

    def _order_headers(self, counters: _Counters) -> list[tuple[str, str]]:
        return [(limit.header, str(counters.counts[i])) for i, limit in enumerate(self.order_limits)]

    def order_usage(self, account_id: int, now_ms: int) -> list[dict]:
        """GET /api/v3/rateLimit/order: each ORDERS limit with this account's count in its window."""
        if not self.order_limits:
            return []
        counters = self.accounts.entries.get(account_id)
        out = []
        for i, limit in enumerate(self.order_limits):
            count = counters.counts[i] if counters is not None and counters.windows[i] == now_ms // limit.ms else 0
            out.append(limit.json() | {"count": count})
        return out

    def prometheus(self) -> str:
        return (
            "# HELP spot_seda_http_rate_limited_total requests refused by the rate limits (429, 418).\n"
            "# TYPE spot_seda_http_rate_limited_total counter\n"
            f'spot_seda_http_rate_limited_total{{limit="request_weight"}} {self.refused_weight}\n'
            f'spot_seda_http_rate_limited_total{{limit="raw_requests"}} {self.refused_raw}\n'
            f'spot_seda_http_rate_limited_total{{limit="orders"}} {self.refused_orders}\n'
            f'spot_seda_http_rate_limited_total{{limit="connections"}} {self.refused_connections}\n'
            f'spot_seda_http_rate_limited_total{{limit="ip_ban"}} {self.banned}\n'
            "# HELP spot_seda_http_rate_limit_tracked IPs and accounts the rate limiter remembers now.\n"
            "# TYPE spot_seda_http_rate_limit_tracked gauge\n"
            f'spot_seda_http_rate_limit_tracked{{kind="ip"}} {len(self.ips)}\n'
            f'spot_seda_http_rate_limit_tracked{{kind="account"}} {len(self.accounts)}\n'
        )


def _seconds(ms: int) -> int:
    """Retry-After: whole seconds, rounded up, at least 1."""
    return max(1, -(-ms // 1000))


# ------------------------------------------------------------------------------ HTTP

LIMITER = web.AppKey("rate_limiter", RateLimiter)


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


def ratelimit_middleware(settle_body):
    """The outermost middleware when limits are on: weigh every /api/ request, refuse it 429/418
    before anything else is done for it, give back the weight of one that weighs 0 when it succeeds
    and did (FREE_WHEN_DONE), and put the counters in every /api/ answer's headers.
    `settle_body(request, response)` deals with a body left unread (plumbing.py)."""

    @web.middleware
    async def rate_limit(request: web.Request, handler):
        path = request.path
        if not path.startswith("/api/"):
            return await handler(request)
        limiter = request.app[LIMITER]
        method = request.method
        weight = WEIGHTS.get((method, path), 1)
        if weight.__class__ is not int:
            weight = weight(await _weighed_params(request))
        charged_ms = time.time_ns() // 1_000_000
        counters, refusal, retry_after = limiter.charge(client_key(request.remote), weight, charged_ms)
        if refusal is not None:
            resp = json_answer(refusal.body(), status=refusal.status)
            resp.headers["Retry-After"] = str(retry_after)
            for name, value in limiter.weight_headers(counters):
                resp.headers[name] = value
            await settle_body(request, resp)
            return resp
        resp = await handler(request)
        if 200 <= resp.status < 300 and (method, path) in FREE_WHEN_DONE and \
                ((method, path) != AMEND or amend_expired(_decode_json(resp))):
            limiter.give_back(counters, weight, charged_ms)  # (before the headers: they show it given back)
        if not resp.prepared:
            headers = resp.headers
            for name, value in limiter.weight_headers(counters):
                headers[name] = value
            order_counts = request.get(ORDER_COUNTS)
            if order_counts is not None:
                for name, value in order_counts:
                    headers[name] = value
                if resp.status == 429:
                    headers["Retry-After"] = str(request[RETRY_AFTER])
        return resp

    return rate_limit


def _decode_json(resp: web.StreamResponse):
    """The JSON body of a handler's answer (json_answer's), or None."""
    body = getattr(resp, "body", None)
    if not isinstance(body, bytes):
        return None
    try:
        return msgspec.json.decode(body)
    except msgspec.DecodeError:
        return None


async def _weighed_params(request: web.Request) -> Mapping[str, str]:
    """The parameters a weight depends on: the query string's, and a form body's (Binance takes
    either but on a GET, whose body is not read: plumbing.request_params; POST /api/v3/order/test's
    computeCommissionRates, python-binance sends it in the body),
    the query's where both name one. A body that cannot be read weighs as none: the handler
    answers for it. aiohttp keeps the body read, for the handler."""
    size = request.content_length
    if not request.body_exists or request.method == "GET" or size is None or size > request.client_max_size:
        return request.query  # (no body, or one the handler refuses: -1100 / 413)
    try:
        body = (await request.read()).decode()
    except (web.RequestPayloadError, UnicodeDecodeError):
        return request.query
    return dict(parse_qsl(body, keep_blank_values=True)) | dict(request.query)


def count_order(request: web.Request, account_id: int, n: int = 1) -> int | None:
    """`n` authenticated orders of `account_id` (an order list's): count them, or raise 429 -1015
    past an ORDERS limit (the middleware adds the counts, and Retry-After, to the answer). Returns
    when they were counted (ms; None: the node has no ORDERS limits)."""
    limiter = request.app[LIMITER]
    if not limiter.order_limits:
        return None
    now = _now_ms()
    headers, refusal, retry_after = limiter.count_order(account_id, now, n)
    request[ORDER_COUNTS] = headers
    if refusal is not None:
        request[RETRY_AFTER] = retry_after
        raise refusal
    return now


def not_placed(exc: BaseException) -> bool:
    """Whether an order request that failed with `exc` placed nothing: a Binance error or a refusal
    of the stage, but not -1007 (accepted, its outcome unknown: the order may trade) nor a bug."""
    return isinstance(exc, CommandError) or (isinstance(exc, errors.ApiError) and exc.code != -1007)


@contextmanager
def orders_placed(request: web.Request, account_id: int, n: int = 1):
    """Around a request that places `n` orders: count them first (count_order), and give them back
    if the request is refused, so that only orders placed count (module doc)."""
    counted = count_order(request, account_id, n)
    try:
        yield
    except BaseException as exc:
        if counted is not None and not_placed(exc):
            request[ORDER_COUNTS] = request.app[LIMITER].uncount_order(account_id, counted, n)
        raise
