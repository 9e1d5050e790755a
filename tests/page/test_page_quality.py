"""What the issue asks of the page itself, measured in the browser: first paint well under a
second, no layout shift while data streams in, labels and names for every control, the keyboard
reaches every view, a phone-sized screen without sideways scrolling."""

from __future__ import annotations

import threading
import time

from playwright.sync_api import expect

from .conftest import ARTIFACTS

# sums the layout shifts not caused by input (the Cumulative Layout Shift metric), from the start
WATCH_SHIFTS = """
window.__shifts = [];
new PerformanceObserver((list) => {
  for (const e of list.getEntries()) if (!e.hadRecentInput) window.__shifts.push({value: e.value, t: e.startTime,
    nodes: (e.sources || []).map((s) => s.node && (s.node.id || s.node.className || s.node.nodeName))});
}).observe({type: "layout-shift", buffered: true});
"""


def _trade_for(rest, seconds: float) -> None:
    seller, buyer = rest.funded(BTC="10"), rest.funded(USDT="1000000")
    end = time.monotonic() + seconds
    price = 50000
    while time.monotonic() < end:
        price += 1
        seller.order(symbol="BTCUSDT", side="SELL", type="LIMIT", timeInForce="GTC", quantity="0.002", price=str(price))
        buyer.order(symbol="BTCUSDT", side="BUY", type="LIMIT", timeInForce="GTC", quantity="0.001", price=str(price))
        time.sleep(0.1)


def test_first_paint_and_no_layout_shift_while_data_streams(tab, page_node):
    page = tab.page
    page.add_init_script(WATCH_SHIFTS)
    tab.open("market", symbol="BTCUSDT")
    expect(page.locator("#book-state")).to_contain_text("in sync")
    fcp = page.evaluate("performance.getEntriesByName('first-contentful-paint')[0].startTime")
    assert fcp < 800, f"first contentful paint after {fcp:.0f} ms"
    page.wait_for_timeout(300)
    settled = page.evaluate("window.__shifts.length")
    worker = threading.Thread(target=_trade_for, args=(page_node.rest, 2.5))
    worker.start()
    worker.join(30)
    page.wait_for_timeout(300)
    expect(page.locator("#trades tr").first).to_contain_text("500")
    shifts = page.evaluate("window.__shifts")[settled:]
    assert sum(s["value"] for s in shifts) < 0.001, f"layout shifts while trades streamed: {shifts}"
    assert tab.problems == []


def test_every_control_is_labelled_and_the_keyboard_reaches_every_view(tab):
    page = tab.page
    tab.open("market")
    expect(page.locator("#book-state")).to_contain_text("in sync")
    unlabelled = page.evaluate("""[...document.querySelectorAll('input, select')]
        .filter((e) => e.type !== 'hidden' && !(e.labels && e.labels.length) && !e.getAttribute('aria-label'))
        .map((e) => e.id || e.name)""")
    assert unlabelled == []
    nameless = page.evaluate("""[...document.querySelectorAll('button, a[href], canvas[role=img], svg[role=img]')]
        .filter((e) => !(e.textContent.trim() || e.getAttribute('aria-label') || e.getAttribute('aria-labelledby')))
        .map((e) => e.outerHTML.slice(0, 80))""")
    assert nameless == []
    # from the top of the page: Tab to the view links, Enter follows them
    for view in ("Account", "Pipeline", "Market"):
        page.locator("body").focus()
        for _ in range(12):
            page.keyboard.press("Tab")
            if page.evaluate("document.activeElement.textContent.trim()") == view:
                break
        page.keyboard.press("Enter")
        expect(page.locator(f"#view-{view.lower()}")).to_be_visible()
        expect(page.locator(f"#tab-{view.lower()}")).to_have_attribute("aria-current", "page")
    assert tab.problems == []


def test_readable_on_a_phone(browser, page_node):
    context = browser.new_context(viewport={"width": 390, "height": 844}, device_scale_factor=2, is_mobile=True,
                                  has_touch=True)
    page = context.new_page()
    problems: list[str] = []
    page.on("console", lambda m: m.type == "error" and problems.append(m.text))
    try:
        for view in ("market", "account", "pipeline"):
            page.goto(f"{page_node.base}/#{view}")
            expect(page.locator(f"#view-{view}")).to_be_visible()
            page.wait_for_timeout(1200 if view == "pipeline" else 300)
            overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
            assert overflow <= 0, f"{view}: {overflow} px wider than the phone"
            ARTIFACTS.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(ARTIFACTS / f"phone-{view}.png"), full_page=True)
    finally:
        context.close()
    assert problems == []
