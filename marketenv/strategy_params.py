"""The parameters of the built-in strategies, as frozen dataclasses (declared data).

They live in the core, apart from the strategy code in ``agents/``, so that a config is
validated (names, types, ranges) without importing any strategy: the registry
(:mod:`marketenv.registry`) maps each strategy type to its parameters class here and to
its code by path. Each class's ``validate(where)`` raises a one-line
:class:`~marketenv.errors.ConfigError` naming ``<where>.<key>``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from marketenv.errors import ConfigError
from marketenv.validation import require_in

__all__ = [
    "MacdParams",
    "MarketMakerParams",
    "MeanReversionParams",
    "MomentumParams",
    "NoiseParams",
    "SignalParams",
    "TreeParams",
    "TrendParams",
    "ValueParams",
]


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

    if not value >= 0:
        raise ConfigError(f"{key} must be >= 0 (got {value})")


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

        if self.lookback not in (1, 5, 20, 100):
            raise ConfigError(f"{where}.lookback must be 1, 5, 20 or 100 (got {self.lookback})")
        _require_non_negative(self.threshold_pct, f"{where}.threshold_pct")


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


@dataclass(frozen=True)
class MeanReversionParams(SignalParams):
    """Mean reversion on Bollinger bands.

    Attributes:
        band_margin: Extra %B beyond the band before trading (0 = at the band).
    """

    band_margin: float = 0.0

    def validate(self, where: str) -> None:
        super().validate(where)

        if not self.band_margin > -0.5:
            raise ConfigError(
                f"{where}.band_margin must be > -0.5 so the bands do not overlap (got {self.band_margin})"
            )


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

        require_in(self.value_noise, 0, 0.5, f"{where}.value_noise")


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


@dataclass(frozen=True)
class TreeParams(SignalParams):
    """Tree-agent parameters.

    Attributes:
        model: Path of the JSON model (relative paths are relative to the config file).
        buy_threshold: Smallest ``p_buy`` that triggers a buy.
        sell_threshold: Smallest ``p_sell`` that triggers a sell.
        activity: Probability of acting on the signal in a given tick (default 1: every
            tick).
    """

    model: str = ""
    buy_threshold: float = 0.5
    sell_threshold: float = 0.5
    activity: float = 1.0

    def validate(self, where: str) -> None:
        """Check the values and that the model file exists.

        The model's content (format, features) is checked when the strategy is built
        (:func:`marketenv.registry.make_strategy`): reading it is strategy code.

        Args:
            where: The key prefix of error messages, e.g. ``agents[3].params``.

        Raises:
            ConfigError: One line naming ``<where>.model`` (or the bad key).
        """
        super().validate(where)

        if not self.model:
            raise ConfigError(
                f"{where}.model is required: the path of a JSON model from marketenv train"
            )
        for name in ("buy_threshold", "sell_threshold"):
            v = getattr(self, name)
            if not 0 <= v <= 1:
                raise ConfigError(f"{where}.{name} must be in [0, 1] (got {v})")
        if not Path(self.model).is_file():
            raise ConfigError(
                f"{where}.model {self.model!r} not found: train one with marketenv train "
                "(relative paths are relative to the config file)"
            )
