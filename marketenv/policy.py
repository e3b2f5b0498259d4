"""What drives an agent slot: the policy protocols and the agent specs.

Every participant of the market is driven by a **policy**: observation in, order action
out, in stable-baselines3's shape::

    action, state = policy.predict(observation, state=None, episode_start=None,
                                   deterministic=False)

The observation is the agent's :data:`~marketenv.feature_spec.FEATURE_NAMES` vector; the
action an ``int64`` order action of shape ``(2, 3)`` (:mod:`marketenv.actions`).
Rule-based agents, tree-model agents and trained PPO models therefore swap freely. A
:class:`BatchPolicy` acts for many slots at once (the rule-based crowd of a config).

The core uses these protocols only; the strategies that implement them live in
``agents/`` and are found by name through :mod:`marketenv.registry`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

import numpy as np

__all__ = ["AgentSpec", "BatchPolicy", "Policy"]


@runtime_checkable
class Policy(Protocol):
    """Anything that maps an observation to an action, SB3-style."""

    def predict(
        self,
        observation: np.ndarray,
        state: Any = None,
        episode_start: Any = None,
        deterministic: bool = False,
    ) -> tuple[np.ndarray, Any]:
        """Return ``(action, next_state)`` for one observation."""
        ...


@runtime_checkable
class BatchPolicy(Protocol):
    """Every agent slot's action in one call (how the headless market stays fast)."""

    def act(self, obs: np.ndarray) -> np.ndarray:
        """Actions ``(n_agents, 2, 3)`` int64 for observations ``(n_agents, F)``."""
        ...


@dataclass(frozen=True)
class AgentSpec:
    """Identity and limits of one agent slot.

    Attributes:
        agent_id: Stable integer id (the slot index, in config order).
        agent_name: Readable unique name, e.g. ``MarketMaker_03``.
        type: Strategy name from the registry.
        symbol: Index of the symbol the agent trades.
        position_limit: Largest absolute position, shares.
        group: Index of the config group.
    """

    agent_id: int
    agent_name: str
    type: str
    symbol: int
    position_limit: int
    group: int
