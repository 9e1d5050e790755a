"""The pipeline view in a real browser: every stage of the topology is drawn and has its card, and
the rates go above zero while orders flow."""

from __future__ import annotations

import re
import threading
import time

from playwright.sync_api import expect

POSITIVE = re.compile(r"^(?!0$)\d")  # a figure, and not zero
STAGES = ("acquiring", "match", "kline", "settlement", "persist", "push")


def _traffic(rest, seconds: float, stop: threading.Event) -> None:
    """Crossing orders, two a round, until `seconds` pass or `stop` is set."""
    buyer = rest.funded(USDT="1000000")
    seller = rest.funded(BTC="100")
    end = time.monotonic() + seconds
    while time.monotonic() < end and not stop.is_set():
        for who, side in ((seller, "SELL"), (buyer, "BUY")):
            who.order(symbol="BTCUSDT", side=side, type="LIMIT", timeInForce="GTC", quantity="0.001", price="31000")
        time.sleep(0.05)


def test_pipeline_view_shows_every_stage_and_live_rates(tab, page_node):
    tab.open("pipeline")
    page = tab.page
    for stage in STAGES:
        expect(page.locator(f"#gnode-{stage}")).to_be_visible()
        expect(page.locator(f"#card-{stage}-0")).to_be_visible()
    expect(page.locator("#graph .edge")).not_to_have_count(0)
    stop = threading.Event()
    worker = threading.Thread(target=_traffic, args=(page_node.rest, 8.0, stop), daemon=True)
    worker.start()
    try:
        # Match's card shows entries coming in, and the graph's node says so too
        card = page.locator("section.stage", has=page.locator("#card-match-0"))
        rate = card.locator(".metric", has_text="In / s").locator("dt span").nth(1)
        expect(rate).to_have_text(POSITIVE, timeout=8000)
        expect(page.locator("#grate-match")).to_have_text(re.compile(r"^(?!0 in/s)\d"))
    finally:
        stop.set()
        worker.join(10)
    expect(page.locator("#conn")).to_have_class("conn ok")
    tab.screenshot("pipeline")
    assert tab.problems == []
