"""``RecordingWrapper``: log (obs, action, fill, reward, next obs) transitions to Parquet.

The wrapper decides *when* to record (a :class:`~recorders.schedule.RecordSchedule`:
warm-up and interval, on the market tick); the
:class:`~recorders.parquet_writer.ParquetRecordWriter` decides *how* (buffers, row groups,
atomic rename). It wraps both environments:

* :class:`marketenv.parallel_env.MarketParallelEnv`: one row per live agent per recorded
  tick (the ``--headless-record`` path);
* :class:`marketenv.env.MarketEnv` (Gymnasium): one row per recorded step, the learner's.

Row semantics (see README "Recording conventions"): ``f_`` columns are the agent's
features at the start of the tick, ``next_`` columns the state after the tick (equal to
the next tick's ``f_`` values), ``reward`` the P&L change over the tick in currency units
and ``reward_normalized = reward / initial_cash`` (1 is used for agents with no initial
cash, as for ``cash_normalized``).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np

from marketenv.config import model_inputs
from marketenv.feature_spec import FEATURE_INDEX, FEATURE_NAMES
from marketenv.simulation import Simulation, Transition
from recorders.parquet_writer import ParquetRecordWriter
from recorders.schedule import RecordSchedule
from recorders.schema import KEY_RUN_ID, OUTCOME_COLUMNS, build_schema, make_metadata

_MID = FEATURE_INDEX["mid_price"]
_POS = FEATURE_INDEX["position"]
_CASH = FEATURE_INDEX["cash"]
_PNL = FEATURE_INDEX["total_pnl"]
_EQ = FEATURE_INDEX["equity"]
_NEXT = np.array([_MID, _POS, _PNL, _CASH, _EQ])
_F64_COLUMNS = OUTCOME_COLUMNS[1:]
"""The float64 outcome columns, in the order of the staging block (all but ``action``)."""


class TransitionRecorder:
    """Turns market transitions into recording rows and hands them to the writer.

    Rows are staged in preallocated arrays and handed to the writer ``BLOCK_TICKS``
    ticks at a time (one writer call per block instead of one per tick). A transition
    is recorded in two halves: :meth:`capture` before the tick (copies the ``f_``
    features straight into the staging block) and :meth:`commit` after it;
    :meth:`record` does both for callers that kept the observations themselves.
    :meth:`close` writes what is staged.

    Args:
        output: The Parquet file to write.
        schedule: Which ticks to record.
        simulation: The simulation being recorded (for names, symbols, initial cash).
        extra_flags: More recording flags for the metadata (e.g. the command line).
        row_group_size: Rows per Parquet row group.
        inputs: Files the run reads; ``output`` must be none of them (the model files
            of the simulation's agents are added).
    """

    BLOCK_TICKS = 64

    def __init__(
        self,
        output: str | Path,
        schedule: RecordSchedule,
        simulation: Simulation,
        extra_flags: dict[str, Any] | None = None,
        row_group_size: int = 65536,
        inputs: Sequence[str | Path] = (),
    ) -> None:
        self.schedule = schedule
        sim = simulation
        flags = {**schedule.as_flags(), **(extra_flags or {})}
        meta = make_metadata(sim.config.to_dict(), sim.seed, flags)
        self.run_id: str = meta[KEY_RUN_ID]
        """The run id of every row (:func:`recorders.schema.make_run_id`)."""
        self.writer = ParquetRecordWriter(
            output,
            build_schema(FEATURE_NAMES, meta),
            string_categories={
                "agent_name": [s.agent_name for s in sim.specs],
                "symbol": list(sim.market.symbol_names),
                "run_id": [self.run_id],
            },
            row_group_size=row_group_size,
            inputs=[*inputs, *model_inputs(sim.config)],
        )
        n = len(sim.specs)
        self._ids = np.array([s.agent_id for s in sim.specs], dtype=np.uint64)
        self._name_codes = np.arange(n, dtype=np.int32)
        self._sym_codes = sim.agent_symbols.astype(np.int32)
        ic = np.asarray(sim.market.initial_cash, dtype=np.float64) / 100.0
        self._norm = np.where(ic > 0, ic, 1.0)
        self.rows = 0
        """Rows recorded so far (staged or written)."""
        cap = self.BLOCK_TICKS * n
        self._feats = np.empty((cap, len(FEATURE_NAMES)))
        self._tick = np.empty(cap, dtype=np.uint64)
        self._agent = np.empty(cap, dtype=np.int64)
        self._action = np.empty(cap, dtype=np.int8)
        self._f64 = np.empty((cap, len(_F64_COLUMNS)))
        self._run_codes = np.zeros(cap, dtype=np.int32)
        self._n = 0
        self._open: tuple[int, np.ndarray | None] | None = None

    def capture(self, obs_before: np.ndarray, agents: np.ndarray | Sequence[int] | None = None) -> None:
        """Stage the ``f_`` features of the tick about to run (call before the step).

        Args:
            obs_before: All agents' features at the start of the tick ``(n_agents, F)``.
            agents: Agent ids to record, ascending (default: all).
        """
        idx = None if agents is None else np.asarray(agents, dtype=np.int64)
        k = obs_before.shape[0] if idx is None else idx.shape[0]
        if self._n + k > self._feats.shape[0]:
            self.flush()
        lo = self._n
        if idx is None:
            self._feats[lo : lo + k] = obs_before
        else:
            np.take(obs_before, idx, axis=0, out=self._feats[lo : lo + k])
        self._open = (k, idx)

    def commit(self, transition: Transition, obs_after: np.ndarray) -> None:
        """Stage the rest of the rows whose features :meth:`capture` took (call after the step).

        Args:
            transition: The finished tick.
            obs_after: All agents' features after it ``(n_agents, F)``.
        """
        if self._open is None:
            raise RuntimeError("commit() without capture(): capture the observations before the step")
        k, idx = self._open
        self._open = None
        tr = transition
        lo, hi = self._n, self._n + k
        action, qty, price = tr.encoded
        sel = slice(None) if idx is None else idx
        out = self._f64[lo:hi]
        reward = tr.rewards[sel]
        self._tick[lo:hi] = tr.tick
        self._agent[lo:hi] = self._ids[sel]
        self._action[lo:hi] = action[sel]
        f = tr.fills
        out[:, 0] = qty[sel]
        out[:, 1] = price[sel]
        out[:, 2] = tr.fill_quantity[sel]
        out[:, 3] = tr.fill_price[sel]
        out[:, 4] = f.buy_quantity[sel]
        out[:, 5] = tr.fill_buy_price[sel]
        out[:, 6] = f.sell_quantity[sel]
        out[:, 7] = tr.fill_sell_price[sel]
        out[:, 8] = tr.fees[sel]
        sym = self._sym_codes[sel]
        out[:, 9] = tr.trade_low[sym]
        out[:, 10] = tr.trade_high[sym]
        out[:, 11] = reward
        np.divide(reward, self._norm[sel], out=out[:, 12])
        out[:, 13:] = obs_after[sel][:, _NEXT] if idx is not None else obs_after[:, _NEXT]
        self._n = hi
        self.rows += k

    def record(
        self,
        transition: Transition,
        obs_before: np.ndarray,
        obs_after: np.ndarray,
        agents: np.ndarray | Sequence[int] | None = None,
    ) -> None:
        """Stage the rows of one transition (:meth:`capture` then :meth:`commit`).

        Args:
            transition: The finished tick.
            obs_before: All agents' features at its start ``(n_agents, F)``.
            obs_after: All agents' features after it ``(n_agents, F)``.
            agents: Agent ids to record, ascending (default: all).
        """
        self.capture(obs_before, agents)
        self.commit(transition, obs_after)

    def flush(self) -> None:
        """Hand the staged rows to the writer.

        Every staged row reaches the writer exactly once: if the write is interrupted
        (Ctrl-C while waiting for a slow disk), the rows the writer did accept leave the
        staging block and the others stay for the next flush.
        """
        n = self._n
        if n == 0:
            return
        f = self._f64
        agent = self._agent[:n]
        before = self.writer.rows_written
        try:
            self._write(n, f, agent)
        finally:
            self._drop_staged(self.writer.rows_written - before)

    def _drop_staged(self, k: int) -> None:
        """Remove the first ``k`` staged rows (those the writer accepted)."""
        n = self._n
        if k >= n:
            self._n = 0
            return
        if k <= 0:
            return
        for arr in (self._feats, self._tick, self._agent, self._action, self._f64):
            arr[: n - k] = arr[k:n].copy()
        self._n = n - k

    def _write(self, n: int, f: np.ndarray, agent: np.ndarray) -> None:
        self.writer.write(
            {
                "tick": self._tick[:n],
                "agent_id": self._ids[agent],
                "agent_name": self._name_codes[agent],
                "symbol": self._sym_codes[agent],
                "action": self._action[:n],
                **{name: f[:n, j] for j, name in enumerate(_F64_COLUMNS)},
                "run_id": self._run_codes[:n],
            },
            features=self._feats[:n],
        )

    def close(self) -> Path:
        """Write what is staged, finish the file and move it into place; returns its path."""
        self._open = None
        self.flush()
        return self.writer.close()

    def abort(self) -> None:
        """Drop the temporary file (the target path is never touched)."""
        self._n = 0
        self._open = None
        self.writer.abort()


class ParallelRecordingWrapper:
    """Records every live agent of a :class:`MarketParallelEnv` (PettingZoo API passthrough)."""

    def __init__(
        self, env: Any, output: str | Path, warmup: int = 100, interval: int = 1, **kw: Any
    ) -> None:
        self.env = env
        self.output = output  # as given: a trailing slash must reach the writer
        self.schedule = RecordSchedule(warmup, interval, kw.pop("ticks", None))
        self._kw = kw
        self.recorder: TransitionRecorder | None = None

    def __getattr__(self, name: str) -> Any:
        return getattr(self.env, name)

    @property
    def unwrapped(self) -> Any:
        return self.env.unwrapped if hasattr(self.env, "unwrapped") else self.env

    def reset(self, seed: int | None = None, options: dict | None = None) -> tuple[dict, dict]:
        if self.recorder is not None:
            raise RuntimeError(
                "RecordingWrapper records one episode per file; close() it and wrap again"
            )
        out = self.env.reset(seed=seed, options=options)
        self.recorder = TransitionRecorder(
            self.output, self.schedule, self.unwrapped.simulation, **self._kw
        )
        return out

    def step(self, actions: dict) -> tuple[dict, dict, dict, dict, dict]:
        u = self.unwrapped
        sim = u.simulation
        record = self.recorder is not None and self.schedule.should_record(sim.tick)
        if record:
            live = np.array(sorted(u.agent_name_mapping[a] for a in u.agents), dtype=np.int64)
            self.recorder.capture(sim.features.obs, None if len(live) == sim.n_agents else live)
        out = self.env.step(actions)
        if record:
            self.recorder.commit(u.last_transition, sim.features.obs)
        return out

    def step_array(self, actions: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, bool]:
        """:meth:`MarketParallelEnv.step_array`, recorded."""
        u = self.unwrapped
        sim = u.simulation
        record = self.recorder is not None and self.schedule.should_record(sim.tick)
        if record:
            alive = u.alive
            self.recorder.capture(sim.features.obs, None if alive.all() else np.flatnonzero(alive))
        out = self.env.step_array(actions)
        if record:
            self.recorder.commit(u.last_transition, sim.features.obs)
        return out

    def close(self) -> Path | None:
        path = self.recorder.close() if self.recorder is not None else None
        self.env.close()
        return path


class GymRecordingWrapper(gym.Wrapper):
    """Records the learner's transitions of a :class:`MarketEnv` (Gymnasium passthrough)."""

    def __init__(
        self, env: gym.Env, output: str | Path, warmup: int = 100, interval: int = 1, **kw: Any
    ) -> None:
        super().__init__(env)
        self.output = output  # as given: a trailing slash must reach the writer
        self.schedule = RecordSchedule(warmup, interval, kw.pop("ticks", None))
        self._kw = kw
        self.recorder: TransitionRecorder | None = None

    def reset(self, **kwargs: Any) -> tuple[Any, dict[str, Any]]:
        if self.recorder is not None:
            raise RuntimeError(
                "RecordingWrapper records one episode per file; close() it and wrap again"
            )
        out = self.env.reset(**kwargs)
        self.recorder = TransitionRecorder(
            self.output, self.schedule, self.env.unwrapped.simulation, **self._kw
        )
        return out

    def step(self, action: Any) -> tuple[Any, float, bool, bool, dict[str, Any]]:
        u = self.env.unwrapped
        sim = u.simulation  # ResetNeeded before reset(), as the env itself would raise
        record = self.recorder is not None and self.schedule.should_record(sim.tick)
        if record:
            self.recorder.capture(sim.features.obs, [u.agent_id])
        out = self.env.step(action)
        if record:
            self.recorder.commit(u.last_transition, sim.features.obs)
        return out

    def close(self) -> None:
        if self.recorder is not None:
            self.recorder.close()
        super().close()


def RecordingWrapper(
    env: Any, output: str | Path, warmup: int = 100, interval: int = 1, **kw: Any
) -> Any:  # noqa: N802
    """Wrap ``MarketEnv`` or ``parallel_env()`` so that its transitions are recorded.

    Args:
        env: A :class:`MarketEnv` (possibly wrapped) or a :class:`MarketParallelEnv`.
        output: Parquet file (written to a temporary name, moved into place by ``close``).
        warmup: First market tick recorded.
        interval: Record ticks ``warmup, warmup + interval, ...``.
        **kw: ``ticks`` (validates ``warmup < ticks``), ``extra_flags`` (metadata),
            ``row_group_size``, ``inputs`` (files the output must not replace).

    Returns:
        A Gymnasium wrapper or a PettingZoo-style parallel wrapper; ``close()`` finishes
        the file.
    """
    if isinstance(env, gym.Env):
        return GymRecordingWrapper(env, output, warmup, interval, **kw)
    return ParallelRecordingWrapper(env, output, warmup, interval, **kw)
