"""The strategy registry: config type name -> parameters (declared data) and code (by path).

The core never imports a strategy. Each strategy type is an entry of this table: its
agent-name label, its parameters class (a frozen dataclass of
:mod:`marketenv.strategy_params`, or of the plugin's own light module) and its code as an
entry point ``"module:Class"`` (like Gymnasium's ``entry_point``), imported with
:mod:`importlib` only when a strategy is built. So a config is validated (names, types,
ranges) from the entries alone, and the rule-based crowd is built by path when a
:class:`~marketenv.simulation.Simulation` starts.

A third-party strategy is registered by path, before the config that names it is
loaded::

    from marketenv.registry import register_strategy

    register_strategy("pairs", "mypkg.pairs:PairsStrategy", params="mypkg.params:PairsParams",
                      label="Pairs")

Its class follows :class:`agents.base.Strategy` (``Params``, ``decide`` or a compiled
``kind``), and its parameters class has a ``validate(where)`` method like the built-ins.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from marketenv import strategy_params as sp
from marketenv.errors import ConfigError, ModelFormatError
from marketenv.policy import AgentSpec, BatchPolicy, Policy
from marketenv.validation import build_dataclass

__all__ = [
    "BUILTIN_STRATEGIES",
    "CROWD_ENTRY_POINT",
    "POLICIES_ENTRY_POINT",
    "StrategyEntry",
    "agent_specs",
    "build_params",
    "check_strategies",
    "load_entry_point",
    "make_crowd",
    "make_policies",
    "make_strategy",
    "register_strategy",
    "strategy_entry",
    "strategy_names",
    "validate_params",
]

CROWD_ENTRY_POINT = "agents.crowd:Crowd"
"""The :class:`~marketenv.policy.BatchPolicy` of a config's rule-based slots, called as
``Crowd(config, specs, rngs)``. A crowd whose ``compiled`` attribute is true also runs
whole ticks in compiled code (``run_ticks``), which :class:`~marketenv.simulation.Simulation`
then uses."""
POLICIES_ENTRY_POINT = "agents.registry:make_policies"
"""One rule-based :class:`~marketenv.policy.Policy` per slot, called as
``make_policies(config, specs, rngs) -> {agent_name: policy}``."""


@dataclass(frozen=True)
class StrategyEntry:
    """One strategy type.

    Attributes:
        name: The config's ``type``.
        label: Prefix of its agents' names (``<label>_<NN>``).
        entry_point: ``"module:Class"`` of the strategy class.
        params: Its parameters dataclass, or ``"module:Class"`` of it.
    """

    name: str
    label: str
    entry_point: str
    params: type | str


def _builtin(name: str, label: str, entry_point: str, params: type) -> tuple[str, StrategyEntry]:
    return name, StrategyEntry(name, label, entry_point, params)


_ENTRIES: dict[str, StrategyEntry] = dict(
    (
        _builtin("market_maker", "MarketMaker", "agents.market_maker:MarketMaker", sp.MarketMakerParams),
        _builtin("noise_trader", "NoiseTrader", "agents.noise_trader:NoiseTrader", sp.NoiseParams),
        _builtin("momentum", "Momentum", "agents.signals:Momentum", sp.MomentumParams),
        _builtin("trend_follower", "TrendFollower", "agents.signals:TrendFollower", sp.TrendParams),
        _builtin("mean_reversion", "MeanReversion", "agents.signals:MeanReversion", sp.MeanReversionParams),
        _builtin("value_trader", "ValueTrader", "agents.signals:ValueTrader", sp.ValueParams),
        _builtin("macd_crossover", "MacdCrossover", "agents.signals:MacdCrossover", sp.MacdParams),
        _builtin("tree_agent", "TreeAgent", "agents.tree_agent:TreeStrategy", sp.TreeParams),
    )
)

BUILTIN_STRATEGIES: tuple[str, ...] = tuple(_ENTRIES)
"""The type names of the shipped strategies, in registry order."""


def register_strategy(
    name: str, entry_point: str, params: type | str, label: str | None = None, *, replace: bool = False
) -> StrategyEntry:
    """Add a strategy type (a plugin) to the registry.

    Args:
        name: The config ``type`` that selects it.
        entry_point: ``"module:Class"`` of the strategy class (imported when built).
        params: Its parameters dataclass, or ``"module:Class"`` of it (imported when a
            config naming ``name`` is validated: keep it in a light module).
        label: Agent-name prefix (default: ``name``).
        replace: Allow replacing an existing entry.

    Returns:
        The new entry.

    Raises:
        ConfigError: ``name`` is taken (and ``replace`` is false) or a path is not of the
            form ``"module:Class"``.
    """
    if name in _ENTRIES and not replace:
        raise ConfigError(f"strategy type {name!r} is already registered; pick another name or pass replace=True")
    for path in (entry_point, params):
        if isinstance(path, str):
            _split(path)
    entry = StrategyEntry(name, label or name, entry_point, params)
    _ENTRIES[name] = entry
    return entry


def strategy_names() -> tuple[str, ...]:
    """Every registered type name, built-ins first."""
    return tuple(_ENTRIES)


def strategy_entry(name: str) -> StrategyEntry:
    """The entry of a type name.

    Raises:
        ConfigError: Unknown type, naming the known ones.
    """
    try:
        return _ENTRIES[name]
    except KeyError:
        raise ConfigError(f"agent type {name!r} is unknown; use one of {', '.join(_ENTRIES)}") from None


def _split(path: str) -> tuple[str, str]:
    module, sep, attr = path.partition(":")
    if not (module and sep and attr):
        raise ConfigError(f"entry point {path!r} must be 'module:Name', e.g. 'agents.signals:Momentum'")
    return module, attr


def load_entry_point(path: str) -> Any:
    """The object a ``"module:Name"`` path names (the module is imported on first use).

    Raises:
        ConfigError: Malformed path, missing module or missing name.
    """
    module, attr = _split(path)
    try:
        mod = importlib.import_module(module)
    except ModuleNotFoundError as e:
        raise ConfigError(f"entry point {path!r}: module {e.name!r} is not installed; install it or fix the path") from None
    try:
        return getattr(mod, attr)
    except AttributeError:
        raise ConfigError(f"entry point {path!r}: {module} has no {attr!r}; fix the path") from None


def _params_class(entry: StrategyEntry) -> type:
    p = entry.params
    return load_entry_point(p) if isinstance(p, str) else p


def build_params(type_name: str, params: Mapping[str, Any], where: str = "params") -> Any:
    """The strategy's frozen parameters from a config table, type- and range-checked.

    Imports no strategy code: the parameters class is declared in the entry.

    Raises:
        ConfigError: Unknown type or key, wrong type, value out of range (naming
            ``<where>.<key>``).
    """
    p = build_dataclass(_params_class(strategy_entry(type_name)), dict(params), where)
    p.validate(where)
    return p


def validate_params(type_name: str, params: Mapping[str, Any], where: str = "params") -> None:
    """Raise :class:`ConfigError` naming the key if ``params`` is not valid for the type."""
    build_params(type_name, params, where)


def agent_specs(config: Any) -> list[AgentSpec]:
    """Specs of every agent of a config, in id order, named ``<Label>_<NN>`` per type."""
    specs: list[AgentSpec] = []
    per_type: dict[str, int] = {}
    for gi, g in enumerate(config.agents):
        label = strategy_entry(g.type).label
        sym = config.symbol_index(g.symbol)
        for _ in range(g.count):
            k = per_type.get(label, 0)
            per_type[label] = k + 1
            specs.append(AgentSpec(len(specs), f"{label}_{k:02d}", g.type, sym, g.position_limit, gi))
    return specs


def make_strategy(config: Any, group: int) -> Any:
    """The strategy instance of config group ``group`` (its class imported by path).

    Raises:
        ConfigError: Bad parameters, or a model file the strategy cannot use (naming
            ``agents[<group>].params.model``).
    """
    g = config.agents[group]
    where = f"agents[{group}].params"
    params = build_params(g.type, g.params, where)
    cls = load_entry_point(strategy_entry(g.type).entry_point)
    try:
        return cls(params, g.position_limit)
    except ModelFormatError as e:
        raise ConfigError(f"{where}.model: {e}") from None


def check_strategies(config: Any) -> None:
    """Build every group's strategy once: the checks that need strategy code (model files).

    Config validation reads declared parameters only; a composition root (the CLI) calls
    this right after loading a config, so that a bad model file is refused before any work.

    Raises:
        ConfigError: As :func:`make_strategy`, for the first bad group.
    """
    for group in range(len(config.agents)):
        make_strategy(config, group)


def make_crowd(config: Any, specs: Sequence[AgentSpec], rngs: Sequence[np.random.Generator]) -> BatchPolicy:
    """The rule-based crowd of a config (:data:`CROWD_ENTRY_POINT`), one generator per slot."""
    return load_entry_point(CROWD_ENTRY_POINT)(config, specs, rngs)


def make_policies(
    config: Any, specs: Sequence[AgentSpec], rngs: Sequence[np.random.Generator]
) -> dict[str, Policy]:
    """One rule-based policy per slot, by agent name (:data:`POLICIES_ENTRY_POINT`)."""
    return load_entry_point(POLICIES_ENTRY_POINT)(config, specs, rngs)
