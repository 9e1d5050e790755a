"""What Acquiring's two modules share, below both: acquiring.py (AcquiringStage) and orderlists.py
(its order-list part, which AcquiringStage mixes in), so that neither imports the other to get them.

- `CommandError`: an expected refusal of a command, before it reaches Match;
- `balance_entries`: the ledger's changes as the SpotBalance entries Acquiring and Settlement publish.
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


def balance_entries(changes: list[BalanceChange], ts: int) -> list[ChangeLogEntry]:
    """Ledger changes as SpotBalance entries (BALANCE_FIELDS, in order): deltas only. Acquiring's absolute view depends on when
    Settlement's changes reached it, so publishing it would make the change log timing-dependent."""
    return [ChangeLogEntry(balance_id_of(c.account, c.asset), EntityType.BALANCE,
                           Updated(BalanceFields(c.account, c.asset, c.available_delta, c.frozen_delta, c.reason, c.ref)),
                           ts, 0)
            for c in changes]
