"""Market maker: two-sided quotes around a blend of mid and fair value, skewed by inventory."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from agents import kernels
from agents.base import Strategy


@dataclass(frozen=True)
class MarketMakerParams:
    """Market-maker parameters.

    Attributes:
        half_spread_ticks: Distance of each quote from the centre, ticks (before jitter).
        jitter: Random widening of the half spread each tick, as a fraction (uniform in
            [0, jitter]); 0 keeps quotes unchanged while the market is still, so they
            keep their queue position.
        quote_size: Shares per quote.
        fair_weight: Weight of fair value in the centre (0 = mid only, 1 = fair only).
        inventory_skew: Ticks both quotes move against the inventory at the position limit
            (long inventory lowers both quotes so the maker sells more and buys less).
        refresh: Probability of re-quoting in a tick (quotes rest between refreshes).
    """

    half_spread_ticks: float = 3.0
    jitter: float = 0.0
    quote_size: int = 20
    fair_weight: float = 0.2
    inventory_skew: float = 6.0
    refresh: float = 0.5

    def validate(self, where: str) -> None:
        from marketenv.errors import ConfigError

        if self.half_spread_ticks < 0.5:
            raise ConfigError(f"{where}.half_spread_ticks must be >= 0.5 (got {self.half_spread_ticks})")
        if self.jitter < 0:
            raise ConfigError(f"{where}.jitter must be >= 0 (got {self.jitter})")
        if self.quote_size < 1:
            raise ConfigError(f"{where}.quote_size must be >= 1 (got {self.quote_size})")
        if not 0 <= self.fair_weight <= 1:
            raise ConfigError(f"{where}.fair_weight must be in [0, 1] (got {self.fair_weight})")
        if self.inventory_skew < 0:
            raise ConfigError(f"{where}.inventory_skew must be >= 0 (got {self.inventory_skew})")
        if not 0 <= self.refresh <= 1:
            raise ConfigError(f"{where}.refresh must be in [0, 1] (got {self.refresh})")


class MarketMaker(Strategy):
    """Quotes a bid and an ask every refresh, replacing its previous quotes.

    Rule (kernel): ``centre = mid + fair_weight * (fair - mid)`` in ticks, moved by
    ``-inventory_skew * position / position_limit``; bid = floor(centre - half spread),
    ask = ceil(centre + half spread) (at least one tick above the bid); each quote is
    ``quote_size`` shares, less near the position limit.
    """

    name = "market_maker"
    label = "MarketMaker"
    Params: ClassVar[type] = MarketMakerParams
    kind: ClassVar[int] = kernels.MARKET_MAKER

    def pack(self) -> list[float]:
        p = self.params
        return [
            p.half_spread_ticks, p.jitter, p.quote_size, p.fair_weight, p.inventory_skew,
            p.refresh, self.position_limit, 0.0,
        ]
