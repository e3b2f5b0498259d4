"""The tick loop: a market, its features and the agents that trade in it.

One root of randomness: ``SeedSequence(seed)`` spawns, in this order, the generators of
the acting order, the fundamentals, the news, and one per agent (by agent id). The
headless run, the Gymnasium env and the PettingZoo env all build their randomness through
:func:`spawn_generators`, which is why the same seed and config give the same trades.

One driver, :meth:`Simulation.step`. Between calls a simulation stands at the start of
tick ``t`` (``sim.tick``): the tick's news and fair values are published and every
agent's observation ``sim.obs`` is computed. ``step(actions)`` then:

1. takes each agent's action: from the caller, or from its rule-based policy (the crowd
   acts vectorised on ``sim.obs``);
2. executes the actions in the market's seeded random agent order;
3. ends tick ``t`` (the next tick's news, fair values and pegged quotes);
4. starts tick ``t + 1`` and computes its observations (the new ``sim.obs``);

and returns the :class:`Transition` of tick ``t``: ``obs`` (before: the start of ``t``,
what the actions were decided on), ``next_obs`` and ``equity_after`` (after: the start of
``t + 1``, which is the state right after ``t``). Envs, the recorder and the headless run
all go through it (:meth:`Simulation.run` is the same phases without building
transitions).
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from marketenv import registry
from marketenv.actions import NO_OUTCOME, ActionOutcome, OutcomeArray, encode_action
from marketenv.config import Config
from marketenv.engine.kernels import fills as fill_kernel
from marketenv.engine.kernels import vwap as vwap_kernel
from marketenv.features import FeatureEngine
from marketenv.market import Market, TickStats, rejection_reason
from marketenv.policy import AgentSpec
from marketenv.types import TICKS_PER_UNIT, Trade


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


@dataclass(frozen=True)
class Fills:
    """Every agent's fills of one tick, exact integers (resting orders included).

    Attributes:
        buy_quantity: Shares bought per agent.
        sell_quantity: Shares sold per agent.
        buy_cents: Notional of the buys per agent, cents (sum of price * quantity).
        sell_cents: Notional of the sells per agent, cents.
        fee_cents: Fees paid per agent, cents (both sides of a trade pay, see
            :meth:`marketenv.market.Market.fees_of`).
        low_ticks: Lowest trade price per symbol, ticks (-1 where the symbol did not trade).
        high_ticks: Highest trade price per symbol, ticks (-1 where it did not trade).
    """

    buy_quantity: np.ndarray
    sell_quantity: np.ndarray
    buy_cents: np.ndarray
    sell_cents: np.ndarray
    fee_cents: np.ndarray
    low_ticks: np.ndarray
    high_ticks: np.ndarray

    @classmethod
    def none(cls, n_agents: int, n_symbols: int) -> Fills:
        """No fills for ``n_agents`` agents in ``n_symbols`` symbols."""
        z = np.zeros(n_agents, dtype=np.int64)
        none = np.full(n_symbols, -1, dtype=np.int64)
        return cls(z, z, z, z, z, none, none)

    @property
    def cash_change_cents(self) -> np.ndarray:
        """Cash change per agent, cents: sell notional - buy notional - fees."""
        return self.sell_cents - self.buy_cents - self.fee_cents


NO_FILL_INFO: dict[str, Any] = {
    "fill_quantity": 0,
    "fill_price": 0.0,
    "fill_buy_quantity": 0,
    "fill_buy_price": 0.0,
    "fill_sell_quantity": 0,
    "fill_sell_price": 0.0,
    "fees": 0.0,
}
"""The fill fields of an env ``info`` when nothing traded (see :meth:`Transition.fill_info`)."""


def fill_fields(bq: int, sq: int, bc: int, sc: int, fee: int) -> dict[str, Any]:
    """Env-info fill fields from shares and cents bought and sold and fees (cents)."""
    if not (bq or sq):
        return NO_FILL_INFO
    unit = TICKS_PER_UNIT
    return {
        "fill_quantity": bq - sq,
        "fill_price": (bc + sc) / (unit * (bq + sq)),
        "fill_buy_quantity": bq,
        "fill_buy_price": bc / (unit * bq) if bq else 0.0,
        "fill_sell_quantity": sq,
        "fill_sell_price": sc / (unit * sq) if sq else 0.0,
        "fees": fee / unit,
    }


def _vwap(cents: np.ndarray, qty: np.ndarray) -> np.ndarray:
    """``cents / qty`` in currency units, NaN where ``qty`` is 0."""
    return vwap_kernel(np.ascontiguousarray(cents, dtype=np.int64), np.ascontiguousarray(qty, dtype=np.int64))


@dataclass
class Transition:
    """One tick seen as a transition (what the envs and the recorder consume).

    Before = at the start of tick ``tick``; after = at the start of tick ``tick + 1``
    (the state right after ``tick``: its trades, the next fair values, pegged quotes moved).

    Attributes:
        tick: The tick the actions were taken in.
        actions: ``(n_agents, 2, 3)`` actions.
        outcomes: Per agent, what its action did on arrival.
        stats: Per-symbol statistics of the tick.
        fills: Every agent's buys, sells and fees during the tick.
        equity_before: Equity per agent before (currency units).
        equity_after: Equity per agent after.
        obs: Every agent's observation ``(n_agents, F)`` before: what the actions were
            decided on.
        next_obs: Every agent's observation after (the simulation's ``obs`` once the
            step returns, and the next transition's ``obs``). Neither array is written
            again by the simulation.
        trade_rows: The tick's trades, ``(n_trades, 9)`` int64 in the field order of
            :class:`~marketenv.types.Trade`, in execution order.
    """

    tick: int
    actions: np.ndarray
    outcomes: Sequence[ActionOutcome]
    stats: TickStats
    fills: Fills
    equity_before: np.ndarray
    equity_after: np.ndarray
    obs: np.ndarray
    next_obs: np.ndarray
    trade_rows: np.ndarray

    @property
    def rewards(self) -> np.ndarray:
        """P&L change per agent over the tick (currency units): after minus before."""
        return self.equity_after - self.equity_before

    @property
    def trades(self) -> list[Trade]:
        """The tick's trades as :class:`~marketenv.types.Trade` tuples (a fresh list)."""
        return [Trade(*row) for row in self.trade_rows.tolist()]

    @functools.cached_property
    def fill_quantity(self) -> np.ndarray:
        """Net signed shares per agent (+ bought, - sold), int64."""
        return self.fills.buy_quantity - self.fills.sell_quantity

    @property
    def fill_notional(self) -> np.ndarray:
        """Gross notional per agent (buys + sells, unsigned), currency units."""
        return (self.fills.buy_cents + self.fills.sell_cents) / TICKS_PER_UNIT

    @functools.cached_property
    def fill_price(self) -> np.ndarray:
        """VWAP of all the agent's fills in the tick (both sides), NaN where nothing filled."""
        f = self.fills
        return _vwap(f.buy_cents + f.sell_cents, f.buy_quantity + f.sell_quantity)

    @functools.cached_property
    def fill_buy_price(self) -> np.ndarray:
        """VWAP of the agent's buys, NaN where it bought nothing."""
        return _vwap(self.fills.buy_cents, self.fills.buy_quantity)

    @functools.cached_property
    def fill_sell_price(self) -> np.ndarray:
        """VWAP of the agent's sells, NaN where it sold nothing."""
        return _vwap(self.fills.sell_cents, self.fills.sell_quantity)

    @property
    def fees(self) -> np.ndarray:
        """Fees paid per agent during the tick, currency units."""
        return self.fills.fee_cents / TICKS_PER_UNIT

    @functools.cached_property
    def trade_low(self) -> np.ndarray:
        """Lowest trade price per symbol in the tick, currency units, NaN if none."""
        lo = self.fills.low_ticks
        return np.where(lo >= 0, lo / TICKS_PER_UNIT, np.nan)

    @functools.cached_property
    def trade_high(self) -> np.ndarray:
        """Highest trade price per symbol in the tick, currency units, NaN if none."""
        hi = self.fills.high_ticks
        return np.where(hi >= 0, hi / TICKS_PER_UNIT, np.nan)

    def fill_info(self, agent: int) -> dict[str, Any]:
        """The fill fields of an env ``info`` for one agent (a fresh dict).

        Same names as the recording columns; prices are 0.0 (not NaN) where the side did
        not trade, so that infos of identical runs compare equal.
        """
        f = self.fills
        return dict(
            fill_fields(
                int(f.buy_quantity[agent]),
                int(f.sell_quantity[agent]),
                int(f.buy_cents[agent]),
                int(f.sell_cents[agent]),
                int(f.fee_cents[agent]),
            )
        )

    @functools.cached_property
    def fill_infos(self) -> list[dict[str, Any]]:
        """:meth:`fill_info` of every agent (shared dicts: spread or copy them, never modify)."""
        f = self.fills
        return [
            fill_fields(*row)
            for row in zip(
                f.buy_quantity.tolist(),
                f.sell_quantity.tolist(),
                f.buy_cents.tolist(),
                f.sell_cents.tolist(),
                f.fee_cents.tolist(),
                strict=True,
            )
        ]

    @functools.cached_property
    def encoded(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(action int8, action_quantity, action_price)`` per agent (see :func:`encode_action`)."""
        outcomes = self.outcomes
        if isinstance(outcomes, OutcomeArray):
            return outcomes.encoded()
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


class Simulation:
    """A whole market run: market core, features and the rule-based crowd.

    A new simulation stands at the start of tick 0 (observations computed); each
    :meth:`step` runs one tick and starts the next (see the module docstring).

    Args:
        config: The validated scenario.
        seed: Root seed (defaults to ``config.simulation.seed``).
        reference: Run the pure-Python reference implementation
            (:mod:`marketenv.reference`: :class:`~marketenv.reference.market.ReferenceMarket`
            and its market features) instead of the compiled engine; same results, slower.
    """

    def __init__(self, config: Config, seed: int | None = None, reference: bool = False) -> None:
        self.config = config
        self.seed = config.simulation.seed if seed is None else int(seed)
        self.specs: list[AgentSpec] = registry.agent_specs(config)
        n = len(self.specs)
        self.n_agents = n
        self.generators = spawn_generators(self.seed, n)
        g = self.generators
        self.agent_symbols = np.array([s.symbol for s in self.specs], dtype=np.int64)
        rngs = (g.order, g.fundamentals, g.news)
        limits = [s.position_limit for s in self.specs]
        if reference:
            from marketenv.reference.features import ReferenceMarketFeatures
            from marketenv.reference.market import ReferenceMarket

            self.market = ReferenceMarket(config, self.agent_symbols, rngs)
            self.features = FeatureEngine(
                self.market, self.agent_symbols, limits, ReferenceMarketFeatures(self.market)
            )
        else:
            self.market = Market(config, self.agent_symbols, rngs)
            self.features = FeatureEngine(self.market, self.agent_symbols, limits)
        self.crowd = registry.make_crowd(config, self.specs, g.agents)
        self._compiled = not reference and bool(getattr(self.crowd, "compiled", False))
        self._fee_rate = config.market.fee_centibps
        self._tick_trades = np.empty((0, 9), dtype=np.int64)
        self._synced = -1
        self.obs = self._start_tick()

    @property
    def obs(self) -> np.ndarray:
        """Every agent's observation ``(n_agents, F)`` at the start of the current tick.

        A fresh array, never written again by the simulation.
        """
        if self._synced != self.market.tick:
            self.refresh()
        return self._obs

    @obs.setter
    def obs(self, value: np.ndarray) -> None:
        self._obs = value
        self._synced = self.market.tick

    @property
    def tick(self) -> int:
        """The current tick: the one the simulation stands at the start of."""
        return self.market.tick

    @property
    def equity(self) -> np.ndarray:
        """Equity per agent at the start of the current tick (currency units)."""
        if self._synced != self.market.tick:
            self.refresh()
        return self.features.equity

    @property
    def compiled(self) -> bool:
        """Whether whole ticks run in compiled code (compiled engine and an all-kernel crowd)."""
        return self._compiled

    def _start_tick(self) -> np.ndarray:
        """Start the next tick; its observations (a fresh array, never written again)."""
        self.market.start_tick()
        return self.features.compute().copy()

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

    def execute(self, actions: np.ndarray) -> tuple[Sequence[ActionOutcome], TickStats]:
        """Execute ``(n_agents, 2, 3)`` actions in the market's random order and end the tick."""
        m = self.market
        outcomes = m.execute(actions.reshape(self.n_agents, 6), m.agent_order())
        stats = m.end_tick()
        self._tick_trades = m.trade_array
        self.features.observe_stats(stats)
        return outcomes, stats

    @property
    def last_trades(self) -> list[Trade]:
        """The trades of the last executed tick (pegged moves at its end included)."""
        if self._synced != self.market.tick:
            self.refresh()
        return [Trade(*row) for row in self._tick_trades.tolist()]

    def step(self, actions: np.ndarray | Mapping[int, Any] | None = None) -> Transition:
        """Run the current tick, start the next one, and return the finished tick.

        Args:
            actions: Who decides. ``None``: every agent's rule-based policy. A mapping
                agent id -> ``(2, 3)`` action: those agents act so, the others by policy
                (the policies are still asked for every agent, so every generator draws
                as it would without the mapping). An ``(n_agents, 2, 3)`` int64 array:
                every agent's action; the policies are not asked and draw nothing.

        Returns:
            The :class:`Transition` of the tick that ran: ``obs`` and ``equity_before``
            before it (the start of tick ``t``, what the actions were decided on),
            ``next_obs`` and ``equity_after`` after it (the start of tick ``t + 1``, now
            :attr:`obs` and :attr:`equity`).
        """
        given = actions is not None and not isinstance(actions, Mapping)
        if self._compiled:
            n = self.n_agents
            if given:
                mask = np.ones(n, dtype=np.bool_)
                ext = np.ascontiguousarray(actions, dtype=np.int64).reshape(n, 6)
            else:
                mask = np.zeros(n, dtype=np.bool_)
                ext = np.zeros((n, 6), dtype=np.int64)
                for agent, a in (actions or {}).items():
                    mask[agent] = True
                    ext[agent] = np.asarray(a, dtype=np.int64).reshape(6)
            return self._compiled_tick(mask, ext, decide=not given)
        obs = self.obs
        before = self.equity
        if given:
            acts = actions
        else:
            acts = self.crowd_actions(obs)
            for agent, a in (actions or {}).items():
                acts[agent] = a
        tick = self.tick
        outcomes, stats = self.execute(acts)
        fills = self.fills()
        rows = self._tick_trades
        self.obs = self._start_tick()
        return Transition(tick, acts, outcomes, stats, fills, before, self.features.equity, obs, self.obs, rows)

    def _compiled_tick(self, mask: np.ndarray, ext: np.ndarray, decide: bool) -> Transition:
        """:meth:`step` in compiled code: agents in ``mask`` take ``ext``, the others decide."""
        obs = self.obs
        before = self.equity
        tick = self.tick
        self.crowd.run_ticks(self, 1, begin_first=False, begin_last=True, external=mask, external_actions=ext,
                             decide=decide)
        self.refresh()
        return self.finished_tick(tick, obs, before)

    def refresh(self) -> None:
        """Re-read the state after compiled code ran ticks on this simulation's arrays.

        :attr:`obs`, :attr:`equity` and :attr:`last_trades` then describe the current
        tick again (for callers that step the arrays directly, such as
        :class:`~marketenv.batch.MarketBatch`; reading :attr:`obs`, :attr:`equity` or
        :attr:`last_trades` calls it when the market moved on since).
        """
        self._tick_trades = self.market.last_tick_trade_array
        self.features.adopt_loop_state()
        self.obs = self.features.obs.copy()

    def finished_tick(self, tick: int, obs: np.ndarray, equity_before: np.ndarray) -> Transition:
        """The :class:`Transition` of the compiled tick ``tick`` that just ran (after :meth:`refresh`).

        Args:
            tick: The tick that ran.
            obs: Every agent's observations before it (kept, not copied).
            equity_before: Every agent's equity before it (kept, not copied).
        """
        st = self.features.market_features.stats
        stats = TickStats(tick, st[:, 0].copy(), st[:, 1].copy(), st[:, 2].copy(), st[:, 3].copy())
        outcomes = OutcomeArray(self.crowd.last_outcomes.copy(), rejection_reason)
        acts = self.crowd.last_actions.copy().reshape(self.n_agents, 2, 3)
        fills = self._fills(self._tick_trades)
        return Transition(
            tick, acts, outcomes, stats, fills, equity_before, self.features.equity, obs, self.obs, self._tick_trades
        )

    def run(self, ticks: int, hold: Sequence[int] = ()) -> int:
        """Run ``ticks`` ticks of the crowd as fast as possible (no transitions); returns trades.

        The same phases as :meth:`step` with ``actions=None``, or with the agents of
        ``hold`` holding (as ``step({i: hold for i in hold})``: their policies still
        draw their random numbers). Compiled whole ticks when :attr:`compiled`.
        """
        if ticks <= 0:
            return 0
        skip = frozenset(hold)
        if self._compiled:
            n = self.n_agents
            mask = np.zeros(n, dtype=np.bool_)
            mask[list(skip)] = True
            trades = self.crowd.run_ticks(self, ticks, begin_first=False, begin_last=True, external=mask,
                                          external_actions=np.zeros((n, 6), dtype=np.int64))
            self.refresh()
            return trades
        start = self.market.total_trades
        features = self.features
        obs = self.obs
        for _ in range(ticks):
            self.execute(self.crowd_actions(obs, skip) if skip else self.crowd_actions(obs))
            self.market.start_tick()
            obs = features.compute()
        self.obs = obs.copy()
        return self.market.total_trades - start

    def fills(self) -> Fills:
        """Every agent's buys, sells and fees in the current tick (from the market's trades)."""
        return self._fills(self.market.trade_array)

    def _fills(self, t: np.ndarray) -> Fills:
        """Every agent's buys, sells and fees from an ``(n, 9)`` trade array."""
        n = self.n_agents
        m = self.market
        if not len(t):
            return Fills.none(n, m.n_symbols)
        per, rng = fill_kernel(np.ascontiguousarray(t, dtype=np.int64), n, m.n_symbols, self._fee_rate)
        return Fills(per[:, 0], per[:, 1], per[:, 2], per[:, 3], per[:, 4], rng[:, 0], rng[:, 1])
