"""The multi-agent market as a PettingZoo ``ParallelEnv``."""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

import numpy as np
from gymnasium import spaces
from pettingzoo import ParallelEnv

from agents.base import RuleBasedAgent
from agents.registry import make_policies
from marketenv.actions import ACTION_SHAPE, MAX_OFFSET, N_TYPES
from marketenv.config import Config
from marketenv.env import outcome_info, resolve_config
from marketenv.errors import InvalidActionError, ResetNeeded
from marketenv.feature_spec import FEATURE_NAMES, N_FEATURES
from marketenv.simulation import Simulation, Transition


class MarketParallelEnv(ParallelEnv):
    """Every market participant is an agent with its own observation, action and reward.

    Agents are named as in the config (``MarketMaker_00``, ``NoiseTrader_03``, ...), in
    agent-id order. One step is one market tick; actions execute in the market's seeded
    random agent order.

    ## Action Space

    Per agent, an order action: ``Box`` of ``int64``, shape ``(2, 3)``, rows buy/sell,
    columns ``[type, quantity, offset]`` (see :mod:`marketenv.actions`): type in 0..4,
    quantity in ``0..max_order_quantity``, offset in ``-10000..10000`` ticks from the
    reference price. An agent missing from the action dict holds.

    ## Observation Space

    Per agent, ``Box(-inf, inf, (45,), float64)``: its ComprehensiveFeatures vector.
    During the first ticks some features are NaN (the NaN policy of
    :mod:`marketenv.feature_spec`); pass ``warmup_ticks=100`` to let the rule-based
    crowd trade 100 ticks first so that no observation has NaN.

    ## Rewards

    Each agent's P&L change over the tick, marked at the mid (currency units); divided by
    its initial cash with ``normalize_reward=True``.

    ## Episode End

    Truncation for all agents after ``max_cycles`` ticks (default: the config's ticks).
    An agent whose equity falls to 0 or below is terminated and removed; its account
    stays in the market and it no longer acts.

    ## Reproducing the headless run

    ``env.rule_based_policies()`` returns each agent's rule-based policy, seeded from the
    same root as the env. Driving every agent with them,
    ``actions = {a: policies[a].predict(obs[a])[0] for a in env.agents}``, reproduces
    ``marketenv --headless`` with the same seed and config, trade for trade.

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
        self._max_qty = self.config.market.max_order_quantity
        self._obs_space = spaces.Box(-np.inf, np.inf, (N_FEATURES,), np.float64)
        low = np.tile(np.array([0, 0, -MAX_OFFSET], dtype=np.int64), (2, 1))
        high = np.tile(np.array([N_TYPES - 1, self._max_qty, MAX_OFFSET], dtype=np.int64), (2, 1))
        self._act_space = spaces.Box(low, high, ACTION_SHAPE, np.int64)
        self._initial_cash = np.asarray(probe.market.initial_cash, dtype=np.float64) / 100.0
        self._sim: Simulation | None = None
        self._policies: dict[str, RuleBasedAgent] = {}
        self._next_seed = self.config.simulation.seed
        self.last_transition: Transition | None = None
        """The :class:`~marketenv.simulation.Transition` of the last step (for recorders)."""

    @functools.lru_cache(maxsize=None)  # noqa: B019 - PettingZoo wants the same object back
    def observation_space(self, agent: str) -> spaces.Space:
        return self._obs_space

    @functools.lru_cache(maxsize=None)  # noqa: B019
    def action_space(self, agent: str) -> spaces.Space:
        return self._act_space

    @property
    def simulation(self) -> Simulation:
        """The running simulation (after :meth:`reset`)."""
        if self._sim is None:
            raise ResetNeeded("call reset() first")
        return self._sim

    def rule_based_policies(self) -> dict[str, RuleBasedAgent]:
        """Each agent's rule-based policy for the current episode (valid after ``reset``)."""
        return dict(self._policies)

    def reset(self, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[dict[str, np.ndarray], dict[str, dict[str, Any]]]:
        """Start an episode. ``seed=None`` uses the config's seed, then seed + 1, ..."""
        if seed is None:
            seed = self._next_seed
        self._next_seed = int(seed) + 1
        self._sim = sim = Simulation(self.config, seed=int(seed))
        self._policies = make_policies(self.config, sim.specs, sim.generators.agents)
        self._alive = np.ones(sim.n_agents, dtype=bool)
        self.agents = list(self.possible_agents)
        self._obs = sim.begin_tick()
        for _ in range(self.warmup_ticks):
            obs = self._obs_dict()
            acts = {a: self._policies[a].predict(obs[a])[0] for a in self.agents}
            self._step_arrays(self._stack(acts))
        self._cycles = 0
        return self._obs_dict(), {a: {"tick": sim.tick} for a in self.agents}

    def _obs_dict(self) -> dict[str, np.ndarray]:
        rows = self._obs.copy()
        return {a: rows[self.agent_name_mapping[a]] for a in self.agents}

    def _stack(self, actions: dict[str, Any]) -> np.ndarray:
        n = len(self.possible_agents)
        acts = np.zeros((n, *ACTION_SHAPE), dtype=np.int64)
        if not actions:
            return acts
        names = list(actions)
        idx = []
        for a in names:
            i = self.agent_name_mapping.get(a)
            if i is None:
                raise InvalidActionError(f"{a!r} is not an agent of this env")
            if not self._alive[i]:
                raise InvalidActionError(f"{a}: agent is terminated and cannot act")
            idx.append(i)
        try:
            arr = np.asarray([actions[a] for a in names])
        except ValueError:
            arr = None
        if arr is None or arr.shape != (len(names), *ACTION_SHAPE):
            for a in names:
                if np.shape(actions[a]) != ACTION_SHAPE:
                    raise InvalidActionError(f"{a}: action shape {np.shape(actions[a])} must be {ACTION_SHAPE}")
        assert arr is not None
        if arr.dtype.kind == "f":
            bad = ~np.isfinite(arr).all(axis=(1, 2)) | ~(arr == np.round(arr)).all(axis=(1, 2))
            if bad.any():
                a = names[int(np.argmax(bad))]
                raise InvalidActionError(f"{a}: action {np.asarray(actions[a]).tolist()} has NaN, inf or non-integer values")
        elif arr.dtype.kind not in "iu":
            raise InvalidActionError(f"{names[0]}: action dtype {arr.dtype} must be an integer type")
        arr = arr.astype(np.int64)
        low, high = self._act_space.low, self._act_space.high
        bad = ((arr < low) | (arr > high)).any(axis=(1, 2))
        if bad.any():
            a = names[int(np.argmax(bad))]
            raise InvalidActionError(
                f"{a}: action {arr[int(np.argmax(bad))].tolist()} is outside the action space "
                f"(type 0..{N_TYPES - 1}, quantity 0..{self._max_qty}, offset -{MAX_OFFSET}..{MAX_OFFSET})"
            )
        acts[np.array(idx)] = arr
        return acts

    def _step_arrays(self, acts: np.ndarray) -> tuple[np.ndarray, list]:
        sim = self.simulation
        acts[~self._alive] = 0
        tr = sim.advance(acts)
        self._obs = sim.features.obs
        self.last_transition = tr
        reward = tr.rewards
        if self.normalize_reward:
            reward = reward / np.maximum(self._initial_cash, 1e-9)
        self._reward = reward
        return reward, tr.outcomes

    def step(self, actions: dict[str, Any]) -> tuple[dict, dict, dict, dict, dict]:
        """Advance one tick with the given agents' actions."""
        if self._sim is None or not self.agents:
            raise ResetNeeded("step() called before reset() or after the episode ended; call reset()")
        acts = self._stack(actions)
        reward, outcomes = self._step_arrays(acts)
        self._cycles += 1
        sim = self._sim
        equity = sim.features.equity
        truncated = self._cycles >= self.max_cycles
        tr = self.last_transition
        fill_price = tr.fill_price
        obs = self._obs_dict()
        rewards, terms, truncs, infos = {}, {}, {}, {}
        for a in self.agents:
            i = self.agent_name_mapping[a]
            rewards[a] = float(reward[i])
            dead = bool(equity[i] <= 0)
            terms[a] = dead
            truncs[a] = truncated
            info = {
                "tick": tr.tick,
                "fill_quantity": int(tr.fill_quantity[i]),
                "fill_price": float(fill_price[i]),
                "equity": float(equity[i]),
            }
            info.update(outcome_info(outcomes[i]))
            infos[a] = info
            if dead:
                self._alive[i] = False
        self.agents = [a for a in self.agents if not (terms[a] or truncs[a])]
        return obs, rewards, terms, truncs, infos

    def close(self) -> None:
        self._sim = None


def parallel_env(**kwargs: Any) -> MarketParallelEnv:
    """The PettingZoo parallel env of the market (keyword arguments as :class:`MarketParallelEnv`)."""
    return MarketParallelEnv(**kwargs)
