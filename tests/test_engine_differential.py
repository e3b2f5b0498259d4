"""Differential tests: the compiled engine against the pure-Python reference market.

The oracle is :class:`marketenv.reference.market.ReferenceMarket` (dicts, deques and heaps,
written independently of the array engine). Both markets get the same random order
streams (limit, IOC, market, pegged, cancel by id, cancel a side, self-trades, position
limits, short-sale bans, fees, malformed orders, ticks with fair-value moves) and must give
the same results, trades, cash, positions and book state after every operation; whole runs
of every shipped config must give identical trades tick by tick.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest

from marketenv.actions import encode_action
from marketenv.config import (
    AgentGroupConfig,
    Config,
    MarketConfig,
    SimulationConfig,
    default_config,
    load_config,
)
from marketenv.env_common import outcome_status
from marketenv.market import Market
from marketenv.reference.market import ReferenceMarket
from marketenv.simulation import Simulation
from marketenv.types import OrderKind

CONFIGS = sorted(Path(__file__).resolve().parent.parent.joinpath("configs").glob("*.toml"))


def _config(fee_bps: float, allow_short: bool, limit: int, cash: float) -> Config:
    groups = (
        AgentGroupConfig(type="market_maker", count=2, initial_cash=cash, position_limit=limit),
        AgentGroupConfig(
            type="noise_trader", count=4, initial_cash=cash, position_limit=limit, initial_position=limit // 2
        ),
    )
    cfg = dataclasses.replace(
        default_config(),
        agents=groups,
        market=MarketConfig(fee_bps=fee_bps, allow_short=allow_short, max_order_quantity=300),
        simulation=SimulationConfig(ticks=100, seed=1),
    )
    cfg.validate()
    return cfg


def _pair(cfg: Config, seed: int) -> tuple[Market, ReferenceMarket]:
    n = sum(g.count for g in cfg.agents)
    syms = np.zeros(n, dtype=np.int64)
    out = []
    for cls in (Market, ReferenceMarket):
        gens = [np.random.Generator(np.random.PCG64(c)) for c in np.random.SeedSequence(seed).spawn(3)]
        out.append(cls(cfg, syms, tuple(gens)))
    return out[0], out[1]


def _state(m: Market | ReferenceMarket) -> tuple:
    """Everything observable about a market (book state, accounts, quotes, counters)."""
    book = m.books[0]
    depth = book.depth(10_000)
    return (
        [int(c) for c in m.cash],
        [int(p) for p in m.position],
        int(m.fees_collected),
        depth,
        book.best_bid(),
        book.best_ask(),
        book.best_bid_qty(),
        book.best_ask_qty(),
        book.resting_quantity(1),
        book.resting_quantity(-1),
        len(book),
        [m.resting_orders(a, 0) for a in range(m.n_agents)],
        [m.free_cash(a) for a in range(m.n_agents)],
        [(m.open_quantity(a, 0, 1), m.open_quantity(a, 0, -1)) for a in range(m.n_agents)],
        [m.single_resting(a, 0, s) for a in range(m.n_agents) for s in (1, -1)],
        m.mid2(0),
        m.reference_price(0),
        m.spread(0),
        int(m.total_trades),
        int(m.total_volume),
    )


def _trades(m: Market | ReferenceMarket) -> list[tuple[int, ...]]:
    return [tuple(int(x) for x in t) for t in m.trades]


@pytest.mark.parametrize(
    ("seed", "fee_bps", "allow_short", "limit", "cash"),
    [
        (0, 0.0, True, 1_000, 1_000_000.0),
        (1, 2.5, True, 500, 50_000.0),  # fees; tight cash: rejections for cash
        (2, 0.0, False, 300, 1_000_000.0),  # no shorting; tight position limits
        (3, 10.0, False, 2_000, 200_000.0),
        (4, 0.01, True, 50, 20_000.0),
        (5, 1.0, True, 5_000, 5_000_000.0),
    ],
)
def test_random_order_streams_match_the_reference(
    seed: int, fee_bps: float, allow_short: bool, limit: int, cash: float
) -> None:
    cfg = _config(fee_bps, allow_short, limit, cash)
    fast, ref = _pair(cfg, seed)
    rng = np.random.default_rng(1000 + seed)
    n = fast.n_agents
    ids: list[int] = []
    fast.start_tick()
    ref.start_tick()
    for step in range(3_000):
        op = rng.random()
        a = int(rng.integers(n))
        side = 1 if rng.random() < 0.5 else -1
        mid = ref.reference_price(0)
        if op < 0.55:  # an order; sometimes malformed (qty 0 or above the maximum, price 0)
            kind = int(rng.choice([OrderKind.LIMIT, OrderKind.LIMIT, OrderKind.IOC, OrderKind.MARKET]))
            qty = int(rng.integers(0, 40)) if rng.random() < 0.95 else int(rng.choice([0, 301, 10_000]))
            price = 0 if kind == OrderKind.MARKET else max(0, mid + int(rng.integers(-6, 7)))
            if rng.random() < 0.01:
                price = 0
            pegged = kind == OrderKind.LIMIT and rng.random() < 0.3
            got = fast.place(a, 0, side, qty, price, kind, pegged)
            want = ref.place(a, 0, side, qty, price, kind, pegged)
            assert got == want, f"step {step}: place"
            if got[0] > 0:
                ids.append(got[0])
        elif op < 0.7 and ids:  # cancel by id (live, filled, cancelled or unknown)
            oid = int(rng.choice(ids)) if rng.random() < 0.9 else 10**9
            assert fast.cancel(oid) == ref.cancel(oid), f"step {step}: cancel"
        elif op < 0.8:
            assert fast.cancel_side(a, 0, side) == ref.cancel_side(a, 0, side), f"step {step}: cancel_side"
        elif op < 0.85:  # sweeps predict without changing anything
            q = int(rng.integers(1, 200))
            lim = None if rng.random() < 0.3 else mid + int(rng.integers(-5, 6))
            assert fast.books[0].sweep(side, q, lim, a) == ref.books[0].sweep(side, q, lim, a)
        else:  # close the tick: the fair value moves and pegged orders follow
            for x, y in zip(fast.end_tick(), ref.end_tick(), strict=True):
                assert np.array_equal(x, y), f"step {step}: tick stats"
            assert _trades(fast) == _trades(ref), f"step {step}: end_tick trades"
            fast.start_tick()
            ref.start_tick()
        assert _trades(fast) == _trades(ref), f"step {step}: trades"
        assert _state(fast) == _state(ref), f"step {step}: state"
    fast.check_conservation()
    ref.check_conservation()
    assert ref.total_trades > 100  # the stream did trade


def test_order_actions_match_the_reference() -> None:
    """Whole ticks of random order actions (every action type, keep-in-place rule) agree."""
    cfg = _config(1.0, True, 400, 300_000.0)
    fast, ref = _pair(cfg, 7)
    rng = np.random.default_rng(7)
    n = fast.n_agents
    for _ in range(400):
        fast.start_tick()
        ref.start_tick()
        acts = np.zeros((n, 6), dtype=np.int64)
        for a in range(n):
            for side in (0, 1):
                t = int(rng.integers(0, 6))
                acts[a, 3 * side] = t
                acts[a, 3 * side + 1] = int(rng.integers(0, 30))
                acts[a, 3 * side + 2] = int(rng.integers(-4, 5))
        # some agents repeat their resting quote exactly (kept in place, queue position kept)
        order = rng.permutation(n)
        got = fast.execute(acts, order)
        want = ref.execute(acts, order)
        assert [got[i] for i in range(n)] == list(want)
        assert _trades(fast) == _trades(ref)
        assert [outcome_status(got[i]) for i in range(n)] == [outcome_status(o) for o in want]
        action, qty, price = got.encoded()  # the compiled encoding against the Python rule
        enc = [encode_action(o) for o in want]
        assert action.tolist() == [e[0] for e in enc]
        assert qty.tolist() == [e[1] for e in enc]
        assert np.array_equal(price, [e[2] for e in enc], equal_nan=True)
        fast.end_tick()
        ref.end_tick()
        assert _trades(fast) == _trades(ref)
        assert _state(fast) == _state(ref)


@pytest.mark.parametrize("path", CONFIGS, ids=[p.stem for p in CONFIGS])
def test_whole_runs_of_every_shipped_config_trade_identically(path: Path) -> None:
    cfg = load_config(path)
    ticks = 400 if sum(g.count for g in cfg.agents) <= 100 else 120
    sims = [Simulation(cfg, seed=11, reference=ref) for ref in (False, True)]
    total = 0
    for _ in range(ticks):
        results = [s.step() for s in sims]
        a, b = (s.market for s in sims)
        assert results[0].trades == results[1].trades
        assert np.array_equal(results[0].actions, results[1].actions)
        assert list(results[0].outcomes) == list(results[1].outcomes)
        assert np.array_equal(results[0].obs, results[1].obs, equal_nan=True)
        total += len(results[0].trades)
    assert [int(c) for c in a.cash] == [int(c) for c in b.cash]
    assert [int(p) for p in a.position] == [int(p) for p in b.position]
    assert a.books[0].depth(10_000) == b.books[0].depth(10_000)
    assert total > 0


@pytest.mark.parametrize("path", CONFIGS, ids=[p.stem for p in CONFIGS])
def test_compiled_headless_loop_equals_the_reference_run(path: Path) -> None:
    """``Simulation.run`` (whole ticks in one compiled loop, across random-block refills),
    then phase-by-phase ticks, against the pure-Python reference doing the same."""
    cfg = load_config(path)
    ticks = 300 if sum(g.count for g in cfg.agents) <= 100 else 100
    fast, ref = Simulation(cfg, seed=5), Simulation(cfg, seed=5, reference=True)
    assert fast.compiled == (path.stem != "tree_agents")  # model-driven agents decide in Python
    assert fast.run(ticks) == ref.run(ticks) > 0
    assert _trades(fast.market) == _trades(ref.market)  # the last tick's
    assert np.array_equal(fast.features.obs, ref.features.obs, equal_nan=True)
    for _ in range(20):
        a, b = fast.step(), ref.step()
        assert a.trades == b.trades
        assert np.array_equal(a.obs, b.obs, equal_nan=True)
    assert fast.run(70) == ref.run(70)
    assert [int(c) for c in fast.market.cash] == [int(c) for c in ref.market.cash]
    assert [int(p) for p in fast.market.position] == [int(p) for p in ref.market.position]
    assert fast.market.books[0].depth(10_000) == ref.market.books[0].depth(10_000)
    assert np.array_equal(fast.features.equity, ref.features.equity)


def test_buffers_grow_without_changing_results() -> None:
    """Hundreds of resting orders (the order pool doubles) and one order sweeping them all
    in one tick (the trade buffer doubles inside the kernel) agree with the reference."""
    cfg = _config(0.5, True, 5_000, 10_000_000.0)
    fast, ref = _pair(cfg, 11)
    for m in (fast, ref):
        m.start_tick()
        ref_price = m.reference_price(0)
        for i in range(700):  # 700 one-share asks over 70 prices, agents 0..4 in turn
            m.place(i % 5, 0, -1, 1, ref_price + 1 + i % 70, int(OrderKind.LIMIT))
    assert len(fast.books[0]) == len(ref.books[0]) == 700
    for _ in range(2):  # the largest order allowed is 300 shares
        got = fast.place(5, 0, 1, 300, 0, int(OrderKind.MARKET))
        assert got == ref.place(5, 0, 1, 300, 0, int(OrderKind.MARKET))
        assert got[2] == 300
    assert len(fast.trades) == 600
    assert _trades(fast) == _trades(ref)
    assert _state(fast) == _state(ref)


def test_an_edit_to_any_kernel_source_drops_the_cached_kernels(tmp_path: Path) -> None:
    """numba checks a cached kernel only against its own file; the engine's import guard
    drops every cached kernel when a constants module or any module using numba changes."""
    from marketenv.engine import _drop_stale_kernel_caches

    (tmp_path / "pkg" / "__pycache__").mkdir(parents=True)
    (tmp_path / "other" / "__pycache__").mkdir(parents=True)
    a, b, c = tmp_path / "pkg" / "a.py", tmp_path / "other" / "b.py", tmp_path / "pkg" / "c.py"
    k = tmp_path / "pkg" / "k.py"
    a.write_text("X = 1\n")
    b.write_text("import numba\nfrom pkg.a import X\n")
    c.write_text("Y = 1\n")
    k.write_text("import numba  # a kernel module\n")
    cached_b = tmp_path / "other" / "__pycache__" / "b.kernel-3.py311.nbi"
    stamp = tmp_path / "pkg" / "__pycache__" / "stamp"

    def guard() -> None:
        _drop_stale_kernel_caches(tmp_path, ("pkg", "other"), ("pkg/a.py",), stamp)

    guard()  # first import: no stamp yet
    cached_b.write_bytes(b"compiled against X = 1")
    guard()  # nothing changed: the cache stays
    assert cached_b.exists()
    c.write_text("Y = 2\n")  # neither a named constants module nor a numba user
    guard()
    assert cached_b.exists()
    a.write_text("X = 2\n")  # only the callee's module changes: the dependent in another package goes
    guard()
    assert not cached_b.exists()
    cached_b.write_bytes(b"compiled against X = 2")
    guard()
    assert cached_b.exists()
    k.write_text("import numba  # a kernel module, edited\n")  # any numba module counts
    guard()
    assert not cached_b.exists()
    assert stamp.read_text() != ""
