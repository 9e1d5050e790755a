"""SEDA admission control at the HTTP stage's front door: shed load before doing any work for it.

The bottleneck of an overloaded node is this stage itself (one event loop parsing, authenticating,
journaling and answering), not the matching engine behind it, so the backlog measured here is the
stage's own:

- requests in flight in the handlers (counted by the middleware below, from the handler's first
  line to its answer: waiting for the journal, for Match's answer, for a read barrier);
- the event loop's lag, measured by a periodic timer (how late it fires), and, for a loop that is
  stuck right now, by how far past its due time the next tick already is.

Past `node.shed_orders_in_flight` requests in flight, or `node.shed_loop_lag_ms` of lag while any
request is in flight (a lag with none in flight is not a backlog of requests: another process took
the core, or a snapshot paused the loop, and the next client alone would be refused for it), a new
order (POST /api/v3/order, /api/spot/v2/, /api/v3/order/cancelReplace, an order list) is answered at once HTTP
503 with Binance's -1003 "Too many requests queued." before its parameters are parsed, its signature checked or anything
journaled: nothing happened, and the client may retry. Every other request (cancels, reads, admin,
ping) is still served, up to `node.shed_all_in_flight` requests in flight; past that it is shed the
same way. Cancels and reads go on because they are what a client needs during an overload (pull its
orders, learn what happened to an order whose answer was -1007) and they do not add orders to the
book; the larger bound still caps them.

Every admitted request carries a deadline (`deadline_of`): its start plus `node.result_timeout_s`.
An order whose result is not known by then is answered -1007 ("execution status unknown"); it may
still execute, and is findable by its client order id (GET /api/v3/order with origClientOrderId).
The waits of a request (an order's journal commit and Match's answer, a read's wait for the
history) are bounded by the lag timer below (`Admission.expire_at`), which fails a wait's future at
the first tick past its deadline (within TICK_S): one sweep of a short list, where a timer per wait
(`asyncio.timeout_at`, `wait_for`, with `shield`) cost about 11 µs more per order
(`bench/request_waits.py`; BENCHMARKS.md, "Node over HTTP", fifteenth session).
"""

from __future__ import annotations

import asyncio
import logging

from aiohttp import web

from ..model.reasons import Reason
from ..binance import errors
from .jsonbody import json_answer

log = logging.getLogger("spot_seda.api")

#: the lag timer's period: 50 ticks a second, each a few microseconds
TICK_S = 0.02
#: at most one log line about shedding per this many seconds
LOG_EVERY_S = 5.0
#: requests that put a new order into the book: shed first
ORDER_ROUTES = frozenset({("POST", "/api/v3/order"), ("POST", "/api/spot/v2/"), ("POST", "/api/v3/order/cancelReplace"),
                          ("POST", "/api/v3/orderList/oco"), ("POST", "/api/v3/order/oco"),
                          ("POST", "/api/v3/orderList/oto"), ("POST", "/api/v3/orderList/otoco")})
#: paths whose handler serves a whole WebSocket connection (wsapi.py counts each of its requests)
LONG_LIVED = frozenset({"/ws-api/v3"})
#: request key: the loop time at which the admitted request started (deadline_of)
STARTED = "spot_seda.started"


class Admission:
    """The HTTP stage's backlog (requests in flight, loop lag) and the decision to shed."""

    def __init__(self, orders_in_flight: int, all_in_flight: int, loop_lag_ms: float, timeout_s: float) -> None:
        self.orders_in_flight = orders_in_flight
        self.all_in_flight = max(all_in_flight, orders_in_flight)
        self.max_lag_s = loop_lag_ms / 1000
        self.timeout_s = timeout_s
        self.in_flight = 0
        self.lag_s = 0.0  # at the last tick
        self.max_lag_seen_s = 0.0
        self.shed_orders = 0
        self.shed_other = 0
        self._due = 0.0
        self._timer: asyncio.TimerHandle | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._logged_at = 0.0
        self._logged_shed = 0
        self._bounded: list[tuple[float, asyncio.Future]] = []  # waits with a deadline (expire_at)

    # ------------------------------------------------------------------ the lag timer

    def start(self, loop: asyncio.AbstractEventLoop | None = None) -> None:
        self._loop = loop or asyncio.get_running_loop()
        self._due = self._loop.time() + TICK_S
        self._timer = self._loop.call_at(self._due, self._tick)

    def stop(self) -> None:
        """Stop the lag timer (a deadline listed after this starts it again: expire_at)."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _tick(self) -> None:
        loop = self._loop
        now = loop.time()
        self.lag_s = max(0.0, now - self._due)
        if self.lag_s > self.max_lag_seen_s:
            self.max_lag_seen_s = self.lag_s
        self._due = now + TICK_S
        self._timer = loop.call_at(self._due, self._tick)
        if self._bounded:
            self._expire(now)

    # ------------------------------------------------------------------ deadlines

    def expire_at(self, fut: asyncio.Future, deadline: float) -> asyncio.Future:
        """Fail `fut` with TimeoutError if it is not done by `deadline` (loop time), at the first
        tick after it; returns `fut` (``await gate.expire_at(fut, deadline)``). Whoever completes
        `fut` must allow for its being done already (``fut.done() or fut.set_result(...)``)."""
        if self._timer is None:  # (an app whose server did not start the timer, a test's, or a
            self.start()         # gate stopped while the server shuts down: a wait still ends)
        self._bounded.append((deadline, fut))
        return fut

    def _expire(self, now: float) -> None:
        """Drop the waits that are done; fail those past their deadline."""
        keep = []
        for entry in self._bounded:
            fut = entry[1]
            if fut.done():
                continue
            if entry[0] <= now:
                fut.set_exception(TimeoutError())
                continue
            keep.append(entry)
        self._bounded = keep

    def lag(self) -> float:
        """The loop's lag now: the last tick's, or more if the next tick is already overdue."""
        if self._loop is None:
            return 0.0
        return max(self.lag_s, self._loop.time() - self._due)

    # ------------------------------------------------------------------ the decision

    def refusal(self, request: web.Request) -> str | None:
        """Why this request is shed (a word for the log), or None to admit it."""
        return self.refusal_of((request.method, request.path) in ORDER_ROUTES)

    def refusal_of(self, order: bool) -> str | None:
        """Why a new order (`order`) or another request is shed now, or None to admit it; the
        WebSocket API asks this for each of its requests (wsapi.py)."""
        if order:
            if self.in_flight >= self.orders_in_flight:
                return "in_flight"
            if self.max_lag_s and self.in_flight and self.lag() > self.max_lag_s:
                # (only with requests in flight: a lag that none of them makes, another process
                # taking the core or a snapshot's pause, is no backlog that shedding would drain)
                return "loop_lag"
            return None
        if self.in_flight >= self.all_in_flight:
            return "in_flight"
        return None

    def note_shed(self, order: bool, why: str) -> None:
        if order:
            self.shed_orders += 1
        else:
            self.shed_other += 1
        now = self._loop.time() if self._loop is not None else 0.0
        if now - self._logged_at >= LOG_EVERY_S:
            shed = self.shed_orders + self.shed_other
            log.warning("overloaded (%s): shed %d requests since the last report; %d in flight, loop lag %.0f ms",
                        why, shed - self._logged_shed, self.in_flight, self.lag() * 1e3)
            self._logged_at, self._logged_shed = now, shed

    def prometheus(self) -> str:
        return (
            "# HELP spot_seda_http_in_flight HTTP requests in the handlers now (admission control).\n"
            "# TYPE spot_seda_http_in_flight gauge\n"
            f"spot_seda_http_in_flight {self.in_flight}\n"
            "# HELP spot_seda_http_loop_lag_seconds the HTTP stage's event-loop lag at its last tick.\n"
            "# TYPE spot_seda_http_loop_lag_seconds gauge\n"
            f"spot_seda_http_loop_lag_seconds {self.lag_s:.6f}\n"
            "# HELP spot_seda_http_shed_total requests answered 503/-1003 by admission control.\n"
            "# TYPE spot_seda_http_shed_total counter\n"
            f'spot_seda_http_shed_total{{kind="order"}} {self.shed_orders}\n'
            f'spot_seda_http_shed_total{{kind="other"}} {self.shed_other}\n'
        )


ADMISSION = web.AppKey("admission", Admission)


def admission_middleware(settle_body):
    """The outermost middleware: count the request in flight, or shed it before anything is done
    for it. `settle_body(request, response)` deals with a body left unread (plumbing.py)."""

    @web.middleware
    async def admission(request: web.Request, handler):
        gate = request.app[ADMISSION]
        why = gate.refusal(request)
        if why is not None:
            gate.note_shed((request.method, request.path) in ORDER_ROUTES, why)
            err = errors.refusal(Reason.OVERLOADED)
            resp = json_answer(err.body(), status=err.status)
            await settle_body(request, resp)
            return resp
        if request.path in LONG_LIVED:  # a connection, not a request: its requests count one by one
            return await handler(request)
        request[STARTED] = asyncio.get_running_loop().time()
        gate.in_flight += 1
        try:
            return await handler(request)
        finally:
            gate.in_flight -= 1

    return admission


def deadline_of(request: web.Request) -> float:
    """The loop time by which this request must be answered (its start + node.result_timeout_s)."""
    gate = request.app[ADMISSION]
    started = request.get(STARTED)
    if started is None:
        started = asyncio.get_running_loop().time()
    return started + gate.timeout_s
