"""Building the rule-based agents of a config: vectorised groups and per-slot policies.

The type name -> strategy table itself is the core's :mod:`marketenv.registry` (which
imports this module by path); :data:`STRATEGIES` is the built-in rule-based part of it,
as classes.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from agents.base import AgentGroup, AgentSpec, RuleBasedAgent, Strategy
from agents.market_maker import MarketMaker
from agents.noise_trader import NoiseTrader
from agents.signals import MacdCrossover, MeanReversion, Momentum, TrendFollower, ValueTrader
from marketenv.registry import agent_specs, build_params, make_strategy, validate_params

__all__ = [
    "STRATEGIES",
    "agent_specs",
    "build_params",
    "make_groups",
    "make_policies",
    "make_strategy",
    "validate_params",
]

STRATEGIES: dict[str, type[Strategy]] = {
    cls.name: cls
    for cls in (MarketMaker, NoiseTrader, Momentum, TrendFollower, MeanReversion, ValueTrader, MacdCrossover)
}
"""Rule-based strategies (compiled kernels) by config type name."""


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
