"""Core value types: order kinds, orders, trades and order outcomes.

Units (used everywhere inside the market):

* **price**: integer number of ticks; one tick is one cent (``TICKS_PER_UNIT = 100``
  ticks per currency unit). ``4125`` means 41.25.
* **quantity**: integer number of shares (one lot = one share).
* **cash**: integer number of cents.
* **side**: ``+1`` buy, ``-1`` sell.

Floats appear only in observations, features and rewards (converted at the boundary:
``price = ticks / TICKS_PER_UNIT``).
"""

from __future__ import annotations

from enum import IntEnum
from typing import NamedTuple

TICKS_PER_UNIT = 100
"""Price ticks (cents) per currency unit."""

BUY = 1
SELL = -1


class OrderKind(IntEnum):
    """How an order is handled by the book.

    * ``LIMIT``: good-till-cancelled limit order; the unfilled rest stays on the book
      across ticks until filled or cancelled.
    * ``IOC``: immediate-or-cancel limit order; the unfilled rest is cancelled.
    * ``MARKET``: matches against the opposite side at any price; never rests. Against an
      empty side it fills nothing and is reported as ``cancelled`` (not rejected).
    """

    LIMIT = 0
    IOC = 1
    MARKET = 2


class Order(NamedTuple):
    """An order as submitted to :meth:`marketenv.market.Market.submit`.

    Attributes:
        agent: Integer agent index (0-based slot in the market's accounts).
        symbol: Symbol index (0-based, in config order).
        side: ``+1`` buy or ``-1`` sell.
        quantity: Shares, ``>= 1``.
        price: Limit price in ticks (``>= 1``); ignored (use ``0``) for market orders.
        kind: :class:`OrderKind`.
    """

    agent: int
    symbol: int
    side: int
    quantity: int
    price: int
    kind: int = OrderKind.LIMIT


class Trade(NamedTuple):
    """One execution between a resting order and an incoming order.

    The price is the resting order's price. ``aggressor`` is the side of the incoming
    order (``+1`` if a buyer lifted an offer).
    """

    tick: int
    symbol: int
    price: int
    quantity: int
    buyer: int
    seller: int
    buy_order_id: int
    sell_order_id: int
    aggressor: int


class OrderStatus(IntEnum):
    """The fate of a submitted order at the end of its submission."""

    FILLED = 0
    """Fully filled on arrival."""
    RESTING = 1
    """Partly filled or not at all; the rest sits on the book (``LIMIT`` only)."""
    CANCELLED = 2
    """``IOC``/``MARKET`` rest that could not fill was cancelled (may have partly filled)."""
    REJECTED = 3
    """Refused by a market rule before touching the book; ``reason`` says which."""


class OrderResult(NamedTuple):
    """What happened to one submitted order.

    Attributes:
        order_id: The market-assigned id (``-1`` when rejected).
        status: :class:`OrderStatus`.
        filled: Shares filled on arrival (always ``>= 0``).
        notional: Sum of ``price * quantity`` over those fills, in cents.
        reason: Empty unless rejected; then a human-readable reason naming the rule.
    """

    order_id: int
    status: int
    filled: int
    notional: int
    reason: str = ""

