"""The rate limiter's cost per order (api/ratelimit.py), in process: the limiter calls a REST order
and a WebSocket API order make before and after their work, timed with timeit.

    python bench/ratelimit.py [--number 20000] [--repeat 7]

REST (`POST /api/v3/order`, ratelimit_middleware and count_order): the endpoint's weight, the
client's IP key, charge, count_order, and the X-MBX-* headers of the answer. WebSocket API
(`order.place`, wsapi.Connection.serve): the method's weight, charge (the IP key is the
connection's, computed once), count_order, and the answer's `rateLimits` (order_usage and
weight_usage). Binance's limits in number (one REQUEST_WEIGHT, two ORDERS windows), set high enough
that every call is admitted: the admitted path is the one every order pays. 500 accounts in turn
from one IP, the clock advancing 1 ms every 100 orders. Prints the best of `--repeat` runs, in µs per
order.
"""

from __future__ import annotations

import argparse
import sys
import timeit
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from spot_seda.api import ratelimit as R  # noqa: E402
from spot_seda.config import RateLimit, RateLimitSettings  # noqa: E402

T0 = 1_767_225_600_000
HIGH = 10**12
ROUTE = ("POST", "/api/v3/order")
QUERY = {"symbol": "BTCUSDT", "side": "BUY", "type": "LIMIT", "timeInForce": "GTC", "quantity": "0.01",
         "price": "50000"}


def limiter() -> R.RateLimiter:
    return R.RateLimiter(RateLimitSettings(
        enabled=True, request_weight=[RateLimit(interval="MINUTE", interval_num=1, limit=HIGH)],
        orders=[RateLimit(interval="SECOND", interval_num=10, limit=HIGH),
                RateLimit(interval="DAY", interval_num=1, limit=HIGH)]))


def rest_order(lim: R.RateLimiter, i: int) -> None:
    """What the middleware and count_order do for one POST /api/v3/order."""
    now = T0 + i // 100
    counters, _refusal, _retry = lim.charge(R.client_key("127.0.0.1"), R.weight_of(*ROUTE, QUERY), now)
    lim.count_order(i % 500, now)
    lim.weight_headers(counters)


def ws_order(lim: R.RateLimiter, i: int, ip: str) -> None:
    """What Connection.serve does with the limiter for one `order.place`."""
    now = T0 + i // 100
    counters, _refusal, _retry = lim.charge(ip, R.weight_of(*ROUTE, QUERY), now, raw=False)
    lim.count_order(i % 500, now)
    lim.order_usage(i % 500, now) + lim.weight_usage(counters)


def best_us(call, number: int, repeat: int) -> float:
    """Best of `repeat` runs of `number` calls, in µs per call; call(i) gets the call's index."""
    counter = iter(range(10**12))
    times = timeit.repeat(lambda: call(next(counter)), number=number, repeat=repeat)
    return min(times) / number * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--number", type=int, default=20_000)
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()
    rest, ws = limiter(), limiter()
    ip = R.client_key("127.0.0.1")
    rest_us = best_us(lambda i: rest_order(rest, i), args.number, args.repeat)
    ws_us = best_us(lambda i: ws_order(ws, i, ip), args.number, args.repeat)
    print(f"REST POST /api/v3/order:   {rest_us:.2f} µs per order (best of {args.repeat} x {args.number})")
    print(f"WebSocket API order.place: {ws_us:.2f} µs per order (best of {args.repeat} x {args.number})")


if __name__ == "__main__":
    main()
