"""``MarketEnv``: one learning agent against the rule-based crowd (Gymnasium)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from marketenv.action_modes import ActionCodec
from marketenv.batch import Parallel
from marketenv.config import Config
from marketenv.env_common import (
    STATUS_NAMES,
    EpisodeSeeds,
    LearnerBatch,
    LearnerView,
    check_warmup,
    reset_info,
    resolve_agent,
    resolve_config,
    step_infos,
)
from marketenv.errors import ResetNeeded
from marketenv.feature_spec import FEATURE_NAMES
from marketenv.observation import check_observation_mode
from marketenv.render import RENDER_MODES, History, ansi_view, check_render_mode, rgb_frame
from marketenv.simulation import Simulation, Transition
from marketenv.types import Trade

__all__ = ["STATUS_NAMES", "MarketEnv", "resolve_config"]


class MarketEnv(gym.Env):
    """One learning agent trading against the rule-based crowd of a config.

    The learner takes over one agent slot of the config (``agent``); every other slot is
    driven by its rule-based strategy. One step is one market tick: the crowd and the
    learner act in the market's seeded random order, then the tick ends and the next one
    starts (the returned observation is the state at the start of the next tick).

    ## Action Space

    ``action_mode="discrete"`` (default): ``Discrete(3)``:

    | Num | Action |
    |-----|--------|
    | 0 | sell ``order_size`` shares at market |
    | 1 | hold (resting orders stay) |
    | 2 | buy ``order_size`` shares at market |

    ``action_mode="limit"``: ``MultiDiscrete([3, len(sizes), 2 * max_offset_ticks + 1])``
    = (side: 0 sell / 1 hold / 2 buy, index into ``sizes``, price-offset index). The
    order is a good-till-cancelled limit order of ``sizes[index]`` shares at
    ``reference + (offset_index - max_offset_ticks)`` ticks (``reference`` = ``floor`` of
    the mid, one tick = 0.01) that replaces the learner's resting orders on that side; a
    limit price through the opposite best quote trades at once. Hold leaves resting
    orders alone.

    ``action_mode="order"``: both sides at once, ``MultiDiscrete([N_TYPES, len(sizes),
    2 * max_offset_ticks + 1] * 2)`` (type, size index, offset index for the buy side,
    then the sell side; see :mod:`marketenv.action_modes`).

    Actions are integers: Python or NumPy integer scalars, integer arrays (``()`` or
    ``(1,)`` for discrete, ``(3,)`` for limit), or integer-valued floats. Anything else
    (out of range, NaN, non-integer, another dtype or shape) raises
    :class:`~marketenv.errors.InvalidActionError` (a ``ValueError``) naming the agent and
    the problem. Orders that break a market rule (position limit, cash) are not errors:
    they are rejected by the market and reported in ``info``.

    ## Observation Space

    The ComprehensiveFeatures vector of the learner at the start of the tick (names in
    ``env.unwrapped.feature_names``, definitions in :mod:`marketenv.feature_spec`), in
    one of two views:

    * ``observation="scaled"`` (default): ``Box(-10, 10, (45,), float32)``, every feature
      made dimensionless and clipped (prices relative to the mid, money relative to the
      learner's initial capital, see :mod:`marketenv.observation`), so that PPO learns
      without ``VecNormalize``;
    * ``observation="raw"``: ``Box(-inf, inf, (45,), float32)``, the features in their
      own units (currency, percent, shares).

    With the default ``warmup_ticks=100`` no feature is NaN (see Starting State).

    ## Rewards

    The learner's P&L change over the step: equity after the tick minus equity before
    it, equity being cash plus position marked at the mid (currency units, fees and
    slippage included). With ``normalize_reward=True`` divided by the learner's initial
    cash. Without normalisation the rewards of an episode sum to the change of
    ``info["equity"]``.

    ## Starting State

    ``reset(seed=s)`` builds the market from root seed ``s`` (the market of
    ``Simulation(config, seed=s)``); ``reset()`` draws the next market seed from a
    generator seeded by the last seed given (fresh entropy when none was ever given):
    the seed rule of :class:`~marketenv.env_common.EpisodeSeeds`, shared with the
    PettingZoo env. The crowd then trades ``warmup_ticks`` (>= 100) ticks while the
    learner's slot holds. The learner starts
    with its config group's initial cash and position and no resting order.

    ## Episode End

    * Termination: the learner is bankrupt, its equity is <= 0 after a step (possible
      when it trades on little cash, e.g. short selling into a rising market).
    * Truncation: after ``max_episode_steps`` steps (default: the config's
      ``simulation.ticks``). ``gym.make(..., max_episode_steps=n)`` adds Gymnasium's
      ``TimeLimit`` as usual.

    Stepping after the end (or before the first ``reset``) raises
    :class:`~marketenv.errors.ResetNeeded` (a ``RuntimeError``). The registered
    ``marketenv/Market-v0`` spec carries the default scenario's ``max_episode_steps``.

    ## Rendering

    ``render_mode="ansi"``: ``render()`` returns a text view (top of book, the last
    trades, the learner's position, cash and P&L). ``render_mode="rgb_array"``: an
    ``(256, 512, 3)`` uint8 chart of the last 400 steps (mid and fair value with the
    learner's fills, equity below), drawn with numpy and no window (works with
    ``gymnasium.wrappers.RecordVideo``). Any other mode raises
    :class:`~marketenv.errors.UnsupportedRenderMode` (Gymnasium's ``UnsupportedMode``).

    ## Info

    * ``tick``: the market tick that starts now (the one the observation describes);
    * ``fill_quantity``: net signed shares the learner traded during the step, fills of
      its resting orders included (+ bought, - sold); ``fill_price``: the VWAP of all its
      fills (both sides); ``fill_buy_quantity`` / ``fill_buy_price`` and
      ``fill_sell_quantity`` / ``fill_sell_price``: each side's shares and VWAP; ``fees``:
      fees paid (currency units). Prices are 0.0 where nothing filled on that side, so
      that infos compare equal across identical runs;
    * ``order_status``: the fate of the order placed this step on arrival: ``none`` (no
      order), ``filled``, ``resting`` (on the book, possibly partly filled),
      ``cancelled`` (a market order whose unfilled rest found no liquidity; it may
      have partly filled) or
      ``rejected``; ``reject_reason`` says which market rule refused it (empty
      otherwise);
    * ``equity``, ``cash`` (currency units) and ``position`` (shares) after the step.

    ``env.unwrapped.last_trades`` holds the trades of the last step's tick (every
    agent's) and ``env.unwrapped.last_transition`` the whole tick (for recorders).

    Args:
        config: A :class:`Config`, a TOML path, or ``None`` for the default scenario.
        agent: The slot that learns: an agent id, an agent name, or ``None`` for the
            first noise trader (else the last agent).
        action_mode: ``"discrete"``, ``"limit"`` or ``"order"``.
        order_size: Shares per discrete order.
        sizes: Order sizes of the limit action.
        max_offset_ticks: Price-offset range of the limit action, ticks.
        normalize_reward: Divide rewards by the learner's initial cash (which must then
            be > 0).
        max_episode_steps: Steps before truncation (default: the config's ticks).
        warmup_ticks: Ticks the crowd trades before the first observation (>= 100; >= 0
            with ``observation="raw"``, whose first observations then hold NaN features).
        render_mode: ``None``, ``"ansi"`` or ``"rgb_array"``.
        observation: ``"scaled"`` (bounded, default) or ``"raw"``.

    Raises:
        ValueError: An argument is out of range or the agent is unknown.
        ConfigError: The config is invalid.
    """

    metadata = {"render_modes": list(RENDER_MODES), "render_fps": 30}

    def __init__(
        self,
        config: Config | str | Path | None = None,
        agent: int | str | None = None,
        action_mode: str = "discrete",
        order_size: int = 10,
        sizes: tuple[int, ...] = (1, 5, 10, 50),
        max_offset_ticks: int = 10,
        normalize_reward: bool = False,
        max_episode_steps: int | None = None,
        warmup_ticks: int = 100,
        render_mode: str | None = None,
        observation: str = "scaled",
    ) -> None:
        self.config = resolve_config(config)
        check_render_mode(render_mode)
        self.observation = check_observation_mode(observation)
        self.codec = codec = ActionCodec(
            action_mode, order_size, sizes, max_offset_ticks, self.config.market.max_order_quantity
        )
        if max_episode_steps is not None and max_episode_steps < 1:
            raise ValueError(f"max_episode_steps must be >= 1 (got {max_episode_steps})")
        self.action_mode = action_mode
        self.order_size = codec.order_size
        self.sizes = codec.sizes
        self.max_offset_ticks = codec.max_offset_ticks
        self.normalize_reward = bool(normalize_reward)
        self.max_episode_steps = int(max_episode_steps or self.config.simulation.ticks)
        self.warmup_ticks = check_warmup(warmup_ticks, self.observation)
        self.render_mode = render_mode
        self.feature_names = FEATURE_NAMES

        probe = Simulation(self.config)
        self.agent_id = resolve_agent(agent, probe.specs)
        self.agent_name = probe.specs[self.agent_id].agent_name
        self.position_limit = int(probe.specs[self.agent_id].position_limit)
        """The learner slot's position limit, shares."""
        self._symbol = int(probe.agent_symbols[self.agent_id])
        self._view = LearnerView(probe, [self.agent_id], self.observation, codec.lot)
        self._initial_cash = float(self._view.initial_cash[0])
        if self.normalize_reward and self._initial_cash <= 0:
            raise ValueError(f"normalize_reward needs initial cash > 0; {self.agent_name} has {self._initial_cash}")
        self._seeds = EpisodeSeeds()
        self.observation_space = self._view.space
        self._capital = 0.0
        self._history = History()
        self.action_space: spaces.Space = codec.space
        self._sim: Simulation | None = None
        self._lanes = LearnerBatch(1, self.agent_id, self._view, self.normalize_reward, keep_before=True) \
            if probe.compiled else None
        self._transition: Transition | None = None
        self._stepped = False
        self._steps = 0
        self._done = True

    @property
    def simulation(self) -> Simulation:
        """The running simulation (after :meth:`reset`)."""
        if self._sim is None:
            raise ResetNeeded(f"{self.agent_name}: no simulation yet; call reset() first")
        return self._sim

    @property
    def last_transition(self) -> Transition | None:
        """The :class:`~marketenv.simulation.Transition` of the last step (for recorders); ``None`` before one."""
        if self._transition is None and self._stepped and self._lanes is not None:
            self._transition = self._lanes.transition(0)
        return self._transition

    @property
    def last_trades(self) -> list[Trade]:
        """Every trade of the last step's tick (every agent's), in execution order."""
        return self.last_transition.trades if self.last_transition is not None else []

    # ------------------------------------------------------------------ API
    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[np.ndarray, dict[str, Any]]:
        """Start a new episode; ``seed`` makes it (and the following ones) reproducible.

        Args:
            seed: The market's root seed (see Starting State); ``None`` draws the next one.
            options: Unused.

        Returns:
            The first observation and the ``info`` of the starting state.
        """
        super().reset(seed=seed)
        self._sim = sim = Simulation(self.config, seed=self._seeds.next(seed))
        sim.run(self.warmup_ticks, hold=(self.agent_id,))  # the crowd trades, the learner's slot holds
        self._transition = None
        self._stepped = False
        self._steps = 0
        self._done = False
        self._view.start(sim)
        self._capital = float(self._view.capital[0])
        self._history.clear()
        info = reset_info(sim, self.agent_id)
        if self.render_mode is not None:
            self._remember(0, 0.0)
        return self._observation(), info

    def step(self, action: Any) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        """Advance one tick with the learner's action.

        Raises:
            InvalidActionError: The action is not in the action space.
            ResetNeeded: The episode has ended or never started.
        """
        sim = self._sim
        if sim is None or self._done:
            raise ResetNeeded(
                f"{self.agent_name}: step() called before reset() or after the episode ended; call reset()"
            )
        order = self.order_action(action)
        lanes = self._lanes
        if lanes is not None:  # the compiled step (same results as the Transition below)
            if lanes.batch.sims[0] is not sim:  # the episode's first step: hand the market over
                lanes.start(0, sim, self._view.multipliers)
            lanes.step(order.reshape(1, 6))
            self._transition = None
            self._stepped = True
            reward = float(lanes.rewards[0])
            terminated = bool(lanes.terminated[0])
            info = lanes.info(0)
            obs = lanes.obs[0].copy()
        else:
            i = self.agent_id
            tr = sim.step({i: order})
            self._transition = tr
            after = float(tr.equity_after[i])
            reward = after - float(tr.equity_before[i])
            if self.normalize_reward:
                reward /= self._initial_cash
            terminated = after <= 0.0
            info = step_infos(tr, [i])[0]
            obs = self._observation()
        self._steps += 1
        truncated = (not terminated) and self._steps >= self.max_episode_steps
        self._done = terminated or truncated
        if self.render_mode is not None:
            self._remember(info["fill_quantity"], info["fill_price"])
        return obs, reward, terminated, truncated, info

    def render(self) -> str | np.ndarray | None:
        """The view of ``render_mode``: text (``"ansi"``), an RGB array, or ``None``.

        Raises:
            ResetNeeded: Nothing to draw before the first ``reset``.
        """
        if self.render_mode is None:
            gym.logger.warn("render() called without a render_mode; pass render_mode='ansi' or 'rgb_array'")
            return None
        if self.render_mode == "rgb_array":
            return rgb_frame(self._history)
        return ansi_view(self.simulation, self.agent_id, self.last_trades, self._capital)

    def close(self) -> None:
        """Drop the simulation (a new ``reset`` starts afresh)."""
        self._sim = None
        self._done = True

    def batch(self, n_markets: int, parallel: Parallel = False) -> LearnerBatch | None:
        """A :class:`~marketenv.env_common.LearnerBatch` of ``n_markets`` markets of this env's learner.

        ``None`` when the config's crowd cannot run in compiled code (Python-only
        strategies): then only :meth:`step` steps this env. Used by
        :class:`~marketenv.vector_env.MarketVectorEnv`.
        """
        if self._lanes is None:
            return None
        return LearnerBatch(n_markets, self.agent_id, self._view, self.normalize_reward, parallel=parallel)

    # ------------------------------------------------------------ helpers
    def _observation(self) -> np.ndarray:
        assert self._sim is not None
        return self._view(self._sim.obs)[0]

    def _remember(self, fill_q: int, fill_price: float) -> None:
        sim = self._sim
        assert sim is not None
        m = sim.market
        s = self._symbol
        self._history.append(m.mid_price(s), m.fair_value(s), float(sim.equity[self.agent_id]), fill_q, fill_price)

    def order_action(self, action: Any) -> np.ndarray:
        """The market order action (``(2, 3)`` int64, see :mod:`marketenv.actions`) of an action.

        This is what a step sends to the market (a policy trained on this env drives a
        learner of :class:`~marketenv.parallel_env.MarketParallelEnv` with the same
        actions). The returned array may be shared (read-only).

        Raises:
            InvalidActionError: The action is not in the action space, naming the agent.
        """
        return self.codec.order(action, self.agent_name)
