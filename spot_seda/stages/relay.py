"""A synthetic pipeline (source -> relay -> tally) that proves the runtime and drives the benchmark.

- SourceStage (consumes nothing, produces `relay.in`): generates numbered entries over `keys` keys,
  `count` in total (0 = forever) at up to `rate` entries/s (0 = as fast as the bus takes them).
- RelayStage (consumes `relay.in`, produces `relay.out`): forwards each entry as an Updated entry with
  the same key, so per-key order and completeness must survive two hops.
- TallyStage (consumes `relay.out`): counts entries, sums a checksum, and checks the two order
  guarantees of the Bus: per key, numbers arrive increasing (n is increasing per key at the source),
  and per (partition, producer) sequences are contiguous. It writes its tally as JSON into the data
  dir every `report_every` entries and when it stops, so tests and benchmarks can read what arrived.
"""

from __future__ import annotations

import json
import os
import time

from ..model.changelog import ChangeLogEntry, Updated, created
from ..model.enums import EntityType
from .base import Publish, Stage

IN = "relay.in"
OUT = "relay.out"


class SourceStage(Stage):
    produces = (IN,)
    replayable = False

    def start(self) -> None:
        cfg = self.ctx.settings.relay
        self.count, self.rate, self.keys, self.chunk = cfg.count, cfg.rate, cfg.keys, cfg.chunk
        self.payload = "x" * cfg.payload_bytes
        self.sent = 0
        self.began = time.perf_counter()
        self.prefix = f"{self.ctx.instance}:"

    def idle(self) -> list[Publish]:
        if self.count and self.sent >= self.count:
            return []
        n = self.chunk if not self.count else min(self.chunk, self.count - self.sent)
        if self.rate:
            due = int((time.perf_counter() - self.began) * self.rate) - self.sent
            if due <= 0:
                time.sleep(min(0.001, 1 / self.rate))
                return []
            n = min(n, due)
        by_key: dict[str, list[ChangeLogEntry]] = {}
        now = time.time_ns()
        keys = self.keys
        for i in range(self.sent, self.sent + n):
            key = f"k{i % keys}"
            entry = created(self.prefix + str(i), EntityType.ORDER, now // 1_000_000, 0,
                            n=i, key=key, sent_ns=now, payload=self.payload)
            by_key.setdefault(key, []).append(entry)
        self.sent += n
        return [(IN, key, entries) for key, entries in by_key.items()]


class RelayStage(Stage):
    consumes = (IN,)
    produces = (OUT,)
    replayable = False

    def handle_events(self, topic: str, entries: list[ChangeLogEntry]) -> list[Publish]:
        by_key: dict[str, list[ChangeLogEntry]] = {}
        for e in entries:
            fields = e.change_type.fields  # type: ignore[union-attr]  # n, key, sent_ns, payload
            forwarded = ChangeLogEntry(
                e.entity_id, e.entity_type, Updated(fields | {"relayed": True}), e.timestamp, 0
            )
            by_key.setdefault(fields["key"], []).append(forwarded)
        return [(OUT, key, batch) for key, batch in by_key.items()]


class TallyStage(Stage):
    consumes = (OUT,)
    replayable = False
    dedupe = False  # the tally sees every entry, duplicates included, and reports them

    def start(self) -> None:
        self.count = 0
        self.checksum = 0
        self.violations = 0
        self.last_n: dict[tuple[str, str], int] = {}
        self.latencies_us: list[int] = []
        self.path = self.ctx.data_dir / f"tally-{self.ctx.producer_name}.json"
        self.report_every = self.ctx.settings.relay.report_every
        self.next_report = self.report_every

    def handle_events(self, topic: str, entries: list[ChangeLogEntry]) -> list[Publish]:
        now = time.time_ns()
        last_n = self.last_n
        for e in entries:
            fields = e.change_type.changed_fields  # type: ignore[union-attr]
            n = fields["n"]
            self.count += 1
            self.checksum += n
            slot = (e.entity_id.partition(":")[0], fields["key"])  # (source instance, key)
            if last_n.get(slot, -1) >= n:
                self.violations += 1
            last_n[slot] = n
        if len(self.latencies_us) < 1_000_000:
            self.latencies_us.append((now - entries[-1].change_type.changed_fields["sent_ns"]) // 1000)  # type: ignore[union-attr]
        if self.count >= self.next_report:
            self.next_report += self.report_every
            self.write()
        return []

    def stop(self) -> list[Publish]:
        self.write()
        return []

    def write(self) -> None:
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps({
            "count": self.count, "checksum": self.checksum, "violations": self.violations,
            "pid": os.getpid(), "latencies_us": self.latencies_us[-20_000:],
        }))
        tmp.replace(self.path)
