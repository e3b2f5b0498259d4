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
        vol_widening: Extra half spread per tick of ``atr_14`` (recent per-tick range):
            quotes widen when the market moves.
        peg: Peg the quotes to the fair value (action type ``PEG``): the exchange moves
            them with the fair value between the maker's own refreshes.
    """

    half_spread_ticks: float = 0.5
    jitter: float = 0.0
    quote_size: int = 50
    fair_weight: float = 1.0
    inventory_skew: float = 100.0
    refresh: float = 0.5
    vol_widening: float = 0.0
    peg: bool = True

    def validate(self, where: str) -> None:
        from marketenv.config import require_in
        from marketenv.errors import ConfigError

        if self.half_spread_ticks < 0.5:
            raise ConfigError(f"{where}.half_spread_ticks must be >= 0.5 (got {self.half_spread_ticks})")
        if self.jitter < 0:
            raise ConfigError(f"{where}.jitter must be >= 0 (got {self.jitter})")
        if self.quote_size < 1:
            raise ConfigError(f"{where}.quote_size must be >= 1 (got {self.quote_size})")
        require_in(self.fair_weight, 0, 1, f"{where}.fair_weight")
        if self.inventory_skew < 0:
            raise ConfigError(f"{where}.inventory_skew must be >= 0 (got {self.inventory_skew})")
        require_in(self.refresh, 0, 1, f"{where}.refresh")
        require_in(self.vol_widening, 0, 100, f"{where}.vol_widening")


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
