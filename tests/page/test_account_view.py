"""The account view in a real browser against a real node: a wrong secret shows the node's error;
with the right one, an order placed from the page is the node's open order (and changes the balance
as the API would), a refused one shows the node's own error text next to the form, a cancel from
the page cancels it, and what the account does over REST elsewhere shows live (user data stream).
Stop orders: the form offers exchangeInfo's order types; a STOP_LOSS_LIMIT placed from the page is
open with its stop price and not working, and when trades over REST cross its stop the page shows it
triggered, then filled, from the user data stream alone; one whose stop the last price has already
reached is refused, with the node's text beside the form."""

from __future__ import annotations

from playwright.sync_api import expect


def _unexpected(problems: list[str]) -> list[str]:
    """Console lines other than Chromium's own note of a refused request (its 4xx status): the
    page's code logs nothing and throws nothing."""
    return [p for p in problems
            if not p.startswith("console error: Failed to load resource: the server responded with a status of 4")]


def _login(page, client, secret: str | None = None) -> None:
    page.fill("#api-key", client.api_key)
    page.fill("#api-secret", secret if secret is not None else client.secret)
    page.press("#api-secret", "Enter")  # the keyboard submits the form


def _place(page, side: str, type_: str, quantity: str, price: str | None = None, stop: str | None = None) -> None:
    page.check(f"#side-{side.lower()}", force=True)
    page.select_option("#o-type", type_)
    if price is not None:
        page.fill("#o-price", price)
    if stop is not None:
        page.fill("#o-stop", stop)
    page.fill("#o-qty", quantity)
    page.click("#order-button")


def _trade_at(rest, price: str, qty: str = "0.01") -> None:
    """One BTCUSDT trade at `price` between two new accounts: the last price becomes `price` (the
    book holds no bid at or above it, nor an ask below it, when this runs)."""
    seller, buyer = rest.funded(BTC="1"), rest.funded(USDT="100000")
    status, doc = seller.order(symbol="BTCUSDT", side="SELL", type="LIMIT", timeInForce="GTC", quantity=qty, price=price)
    assert status == 200 and doc["status"] == "NEW", doc
    status, doc = buyer.order(symbol="BTCUSDT", side="BUY", type="LIMIT", timeInForce="IOC", quantity=qty, price=price)
    assert status == 200 and doc["status"] == "FILLED", doc


def test_a_wrong_secret_shows_the_node_error(tab, page_node):
    client = page_node.rest.funded(USDT="100")
    tab.open("account")
    _login(tab.page, client, secret="not-the-secret")
    expect(tab.page.locator("#login-error")).to_have_text("Signature for this request is not valid. (code -1022)")
    expect(tab.page.locator("#api-secret")).to_have_attribute("aria-invalid", "true")
    expect(tab.page.locator("#order-button")).to_be_disabled()
    assert _unexpected(tab.problems) == []


def test_orders_from_the_page_change_the_node_as_the_api_would(tab, page_node):
    client = page_node.rest.funded(USDT="1000")
    page = tab.page
    tab.open("account", symbol="BTCUSDT")
    _login(page, client)
    expect(page.locator("#login-state")).to_contain_text(f"account {client.account_id}")
    expect(page.locator("#api-secret")).to_have_value("")  # not kept in the form
    usdt = page.locator('#balances tr[data-key="USDT"]')
    expect(usdt).to_contain_text("1000")
    expect(page.locator("#conn")).to_have_class("conn ok")

    # a LIMIT buy from the page: the node's open order, its funds frozen
    _place(page, "BUY", "LIMIT", "0.001", "20000")
    expect(page.locator("#order-state")).to_contain_text("NEW")
    status, open_orders = client.signed("GET", "/api/v3/openOrders", symbol="BTCUSDT")
    assert status == 200 and len(open_orders) == 1, open_orders
    order = open_orders[0]
    assert (order["side"], order["type"], order["price"], order["origQty"]) == ("BUY", "LIMIT", "20000.00000000", "0.00100000")
    row = page.locator(f'#open-orders tr[data-key="{order["orderId"]}"]')
    expect(row).to_contain_text("20000.00")
    expect(usdt).to_contain_text("980")  # free 980, locked 20 (outboundAccountPosition)
    expect(usdt).to_contain_text("20")

    # refused: the node's own text next to the form, the field marked; nothing changed
    status, refusal = client.order(symbol="BTCUSDT", side="BUY", type="LIMIT", timeInForce="GTC",
                                   quantity="0.001", price="20000.001")
    assert status == 400, refusal
    _place(page, "BUY", "LIMIT", "0.001", "20000.001")
    expect(page.locator("#order-error")).to_have_text(f"{refusal['msg']} (code {refusal['code']})")
    expect(page.locator("#o-price")).to_have_attribute("aria-invalid", "true")
    status, refusal = client.order(symbol="BTCUSDT", side="BUY", type="LIMIT", timeInForce="GTC",
                                   quantity="1", price="20000")
    assert status == 400 and refusal["code"] == -2010, refusal
    _place(page, "BUY", "LIMIT", "1", "20000")
    expect(page.locator("#order-error")).to_have_text(f"{refusal['msg']} (code -2010)")
    status, open_orders = client.signed("GET", "/api/v3/openOrders", symbol="BTCUSDT")
    assert len(open_orders) == 1, open_orders

    # an order the same account places over REST elsewhere shows live
    status, other = client.order(symbol="BTCUSDT", side="BUY", type="LIMIT", timeInForce="GTC",
                                 quantity="0.002", price="19000")
    assert status == 200, other
    expect(page.locator(f'#open-orders tr[data-key="{other["orderId"]}"]')).to_contain_text("19000.00")
    tab.screenshot("account")

    # cancel from the page (keyboard: focus the button, press Enter)
    page.get_by_role("button", name=f"Cancel order {order['orderId']}").focus()
    page.keyboard.press("Enter")
    expect(row).to_have_count(0)
    status, final = client.signed("GET", "/api/v3/order", symbol="BTCUSDT", orderId=order["orderId"])
    assert status == 200 and final["status"] == "CANCELED", final
    expect(page.locator(f'#history tr[data-key="{order["orderId"]}"]')).to_contain_text("CANCELED")
    expect(usdt).to_contain_text("962")  # 1000 - 0.002 * 19000 still frozen for the other order
    assert _unexpected(tab.problems) == []


def test_a_stop_order_from_the_page_waits_then_triggers_live(tab, page_node):
    rest = page_node.rest
    owner = rest.funded(BTC="1")
    _trade_at(rest, "30000")  # the last price: 30,000
    page = tab.page
    tab.open("account", symbol="BTCUSDT")
    _login(page, owner)
    expect(page.locator("#login-state")).to_contain_text(f"account {owner.account_id}")
    expect(page.locator("#conn")).to_have_class("conn ok")
    btc = page.locator('#balances tr[data-key="BTC"] td')  # asset, free, locked
    expect(btc).to_have_text(["BTC", "1", "0"])

    # the form offers what exchangeInfo lists for the symbol; a stop type shows its stop field
    status, info = rest.public("/api/v3/exchangeInfo", symbol="BTCUSDT")
    assert status == 200, info
    types = info["symbols"][0]["orderTypes"]
    assert "STOP_LOSS_LIMIT" in types
    assert page.locator("#o-type option").all_text_contents() == types
    expect(page.locator("#o-stop")).to_be_hidden()
    page.check("#side-sell", force=True)
    page.select_option("#o-type", "STOP_LOSS_LIMIT")
    expect(page.locator("#o-stop")).to_be_visible()
    expect(page.locator("#o-price")).to_be_visible()
    expect(page.locator("#o-stop-hint")).to_contain_text("falls to the stop price")

    # placed: open with its stop price, not working, its quantity frozen
    _place(page, "SELL", "STOP_LOSS_LIMIT", "0.5", price="28900", stop="29000")
    expect(page.locator("#order-state")).to_contain_text("NEW, waiting for the last price ≤ 29000.00")
    status, open_orders = owner.signed("GET", "/api/v3/openOrders", symbol="BTCUSDT")
    assert status == 200 and len(open_orders) == 1, open_orders
    order = open_orders[0]
    assert (order["type"], order["side"], order["price"], order["stopPrice"], order["origQty"], order["isWorking"]) == (
        "STOP_LOSS_LIMIT", "SELL", "28900.00000000", "29000.00000000", "0.50000000", False), order
    row = page.locator(f'#open-orders tr[data-key="{order["orderId"]}"]')
    expect(row).to_have_attribute("data-working", "false")
    for text in ("STOP_LOSS_LIMIT", "28900.00", "≤ 29000.00", "0.50000", "NEW · waiting for stop"):
        expect(row).to_contain_text(text)
    expect(btc).to_have_text(["BTC", "0.5", "0.5"])
    expect(page.get_by_role("button", name=f"Cancel order {order['orderId']}")).to_have_attribute(
        "aria-label", f"Cancel order {order['orderId']}: SELL 0.5 BTCUSDT at 28900.00, stop ≤ 29000.00")
    tab.screenshot("account-stop-waiting")

    # trades over REST: a bid at 29,000 and a sale into it; the last price reaches the stop, which
    # triggers, sells 0.1 into the rest of that bid and rests with 0.4 at 28,900
    bidder, seller = rest.funded(USDT="100000"), rest.funded(BTC="1")
    status, bid = bidder.order(symbol="BTCUSDT", side="BUY", type="LIMIT", timeInForce="GTC", quantity="0.2", price="29000")
    assert status == 200 and bid["status"] == "NEW", bid
    status, sold = seller.order(symbol="BTCUSDT", side="SELL", type="MARKET", quantity="0.1")
    assert status == 200 and sold["status"] == "FILLED" and sold["fills"][0]["price"] == "29000.00000000", sold
    expect(row).to_have_attribute("data-working", "true")
    expect(row).to_contain_text("PARTIALLY_FILLED · triggered")
    expect(row).to_contain_text("0.10000")
    expect(page.locator(f'#fills tr:has-text("{order["orderId"]}")')).to_contain_text("29000.00")
    status, doc = owner.signed("GET", "/api/v3/order", symbol="BTCUSDT", orderId=order["orderId"])
    assert (doc["status"], doc["executedQty"], doc["isWorking"]) == ("PARTIALLY_FILLED", "0.10000000", True), doc
    tab.screenshot("account-stop-triggered")

    # the rest fills: gone from the open orders, FILLED in the history, the balances as the node has them
    status, bought = bidder.order(symbol="BTCUSDT", side="BUY", type="LIMIT", timeInForce="IOC", quantity="0.4",
                                  price="28900")
    assert status == 200 and bought["status"] == "FILLED", bought
    expect(row).to_have_count(0)
    done = page.locator(f'#history tr[data-key="{order["orderId"]}"]')
    expect(done).to_contain_text("FILLED")
    expect(done).to_contain_text("≤ 29000.00")
    expect(page.locator(f'#fills tr:has-text("{order["orderId"]}")')).to_have_count(2)
    # 0.1 x 29,000 + 0.4 x 28,900 = 14,460, less 0.1% fees
    expect(page.locator('#balances tr[data-key="USDT"] td')).to_have_text(["USDT", "14445.54", "0"])
    expect(btc).to_have_text(["BTC", "0.5", "0"])
    assert _unexpected(tab.problems) == []


def test_a_stop_the_last_price_already_reached_is_refused_beside_the_form(tab, page_node):
    rest = page_node.rest
    owner = rest.funded(BTC="1")
    _trade_at(rest, "30000")
    page = tab.page
    tab.open("account", symbol="BTCUSDT")
    _login(page, owner)
    expect(page.locator("#login-state")).to_contain_text(f"account {owner.account_id}")

    # a SELL STOP_LOSS_LIMIT whose stop is at or above the last price would trigger at once
    status, refusal = owner.order(symbol="BTCUSDT", side="SELL", type="STOP_LOSS_LIMIT", timeInForce="GTC",
                                  quantity="0.5", price="30900", stopPrice="31000")
    assert (status, refusal) == (400, {"code": -2010, "msg": "Stop price would trigger immediately."})
    _place(page, "SELL", "STOP_LOSS_LIMIT", "0.5", price="30900", stop="31000")
    expect(page.locator("#order-error")).to_have_text("Stop price would trigger immediately. (code -2010)")
    expect(page.locator("#o-stop")).to_have_attribute("aria-invalid", "true")
    expect(page.locator("#o-stop")).to_have_attribute("aria-describedby", "order-error o-stop-hint")
    expect(page.locator("#order-state")).to_have_text("")
    tab.screenshot("account-stop-refused")

    # nothing happened: no open order, nothing frozen
    status, open_orders = owner.signed("GET", "/api/v3/openOrders", symbol="BTCUSDT")
    assert (status, open_orders) == (200, []), open_orders
    status, account = owner.signed("GET", "/api/v3/account")
    assert {b["asset"]: (b["free"], b["locked"]) for b in account["balances"]}["BTC"] == ("1.00000000", "0.00000000")
    expect(page.locator("#open-orders")).to_contain_text("No open orders")

    # a stop below the last price is taken; the error and the mark go
    _place(page, "SELL", "STOP_LOSS_LIMIT", "0.5", price="28900", stop="29000")
    expect(page.locator("#order-state")).to_contain_text("waiting for the last price ≤ 29000.00")
    expect(page.locator("#order-error")).to_have_text("")
    expect(page.locator("#o-stop")).not_to_have_attribute("aria-invalid", "true")
    expect(page.locator("#o-stop")).to_have_attribute("aria-describedby", "o-stop-hint")
    page.locator("#cancel-all").click()
    expect(page.locator("#open-orders")).to_contain_text("No open orders")
    assert _unexpected(tab.problems) == []


# the page's REST snapshot of the account lands late: GET /api/v3/openOrders answers `ms` after the
# node did (the snapshot was read when asked, so it is older than what the stream tells meanwhile)
SLOW_SNAPSHOT = """
const ms = %d, fetch0 = window.fetch;
window.__snapshots = 0;
window.fetch = async (url, init) => {
  const resp = await fetch0(url, init);
  if (String(url).startsWith("/api/v3/openOrders?")) {
    await new Promise((done) => setTimeout(done, ms));
    window.__snapshots++;
  }
  return resp;
};
"""


def test_a_late_snapshot_does_not_undo_what_the_stream_showed(tab, page_node):
    client = page_node.rest.funded(USDT="1000")
    page = tab.page
    page.add_init_script(SLOW_SNAPSHOT % 2000)
    tab.open("account", symbol="BTCUSDT")
    _login(page, client)
    expect(page.locator("#conn")).to_have_class("conn ok")  # its snapshot is on its way, 2 s late
    assert page.evaluate("window.__snapshots") == 0
    _place(page, "BUY", "LIMIT", "0.001", "20000")
    expect(page.locator("#order-state")).to_contain_text("NEW")
    status, open_orders = client.signed("GET", "/api/v3/openOrders", symbol="BTCUSDT")
    assert status == 200 and len(open_orders) == 1, open_orders
    order_id = open_orders[0]["orderId"]
    page.wait_for_function("() => window.__snapshots >= 1", timeout=10_000)
    assert page.evaluate("window.__snapshots") == 1, "the order was placed after the snapshot landed"
    # the snapshot (no order, 1000 free) came after the stream's events, which still hold
    expect(page.locator(f'#open-orders tr[data-key="{order_id}"]')).to_contain_text("20000.00")
    expect(page.locator('#balances tr[data-key="USDT"] td')).to_have_text(["USDT", "980", "20"])
    status, _ = client.signed("DELETE", "/api/v3/order", symbol="BTCUSDT", orderId=order_id)
    assert status == 200
    expect(page.locator(f'#open-orders tr[data-key="{order_id}"]')).to_have_count(0)
    assert _unexpected(tab.problems) == []
