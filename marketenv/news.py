"""Seeded news events per symbol: information that arrives as a jump, then attention.

Each tick, every symbol without an active event starts one with probability ``rate``.
An event has ``sentiment`` uniform in [-1, 1], ``magnitude`` uniform in [0, 1], a
Pareto-distributed duration (tail index ``duration_tail``, between ``min_duration`` and
``max_duration`` ticks) and a heavy-tailed Student-t draw ``t`` (``jump_tail`` degrees of
freedom).

* **At arrival** the event moves the symbol's log earnings, once, by
  ``impact * sentiment * magnitude * |t|`` (see :mod:`marketenv.fundamentals`): news is
  priced when it arrives, so the event's public features carry no information about the
  direction of later moves.
* **While active** (ticks ``t0 .. t0 + d - 1``; ``ticks_remaining`` is ``d`` at ``t0`` and
  1 at the last tick) the symbol's attention is ``1 + attention * magnitude`` (1 with no
  event): it scales the fair value's volatility, and attention-driven traders read the
  same public magnitude.

The generator draws the same number of random numbers every tick whatever the state, so
its stream depends only on its seed and the number of ticks.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from marketenv.config import NewsConfig
from marketenv.engine import exogenous as X


class NewsEvent(NamedTuple):
    """The active event of one symbol at the current tick."""

    sentiment: float
    magnitude: float
    ticks_remaining: int
    duration: int


class NewsGenerator:
    """Per-symbol news events driven by one seeded generator.

    Args:
        config: The news process parameters.
        n_symbols: Number of symbols.
        rng: This process's own generator.
    """

    def __init__(self, config: NewsConfig, n_symbols: int, rng: np.random.Generator) -> None:
        self.config = config
        self.n_symbols = n_symbols
        self._rng = rng
        self.params = np.array(
            [config.rate, config.min_duration, config.max_duration, config.duration_tail, config.impact,
             config.jump_tail, config.attention],
            dtype=np.float64,
        )
        """The process parameters (columns ``NC_*`` of :mod:`marketenv.engine.exogenous`)."""
        self.state = np.zeros((n_symbols, X.N_NEWS_F))
        """Per-symbol sentiment, magnitude, jump and attention (columns ``NF_*``)."""
        self.state[:, X.NF_ATTENTION] = 1.0
        self.counts = np.zeros((n_symbols, X.N_NEWS_I), dtype=np.int64)
        """Per-symbol remaining and total duration and events started (columns ``NI_*``)."""

    @property
    def sentiment(self) -> np.ndarray:
        """Per-symbol sentiment of the active event (0 without one)."""
        return self.state[:, X.NF_SENTIMENT].copy()

    @property
    def magnitude(self) -> np.ndarray:
        """Per-symbol magnitude of the active event (0 without one)."""
        return self.state[:, X.NF_MAGNITUDE].copy()

    @property
    def jump(self) -> np.ndarray:
        """Per-symbol log-earnings jump of the current tick (0 except at arrivals)."""
        return self.state[:, X.NF_JUMP].copy()

    @property
    def attention(self) -> np.ndarray:
        """Per-symbol attention of the current tick (``>= 1``)."""
        return self.state[:, X.NF_ATTENTION].copy()

    @property
    def remaining(self) -> np.ndarray:
        """Per-symbol ticks left of the active event (0 without one)."""
        return self.counts[:, X.NI_REMAINING].copy()

    @property
    def duration(self) -> np.ndarray:
        """Per-symbol total duration of the active event (0 without one)."""
        return self.counts[:, X.NI_DURATION].copy()

    @property
    def events_started(self) -> int:
        """Events started so far, all symbols."""
        return int(self.counts[:, X.NI_STARTED].sum())

    def draw(self, ticks: int) -> tuple[np.ndarray, np.ndarray]:
        """The random numbers of the next ``ticks`` steps, ``(u (ticks, 4n), t (ticks, n))``.

        Exactly what that many :meth:`step` calls without arguments would draw.
        """
        return X.draw_news(self._rng, ticks, self.n_symbols, self.config.jump_tail)

    def step(self, u: np.ndarray | None = None, t: np.ndarray | None = None) -> np.ndarray:
        """Advance one tick.

        Args:
            u: This tick's ``4 * n_symbols`` uniforms and ``t`` its ``n_symbols`` Student-t
                draws (from :meth:`draw`); drawn now if ``None``.

        Returns:
            Per-symbol log-earnings jump of this tick (also in :attr:`jump`).
        """
        if u is None or t is None:
            u, t = (a[0] for a in self.draw(1))
        X.news_step(u, t, self.params, self.state, self.counts)
        return self.jump

    def active(self, symbol: int) -> NewsEvent | None:
        """The active event of ``symbol`` this tick, or ``None``."""
        rem = int(self.counts[symbol, X.NI_REMAINING])
        if rem <= 0:
            return None
        return NewsEvent(
            float(self.state[symbol, X.NF_SENTIMENT]),
            float(self.state[symbol, X.NF_MAGNITUDE]),
            rem,
            int(self.counts[symbol, X.NI_DURATION]),
        )
