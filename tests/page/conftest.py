"""The page tests: a real node (`python run.py`, every stage its own process) and a real headless
Chromium (Debian's, driven by Playwright; installed with apt-get on first use, tests/page/browser.py),
one of each for this package. Screenshots of each view are saved under ARTIFACTS.

Package scope, not session: while Playwright's sync API runs, its event loop is the thread's running
loop, and the other packages' `asyncio.run` would fail; it must be gone when tests/page ends."""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import time
import urllib.error
import urllib.request
from pathlib import Path
from urllib.parse import urlencode

import pytest

from tests.conftest import run_node
from tests.node.conftest import ADMIN_TOKEN, free_port, node_toml, wait_http, wait_listening

from .browser import ensure_chromium

#: where the screenshots go (CI keeps this folder as the test artifacts)
ARTIFACTS = Path(os.environ.get("SPOT_SEDA_PAGE_ARTIFACTS", Path(__file__).parent / "artifacts"))


class Rest:
    """A small synchronous Binance-style client (urllib: Playwright's sync API owns the test's
    thread, so no asyncio here). `signed` raises nothing: it returns (status, document)."""

    def __init__(self, base: str, api_key: str = "", secret: str = "") -> None:
        self.base, self.api_key, self.secret = base, api_key, secret

    def _call(self, method: str, url: str, data: bytes | None = None, headers: dict | None = None):
        req = urllib.request.Request(url, data=data, method=method, headers=headers or {})
        try:
            with urllib.request.urlopen(req, timeout=15) as resp:
                return resp.status, json.loads(resp.read() or b"null")
        except urllib.error.HTTPError as exc:
            return exc.code, json.loads(exc.read() or b"null")

    def public(self, path: str, **params):
        return self._call("GET", f"{self.base}{path}?{urlencode(params)}")

    def signed(self, method: str, path: str, **params):
        params.setdefault("timestamp", int(time.time() * 1000))
        payload = urlencode(params)
        sig = hmac.new(self.secret.encode(), payload.encode(), hashlib.sha256).hexdigest()
        return self._call(method, f"{self.base}{path}?{payload}&signature={sig}", headers={"X-MBX-APIKEY": self.api_key})

    def order(self, **params):
        return self.signed("POST", "/api/v3/order", **params)

    def admin(self, path: str, doc: dict):
        return self._call("POST", self.base + path, json.dumps(doc).encode(),
                          {"X-Admin-Token": ADMIN_TOKEN, "Content-Type": "application/json"})

    def funded(self, **amounts: str) -> "Rest":
        """A new account with these deposits, as a client of its own."""
        status, acct = self.admin("/admin/v1/accounts", {})
        assert status == 200, acct
        for asset, amount in amounts.items():
            status, doc = self.admin("/admin/v1/deposit", {"accountId": acct["accountId"], "asset": asset, "amount": amount})
            assert status == 200, doc
        client = Rest(self.base, acct["apiKey"], acct["secretKey"])
        client.account_id = acct["accountId"]
        return client


@pytest.fixture(scope="package")
def page_node(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("page-node")
    http, ws = free_port(), free_port()
    # (node_toml leaves shedding on the loop lag off: the page tests share the machine with a browser)
    toml = node_toml(tmp / "data", http, ws)
    with run_node(tmp, toml) as proc:
        base = f"http://127.0.0.1:{http}"
        wait_http(base, proc)
        wait_listening(ws, proc)
        proc.base = base
        proc.rest = Rest(base)
        yield proc


@pytest.fixture(scope="package")
def browser():
    try:
        executable, problem = ensure_chromium(), None
    except RuntimeError as exc:
        executable, problem = None, str(exc)
    if problem:  # a failure, never a skip: CI must not pass without the browser tests
        pytest.fail(f"the page tests need a Chromium: {problem}", pytrace=False)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        args = ["--no-sandbox"] if os.geteuid() == 0 else []  # Chromium's sandbox refuses to run as root
        browser = pw.chromium.launch(executable_path=executable, headless=True, args=args)
        yield browser
        browser.close()


class PageUnderTest:
    """A browser tab on the node's page, recording console errors and uncaught exceptions."""

    def __init__(self, page, base: str) -> None:
        self.page = page
        self.base = base
        self.problems: list[str] = []
        page.on("console", lambda m: m.type in ("error", "warning") and self.problems.append(f"console {m.type}: {m.text}"))
        page.on("pageerror", lambda e: self.problems.append(f"uncaught: {e}"))

    def open(self, view: str = "market", **query: str) -> None:
        qs = f"?{urlencode(query)}" if query else ""
        self.page.goto(f"{self.base}/{qs}#{view}")

    def screenshot(self, name: str) -> Path:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        path = ARTIFACTS / f"{name}.png"
        self.page.screenshot(path=str(path), full_page=True)
        return path


@pytest.fixture
def tab(browser, page_node):
    context = browser.new_context(viewport={"width": 1366, "height": 900})
    page = context.new_page()
    page.set_default_timeout(10_000)
    under_test = PageUnderTest(page, page_node.base)
    yield under_test
    context.close()
