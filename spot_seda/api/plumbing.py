"""What every HTTP handler of the Acquiring stage shares: the app's keys, Binance-style errors,
request parameters, authentication, and the journal-then-publish path every command takes."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import sys
import time
from collections import deque
from collections.abc import Mapping
from urllib.parse import parse_qsl

from aiohttp import web
from aiohttp.web_protocol import RequestHandler

from ..accounts import Accounts
from ..bus.base import FENCED_EXIT, Fenced
from ..commandlog import CommandLogFenced
from ..journal import Journal, JournalError
from ..model.commands import ENCODER as COMMANDS
from ..stages.accepting import CommandError
from ..stages.acquiring import AcquiringStage
from ..binance import auth, errors
from ..binance.errors import ApiError
from ..binance.params import check_all_read, check_none_empty
from .admission import ADMISSION
from .intake import Intake
from .jsonbody import json_answer
from .knownparams import ROUTE_PARAMS, route_mandatory

log = logging.getLogger("spot_seda.api")

STAGE = web.AppKey("stage", AcquiringStage)
RUNNER = web.AppKey("runner", object)
ACCOUNTS = web.AppKey("accounts", Accounts)
HISTORY = web.AppKey("history", object)
JOURNAL = web.AppKey("journal", Journal)
PENDING = web.AppKey("pending", deque)
INTAKE = web.AppKey("intake", Intake)
#: a request whose body could not be read: its connection cannot carry another request
UNREADABLE = "spot_seda.unreadable_body"

def now_ms() -> int:
    return time.time_ns() // 1_000_000


# ---------------------------------------------------------------------------------- plumbing


@web.middleware
async def errors_middleware(request: web.Request, handler):
    """Every failure becomes Binance's {"code", "msg"}; a bug is logged and answered -1000."""
    resp = await _answer(request, handler)
    await settle_body(request, resp)
    return resp


async def _answer(request: web.Request, handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except ApiError as exc:
        return json_answer(exc.body(), status=exc.status)
    except CommandError as exc:
        err = errors.refusal(exc.reason)
        return json_answer(err.body(), status=err.status)
    except web.HTTPRequestEntityTooLarge:
        err = errors.body_too_large(request.app[STAGE].ctx.settings.node.max_body_bytes)
    except web.HTTPNotFound:
        err = errors.not_found(request.path)
    except web.HTTPMethodNotAllowed as exc:
        err = errors.method_not_allowed(request.method, request.path)
        resp = json_answer(err.body(), status=err.status)
        resp.headers["Allow"] = ", ".join(sorted(exc.allowed_methods))  # RFC 9110: a 405 names them
        return resp
    except asyncio.CancelledError:
        raise
    except Exception:
        log.exception("unexpected error on %s %s", request.method, request.path)
        err = errors.unknown()
    return json_answer(err.body(), status=err.status)


async def settle_body(request: web.Request, resp: web.StreamResponse) -> None:
    """Read what the handler left of the body (one refused before reading it: a bad key, an unknown
    path). aiohttp would drain it after the answer, and a body it cannot decode (`Content-Encoding:
    gzip` over bytes that are not) would then cut the connection with a logged traceback: found
    here, it ends the connection cleanly after this answer instead."""
    if request.get(UNREADABLE):
        resp.force_close()
        return
    if not request.can_read_body or request.content.is_eof():
        return
    try:
        await request.read()
    except web.RequestPayloadError:
        request.content.feed_eof()
        resp.force_close()
    except web.HTTPRequestEntityTooLarge:
        resp.force_close()  # not worth reading on: the connection ends here


def _parser_error(self, request, status: int = 500, exc: BaseException | None = None,
                  message: str | None = None) -> web.StreamResponse:
    """aiohttp's RequestHandler.handle_error, in Binance's JSON: what answers a request its parser
    refused (and a Push handler's bug). The parser's 4xx refusals are the client's fault and are
    logged in one line, not as a traceback; anything else stays a logged -1000 (500)."""
    if status < 500:
        reason = " ".join(str(getattr(exc, "message", None) or message or exc or "").split())[:200]
        log.info("refused malformed HTTP from %s: %s", request.remote, reason)
        err = errors.malformed_http(status, reason)
    else:
        log.error("unexpected error handling a request from %s", request.remote, exc_info=exc)
        err = errors.unknown()
    if request.writer.output_size > 0:  # as aiohttp: part of an answer went out, nothing can follow
        raise ConnectionError("Response is sent already, cannot send another response with the error message")
    resp = json_answer(err.body(), status=err.status)
    resp.force_close()
    return resp


def json_parser_errors() -> None:
    """Make aiohttp answer what its parser refuses in Binance JSON rather than text/plain. aiohttp has
    no setting for it: its RequestHandler.handle_error builds that answer, and is replaced here (in
    the serving process only; the HTTP and WebSocket servers call this before they start)."""
    RequestHandler.handle_error = _parser_error


async def read_body(request: web.Request) -> bytes:
    """The request body; a body aiohttp cannot decode (e.g. `Content-Encoding: gzip` over bytes that
    are not gzip) is -1100, and the connection is closed after the answer."""
    try:
        return await request.read()
    except web.RequestPayloadError:
        # the rest of the body is unreadable too: mark it read (aiohttp would drain it after the
        # answer and log the same error as a traceback) and end the connection after the answer
        request.content.feed_eof()
        request[UNREADABLE] = True
        raise errors.unreadable_body(request.headers.get("Content-Encoding")) from None


def json_body(raw: bytes) -> tuple[str, dict]:
    """A body that must be one JSON object: (its text, the object); -1135 otherwise, nesting too
    deep for the parser included (RecursionError, before any authentication)."""
    try:
        text = raw.decode()
        doc = json.loads(text or "null")
    except RecursionError:
        raise errors.json_too_deep() from None
    except (ValueError, UnicodeDecodeError):
        raise errors.invalid_json() from None
    if not isinstance(doc, dict):
        raise errors.invalid_json()
    return text, doc


def query_pairs(source: str) -> list[tuple[str, str]]:
    """urllib.parse.parse_qsl(source, keep_blank_values=True), without its per-pair unquoting when
    nothing needs it: a bot's order (digits, letters, dots, dashes, a hex signature) has no '%' or
    '+', and parse_qsl cost the HTTP stage about an eighth of its CPU (BENCHMARKS.md, "Node over
    HTTP"). The same pairs either way (tests/api/test_params.py)."""
    if "%" in source or "+" in source:
        return parse_qsl(source, keep_blank_values=True)
    return [(key, value) for key, _, value in (part.partition("=") for part in source.split("&") if part)]


async def request_params(request: web.Request) -> tuple[dict[str, str], str, str]:
    """Parameters from the query string and a form body (Binance accepts both for POST, PUT and
    DELETE; a GET's are its query string's alone: its body is not read, as if not sent). A name twice
    in one of them is -1101; in both, the query string's value is used (rest-api.md, "General API
    Information")."""
    query = request.rel_url.raw_query_string  # clients sign the query exactly as they encoded it
    body = ""
    if request.body_exists and request.method != "GET":  # (read already, by the rate limiter for a
        # weight: aiohttp kept it)
        raw = await read_body(request)
        try:
            body = raw.decode()
        except UnicodeDecodeError:
            raise errors.illegal_chars() from None
    merged = unique_pairs(query)
    if body:
        for key, value in unique_pairs(body).items():
            merged.setdefault(key, value)  # (the query string's wins)
    return merged, query, body


def unique_pairs(source: str) -> dict[str, str]:
    """A query string's or form body's parameters (query_pairs); a name twice is -1101."""
    if "%" in source or "+" in source:
        pairs = query_pairs(source)
        out = dict(pairs)
        count = len(pairs)
    else:  # query_pairs' plain case, straight into the map: no list of pairs (7.4 -> 5.1 µs an order)
        out, count = {}, 0
        for part in source.split("&"):
            if part:
                key, _, value = part.partition("=")
                out[key] = value
                count += 1
    if len(out) != count:
        raise errors.duplicate_parameter()
    return out


async def signed(request: web.Request) -> tuple[int, dict[str, str]]:
    """Authenticate a private request: API key header, signature (HMAC, Ed25519 or RSA: the
    account's key), timestamp window."""
    p, query, body = await request_params(request)
    account = authenticate_key(request)
    unsigned_query, unsigned_body, signature = auth.split_signature(query, body)
    auth.verify_rest_signature(account, unsigned_query, unsigned_body, signature)
    auth.check_timestamp(p.get("timestamp"), p.get("recvWindow"), now_ms())
    p.pop("signature", None)
    return account.account_id, p


def check_read(request: web.Request, params: Mapping[str, str], signed: bool = False) -> None:
    """-1104 for a parameter the request's route does not read (knownparams.ROUTE_PARAMS), counted
    as Binance counts them: a `signed` request's `signature` (which signed() took out) too; then
    -1105 for one sent empty that is not the operation's to answer (params.check_none_empty). Call
    it where the route's operation would start: after the signature (and an order's ORDERS count),
    before anything else."""
    route = request.match_info.route
    key = (route.method, route.resource.canonical)
    known = ROUTE_PARAMS[key]
    check_all_read((*params, "signature") if signed else params, known)
    check_none_empty(params, known, route_mandatory(key))


def authenticate_key(request: web.Request):
    return request.app[ACCOUNTS].authenticate(request.headers.get("X-MBX-APIKEY"))


def stage_of(request: web.Request) -> AcquiringStage:
    return request.app[STAGE]


class Outbox:
    """The effects of journaled commands, sent down the pipeline strictly in journal order, so the
    live pipeline sees the commands in the order a replay will.

    They go out once per event-loop iteration, all that became durable in one publish: a queue
    write (and a wake-up of each consumer) per partition, not per command. Until then they stay in
    `pending`, which a snapshot waits to see empty before it sends its marker (intake.py)."""

    def __init__(self, runner, pending: deque) -> None:
        self.runner = runner
        self.pending = pending  # (journal position, outputs), in journal order
        self.durable = 0
        self.scheduled = False
        self.flushes = 0  # publishes so far: what a read must see (readbarrier.py)

    def durable_up_to(self, position: int) -> None:
        self.durable = max(self.durable, position)
        if not self.scheduled:
            self.scheduled = True
            asyncio.get_running_loop().call_soon(self.flush)

    def flush(self) -> None:
        self.scheduled = False
        pending, outputs = self.pending, []
        while pending and pending[0][0] <= self.durable:
            outputs += pending.popleft()[1]
        if not outputs:
            return
        try:
            self.runner.publish(outputs)
            self.flushes += 1
        except Fenced:  # a newer Acquiring took over (kafka.transactions): it publishes these
            log.critical("fenced off by a newer Acquiring: stopping this stage", exc_info=True)
            os._exit(FENCED_EXIT)
        except Exception:
            # journaled effects that cannot reach the pipeline (a queue full for bus.put_timeout_s):
            # the supervisor restarts the pipeline from the journal, which holds them
            log.critical("cannot publish journaled commands: stopping this stage", exc_info=True)
            os._exit(70)


OUTBOX = web.AppKey("outbox", Outbox)
READS = web.AppKey("reads", object)


async def read_fresh(app: web.Application, views_only: bool = False) -> None:
    """Before a read: wait until the history and this stage's views hold everything published so
    far (readbarrier.py: read your own writes); `views_only`: this stage's views alone."""
    await app[READS].wait(views_only)


async def commit(app: web.Application, command, outputs, deadline: float | None = None) -> None:
    """Make an accepted command durable (journal, group commit), then have its effects sent down
    the pipeline (Outbox). Past `deadline` (loop time) the client is answered -1007 (execution
    status unknown) while the commit goes on: the command is accepted, and will be published once
    durable."""
    journal = app[JOURNAL]
    position = journal.append(COMMANDS.encode(command))
    app[PENDING].append((position, outputs))
    try:
        synced = journal.sync_future()  # this caller's own: failing it leaves the group commit alone
        if deadline is not None:
            app[ADMISSION].expire_at(synced, deadline)
        durable = await synced
    except TimeoutError:
        # the group commit goes on without this caller: publish what it makes durable when it is
        # done, since this caller will not
        task = asyncio.get_running_loop().create_task(_publish_when_durable(app))
        _LATE_COMMITS.add(task)
        task.add_done_callback(_LATE_COMMITS.discard)
        raise errors.timeout() from None
    except JournalError:
        _journal_failed()
    app[OUTBOX].durable_up_to(durable)


async def tick(app: web.Application, symbol: str | None = None, deadline: float | None = None) -> None:
    """Journal a Tick (model/commands.py): the open candles trades changed since the last one go out
    as they are now, and those whose interval has ended close. Every `node.tick_ms` the node calls
    this without `symbol`: a Tick if a new order came in since the last one or a candle's interval
    has ended (Acquiring.wants_tick). Before a read of `symbol`'s klines: a Tick if that symbol's
    candles may have changed since the last one, so that the read sees them (read your own writes);
    a Tick already on its way is waited for, and its effects published before this returns. Past
    `deadline` (loop time) -1007, as for a read whose barrier does not complete (the Tick goes on)."""
    stage = app[STAGE]
    if not stage.ctx.settings.node.candle_update_ms:
        return
    lock = app[TICKING]
    try:
        async with asyncio.timeout_at(deadline):
            await lock.acquire()
    except TimeoutError:
        raise errors.timeout() from None
    try:
        if not (stage.wants_tick() if symbol is None else symbol in stage.since_tick):
            return
        await app[INTAKE].admit(deadline)
        accepted, outputs = stage.tick()
        if outputs:
            await commit(app, accepted, outputs, deadline)
            app[OUTBOX].flush()  # published now: a read barrier after this counts it
    finally:
        lock.release()


TICKING = web.AppKey("ticking", asyncio.Lock)


async def commit_beside(app: web.Application, record: tuple[str, bytes, bytes | None],
                        deadline: float | None = None) -> None:
    """Over the command log (KafkaJournal): have `record` ((topic, key, value): the account
    registry's, accountlog.record, or a listen key's) committed in the cluster with the log's next
    transaction.
    Past `deadline` the client is answered -1007 while it goes on; a journal that fails stops
    the stage, as for a command."""
    try:
        if deadline is None:
            await app[JOURNAL].send_beside(*record)
        else:
            async with asyncio.timeout_at(deadline):
                await app[JOURNAL].send_beside(*record)
    except TimeoutError:
        raise errors.timeout() from None
    except JournalError:
        _journal_failed()


_LATE_COMMITS: set[asyncio.Task] = set()


async def _publish_when_durable(app) -> None:
    try:
        durable = await app[JOURNAL].sync()
    except JournalError:
        _journal_failed()
    app[OUTBOX].durable_up_to(durable)


def _journal_failed() -> None:
    # the stage's state already holds commands that cannot be made durable: stop at once; the
    # supervisor restarts it from what the journal does hold
    if isinstance(sys.exc_info()[1], CommandLogFenced):  # a newer Acquiring writes the log: not restarted
        log.critical("fenced off the command log by a newer Acquiring: stopping this stage without answering")
        os._exit(FENCED_EXIT)
    log.critical("the journal failed: stopping this stage", exc_info=True)
    os._exit(70)
