"""Tests of :mod:`marketenv.price_history`: ring wrap-around, NaN before enough history,
argument errors, and independence of symbols, checked against a plain list per symbol."""

from __future__ import annotations

import math

import numpy as np
import pytest

from marketenv.feature_spec import NAN_UNTIL
from marketenv.price_history import PriceHistory


def test_empty_history_is_nan() -> None:
    h = PriceHistory(2, capacity=4)
    assert h.count(0) == 0
    assert math.isnan(h.price_at(0, 0))
    assert math.isnan(h.price_change(0, 0))
    assert math.isnan(h.log_return(0, 0))
    assert all(math.isnan(v) for v in h.changes(1, (0, 1, 3)))


def test_basic_values() -> None:
    h = PriceHistory(1, capacity=8)
    for p in (100.0, 101.0, 99.0):
        h.record(0, p)
    assert h.count(0) == 3
    assert h.price_at(0, 0) == 99.0
    assert h.price_at(0, 1) == 101.0
    assert h.price_at(0, 2) == 100.0
    assert math.isnan(h.price_at(0, 3))
    assert h.price_change(0, 0) == 0.0
    assert h.price_change(0, 2) == pytest.approx(-1.0, rel=1e-12)
    assert h.price_change(0, 1) == pytest.approx((99.0 / 101.0 - 1.0) * 100.0, rel=1e-15)
    assert h.log_return(0, 0) == 0.0
    assert h.log_return(0, 1) == pytest.approx(math.log(99.0 / 101.0), rel=1e-15)
    assert math.isnan(h.price_change(0, 3))
    assert math.isnan(h.log_return(0, 3))


def test_nan_exactly_until_feature_spec_lag() -> None:
    """price_change_k / log_return_k are NaN exactly while t < k (t = count - 1)."""
    h = PriceHistory(1, capacity=128)
    lags = (1, 5, 20, 100)
    for t in range(150):
        h.record(0, 50.0 + 0.01 * (t % 7))
        for k, change in zip(lags, h.changes(0, lags), strict=True):
            assert math.isnan(change) == (t < NAN_UNTIL[f"price_change_{k}"])
            assert math.isnan(h.price_change(0, k)) == (t < k)
        for k in (1, 5, 20):
            assert math.isnan(h.log_return(0, k)) == (t < NAN_UNTIL[f"log_return_{k}"])


def test_ring_wraps_around() -> None:
    cap = 5
    h = PriceHistory(1, capacity=cap)
    prices = [10.0 + i for i in range(23)]
    for n, p in enumerate(prices, start=1):
        h.record(0, p)
        assert h.count(0) == n  # the count is not capped at the capacity
        for k in range(cap):
            want = prices[n - 1 - k] if k < n else math.nan
            got = h.price_at(0, k)
            assert got == want or (math.isnan(got) and math.isnan(want))
    # after several wraps only the last `cap` prices are reachable
    assert [h.price_at(0, k) for k in range(cap)] == prices[::-1][:cap]
    assert h.price_change(0, cap - 1) == pytest.approx((32.0 / 28.0 - 1.0) * 100.0, rel=1e-15)


def test_capacity_one() -> None:
    h = PriceHistory(1, capacity=1)
    h.record(0, 3.0)
    h.record(0, 4.0)
    assert h.price_at(0, 0) == 4.0
    assert h.price_change(0, 0) == 0.0
    with pytest.raises(ValueError, match="1"):
        h.price_at(0, 1)


@pytest.mark.parametrize("bad", [-1, 16, 17, 1000])
def test_bad_ticks_ago_raises_naming_value(bad: int) -> None:
    h = PriceHistory(1, capacity=16)
    h.record(0, 1.0)
    for call in (h.price_at, h.price_change, h.log_return):
        with pytest.raises(ValueError, match=str(bad)):
            call(0, bad)
    with pytest.raises(ValueError, match=str(bad)):
        h.changes(0, (1, bad))
    with pytest.raises(ValueError, match=str(bad)):
        h.log_returns(0, (bad,))


@pytest.mark.parametrize("bad", [-1, 3])
def test_bad_symbol_raises(bad: int) -> None:
    h = PriceHistory(3, capacity=4)
    with pytest.raises(ValueError, match=str(bad)):
        h.record(bad, 1.0)
    with pytest.raises(ValueError, match=str(bad)):
        h.price_at(bad, 0)
    with pytest.raises(ValueError, match=str(bad)):
        h.count(bad)
    with pytest.raises(ValueError, match=str(bad)):
        h.changes(bad, (1,))


@pytest.mark.parametrize("price", [0.0, -1.0, math.nan, math.inf])
def test_bad_price_raises(price: float) -> None:
    h = PriceHistory(1)
    with pytest.raises(ValueError, match="price"):
        h.record(0, price)
    assert h.count(0) == 0


@pytest.mark.parametrize(("n_symbols", "capacity"), [(0, 4), (1, 0), (-2, 4)])
def test_bad_construction_raises(n_symbols: int, capacity: int) -> None:
    with pytest.raises(ValueError):
        PriceHistory(n_symbols, capacity)


def test_symbols_are_independent_against_reference() -> None:
    """Random interleaving (including symbols with fewer records) vs plain lists."""
    rng = np.random.default_rng(11)
    n_symbols, cap = 4, 32
    h = PriceHistory(n_symbols, capacity=cap)
    assert (h.n_symbols, h.capacity) == (n_symbols, cap)
    history: list[list[float]] = [[] for _ in range(n_symbols)]
    lags = (0, 1, 5, 20, 31)
    for _ in range(500):
        s = int(rng.integers(n_symbols - 1))  # the last symbol is never recorded
        p = float(40.0 + 60.0 * rng.random())
        h.record(s, p)
        history[s].append(p)
        for sym in range(n_symbols):
            prices = history[sym]
            assert h.count(sym) == len(prices)
            want_changes = []
            want_logs = []
            for k in lags:
                if k < len(prices):
                    want_changes.append((prices[-1] / prices[-1 - k] - 1.0) * 100.0)
                    want_logs.append(math.log(prices[-1] / prices[-1 - k]))
                    assert h.price_at(sym, k) == prices[-1 - k]
                else:
                    want_changes.append(math.nan)
                    want_logs.append(math.nan)
                    assert math.isnan(h.price_at(sym, k))
            np.testing.assert_array_equal(h.changes(sym, lags), want_changes)
            np.testing.assert_array_equal(h.log_returns(sym, lags), want_logs)
            np.testing.assert_array_equal([h.price_change(sym, k) for k in lags], want_changes)
            np.testing.assert_array_equal([h.log_return(sym, k) for k in lags], want_logs)
    assert h.count(n_symbols - 1) == 0
