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

from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from agents import kernels
from agents.base import ORDER_TYPES, F, Strategy
from marketenv.actions import ACTION_SHAPE


@dataclass(frozen=True)
class SignalParams:
    """Parameters every signal strategy shares.

    Attributes:
        activity: Probability of acting on the signal in a given tick.
        quantity: Largest order size, shares (sizes are uniform in ``1..quantity``).
        max_position: Largest absolute position the strategy builds (``0`` = the limit).
        order_type: ``"limit"``, ``"ioc"`` or ``"market"``.
        aggression_ticks: Buy limit = ``floor(mid + this)``, sell limit =
            ``ceil(mid - this)``, in ticks (positive crosses towards the other side).
    """

    activity: float = 0.2
    quantity: int = 10
    max_position: int = 0
    order_type: str = "ioc"
    aggression_ticks: int = 2

    def validate(self, where: str) -> None:
        from marketenv.config import require_in
        from marketenv.errors import ConfigError

        require_in(self.activity, 0, 1, f"{where}.activity")
        if self.quantity < 1:
            raise ConfigError(f"{where}.quantity must be >= 1 (got {self.quantity})")
        if self.max_position < 0:
            raise ConfigError(f"{where}.max_position must be >= 0 (got {self.max_position})")
        if self.order_type not in ("limit", "ioc", "market"):
            raise ConfigError(
                f"{where}.order_type {self.order_type!r} must be 'limit', 'ioc' or 'market'"
            )
        if abs(self.aggression_ticks) > 1000:
            raise ConfigError(
                f"{where}.aggression_ticks must be in [-1000, 1000] (got {self.aggression_ticks})"
            )


def _require_non_negative(value: float, key: str) -> None:
    """Raise :class:`ConfigError` naming ``key`` unless ``value >= 0``."""
    from marketenv.errors import ConfigError

    if not value >= 0:
        raise ConfigError(f"{key} must be >= 0 (got {value})")


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


@dataclass(frozen=True)
class MomentumParams(SignalParams):
    """Momentum: buy after a rise of more than ``threshold_pct`` over ``lookback`` ticks.

    Attributes:
        lookback: 1, 5, 20 or 100 (a ``price_change_k`` feature).
        threshold_pct: Percent change that triggers a trade.
    """

    lookback: int = 20
    threshold_pct: float = 0.05

    def validate(self, where: str) -> None:
        super().validate(where)
        from marketenv.errors import ConfigError

        if self.lookback not in (1, 5, 20, 100):
            raise ConfigError(f"{where}.lookback must be 1, 5, 20 or 100 (got {self.lookback})")
        _require_non_negative(self.threshold_pct, f"{where}.threshold_pct")


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


@dataclass(frozen=True)
class TrendParams(SignalParams):
    """Trend following by SMA crossover.

    Attributes:
        threshold_pct: How far (percent) ``sma_10`` must be above/below ``sma_50``.
    """

    threshold_pct: float = 0.02
    order_type: str = "ioc"

    def validate(self, where: str) -> None:
        super().validate(where)
        _require_non_negative(self.threshold_pct, f"{where}.threshold_pct")


class TrendFollower(SignalStrategy):
    """Long while the fast SMA (10) is above the slow SMA (50), short while below."""

    name = "trend_follower"
    label = "TrendFollower"
    Params = TrendParams
    kind = kernels.TREND

    def threshold(self) -> float:
        return self.params.threshold_pct


@dataclass(frozen=True)
class MeanReversionParams(SignalParams):
    """Mean reversion on Bollinger bands.

    Attributes:
        band_margin: Extra %B beyond the band before trading (0 = at the band).
    """

    band_margin: float = 0.0

    def validate(self, where: str) -> None:
        super().validate(where)
        from marketenv.errors import ConfigError

        if not self.band_margin > -0.5:
            raise ConfigError(
                f"{where}.band_margin must be > -0.5 so the bands do not overlap (got {self.band_margin})"
            )


class MeanReversion(SignalStrategy):
    """Sells above the upper Bollinger band, buys below the lower one."""

    name = "mean_reversion"
    label = "MeanReversion"
    Params = MeanReversionParams
    kind = kernels.MEAN_REVERSION

    def margin(self) -> float:
        return self.params.band_margin


@dataclass(frozen=True)
class ValueParams(SignalParams):
    """Value trading against a private estimate of the fair value.

    Like ABIDES' value agents, each value trader sees the public fair value through its
    own noise: every tick its estimate is ``fair * (1 + value_noise * z)`` with ``z``
    standard normal from its own generator.

    Attributes:
        threshold_pct: Percent below (above) its estimate to buy (sell).
        value_noise: Relative standard deviation of the private estimate (0 = exact).
    """

    activity: float = 0.1
    threshold_pct: float = 0.0
    order_type: str = "limit"
    aggression_ticks: int = 1
    value_noise: float = 0.03

    def validate(self, where: str) -> None:
        super().validate(where)
        _require_non_negative(self.threshold_pct, f"{where}.threshold_pct")
        from marketenv.config import require_in

        require_in(self.value_noise, 0, 0.5, f"{where}.value_noise")


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


@dataclass(frozen=True)
class MacdParams(SignalParams):
    """MACD crossover.

    Attributes:
        threshold: Histogram level (currency units) beyond which the crossover counts.
    """

    threshold: float = 0.0

    def validate(self, where: str) -> None:
        super().validate(where)
        _require_non_negative(self.threshold, f"{where}.threshold")


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
