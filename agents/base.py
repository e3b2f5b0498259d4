"""The shared machinery of rule-based agents.

Every agent is driven by a policy (:class:`~marketenv.policy.Policy`, defined in the core
with :class:`~marketenv.policy.AgentSpec` and re-exported here): observation in, ``(2, 3)``
order action out, in stable-baselines3's ``predict`` shape.

A rule-based strategy is written once, as a function of a block of agents:
``decide(obs (n, F), uniforms (n, D)) -> actions (n, 2, 3)`` (the built-in strategies are
one compiled kernel, :mod:`agents.kernels`). A single agent's
:meth:`RuleBasedAgent.predict` calls it with one row; the crowd calls it for all agents
at once (how the headless market stays fast). Both draw the same random numbers from each
agent's own generator (blocks of ``BLOCK`` ticks of ``D = N_UNIFORMS`` uniforms), so the
crowd and its agents driven one by one act identically.

Shared pieces live here once: reference price and tick conversion, sizing capped by the
position limit, and turning a signal into orders.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

import numpy as np

from agents import kernels
from agents.kernels import N_UNIFORMS
from marketenv.actions import ACTION_SHAPE, IOC, LIMIT, MARKET
from marketenv.engine import pcg
from marketenv.feature_spec import FEATURE_INDEX, N_FEATURES
from marketenv.policy import AgentSpec, Policy

__all__ = ["AgentGroup", "AgentSpec", "Policy", "RandomBlock", "RuleBasedAgent", "Strategy"]

BLOCK = 512
"""Ticks of random numbers drawn per refill of an agent's random block (any size gives the same
stream: each agent's uniforms are one row-major sequence)."""

F = FEATURE_INDEX
MID = F["mid_price"]
FAIR = F["fair_value"]
POS = F["position"]
ORDER_TYPES = {"limit": LIMIT, "ioc": IOC, "market": MARKET}


class RandomBlock:
    """Uniform numbers for a block of agents, drawn from each agent's own generator.

    Every agent draws ``rng.random((BLOCK, d))`` when its block runs out, so its stream
    does not depend on which other agents share the block.
    """

    def __init__(self, rngs: Sequence[np.random.Generator], d: int) -> None:
        self._rngs = list(rngs)
        self._d = d
        self._buf = np.empty((BLOCK, len(self._rngs), max(d, 1)))  # tick-major: one tick's rows are contiguous
        self._draws: np.ndarray | None = None  # agent-major: where each generator draws its block
        self.position = np.full(1, BLOCK, dtype=np.int64)
        """``[k]``: column ``k`` of the buffer is the next tick's (compiled callers may advance it)."""

    @property
    def addresses(self) -> np.ndarray | None:
        """The generators' state pointers for :mod:`marketenv.engine.pcg` (``None``: draw with NumPy only).

        Looked up on each access (a copied block has generators of its own)."""
        return pcg.direct_addresses(self._rngs)

    @property
    def buffer(self) -> np.ndarray:
        """The current block ``(BLOCK, n_agents, d)``, as it is (used up from :attr:`position` on).

        A compiled caller that draws from :attr:`addresses` once the block is used up
        reads it without refilling: the generators then continue where the block ends.
        """
        return self._buf

    def next(self) -> np.ndarray:
        """The next tick's ``(n_agents, d)`` uniforms."""
        buf, k, _left = self.window()
        self.position[0] += 1
        return buf[k]

    def window(self) -> tuple[np.ndarray, int, int]:
        """``(buffer (BLOCK, n_agents, d), k, ticks left)``: the next ticks' uniforms are
        ``buffer[k]``, ``buffer[k + 1]``, ...; refills the block first if it is used up.
        Call :meth:`advance` with the number of ticks consumed. The buffer is refilled in
        place: it is the same array for the block's whole life."""
        if self.position[0] >= BLOCK:
            if self._draws is None:
                self._draws = np.empty((len(self._rngs), BLOCK, max(self._d, 1)))
            for i, rng in enumerate(self._rngs):
                rng.random(out=self._draws[i])
            kernels.tick_major(self._draws, self._buf)  # one sequential pass (strided stores: 2x the time)
            self.position[0] = 0
        k = int(self.position[0])
        return self._buf, k, BLOCK - k

    def advance(self, ticks: int) -> None:
        """Mark ``ticks`` ticks of the current window as used."""
        self.position[0] += ticks


class Strategy:
    """A rule-based strategy: parameters plus a vectorised ``decide``.

    Subclasses set ``name``, ``label`` (used in agent names), ``Params`` (a frozen
    dataclass of parameters with defaults). Compiled strategies set ``kind`` (their code in
    :mod:`agents.kernels`) and implement :meth:`pack`; others (``kind = -1``) override
    :meth:`decide`.
    """

    name: ClassVar[str] = ""
    label: ClassVar[str] = ""
    Params: ClassVar[type] = object
    kind: ClassVar[int] = -1
    n_uniforms: ClassVar[int] = N_UNIFORMS

    def __init__(self, params: Any, position_limit: int) -> None:
        self.params = params
        self.position_limit = position_limit
        self.packed = np.asarray(self.pack(), dtype=np.float64) if self.kind >= 0 else None

    def pack(self) -> list[float]:
        """The parameter vector of the compiled kernel (layouts in :mod:`agents.kernels`)."""
        raise NotImplementedError

    def decide(self, obs: np.ndarray, u: np.ndarray) -> np.ndarray:
        """Map ``(n, F)`` observations and ``(n, D)`` uniforms to ``(n, 2, 3)`` actions."""
        n = obs.shape[0]
        out = np.empty((n, 6), dtype=np.int64)
        kernels.decide(
            np.ascontiguousarray(obs, dtype=np.float64),
            np.ascontiguousarray(u),
            np.full(n, self.kind, dtype=np.int64),
            np.tile(self.packed, (n, 1)),
            out,
        )
        return out.reshape(n, *ACTION_SHAPE)


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
        self._random = RandomBlock([rng], N_UNIFORMS)

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
        """The order action for one observation (see the module docstring).

        Args:
            observation: The agent's ``(45,)`` feature vector (or ``(1, 45)``).
            state: Ignored (rule-based agents are stateless).
            episode_start: Ignored.
            deterministic: Ignored: the agent's randomness comes from its own generator.

        Returns:
            ``(action, None)``: the ``(2, 3)`` int64 order action.

        Raises:
            ValueError: the observation is not one feature vector.
        """
        obs = np.asarray(observation, dtype=np.float64)
        if obs.size != N_FEATURES or obs.shape[-1] != N_FEATURES:
            raise ValueError(
                f"{self.agent_name}: observation must be one vector of {N_FEATURES} features, "
                f"got shape {obs.shape}"
            )
        return self.strategy.decide(obs.reshape(1, -1), self._random.next())[0], None

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
        self._random = RandomBlock(rngs, N_UNIFORMS)

    def act(self, obs: np.ndarray) -> np.ndarray:
        """Actions ``(n, 2, 3)`` for the group's observation rows ``(n, F)``."""
        return self.strategy.decide(obs, self._random.next())
