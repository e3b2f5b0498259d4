"""The multi-agent market as a PettingZoo ``ParallelEnv``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from gymnasium import spaces
from pettingzoo import ParallelEnv

from agents.base import RuleBasedAgent
from agents.registry import make_policies
from marketenv.actions import ACTION_SHAPE, MAX_OFFSET, N_TYPES
from marketenv.config import Config
from marketenv.env import STATUS_NAMES, resolve_config
from marketenv.errors import InvalidActionError, ResetNeeded
from marketenv.feature_spec import FEATURE_INDEX, FEATURE_NAMES, N_FEATURES
from marketenv.simulation import Simulation, Transition
from marketenv.types import TICKS_PER_UNIT, Trade

_POS = FEATURE_INDEX["position"]
_CASH = FEATURE_INDEX["cash"]
_FLAT = ACTION_SHAPE[0] * ACTION_SHAPE[1]


class MarketParallelEnv(ParallelEnv):
    """Every market participant is an agent with its own observation, action and reward.

    Agents are named as in the config (``MarketMaker_00``, ``NoiseTrader_03``, ...), in
    agent-id order. One step is one market tick; actions execute in the market's seeded
    random agent order.

    ## Action Space

    Per agent, an order action: ``Box`` of ``int64``, shape ``(2, 3)``, rows buy/sell,
    columns ``[type, quantity, offset]`` (see :mod:`marketenv.actions`): type in 0..4,
    quantity in ``0..max_order_quantity``, offset in ``-10000..10000`` ticks from the
    reference price. An agent missing from the action dict holds. An action outside the
    space (or NaN, non-integer, of another dtype or shape), an unknown agent name or an
    action for a terminated agent raises :class:`~marketenv.errors.InvalidActionError`
    (a ``ValueError``) naming the agent and the problem; orders refused by a market rule
    are reported in ``infos`` instead.

    ## Observation Space

    Per agent, ``Box(-inf, inf, (45,), float64)``: its ComprehensiveFeatures vector at the
    start of the tick. During the first ticks some features are NaN (the NaN policy of
    :mod:`marketenv.feature_spec`); pass ``warmup_ticks=100`` to let the rule-based
    crowd trade 100 ticks first so that no observation has NaN.

    ## Rewards

    Each agent's P&L change over the tick (equity = cash + positions marked at the mid,
    currency units); divided by its initial cash with ``normalize_reward=True`` (agents
    without initial cash are not divided).

    ## Episode End

    Truncation for all agents after ``max_cycles`` ticks (default: the config's ticks).
    An agent whose equity falls to 0 or below is terminated and removed from
    ``env.agents``; its account stays in the market and it no longer acts. Stepping
    after the end raises :class:`~marketenv.errors.ResetNeeded` (a ``RuntimeError``).

    ## Infos

    Per agent, as :class:`~marketenv.env.MarketEnv`: ``tick`` (the tick now starting),
    the fill fields (``fill_quantity`` net signed, ``fill_price`` the VWAP of all fills,
    ``fill_buy_quantity``/``fill_buy_price``, ``fill_sell_quantity``/``fill_sell_price``,
    ``fees``; prices 0.0 where nothing filled), ``order_status`` and
    ``reject_reason`` (the fate of the orders placed this step), ``equity``, ``cash``
    and ``position`` after the step. ``env.last_trades`` holds every trade of the last
    step's tick and ``env.last_transition`` the whole tick.

    ## Reproducing the headless run

    ``env.rule_based_policies()`` returns each agent's rule-based policy, seeded from the
    same root as the env. Driving every agent with them,
    ``actions = {a: policies[a].predict(obs[a])[0] for a in env.agents}``, reproduces
    ``marketenv --headless`` with the same seed and config, trade for trade. So does the
    vectorised driver ``acts = env.simulation.crowd_actions(env.simulation.features.obs)``
    with ``dict(zip(env.possible_agents, acts))``. The two draw from the same per-agent
    generators, so use one of them per episode (``warmup_ticks`` uses the policies).

    Args:
        config: A :class:`Config`, a TOML path, or ``None`` for the default scenario.
        max_cycles: Ticks per episode.
        warmup_ticks: Ticks the rule-based crowd trades before the first observation.
        normalize_reward: Divide rewards by each agent's initial cash.
        render_mode: Only ``None`` is supported.
    """

    metadata = {"name": "marketenv_parallel_v0", "render_modes": [], "is_parallelizable": True}

    def __init__(
        self,
        config: Config | str | Path | None = None,
        max_cycles: int | None = None,
        warmup_ticks: int = 0,
        normalize_reward: bool = False,
        render_mode: str | None = None,
    ) -> None:
        if render_mode is not None:
            raise ValueError(f"render_mode {render_mode!r} is not supported; use None")
        if warmup_ticks < 0:
            raise ValueError(f"warmup_ticks must be >= 0 (got {warmup_ticks})")
        if max_cycles is not None and max_cycles < 1:
            raise ValueError(f"max_cycles must be >= 1 (got {max_cycles})")
        self.config = resolve_config(config)
        self.render_mode = render_mode
        self.max_cycles = int(max_cycles or self.config.simulation.ticks)
        self.warmup_ticks = int(warmup_ticks)
        self.normalize_reward = normalize_reward
        self.feature_names = FEATURE_NAMES
        probe = Simulation(self.config)
        self.specs = probe.specs
        self.possible_agents = [s.agent_name for s in self.specs]
        self.agent_name_mapping = {name: i for i, name in enumerate(self.possible_agents)}
        self.agents: list[str] = []
        n = len(self.possible_agents)
        self._n = n
        self._all_ids = list(range(n))
        self._max_qty = self.config.market.max_order_quantity
        self._obs_space = spaces.Box(-np.inf, np.inf, (N_FEATURES,), np.float64)
        low = np.tile(np.array([0, 0, -MAX_OFFSET], dtype=np.int64), (2, 1))
        high = np.tile(np.array([N_TYPES - 1, self._max_qty, MAX_OFFSET], dtype=np.int64), (2, 1))
        self._act_space = spaces.Box(low, high, ACTION_SHAPE, np.int64)
        self._low, self._high = low.reshape(_FLAT), high.reshape(_FLAT)
        cash0 = np.asarray(probe.market.initial_cash, dtype=np.float64) / TICKS_PER_UNIT
        self._reward_divisor = np.where(cash0 > 0, cash0, 1.0)
        self._sim: Simulation | None = None
        self._policies: dict[str, RuleBasedAgent] = {}
        self._next_seed = self.config.simulation.seed
        self._alive = np.ones(n, dtype=bool)
        self._live_ids: list[int] = []
        self._cycles = 0
        self.last_transition: Transition | None = None
        """The :class:`~marketenv.simulation.Transition` of the last step (for recorders)."""
        self.last_trades: list[Trade] = []
        """Every trade of the last step's tick, in execution order."""

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
    def alive(self) -> np.ndarray:
        """Which agents (by id) are not terminated, a read-only ``(n_agents,)`` bool view."""
        view = self._alive.view()
        view.flags.writeable = False
        return view

    def rule_based_policies(self) -> dict[str, RuleBasedAgent]:
        """Each agent's rule-based policy for the current episode (valid after ``reset``)."""
        if self._sim is None:
            raise ResetNeeded("the policies are built by reset(); call reset() first")
        return dict(self._policies)

    def reset(self, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[dict[str, np.ndarray], dict[str, dict[str, Any]]]:
        """Start an episode. ``seed=None`` uses the config's seed, then seed + 1, ..."""
        if seed is None:
            seed = self._next_seed
        self._next_seed = int(seed) + 1
        self._sim = sim = Simulation(self.config, seed=int(seed))
        self._policies = policies = make_policies(self.config, sim.specs, sim.generators.agents)
        self._alive = np.ones(sim.n_agents, dtype=bool)
        self._live_ids = list(self._all_ids)
        self.agents = list(self.possible_agents)
        self.last_transition = None
        self.last_trades = []
        sim.begin_tick()
        for _ in range(self.warmup_ticks):
            rows = sim.features.obs
            acts = np.stack([policies[a].predict(row)[0] for a, row in zip(self.agents, rows, strict=True)])
            self._advance(acts)
        self._cycles = 0
        return self._obs_dict(sim.features.obs.copy()), {a: {"tick": sim.tick} for a in self.agents}

    def step(self, actions: dict[str, Any]) -> tuple[dict, dict, dict, dict, dict]:
        """Advance one tick with the given agents' actions (missing agents hold).

        Raises:
            InvalidActionError: An unknown or terminated agent, or an invalid action.
            ResetNeeded: The episode has ended or never started.
        """
        sim = self._sim
        if sim is None or not self.agents:
            raise ResetNeeded("step() called before reset() or after the episode ended; call reset()")
        tr = self._advance(self._stack(actions))
        self._cycles += 1
        truncated = self._cycles >= self.max_cycles
        agents = self.agents
        ids = self._live_ids
        rows = sim.features.obs.copy()
        reward = tr.rewards
        if self.normalize_reward:
            reward /= self._reward_divisor
        equity = tr.equity_after
        all_alive = len(ids) == self._n
        if all_alive:
            obs = dict(zip(agents, rows, strict=True))
            rewards = dict(zip(agents, reward.tolist(), strict=True))
            dead = np.flatnonzero(equity <= 0).tolist()
        else:
            obs = {a: rows[i] for a, i in zip(agents, ids, strict=True)}
            rewards = dict(zip(agents, reward[ids].tolist(), strict=True))
            dead = [ids[k] for k in np.flatnonzero(equity[ids] <= 0).tolist()]
        terms = dict.fromkeys(agents, False)
        truncs = dict.fromkeys(agents, truncated)
        infos = self._infos(tr, rows, agents, ids)
        if dead:
            names = self.possible_agents
            for i in dead:
                terms[names[i]] = True
                self._alive[i] = False
            self._live_ids = ids = np.flatnonzero(self._alive).tolist()
            self.agents = [names[i] for i in ids]
        if truncated:
            self.agents = []
        return obs, rewards, terms, truncs, infos

    def step_array(self, actions: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, bool]:
        """Batched step without per-agent dicts: the same tick as :meth:`step`.

        For drivers that hold every agent's action in one array (a vectorised crowd,
        ``marketenv --headless-record``). Agents are rows in id order
        (``possible_agents``); rows of terminated agents are ignored.

        Args:
            actions: ``(n_agents, 2, 3)`` integer order actions.

        Returns:
            ``(obs, rewards, terminated, truncated)``: next observations ``(n_agents, F)``
            (a copy), rewards ``(n_agents,)``, which agents were terminated by this step
            ``(n_agents,)`` bool, and whether the episode was truncated.

        Raises:
            InvalidActionError: Wrong shape or dtype, or a value outside the action space
                (naming the first offending agent).
            ResetNeeded: The episode has ended or never started.
        """
        sim = self._sim
        if sim is None or not self.agents:
            raise ResetNeeded("step_array() called before reset() or after the episode ended; call reset()")
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
            a = self._coerce(self.possible_agents, list(a), a)
        flat = a.reshape(self._n, _FLAT)
        if (flat < self._low).any() or (flat > self._high).any():
            j = int(np.argmax(((flat < self._low) | (flat > self._high)).any(axis=1)))
            raise InvalidActionError(
                f"{self.possible_agents[j]}: action {flat[j].reshape(ACTION_SHAPE).tolist()} is outside the action space"
            )
        tr = self._advance(a.copy())
        self._cycles += 1
        truncated = self._cycles >= self.max_cycles
        reward = tr.rewards
        if self.normalize_reward:
            reward = reward / self._reward_divisor
        dead = (tr.equity_after <= 0) & self._alive
        if dead.any():
            self._alive &= ~dead
            self._live_ids = np.flatnonzero(self._alive).tolist()
            self.agents = [self.possible_agents[i] for i in self._live_ids]
        if truncated:
            self.agents = []
        return sim.features.obs.copy(), reward, dead, truncated

    def close(self) -> None:
        """Drop the simulation."""
        self._sim = None
        self.agents = []

    # ------------------------------------------------------------ helpers
    def _obs_dict(self, rows: np.ndarray) -> dict[str, np.ndarray]:
        return {a: rows[i] for a, i in zip(self.agents, self._live_ids, strict=True)}

    def _infos(self, tr: Transition, rows: np.ndarray, agents: list[str], ids: list[int]) -> dict[str, dict[str, Any]]:
        tick = tr.tick + 1
        eq = tr.equity_after.tolist()
        pos = rows[:, _POS].tolist()
        cash = rows[:, _CASH].tolist()
        outcomes = tr.outcomes
        status = STATUS_NAMES
        infos = {}
        for a, i in zip(agents, ids, strict=True):
            o = outcomes[i]
            sb = o.status_buy
            infos[a] = {
                "tick": tick,
                **tr.fill_infos[i],
                "order_status": status[sb if sb != -1 else o.status_sell],
                "reject_reason": o.reason,
                "equity": eq[i],
                "cash": cash[i],
                "position": int(pos[i]),
            }
        return infos

    def _advance(self, acts: np.ndarray) -> Transition:
        """Execute ``(n_agents, 2, 3)`` actions (terminated agents hold) and start the next tick."""
        sim = self.simulation
        if len(self._live_ids) != self._n:
            acts[~self._alive] = 0
        trades = sim.market.trades  # the list this tick's trades are appended to
        tr = sim.advance(acts)
        self.last_transition = tr
        self.last_trades = trades
        return tr

    def _stack(self, actions: dict[str, Any]) -> np.ndarray:
        """Validate the action dict and return the ``(n_agents, 2, 3)`` int64 actions."""
        n = self._n
        if not isinstance(actions, dict):
            raise InvalidActionError(f"actions must be a dict of agent name -> action (got {type(actions).__name__})")
        if not actions:
            return np.zeros((n, *ACTION_SHAPE), dtype=np.int64)
        mapping = self.agent_name_mapping
        names = list(actions)
        try:
            idx = [mapping[a] for a in names]
        except KeyError:
            bad = next(a for a in names if a not in mapping)
            raise InvalidActionError(
                f"{bad!r} is not an agent of this env (agents are named like {self.possible_agents[0]!r})"
            ) from None
        if len(self._live_ids) != n:
            for a, i in zip(names, idx, strict=True):
                if not self._alive[i]:
                    raise InvalidActionError(f"{a}: agent is terminated and cannot act")
        values = list(actions.values())
        k = len(values)
        try:
            arr = np.asarray(values)  # always a fresh array: the env may modify it
        except ValueError:
            arr = None
        if arr is None or arr.dtype != np.int64 or arr.shape != (k, *ACTION_SHAPE):
            arr = self._coerce(names, values, arr)
        flat = arr.reshape(k, _FLAT)
        if (flat < self._low).any() or (flat > self._high).any():
            j = int(np.argmax(((flat < self._low) | (flat > self._high)).any(axis=1)))
            raise InvalidActionError(
                f"{names[j]}: action {flat[j].reshape(ACTION_SHAPE).tolist()} is outside the action space "
                f"(type 0..{N_TYPES - 1}, quantity 0..{self._max_qty}, offset -{MAX_OFFSET}..{MAX_OFFSET})"
            )
        if idx == self._all_ids:  # every agent, in id order
            return arr
        acts = np.zeros((n, *ACTION_SHAPE), dtype=np.int64)
        acts[idx] = arr
        return acts

    @staticmethod
    def _coerce(names: list[str], values: list[Any], arr: np.ndarray | None) -> np.ndarray:
        """``values`` as one ``(k, 2, 3)`` int64 array, or an error naming the first bad agent."""
        if arr is None or arr.shape != (len(values), *ACTION_SHAPE):
            for a, v in zip(names, values, strict=True):
                try:
                    shape = np.shape(v)
                except ValueError:
                    raise InvalidActionError(
                        f"{a}: action is a ragged nesting of lists; it must be an array of shape {ACTION_SHAPE}"
                    ) from None
                if shape != ACTION_SHAPE:
                    raise InvalidActionError(f"{a}: action shape {shape} must be {ACTION_SHAPE}")
            raise InvalidActionError(f"actions must be arrays of shape {ACTION_SHAPE}")  # pragma: no cover
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
            for a, v in zip(names, values, strict=True):
                dt = np.asarray(v).dtype
                if dt.kind not in "iuf":
                    raise InvalidActionError(f"{a}: action dtype {dt} must be an integer type")
            raise InvalidActionError(f"action dtype {arr.dtype} must be an integer type")  # pragma: no cover
        if kind == "u" and arr.dtype.itemsize == 8 and (arr > np.iinfo(np.int64).max).any():
            j = int(np.argmax((arr > np.iinfo(np.int64).max).reshape(len(names), -1).any(axis=1)))
            raise InvalidActionError(f"{names[j]}: action {np.asarray(values[j]).tolist()} is outside the action space")
        return arr.astype(np.int64)


def parallel_env(**kwargs: Any) -> MarketParallelEnv:
    """The PettingZoo parallel env of the market (keyword arguments as :class:`MarketParallelEnv`)."""
    return MarketParallelEnv(**kwargs)
