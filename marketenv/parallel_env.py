"""The multi-agent market as a PettingZoo ``ParallelEnv``: K learners among the rule-based crowd."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from gymnasium import spaces
from pettingzoo import ParallelEnv

from marketenv import registry
from marketenv.action_modes import ActionCodec
from marketenv.actions import ACTION_SHAPE, MAX_OFFSET, N_TYPES
from marketenv.config import Config
from marketenv.env_common import (
    EpisodeSeeds,
    LearnerView,
    check_warmup,
    reset_info,
    resolve_agent,
    resolve_config,
    step_infos,
)
from marketenv.errors import InvalidActionError, ResetNeeded, UnsupportedRenderMode
from marketenv.feature_spec import FEATURE_NAMES, N_FEATURES
from marketenv.observation import check_observation_mode
from marketenv.policy import Policy
from marketenv.simulation import Simulation, Transition
from marketenv.types import Trade

_HOLD = np.zeros(ACTION_SHAPE, dtype=np.int64)
_FLAT = ACTION_SHAPE[0] * ACTION_SHAPE[1]

Learners = int | str | Sequence[int | str]


def resolve_learners(learners: Learners, sim: Simulation) -> list[int]:
    """The learner slots (agent ids, ascending) that ``learners`` names.

    Args:
        learners: ``K`` (the first ``K`` noise traders), ``"all"`` (every slot), or a
            list of agent ids and names.
        sim: A simulation of the config (for names and types).

    Raises:
        ValueError: ``K`` out of range, an unknown or repeated slot.
    """
    n = sim.n_agents
    if isinstance(learners, str):
        if learners != "all":
            raise ValueError(f"learners {learners!r} must be a count, a list of agent slots or 'all'")
        return list(range(n))
    if isinstance(learners, int | np.integer) and not isinstance(learners, bool):
        k = int(learners)
        noise = [s.agent_id for s in sim.specs if s.type == "noise_trader"]
        if not 1 <= k <= len(noise):
            raise ValueError(
                f"learners={k} takes the first {k} noise traders but the config has {len(noise)}; "
                "pass a list of agent slots (ids or names) or 'all'"
            )
        return noise[:k]
    if not isinstance(learners, Sequence) or not learners:
        raise ValueError(f"learners must be a count, a non-empty list of agent slots or 'all' (got {learners!r})")
    ids = [resolve_agent(a, sim.specs) for a in learners]
    if len(set(ids)) != len(ids):
        raise ValueError(f"learners {list(learners)!r} names a slot twice")
    return sorted(ids)


class MarketParallelEnv(ParallelEnv):
    """K learning agents among the rule-based crowd, one PettingZoo agent per learner.

    The learners take over agent slots of the config (``learners``); every other slot is
    driven by its rule-based strategy, as in :class:`~marketenv.env.MarketEnv` (which is
    this env with one learner). Agents are named as in the config (``NoiseTrader_00``,
    ...), in agent-id order. One step is one market tick; actions execute in the
    market's seeded random agent order.

    ## Action Space

    Per learner, the space of ``action_mode`` (:mod:`marketenv.action_modes`), the same
    as :class:`~marketenv.env.MarketEnv`'s: ``"discrete"`` ``Discrete(3)`` (sell / hold /
    buy ``order_size`` at market), ``"limit"`` ``MultiDiscrete([3, len(sizes),
    2 * max_offset_ticks + 1])``, ``"order"`` the two-sided ``MultiDiscrete`` order
    encoding (type, size index, offset index per side). A learner missing from the
    action dict holds. An action outside the space, an unknown agent name or an action
    for a terminated agent raises :class:`~marketenv.errors.InvalidActionError` (a
    ``ValueError``) naming the agent; orders refused by a market rule are reported in
    ``infos``.

    ## Observation Space

    Per learner, its ComprehensiveFeatures at the start of the tick, ``float32``:
    ``observation="scaled"`` (default) ``Box(-10, 10, (45,))`` (see
    :mod:`marketenv.observation`), ``"raw"`` ``Box(-inf, inf, (45,))``. With the default
    ``warmup_ticks=100`` no feature is NaN; ``observation="raw"`` also allows
    ``warmup_ticks=0``, where the first ticks have NaN features (the NaN policy of
    :mod:`marketenv.feature_spec`).

    ``state()`` is the global state for centralised critics: every learner's
    observation (dead ones included) concatenated in ``possible_agents`` order,
    ``state_space`` ``Box(.., (45 * K,), float32)``.

    ## Rewards

    Each learner's P&L change over the tick (equity = cash + positions marked at the
    mid, currency units); divided by its initial cash with ``normalize_reward=True``
    (agents without initial cash are not divided).

    ## Starting State

    ``reset(seed=s)`` builds the market from root seed ``s``; ``reset()`` draws the next
    market seed from a generator seeded by the last seed given (fresh entropy when none
    was ever given), as :class:`~marketenv.env.MarketEnv` does
    (:class:`~marketenv.env_common.EpisodeSeeds`). It then lets the crowd trade ``warmup_ticks`` ticks while the learner slots
    hold (with ``learners="all"`` the rule-based strategies drive every slot during the
    warm-up).

    ## Episode End

    Truncation for all learners after ``max_cycles`` ticks (default: the config's
    ticks). A learner whose equity falls to 0 or below is terminated and removed from
    ``env.agents``; its account stays in the market and it no longer acts. Stepping
    after the end raises :class:`~marketenv.errors.ResetNeeded` (a ``RuntimeError``).

    ## Infos

    Per learner, as :class:`~marketenv.env.MarketEnv`: ``tick`` (the tick now
    starting), the fill fields (``fill_quantity`` net signed, ``fill_price`` the VWAP of
    all fills, ``fill_buy_quantity``/``fill_buy_price``,
    ``fill_sell_quantity``/``fill_sell_price``, ``fees``; prices 0.0 where nothing
    filled), ``order_status`` and
    ``reject_reason`` (the fate of the orders placed this step), ``equity``, ``cash``
    and ``position`` after the step (the reset's infos have the same fields: nothing
    filled, ``order_status`` ``"none"``). ``env.last_trades`` holds every trade of the last
    step's tick and ``env.last_transition`` the whole tick.

    ## Driving every slot with raw order actions

    :meth:`step_array` takes every slot's ``(2, 3)`` order action
    (:mod:`marketenv.actions`) at once, crowd included. With ``learners="all",
    observation="raw", warmup_ticks=0``, ``env.rule_based_policies()`` (each slot's
    rule-based policy, seeded from the env's root) or the vectorised crowd
    ``env.simulation.crowd_actions(env.simulation.obs)`` driving
    ``step_array`` reproduce ``marketenv --headless`` with the same seed and config,
    trade for trade (use one of the two per episode: they share generators).

    Args:
        config: A :class:`Config`, a TOML path, or ``None`` for the default scenario.
        learners: ``K`` (the first ``K`` noise traders), a list of agent ids or names,
            or ``"all"``.
        action_mode: ``"discrete"``, ``"limit"`` or ``"order"``.
        observation: ``"scaled"`` or ``"raw"``.
        max_cycles: Ticks per episode.
        warmup_ticks: Ticks the crowd trades before the first observation (>= 100, or
            >= 0 with ``observation="raw"``).
        normalize_reward: Divide rewards by each learner's initial cash.
        order_size: Shares per discrete order.
        sizes: Order sizes of the limit and order modes.
        max_offset_ticks: Price-offset range of the limit and order modes, ticks.
        render_mode: Only ``None`` (render a learner with :class:`MarketEnv`).

    Raises:
        ValueError: An argument is out of range or a learner slot is unknown.
    """

    metadata = {"name": "marketenv_v0", "render_modes": [], "is_parallelizable": True}

    def __init__(
        self,
        config: Config | str | Path | None = None,
        learners: Learners = 1,
        action_mode: str = "discrete",
        observation: str = "scaled",
        max_cycles: int | None = None,
        warmup_ticks: int = 100,
        normalize_reward: bool = False,
        order_size: int = 10,
        sizes: tuple[int, ...] = (1, 5, 10, 50),
        max_offset_ticks: int = 10,
        render_mode: str | None = None,
    ) -> None:
        if render_mode is not None:
            raise UnsupportedRenderMode(
                f"render_mode {render_mode!r} is not supported by the parallel env; use None "
                "(MarketEnv renders one learner)"
            )
        self.observation = check_observation_mode(observation)
        self.warmup_ticks = check_warmup(warmup_ticks, observation)
        if max_cycles is not None and max_cycles < 1:
            raise ValueError(f"max_cycles must be >= 1 (got {max_cycles})")
        self.config = resolve_config(config)
        self.codec = codec = ActionCodec(
            action_mode, order_size, sizes, max_offset_ticks, self.config.market.max_order_quantity
        )
        self.action_mode = action_mode
        self.render_mode = render_mode
        self.max_cycles = int(max_cycles or self.config.simulation.ticks)
        self.normalize_reward = normalize_reward
        self.feature_names = FEATURE_NAMES
        probe = Simulation(self.config)
        self.specs = probe.specs
        n = probe.n_agents
        self._n = n
        self.learner_ids = resolve_learners(learners, probe)
        """Agent ids of the learner slots, ascending."""
        self._k = len(self.learner_ids)
        self._all_learn = self._k == n
        self.possible_agents = [self.specs[i].agent_name for i in self.learner_ids]
        self.agent_name_mapping = {name: i for name, i in zip(self.possible_agents, self.learner_ids, strict=True)}
        self._slot_of = {name: j for j, name in enumerate(self.possible_agents)}
        self.agents: list[str] = []
        self._view = LearnerView(probe, self.learner_ids, observation, codec.lot)
        self._obs_space = self._view.space
        bound = float(self._obs_space.high[0])
        self.state_space = spaces.Box(-bound, bound, (N_FEATURES * self._k,), np.float32)
        self._act_space = codec.space
        self._order_low = np.tile(np.array([0, 0, -MAX_OFFSET], dtype=np.int64), 2)
        self._order_high = np.tile(np.array([N_TYPES - 1, self.config.market.max_order_quantity, MAX_OFFSET]), 2)
        self._ids = np.array(self.learner_ids)
        cash0 = self._view.initial_cash
        self._reward_divisor = np.where(cash0 > 0, cash0, 1.0)
        self._sim: Simulation | None = None
        self._policies: dict[str, Policy] = {}
        self._seeds = EpisodeSeeds()
        self._alive = np.ones(self._k, dtype=bool)
        self._cycles = 0
        self.last_transition: Transition | None = None
        """The :class:`~marketenv.simulation.Transition` of the last step (for recorders)."""

    def _check_agent(self, agent: str) -> None:
        if agent not in self.agent_name_mapping:
            raise ValueError(f"{agent!r} is not an agent of this env (e.g. {self.possible_agents[0]!r})")

    def observation_space(self, agent: str) -> spaces.Space:
        """The agent's observation space (the same object for every agent)."""
        self._check_agent(agent)
        return self._obs_space

    def action_space(self, agent: str) -> spaces.Space:
        """The agent's action space (the same object for every agent)."""
        self._check_agent(agent)
        return self._act_space

    @property
    def simulation(self) -> Simulation:
        """The running simulation (after :meth:`reset`)."""
        if self._sim is None:
            raise ResetNeeded("no simulation yet; call reset() first")
        return self._sim

    @property
    def last_trades(self) -> list[Trade]:
        """Every trade of the last step's tick (every agent's), in execution order."""
        return self.last_transition.trades if self.last_transition is not None else []

    @property
    def alive(self) -> np.ndarray:
        """Which learners (in ``possible_agents`` order) are not terminated, a read-only bool view."""
        view = self._alive.view()
        view.flags.writeable = False
        return view

    def rule_based_policies(self) -> dict[str, Policy]:
        """Every slot's rule-based policy for the current episode, by agent name (after ``reset``).

        They act on raw features and return ``(2, 3)`` order actions, for :meth:`step_array`.
        """
        if self._sim is None:
            raise ResetNeeded("the policies are built by reset(); call reset() first")
        return dict(self._policies)

    def state(self) -> np.ndarray:
        """Every learner's observation concatenated (``state_space``), dead learners included."""
        return self._learner_obs().reshape(-1)

    def reset(self, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[dict[str, np.ndarray], dict[str, dict[str, Any]]]:
        """Start an episode; ``seed`` is the market's root seed (the seed rule of
        :class:`~marketenv.env_common.EpisodeSeeds`: ``None`` draws the next one)."""
        self._sim = sim = Simulation(self.config, seed=self._seeds.next(seed))
        self._policies = registry.make_policies(self.config, sim.specs, sim.generators.agents)
        self._alive = np.ones(self._k, dtype=bool)
        self.agents = list(self.possible_agents)
        self.last_transition = None
        # the crowd trades while the learner slots hold (with every slot learning, the
        # rule-based strategies drive them all)
        sim.run(self.warmup_ticks, hold=() if self._all_learn else self.learner_ids)
        self._view.start(sim)
        self._cycles = 0
        rows = self._learner_obs()
        infos = {a: reset_info(sim, i) for a, i in zip(self.agents, self.learner_ids, strict=True)}
        return dict(zip(self.agents, rows, strict=True)), infos

    def step(self, actions: dict[str, Any]) -> tuple[dict, dict, dict, dict, dict]:
        """Advance one tick with the given learners' actions (missing learners hold).

        Raises:
            InvalidActionError: An unknown or terminated agent, or an invalid action.
            ResetNeeded: The episode has ended or never started.
        """
        sim = self._sim
        if sim is None or not self.agents:
            raise ResetNeeded("step() called before reset() or after the episode ended; call reset()")
        if not isinstance(actions, dict):
            raise InvalidActionError(f"actions must be a dict of agent name -> action (got {type(actions).__name__})")
        # every slot learning: no policy is asked; else the learners' actions replace
        # their policies' (missing learners hold)
        acts: np.ndarray | dict[int, np.ndarray] = (
            np.zeros((self._n, *ACTION_SHAPE), dtype=np.int64)
            if self._all_learn
            else dict.fromkeys(self.learner_ids, _HOLD)
        )
        mapping = self.agent_name_mapping
        order = self.codec.order
        for name, a in actions.items():
            i = mapping.get(name)
            if i is None:
                raise InvalidActionError(
                    f"{name!r} is not an agent of this env (agents are named like {self.possible_agents[0]!r})"
                )
            if not self._alive[self._slot_of[name]]:
                raise InvalidActionError(f"{name}: agent is terminated and cannot act")
            acts[i] = order(a, name)
        return self._finish(self._advance(acts))

    def step_array(self, actions: np.ndarray | None) -> tuple[np.ndarray, np.ndarray, np.ndarray, bool]:
        """Batched step of every slot with raw order actions (the crowd's too).

        For drivers that hold every slot's action in one array (a vectorised crowd,
        ``marketenv --headless-record``). Slots are rows in agent-id order; rows of
        terminated learners are ignored.

        Args:
            actions: ``(n_agents, 2, 3)`` integer order actions (:mod:`marketenv.actions`),
                or ``None``: every slot acts by its config strategy (exactly the actions
                ``simulation.crowd_actions(simulation.obs)`` gives, decided inside the
                compiled tick).

        Returns:
            ``(obs, rewards, terminated, truncated)`` over every slot: next raw features
            ``(n_agents, F)`` (a copy), rewards ``(n_agents,)``, which learner slots were
            terminated by this step ``(n_agents,)`` bool, and whether the episode was
            truncated.

        Raises:
            InvalidActionError: Wrong shape or dtype, or a value outside the order
                action's range (naming the first offending agent).
            ResetNeeded: The episode has ended or never started.
        """
        sim = self._sim
        if sim is None or not self.agents:
            raise ResetNeeded("step_array() called before reset() or after the episode ended; call reset()")
        if actions is None:
            return self._step_rows({})
        names = [s.agent_name for s in self.specs]
        try:
            a = np.asarray(actions)
        except ValueError:  # a ragged nesting of lists
            raise InvalidActionError(
                f"actions must be a regular ({self._n}, 2, 3) array (got a ragged nesting of lists):"
                " one row per agent, in id order"
            ) from None
        if a.shape != (self._n, *ACTION_SHAPE):
            raise InvalidActionError(f"actions shape {a.shape} must be ({self._n}, 2, 3): one row per agent, in id order")
        if a.dtype != np.int64:
            a = _coerce(names, list(a), a)
        flat = a.reshape(self._n, _FLAT)
        bad = ((flat < self._order_low) | (flat > self._order_high)).any(axis=1)
        if bad.any():
            j = int(np.argmax(bad))
            raise InvalidActionError(
                f"{names[j]}: action {flat[j].reshape(ACTION_SHAPE).tolist()} is outside the order action's range "
                f"(type 0..{N_TYPES - 1}, quantity 0..{self._order_high[1]}, offset -{MAX_OFFSET}..{MAX_OFFSET})"
            )
        return self._step_rows(a.copy())

    def _step_rows(self, acts: np.ndarray | dict[int, np.ndarray]) -> tuple[np.ndarray, np.ndarray, np.ndarray, bool]:
        sim = self.simulation
        was = self._alive.copy()
        tr = self._advance(acts)
        truncated = self._finish(tr, dicts=False)
        reward = tr.rewards
        if self.normalize_reward:
            reward = reward.copy()
            reward[self._ids] /= self._reward_divisor
        dead = np.zeros(self._n, dtype=bool)
        dead[self._ids] = was & ~self._alive
        return sim.obs.copy(), reward, dead, truncated

    def close(self) -> None:
        """Drop the simulation."""
        self._sim = None
        self.agents = []

    # ------------------------------------------------------------ helpers
    def _learner_obs(self) -> np.ndarray:
        return self._view(self.simulation.obs)

    def _advance(self, acts: np.ndarray | dict[int, np.ndarray]) -> Transition:
        """Run the tick with these actions (terminated learners hold) and start the next."""
        sim = self.simulation
        if not self._alive.all():
            for i in self._ids[~self._alive].tolist():
                acts[i] = _HOLD
        tr = sim.step(acts)
        self.last_transition = tr
        return tr

    def _finish(self, tr: Transition, dicts: bool = True) -> Any:
        """Count the cycle, terminate bankrupt learners; the PettingZoo dicts (or just truncation)."""
        self._cycles += 1
        truncated = self._cycles >= self.max_cycles
        live = np.flatnonzero(self._alive)
        agents = self.agents
        ids = self._ids
        equity = tr.equity_after[ids]
        dead = live[equity[live] <= 0]
        out = None
        if dicts:
            rows = self._learner_obs()
            reward = tr.rewards[ids]
            if self.normalize_reward:
                reward = reward / self._reward_divisor
            obs = {a: rows[j] for a, j in zip(agents, live.tolist(), strict=True)}
            rewards = dict(zip(agents, reward[live].tolist(), strict=True))
            terms = dict.fromkeys(agents, False)
            for j in dead.tolist():
                terms[self.possible_agents[j]] = True
            truncs = dict.fromkeys(agents, truncated)
            out = obs, rewards, terms, truncs, self._infos(tr, agents, live)
        if dead.size:
            self._alive[dead] = False
            self.agents = [self.possible_agents[j] for j in np.flatnonzero(self._alive).tolist()]
        if truncated:
            self.agents = []
        return out if dicts else truncated

    def _infos(self, tr: Transition, agents: list[str], live: np.ndarray) -> dict[str, dict[str, Any]]:
        ids = [self.learner_ids[j] for j in live.tolist()]
        return dict(zip(agents, step_infos(tr, ids), strict=True))


def _coerce(names: list[str], values: list[Any], arr: np.ndarray) -> np.ndarray:
    """``values`` as one ``(k, 2, 3)`` int64 array, or an error naming the first bad agent."""
    kind = arr.dtype.kind
    if kind == "f":
        flat = arr.reshape(len(names), _FLAT)
        bad = ~np.isfinite(flat).all(axis=1)
        if bad.any():
            j = int(np.argmax(bad))
            raise InvalidActionError(f"{names[j]}: action {np.asarray(values[j]).tolist()} contains NaN or inf")
        bad = ~(flat == np.round(flat)).all(axis=1)
        if bad.any():
            j = int(np.argmax(bad))
            raise InvalidActionError(f"{names[j]}: action {np.asarray(values[j]).tolist()} must be integer-valued")
    elif kind not in "iu":
        raise InvalidActionError(f"action dtype {arr.dtype} must be an integer type")
    if kind == "u" and arr.dtype.itemsize == 8 and (arr > np.iinfo(np.int64).max).any():
        j = int(np.argmax((arr > np.iinfo(np.int64).max).reshape(len(names), -1).any(axis=1)))
        raise InvalidActionError(f"{names[j]}: action {np.asarray(values[j]).tolist()} is outside the action space")
    return arr.astype(np.int64)


def parallel_env(**kwargs: Any) -> MarketParallelEnv:
    """The PettingZoo parallel env of the market (keyword arguments as :class:`MarketParallelEnv`)."""
    return MarketParallelEnv(**kwargs)
