"""``marketenv/Execution-v0``: execute a parent order of Q shares within T ticks, scored by implementation shortfall.

The optimal-execution task of the Almgren-Chriss literature and of abides-gym's execution
env, on this market: the learner must buy (or sell) ``quantity`` shares within
``horizon`` ticks while the rule-based crowd trades. Its cost is the **implementation
shortfall** against the **arrival mid** ``m0`` (the mid when the order arrives, after the
warm-up): for a buy, ``IS = sum(q_i * (p_i - m0))`` over its fills ``(q_i, p_i)`` (for a
sell, ``sum(q_i * (m0 - p_i))``), plus a penalty for shares left unexecuted at the
deadline. Reported in basis points of the arrival notional ``quantity * m0``.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
from gymnasium import spaces

from marketenv.actions import ACTION_SHAPE, LIMIT, MARKET
from marketenv.config import Config
from marketenv.env import MarketEnv
from marketenv.errors import InvalidActionError
from marketenv.feature_spec import FEATURE_INDEX, N_FEATURES
from marketenv.observation import CLIP

WAIT, PASSIVE, HALF, CHILD, DOUBLE, REST = range(6)
ACTION_MEANINGS = (
    "wait (a resting passive order stays)",
    "passive: limit order of one child at the near touch (best bid to buy), replacing the resting one",
    "market order of half a child",
    "market order of one child",
    "market order of two children",
    "market order of everything that remains",
)
N_TASK_FEATURES = 4
TASK_FEATURES = ("remaining_fraction", "time_fraction_left", "mid_move_bps_10", "resting_fraction")
_VOLUME = FEATURE_INDEX["total_volume_this_tick"]


class ExecutionEnv(MarketEnv):
    """Buy or sell ``quantity`` shares within ``horizon`` ticks among the rule-based crowd.

    ## Action Space

    ``Discrete(6)`` (a child is ``ceil(quantity / horizon)`` shares, every order is capped
    at what remains): 0 wait, 1 passive limit order of one child at the near touch
    (replacing the resting passive order), 2 / 3 / 4 market order of 1/2 / 1 / 2
    children, 5 market order of the whole remainder. On the last tick the env sends a
    market order for the remainder whatever the action.

    ## Observation Space

    ``Box(-10, 10, (49,), float32)``: the learner's 45 scaled market features
    (:mod:`marketenv.observation`) and the task's state: the fraction of the order that
    remains, the fraction of the horizon left, the mid's move since arrival in bps / 10
    (clipped) and the resting passive quantity as a fraction of the order.

    ## Rewards

    Minus the step's implementation-shortfall increment in basis points of the arrival
    notional: ``-1e4 * sum(q * (p - m0)) / (quantity * m0)`` for a buy over the step's
    fills (signs mirrored for a sell), and on the last step ``-penalty_bps * unfilled /
    quantity`` for shares the market could not fill. The rewards of an episode sum to
    ``-info["shortfall_bps"]``.

    ## Episode End

    Termination when the order is complete or at the horizon (the deadline is part of
    the task and the observation shows the time left, so it is not a truncation).
    Selling from the learner's flat start is short selling (the config must allow it).

    ## Info

    ``MarketEnv``'s keys plus ``executed`` (shares filled so far), ``remaining``,
    ``arrival_mid``, ``average_price`` (of the fills, 0.0 before any) and
    ``shortfall_bps`` (so far, penalty included at the end).

    Args:
        config: A :class:`Config`, a TOML path, or ``None`` for the default scenario.
        side: ``"buy"`` or ``"sell"``.
        quantity: Shares of the parent order (within the learner's position limit).
        horizon: Ticks to complete it.
        agent: The learner's slot (default: the first noise trader).
        penalty_bps: Cost of each unfilled share at the deadline, bps of the arrival mid.
        warmup_ticks: Ticks the crowd trades before the order arrives (>= 100).
        render_mode: ``None``, ``"ansi"`` or ``"rgb_array"`` (as :class:`MarketEnv`).

    Raises:
        ValueError: An argument is out of range.
    """

    def __init__(
        self,
        config: Config | str | Path | None = None,
        side: str = "buy",
        quantity: int = 400,
        horizon: int = 100,
        agent: int | str | None = None,
        penalty_bps: float = 100.0,
        warmup_ticks: int = 100,
        render_mode: str | None = None,
    ) -> None:
        if side not in ("buy", "sell"):
            raise ValueError(f"side {side!r} must be 'buy' or 'sell'")
        if horizon < 1:
            raise ValueError(f"horizon must be >= 1 tick (got {horizon})")
        if quantity < 1:
            raise ValueError(f"quantity must be >= 1 share (got {quantity})")
        if not penalty_bps >= 0:
            raise ValueError(f"penalty_bps must be >= 0 (got {penalty_bps})")
        super().__init__(
            config, agent, max_episode_steps=horizon, warmup_ticks=warmup_ticks, render_mode=render_mode
        )
        limit = self.position_limit
        if quantity > limit:
            raise ValueError(f"quantity {quantity} exceeds {self.agent_name}'s position limit {limit}; lower it")
        if quantity > self.config.market.max_order_quantity:
            raise ValueError(
                f"quantity {quantity} exceeds the config's max_order_quantity {self.config.market.max_order_quantity}"
            )
        self.side = side
        self.sign = 1 if side == "buy" else -1
        self.quantity = int(quantity)
        self.horizon = int(horizon)
        self.child = math.ceil(quantity / horizon)
        self.penalty_bps = float(penalty_bps)
        self.action_space = spaces.Discrete(len(ACTION_MEANINGS))
        self.observation_space = spaces.Box(-CLIP, CLIP, (N_FEATURES + N_TASK_FEATURES,), np.float32)
        self.arrival_mid = 0.0
        self.executed = 0
        self._cost = 0.0  # sum of q * (p - m0) * sign, currency units

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[np.ndarray, dict[str, Any]]:
        """Start a new order: the arrival mid is the mid after the warm-up."""
        obs, info = super().reset(seed=seed, options=options)
        self.arrival_mid = self.simulation.market.mid_price(self._symbol)
        self.executed = 0
        self._cost = 0.0
        return self._task_obs(obs), self._task_info(info, 0.0)

    def step(self, action: Any) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        """Advance one tick with the learner's execution action."""
        obs, _pnl, bankrupt, _trunc, info = super().step(action)
        side = "buy" if self.sign > 0 else "sell"
        q = int(info[f"fill_{side}_quantity"])  # shares executed towards the order this step
        step_cost = q * (info[f"fill_{side}_price"] - self.arrival_mid) * self.sign if q else 0.0
        self.executed += q
        self._cost += step_cost
        notional = self.quantity * self.arrival_mid
        reward = -1e4 * step_cost / notional
        done_now = self.executed >= self.quantity or self._steps >= self.horizon or bankrupt
        penalty = 0.0
        if self._steps >= self.horizon and self.executed < self.quantity:
            penalty = self.penalty_bps * (self.quantity - self.executed) / self.quantity
            reward -= penalty
        self._done = done_now
        return self._task_obs(obs), reward, done_now, False, self._task_info(info, penalty)

    def order_action(self, action: Any) -> np.ndarray:
        """The ``(2, 3)`` order action of an execution action (see the class doc).

        Raises:
            InvalidActionError: The action is not an integer in ``0..5``.
        """
        a = self._action_index(action)
        remaining = self.quantity - self.executed
        order = np.zeros(ACTION_SHAPE, dtype=np.int64)
        row = 0 if self.sign > 0 else 1
        if self._steps >= self.horizon - 1:
            a = REST  # the deadline: the remainder goes at market
        if a == WAIT or remaining <= 0:
            return order
        if a == PASSIVE:
            m = self.simulation.market
            book = m.books[self._symbol]
            touch = book.best_bid() if self.sign > 0 else book.best_ask()
            ref = m.reference_price(self._symbol)
            offset = (touch - ref) if touch is not None else -self.sign
            order[row] = (LIMIT, min(self.child, remaining), offset)
            return order
        qty = {HALF: max(1, self.child // 2), CHILD: self.child, DOUBLE: 2 * self.child, REST: remaining}[a]
        order[row] = (MARKET, min(qty, remaining), 0)
        return order

    def _action_index(self, action: Any) -> int:
        a = np.asarray(action)
        if a.shape not in ((), (1,)) or a.dtype.kind not in "iuf":
            raise InvalidActionError(f"{self.agent_name}: action {action!r} must be one integer in 0..5")
        v = float(a.reshape(-1)[0])
        if not v.is_integer() or not 0 <= v < len(ACTION_MEANINGS):
            raise InvalidActionError(f"{self.agent_name}: action {action!r} must be an integer in 0..5")
        return int(v)

    def _task_obs(self, market_obs: np.ndarray) -> np.ndarray:
        m = self.simulation.market
        resting = sum(o[3] for o in m.resting_orders(self.agent_id, self._symbol)) if self.executed < self.quantity else 0
        move = 1e4 * (m.mid_price(self._symbol) / self.arrival_mid - 1) / 10 if self.arrival_mid else 0.0
        task = np.array(
            [
                (self.quantity - self.executed) / self.quantity,
                (self.horizon - self._steps) / self.horizon,
                min(max(move, -CLIP), CLIP),
                resting / self.quantity,
            ],
            dtype=np.float32,
        )
        return np.concatenate([market_obs, task])

    def _task_info(self, info: dict[str, Any], penalty: float) -> dict[str, Any]:
        notional = self.quantity * self.arrival_mid
        avg = self.arrival_mid + self._cost / (self.executed * self.sign) if self.executed else 0.0
        info.update(
            executed=self.executed,
            remaining=self.quantity - self.executed,
            arrival_mid=self.arrival_mid,
            average_price=avg,
            shortfall_bps=1e4 * self._cost / notional + penalty if notional else 0.0,
        )
        return info


class TWAP:
    """Time-weighted schedule: one child at market every tick (done in ``ceil(Q / child)`` ticks)."""

    def predict(self, obs: np.ndarray, state: Any = None, episode_start: Any = None, deterministic: bool = True) -> tuple[np.ndarray, None]:
        """Always action 3 (one child at market)."""
        return np.array(CHILD), None


class Immediate:
    """Everything at market at once (the arrival-price benchmark's worst case for impact)."""

    def predict(self, obs: np.ndarray, state: Any = None, episode_start: Any = None, deterministic: bool = True) -> tuple[np.ndarray, None]:
        """Always action 5 (the remainder at market)."""
        return np.array(REST), None


class VWAPStyle:
    """Volume-participating schedule: trade more when the market trades more, stay near TWAP.

    Each tick it compares the market's volume of the last tick with its running mean:
    quiet (< 0.75 x mean) half a child, busy (> 1.5 x) two children, else one; and two
    children whenever it is more than two children behind the time schedule.

    Args:
        env: The (possibly wrapped) :class:`ExecutionEnv` it trades in.
    """

    def __init__(self, env: Any) -> None:
        self.env = env.unwrapped
        self._mean = 0.0
        self._n = 0

    def predict(self, obs: np.ndarray, state: Any = None, episode_start: Any = None, deterministic: bool = True) -> tuple[np.ndarray, None]:
        """The participation action for this tick."""
        e = self.env
        vol = float(e.simulation.obs[e.agent_id][_VOLUME])
        if e._steps == 0:
            self._mean, self._n = vol, 1
        self._n += 1
        self._mean += (vol - self._mean) / self._n
        elapsed = e._steps / e.horizon
        behind = e.quantity * elapsed - e.executed
        if behind > 2 * e.child:
            return np.array(DOUBLE), None
        if self._mean > 0 and vol < 0.75 * self._mean:
            return np.array(HALF), None
        if self._mean > 0 and vol > 1.5 * self._mean:
            return np.array(DOUBLE), None
        return np.array(CHILD), None

