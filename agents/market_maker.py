"""Market maker: two-sided quotes around a blend of mid and fair value, skewed by inventory."""

from __future__ import annotations

from typing import ClassVar

from agents import kernels
from agents.base import Strategy
from marketenv.strategy_params import MarketMakerParams

__all__ = ["MarketMaker", "MarketMakerParams"]


class MarketMaker(Strategy):
    """Quotes a bid and an ask every refresh, replacing its previous quotes.

    Rule (kernel): ``centre = mid + fair_weight * (fair - mid)`` in ticks, moved by
    ``-inventory_skew * position / position_limit`` and rounded to the half tick;
    bid = floor(centre - half), ask = ceil(centre + half) (at least one tick above the
    bid), with ``half = half_spread_ticks + vol_widening * atr_14``. Each quote is
    ``quote_size`` shares, less near the position limit; at the limit the side that would
    grow the position is cancelled while the other keeps quoting.

    With the default ``fair_weight = 1`` makers price public information (the fair value)
    as soon as it changes, and the price moves away from the fair value only through
    their inventory: order flow that leaves makers long pushes their quotes down, which is
    the market's price impact; it fades as value traders trade the gap away.
    """

    name = "market_maker"
    label = "MarketMaker"
    Params: ClassVar[type] = MarketMakerParams
    kind: ClassVar[int] = kernels.MARKET_MAKER

    def pack(self) -> list[float]:
        p = self.params
        k = kernels
        return k.packed({
            k.MM_HALF_SPREAD: p.half_spread_ticks, k.MM_JITTER: p.jitter, k.MM_SIZE: p.quote_size,
            k.MM_FAIR_WEIGHT: p.fair_weight, k.MM_SKEW: p.inventory_skew, k.MM_REFRESH: p.refresh,
            k.MM_LIMIT: self.position_limit, k.MM_VOL_WIDEN: p.vol_widening, k.MM_PEG: float(p.peg),
        })
