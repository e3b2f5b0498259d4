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
        # Per-symbol state as Python lists: a market has few symbols, and scalar list
        # access is far cheaper than numpy's per-call overhead at this size.
        self.sentiment = [0.0] * n_symbols
        self.magnitude = [0.0] * n_symbols
        self.remaining = [0] * n_symbols
        self.duration = [0] * n_symbols
        self.effect = [0.0] * n_symbols
        self.events_started = 0

    def step(self) -> list[float]:
        """Advance one tick.

        Returns:
            Per-symbol log-earnings change caused by news this tick.
        """
        c = self.config
        n = self.n_symbols
        u = self._rng.random(4 * n).tolist()
        span = c.max_duration - c.min_duration + 1
        effect = self.effect
        for s in range(n):
            if self.remaining[s] > 0:
                # Events active last tick age by one tick; finished ones end.
                self.remaining[s] -= 1
            if self.remaining[s] == 0:
                if u[4 * s] < c.rate:
                    d = c.min_duration + min(int(u[4 * s + 3] * span), span - 1)
                    self.sentiment[s] = 2.0 * u[4 * s + 1] - 1.0
                    self.magnitude[s] = u[4 * s + 2]
                    self.duration[s] = d
                    self.remaining[s] = d
                    self.events_started += 1
                else:
                    self.sentiment[s] = 0.0
                    self.magnitude[s] = 0.0
                    self.duration[s] = 0
                    effect[s] = 0.0
                    continue
            effect[s] = self.sentiment[s] * self.magnitude[s] * c.impact / self.duration[s]
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
