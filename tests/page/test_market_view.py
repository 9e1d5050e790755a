"""The market view in a real browser against a real node: what another client does over REST shows
in the book, the trades, the candles and the ticker within a second, through the streams."""

from __future__ import annotations

import time

from playwright.sync_api import expect

BOUND_MS = 1000  # issue 17: "within a second"


def test_page_loads_without_console_errors(tab):
    started = time.monotonic()
    tab.open("market")
    tab.page.wait_for_load_state("load")
    loaded = time.monotonic() - started
    expect(tab.page.locator("#symbol")).to_have_value("BTCUSDT")
    expect(tab.page.locator("#book-state")).to_contain_text("in sync")
    expect(tab.page.locator("#conn")).to_have_class("conn ok")
    assert loaded < 2.0, f"the page took {loaded:.2f} s to load"
    assert tab.problems == []


def test_rest_orders_and_trades_show_within_a_second(tab, page_node):
    rest = page_node.rest
    seller = rest.funded(ETH="10")
    buyer = rest.funded(USDT="100000")
    tab.open("market", symbol="ETHUSDT")
    page = tab.page
    expect(page.locator("#symbol")).to_have_value("ETHUSDT")
    expect(page.locator("#book-state")).to_contain_text("in sync")
    expect(page.locator("#conn")).to_have_class("conn ok")

    status, order = seller.order(symbol="ETHUSDT", side="SELL", type="LIMIT", timeInForce="GTC",
                                 quantity="0.0123", price="2345.67")
    assert status == 200, order
    ask = page.locator("#asks tr", has_text="2345.67")
    expect(ask).to_contain_text("0.0123", timeout=BOUND_MS)

    status, order = buyer.order(symbol="ETHUSDT", side="BUY", type="LIMIT", timeInForce="GTC",
                                quantity="0.0123", price="2345.67")
    assert status == 200 and order["status"] == "FILLED", order
    first_trade = page.locator("#trades tr").first
    expect(first_trade).to_contain_text("2345.67", timeout=BOUND_MS)
    expect(first_trade).to_contain_text("0.0123")
    expect(page.locator("#candle-last")).to_contain_text("close 2345.67", timeout=BOUND_MS)
    expect(page.locator("#t-last")).to_have_text("2345.67", timeout=BOUND_MS)
    expect(ask).to_have_count(0, timeout=BOUND_MS)  # the level left the book
    tab.screenshot("market")
    assert tab.problems == []
