"""The whole graph of stages and topics, in one readable place.

The node (DESIGN.md section 2), in flow order — the supervisor starts them in this order and stops
them in this order too, so each stage drains what its upstream left before it is asked to stop:

    1. acquiring   HTTP orders      -> OrderChangeLog, BalanceChangeLog   (validate, freeze, journal)
    2. match       OrderChangeLog   -> TradeChangeLog, OrderChangeLog     (price-time matching)
    3. kline       TradeChangeLog   -> KLineChangeLog                     (candles)
    4. settlement  TradeChangeLog, OrderChangeLog -> BalanceChangeLog     (move frozen funds, fees)
    5. persist     all four topics  -> SQLite history
    6. push        all four topics  -> WebSocket clients

Each stage name is also its consumer group; `runtime.instances` in the config runs several members
of a group, splitting the partitions between them.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass

from .bus.base import Wiring


@dataclass(frozen=True)
class StageSpec:
    """A stage of a topology: its name (and consumer group) and where its class lives."""

    name: str
    factory: str  # "package.module:ClassName", imported lazily so unused stages cost nothing
    #: "package.module:function" that runs the stage with its own event loop (HTTP, WebSocket)
    serve: str | None = None
    #: ENTRY: commands enter the pipeline here (it journals them; a replay drives it);
    #: HISTORY: it writes the SQLite history (reads wait for it). The runtime finds stages by role,
    #: never by name.
    role: str | None = None
    #: its CPU per command relative to the others' (bench/pipeline.py measures it per stage): where
    #: the stages outnumber the cores, the supervisor spreads them over the cores by it (plan_cores)
    weight: float = 1.0

    def load(self) -> type:
        return _load(self.factory)

    def load_serve(self):
        return _load(self.serve) if self.serve else None


ENTRY = "entry"
HISTORY = "history"


def _load(path: str):
    module, _, name = path.partition(":")
    return getattr(importlib.import_module(module), name)


TOPOLOGIES: dict[str, tuple[StageSpec, ...]] = {
    "node": (
        # weights: CPU µs per command in bench/pipeline.py (BENCHMARKS.md, "Pipeline", seventh session);
        # over HTTP Acquiring weighs more still, which the same placement also suits. They steer the
        # placement only: the tenth session's figures (KLine 1, Persist 29) gave a split that
        # measured slower, and were not kept (BENCHMARKS.md, "Pipeline", tenth session)
        StageSpec("acquiring", "spot_seda.stages.acquiring:AcquiringStage", serve="spot_seda.api.rest:serve",
                  role=ENTRY, weight=40),
        StageSpec("match", "spot_seda.stages.match:MatchStage", weight=13),
        StageSpec("kline", "spot_seda.stages.kline:KLineStage", weight=7),
        StageSpec("settlement", "spot_seda.stages.settlement:SettlementStage", weight=10),
        StageSpec("persist", "spot_seda.stages.persist:PersistStage", role=HISTORY, weight=38),
        StageSpec("push", "spot_seda.stages.push:PushStage", serve="spot_seda.api.ws:serve", weight=21),
    ),
    # source -> relay -> tally (+ audit, a second consumer group on the same topic): proves the runtime
    # and the transport with real work and no trading logic; used by tests and bench/transport.py.
    "relay": (
        StageSpec("source", "spot_seda.stages.relay:SourceStage"),
        StageSpec("relay", "spot_seda.stages.relay:RelayStage"),
        StageSpec("tally", "spot_seda.stages.relay:TallyStage"),
        StageSpec("audit", "spot_seda.stages.relay:TallyStage"),
    ),
}


def stage_specs(topology: str, only: str | None = None) -> tuple[StageSpec, ...]:
    """The stages of a named topology (or just the one named `only`)."""
    try:
        # a name from TOPOLOGIES, or "package.module:NAME" for a graph of your own
        specs = TOPOLOGIES[topology] if ":" not in topology else _load(topology)
    except (KeyError, ImportError, AttributeError):
        raise ValueError(f"node.topology: unknown topology {topology!r}; known: {', '.join(TOPOLOGIES)}, "
                         "or module:NAME") from None
    if only is None:
        return specs
    names = [n.strip() for n in only.split(",") if n.strip()]  # "match" or "acquiring,kline,..."
    unknown = [n for n in names if n not in {s.name for s in specs}]
    if unknown or not names:
        raise ValueError(f"--stage: no stage {', '.join(unknown) or repr(only)} in topology {topology!r}; "
                         f"known: {', '.join(s.name for s in specs)}")
    return tuple(s for s in specs if s.name in names)


def wiring_for(topology: str, settings, exclude: tuple[str, ...] = ()) -> Wiring:
    """Topics and consumer groups of a whole topology (a lone stage still needs its peers' queues),
    less the `exclude`d stages."""
    topics: dict[str, int] = {}
    groups: dict[str, tuple[tuple[str, ...], int]] = {}
    sources: dict[str, dict[str, tuple[str, ...]]] = {}
    ordered: dict[str, tuple[str, ...]] = {}
    for spec in stage_specs(topology):
        if spec.name in exclude:
            continue
        cls = spec.load()
        for topic in (*cls.consumes, *cls.produces):
            topics[topic] = settings.bus.partitions
        if cls.ordered_outputs and len(cls.produces) > 1:
            ordered[spec.name] = tuple(cls.produces)
        if not cls.consumes:
            continue
        count = instances_of(spec.name, settings)
        names = [f"{spec.name}-{i}" for i in range(count)] if cls.broadcast else [spec.name]
        for group in names:  # broadcast: every instance sees every entry, one group per instance
            groups[group] = (tuple(cls.consumes), 1 if cls.broadcast else count)
            if cls.sources:
                sources[group] = {topic: tuple(cls.sources.get(topic, ())) for topic in cls.consumes}
    return Wiring(topics, groups, sources, ordered)


def with_role(specs: tuple[StageSpec, ...], role: str) -> StageSpec | None:
    """The stage of `specs` that has `role` (ENTRY, HISTORY), or None."""
    return next((s for s in specs if s.role == role), None)


def sinks(topology: str) -> tuple[str, ...]:
    """The stages that publish nothing (Persist, Push): a replay that records the change log can
    leave them out."""
    return tuple(s.name for s in stage_specs(topology) if s.load().consumes and not s.load().produces)


def consumer_slot(cls, name: str, instance: int) -> tuple[str, int]:
    """(group, member) of a stage instance's input queue."""
    return (f"{name}-{instance}", 0) if cls.broadcast else (name, instance)


def instances_of(name: str, settings) -> int:
    return settings.runtime.instances.get(name, 1)


def input_channels(topology: str, settings, name: str, instance: int) -> frozenset[tuple[str, int, str]]:
    """Every (topic, partition, producer instance) stream that reaches one stage instance: the
    channels a marker must arrive on before it has passed that instance (stages/base.py)."""
    specs = stage_specs(topology)
    cls = next(s for s in specs if s.name == name).load()
    partitions = settings.bus.partitions
    members = 1 if cls.broadcast else instances_of(name, settings)
    mine = [p for p in range(partitions) if cls.broadcast or p % members == instance]
    channels = set()
    for topic in cls.consumes:
        wanted = cls.sources.get(topic, ()) if cls.sources else None  # as Runner.process filters
        for spec in specs:
            if topic not in spec.load().produces or (wanted is not None and spec.name not in wanted):
                continue
            for i in range(instances_of(spec.name, settings)):
                channels.update((topic, p, f"{spec.name}-{i}") for p in mine)
    return frozenset(channels)
