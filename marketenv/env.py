"""``MarketEnv``: one learning agent against the rule-based crowd (Gymnasium)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from marketenv.actions import LIMIT, MARKET, NONE, ActionOutcome
from marketenv.config import Config, load_config
from marketenv.errors import ConfigError, InvalidActionError, ResetNeeded
from marketenv.feature_spec import FEATURE_NAMES, N_FEATURES
from marketenv.simulation import Simulation, Transition
from marketenv.types import TICKS_PER_UNIT, OrderStatus

_STATUS = {
    -1: "none",
    int(OrderStatus.FILLED): "filled",
    int(OrderStatus.RESTING): "resting",
    int(OrderStatus.CANCELLED): "cancelled",
    int(OrderStatus.REJECTED): "rejected",
}


def resolve_config(config: Config | str | Path | None) -> Config:
    """A :class:`Config` from a config object, a TOML path or ``None`` (the default)."""
    if config is None or isinstance(config, str | Path):
        return load_config(config)
    if isinstance(config, Config):
        return config
    raise ConfigError(f"config must be a Config, a path to a .toml file or None (got {type(config).__name__})")


def outcome_info(outcome: ActionOutcome) -> dict[str, Any]:
    """The order-fate part of ``info`` for an action outcome."""
    st = outcome.status_buy if outcome.status_buy != -1 else outcome.status_sell
    return {"order_status": _STATUS[int(st)], "reject_reason": outcome.reason}


class MarketEnv(gym.Env):
    """One learning agent trading against the rule-based crowd of a config.

    The learner takes over one agent slot of the config (``agent``); every other slot is
    driven by its rule-based strategy. One step is one market tick: the crowd and the
    learner act in the market's seeded random order.

    ## Action Space

    ``action_mode="discrete"`` (default): ``Discrete(3)``:

    | Num | Action |
    |-----|--------|
    | 0 | sell ``order_size`` shares at market |
    | 1 | hold |
    | 2 | buy ``order_size`` shares at market |

    ``action_mode="limit"``: ``MultiDiscrete([3, len(sizes), 2 * max_offset_ticks + 1])``
    = (side: 0 sell / 1 hold / 2 buy, size index into ``sizes``, price offset index). The
    order is a good-till-cancelled limit order at ``reference + (index - max_offset_ticks)``
    ticks that replaces the learner's resting order on that side.

    ## Observation Space

    ``Box(-inf, inf, (45,), float32)``: the ComprehensiveFeatures vector of the learner
    (names in ``env.unwrapped.feature_names``, definitions in
    :mod:`marketenv.feature_spec`). The market runs ``warmup_ticks`` (>= 100) ticks of
    the crowd alone before the first observation, so no feature is NaN.

    ## Rewards

    The learner's P&L change over the step, marked to market at the mid (currency
    units); with ``normalize_reward=True`` divided by the learner's initial cash.

    ## Episode End

    * Termination: the learner is bankrupt (equity <= 0 after a step).
    * Truncation: ``max_episode_steps`` steps (default: the config's ticks).

    ## Info

    ``fill_quantity`` (signed shares this step, resting orders included), ``fill_price``
    (average, NaN if none), ``order_status`` (``none``/``filled``/``resting``/
    ``cancelled``/``rejected``), ``reject_reason``, ``equity``, ``cash``, ``position``,
    ``tick``.

    Args:
        config: A :class:`Config`, a TOML path, or ``None`` for the default scenario.
        agent: The slot that learns: an agent id, an agent name, or ``None`` for the
            first noise trader (else the last agent).
        action_mode: ``"discrete"`` or ``"limit"``.
        order_size: Shares per discrete order.
        sizes: Order sizes of the limit action.
        max_offset_ticks: Price-offset range of the limit action.
        normalize_reward: Divide rewards by initial cash.
        max_episode_steps: Steps before truncation.
        warmup_ticks: Ticks the crowd trades before the first observation (>= 100).
        render_mode: Only ``None`` is supported.
    """

    metadata = {"render_modes": []}

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
    ) -> None:
        self.config = resolve_config(config)
        if render_mode is not None:
            raise ValueError(f"render_mode {render_mode!r} is not supported; use None")
        if action_mode not in ("discrete", "limit"):
            raise ValueError(f"action_mode {action_mode!r} must be 'discrete' or 'limit'")
        if warmup_ticks < 100:
            raise ValueError(f"warmup_ticks must be >= 100 so that no feature is NaN (got {warmup_ticks})")
        if order_size < 1 or not sizes or min(sizes) < 1 or max_offset_ticks < 0:
            raise ValueError("order_size and sizes must be >= 1 and max_offset_ticks >= 0")
        self.action_mode = action_mode
        self.order_size = int(order_size)
        self.sizes = tuple(int(s) for s in sizes)
        self.max_offset_ticks = int(max_offset_ticks)
        self.normalize_reward = normalize_reward
        self.max_episode_steps = int(max_episode_steps or self.config.simulation.ticks)
        self.warmup_ticks = int(warmup_ticks)
        self.render_mode = render_mode
        self.feature_names = FEATURE_NAMES

        probe = Simulation(self.config)
        self.agent_id = self._resolve_agent(agent, probe)
        self.agent_name = probe.specs[self.agent_id].agent_name
        self._symbol = int(probe.agent_symbols[self.agent_id])
        self._initial_cash = probe.market.initial_cash[self.agent_id] / TICKS_PER_UNIT

        self.observation_space = spaces.Box(-np.inf, np.inf, (N_FEATURES,), np.float32)
        if action_mode == "discrete":
            self.action_space: spaces.Space = spaces.Discrete(3)
        else:
            self.action_space = spaces.MultiDiscrete([3, len(self.sizes), 2 * self.max_offset_ticks + 1])
        self._sim: Simulation | None = None
        self.last_transition: Transition | None = None
        """The :class:`~marketenv.simulation.Transition` of the last step (for recorders)."""
        self._steps = 0
        self._done = True

    @staticmethod
    def _resolve_agent(agent: int | str | None, sim: Simulation) -> int:
        names = [s.agent_name for s in sim.specs]
        if agent is None:
            for s in sim.specs:
                if s.type == "noise_trader":
                    return s.agent_id
            return sim.n_agents - 1
        if isinstance(agent, str):
            if agent not in names:
                raise ValueError(f"agent {agent!r} is not in the config; use one of {', '.join(names[:5])}, ...")
            return names.index(agent)
        if not 0 <= int(agent) < sim.n_agents:
            raise ValueError(f"agent {agent} is not an agent id (0..{sim.n_agents - 1})")
        return int(agent)

    # ------------------------------------------------------------------ API
    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[np.ndarray, dict[str, Any]]:
        """Start a new episode; ``seed`` makes it reproducible."""
        super().reset(seed=seed)
        # The run's root seed comes from the env's seeded generator (one root of randomness).
        run_seed = int(self.np_random.integers(0, 2**63 - 1))
        self._sim = sim = Simulation(self.config, seed=run_seed)
        sim.run(self.warmup_ticks)
        self._obs_all = sim.begin_tick()
        self._steps = 0
        self._done = False
        return self._observation(), self._info(None, 0, 0.0)

    def step(self, action: Any) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        """Advance one tick with the learner's action."""
        if self._sim is None or self._done:
            raise ResetNeeded(f"{self.agent_name}: step() called before reset() or after the episode ended; call reset()")
        order = self._decode(action)
        sim = self._sim
        acts = sim.crowd_actions(self._obs_all)
        acts[self.agent_id] = order
        tr = sim.advance(acts)
        self.last_transition = tr
        self._obs_all = sim.features.obs
        i = self.agent_id
        fill_q = int(tr.fill_quantity[i])
        fill_notional = float(tr.fill_notional[i])
        outcomes = tr.outcomes
        after = tr.equity_after[i]
        before = tr.equity_before[i]
        reward = float(after - before)
        if self.normalize_reward:
            reward /= max(self._initial_cash, 1e-9)
        self._steps += 1
        terminated = bool(after <= 0)
        truncated = (not terminated) and self._steps >= self.max_episode_steps
        self._done = terminated or truncated
        info = self._info(outcomes[self.agent_id], fill_q, fill_notional)
        return self._observation(), reward, terminated, truncated, info

    def close(self) -> None:
        self._sim = None

    # ------------------------------------------------------------ helpers
    def _observation(self) -> np.ndarray:
        return self._obs_all[self.agent_id].astype(np.float32)

    def _info(self, outcome: ActionOutcome | None, fill_q: int, fill_notional: float) -> dict[str, Any]:
        sim = self._sim
        assert sim is not None
        pos, cash, equity = sim.features.account_arrays()
        info: dict[str, Any] = {
            "tick": sim.tick,
            "fill_quantity": fill_q,
            "fill_price": abs(fill_notional / fill_q) if fill_q else float("nan"),
            "equity": float(equity[self.agent_id]),
            "cash": float(cash[self.agent_id]),
            "position": int(pos[self.agent_id]),
        }
        if outcome is None:
            info.update(order_status="none", reject_reason="")
        else:
            info.update(outcome_info(outcome))
        return info

    def _decode(self, action: Any) -> np.ndarray:
        a = np.asarray(action)
        if a.dtype.kind == "f" and not np.isfinite(a).all():
            raise InvalidActionError(f"{self.agent_name}: action {action!r} contains NaN or inf")
        if a.dtype.kind not in "iuf" or (a.dtype.kind == "f" and not (a == np.round(a)).all()):
            raise InvalidActionError(f"{self.agent_name}: action {action!r} must be integer-valued (dtype {a.dtype})")
        a = a.astype(np.int64)
        if not self.action_space.contains(a if self.action_mode == "limit" else np.int64(a.reshape(-1)[0]) if a.size == 1 else a):
            raise InvalidActionError(f"{self.agent_name}: action {action!r} is not in the action space {self.action_space}")
        order = np.zeros((2, 3), dtype=np.int64)
        if self.action_mode == "discrete":
            k = int(a.reshape(-1)[0])
            if k == 2:
                order[0] = (MARKET, self.order_size, 0)
            elif k == 0:
                order[1] = (MARKET, self.order_size, 0)
            return order
        side, size_i, off_i = (int(x) for x in a)
        offset = off_i - self.max_offset_ticks
        if side == 2:
            order[0] = (LIMIT, self.sizes[size_i], offset)
        elif side == 0:
            order[1] = (LIMIT, self.sizes[size_i], offset)
        else:
            order[:, 0] = NONE
        return order
