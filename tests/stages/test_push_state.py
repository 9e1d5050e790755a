"""Push keeps the same state whether or not anybody listens: with no client (the replay) it skips
building payloads and stream names, and must not skip anything else."""

from __future__ import annotations

import json
import pickle

from spot_seda.runtime.inproc import InprocPipeline
from spot_seda.runtime.replay import apply_commands
from spot_seda.stages.push import NullSink
from tests.conftest import settings_from
import pytest

from tests.sessions import commands, stop_commands


class EverySink:
    """A client subscribed to every stream."""

    def __init__(self) -> None:
        self.sent = 0

    def wants(self, stream: str) -> bool:
        return True

    def wants_any(self, prefix: str) -> bool:
        return True

    def send(self, stream: str, payload) -> None:
        self.sent += 1


@pytest.mark.parametrize("make", [commands, stop_commands], ids=["plain", "with_stops"])
def test_push_state_is_the_same_with_and_without_listeners(tmp_path, make):
    states, sinks = [], []
    for name, sink in (("quiet", NullSink()), ("heard", EverySink())):
        settings = settings_from(f'[node]\ndata_dir = "{tmp_path / name}"\n[bus]\ntransport = "inproc"\n')
        pipeline = InprocPipeline(settings)
        push = pipeline.stage("push-0")
        push.sink = sink
        apply_commands(pipeline, make(5, 600), journaled=False)
        for speed in ("100ms", "1000ms"):
            push.tick(speed)
        states.append(pickle.dumps(push.snapshot_state()))
        sinks.append(sink)
    assert sinks[1].sent > 1000  # the listener really got events of every kind
    assert states[0] == states[1]


class Recorder:
    """A client of the streams named: what each was sent, decoded."""

    def __init__(self, *streams: str) -> None:
        self.streams = set(streams)
        self.got: dict[str, list] = {s: [] for s in streams}

    def wants(self, stream: str) -> bool:
        return stream in self.streams

    def wants_any(self, prefix: str) -> bool:
        return any(s.startswith(prefix) for s in self.streams)

    def send(self, stream: str, payload) -> None:
        self.got[stream].append(json.loads(payload))


@pytest.mark.parametrize("candles_first", [True, False], ids=["candles_before_trades", "trades_first"])
def test_a_candle_that_comes_before_its_trades_still_names_them(tmp_path, candles_first):
    """KLine's candles and Match's trades reach Push on two queues with nothing ordering them: a new
    candle seen before its first trade waited, and its first and last trade ids (`f`, `L`) are the
    trades', not -1, whichever came first."""
    from spot_seda.stages.base import StageContext
    from spot_seda.stages.push import PushStage
    from tests.stages.entries import T0, kline, trade

    push = PushStage(StageContext(settings_from(""), "push", 0, 1, tmp_path))
    push.start()
    push.sink = sink = Recorder("btcusdt@kline_1m")
    minute = T0 - T0 % 60_000
    trades = [trade(7, ts=T0), trade(8, ts=T0)]  # one command's two trades
    candles = [kline(minute, trades=2, ts=T0)]
    later_trades = [trade(9, ts=T0 + 1000)]
    later_candles = [kline(minute, trades=3, ts=T0 + 1000)]
    batches = [("KLineChangeLog", candles), ("TradeChangeLog", trades), ("KLineChangeLog", later_candles),
               ("TradeChangeLog", later_trades)]
    if not candles_first:
        batches = [batches[1], batches[0], batches[3], batches[2]]
    for topic, entries in batches:
        push.apply(topic, entries)
    events = sink.got["btcusdt@kline_1m"]
    assert [(e["k"]["f"], e["k"]["L"], e["k"]["n"]) for e in events] == [(7, 8, 2), (7, 9, 3)]
    assert not push.klines_stalled


class Subscriptions(Recorder):
    """A sink whose subscriptions change, counted as the Hub counts them (api/fanout.py)."""

    def __init__(self) -> None:
        super().__init__()
        self.generation = 0

    def subscribe(self, stream: str) -> None:
        self.streams.add(stream)
        self.got[stream] = []
        self.generation += 1


def test_a_candle_subscriber_who_comes_late_gets_the_next_update_with_its_first_trade(tmp_path):
    """Push passes over candle updates while nobody listens (only a candle's Created entry matters
    then) and keeps that answer until the subscriptions change: a subscriber who comes later gets
    the next update, with the first and last trade ids of the whole candle."""
    from spot_seda.model.changelog import created
    from spot_seda.stages.base import StageContext
    from spot_seda.stages.push import PushStage
    from tests.stages.entries import T0, kline, trade

    push = PushStage(StageContext(settings_from(""), "push", 0, 1, tmp_path))
    push.start()
    push.sink = sink = Subscriptions()
    minute = T0 - T0 % 60_000
    push.apply("TradeChangeLog", [trade(7, ts=T0)])
    push.apply("KLineChangeLog", [kline(minute, trades=1, ts=T0, change=created)])
    push.apply("TradeChangeLog", [trade(8, ts=T0 + 1000)])
    push.apply("KLineChangeLog", [kline(minute, trades=2, ts=T0 + 1000)])  # nobody listens: passed over
    sink.subscribe("btcusdt@kline_1m")
    push.apply("TradeChangeLog", [trade(9, ts=T0 + 2000)])
    push.apply("KLineChangeLog", [kline(minute, trades=3, ts=T0 + 2000)])
    events = sink.got["btcusdt@kline_1m"]
    assert [(e["k"]["f"], e["k"]["L"], e["k"]["n"]) for e in events] == [(7, 9, 3)]


def test_a_candles_first_trade_is_found_after_a_clock_step_back(tmp_path):
    """KLine gives a candle up to a Tick after its first trade, and Push finds that trade by the
    candle's open time. A trade whose time went back is counted at the newest time, as KLine counts
    it, so the candle opened before it still finds its first trade."""
    from spot_seda.model.changelog import created
    from spot_seda.model.enums import Topic
    from tests.stages.entries import clock, kline, trade

    settings = settings_from(f'[node]\ndata_dir = "{tmp_path}"\n[bus]\ntransport = "inproc"\n')
    push = InprocPipeline(settings).stage("push-0")
    minute = 1_767_225_660_000  # a whole minute
    push.apply(Topic.TRADE, [trade(1, ts=minute - 100), trade(2, ts=minute + 100), trade(3, ts=minute - 50),
                             clock(ts=minute + 900)])
    push.apply(Topic.KLINE, [kline(minute, 2, change=created, ts=minute + 900)])
    assert push.candle_first["BTCUSDT", "1m"] == (minute, 2)
