"""The page's pipeline data (GET /page/v1/pipeline, spot_seda/api/page.py) from a node whose stages
talk through a real Kafka broker: the document says the transport is Kafka (the page then labels
each stage's depth "Kafka lag", spot_seda/web/pipeline.js), and every point carries, per stage
instance, its consumer's lag behind the partitions' high watermarks (bus/kafka.py depth(): a count,
never missing) beside the rates, which are non-zero while orders flow. No browser here: tests/page
drives one against the shared-memory node."""

from __future__ import annotations

import asyncio
import time

import aiohttp

from spot_seda.api.page import POINT_FIELDS
from tests.conftest import run_node
from tests.kafka import test_node_over_kafka as over_kafka  # (a module name: its tests are not collected here)
from tests.node.client import funded_client
from tests.node.conftest import ADMIN_TOKEN, free_port, node_toml, wait_http, wait_listening

F = {name: i for i, name in enumerate(POINT_FIELDS)}
ROWS = ["acquiring-0", "match-0", "kline-0", "settlement-0", "persist-0", "push-0"]


def test_the_pipeline_document_reports_kafka_and_every_stage_lag(tmp_path, kafka_broker):
    http, ws = free_port(), free_port()
    toml = node_toml(tmp_path / "data", http, ws, extra=over_kafka.kafka_extra(kafka_broker))

    async def scenario(base: str) -> None:
        async with aiohttp.ClientSession() as session:
            async def pipeline(**params) -> dict:
                async with session.get(base + "/page/v1/pipeline", params=params) as resp:
                    assert resp.status == 200 and resp.headers["Cache-Control"] == "no-store"
                    return await resp.json()

            doc = await pipeline()
            assert doc["transport"] == "kafka"
            assert doc["rows"] == ROWS and doc["fields"] == list(POINT_FIELDS) and "depth" in doc["fields"]
            assert {(e["from"], e["to"], e["topic"]) for e in doc["graph"]["edges"]} >= {
                ("acquiring", "match", "OrderChangeLog"), ("match", "settlement", "TradeChangeLog")}
            async with session.get(base + "/") as resp:  # the page itself, as in the other mode
                assert resp.status == 200 and 'id="view-pipeline"' in await resp.text()

            seller = await funded_client(session, base, ADMIN_TOKEN, BTC="10")
            buyer = await funded_client(session, base, ADMIN_TOKEN, USDT="100000")
            seen: set[str] = set()
            points: list[dict] = []
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline and len(seen) < 4:
                for who, side in ((seller, "SELL"), (buyer, "BUY")):
                    status, answer = await who.order(symbol="BTCUSDT", side=side, type="LIMIT", timeInForce="GTC",
                                                     quantity="0.001", price="30000")
                    assert status == 200, answer
                await asyncio.sleep(0.3)
                doc = await pipeline(since=str(doc["now"] - 5000))
                points += doc["points"]
                for point in doc["points"]:
                    for name, values in zip(doc["rows"], point["v"]):
                        if values[F["in_per_s"]]:
                            seen.add(name)
            # every stage downstream of Acquiring took entries in, over Kafka
            assert {"match-0", "kline-0", "settlement-0", "persist-0"} <= seen, (seen, doc)
            # each instance's lag, in every point: a whole number of messages, as the consumer counts it
            assert points
            for point in points:
                assert len(point["v"]) == len(ROWS)
                for name, values in zip(ROWS, point["v"]):
                    lag = values[F["depth"]]
                    assert isinstance(lag, int) and lag >= 0, (name, point)
            assert [values[F["up"]] for values in points[-1]["v"]] == [1] * len(ROWS), points[-1]
            assert all(r["pid"] > 0 and r["queue_depth"] >= 0 for r in doc["latest"]), doc["latest"]
            assert [r["stage"] for r in doc["latest"]] == ROWS

    with run_node(tmp_path, toml) as proc:
        base = f"http://127.0.0.1:{http}"
        wait_http(base, proc, timeout=60)
        wait_listening(ws, proc, timeout=60)  # Push too: every stage is up before the first point
        asyncio.run(scenario(base))
