"""Market maker: two-sided quotes around a blend of mid and fair value, skewed by inventory."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from agents.base import FAIR, MID, POS, Strategy, capped_quantity, empty_actions, ref_ticks
from marketenv.actions import LIMIT
from marketenv.types import TICKS_PER_UNIT


@dataclass(frozen=True)
class MarketMakerParams:
    """Market-maker parameters.

    Attributes:
        half_spread_ticks: Distance of each quote from the centre, ticks (before jitter).
        jitter: Random widening of the half spread, as a fraction (uniform in [0, jitter]).
        quote_size: Shares per quote.
        fair_weight: Weight of fair value in the centre (0 = mid only, 1 = fair only).
        inventory_skew: Ticks both quotes move against the inventory at the position limit
            (long inventory lowers both quotes so the maker sells more and buys less).
        refresh: Probability of re-quoting in a tick (quotes rest between refreshes).
    """

    half_spread_ticks: float = 3.0
    jitter: float = 0.5
    quote_size: int = 20
    fair_weight: float = 0.2
    inventory_skew: float = 6.0
    refresh: float = 1.0

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
    """Quotes a bid and an ask every refresh, replacing its previous quotes."""

    name = "market_maker"
    label = "MarketMaker"
    Params: ClassVar[type] = MarketMakerParams
    n_uniforms: ClassVar[int] = 2

    def decide(self, obs: np.ndarray, u: np.ndarray) -> np.ndarray:
        p = self.params
        n = obs.shape[0]
        mid = obs[:, MID]
        ref = ref_ticks(mid)
        center = ((1.0 - p.fair_weight) * mid + p.fair_weight * obs[:, FAIR]) * TICKS_PER_UNIT
        pos = obs[:, POS]
        half = p.half_spread_ticks * (1.0 + p.jitter * u[:, 1])
        skew = p.inventory_skew * pos / self.position_limit
        bid = np.floor(center - half - skew)
        ask = np.maximum(np.ceil(center + half - skew), bid + 1)
        bid = np.maximum(bid, 1)
        ask = np.maximum(ask, 2)
        acts = empty_actions(n)
        on = u[:, 0] < p.refresh
        bq = capped_quantity(p.quote_size, np.ones(n), pos, self.position_limit)
        aq = capped_quantity(p.quote_size, -np.ones(n), pos, self.position_limit)
        acts[on, 0, 0] = LIMIT
        acts[on, 0, 1] = bq[on]
        acts[on, 0, 2] = (bid - ref)[on]
        acts[on, 1, 0] = LIMIT
        acts[on, 1, 1] = aq[on]
        acts[on, 1, 2] = (ask - ref)[on]
        return acts
