"""The rate limiter alone (api/ratelimit.py), on explicit clocks: Binance's windows, texts, weights,
the 429 -> 418 ban and its doubling, per-account order counts, bounded memory. The same limiter
through a real node over HTTP: tests/node/test_rate_limits.py."""

from __future__ import annotations

import time

import pytest

from spot_seda.api import ratelimit as R
from spot_seda.config import RateLimit, RateLimitSettings, parse_settings

MINUTE = 60_000
T0 = 1_767_225_600_000  # 2026-01-01T00:00:00Z: every window starts here


def limiter(**overrides) -> R.RateLimiter:
    settings = RateLimitSettings(enabled=True, **overrides)
    return R.RateLimiter(settings)


def test_binance_defaults_and_exchange_info():
    lim = limiter()
    assert lim.rate_limits_json() == [
        {"rateLimitType": "REQUEST_WEIGHT", "interval": "MINUTE", "intervalNum": 1, "limit": 6000},
        {"rateLimitType": "ORDERS", "interval": "SECOND", "intervalNum": 10, "limit": 100},
        {"rateLimitType": "ORDERS", "interval": "DAY", "intervalNum": 1, "limit": 200000},
        {"rateLimitType": "RAW_REQUESTS", "interval": "MINUTE", "intervalNum": 5, "limit": 300000},  # (2026-04-02)
    ]
    assert [l.header for l in lim.weight_limits + lim.order_limits + lim.raw_limits] == [
        "X-MBX-USED-WEIGHT-1M", "X-MBX-ORDER-COUNT-10S", "X-MBX-ORDER-COUNT-1D", ""]  # (no header for RAW_REQUESTS)
    assert R.RateLimiter(RateLimitSettings()).rate_limits_json() == []  # a config without the section: none
    # the WebSocket API's exchangeInfo: CONNECTIONS where REST's has RAW_REQUESTS (CHANGELOG 2023-08-25;
    # web-socket-api.md's example)
    assert lim.rate_limits_json(websocket=True) == lim.rate_limits_json()[:3] + [
        {"rateLimitType": "CONNECTIONS", "interval": "MINUTE", "intervalNum": 5, "limit": 300}]


def test_new_connections_are_counted_per_ip_and_refused_past_the_limit():
    """CONNECTIONS (web-socket-api.md: "300 connections per attempt every 5 minutes", per IP): each
    new connection counts 1, in a table of its own; past the limit 429 -1003 until the window ends,
    the refused one not counted; another IP, and the request weight, untouched."""
    lim = limiter(connections=[RateLimit(interval="SECOND", interval_num=10, limit=2)])
    assert lim.connect("1.2.3.4", T0) == (None, 0) and lim.connect("1.2.3.4", T0 + 1) == (None, 0)
    for at in (T0 + 2, T0 + 3):
        refusal, retry = lim.connect("1.2.3.4", at)
        assert (refusal.status, refusal.code, refusal.msg, retry) == (
            429, -1003, "Too many new connections; current limit is 2 connections per 10 SECOND.", 10)
    assert lim.connect("5.6.7.8", T0 + 3) == (None, 0)  # (per IP)
    assert lim.connect("1.2.3.4", T0 + 10_000) == (None, 0)  # the next window
    assert 'limit="connections"} 2' in lim.prometheus()
    counters, refusal, _ = lim.charge("1.2.3.4", 1, T0 + 10_001)  # (a request's weight: its own count)
    assert refusal is None and lim.weight_usage(counters)[0]["count"] == 1
    assert R.RateLimiter(RateLimitSettings()).connect("1.2.3.4", T0) == (None, 0)  # limits off: nothing counted
    # two limits both full: Retry-After waits for the later window's end
    two = limiter(connections=[RateLimit(interval="SECOND", interval_num=10, limit=1),
                               RateLimit(interval="MINUTE", interval_num=1, limit=1)])
    assert two.connect("1.2.3.4", T0)[0] is None
    assert two.connect("1.2.3.4", T0 + 1_000)[1] == 59


def test_a_websocket_api_request_does_not_count_toward_raw_requests():
    """CHANGELOG 2023-08-25: RAW_REQUESTS is REST's; the WebSocket API's requests (raw=False) weigh
    their weight only."""
    lim = limiter(raw_requests=[RateLimit(interval="SECOND", interval_num=10, limit=1)])
    for i in range(5):
        assert lim.charge("1.2.3.4", 1, T0 + i, raw=False)[1] is None
    assert lim.charge("1.2.3.4", 1, T0 + 5)[1] is None  # the first REST request of the window
    assert lim.charge("1.2.3.4", 1, T0 + 6)[1].code == -1003


def test_the_config_files_switch_binance_limits_on():
    from tests.conftest import ROOT

    settings = parse_settings((ROOT / "configs" / "default.toml").read_bytes())
    assert settings.rate_limits.enabled
    assert R.RateLimiter(settings.rate_limits).rate_limits_json() == limiter().rate_limits_json()


def test_raw_requests_count_every_request_whatever_its_weight():
    """RAW_REQUESTS (rest-api.md "LIMITS", enums.md): a count of requests per IP, beside the weight: a
    request that weighs 0 when it succeeds (given back) still counts, and past the limit the IP gets
    429 until the window ends, a request refused so adding to neither."""
    lim = limiter(raw_requests=[RateLimit(interval="SECOND", interval_num=10, limit=3)])
    for i in range(3):
        counters, refusal, _ = lim.charge("1.2.3.4", 1, T0 + i)
        assert refusal is None
        lim.give_back(counters, 1, T0 + i)  # (a successful order: it weighs 0)
    assert lim.weight_usage(counters)[0]["count"] == 0
    counters, refusal, retry = lim.charge("1.2.3.4", 1, T0 + 5)
    assert (refusal.status, refusal.code, refusal.msg, retry) == (
        429, -1003, "Too many requests; current limit is 3 requests per 10 SECOND. Please use WebSocket Streams for "
                    "live updates to avoid polling the API.", 10)
    assert 'limit="raw_requests"} 1' in lim.prometheus() and 'limit="request_weight"} 0' in lim.prometheus()
    assert lim.charge("5.6.7.8", 1, T0 + 5)[1] is None  # (per IP)
    assert lim.charge("1.2.3.4", 1, T0 + 10_000)[1] is None  # the next window


def test_weights_are_binance_s():
    w = R.weight_of
    assert w("GET", "/api/v3/ping", {}) == 1 and w("GET", "/api/v3/exchangeInfo", {}) == 20
    assert [w("GET", "/api/v3/depth", {"limit": str(n)}) for n in (5, 100, 101, 500, 1000, 5000)] == [5, 5, 25, 25, 50, 250]
    assert w("GET", "/api/v3/depth", {}) == 5 and w("GET", "/api/v3/depth", {"limit": "x"}) == 5
    # rest-api.md: by preventedMatchId (or an invalid symbol: nothing found) 2, by orderId 20
    assert [w("GET", "/api/v3/myPreventedMatches", q) for q in ({"preventedMatchId": "1"}, {"orderId": "1"}, {})] \
        == [2, 20, 2]
    # above 5000 it is served 5000 levels: 250, however many digits (a leading zero is no digit of it)
    assert [w("GET", "/api/v3/depth", {"limit": n}) for n in ("6000", "999999999", "1000000000", "99999999999",
                                                              "0000000000100")] == [250, 250, 250, 250, 5]
    assert w("GET", "/api/v3/depth", {"limit": "²"}) == 5  # (a digit to str.isdigit, not to int(): -1100 later)
    assert w("GET", "/api/v3/ticker/24hr", {"symbol": "BTCUSDT"}) == 2
    assert w("GET", "/api/v3/ticker/24hr", {"symbols": '["' + '","'.join(["A"] * 20) + '"]'}) == 2
    assert w("GET", "/api/v3/ticker/24hr", {"symbols": '["' + '","'.join(["A"] * 21) + '"]'}) == 40
    assert w("GET", "/api/v3/ticker/24hr", {"symbols": '["' + '","'.join(["A"] * 101) + '"]'}) == 80
    assert w("GET", "/api/v3/ticker/24hr", {}) == 80
    assert w("GET", "/api/v3/ticker/price", {"symbol": "BTCUSDT"}) == 2 and w("GET", "/api/v3/ticker/price", {}) == 4
    assert w("GET", "/api/v3/openOrders", {"symbol": "BTCUSDT"}) == 6 and w("GET", "/api/v3/openOrders", {}) == 80
    assert w("GET", "/api/v3/myTrades", {"symbol": "BTCUSDT"}) == 20 and w("GET", "/api/v3/myTrades", {"orderId": "1"}) == 5
    assert w("GET", "/api/v3/account", {}) == 20 and w("GET", "/api/v3/rateLimit/order", {}) == 40
    assert w("POST", "/api/v3/order", {}) == 1 and w("GET", "/api/v3/order", {}) == 4
    assert w("GET", "/api/v3/no/such/thing", {}) == 1


def test_every_served_api_route_has_its_weight():
    """Each /api/ route of the app's route table is in the weight table (a new endpoint gets Binance's
    weight, not the default of 1, by being listed)."""
    from spot_seda.api.rest import ROUTES

    routes = {(method, path) for method, path, _ in ROUTES if path.startswith("/api/")}
    assert len(routes) > 30 and routes <= set(R.WEIGHTS), routes - set(R.WEIGHTS)


def test_request_weight_window_429_then_418_ban_doubling():
    lim = limiter(request_weight=[RateLimit(interval="MINUTE", limit=100)], ban_after_429s=2, ban_s=120.0,
                  ban_max_s=300.0)
    now = T0 + 10_000
    for used in (20, 40, 60, 80, 100):
        counters, refusal, _ = lim.charge("1.2.3.4", 20, now)
        assert refusal is None and lim.weight_headers(counters) == [("X-MBX-USED-WEIGHT-1M", str(used))]
    counters, refusal, retry = lim.charge("1.2.3.4", 1, now)
    assert (refusal.status, refusal.code, retry) == (429, -1003, 50)
    assert refusal.msg == ("Too much request weight used; current limit is 100 request weight per 1 MINUTE. "
                           "Please use WebSocket Streams for live updates to avoid polling the API.")
    assert lim.weight_headers(counters) == [("X-MBX-USED-WEIGHT-1M", "100")]  # a refused request adds nothing
    assert lim.charge("5.6.7.8", 100, now)[1] is None  # another IP has its own weight
    assert lim.charge("1.2.3.4", 1, now + 1)[1].status == 429  # a second 429 without waiting
    _, refusal, retry = lim.charge("1.2.3.4", 1, now + 2)  # and a third: banned
    assert (refusal.status, refusal.code, retry) == (418, -1003, 120)
    assert refusal.msg == (f"Way too much request weight used; IP banned until {now + 2 + 120_000}. "
                           "Please use WebSocket Streams for live updates to avoid bans.")
    # banned past the window's end too; then a fresh window
    _, refusal, retry = lim.charge("1.2.3.4", 1, T0 + MINUTE + 5_000)
    assert (refusal.status, retry) == (418, 66)
    counters, refusal, _ = lim.charge("1.2.3.4", 1, now + 2 + 120_000)
    assert refusal is None and lim.weight_headers(counters) == [("X-MBX-USED-WEIGHT-1M", "1")]
    # a repeat offender: the next ban lasts twice as long, then no more than ban_max_s
    start = T0 + 3 * MINUTE
    lim.charge("1.2.3.4", 100, start)
    assert [lim.charge("1.2.3.4", 1, start + i)[1].status for i in range(1, 4)] == [429, 429, 418]
    assert lim.charge("1.2.3.4", 1, start + 4)[2] == 240
    start = T0 + 10 * MINUTE
    lim.charge("1.2.3.4", 100, start)
    assert [lim.charge("1.2.3.4", 1, start + i)[2] for i in range(1, 4)] == [60, 60, 300]


#: binance-spot-api-docs CHANGELOG 2026-03-27 (in effect since 2026-04-02): "Request weights for the
#: following endpoints and methods become 0 when the request is successful."
CHANGELOG_REST = {("POST", "/api/v3/order"), ("POST", "/api/v3/sor/order"), ("DELETE", "/api/v3/order"),
                  ("DELETE", "/api/v3/openOrders"), ("POST", "/api/v3/order/cancelReplace"),
                  ("POST", "/api/v3/order/oco"), ("POST", "/api/v3/orderList/oco"), ("POST", "/api/v3/orderList/oto"),
                  ("POST", "/api/v3/orderList/otoco"), ("POST", "/api/v3/orderList/opo"),
                  ("POST", "/api/v3/orderList/opoco"), ("DELETE", "/api/v3/orderList"),
                  ("PUT", "/api/v3/order/amend/keepPriority")}
CHANGELOG_WS = {"order.place", "sor.order.place", "order.cancel", "openOrders.cancelAll", "order.cancelReplace",
                "orderList.place", "orderList.place.oco", "orderList.place.oto", "orderList.place.otoco",
                "orderList.place.opo", "orderList.place.opoco", "orderList.cancel", "order.amend.keepPriority"}


def test_the_requests_that_weigh_0_when_they_succeed_are_binance_s():
    """Those of the CHANGELOG's list the node serves, REST and WebSocket API alike (a method's weight
    is its REST route's), and the seed's order entry (POST /api/v3/order by another name); the
    amend only when it expired the order (CHANGELOG 2026-04-02)."""
    from spot_seda.api.rest import ROUTES
    from spot_seda.api.wsmethods import METHODS

    served = {(method, path) for method, path, _ in ROUTES}
    assert R.FREE_WHEN_DONE == (CHANGELOG_REST & served) | {("POST", "/api/spot/v2/")}
    assert {name for name, m in METHODS.items() if m.route in R.FREE_WHEN_DONE} == CHANGELOG_WS & set(METHODS)
    assert R.AMEND in R.FREE_WHEN_DONE
    assert R.amend_expired({"transactTime": 1, "amendedOrder": {"status": "EXPIRED"}})
    assert not R.amend_expired({"amendedOrder": {"status": "NEW"}}) and not R.amend_expired({"amendedOrder": {
        "status": "PARTIALLY_FILLED"}})
    assert not R.amend_expired(None) and not R.amend_expired({})


def test_give_back_takes_a_charge_off_the_windows_it_was_added_to():
    """A successful order request's weight comes off again (api/ratelimit.py): from each window that
    still counts the one it was charged in, whatever was added since; a window rolled over since
    gives nothing back; never below 0."""
    lim = limiter(request_weight=[RateLimit(interval="MINUTE", limit=100),
                                  RateLimit(interval="SECOND", interval_num=10, limit=50)])
    now = T0 + 1_000
    counters, refusal, _ = lim.charge("ip", 20, now)
    assert refusal is None
    lim.charge("ip", 1, now + 5)  # another request of the IP meanwhile
    lim.give_back(counters, 20, now)
    assert lim.weight_headers(counters) == [("X-MBX-USED-WEIGHT-1M", "1"), ("X-MBX-USED-WEIGHT-10S", "1")]
    # charged in one 10 s window, answered in the next: only the minute's window holds it still
    counters, _, _ = lim.charge("ip", 5, T0 + 9_999)
    lim.charge("ip", 2, T0 + 10_000)
    lim.give_back(counters, 5, T0 + 9_999)
    assert lim.weight_headers(counters) == [("X-MBX-USED-WEIGHT-1M", "3"), ("X-MBX-USED-WEIGHT-10S", "2")]
    lim.give_back(counters, 50, T0 + 10_000)
    assert lim.weight_headers(counters) == [("X-MBX-USED-WEIGHT-1M", "0"), ("X-MBX-USED-WEIGHT-10S", "0")]
    # a burst is still limited: each request is charged before it runs
    lim = limiter(request_weight=[RateLimit(interval="MINUTE", limit=2)])
    assert [lim.charge("ip", 1, now)[1] is None for _ in range(3)] == [True, True, False]


def test_a_client_that_waits_out_its_429_is_not_banned():
    lim = limiter(request_weight=[RateLimit(interval="SECOND", interval_num=10, limit=10)], ban_after_429s=1)
    for window in range(5):
        start = T0 + window * 10_000
        assert lim.charge("ip", 10, start)[1] is None
        _, refusal, retry = lim.charge("ip", 1, start + 2_000)
        assert refusal.status == 429 and retry == 8  # each window: one 429, then it waits: never banned


def test_orders_per_account():
    lim = limiter(orders=[RateLimit(interval="SECOND", interval_num=10, limit=3), RateLimit(interval="DAY", limit=5)])
    now = T0 + 1_000
    for n in (1, 2, 3):
        headers, refusal, _ = lim.count_order(7, now)
        assert refusal is None and headers == [("X-MBX-ORDER-COUNT-10S", str(n)), ("X-MBX-ORDER-COUNT-1D", str(n))]
    headers, refusal, retry = lim.count_order(7, now)
    assert (refusal.status, refusal.code, retry) == (429, -1015, 9)
    assert refusal.msg == "Too many new orders; current limit is 3 orders per 10 SECOND."
    assert headers == [("X-MBX-ORDER-COUNT-10S", "3"), ("X-MBX-ORDER-COUNT-1D", "3")]
    assert lim.count_order(8, now)[1] is None  # another account
    assert lim.order_usage(7, now) == [
        {"rateLimitType": "ORDERS", "interval": "SECOND", "intervalNum": 10, "limit": 3, "count": 3},
        {"rateLimitType": "ORDERS", "interval": "DAY", "intervalNum": 1, "limit": 5, "count": 3}]
    later = T0 + 10_000
    assert [lim.count_order(7, later)[1] for _ in range(2)] == [None, None]
    headers, refusal, retry = lim.count_order(7, later)
    assert refusal.msg == "Too many new orders; current limit is 5 orders per 1 DAY." and retry == 86_390
    assert lim.order_usage(7, later + 10_000)[0]["count"] == 0 and lim.order_usage(99, later)[1]["count"] == 0
    # both full: the first is named, and Retry-After waits until the last of them ends (not the 10 s window)
    lim = limiter(orders=[RateLimit(interval="SECOND", interval_num=10, limit=3), RateLimit(interval="DAY", limit=3)])
    for _ in range(3):
        lim.count_order(7, now)
    headers, refusal, retry = lim.count_order(7, now)
    assert refusal.msg == "Too many new orders; current limit is 3 orders per 10 SECOND." and retry == 86_399
    assert lim.order_retry_at(7) == T0 + 86_400_000


def test_only_placed_orders_count_and_a_first_fill_takes_one_off():
    """faqs/order_count_decrement.md: "Every successful request to place an order adds to the
    unfilled order count"; "When an order is filled for the first time (partially or fully), your
    unfilled order count is decremented by one order for all intervals"; "once the unfilled order
    count is down to zero, additional fills will not decrease it further"."""
    lim = limiter(orders=[RateLimit(interval="SECOND", interval_num=10, limit=3), RateLimit(interval="DAY", limit=5)])
    now = T0 + 1_000
    assert lim.count_order(7, now)[1] is None
    # an order refused after it was counted (a filter, the balance): its count goes back
    assert lim.count_order(7, now + 5)[1] is None
    assert lim.uncount_order(7, now + 5) == [("X-MBX-ORDER-COUNT-10S", "1"), ("X-MBX-ORDER-COUNT-1D", "1")]
    # a list's orders count together, or none of them: 1 + 3 is past the 10 s limit of 3
    headers, refusal, retry = lim.count_order(7, now, n=3)
    assert refusal.code == -1015 and headers[0] == ("X-MBX-ORDER-COUNT-10S", "1") and retry == 9
    assert lim.order_retry_at(7, 3) == T0 + 10_000 and lim.count_order(7, now, n=2)[0][0][1] == "3"
    lim.uncount_order(7, now, n=2)  # (that list refused too)
    # a first fill: one off every window, at most down to 0
    lim.order_filled(7, now + 10)
    assert [u["count"] for u in lim.order_usage(7, now + 10)] == [0, 0]
    lim.order_filled(7, now + 20)  # no credit
    assert [u["count"] for u in lim.order_usage(7, now + 20)] == [0, 0]
    assert lim.count_order(7, now + 30)[0] == [("X-MBX-ORDER-COUNT-10S", "1"), ("X-MBX-ORDER-COUNT-1D", "1")]
    lim.order_filled(99, now)  # an account never counted: nothing to take off, nothing remembered
    assert 99 not in lim.accounts.entries
    # a fill takes one off the CURRENT windows, whenever the order was placed; a refusal comes off
    # only the window it was counted in (a later one never held it)
    for _ in range(2):
        lim.count_order(7, now + 40)
    later = T0 + 12_000  # the next 10 s window, the same day: 0 and 3
    lim.count_order(7, later)
    lim.uncount_order(7, now + 40)
    assert [u["count"] for u in lim.order_usage(7, later)] == [1, 3]
    lim.order_filled(7, later)
    assert [u["count"] for u in lim.order_usage(7, later)] == [0, 2]


def test_memory_is_bounded_and_idle_entries_go():
    lim = limiter(request_weight=[RateLimit(interval="MINUTE", limit=100)], max_tracked=1000)
    for i in range(5000):
        lim.charge(f"10.0.{i // 256}.{i % 256}", 1, T0 + i)
    assert len(lim.ips) == 1000  # full: the oldest forgotten
    # once every window is over (RAW_REQUESTS' 5 minutes too) each request forgets up to two idle IPs
    for i in range(600):
        lim.charge("192.0.2.1", 1, T0 + 6 * MINUTE + i)
    assert len(lim.ips) <= 2
    # a banned IP is kept while banned, however many come after it
    lim = limiter(request_weight=[RateLimit(interval="MINUTE", limit=1)], ban_after_429s=1, max_tracked=100)
    lim.charge("bad", 1, T0)
    lim.charge("bad", 1, T0 + 1)
    assert lim.charge("bad", 1, T0 + 2)[1].status == 418
    for i in range(50):
        lim.charge(f"good{i}", 1, T0 + MINUTE + i)
    assert "bad" in lim.ips.entries and lim.charge("bad", 1, T0 + MINUTE + 60)[1].status == 418


def test_ipv6_clients_are_counted_per_64():
    assert R.client_key("2001:db8:1:2:aaaa::1") == R.client_key("2001:db8:1:2:ffff::9") == "2001:db8:1:2::/64"
    assert R.client_key("2001:db8:1:3::1") != R.client_key("2001:db8:1:2::1")
    assert R.client_key("::ffff:192.0.2.7") == "192.0.2.7" and R.client_key("192.0.2.7") == "192.0.2.7"
    assert R.client_key(None) == "" and R.client_key("fe80::1%eth0") == "fe80::/64"


def test_the_limiter_costs_microseconds():
    """The order path's share: one weight charge and one order count (a generous bound for a busy
    2-core CI box; the figure itself is printed)."""
    lim = limiter()
    n = 20_000
    began = time.perf_counter()
    now = T0
    for i in range(n):
        lim.charge("127.0.0.1", R.weight_of("POST", "/api/v3/order", {}), now + i // 100)
        lim.count_order(i % 500, now + i // 100)
    per_request_us = (time.perf_counter() - began) / n * 1e6
    print(f"rate limiter: {per_request_us:.2f} us per order (weight + order count)")
    assert per_request_us < 100


@pytest.mark.parametrize("bad", ['interval = "WEEK"', "interval_num = 0", "limit = 0", "limit = -1"])
def test_a_bad_limit_fails_at_start_naming_the_key(bad):
    from spot_seda.config import ConfigError

    fields = {"interval": '"MINUTE"', "interval_num": "1", "limit": "10"}
    key, value = bad.split(" = ")
    fields[key] = value
    table = ", ".join(f"{k} = {v}" for k, v in fields.items())
    with pytest.raises(ConfigError, match=r"rate_limits\.request_weight"):
        parse_settings(f"[rate_limits]\nrequest_weight = [{{{table}}}]\n")
