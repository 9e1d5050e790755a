"""Push without sockets: stream names, payload shapes, and a whole random session through the node's
stages in one process, where Push's derived state must agree with Acquiring's (depth) and with the
change log (balances, fills), and a local order book built from its diff events must equal the depth."""

from __future__ import annotations

import itertools
import pickle
import random
from decimal import Decimal as D

import msgspec
import pytest

from spot_seda.binance import streams as S
from spot_seda.engine.kline import INTERVALS, bucket
from spot_seda.model.commands import Amend, NewOco, NewOrder, NewOto, Transfer
from spot_seda.model.enums import Topic
from spot_seda.model.orders import Order
from spot_seda.stages.push import SAME_CANDLE
from spot_seda.listenkeys import ListenKeys, looks_like_key
from spot_seda.runtime.inproc import InprocPipeline
from spot_seda.runtime.replay import apply_commands
from spot_seda.stages.acquiring import Waiter
from tests.conftest import settings_from
from tests.sessions import STOP_KINDS, session, stop_commands

RULES = settings_from("").symbol_rules()


@pytest.mark.parametrize("name, canonical, kind", [
    ("btcusdt@trade", "btcusdt@trade", "trade"),
    ("BTCUSDT@trade", "btcusdt@trade", "trade"),
    ("ethusdt@aggTrade", "ethusdt@aggTrade", "aggTrade"),
    ("btcusdt@kline_1m", "btcusdt@kline_1m", "kline"),
    ("btcusdt@kline_1M", "btcusdt@kline_1M", "kline"),
    ("btcusdt@depth", "btcusdt@depth", "depth"),
    ("btcusdt@depth@100ms", "btcusdt@depth@100ms", "depth"),
    ("btcusdt@depth@1000ms", "btcusdt@depth", "depth"),
    ("btcusdt@depth5", "btcusdt@depth5", "partial"),
    ("btcusdt@depth20@100ms", "btcusdt@depth20@100ms", "partial"),
    ("btcusdt@bookTicker", "btcusdt@bookTicker", "bookTicker"),
    ("btcusdt@ticker", "btcusdt@ticker", "ticker"),
    ("btcusdt@miniTicker", "btcusdt@miniTicker", "miniTicker"),
    ("changelog@OrderChangeLog", "changelog@OrderChangeLog", "changelog"),
    ("btcusdt@kline_1d@+08:00", "btcusdt@kline_1d@+08:00", "kline"),
    ("btcusdt@avgPrice", "btcusdt@avgPrice", "avgPrice"),
    ("btcusdt@ticker_1h", "btcusdt@ticker_1h", "rollingTicker"),
    ("btcusdt@ticker_1d", "btcusdt@ticker_1d", "rollingTicker"),
    ("!miniTicker@arr", "!miniTicker@arr", "allMiniTicker"),
    ("!ticker@arr", "!ticker@arr", "allTicker"),
    ("!ticker_4h@arr", "!ticker_4h@arr", "allRollingTicker"),
])
def test_stream_names_parse_to_their_canonical_form(name, canonical, kind):
    stream = S.parse_stream(name, RULES)
    assert (stream.name, stream.kind) == (canonical, kind)


@pytest.mark.parametrize("name", ["", "btcusdt", "xxxusdt@trade", "btcusdt@trades", "btcusdt@kline_2m",
                                  "btcusdt@depth7", "btcusdt@depth@10ms", "changelog@Nope", "@trade",
                                  "btc usdt@trade", 5, None, "btcusdt@trade@100ms", "btcusdt@kline_1d@+09:00",
                                  "btcusdt@ticker_2h", "!ticker_2h@arr", "!bookTicker@arr", "btcusdt@avgPrice@1s"])
def test_bad_stream_names_are_refused_with_a_reason(name):
    with pytest.raises(S.StreamError, match="Invalid request"):
        S.parse_stream(name, RULES)


def test_payloads_use_binance_field_letters_and_exact_decimals():
    rules = RULES["BTCUSDT"]
    trade = {"trade_id": 7, "price": 5_000_012, "qty": 150_000_000, "buyer_is_maker": True}
    assert S.trade_event(rules, trade, 1000) == {"e": "trade", "E": 1000, "s": "BTCUSDT", "t": 7, "p": "50000.12000000",
                                                 "q": "1.50000000", "T": 1000, "m": True, "M": True}
    d = S.depth_update_event(rules, 5, 11, 12, [(5_000_000, 0)], [(5_000_100, 10**8)])
    assert d == {"e": "depthUpdate", "E": 5, "s": "BTCUSDT", "U": 11, "u": 12,
                 "b": [["50000.00000000", "0.00000000"]], "a": [["50001.00000000", "1.00000000"]]}
    order = {"order_id": 3, "symbol": "BTCUSDT", "client_order_id": "c1", "side": "BUY", "type": "LIMIT",
             "time_in_force": "GTC", "qty": 10**8, "quote_qty": 0, "price": 5_000_000, "status": "NEW",
             "executed_qty": 0, "cum_quote_qty": 0, "time": 9, "working_time": 9, "stp": "NONE",
             "account": 1, "frozen_asset": "USDT", "frozen": 0}
    r = S.execution_report(rules, as_order(order), "NEW", 9, 1)
    assert set(r) >= set("eEscSofqpPFgCxXrilzLnNTtIwmMOZYQWV") and r["w"] is True and r["x"] == "NEW"
    assert r["P"] == "0.00000000"
    # a stop order: its stop price in "P"; not working ("w" false, no "W") until its trigger
    stop = order | {"type": "STOP_LOSS_LIMIT", "stop_price": 4_900_050, "working_time": -1}
    r = S.execution_report(rules, as_order(stop), "NEW", 9, 1)
    assert (r["o"], r["P"], r["w"], "W" in r) == ("STOP_LOSS_LIMIT", "49000.50000000", False, False)
    r = S.execution_report(rules, as_order(stop | {"working_time": 12}), "NEW", 12, 2)
    assert (r["P"], r["w"], r["W"]) == ("49000.50000000", True, 12)
    r = S.execution_report(rules, as_order(stop | {"type": "STOP_LOSS", "price": 0, "working_time": 12}), "NEW", 12, 2)
    assert (r["w"], "W" in r, r["q"], r["Q"]) == (False, False, "1.00000000", "0.00000000")  # a market order: never on the book


def test_rolling_windows_open_on_a_minute_and_reading_them_changes_nothing():
    """Push's one-minute buckets give every rolling window (1h, 4h, 1d) from the minute its size
    before now; buckets leave by the trades' time only, so a read at any clock changes no state."""
    import pickle

    from spot_seda.stages.pushwindows import DAY_MS, AvgPriceWindow, Rolling

    hour, t0 = 3_600_000, 1_767_225_600_000  # 2026-01-01T00:00Z
    r = Rolling()
    r.add(t0 + 10_000, 1, 100, 1, 100)  # 00:00:10
    r.add(t0 + 50 * 60_000, 2, 110, 2, 220)  # 00:50
    r.add(t0 + 3 * hour, 3, 90, 1, 90)  # 03:00
    state = pickle.dumps(r.buckets)
    now = t0 + 3 * hour + 30_000
    w = r.window(now, hour)  # from 02:00: the last trade only
    assert (w.open, w.high, w.low, w.count, w.first_id, w.last_id) == (90, 90, 90, 1, 3, 3)
    w = r.window(now, 4 * hour)
    assert (w.open, w.high, w.low, w.close, w.volume, w.quote_volume, w.count) == (100, 110, 90, 90, 4, 410, 3)
    assert w.prev_close == 0  # no trade before the window: "x" is 0, as REST's prevClosePrice (not the open)
    assert r.ids(now, hour) == (3, 3) and r.ids(now, DAY_MS) == (1, 3)
    w = r.window(t0 + DAY_MS + 60_000, DAY_MS)  # the 00:00 minute has left: the 24h ticker's "x" is its close
    assert (w.open, w.count, w.prev_close) == (110, 2, 100)
    # the 24h ticker's "O" is where its statistics begin: the minute of 24 hours ago, whose trade at
    # 00:00:10 the window counts 20 s after "now - 24 h" passed it (it once said now - 24 h)
    now = t0 + DAY_MS + 30_000
    w = r.window(now, DAY_MS)
    event = S.ticker_event(RULES["BTCUSDT"], now, w, None, None)
    assert (w.open, w.count, event["O"], event["C"]) == (100, 3, t0 + DAY_MS - DAY_MS, now)
    assert r.window(t0 + 3 * hour + 30_000, hour).open_time == t0 + 2 * hour
    assert r.window(t0 + 5 * hour, hour) is None and r.ids(t0 + 5 * hour, hour) is None
    assert pickle.dumps(r.buckets) == state  # (reads at any clock left the state alone)
    r.add(t0 + DAY_MS + hour, 4, 95, 1, 95)  # a trade a day later: the minutes before its window leave
    assert [b[0] for b in r.buckets] == [t0 + 3 * hour, t0 + DAY_MS + hour] and r.prev_close == 110

    avg = AvgPriceWindow()
    avg.add(t0, 100, 1, 100)
    avg.add(t0 + 299_500, 200, 1, 200)
    assert avg.sums(t0 + 300_999) == (300, 2)  # the first second is still (partly) in the 5 minutes
    assert avg.sums(t0 + 301_000) == (200, 1)
    avg.add(t0 + 400_000, 300, 1, 300)
    assert len(avg.buckets) == 2 and (avg.last_price, avg.last_time) == (300, t0 + 400_000)


def test_a_tick_nobody_listens_to_computes_no_window(tmp_path, monkeypatch):
    """The 1000 ms tick with clients subscribed to other streams only reads no rolling window, no
    average and no array: what nobody reads is not computed."""
    from spot_seda.stages import pushwindows as W

    settings = settings_from(f'[node]\ndata_dir = "{tmp_path}"\n[bus]\ntransport = "inproc"\n')
    pipeline = InprocPipeline(settings)
    push = pipeline.stage("push-0")
    apply_commands(pipeline, session(3, 300), journaled=False)

    class TradesOnly(Recorder):
        def wants(self, stream: str) -> bool:
            return stream.endswith("@trade")

    def unread(*_args):
        raise AssertionError("computed for nobody")

    for cls, name in ((W.Rolling, "window"), (W.Rolling, "ids"), (W.AvgPriceWindow, "sums")):
        monkeypatch.setattr(cls, name, unread)
    push.sink = TradesOnly()
    push.tick("1000ms")
    assert push.sink.events == []


def test_a_quiet_book_still_gets_its_partial_depth_at_every_tick_and_no_diff(tmp_path):
    """web-socket-streams.md: a partial book stream is "pushed every second" (or 100 ms), so a client
    that subscribes to a book that does not move gets it within one tick; the diff stream only says
    what changed (nothing here)."""
    settings = settings_from(f'[node]\ndata_dir = "{tmp_path}"\n[bus]\ntransport = "inproc"\n')
    pipeline = InprocPipeline(settings)
    push = pipeline.stage("push-0")
    apply_commands(pipeline, session(3, 300), journaled=False)
    pipeline.pump()
    push.tick("100ms"), push.tick("1000ms")  # everything so far sent
    rec = push.sink = Recorder()
    for _ in range(3):
        push.tick("100ms")
        push.tick("1000ms")
    names = [name for name, _ in rec.events if "@depth" in name]
    view = push.depth["BTCUSDT"]
    assert names.count("btcusdt@depth5@100ms") == 3 and names.count("btcusdt@depth20") == 3, names
    assert not any(name in ("btcusdt@depth", "btcusdt@depth@100ms") for name in names), names
    top = next(payload for name, payload in rec.events if name == "btcusdt@depth5")
    assert top == S.partial_depth_event(RULES["BTCUSDT"], view.update_id, *view.top(5))


def test_listen_keys_live_sixty_minutes_from_the_last_keepalive(tmp_path):
    now = [1_000_000]
    keys = ListenKeys(tmp_path, clock=lambda: now[0])
    key = keys.create(7)
    assert looks_like_key(key) and keys.account_of(key) == 7
    assert keys.create(7) == key  # an account's live key is returned again
    assert keys.create(8) != key
    now[0] += 59 * 60_000
    assert keys.keepalive(key)
    now[0] += 59 * 60_000
    assert keys.account_of(key) == 7
    now[0] += 2 * 60_000
    assert keys.account_of(key) is None and not keys.keepalive(key)
    fresh = keys.create(7)
    assert fresh != key and ListenKeys(tmp_path, clock=lambda: now[0]).account_of(fresh) == 7  # another process
    assert keys.close(fresh) and keys.account_of(fresh) is None and not keys.close(fresh)
    assert keys.account_of("x" * 64) is None
    # Push tells an expiry (listenKeyExpired) from a close (nothing to say): an expired key is kept an hour
    assert keys.expired(key) and not keys.expired(fresh) and not keys.expired("x" * 64)
    assert key not in keys.live() and fresh not in keys.live()
    live = keys.create(9)
    assert keys.live() >= {live}


def as_order(fields: dict) -> Order:
    """Push's Order from the change log's names (as its Created entry gives them)."""
    return Order.from_fields(fields, fields["order_id"], fields["time"])


class Recorder:
    """A sink that wants everything and keeps it."""

    def __init__(self) -> None:
        self.events: list[tuple[str, object]] = []

    def wants(self, stream: str) -> bool:
        return True

    def wants_any(self, prefix: str) -> bool:
        return True

    def send(self, stream: str, payload) -> None:
        self.events.append((stream, payload))


def across_a_utc8_day(seed: int, n: int) -> list:
    """session(), 15 h 45 min later: it crosses 16:00 UTC, where the UTC+8 day (and its 6h and 12h
    candles) ends, so +08:00 candles close."""
    return [msgspec.structs.replace(c, timestamp=c.timestamp + (15 * 60 + 45) * 60_000) for c in session(seed, n)]


@pytest.mark.parametrize("make", [session, stop_commands, across_a_utc8_day],
                         ids=["plain", "with_stops", "across_utc8_day"])
def test_a_session_through_the_stages_gives_consistent_streams(tmp_path, make):
    settings = settings_from(f'[node]\ndata_dir = "{tmp_path}"\n[bus]\ntransport = "inproc"\n')
    pipeline = InprocPipeline(settings)
    push = pipeline.stage("push-0")
    rec = push.sink = Recorder()
    commands = make(11, 1500)
    rng = random.Random(5)
    cut = 0
    for i in range(0, len(commands), 100):
        apply_commands(pipeline, commands[i:i + 100], journaled=False)
        pipeline.pump()
        push.tick("100ms")
        if rng.random() < 0.5:
            push.tick("1000ms")
        cut = cut or (len(rec.events) if i >= 300 else 0)
    push.tick("1000ms")
    acquiring = pipeline.stage("acquiring-0")
    for symbol in RULES:
        view, mine = acquiring.depth[symbol], push.depth[symbol]
        assert (mine.update_id, mine.bids, mine.asks) == (view.update_id, view.bids, view.asks)
        # a local book from diff events (both speeds) ends equal to the depth
        for name in (symbol.lower() + "@depth", symbol.lower() + "@depth@100ms"):
            book: dict[tuple[str, D], D] = {}
            last = 0
            for stream, ev in rec.events:
                if stream != name:
                    continue
                assert ev["U"] == last + 1
                last = ev["u"]
                for side in ("b", "a"):
                    for p, q in ev[side]:
                        if D(q):
                            book[side, D(p)] = D(q)
                        else:
                            book.pop((side, D(p)), None)
            assert last == view.update_id
            expect = {("b", D(p) / 100): D(q) / 10**8 for p, q in view.bids.items()}
            expect |= {("a", D(p) / 100): D(q) / 10**8 for p, q in view.asks.items()}
            assert book == expect
    # balances: the sum of deltas equals Acquiring's ledger, and the last position event says so
    for account in (1, 2, 3):
        ledger = acquiring.ledger.balances(account)
        for asset, (free, locked) in ledger.items():
            assert (push.balances[account, asset].available, push.balances[account, asset].frozen) == (free, locked)
        last: dict[str, tuple[str, str]] = {}
        report = None  # the account's last executionReport
        for stream, ev in rec.events:
            if stream == f"user:{account}" and ev["e"] == "executionReport":
                report = ev
            if stream == f"user:{account}" and ev["e"] == "outboundAccountPosition":
                shown = {b["a"]: (b["f"], b["l"]) for b in ev["B"]}
                # each event says something new: no release of nothing, no command told twice; but
                # an order that ended as it was placed with nothing traded (an IOC, FOK or MARKET
                # that found nothing) shows the one asset it froze and released, as it was
                untraded = report is not None and report["x"] in ("EXPIRED", "EXPIRED_IN_MATCH") \
                    and D(report["z"]) == 0 and report["O"] == report["E"] == ev["u"]
                assert untraded or any(last.get(a) != v for a, v in shown.items()), (ev, last, report)
                last.update(shown)
        assert last == {a: (S.amount_text(f), S.amount_text(l)) for a, (f, l) in ledger.items()}
    # every fill reaches both sides' user streams, with exact cumulative quantities
    trades = [ev for s, ev in rec.events if s.endswith("@trade")]
    reports = [(s, ev) for s, ev in rec.events if s.startswith("user:") and ev["e"] == "executionReport"]
    fills = [ev for _s, ev in reports if ev["x"] == "TRADE"]
    assert len(trades) > 100 and len(fills) == 2 * len(trades)
    execution_ids = [ev["I"] for _s, ev in reports]  # each report its own (a client may de-duplicate by it)
    assert len(set(execution_ids)) == len(execution_ids)
    for stream, ev in reports:
        order = acquiring.orders.get(ev["i"])
        assert order is None or stream == f"user:{order.account}"
    final = {}
    for _s, ev in reports:
        final[ev["i"]] = ev
    for order_id, ev in final.items():
        order = acquiring.orders[order_id]
        assert ev["X"] == order.status.name and D(ev["z"]) * 10**8 == order.executed_qty, (ev, order)
    assert not push.stalled and not push.fills
    # +08:00 candles: each event's trades (its f..L, from the trade stream) lie in its local interval
    # and make its numbers; an interval the offset does not move is the UTC candle itself
    by_id = {(ev["s"], ev["t"]): ev for ev in trades}
    klines = [(s, msgspec.json.decode(ev) if type(ev) is bytes else ev)  # (the KLine stage's: encoded once for both names)
              for s, ev in rec.events if "@kline_" in s]
    tz_events = [(s, ev["k"]) for s, ev in klines if s.endswith("@+08:00")]
    assert {k["i"] for _s, k in tz_events} == set(INTERVALS)
    closed = {k["i"] for _s, k in tz_events if k["x"]}
    assert closed >= {"6h", "12h", "1d"} or make is not across_a_utc8_day, closed
    for stream, k in tz_events:
        inside = [by_id[k["s"], i] for i in range(k["f"], k["L"] + 1)]
        assert len(inside) == k["n"] and all(k["t"] <= t["T"] <= k["T"] for t in inside), (stream, k)
        assert (k["t"], k["T"]) == bucket(k["i"], inside[0]["T"], 8 * 3_600_000), (stream, k)
        assert (k["o"], k["c"]) == (inside[0]["p"], inside[-1]["p"]), (stream, k)
        assert (D(k["h"]), D(k["l"])) == (max(D(t["p"]) for t in inside), min(D(t["p"]) for t in inside)), k
        assert D(k["v"]) == sum(D(t["q"]) for t in inside), (stream, k)
    moved = {s: k for s, k in tz_events if not SAME_CANDLE[k["i"]]}
    same = [(s + "@+08:00", ev) for s, ev in klines if "@+" not in s and SAME_CANDLE[ev["k"]["i"]]]
    assert moved and same and same == [(s, ev) for s, ev in klines if s.endswith("@+08:00") and s not in moved]
    # a stop order: NEW placed (not working, its stop price in "P"), then NEW again at its trigger
    by_order: dict[int, list[dict]] = {}
    for _s, ev in reports:
        by_order.setdefault(ev["i"], []).append(ev)
    stops = [o for o in acquiring.orders.values() if o.type.name in STOP_KINDS]
    assert len(stops) > 100 or make is not stop_commands
    for o in stops:
        if o.reason == "would_trigger":  # an error to its client, never on a stream
            assert o.order_id not in by_order
            continue
        evs = by_order[o.order_id]
        assert (evs[0]["x"], evs[0]["w"], "W" in evs[0]) == ("NEW", False, False)
        assert D(evs[0]["P"]) * 100 == o.stop_price and evs[0]["o"] == o.type.name
        triggers = [ev for ev in evs[1:] if ev["x"] == "NEW"]
        assert len(triggers) == (o.working_time >= 0), evs
        for ev in triggers:  # working on the book ("w", "W") as a GTC limit order, as a LIMIT's NEW
            on_book = o.type.name.endswith("_LIMIT") and o.time_in_force.name == "GTC"
            assert (ev["w"], ev.get("W")) == (on_book, o.working_time if on_book else None)
        if triggers:  # no fill before its trigger
            assert evs.index(triggers[0]) == 1
        else:
            assert [ev["x"] for ev in evs[1:]] in ([], ["CANCELED"])


T0 = 1_767_225_600_000


def _order(side: str, type: str, price: int, qty: int, tif: str = "GTC", stop_price: int = 0) -> NewOrder:
    return NewOrder(1, "BTCUSDT", side, type, tif, price, qty, 0, "", "NONE", T0 + 10, stop_price=stop_price)


#: a command Match refuses (answered -2010, never an order: no report, no balance), or accepts
REFUSED = {
    "limit_maker_would_take": _order("BUY", "LIMIT_MAKER", 5_000_000, 10**6),
    "stop_would_trigger": _order("BUY", "STOP_LOSS_LIMIT", 5_000_000, 10**6, stop_price=4_900_000),
    "oco_leg_would_take": NewOco(1, "BTCUSDT", T0 + 10, (_order("SELL", "LIMIT_MAKER", 4_999_000, 10**6),
                                                         _order("SELL", "STOP_LOSS_LIMIT", 4_800_000, 10**6,
                                                                stop_price=4_850_000))),
    "oto_working_would_take": NewOto(1, "BTCUSDT", T0 + 10, (_order("BUY", "LIMIT_MAKER", 5_000_000, 10**6),
                                                             _order("SELL", "LIMIT", 5_500_000, 10**6))),
}
ACCEPTED = {
    "resting_limit": _order("BUY", "LIMIT", 4_000_000, 10**6),
    "fok_expired": _order("BUY", "LIMIT", 5_000_000, 10**8, "FOK"),
}


def _one_command(tmp_path, command, topics=(Topic.ORDER, Topic.BALANCE)) -> tuple:
    """A book with a bid at 49990 and an ask at 50000 (the last trade's price); then `command` of
    account 1: Push's state before it and the batches of `topics` Push received for it, in the order
    it got them."""
    settings = settings_from(f'[node]\ndata_dir = "{tmp_path}"\n[bus]\ntransport = "inproc"\n')
    pipeline = InprocPipeline(settings)
    push = pipeline.stage("push-0")
    apply_commands(pipeline, [Transfer(a, asset, amount, T0) for a in (1, 2)
                              for asset, amount in (("BTC", 10**9), ("USDT", 10**13))] + [
        NewOrder(2, "BTCUSDT", "SELL", "LIMIT", "GTC", 5_000_000, 10**7, 0, "", "NONE", T0 + 1),
        NewOrder(2, "BTCUSDT", "BUY", "LIMIT", "GTC", 4_999_000, 10**7, 0, "", "NONE", T0 + 1),
        NewOrder(2, "BTCUSDT", "BUY", "LIMIT", "GTC", 5_000_000, 10**6, 0, "", "NONE", T0 + 2)], journaled=False)
    pipeline.pump()
    before = pickle.dumps(push.snapshot_state())
    batches = []
    apply = push.apply

    def kept(topic, entries):
        if topic in topics and any(e.entity_type != "Clock" for e in entries):
            batches.append((topic, entries))
        apply(topic, entries)
    push.apply = kept
    apply_commands(pipeline, [command], journaled=False)
    pipeline.pump()
    del push.apply
    return push, before, batches, pipeline.stage("acquiring-0").ledger.balances(1)


def _user_events(push, before: bytes, batches) -> list:
    push.restore_state(pickle.loads(before))
    rec = push.sink = Recorder()
    for topic, entries in batches:
        push.apply(topic, entries)
    return [ev for stream, ev in rec.events if stream == "user:1"]


@pytest.mark.parametrize("name", REFUSED)
def test_a_refused_order_shows_no_balance_in_whatever_order_its_changes_come(tmp_path, name):
    """A refused order is an error to its client: its freeze (Acquiring) and release (Settlement),
    which cancel out, are not shown (Binance shows nothing), whichever way the order's Created entry,
    the freeze, Match's report and the release interleave (the freeze may come first over Kafka,
    another topic; Match's report and Settlement's release first when Acquiring wrote Match's queue
    and was preempted before it wrote Push's); the balances are applied."""
    push, before, batches, ledger = _one_command(tmp_path, REFUSED[name])
    kinds = [(topic, e.field_dict().get("reason") or e.field_dict().get("status")) for topic, es in batches for e in es]
    assert ("BalanceChangeLog", "freeze") in kinds and ("BalanceChangeLog", "release") in kinds, kinds
    assert all(type(e.change_type).__name__ == "Created" for e in batches[0][1])
    for order in itertools.permutations(batches):
        assert _user_events(push, before, list(order)) == [], order
        assert {a: (b.available, b.frozen) for (acct, a), b in push.balances.items() if acct == 1} == ledger
        assert push.held == {}


@pytest.mark.parametrize("name", ACCEPTED)
def test_an_accepted_orders_freeze_is_shown_after_its_new_report_in_whatever_order(tmp_path, name):
    push, before, batches, ledger = _one_command(tmp_path, ACCEPTED[name])
    final = {a: (S.amount_text(f), S.amount_text(l)) for a, (f, l) in ledger.items()}
    for order in itertools.permutations(batches):
        events = _user_events(push, before, list(order))
        assert events[0]["e"] == "executionReport" and events[0]["x"] == "NEW", (order, events)
        positions = [ev for ev in events if ev["e"] == "outboundAccountPosition"]
        assert positions and {b["a"]: (b["f"], b["l"]) for b in positions[-1]["B"]} == \
            {a: final[a] for a in (b["a"] for b in positions[-1]["B"])}, (order, events)
        assert push.held == {}


#: an order that trades or ends as it is placed (a taker), and one that rests without trading; the
#: book: account 2's 0.09 BTC ask at 50000 and 0.1 BTC bid at 49990
ONE_POSITION = {
    "limit_filled_at_once": _order("BUY", "LIMIT", 5_000_000, 10**6),
    "sell_limit_filled_at_once": _order("SELL", "LIMIT", 4_999_000, 10**6),
    "ioc_partly_filled_then_expired": _order("BUY", "LIMIT", 5_000_000, 2 * 10**7, "IOC"),
    "market_by_quote_qty": NewOrder(1, "BTCUSDT", "BUY", "MARKET", "GTC", 0, 0, 500 * 10**8, "", "NONE", T0 + 10),
    "limit_partly_filled_rests": _order("BUY", "LIMIT", 5_000_000, 2 * 10**7),
    "fok_expired": _order("BUY", "LIMIT", 5_000_000, 10**8, "FOK"),
    "resting_limit": _order("BUY", "LIMIT", 4_000_000, 10**6),
    # its working order fills at once, its pending one is placed: that one's freeze is in the event too
    "oto_working_filled_at_once": NewOto(1, "BTCUSDT", T0 + 10, (_order("BUY", "LIMIT", 5_000_000, 10**6),
                                                                 _order("SELL", "LIMIT", 5_500_000, 10**6))),
}


@pytest.mark.parametrize("name", ONE_POSITION)
def test_an_order_shows_one_position_after_its_reports_in_whatever_order(tmp_path, name):
    """Binance sends one outboundAccountPosition for a command, after the order's executionReports,
    with the command's net (faqs/market_orders_faq.md): a taker's freeze (Acquiring), its trades
    and its release (Settlement) are one event with the balances they left, not the freeze first
    (locked funds already gone when the client reads it) and the rest after; an order that rests
    shows its freeze once, as it locks. So whichever way the order's Created entry, the freeze,
    Match's report and Settlement's changes interleave (Match's trades first: fills wait for the
    report that follows them)."""
    push, before, batches, ledger = _one_command(tmp_path, ONE_POSITION[name],
                                                 (Topic.ORDER, Topic.BALANCE, Topic.TRADE))
    trades = [b for b in batches if b[0] == Topic.TRADE]
    rest = [b for b in batches if b[0] != Topic.TRADE]
    final = {a: (S.amount_text(f), S.amount_text(l)) for a, (f, l) in ledger.items()}
    for order in itertools.permutations(rest):
        events = _user_events(push, before, trades + list(order))
        positions = [i for i, ev in enumerate(events) if ev["e"] == "outboundAccountPosition"]
        assert positions == [len(events) - 1], (order, events)  # one, after every executionReport
        reports = events[:-1]
        assert reports and reports[0]["x"] == "NEW" and all(ev["e"] in ("executionReport", "listStatus")
                                                            for ev in reports)
        traded = any(ev["x"] == "TRADE" for ev in reports)
        assert traded == (name not in ("resting_limit", "fok_expired")), reports
        shown = {b["a"]: (b["f"], b["l"]) for b in events[-1]["B"]}
        assert shown == {a: final[a] for a in (("BTC", "USDT") if traded else ("USDT",))}, (order, events)
        assert (shown["USDT"][1] != S.amount_text(0)) == (name in ("resting_limit", "limit_partly_filled_rests"))
        assert push.held == {}


def test_a_taker_whose_settlement_came_in_many_messages_still_shows_one_position(tmp_path):
    """A taker that sweeps 40 makers: Settlement's changes reach Push in many 1 KiB messages, 4
    entries a step; the taker's account still gets one outboundAccountPosition, after its reports,
    with the balances the command left (its release, Settlement's last change for it, ends it)."""
    pipeline, push, rec = _batched(tmp_path, 4)
    commands = [Transfer(a, asset, 10**13, T0) for a in (1, 2) for asset in ("BTC", "USDT")]
    commands += [NewOrder(2, "BTCUSDT", "SELL", "LIMIT", "GTC", 5_000_000 + i, 10**6, 0, "", "NONE", T0 + 1)
                 for i in range(43)]
    apply_commands(pipeline, commands, journaled=False)
    pipeline.pump()
    del rec.events[:]
    apply_commands(pipeline, [NewOrder(1, "BTCUSDT", "BUY", "LIMIT", "IOC", 5_000_039, 45 * 10**6, 0, "", "NONE",
                                       T0 + 2)], journaled=False)
    pipeline.pump()
    events = [ev for stream, ev in rec.events if stream == "user:1"]
    assert [ev["x"] for ev in events[:-1]] == ["NEW"] + ["TRADE"] * 40 + ["EXPIRED"]
    assert events[-1]["e"] == "outboundAccountPosition", events[-3:]
    ledger = pipeline.stage("acquiring-0").ledger.balances(1)
    assert {b["a"]: (b["f"], b["l"]) for b in events[-1]["B"]} == {
        a: (S.amount_text(f), S.amount_text(l)) for a, (f, l) in ledger.items()}
    assert push.held == {}


def test_an_amends_answer_names_the_execution_id_of_its_report(tmp_path):
    """The amend's answer (executionId, api/orderops.py) is the "I" of the executionReport Push sends
    for it: REPLACED for an order reduced (an OCO's leg too, both legs amended), EXPIRED for an amend
    that leaves nothing open. Acquiring knows it from the sequence of Match's report entry."""
    settings = settings_from(f'[node]\ndata_dir = "{tmp_path}"\n[bus]\ntransport = "inproc"\n')
    pipeline = InprocPipeline(settings)
    push, acquiring = pipeline.stage("push-0"), pipeline.stage("acquiring-0")
    rec = push.sink = Recorder()
    oco = NewOco(1, "BTCUSDT", T0 + 1, (_order("SELL", "LIMIT_MAKER", 5_500_000, 10**7),
                                        _order("SELL", "STOP_LOSS_LIMIT", 4_000_000, 10**7, stop_price=4_100_000)))
    apply_commands(pipeline, [Transfer(a, asset, amount, T0) for a in (1, 2)
                              for asset, amount in (("BTC", 10**9), ("USDT", 10**13))] + [
        _order("BUY", "LIMIT", 4_900_000, 10**7),  # order 1
        NewOrder(2, "BTCUSDT", "SELL", "LIMIT", "IOC", 4_900_000, 4 * 10**6, 0, "", "NONE", T0 + 1),  # fills 0.04 of it
        oco], journaled=False)  # orders 3 and 4
    pipeline.pump()
    for order_id, qty, execution in ((1, 8 * 10**6, "REPLACED"), (3, 6 * 10**6, "REPLACED"), (1, 3 * 10**6, "EXPIRED")):
        waiter = Waiter(lambda _o, _f: None)
        _cmd, outputs = acquiring.amend(Amend(1, "BTCUSDT", order_id, T0 + 2, qty), waiter)
        pipeline.runners["acquiring-0"].publish(outputs)
        pipeline.pump()
        reports = [ev for s, ev in rec.events if s == "user:1" and ev["e"] == "executionReport"
                   and ev["x"] == execution and ev["i"] == order_id]
        assert reports and waiter.execution_id == reports[-1]["I"] > 0, (order_id, waiter.execution_id, reports)
    assert sum(ev.get("x") == "REPLACED" and ev["i"] == 4 for s, ev in rec.events if s == "user:1") == 1  # (the other leg)
    ids = [ev["I"] for s, ev in rec.events if s.startswith("user:") and ev["e"] == "executionReport"]
    assert len(set(ids)) == len(ids)


def _batched(tmp_path, batch_max: int):
    """An in-process pipeline whose messages hold 1 KiB and whose stages take `batch_max` entries a
    step, and its Push with a Recorder as sink."""
    settings = settings_from(f'[node]\ndata_dir = "{tmp_path}"\n[bus]\ntransport = "inproc"\n'
                             f'batch_max = {batch_max}\nmax_message_bytes = 1024\n')
    pipeline = InprocPipeline(settings)
    push = pipeline.stage("push-0")
    push.sink = Recorder()
    return pipeline, push, push.sink


@pytest.mark.parametrize("batch_max", [4096, 4])
def test_an_aggregate_trade_is_sent_whole_however_its_trades_were_batched(tmp_path, batch_max):
    """A taker filled by 40 makers at one price is one aggregate trade, on the stream as in REST
    (model/summary.py), also when Match's trades reach Push in many messages (1 KiB each) and Push
    hands them on 4 entries at a time: it is sent when Match's report on the symbol comes, not at
    the end of whatever part of the trades a step held; a second taker's fills are another one."""
    pipeline, push, rec = _batched(tmp_path, batch_max)
    commands = [Transfer(a, asset, 10**13, T0) for a in (1, 2) for asset in ("BTC", "USDT")]
    commands += [NewOrder(2, "BTCUSDT", "SELL", "LIMIT", "GTC", 5_000_000, 10**6, 0, "", "NONE", T0 + 1)] * 43
    commands += [NewOrder(1, "BTCUSDT", "BUY", "LIMIT", "IOC", 5_000_000, 40 * 10**6, 0, "", "NONE", T0 + 2),
                 NewOrder(1, "BTCUSDT", "BUY", "MARKET", "GTC", 0, 3 * 10**6, 0, "", "NONE", T0 + 3)]
    apply_commands(pipeline, commands, journaled=False)
    pipeline.pump()
    aggs = [(ev["a"], ev["f"], ev["l"], ev["q"]) for stream, ev in rec.events if stream == "btcusdt@aggTrade"]
    assert aggs == [(1, 1, 40, "0.40000000"), (41, 41, 43, "0.03000000")]
    assert push.aggregates == {}


def test_a_created_entry_overtaken_by_a_higher_ones_leaves_nothing_held(tmp_path):
    """Over Kafka another partition's Created entry of a higher order id may come first, and this
    order's release before its own Created entry: that release is shown as it comes (Push cannot
    tell it from an old order's), and so the rest of the order is not held either: nothing is left
    waiting in `held` for a release that already went (found by the session's review)."""
    push, before, batches, ledger = _one_command(tmp_path, REFUSED["limit_maker_would_take"])
    release = [b for b in batches if any(e.field_dict().get("reason") == "release" for e in b[1])]
    rest = [b for b in batches if b not in release]
    push.restore_state(pickle.loads(before))
    push.sink = Recorder()
    push.last_created += 1  # a higher order id's Created entry came first
    for topic, entries in release + rest:
        push.apply(topic, entries)
    assert push.held == {}
    assert {a: (b.available, b.frozen) for (acct, a), b in push.balances.items() if acct == 1} == ledger


@pytest.mark.parametrize("batch_max", [4096, 4])
def test_a_trades_ticker_shows_the_book_as_the_trade_left_it(tmp_path, batch_max):
    """@ticker names the best bid and ask. The ticker a trade sends waits for Match's report on the
    symbol (which comes after the trades and holds the book they changed), so it shows the ask the
    taker uncovered, not the one it took, however the entries were batched (found by Binance's
    SDK's stream test: the event showed the book from before the trade until the next second)."""
    pipeline, push, rec = _batched(tmp_path, batch_max)
    commands = [Transfer(a, asset, 10**13, T0) for a in (1, 2) for asset in ("BTC", "USDT")]
    commands += [NewOrder(2, "BTCUSDT", "SELL", "LIMIT", "GTC", 5_000_000, 10**6, 0, "", "NONE", T0 + 1),
                 NewOrder(2, "BTCUSDT", "SELL", "LIMIT", "GTC", 5_010_000, 2 * 10**6, 0, "", "NONE", T0 + 1),
                 NewOrder(2, "BTCUSDT", "BUY", "LIMIT", "GTC", 4_990_000, 3 * 10**6, 0, "", "NONE", T0 + 1),
                 NewOrder(1, "BTCUSDT", "BUY", "LIMIT", "IOC", 5_000_000, 10**6, 0, "", "NONE", T0 + 2)]
    apply_commands(pipeline, commands, journaled=False)
    pipeline.pump()
    tickers = [ev for stream, ev in rec.events if stream == "btcusdt@ticker"]
    book = [ev for stream, ev in rec.events if stream == "btcusdt@bookTicker"][-1]
    assert len(tickers) == 1 and tickers[0]["c"] == "50000.00000000"  # the trade's
    assert (tickers[0]["b"], tickers[0]["B"], tickers[0]["a"], tickers[0]["A"]) == (
        book["b"], book["B"], book["a"], book["A"]) == ("49900.00000000", "0.03000000", "50100.00000000", "0.02000000")
    assert push.tickers_due == {}


def test_an_open_candle_is_sent_again_at_its_streams_speed_and_never_a_stale_one(tmp_path):
    """web-socket-streams.md: kline streams update the current candle every 2 s (1 s for `1s`):
    Push sends a stream's open candle again, the same candle at a later "E", until its interval
    ends. One that changed while nobody listened (its streams unsubscribed, then subscribed again)
    is not sent again as it was: the candle as it is now goes out instead."""
    settings = settings_from(f'[node]\ndata_dir = "{tmp_path}"\n[bus]\ntransport = "inproc"\n')
    pipeline = InprocPipeline(settings)
    push = pipeline.stage("push-0")

    class Hours(Recorder):
        listening = True

        def wants(self, stream: str) -> bool:
            return self.listening and stream == "btcusdt@kline_1h"

        def wants_any(self, prefix: str) -> bool:
            return self.listening and "btcusdt@kline_1h".startswith(prefix)
    rec = push.sink = Hours()
    commands = session(5, 400)
    apply_commands(pipeline, commands[:200], journaled=False)
    pipeline.pump()
    sent = [ev for name, ev in rec.events if name == "btcusdt@kline_1h"]
    last = msgspec.json.decode(sent[-1]) if type(sent[-1]) is bytes else sent[-1]
    assert not last["k"]["x"], last
    rec.events.clear()
    now = last["E"] + 1_950  # (within the 100 ms the 1000 ms tick may come early)
    push._kline_updates(now)
    assert rec.events == [("btcusdt@kline_1h", last | {"E": now})]
    push._kline_updates(now + 1_000)  # (not yet two seconds)
    assert len(rec.events) == 1
    push._kline_updates(last["k"]["T"] + 1)  # its interval is over: its close comes from KLine
    assert len(rec.events) == 1 and "btcusdt@kline_1h" not in push.kline_open
    push.kline_open["btcusdt@kline_1h"] = last  # (as if still open) ... but nobody listens now:
    rec.listening = False
    apply_commands(pipeline, commands[200:], journaled=False)
    pipeline.pump()  # the candle changes unsent
    rec.listening = True  # subscribed again before the next tick: the candle as it is now, not as it was
    current = push.kline_last["BTCUSDT", "1h"]
    at = current["close_time"] - 1  # (any time the candle is open)
    push._kline_updates(at)
    [(name, sent)] = rec.events[1:]
    assert (name, sent["E"], sent["k"]["n"], sent["k"]["c"]) == (
        "btcusdt@kline_1h", at, current["trades"], S.kline_event(RULES["BTCUSDT"], current, at, 0, 0)["k"]["c"])
    assert sent["k"]["n"] > last["k"]["n"] or sent["k"]["t"] != last["k"]["t"], (sent, last)
