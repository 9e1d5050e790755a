"""GET /api/v3/avgPrice on a quiet market (api/market.py): with no trade in the last five minutes
the price is the last trade's, at its time, as the @avgPrice stream and NOTIONAL's valuation of a
market order have it; before any trade, 0 at the time asked. A real History file; the rest of the
HTTP stage is what the handler reads (the symbols' rules, a read barrier with nothing to wait for)."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace

from aiohttp import web

from spot_seda.api import market
from spot_seda.api.plumbing import HISTORY, READS, STAGE, now_ms
from spot_seda.history import History
from tests.conftest import settings_from
from tests.stages.entries import trade


class _NothingToWaitFor:
    async def wait(self, views_only: bool = False) -> None:
        return None


def test_avg_price_of_a_quiet_market_is_the_last_trade_price(tmp_path):
    rules = settings_from("").symbol_rules()
    history = History(tmp_path / "history.sqlite")
    app = web.Application()
    app[STAGE] = SimpleNamespace(rules=rules)
    app[READS] = _NothingToWaitFor()
    app[HISTORY] = history
    before = asyncio.run(market.avg_price(app, {"symbol": "BTCUSDT"}))
    assert before["price"] == "0.00000000" and before["closeTime"] >= now_ms() - 60_000, before
    ten_minutes_ago = now_ms() - 600_000
    history.apply([trade(1, ts=ten_minutes_ago - 1000, price=4_000_000),
                   trade(2, ts=ten_minutes_ago, price=5_000_000)])
    quiet = asyncio.run(market.avg_price(app, {"symbol": "BTCUSDT"}))
    assert quiet == {"mins": 5, "price": "50000.00000000", "closeTime": ten_minutes_ago}, quiet
    history.close()
