"""PersistStage: consumes OrderChangeLog, TradeChangeLog, KLineChangeLog and BalanceChangeLog; produces nothing (writes SQLite history)."""

from __future__ import annotations

from ..history import History
from ..model.changelog import ChangeLogEntry
from ..model.enums import Topic
from .base import Publish, Stage


class PersistStage(Stage):
    consumes = Topic.ALL
    produces = ()
    inherits_state = False  # an open database must not cross a fork: each process opens its own
    mixed_topics = True  # one transaction for everything a poll brought, whatever the topic

    def start(self) -> None:
        self.ctx.data_dir.mkdir(parents=True, exist_ok=True)
        self.history = History(self.ctx.data_dir / "history.sqlite")

    def handle_events(self, topic: str, entries: list[ChangeLogEntry]) -> list[Publish]:
        self.history.apply(entries)  # one transaction per batch: all of it or none
        return []

    def marker(self, kind: str, position: int) -> None:
        if kind == "snapshot":  # recovery will not write what came before it again
            self.history.make_durable()

    def stop(self) -> list[Publish]:
        history = getattr(self, "history", None)
        if history is not None:
            history.close()
            self.history = None
        return []
