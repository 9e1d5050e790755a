"""Failover benchmark (issue 15): how long orders on a symbol go unanswered when the machine that runs
its Match (or Settlement) instance is killed -9 and another machine takes that instance over, as a
REST client sees it.

What runs, per run (`--runs`): a three-broker KRaft cluster on this box (spot_seda.kafka_broker,
started once for all runs; `--kafka-bootstrap` uses an existing one), and the node as three
"machines": separate `run.py` supervisors with separate data dirs, sharing nothing but the cluster
(configs/kafka.toml with `bus.partitions` 2 and a fresh topic prefix per run):
  A   every stage but the one under test (`--stage`: match, the default, or settlement); Acquiring
      serves the HTTP API and snapshots every `--entry-snapshot-interval` s (default: the file's 10)
  M0  `--stage match --instance 0 --take-over`: the instance that owns ETHUSDT's partition
  M1  `--stage match --instance 1 --take-over`: BTCUSDT's
Each M keeps its instance's state in the cluster every `--snapshot-interval` s (its
journal.snapshot_interval_s) and reads, once a second, when the other's was last kept: an instance
whose state is older than `--take-over-after` s (runtime.take_over_after_s) is started there, from
that state, reading on from the input positions it names.

Load: open loop at `--rate` orders/s (aiohttp, signed POST /api/v3/order, newOrderRespType=RESULT),
alternately on BTCUSDT and ETHUSDT, from four accounts; per symbol in pairs, a GTC maker at the mid
and an IOC taker through it on the other side (Match fills it; a final order is answered once
Settlement has released what it left frozen). Every order has a scheduled send time and its answer
time counts from then, so a late send is not hidden. After `--seconds-before` s, M1 (BTCUSDT's) is
killed -9, process group and all; the load goes on for `--seconds-after` s.

Measured, per run (times from the kill):
  failover        until the first answer to a BTCUSDT order sent after the kill that went through
                  the failed stage (Match: any order; Settlement: a taker)
  taken over      until M0's supervisor started the instance (its log), with the age of the
                  instance's last kept state at the kill; restored: until it had loaded that state
  backlog         until every BTCUSDT order sent before the failover ended was answered
  longest answer  of any order, per symbol; the median answer in the 5 s before the kill
  entry paused    how long an Acquiring snapshot on A held order entry during the failover: its
                  marker must pass every Match and Settlement instance, the dead one too, so one
                  that starts in the outage holds every symbol's orders until the take-over
  orders answered per second over time, per symbol (the plot)
Checks, after the load: every acknowledged order exactly once in A's history; every order whose
fate its client could not know (no answer, -1007, a 5xx) and every shed one (-1003) looked up by
its client order id (a shed one must not exist); the history's trades, orders and balances and
Acquiring's balances (REST) equal to an in-process replay of A's journal (nothing lost, nothing
applied twice); of each symbol's orders sent from a second after the failover on, at least half
accepted (the rest shed, -1003) and none of unknown fate (trading went on); no instance on M0
killed for a stalled heartbeat (if one is, its stages' stacks go to its folder's stacks.txt, by
py-spy when installed). A run that fails keeps its machines' logs and data dirs.

Output: progress lines, a table per run and the medians; `--plot` (bench/out/failover.png): orders
answered per second and each order's answer time over each run, the kill, the take-over and the
first answer after it marked; `--json FILE` with every figure.

    python bench/failover.py --runs 3 [--stage settlement] [--rate 100] [--json out.json]
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import hmac
import json
import os
import platform
import re
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from urllib.parse import urlencode

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from nodeconfig import with_keys  # noqa: E402
from spot_seda.kafka_broker.node import free_port  # noqa: E402

OUT = ROOT / "bench" / "out"
TOKEN = "bench-token"
STAGES = ("acquiring", "match", "kline", "settlement", "persist", "push")
#: per symbol: (the mid price orders trade at, the quantity of each order)
SYMBOLS = {"BTCUSDT": ("50000", "0.001"), "ETHUSDT": ("3000", "0.01")}
#: the symbol whose instance is killed (the other one's goes on, on the other machine)
VICTIM_SYMBOL = "BTCUSDT"
DEPOSITS = {"BTC": "100", "ETH": "1000", "USDT": "10000000"}
#: a request not answered by then counts as unanswered (the node answers within result_timeout_s)
CLIENT_TIMEOUT_S = 30.0
#: the plot's bins (s)
BIN_S = 0.25
#: a node's log lines begin with the wall clock to the millisecond (runtime/cli.py's logging format)
LOG_TIME = r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}) "


def log_time(stamp: str) -> float:
    """A log line's time (local wall clock, as time.time())."""
    return datetime.strptime(stamp, "%Y-%m-%d %H:%M:%S,%f").timestamp()


# ------------------------------------------------------------------------------------ machines


class Machine:
    """One `run.py` supervisor in its own process group, data dir and log: a machine of the node."""

    def __init__(self, name: str, folder: Path, config: str, args: list[str]) -> None:
        self.name, self.folder = name, folder
        folder.mkdir(parents=True)
        (folder / "node.toml").write_text(config)
        self.data = folder / "data"
        self.log_path = folder / "node.log"
        self.http = free_port()
        with open(self.log_path, "wb") as log:
            self.proc = subprocess.Popen(
                [sys.executable, str(ROOT / "run.py"), "--config", str(folder / "node.toml"), "--data-dir",
                 str(self.data), "--http-port", str(self.http), "--ws-port", str(free_port()), *args],
                cwd=ROOT, env=dict(os.environ, SPOT_SEDA_ADMIN_TOKEN=TOKEN), stdout=log, stderr=subprocess.STDOUT,
                start_new_session=True)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def stage_pids(self) -> dict[str, int]:
        from spot_seda.runtime.metrics import open_from_manifest

        try:
            return {row["stage"]: int(row["pid"]) for row in open_from_manifest(self.data).snapshot()}
        except (OSError, ValueError, KeyError):
            return {}

    def check_alive(self, what: str) -> None:
        if self.proc.poll() is not None:
            raise SystemExit(f"{self.name} exited ({self.proc.returncode}) {what}:\n{self.log()[-3000:]}")

    def dump_stacks(self) -> None:
        """Every stage process's Python and native stacks (py-spy, when installed) into stacks.txt."""
        if shutil.which("py-spy") is None:
            return
        children = subprocess.run(["pgrep", "-P", str(self.proc.pid)], capture_output=True, text=True).stdout.split()
        with open(self.folder / "stacks.txt", "a") as out:
            for pid in children:
                out.write(f"== pid {pid}\n")
                out.flush()
                try:
                    subprocess.run(["py-spy", "dump", "--native", "--pid", pid], stdout=out, stderr=subprocess.STDOUT,
                                   timeout=30, check=False)
                except subprocess.TimeoutExpired:
                    out.write("(py-spy took over 30 s)\n")

    def kill(self) -> None:
        """kill -9 the supervisor and every stage of it: the machine is gone."""
        os.killpg(self.proc.pid, signal.SIGKILL)

    def stop(self, grace: float = 60.0) -> None:
        """SIGTERM (the stages drain and stop in flow order), SIGKILL to the group after `grace` s."""
        if self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGTERM)
                self.proc.wait(grace)
            except subprocess.TimeoutExpired:
                print(f"  {self.name} did not stop within {grace:.0f} s: killed", flush=True)
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)  # whatever of the group is left
        except ProcessLookupError:
            pass
        self.proc.wait()


def config_text(args, bootstrap: str, prefix: str, snapshot_interval: float | None) -> str:
    """configs/kafka.toml as a user runs it, split in two partitions, with the run's cluster and
    take-over settings and `snapshot_interval` (None: the file's); rate limits off (one bench IP is
    not a crowd: bench/nodeconfig.py) and the whole journal kept (the replay check reads it all)."""
    text = (ROOT / "configs" / "kafka.toml").read_text()
    replicas = min(3, len(bootstrap.split(",")))
    text = with_keys(text, "bus", {"partitions": 2})
    text = with_keys(text, "kafka", {"bootstrap_servers": bootstrap, "topic_prefix": prefix,
                                     "replication_factor": replicas, "min_insync_replicas": min(2, replicas)})
    text = with_keys(text, "runtime", {"take_over_after_s": args.take_over_after, "restart_backoff_max_s": 0.5})
    text = with_keys(text, "runtime.instances", {args.stage: 2})
    journal = {"rotate": False} | ({} if snapshot_interval is None else {"snapshot_interval_s": snapshot_interval})
    text = with_keys(text, "journal", journal)
    return with_keys(text, "rate_limits", {"enabled": False})


# ------------------------------------------------------------------------------------- orders


@dataclass(slots=True)
class Order:
    """One order of the load, what was sent and what came back (times in s from the load's start)."""

    n: int
    symbol: str
    taker: bool
    side: str
    account: int
    cid: str
    at: float  # its scheduled send
    answered: float | None = None
    status: int | None = None  # HTTP status; None: no answer
    code: int | None = None
    order_id: int | None = None

    @property
    def latency(self) -> float | None:
        return None if self.answered is None else self.answered - self.at


class Accounts:
    """The load's four accounts: 0 rests buys, 1 rests sells, 2 takes with sells, 3 with buys (no
    account ever meets its own order, so self-trade prevention never expires one)."""

    def __init__(self, base: str) -> None:
        self.base = base
        self.keys: list[dict] = []

    def open(self) -> None:
        for _ in range(4):
            acct = admin_post(self.base + "/admin/v1/accounts", {})
            for asset, amount in DEPOSITS.items():
                admin_post(self.base + "/admin/v1/deposit", {"accountId": acct["accountId"], "asset": asset,
                                                             "amount": amount})
            self.keys.append(acct)

    def signed(self, account: int, params: dict) -> tuple[str, dict]:
        """(query string with its signature, headers) of a signed request of `account`."""
        acct = self.keys[account]
        query = urlencode(params | {"timestamp": int(time.time() * 1000), "recvWindow": 60000})
        sig = hmac.new(acct["secretKey"].encode(), query.encode(), hashlib.sha256).hexdigest()
        return f"{query}&signature={sig}", {"X-MBX-APIKEY": acct["apiKey"]}


def admin_post(url: str, doc: dict) -> dict:
    req = urllib.request.Request(url, data=json.dumps(doc).encode(),
                                 headers={"X-Admin-Token": TOKEN, "Content-Type": "application/json"})
    return json.loads(urllib.request.urlopen(req, timeout=30).read())


def make_order(n: int, at: float, run_id: str) -> Order:
    """The n-th order: symbols alternate; per symbol, pair k is a maker (GTC at the mid, a buy for
    even k) and a taker on the other side."""
    symbol = list(SYMBOLS)[n % 2]
    k, taker = divmod(n // 2, 2)
    maker_side = "BUY" if k % 2 == 0 else "SELL"
    side = maker_side if not taker else ("SELL" if maker_side == "BUY" else "BUY")
    account = (0 if side == "BUY" else 1) if not taker else (2 if side == "SELL" else 3)
    return Order(n, symbol, bool(taker), side, account, f"fo{run_id}-{n}", at)


def order_params(o: Order) -> dict:
    mid, qty = SYMBOLS[o.symbol]
    price = Decimal(mid)
    if o.taker:  # 1% through the mid: it takes a resting maker at the maker's price
        price = price * (Decimal("1.01") if o.side == "BUY" else Decimal("0.99"))
    return {"symbol": o.symbol, "side": o.side, "type": "LIMIT", "timeInForce": "IOC" if o.taker else "GTC",
            "quantity": qty, "price": f"{price:.2f}", "newOrderRespType": "RESULT", "newClientOrderId": o.cid}


# ---------------------------------------------------------------------------------- the load


class Load:
    """The open loop, the kill in the middle of it, and the progress lines."""

    def __init__(self, args, accounts: Accounts, victim: Machine, survivor: Machine, label: str, run_id: str) -> None:
        self.args, self.accounts, self.victim, self.survivor, self.label = args, accounts, victim, survivor, label
        self.run_id = run_id
        self.orders: list[Order] = []
        self.kill_at: float | None = None  # s from the start
        self.began_perf = self.began_wall = 0.0
        self.events: dict[str, float] = {}  # what was seen when, s from the start
        self.dumped = False

    def now(self) -> float:
        return time.perf_counter() - self.began_perf

    async def run(self) -> None:
        import aiohttp

        args = self.args
        seconds = args.seconds_before + args.seconds_after
        timeout = aiohttp.ClientTimeout(total=CLIENT_TIMEOUT_S)
        # no limit on connections: an order waiting for the failed instance must not hold up the
        # other symbol's behind it in the client
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0), timeout=timeout) as session:
            self.session = session
            self.began_perf = time.perf_counter() + 0.2
            self.began_wall = time.time() + (self.began_perf - time.perf_counter())
            ticker = asyncio.ensure_future(self._ticker())
            killer = asyncio.ensure_future(self._kill_at(args.seconds_before))
            pending: set[asyncio.Task] = set()
            n = 0
            while True:
                at = n / args.rate
                if at >= seconds:
                    break
                delay = at - self.now()
                if delay > 0:
                    await asyncio.sleep(delay)
                order = make_order(n, at, self.run_id)
                self.orders.append(order)
                task = asyncio.ensure_future(self._send(order))
                pending.add(task)
                task.add_done_callback(pending.discard)
                n += 1
            await killer
            if pending:
                await asyncio.wait(pending, timeout=CLIENT_TIMEOUT_S + 5)
            ticker.cancel()
            self._progress()

    async def _send(self, o: Order) -> None:
        import aiohttp

        query, headers = self.accounts.signed(o.account, order_params(o))
        try:
            async with self.session.post(f"{self.accounts.base}/api/v3/order?{query}", headers=headers) as resp:
                doc = await resp.json(content_type=None)
                o.status, o.code, o.order_id = resp.status, doc.get("code"), doc.get("orderId")
        except (asyncio.TimeoutError, aiohttp.ClientError, ValueError):
            pass
        if o.status is not None:
            o.answered = self.now()

    async def _kill_at(self, at: float) -> None:
        await asyncio.sleep(max(0.0, at - self.now()))
        self.victim.kill()
        self.kill_at = self.now()
        print(f"  t={self.kill_at:5.1f}s  kill -9 {self.victim.name} ({self.label}, {VICTIM_SYMBOL}'s partition)",
              flush=True)
        await asyncio.get_running_loop().run_in_executor(None, self.victim.proc.wait)

    async def _ticker(self) -> None:
        while True:
            await asyncio.sleep(1.0)
            self._progress()

    def _progress(self) -> None:
        """One line of counts, and a line for each event seen since the last one."""
        if self.kill_at is not None and not self.dumped and "sent no heartbeat" in self.survivor.log():
            self.dumped = True  # the survivor's instances stall: what they wait for, while they do
            print(f"  t={self.now():5.1f}s  {self.survivor.name} killed a stalled instance: its stages' stacks go "
                  f"to {self.survivor.folder / 'stacks.txt'} (py-spy)", flush=True)
            threading.Timer(3.0, self.survivor.dump_stacks).start()
        if self.kill_at is not None:
            said = {"taken_over": f"{self.survivor.name} took {self.label} over", "restored": f"{self.label} restored",
                    "answered_again": f"{VICTIM_SYMBOL} answered again"}
            for name, at in self.timeline().items():
                if name not in self.events and at is not None:
                    self.events[name] = at
                    print(f"  t={at:5.1f}s  {said[name]} (+{at - self.kill_at:.2f} s after the kill)", flush=True)
        answered = {s: sum(1 for o in self.orders if o.symbol == s and o.status == 200) for s in SYMBOLS}
        waiting = sum(1 for o in self.orders if o.answered is None)
        other = sum(1 for o in self.orders if o.status is not None and o.status != 200)
        print(f"  t={self.now():5.1f}s  sent {len(self.orders):,}  answered " + ", ".join(f"{s} {c:,}" for s, c in
              answered.items()) + f"  waiting {waiting:,}  refused or failed {other:,}", flush=True)

    def timeline(self) -> dict[str, float | None]:
        """When, after the kill, the survivor took the instance over and restored it (its log), and
        the victim's symbol was answered again (s from the start)."""
        text = self.survivor.log()
        taken = re.search(LOG_TIME + rf".*🛟 \S+ {re.escape(self.label)} kept no state for ([\d.]+)s", text, re.M)
        restored = [log_time(m[1]) - self.began_wall for m in
                    re.finditer(LOG_TIME + rf".*📦 {re.escape(self.label)} restored from its kept state", text, re.M)]
        return {"taken_over": log_time(taken[1]) - self.began_wall if taken else None,
                "restored": min((t for t in restored if t >= self.kill_at), default=None),
                "answered_again": self.answered_again()}

    def kept_age_at_kill(self) -> float | None:
        """How old the victim instance's kept state was at the kill (the survivor's log says how
        old it was when it took over)."""
        m = re.search(LOG_TIME + rf".*🛟 \S+ {re.escape(self.label)} kept no state for ([\d.]+)s", self.survivor.log(),
                      re.M)
        if m is None:
            return None
        return float(m[2]) - (log_time(m[1]) - self.began_wall - self.kill_at)

    def answered_again(self) -> float | None:
        """The first answer to an order of the victim's symbol sent after the kill that went
        through the failed stage: Match answers every order; Settlement holds a taker's answer until
        it has released what the order left frozen (a resting maker is answered without it)."""
        times = [o.answered for o in self.orders if o.symbol == VICTIM_SYMBOL and o.at >= self.kill_at
                 and o.status == 200 and (self.args.stage == "match" or o.taker)]
        return min(times, default=None)


# ------------------------------------------------------------------------------------- checks


async def look_up(accounts: Accounts, orders: list[Order]) -> dict[str, int]:
    """Each order whose client could not know its fate (no answer, -1007, another 5xx), and each
    shed one (-1003), looked up by its client order id."""
    import aiohttp

    sem = asyncio.Semaphore(16)
    out: dict[str, int] = {}

    async def one(o: Order, session) -> None:
        query, headers = accounts.signed(o.account, {"symbol": o.symbol, "origClientOrderId": o.cid})
        kind = "shed" if o.code == -1003 else "unknown fate"
        try:
            async with sem, session.get(f"{accounts.base}/api/v3/order?{query}", headers=headers) as resp:
                found = {200: "found", 400: "not found"}.get(resp.status, f"lookup answered {resp.status}")
        except (asyncio.TimeoutError, aiohttp.ClientError):
            found = "lookup not answered"
        out[f"{kind} {found}"] = out.get(f"{kind} {found}", 0) + 1

    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=CLIENT_TIMEOUT_S)) as session:
        await asyncio.gather(*(one(o, session) for o in orders if o.status is None or o.status >= 500))
    return out


def rest_balances(accounts: Accounts) -> dict[int, dict[str, tuple[int, int]]] | None:
    """Acquiring's balances of each account (free, locked), in 10^-8 units, once two reads a second
    apart agree (the last settlements have come back); None when they are not served within 30 s."""
    def read() -> dict[int, dict[str, tuple[int, int]]] | None:
        out = {}
        for i, acct in enumerate(accounts.keys):
            query, headers = accounts.signed(i, {})
            req = urllib.request.Request(f"{accounts.base}/api/v3/account?{query}", headers=headers)
            try:
                doc = json.loads(urllib.request.urlopen(req, timeout=CLIENT_TIMEOUT_S).read())
            except OSError:  # (urllib's HTTPError too: a 503 while the node is stuck)
                return None
            out[acct["accountId"]] = {b["asset"]: (int(Decimal(b["free"]) * 10**8), int(Decimal(b["locked"]) * 10**8))
                                      for b in doc["balances"]}
        return out
    last = read()
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        time.sleep(1.0)
        now = read()
        if now is not None and now == last:
            return now
        last = now
    return None


#: what a run leaves in its history that must equal a replay of its journal
TABLES = {
    "trades": "SELECT * FROM trades ORDER BY symbol, trade_id",
    "balances": "SELECT account, asset, sum(available_delta), sum(frozen_delta) FROM balance_changes GROUP BY 1, 2 "
                "ORDER BY 1, 2",
    "orders": "SELECT * FROM orders ORDER BY order_id",
    "prevented matches": "SELECT * FROM prevented_matches ORDER BY symbol, prevented_match_id",
}


def tables(path: Path) -> dict[str, list[tuple]]:
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        return {name: db.execute(sql).fetchall() for name, sql in TABLES.items()}
    finally:
        db.close()


def replayed(config: Path, data: Path, scratch: Path) -> dict[str, list[tuple]]:
    """The history an in-process replay of A's journal writes (every stage in this process)."""
    from spot_seda.config import load_settings
    from spot_seda.journal import Journal
    from spot_seda.model.commands import Command
    from spot_seda.runtime.inproc import InprocPipeline
    from spot_seda.runtime.replay import apply_commands

    settings = load_settings(str(config))
    settings.bus.transport = "inproc"
    inproc = InprocPipeline(settings, scratch)
    apply_commands(inproc, (cmd for _pos, cmd in Journal.read_structs(data / "journal", Command)), journaled=True)
    inproc.stop()
    return tables(scratch / "history.sqlite")


def check(load: Load, a: Machine, balances: dict, found: dict[str, int], scratch: Path) -> dict:
    """After the machines stopped: A's history against the orders' answers and a replay."""
    acked = {o.order_id for o in load.orders if o.status == 200}
    db = sqlite3.connect(f"file:{a.data / 'history.sqlite'}?mode=ro", uri=True)
    try:
        counts = dict(db.execute("SELECT order_id, COUNT(*) FROM orders GROUP BY order_id"))
    finally:
        db.close()
    live, again = tables(a.data / "history.sqlite"), replayed(a.folder / "node.toml", a.data, scratch / "replay")
    replay_balances: dict[int, dict[str, tuple[int, int]]] = {}
    for account, asset, available, frozen in again["balances"]:
        replay_balances.setdefault(account, {})[asset] = (available, frozen)
    rest_equal = balances is not None and all(
        {k: v for k, v in held.items() if v != (0, 0)} ==
        {k: v for k, v in replay_balances.get(account, {}).items() if v != (0, 0)} for account, held in balances.items())
    out = {
        "acknowledged": len(acked),
        "acknowledged_once": sum(1 for i in acked if counts.get(i) == 1),
        "acknowledged_missing": sorted(i for i in acked if i not in counts)[:20],
        "acknowledged_more_than_once": sorted(i for i in acked if counts.get(i, 0) > 1)[:20],
        "looked_up": found,
        "history_equals_replay": {name: live[name] == again[name] for name in TABLES},
        "trades": len(live["trades"]),
        "rest_balances_equal_replay": rest_equal,
    }
    out["ok"] = (out["acknowledged_once"] == len(acked) > 0 and all(out["history_equals_replay"].values())
                 and rest_equal and set(found) <= {"shed not found", "unknown fate found", "unknown fate not found"})
    return out


# ---------------------------------------------------------------------------------------- a run


def one_run(args, bootstrap: str, index: int, scratch: Path) -> dict:
    from spot_seda.bus.base import partition_for

    run_id = f"{index}{os.getpid() % 1000}"
    prefix = f"failover{os.getpid()}r{index}_{time.monotonic_ns() % 10**6}."
    config = config_text(args, bootstrap, prefix, args.snapshot_interval)
    folder = scratch / f"run{index}"
    stage = args.stage
    victim_index = partition_for(VICTIM_SYMBOL, 2) % 2
    label = f"{stage}-{victim_index}"
    print(f"\n== run {index}: {stage} over two machines; {label} ({VICTIM_SYMBOL}) will be killed; topics {prefix}*",
          flush=True)
    started = time.perf_counter()
    machines: list[Machine] = []
    try:
        a = Machine("A", folder / "a", config_text(args, bootstrap, prefix, args.entry_snapshot_interval),
                    ["--stage", ",".join(s for s in STAGES if s != stage)])
        machines.append(a)
        ms = [Machine(f"M{i}", folder / f"m{i}", config, ["--stage", stage, "--instance", str(i), "--take-over"])
              for i in range(2)]
        machines += ms
        victim, survivor = ms[victim_index], ms[1 - victim_index]
        base = f"http://127.0.0.1:{a.http}"
        deadline = time.monotonic() + 120
        while True:  # every machine up: A's HTTP answers, each M runs its instance
            for m in machines:
                m.check_alive("while starting")
            up = [m for i, m in enumerate(ms) if m.stage_pids().get(f"{stage}-{i}")]
            try:
                urllib.request.urlopen(base + "/api/v3/ping", timeout=1).read()
                if len(up) == 2:
                    break
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise SystemExit("the machines did not come up within 120 s:\n" + a.log()[-3000:])
            time.sleep(0.2)
        print(f"  machines up in {time.perf_counter() - started:.1f} s (A: {a.folder}, M0, M1)", flush=True)
        accounts = Accounts(base)
        accounts.open()
        load = Load(args, accounts, victim, survivor, label, run_id)
        print(f"  load: {args.rate:g} orders/s, open loop, {args.seconds_before:g} s before the kill and "
              f"{args.seconds_after:g} s after", flush=True)
        import uvloop

        uvloop.run(load.run())
        found = uvloop.run(look_up(accounts, load.orders))
        balances = rest_balances(accounts)
        timeline = load.timeline()
        kept_age = load.kept_age_at_kill()
        # the log's times are wall clock, mapped to the bench's clock once at the start: a wall clock
        # that moved against it since makes them wrong by as much
        drift = (time.time() - time.perf_counter()) - (load.began_wall - load.began_perf)
        if abs(drift) > 0.05:
            print(f"  the wall clock moved {drift:+.3f} s against the bench's clock during the run: "
                  "the times read from the logs are off by up to that", flush=True)
        again = timeline["answered_again"]
        if again is not None and any(t is not None and t > again for t in (timeline["taken_over"], timeline["restored"])):
            print(f"  out of order: {VICTIM_SYMBOL} answered again at t={again:.3f}s, before the take-over or the "
                  f"restore in {survivor.name}'s log; its lines about {label}, and the others' warnings:", flush=True)
            said = [f"    {m.name}: {line[:300]}" for m in machines for line in m.log().splitlines()
                    if label in line and ("🛟" in line or "📦" in line) or "WARNING" in line or "CRITICAL" in line]
            print("\n".join(said[:60]), flush=True)
        pauses = entry_pauses(a, load.began_wall)
        stalls = survivor.log().count("sent no heartbeat")
        if stalls:
            print(f"  {survivor.name}'s supervisor killed {stalls} stalled stage instance(s) after the take-over "
                  f"(its log: {survivor.log_path})", flush=True)
        outage_end = load.answered_again() or load.kill_at
        for at, paused in pauses:
            if at < outage_end and at + paused / 1e3 > load.kill_at:
                print(f"  t={at:5.1f}s  A's Acquiring snapshotted during the failover: order entry paused {paused:,.0f} "
                      "ms for every symbol (its marker waits for every instance)", flush=True)
        a.stop()
        survivor.stop()
        print("  machines stopped; checking the history against the answers and a replay of the journal", flush=True)
        checks = check(load, a, balances, found, folder)
    finally:
        for m in machines:
            m.stop(grace=60.0)
    return summarize(load, timeline, kept_age, pauses, stalls, checks, args, drift)


def entry_pauses(a: Machine, began_wall: float) -> list[tuple[float, float]]:
    """Acquiring's snapshot pauses of order entry on A: (start, s from the load's start; length, ms).
    The marker must come back through every Match and Settlement instance, so a pause that begins
    while one of them is down lasts until it runs again elsewhere, and holds every symbol's orders."""
    out = []
    for m in re.finditer(LOG_TIME + r".*📸 snapshot marker at journal position \d+ \(order entry paused ([\d.]+) ms\)",
                         a.log(), re.M):
        out.append((round(log_time(m[1]) - began_wall - float(m[2]) / 1e3, 3), float(m[2])))
    return out


def summarize(load: Load, timeline: dict, kept_age: float | None, pauses: list, stalls: int, checks: dict,
              args, drift: float) -> dict:
    kill = load.kill_at
    orders = load.orders
    taken, restored, again = timeline["taken_over"], timeline["restored"], timeline["answered_again"]
    rel = lambda t: None if t is None else t - kill  # noqa: E731
    victim = [o for o in orders if o.symbol == VICTIM_SYMBOL]
    backlog = None
    if again is not None:
        waited = [o.answered for o in victim if o.at < again and o.answered is not None]
        backlog = max(waited, default=again) - kill
    longest = {s: max((o.latency for o in orders if o.symbol == s and o.latency is not None), default=None)
               for s in SYMBOLS}
    before = {s: sorted(o.latency for o in orders if o.symbol == s and kill - 5 < o.at < kill and o.status == 200)
              for s in SYMBOLS}
    outage_end = again or kill
    during = [ms for at, ms in pauses if at < outage_end and at + ms / 1e3 > kill]
    statuses: dict[str, int] = {}
    for o in orders:
        key = "200" if o.status == 200 else "no answer" if o.status is None else f"{o.status}/{o.code}"
        statuses[key] = statuses.get(key, 0) + 1
    edges = [i * BIN_S for i in range(int((args.seconds_before + args.seconds_after + CLIENT_TIMEOUT_S) / BIN_S))]
    series = {s: [0] * len(edges) for s in SYMBOLS}
    for o in orders:
        if o.status == 200 and o.answered is not None and int(o.answered / BIN_S) < len(edges):
            series[o.symbol][int(o.answered / BIN_S)] += 1
    last = max((i for s in SYMBOLS for i, c in enumerate(series[s]) if c), default=0) + 1
    # trading went on: of each symbol's orders sent from a second after the failover on, the share
    # accepted (the rest shed at the front door while the backlog drains: -1003, nothing done) and
    # how many had no known fate (no answer, -1007: what a survivor that got stuck leaves)
    went_on = {}
    for s in SYMBOLS:
        later = [o for o in orders if o.symbol == s and again is not None and o.at >= again + 1.0]
        went_on[s] = {"accepted": sum(1 for o in later if o.status == 200) / len(later) if later else 0.0,
                      "fate_unknown": sum(1 for o in later if o.status != 200 and o.code != -1003)}
    ok = (checks["ok"] and again is not None and not stalls
          and all(v["accepted"] >= 0.5 and not v["fate_unknown"] for v in went_on.values()))
    return {
        "ok": ok,
        "killed": load.label,
        "kill_at_s": kill,
        "failover_s": rel(again),
        "taken_over_s": rel(taken),
        "kept_state_age_at_kill_s": kept_age,
        "restored_s": rel(restored),
        # how far the wall clock moved against the bench's during the run: the times read from the
        # logs (taken_over_s, restored_s, entry_pauses) may be off by up to that
        "wall_clock_drift_s": drift,
        "backlog_answered_s": backlog,
        "longest_answer_s": longest,
        "median_answer_before_kill_ms": {s: 1e3 * v[len(v) // 2] if v else None for s, v in before.items()},
        "accepted_after_failover": went_on,
        "survivor_stalled_instances": stalls,
        "entry_pauses": pauses,
        "entry_paused_in_failover_ms": max(during, default=0.0),
        "orders": len(orders),
        "answers": statuses,
        "checks": checks,
        "answered_per_s": {s: [c / BIN_S for c in series[s][:last]] for s in SYMBOLS},
        "bin_s": BIN_S,
        # (symbol, scheduled send, answer time, accepted): every answered order, for the plot
        "latency_points": [(o.symbol, round(o.at, 3), round(o.latency, 4), o.status == 200) for o in orders
                           if o.latency is not None],
    }


# -------------------------------------------------------------------------------------- report


def fmt(x: float | None, unit: str = " s") -> str:
    return "–" if x is None else f"{x:.0f}{unit}" if unit == " ms" else f"{x:.2f}{unit}"


def report(runs: list[dict]) -> list[str]:
    other = list(SYMBOLS)[1]
    lines = ["| run | failover | taken over (state age at kill) | restored | backlog answered | longest answer "
             f"{VICTIM_SYMBOL} / {other} | median answer before the kill | order entry paused in the failover "
             "| orders (not 200) | checks |",
             "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|"]
    for i, r in enumerate(runs, 1):
        c = r["checks"]
        refused = r["orders"] - r["answers"].get("200", 0)
        med = r["median_answer_before_kill_ms"]
        lines.append(
            f"| {i} | {fmt(r['failover_s'])} | {fmt(r['taken_over_s'])} ({fmt(r['kept_state_age_at_kill_s'])}) "
            f"| {fmt(r['restored_s'])} | {fmt(r['backlog_answered_s'])} | "
            f"{fmt(r['longest_answer_s'][VICTIM_SYMBOL])} / {fmt(r['longest_answer_s'][other])} | "
            f"{fmt(med[VICTIM_SYMBOL], ' ms')} / {fmt(med[other], ' ms')} | {r['entry_paused_in_failover_ms']:,.0f} ms | "
            f"{r['orders']:,} ({refused}) | {'ok' if r['ok'] else 'FAILED'}: {c['acknowledged_once']:,} of "
            f"{c['acknowledged']:,} acknowledged once, history = replay: {all(c['history_equals_replay'].values())}, "
            f"REST balances = replay: {c['rest_balances_equal_replay']}, accepted after: "
            f"{min(v['accepted'] for v in r['accepted_after_failover'].values()):.0%}"
            + (f", {r['survivor_stalled_instances']} stalled instance(s) killed" if r["survivor_stalled_instances"]
               else "") + " |")
    return lines


def median(values: list[float | None]) -> float | None:
    vals = sorted(v for v in values if v is not None)
    if not vals:
        return None
    mid = len(vals) // 2
    return vals[mid] if len(vals) % 2 else (vals[mid - 1] + vals[mid]) / 2


def plot(runs: list[dict], path: Path, args) -> None:
    """Per run: orders answered per second per symbol, and each order's answer time against its
    scheduled send; the kill, the take-over and the first answer after it marked."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(len(runs), 2, figsize=(13, 3.6 * len(runs)), squeeze=False)
    for (rate_ax, lat_ax), r, i in zip(axes, runs, range(1, len(runs) + 1)):
        kill = r["kill_at_s"]
        for s, ys in r["answered_per_s"].items():
            rate_ax.plot([j * r["bin_s"] for j in range(len(ys))], ys, label=f"{s} accepted", linewidth=1)
            pts = [(at, lat) for sym, at, lat, accepted in r["latency_points"] if sym == s and accepted]
            lat_ax.scatter([p[0] for p in pts], [p[1] * 1e3 for p in pts], s=3, alpha=0.5, label=f"{s} accepted")
        refused = [(at, lat) for _sym, at, lat, accepted in r["latency_points"] if not accepted]
        if refused:  # shed at the front door (-1003, fast) or accepted without a result in time (-1007, 10 s)
            lat_ax.scatter([p[0] for p in refused], [p[1] * 1e3 for p in refused], s=6, marker="x", color="gray",
                           linewidth=0.6, label=f"refused or failed: {len(refused):,}")
        for ax in (rate_ax, lat_ax):
            ax.axvline(kill, color="red", linestyle="--", linewidth=1, label="kill -9")
            for key, style in (("taken_over_s", ":"), ("failover_s", "-.")):
                if r[key] is not None:
                    ax.axvline(kill + r[key], color="black", linestyle=style, linewidth=1,
                               label="taken over" if key == "taken_over_s" else "answered again")
        rate_ax.set_xlabel("s since the load started (answer time)")
        rate_ax.set_ylabel("orders answered / s")
        outcome = (f"{VICTIM_SYMBOL} answered again after {fmt(r['failover_s'])}" if r["failover_s"] is not None
                   else f"{VICTIM_SYMBOL} not answered again")
        rate_ax.set_title(f"run {i}: {r['killed']} killed; {outcome}" + ("" if r["ok"] else " (run FAILED)"),
                          fontsize=9)
        rate_ax.legend(fontsize=7, loc="upper right")
        lat_ax.set_yscale("log")
        lat_ax.set_xlabel("scheduled send (s since the load started)")
        lat_ax.set_ylabel("answer time (ms)")
        lat_ax.set_title(f"{args.rate:g} orders/s offered, take_over_after_s {args.take_over_after:g}, "
                         f"snapshot_interval_s {args.snapshot_interval:g}", fontsize=9)
        lat_ax.legend(fontsize=7, loc="upper right", markerscale=4)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--stage", choices=["match", "settlement"], default="match", help="the stage that fails over")
    parser.add_argument("--rate", type=float, default=100.0, help="orders/s offered, both symbols together")
    parser.add_argument("--seconds-before", type=float, default=10.0, help="load before the kill")
    parser.add_argument("--seconds-after", type=float, default=20.0, help="load after the kill")
    parser.add_argument("--take-over-after", type=float, default=3.0, help="runtime.take_over_after_s")
    parser.add_argument("--snapshot-interval", type=float, default=0.5,
                        help="journal.snapshot_interval_s of M0 and M1: how often an instance keeps its state in "
                             "the cluster")
    parser.add_argument("--entry-snapshot-interval", type=float,
                        help="journal.snapshot_interval_s of A: how often Acquiring snapshots, pausing order entry "
                             "until its marker has come back through every Match and Settlement instance "
                             "(default: configs/kafka.toml's)")
    parser.add_argument("--runs", type=int, default=1, help="runs, each on fresh machines and topics")
    parser.add_argument("--kafka-bootstrap", help="use this cluster instead of starting three brokers")
    parser.add_argument("--scratch", help="keep the machines' data dirs and logs under this folder "
                                          "(default: a temporary folder, removed at the end)")
    parser.add_argument("--json", help="write every figure here")
    parser.add_argument("--plot", default=str(OUT / "failover.png"), help="the plot (PNG; '' for none)")
    args = parser.parse_args(argv)
    if args.take_over_after <= args.snapshot_interval:
        parser.error("--take-over-after must be longer than --snapshot-interval (several times it), or a live "
                     "instance is taken over")
    cores = sorted(os.sched_getaffinity(0))
    scratch = Path(args.scratch or tempfile.mkdtemp(prefix="spot_seda_failover_"))
    scratch.mkdir(parents=True, exist_ok=True)
    print(f"failover bench: {len(cores)} cores {cores}, python {platform.python_version()}, load average "
          f"{os.getloadavg()[0]:.2f}; scratch {scratch}", flush=True)
    cluster = None
    runs = []
    try:
        bootstrap = args.kafka_bootstrap
        if not bootstrap:
            from spot_seda.kafka_broker import KafkaCluster

            print("starting three KRaft brokers (spot_seda.kafka_broker) on this box...", flush=True)
            cluster = KafkaCluster(scratch / "kafka", 3).start()
            bootstrap = cluster.bootstrap
            print(f"  cluster up in {cluster.startup_s:.1f} s: {bootstrap}", flush=True)
        for i in range(1, args.runs + 1):
            runs.append(one_run(args, bootstrap, i, scratch))
    finally:
        if cluster is not None:
            cluster.stop()
        failed = len(runs) < args.runs or not all(r["ok"] for r in runs)
        if failed:
            print(f"\nthe machines' logs and data dirs are kept for inspection in {scratch}", flush=True)
        elif not args.scratch:
            shutil.rmtree(scratch, ignore_errors=True)
    print("\n" + "\n".join(report(runs)))
    medians = {key: median([r[key] for r in runs]) for key in
               ("failover_s", "taken_over_s", "restored_s", "backlog_answered_s", "kept_state_age_at_kill_s")}
    medians["longest_answer_s"] = median([r["longest_answer_s"][VICTIM_SYMBOL] for r in runs])
    print("\nmedians: " + ", ".join(f"{k} {fmt(v)}" for k, v in medians.items()), flush=True)
    if args.plot:
        plot(runs, Path(args.plot), args)
        print(f"plot: {args.plot}", flush=True)
    doc = {"command": " ".join(sys.argv) if argv is None else "bench/failover.py " + " ".join(argv),
           "cores": cores, "python": platform.python_version(), "stage": args.stage, "rate": args.rate,
           "take_over_after_s": args.take_over_after, "snapshot_interval_s": args.snapshot_interval,
           "entry_snapshot_interval_s": args.entry_snapshot_interval,
           "seconds_before": args.seconds_before, "seconds_after": args.seconds_after, "runs": runs,
           "medians": medians, "ok": bool(runs) and all(r["ok"] for r in runs)}
    if args.json:
        Path(args.json).write_text(json.dumps(doc, indent=1))
        print(f"json: {args.json}", flush=True)
    return doc


if __name__ == "__main__":
    sys.exit(0 if main()["ok"] else 1)
