"""Tests of :mod:`marketenv.reference.order_book`, organised by operation.

Most tests build a small book with :func:`build` and submit one order with :func:`send`.
The randomised tests at the end compare ``sweep`` with ``submit`` and the book with a
deliberately naive reference implementation (:class:`NaiveBook`).
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable
from enum import IntEnum

import numpy as np
import pytest

from marketenv.reference.order_book import OrderBook
from marketenv.types import BUY, SELL, OrderKind, OrderStatus, Trade

LIMIT = OrderKind.LIMIT
IOC = OrderKind.IOC
MARKET = OrderKind.MARKET

TAKER = 99
"""Agent index of incoming orders unless a test says otherwise."""

Entry = tuple[int, int, int] | tuple[int, int, int, int]


def build(bids: Iterable[Entry] = (), asks: Iterable[Entry] = (), symbol: int = 0) -> OrderBook:
    """Build a book from resting orders, submitted in the given order (bids first).

    Each entry is ``(price, qty, agent)`` or ``(price, qty, agent, order_id)``. Without an
    explicit id, bids get ids 1, 2, ... and asks 101, 102, ... in the order given.
    """
    book = OrderBook(symbol)
    for side, entries, first_id in ((BUY, bids, 1), (SELL, asks, 101)):
        for n, entry in enumerate(entries):
            price, qty, agent = entry[:3]
            oid = entry[3] if len(entry) == 4 else first_id + n
            result = book.submit(oid, agent, side, qty, price, LIMIT, 0, [])
            assert result[2] == OrderStatus.RESTING, f"builder entry {entry} crossed the book"
    return book


_ids = itertools.count(10_000)


def send(
    book: OrderBook,
    side: int,
    qty: int,
    price: int = 0,
    kind: int = LIMIT,
    agent: int = TAKER,
    order_id: int | None = None,
    tick: int = 7,
) -> tuple[tuple[int, int, int, list[int]], list[Trade]]:
    """Submit one order with a fresh id; return ``(submit result, trades)``."""
    trades: list[Trade] = []
    oid = next(_ids) if order_id is None else order_id
    result = book.submit(oid, agent, side, qty, price, kind, tick, trades)
    return result, trades


def fills(trades: list[Trade]) -> list[tuple[int, int]]:
    """``(price, quantity)`` of each trade."""
    return [(t.price, t.quantity) for t in trades]


# --------------------------------------------------------------------------- submit


class TestSubmitLimit:
    def test_non_crossing_limit_rests(self) -> None:
        book = build(bids=[(99, 5, 1)], asks=[(101, 5, 2)])
        (filled, notional, status, cancelled), trades = send(book, BUY, 3, 100, order_id=7)
        assert (filled, notional, status, cancelled) == (0, 0, OrderStatus.RESTING, [])
        assert trades == []
        assert book.best_bid() == 100
        assert book.best_bid_qty() == 3
        assert book.order_info(7) == (TAKER, BUY, 100, 3)
        assert len(book) == 3

    def test_trade_fields(self) -> None:
        book = build(asks=[(101, 5, 2, 55)], symbol=3)
        (filled, notional, status, _), trades = send(book, BUY, 2, 101, order_id=8, tick=42)
        assert (filled, notional, status) == (2, 202, OrderStatus.FILLED)
        assert trades == [Trade(42, 3, 101, 2, TAKER, 2, 8, 55, BUY)]
        assert isinstance(trades[0], Trade)

        book = build(bids=[(99, 5, 1, 66)], symbol=3)
        (filled, notional, status, _), trades = send(book, SELL, 5, 99, order_id=9, tick=43)
        assert (filled, notional, status) == (5, 495, OrderStatus.FILLED)
        assert trades == [Trade(43, 3, 99, 5, 1, TAKER, 66, 9, SELL)]

    def test_price_priority_buy(self) -> None:
        book = build(asks=[(103, 1, 1), (101, 1, 2), (102, 1, 3)])
        _, trades = send(book, BUY, 1, 103)
        assert fills(trades) == [(101, 1)]
        assert trades[0].seller == 2

    def test_price_priority_sell(self) -> None:
        book = build(bids=[(97, 1, 1), (99, 1, 2), (98, 1, 3)])
        _, trades = send(book, SELL, 1, 97)
        assert fills(trades) == [(99, 1)]
        assert trades[0].buyer == 2

    def test_time_priority_at_one_level(self) -> None:
        book = build(asks=[(101, 2, 1), (101, 2, 2), (101, 2, 3)])
        _, trades = send(book, BUY, 3, 101)
        assert [(t.seller, t.quantity) for t in trades] == [(1, 2), (2, 1)]
        _, trades = send(book, BUY, 3, 101)
        assert [(t.seller, t.quantity) for t in trades] == [(2, 1), (3, 2)]

    def test_executes_at_resting_price(self) -> None:
        book = build(asks=[(101, 1, 1)], bids=[(95, 1, 2)])
        _, trades = send(book, BUY, 1, 110)
        assert fills(trades) == [(101, 1)]
        _, trades = send(book, SELL, 1, 90)
        assert fills(trades) == [(95, 1)]

    def test_partial_fill_of_incoming_rests_remainder(self) -> None:
        book = build(asks=[(101, 3, 1)])
        (filled, notional, status, _), trades = send(book, BUY, 5, 101, order_id=500)
        assert (filled, notional, status) == (3, 303, OrderStatus.RESTING)
        assert book.best_ask() is None
        assert book.best_bid() == 101
        assert book.order_info(500) == (TAKER, BUY, 101, 2)

    def test_partial_fill_of_resting_keeps_priority(self) -> None:
        book = build(asks=[(101, 5, 1, 11), (101, 5, 2, 12)])
        send(book, BUY, 2, 101)
        assert book.order_info(11) == (1, SELL, 101, 3)
        assert book.best_ask_qty() == 8
        _, trades = send(book, BUY, 4, 101)
        assert [(t.sell_order_id, t.quantity) for t in trades] == [(11, 3), (12, 1)]

    def test_walks_several_levels(self) -> None:
        book = build(asks=[(101, 2, 1), (102, 2, 2), (103, 2, 3), (104, 2, 4)])
        (filled, notional, status, _), trades = send(book, BUY, 5, 103)
        assert fills(trades) == [(101, 2), (102, 2), (103, 1)]
        assert (filled, notional, status) == (5, 202 + 204 + 103, OrderStatus.FILLED)
        assert book.depth() == ([], [(103, 1), (104, 2)])

    def test_stops_at_limit_and_rests(self) -> None:
        book = build(asks=[(101, 2, 1), (103, 2, 2)])
        (filled, _, status, _), trades = send(book, BUY, 5, 102)
        assert fills(trades) == [(101, 2)]
        assert (filled, status) == (2, OrderStatus.RESTING)
        assert book.depth() == ([(102, 3)], [(103, 2)])

    def test_resting_order_filled_later(self) -> None:
        book = OrderBook()
        send(book, SELL, 4, 105, agent=1, order_id=1)
        send(book, BUY, 1, 100, agent=2)  # does not cross
        _, trades = send(book, BUY, 3, 106, agent=3, tick=9)
        assert trades == [Trade(9, 0, 105, 3, 3, 1, trades[0].buy_order_id, 1, BUY)]
        _, trades = send(book, BUY, 1, 105, agent=4)
        assert fills(trades) == [(105, 1)]
        assert book.order_info(1) is None
        assert book.cancel(1) == 0

    def test_appends_to_existing_trades_list(self) -> None:
        book = build(asks=[(101, 2, 1)])
        trades = [Trade(0, 0, 1, 1, 1, 2, 3, 4, BUY)]
        book.submit(1, TAKER, BUY, 2, 101, LIMIT, 1, trades)
        assert len(trades) == 2

    def test_accepts_enum_arguments(self) -> None:
        class Side(IntEnum):
            BUY = 1

        book = build(asks=[(101, 2, 1)])
        trades: list[Trade] = []
        book.submit(1, TAKER, Side.BUY, 1, 101, OrderKind.IOC, 1, trades)
        assert type(trades[0].aggressor) is int
        assert fills(trades) == [(101, 1)]

    def test_reused_id_after_fill_is_allowed(self) -> None:
        book = build(asks=[(101, 1, 1, 5)])
        send(book, BUY, 1, 101)
        (_, _, status, _), _ = send(book, SELL, 1, 110, order_id=5)
        assert status == OrderStatus.RESTING


class TestMarketOrders:
    def test_market_against_empty_side_is_cancelled(self) -> None:
        book = build(bids=[(99, 5, 1)])
        result, trades = send(book, BUY, 3, 0, MARKET)
        assert result == (0, 0, OrderStatus.CANCELLED, [])
        assert trades == []
        assert book.depth() == ([(99, 5)], [])
        result, trades = send(OrderBook(), SELL, 3, 0, MARKET)
        assert result == (0, 0, OrderStatus.CANCELLED, [])

    def test_market_ignores_price_and_walks_levels(self) -> None:
        book = build(asks=[(101, 1, 1), (150, 1, 2), (10_000, 1, 3)])
        result, trades = send(book, BUY, 3, 1, MARKET)
        assert result == (3, 10_251, OrderStatus.FILLED, [])
        assert fills(trades) == [(101, 1), (150, 1), (10_000, 1)]

    def test_market_partially_filled_never_rests(self) -> None:
        book = build(bids=[(99, 2, 1), (98, 1, 2)])
        (filled, notional, status, _), trades = send(book, SELL, 10, 0, MARKET)
        assert (filled, notional, status) == (3, 198 + 98, OrderStatus.CANCELLED)
        assert book.depth() == ([], [])
        assert len(book) == 0

    def test_market_fully_filled(self) -> None:
        book = build(asks=[(101, 5, 1)])
        result, _ = send(book, BUY, 5, 0, MARKET)
        assert result == (5, 505, OrderStatus.FILLED, [])


class TestIOC:
    def test_ioc_remainder_dropped(self) -> None:
        book = build(asks=[(101, 2, 1), (105, 2, 2)])
        (filled, notional, status, _), trades = send(book, BUY, 5, 102, IOC, order_id=77)
        assert (filled, notional, status) == (2, 202, OrderStatus.CANCELLED)
        assert book.order_info(77) is None
        assert book.depth() == ([], [(105, 2)])

    def test_ioc_not_crossing_is_cancelled(self) -> None:
        book = build(bids=[(99, 2, 1)])
        result, trades = send(book, SELL, 1, 100, IOC)
        assert result == (0, 0, OrderStatus.CANCELLED, [])
        assert trades == []
        assert len(book) == 1

    def test_ioc_fully_filled(self) -> None:
        book = build(bids=[(99, 2, 1), (98, 2, 2)])
        result, _ = send(book, SELL, 3, 98, IOC)
        assert result == (3, 198 + 98, OrderStatus.FILLED, [])


class TestCancel:
    def test_cancel_returns_remaining_and_removes(self) -> None:
        book = build(bids=[(99, 5, 1, 1), (98, 4, 2, 2)])
        assert book.cancel(1) == 5
        assert book.order_info(1) is None
        assert book.best_bid() == 98
        assert book.best_bid_qty() == 4
        assert book.depth() == ([(98, 4)], [])
        assert len(book) == 1
        assert book.resting_quantity(BUY) == 4

    def test_cancel_partially_filled_returns_rest(self) -> None:
        book = build(asks=[(101, 5, 1, 1)])
        send(book, BUY, 2, 101)
        assert book.cancel(1) == 3
        assert book.best_ask() is None

    def test_cancel_unknown_filled_or_twice_returns_zero(self) -> None:
        book = build(asks=[(101, 1, 1, 1), (102, 1, 1, 2)])
        assert book.cancel(12345) == 0
        send(book, BUY, 1, 101)  # fills id 1
        assert book.cancel(1) == 0
        assert book.cancel(2) == 1
        assert book.cancel(2) == 0
        assert len(book) == 0

    def test_cancel_best_moves_best_price(self) -> None:
        book = build(bids=[(99, 1, 1, 1), (97, 1, 1, 2)], asks=[(101, 1, 1, 3), (104, 1, 1, 4)])
        book.cancel(1)
        book.cancel(3)
        assert (book.best_bid(), book.best_ask()) == (97, 104)
        book.cancel(2)
        book.cancel(4)
        assert (book.best_bid(), book.best_ask()) == (None, None)
        assert (book.best_bid_qty(), book.best_ask_qty()) == (0, 0)

    def test_cancel_one_of_several_at_level_keeps_level(self) -> None:
        book = build(asks=[(101, 1, 1, 1), (101, 2, 2, 2), (101, 3, 3, 3)])
        assert book.cancel(2) == 2
        assert book.best_ask() == 101
        assert book.best_ask_qty() == 4
        _, trades = send(book, BUY, 4, 101)
        assert [t.sell_order_id for t in trades] == [1, 3]

    def test_cancelled_level_can_be_recreated(self) -> None:
        book = build(asks=[(101, 1, 1, 1), (102, 1, 1, 2)])
        book.cancel(1)
        send(book, SELL, 3, 101, agent=2, order_id=3)
        assert book.depth() == ([], [(101, 3), (102, 1)])
        book.cancel(3)
        book.cancel(2)
        assert book.best_ask() is None
        send(book, SELL, 1, 101, agent=2)
        assert book.depth() == ([], [(101, 1)])

    def test_many_cancels_in_middle_of_queue(self) -> None:
        # The first and last orders stay; many orders arrive and leave in between.
        book = build(asks=[(101, 1, 1, 1)])
        next_id = 2
        for _ in range(200):
            book.submit(next_id, 2, SELL, 1, 101, LIMIT, 0, [])
            book.submit(next_id + 1, 3, SELL, 1, 101, LIMIT, 0, [])
            book.cancel(next_id)
            next_id += 2
        for oid in range(3, next_id - 2, 2):  # cancel all but the last keeper
            book.cancel(oid)
        assert len(book) == 2
        assert book.best_ask_qty() == 2
        _, trades = send(book, BUY, 5, 101)
        assert [t.sell_order_id for t in trades] == [1, next_id - 1]
        # White-box: cancelled records do not pile up in the level's queue, even when two
        # live orders stay at both of its ends.
        book = build(asks=[(101, 1, 1, 1)])
        previous = None
        for oid in range(2, 2000, 2):
            book.submit(oid, 2, SELL, 1, 101, LIMIT, 0, [])
            book.submit(oid + 1, 3, SELL, 1, 101, LIMIT, 0, [])
            book.cancel(oid)
            if previous is not None:
                book.cancel(previous)
            previous = oid + 1
        assert len(book) == 2
        assert len(book._asks[101].orders) < 30
        _, trades = send(book, BUY, 5, 101)
        assert [t.sell_order_id for t in trades] == [1, previous]

    def test_heap_stays_bounded(self) -> None:
        # White-box: levels created and cancelled away from the top leave no unbounded
        # stale heap entries.
        book = build(bids=[(100, 1, 1, 1)], asks=[(10_000, 1, 1, 2)])
        for n in range(5000):
            oid = 10 + n
            book.submit(oid, 2, BUY, 1, 99 - n % 90, LIMIT, 0, [])
            book.submit(oid + 100_000, 2, SELL, 1, 10_001 + n, LIMIT, 0, [])
            book.cancel(oid)
            book.cancel(oid + 100_000)
        assert len(book._bid_heap) <= 2 * len(book._bids) + 65
        assert len(book._ask_heap) <= 2 * len(book._asks) + 65
        assert (book.best_bid(), book.best_ask()) == (100, 10_000)
        assert book.depth() == ([(100, 1)], [(10_000, 1)])


class TestSelfTrade:
    def test_cancels_resting_and_continues_with_next(self) -> None:
        book = build(asks=[(101, 2, 5, 1), (101, 2, 6, 2), (102, 2, 5, 3)])
        (filled, notional, status, cancelled), trades = send(book, BUY, 3, 102, agent=5)
        assert cancelled == [1, 3]
        assert fills(trades) == [(101, 2)]
        assert trades[0].seller == 6
        assert (filled, notional, status) == (2, 202, OrderStatus.RESTING)
        assert book.order_info(1) is None
        assert book.order_info(3) is None
        assert book.depth() == ([(102, 1)], [])

    def test_own_orders_behind_the_fill_stay(self) -> None:
        book = build(bids=[(99, 2, 6, 1), (99, 2, 5, 2), (98, 2, 5, 3)])
        result, trades = send(book, SELL, 2, 99, agent=5)
        assert result == (2, 198, OrderStatus.FILLED, [])
        assert book.order_info(2) == (5, BUY, 99, 2)
        assert book.order_info(3) == (5, BUY, 98, 2)

    def test_own_orders_beyond_limit_stay(self) -> None:
        book = build(asks=[(101, 2, 5, 1), (103, 2, 5, 2)])
        result, _ = send(book, BUY, 1, 102, agent=5, order_id=9)
        assert result == (0, 0, OrderStatus.RESTING, [1])
        assert book.depth() == ([(102, 1)], [(103, 2)])

    def test_market_order_against_only_own_orders(self) -> None:
        book = build(asks=[(101, 2, 5, 1), (102, 2, 5, 2)], bids=[(99, 1, 5, 3)])
        result, trades = send(book, BUY, 3, 0, MARKET, agent=5)
        assert result == (0, 0, OrderStatus.CANCELLED, [1, 2])
        assert trades == []
        assert book.resting_quantity(SELL) == 0
        assert len(book) == 1

    def test_cancelled_id_is_reusable_and_cancel_returns_zero(self) -> None:
        book = build(bids=[(99, 2, 5, 1)])
        _, _, _, cancelled = send(book, SELL, 1, 99, agent=5)[0]
        assert cancelled == [1]
        assert book.cancel(1) == 0
        assert send(book, BUY, 1, 90, agent=5, order_id=1)[0][2] == OrderStatus.RESTING


class TestSweep:
    def test_sweep_does_not_change_book(self) -> None:
        book = build(bids=[(99, 2, 1), (98, 3, 2)], asks=[(101, 2, 3), (102, 3, 4)])
        before = (book.depth(10), len(book), book.best_bid(), book.best_ask())
        assert book.sweep(BUY, 4, 102, TAKER) == (4, 202 + 204)
        assert book.sweep(SELL, 10, None, TAKER) == (5, 198 + 294)
        assert (book.depth(10), len(book), book.best_bid(), book.best_ask()) == before

    def test_sweep_respects_limit(self) -> None:
        book = build(asks=[(101, 2, 3), (102, 3, 4)])
        assert book.sweep(BUY, 10, 101, TAKER) == (2, 202)
        assert book.sweep(BUY, 10, 100, TAKER) == (0, 0)
        book = build(bids=[(99, 2, 3), (98, 3, 4)])
        assert book.sweep(SELL, 10, 99, TAKER) == (2, 198)
        assert book.sweep(SELL, 10, 100, TAKER) == (0, 0)

    def test_sweep_skips_own_orders(self) -> None:
        book = build(asks=[(101, 2, 5), (101, 2, 6), (102, 2, 5), (103, 1, 7)])
        assert book.sweep(BUY, 10, None, 5) == (3, 202 + 103)
        assert book.sweep(BUY, 10, None, 6) == (5, 202 + 204 + 103)

    def test_sweep_empty_side(self) -> None:
        book = build(bids=[(99, 2, 1)])
        assert book.sweep(BUY, 5, None, TAKER) == (0, 0)
        assert book.sweep(BUY, 5, 200, TAKER) == (0, 0)

    def test_sweep_after_cancels(self) -> None:
        book = build(asks=[(101, 1, 1, 1), (101, 1, 2, 2), (101, 1, 3, 3), (102, 1, 4, 4)])
        book.cancel(2)
        book.cancel(4)
        assert book.sweep(BUY, 5, None, TAKER) == (2, 202)


class TestDepth:
    def test_depth_orders_and_aggregates(self) -> None:
        book = build(
            bids=[(97, 1, 1), (99, 2, 1), (99, 3, 2), (98, 4, 3)],
            asks=[(103, 1, 1), (101, 2, 2), (102, 5, 3), (101, 1, 4)],
        )
        assert book.depth() == ([(99, 5), (98, 4), (97, 1)], [(101, 3), (102, 5), (103, 1)])
        assert book.depth(2) == ([(99, 5), (98, 4)], [(101, 3), (102, 5)])
        assert book.depth(0) == ([], [])
        assert (book.best_bid_qty(), book.best_ask_qty()) == (5, 3)

    def test_empty_book(self) -> None:
        book = OrderBook()
        assert book.depth() == ([], [])
        assert (book.best_bid(), book.best_ask()) == (None, None)
        assert (book.resting_quantity(BUY), book.resting_quantity(SELL)) == (0, 0)
        assert len(book) == 0

    def test_resting_quantity_and_clear(self) -> None:
        book = build(bids=[(99, 2, 1), (98, 3, 2)], asks=[(101, 4, 3)])
        assert (book.resting_quantity(BUY), book.resting_quantity(SELL)) == (5, 4)
        send(book, BUY, 1, 101)
        send(book, SELL, 3, 98)
        assert (book.resting_quantity(BUY), book.resting_quantity(SELL)) == (2, 3)
        book.clear()
        assert book.depth() == ([], [])
        assert (book.best_bid(), book.best_ask(), len(book)) == (None, None, 0)
        assert (book.resting_quantity(BUY), book.resting_quantity(SELL)) == (0, 0)
        send(book, SELL, 1, 105, order_id=1)
        assert book.depth() == ([], [(105, 1)])


class TestErrors:
    @pytest.mark.parametrize(
        ("side", "qty", "price", "kind"),
        [
            (BUY, 0, 100, LIMIT),
            (SELL, -3, 100, LIMIT),
            (0, 1, 100, LIMIT),
            (2, 1, 100, LIMIT),
            (BUY, 1, 0, LIMIT),
            (SELL, 1, -5, IOC),
            (BUY, 1, 100, 7),
            (BUY, 0, 0, MARKET),
        ],
    )
    def test_bad_submit_raises_value_error_and_leaves_book(
        self, side: int, qty: int, price: int, kind: int
    ) -> None:
        book = build(bids=[(99, 2, 1)], asks=[(101, 2, 2)])
        trades: list[Trade] = []
        with pytest.raises(ValueError):
            book.submit(500, TAKER, side, qty, price, kind, 0, trades)
        assert trades == []
        assert book.depth() == ([(99, 2)], [(101, 2)])
        assert len(book) == 2

    def test_market_price_is_not_validated(self) -> None:
        book = build(asks=[(101, 2, 2)])
        assert send(book, BUY, 1, -1, MARKET)[0][0] == 1

    def test_duplicate_live_id_raises(self) -> None:
        book = build(bids=[(99, 2, 1, 1)])
        with pytest.raises(ValueError, match="already resting"):
            send(book, SELL, 1, 90, order_id=1)  # would cross, but must not touch the book
        assert book.depth() == ([(99, 2)], [])

    def test_bad_sweep_and_side_queries_raise(self) -> None:
        book = OrderBook()
        with pytest.raises(ValueError):
            book.sweep(0, 1, None, 1)
        with pytest.raises(ValueError):
            book.sweep(BUY, 0, None, 1)
        with pytest.raises(ValueError):
            book.sweep(BUY, 1, 0, 1)
        with pytest.raises(ValueError):
            book.resting_quantity(0)

    def test_order_info_unknown(self) -> None:
        assert OrderBook().order_info(3) is None


def test_repr() -> None:
    book = build(bids=[(99, 2, 1)], symbol=4)
    assert repr(book) == "OrderBook(symbol=4, orders=1, best_bid=99, best_ask=None)"


# --------------------------------------------------------------------------- randomised


def random_book(rng: np.random.Generator, n_agents: int = 5) -> tuple[OrderBook, list[int]]:
    """A random two-sided book around 1000 ticks, with some cancelled orders inside."""
    book = OrderBook(symbol=1)
    ids: list[int] = []
    for oid in range(int(rng.integers(0, 60))):
        side = BUY if rng.random() < 0.5 else SELL
        price = int(rng.integers(990, 1000)) if side == BUY else int(rng.integers(1001, 1011))
        book.submit(
            oid, int(rng.integers(n_agents)), side, int(rng.integers(1, 20)), price, LIMIT, 0, []
        )
        ids.append(oid)
    for oid in ids:
        if rng.random() < 0.2:
            book.cancel(oid)
    return book, ids


def check_trades(
    trades: list[Trade], side: int, agent: int, order_id: int, filled: int, notional: int
) -> None:
    """Conservation and consistency of the trades of one submission."""
    assert sum(t.quantity for t in trades) == filled
    assert sum(t.price * t.quantity for t in trades) == notional
    for t in trades:
        assert t.buyer != t.seller
        assert t.quantity >= 1
        assert t.aggressor == side
        if side == BUY:
            assert (t.buyer, t.buy_order_id) == (agent, order_id)
        else:
            assert (t.seller, t.sell_order_id) == (agent, order_id)
    prices = [t.price for t in trades]
    assert prices == sorted(prices, reverse=side == SELL)  # price priority


def check_book(book: OrderBook) -> None:
    """Public-API invariants: not crossed, totals and counts agree with the depth."""
    bids, asks = book.depth(10_000)
    if bids and asks:
        assert bids[0][0] < asks[0][0]
    assert book.best_bid() == (bids[0][0] if bids else None)
    assert book.best_ask() == (asks[0][0] if asks else None)
    assert book.resting_quantity(BUY) == sum(q for _, q in bids)
    assert book.resting_quantity(SELL) == sum(q for _, q in asks)
    assert all(q > 0 for _, q in bids + asks)


class TestRandomised:
    @pytest.mark.parametrize("seed", range(200))
    def test_sweep_equals_submit(self, seed: int) -> None:
        rng = np.random.default_rng(seed)
        book, ids = random_book(rng)
        for step in range(5):
            side = BUY if rng.random() < 0.5 else SELL
            kind = [LIMIT, IOC, MARKET][int(rng.integers(3))]
            qty = int(rng.integers(1, 80))
            price = int(rng.integers(985, 1016)) if kind != MARKET else 0
            agent = int(rng.integers(5))
            limit = None if kind == MARKET else price
            own_before = {oid: info for oid in ids if (info := book.order_info(oid)) is not None}
            depth_before = book.depth(10_000)
            predicted = book.sweep(side, qty, limit, agent)
            assert book.depth(10_000) == depth_before
            oid = 1000 + step
            trades: list[Trade] = []
            filled, notional, status, cancelled = book.submit(
                oid, agent, side, qty, price, kind, step, trades
            )
            assert (filled, notional) == predicted
            check_trades(trades, side, agent, oid, filled, notional)
            if filled == qty:
                assert status == OrderStatus.FILLED
            elif kind == LIMIT:
                assert status == OrderStatus.RESTING
                assert book.order_info(oid) == (agent, side, price, qty - filled)
            else:
                assert status == OrderStatus.CANCELLED
            for c in cancelled:
                assert own_before[c][0] == agent and own_before[c][1] == -side
                assert book.order_info(c) is None
            check_book(book)
            ids.append(oid)


class NaiveBook:
    """Reference book: a plain list of ``[order_id, agent, side, price, qty, seq]``."""

    def __init__(self) -> None:
        self.orders: list[list[int]] = []
        self.seq = 0

    def submit(self, oid, agent, side, qty, price, kind, tick, trades):  # noqa: ANN001
        remaining, notional, cancelled = qty, 0, []
        opp = [o for o in self.orders if o[2] == -side]
        opp.sort(key=lambda o: (o[3] * side, o[5]))  # best price, then earliest
        for o in opp:
            if remaining == 0:
                break
            if kind != MARKET and (o[3] > price if side == BUY else o[3] < price):
                break
            if o[1] == agent:
                cancelled.append(o[0])
                self.orders.remove(o)
                continue
            fill = min(remaining, o[4])
            o[4] -= fill
            remaining -= fill
            notional += fill * o[3]
            buy, sell = (
                ((agent, oid), (o[1], o[0])) if side == BUY else ((o[1], o[0]), (agent, oid))
            )
            trades.append(Trade(tick, 1, o[3], fill, buy[0], sell[0], buy[1], sell[1], side))
            if o[4] == 0:
                self.orders.remove(o)
        if remaining == 0:
            status = OrderStatus.FILLED
        elif kind == LIMIT:
            self.seq += 1
            self.orders.append([oid, agent, side, price, remaining, self.seq])
            status = OrderStatus.RESTING
        else:
            status = OrderStatus.CANCELLED
        return qty - remaining, notional, status, cancelled

    def cancel(self, oid: int) -> int:
        for o in self.orders:
            if o[0] == oid:
                self.orders.remove(o)
                return o[4]
        return 0

    def depth(self) -> tuple[list[tuple[int, int]], list[tuple[int, int]]]:
        out: tuple[dict[int, int], dict[int, int]] = ({}, {})
        for o in self.orders:
            d = out[0] if o[2] == BUY else out[1]
            d[o[3]] = d.get(o[3], 0) + o[4]
        return sorted(out[0].items(), reverse=True), sorted(out[1].items())


class TestAgainstReference:
    @pytest.mark.parametrize("seed", range(30))
    def test_random_operation_sequence(self, seed: int) -> None:
        rng = np.random.default_rng(1000 + seed)
        book, ref = OrderBook(symbol=1), NaiveBook()
        next_id = 0
        for step in range(400):
            u = rng.random()
            if u < 0.3 and next_id:
                oid = int(rng.integers(next_id + 5))  # includes unknown and dead ids
                assert book.cancel(oid) == ref.cancel(oid)
            else:
                side = BUY if rng.random() < 0.5 else SELL
                kind = [LIMIT, LIMIT, LIMIT, IOC, MARKET][int(rng.integers(5))]
                price = int(rng.integers(990, 1011))
                qty = int(rng.integers(1, 30))
                agent = int(rng.integers(4))
                t1: list[Trade] = []
                t2: list[Trade] = []
                expected_sweep = book.sweep(side, qty, None if kind == MARKET else price, agent)
                got = book.submit(next_id, agent, side, qty, price, kind, step, t1)
                want = ref.submit(next_id, agent, side, qty, price, kind, step, t2)
                assert got == want
                assert t1 == t2
                assert expected_sweep == got[:2]
                next_id += 1
            assert book.depth(1000) == ref.depth()
            assert len(book) == len(ref.orders)
            check_book(book)
        for o in ref.orders:
            assert book.order_info(o[0]) == (o[1], o[2], o[3], o[4])
