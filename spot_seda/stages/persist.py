"""PersistStage: consumes OrderChangeLog, TradeChangeLog, KLineChangeLog and BalanceChangeLog; produces nothing (writes SQLite history)."""

from __future__ import annotations

from ..history import History
from ..model.changelog import ChangeLogEntry
from ..model.enums import Topic
from .base import Publish, Stage, sequence_layout


class PersistStage(Stage):
    """Writes every entry to the SQLite history, and with it how far each input stream has been
    written (History.progress): its runner starts from there, so after a crash the recovery's
    replay sends Persist only what it had not written yet (runtime/supervisor.py, _Feed)."""

    consumes = Topic.ALL
    produces = ()
    inherits_state = False  # an open database must not cross a fork: each process opens its own
    mixed_topics = True  # one transaction for everything a poll brought, whatever the topic
    tracks_input = True

    def start(self) -> None:
        self.ctx.data_dir.mkdir(parents=True, exist_ok=True)
        self.history = History(self.ctx.data_dir / "history.sqlite")
        self.layout = sequence_layout(self.ctx.settings)
        self.written = self.history.progress(self.layout)
        self.input_progress = {}  # a runner hands it its duplicate filter's (Runner.start)

    def resume_from(self) -> dict[tuple[str, int, str], int]:
        return dict(self.written)

    def handle_events(self, topic: str, entries: list[ChangeLogEntry]) -> list[Publish]:
        seen, written = self.input_progress, self.written
        moved = {channel: seq for channel, seq in seen.items() if written.get(channel) != seq}
        self.history.apply(entries, moved, self.layout)  # one transaction per batch: all of it or none
        written.update(moved)
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
