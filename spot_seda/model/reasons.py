"""Why a command was refused, or an order ended without (fully) trading: one vocabulary from the
engine and Acquiring to the API.

Acquiring refuses a command before it reaches Match by raising `CommandError(reason)`; the book ends
an order early and says why in its report, which the change log carries as the order's `reason`
field; an amend the book refuses is answered with one of these too. binance/errors.py maps each
reason to Binance's code and text in one table (`errors.refusal`). The members are strings equal to
the words the change log has always carried, so entries encode byte for byte as before and a reason
read back from the log compares equal to its member.

(The `reason` of a balance change, e.g. "freeze", "trade", "deposit", names a kind of money move,
not a refusal; it is not part of this vocabulary.)
"""

from __future__ import annotations

from enum import StrEnum


class Reason(StrEnum):
    # refused by Acquiring before Match sees the command (CommandError)
    INSUFFICIENT_BALANCE = "insufficient_balance"
    DUPLICATE_ORDER = "duplicate_order"  #: a client order id already open on the account
    UNKNOWN_ORDER = "unknown_order"  #: not open for this account (also an amend the book refused)
    OVERLOADED = "overloaded"  #: too many commands waiting for Match (admission control)
    MAX_NUM_ORDERS = "max_num_orders"
    MAX_NUM_ALGO_ORDERS = "max_num_algo_orders"
    PERCENT_PRICE_BY_SIDE = "percent_price_by_side"
    NOTIONAL = "notional"  #: a MARKET order by quantity worth less than minNotional at the average price

    # an order the book ended early (its report's reason, the change log's `reason` field)
    WOULD_TAKE = "would_take"  #: LIMIT_MAKER (or an order list's maker leg) would match at once: REJECTED
    WOULD_TRIGGER = "would_trigger"  #: a stop order whose stop price the last trade has reached: REJECTED
    FOK_UNFILLED = "fok_unfilled"  #: FOK that could not fill whole: EXPIRED, nothing traded
    IOC_LEFTOVER = "ioc_leftover"  #: what an IOC could not fill at once: EXPIRED
    NO_LIQUIDITY = "no_liquidity"  #: what a MARKET order found no more makers for: EXPIRED
    NO_BOOK = "no_book"  #: a MARKET order by quoteOrderQty with nothing on the other side: REJECTED
    BOOK_BELOW_MIN_QTY = "book_below_min_qty"  #: ... with less than LOT_SIZE's minQty there: REJECTED
    QUOTE_BELOW_MIN_QTY = "quote_below_min_qty"  #: ... whose budget buys less than minQty: REJECTED
    SELF_TRADE_PREVENTED = "stp"  #: expired by self-trade prevention: EXPIRED_IN_MATCH
    LIST_REJECTED = "list_rejected"  #: an order list's leg, rejected because another leg was
    OCO_TRIGGER = "oco_trigger"  #: an OCO leg whose other leg started working or ended: EXPIRED (Binance's OCO_TRIGGER)
    OTO_EXPIRED = "oto_expired"  #: an OTO's pending order whose working order expired: EXPIRED (OTO_PHASE_ONE_EXPIRED)
    DUPLICATE_ORDER_ID = "duplicate_order_id"  #: an order id the book already holds (a replayed command)
    DUPLICATE_CLIENT_ORDER_ID = "duplicate_client_order_id"  #: another open order's client order id
    CANCEL_RESTRICTIONS = "cancel_restrictions"  #: a cancel whose cancelRestrictions the order does not meet
    AMENDED = "amend"  #: an amend that leaves nothing open ends the order: EXPIRED (engine/amend.py)

    # an amend (keepPriority) refused
    NOT_REDUCING = "not_reducing"  #: the new quantity is not below the order's (it changed meanwhile)
    ORDER_LIST = "order_list"  #: the order is an order list's leg
    INCREASE = "increase"  #: the request asks for more than the order's quantity (checked by the API)
    NO_CHANGE = "no_change"  #: the request asks for the order's own quantity (checked by the API)


#: an order the book refuses as it is placed (REJECTED before it takes anything): the API answers it
#: as an error (binance/errors.py), and it is never live, so no executionReport shows it
REFUSED_AT_PLACEMENT = frozenset({Reason.WOULD_TAKE, Reason.WOULD_TRIGGER, Reason.NO_BOOK, Reason.BOOK_BELOW_MIN_QTY,
                                  Reason.QUOTE_BELOW_MIN_QTY, Reason.DUPLICATE_CLIENT_ORDER_ID})


def refused_report(fields) -> bool:
    """Whether Match's report (an order update's fields) says the book refused the order as it was
    placed: its first report (it repeats what was `frozen`), REJECTED for a REFUSED_AT_PLACEMENT reason
    or as an order list's leg rejected with another (LIST_REJECTED). Such an order is an error to
    its client: no view shows it (history/queries.py, AcquiringStage.find_order), as Binance
    shows none. An OTO's pending order refused later, when it is placed, was an order before: its
    report is not its first."""
    return fields.get("status") == "REJECTED" and "frozen" in fields and (
        fields.get("reason") in REFUSED_AT_PLACEMENT or fields.get("reason") == Reason.LIST_REJECTED)
