"""Seeded news events per symbol.

Each tick, every symbol without an active event starts one with probability ``rate``.
An event has ``sentiment`` uniform in [-1, 1], ``magnitude`` uniform in [0, 1] and a
duration uniform in ``[min_duration, max_duration]`` ticks. An event that starts at tick
``t`` with duration ``d`` is active at ticks ``t .. t+d-1``; ``ticks_remaining`` is ``d`` at
``t`` and ``1`` at ``t+d-1``. While active it moves the symbol's log earnings by
``sentiment * magnitude * impact / d`` per tick (see :mod:`marketenv.fundamentals`).

The generator draws the same number of random numbers every tick whatever the state, so
its stream depends only on its seed and the number of ticks.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from marketenv.config import NewsConfig


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
        self.sentiment = np.zeros(n_symbols)
        self.magnitude = np.zeros(n_symbols)
        self.remaining = np.zeros(n_symbols, dtype=np.int64)
        self.duration = np.zeros(n_symbols, dtype=np.int64)
        self.events_started = 0

    def step(self) -> np.ndarray:
        """Advance one tick.

        Returns:
            Per-symbol log-earnings change caused by news this tick.
        """
        c = self.config
        u = self._rng.random((4, self.n_symbols))
        # Events active last tick age by one tick; finished ones end.
        self.remaining[self.remaining > 0] -= 1
        ended = self.remaining == 0
        start = ended & (u[0] < c.rate)
        if start.any():
            self.sentiment[start] = 2.0 * u[1][start] - 1.0
            self.magnitude[start] = u[2][start]
            span = c.max_duration - c.min_duration + 1
            dur = c.min_duration + np.minimum((u[3][start] * span).astype(np.int64), span - 1)
            self.duration[start] = dur
            self.remaining[start] = dur
            self.events_started += int(start.sum())
        active = self.remaining > 0
        self.sentiment[~active] = 0.0
        self.magnitude[~active] = 0.0
        self.duration[~active] = 0
        effect = np.zeros(self.n_symbols)
        effect[active] = (
            self.sentiment[active] * self.magnitude[active] * c.impact / self.duration[active]
        )
        return effect

    def active(self, symbol: int) -> NewsEvent | None:
        """The active event of ``symbol`` this tick, or ``None``."""
        if self.remaining[symbol] <= 0:
            return None
        return NewsEvent(
            float(self.sentiment[symbol]),
            float(self.magnitude[symbol]),
            int(self.remaining[symbol]),
            int(self.duration[symbol]),
        )
