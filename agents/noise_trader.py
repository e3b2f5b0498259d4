"""Noise trader: random orders of random size, some at market, some resting near the mid."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from agents import kernels
from agents.base import Strategy


@dataclass(frozen=True)
class NoiseParams:
    """Noise-trader parameters.

    Attributes:
        activity: Probability of placing an order in a tick.
        quantity: Largest order size (sizes uniform in ``1..quantity``).
        market_prob: Probability that an order is a market order.
        max_offset_ticks: Limit orders are priced uniformly from ``max_offset_ticks``
            behind the mid to ``cross_ticks`` through it: an offset ``k`` gives a buy at
            ``floor(mid + k)`` and a sell at ``ceil(mid - k)`` ticks (symmetric about the mid).
        cross_ticks: How far a limit order may cross the mid, ticks.
    """

    activity: float = 0.3
    quantity: int = 10
    market_prob: float = 0.25
    max_offset_ticks: int = 10
    cross_ticks: int = 2

    def validate(self, where: str) -> None:
        from marketenv.errors import ConfigError

        if not 0 <= self.activity <= 1:
            raise ConfigError(f"{where}.activity must be in [0, 1] (got {self.activity})")
        if self.quantity < 1:
            raise ConfigError(f"{where}.quantity must be >= 1 (got {self.quantity})")
        if not 0 <= self.market_prob <= 1:
            raise ConfigError(f"{where}.market_prob must be in [0, 1] (got {self.market_prob})")
        if not 0 <= self.max_offset_ticks <= 1000:
            raise ConfigError(f"{where}.max_offset_ticks must be in [0, 1000] (got {self.max_offset_ticks})")
        if not 0 <= self.cross_ticks <= 1000:
            raise ConfigError(f"{where}.cross_ticks must be in [0, 1000] (got {self.cross_ticks})")


class NoiseTrader(Strategy):
    """Trades at random: no view on the price."""

    name = "noise_trader"
    label = "NoiseTrader"
    Params: ClassVar[type] = NoiseParams
    kind: ClassVar[int] = kernels.NOISE

    def pack(self) -> list[float]:
        p = self.params
        return [p.activity, p.quantity, p.market_prob, p.max_offset_ticks, p.cross_ticks, self.position_limit, 0.0, 0.0]
