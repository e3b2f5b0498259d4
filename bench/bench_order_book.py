"""Per-operation costs of :class:`marketenv.reference.order_book.OrderBook`, in microseconds.

Run with ``python bench/bench_order_book.py [--n N] [--repeat R] [--seed S]``. Every figure
is the best of ``R`` runs of ``N`` operations on a realistic book (10 levels a side, 2-3
orders of 50-150 shares a level, about 50 orders around a 10000-tick mid, 8 agents), including the Python loop overhead
(about 0.02 us an iteration). The book is restored between runs, so runs are comparable.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

import numpy as np

from marketenv.reference.order_book import OrderBook
from marketenv.types import BUY, SELL, OrderKind, Trade

LIMIT = int(OrderKind.LIMIT)
IOC = int(OrderKind.IOC)
MARKET = int(OrderKind.MARKET)

MID = 10_000
LEVELS = 10
AGENTS = 8
BATCH = 25  # orders added (then cancelled) at a time in the submit/cancel benchmark
TAKER = 1_000  # agent of the benchmarked incoming orders: never self-trades


def make_book(rng: np.random.Generator) -> tuple[OrderBook, int]:
    """A book with ``LEVELS`` levels a side and 2 or 3 orders a level.

    Returns:
        The book and the next free order id.
    """
    book = OrderBook()
    oid = 0
    for level in range(LEVELS):
        for side, price in ((BUY, MID - 1 - level), (SELL, MID + 1 + level)):
            for _ in range(int(rng.integers(2, 4))):
                qty = int(rng.integers(50, 151))
                book.submit(oid, int(rng.integers(AGENTS)), side, qty, price, LIMIT, 0, [])
                oid += 1
    return book, oid


def best_of(repeat: int, n: int, run: Callable[[], float]) -> float:
    """Best per-operation time of ``repeat`` runs, in microseconds."""
    return min(run() for _ in range(repeat)) / n * 1e6


def main() -> None:
    """Run every benchmark and print a table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=20_000, help="operations per run")
    parser.add_argument("--repeat", type=int, default=7, help="runs; the best is reported")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    n, repeat = args.n, args.repeat
    rng = np.random.default_rng(args.seed)
    book, first_id = make_book(rng)
    print(f"book: {len(book)} orders, depth(1) = {book.depth(1)}")
    results: list[tuple[str, float]] = []

    # Non-crossing limit orders at random existing levels, in batches of BATCH, each batch
    # then cancelled in random order, so the book stays near its realistic size.
    sides = [BUY if s else SELL for s in rng.integers(0, 2, n)]
    offsets = [int(x) for x in rng.integers(1, LEVELS + 1, n)]
    prices = [MID - o if s == BUY else MID + o for s, o in zip(sides, offsets, strict=True)]
    ids = list(range(first_id, first_id + n))
    jobs = list(zip(ids, sides, prices, strict=True))
    batches = [jobs[i : i + BATCH] for i in range(0, n, BATCH)]
    cancel_batches = [[int(i) for i in rng.permutation([j[0] for j in b])] for b in batches]
    submit_times: list[float] = []
    cancel_times: list[float] = []
    for _ in range(repeat):
        trades: list[Trade] = []
        submit = book.submit
        cancel = book.cancel
        t_submit = t_cancel = 0.0
        for batch, cancels in zip(batches, cancel_batches, strict=True):
            t0 = time.perf_counter()
            for oid, side, price in batch:
                submit(oid, TAKER, side, 10, price, LIMIT, 0, trades)
            t1 = time.perf_counter()
            for oid in cancels:
                cancel(oid)
            t2 = time.perf_counter()
            t_submit += t1 - t0
            t_cancel += t2 - t1
        assert not trades and len(book) == first_id
        submit_times.append(t_submit)
        cancel_times.append(t_cancel)
    results.append(("submit LIMIT, non-crossing (rests)", min(submit_times) / n * 1e6))
    results.append(("cancel (random live order)", min(cancel_times) / n * 1e6))

    # Cancel of an unknown id.
    def run_cancel_unknown() -> float:
        cancel = book.cancel
        t0 = time.perf_counter()
        for _ in range(n):
            cancel(-1)
        return time.perf_counter() - t0

    results.append(("cancel (unknown id)", best_of(repeat, n, run_cancel_unknown)))

    # Crossing one level, partially filling one big resting order (IOC and LIMIT).
    big_id = first_id + n
    book.submit(big_id, 0, SELL, 10**12, MID, LIMIT, 0, [])  # new best ask, one order

    def run_cross_partial(kind: int) -> Callable[[], float]:
        def run() -> float:
            trades: list[Trade] = []
            submit = book.submit
            t0 = time.perf_counter()
            for oid in ids:
                submit(oid, TAKER, BUY, 5, MID, kind, 0, trades)
            return time.perf_counter() - t0

        return run

    results.append(
        ("submit IOC crossing 1 level, 1 partial fill", best_of(repeat, n, run_cross_partial(IOC)))
    )
    results.append(
        (
            "submit LIMIT crossing 1 level, 1 partial fill",
            best_of(repeat, n, run_cross_partial(LIMIT)),
        )
    )
    book.cancel(big_id)

    # Crossing one level, fully filling one resting order (which leaves the book).
    def run_cross_full() -> float:
        for k, oid in enumerate(ids):
            book.submit(oid, k % AGENTS, SELL, 5, MID, LIMIT, 0, [])
        trades: list[Trade] = []
        submit = book.submit
        t0 = time.perf_counter()
        for oid in ids:
            submit(oid + n, TAKER, BUY, 5, MID, LIMIT, 0, trades)
        elapsed = time.perf_counter() - t0
        assert len(trades) == n and book.best_ask() == MID + 1
        return elapsed

    results.append(
        ("submit LIMIT crossing 1 level, 1 full fill", best_of(repeat, n, run_cross_full))
    )

    # Walking three levels with a market order, then putting the liquidity back.
    depth_asks = book.depth(LEVELS)[1]
    walk_qty = sum(q for _, q in depth_asks[:2]) + 1
    snapshot = [
        (o, info)
        for o in range(first_id)
        if (info := book.order_info(o)) is not None and info[1] == SELL
    ]

    def restore_asks() -> None:
        for o, (agent, side, price, qty) in snapshot:
            book.cancel(o)
            book.submit(o, agent, side, qty, price, LIMIT, 0, [])

    walk_times: list[float] = []
    m = 200
    for _ in range(repeat):
        total = 0.0
        for _ in range(m):
            trades: list[Trade] = []
            t0 = time.perf_counter()
            book.submit(ids[0], TAKER, BUY, walk_qty, 0, MARKET, 0, trades)
            total += time.perf_counter() - t0
            restore_asks()
        walk_times.append(total)
    results.append(
        (f"submit MARKET walking 3 levels (~{len(trades)} fills)", min(walk_times) / m * 1e6)
    )

    # Best prices.
    def run_best() -> float:
        best_bid, best_ask = book.best_bid, book.best_ask
        t0 = time.perf_counter()
        for _ in range(n):
            best_bid()
            best_ask()
        return time.perf_counter() - t0

    results.append(("best_bid() + best_ask()", best_of(repeat, n, run_best)))

    def run_best_qty() -> float:
        bq, aq = book.best_bid_qty, book.best_ask_qty
        t0 = time.perf_counter()
        for _ in range(n):
            bq()
            aq()
        return time.perf_counter() - t0

    results.append(("best_bid_qty() + best_ask_qty()", best_of(repeat, n, run_best_qty)))

    def run_depth() -> float:
        depth = book.depth
        t0 = time.perf_counter()
        for _ in range(n):
            depth(5)
        return time.perf_counter() - t0

    results.append(("depth(5)", best_of(repeat, n, run_depth)))

    # Sweeps: within the best level, and across three levels.
    def run_sweep(qty: int, limit: int | None) -> Callable[[], float]:
        def run() -> float:
            sweep = book.sweep
            t0 = time.perf_counter()
            for _ in range(n):
                sweep(BUY, qty, limit, TAKER)
            return time.perf_counter() - t0

        return run

    results.append(
        ("sweep 10 shares, limit at best ask", best_of(repeat, n, run_sweep(10, MID + 1)))
    )
    results.append(("sweep market walking 3 levels", best_of(repeat, n, run_sweep(walk_qty, None))))

    # A mixed workload like a market tick: mostly passive limits and cancels, some takers.
    k = 30_000
    kinds = rng.choice(4, size=k, p=[0.43, 0.39, 0.13, 0.05])
    agents = [int(a) for a in rng.integers(0, AGENTS, k)]
    sides = [BUY if s else SELL for s in rng.integers(0, 2, k)]
    offs = [int(x) for x in rng.integers(0, LEVELS, k)]
    qtys = [int(q) for q in rng.integers(1, 100, k)]
    live: list[int] = []
    next_id = 10**9
    trades = []
    t0 = time.perf_counter()
    for i in range(k):
        kind = kinds[i]
        side = sides[i]
        if kind == 0:  # passive limit around the touch
            bb, ba = book.best_bid(), book.best_ask()
            ref = (bb if side == BUY else ba) or MID
            price = ref - offs[i] if side == BUY else ref + offs[i]
            book.submit(next_id, agents[i], side, qtys[i], price, LIMIT, i, trades)
            live.append(next_id)
            next_id += 1
        elif kind == 1 and live:  # cancel a random earlier order (may be gone)
            book.cancel(live.pop(offs[i] * 7919 % len(live)))
        elif kind == 2:  # marketable IOC at the touch
            ref = book.best_ask() if side == BUY else book.best_bid()
            if ref is not None:
                book.sweep(side, qtys[i], ref, agents[i])
                book.submit(next_id, agents[i], side, qtys[i], ref, IOC, i, trades)
                next_id += 1
        else:  # market order
            book.sweep(side, qtys[i] // 4 + 1, None, agents[i])
            book.submit(next_id, agents[i], side, qtys[i] // 4 + 1, 0, MARKET, i, trades)
            next_id += 1
    elapsed = time.perf_counter() - t0
    results.append(
        (
            "mixed workload per op (incl. best/sweep calls)",
            elapsed / k * 1e6,
        )
    )

    width = max(len(name) for name, _ in results)
    print(f"{'operation':<{width}}  us/op")
    for name, us in results:
        print(f"{name:<{width}}  {us:6.3f}")
    per_op = elapsed / k
    print(
        f"mixed workload: {len(trades)} trades, {len(book)} orders left on "
        f"{len(book.depth(10**6)[0])}+{len(book.depth(10**6)[1])} levels; at 30 book "
        f"operations a tick the book alone allows {1 / (30 * per_op):,.0f} ticks/s"
    )


if __name__ == "__main__":
    main()
