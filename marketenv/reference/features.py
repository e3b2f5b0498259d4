"""The pure-Python market features: the reference the compiled features are held to.

:class:`ReferenceMarketFeatures` computes every symbol's market row from
:class:`~marketenv.indicators.SymbolIndicators` and :class:`~marketenv.price_history.PriceHistory`
(plain Python floats, the definitions of :mod:`marketenv.features`);
``Simulation(config, reference=True)`` runs a whole market on it and on
:class:`~marketenv.reference.market.ReferenceMarket`.
"""

from __future__ import annotations

import math

import numpy as np

from marketenv.engine.features import cross_kernel
from marketenv.indicators import SymbolIndicators
from marketenv.market import TickStats
from marketenv.price_history import PriceHistory
from marketenv.reference.market import ReferenceMarket
from marketenv.types import TICKS_PER_UNIT

_M1 = 31
_ROW = 35
_CROSS_WINDOW = 20
_NAN = float("nan")


class ReferenceMarketFeatures:
    """Per-symbol market features from the pure-Python indicators and price history."""

    def __init__(self, market: ReferenceMarket) -> None:
        self.market = market
        n = market.n_symbols
        self.indicators = [SymbolIndicators() for _ in range(n)]
        self.history = PriceHistory(n, capacity=128)
        self._rets = np.zeros((n, _CROSS_WINDOW))
        self._n_rets = 0
        self._prev_mid: np.ndarray | None = None
        self._last_stats: TickStats | None = None
        self._rows = np.zeros((n, _ROW))

    def observe_stats(self, stats: TickStats) -> None:
        """Remember the finished tick's statistics (trades, volume, bar high/low)."""
        self._last_stats = stats

    def row(self, symbol: int) -> np.ndarray:
        """A copy of one symbol's latest 35 market values (as :meth:`rows` last returned)."""
        return self._rows[symbol].copy()

    def rows(self) -> np.ndarray:
        """Advance to the current tick and return the ``(n_symbols, 35)`` market rows."""
        m = self.market
        stats = self._last_stats
        mids = m.mid_prices()
        fair = m.fundamentals.fair_value
        news = m.news
        rows = self._rows
        hist = self.history
        if stats is not None:
            s_hi = stats.high.tolist()
            s_lo = stats.low.tolist()
            s_trades = stats.trades.tolist()
            s_volume = stats.volume.tolist()
        for s in range(m.n_symbols):
            mid = float(mids[s])
            if stats is None:
                hi = lo = mid
                trades = volume = 0.0
            else:
                # The market's bar: both mids (rounded outwards) and the trades between.
                hi = s_hi[s] / TICKS_PER_UNIT
                lo = s_lo[s] / TICKS_PER_UNIT
                trades = float(s_trades[s])
                volume = float(s_volume[s])
            ind = self.indicators[s]
            ind.update(mid, hi, lo)
            hist.record(s, mid)
            spread = m.spread(s) / TICKS_PER_UNIT
            fv = float(fair[s])
            rem = int(news.remaining[s])
            pc1, pc5, pc20, pc100 = hist.changes(s, (1, 5, 20, 100))
            lr1, lr5, lr20 = hist.log_returns(s, (1, 5, 20))
            rows[s, :_M1] = (
                mid, spread, spread / mid * 1e4, pc1, pc5, pc20, pc100, lr1, lr5, lr20,
                *ind.values(),
                fv, mid / fv, (mid - fv) / fv * 100.0,
                1.0 if rem > 0 else 0.0, float(news.sentiment[s]), float(news.magnitude[s]), float(rem),
            )
            rows[s, _M1] = trades
            rows[s, _M1 + 1] = volume
        self._cross(mids)
        return rows

    def _cross(self, mids: np.ndarray) -> None:
        rows = self._rows
        c = _M1 + 2
        if self._prev_mid is not None:
            self._rets[:, self._n_rets % _CROSS_WINDOW] = [math.log(r) for r in (mids / self._prev_mid).tolist()]
            self._n_rets += 1
        self._prev_mid = mids
        if self._n_rets < _CROSS_WINDOW:
            rows[:, c] = _NAN
            rows[:, c + 1] = _NAN
            return
        if self.market.n_symbols == 1:
            rows[:, c] = 1.0
            rows[:, c + 1] = 0.0
            return
        cross_kernel(self._rets, rows, c)
