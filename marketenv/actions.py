"""The order action every market participant speaks, and its execution.

An **order action** is an ``int64`` array of shape ``(2, 3)``: row 0 is the buy side,
row 1 the sell side; the columns are ``[type, quantity, offset]``:

========  =======================================================================
type      meaning for that side
========  =======================================================================
0 NONE    do nothing on this side (resting orders stay)
1 LIMIT   cancel my resting orders on this side, then place a good-till-cancelled
          limit order of ``quantity`` at ``reference + offset`` ticks
2 IOC     cancel my resting orders on this side, then an immediate-or-cancel limit
          order at ``reference + offset``
3 MARKET  cancel my resting orders on this side, then a market order
4 CANCEL  cancel my resting orders on this side
5 PEG     as LIMIT, and the order is pegged to the symbol's fair value: when the fair
          value moves by whole ticks the exchange moves the order with it (at the start
          of each tick, see :class:`~marketenv.market.Market`)
========  =======================================================================

``reference`` is the symbol's integer reference price at the start of the tick
(``floor`` of the mid, in ticks, see :meth:`Market.reference_price`); a positive offset
is a higher price. A quantity of 0 places nothing (the cancel still happens). Within one
action, both sides' cancels happen first, then the buy order, then the sell order.

Recording encodes an action by its **net** placed quantity, with two-sided quotes
encoded by their lean (the exact rule is :func:`encode_action`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, NamedTuple

import numpy as np

from marketenv.engine import layout as L
from marketenv.engine.kernels import encode_outcomes
from marketenv.types import TICKS_PER_UNIT, OrderKind, OrderStatus

if TYPE_CHECKING:
    from marketenv.market import Market

NONE, LIMIT, IOC, MARKET, CANCEL, PEG = 0, 1, 2, 3, 4, 5
N_TYPES = 6
ACTION_SHAPE = (2, 3)
_KIND = {
    LIMIT: int(OrderKind.LIMIT), IOC: int(OrderKind.IOC), MARKET: int(OrderKind.MARKET),
    PEG: int(OrderKind.LIMIT),
}


class ActionOutcome(NamedTuple):
    """What one agent's action did this tick (on arrival; later fills of resting orders
    are counted by the caller from the trades).

    Attributes:
        placed_buy: Shares placed on the buy side.
        placed_sell: Shares placed on the sell side.
        buy_price: Limit price of the buy order in ticks (0 for market/none).
        sell_price: Limit price of the sell order in ticks (0 for market/none).
        status_buy: OrderStatus of the buy order, -1 if none.
        status_sell: OrderStatus of the sell order, -1 if none.
        reason: Rejection reasons joined by "; " (empty if none).
        mid2: Twice the symbol's mid price in ticks at the start of the tick.
    """

    placed_buy: int
    placed_sell: int
    buy_price: int
    sell_price: int
    status_buy: int
    status_sell: int
    reason: str
    mid2: int = 0


NO_OUTCOME = ActionOutcome(0, 0, 0, 0, -1, -1, "", 0)
_new_tuple = tuple.__new__  # builds the NamedTuple without its Python-level __new__ frame
_REJECTED = int(OrderStatus.REJECTED)
_RESTING = int(OrderStatus.RESTING)
MAX_OFFSET = 10_000
"""Largest absolute price offset of an action, ticks."""


def apply_action(market: Market, agent: int, symbol: int, action: np.ndarray) -> ActionOutcome:
    """Execute one agent's order action on the market now.

    Args:
        market: The market.
        agent: Agent slot.
        symbol: Symbol index the action trades.
        action: ``(2, 3)`` integer array (see the module docstring); assumed validated.

    Returns:
        The outcome (rejections are reported, never raised).
    """
    return apply_flat(market, agent, symbol, np.asarray(action).reshape(-1).tolist())


def apply_flat(market: Market, agent: int, symbol: int, a: Sequence[int]) -> ActionOutcome:
    """:func:`apply_action` for an action already flattened to 6 Python ints (the fast path).

    A ``LIMIT`` (``PEG``) that would replace the agent's single resting order on that side
    by an identical one (same price, same remaining quantity, same pegging) keeps the
    resting order and its queue position instead (reported as placed, status ``RESTING``).
    """
    bt, bq, bo, st, sq, so = a
    if bt == NONE and st == NONE:
        return NO_OUTCOME
    ref = market.reference_price(symbol)
    keep_b = keep_s = False
    if (bt == LIMIT or bt == PEG) and bq > 0:
        keep_b = market.single_resting(agent, symbol, 1) == (ref + bo, bq, bt == PEG)
    if (st == LIMIT or st == PEG) and sq > 0:
        keep_s = market.single_resting(agent, symbol, -1) == (ref + so, sq, st == PEG)
    if bt != NONE and not keep_b:
        market.cancel_side(agent, symbol, 1)
    if st != NONE and not keep_s:
        market.cancel_side(agent, symbol, -1)
    reasons = []
    status_b = status_s = -1
    placed_b = placed_s = 0
    price_b = price_s = 0
    if keep_b:
        status_b, placed_b, price_b = _RESTING, bq, ref + bo
    elif bq > 0 and bt != CANCEL and bt in _KIND:
        price_b = 0 if bt == MARKET else ref + bo
        _oid, status_b, _f, _n, reason = market.place(agent, symbol, 1, bq, price_b, _KIND[bt], bt == PEG)
        if status_b == _REJECTED:
            reasons.append("buy rejected: " + reason)
        else:
            placed_b = bq
    if keep_s:
        status_s, placed_s, price_s = _RESTING, sq, ref + so
    elif sq > 0 and st != CANCEL and st in _KIND:
        price_s = 0 if st == MARKET else ref + so
        _oid, status_s, _f, _n, reason = market.place(agent, symbol, -1, sq, price_s, _KIND[st], st == PEG)
        if status_s == _REJECTED:
            reasons.append("sell rejected: " + reason)
        else:
            placed_s = sq
    return _new_tuple(
        ActionOutcome,
        (placed_b, placed_s, price_b, price_s, status_b, status_s, "; ".join(reasons), market.mid2(symbol)),
    )


def encode_action(outcome: ActionOutcome) -> tuple[int, float, float]:
    """The recorded ``(action, action_quantity, action_price)`` of an outcome.

    Rule, over all orders the agent placed this tick:

    1. ``action`` is the sign of the net placed quantity (buys minus sells);
    2. when that is 0 but both sides were placed as limit orders (a two-sided quote), the
       sign of the quote's lean: of ``(bid + ask) / 2 - mid``, so a market maker quoting
       above the mid (leaning to buy) records +1 and below records -1; a centred quote
       records 0;
    3. ``action_quantity`` is the gross number of shares placed (both sides);
    4. ``action_price`` is the limit price (currency units) of the order on the side of
       ``action``; NaN when ``action`` is 0 or that order is a market order.
    """
    net = outcome.placed_buy - outcome.placed_sell
    gross = float(outcome.placed_buy + outcome.placed_sell)
    if net == 0 and outcome.placed_buy and outcome.buy_price > 0 and outcome.sell_price > 0:
        lean = outcome.buy_price + outcome.sell_price - outcome.mid2
        net = (lean > 0) - (lean < 0)
    if net > 0:
        p = outcome.buy_price
        return 1, gross, (p / TICKS_PER_UNIT) if p > 0 else float("nan")
    if net < 0:
        p = outcome.sell_price
        return -1, gross, (p / TICKS_PER_UNIT) if p > 0 else float("nan")
    return 0, gross, float("nan")


def rejection_text(r: Sequence[int], reason: Callable[[int, Sequence[int]], str]) -> str:
    """Why the market rejected an action's orders (``""`` if it did not).

    Args:
        r: The outcome columns ``O_REJ_BUY .. O_RS4`` (each side's reason code and its four values).
        reason: Formats a side's rejection from its code and values.
    """
    parts = []
    if r[0]:
        parts.append("buy rejected: " + reason(r[0], r[1:5]))
    if r[5]:
        parts.append("sell rejected: " + reason(r[5], r[6:10]))
    return "; ".join(parts)


class OutcomeArray(Sequence[ActionOutcome]):
    """Every agent's :class:`ActionOutcome` of one tick, held as one integer array.

    Indexing builds the :class:`ActionOutcome` of one agent (``NO_OUTCOME`` for an agent
    that did not act); :meth:`encoded` works on all agents at once.

    Args:
        table: ``(n_agents, N_OUTCOME)`` int64, columns ``O_*`` of
            :mod:`marketenv.engine.layout` (kept, not copied).
        reason: Formats a side's rejection from its reason code and four values.
    """

    def __init__(self, table: np.ndarray, reason: Callable[[int, Sequence[int]], str]) -> None:
        self.table = table
        self._reason = reason

    def __len__(self) -> int:
        return self.table.shape[0]

    def __getitem__(self, i: int) -> ActionOutcome:  # type: ignore[override]
        r = self.table[i].tolist()
        if not r[L.O_ACTED]:
            return NO_OUTCOME
        return ActionOutcome(
            r[L.O_PLACED_BUY], r[L.O_PLACED_SELL], r[L.O_PRICE_BUY], r[L.O_PRICE_SELL],
            r[L.O_STATUS_BUY], r[L.O_STATUS_SELL], rejection_text(r[L.O_REJ_BUY:L.O_RS4 + 1], self._reason),
            r[L.O_MID2],
        )

    def encoded(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(action int8, action_quantity, action_price)`` per agent, the rule of :func:`encode_action`."""
        return encode_outcomes(self.table)
