"""Gordon Growth Model fair values with a bounded random drift and news shocks.

Per symbol, ``fair = D1 / (r - g)`` with ``D1 = eps_t * payout * (1 + g)``, where
``eps_t = eps * exp(drift_t + news_t)``:

* ``drift_t`` is a random walk with per-tick standard deviation ``drift_sigma``, clipped
  to ``[-max_drift, max_drift]``: a bounded wander between news events.
* ``news_t`` accumulates the news process's per-tick effects (permanent: news is
  information, it does not wear off when the event ends).

Fallback: when ``r <= g`` the model has no finite value and the config must give
``fallback_pe``; then ``fair = eps_t * fallback_pe``.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from marketenv.config import SymbolConfig
from marketenv.types import TICKS_PER_UNIT


class Fundamentals:
    """Fair values of all symbols, advanced one tick at a time.

    Args:
        symbols: The listed symbols.
        rng: This process's own generator.
    """

    def __init__(self, symbols: Sequence[SymbolConfig], rng: np.random.Generator) -> None:
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
        self.drift_sigma = np.array([s.drift_sigma for s in symbols], dtype=float)
        self.max_drift = np.array([s.max_drift for s in symbols], dtype=float)
        self.drift = np.zeros(len(symbols))
        self.news = np.zeros(len(symbols))
        self._scale = self.eps * self.multiple
        self.fair_value = self._scale.copy()

    def step(self, news_effect: np.ndarray | list[float]) -> np.ndarray:
        """Advance one tick and return the new fair values (currency units)."""
        shock = self._rng.standard_normal(self.drift.shape[0])
        shock *= self.drift_sigma
        shock += self.drift
        np.clip(shock, -self.max_drift, self.max_drift, out=self.drift)
        self.news += news_effect
        self.fair_value = np.exp(self.drift + self.news) * self._scale
        return self.fair_value

    def fair_value_ticks(self) -> np.ndarray:
        """Fair values rounded to the tick grid (int64)."""
        return np.rint(self.fair_value * TICKS_PER_UNIT).astype(np.int64)
