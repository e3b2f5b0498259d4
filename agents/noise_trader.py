"""Noise trader: random orders of random size, some at market, some resting near the mid.

Noise traders are the market's attention-driven liquidity demand: they trade more while a
news event is active (the public ``news_magnitude``) and while the price moves (the
public ``atr_14``), and their order sizes are heavy-tailed. Both are mechanisms of the
stylized facts: activity that follows attention makes volume persistent and correlated
with volatility, and large orders move the price more.
"""

from __future__ import annotations

from typing import ClassVar

from agents import kernels
from agents.base import Strategy
from marketenv.strategy_params import NoiseParams

__all__ = ["NoiseParams", "NoiseTrader"]


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
