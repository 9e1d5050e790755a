"""recovery.Feed: what the start's replay sends the stages that run beside it (runtime/recovery.py).
Persist is sent only what its history does not hold yet; Push, which starts from the snapshot,
everything the replay publishes; nothing twice, nothing out of order. Real shared-memory rings."""

from __future__ import annotations

from spot_seda.bus import Wiring, make_bus
from spot_seda.model.changelog import created
from spot_seda.runtime.recovery import Feed
from spot_seda.runtime.supervisor import Instance
from spot_seda.topology import stage_specs
from tests.conftest import settings_from

SPECS = {s.name: s for s in stage_specs("node")}


def _instance(name: str) -> Instance:
    spec = SPECS[name]
    return Instance(spec, spec.load(), 0, -1)


def _bus():
    settings = settings_from('[bus]\ntransport = "shm"\nqueue_bytes = 4194304\n')
    # Persist's group is its stage's name, Push's its instance's (it is broadcast: topology.consumer_slot)
    return make_bus(Wiring({"T": 1}, {"persist": (("T",), 1), "push-0": (("T",), 1)}), settings)


def _entries(first: int, last: int) -> list:
    return [created(f"o{n}", "SpotOrder", n, n, n=n) for n in range(first, last + 1)]


def _received(bus, group: str) -> list[tuple[str, int]]:
    return [(batch.producer, e.sequence) for batch in bus.consumer(group, 0).poll(0) for e in batch.entries]


def test_persist_gets_what_its_history_lacks_and_push_gets_everything():
    bus = _bus()
    try:
        feed = Feed(bus, [_instance("persist"), _instance("push")], "match-0", {("T", 0, "match-0"): 5})
        feed.publish_to("T", 0, _entries(1, 3))  # all in the history already
        feed.publish_to("T", 0, _entries(4, 8))  # partly
        feed.publish_to("T", 0, _entries(9, 10))  # none of it
        assert _received(bus, "persist") == [("match-0", n) for n in range(6, 11)]
        assert _received(bus, "push-0") == [("match-0", n) for n in range(1, 11)]
    finally:
        bus.close()


def test_alone_each_gets_what_it_needs():
    bus = _bus()
    try:
        Feed(bus, [_instance("persist")], "match-0", {("T", 0, "match-0"): 5}).publish_to("T", 0, _entries(4, 8))
        Feed(bus, [_instance("push")], "match-0", {}).publish_to("T", 0, _entries(4, 8))
        assert _received(bus, "persist") == [("match-0", n) for n in range(6, 9)]
        assert _received(bus, "push-0") == [("match-0", n) for n in range(4, 9)]
    finally:
        bus.close()
