"""Signal strategies: momentum, trend following, mean reversion, value, MACD.

Each is one small class that maps the feature matrix to a signal (+1 buy, -1 sell, 0
hold); :class:`SignalStrategy` does the rest once for all of them: acting with
probability ``activity`` per tick, a random size in ``1..quantity``, capping by
``max_position`` and the position limit, and order placement (``order_type`` priced
``aggression_ticks`` through the reference price).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from agents.base import F, Strategy, signal_orders, threshold_signal


@dataclass(frozen=True)
class SignalParams:
    """Parameters every signal strategy shares.

    Attributes:
        activity: Probability of acting on the signal in a given tick.
        quantity: Largest order size, shares (sizes are uniform in ``1..quantity``).
        max_position: Largest absolute position the strategy builds (``0`` = the limit).
        order_type: ``"limit"``, ``"ioc"`` or ``"market"``.
        aggression_ticks: Buy limit = reference + this, sell limit = reference - this.
    """

    activity: float = 0.2
    quantity: int = 10
    max_position: int = 0
    order_type: str = "ioc"
    aggression_ticks: int = 2

    def validate(self, where: str) -> None:
        from marketenv.errors import ConfigError

        if not 0 <= self.activity <= 1:
            raise ConfigError(f"{where}.activity must be in [0, 1] (got {self.activity})")
        if self.quantity < 1:
            raise ConfigError(f"{where}.quantity must be >= 1 (got {self.quantity})")
        if self.max_position < 0:
            raise ConfigError(f"{where}.max_position must be >= 0 (got {self.max_position})")
        if self.order_type not in ("limit", "ioc", "market"):
            raise ConfigError(
                f"{where}.order_type {self.order_type!r} must be 'limit', 'ioc' or 'market'"
            )
        if abs(self.aggression_ticks) > 1000:
            raise ConfigError(f"{where}.aggression_ticks must be in [-1000, 1000]")


class SignalStrategy(Strategy):
    """Base of the signal strategies; subclasses implement :meth:`signal`."""

    Params: ClassVar[type] = SignalParams
    n_uniforms: ClassVar[int] = 2

    def signal(self, obs: np.ndarray) -> np.ndarray:
        """+1 / -1 / 0 per row of ``obs``."""
        raise NotImplementedError

    def decide(self, obs: np.ndarray, u: np.ndarray) -> np.ndarray:
        p = self.params
        sig = self.signal(obs) * (u[:, 0] < p.activity)
        qty = 1.0 + np.floor(u[:, 1] * p.quantity)
        limit = min(self.position_limit, p.max_position or self.position_limit)
        return signal_orders(sig, qty, obs, limit, p.order_type, p.aggression_ticks)


@dataclass(frozen=True)
class MomentumParams(SignalParams):
    """Momentum: buy after a rise of more than ``threshold_pct`` over ``lookback`` ticks.

    Attributes:
        lookback: 1, 5, 20 or 100 (a ``price_change_k`` feature).
        threshold_pct: Percent change that triggers a trade.
    """

    lookback: int = 20
    threshold_pct: float = 0.1

    def validate(self, where: str) -> None:
        super().validate(where)
        from marketenv.errors import ConfigError

        if self.lookback not in (1, 5, 20, 100):
            raise ConfigError(f"{where}.lookback must be 1, 5, 20 or 100 (got {self.lookback})")


class Momentum(SignalStrategy):
    """Buys after rises, sells after falls."""

    name = "momentum"
    label = "Momentum"
    Params = MomentumParams

    def signal(self, obs: np.ndarray) -> np.ndarray:
        p = self.params
        x = obs[:, F[f"price_change_{p.lookback}"]]
        return threshold_signal(x, p.threshold_pct, -p.threshold_pct)


@dataclass(frozen=True)
class TrendParams(SignalParams):
    """Trend following by SMA crossover.

    Attributes:
        threshold_pct: How far (percent) ``sma_10`` must be above/below ``sma_50``.
    """

    threshold_pct: float = 0.02
    order_type: str = "ioc"


class TrendFollower(SignalStrategy):
    """Long while the fast SMA (10) is above the slow SMA (50), short while below."""

    name = "trend_follower"
    label = "TrendFollower"
    Params = TrendParams

    def signal(self, obs: np.ndarray) -> np.ndarray:
        p = self.params
        x = (obs[:, F["sma_10"]] / obs[:, F["sma_50"]] - 1.0) * 100.0
        return threshold_signal(x, p.threshold_pct, -p.threshold_pct)


@dataclass(frozen=True)
class MeanReversionParams(SignalParams):
    """Mean reversion on Bollinger bands.

    Attributes:
        band_margin: Extra %B beyond the band before trading (0 = at the band).
    """

    band_margin: float = 0.0


class MeanReversion(SignalStrategy):
    """Sells above the upper Bollinger band, buys below the lower one."""

    name = "mean_reversion"
    label = "MeanReversion"
    Params = MeanReversionParams

    def signal(self, obs: np.ndarray) -> np.ndarray:
        m = self.params.band_margin
        pb = obs[:, F["bb_percent_b"]]
        return -threshold_signal(pb, 1.0 + m, -m)


@dataclass(frozen=True)
class ValueParams(SignalParams):
    """Value trading against the fair value.

    Attributes:
        threshold_pct: Percent below (above) fair value to buy (sell).
    """

    threshold_pct: float = 0.5
    order_type: str = "limit"
    aggression_ticks: int = 1


class ValueTrader(SignalStrategy):
    """Buys below fair value, sells above it."""

    name = "value_trader"
    label = "ValueTrader"
    Params = ValueParams

    def signal(self, obs: np.ndarray) -> np.ndarray:
        t = self.params.threshold_pct
        return -threshold_signal(obs[:, F["fair_value_deviation"]], t, -t)


@dataclass(frozen=True)
class MacdParams(SignalParams):
    """MACD crossover.

    Attributes:
        threshold: Histogram level (currency units) beyond which the crossover counts.
    """

    threshold: float = 0.0


class MacdCrossover(SignalStrategy):
    """Long after the MACD line crosses above its signal line, short after it crosses below."""

    name = "macd_crossover"
    label = "MacdCrossover"
    Params = MacdParams

    def signal(self, obs: np.ndarray) -> np.ndarray:
        t = self.params.threshold
        return threshold_signal(obs[:, F["macd_histogram"]], t, -t)


__all__ = [
    "MacdCrossover",
    "MeanReversion",
    "Momentum",
    "SignalParams",
    "SignalStrategy",
    "TrendFollower",
    "ValueTrader",
]
