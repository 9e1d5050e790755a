"""What every HTTP handler of the Acquiring stage shares: the app's keys, Binance-style errors,
request parameters, authentication, and the journal-then-publish path every command takes."""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections import deque
from urllib.parse import parse_qsl

from aiohttp import web

from ..accounts import Accounts
from ..journal import Journal, JournalError
from ..model.commands import ENCODER as COMMANDS
from ..stages.acquiring import DUPLICATE, NSF, OVERLOADED, UNKNOWN_ORDER, AcquiringStage, CommandError
from . import auth, errors
from .errors import ApiError
from .intake import Intake

log = logging.getLogger("spot_seda.api")

STAGE = web.AppKey("stage", AcquiringStage)
RUNNER = web.AppKey("runner", object)
ACCOUNTS = web.AppKey("accounts", Accounts)
HISTORY = web.AppKey("history", object)
JOURNAL = web.AppKey("journal", Journal)
PENDING = web.AppKey("pending", deque)
INTAKE = web.AppKey("intake", Intake)

COMMAND_ERRORS = {
    NSF: errors.insufficient_balance,
    DUPLICATE: errors.duplicate_order,
    UNKNOWN_ORDER: errors.unknown_order,
    OVERLOADED: errors.overloaded,
}


def now_ms() -> int:
    return time.time_ns() // 1_000_000


# ---------------------------------------------------------------------------------- plumbing


@web.middleware
async def errors_middleware(request: web.Request, handler):
    """Every failure becomes Binance's {"code", "msg"}; a bug is logged and answered -1000."""
    try:
        return await handler(request)
    except ApiError as exc:
        return web.json_response(exc.body(), status=exc.status)
    except CommandError as exc:
        err = COMMAND_ERRORS[exc.kind]()
        return web.json_response(err.body(), status=err.status)
    except web.HTTPRequestEntityTooLarge:
        err = errors.body_too_large(request.app[STAGE].ctx.settings.node.max_body_bytes)
    except web.HTTPNotFound:
        err = errors.not_found(request.path)
    except web.HTTPMethodNotAllowed:
        err = errors.method_not_allowed(request.method, request.path)
    except asyncio.CancelledError:
        raise
    except Exception:
        log.exception("unexpected error on %s %s", request.method, request.path)
        err = errors.unknown()
    return web.json_response(err.body(), status=err.status)


async def request_params(request: web.Request) -> tuple[dict[str, str], str, str]:
    """Parameters from the query string and a form body (Binance accepts both, DELETE included)."""
    query = request.rel_url.raw_query_string  # clients sign the query exactly as they encoded it
    body = ""
    if request.can_read_body:
        raw = await request.read()
        try:
            body = raw.decode()
        except UnicodeDecodeError:
            raise errors.illegal_chars() from None
    merged: dict[str, str] = {}
    for source in (query, body):
        for key, value in parse_qsl(source, keep_blank_values=True):
            if key in merged:
                raise errors.duplicate_parameter()
            merged[key] = value
    return merged, query, body


async def signed(request: web.Request) -> tuple[int, dict[str, str]]:
    """Authenticate a private request: API key header, HMAC signature, timestamp window."""
    p, query, body = await request_params(request)
    account = authenticate_key(request)
    unsigned_query, unsigned_body, signature = auth.split_signature(query, body)
    auth.verify_signature(account.secret_key, unsigned_query, unsigned_body, signature)
    auth.check_timestamp(p.get("timestamp"), p.get("recvWindow"), now_ms())
    p.pop("signature", None)
    return account.account_id, p


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
        except Exception:
            # journaled effects that cannot reach the pipeline (a queue full for bus.put_timeout_s):
            # the supervisor restarts the pipeline from the journal, which holds them
            log.critical("cannot publish journaled commands: stopping this stage", exc_info=True)
            os._exit(70)


OUTBOX = web.AppKey("outbox", Outbox)


async def commit(request: web.Request, command, outputs) -> None:
    """Make an accepted command durable (journal, group commit), then have its effects sent down
    the pipeline (Outbox)."""
    app = request.app
    journal = app[JOURNAL]
    position = journal.append(COMMANDS.encode(command))
    app[PENDING].append((position, outputs))
    try:
        durable = await journal.sync()
    except JournalError:
        # the stage's state already holds commands that cannot be made durable: stop at once; the
        # supervisor restarts the pipeline from what the journal does hold
        log.critical("the journal failed: stopping this stage", exc_info=True)
        os._exit(70)
    app[OUTBOX].durable_up_to(durable)
