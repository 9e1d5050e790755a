"""The account view in a real browser against a real node: a wrong secret shows the node's error;
with the right one, an order placed from the page is the node's open order (and changes the balance
as the API would), a refused one shows the node's own error text next to the form, a cancel from
the page cancels it, and what the account does over REST elsewhere shows live (user data stream)."""

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


def _place(page, side: str, type_: str, quantity: str, price: str | None = None) -> None:
    page.check(f"#side-{side.lower()}", force=True)
    page.select_option("#o-type", type_)
    if price is not None:
        page.fill("#o-price", price)
    page.fill("#o-qty", quantity)
    page.click("#order-button")


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
