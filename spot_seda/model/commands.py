"""Commands: what clients ask of the node. Acquiring journals each accepted command (with the ids,
budgets and timestamp it assigned) before answering; replaying the journal rebuilds every stage.

The same structs are the format of `run.py replay` command files (JSON lines, one command per line,
tagged by "cmd"): the REST API's fields in snake case plus account and timestamp, amounts as decimal
strings in files (`replay` converts) and integers here.
"""

from __future__ import annotations

from typing import Union

import msgspec


class NewOrder(msgspec.Struct, tag="new_order", tag_field="cmd", frozen=True, gc=False, omit_defaults=True):
    """(omit_defaults: a journaled order without a stop price, trailing delta or strategy is written
    as it was before those existed)"""

    account: int
    symbol: str
    side: str  # BUY | SELL
    type: str  # LIMIT | MARKET | LIMIT_MAKER | STOP_LOSS | STOP_LOSS_LIMIT | TAKE_PROFIT | TAKE_PROFIT_LIMIT
    time_in_force: str  # GTC | IOC | FOK
    price: int
    qty: int
    quote_qty: int
    client_order_id: str
    stp: str
    timestamp: int
    #: assigned by Acquiring when it accepts the order (0 in a command file: assigned on replay)
    order_id: int = 0
    #: a stop order's trigger price, a trailing stop's activation price (price units); 0 for the
    #: other types and a trailing stop without one
    stop_price: int = 0
    #: a trailing stop's trailingDelta (BIPS); 0 for every other order
    trailing_delta: int = 0
    #: Binance's strategyId and strategyType, labels the order keeps and shows (-1: not sent;
    #: strategyId may be 0, strategyType is at least 1000000)
    strategy_id: int = -1
    strategy_type: int = -1


class Cancel(msgspec.Struct, tag="cancel", tag_field="cmd", frozen=True, gc=False):
    account: int
    symbol: str
    order_id: int
    timestamp: int
    #: the cancel's own client id (DELETE /api/v3/order newClientOrderId; "" = cancel-<order_id>)
    client_order_id: str = ""
    #: Binance's cancelRestrictions: "" | ONLY_NEW | ONLY_PARTIALLY_FILLED (Match checks it)
    restrictions: str = ""


class Amend(msgspec.Struct, tag="amend", tag_field="cmd", frozen=True, gc=False):
    """PUT /api/v3/order/amend/keepPriority: reduce an open order's total quantity to `qty` in place."""

    account: int
    symbol: str
    order_id: int
    timestamp: int
    qty: int
    #: the order's client id from now on ("" in a command file: Acquiring names it amend-<order_id>)
    client_order_id: str = ""


class NewOco(msgspec.Struct, tag="new_oco", tag_field="cmd", frozen=True, gc=False):
    """POST /api/v3/orderList/oco: two orders of one account, symbol and side (the LIMIT_MAKER /
    TAKE_PROFIT(_LIMIT) leg first, the STOP_LOSS(_LIMIT) leg second) of which the first to work
    cancels the other (engine/oco.py). Acquiring assigns the list id and the legs' order ids (0 in
    a command file) and freezes once for both."""

    account: int
    symbol: str
    timestamp: int
    legs: tuple[NewOrder, NewOrder]
    list_client_order_id: str = ""
    order_list_id: int = 0


class NewOto(msgspec.Struct, tag="new_oto", tag_field="cmd", frozen=True, gc=False):
    """POST /api/v3/orderList/oto: a working order (LIMIT / LIMIT_MAKER) and a pending order placed
    when the working one has filled (engine/oto.py). Each freezes its own funds at entry."""

    account: int
    symbol: str
    timestamp: int
    legs: tuple[NewOrder, NewOrder]  # (working, pending)
    list_client_order_id: str = ""
    order_list_id: int = 0


class NewOtoco(msgspec.Struct, tag="new_otoco", tag_field="cmd", frozen=True, gc=False):
    """POST /api/v3/orderList/otoco: a working order and a pending OCO pair (the LIMIT_MAKER /
    TAKE_PROFIT(_LIMIT) one first), placed when the working order fills (engine/oto.py)."""

    account: int
    symbol: str
    timestamp: int
    legs: tuple[NewOrder, NewOrder, NewOrder]  # (working, pending above/limit, pending stop)
    list_client_order_id: str = ""
    order_list_id: int = 0


class Transfer(msgspec.Struct, tag="transfer", tag_field="cmd", frozen=True, gc=False):
    """A deposit (amount > 0) or withdrawal (amount < 0) of free funds."""

    account: int
    asset: str
    amount: int
    timestamp: int
    ref: str = ""


class Tick(msgspec.Struct, tag="tick", tag_field="cmd", frozen=True, gc=False):
    """A reading of order entry's clock, journaled like any command so that a replay sees it at the
    same place: the open candles of `symbols` that trades changed go out as they are at this point
    (engine/kline.py, "Cadence"). Order entry journals one every `node.tick_ms` while new
    orders come in and before a read of klines (api/plumbing.py `tick`), `run.py replay` at the end
    of a command file; Match passes it on to KLine in its place among the symbol's trades. Never at
    a stop: a restart must not change the change log (KLine's snapshot keeps what is pending)."""

    timestamp: int
    symbols: tuple[str, ...] = ()


Command = Union[NewOrder, Cancel, Amend, NewOco, NewOto, NewOtoco, Transfer, Tick]

ENCODER = msgspec.msgpack.Encoder()
DECODER = msgspec.msgpack.Decoder(Command)
