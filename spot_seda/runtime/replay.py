"""Replay: run commands (a journal, or a command file) through the stages in one process.

Two uses. Recovery: the supervisor replays the journal into fresh stage objects before it forks
the stage processes, which inherit that state (and their output sequences) through fork, so a
restarted pipeline carries on exactly where the acknowledged commands left it. Audit and
backtests: `run.py replay FILE --out OUT.jsonl` writes every resulting ChangeLogEntry.

Determinism: every stage's output is a function of its input order, and commands carry their
timestamps, so the same commands give the same entries and the same sequences. The one input that
depends on timing is Acquiring's view of free funds (a market order by quantity holds all free
funds); so before each command from a command file the pipeline is pumped until quiescent. Journal
commands already carry the budgets they were accepted with and passed the funds check once: they
are frozen without it, many at a time, and the end of the replay checks the view (execute_commands).
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable
from pathlib import Path

from ..binance import orderops, orderparams
from ..binance.params import check_params, json_text, parse_int, parse_symbol
from ..binance.errors import ApiError, refusal
from ..bus.base import Producer
from ..model.changelog import JSON, Batch, ChangeLogEntry
from ..model.commands import Amend, Cancel, Command, Tick, Transfer
from ..model.fixedpoint import ASSET_DECIMALS, FixedPointError, to_units
from ..stages.accepting import CommandError
from ..stages.base import MARKER
from .inproc import InprocPipeline


class InvariantBroken(RuntimeError):
    """A journaled command could not be applied on replay: the journal and the code disagree."""


class RecordingProducer(Producer):
    """Wraps a producer and keeps every published batch (after sequences were stamped)."""

    def __init__(self, inner: Producer, name: str, sink: list[Batch], partitions: dict[str, int]) -> None:
        self.inner = inner
        self.name = name
        self.sink = sink
        self.partitions = partitions

    def publish_to(self, topic: str, partition: int, entries: list[ChangeLogEntry]) -> None:
        self.inner.publish_to(topic, partition, entries)
        if entries[0].entity_type != MARKER:
            self.sink.append(Batch(topic, partition, self.name, entries))

    def flush(self, timeout: float | None = None) -> None:
        self.inner.flush(timeout)

    def commit(self, consumer=None) -> None:
        self.inner.commit(consumer)


def record(pipeline: InprocPipeline) -> list[Batch]:
    """Make the pipeline keep every batch its stages publish; returns the (growing) list."""
    sink: list[Batch] = []
    for label, runner in pipeline.runners.items():
        runner.producer = RecordingProducer(runner.producer, label, sink, pipeline.wiring.topics)
    return sink


class StreamFiles:
    """Where a replay writes its change log as it goes, in constant memory: one file per stream
    (topic, producer, partition), each line already in the output's form. A stream's entries are
    published in sequence order, so putting the files one after the other in (topic, producer,
    partition) order gives exactly what write_jsonl gives (merge_streams)."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)
        self.files: dict[tuple[str, str, int], object] = {}

    def append(self, batch: Batch) -> None:
        key = (batch.topic, batch.producer, batch.partition)
        f = self.files.get(key)
        if f is None:
            f = self.files[key] = open(self.folder / f"{batch.topic}~{batch.producer}~{batch.partition}.jsonl", "ab")
        head = b'{"topic":"' + batch.topic.encode() + b'","producer":"' + batch.producer.encode() + b'","entry":'
        encode = JSON.encode_entry
        f.write(b"".join([head + encode(e) + b"}\n" for e in batch.entries]))

    def flush(self) -> None:
        for f in self.files.values():
            f.flush()

    def close(self) -> None:
        for f in self.files.values():
            f.close()
        self.files = {}


def record_to_files(pipeline: InprocPipeline, folder: Path) -> StreamFiles:
    """Like record(), into StreamFiles in `folder` (close it, then merge_streams)."""
    sink = StreamFiles(folder)
    for label, runner in pipeline.runners.items():
        runner.producer = RecordingProducer(runner.producer, label, sink, pipeline.wiring.topics)
    return sink


def merge_streams(folder: Path, out: Path) -> int:
    """Put the stream files of a folder (StreamFiles, from any number of processes) together into
    `out` in the deterministic order; returns the number of entries."""
    streams = []
    for path in folder.glob("*~*~*.jsonl"):
        topic, producer, partition = path.stem.split("~")
        streams.append(((topic, producer, int(partition)), path))
    n = 0
    with open(out, "wb") as target:
        for _key, path in sorted(streams):
            with open(path, "rb") as source:
                for chunk in iter(lambda: source.read(1 << 20), b""):
                    n += chunk.count(b"\n")
                    target.write(chunk)
    return n


def apply_commands(pipeline: InprocPipeline, commands: Iterable[Command], journaled: bool, pump_every: int = 256,
                   accepted: list[Command] | None = None, final_tick: bool = False,
                   refusals: list[tuple[int, int, str]] | None = None) -> tuple[int, int]:
    """Execute commands in order through the pipeline's Acquiring stage; returns (applied, refused)
    (see execute_commands). `accepted` collects the commands as a journal would hold them."""
    runner = pipeline.runners["acquiring-0"]
    return execute_commands(runner.stage, runner.publish, commands, journaled, settle=pipeline.pump,
                            tick=pipeline.pump, tick_every=pump_every, accepted=accepted, tick_settles=True,
                            final_tick=final_tick, refusals=refusals)


#: refused commands of a command file said by name (the rest only counted)
REFUSALS_LISTED = 20


def refusal_of(index: int, exc: CommandError) -> tuple[int, int, str]:
    """A refused command of a command file: (its index among the commands, Binance's code and text
    for why, as the API would have answered it)."""
    error = refusal(exc.reason)
    return index, error.code, error.msg


def execute_commands(acquiring, publish, commands: Iterable[Command], journaled: bool, settle, tick,
                     tick_every: int, accepted: list[Command] | None = None,
                     tick_settles: bool = False, final_tick: bool = False,
                     refusals: list[tuple[int, int, str]] | None = None) -> tuple[int, int]:
    """The replay loop, whatever the transport: `acquiring` is the Acquiring stage, `publish` its
    runner's; `settle()` returns once Acquiring has applied the feedback of every command so far
    (the in-process pipeline pumps until quiescent, the shm replay waits for a sync marker),
    `tick()` runs every `tick_every` commands. Returns (applied, refused).

    A command file may hold commands the node refuses (as it would live): they are counted, and
    each command waits for `settle()` first, so the view of free funds does not depend on timing.

    A journaled command was accepted once, so refusing it on replay means the state diverged
    (InvariantBroken). Its funds are frozen without waiting for the credits it relied on (see
    Acquiring.new_order), so journaled commands run `tick_every` at a time, their output published
    together, and only the end waits for the feedback: then no balance may be left negative. When
    `tick()` also settles (in-process), a balance still negative after a tick already means the
    state diverged: the replay stops there, before much of a wrong history has been written.

    `final_tick`: end with a Tick at the last command's time (model/commands.py), so that the open
    candles go out as the commands leave them: `run.py replay` of a command file does (a journal
    holds its own Ticks). Left out, the commands can be run in parts with the same result.
    `refusals` gets the first REFUSALS_LISTED refused commands (refusal_of).
    """
    applied = refused = 0
    pending: list = []  # journaled: Acquiring's output since the last tick, published as one batch
    last_ts = 0

    for cmd in commands:
        if not journaled:
            settle()
        try:
            done, outputs = acquiring.execute(cmd, journaled)
        except CommandError as exc:
            if not journaled:
                refused += 1
                if refusals is not None and len(refusals) < REFUSALS_LISTED:
                    refusals.append(refusal_of(applied + refused - 1, exc))
                continue
            raise InvariantBroken(f"journaled command refused on replay ({exc.reason}): {cmd}") from None
        except (KeyError, ValueError) as exc:  # e.g. a symbol no longer in the configuration
            if not journaled:
                raise
            raise InvariantBroken(f"journaled command cannot be applied ({exc!r}): {cmd}") from None
        if journaled:
            pending += outputs
        else:
            publish(outputs)
        if accepted is not None:
            accepted.append(done)
        last_ts = max(last_ts, done.timestamp)
        applied += 1
        if applied % tick_every == 0:
            if pending:
                publish(pending)
                pending.clear()
            tick()
            if journaled and tick_settles and (overdrawn := acquiring.ledger.still_overdrawn()):
                raise InvariantBroken(f"balances still negative after {applied} journaled commands: {overdrawn[:5]}")
    if pending:
        publish(pending)
    if final_tick and acquiring.ctx.settings.node.candle_update_ms:
        settle()  # (as before every command of a file)
        done, outputs = acquiring.tick(Tick(last_ts, tuple(sorted(acquiring.since_tick))))
        publish(outputs)
        if accepted is not None:
            accepted.append(done)
    settle()
    if journaled and (overdrawn := acquiring.ledger.negative()):
        raise InvariantBroken(f"balances left negative after replaying the journal: {overdrawn[:5]}")
    return applied, refused


def with_progress(commands: Iterable[Command], report, every: int = 100_000):
    """Pass the commands through, calling `report(line)` with the count and the rate every `every`
    of them (a long replay shows that it is getting on)."""
    started = time.perf_counter()
    for n, cmd in enumerate(commands, 1):
        if n % every == 0:
            report(f"{n:,} commands so far ({n / (time.perf_counter() - started):,.0f}/s)")
        yield cmd


def write_jsonl(batches: list[Batch], out: Path) -> int:
    """Write the recorded entries as JSON lines {"topic", "producer", "entry"} in (topic, producer,
    partition, sequence) order; returns the count."""
    n = 0
    with open(out, "wb") as f:
        rows = [(b.topic, b.producer, b.partition, e.sequence, e) for b in batches for e in b.entries]
        rows.sort(key=lambda r: r[:4])
        for topic, producer, _partition, _seq, entry in rows:
            f.write(b'{"topic":"' + topic.encode() + b'","producer":"' + producer.encode() + b'","entry":')
            f.write(JSON.encode_entry(entry))
            f.write(b"}\n")
            n += 1
    return n



def _text_params(doc: dict) -> dict[str, str]:
    """A command line's fields as the API's text parameters (params.json_text: a JSON null is -1100)."""
    return {name: json_text(name, value) for name, value in doc.items()}


#: what a command file's cancel line reads beside cmd, account and timestamp (both mandatory)
CANCEL_LINE_PARAMS = frozenset({"symbol", "orderId"})


def read_command_file(path: Path, rules, numbers: list[int] | None = None) -> Iterable[Command]:
    """Commands of a JSON-lines file (README, "Replay"): the REST API's parameters plus account
    and timestamp. Each line is validated exactly as the API would; a bad line stops the replay with
    its line number. `numbers` gets each command's line number, in order."""
    with open(path, encoding="utf-8") as f:
        for number, line in enumerate(f, 1):
            if not line.strip():
                continue
            if numbers is not None:
                numbers.append(number)
            try:
                doc = json.loads(line)
                kind = doc.pop("cmd")
                account, ts = int(doc.pop("account")), int(doc.pop("timestamp"))
                if kind == "order":
                    p = _text_params(doc)
                    # (-1104 and -1105, as the API: none dropped, none empty taken as not sent)
                    check_params(p, orderparams.NEW_ORDER_PARAMS, orderparams.NEW_ORDER_MANDATORY)
                    # (time in force: GTC for the types that take none, as the API reports them)
                    yield orderparams.parse_new_order(p, rules).command(account, ts)
                elif kind == "cancel":  # DELETE /api/v3/order's symbol and orderId
                    p = _text_params(doc)
                    check_params(p, CANCEL_LINE_PARAMS, CANCEL_LINE_PARAMS)  # (none dropped, none empty)
                    yield Cancel(account, parse_symbol(p, rules), parse_int(p, "orderId", required=True), ts)
                elif kind == "amend":  # PUT /api/v3/order/amend/keepPriority's parameters
                    p = _text_params(doc)
                    check_params(p, orderops.AMEND_PARAMS, orderops.AMEND_MANDATORY)
                    a = orderops.parse_amend(p, rules)
                    yield Amend(account, a.symbol, int(doc["orderId"]), ts, a.new_qty, a.new_client_order_id)
                elif kind in ("deposit", "withdraw"):
                    amount = to_units(str(doc["amount"]), ASSET_DECIMALS)
                    yield Transfer(account, doc["asset"], amount if kind == "deposit" else -amount, ts)
                else:
                    raise ValueError(f"unknown cmd {kind!r} (order, cancel, amend, deposit, withdraw)")
            except ApiError as exc:
                raise ValueError(f"{path}:{number}: {exc.msg}") from None
            except KeyError as exc:  # (a field the line's command needs)
                raise ValueError(f"{path}:{number}: missing {exc.args[0]!r}") from None
            except (ValueError, TypeError, FixedPointError) as exc:
                raise ValueError(f"{path}:{number}: {exc}") from None
