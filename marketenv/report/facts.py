"""Stylized facts of a price series, measured as ``docs/realism.md`` defines them.

Everything here is plain numpy over per-tick arrays of one symbol: the mid price at the
start of each tick, the spread at the start of the tick (ticks), the shares traded during
the tick and whether either book side was empty. One tick is one second
(:data:`~marketenv.feature_spec.TICKS_PER_YEAR` ticks per year).

Each fact is a :class:`Fact`: its measured value, the target range and whether it passes.
A fact that cannot be measured (a series too short, a constant series) has value NaN and
fails, with the reason in ``note``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np

from marketenv.feature_spec import TICKS_PER_YEAR

BAR = 60
"""Ticks per bar for the aggregated facts (one minute)."""


@dataclass(frozen=True)
class Fact:
    """One measured stylized fact.

    Attributes:
        key: Stable identifier (``facts.json`` key).
        name: Readable name.
        value: Measured value (NaN if it could not be measured).
        low: Smallest passing value (``-inf`` if none).
        high: Largest passing value (``inf`` if none).
        reference: The real-market reference, in words.
        note: Why the value is NaN, or extra detail.
    """

    key: str
    name: str
    value: float
    low: float
    high: float
    reference: str
    note: str = ""

    @property
    def passed(self) -> bool:
        """Whether the value lies in ``[low, high]`` (NaN fails)."""
        return bool(math.isfinite(self.value) and self.low <= self.value <= self.high)

    def target(self) -> str:
        """The target range in words, e.g. ``[0.75, 1.3]`` or ``>= 2``."""
        if math.isinf(self.low) and math.isinf(self.high):
            return "any"
        if math.isinf(self.high):
            return f">= {self.low:g}"
        if math.isinf(self.low):
            return f"<= {self.high:g}"
        return f"[{self.low:g}, {self.high:g}]"

    def to_dict(self) -> dict[str, object]:
        d = asdict(self)
        d["passed"] = self.passed
        d["target"] = self.target()
        for k in ("value", "low", "high"):
            v = d[k]
            d[k] = None if not math.isfinite(v) else v
        return d


def acf(x: np.ndarray, lags: Sequence[int]) -> np.ndarray:
    """Sample autocorrelation of the demeaned series at ``lags`` (NaN if undefined)."""
    x = np.asarray(x, dtype=np.float64)
    x = x - x.mean() if x.size else x
    den = float(np.dot(x, x))
    out = np.full(len(lags), np.nan)
    if den <= 0.0:
        return out
    for i, k in enumerate(lags):
        if 0 < k < x.size:
            out[i] = float(np.dot(x[:-k], x[k:])) / den
        elif k == 0:
            out[i] = 1.0
    return out


def variance_ratio(log_mid: np.ndarray, q: int) -> float:
    """``var(lm[t+q] - lm[t]) / (q * var(lm[t+1] - lm[t]))`` with overlapping differences."""
    lm = np.asarray(log_mid, dtype=np.float64)
    if lm.size <= 2 * q:
        return float("nan")
    v1 = float(np.var(np.diff(lm)))
    vq = float(np.var(lm[q:] - lm[:-q]))
    return vq / (q * v1) if v1 > 0 else float("nan")


def excess_kurtosis(x: np.ndarray) -> float:
    """``E[(x-m)^4] / E[(x-m)^2]^2 - 3`` (NaN for a constant series)."""
    x = np.asarray(x, dtype=np.float64)
    if x.size < 4:
        return float("nan")
    d = x - x.mean()
    m2 = float(np.mean(d * d))
    return float(np.mean(d**4)) / (m2 * m2) - 3.0 if m2 > 0 else float("nan")


def hill_index(x: np.ndarray, fraction: float = 0.025) -> float:
    """Hill estimator of the tail index of ``|x|`` over its ``fraction`` largest values."""
    a = np.sort(np.abs(np.asarray(x, dtype=np.float64)))[::-1]
    k = int(a.size * fraction)
    if k < 5 or a[k] <= 0:
        return float("nan")
    logs = np.log(a[:k] / a[k])
    m = float(logs.mean())
    return 1.0 / m if m > 0 else float("nan")


def bars(x: np.ndarray, width: int = BAR) -> np.ndarray:
    """Sums of ``x`` over consecutive non-overlapping windows of ``width`` ticks."""
    n = (np.asarray(x).size // width) * width
    return np.asarray(x[:n], dtype=np.float64).reshape(-1, width).sum(axis=1)


def corr(a: np.ndarray, b: np.ndarray) -> float:
    """Pearson correlation (NaN if either series is constant)."""
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    if a.size < 3 or a.std() == 0 or b.std() == 0:
        return float("nan")
    return float(np.corrcoef(a, b)[0, 1])


def r60(mid: np.ndarray) -> np.ndarray:
    """Non-overlapping 60-tick log returns of the mid: ``diff(log(mid)[::60])``."""
    return np.diff(np.log(np.asarray(mid, dtype=np.float64))[::BAR])


INF = float("inf")


def _finite_mean(x: np.ndarray) -> float:
    """Mean of the finite values of ``x`` (NaN if there are none)."""
    x = np.asarray(x, dtype=np.float64)
    x = x[np.isfinite(x)]
    return float(x.mean()) if x.size else float("nan")


def price_facts(mid: np.ndarray, spread: np.ndarray, volume: np.ndarray, one_side_empty: np.ndarray) -> list[Fact]:
    """The single-symbol stylized facts.

    Args:
        mid: Mid price at the start of each tick (currency units).
        spread: Spread at the start of each tick, ticks.
        volume: Shares traded during each tick.
        one_side_empty: Whether a book side was empty at the start of each tick.

    Returns:
        The facts, in table order.
    """
    mid = np.asarray(mid, dtype=np.float64)
    lm = np.log(mid)
    r = r60(mid)
    vol60 = bars(volume)[: r.size]
    abs_r = np.abs(r)
    ac = acf(r, range(1, 11))
    ac_abs = acf(abs_r, range(1, 31))
    spread = np.asarray(spread, dtype=np.float64)
    facts = [
        Fact("vr10", "variance ratio VR(10)", variance_ratio(lm, 10), 0.75, 1.3, "1 (random walk)"),
        Fact("vr100", "variance ratio VR(100)", variance_ratio(lm, 100), 0.75, 1.3, "1 (random walk)"),
        Fact("vr600", "variance ratio VR(600)", variance_ratio(lm, 600), 0.75, 1.3, "1 (random walk)"),
        Fact(
            "acf_r60_max", "max |ACF| of r60, lags 1-10", float(np.max(np.abs(ac))) if r.size > 20 and np.all(np.isfinite(ac)) else float("nan"),
            -INF, 0.06, "~0 beyond a few minutes (Cont 2001)",
        ),
        Fact(
            "vol_annual", "annualised volatility of r60",
            float(np.std(r) * math.sqrt(TICKS_PER_YEAR / BAR)) if r.size > 2 else float("nan"),
            0.10, 0.60, "15-40%/yr for a liquid large cap",
        ),
        Fact("kurtosis_r60", "excess kurtosis of r60", excess_kurtosis(r), 2.0, INF, "heavy tails, > 0"),
        Fact("kurtosis_r1", "excess kurtosis of 1-tick returns", excess_kurtosis(np.diff(lm)), -INF, INF,
             "larger than at 60 ticks (aggregational Gaussianity)"),
        Fact("kurtosis_r600", "excess kurtosis of 600-tick returns", excess_kurtosis(np.diff(lm[::600])), -INF, INF,
             "smaller than at 60 ticks"),
        Fact("hill_r60", "Hill tail index of |r60| (top 2.5%)", hill_index(r), 2.0, 6.0, "2-5 (Cont 2001)"),
        Fact("acf_abs_r60_lag1", "ACF of |r60| at lag 1", float(ac_abs[0]), 0.1, INF, "0.1-0.3, slow decay"),
        Fact("acf_abs_r60_10_30", "mean ACF of |r60| over lags 10-30", _finite_mean(ac_abs[9:30]), 0.03, INF,
             "power-law decay, exponent 0.2-0.4"),
        Fact("acf_vol60_lag1", "ACF of 60-tick volume at lag 1", float(acf(vol60, [1])[0]), 0.2, INF,
             "volume is persistent"),
        Fact("corr_absr_vol60", "corr(|r60|, 60-tick volume)", corr(abs_r, vol60), 0.2, INF,
             "volume-volatility correlation"),
        Fact("spread_median", "median spread, ticks", float(np.median(spread)) if spread.size else float("nan"),
             -INF, 2.0, "1-2 ticks most of the time"),
        Fact("spread_mean", "mean spread, ticks", float(np.mean(spread)) if spread.size else float("nan"),
             -INF, 2.5, "1-2 ticks most of the time"),
        Fact("empty_side", "fraction of ticks with a book side empty",
             float(np.mean(one_side_empty)) if np.size(one_side_empty) else float("nan"), -INF, 0.001,
             "never, for a liquid stock"),
        Fact("zero_moves", "fraction of 1-tick mid changes that are zero", float(np.mean(np.diff(mid) == 0)),
             -INF, INF, "many zero 1-second changes"),
    ]
    return facts


def cross_correlation(mids: Sequence[np.ndarray]) -> float:
    """Mean pairwise correlation of r60 between symbols (NaN for one symbol)."""
    rs = [r60(m) for m in mids]
    vals = [corr(rs[i], rs[j]) for i in range(len(rs)) for j in range(i + 1, len(rs))]
    return float(np.mean(vals)) if vals else float("nan")


def forward_sign(mid: np.ndarray, horizon: int = 10) -> np.ndarray:
    """Sign of ``mid[t + horizon] - mid[t]`` for every tick (0 at the end and for no move)."""
    mid = np.asarray(mid, dtype=np.float64)
    out = np.zeros(mid.size, dtype=np.int8)
    d = mid[horizon:] - mid[:-horizon]
    out[:-horizon] = np.sign(d).astype(np.int8)
    return out


def split_train_test(n: int, train: float = 0.7, gap: int = 100) -> tuple[slice, slice]:
    """The chronological split of the no-free-lunch test: first ``train``, a gap, the rest."""
    cut = int(n * train)
    return slice(0, cut), slice(min(n, cut + gap), n)


def logistic_accuracy(x: np.ndarray, y: np.ndarray, train: slice, test: slice, iters: int = 200) -> float:
    """Out-of-sample sign accuracy of a logistic regression of ``y`` (+-1) on ``x`` (n, k).

    Fitted by Newton's method on standardised inputs; rows with ``y == 0`` or a NaN input
    are dropped from both sides. NaN if either side has too few rows.
    """
    x = np.asarray(x, dtype=np.float64).reshape(len(y), -1)
    ok = (y != 0) & np.all(np.isfinite(x), axis=1)
    idx = np.arange(len(y))
    tr = idx[train][ok[train]]
    te = idx[test][ok[test]]
    if tr.size < 50 or te.size < 50:
        return float("nan")
    mu = x[tr].mean(axis=0)
    sd = x[tr].std(axis=0)
    sd[sd == 0] = 1.0
    a = np.column_stack([np.ones(tr.size), (x[tr] - mu) / sd])
    t = (y[tr] > 0).astype(np.float64)
    w = np.zeros(a.shape[1])
    for _ in range(iters):
        p = 1.0 / (1.0 + np.exp(-np.clip(a @ w, -30, 30)))
        g = a.T @ (p - t)
        h = (a * (p * (1 - p))[:, None]).T @ a + 1e-6 * np.eye(a.shape[1])
        step = np.linalg.solve(h, g)
        w -= step
        if np.max(np.abs(step)) < 1e-10:
            break
    b = np.column_stack([np.ones(te.size), (x[te] - mu) / sd])
    pred = (b @ w) > 0
    return float(np.mean(pred == (y[te] > 0)))


def boosted_accuracy(x: np.ndarray, y: np.ndarray, train: slice, test: slice, seed: int = 0) -> float:
    """Out-of-sample sign accuracy of scikit-learn's gradient-boosted trees (NaN without sklearn)."""
    try:
        from sklearn.ensemble import HistGradientBoostingClassifier
    except ImportError:
        return float("nan")
    x = np.asarray(x, dtype=np.float64)
    idx = np.arange(len(y))
    tr = idx[train][y[train] != 0]
    te = idx[test][y[test] != 0]
    if tr.size < 200 or te.size < 50:
        return float("nan")
    model = HistGradientBoostingClassifier(max_iter=200, learning_rate=0.05, max_leaf_nodes=31, random_state=seed)
    model.fit(x[tr], y[tr] > 0)
    return float(np.mean(model.predict(x[te]) == (y[te] > 0)))
