"""The rule-based crowd of a config, acting in as few calls as possible.

Agents whose strategy is a compiled kernel (:mod:`agents.kernels`: every built-in
rule-based type) decide in one kernel call per tick; other groups (tree-model agents)
decide group by group, one batched model call each. The result is identical to calling
each agent's :meth:`~agents.base.RuleBasedAgent.predict` one by one: the same code and
the same random numbers (each agent draws from its own generator in fixed blocks).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from agents import crowd_loop, kernels
from agents.base import AgentGroup, AgentSpec, RandomBlock
from agents.kernels import N_UNIFORMS
from agents.registry import make_groups
from marketenv.actions import ACTION_SHAPE
from marketenv.engine import pcg
from marketenv.errors import reraise_interrupt

if TYPE_CHECKING:
    from marketenv.simulation import Simulation


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
        self._table = crowd_loop.outcome_table(len(ids))
        self._no_uniforms = np.zeros((1, len(ids), N_UNIFORMS))
        if ids:
            kernels.warm_up()

    @property
    def compiled(self) -> bool:
        """Whether every agent decides in the compiled kernel (then :meth:`run_ticks` works)."""
        return self._all_compiled

    def run_ticks(
        self, sim: Simulation, ticks: int, begin_first: bool, begin_last: bool,
        external: np.ndarray | None = None, external_actions: np.ndarray | None = None,
        decide: bool = True,
    ) -> int:
        """Run ``ticks`` whole ticks of ``sim`` in compiled code (see :mod:`agents.crowd_loop`).

        Args:
            sim: The simulation this crowd belongs to.
            ticks: Finish phases to run.
            begin_first: Start with a begin phase (start the tick, compute features).
            begin_last: End with a begin phase (the next tick's observations).
            external: ``(n_agents,)`` bool, agents whose actions are ``external_actions``.
            external_actions: ``(n_agents, 6)`` int64 flat actions of those agents.
            decide: Whether the crowd decides (``False``: every action is external and the
                agents' random numbers are not drawn, as when the caller gives them all).

        Returns:
            Trades of the ticks run.
        """
        n = self.n_agents
        if external is None:
            external = np.zeros(n, dtype=np.bool_)
            external_actions = np.zeros((n, 6), dtype=np.int64)
        m, fe = sim.market, sim.features
        start = m.total_trades
        done = 0
        first = begin_first
        while done < ticks:
            if decide:
                buf, k, left = self._random.window()
            else:
                buf, k, left = self._no_uniforms, 0, ticks - done
            chunk = min(ticks - done, left)
            used = 0
            while used < chunk:  # more than once only when the order pool must grow
                part = chunk - used
                last = begin_last if done + part == ticks else True  # between chunks the next tick begins
                try:
                    trades, ran = crowd_loop.run_ticks(
                        part, first, last, *m.engine_arrays(), *m.process_draws(part), *m.process_state(),
                        *fe.state_arrays(), buf, k + used, self._kinds, self._params, self._out, external,
                        external_actions, self._table, decide,
                    )
                except SystemError as exc:  # a Ctrl-C while the kernel loads: nothing ran
                    reraise_interrupt(exc)
                m.adopt_trades(trades)
                m.consume_draws(ran)
                first = False
                used += ran
                done += ran
                if ran < part:  # stopped before a tick for want of free order slots
                    m.reserve_orders(2 * n + 2)
            if decide:
                self._random.advance(chunk)
        fe.adopt_loop_state()
        return m.total_trades - start

    def market_state(
        self, sim: Simulation, external: np.ndarray, external_actions: np.ndarray, obs_before: np.ndarray,
        equity_before: np.ndarray,
    ) -> tuple[tuple[np.ndarray, ...], np.ndarray, bool]:
        """``(state, trade buffer, direct)`` of ``sim`` for :func:`agents.crowd_loop.step_markets`.

        The state holds ``sim``'s arrays themselves (the kernel advances them) plus the
        caller's ``external`` mask, ``external_actions`` and ``obs_before`` /
        ``equity_before`` buffers. It stays valid until the pool grows or a block of
        random numbers runs out (the kernel then reports ``NEED_*``): build it again then,
        unless ``Market.refill_draws(orders=not direct)`` keeps the blocks' arrays
        (``direct``: the kernel draws uniforms and acting orders from the generators itself).
        """
        m, fe = sim.market, sim.features
        agents, order = self._random.addresses, pcg.direct_addresses([m.order_generator])
        direct = agents is not None and order is not None
        orders, opos, bufs, dpos = m.draw_block(1, orders=not direct)
        if direct:  # once a block is used up, the kernel draws from the generators itself
            ublock = self._random.buffer
        else:
            ublock, _k, _left = self._random.window()
            agents = order = np.empty(0, dtype=np.int64)
        engine = m.engine_arrays()
        feats = fe.state_arrays()
        scratch = crowd_loop.scratch_for(feats[8])
        n = self.n_agents
        state = (*engine[:-1], orders, *bufs, dpos, *m.process_state(), *feats, ublock, self._random.position,
                 self._kinds, self._params, self._out, external, external_actions, self._table, obs_before,
                 equity_before, scratch, np.empty(m.n_symbols), opos, agents, order,
                 np.empty((n, ublock.shape[2])), np.empty(n, dtype=np.int64))
        return state, engine[-1], direct

    step_markets = staticmethod(crowd_loop.step_markets)
    """The batched step kernel (:func:`agents.crowd_loop.step_markets`)."""

    step_markets_parallel = staticmethod(crowd_loop.step_markets_parallel)
    """The same on numba's threads (:func:`agents.crowd_loop.step_markets_parallel`)."""

    @property
    def last_actions(self) -> np.ndarray:
        """The flat ``(n_agents, 6)`` actions of the last tick :meth:`run_ticks` finished."""
        return self._out

    @property
    def last_outcomes(self) -> np.ndarray:
        """The outcome table (columns ``O_*`` of :mod:`marketenv.engine.layout`) of that tick."""
        return self._table

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
