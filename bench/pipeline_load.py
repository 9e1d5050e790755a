"""The moving parts of bench/pipeline.py that run inside other processes: the load generator, the
driver that replaces HTTP in Acquiring's process, and the WebSocket subscribers.

    generator (own pinned process) --intake socket--> Acquiring's driver --Bus--> stages

Every command of the run is encoded once, before any process is forked, as the Binance REST
parameters a client would send (bench/workload.py: rest_params) plus its account; the processes
inherit that list. The generator sends only (index, scheduled send time) pairs, at a fixed rate
(open loop) or as fast as the socket takes them (closed loop), down a Unix stream socket that the
driver reads on its event loop, as the HTTP server reads its clients' sockets (no thread between:
a command's arrival wakes Acquiring once, as a request does). The driver does for each what the HTTP
handler does, minus HTTP: decode the parameters, validate them with the API's own parser
(binance/orderparams.py), freeze and assign ids (AcquiringStage.new_order / cancel), journal with the
configured fsync policy and group commit (Journal.sync), publish in journal order (api/plumbing.py's
Outbox) and wait for Match's answer (a Waiter). It never touches an engine itself.

Times are CLOCK_MONOTONIC nanoseconds, the same clock in every process. Per command, in arrays of
shared memory every process maps: when it was scheduled, when Match's first report on it was
applied at Acquiring (`matched`), when its RESULT answer was ready there (`answered`: for an order
that finished, once Settlement's release of what it left frozen was applied too, which is the last
balance change the order causes), and its outcome.
"""

from __future__ import annotations

import asyncio
import logging
import mmap
import os
import pickle
import socket
import struct
import threading
import time
from collections import deque
from pathlib import Path

import msgspec
import numpy as np

log = logging.getLogger("spot_seda.bench")

_MSG = struct.Struct("<qq")  # (command index, scheduled send time ns)
# outcome of a command (the `status` array), and why one was refused (the `reason` array)
WAITING, ANSWERED, REFUSED = 0, 1, 2
REASONS = ("", "unknown order", "insufficient balance", "overloaded", "invalid parameters", "duplicate order")
# slots of the control array
READY, DONE, IN_FLIGHT, WINDOW, REFUSED_COUNT, SHED_COUNT, SNAPSHOTS = range(7)
SNAPSHOT_SLOTS = 256  # the last snapshots' start times and pauses (a ring)


def shared_int64(n: int) -> np.ndarray:
    """An int64 array in anonymous shared memory: forked children see each other's writes."""
    buf = mmap.mmap(-1, max(n, 1) * 8)
    return np.frombuffer(buf, dtype=np.int64, count=n)


class Wire:
    """Every command's msgpack in one shared mapping, as `wire[i]`, rather than a bytes object each.
    The stages are forked from the bench, and each snapshot forks every stage again, which copies
    the page tables of its private memory: held in the bench's heap, the workload doubled or tripled
    what a fork of a stage copies (the node's stages hold no such thing); a shared mapping's tables
    are not copied."""

    def __init__(self, items: list[bytes]) -> None:
        self.offsets = shared_int64(len(items) + 1)
        self.offsets[1:] = np.cumsum([len(b) for b in items])
        self.blob = mmap.mmap(-1, max(1, int(self.offsets[-1])))
        self.blob[:int(self.offsets[-1])] = b"".join(items)

    def __len__(self) -> int:
        return len(self.offsets) - 1

    def __getitem__(self, i: int) -> bytes:
        return self.blob[int(self.offsets[i]):int(self.offsets[i + 1])]


class Shared:
    """What the bench's processes share: per-command times and outcomes, and a control block."""

    def __init__(self, n: int) -> None:
        self.scheduled = shared_int64(n)
        self.matched = shared_int64(n)
        self.answered = shared_int64(n)
        self.status = shared_int64(n)
        self.reason = shared_int64(n)  # why a refused command was refused (REASONS)
        self.control = shared_int64(8)
        self.snapshot_ns = shared_int64(SNAPSHOT_SLOTS)  # when each snapshot began (monotonic ns)
        self.snapshot_paused_us = shared_int64(SNAPSHOT_SLOTS)  # how long it held commands back


# ------------------------------------------------------------------------------- load generator


def generate(intake: socket.socket, phases, shared: Shared) -> None:
    """The generator process: for each phase (start, end, rate; rate 0 = closed loop) sent down
    `phases` (a Pipe end), send its commands' indexes down `intake` (the generator's end of the
    socket pair, blocking); None ends the process."""

    def put(msgs: list[bytes]) -> None:
        intake.sendall(b"".join(msgs))

    while True:
        phase = phases.recv()
        if phase is None:
            return
        start, end, rate = phase
        sched = shared.scheduled
        if rate <= 0:  # closed loop: as fast as the ring takes them; the driver bounds what is in flight
            for a in range(start, end, 256):
                now = time.monotonic_ns()
                b = min(end, a + 256)
                sched[a:b] = now
                put([_MSG.pack(i, now) for i in range(a, b)])
            continue
        interval = 1e9 / rate
        t0 = time.monotonic_ns() + 1_000_000
        i = start
        while i < end:
            now = time.monotonic_ns()
            due = start + int((now - t0) / interval) + 1  # every command whose time has come
            if due > i:
                j = min(end, due)
                msgs = []
                for k in range(i, j):
                    at = t0 + int((k - start) * interval)
                    sched[k] = at
                    msgs.append(_MSG.pack(k, at))
                put(msgs)
                i = j
            else:
                time.sleep(max(0.0, (t0 + (i - start) * interval - now) / 1e9))


# ------------------------------------------------------------------------- Acquiring's driver


_REASON_OF = {"unknown_order": 1, "insufficient_balance": 2, "overloaded": 3, "invalid": 4, "duplicate_order": 5}


class Driver:
    """Runs in Acquiring's process in place of the HTTP server (the supervisor's `replay` hook)."""

    network = True  # Push serves its WebSocket port as usual
    #: every stage writes its snapshots as in the node (runtime/supervisor.py), when order entry
    #: takes one: every journal.snapshot_interval_s (`_drive`, as api/rest.py `_serve`)
    snapshots = True

    def __init__(self, wire: Wire, kinds: bytes, ids: np.ndarray, deposits: list[tuple[int, str, int]], intake, shared: Shared,
                 folder: Path, track_trades: bool) -> None:
        self.wire = wire  # msgpack of {"account", **rest params}, per command
        self.kinds = kinds  # b"P"/b"C" per command
        self.ids = ids  # the workload's order id each command places or cancels
        self.deposits = deposits
        self.intake = intake
        self.shared = shared
        self.folder = folder
        self.track_trades = track_trades

    def recorder(self, inner, _label):
        return inner

    def drive(self, stage, runner, stopping, pump=None) -> None:
        """Acquiring's process (or, with `pump`, the one process of the inproc pipeline)."""
        import uvloop

        uvloop.run(self._drive(stage, runner, stopping, pump))

    async def _drive(self, stage, runner, stopping, pump) -> None:
        from spot_seda.binance import orderparams
        from spot_seda.binance.errors import ApiError
        from spot_seda.api.intake import Intake
        from spot_seda.api.plumbing import Outbox
        from spot_seda.api.rest import helper_setup, open_journal
        from spot_seda.model.commands import ENCODER, Cancel, Transfer
        from spot_seda.model.enums import Topic
        from spot_seda.runtime.busreader import bus_reader
        from spot_seda.model.reasons import Reason
        from spot_seda.stages.accepting import CommandError
        from spot_seda.stages.acquiring import Waiter

        runner.start()
        loop = asyncio.get_running_loop()
        journal = open_journal(stage)  # as the node's (over Kafka: acknowledged once the cluster has it)
        pending: deque = deque()
        outbox = Outbox(runner, pending)
        # snapshots as the node takes them (api/rest.py _serve): every journal.snapshot_interval_s
        # the gate holds new commands back until the accepted ones are published and a fork (api/intake.py)
        settings = stage.ctx.settings
        gate = Intake(runner, journal, pending, stage.ctx.data_dir, settings.journal.rotate,
                      settings.journal.snapshot_interval_s) if pump is None else None
        shared = self.shared
        control, status, matched, answered_at = shared.control, shared.status, shared.matched, shared.answered
        rules = stage.rules
        decode = msgspec.msgpack.decode
        encode = ENCODER.encode
        order_ids: dict[int, int] = {}  # the workload's order id -> the node's
        first_report: dict[str, int] = {}  # order id (entity id) -> command index, until Match reports
        taker_of: dict[int, int] = {}  # the node's order id -> command index (trade tracking)
        trades: dict[tuple[str, int], int] = {}  # (symbol, trade id) -> command index of its taker
        backlog: deque = deque()
        # cancels of orders Match has not answered yet wait for that answer: a cancel's Waiter would
        # replace the order's in AcquiringStage.waiters (one per order id), and the order's never come
        deferred: dict[int, list[int]] = {}
        placed_by: dict[int, int] = {}  # command index -> the node's order id it waits on, until answered
        in_flight = 0
        admitting = False

        handle = stage.handle_events

        def instrumented(topic, entries):  # Match's first report on each order: the `matched` time
            now = time.monotonic_ns()
            out = handle(topic, entries)
            if topic == Topic.ORDER:
                pop = first_report.pop
                for e in entries:
                    i = pop(e.entity_id, None)
                    if i is not None:
                        matched[i] = now
            elif topic == Topic.TRADE and self.track_trades:
                for e in entries:
                    f = e.field_dict()
                    i = taker_of.get(f["taker_order_id"])
                    if i is not None:
                        trades[f["symbol"], f["trade_id"]] = i
            return out

        stage.handle_events = instrumented
        # (the bench's own, not order entry's state: its snapshots leave it out, as they do the waiters)
        stage.transient = (*type(stage).transient, "handle_events", "transient")

        def answered(i: int, refused: int = 0) -> None:
            nonlocal in_flight, admitting
            answered_at[i] = time.monotonic_ns()
            status[i] = REFUSED if refused else ANSWERED
            shared.reason[i] = refused
            if not refused:
                in_flight -= 1
                oid = placed_by.pop(i, None)
                if oid is not None and oid in deferred:
                    backlog.extendleft(reversed(deferred.pop(oid)))
            control[DONE] += 1
            control[IN_FLIGHT] = in_flight
            if backlog and not admitting:
                admitting = True
                loop.call_soon(admit)

        def waiter_for(i: int) -> Waiter:
            return Waiter(lambda _order, _fills: answered(i))

        async def make_durable() -> None:
            outbox.durable_up_to(await journal.sync())

        async def reopened() -> None:
            await gate.open.wait()
            admit()

        def admit() -> None:
            """Take commands from the backlog while the window allows; journal them as one group.
            While a snapshot holds commands back (the gate), they wait as an HTTP request does."""
            nonlocal in_flight, admitting
            if gate is not None and not gate.open.is_set():
                admitting = True  # (until the gate opens: arrivals only join the backlog)
                loop.create_task(reopened())
                return
            admitting = False
            window = int(control[WINDOW])
            took = False
            while backlog and (not window or in_flight < window):
                i = backlog.popleft()
                p = decode(self.wire[i])
                account = p.pop("account")
                try:
                    if self.kinds[i] == 67:  # b"C": a cancel of the workload's order id
                        symbol, order_id, _client = orderparams.parse_order_ref(p, rules)
                        order = stage.find_order(account, order_ids.get(order_id, -1))
                        if order is None or order.symbol != symbol:
                            answered(i, refused=1)  # -2011 Unknown order (finished already)
                            continue
                        if order.order_id in stage.waiters or order.order_id in stage.settling:
                            deferred.setdefault(order.order_id, []).append(i)
                            continue
                        accepted, outputs = stage.cancel(Cancel(account, symbol, order.order_id, 0), waiter_for(i))
                        placed_by[i] = order.order_id
                    else:
                        cmd = orderparams.parse_new_order(p, rules)
                        order, accepted, outputs = stage.new_order(cmd.command(account), waiter_for(i))
                        oid = order.order_id
                        order_ids[int(self.ids[i])] = oid
                        placed_by[i] = oid
                        first_report[str(oid)] = i
                        if self.track_trades:
                            taker_of[oid] = i
                except (ApiError, CommandError) as exc:
                    kind = exc.reason if isinstance(exc, CommandError) else "invalid"
                    if kind == Reason.OVERLOADED:
                        control[SHED_COUNT] += 1
                    control[REFUSED_COUNT] += 1
                    answered(i, refused=_REASON_OF.get(kind, 4))
                    continue
                in_flight += 1
                pending.append((journal.append(encode(accepted)), outputs))
                took = True
            control[IN_FLIGHT] = in_flight
            if took:
                loop.create_task(make_durable())

        intake = self.intake[1]  # (the driver's end of the socket pair)
        intake.setblocking(False)
        partial = b""

        def arrived() -> None:  # the intake socket is readable: on the loop, as an HTTP request is
            nonlocal admitting, partial
            try:
                data = intake.recv(1 << 20)
            except BlockingIOError:
                return
            if partial:
                data = partial + data
            whole = len(data) - len(data) % _MSG.size
            partial = data[whole:]
            backlog.extend(i for i, _at in _MSG.iter_unpack(data[:whole]))
            if not admitting:
                admitting = True
                admit()

        done = threading.Event()

        reader = bus_reader(runner, loop, thread_setup=helper_setup(stage)) if pump is None else None
        if reader is not None:
            reader.start()

        async def pumping() -> None:  # inproc: the other stages run here, between commands
            while not done.is_set():
                moved = pump() > 1
                # nothing moved: what is in flight waits for its journal group (or nothing is), so
                # give the loop a moment instead of spinning through six empty polls
                await asyncio.sleep(0 if moved else 0.0002 if backlog or in_flight else 0.001)

        pumper = loop.create_task(pumping()) if pump is not None else None
        for account, asset, amount in self.deposits:  # deposits first, as a client's admin would
            accepted, outputs = stage.transfer(Transfer(account, asset, amount, 0))
            pending.append((journal.append(encode(accepted)), outputs))
        await make_durable()
        control[READY] = 1
        loop.add_reader(intake.fileno(), arrived)
        row = runner.row
        reported = None  # the snapshot whose pause is in the shared ring
        while not stopping():
            if row is not None:
                row["heartbeat_ns"] = time.time_ns()
            if gate is not None:
                cycle = gate.cycle
                if cycle is not None and cycle is not reported and cycle.done():  # its pause, for its phase
                    if cycle.exception() is None and cycle.result():  # (False: abandoned, logged)
                        shared.snapshot_paused_us[(control[SNAPSHOTS] - 1) % SNAPSHOT_SLOTS] = int(gate.paused_ms[-1] * 1000)
                    reported = cycle
                started = time.monotonic_ns()
                if gate.snapshot_when_due():
                    shared.snapshot_ns[control[SNAPSHOTS] % SNAPSHOT_SLOTS] = started
                    control[SNAPSHOTS] += 1
            await asyncio.sleep(0.05)
        done.set()
        if gate is not None and gate.cycle is not None:
            await gate.cycle
        loop.remove_reader(intake.fileno())
        if pumper is not None:
            await pumper
            pump()
        if reader is not None:
            await reader.stop()
        journal.close()
        runner.producer.flush()
        with open(self.folder / "trades.pkl", "wb") as f:
            pickle.dump(trades, f)


# ------------------------------------------------------------------------------ subscribers


def subscribe(url: str, clients: int, commands, folder: Path) -> None:
    """The subscribers' process: `clients` WebSocket connections to Push on every symbol's trade
    stream; records when each (symbol, trade id) first arrived, on any connection. Stops when
    anything arrives on `commands` (a Pipe end) and writes what it saw to folder/frames.pkl."""
    import aiohttp
    import uvloop

    first: dict[tuple[str, int], int] = {}
    frames = [0]

    async def client(session, ready: asyncio.Event, count: list[int]) -> None:
        async with session.ws_connect(url, max_msg_size=0) as ws:
            count[0] += 1
            if count[0] == clients:
                ready.set()
            async for msg in ws:
                now = time.monotonic_ns()
                doc = msgspec.json.decode(msg.data)
                data = doc.get("data", doc)
                frames[0] += 1
                key = (data.get("s"), data.get("t"))
                if key not in first:
                    first[key] = now

    async def main() -> None:
        ready, count = asyncio.Event(), [0]
        # (no limit on the connector: aiohttp's default pool holds 100 connections, and a WebSocket
        # keeps its own for good, so the 101st client waited for ever and the bench timed out)
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as session:
            tasks = [asyncio.create_task(client(session, ready, count)) for _ in range(clients)]
            await asyncio.wait_for(ready.wait(), 60)
            (folder / "subscribed").touch()
            loop = asyncio.get_running_loop()
            await loop.run_in_executor(None, commands.recv)
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    uvloop.run(main())
    with open(folder / "frames.pkl", "wb") as f:
        pickle.dump({"first": first, "frames": frames[0], "clients": clients}, f)
    os._exit(0)
