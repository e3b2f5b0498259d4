"""What the Gymnasium env and the PettingZoo env share, written once.

* the seed rule (:class:`EpisodeSeeds`);
* the warm-up rule (:func:`check_warmup`): at least ``MIN_WARMUP`` ticks unless the
  observations are raw, so that no scaled feature is NaN;
* the learners' observation view (:class:`LearnerView`): scaled (bounded) or raw, float32;
* the ``info`` of a learner (:func:`agent_info`, :func:`step_infos`, :func:`reset_info`)
  and its ``order_status`` (:func:`outcome_status`);
* resolving a config argument and an agent slot.

Both envs drive the market with :meth:`marketenv.simulation.Simulation.step` and build
their returns from its :class:`~marketenv.simulation.Transition`.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from gymnasium import spaces

from marketenv.actions import NO_OUTCOME, ActionOutcome
from marketenv.config import MAX_SEED, Config, load_config
from marketenv.errors import ConfigError
from marketenv.feature_spec import FEATURE_INDEX, N_FEATURES
from marketenv.observation import CLIP, ObservationScaler, check_observation_mode
from marketenv.policy import AgentSpec
from marketenv.simulation import NO_FILL_INFO, Simulation, Transition
from marketenv.types import TICKS_PER_UNIT, OrderStatus

MIN_WARMUP = 100
"""Fewest warm-up ticks with scaled observations: every indicator is defined by then."""

STATUS_NAMES: dict[int, str] = {
    -1: "none",
    int(OrderStatus.FILLED): "filled",
    int(OrderStatus.RESTING): "resting",
    int(OrderStatus.CANCELLED): "cancelled",
    int(OrderStatus.REJECTED): "rejected",
}
"""``order_status`` in ``info`` by :class:`~marketenv.types.OrderStatus` value (-1: no order)."""

_POS = FEATURE_INDEX["position"]
_CASH = FEATURE_INDEX["cash"]


def resolve_config(config: Config | str | Path | None) -> Config:
    """A :class:`Config` from a config object, a TOML path or ``None`` (the default)."""
    if config is None or isinstance(config, str | Path):
        return load_config(config)
    if isinstance(config, Config):
        return config
    raise ConfigError(f"config must be a Config, a path to a .toml file or None (got {type(config).__name__})")


def resolve_agent(agent: int | str | None, specs: Sequence[AgentSpec]) -> int:
    """The agent id ``agent`` names: an id, a name, or ``None`` (the first noise trader, else the last slot).

    Raises:
        ValueError: Unknown name or id, or another type.
    """
    n = len(specs)
    names = [s.agent_name for s in specs]
    if agent is None:
        return next((s.agent_id for s in specs if s.type == "noise_trader"), n - 1)
    if isinstance(agent, str):
        if agent not in names:
            raise ValueError(f"agent {agent!r} is not in the config; use one of {', '.join(names[:5])}, ...")
        return names.index(agent)
    if isinstance(agent, bool) or not isinstance(agent, int | np.integer):
        raise ValueError(f"agent must be an agent id, an agent name or None (got {agent!r})")
    if not 0 <= int(agent) < n:
        raise ValueError(f"agent {agent} is not an agent id (0..{n - 1})")
    return int(agent)


def check_warmup(warmup_ticks: int, observation: str) -> int:
    """``warmup_ticks`` if allowed: ``>= MIN_WARMUP``, or ``>= 0`` with raw observations.

    Raises:
        ValueError: Too few ticks, naming the rule.
    """
    if warmup_ticks < 0 or (observation != "raw" and warmup_ticks < MIN_WARMUP):
        raise ValueError(
            f"warmup_ticks must be >= {MIN_WARMUP} so that no feature is NaN (got {warmup_ticks}); "
            "observation='raw' allows fewer"
        )
    return int(warmup_ticks)


class EpisodeSeeds:
    """The envs' one seed rule: the market root seed of each episode.

    ``reset(seed=s)`` runs the episode's market from root seed ``s`` (the same market as
    ``Simulation(config, seed=s)``) and seeds, with ``s``, the generator of the following
    episodes' seeds; ``reset()`` draws the next market seed from that generator (so
    episodes of envs seeded ``0, 1, 2, ...`` do not repeat each other). An env never
    seeded draws from a generator seeded with fresh OS entropy, as Gymnasium's
    ``np_random`` is (so the envs of an unseeded vector env differ).
    """

    def __init__(self) -> None:
        self._rng: np.random.Generator | None = None

    def next(self, seed: int | None) -> int:
        """The market seed of the episode that ``reset(seed=seed)`` starts.

        Raises:
            ValueError: ``seed`` is not an integer in ``[0, MAX_SEED]``.
        """
        if seed is None:
            if self._rng is None:
                self._rng = np.random.default_rng()  # fresh OS entropy
            return int(self._rng.integers(0, MAX_SEED, endpoint=True))
        if isinstance(seed, bool) or not isinstance(seed, int | np.integer) or not 0 <= seed <= MAX_SEED:
            raise ValueError(f"seed must be an integer in [0, {MAX_SEED}] (got {seed!r})")
        self._rng = np.random.default_rng(int(seed))
        return int(seed)


class LearnerView:
    """The learners' observations: their rows of the market's features, scaled or raw, float32.

    Args:
        sim: A simulation of the config (for symbols and initial accounts).
        learners: The learner agent ids.
        observation: ``"scaled"`` (bounded, see :mod:`marketenv.observation`) or ``"raw"``.
        lot: Shares per lot for the scaled ``position`` (the env's order size).
    """

    def __init__(self, sim: Simulation, learners: Sequence[int], observation: str, lot: int) -> None:
        self.mode = check_observation_mode(observation)
        self.ids = np.asarray(learners, dtype=np.int64)
        self._symbols = sim.agent_symbols[self.ids]
        self._pos_index = self.ids * sim.market.n_symbols + self._symbols
        self._cash0 = np.asarray(sim.market.initial_cash, dtype=np.float64)[self.ids] / TICKS_PER_UNIT
        self._scaler = ObservationScaler(lot)
        self.capital = self._cash0.copy()
        """Each learner's initial capital (cash + initial shares at the first mid), currency units."""
        bound = CLIP if self.mode == "scaled" else np.inf
        self.space = spaces.Box(-bound, bound, (N_FEATURES,), np.float32)
        """One learner's observation space."""

    @property
    def initial_cash(self) -> np.ndarray:
        """Each learner's initial cash, currency units."""
        return self._cash0

    def start(self, sim: Simulation) -> None:
        """Fix the episode's scale at the learners' arrival (after the warm-up)."""
        mids = np.array([sim.market.mid_price(int(s)) for s in self._symbols])
        pos0 = np.abs(np.asarray(sim.market.initial_position)[self._pos_index])
        self.capital = self._cash0 + pos0 * mids
        self._scaler.start(mids, self.capital)

    def __call__(self, obs: np.ndarray) -> np.ndarray:
        """The learners' observations ``(k, F)`` float32 from every agent's raw ``obs``."""
        rows = obs[self.ids]
        return self._scaler(rows) if self.mode == "scaled" else rows.astype(np.float32)


def outcome_status(outcome: ActionOutcome) -> str:
    """``order_status`` of an action: its buy order's status if it placed one, else its sell order's.

    ``"none"`` when the action placed no order.
    """
    st = outcome.status_buy if outcome.status_buy != -1 else outcome.status_sell
    return STATUS_NAMES[st]


def agent_info(
    tick: int, fills: dict[str, Any], outcome: ActionOutcome, equity: float, obs_row: np.ndarray
) -> dict[str, Any]:
    """One learner's ``info`` (the envs' one info builder).

    Args:
        tick: The tick now starting (the one the observation describes).
        fills: The fill fields (:meth:`~marketenv.simulation.Transition.fill_info`).
        outcome: What the learner's action did on arrival.
        equity: Its equity now, currency units.
        obs_row: Its raw features now (for cash and position).
    """
    return {
        "tick": tick,
        **fills,
        "order_status": outcome_status(outcome),
        "reject_reason": outcome.reason,
        "equity": float(equity),
        "cash": float(obs_row[_CASH]),
        "position": int(obs_row[_POS]),
    }


def step_infos(tr: Transition, agents: Sequence[int]) -> list[dict[str, Any]]:
    """The ``info`` of each of ``agents`` after the tick ``tr``."""
    one = len(agents) == 1
    return [
        agent_info(
            tr.tick + 1,
            tr.fill_info(i) if one else tr.fill_infos[i],
            tr.outcomes[i],
            tr.equity_after[i],
            tr.next_obs[i],
        )
        for i in agents
    ]


def reset_info(sim: Simulation, agent: int) -> dict[str, Any]:
    """The ``info`` of a learner at the start of an episode (no order, nothing filled)."""
    return agent_info(sim.tick, dict(NO_FILL_INFO), NO_OUTCOME, sim.equity[agent], sim.obs[agent])
