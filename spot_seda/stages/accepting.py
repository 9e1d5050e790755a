"""What Acquiring's two modules share, below both: acquiring.py (AcquiringStage) and orderlists.py
(its order-list part, which AcquiringStage mixes in), so that neither imports the other to get them.

- `CommandError`: an expected refusal of a command, before it reaches Match;
- `balance_entries`: the ledger's changes as the SpotBalance entries Acquiring and Settlement publish;
- `made_up_client_id`: the client id of an order (or amend) sent without one.
"""

from __future__ import annotations

from ..engine.ledger import BalanceChange
from ..model.changelog import BalanceFields, ChangeLogEntry, Updated
from ..model.entities import balance_id_of
from ..model.enums import EntityType
from ..model.reasons import Reason


class CommandError(Exception):
    """An expected refusal of a command, before it reaches Match; `reason` (model/reasons.py) is
    mapped to Binance's code and text by binance/errors.refusal."""

    def __init__(self, reason: Reason, detail: str = "") -> None:
        super().__init__(reason, detail)
        self.reason = reason
        self.detail = detail


def made_up_client_id(prefix: str, order_id: int, taken) -> str:
    """The client id the node gives an order sent without one (Binance makes one up): `prefix-<order
    id>`, unless that is in `taken` (the account's open orders' client ids, and any the same command
    names): a client may have chosen it for another open order, and two open orders with one client id
    make the second a REJECTED order answered as a success, and the id find the wrong order. Then
    `prefix-<order id>-<n>`, the lowest n free. A journaled command carries the id it was given, so a
    replay gives the same one."""
    cid = f"{prefix}-{order_id}"
    n = 0
    while cid in taken:
        n += 1
        cid = f"{prefix}-{order_id}-{n}"
    return cid


def balance_entries(changes: list[BalanceChange], ts: int) -> list[ChangeLogEntry]:
    """Ledger changes as SpotBalance entries (BALANCE_FIELDS, in order): deltas only. Acquiring's absolute view depends on when
    Settlement's changes reached it, so publishing it would make the change log timing-dependent."""
    return [ChangeLogEntry(balance_id_of(c.account, c.asset), EntityType.BALANCE,
                           Updated(BalanceFields(c.account, c.asset, c.available_delta, c.frozen_delta, c.reason, c.ref)),
                           ts, 0)
            for c in changes]
