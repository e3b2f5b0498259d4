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

    Attributes:
        jump: Per-symbol log-earnings jump of the current tick (0 except at arrivals).
        attention: Per-symbol attention of the current tick (``>= 1``).
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
        self.jump = [0.0] * n_symbols
        self.attention = [1.0] * n_symbols
        self.events_started = 0

    def _duration(self, u: float) -> int:
        """A Pareto duration from one uniform, in ``[min_duration, max_duration]``."""
        c = self.config
        d = c.min_duration * (1.0 - u) ** (-1.0 / c.duration_tail)
        return int(min(d, c.max_duration))

    def step(self) -> list[float]:
        """Advance one tick.

        Returns:
            Per-symbol log-earnings jump of this tick (also kept in :attr:`jump`).
        """
        c = self.config
        n = self.n_symbols
        u = self._rng.random(4 * n).tolist()
        t = self._rng.standard_t(c.jump_tail, n).tolist()
        jump = self.jump
        for s in range(n):
            jump[s] = 0.0
            if self.remaining[s] > 0:
                # Events active last tick age by one tick; finished ones end.
                self.remaining[s] -= 1
            if self.remaining[s] == 0:
                if u[4 * s] < c.rate:
                    d = self._duration(u[4 * s + 3])
                    self.sentiment[s] = 2.0 * u[4 * s + 1] - 1.0
                    self.magnitude[s] = u[4 * s + 2]
                    self.duration[s] = d
                    self.remaining[s] = d
                    self.events_started += 1
                    jump[s] = c.impact * self.sentiment[s] * self.magnitude[s] * abs(t[s])
                else:
                    self.sentiment[s] = 0.0
                    self.magnitude[s] = 0.0
                    self.duration[s] = 0
            self.attention[s] = 1.0 + c.attention * self.magnitude[s]
        return jump

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
