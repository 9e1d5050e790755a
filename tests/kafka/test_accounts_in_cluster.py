"""The account registry in the cluster (spot_seda/accountlog.py), against the real three-broker cluster:
reconcile copies the cluster's accounts into a data dir and sends the cluster a data dir's own (an
older node's registry); a writer fenced off by a newer one registers nothing; and a node started on
an empty data dir after its predecessor's box is gone authenticates every account registered there
(HMAC and Ed25519 keys, over REST and Push's WebSocket API), with its balances and orders, and gives
out the next id after them."""

from __future__ import annotations

import asyncio
import base64
import os
import signal
import time

import aiohttp
import pytest
from confluent_kafka.admin import AdminClient, ConfigResource
from cryptography.hazmat.primitives.asymmetric import ed25519

from spot_seda import accountlog, commandlog
from spot_seda.accounts import Accounts
from spot_seda.binance import auth
from tests.conftest import run_node, settings_from
from tests.kafka.test_commandlog_fencing import log_settings, writer
from tests.kafka.test_node_over_kafka import kafka_extra
from tests.node.client import Client, admin, funded_client
from tests.node.conftest import ADMIN_TOKEN, free_port, node_toml, wait_http
from tests.node.test_api_keys import KeyClient, public_pem

QUERY = "symbol=BTCUSDT&side=BUY&timestamp=1"


def in_cluster(settings, count: int) -> dict[int, dict]:
    """accountlog.read once it holds `count` accounts: a read_committed reader sees a transaction's
    records once its commit marker is written, a moment after the writer's commit returned."""
    deadline = time.monotonic() + 15
    while True:
        accounts = accountlog.read(settings)
        if len(accounts) >= count or time.monotonic() > deadline:
            return accounts
        time.sleep(0.1)


def test_reconcile_copies_the_cluster_s_accounts_and_sends_it_a_data_dir_s_own(tmp_path, kafka_cluster):
    settings = log_settings(kafka_cluster)
    ed = ed25519.Ed25519PrivateKey.generate()
    # a node's registry from before it ran with the command log: its accounts go to the cluster
    with Accounts(tmp_path / "old") as accounts:
        hmac_account, ed_account = accounts.create(), accounts.create(public_pem(ed))
        records = accounts.records()
    assert accountlog.reconcile(settings, tmp_path / "old") == (0, 2)
    assert in_cluster(settings, 2) == {1: records[0], 2: records[1]}
    assert accountlog.reconcile(settings, tmp_path / "old") == (0, 0)  # in agreement: nothing to do
    # the topic: one partition on three replicas, min.insync.replicas 2, compacted, kept for ever
    name = accountlog.topic_name(settings)
    client = AdminClient({"bootstrap.servers": kafka_cluster.bootstrap})
    topic = client.list_topics(name, timeout=10).topics[name]
    assert len(topic.partitions) == 1 and len(topic.partitions[0].replicas) == 3
    config = client.describe_configs([ConfigResource(ConfigResource.Type.TOPIC, name)])
    config = {k: v.value for k, v in next(iter(config.values())).result().items()}
    assert (config["cleanup.policy"], config["min.insync.replicas"], config["retention.ms"],
            config["unclean.leader.election.enable"]) == ("compact", "2", "-1", "false")
    # an empty data dir gets every account back, under its id, with its kind of key
    assert accountlog.reconcile(settings, tmp_path / "new") == (2, 0)
    with Accounts(tmp_path / "new") as accounts:
        assert accounts.records() == records
        assert accounts.authenticate(hmac_account.api_key) == hmac_account
        assert accounts.authenticate(ed_account.api_key) == ed_account
        signature = base64.b64encode(ed.sign(QUERY.encode())).decode()
        auth.verify_account_signature(accounts.get(2), QUERY, "", signature)
        third = accounts.create()  # the next id follows the cluster's (here: not yet sent to it)
    assert third.account_id == 3 and 3 not in accountlog.read(settings)
    assert accountlog.reconcile(settings, tmp_path / "new") == (0, 1)  # what the cluster lacks goes to it
    assert in_cluster(settings, 3)[3]["apiKey"] == third.api_key
    assert accountlog.reconcile(settings, tmp_path / "old") == (1, 0)


def test_a_writer_fenced_off_registers_nothing_and_its_registry_takes_the_cluster_s(tmp_path, kafka_cluster):
    """Registrations ride the command log's fenced writer: a zombie's fails (its id may collide with
    its successor's), the successor's holds, and the zombie's data dir, reconciled, takes the
    cluster's account under that id."""
    settings = log_settings(kafka_cluster)
    accountlog.ensure_topic(settings)

    async def register(journal, accounts: Accounts, account_id: int) -> None:
        await journal.send_beside(*accountlog.record(settings, accounts.records(account_id)[0]))

    old_accounts, new_accounts = Accounts(tmp_path / "old"), Accounts(tmp_path / "new")
    old = writer(settings, tmp_path / "old" / "journal")
    try:
        asyncio.run(register(old, old_accounts, old_accounts.create().account_id))
        old.append(b"a command after it")
        old.commit()
        assert in_cluster(settings, 1) == {1: old_accounts.records(1)[0]}
        # a node on another box: as its supervisor does, the accounts reconciled, then its writer
        assert accountlog.reconcile(settings, tmp_path / "new") == (1, 0)  # fences the old writer off
        new = writer(settings, tmp_path / "new" / "journal")
        try:
            zombie = old_accounts.create()
            with pytest.raises(commandlog.CommandLogFenced):
                asyncio.run(register(old, old_accounts, zombie.account_id))
            successor = new_accounts.create()
            assert successor.account_id == zombie.account_id == 2
            asyncio.run(register(new, new_accounts, 2))
        finally:
            new.close()
    finally:
        try:
            old.close()
        except Exception:
            pass
    registered = in_cluster(settings, 2)
    assert registered == {1: old_accounts.records(1)[0], 2: new_accounts.records(2)[0]}
    assert registered[2]["apiKey"] == successor.api_key != zombie.api_key
    old_accounts.close()
    assert accountlog.reconcile(settings, tmp_path / "old") == (1, 0)  # the zombie's account 2 replaced
    with Accounts(tmp_path / "old") as accounts:
        assert accounts.records() == new_accounts.records()
    new_accounts.close()


# ------------------------------------------------------------------------- a node on a new box


async def stable_balances(client: Client) -> dict:
    """The client's balances once two reads a moment apart agree (trades settle asynchronously)."""
    deadline = time.monotonic() + 30
    last = await client.balances()
    while True:
        await asyncio.sleep(0.5)
        now = await client.balances()
        if now == last or time.monotonic() > deadline:
            return now
        last = now


async def ws_api_subscribe(session, ws_base: str, api_key: str, sign) -> dict:
    """userDataStream.subscribe.signature on Push's WebSocket API: authenticated by Push's registry."""
    async with session.ws_connect(f"{ws_base}/ws-api/v3") as ws:
        params = {"apiKey": api_key, "timestamp": int(time.time() * 1000), "recvWindow": 5000}
        params["signature"] = sign(auth.ws_payload(params))
        await ws.send_json({"id": "sub", "method": "userDataStream.subscribe.signature", "params": params})
        return await ws.receive_json(timeout=10)


def test_a_node_on_an_empty_data_dir_authenticates_every_account_registered_before(tmp_path, kafka_cluster):
    """Node A: an HMAC and an Ed25519 account, funded, trade and leave orders open; a third
    account is registered after the last command (nothing after it in the command log carries
    it). A's box is lost (kill -9, data dir never used again). Node B on an empty data dir, same
    cluster and prefix: every key signs as before over REST, Push's WebSocket API knows them, the
    balances and orders are A's, and the next account gets the id after the third."""
    extra = kafka_extra(kafka_cluster)
    settings = settings_from("[bus]\n" + extra)
    first, second = tmp_path / "first", tmp_path / "second"
    first.mkdir()
    (second / "data").mkdir(parents=True)  # a new machine: an empty data dir
    http, ws = free_port(), free_port()
    base, ws_base = f"http://127.0.0.1:{http}", f"ws://127.0.0.1:{ws}"
    ed = ed25519.Ed25519PrivateKey.generate()
    seen: dict = {}

    async def on_a() -> None:
        async with aiohttp.ClientSession() as session:
            maker = await funded_client(session, base, ADMIN_TOKEN, BTC="2", USDT="200000")
            status, acct = await admin(session, base, ADMIN_TOKEN, "/admin/v1/accounts", {"publicKey": public_pem(ed)})
            assert status == 200 and acct["keyType"] == "ED25519" and "secretKey" not in acct, acct
            taker = KeyClient(session, base, acct["apiKey"], ed)
            taker.account_id = acct["accountId"]
            for asset, amount in (("BTC", "3"), ("USDT", "100000")):
                status, doc = await admin(session, base, ADMIN_TOKEN, "/admin/v1/deposit",
                                          {"accountId": taker.account_id, "asset": asset, "amount": amount})
                assert status == 200, doc
            orders = []
            for client, params in (
                    (maker, dict(side="BUY", price="50000", quantity="0.5")),  # partly filled below
                    (taker, dict(side="SELL", price="50000", quantity="0.2")),  # trades with it
                    (taker, dict(side="SELL", price="61000", quantity="0.1")),  # rests
                    (maker, dict(side="BUY", price="40000", quantity="0.3"))):  # rests
                status, doc = await client.order(symbol="BTCUSDT", type="LIMIT", timeInForce="GTC",
                                                 newOrderRespType="RESULT", **params)
                assert status == 200, doc
                orders.append((client, doc["orderId"]))
            status, acct = await admin(session, base, ADMIN_TOKEN, "/admin/v1/accounts")  # after the last command
            assert status == 200, acct
            late = Client(session, base, acct["apiKey"], acct["secretKey"])
            late.account_id = acct["accountId"]
            assert [maker.account_id, taker.account_id, late.account_id] == [1, 2, 3]
            seen["clients"] = {"maker": maker, "taker": taker, "late": late}
            seen["balances"] = {name: await stable_balances(c) for name, c in seen["clients"].items()}
            assert seen["balances"]["taker"]["BTC"] == ("2.70000000", "0.10000000"), seen["balances"]
            seen["orders"] = []
            for client, order_id in orders:
                status, doc = await client.signed("GET", "/api/v3/order", symbol="BTCUSDT", orderId=order_id)
                assert status == 200, doc
                seen["orders"].append((client, order_id, doc))
            assert [doc["status"] for *_, doc in seen["orders"]] == ["PARTIALLY_FILLED", "FILLED", "NEW", "NEW"]

    with run_node(first, node_toml(first / "data", http, ws, extra=extra)) as node:
        wait_http(base, node, timeout=90)
        asyncio.run(on_a())
        os.killpg(node.proc.pid, signal.SIGKILL)  # the box is gone
        node.proc.wait()
    with Accounts(first / "data") as accounts:
        registered = accounts.records()
    assert [r["accountId"] for r in registered] == [1, 2, 3]

    async def on_b() -> None:
        async with aiohttp.ClientSession() as session:
            clients = seen["clients"]
            for client in clients.values():
                client.session = session
            for name, client in clients.items():  # the same keys sign; the same balances
                assert await stable_balances(client) == seen["balances"][name], name
            for client, order_id, doc in seen["orders"]:
                status, now = await client.signed("GET", "/api/v3/order", symbol="BTCUSDT", orderId=order_id)
                assert status == 200 and now == doc, (now, doc)
            # Push's WebSocket API reads the same registry
            reply = await ws_api_subscribe(session, ws_base, clients["maker"].api_key,
                                           lambda payload: auth.sign(clients["maker"].secret, payload))
            assert reply["status"] == 200, reply
            reply = await ws_api_subscribe(session, ws_base, clients["taker"].api_key,
                                           lambda payload: base64.b64encode(ed.sign(payload.encode())).decode())
            assert reply["status"] == 200, reply
            status, acct = await admin(session, base, ADMIN_TOKEN, "/admin/v1/accounts")  # ids go on after A's
            assert status == 200 and acct["accountId"] == 4, acct
            assert acct["apiKey"] not in {r["apiKey"] for r in registered}

    with run_node(second, node_toml(second / "data", http, ws, extra=extra)) as node:
        wait_http(base, node, timeout=120)
        asyncio.run(on_b())
        assert "3 account(s) copied from Kafka" in node.log(), node.log()[-3000:]
        with Accounts(second / "data") as accounts:
            assert accounts.records()[:3] == registered
    kept = in_cluster(settings, 4)
    assert [kept[i] for i in (1, 2, 3)] == registered and kept[4]["accountId"] == 4
