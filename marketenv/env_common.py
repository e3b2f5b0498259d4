"""What the Gymnasium env and the PettingZoo env share, written once.

* the seed rule (:class:`EpisodeSeeds`);
* the warm-up rule (:func:`check_warmup`): at least ``MIN_WARMUP`` ticks unless the
  observations are raw, so that no scaled feature is NaN;
* the learners' observation view (:class:`LearnerView`): scaled (bounded) or raw, float32;
* the ``info`` of a learner (:func:`agent_info`, :func:`step_infos`, :func:`reset_info`)
  and its ``order_status`` (:func:`outcome_status`);
* resolving a config argument and an agent slot;
* :class:`LearnerBatch`: the env step of ``N`` markets with one learner each in one
  compiled call (``MarketEnv`` with ``N = 1``, ``MarketVectorEnv`` with ``N``), with
  the same observations, rewards and infos as a step through
  :meth:`marketenv.simulation.Simulation.step` and its
  :class:`~marketenv.simulation.Transition` (the envs' other path: configs with
  Python-only strategies, and the PettingZoo env).
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numba as nb
import numpy as np
from gymnasium import spaces

from marketenv.actions import ActionOutcome, rejection_text
from marketenv.batch import MarketBatch, Parallel
from marketenv.config import MAX_SEED, Config, load_config
from marketenv.engine.layout import O_REJ_BUY, O_REJ_SELL, O_RS4, O_STATUS_BUY, O_STATUS_SELL
from marketenv.errors import ConfigError
from marketenv.feature_spec import FEATURE_INDEX, N_FEATURES
from marketenv.market import rejection_reason
from marketenv.observation import CLIP, ObservationScaler, check_observation_mode, scale_rows
from marketenv.policy import AgentSpec
from marketenv.simulation import NO_FILL_INFO, Simulation, Transition, fill_fields
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
        self._a = self._scaler.coefficients(np.ones(len(self.ids)), np.ones(len(self.ids)))
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
        self.capital, self._a = self.arrival(sim)

    @property
    def multipliers(self) -> np.ndarray:
        """The scale multipliers ``(k, F)`` of the current episode (set by :meth:`start`)."""
        return self._a

    @property
    def constants(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
        """The scaler's constants (:attr:`~marketenv.observation.ObservationScaler.constants`)."""
        return self._scaler.constants

    def arrival(self, sim: Simulation) -> tuple[np.ndarray, np.ndarray]:
        """``(capital (k,), scale multipliers (k, F))`` of an episode of ``sim`` starting now."""
        mids = np.array([sim.market.mid_price(int(s)) for s in self._symbols])
        pos0 = np.abs(np.asarray(sim.market.initial_position)[self._pos_index])
        capital = self._cash0 + pos0 * mids
        return capital, self._scaler.coefficients(mids, capital)

    def __call__(self, obs: np.ndarray) -> np.ndarray:
        """The learners' observations ``(k, F)`` float32 from every agent's raw ``obs``."""
        return self.rows(obs[self.ids], self._a)

    def rows(self, rows: np.ndarray, a: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
        """Observations ``(k, F)`` float32 of raw learner ``rows`` with multipliers ``a`` (:meth:`arrival`)."""
        if self.mode == "scaled":
            return self._scaler.scale(rows, a, out)
        if out is None:
            return rows.astype(np.float32)
        out[...] = rows
        return out


@nb.njit(cache=True, inline="always")
def status_code(status_buy: int, status_sell: int) -> int:
    """The ``order_status`` code of an action: its buy order's status if it placed one, else its sell order's.

    Statuses are :class:`~marketenv.types.OrderStatus` values, -1 for no order (so -1:
    ``"none"``, no order at all). Compiled, so that Python and the batch's kernels share it.
    """
    return status_buy if status_buy != -1 else status_sell


def outcome_status(outcome: ActionOutcome) -> str:
    """``order_status`` of an action (:func:`status_code` by name)."""
    return STATUS_NAMES[status_code(outcome.status_buy, outcome.status_sell)]


def agent_info(
    tick: int, fills: dict[str, Any], status: str, reason: str, equity: float, obs_row: np.ndarray
) -> dict[str, Any]:
    """One learner's ``info`` (the envs' one info builder).

    Args:
        tick: The tick now starting (the one the observation describes).
        fills: The fill fields (:meth:`~marketenv.simulation.Transition.fill_info`).
        status: Its ``order_status`` (:func:`outcome_status`).
        reason: Why the market rejected its order (empty if it did not).
        equity: Its equity now, currency units.
        obs_row: Its raw features now (for cash and position).
    """
    return {
        "tick": tick,
        **fills,
        "order_status": status,
        "reject_reason": reason,
        "equity": float(equity),
        "cash": float(obs_row[_CASH]),
        "position": int(obs_row[_POS]),
    }


def step_infos(tr: Transition, agents: Sequence[int]) -> list[dict[str, Any]]:
    """The ``info`` of each of ``agents`` after the tick ``tr``."""
    one = len(agents) == 1
    out = []
    for i in agents:
        o = tr.outcomes[i]
        fills = tr.fill_info(i) if one else tr.fill_infos[i]
        out.append(agent_info(tr.tick + 1, fills, outcome_status(o), o.reason, tr.equity_after[i], tr.next_obs[i]))
    return out


def reset_info(sim: Simulation, agent: int) -> dict[str, Any]:
    """The ``info`` of a learner at the start of an episode (no order, nothing filled)."""
    return agent_info(sim.tick, dict(NO_FILL_INFO), "none", "", sim.equity[agent], sim.obs[agent])


_INFO_KEYS = tuple(agent_info(0, dict(NO_FILL_INFO), "none", "", 0.0, np.zeros(N_FEATURES)))
"""The keys of a learner's ``info`` (:func:`agent_info`), in its order."""

_MASKED_KEYS = tuple(k for key in _INFO_KEYS for k in (key, f"_{key}"))
"""The same, each followed by its vector-env mask ``_key``."""

_STATUS_ARRAY = np.array([STATUS_NAMES[i] for i in range(-1, max(STATUS_NAMES) + 1)], dtype=object)
"""``order_status`` names by status + 1."""


class LearnerBatch:
    """The env step of ``n_markets`` compiled markets with the same learner slot, batched.

    Args:
        n_markets: Number of markets.
        agent: The learner's agent id.
        view: The learner's observation view (``LearnerView(sim, [agent], ...)``).
        normalize_reward: Divide rewards by the learner's initial cash.
        keep_before: Keep what :meth:`transition` needs (costs a copy of every agent's
            observations per step).
        parallel: ``True``, ``False`` or ``"auto"``: whether the markets run on numba's
            threads (see :class:`~marketenv.batch.MarketBatch`).

    Attributes:
        obs: ``(N, F)`` float32 each learner's observation after the last step.
        rewards: ``(N,)`` its reward in the last step.
        terminated: ``(N,)`` bool whether it is bankrupt (equity <= 0) after it.
    """

    def __init__(self, n_markets: int, agent: int, view: LearnerView, normalize_reward: bool,
                 keep_before: bool = False, parallel: Parallel = False) -> None:
        self.batch = MarketBatch(n_markets, [agent], keep_before, parallel)
        self._view = view
        self._cash0 = float(view.initial_cash[0])
        self._normalize = bool(normalize_reward)
        self._a = np.ones((n_markets, N_FEATURES))
        self._constants = view.constants
        self._actions = np.zeros((n_markets, 1, 6), dtype=np.int64)
        self.orders = self._actions.reshape(n_markets, 6)
        """``(N, 6)`` the learners' orders of the next step, for callers that write them in place."""
        self.obs = np.zeros((n_markets, N_FEATURES), dtype=np.float32)
        self.rewards = np.zeros(n_markets)
        self.terminated = np.zeros(n_markets, dtype=np.bool_)
        self._info = (np.zeros((5, n_markets), dtype=np.int64), np.zeros((6, n_markets)),
                      np.zeros(n_markets, dtype=np.bool_))
        self._no_reasons = np.full(n_markets, "", dtype=object)
        self._all_true = np.ones((len(_INFO_KEYS), n_markets), dtype=np.bool_)

    def start(self, b: int, sim: Simulation, multipliers: np.ndarray | None = None) -> None:
        """Market ``b`` is ``sim`` from now on (an episode starts: the learner arrives).

        Args:
            b: The slot.
            sim: The market, standing where the episode starts.
            multipliers: The episode's scale multipliers (:attr:`LearnerView.multipliers`),
                if the view already computed them; else they are computed from ``sim`` now.
        """
        self.batch.set(b, sim)
        self._a[b] = (self._view.arrival(sim)[1] if multipliers is None else multipliers)[0]

    def step(self, orders: np.ndarray, active: np.ndarray | None = None) -> None:
        """One tick of every market (or those ``active`` marks) with the learners' ``(N, 6)`` orders."""
        if orders is not self.orders:
            self.orders[...] = orders
        b = self.batch
        b.step(self._actions, active)
        bb, c, is_log, mid = self._constants
        _learner_results(b.obs, self._a, bb, c, is_log, mid, self._view.mode == "scaled", b.equity_before,
                         b.equity_after, self._cash0 if self._normalize else 0.0, self.obs, self.rewards,
                         self.terminated)

    def info(self, b: int) -> dict[str, Any]:
        """Market ``b``'s learner ``info`` after the last step (as :func:`step_infos`)."""
        mb = self.batch
        o = mb.outcomes[b, 0].tolist()
        status = STATUS_NAMES[status_code(o[O_STATUS_BUY], o[O_STATUS_SELL])]  # -1 both when it did not act
        reason = _reason_text(tuple(o[O_REJ_BUY:O_RS4 + 1])) if o[O_REJ_BUY] or o[O_REJ_SELL] else ""
        return agent_info(int(mb.ticks[b]), fill_fields(*mb.fills[b, 0].tolist()), status, reason,
                          mb.equity_after[b, 0], mb.obs[b, 0])

    def infos(self, masks: bool = False) -> dict[str, np.ndarray]:
        """Every market's learner ``info`` after the last step, one array per key.

        Args:
            masks: Also give each key ``k`` its all-true ``"_k"`` mask, after it (the
                vector-env layout, as Gymnasium's ``_add_info`` builds it).
        """
        mb = self.batch
        ints, floats, rejected = self._info
        _info_columns(mb.fills, mb.outcomes, mb.equity_after, mb.obs, TICKS_PER_UNIT, ints, floats, rejected)
        fill_q, buy_q, sell_q, status, position = ints.copy()  # fresh rows: the caller owns them
        fill_p, buy_p, sell_p, fees, equity, cash = floats.copy()
        reasons = self._no_reasons.copy()
        if rejected.any():
            rows = np.flatnonzero(rejected)
            keys = mb.outcomes[rows, 0, O_REJ_BUY:O_RS4 + 1].tolist()
            for b, key in zip(rows.tolist(), keys, strict=True):
                reasons[b] = _reason_text(tuple(key))
        cols = [mb.ticks.copy(), fill_q, fill_p, buy_q, buy_p, sell_q, sell_p, fees, _STATUS_ARRAY[status + 1],
                reasons, equity, cash, position]
        if not masks:
            return dict(zip(_INFO_KEYS, cols, strict=True))
        both: list[np.ndarray] = [*cols, *cols]
        both[0::2] = cols
        both[1::2] = self._all_true.copy()  # fresh rows: the caller owns them
        return dict(zip(_MASKED_KEYS, both, strict=True))

    def info_list(self) -> list[dict[str, Any]]:
        """Every market's learner ``info`` after the last step, one dict per market (as :meth:`info`)."""
        cols = self.infos()
        keys = list(cols)
        return [dict(zip(keys, row, strict=True)) for row in zip(*(c.tolist() for c in cols.values()), strict=True)]

    def transition(self, b: int) -> Transition:
        """Market ``b``'s whole last tick (needs ``keep_before``)."""
        return self.batch.transition(b)


@functools.lru_cache(maxsize=4096)
def _reason_text(key: tuple[int, ...]) -> str:
    """:func:`~marketenv.actions.rejection_text` of outcome columns ``O_REJ_BUY .. O_RS4``, memoized
    (a learner exploring at its position limit repeats the same few rejections)."""
    return rejection_text(key, rejection_reason)


@nb.njit(cache=True)
def _info_columns(fills, outcomes, equity, obs, unit, ints, floats, rejected):  # noqa: ANN001, ANN202
    """The numeric ``info`` columns of learner 0 of each market (see :meth:`LearnerBatch.infos`).

    ``ints`` rows: fill quantity, bought shares, sold shares, the :func:`status_code`,
    position; ``floats`` rows: fill price, buy price, sell price, fees, equity, cash.
    Prices are cents over ``unit * shares`` (0 where nothing filled); ``rejected`` marks
    the markets whose action was rejected.
    """
    for b in range(fills.shape[0]):
        bq, sq, bc, sc, fee = fills[b, 0, 0], fills[b, 0, 1], fills[b, 0, 2], fills[b, 0, 3], fills[b, 0, 4]
        q = bq + sq
        ints[0, b] = bq - sq
        ints[1, b] = bq
        ints[2, b] = sq
        ints[3, b] = status_code(outcomes[b, 0, O_STATUS_BUY], outcomes[b, 0, O_STATUS_SELL])
        ints[4, b] = np.int64(obs[b, 0, _POS])
        floats[0, b] = (bc + sc) / (unit * q) if q > 0 else 0.0
        floats[1, b] = bc / (unit * bq) if bq > 0 else 0.0
        floats[2, b] = sc / (unit * sq) if sq > 0 else 0.0
        floats[3, b] = fee / unit
        floats[4, b] = equity[b, 0]
        floats[5, b] = obs[b, 0, _CASH]
        rejected[b] = outcomes[b, 0, O_REJ_BUY] != 0 or outcomes[b, 0, O_REJ_SELL] != 0


@nb.njit(cache=True)
def _learner_results(raw, a, b, c, is_log, mid, scaled, before, after, divisor, obs, rewards,
                     terminated):  # noqa: ANN001, ANN202
    """Observations, rewards and bankruptcy of learner 0 of each market (one call per batch step).

    ``obs`` = the scaled (:func:`~marketenv.observation.scale_rows`) or raw ``raw[:, 0]``
    as float32; ``rewards`` = ``after - before`` (divided by ``divisor`` unless it is 0);
    ``terminated`` = ``after <= 0``.
    """
    rows = raw[:, 0, :]
    if scaled:
        scale_rows(rows, a, b, c, is_log, mid, CLIP, obs)
    else:
        obs[:, :] = rows
    for i in range(rows.shape[0]):
        r = after[i, 0] - before[i, 0]
        if divisor != 0.0:
            r /= divisor
        rewards[i] = r
        terminated[i] = after[i, 0] <= 0.0
