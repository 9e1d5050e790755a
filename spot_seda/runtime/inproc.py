"""Every stage of a topology in one process over the inproc Bus: tests, replay, comparisons.

The same stage classes and the same Runner as the multi-process node; only the transport and the
scheduling differ (round-robin over the runners until every queue is empty).
"""

from __future__ import annotations

from pathlib import Path

from ..bus.inproc import InprocBus
from ..stages.base import Runner, StageContext
from ..topology import consumer_slot, input_channels, instances_of, stage_specs, wiring_for


class InprocPipeline:
    """Runs a topology's stages in this process, deterministically."""

    def __init__(self, settings, data_dir: Path | None = None, direct: bool = False,
                 exclude: tuple[str, ...] = ()) -> None:
        self.settings = settings
        self.data_dir = Path(data_dir or settings.node.data_dir)
        self.data_dir.mkdir(parents=True, exist_ok=True)
        topology = settings.node.topology
        self.wiring = wiring_for(topology, settings, exclude)
        self.bus = InprocBus(self.wiring, settings.bus, direct)  # direct: no codec (recovery, replay)
        self.runners: dict[str, Runner] = {}
        for spec in stage_specs(topology):
            if spec.name in exclude:
                continue
            cls = spec.load()
            count = instances_of(spec.name, settings)
            for i in range(count):
                ctx = StageContext(settings, spec.name, i, count, self.data_dir)
                consumer = self.bus.consumer(*consumer_slot(cls, spec.name, i)) if cls.consumes else None
                runner = Runner(cls(ctx), consumer, self.bus.producer(ctx.producer_name), self.wiring.topics)
                runner.channels = input_channels(topology, settings, spec.name, i)
                runner.start()
                self.runners[ctx.producer_name] = runner

    def stage(self, label: str):
        """The stage object of an instance ("match-0")."""
        return self.runners[label].stage

    def pump(self, max_rounds: int = 1_000_000) -> int:
        """Step every runner until a whole round moves nothing; returns the rounds taken."""
        for rounds in range(1, max_rounds + 1):
            moved = False
            for runner in self.runners.values():
                moved |= runner.step(0)
            if not moved and not self.bus.pending():
                return rounds
        raise RuntimeError(f"pipeline still busy after {max_rounds} rounds")

    def stop(self) -> None:
        """Drain, then let every stage finish (in topology order)."""
        self.pump()
        for runner in self.runners.values():
            runner.publish(runner.stage.stop())
            self.pump()
