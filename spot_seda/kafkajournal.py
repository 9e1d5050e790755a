"""Acquiring's journal over Kafka: the local journal, every record of which also goes to the
command log in the cluster, under its fenced writer (the design: spot_seda/commandlog.py); and
what that writer also carries in its transactions, beside the log (the account registry:
spot_seda/accountlog.py)."""

from __future__ import annotations

import asyncio
import threading
import time

from .commandlog import commit_records, ensure_topic, fenced_writer, last_position, topic_name
from .journal import Journal, JournalError


class KafkaJournal:
    """A local Journal whose records also go to the cluster; `sync` waits for both (module docstring).

    Everything else (positions, truncation, reading) is the local journal's. A committer thread owns
    the producer: it takes every record appended since its last transaction and commits them in
    one (a group commit), while the records appended meanwhile wait for the next. Records for
    other topics (`send_beside`) join the same transactions, so they are fenced like the log's:
    a writer fenced off commits none of them either."""

    def __init__(self, journal: Journal, settings, name: str = "acquiring") -> None:
        ensure_topic(settings)
        self.local = journal
        self._topic = topic_name(settings)
        self._p = fenced_writer(settings, name + "-commandlog")  # fences off every older writer
        # the recovery's reconcile left the cluster holding exactly the local journal: if it holds
        # more now, another writer appended since (a second node starting), and this one would
        # append at positions it already used
        end = last_position(settings)
        if end != journal.last_position:
            self._p.flush(1)
            raise JournalError(f"the command log in Kafka ends at {end}, the local journal at "
                               f"{journal.last_position}: written by another Acquiring since this one's "
                               "recovery; recovering again")
        self._acked = journal.last_position
        self._failed: JournalError | None = None
        self._queue: list[tuple[int, bytes]] = []  # written locally, for the committer
        self._beside: list[tuple[str, bytes, bytes]] = []  # (topic, key, value), for the committer
        self._beside_queued = 0  # records ever handed over by send_beside
        self._beside_acked = 0  # ... of which the cluster committed this many (FIFO)
        self._unwritten: list[tuple[int, bytes]] = []  # appended, not yet written locally
        self._waiters: list[tuple[int, int, asyncio.Future]] = []  # (position, beside count, future)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._cond = threading.Condition()
        self._closed = False
        self._committer = threading.Thread(target=self._commit_loop, name="commandlog", daemon=True)
        self._committer.start()

    def __getattr__(self, name):  # last_position, truncate_before, read ... are the local journal's
        return getattr(self.local, name)

    def append(self, payload: bytes) -> int:
        position = self.local.append(payload)
        self._unwritten.append((position, payload))
        return position

    def _hand_over(self) -> None:
        """Queue for the cluster the records the local journal has written (to the OS at least): so
        the cluster never holds a record of this writer that a kill -9 took from its journal, and a
        log longer than the journal means another writer (`superseded`)."""
        written, unwritten = self.local.written_position, self._unwritten
        n = 0
        while n < len(unwritten) and unwritten[n][0] <= written:
            n += 1
        if n:
            with self._cond:
                self._queue += unwritten[:n]
                self._cond.notify()
            del unwritten[:n]

    def append_many(self, payloads) -> int:
        for payload in payloads:
            self.append(payload)
        return self.local.last_position

    def _commit_loop(self) -> None:
        """The committer thread: one transaction per group of records, until closed or failed."""
        while True:
            with self._cond:
                while not self._queue and not self._beside and not self._closed:
                    self._cond.wait()
                records, self._queue = self._queue, []
                beside, self._beside = self._beside, []
            if not records and not beside:
                return  # closed, everything committed
            try:
                commit_records(self._p, self._topic, records, beside=beside)
            except JournalError as exc:  # a fenced writer writes no more: every later sync fails
                with self._cond:
                    self._failed = exc
                    self._cond.notify_all()
                self._wake_loop()
                return
            with self._cond:
                if records:
                    self._acked = records[-1][0]
                self._beside_acked += len(beside)
                self._cond.notify_all()
            self._wake_loop()

    def _wake_loop(self) -> None:
        loop = self._loop
        if loop is not None:
            try:
                loop.call_soon_threadsafe(self._wake)
            except RuntimeError:  # the loop is closed: nobody waits
                pass

    def _wake(self) -> None:
        with self._cond:
            acked, beside, failed = self._acked, self._beside_acked, self._failed
        keep = []
        for target, count, future in self._waiters:
            if future.done():
                continue
            if failed is not None:
                future.set_exception(type(failed)(*failed.args))
            elif acked >= target and beside >= count:
                future.set_result(target)
            else:
                keep.append((target, count, future))
        self._waiters = keep

    async def sync(self) -> int:
        """Wait until every record appended so far is durable here (journal.fsync) and committed
        on the cluster's in-sync replicas; returns the last such position."""
        return await self.sync_future()

    def sync_future(self) -> asyncio.Future:
        """sync() as a future of this caller's own (Journal.sync_future): cancelled, or failed at
        its caller's deadline, it leaves the commit going on for everyone else."""
        loop = self._loop = asyncio.get_running_loop()
        local = self.local.sync_future()
        fut = loop.create_future()

        def durable_here(done: asyncio.Future) -> None:
            exc = JournalError("the local journal's commit was cancelled") if done.cancelled() else done.exception()
            if exc is not None:
                if not fut.done():
                    fut.set_exception(exc)
                return
            self._hand_over()  # (whether this caller still waits or not: the records go)
            if not fut.done():
                self._waiters.append((done.result(), 0, fut))
                self._wake()  # answers it now if the cluster has committed it already, or failed

        local.add_done_callback(durable_here)
        return fut

    async def send_beside(self, topic: str, key: bytes, value: bytes | None) -> None:
        """Have a record for `topic` (partition 0; a topic made with commandlog.ensure_topic) go
        out with the command log's next transaction, and wait until the cluster committed it
        (acks=all, on min.insync.replicas). Such records commit in the order they are handed over
        and never after a command appended later; a fenced writer's fail (CommandLogFenced) and
        never reach a reader (read_committed). Cancelled (a timeout), the record still goes."""
        self._loop = asyncio.get_running_loop()
        with self._cond:
            if self._failed is not None:
                raise type(self._failed)(*self._failed.args)
            self._beside.append((topic, key, value))
            self._beside_queued += 1
            count = self._beside_queued
            self._cond.notify()
        await self._wait(0, count)

    async def _wait(self, target: int, count: int) -> None:
        """Until the cluster committed the log up to position `target` and `count` records beside it."""
        future = self._loop.create_future()
        self._waiters.append((target, count, future))
        self._wake()  # in case it was committed in between
        await asyncio.shield(future)

    def commit(self, timeout: float = 60.0) -> int:
        """Blocking: the local commit, then every record committed on the cluster."""
        target = self.local.commit()
        self._hand_over()
        deadline = time.monotonic() + timeout
        with self._cond:
            while self._acked < target and self._failed is None:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise JournalError(f"the command log in Kafka did not take the records within {timeout:.0f} s")
                self._cond.wait(left)
            if self._failed is not None:
                raise type(self._failed)(*self._failed.args)
        return target

    flush = commit

    def close(self) -> None:
        try:
            with self._cond:
                self._closed = True
                self._cond.notify_all()
            self._committer.join(10)
            self._p.flush(1)
        finally:
            self.local.close()
