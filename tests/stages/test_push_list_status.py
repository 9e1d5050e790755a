"""The listStatus events Push sends on a list's user data stream (stages/pushuser.py _list_status):
EXEC_STARTED when the list is placed, EXEC_STARTED again when a command ends one of its orders and
leaves another going (an OCO leg partly filled, the other expired; an OTO's working order filled),
ALL_DONE when the list ends, and only one event per command (a list that ends within one command
gets one ALL_DONE, though Match reports its orders one at a time). Real stages in one process, a
recording sink."""

from __future__ import annotations

import pytest

from spot_seda.model.commands import Cancel, NewOco, NewOrder, NewOto, NewOtoco, Transfer
from spot_seda.runtime.inproc import InprocPipeline
from spot_seda.runtime.replay import apply_commands
from tests.conftest import settings_from

T0 = 1_767_225_600_000


class Recorder:
    def __init__(self) -> None:
        self.events: list[tuple[str, dict]] = []

    def wants(self, stream: str) -> bool:
        return True

    def wants_any(self, prefix: str) -> bool:
        return True

    def send(self, stream: str, payload: dict) -> None:
        self.events.append((stream, payload))


def o(account, side, type, price, qty, tif="GTC", stop=0):
    return NewOrder(account, "BTCUSDT", side, type, tif, price, qty, 0, "", "NONE", T0 + 10, stop_price=stop)


TRADE = [o(2, "SELL", "LIMIT", 5_000_000, 10**6), o(1, "BUY", "LIMIT", 5_000_000, 10**6)]  # last price 50,000
# order ids: 1 and 2 above, then the list's 3, 4 (5)
SELL_OCO = NewOco(1, "BTCUSDT", T0 + 10, (o(1, "SELL", "LIMIT_MAKER", 5_100_000, 10**7),
                                          o(1, "SELL", "STOP_LOSS_LIMIT", 4_800_000, 10**7, stop=4_900_000)))
OTO = NewOto(1, "BTCUSDT", T0 + 10, (o(1, "BUY", "LIMIT", 4_900_000, 10**7), o(1, "SELL", "LIMIT", 5_500_000, 10**7)))
OTOCO = NewOtoco(1, "BTCUSDT", T0 + 10, (o(1, "BUY", "LIMIT", 4_900_000, 10**7),
                                         o(1, "SELL", "LIMIT_MAKER", 5_500_000, 10**7),
                                         o(1, "SELL", "STOP_LOSS_LIMIT", 4_500_000, 10**7, stop=4_600_000)))
BAD_OTOCO = NewOtoco(1, "BTCUSDT", T0 + 10, (o(1, "BUY", "LIMIT", 4_900_000, 10**7),
                                             o(1, "SELL", "LIMIT_MAKER", 4_750_000, 10**7),  # would take a 48,000 bid
                                             o(1, "SELL", "STOP_LOSS_LIMIT", 4_500_000, 10**7, stop=4_600_000)))

CASES = {
    "oco leg filled whole": (TRADE + [SELL_OCO], [o(2, "BUY", "LIMIT", 5_100_000, 10**7, "IOC")],
                             ["3 TRADE", "4 EXPIRED", "ALL_DONE"]),
    "oco canceled": (TRADE + [SELL_OCO], [Cancel(1, "BTCUSDT", 3, T0 + 20)], ["3 CANCELED", "4 CANCELED", "ALL_DONE"]),
    "oco leg partly filled": (TRADE + [SELL_OCO], [o(2, "BUY", "LIMIT", 5_100_000, 4 * 10**6, "IOC")],
                              ["3 TRADE", "4 EXPIRED", "EXEC_STARTED"]),
    "oto canceled": (TRADE + [OTO], [Cancel(1, "BTCUSDT", 3, T0 + 20)], ["3 CANCELED", "4 CANCELED", "ALL_DONE"]),
    "oto working then pending filled": (
        TRADE + [OTO], [o(2, "SELL", "LIMIT", 4_900_000, 10**7, "IOC"), o(2, "BUY", "LIMIT", 5_500_000, 10**7, "IOC")],
        ["3 TRADE", "4 NEW", "EXEC_STARTED", "4 TRADE", "ALL_DONE"]),
    "otoco to the end": (
        TRADE + [OTOCO], [o(2, "SELL", "LIMIT", 4_900_000, 10**7, "IOC"), o(2, "BUY", "LIMIT", 5_500_000, 10**7, "IOC")],
        ["3 TRADE", "4 NEW", "5 NEW", "EXEC_STARTED", "4 TRADE", "5 EXPIRED", "ALL_DONE"]),
    "otoco pair refused": (TRADE + [o(2, "BUY", "LIMIT", 4_800_000, 10**6), BAD_OTOCO],
                           [o(2, "SELL", "LIMIT", 4_900_000, 10**7, "IOC")], ["4 TRADE", "6 REJECTED", "ALL_DONE"]),
}


@pytest.mark.parametrize("case", list(CASES))
def test_list_status_events(tmp_path, case):
    setup, commands, expected = CASES[case]
    pipeline = InprocPipeline(settings_from(f'[node]\ndata_dir = "{tmp_path}"\n[bus]\ntransport = "inproc"\n'))
    push = pipeline.stage("push-0")
    apply_commands(pipeline, [Transfer(a, asset, amount, T0) for a in (1, 2)
                              for asset, amount in (("BTC", 10**9), ("USDT", 10**13))] + setup, journaled=False)
    pipeline.pump()
    recorder = push.sink = Recorder()
    for command in commands:
        apply_commands(pipeline, [command], journaled=False)
        pipeline.pump()
    pipeline.stop()
    seen = [f"{e['i']} {e['x']}" if e["e"] == "executionReport" else e["l"]
            for stream, e in recorder.events if stream == "user:1" and e["e"] in ("executionReport", "listStatus")]
    assert seen == expected
