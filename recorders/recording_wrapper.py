"""``RecordingWrapper``: log (obs, action, fill, reward, next obs) transitions to Parquet.

The wrapper decides *when* to record (a :class:`~recorders.schedule.RecordSchedule`:
warm-up and interval, on the market tick); the
:class:`~recorders.parquet_writer.ParquetRecordWriter` decides *how* (buffers, row groups,
atomic rename). It wraps both environments:

* :class:`marketenv.parallel_env.MarketParallelEnv`: one row per live learner per
  recorded tick (every slot on the ``--headless-record`` path);
* :class:`marketenv.env.MarketEnv` (Gymnasium): one row per recorded step, the learner's.

:func:`RecordingWrapper` records episode after episode into one file (``episode`` and
``env_index`` columns), also from the envs of a vector env sharing one
:class:`Recording`.

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
from pettingzoo.utils.wrappers import BaseParallelWrapper

from marketenv.actions import OutcomeArray
from marketenv.config import model_inputs
from marketenv.feature_spec import FEATURE_INDEX, FEATURE_NAMES
from marketenv.simulation import Simulation, Transition
from recorders.parquet_writer import ParquetRecordWriter
from recorders.schedule import RecordSchedule
from recorders.schema import (
    KEY_RUN_ID,
    OUTCOME_COLUMNS,
    build_schema,
    make_metadata,
    with_training_columns,
)
from recorders.staging import stage_outcomes

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
    features straight into the staging block) and :meth:`commit` after it.
    :meth:`close` writes what is staged.

    Args:
        output: The Parquet file to write.
        schedule: Which ticks to record.
        simulation: The simulation being recorded (for names, symbols, initial cash).
        extra_flags: More recording flags for the metadata (e.g. the command line).
        row_group_size: Rows per Parquet row group.
        inputs: Files the run reads; ``output`` must be none of them (the model files
            of the simulation's agents are added).
        training: Add the ``episode`` and ``env_index`` columns
            (:data:`recorders.schema.TRAINING_COLUMNS`), set per row by :meth:`capture`.
    """

    BLOCK_TICKS = 64

    def __init__(
        self,
        output: str | Path,
        schedule: RecordSchedule,
        simulation: Simulation,
        extra_flags: dict[str, Any] | None = None,
        row_group_size: int = 65536,
        training: bool = False,
        inputs: Sequence[str | Path] = (),
    ) -> None:
        self.schedule = schedule
        sim = simulation
        flags = {**schedule.as_flags(), **(extra_flags or {})}
        meta = make_metadata(sim.config.to_dict(), sim.seed, flags)
        schema = build_schema(FEATURE_NAMES, meta)
        self.training = training
        self.run_id: str = meta[KEY_RUN_ID]
        """The run id of every row (:func:`recorders.schema.make_run_id`)."""
        self.writer = ParquetRecordWriter(
            output,
            with_training_columns(schema) if training else schema,
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
        self._ids_i64 = self._ids.astype(np.int64)
        self._all_rows = np.arange(n, dtype=np.int64)
        self.fast = True
        """Stage compiled transitions with the kernel of :mod:`recorders.staging` (the
        NumPy path gives the same rows; ``False`` forces it)."""
        self._name_codes = np.arange(n, dtype=np.int32)
        self._sym_codes = sim.agent_symbols.astype(np.int32)
        self._sym_i64 = sim.agent_symbols.astype(np.int64)
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
        self._episode = np.zeros(cap, dtype=np.uint32)
        self._env_index = np.zeros(cap, dtype=np.uint16)
        self._n = 0
        self._open: tuple[int, np.ndarray | None] | None = None

    def capture(
        self,
        obs_before: np.ndarray,
        agents: np.ndarray | Sequence[int] | None = None,
        episode: int = 0,
        env_index: int = 0,
    ) -> None:
        """Stage the ``f_`` features of the tick about to run (call before the step).

        Args:
            obs_before: All agents' features at the start of the tick ``(n_agents, F)``.
            agents: Agent ids to record, ascending (default: all).
            episode: The rows' ``episode`` (training recordings only).
            env_index: The rows' ``env_index`` (training recordings only).
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
        if self.training:
            self._episode[lo : lo + k] = episode
            self._env_index[lo : lo + k] = env_index
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
        self._tick[lo:hi] = tr.tick
        if isinstance(tr.outcomes, OutcomeArray) and self.fast:
            f = tr.fills
            action, qty, price = tr.encoded
            stage_outcomes(
                self._f64[lo:hi], self._action[lo:hi], self._agent[lo:hi],
                self._all_rows if idx is None else idx, self._ids_i64, action, qty, price,
                f.buy_quantity, f.sell_quantity, f.buy_cents, f.sell_cents, f.fee_cents, f.low_ticks, f.high_ticks,
                self._sym_i64, tr.equity_before, tr.equity_after, self._norm, obs_after, _NEXT,
            )
            self._n = hi
            self.rows += k
            return
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
        for arr in (self._feats, self._tick, self._agent, self._action, self._f64, self._episode, self._env_index):
            arr[: n - k] = arr[k:n].copy()
        self._n = n - k

    def _write(self, n: int, f: np.ndarray, agent: np.ndarray) -> None:
        extra = {"episode": self._episode[:n], "env_index": self._env_index[:n]} if self.training else {}
        self.writer.write(
            {
                "tick": self._tick[:n],
                "agent_id": self._ids[agent],
                "agent_name": self._name_codes[agent],
                "symbol": self._sym_codes[agent],
                "action": self._action[:n],
                **{name: f[:n, j] for j, name in enumerate(_F64_COLUMNS)},
                "run_id": self._run_codes[:n],
                **extra,
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


class Recording:
    """One Parquet file that any number of wrapped envs record episodes into.

    Pass one ``Recording`` to the :func:`RecordingWrapper` of every env of a vector env
    (``make_vec_env(..., wrapper_class=RecordingWrapper, wrapper_kwargs={"recording":
    rec})``): each wrapper takes the next ``env_index`` (0, 1, ... in creation order) and
    numbers its own episodes from 0. The file is finished when the last attached wrapper
    closes (or by :meth:`close`). All envs must run the same config.

    Args:
        output: The Parquet file (written under a temporary name, moved into place when
            the recording is closed).
        warmup: First market tick recorded in each episode.
        interval: Record ticks ``warmup, warmup + interval, ...``.
        ticks: Optional tick count, validated against ``warmup``.
        extra_flags: More recording flags for the metadata.
        row_group_size: Rows per Parquet row group.
        inputs: Files the training reads; ``output`` must be none of them.
    """

    def __init__(
        self,
        output: str | Path,
        warmup: int = 100,
        interval: int = 1,
        ticks: int | None = None,
        extra_flags: dict[str, Any] | None = None,
        row_group_size: int = 65536,
        inputs: Sequence[str | Path] = (),
    ) -> None:
        self.output = output  # as given: a trailing slash must reach the writer
        self.schedule = RecordSchedule(warmup, interval, ticks)
        self._flags = {"mode": "training", **(extra_flags or {})}
        self._row_group_size = row_group_size
        self._inputs = tuple(inputs)
        self.recorder: TransitionRecorder | None = None
        self.path: Path | None = None
        self._n_envs = 0
        self._open_envs = 0

    def attach(self) -> int:
        """Register one more env writing here; returns its ``env_index``."""
        if self.path is not None:
            raise RuntimeError(f"{self.output}: this recording is closed; start a new Recording")
        self._n_envs += 1
        self._open_envs += 1
        return self._n_envs - 1

    def recorder_for(self, simulation: Simulation) -> TransitionRecorder:
        """The file's recorder, started on the first episode (from its simulation)."""
        if self.recorder is None:
            if self.path is not None:
                raise RuntimeError(f"{self.output}: this recording is closed; start a new Recording")
            self.recorder = TransitionRecorder(
                self.output,
                self.schedule,
                simulation,
                extra_flags=self._flags,
                row_group_size=self._row_group_size,
                training=True,
                inputs=self._inputs,
            )
        return self.recorder

    def detach(self) -> None:
        """One attached env closed; the last one finishes the file."""
        self._open_envs -= 1
        if self._open_envs <= 0:
            self.close()

    @property
    def rows(self) -> int:
        """Rows recorded so far."""
        return self.recorder.rows if self.recorder is not None else 0

    def close(self) -> Path | None:
        """Finish the file and move it into place; its path (``None`` if nothing ran)."""
        if self.recorder is not None and self.path is None:
            self.path = self.recorder.close()
        return self.path


class GymRecordingWrapper(gym.Wrapper):
    """Records the learner's transitions of a :class:`MarketEnv`, episode after episode.

    A regular ``gym.Wrapper``: every ``reset`` starts the next ``episode`` (rows carry it
    and the wrapper's ``env_index``), so it runs inside SB3 training and vector envs.
    ``close()`` detaches from the :class:`Recording` (the last env to close finishes
    the file).

    Args:
        env: A :class:`MarketEnv`, possibly wrapped.
        output: The Parquet file, for a recording of its own (else ``recording``).
        warmup: First market tick recorded in each episode.
        interval: Record every ``interval`` ticks.
        recording: A :class:`Recording` shared with other envs.
        **kw: ``ticks``, ``extra_flags``, ``row_group_size`` of a recording of its own.
    """

    def __init__(
        self,
        env: gym.Env,
        output: str | Path | None = None,
        warmup: int = 100,
        interval: int = 1,
        recording: Recording | None = None,
        **kw: Any,
    ) -> None:
        super().__init__(env)
        self.recording = _recording(output, recording, warmup, interval, kw)
        self.env_index = self.recording.attach()
        self.episode = -1
        self._closed = False

    def reset(self, **kwargs: Any) -> tuple[Any, dict[str, Any]]:
        out = self.env.reset(**kwargs)
        self.episode += 1
        self.recording.recorder_for(self.env.unwrapped.simulation)
        return out

    def step(self, action: Any) -> tuple[Any, float, bool, bool, dict[str, Any]]:
        u = self.env.unwrapped
        sim = u.simulation  # ResetNeeded before reset(), as the env itself would raise
        rec = self.recording.recorder
        record = rec is not None and self.episode >= 0 and self.recording.schedule.should_record(sim.tick)
        if record:
            rec.capture(sim.obs, [u.agent_id], self.episode, self.env_index)
        out = self.env.step(action)
        if record:
            rec.commit(u.last_transition, u.last_transition.next_obs)
        return out

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self.recording.detach()
        super().close()


class ParallelRecordingWrapper(BaseParallelWrapper):
    """Records the live learners of a :class:`MarketParallelEnv` (a PettingZoo wrapper).

    One row per live learner per recorded tick, through :meth:`step` and
    :meth:`step_array` alike. With ``episodes=True`` (what :func:`RecordingWrapper`
    gives) every ``reset`` starts the next ``episode`` in the same file, as
    :class:`GymRecordingWrapper`; with ``episodes=False`` the file holds one episode in
    the headless-recording layout (no ``episode``/``env_index`` columns) and a second
    ``reset`` is an error.

    Args:
        env: A :class:`MarketParallelEnv`.
        output: The Parquet file (else ``recording``).
        warmup: First market tick recorded.
        interval: Record every ``interval`` ticks.
        episodes: Many episodes per file, with the training columns.
        recording: A :class:`Recording` shared with other envs (implies ``episodes``).
        **kw: ``ticks``, ``extra_flags``, ``row_group_size``.
    """

    def __init__(
        self,
        env: Any,
        output: str | Path | None = None,
        warmup: int = 100,
        interval: int = 1,
        episodes: bool = False,
        recording: Recording | None = None,
        **kw: Any,
    ) -> None:
        super().__init__(env)
        self.episodes = episodes or recording is not None
        self.recorder: TransitionRecorder | None = None
        if self.episodes:
            self.recording: Recording | None = _recording(output, recording, warmup, interval, kw)
            self.env_index = self.recording.attach()
        else:
            if output is None:
                raise ValueError("give the output path of the recording")
            self.recording = None
            self.output = output  # as given: a trailing slash must reach the writer
            self.schedule = RecordSchedule(warmup, interval, kw.pop("ticks", None))
            self._kw = kw
            self.env_index = 0
        self.episode = -1
        self._closed = False

    def reset(self, seed: int | None = None, options: dict | None = None) -> tuple[dict, dict]:
        if not self.episodes and self.recorder is not None:
            raise RuntimeError(
                "this recording holds one episode; record with RecordingWrapper(env, path) for many"
            )
        out = self.env.reset(seed=seed, options=options)
        self.episode += 1
        sim = self.env.unwrapped.simulation
        self._learners = np.asarray(self.env.unwrapped.learner_ids, dtype=np.int64)
        if self.recording is not None:
            self.recorder = self.recording.recorder_for(sim)
        else:
            self.recorder = TransitionRecorder(self.output, self.schedule, sim, **self._kw)
        return out

    def _schedule(self) -> RecordSchedule:
        return self.recording.schedule if self.recording is not None else self.schedule

    def _capture(self) -> bool:
        u = self.env.unwrapped
        sim = u.simulation
        rec = self.recorder
        if rec is None or not self._schedule().should_record(sim.tick):
            return False
        ids = self._learners
        alive = u.alive
        if not alive.all():
            ids = ids[alive]
        rec.capture(sim.obs, None if ids.size == sim.n_agents else ids, self.episode, self.env_index)
        return True

    def step(self, actions: dict) -> tuple[dict, dict, dict, dict, dict]:
        record = self._capture()
        out = self.env.step(actions)
        if record:
            u = self.env.unwrapped
            self.recorder.commit(u.last_transition, u.last_transition.next_obs)
        return out

    def step_array(self, actions: np.ndarray | None) -> tuple[np.ndarray, np.ndarray, np.ndarray, bool]:
        """:meth:`MarketParallelEnv.step_array`, recorded (``None``: every slot by its strategy)."""
        record = self._capture()
        out = self.env.step_array(actions)
        if record:
            u = self.env.unwrapped
            self.recorder.commit(u.last_transition, u.last_transition.next_obs)
        return out

    def close(self) -> Path | None:
        path = None
        if not self._closed:
            self._closed = True
            if self.recording is not None:
                self.recording.detach()
                path = self.recording.path
            elif self.recorder is not None:
                path = self.recorder.close()
        self.env.close()
        return path


def _recording(output: str | Path | None, recording: Recording | None, warmup: int, interval: int, kw: dict[str, Any]) -> Recording:
    if recording is not None:
        if output is not None or kw:
            raise ValueError("give either an output path (and its options) or a shared recording, not both")
        return recording
    if output is None:
        raise ValueError("give the output path of the recording, or recording=Recording(path)")
    return Recording(output, warmup, interval, **kw)


def RecordingWrapper(  # noqa: N802
    env: Any,
    output: str | Path | None = None,
    warmup: int = 100,
    interval: int = 1,
    recording: Recording | None = None,
    **kw: Any,
) -> Any:
    """Record a ``MarketEnv`` or a ``parallel_env()`` episode after episode into one file.

    Rows are those of a headless recording (one per recorded tick per learner, see
    README "Recording conventions") plus ``episode`` (the env's episode number from 0)
    and ``env_index`` (which env of the :class:`Recording` wrote it; 0 alone), in the
    order they were recorded.

    Args:
        env: A :class:`MarketEnv` (possibly wrapped) or a :class:`MarketParallelEnv`.
        output: Parquet file (written to a temporary name, moved into place when the
            last env closes); or pass ``recording``.
        warmup: First market tick recorded in each episode.
        interval: Record ticks ``warmup, warmup + interval, ...``.
        recording: A :class:`Recording` shared by several envs (a vector env).
        **kw: ``ticks`` (validates ``warmup < ticks``), ``extra_flags`` (metadata),
            ``row_group_size``, ``inputs`` (files the output must not replace).

    Returns:
        A ``gym.Wrapper`` or a PettingZoo ``BaseParallelWrapper``.
    """
    if isinstance(env, gym.Env):
        return GymRecordingWrapper(env, output, warmup, interval, recording, **kw)
    return ParallelRecordingWrapper(env, output, warmup, interval, True, recording, **kw)
