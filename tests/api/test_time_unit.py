"""Which fields of each stream event are times (web-socket-streams.md, user-data-stream.md): a
connection that asked for microseconds gets exactly those times 1,000, a window's close its last
microsecond, and every id, price and flag as it was. The events are the node's own builders'
(binance/streams.py), so a field added there without a rule here shows up as a difference."""

from __future__ import annotations

import json

from spot_seda.api.fanout import Client, Hub
from spot_seda.api.timeunit import event_in_microseconds
from spot_seda.binance import streams as S
from spot_seda.config import load_settings
from spot_seda.model.enums import OrderStatus, OrderType, SelfTradePrevention, Side, TimeInForce
from spot_seda.model.orders import Order

RULES = load_settings().symbol_rules()["BTCUSDT"]
T = 1_764_670_000_123  # a time in ms
W = S.Window(open=3_000_000, high=3_100_000, low=2_900_000, close=3_050_000, last_qty=1_000_000, volume=2_000_000,
             quote_volume=6_100_000_000, first_id=T - 5, last_id=T - 1, count=5, prev_close=3_000_000,
             open_time=T - T % 60_000 - 86_400_000)


def _order(**times) -> Order:
    return Order(order_id=T - 3, symbol="BTCUSDT", account=1, client_order_id="c", side=Side.BUY, type=OrderType.LIMIT,
                 time_in_force=TimeInForce.GTC, price=3_000_000, qty=1_000_000, quote_qty=0,
                 stp=SelfTradePrevention.NONE, frozen_asset="USDT", frozen=3_000_000, status=OrderStatus.NEW,
                 trailing_delta=100, **times)


def changed(before: dict, after: dict) -> dict:
    return {k: (before.get(k), after.get(k)) for k in before.keys() | after.keys() if before.get(k) != after.get(k)}


def test_each_events_times_and_nothing_else():
    trade = {"trade_id": T - 7, "price": 3_000_000, "qty": 1_000_000, "quote_qty": 3_000_000_000_000,
             "buyer_is_maker": True}
    kline = {"open_time": T - 123, "close_time": T - 123 + 59_999, "interval": "1m", "open": 1, "close": 2, "high": 3,
             "low": 1, "volume": 5, "trades": 2, "closed": 0, "quote_volume": 7, "taker_buy_volume": 1,
             "taker_buy_quote_volume": 2}
    order = _order(time=T - 1000, update_time=T - 500, working_time=T - 999, trailing_time=T - 5)
    cases = [
        (S.trade_event(RULES, trade, T), {"E", "T"}),
        (S.agg_trade_event(RULES, [trade | {"trade_id": T - 9}], T), {"E", "T"}),
        (S.depth_update_event(RULES, T, T - 2, T - 1, [], []), {"E"}),  # "U", "u": update ids
        (S.ticker_event(RULES, T, W, None, None), {"E", "O", "C"}),  # "F", "L": trade ids
        (S.rolling_ticker_event(RULES, T, "1h", W), {"E", "O", "C"}),
        (S.avg_price_event(RULES, T, 6, 2, 3, T - 50), {"E", "T"}),
        (S.mini_ticker_event(RULES, T, W), {"E"}),
        (S.execution_report(RULES, order, "NEW", T, T - 11), {"E", "T", "O", "W", "D"}),  # "I": an execution id
        (S.list_status_event("BTCUSDT", T - 13, "lc", "EXEC_STARTED", "EXECUTING", T, [(T - 3, "c")]), {"E", "T"}),
        (S.account_position_event(T, [("BTC", 1, 2)]), {"E", "u"}),
        (S.balance_update_event(T, "BTC", 5), {"E", "T"}),
        (S.listen_key_expired_event(T, "k" * 64), {"E"}),
    ]
    for event, times in cases:
        assert changed(event, event_in_microseconds(event)) == {k: (event[k], event[k] * 1000) for k in times}, event
    event = S.kline_event(RULES, kline, T, T - 20, T - 10)  # "f", "L": trade ids
    out = event_in_microseconds(event)
    assert changed(event, out).keys() == {"E", "k"} and out["E"] == T * 1000
    assert changed(event["k"], out["k"]) == {"t": ((T - 123), (T - 123) * 1000),
                                             "T": ((T - 123 + 59_999), (T - 123 + 59_999) * 1000 + 999)}


def test_arrays_and_payloads_without_times():
    array = [S.mini_ticker_event(RULES, T, W), S.mini_ticker_event(RULES, T + 1, W)]
    assert [e["E"] for e in event_in_microseconds(array)] == [T * 1000, (T + 1) * 1000]
    for payload in (S.partial_depth_event(RULES, T, [], []), S.book_ticker_event(RULES, T, None, None),
                    {"entity_id": "1", "entity_type": "order", "timestamp": T, "sequence": 1}):  # a raw change log's
        assert event_in_microseconds(payload) == payload
    order = _order(time=T, update_time=T, working_time=-1, trailing_time=-1)
    out = event_in_microseconds(S.execution_report(RULES, order, "NEW", T, 1))
    assert out["D"] == -1 and "W" not in out and out["O"] == T * 1000  # "not yet" stays -1


def test_the_hub_frames_an_event_once_per_unit_and_wrapping():
    """fanout.Hub: a client that asked for microseconds gets the event scaled, in its own wrapping; the
    others get the bytes they always got; its subscriptions counted exactly (none: send() never looks)."""
    hub = Hub()
    ms_raw, us_raw = Client(None, None, combined=False), Client(None, None, combined=False, micro=True)
    us_combined = Client(None, None, combined=True, micro=True)
    for client, wrap in ((ms_raw, None), (us_raw, None), (us_combined, "btcusdt@trade"), (us_combined, "btcusdt@trade")):
        hub.subscribe(client, "btcusdt@trade", wrap)  # (the last: SET_PROPERTY's re-wrap of the same stream)
    assert hub.micro_subs == 2
    event = S.balance_update_event(T, "BTC", 5)
    hub.send("btcusdt@trade", event)

    def payload(frame: bytes):
        return json.loads(frame[2:] if frame[1] < 126 else frame[4:])  # (a text frame's header)
    assert payload(hub.queued(ms_raw)[0]) == event
    assert payload(hub.queued(us_raw)[0]) == event | {"E": T * 1000, "T": T * 1000}
    assert payload(hub.queued(us_combined)[0]) == {"stream": "btcusdt@trade", "data": event | {"E": T * 1000, "T": T * 1000}}
    hub.unsubscribe(us_raw, "btcusdt@trade")
    hub.unsubscribe(us_raw, "btcusdt@trade")  # (twice: counted once)
    hub.remove(us_combined)
    assert hub.micro_subs == 0
