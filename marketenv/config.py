"""Typed, validated, frozen configuration.

A config is a TOML file (TOML because it is in the standard library as :mod:`tomllib`,
has real integers vs floats, and is hard to get subtly wrong the way YAML is) loaded into
frozen dataclasses. Unknown keys, wrong types and impossible values raise
:class:`~marketenv.errors.ConfigError` with a one-line message naming the key, e.g.
``configs/x.toml: agents[2].count must be >= 1 (got 0)``.

Units: prices and cash in the file are currency units (floats are fine, but they must lie
on the cent grid); inside the market they become integer cents. ``fee_bps`` is charged
to each side of a trade as ``floor(notional_cents * fee_bps / 10000)`` cents.

The default config (:func:`default_config`) is built in code, so an installed package
needs no data files; ``configs/default.toml`` is the same scenario as a file (a test
keeps the two identical).
"""

from __future__ import annotations

import dataclasses
import math
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from marketenv import registry
from marketenv.errors import ConfigError
from marketenv.types import TICKS_PER_UNIT
from marketenv.validation import brief, build_dataclass, require, require_in, require_range

MAX_TICKS = 10**9
"""Longest run, ticks (also bounds news durations and recording schedules)."""
MAX_SEED = 2**63 - 1
"""Largest root seed (it is stored in int64 columns)."""
MAX_AGENTS = 100_000
"""Most agents in a scenario, all groups together."""
MAX_SHARES = 10**7
"""Largest position limit, initial position and order quantity, shares."""
MAX_CASH = 1e10
"""Largest initial cash per agent, currency units. With at most ``MAX_AGENTS`` agents the
market's total cash stays below 1e17 cents; a buy needs cash, so no notional, fee, cash
or P&L in cents can reach the int64 limit (9.2e18)."""
MAX_PRICE = 1e7
"""Largest initial price and initial fair value, currency units."""
MAX_FEE_BPS = 100.0
"""Largest fee per side, basis points (1%)."""

AGENT_TYPES = registry.BUILTIN_STRATEGIES
"""The shipped strategy types (plugins add theirs with :func:`marketenv.registry.register_strategy`)."""


@dataclass(frozen=True)
class SimulationConfig:
    """Run length and root seed.

    Attributes:
        ticks: Ticks per run (``>= 1``).
        seed: Root seed of the run's ``SeedSequence``.
    """

    ticks: int = 10_000
    seed: int = 42

    def validate(self, where: str) -> None:
        require_range(self.ticks, 1, MAX_TICKS, f"{where}.ticks")
        require_range(self.seed, 0, MAX_SEED, f"{where}.seed")


@dataclass(frozen=True)
class MarketConfig:
    """Exchange rules.

    Attributes:
        fee_bps: Fee per side in basis points of notional (multiple of 0.01, ``>= 0``).
        allow_short: Whether positions may go below zero (down to ``-position_limit``).
        max_order_quantity: Largest quantity of a single order, shares.
    """

    fee_bps: float = 0.0
    allow_short: bool = True
    max_order_quantity: int = 10_000

    def validate(self, where: str) -> None:
        require_range(self.fee_bps, 0, MAX_FEE_BPS, f"{where}.fee_bps")
        require(
            abs(self.fee_bps * 100 - round(self.fee_bps * 100)) < 1e-9,
            f"{where}.fee_bps must be a multiple of 0.01 (got {self.fee_bps})",
        )
        require_range(self.max_order_quantity, 1, MAX_SHARES, f"{where}.max_order_quantity")

    @property
    def fee_centibps(self) -> int:
        """The fee in hundredths of a basis point (an exact integer)."""
        return round(self.fee_bps * 100)


@dataclass(frozen=True)
class FundamentalsConfig:
    """The market-wide part of the fair-value diffusion.

    Every symbol's log fair value diffuses between news at its own ``volatility``, scaled
    by a market-wide volatility regime ``exp(x_t - vol_of_vol**2)`` where ``x_t`` is a
    stationary Gaussian AR(1) with standard deviation ``vol_of_vol`` and half-life
    ``vol_half_life`` ticks (so the regime's mean square is 1 and ``volatility`` stays the
    annual volatility on average). In a market of several symbols, a share
    ``factor_share`` of each symbol's diffusion variance is one common market factor.

    Attributes:
        vol_of_vol: Standard deviation of the log volatility regime (0 = constant volatility).
        vol_half_life: Half-life of the volatility regime, ticks.
        factor_share: Share of each symbol's diffusion variance common to all symbols, in [0, 1].
    """

    vol_of_vol: float = 0.35
    vol_half_life: int = 7200
    factor_share: float = 0.4

    def validate(self, where: str) -> None:
        require_in(self.vol_of_vol, 0, 2, f"{where}.vol_of_vol")
        require_in(self.vol_half_life, 1, MAX_TICKS, f"{where}.vol_half_life")
        require_in(self.factor_share, 0, 1, f"{where}.factor_share")


@dataclass(frozen=True)
class NewsConfig:
    """The news process, per symbol.

    News is information: an event moves the symbol's log earnings (hence its fair value)
    by a jump of ``impact * sentiment * magnitude * |t|``, where ``t`` is a Student-t draw
    with ``jump_tail`` degrees of freedom (heavy-tailed), at the tick it arrives; the move
    is permanent. While the event is active the symbol draws attention: its fair-value
    volatility and the activity of attention-driven traders rise by a factor
    ``1 + attention * magnitude``. Durations are Pareto-distributed with tail index
    ``duration_tail`` between ``min_duration`` and ``max_duration`` (long events are rare
    but last long, which makes volatility cluster over long horizons).

    Attributes:
        rate: Probability per tick that a new event starts on a symbol with none active.
        min_duration: Shortest event, ticks.
        max_duration: Longest event, ticks.
        impact: Scale of the jump in log earnings (0.01 = about 1% for a unit draw).
        jump_tail: Degrees of freedom of the Student-t jump draw (> 2; smaller = heavier tails).
        duration_tail: Pareto tail index of event durations (> 0; smaller = more long events).
        attention: Volatility and activity gain of an active event per unit magnitude.
    """

    rate: float = 0.001
    min_duration: int = 60
    max_duration: int = 3600
    impact: float = 0.001
    jump_tail: float = 5.0
    duration_tail: float = 1.0
    attention: float = 1.5

    def validate(self, where: str) -> None:
        require_in(self.rate, 0, 1, f"{where}.rate")
        require_range(self.min_duration, 1, MAX_TICKS, f"{where}.min_duration")
        require_range(self.max_duration, 1, MAX_TICKS, f"{where}.max_duration")
        require(
            self.min_duration <= self.max_duration <= 10**9,
            f"{where}.max_duration must be in [min_duration, 1e9] (got {self.max_duration}, "
            f"min_duration {self.min_duration})",
        )
        require_in(self.impact, 0, 0.5, f"{where}.impact")
        require(2 < self.jump_tail <= 1000, f"{where}.jump_tail must be in (2, 1000] (got {self.jump_tail})")
        require(
            0 < self.duration_tail <= 100, f"{where}.duration_tail must be in (0, 100] (got {self.duration_tail})"
        )
        require_in(self.attention, 0, 20, f"{where}.attention")


@dataclass(frozen=True)
class SymbolConfig:
    """One listed stock and its Gordon Growth Model fundamentals.

    Fair value is ``D1 / (r - g)`` with ``D1 = eps * payout * (1 + g)``. When
    ``discount_rate <= growth`` the model has no finite value: then ``fallback_pe`` must be
    given and fair value is ``eps * fallback_pe``.

    Attributes:
        name: Ticker, unique.
        eps: Earnings per share (currency units, > 0).
        payout: Dividend payout ratio in (0, 1].
        growth: Dividend growth rate g.
        discount_rate: Required return r.
        fallback_pe: Price/earnings multiple used when ``r <= g`` (else ignored).
        initial_price: First reference price; defaults to the initial fair value.
        volatility: Annual volatility of the fair value between news (one year is
            :data:`~marketenv.feature_spec.TICKS_PER_YEAR` ticks), e.g. 0.25 = 25%/yr.
    """

    name: str = "ACME"
    eps: float = 10.0
    payout: float = 0.5
    growth: float = 0.03
    discount_rate: float = 0.08
    fallback_pe: float | None = None
    initial_price: float | None = None
    volatility: float = 0.20

    def validate(self, where: str) -> None:
        require(bool(self.name), f"{where}.name must not be empty")
        require(self.eps > 0, f"{where}.eps must be > 0 (got {self.eps})")
        require(0 < self.payout <= 1, f"{where}.payout must be in (0, 1] (got {self.payout})")
        require(self.growth > -1, f"{where}.growth must be > -1 (got {self.growth})")
        if self.discount_rate <= self.growth:
            require(
                self.fallback_pe is not None,
                f"{where}: discount_rate ({self.discount_rate}) <= growth ({self.growth}) has no "
                "Gordon Growth value; set fallback_pe or make discount_rate > growth",
            )
        if self.fallback_pe is not None:
            require(self.fallback_pe > 0, f"{where}.fallback_pe must be > 0 (got {self.fallback_pe})")
        if self.initial_price is not None:
            require_range(self.initial_price, 0.01, MAX_PRICE, f"{where}.initial_price")
            _require_cents(self.initial_price, f"{where}.initial_price")
        require_in(self.volatility, 0, 5, f"{where}.volatility")  # per year
        try:
            fv = self.base_fair_value()
        except (OverflowError, ZeroDivisionError):
            fv = math.inf
        require(
            math.isfinite(fv) and 0.01 <= fv <= MAX_PRICE,
            f"{where}: initial fair value {fv:.4g} is outside [0.01, 1e7]; check eps, growth and discount_rate",
        )

    def base_fair_value(self) -> float:
        """Fair value before any diffusion or news, currency units."""
        if self.discount_rate > self.growth:
            return self.eps * self.payout * (1 + self.growth) / (self.discount_rate - self.growth)
        assert self.fallback_pe is not None
        return self.eps * self.fallback_pe


@dataclass(frozen=True)
class AgentGroupConfig:
    """A group of identical-strategy agents trading one symbol.

    Attributes:
        type: Strategy name, a type of :mod:`marketenv.registry` (see :data:`AGENT_TYPES`).
        count: Number of agents (``>= 1``).
        symbol: Ticker the agents trade (defaults to the first symbol).
        initial_cash: Cash per agent, currency units (``>= 0``, on the cent grid).
        initial_position: Shares per agent at the start.
        position_limit: Largest absolute position, shares (``>= 1``).
        params: Strategy parameters, checked against the type's declared parameters
            (:mod:`marketenv.strategy_params`) without importing the strategy.
    """

    type: str = "noise_trader"
    count: int = 1
    symbol: str | None = None
    initial_cash: float = 100_000.0
    initial_position: int = 0
    position_limit: int = 1_000
    params: Mapping[str, Any] = field(default_factory=dict)

    def validate(self, where: str) -> None:
        require(
            self.type in registry.strategy_names(),
            f"{where}.type {self.type!r} is unknown; use one of {', '.join(registry.strategy_names())}",
        )
        require_range(self.count, 1, MAX_AGENTS, f"{where}.count")
        require_range(self.initial_cash, 0, MAX_CASH, f"{where}.initial_cash")
        _require_cents(self.initial_cash, f"{where}.initial_cash")
        require_range(self.position_limit, 1, MAX_SHARES, f"{where}.position_limit")
        require(
            abs(self.initial_position) <= self.position_limit,
            f"{where}.initial_position {self.initial_position} exceeds position_limit {self.position_limit}",
        )

    @property
    def initial_cash_cents(self) -> int:
        """Initial cash in integer cents."""
        return round(self.initial_cash * TICKS_PER_UNIT)


@dataclass(frozen=True)
class Config:
    """A whole scenario.

    Attributes:
        simulation: Ticks and seed.
        market: Exchange rules.
        fundamentals: The market-wide volatility regime and factor.
        news: The news process.
        symbols: Listed stocks (at least one).
        agents: Agent groups (at least one), in agent-id order.
    """

    simulation: SimulationConfig = field(default_factory=SimulationConfig)
    market: MarketConfig = field(default_factory=MarketConfig)
    fundamentals: FundamentalsConfig = field(default_factory=FundamentalsConfig)
    news: NewsConfig = field(default_factory=NewsConfig)
    symbols: tuple[SymbolConfig, ...] = (SymbolConfig(),)
    agents: tuple[AgentGroupConfig, ...] = ()

    def validate(self) -> None:
        """Check every value; raise :class:`ConfigError` naming the first bad key."""
        self.simulation.validate("simulation")
        self.market.validate("market")
        self.fundamentals.validate("fundamentals")
        self.news.validate("news")
        require(len(self.symbols) >= 1, "symbols: at least one [[symbols]] table is required")
        names = [s.name for s in self.symbols]
        for i, s in enumerate(self.symbols):
            s.validate(f"symbols[{i}]")
        dup = {n for n in names if names.count(n) > 1}
        if dup:
            raise ConfigError(f"symbols: duplicate name {sorted(dup)[0]!r}; symbol names must be unique")
        require(len(self.agents) >= 1, "agents: at least one [[agents]] group is required")
        require(
            len(self.agents) <= MAX_AGENTS,
            f"agents: {len(self.agents):,} groups; at most {MAX_AGENTS:,} agents are supported",
        )
        for i, a in enumerate(self.agents):
            a.validate(f"agents[{i}]")
            if a.symbol is not None:
                require(
                    a.symbol in names,
                    f"agents[{i}].symbol {a.symbol!r} is not a listed symbol; use one of {', '.join(names)}",
                )
            require(
                self.market.allow_short or a.initial_position >= 0,
                f"agents[{i}].initial_position {a.initial_position} is short but market.allow_short"
                " is false; use a position >= 0 or allow shorting",
            )
            sym = self.symbols[self.symbol_index(a.symbol)]
            price = sym.initial_price if sym.initial_price is not None else sym.base_fair_value()
            equity = a.initial_cash_cents + a.initial_position * round(price * TICKS_PER_UNIT)
            require(
                equity > 0,
                f"agents[{i}] start with equity {equity / TICKS_PER_UNIT:,.2f} (initial_cash"
                f" {a.initial_cash:,.2f}, initial_position {a.initial_position} at {price:,.2f}),"
                " so they are bankrupt before trading; give them initial_cash > 0 or a long"
                " initial_position",
            )
            registry.validate_params(a.type, a.params, f"agents[{i}].params")
        require(
            self.n_agents <= MAX_AGENTS,
            f"agents: {self.n_agents:,} agents in all; at most {MAX_AGENTS:,} are supported,"
            " lower the counts",
        )

    @property
    def n_agents(self) -> int:
        """Total number of agents."""
        return sum(a.count for a in self.agents)

    def symbol_index(self, name: str | None) -> int:
        """Index of a symbol by name (``None`` means the first symbol)."""
        if name is None:
            return 0
        return [s.name for s in self.symbols].index(name)

    def with_overrides(self, *, ticks: int | None = None, seed: int | None = None) -> Config:
        """A copy with the run length and/or seed replaced (validated)."""
        sim = self.simulation
        sim = dataclasses.replace(
            sim,
            ticks=sim.ticks if ticks is None else ticks,
            seed=sim.seed if seed is None else seed,
        )
        cfg = dataclasses.replace(self, simulation=sim)
        cfg.simulation.validate("simulation")
        return cfg

    def to_dict(self) -> dict[str, Any]:
        """A plain JSON/TOML-compatible dict of the whole config."""
        d = dataclasses.asdict(self)
        d["symbols"] = list(d["symbols"])
        d["agents"] = [dict(a, params=dict(a["params"])) for a in d["agents"]]
        return d


_MAX_CONFIG_CHARS = 1_000_000


def _require_cents(value: float, key: str) -> None:
    scaled = value * TICKS_PER_UNIT
    require(
        math.isfinite(scaled) and abs(scaled - round(scaled)) < 1e-6,
        f"{key} must be a whole number of cents (got {value})",
    )



def config_from_dict(data: Mapping[str, Any]) -> Config:
    """Build and validate a :class:`Config` from a plain dict (as parsed from TOML)."""
    try:
        cfg = build_dataclass(Config, data, "")
        cfg.validate()
    except RecursionError:
        raise ConfigError("the config is nested too deeply; see configs/ for examples") from None
    return cfg


def load_config(path: str | Path | None = None) -> Config:
    """Load a TOML config file, or the built-in default when ``path`` is ``None``.

    Args:
        path: A ``.toml`` file, or the name of a shipped scenario such as ``"quick"``
            (:func:`marketenv.scenarios.shipped_configs`).

    Returns:
        The validated config.

    Raises:
        ConfigError: missing file, bad TOML, unknown key, wrong type or impossible value;
            the message starts with the file name and names the key.
    """
    if path is None:
        return default_config()
    from marketenv.scenarios import resolve_config

    p = resolve_config(path)
    if p.is_dir():
        raise ConfigError(f"config {str(p)!r} is a directory; pass a .toml file (see configs/ for examples)")
    if not p.is_file():
        raise ConfigError(
            f"config file {str(p)!r} not found; pass an existing .toml file to --config "
            "(see configs/ for examples)"
        )
    try:
        text = p.read_text(encoding="utf-8-sig")  # a leading byte-order mark is dropped
    except UnicodeDecodeError:
        raise ConfigError(f"{p}: not UTF-8 text; save the config as UTF-8") from None
    except OSError as e:
        raise ConfigError(f"{p}: cannot be read ({e.strerror or e}); check its permissions") from None
    if len(text) > _MAX_CONFIG_CHARS:
        raise ConfigError(
            f"{p}: {len(text):,} characters is too large for a config (at most {_MAX_CONFIG_CHARS:,})"
        )
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"{p}: not valid TOML ({brief(e)})") from None
    except (RecursionError, ValueError):  # nesting too deep, an integer too long to read
        raise ConfigError(
            f"{p}: not a usable config (nested too deeply or a number too long); see configs/ for examples"
        ) from None
    _resolve_model_paths(data, p.parent)
    try:
        return config_from_dict(data)
    except ConfigError as e:
        raise ConfigError(f"{p}: {e}") from None


def _resolve_model_paths(data: dict[str, Any], base: Path) -> None:
    """Make relative ``model`` paths of agent params relative to the config file's folder."""
    for group in data.get("agents", []) if isinstance(data.get("agents"), list) else []:
        params = group.get("params") if isinstance(group, dict) else None
        if isinstance(params, dict) and isinstance(params.get("model"), str):
            model = Path(params["model"])
            if not model.is_absolute():
                params["model"] = str(base / model)


def model_inputs(cfg: Config) -> list[str]:
    """The model files a config's agents read (their ``model`` params)."""
    return [
        str(g.params["model"])
        for g in cfg.agents
        if isinstance(g.params.get("model"), str | Path)
    ]


def default_config() -> Config:
    """The default scenario: 50 agents of every rule-based type on one symbol, 10,000 ticks."""
    groups = (
        AgentGroupConfig(type="market_maker", count=6, initial_cash=2_000_000.0, position_limit=10_000),
        AgentGroupConfig(type="noise_trader", count=20),
        AgentGroupConfig(type="momentum", count=4),
        AgentGroupConfig(type="trend_follower", count=4),
        AgentGroupConfig(type="mean_reversion", count=5),
        AgentGroupConfig(type="value_trader", count=7),
        AgentGroupConfig(type="macd_crossover", count=4),
    )
    cfg = Config(agents=groups)
    cfg.validate()
    return cfg
