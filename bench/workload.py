"""The seeded order flow every benchmark shares (bench/engine.py, bench/pipeline.py).

Deposits first (`deposits`): every account gets enough of every asset that no order of the flow
is refused for funds. Then `workload(n, seed, rules)` commands, one at a time from one RNG:

- each symbol has its own mid price, drifting as a random walk (a +-1-tick step with probability
  1/2 per command for the symbol drawn); BTCUSDT starts at 30000.00, ETHUSDT at 3000.00, any other
  symbol at 100.00; with several symbols each command draws its symbol uniformly (with one symbol
  there is no draw, so the single-symbol flow of bench/engine.py stays what it was);
- 70% LIMIT GTC orders, side at random, priced 0..100 ticks on their own side of the mid, and one
  in twenty 1..5 ticks through it (so limits take too); qty 20..400 steps (6..120 USDT at the
  starting mids: every order passes the min-notional filter);
- 20% cancels of an order id drawn from the symbol's last 2,000 placed (some already finished:
  those are refused with UNKNOWN_ORDER, part of the work a cancel does);
- 10% takers: half MARKET by quantity, a quarter MARKET by quote amount (10..200 USDT), a quarter
  LIMIT IOC 3 ticks through;
- 1,000 accounts drawn uniformly, 10% of orders with an STP mode; timestamps advance 1 ms per
  command.

A command is a tuple: (PLACE, id, account, side, type, tif, price, qty, quote_qty, stp, ts, symbol)
or (CANCEL, id, account, symbol). Ids count the PLACE commands from 1, which is what the node
assigns when none is refused. `rest_params` turns one into the Binance REST parameters an HTTP
client would send for it, so the pipeline bench enters it through the API's own validation.
"""

from __future__ import annotations

import random
from collections.abc import Mapping

from spot_seda.model.enums import OrderType, SelfTradePrevention, Side, TimeInForce
from spot_seda.model.fixedpoint import ASSET_DECIMALS, to_text
from spot_seda.model.symbols import SymbolRules

PLACE, CANCEL = 0, 1
ACCOUNTS = 1000
#: starting mid of a symbol, in whole quote units
START_MID = {"BTCUSDT": 30_000, "ETHUSDT": 3_000}
#: what `deposits` gives each account of each asset (far more than the flow can spend)
DEPOSIT_BASE = 1_000_000
DEPOSIT_QUOTE = 10_000_000_000


def workload(n: int, seed: int, rules: Mapping[str, SymbolRules], accounts: int = ACCOUNTS) -> list[tuple]:
    """The seeded command list over the symbols of `rules` (see the module docstring)."""
    rng = random.Random(seed)
    rand, randrange = rng.random, rng.randrange
    symbols = list(rules)
    state = {s: [START_MID.get(s, 100) * rules[s].price_scale, []] for s in symbols}  # mid, [(id, account)]
    ts = 1_700_000_000_000
    next_id = 0
    cmds: list[tuple] = []
    append = cmds.append
    for _ in range(n):
        ts += 1
        symbol = symbols[0] if len(symbols) == 1 else symbols[randrange(len(symbols))]
        step = rules[symbol].step
        slot = state[symbol]
        if rand() < 0.5:
            slot[0] += 1 if rand() < 0.5 else -1
        mid, placed = slot
        x = rand()
        if x < 0.9 and (x < 0.7 or not placed):
            next_id += 1
            account = randrange(1, accounts + 1)
            side = randrange(2)
            offset = randrange(0, 101) if rand() < 0.95 else -randrange(1, 6)
            price = mid - offset if side == Side.BUY else mid + offset
            stp = randrange(1, 4) if rand() < 0.1 else 0
            append((PLACE, next_id, account, side, OrderType.LIMIT, TimeInForce.GTC, price, randrange(20, 401) * step,
                    0, stp, ts, symbol))
            placed.append((next_id, account))
        elif x < 0.9:
            oid, account = placed[randrange(max(0, len(placed) - 2000), len(placed))]
            append((CANCEL, oid, account, symbol))
        else:
            next_id += 1
            account = randrange(1, accounts + 1)
            side = randrange(2)
            qty = randrange(20, 401) * step
            y = rand()
            if y < 0.5:
                append((PLACE, next_id, account, side, OrderType.MARKET, TimeInForce.GTC, 0, qty, 0, 0, ts, symbol))
            elif y < 0.75:
                append((PLACE, next_id, account, side, OrderType.MARKET, TimeInForce.GTC, 0, 0,
                        randrange(10, 201) * 10**ASSET_DECIMALS, 0, ts, symbol))
            else:
                price = mid + 3 if side == Side.BUY else mid - 3
                append((PLACE, next_id, account, side, OrderType.LIMIT, TimeInForce.IOC, price, qty, 0, 0, ts, symbol))
            placed.append((next_id, account))
    return cmds


def deposits(rules: Mapping[str, SymbolRules], accounts: int = ACCOUNTS) -> list[tuple[int, str, int]]:
    """(account, asset, amount in units) for every account and every asset the symbols trade."""
    assets: dict[str, int] = {}
    for r in rules.values():
        assets.setdefault(r.base, DEPOSIT_BASE)
        assets[r.quote] = DEPOSIT_QUOTE
    return [(account, asset, amount * 10**ASSET_DECIMALS) for account in range(1, accounts + 1)
            for asset, amount in assets.items()]


def rest_params(cmd: tuple, rules: Mapping[str, SymbolRules]) -> dict[str, str]:
    """The POST (or DELETE) /api/v3/order parameters a client sends for a command, RESULT answers."""
    if cmd[0] == CANCEL:
        return {"symbol": cmd[3], "orderId": str(cmd[1])}
    _, _oid, _account, side, type_, tif, price, qty, quote, stp, _ts, symbol = cmd
    r = rules[symbol]
    p = {"symbol": symbol, "side": Side(side).name, "type": OrderType(type_).name, "newOrderRespType": "RESULT"}
    if type_ != OrderType.MARKET:
        p["timeInForce"] = TimeInForce(tif).name
        p["price"] = to_text(price, r.price_decimals)
    if quote:
        p["quoteOrderQty"] = to_text(quote, ASSET_DECIMALS)
    else:
        p["quantity"] = to_text(qty, ASSET_DECIMALS)
    if stp:
        p["selfTradePreventionMode"] = SelfTradePrevention(stp).name
    return p
