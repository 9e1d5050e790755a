"""Read your own writes (DESIGN.md invariant 10): a REST read made after a client holds an order's
answer, or a fill on its user data stream, reflects that order, history included.

The problem: reads of the history (allOrders, myTrades, trades, aggTrades, historicalTrades, klines,
tickers, avgPrice) come from SQLite, which Persist writes `history.commit_interval_ms` behind the
pipeline (far more under load); reads of Acquiring's own views (order, openOrders, account, depth, bookTicker) come
from Match's and Settlement's reports, which reach Acquiring after they reach Push (a maker's fill
can be on its user data stream before Acquiring has applied it).

The choice: a pipeline marker, a barrier per read that needs one, coalesced.
- Every effect a client can have seen was caused by a command Acquiring had already published when
  the read arrived (an answer is sent after its command was published; a fill on a stream comes
  from a command someone else sent earlier). So a read is served once everything those commands
  caused has reached the history and Acquiring's views.
- Acquiring counts its publishes (Outbox.flushes). A read notes the count when it arrives. If a
  "read" marker sent after that many publishes has completed, the read goes ahead at once: an idle
  or read-only node pays nothing (but for its first read after it starts, which waits for one
  marker: after a crash, the recovery feeds Persist what the history lacked, behind which that
  marker goes). Otherwise Acquiring sends a "read" marker (stages/base.py: the
  Runner forwards a marker once it has arrived on every input, after everything before it) and
  the read waits until (a) the marker has come back to Acquiring through Match and Settlement, so
  its own views hold everything before it, and (b) every Persist instance has committed everything
  before it: Persist commits at once when a marker reaches it and records the marker's position in
  the same transaction (History.read_marks), which this side polls (a ~10 us SQLite read, every
  millisecond, only while a marker is out).
- Klines come out right too: KLine forwards the marker only after the candles of the trades before
  it, so Persist has them. That is what the alternatives miss: waiting for Persist's per-channel
  `progress` to reach the sequences Acquiring has seen covers orders and trades but not candles
  (KLine's output sequences are not Acquiring's to know) nor a fill Push showed before Acquiring
  saw it; overlaying Acquiring's in-memory view on the history would need trades and candles
  kept twice, merged into every window and limit of every endpoint.
- Writes are not slowed: no command waits for a marker; reads that arrive together share one
  marker (it is sent on the next loop iteration), so there are at most as many markers as loop
  iterations that had a read after a write. What it costs: a read after a write waits one pipeline
  round trip plus one Persist commit (a few ms), and Persist commits more often when reads follow
  writes closely (each marker ends a transaction early).
- A marker lost on the way (a stage restart replaces every queue) is sent again after `RESEND_S`; a
  read whose barrier does not complete within `node.result_timeout_s` is answered -1007 (execution
  status unknown) rather than from a history that may lack the client's own writes.

Marker positions come from a microsecond clock at start, then count up, so a mark an earlier
incarnation left in the history is below any this one waits for.
"""

from __future__ import annotations

import asyncio
import logging
import time

from ..binance import errors

log = logging.getLogger("spot_seda.api")

KIND = "read"
RESEND_S = 1.0
POLL_S = 0.001


class ReadBarrier:
    def __init__(self, runner, outbox, history, persist_instances: int, timeout_s: float, deadlines) -> None:
        self.runner = runner
        self.deadlines = deadlines  # api/admission.py's Admission: fails a wait past its deadline
        self.outbox = outbox
        self.history = history
        self.persist_instances = persist_instances
        self.timeout_s = timeout_s
        self.next_position = time.time_ns() // 1000
        #: Outbox.flushes that the last completed marker was sent after; none yet (-1): the first read
        #: after a start waits for a marker too, since what the recovery replayed into Persist (the
        #: commands of the last commit interval before a crash) may still be on its way to the history
        self.covered = -1
        #: the same for Acquiring's views alone (a marker came back to Acquiring; Persist may lag)
        self.home_covered = -1
        #: markers out: position -> [flushes when sent, came back to Acquiring, future (complete),
        #: sent at, future (back at Acquiring)]
        self.out: dict[int, list] = {}
        #: the two futures of the marker the next loop iteration sends
        self.scheduled: tuple[asyncio.Future, asyncio.Future] | None = None
        self.poller: asyncio.Task | None = None
        self.markers_sent = 0
        chained = runner.on_marker

        def on_marker(kind: str, position: int) -> None:
            if kind != KIND:
                if chained is not None:
                    chained(kind, position)
                return
            marker = self.out.get(position)
            if marker is not None:
                marker[1] = True
                self.home_covered = max(self.home_covered, marker[0])
                for p, m in self.out.items():  # (it came back after every marker sent before it)
                    if p <= position and not m[4].done():
                        m[4].set_result(None)

        runner.on_marker = on_marker

    async def wait(self, views_only: bool = False) -> None:
        """Return once Acquiring's views and the history hold everything published before this call;
        `views_only`: once Acquiring's views do (a read of its book views: depth, bookTicker), not
        waiting for Persist's commit, which lags under load."""
        target = self.outbox.flushes
        if self.covered >= target or (views_only and self.home_covered >= target):
            return
        loop = asyncio.get_running_loop()
        mine = loop.create_future()  # this reader's own: failed at its deadline, the marker goes on
        marker = self._futures_for(target)[1 if views_only else 0]

        def arrived(_marker: asyncio.Future) -> None:
            mine.done() or mine.set_result(None)

        marker.add_done_callback(arrived)
        try:
            await self.deadlines.expire_at(mine, loop.time() + self.timeout_s)
        except TimeoutError:
            raise errors.timeout() from None
        finally:  # (a read that gave up must not stay on a marker that may take long: Persist stalled)
            marker.remove_done_callback(arrived)

    def _futures_for(self, target: int) -> tuple[asyncio.Future, asyncio.Future]:
        """(complete, back at Acquiring) of a marker sent after `target` publishes."""
        for flushes, _home, fut, _at, home in self.out.values():
            if flushes >= target:
                return fut, home
        if self.scheduled is None:
            loop = asyncio.get_running_loop()
            self.scheduled = loop.create_future(), loop.create_future()
            loop.call_soon(self._send)
        return self.scheduled

    def _send(self, futures: tuple[asyncio.Future, asyncio.Future] | None = None) -> None:
        if futures is None:
            futures, self.scheduled = self.scheduled, None
        position = self.next_position
        self.next_position += 1
        self.out[position] = [self.outbox.flushes, False, futures[0], time.monotonic(), futures[1]]
        self.markers_sent += 1
        self.runner.emit_marker(KIND, position)
        if self.poller is None or self.poller.done():
            self.poller = asyncio.get_running_loop().create_task(self._poll())

    async def _poll(self) -> None:
        while self.out:
            await asyncio.sleep(POLL_S)
            try:
                marks = self.history.read_marks()
            except Exception:  # a locked or missing database: try again on the next tick
                log.debug("reading the history's read marks failed", exc_info=True)
                continue
            persisted = min((marks.get(i, 0) for i in range(self.persist_instances)), default=0)
            done = max((p for p, m in self.out.items() if m[1] and p <= persisted), default=None)
            if done is not None:
                # a marker completes everything sent before it (each channel keeps its order)
                self.covered = max(self.covered, self.out[done][0])
                for position in [p for p in self.out if p <= done]:
                    marker = self.out.pop(position)
                    for fut in (marker[2], marker[4]):
                        if not fut.done():
                            fut.set_result(None)
            if self.out:
                newest = max(self.out)
                if time.monotonic() - self.out[newest][3] > RESEND_S:
                    # lost on the way (queues replaced by a restart): a new one completes them all
                    log.warning("read marker %d has not come back in %.1fs: sending another", newest, RESEND_S)
                    loop = asyncio.get_running_loop()
                    self._send((loop.create_future(), loop.create_future()))
