"""Several stages in one process (`runtime.colocate`): a household.

Where six stage processes share two cores, every order wakes most of them, one after another, and
each wake-up carries one or two orders: in the node over HTTP the stages behind Acquiring cost about
three times per order what they cost when batches are full (BENCHMARKS.md, "Node over HTTP", twelfth
session). A household runs several stages' Runners in one process, over one shared queue:

- a producer elsewhere puts an entry once for the whole household (ShmBus: the groups of a
  household share their queue), and one wake-up serves every stage in it;
- inside, a stage hands what it publishes to the household's stages downstream as the objects
  themselves (entries are immutable once stamped, as on the inproc bus's direct mode), without
  encoding, decoding or a queue; what goes to other processes goes over shm as before.

Order: each round polls the shared queue once, then steps the runners in flow order; a runner gets
what the poll brought for it, then what the household's stages before it published this round. What
another process published came before anything it caused here, so every producer's order and every
cause-before-effect order a single queue keeps is kept. The Runners, Stages, sequences and markers
are the ones a stage process uses (stages/base.py): only the transport between them differs.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable

from ..bus.base import Consumer, Producer, Wiring
from ..model.changelog import Batch, ChangeLogEntry
from ..stages.base import Runner


class LocalProducer(Producer):
    """A household stage's producer: over shm to the other processes (`outer`, built to leave the
    household's groups out), and in memory to the household's stages that want the entries."""

    def __init__(self, name: str, outer: Producer, inboxes: dict[str, list[deque]]) -> None:
        self.name = name
        self.outer = outer
        self.partitions = outer.partitions
        self._inboxes = inboxes  # topic -> the inboxes of the household's groups that want it

    def publish_to(self, topic: str, partition: int, entries: list[ChangeLogEntry]) -> None:
        if not entries:
            return
        self.outer.publish_to(topic, partition, entries)
        inboxes = self._inboxes.get(topic)
        if inboxes:
            batch = Batch(topic, partition, self.name, entries)
            for inbox in inboxes:
                inbox.append(batch)

    def pretouch(self, topics) -> None:
        self.outer.pretouch(topics)

    def flush(self, timeout: float | None = None) -> None:
        self.outer.flush(timeout)

    def commit(self, consumer: Consumer | None = None) -> None:
        self.outer.commit(consumer)


class Household:
    """Drives the Runners of a household (in flow order) over their shared consumer."""

    def __init__(self, groups: list[str], consumer: Consumer, wiring: Wiring,
                 release: Callable[[], None] = lambda: None) -> None:
        #: [group, runner, inbox] in flow order; the inbox holds what the stages before it published
        self.members: list[list] = [[group, None, deque()] for group in groups]
        self.consumer = consumer
        self.wiring = wiring
        self.poll_timeout = 0.05
        #: sends what the round's stages published to other processes (HeldPuts.release: one put
        #: per queue, so Acquiring's reader wakes once for Match's answer and Settlement's release)
        self.release = release

    def attach(self, group: str, runner: Runner) -> None:
        """The runner of `group`'s instance (its producer from producer())."""
        next(m for m in self.members if m[0] == group)[1] = runner

    def producer(self, group: str, name: str, outer: Producer) -> LocalProducer:
        """The producer of the household's stage instance `name` (of `group`): in memory to the
        household's stages after it that want its entries; `outer` must leave those groups out."""
        later = self.members[[g for g, _r, _i in self.members].index(group) + 1:]
        inboxes = {topic: [inbox for g, _r, inbox in later if self.wiring.wants(g, topic, name)]
                   for topic in self.wiring.topics}
        return LocalProducer(name, outer, inboxes)

    def start(self) -> None:
        for _group, runner, _inbox in self.members:
            runner.start()
        waits = [runner.poll_timeout for _g, runner, _i in self.members]
        self.poll_timeout = min(waits)

    def step(self, timeout: float) -> bool:
        """One round: poll the shared queue once (waiting up to `timeout`), then let each runner
        handle what came for it and what the runners before it sent it; a runner with nothing
        runs its stage's idle hook (Persist commits there). False when nothing moved."""
        polled = list(self.consumer.poll(timeout))
        depth = self.consumer.depth() if polled else 0
        wants = self.wiring.wants
        idle = []
        released = False
        for group, runner, inbox in self.members:
            batches = [b for b in polled if wants(group, b.topic, b.producer)] if polled else []
            if inbox:
                batches += inbox
                inbox.clear()
            if not released and not runner.stage.produces:
                # the rest publish nothing: what the others sent goes out before they work (Match's
                # answers and Settlement's releases must not wait for Persist's writes)
                self.release()
                released = True
            if batches:
                runner.process(batches, depth)
            else:
                idle.append(runner)
        self.release()  # (what a later producer sent, if any; and before the idle hooks)
        for runner in idle:
            runner.idle()
        if idle:
            self.release()
        return len(idle) < len(self.members)

    def run(self, stopping: Callable[[], bool], linger_s: float = 0.0) -> None:
        """Loop until `stopping()` and the input has drained, then stop the stages in flow order,
        handing what each publishes as it stops to the ones after it."""
        self.start()
        while True:
            if stopping():
                if not self.step(0):
                    break
            elif self.step(self.poll_timeout) and linger_s and self.consumer.depth() == 0:
                time.sleep(linger_s)
        for i, (_group, runner, _inbox) in enumerate(self.members):
            runner.publish(runner.stage.stop())
            for _g, later, inbox in self.members[i + 1:]:  # what it sent as it stopped, before they stop
                if inbox:
                    batches = list(inbox)
                    inbox.clear()
                    later.process(batches, 0)
        for _group, runner, _inbox in self.members:
            runner.producer.flush()
