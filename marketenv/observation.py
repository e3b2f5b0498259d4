"""Bounded, scaled observations for learners (the envs' default ``observation="scaled"``).

The raw ComprehensiveFeatures mix currency levels (about 40), percents, annualised
ratios and share counts, so an MLP sees inputs from 0.001 to 10**5. The scaled view
maps every feature to a dimensionless number of order one and clips it to
``[-CLIP, CLIP]``:

* price levels (``sma_*``, ``ema_*``, ``bb_upper/middle/lower``, ``fair_value``): percent
  above the current mid, ``100 * (x / mid - 1)``; ``mid_price`` itself: percent above
  the episode's first mid (the learner's arrival);
* price distances (``spread``, ``macd_*``, ``atr_14``): percent of the mid;
* percents and returns: ``price_change_*`` and ``fair_value_deviation`` as they are
  (percent), ``log_return_*`` and ``relative_strength`` times 100 (log-percent),
  ``price_to_fair_value`` as ``100 * (x - 1)``; ``spread_bps`` / 10;
* bounded indicators: ``rsi_14`` as ``(x - 50) / 50``, ``bb_percent_b - 0.5``,
  news, ``max_drawdown``, ``position_normalized``, ``correlation_to_market`` unchanged;
* money (``cash``, ``total_pnl``, ``equity``): relative to the learner's initial capital
  (initial cash plus initial shares at the first mid), ``cash`` and ``equity`` as
  ``x / capital - 1``, ``total_pnl`` as percent of it; ``cash_normalized - 1``,
  ``pnl_normalized`` (percent) unchanged;
* ``position`` in lots (``position / lot``, ``lot`` the env's order size);
* heavy-tailed counts and ratios (``sharpe``, ``volatility``, trades, volume):
  ``sign(x) * log1p(|x|)``; ``news_ticks_remaining`` / 100.

Every output is finite whenever the raw features are (after the envs' warm-up).
"""

from __future__ import annotations

import math

import numba as nb
import numpy as np

from marketenv.feature_spec import FEATURE_INDEX, FEATURE_NAMES, N_FEATURES

CLIP = 10.0
"""Bound of every scaled feature: the observation space is ``Box(-CLIP, CLIP)``."""

OBSERVATION_MODES = ("scaled", "raw")

_REL_MID = ("sma_10", "sma_20", "sma_50", "ema_12", "ema_26", "bb_upper", "bb_middle", "bb_lower", "fair_value")
_PCT_OF_MID = ("spread", "macd_line", "macd_signal", "macd_histogram", "atr_14")
_LINEAR: dict[str, tuple[float, float]] = {  # name -> (multiplier, offset)
    "spread_bps": (0.1, 0.0),
    "price_change_1": (1.0, 0.0),
    "price_change_5": (1.0, 0.0),
    "price_change_20": (1.0, 0.0),
    "price_change_100": (1.0, 0.0),
    "log_return_1": (100.0, 0.0),
    "log_return_5": (100.0, 0.0),
    "log_return_20": (100.0, 0.0),
    "relative_strength": (100.0, 0.0),
    "rsi_14": (1 / 50, -1.0),
    "bb_percent_b": (1.0, -0.5),
    "price_to_fair_value": (100.0, -100.0),
    "fair_value_deviation": (1.0, 0.0),
    "has_active_news": (1.0, 0.0),
    "news_sentiment": (1.0, 0.0),
    "news_magnitude": (1.0, 0.0),
    "news_ticks_remaining": (0.01, 0.0),
    "position_normalized": (1.0, 0.0),
    "cash_normalized": (1.0, -1.0),
    "pnl_normalized": (1.0, 0.0),
    "max_drawdown": (1.0, 0.0),
    "correlation_to_market": (1.0, 0.0),
}
_SIGNED_LOG = ("sharpe", "volatility", "total_trades_this_tick", "total_volume_this_tick")
_MONEY: dict[str, tuple[float, float]] = {"cash": (1.0, -1.0), "total_pnl": (100.0, 0.0), "equity": (1.0, -1.0)}

assert set(_REL_MID) | set(_PCT_OF_MID) | set(_LINEAR) | set(_SIGNED_LOG) | set(_MONEY) | {
    "mid_price",
    "position",
} == set(FEATURE_NAMES)


def check_observation_mode(observation: str) -> str:
    """``observation`` if it is a known mode, else a ``ValueError`` naming the choices."""
    if observation not in OBSERVATION_MODES:
        raise ValueError(f"observation {observation!r} must be 'scaled' (bounded, the default) or 'raw'")
    return observation


class ObservationScaler:
    """Maps raw feature rows to the scaled view of this module (vectorised over rows).

    ``y = clip(x * (a + b / mid) + c, -CLIP, CLIP)``, then ``sign(y) * log1p(|y|)`` for the
    heavy-tailed features (before the clip). ``a`` of ``mid_price`` and of the money
    features depend on the episode (first mid, capital): set them with :meth:`start`.

    Args:
        lot: Shares per lot for ``position`` (the env's order size).
    """

    def __init__(self, lot: int) -> None:
        a = np.zeros(N_FEATURES)
        b = np.zeros(N_FEATURES)
        c = np.zeros(N_FEATURES)
        ix = FEATURE_INDEX
        for name in _REL_MID:
            b[ix[name]], c[ix[name]] = 100.0, -100.0
        for name in _PCT_OF_MID:
            b[ix[name]] = 100.0
        for name, (mul, off) in _LINEAR.items():
            a[ix[name]], c[ix[name]] = mul, off
        for name in _SIGNED_LOG:
            a[ix[name]] = 1.0
        a[ix["position"]] = 1.0 / max(1, int(lot))
        c[ix["mid_price"]] = -100.0
        for name, (_mul, off) in _MONEY.items():
            c[ix[name]] = off
        self._a_base, self._b, self._c = a, b, c
        self._mid = ix["mid_price"]
        self._money = np.array([ix[n] for n in _MONEY])
        self._money_mul = np.array(list(m for m, _ in _MONEY.values()))
        self._log = np.array([ix[n] for n in _SIGNED_LOG])
        self._is_log = np.zeros(N_FEATURES, dtype=np.bool_)
        self._is_log[self._log] = True
        self.start(1.0, 1.0)

    def start(self, first_mid: float | np.ndarray, capital: float | np.ndarray) -> None:
        """Set the episode's reference mid and the learners' capital (currency units).

        Args:
            first_mid: The mid at the start of the episode (> 0), one per row to scale
                or one for all.
            capital: Initial cash plus initial shares at ``first_mid``, one per row or
                one for all (a non-positive capital is replaced by 1).
        """
        self._rows_a = self.coefficients(first_mid, capital)

    def coefficients(self, first_mid: float | np.ndarray, capital: float | np.ndarray) -> np.ndarray:
        """The per-row multipliers ``a`` (``(k, F)``) of an episode (arguments as :meth:`start`)."""
        mid0 = np.atleast_1d(np.asarray(first_mid, dtype=np.float64))
        cap = np.atleast_1d(np.asarray(capital, dtype=np.float64))
        k = max(mid0.shape[0], cap.shape[0])
        a = np.tile(self._a_base, (k, 1))
        a[:, self._mid] = 100.0 / mid0
        a[:, self._money] = self._money_mul / np.where(cap > 0, cap, 1.0)[:, None]
        return a

    def __call__(self, rows: np.ndarray) -> np.ndarray:
        """Scaled float32 copy of ``(F,)`` or ``(k, F)`` raw feature rows.

        ``k`` must match the number of rows given to :meth:`start` (or that was 1).
        """
        x = np.asarray(rows, dtype=np.float64)
        if x.ndim == 1:
            return self.scale(x[None, :], self._rows_a[:1])[0]
        a = self._rows_a if self._rows_a.shape[0] == x.shape[0] else np.broadcast_to(self._rows_a, x.shape)
        return self.scale(x, a)

    @property
    def constants(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
        """``(b, c, is_log, mid index)``: the episode-independent part of the map (for :func:`scale_rows`)."""
        return self._b, self._c, self._is_log, self._mid

    def scale(self, rows: np.ndarray, a: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
        """Scaled float32 ``(k, F)`` rows with the multipliers ``a`` (``(k, F)``, see :meth:`coefficients`).

        Args:
            rows: Raw feature rows, float64.
            a: One multiplier row per feature row.
            out: Where to write (a new array by default).
        """
        if out is None:
            out = np.empty(rows.shape, dtype=np.float32)
        scale_rows(np.ascontiguousarray(rows, dtype=np.float64), np.ascontiguousarray(a), self._b, self._c,
                   self._is_log, self._mid, CLIP, out)
        return out


@nb.njit(cache=True)
def scale_rows(x: np.ndarray, a: np.ndarray, b: np.ndarray, c: np.ndarray, is_log: np.ndarray, mid: int,
                clip: float, out: np.ndarray) -> None:
    """``out = clip(slog(x * (a + b / x[mid]) + c))`` row by row, in float64 then rounded to float32."""
    for r in range(x.shape[0]):
        m = x[r, mid]
        for j in range(x.shape[1]):
            y = x[r, j] * (a[r, j] + b[j] / m) + c[j]
            if is_log[j]:
                if y > 0.0:
                    y = math.log1p(y)
                elif y < 0.0:
                    y = -math.log1p(-y)
            if y > clip:
                y = clip
            elif y < -clip:
                y = -clip
            out[r, j] = y
