"""One symbol's limit order book with price-time priority, in pure CPython.

The book is pure: it knows nothing about agents' accounts or the market's rules. Order ids
and agent indices are plain ``int`` values chosen by the caller; the book only checks that
an order is well formed (see :meth:`OrderBook.submit`) and never that it is affordable.

Matching:

* **Price-time priority**: a better price matches first; at one price, the earlier arrival.
* **Execution price**: every trade executes at the *resting* order's price.
* ``LIMIT`` (good till cancelled) rests its unfilled remainder; ``IOC`` and ``MARKET``
  drop it. ``MARKET`` ignores its price and walks the opposite side until filled or empty.

Self-trade rule (**cancel resting**): when an incoming order would match a resting order of
the same agent, that resting order is cancelled (its id is reported in the
``self_cancelled_ids`` returned by :meth:`OrderBook.submit`) and matching continues with the
next resting order. No trade between an agent and itself ever occurs. Only the agent's
resting orders the incoming order actually reaches are cancelled: once the incoming order is
filled, or the next price is beyond its limit, the agent's orders behind stay on the book.
A ``LIMIT`` remainder therefore never rests crossed against its own agent's orders, and the
book is never crossed.

Representation (chosen by measurement; see ``bench/bench_order_book.py``): per side, a dict
price -> :class:`_Level` (a FIFO ``deque`` of small ``__slots__`` order records plus the
level's aggregate quantity) and a heap of the level prices (negated for bids). Emptied
levels are deleted from the dict at once and their heap entries are discarded lazily when
they reach the top, so the best price costs O(1) amortised. Cancel is O(1): the record is
marked dead (quantity 0), the level quantity is fixed, and the record is removed from the
level's deque when it sits at either end, or skipped later by matching otherwise (a level
is compacted when dead records outnumber live ones). Heaps are rebuilt when stale entries
outnumber live levels, so memory stays proportional to the live book.
"""

from __future__ import annotations

from collections import deque
from heapq import heapify, heappop, heappush

from marketenv.errors import InvalidOrderError
from marketenv.types import BUY, SELL, OrderKind, OrderStatus, Trade

__all__ = ["OrderBook"]

_LIMIT = int(OrderKind.LIMIT)
_IOC = int(OrderKind.IOC)
_MARKET = int(OrderKind.MARKET)

_FILLED = OrderStatus.FILLED
_RESTING = OrderStatus.RESTING
_CANCELLED = OrderStatus.CANCELLED

# ``tuple.__new__(Trade, (...))`` builds the same ``Trade`` instance as ``Trade(...)``
# without the Python-level ``__new__`` frame of the NamedTuple (about 2.5x faster).
_new_tuple = tuple.__new__

# A heap is rebuilt when it holds more than ``2 * live levels + _HEAP_SLACK`` entries.
_HEAP_SLACK = 64
# A level's deque is compacted when it holds more than ``_DEAD_SLACK`` cancelled records
# and they are more than half of it.
_DEAD_SLACK = 8


class _Order:
    """A resting order; ``qty == 0`` marks it dead (filled or cancelled)."""

    __slots__ = ("oid", "agent", "side", "price", "qty")

    def __init__(self, oid: int, agent: int, side: int, price: int, qty: int) -> None:
        self.oid = oid
        self.agent = agent
        self.side = side
        self.price = price
        self.qty = qty


class _Level:
    """One price level: FIFO of order records and the sum of their live quantities."""

    __slots__ = ("qty", "orders", "dead")

    def __init__(self) -> None:
        self.qty = 0
        self.orders: deque[_Order] = deque()
        self.dead = 0


class OrderBook:
    """Limit order book of one symbol.

    Args:
        symbol: Symbol index written into every :class:`~marketenv.types.Trade`.

    Attributes:
        symbol: The symbol index given at construction.
    """

    __slots__ = (
        "symbol",
        "_bids",
        "_asks",
        "_bid_heap",
        "_ask_heap",
        "_bid_total",
        "_ask_total",
        "_orders",
    )

    def __init__(self, symbol: int = 0) -> None:
        self.symbol = symbol
        self._bids: dict[int, _Level] = {}
        self._asks: dict[int, _Level] = {}
        self._bid_heap: list[int] = []  # negated bid prices
        self._ask_heap: list[int] = []  # ask prices
        self._bid_total = 0
        self._ask_total = 0
        self._orders: dict[int, _Order] = {}

    # ------------------------------------------------------------------ mutation

    def submit(
        self,
        order_id: int,
        agent: int,
        side: int,
        quantity: int,
        price: int,
        kind: int,
        tick: int,
        trades: list[Trade],
    ) -> tuple[int, int, int, list[int]]:
        """Match an incoming order against the book, then rest or drop its remainder.

        Every execution is appended to ``trades`` as ``Trade(tick, symbol, price, quantity,
        buyer, seller, buy_order_id, sell_order_id, aggressor=side)`` at the resting order's
        price. Resting orders of ``agent`` that the order reaches are cancelled instead of
        traded with (see the module docstring).

        Args:
            order_id: Caller-chosen id; must not be the id of a live resting order.
            agent: Caller-chosen agent index of the submitter.
            side: ``BUY`` (``+1``) or ``SELL`` (``-1``).
            quantity: Shares, ``>= 1``.
            price: Limit price in ticks, ``>= 1`` for ``LIMIT`` and ``IOC``; ignored for
                ``MARKET``.
            kind: An :class:`~marketenv.types.OrderKind` value.
            tick: Market tick written into the trades.
            trades: List the executions are appended to.

        Returns:
            ``(filled_qty, notional, status, self_cancelled_ids)``: shares filled on arrival,
            the sum of ``price * qty`` over those fills, an
            :class:`~marketenv.types.OrderStatus` (``FILLED`` if fully filled, ``RESTING``
            if a ``LIMIT`` remainder rests, ``CANCELLED`` if an ``IOC``/``MARKET``
            remainder was dropped) and the ids of the resting orders cancelled by the
            self-trade rule, in the order they were reached.

        Raises:
            InvalidOrderError: (a ``ValueError``) if ``quantity < 1``, ``side`` is not
                ``+1``/``-1``, ``kind`` is unknown, ``price < 1`` on a ``LIMIT``/``IOC``
                order, or ``order_id`` is already resting. The book is unchanged then.
        """
        if quantity < 1:
            raise InvalidOrderError(f"order quantity must be >= 1 share, got {quantity!r}")
        if side == BUY:
            side = BUY
            levels = self._asks
            heap = self._ask_heap
            sign = 1
        elif side == SELL:
            side = SELL
            levels = self._bids
            heap = self._bid_heap
            sign = -1
        else:
            raise InvalidOrderError(f"order side must be +1 (buy) or -1 (sell), got {side!r}")
        if kind == _MARKET:
            limit_key = None
        elif kind == _LIMIT or kind == _IOC:
            if price < 1:
                raise InvalidOrderError(
                    f"limit price must be >= 1 tick for LIMIT/IOC orders, got {price!r}"
                )
            limit_key = price * sign
        else:
            raise InvalidOrderError(f"order kind must be LIMIT, IOC or MARKET, got {kind!r}")
        orders = self._orders
        if order_id in orders:
            raise InvalidOrderError(
                f"order id {order_id!r} is already resting on the book; use a fresh id"
            )

        remaining = quantity
        notional = 0
        removed = 0  # quantity taken off the opposite side (fills + self-cancels)
        self_cancelled: list[int] = []
        symbol = self.symbol
        while heap:
            key = heap[0]
            if limit_key is not None and key > limit_key:
                break
            p = key * sign
            lv = levels.get(p)
            if lv is None:  # stale heap entry of an emptied level
                heappop(heap)
                continue
            q = lv.orders
            lv_qty = lv.qty
            while True:  # lv_qty > 0 guarantees a live record in q
                o = q[0]
                oq = o.qty
                if oq == 0:  # cancelled earlier
                    q.popleft()
                    continue
                if o.agent == agent:  # self-trade rule: cancel the resting order
                    q.popleft()
                    del orders[o.oid]
                    o.qty = 0
                    lv_qty -= oq
                    removed += oq
                    self_cancelled.append(o.oid)
                    if lv_qty == 0:
                        break
                    continue
                if oq > remaining:
                    fill = remaining
                    o.qty = oq - fill
                else:
                    fill = oq
                    o.qty = 0
                    q.popleft()
                    del orders[o.oid]
                lv_qty -= fill
                removed += fill
                remaining -= fill
                notional += p * fill
                if sign == 1:
                    trades.append(
                        _new_tuple(
                            Trade, (tick, symbol, p, fill, agent, o.agent, order_id, o.oid, BUY)
                        )
                    )
                else:
                    trades.append(
                        _new_tuple(
                            Trade, (tick, symbol, p, fill, o.agent, agent, o.oid, order_id, SELL)
                        )
                    )
                if remaining == 0 or lv_qty == 0:
                    break
            if lv_qty == 0:
                del levels[p]
                heappop(heap)  # heap[0] is still ``key``
            else:
                lv.qty = lv_qty
            if remaining == 0:
                break

        if removed:
            if sign == 1:
                self._ask_total -= removed
            else:
                self._bid_total -= removed
        filled = quantity - remaining
        if remaining == 0:
            return filled, notional, _FILLED, self_cancelled
        if kind != _LIMIT:
            return filled, notional, _CANCELLED, self_cancelled

        # Rest the LIMIT remainder on the submitter's side.
        if sign == 1:
            own = self._bids
            lv = own.get(price)
            if lv is None:
                lv = own[price] = _Level()
                own_heap = self._bid_heap
                heappush(own_heap, -price)
                if len(own_heap) > 2 * len(own) + _HEAP_SLACK:
                    own_heap[:] = [-p for p in own]
                    heapify(own_heap)
            self._bid_total += remaining
        else:
            own = self._asks
            lv = own.get(price)
            if lv is None:
                lv = own[price] = _Level()
                own_heap = self._ask_heap
                heappush(own_heap, price)
                if len(own_heap) > 2 * len(own) + _HEAP_SLACK:
                    own_heap[:] = list(own)
                    heapify(own_heap)
            self._ask_total += remaining
        o = _Order(order_id, agent, side, price, remaining)
        lv.orders.append(o)
        lv.qty += remaining
        orders[order_id] = o
        return filled, notional, _RESTING, self_cancelled

    def cancel(self, order_id: int) -> int:
        """Remove a resting order from the book.

        Args:
            order_id: Id of the order to cancel. Unknown, filled and already cancelled ids
                are tolerated.

        Returns:
            The remaining quantity that was cancelled, or ``0`` if ``order_id`` was not a
            live resting order.
        """
        o = self._orders.pop(order_id, None)
        if o is None:
            return 0
        oq = o.qty
        o.qty = 0
        p = o.price
        if o.side == BUY:
            levels = self._bids
            self._bid_total -= oq
        else:
            levels = self._asks
            self._ask_total -= oq
        lv = levels[p]
        lv.qty -= oq
        if lv.qty == 0:
            del levels[p]  # the heap entry is dropped lazily
            return oq
        q = lv.orders
        if q[-1] is o:
            q.pop()
        elif q[0] is o:
            q.popleft()
        else:  # dead record in the middle: skipped by matching, compacted when dominant
            lv.dead += 1
            if lv.dead > _DEAD_SLACK and 2 * lv.dead > len(q):
                lv.orders = deque([r for r in q if r.qty])
                lv.dead = 0
        return oq

    def clear(self) -> None:
        """Remove every resting order (the symbol is kept)."""
        self._bids.clear()
        self._asks.clear()
        self._bid_heap.clear()
        self._ask_heap.clear()
        self._bid_total = 0
        self._ask_total = 0
        self._orders.clear()

    # ------------------------------------------------------------------ queries

    def best_bid(self) -> int | None:
        """Return the highest bid price in ticks, or ``None`` if there are no bids."""
        heap = self._bid_heap
        levels = self._bids
        while heap:
            p = -heap[0]
            if p in levels:
                return p
            heappop(heap)
        return None

    def best_ask(self) -> int | None:
        """Return the lowest ask price in ticks, or ``None`` if there are no asks."""
        heap = self._ask_heap
        levels = self._asks
        while heap:
            p = heap[0]
            if p in levels:
                return p
            heappop(heap)
        return None

    def best_bid_qty(self) -> int:
        """Return the aggregate quantity at the best bid (``0`` if there are no bids)."""
        p = self.best_bid()
        return 0 if p is None else self._bids[p].qty

    def best_ask_qty(self) -> int:
        """Return the aggregate quantity at the best ask (``0`` if there are no asks)."""
        p = self.best_ask()
        return 0 if p is None else self._asks[p].qty

    def depth(self, levels: int = 5) -> tuple[list[tuple[int, int]], list[tuple[int, int]]]:
        """Return the aggregated best price levels of both sides.

        Args:
            levels: Maximum number of levels per side.

        Returns:
            ``(bids, asks)``: lists of ``(price, quantity)``, bids by descending price and
            asks by ascending price.
        """
        if levels < 1:
            return [], []
        bids = self._bids
        asks = self._asks
        bid_prices = sorted(bids, reverse=True)[:levels]
        ask_prices = sorted(asks)[:levels]
        return (
            [(p, bids[p].qty) for p in bid_prices],
            [(p, asks[p].qty) for p in ask_prices],
        )

    def sweep(
        self, side: int, quantity: int, limit_price: int | None, agent: int
    ) -> tuple[int, int]:
        """Predict the immediate fills of an order without changing the book.

        Walks the opposite side exactly as :meth:`submit` would, skipping (not counting)
        ``agent``'s own resting orders, which the self-trade rule would cancel.

        Args:
            side: ``BUY`` (``+1``) or ``SELL`` (``-1``) of the hypothetical incoming order.
            quantity: Its quantity, ``>= 1``.
            limit_price: Its limit price in ticks, or ``None`` for a market order.
            agent: Its agent index.

        Returns:
            ``(filled_qty, notional)`` that :meth:`submit` would report for that order.

        Raises:
            InvalidOrderError: (a ``ValueError``) on the same malformed inputs as
                :meth:`submit`.
        """
        if quantity < 1:
            raise InvalidOrderError(f"order quantity must be >= 1 share, got {quantity!r}")
        if limit_price is not None and limit_price < 1:
            raise InvalidOrderError(f"limit price must be >= 1 tick, got {limit_price!r}")
        if side == BUY:
            levels = self._asks
            p = self.best_ask()
        elif side == SELL:
            levels = self._bids
            p = self.best_bid()
        else:
            raise InvalidOrderError(f"order side must be +1 (buy) or -1 (sell), got {side!r}")
        if p is None:
            return 0, 0
        remaining = quantity
        notional = 0
        prices: list[int] | None = None  # all level prices, best first; built if needed
        i = 0
        while True:
            if limit_price is not None and (p > limit_price if side == BUY else p < limit_price):
                break
            for o in levels[p].orders:
                oq = o.qty
                if oq and o.agent != agent:
                    if oq >= remaining:
                        notional += p * remaining
                        remaining = 0
                        break
                    notional += p * oq
                    remaining -= oq
            if remaining == 0:
                break
            if prices is None:
                prices = sorted(levels, reverse=side == SELL)
            i += 1
            if i >= len(prices):
                break
            p = prices[i]
        return quantity - remaining, notional

    def order_info(self, order_id: int) -> tuple[int, int, int, int] | None:
        """Describe a live resting order.

        Args:
            order_id: The order's id.

        Returns:
            ``(agent, side, price, remaining_qty)``, or ``None`` if the order is not resting.
        """
        o = self._orders.get(order_id)
        if o is None:
            return None
        return o.agent, o.side, o.price, o.qty

    def resting_quantity(self, side: int) -> int:
        """Return the total resting quantity of one side (O(1)).

        Args:
            side: ``BUY`` (``+1``) for bids or ``SELL`` (``-1``) for asks.

        Raises:
            InvalidOrderError: (a ``ValueError``) if ``side`` is not ``+1``/``-1``.
        """
        if side == BUY:
            return self._bid_total
        if side == SELL:
            return self._ask_total
        raise InvalidOrderError(f"side must be +1 (buy) or -1 (sell), got {side!r}")

    def __len__(self) -> int:
        """Return the number of live resting orders."""
        return len(self._orders)

    def __repr__(self) -> str:
        return (
            f"OrderBook(symbol={self.symbol}, orders={len(self._orders)}, "
            f"best_bid={self.best_bid()}, best_ask={self.best_ask()})"
        )
