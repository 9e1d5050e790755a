"""Order lists (OCO, OTO, OTOCO) as this node answers them today: not supported, and said so in
Binance's words rather than with an unknown path. exchangeInfo says ocoAllowed and otoAllowed false;
placing a list is refused -2010 after the request's signature and symbol are checked; no list can
exist, so the list queries answer truthfully: none open, none ever, and a named one does not exist.

(The linked-order rules, one leg cancelling the other and pending legs placed when the working one
fills, belong in Match beside the book, where they would be journaled and replayed with the
commands that cause them; and an OCO's two legs share one hold of funds, which the ledgers' holds
per order do not express yet. Until both are built, refusing is the honest answer.)
"""

from __future__ import annotations

from aiohttp import web

from ..binance import errors, params
from ..binance.errors import ApiError
from .plumbing import signed, stage_of

OCO_REFUSED = "OCO orders are not supported for this symbol."
OTO_REFUSED = "OTO orders are not supported for this symbol."


async def _refuse(request: web.Request, text: str) -> web.Response:
    _account_id, p = await signed(request)
    params.parse_symbol(p, stage_of(request).rules)
    raise ApiError(-2010, text)


async def new_oco(request: web.Request) -> web.Response:
    """POST /api/v3/orderList/oco and the deprecated POST /api/v3/order/oco: -2010."""
    return await _refuse(request, OCO_REFUSED)


async def new_oto(request: web.Request) -> web.Response:
    """POST /api/v3/orderList/oto and /api/v3/orderList/otoco: -2010."""
    return await _refuse(request, OTO_REFUSED)


async def query_order_list(request: web.Request) -> web.Response:
    """GET /api/v3/orderList: orderListId or origClientOrderId (-1102 without); none exists: -2013."""
    _account_id, p = await signed(request)
    if params.parse_int(p, "orderListId") is None and not p.get("origClientOrderId"):
        raise errors.either_missing("orderListId", "origClientOrderId")
    raise ApiError(-2013, "Order list does not exist.")


async def cancel_order_list(request: web.Request) -> web.Response:
    """DELETE /api/v3/orderList: symbol, orderListId or listClientOrderId; none exists: -2011."""
    _account_id, p = await signed(request)
    params.parse_symbol(p, stage_of(request).rules)
    if params.parse_int(p, "orderListId") is None and not p.get("listClientOrderId"):
        raise errors.either_missing("orderListId", "listClientOrderId")
    raise ApiError(-2011, "Unknown order list sent.")


async def no_order_lists(request: web.Request) -> web.Response:
    """GET /api/v3/allOrderList and /api/v3/openOrderList: no list ever exists here."""
    _account_id, p = await signed(request)
    params.parse_time_range(p)
    return web.json_response([])


def add_routes(app: web.Application) -> None:
    r = app.router
    r.add_post("/api/v3/orderList/oco", new_oco)
    r.add_post("/api/v3/order/oco", new_oco)
    r.add_post("/api/v3/orderList/oto", new_oto)
    r.add_post("/api/v3/orderList/otoco", new_oto)
    r.add_get("/api/v3/orderList", query_order_list)
    r.add_delete("/api/v3/orderList", cancel_order_list)
    r.add_get("/api/v3/allOrderList", no_order_lists)
    r.add_get("/api/v3/openOrderList", no_order_lists)
