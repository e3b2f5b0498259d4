"""The rule-based crowd of a config, acting in as few calls as possible.

Agents whose strategy is a compiled kernel (:mod:`agents.kernels`: every built-in
rule-based type) decide in one kernel call per tick; other groups (tree-model agents)
decide group by group, one batched model call each. The result is identical to calling
each agent's :meth:`~agents.base.RuleBasedAgent.predict` one by one: the same code and
the same random numbers (each agent draws from its own generator in fixed blocks).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from agents import kernels
from agents.base import AgentGroup, AgentSpec, RandomBlock
from agents.kernels import N_UNIFORMS
from agents.registry import make_groups
from marketenv.actions import ACTION_SHAPE


class Crowd:
    """All rule-based agents of a config.

    Args:
        config: The scenario.
        specs: All agent specs, in id order.
        rngs: One generator per agent, by agent id.
    """

    def __init__(self, config: object, specs: Sequence[AgentSpec], rngs: Sequence[np.random.Generator]) -> None:
        self.groups: list[AgentGroup] = make_groups(config, specs, rngs)
        self.n_agents = len(specs)
        compiled = [g for g in self.groups if g.strategy.kind >= 0]
        self._python = [g for g in self.groups if g.strategy.kind < 0]
        ids = sorted(int(i) for g in compiled for i in g.ids)
        self._kids = np.array(ids, dtype=np.int64)
        self._all_compiled = len(ids) == self.n_agents
        by_id = {int(i): g.strategy for g in compiled for i in g.ids}
        self._kinds = np.array([by_id[i].kind for i in ids], dtype=np.int64)
        self._params = np.array([by_id[i].packed for i in ids], dtype=np.float64).reshape(len(ids), kernels.N_PARAMS)
        self._random = RandomBlock([rngs[i] for i in ids], N_UNIFORMS)
        self._out = np.zeros((len(ids), 6), dtype=np.int64)
        if ids:
            kernels.warm_up()

    def act(self, obs: np.ndarray) -> np.ndarray:
        """Every agent's action ``(n_agents, 2, 3)`` for observations ``(n_agents, F)``."""
        if self._all_compiled:
            kernels.decide(obs, self._random.next(), self._kinds, self._params, self._out)
            return self._out.reshape(self.n_agents, *ACTION_SHAPE).copy()
        acts = np.zeros((self.n_agents, *ACTION_SHAPE), dtype=np.int64)
        if self._kids.size:
            kernels.decide(np.ascontiguousarray(obs[self._kids]), self._random.next(), self._kinds, self._params, self._out)
            acts[self._kids] = self._out.reshape(-1, *ACTION_SHAPE)
        for g in self._python:
            acts[g.ids] = g.act(obs[g.ids])
        return acts
