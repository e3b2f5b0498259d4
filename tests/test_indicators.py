"""Tests of :mod:`marketenv.indicators` against an independent full-window reference.

The reference (:func:`reference`) recomputes every indicator from its definition with
numpy: windowed quantities over full sliding windows (two-pass population standard
deviation), recursive ones (EMA, Wilder averages) with a plain loop written per definition.
The incremental class must agree to 1e-9 relative (1e-9 absolute near zero) on a 100,000
tick random walk, keep the NaN policy of :mod:`marketenv.feature_spec` exactly, and handle
the degenerate series (flat, monotone) by the documented conventions.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from numpy.lib.stride_tricks import sliding_window_view

from marketenv.feature_spec import FEATURE_INDEX, FEATURE_NAMES, NAN_UNTIL
from marketenv.indicators import SymbolIndicators

NAMES = SymbolIndicators.NAMES
RTOL = 1e-9
ATOL = 1e-9


# --- reference ---------------------------------------------------------------------------


def _sma(x: np.ndarray, n: int) -> np.ndarray:
    out = np.full(len(x), np.nan)
    if len(x) >= n:
        out[n - 1 :] = sliding_window_view(x, n).mean(axis=1)
    return out


def _ema(x: np.ndarray, n: int, start: int = 0) -> np.ndarray:
    """EMA(n) of ``x[start:]`` (earlier entries ignored), seeded with the SMA of n values."""
    k = 2.0 / (n + 1)
    out = np.full(len(x), np.nan)
    first = start + n - 1
    if first >= len(x):
        return out
    e = float(np.mean(x[start : first + 1]))
    out[first] = e
    for i in range(first + 1, len(x)):
        e = k * float(x[i]) + (1.0 - k) * e
        out[i] = e
    return out


def _wilder(values: np.ndarray, n: int) -> np.ndarray:
    """Wilder average of ``values[1:]`` (``values[0]`` undefined): first at index n."""
    out = np.full(len(values), np.nan)
    if n >= len(values):
        return out
    a = float(np.mean(values[1 : n + 1]))
    out[n] = a
    for i in range(n + 1, len(values)):
        a = (a * (n - 1) + float(values[i])) / n
        out[i] = a
    return out


def reference(
    close: np.ndarray, high: np.ndarray | None = None, low: np.ndarray | None = None
) -> dict[str, np.ndarray]:
    """Every indicator of :class:`SymbolIndicators`, recomputed from its definition."""
    high = close if high is None else high
    low = close if low is None else low
    ref: dict[str, np.ndarray] = {}
    ref["sma_10"] = _sma(close, 10)
    ref["sma_20"] = _sma(close, 20)
    ref["sma_50"] = _sma(close, 50)
    ref["ema_12"] = _ema(close, 12)
    ref["ema_26"] = _ema(close, 26)

    diff = np.diff(close, prepend=np.nan)
    avg_gain = _wilder(np.where(diff > 0, diff, 0.0), 14)
    avg_loss = _wilder(np.where(diff < 0, -diff, 0.0), 14)
    total = avg_gain + avg_loss
    with np.errstate(invalid="ignore", divide="ignore"):
        ref["rsi_14"] = np.where(total == 0.0, 50.0, 100.0 * avg_gain / total)

    line = ref["ema_12"] - ref["ema_26"]
    signal = _ema(line, 9, start=25)
    ref["macd_line"] = line
    ref["macd_signal"] = signal
    ref["macd_histogram"] = line - signal

    middle = np.full(len(close), np.nan)
    std = np.full(len(close), np.nan)
    if len(close) >= 20:
        windows = sliding_window_view(close, 20)
        middle[19:] = windows.mean(axis=1)
        std[19:] = windows.std(axis=1)  # population (ddof=0), two-pass
    upper = middle + 2.0 * std
    lower = middle - 2.0 * std
    width = upper - lower
    with np.errstate(invalid="ignore", divide="ignore"):
        pct_b = np.where(width <= 1e-12 * np.abs(middle), 0.5, (close - lower) / width)
    pct_b[np.isnan(middle)] = np.nan
    ref["bb_upper"] = upper
    ref["bb_middle"] = middle
    ref["bb_lower"] = lower
    ref["bb_percent_b"] = pct_b

    prev = np.concatenate(([np.nan], close[:-1]))
    tr = np.maximum.reduce([high - low, np.abs(high - prev), np.abs(low - prev)])
    ref["atr_14"] = _wilder(tr, 14)
    return ref


def run(
    close: np.ndarray, high: np.ndarray | None = None, low: np.ndarray | None = None
) -> np.ndarray:
    """Feed the series tick by tick; return the (n_ticks, 14) array of ``values()``."""
    high = close if high is None else high
    low = close if low is None else low
    ind = SymbolIndicators()
    out = np.empty((len(close), len(NAMES)))
    for i, (c, h, lo) in enumerate(zip(close.tolist(), high.tolist(), low.tolist(), strict=True)):
        ind.update(c, h, lo)
        out[i] = ind.values()
    return out


def random_walk(rng: np.random.Generator, n: int, start: float = 70.0) -> np.ndarray:
    """Tiny-move random walk: +-0.01 steps, long flat stretches and rare 0.5 jumps.

    Built with a float cumulative sum, so a level revisited along different paths is a
    slightly different float (near-flat windows with float-noise spread occur too).
    """
    steps = rng.choice([-0.01, 0.0, 0.01], size=n, p=[0.35, 0.3, 0.35])
    # flat stretches: switch regimes with geometric lengths (mean 60 ticks, some ~500)
    lengths = rng.geometric(1.0 / 60.0, size=n // 20 + 1)
    flat = np.repeat(np.arange(len(lengths)) % 2 == 1, lengths)[:n]
    steps[flat] = 0.0
    jumps = rng.random(n) < 5e-4
    steps[jumps] = rng.choice([-0.5, 0.5], size=int(jumps.sum()))
    steps[0] = 0.0
    return start + np.cumsum(steps)


def bars(rng: np.random.Generator, close: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """High/low bars with ``low <= close <= high`` and the previous close inside."""
    prev = np.concatenate((close[:1], close[:-1]))
    extra_hi = rng.choice([0.0, 0.005, 0.01], size=len(close), p=[0.6, 0.2, 0.2])
    extra_lo = rng.choice([0.0, 0.005, 0.01], size=len(close), p=[0.6, 0.2, 0.2])
    return np.maximum(close, prev) + extra_hi, np.minimum(close, prev) - extra_lo


def assert_matches(out: np.ndarray, ref: dict[str, np.ndarray], skip: int = 0) -> None:
    """Same NaN pattern and values within RTOL / ATOL for every indicator."""
    for j, name in enumerate(NAMES):
        got = out[skip:, j]
        want = ref[name][skip:]
        np.testing.assert_array_equal(np.isnan(got), np.isnan(want), err_msg=name)
        np.testing.assert_allclose(got, want, rtol=RTOL, atol=ATOL, err_msg=name)


@pytest.fixture(scope="module")
def long_series() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """100,000 ticks (close, high, low) and the indicators computed incrementally."""
    rng = np.random.default_rng(20240611)
    close = random_walk(rng, 100_000)
    high, low = bars(rng, close)
    return close, high, low, run(close, high, low)


# --- contract ----------------------------------------------------------------------------


def test_names_follow_feature_spec() -> None:
    start = FEATURE_INDEX["sma_10"]
    assert NAMES == FEATURE_NAMES[start : start + 14]
    assert len(set(NAMES)) == 14


def test_attributes_equal_values() -> None:
    rng = np.random.default_rng(1)
    ind = SymbolIndicators()
    for i, x in enumerate(random_walk(rng, 80).tolist()):
        ind.update(x, x, x)
        assert ind.count == i + 1
        values = ind.values()
        assert len(values) == 14
        for name, v in zip(NAMES, values, strict=True):
            got = getattr(ind, name)
            assert got == v or (math.isnan(got) and math.isnan(v)), name


def test_nan_exactly_until_warm(long_series) -> None:
    _, _, _, out = long_series
    t = np.arange(len(out))
    for j, name in enumerate(NAMES):
        nan = np.isnan(out[:, j])
        np.testing.assert_array_equal(nan, t < NAN_UNTIL[name], err_msg=name)
    assert not np.isinf(out).any()


def test_all_nan_before_any_update() -> None:
    ind = SymbolIndicators()
    assert ind.count == 0
    assert all(math.isnan(v) for v in ind.values())


# --- against the reference -----------------------------------------------------------------


def test_long_random_walk_matches_reference(long_series) -> None:
    close, high, low, out = long_series
    assert 40.0 < close.min() and close.max() < 100.0  # the series the requirement names
    assert_matches(out, reference(close, high, low))


def test_plain_series_matches_reference() -> None:
    """high = low = close: the true range is |close - prev close|."""
    rng = np.random.default_rng(7)
    close = random_walk(rng, 20_000, start=45.0)
    assert_matches(run(close), reference(close))


def test_cent_rounded_series_matches_reference() -> None:
    """Prices on an exact cent grid (repeated levels are the identical float)."""
    rng = np.random.default_rng(8)
    close = np.round(random_walk(rng, 20_000, start=88.0), 2)
    assert_matches(run(close), reference(close))


def test_unrestricted_bars_match_reference() -> None:
    """Bars whose range does not contain the previous close use the full TR formula."""
    rng = np.random.default_rng(9)
    close = random_walk(rng, 5_000)
    high = close + rng.choice([0.0, 0.02], size=len(close))
    low = close - rng.choice([0.0, 0.02], size=len(close))
    assert_matches(run(close, high, low), reference(close, high, low))


def test_jumps_and_regime_changes_match_reference() -> None:
    """Large jumps followed by flat stretches: the band width must return to exactly 0."""
    close = np.concatenate(
        [np.full(60, 50.0), np.full(60, 90.0), 90.0 + 0.01 * np.arange(40), np.full(60, 41.37)]
    )
    out = run(close)
    assert_matches(out, reference(close))
    pct_b = out[:, NAMES.index("bb_percent_b")]
    upper = out[:, NAMES.index("bb_upper")]
    lower = out[:, NAMES.index("bb_lower")]
    for end in (60, 120, 220):  # last tick of each flat stretch (window flat for 20+ ticks)
        assert pct_b[end - 1] == 0.5
        assert upper[end - 1] - lower[end - 1] <= 1e-12 * 100


@pytest.mark.parametrize("jump_at", [65, 70, 77, 90, 100, 127, 130])
@pytest.mark.parametrize("jump", [0.37, -1.23, 7.77])
def test_window_becoming_flat_at_any_phase(jump_at: int, jump: float) -> None:
    """A jump to a new level, wherever it falls between the periodic recomputations of
    the running sums, leaves exactly zero-width bands once the window is flat again."""
    close = np.concatenate([np.full(jump_at, 50.0), np.full(100, 50.0 + jump)])
    out = run(close)
    assert_matches(out, reference(close))
    flat = np.arange(len(close)) >= jump_at + 19
    pct_b = out[flat, NAMES.index("bb_percent_b")]
    width = out[flat, NAMES.index("bb_upper")] - out[flat, NAMES.index("bb_lower")]
    assert (pct_b == 0.5).all()
    assert (width <= 1e-12 * 60.0).all()


def test_short_series() -> None:
    """Fewer ticks than the longest warm-up: the reference agrees on every prefix."""
    rng = np.random.default_rng(3)
    close = random_walk(rng, 60)
    for n in (1, 2, 14, 15, 26, 34, 49, 50, 60):
        assert_matches(run(close[:n]), reference(close[:n]))


# --- degenerate series -------------------------------------------------------------------


@pytest.mark.parametrize("level", [50.0, 43.17, 0.1 + 0.2])
def test_flat_series(level: float) -> None:
    close = np.full(300, level)
    out = run(close)
    t = np.arange(len(close))
    col = {name: out[:, j] for j, name in enumerate(NAMES)}
    for name in NAMES:
        warm = t >= NAN_UNTIL[name]
        assert np.isfinite(col[name][warm]).all(), name
    warm = t >= 49
    for name in ("sma_10", "sma_20", "sma_50", "ema_12", "ema_26", "bb_middle"):
        np.testing.assert_allclose(col[name][warm], level, rtol=1e-15)
    np.testing.assert_array_equal(col["bb_upper"][warm], col["bb_lower"][warm])
    assert (col["bb_percent_b"][t >= 19] == 0.5).all()
    assert (col["rsi_14"][t >= 14] == 50.0).all()
    assert (col["atr_14"][t >= 14] == 0.0).all()
    assert (np.abs(col["macd_line"][t >= 25]) <= 1e-12 * level).all()
    assert (np.abs(col["macd_histogram"][t >= 33]) <= 1e-12 * level).all()


def test_monotone_rising_series() -> None:
    close = 50.0 + 0.01 * np.arange(200)
    out = run(close)
    rsi = out[:, NAMES.index("rsi_14")]
    assert np.isnan(rsi[:14]).all()
    assert (rsi[14:] == 100.0).all()
    # a straight line sits at a constant %B: (9.5 + 2 sd) / (4 sd), sd = sqrt(399 / 12) steps
    sd = math.sqrt(399.0 / 12.0)
    np.testing.assert_allclose(
        out[19:, NAMES.index("bb_percent_b")], (9.5 + 2 * sd) / (4 * sd), rtol=1e-9
    )
    assert_matches(out, reference(close))


def test_monotone_falling_series_rsi_zero() -> None:
    close = 80.0 - 0.01 * np.arange(100)
    rsi = run(close)[:, NAMES.index("rsi_14")]
    assert (rsi[14:] == 0.0).all()


# --- hand-checked examples ---------------------------------------------------------------


def test_ema_seeding_by_hand() -> None:
    """Values 1..13: EMA(12) starts at mean(1..12) = 6.5, then 6.5 + (2/13)(13 - 6.5) = 7.5."""
    ind = SymbolIndicators()
    for i in range(1, 12):
        ind.update(float(i), float(i), float(i))
        assert math.isnan(ind.ema_12)
    ind.update(12.0, 12.0, 12.0)
    assert ind.ema_12 == 6.5
    ind.update(13.0, 13.0, 13.0)
    assert ind.ema_12 == pytest.approx(7.5, rel=1e-15)
    assert ind.sma_10 == pytest.approx(8.5, rel=1e-15)  # mean(4..13)


def test_wilder_rsi_by_hand() -> None:
    """Differences +2, -1 (x7): avg gain 1, avg loss 0.5 -> RSI 66.67; then +3 -> 71.11."""
    ind = SymbolIndicators()
    x = 100.0
    ind.update(x, x, x)
    for i in range(14):
        x += 2.0 if i % 2 == 0 else -1.0
        ind.update(x, x, x)
        if i < 13:
            assert math.isnan(ind.rsi_14)
    assert ind.rsi_14 == pytest.approx(100.0 * 1.0 / 1.5, rel=1e-14)
    # ATR of the plain series: mean |diff| = (7 * 2 + 7 * 1) / 14 = 1.5
    assert ind.atr_14 == pytest.approx(1.5, rel=1e-14)
    x += 3.0
    ind.update(x, x, x)
    gain = (1.0 * 13 + 3.0) / 14
    loss = (0.5 * 13 + 0.0) / 14
    assert ind.rsi_14 == pytest.approx(100.0 * gain / (gain + loss), rel=1e-14)
    assert ind.rsi_14 == pytest.approx(100.0 * 16.0 / 22.5, rel=1e-14)
    assert ind.atr_14 == pytest.approx((1.5 * 13 + 3.0) / 14, rel=1e-14)


def test_true_range_uses_previous_close() -> None:
    """A gap above the previous close counts from the previous close, not the bar low."""
    ind = SymbolIndicators()
    ind.update(10.0, 10.0, 10.0)
    for _ in range(14):
        ind.update(12.0, 12.5, 11.5)  # first bar gaps up: TR = 12.5 - 10 = 2.5, then 1.0
    assert ind.atr_14 == pytest.approx((2.5 + 13 * 1.0) / 14, rel=1e-14)


# --- TA-Lib (optional, not a project dependency) -----------------------------------------


def test_matches_talib(long_series) -> None:
    """SMA / EMA / RSI / BBANDS / ATR agree with TA-Lib where TA-Lib's definitions apply."""
    talib = pytest.importorskip("talib")
    close, high, low, out = long_series
    col = {name: out[:, j] for j, name in enumerate(NAMES)}

    def check(got: np.ndarray, want: np.ndarray, name: str, mask: np.ndarray | None = None) -> None:
        np.testing.assert_array_equal(np.isnan(got), np.isnan(want), err_msg=name)
        if mask is not None:
            got, want = got[mask], want[mask]
        np.testing.assert_allclose(got, want, rtol=RTOL, atol=ATOL, err_msg=name)

    for n in (10, 20, 50):
        check(col[f"sma_{n}"], talib.SMA(close, n), f"sma_{n}")
    for n in (12, 26):
        check(col[f"ema_{n}"], talib.EMA(close, n), f"ema_{n}")
    # TA-Lib's RSI is 0 when avg gain + avg loss < 1e-8 (its zero tolerance); ours keeps
    # the ratio (and 50 for an exact 0). Compare where the sum is clearly nonzero.
    ref = reference(close, high, low)
    diff = np.abs(np.diff(close, prepend=np.nan))
    scale = _wilder(np.nan_to_num(diff), 14)  # = avg gain + avg loss
    rsi_mask = ~(scale < 1e-7)
    assert rsi_mask[14:].mean() > 0.5
    check(col["rsi_14"], talib.RSI(close, 14), "rsi_14", rsi_mask)
    np.testing.assert_allclose(col["rsi_14"], ref["rsi_14"], rtol=RTOL, atol=ATOL)
    # TA-Lib computes the variance from running sums of x and x**2, so its band width is
    # only good to ~1e-7 of the price level; compare the bands, not %B.
    upper, middle, lower = talib.BBANDS(close, 20, 2.0, 2.0, 0)
    check(col["bb_upper"], upper, "bb_upper")
    check(col["bb_middle"], middle, "bb_middle")
    check(col["bb_lower"], lower, "bb_lower")
    check(col["atr_14"], talib.ATR(high, low, close, 14), "atr_14")
    check(
        run(close[:5000])[:, NAMES.index("atr_14")],
        talib.ATR(close[:5000], close[:5000], close[:5000], 14),
        "atr_plain",
    )
