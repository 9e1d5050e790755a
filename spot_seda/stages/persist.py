"""PersistStage: consumes OrderChangeLog, TradeChangeLog, KLineChangeLog and BalanceChangeLog; produces nothing (writes SQLite history)."""

from __future__ import annotations

import gc
import time

from ..history import History
from ..model.changelog import ChangeLogEntry
from ..model.enums import Topic
from .base import Endpoint, Publish, sequence_layout

#: seconds between two passes of archiving (HistoryWriter.archive), and the orders one round of a pass
#: looks at: a pass goes on at the next commit until it reaches an order made too recently, and the
#: next starts at the lowest order the pass saw that may still be archived (open, or ended too
#: recently): an order that traded below it is not read again. (An order that stays open for months
#: holds that start back, and each pass reads what lies above it.)
ARCHIVE_EVERY_S = 60.0
ARCHIVE_SCAN = 20_000
DAY_MS = 86_400_000


class PersistStage(Endpoint):
    """Writes every entry to the SQLite history, and with it how far each input stream has been
    written (History.progress), so after a crash the recovery's replay sends Persist only what it
    had not written yet (runtime/supervisor.py, _Feed); over Kafka, also the input positions past
    it (History.input_positions), where a restarted Persist resumes reading (stageproc.py). Persist itself takes whatever it is sent
    (writing is idempotent): after a power failure the history may hold the output of commands the
    journal lost, and new commands then reuse those sequences; they must still be written."""

    consumes = Topic.ALL
    produces = ()
    inherits_state = False  # an open database must not cross a fork: each process opens its own
    mixed_topics = True  # entries of every topic go into one transaction (see commit)
    tracks_input = True

    def start(self) -> None:
        self.ctx.data_dir.mkdir(parents=True, exist_ok=True)
        self.history = History(self.ctx.data_dir / "history.sqlite", cache_kib=self.ctx.settings.history.cache_kib)
        # each trade's row keeps its commission at these rates (the ones Settlement charges now)
        self.history.fee_rates = {symbol: (rules.maker_fee_ppm, rules.taker_fee_ppm)
                                  for symbol, rules in self.ctx.settings.symbol_rules().items()}
        self.layout = sequence_layout(self.ctx.settings)
        self.written = self.history.progress(self.layout)
        self.input_progress = {}  # a runner hands it its duplicate filter's (Runner.start)
        self.input_positions = {}  # and, over Kafka, the input positions past what it handed over
        self.interval = self.ctx.settings.history.commit_interval_ms / 1000
        self.pending: list[ChangeLogEntry] = []
        self.since = 0.0  # when the oldest pending entry came
        #: archiving (history.archive_after_days): how long after, in trading time (0: never); the
        #: time of the last entry written (the newest commit's, not the greatest ever: a clock that
        #: stepped forward and back moves it back too); where the next round starts, and when; the
        #: lowest order id this pass saw that may still be archived (the next pass starts there)
        self.archive_ms = int(self.ctx.settings.history.archive_after_days * DAY_MS)
        self.latest = 0
        self.archive_after = 0
        self.archive_at = 0.0
        self.archive_low: int | None = None

    def poll_timeout_s(self) -> float | None:
        return self.interval or None  # wake up in time to commit what waits

    def apply(self, topic: str, entries: list[ChangeLogEntry]) -> None:
        """Gather entries; commit them when the oldest has waited `history.commit_interval_ms`."""
        if not self.pending:
            self.since = time.monotonic()
        self.pending += entries
        if time.monotonic() - self.since >= self.interval:
            self.commit()

    def idle(self) -> list[Publish]:
        if self.pending:  # no more input waits: nothing is gained by waiting longer
            self.commit()
        return []

    def commit(self, read_mark: int | None = None) -> None:
        """Write everything gathered, and how far each input stream got, in one transaction (all of
        it or none). What a crash loses here was never recorded as written: recovery sends it again.
        `read_mark`: the position of a "read" marker that has reached Persist, recorded with the rows
        (the HTTP stage's reads wait for it: api/readbarrier.py)."""
        seen, written = self.input_progress, self.written
        moved = {channel: seq for channel, seq in seen.items() if written.get(channel) != seq}
        if not self.pending and not moved and read_mark is None:
            return
        # the rows built here (a tuple per row, thousands a commit) live until the statements ran:
        # a collector pass meanwhile would walk every one of them for nothing (nothing they hold is
        # cyclic): 70-127 ms of passes per 60,000 commands, up to 26 ms each, that a read waiting
        # for this commit waited out too (BENCHMARKS.md, "Pipeline", fortieth session). Reference
        # counting frees them; a cycle made meanwhile waits for the next pass.
        collecting = gc.isenabled()
        gc.disable()
        try:
            self.history.apply(self.pending, moved, self.layout,
                               None if read_mark is None else (self.ctx.instance, read_mark),
                               (self.ctx.producer_name, self.input_positions) if self.input_positions else None)
        finally:
            if collecting:
                gc.enable()
        written.update(moved)
        if self.pending:
            self.latest = self.pending[-1].timestamp
        self.pending = []
        if self.archive_ms and read_mark is None and time.monotonic() >= self.archive_at and self.latest:
            self.archive()  # (not while a read waits for this commit)

    def archive(self) -> int:
        """One round of archiving the orders that ended with nothing executed `archive_ms` before the
        newest entry written (HistoryWriter.archive); returns how many."""
        archived, following, low, last = self.history.archive(self.latest - self.archive_ms, self.archive_after,
                                                              ARCHIVE_SCAN)
        if low is not None and (self.archive_low is None or low < self.archive_low):
            self.archive_low = low
        if following:  # this pass goes on at the next commit
            self.archive_after = following
            self.archive_at = 0.0
        else:  # the next pass starts at the lowest order that may still be archived (what lies below
            # it stays for good), a minute on
            self.archive_after = self.archive_low - 1 if self.archive_low is not None else last
            self.archive_low = None
            self.archive_at = time.monotonic() + ARCHIVE_EVERY_S
        return archived

    def marker(self, kind: str, position: int) -> None:
        # everything before the marker is in the history (and, for a "read" marker, says so)
        self.commit(position if kind == "read" else None)
        if kind == "snapshot":  # recovery will not write what came before it again
            self.history.make_durable()

    def stop(self) -> list[Publish]:
        history = getattr(self, "history", None)
        if history is not None:
            self.commit()
            history.close()
            self.history = None
        return []
