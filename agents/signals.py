"""Signal strategies: momentum, trend following, mean reversion, value, MACD.

Each is one small class: its parameters and how they pack into the compiled kernel
(:mod:`agents.kernels`, where each signal rule is a few lines). What they share is written
once: acting with probability ``activity`` per tick, a random size in ``1..quantity``,
capping by ``max_position`` and the position limit, and order placement (``order_type``
priced ``aggression_ticks`` through the mid, symmetrically: a buy at
``floor(mid + aggression_ticks)``, a sell at ``ceil(mid - aggression_ticks)``, in ticks).

Every signal is NaN-safe: while the feature a strategy reads is NaN (warm-up), it holds.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

from agents import kernels
from agents.base import ORDER_TYPES, F, Strategy
from marketenv.actions import ACTION_SHAPE
from marketenv.strategy_params import (
    MacdParams,
    MeanReversionParams,
    MomentumParams,
    SignalParams,
    TrendParams,
    ValueParams,
)


class SignalStrategy(Strategy):
    """Base of the signal strategies: shared sizing, capping and order placement."""

    Params: ClassVar[type] = SignalParams

    @property
    def limit(self) -> int:
        """The position the strategy never passes: ``max_position`` or the position limit."""
        return min(self.position_limit, self.params.max_position or self.position_limit)

    @property
    def action_type(self) -> int:
        """The action type of its orders."""
        return ORDER_TYPES[self.params.order_type]

    def pack(self) -> list[float]:
        p = self.params
        k = kernels
        return k.packed({
            k.SG_ACTIVITY: p.activity, k.SG_QUANTITY: p.quantity, k.SG_LIMIT: self.limit,
            k.SG_TYPE: self.action_type, k.SG_AGGRESSION: p.aggression_ticks, k.SG_COLUMN: self.column(),
            k.SG_THRESHOLD: self.threshold(), k.SG_MARGIN: self.margin(), k.SG_VALUE_NOISE: self.value_noise(),
        })

    def column(self) -> int:
        """Feature column read by the kernel (momentum only)."""
        return 0

    def threshold(self) -> float:
        """The signal threshold in the kernel's units."""
        return 0.0

    def margin(self) -> float:
        """Extra band margin (mean reversion only)."""
        return 0.0

    def value_noise(self) -> float:
        """Relative noise of the private value estimate (value traders only)."""
        return 0.0


class PySignalStrategy(SignalStrategy):
    """A signal strategy written in numpy (for model-driven agents): implement :meth:`signal`."""

    kind: ClassVar[int] = -1

    def signal(self, obs: np.ndarray) -> np.ndarray:
        """+1 / -1 / 0 per row of ``obs``."""
        raise NotImplementedError

    def __init__(self, params: Any, position_limit: int) -> None:
        super().__init__(params, position_limit)
        self._packed = np.asarray(self.pack(), dtype=np.float64)

    def decide(self, obs: np.ndarray, u: np.ndarray) -> np.ndarray:
        sig = np.ascontiguousarray(self.signal(obs), dtype=np.int64)
        out = np.empty((obs.shape[0], 6), dtype=np.int64)
        kernels.signal_actions(np.ascontiguousarray(obs, dtype=np.float64), np.ascontiguousarray(u), sig, self._packed, out)
        return out.reshape(-1, *ACTION_SHAPE)


class Momentum(SignalStrategy):
    """Buys after a rise of more than ``threshold_pct``, sells after such a fall."""

    name = "momentum"
    label = "Momentum"
    Params = MomentumParams
    kind = kernels.MOMENTUM

    def column(self) -> int:
        return F[f"price_change_{self.params.lookback}"]

    def threshold(self) -> float:
        return self.params.threshold_pct


class TrendFollower(SignalStrategy):
    """Long while the fast SMA (10) is above the slow SMA (50), short while below."""

    name = "trend_follower"
    label = "TrendFollower"
    Params = TrendParams
    kind = kernels.TREND

    def threshold(self) -> float:
        return self.params.threshold_pct


class MeanReversion(SignalStrategy):
    """Sells above the upper Bollinger band, buys below the lower one."""

    name = "mean_reversion"
    label = "MeanReversion"
    Params = MeanReversionParams
    kind = kernels.MEAN_REVERSION

    def margin(self) -> float:
        return self.params.band_margin


class ValueTrader(SignalStrategy):
    """Buys below its private estimate of fair value, sells above it."""

    name = "value_trader"
    label = "ValueTrader"
    Params = ValueParams
    kind = kernels.VALUE

    def threshold(self) -> float:
        return self.params.threshold_pct

    def value_noise(self) -> float:
        return self.params.value_noise


class MacdCrossover(SignalStrategy):
    """Long after the MACD line crosses above its signal line, short after it crosses below."""

    name = "macd_crossover"
    label = "MacdCrossover"
    Params = MacdParams
    kind = kernels.MACD

    def threshold(self) -> float:
        return self.params.threshold


__all__ = [
    "MacdCrossover",
    "PySignalStrategy",
    "MeanReversion",
    "Momentum",
    "SignalParams",
    "SignalStrategy",
    "TrendFollower",
    "ValueTrader",
]
