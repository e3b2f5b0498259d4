"""The tick loop: a market, its features and the agents that trade in it.

One root of randomness: ``SeedSequence(seed)`` spawns, in this order, the generators of
the acting order, the fundamentals, the news, and one per agent (by agent id). The
headless run, the Gymnasium env and the PettingZoo env all build their randomness through
:func:`spawn_generators`, which is why the same seed and config give the same trades.

A tick (:meth:`Simulation.step`):

1. ``market.start_tick()`` (news, fair values);
2. ``features.compute()``: every agent's observation at the start of the tick;
3. each agent's action from its policy (rule-based groups act vectorised), or from the
   caller for agents it controls;
4. actions execute in the market's seeded random agent order;
5. ``market.end_tick()``; equities after the tick give the rewards.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np

from agents.base import AgentSpec
from agents.crowd import Crowd
from agents.registry import agent_specs
from marketenv.actions import NO_OUTCOME, ActionOutcome, apply_flat, encode_action
from marketenv.config import Config
from marketenv.features import FeatureEngine
from marketenv.market import Market, TickStats
from marketenv.types import TICKS_PER_UNIT


@dataclass(frozen=True)
class Generators:
    """The generators of one run, all spawned from one ``SeedSequence``."""

    order: np.random.Generator
    fundamentals: np.random.Generator
    news: np.random.Generator
    agents: tuple[np.random.Generator, ...]


def spawn_generators(seed: int, n_agents: int) -> Generators:
    """Spawn the run's independent generators from ``SeedSequence(seed)``."""
    children = np.random.SeedSequence(seed).spawn(3 + n_agents)
    gens = [np.random.Generator(np.random.PCG64(c)) for c in children]
    return Generators(gens[0], gens[1], gens[2], tuple(gens[3:]))


@dataclass
class Transition:
    """One tick seen as a transition (what the envs and the recorder consume).

    Attributes:
        tick: The tick the actions were taken in.
        actions: ``(n_agents, 2, 3)`` actions.
        outcomes: Per agent, what its action did on arrival.
        stats: Per-symbol statistics of the tick.
        fill_quantity: Signed shares each agent traded during the tick (resting orders
            included; + bought, - sold).
        fill_notional: Currency value of those fills (unsigned).
        equity_before: Equity per agent at the start of the tick.
        equity_after: Equity per agent after the tick (= at the start of the next one).
    """

    tick: int
    actions: np.ndarray
    outcomes: list[ActionOutcome]
    stats: TickStats
    fill_quantity: np.ndarray
    fill_notional: np.ndarray
    equity_before: np.ndarray
    equity_after: np.ndarray

    @property
    def rewards(self) -> np.ndarray:
        """P&L change per agent over the tick (currency units)."""
        return self.equity_after - self.equity_before

    @functools.cached_property
    def fill_price(self) -> np.ndarray:
        """Average fill price per agent, NaN where nothing filled."""
        q = np.abs(self.fill_quantity).astype(np.float64)
        out = np.full(q.shape[0], np.nan)
        return np.divide(self.fill_notional, q, out=out, where=q > 0)

    @functools.cached_property
    def encoded(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(action int8, action_quantity, action_price)`` per agent (see :func:`encode_action`)."""
        outcomes = self.outcomes
        n = len(outcomes)
        action = np.zeros(n, dtype=np.int8)
        qty = np.zeros(n)
        price = np.full(n, np.nan)
        acted = [i for i in range(n) if outcomes[i] is not NO_OUTCOME]
        if acted:
            enc = [encode_action(outcomes[i]) for i in acted]
            a, q, p = zip(*enc, strict=True)
            action[acted] = a
            qty[acted] = q
            price[acted] = p
        return action, qty, price


@dataclass
class TickResult(Transition):
    """A :class:`Transition` from :meth:`Simulation.step`, with the observations it was decided on.

    Attributes:
        obs: Observations at the start of the tick ``(n_agents, n_features)`` (a copy).
    """

    obs: np.ndarray = field(default_factory=lambda: np.empty((0, 0)))


class Simulation:
    """A whole market run: market core, features and the rule-based crowd.

    Args:
        config: The validated scenario.
        seed: Root seed (defaults to ``config.simulation.seed``).
    """

    def __init__(self, config: Config, seed: int | None = None) -> None:
        self.config = config
        self.seed = config.simulation.seed if seed is None else int(seed)
        self.specs: list[AgentSpec] = agent_specs(config)
        n = len(self.specs)
        self.n_agents = n
        self.generators = spawn_generators(self.seed, n)
        g = self.generators
        self.agent_symbols = np.array([s.symbol for s in self.specs], dtype=np.int64)
        self.market = Market(config, self.agent_symbols, (g.order, g.fundamentals, g.news))
        self.features = FeatureEngine(
            self.market, self.agent_symbols, [s.position_limit for s in self.specs]
        )
        self.crowd = Crowd(config, self.specs, g.agents)
        self._obs: np.ndarray | None = None

    @property
    def tick(self) -> int:
        """The current (last started) tick, -1 before the first."""
        return self.market.tick

    def begin_tick(self) -> np.ndarray:
        """Start the next tick; return every agent's observation (a view, valid this tick)."""
        self.market.start_tick()
        self._obs = self.features.compute()
        return self._obs

    def crowd_actions(self, obs: np.ndarray, skip: frozenset[int] = frozenset()) -> np.ndarray:
        """The rule-based agents' actions ``(n_agents, 2, 3)`` for this tick.

        Args:
            obs: This tick's observations.
            skip: Agent ids that the caller drives (their rows are left as hold, and
                their groups still draw their random numbers so that the other agents'
                streams are unchanged).
        """
        acts = self.crowd.act(obs)
        if skip:
            acts[list(skip)] = 0
        return acts

    def execute(self, actions: np.ndarray) -> tuple[list[ActionOutcome], TickStats]:
        """Execute ``(n_agents, 2, 3)`` actions in the market's random order and end the tick."""
        m = self.market
        flat = actions.reshape(self.n_agents, 6)
        active = (flat[:, 0] != 0) | (flat[:, 3] != 0)
        outcomes = [NO_OUTCOME] * self.n_agents
        order = m.agent_order()
        rows = flat.tolist()
        syms = self.agent_symbols.tolist()
        act_list = active.tolist()
        for agent in order.tolist():
            if act_list[agent]:
                outcomes[agent] = apply_flat(m, agent, syms[agent], rows[agent])
        stats = m.end_tick()
        self.features.observe_stats(stats)
        return outcomes, stats

    def equity_now(self) -> np.ndarray:
        """Equity per agent at the current mids (currency units)."""
        return self.features.account_arrays()[2]

    def step(self, external: Mapping[int, np.ndarray] | None = None) -> TickResult:
        """Run one tick; ``external`` maps agent ids to actions that replace their policy's."""
        obs = self.begin_tick()
        before = self.features.equity
        acts = self.crowd_actions(obs)
        if external:
            for aid, a in external.items():
                acts[aid] = a
        outcomes, stats = self.execute(acts)
        fill_qty, fill_notional = self.fills()
        return TickResult(
            self.tick, acts, outcomes, stats, fill_qty, fill_notional, before, self.equity_now(), obs=obs.copy()
        )

    def run(self, ticks: int) -> int:
        """Run ``ticks`` ticks of the crowd alone as fast as possible; returns trades."""
        start = self.market.total_trades
        for _ in range(ticks):
            obs = self.begin_tick()
            self.execute(self.crowd_actions(obs))
        return self.market.total_trades - start

    def advance(self, actions: np.ndarray) -> Transition:
        """Execute this tick's actions, then start the next tick (the env step).

        Returns the transition of the finished tick; the next tick's observations are in
        ``self.features.obs`` afterwards.
        """
        before = self.features.equity
        outcomes, stats = self.execute(actions)
        fill_qty, fill_notional = self.fills()
        tick = self.tick
        self.begin_tick()
        return Transition(tick, actions, outcomes, stats, fill_qty, fill_notional, before, self.features.equity)

    def fills(self) -> tuple[np.ndarray, np.ndarray]:
        """Signed shares and notional (currency units) each agent traded in the current tick."""
        n = self.n_agents
        trades = self.market.trades
        if not trades:
            return np.zeros(n, dtype=np.int64), np.zeros(n)
        t = np.array(trades, dtype=np.int64)  # Trade fields: tick, symbol, price, quantity, buyer, seller, ...
        q = t[:, 3].astype(np.float64)  # exact: share counts and cent notionals stay far below 2**53
        cents = q * t[:, 2]
        buyer, seller = t[:, 4], t[:, 5]
        qty = np.bincount(buyer, weights=q, minlength=n) - np.bincount(seller, weights=q, minlength=n)
        notional = np.bincount(buyer, weights=cents, minlength=n) + np.bincount(seller, weights=cents, minlength=n)
        return qty.astype(np.int64), notional / TICKS_PER_UNIT
