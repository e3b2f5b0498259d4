"""The policy interface and the shared machinery of rule-based agents.

Every participant of the market is driven by a **policy**: observation in, order action
out, in stable-baselines3's shape::

    action, state = policy.predict(observation, state=None, episode_start=None,
                                   deterministic=False)

The observation is the agent's :data:`~marketenv.feature_spec.FEATURE_NAMES` vector (the
``ComprehensiveFeatures``); the action is an order action, an ``int64`` array of shape
``(2, 3)`` (see :mod:`marketenv.actions`). Rule-based agents, tree-model agents and trained
PPO models therefore swap freely.

A rule-based strategy is written once, as a vectorised function of a block of agents:
``decide(obs (n, F), uniforms (n, D), params) -> actions (n, 2, 3)``. A single agent's
:meth:`RuleBasedAgent.predict` calls it with one row; an :class:`AgentGroup` calls it for
all agents of a config group at once (how the headless market stays fast). Both draw the
same random numbers from each agent's own generator (blocks of ``BLOCK`` ticks of ``D``
uniforms), so a group and its agents driven one by one act identically.

Shared pieces live here once: reference price and tick conversion, sizing capped by the
position limit, and turning a signal into orders.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Protocol, runtime_checkable

import numpy as np

from marketenv.actions import ACTION_SHAPE, IOC, LIMIT, MARKET
from marketenv.feature_spec import FEATURE_INDEX
from marketenv.types import TICKS_PER_UNIT

BLOCK = 64
"""Ticks of random numbers drawn per refill of an agent's random block."""

F = FEATURE_INDEX
MID = F["mid_price"]
FAIR = F["fair_value"]
POS = F["position"]
ORDER_TYPES = {"limit": LIMIT, "ioc": IOC, "market": MARKET}


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


class RandomBlock:
    """Uniform numbers for a block of agents, drawn from each agent's own generator.

    Every agent draws ``rng.random((BLOCK, d))`` when its block runs out, so its stream
    does not depend on which other agents share the block.
    """

    def __init__(self, rngs: Sequence[np.random.Generator], d: int) -> None:
        self._rngs = list(rngs)
        self._d = d
        self._buf = np.empty((len(self._rngs), BLOCK, max(d, 1)))
        self._k = BLOCK

    def next(self) -> np.ndarray:
        """The next tick's ``(n_agents, d)`` uniforms."""
        if self._k == BLOCK:
            for i, rng in enumerate(self._rngs):
                self._buf[i] = rng.random((BLOCK, max(self._d, 1)))
            self._k = 0
        u = self._buf[:, self._k, :]
        self._k += 1
        return u


class Strategy:
    """A rule-based strategy: parameters plus a vectorised ``decide``.

    Subclasses set ``name``, ``label`` (used in agent names), ``Params`` (a frozen
    dataclass of parameters with defaults), ``n_uniforms`` and implement :meth:`decide`.
    """

    name: ClassVar[str] = ""
    label: ClassVar[str] = ""
    Params: ClassVar[type] = object
    n_uniforms: ClassVar[int] = 1

    def __init__(self, params: Any, position_limit: int) -> None:
        self.params = params
        self.position_limit = position_limit

    def decide(self, obs: np.ndarray, u: np.ndarray) -> np.ndarray:
        """Map ``(n, F)`` observations and ``(n, D)`` uniforms to ``(n, 2, 3)`` actions."""
        raise NotImplementedError


class RuleBasedAgent:
    """One agent driven by a :class:`Strategy`, as a :class:`Policy`.

    Args:
        spec: The agent's identity and limits.
        strategy: The strategy (with parameters).
        rng: The agent's own generator.
    """

    def __init__(self, spec: AgentSpec, strategy: Strategy, rng: np.random.Generator) -> None:
        self.spec = spec
        self.strategy = strategy
        self._random = RandomBlock([rng], strategy.n_uniforms)

    @property
    def agent_id(self) -> int:
        return self.spec.agent_id

    @property
    def agent_name(self) -> str:
        return self.spec.agent_name

    def predict(
        self,
        observation: np.ndarray,
        state: Any = None,
        episode_start: Any = None,
        deterministic: bool = False,
    ) -> tuple[np.ndarray, Any]:
        """The order action for one observation (see the module docstring)."""
        obs = np.asarray(observation, dtype=np.float64).reshape(1, -1)
        return self.strategy.decide(obs, self._random.next())[0], None

    act = predict


class AgentGroup:
    """Agents of one config group acting in one vectorised call.

    Args:
        specs: The group's agents (same strategy and parameters).
        strategy: The shared strategy.
        rngs: One generator per agent, in the order of ``specs``.
    """

    def __init__(
        self, specs: Sequence[AgentSpec], strategy: Strategy, rngs: Sequence[np.random.Generator]
    ) -> None:
        self.specs = list(specs)
        self.strategy = strategy
        self.ids = np.array([s.agent_id for s in specs], dtype=np.int64)
        self._random = RandomBlock(rngs, strategy.n_uniforms)

    def act(self, obs: np.ndarray) -> np.ndarray:
        """Actions ``(n, 2, 3)`` for the group's observation rows ``(n, F)``."""
        return self.strategy.decide(obs, self._random.next())


# --------------------------------------------------------------------- shared pieces
def ref_ticks(mid: np.ndarray) -> np.ndarray:
    """The market's integer reference price (``floor`` of the mid, ticks) from the mid feature.

    The mid is a multiple of half a tick; the +0.25 guards against float rounding.
    """
    return np.floor(mid * TICKS_PER_UNIT + 0.25)


def empty_actions(n: int) -> np.ndarray:
    """``n`` hold actions."""
    return np.zeros((n, *ACTION_SHAPE), dtype=np.int64)


def capped_quantity(
    qty: np.ndarray | float, side: np.ndarray, position: np.ndarray, limit: int
) -> np.ndarray:
    """Shares to trade on ``side`` (+1/-1, 0 = none) without passing ``±limit``."""
    room = np.where(side > 0, limit - position, limit + position)
    q = np.minimum(np.asarray(qty, dtype=np.float64), np.maximum(room, 0.0))
    return np.where(side != 0, q, 0.0).astype(np.int64)


def signal_orders(
    signal: np.ndarray,
    qty: np.ndarray | float,
    obs: np.ndarray,
    limit: int,
    order_type: str,
    aggression_ticks: int,
) -> np.ndarray:
    """Turn a per-agent signal (+1 buy, -1 sell, 0 hold) into order actions.

    Buys are priced ``aggression_ticks`` above the reference, sells below (a positive
    aggression crosses the spread); quantities are capped by the position limit.
    """
    n = signal.shape[0]
    acts = empty_actions(n)
    q = capped_quantity(qty, signal, obs[:, POS], limit)
    t = ORDER_TYPES[order_type]
    buy = (signal > 0) & (q > 0)
    sell = (signal < 0) & (q > 0)
    acts[buy, 0, 0] = t
    acts[buy, 0, 1] = q[buy]
    acts[buy, 0, 2] = aggression_ticks
    acts[sell, 1, 0] = t
    acts[sell, 1, 1] = q[sell]
    acts[sell, 1, 2] = -aggression_ticks
    return acts


def threshold_signal(x: np.ndarray, upper: float, lower: float) -> np.ndarray:
    """+1 where ``x > upper``, -1 where ``x < lower``, else 0 (NaN gives 0)."""
    s = np.zeros(x.shape[0], dtype=np.int64)
    with np.errstate(invalid="ignore"):
        s[x > upper] = 1
        s[x < lower] = -1
    return s
