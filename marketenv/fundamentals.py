"""Gordon Growth Model fair values of public fundamentals that diffuse and jump on news.

Per symbol, ``fair = D1 / (r - g)`` with ``D1 = eps_t * payout * (1 + g)``, i.e.
``fair = eps_t * multiple``. The log earnings ``log eps_t`` move each tick by

* a **diffusion** with per-tick standard deviation
  ``volatility / sqrt(TICKS_PER_YEAR) * regime_t * attention_t``, where ``regime_t`` is
  the market-wide volatility regime (:class:`~marketenv.config.FundamentalsConfig`, mean
  square 1) and ``attention_t`` the symbol's news attention (1 without news). A share
  ``factor_share`` of the diffusion variance is a market factor common to all symbols.
  The drift is ``-variance / 2``, so the fair value itself is a martingale;
* a **jump** at each news arrival (:mod:`marketenv.news`), permanent.

There is no clipping and no mean reversion: fair values are unbounded random walks in
log space, as prices of real stocks are.

Fallback: when ``r <= g`` the model has no finite value and the config must give
``fallback_pe``; then ``fair = eps_t * fallback_pe``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from marketenv.config import FundamentalsConfig, SymbolConfig
from marketenv.engine import exogenous as X
from marketenv.feature_spec import TICKS_PER_YEAR
from marketenv.types import TICKS_PER_UNIT


class Fundamentals:
    """Fair values of all symbols, advanced one tick at a time.

    Args:
        symbols: The listed symbols.
        rng: This process's own generator.
        config: The market-wide volatility regime and factor (defaults if ``None``).
    """

    def __init__(
        self,
        symbols: Sequence[SymbolConfig],
        rng: np.random.Generator,
        config: FundamentalsConfig | None = None,
    ) -> None:
        c = config or FundamentalsConfig()
        self._rng = rng
        self.eps = np.array([s.eps for s in symbols], dtype=float)
        g = np.array([s.growth for s in symbols], dtype=float)
        r = np.array([s.discount_rate for s in symbols], dtype=float)
        payout = np.array([s.payout for s in symbols], dtype=float)
        pe = np.array([s.fallback_pe or 0.0 for s in symbols], dtype=float)
        ggm = r > g
        # fair = eps_t * multiple, where multiple is the GGM price/earnings ratio or the fallback.
        self.multiple = np.where(ggm, payout * (1 + g) / np.where(ggm, r - g, 1.0), pe)
        self.uses_fallback = ~ggm
        n = len(symbols)
        phi = 0.5 ** (1.0 / c.vol_half_life)
        f = self.state = np.zeros(X.N_FUND)
        """Scalar state and parameters (columns ``F_*`` of :mod:`marketenv.engine.exogenous`)."""
        f[X.F_PHI] = phi
        f[X.F_VOL_OF_VOL] = c.vol_of_vol
        f[X.F_REGIME_STEP] = c.vol_of_vol * math.sqrt(1.0 - phi**2)
        f[X.F_COMMON] = math.sqrt(c.factor_share) if n > 1 else 1.0
        f[X.F_OWN] = math.sqrt(1.0 - c.factor_share) if n > 1 else 0.0
        fs = self.symbol_state = np.zeros((n, X.N_FUND_SYM))
        """Per-symbol state (columns ``FS_*``): log earnings, sigma, scale, fair value."""
        fs[:, X.FS_SIGMA] = np.array([s.volatility for s in symbols], dtype=float) / math.sqrt(TICKS_PER_YEAR)
        fs[:, X.FS_SCALE] = self.eps * self.multiple
        fs[:, X.FS_FAIR] = fs[:, X.FS_SCALE]

    @property
    def sigma(self) -> np.ndarray:
        """Per-tick diffusion standard deviation of each symbol at regime 1 and no news."""
        return self.symbol_state[:, X.FS_SIGMA].copy()

    @property
    def log_regime(self) -> float:
        """The regime's log deviation ``x_t`` (stationary, standard deviation ``vol_of_vol``)."""
        return float(self.state[X.F_LOG_REGIME])

    @property
    def log_earnings(self) -> np.ndarray:
        """Cumulative log change of each symbol's earnings since the start."""
        return self.symbol_state[:, X.FS_LOG_EARNINGS].copy()

    @property
    def fair_value(self) -> np.ndarray:
        """Current fair values, currency units (a copy)."""
        return self.symbol_state[:, X.FS_FAIR].copy()

    @fair_value.setter
    def fair_value(self, value: np.ndarray | Sequence[float]) -> None:
        self.symbol_state[:, X.FS_FAIR] = value

    @property
    def regime(self) -> float:
        """The current volatility regime multiplier ``exp(x_t - vol_of_vol**2)``."""
        return math.exp(self.state[X.F_LOG_REGIME] - self.state[X.F_VOL_OF_VOL] ** 2)

    def draw(self, ticks: int) -> np.ndarray:
        """The ``(ticks, n_symbols + 2)`` standard normals of the next ``ticks`` steps (what
        that many :meth:`step` calls without ``z`` would draw)."""
        return self._rng.standard_normal((ticks, self.symbol_state.shape[0] + 2))

    def step(
        self, jumps: np.ndarray | Sequence[float], attention: np.ndarray | Sequence[float], z: np.ndarray | None = None
    ) -> np.ndarray:
        """Advance one tick and return the new fair values (currency units).

        Args:
            jumps: Per-symbol log-earnings jumps of this tick (news arrivals).
            attention: Per-symbol volatility multipliers of this tick (news attention).
            z: This tick's standard normals (from :meth:`draw`); drawn now if ``None``.
        """
        news = np.zeros((self.symbol_state.shape[0], X.N_NEWS_F))
        news[:, X.NF_JUMP] = jumps
        news[:, X.NF_ATTENTION] = attention
        X.fundamentals_step(self.draw(1)[0] if z is None else z, self.state, self.symbol_state, news)
        return self.fair_value

    def fair_value_ticks(self) -> np.ndarray:
        """Fair values rounded to the tick grid (int64)."""
        return np.rint(self.fair_value * TICKS_PER_UNIT).astype(np.int64)
