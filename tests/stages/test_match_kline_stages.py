"""MatchStage and KLineStage in memory, as the streaming frameworks test an operator: batches in,
entries out, no queue, no process.

Each stage is glue over an engine, so what it publishes must be what the engine says (the order book,
the candle book) in the change log's words, and must not depend on how its input was batched: the
runner hands a stage any number of whole queue messages at once, and a replay batches differently
from the live run.
"""

from __future__ import annotations

import random

import msgspec
import pytest

from spot_seda.engine.book import OrderBook
from spot_seda.engine.records import Trade
from spot_seda.engine.kline import INTERVALS, CandleBook
from spot_seda.history import History
from spot_seda.model.entities import KLINE_FIELDS
from spot_seda.model.enums import STOP_TYPES, EntityType, OrderType, SelfTradePrevention, Side, TimeInForce, Topic
from spot_seda.model.changelog import Created
from spot_seda.runtime.inproc import InprocPipeline
from spot_seda.runtime.replay import apply_commands, record
from spot_seda.stages.base import StageContext
from spot_seda.stages.kline import KLineStage
from spot_seda.stages.match import MatchStage
from tests.conftest import settings_from
from tests.sessions import T0, session, stop_commands


def published(tmp_path, make, seed: int = 11, n: int = 500) -> list:
    """Every batch the node's stages publish for a random session, in publishing order."""
    pipeline = InprocPipeline(settings_from(""), tmp_path / "run")
    sink = record(pipeline)
    apply_commands(pipeline, make(seed, n), journaled=False, final_tick=True)
    pipeline.stop()
    return list(sink)


def feed(stage, batches, groups) -> list:
    """Hand the batches to a started stage `groups(len)` messages at a time, each group's entries as
    one list (what the runner does with consecutive messages of one topic); what it publishes, as
    (topic, key, entity_id, change, timestamp)."""
    out = []
    i = 0
    while i < len(batches):
        n = groups(len(batches) - i)
        topic = batches[i].topic
        chunk = [b for b in batches[i:i + n] if b.topic == topic]
        i += len(chunk)
        entries = [e for b in chunk for e in b.entries]
        for out_topic, key, es in stage.handle_events(topic, entries):
            out += [(out_topic, key, e.entity_id, e.change_type, e.timestamp) for e in es]
    return out


def ctx(tmp_path, name):
    return StageContext(settings_from(""), name, 0, 1, tmp_path / name)


@pytest.mark.parametrize("make", [session, stop_commands], ids=["plain", "with_stops"])
def test_match_publishes_what_the_order_book_decides_whatever_the_batching(tmp_path, make):
    batches = published(tmp_path, make)
    commands = [b for b in batches if b.producer == "acquiring-0" and b.topic == Topic.ORDER]
    live = [(b.topic, e.entity_id, e.change_type, e.timestamp) for b in batches if b.producer == "match-0"
            for e in b.entries]
    assert len(live) > 400
    rng = random.Random(5)
    for groups in (lambda left: 1, lambda left: left, lambda left: rng.randint(1, 9)):
        stage = MatchStage(ctx(tmp_path, "match"))
        stage.start()
        out = feed(stage, commands, groups)
        assert [(t, i, c, ts) for t, _k, i, c, ts in out] == live
        assert all(key in ("BTCUSDT", "ETHUSDT") for _t, key, *_ in out)
        for book in stage.books.values():
            book.check_invariants()

    # the engine alone, fed the same commands, makes the same trades in the same order
    rules = settings_from("").symbol_rules()
    books = {symbol: OrderBook(r) for symbol, r in rules.items()}
    engine_trades = []
    for b in commands:
        for e in b.entries:
            f = e.field_dict()
            if f.get("status") != "NEW" or "side" not in f:
                if f.get("cancel_requested"):
                    books[f["symbol"]].cancel(int(e.entity_id), f["account"])
                continue
            records = books[f["symbol"]].place(
                int(e.entity_id), f["account"], Side[f["side"]], OrderType[f["type"]], TimeInForce[f["time_in_force"]],
                f["price"], f["qty"], f["quote_qty"], f["client_order_id"], SelfTradePrevention[f["stp"]],
                e.timestamp, f.get("stop_price", 0))
            engine_trades += [(f["symbol"], r.trade_id, r.price, r.qty) for r in records if type(r) is Trade]
    stage_trades = [c.fields for t, i, c, ts in live if t == Topic.TRADE and type(c) is Created]  # (not Ticks)
    assert [(t.symbol, t.trade_id, t.price, t.qty) for t in stage_trades] == engine_trades  # (TradeFields)
    assert len(engine_trades) > 50


def test_match_sends_a_commands_trades_before_the_order_updates_they_cause(tmp_path):
    stage = MatchStage(ctx(tmp_path, "match"))
    stage.start()
    batches = [b for b in published(tmp_path, stop_commands) if b.producer == "acquiring-0" and b.topic == Topic.ORDER]
    firsts = 0
    for b in batches:
        for e in b.entries:
            outputs = stage.handle_events(Topic.ORDER, [e])
            topics = [t for t, _k, _es in outputs]
            if e.entity_type == EntityType.CLOCK:  # a Tick: passed on to KLine as it is
                assert outputs == [(Topic.TRADE, e.field_dict()["symbol"], [e])]
                continue
            assert topics in ([], [Topic.ORDER], [Topic.TRADE, Topic.ORDER]), topics
            f = e.field_dict()
            if "side" in f:  # a new order: its first report repeats what it was created with
                report = next(x for x in outputs[-1][2] if x.entity_id == e.entity_id)
                r = report.field_dict()
                assert {k: r[k] for k in ("side", "type", "price", "frozen_asset", "frozen")} == \
                       {k: f[k] for k in ("side", "type", "price", "frozen_asset", "frozen")}
                assert ("working_time" in r) == (f["type"] not in STOP_TYPES)
                firsts += 1
    assert firsts > 300


@pytest.mark.parametrize("make", [session, stop_commands], ids=["plain", "with_stops"])
def test_kline_publishes_the_candle_books_candles_whatever_the_batching(tmp_path, make):
    batches = published(tmp_path, make, seed=4, n=800)
    trades = [b for b in batches if b.producer == "match-0" and b.topic == Topic.TRADE]
    live = [(e.entity_id, e.change_type, e.timestamp) for b in batches if b.producer == "kline-0" for e in b.entries]
    assert len(trades) > 50 and len(live) > 16 * 50
    rng = random.Random(9)
    for groups in (lambda left: 1, lambda left: left, lambda left: rng.randint(1, 7)):
        stage = KLineStage(ctx(tmp_path, "kline"))
        stage.start()
        out = feed(stage, trades, groups)
        assert [(i, c, ts) for _t, _k, i, c, ts in out] == live
        for book in stage.books.values():
            book.check_invariants()

    # the candle book alone, one command's trades at a time and each Tick at its time, ends with the
    # same open candles
    books = {symbol: CandleBook(symbol) for symbol in ("BTCUSDT", "ETHUSDT")}
    ticks = 0
    for b in trades:
        fills, symbol = [], None
        for e in b.entries:
            f = e.field_dict()
            if e.entity_type == EntityType.CLOCK:
                if fills:
                    books[symbol].apply(fills)
                    fills = []
                books[f["symbol"]].tick_rows(e.timestamp)
                ticks += 1
                continue
            symbol = f["symbol"]
            fills.append(Trade(f["trade_id"], f["price"], f["qty"], f["quote_qty"], f["maker_order_id"],
                               f["taker_order_id"], 0, 0, Side.SELL if f["buyer_is_maker"] else Side.BUY, e.timestamp))
        if fills:
            books[symbol].apply(fills)
    assert ticks > 0
    last = {}
    for entity_id, change, _ts in live:
        fields = getattr(change, "fields", None) or change.changed_fields
        assert tuple(fields) == KLINE_FIELDS  # every field, in the order the change log's bytes depend on
        last[(fields["symbol"], fields["interval"])] = fields
    for symbol, book in books.items():
        for row in book.open_rows():
            assert tuple(last[(symbol, row[1])].values()) == row
        for interval in {i for s, i in last if s == symbol} - {row[1] for row in book.open_rows()}:
            assert last[(symbol, interval)]["closed"], (symbol, interval)  # a Tick or a trade closed it


def dense(commands: list, every_ms: int = 7) -> list:
    """The commands a few milliseconds apart (a busy market: many commands a second)."""
    return [msgspec.structs.replace(c, timestamp=T0 + i * every_ms) for i, c in enumerate(commands)]


def test_a_cadence_leaves_the_same_candles_with_far_fewer_entries(tmp_path):
    """node.candle_update_ms: KLine gives an open candle once a second of trade time (and at the
    Tick that ends a command file), not on every command; the history's candles end the same, and
    what KLine gave last of each candle is its state."""
    commands = dense(session(21, 1500))
    runs = {}
    for every in (0, 1000):
        data = tmp_path / f"every{every}"
        pipeline = InprocPipeline(settings_from(f"[node]\ncandle_update_ms = {every}\n"), data)
        sink = record(pipeline)
        apply_commands(pipeline, commands, journaled=False, final_tick=True)
        pipeline.stop()
        entries = [e for b in sink if b.producer == "kline-0" for e in b.entries]
        with History(data / "history.sqlite", readonly=True) as h:
            candles = {(s, i): h.klines(s, i, limit=1000) for s in ("BTCUSDT", "ETHUSDT") for i in INTERVALS}
        runs[every] = entries, candles
    (every_command, candles0), (paced, candles1) = runs[0], runs[1000]
    assert candles1 == candles0 and sum(len(c) for c in candles0.values()) > 40
    seconds = (commands[-1].timestamp - T0) // 1000 + 1
    opened = [e for e in paced if not e.field_dict()["closed"]]
    assert len(opened) <= 2 * 16 * (seconds + 1) < len(every_command) / 4, (len(opened), len(every_command))
    last = {}
    for e in paced:
        last[e.entity_id] = e.field_dict()
    for (symbol, interval), rows in candles1.items():
        for row in rows:
            assert last[f"{symbol}:{interval}:{row['open_time']}"] == row


def test_a_journaled_tick_names_only_the_symbols_still_configured(tmp_path):
    """A journal's Tick may name a symbol the configuration has since dropped: replayed, it goes to
    the symbols there are (Match would refuse a command for an unknown symbol)."""
    from spot_seda.model.commands import Tick

    pipeline = InprocPipeline(settings_from(""), tmp_path / "run")
    acquiring = pipeline.stage("acquiring-0")
    accepted, outputs = acquiring.execute(Tick(T0, ("BTCUSDT", "DOGEUSDT", "ETHUSDT")), journaled=True)
    assert accepted.symbols == ("BTCUSDT", "DOGEUSDT", "ETHUSDT")  # (the journal keeps what it holds)
    assert [(topic, key, [e.entity_type for e in es]) for topic, key, es in outputs] == \
        [(Topic.ORDER, "BTCUSDT", [EntityType.CLOCK]), (Topic.ORDER, "ETHUSDT", [EntityType.CLOCK])]
    pipeline.runners["acquiring-0"].publish(outputs)
    pipeline.pump()  # Match passes both on; nothing refused
    pipeline.stop()


def test_a_quiet_market_gets_a_tick_when_a_candle_ends_and_kline_closes_it(tmp_path):
    """Acquiring asks for a Tick when an open candle's interval has ended since the symbol's last
    trade and Tick (candles_due), the next one at the next end; the Tick closes it in KLine."""
    from spot_seda.model.commands import NewOrder, Transfer

    pipeline = InprocPipeline(settings_from(""), tmp_path / "run")
    acquiring = pipeline.stage("acquiring-0")
    t = T0 + 10_200  # a trade 10.2 s into the day
    apply_commands(pipeline, [Transfer(1, "BTC", 10**8, T0, "d1"), Transfer(2, "USDT", 10**12, T0, "d2"),
                              NewOrder(1, "BTCUSDT", "SELL", "LIMIT", "GTC", 5_000_000, 10**6, 0, "s", "NONE", t),
                              NewOrder(2, "BTCUSDT", "BUY", "MARKET", "GTC", 0, 10**6, 0, "b", "NONE", t)],
                   journaled=False)
    pipeline.pump()
    assert acquiring.candles_due(t + 799) == []  # the second is not over (it ends at t + 799)
    assert acquiring.candles_due(t + 800) == ["BTCUSDT"]
    acquiring.clock = lambda: t + 800
    assert acquiring.wants_tick()
    kline = pipeline.stage("kline-0")
    accepted, outputs = acquiring.tick()
    assert "BTCUSDT" in accepted.symbols
    pipeline.runners["acquiring-0"].publish(outputs)
    pipeline.pump()
    book = kline.books["BTCUSDT"]
    assert "1s" not in {row[1] for row in book.open_rows()} and "1m" in {row[1] for row in book.open_rows()}
    assert acquiring.candles_due(t + 49_799) == []  # the minute ends at T0 + 59,999
    assert acquiring.candles_due(T0 + 60_000) == ["BTCUSDT"]


def test_a_quiet_market_gets_a_tick_when_a_time_zone_candle_ends_and_push_closes_it(tmp_path):
    """Push's +08:00 candles end where no UTC candle does (the 1d at 16:00 UTC, the 12h at 04:00
    and 16:00): a quiet market gets a Tick at those ends too, which closes them within the minute
    the clock below steps by, as it closes the UTC ones."""
    from spot_seda.model.commands import NewOrder, Transfer

    hour = 3_600_000
    pipeline = InprocPipeline(settings_from(""), tmp_path / "run")
    acquiring = pipeline.stage("acquiring-0")
    t = T0 + 17 * hour  # 17:00 UTC: 01:00 the next day at +08:00
    apply_commands(pipeline, [Transfer(1, "BTC", 10**8, T0, "d1"), Transfer(2, "USDT", 10**12, T0, "d2"),
                              NewOrder(1, "BTCUSDT", "SELL", "LIMIT", "GTC", 5_000_000, 10**6, 0, "s", "NONE", t),
                              NewOrder(2, "BTCUSDT", "BUY", "MARKET", "GTC", 0, 10**6, 0, "b", "NONE", t)],
                   journaled=False)
    pipeline.pump()
    book = pipeline.stage("push-0").offset_candles["BTCUSDT", "+08:00"]
    ends = {row[1]: row[3] for row in book.open_rows() if row[1] != "1M"}  # interval -> its close time
    assert {"6h", "12h", "1d", "3d", "1w"} <= set(ends), ends  # (the intervals the offset moves)
    closed_at: dict[str, int] = {}
    now = t
    while len(closed_at) < len(ends) and now < max(ends.values()) + hour:
        acquiring.clock = lambda now=now: now
        if acquiring.wants_tick():
            _accepted, outputs = acquiring.tick()
            pipeline.runners["acquiring-0"].publish(outputs)
            pipeline.pump()
            still_open = {row[1] for row in book.open_rows()}
            closed_at.update((i, now) for i in ends if i not in still_open and i not in closed_at)
        now += 60_000
    late = {i: closed_at.get(i, now) - end for i, end in ends.items()}
    assert all(0 < ms <= 60_000 for ms in late.values()), late  # closed in the minute after each end
