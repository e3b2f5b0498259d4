"""Noise trader: random orders of random size, some at market, some resting near the mid.

Noise traders are the market's attention-driven liquidity demand: they trade more while a
news event is active (the public ``news_magnitude``) and while the price moves (the
public ``atr_14``), and their order sizes are heavy-tailed. Both are mechanisms of the
stylized facts: activity that follows attention makes volume persistent and correlated
with volatility, and large orders move the price more.
"""

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
        size_tail: Pareto tail index of order sizes: sizes are ``floor(U ** (-1 / size_tail))``
            shares, capped at ``quantity`` (0 = uniform in ``1..quantity``).
        news_attention: Activity multiplier per unit of news magnitude:
            ``activity * (1 + news_attention * news_magnitude)``.
        vol_feedback: Elasticity of activity to recent volatility: activity is multiplied
            by ``(atr_14 / vol_ref_ticks) ** vol_feedback`` (ratio clipped to [0.25, 4]).
        vol_ref_ticks: The ``atr_14`` (in ticks) at which volatility feedback is neutral.
    """

    activity: float = 0.2
    quantity: int = 50
    market_prob: float = 0.25
    max_offset_ticks: int = 10
    cross_ticks: int = 2
    size_tail: float = 1.5
    news_attention: float = 1.5
    vol_feedback: float = 1.0
    vol_ref_ticks: float = 1.0

    def validate(self, where: str) -> None:
        from marketenv.config import require_in
        from marketenv.errors import ConfigError

        require_in(self.activity, 0, 1, f"{where}.activity")
        if self.quantity < 1:
            raise ConfigError(f"{where}.quantity must be >= 1 (got {self.quantity})")
        require_in(self.market_prob, 0, 1, f"{where}.market_prob")
        require_in(self.max_offset_ticks, 0, 1000, f"{where}.max_offset_ticks")
        require_in(self.cross_ticks, 0, 1000, f"{where}.cross_ticks")
        require_in(self.size_tail, 0, 100, f"{where}.size_tail")
        require_in(self.news_attention, 0, 100, f"{where}.news_attention")
        require_in(self.vol_feedback, 0, 10, f"{where}.vol_feedback")
        if not 0 < self.vol_ref_ticks <= 10_000:
            raise ConfigError(f"{where}.vol_ref_ticks must be in (0, 10000] (got {self.vol_ref_ticks})")


class NoiseTrader(Strategy):
    """Trades at random: no view on the price."""

    name = "noise_trader"
    label = "NoiseTrader"
    Params: ClassVar[type] = NoiseParams
    kind: ClassVar[int] = kernels.NOISE

    def pack(self) -> list[float]:
        p = self.params
        k = kernels
        return k.packed({
            k.NT_ACTIVITY: p.activity, k.NT_QUANTITY: p.quantity, k.NT_MARKET_PROB: p.market_prob,
            k.NT_MAX_OFFSET: p.max_offset_ticks, k.NT_CROSS: p.cross_ticks, k.NT_LIMIT: self.position_limit,
            k.NT_SIZE_TAIL: p.size_tail, k.NT_NEWS_ATTENTION: p.news_attention,
            k.NT_VOL_FEEDBACK: p.vol_feedback, k.NT_VOL_REF: p.vol_ref_ticks,
        })
