"""fanout.Hub queues an event once per group of clients with the same subscriptions and writes a
group's frames once per flush to each member. Against a naive twin that queues every frame for
every subscribed client (what the Hub did before groups): after any sequence of subscribes,
re-wraps, unsubscribes, removals, sends and flushes, every client has been written exactly the
bytes the twin gives it, in the same order."""

from __future__ import annotations

import json

from hypothesis import given, settings
from hypothesis import strategies as st

from spot_seda.api.fanout import Client, Hub, text_frame
from spot_seda.api.timeunit import event_in_microseconds

STREAMS = ("btcusdt@trade", "btcusdt@depth", "ethusdt@trade", "user:7")
WRAPS = (None, "shown", 3)


class Recorder:
    """What the Hub uses of an asyncio transport, keeping every byte written."""

    def __init__(self) -> None:
        self.data = bytearray()

    def write(self, data: bytes) -> None:
        self.data += data

    def is_closing(self) -> bool:
        return False

    def get_write_buffer_size(self) -> int:
        return 0


def _frame(wrap, micro: bool, event: dict) -> bytes:
    """The frame a client subscribed with `wrap` gets for `event`, made the way a reader would."""
    data = json.dumps(event_in_microseconds(event) if micro else event, separators=(",", ":")).encode()
    if wrap is None:
        return text_frame(data)
    if isinstance(wrap, str):
        return text_frame(json.dumps({"stream": wrap}, separators=(",", ":")).encode()[:-1] + b',"data":' + data + b"}")
    return text_frame(b'{"subscriptionId":' + str(wrap).encode() + b',"event":' + data + b"}")


def _wrap(wrap, stream: str):
    """A combined stream's wrapping is the name it is shown under (here, per stream)."""
    return f"{wrap}:{stream}" if isinstance(wrap, str) else wrap


steps = st.lists(st.one_of(
    st.tuples(st.just("subscribe"), st.integers(0, 5), st.sampled_from(STREAMS), st.sampled_from(WRAPS)),
    st.tuples(st.just("unsubscribe"), st.integers(0, 5), st.sampled_from(STREAMS)),
    st.tuples(st.just("remove"), st.integers(0, 5)),
    st.tuples(st.just("send"), st.sampled_from(STREAMS), st.integers(0, 10**6)),
    st.tuples(st.just("flush"),),
), max_size=60)


@settings(max_examples=300, deadline=None)
@given(steps, st.lists(st.booleans(), min_size=6, max_size=6))
def test_every_client_gets_what_a_per_client_queue_would_give_it(ops, micro):
    hub = Hub()
    clients = [Client(None, Recorder(), combined=False, micro=m) for m in micro]
    twin_subs: list[dict[str, object]] = [{} for _ in clients]
    twin_out = [bytearray() for _ in clients]
    removed: set[int] = set()
    for op in ops:
        if op[0] == "subscribe" and op[1] not in removed:
            _, i, stream, wrap = op
            hub.subscribe(clients[i], stream, _wrap(wrap, stream))
            twin_subs[i][stream] = _wrap(wrap, stream)
        elif op[0] == "unsubscribe" and op[1] not in removed:
            _, i, stream = op
            hub.unsubscribe(clients[i], stream)
            twin_subs[i].pop(stream, None)
        elif op[0] == "remove" and op[1] not in removed:
            hub.flush()  # (as a closing connection's handler runs between batches, after their flush)
            hub.remove(clients[op[1]])
            removed.add(op[1])
            twin_subs[op[1]].clear()
        elif op[0] == "send":
            _, stream, n = op
            event = {"e": "trade", "E": 1_700_000_000_000 + n, "T": 1_700_000_000_000, "t": n}
            hub.send(stream, event)
            for i, subs in enumerate(twin_subs):
                if stream in subs:
                    twin_out[i] += _frame(subs[stream], micro[i], event)
        elif op[0] == "flush":
            hub.flush()
    hub.flush()
    for i, client in enumerate(clients):
        assert bytes(client.transport.data) == bytes(twin_out[i]), i
    assert hub.micro_subs == sum(len(s) for i, s in enumerate(twin_subs) if micro[i])


def test_clients_with_the_same_subscriptions_share_one_queue():
    """A thousand clients on one stream: one frame queued per event, not a thousand."""
    hub = Hub()
    clients = [Client(None, Recorder(), combined=False) for _ in range(1000)]
    for client in clients:
        hub.subscribe(client, "btcusdt@trade", None)
    hub.send("btcusdt@trade", {"e": "trade", "t": 1})
    hub.send("btcusdt@trade", {"e": "trade", "t": 2})
    assert len(hub.groups) == 1 and sum(len(g.chunks) for g in hub.groups.values()) == 2
    hub.flush()
    assert {bytes(c.transport.data) for c in clients} == {text_frame(b'{"e":"trade","t":1}') +
                                                          text_frame(b'{"e":"trade","t":2}')}
    assert hub.sent == 2000
