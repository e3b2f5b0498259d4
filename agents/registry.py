"""Strategy registry: type name -> strategy class, and building agents from a config."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from agents.base import AgentGroup, AgentSpec, RuleBasedAgent, Strategy
from agents.market_maker import MarketMaker
from agents.noise_trader import NoiseTrader
from agents.signals import MacdCrossover, MeanReversion, Momentum, TrendFollower, ValueTrader
from marketenv.errors import ConfigError

STRATEGIES: dict[str, type[Strategy]] = {
    cls.name: cls
    for cls in (MarketMaker, NoiseTrader, Momentum, TrendFollower, MeanReversion, ValueTrader, MacdCrossover)
}
"""Rule-based strategies by config type name."""


def _strategy_class(type_name: str) -> type[Strategy]:
    if type_name == "tree_agent":
        from agents.tree_agent import TreeStrategy

        return TreeStrategy
    try:
        return STRATEGIES[type_name]
    except KeyError:
        raise ConfigError(
            f"agent type {type_name!r} is unknown; use one of {', '.join(sorted(STRATEGIES))}, tree_agent"
        ) from None


def build_params(type_name: str, params: Mapping[str, Any], where: str = "params") -> Any:
    """The strategy's frozen ``Params`` dataclass from a config table (validated)."""
    from marketenv.config import _build

    cls = _strategy_class(type_name)
    p = _build(cls.Params, dict(params), where)
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
        label = _strategy_class(g.type).label
        sym = config.symbol_index(g.symbol)
        for _ in range(g.count):
            k = per_type.get(label, 0)
            per_type[label] = k + 1
            specs.append(AgentSpec(len(specs), f"{label}_{k:02d}", g.type, sym, g.position_limit, gi))
    return specs


def make_strategy(config: Any, group: int) -> Strategy:
    """The strategy instance of config group ``group``."""
    g = config.agents[group]
    cls = _strategy_class(g.type)
    return cls(build_params(g.type, g.params, f"agents[{group}].params"), g.position_limit)


def make_groups(config: Any, specs: Sequence[AgentSpec], rngs: Sequence[np.random.Generator]) -> list[AgentGroup]:
    """One vectorised :class:`AgentGroup` per config group."""
    groups = []
    for gi in range(len(config.agents)):
        members = [s for s in specs if s.group == gi]
        groups.append(AgentGroup(members, make_strategy(config, gi), [rngs[s.agent_id] for s in members]))
    return groups


def make_policies(config: Any, specs: Sequence[AgentSpec], rngs: Sequence[np.random.Generator]) -> dict[str, RuleBasedAgent]:
    """One :class:`RuleBasedAgent` policy per agent, keyed by agent name."""
    strategies = [make_strategy(config, gi) for gi in range(len(config.agents))]
    return {s.agent_name: RuleBasedAgent(s, strategies[s.group], rngs[s.agent_id]) for s in specs}
