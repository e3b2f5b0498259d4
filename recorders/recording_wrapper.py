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

from marketenv.feature_spec import FEATURE_INDEX, FEATURE_NAMES
from marketenv.simulation import Simulation, Transition
from recorders.parquet_writer import ParquetRecordWriter
from recorders.schedule import RecordSchedule
from recorders.schema import build_schema, make_metadata

_MID = FEATURE_INDEX["mid_price"]
_POS = FEATURE_INDEX["position"]
_CASH = FEATURE_INDEX["cash"]
_PNL = FEATURE_INDEX["total_pnl"]
_EQ = FEATURE_INDEX["equity"]
_NEXT = np.array([_MID, _POS, _PNL, _CASH, _EQ])


class TransitionRecorder:
    """Turns market transitions into recording rows and hands them to the writer.

    Rows are queued per tick and handed to the writer ``BLOCK_TICKS`` ticks at a time
    (one call per block instead of one per tick); :meth:`close` writes what is queued.

    Args:
        output: The Parquet file to write.
        schedule: Which ticks to record.
        simulation: The simulation being recorded (for names, symbols, initial cash).
        extra_flags: More recording flags for the metadata (e.g. the command line).
        row_group_size: Rows per Parquet row group.
    """

    BLOCK_TICKS = 64

    def __init__(
        self,
        output: str | Path,
        schedule: RecordSchedule,
        simulation: Simulation,
        extra_flags: dict[str, Any] | None = None,
        row_group_size: int = 65536,
    ) -> None:
        self.schedule = schedule
        sim = simulation
        flags = {**schedule.as_flags(), **(extra_flags or {})}
        meta = make_metadata(sim.config.to_dict(), sim.seed, flags)
        self.writer = ParquetRecordWriter(
            output,
            build_schema(FEATURE_NAMES, meta),
            string_categories={
                "agent_name": [s.agent_name for s in sim.specs],
                "symbol": list(sim.market.symbol_names),
            },
            row_group_size=row_group_size,
        )
        self._ids = np.array([s.agent_id for s in sim.specs], dtype=np.uint64)
        self._name_codes = np.arange(len(sim.specs), dtype=np.int32)
        self._sym_codes = sim.agent_symbols.astype(np.int32)
        ic = np.asarray(sim.market.initial_cash, dtype=np.float64) / 100.0
        self._norm = np.where(ic > 0, ic, 1.0)
        self.rows = 0
        """Rows recorded so far (queued or written)."""
        self._pending: list[tuple] = []

    def record(
        self,
        transition: Transition,
        obs_before: np.ndarray,
        obs_after: np.ndarray,
        agents: np.ndarray | Sequence[int] | None = None,
    ) -> None:
        """Queue the rows of one transition (written in blocks of ``BLOCK_TICKS`` ticks).

        Args:
            transition: The finished tick.
            obs_before: All agents' features at its start ``(n_agents, F)``; kept, so pass
                a copy that is not modified later.
            obs_after: All agents' features after it ``(n_agents, F)``.
            agents: Agent ids to record, ascending (default: all).
        """
        tr = transition
        action, qty, price = tr.encoded
        reward = tr.rewards
        after = obs_after[:, _NEXT]
        feats = obs_before
        cols = (action, qty, price, tr.fill_quantity, tr.fill_price, reward)
        if agents is not None:
            idx = np.asarray(agents, dtype=np.int64)
            cols = tuple(c[idx] for c in cols)
            after = after[idx]
            feats = feats[idx]
            ids, names, syms, norm = self._ids[idx], self._name_codes[idx], self._sym_codes[idx], self._norm[idx]
        else:
            ids, names, syms, norm = self._ids, self._name_codes, self._sym_codes, self._norm
        n = feats.shape[0]
        self._pending.append((np.full(n, tr.tick, dtype=np.uint64), ids, names, syms, norm, cols, after, feats))
        self.rows += n
        if len(self._pending) >= self.BLOCK_TICKS:
            self.flush()

    def flush(self) -> None:
        """Hand the queued rows to the writer."""
        p = self._pending
        if not p:
            return
        self._pending = []
        cat = np.concatenate
        cols = [cat([x[5][j] for x in p]) for j in range(6)]
        after = cat([x[6] for x in p])
        reward = cols[5]
        self.writer.write(
            {
                "tick": cat([x[0] for x in p]),
                "agent_id": cat([x[1] for x in p]),
                "agent_name": cat([x[2] for x in p]),
                "symbol": cat([x[3] for x in p]),
                "action": cols[0],
                "action_quantity": cols[1],
                "action_price": cols[2],
                "fill_quantity": cols[3].astype(np.float64),
                "fill_price": cols[4],
                "reward": reward,
                "reward_normalized": reward / cat([x[4] for x in p]),
                "next_mid_price": after[:, 0],
                "next_position": after[:, 1],
                "next_pnl": after[:, 2],
                "next_cash": after[:, 3],
                "next_equity": after[:, 4],
            },
            features=cat([x[7] for x in p]),
        )

    def close(self) -> Path:
        """Write what is queued, finish the file and move it into place; returns its path."""
        self.flush()
        return self.writer.close()

    def abort(self) -> None:
        """Drop the temporary file (the target path is never touched)."""
        self._pending = []
        self.writer.abort()


class ParallelRecordingWrapper:
    """Records every live agent of a :class:`MarketParallelEnv` (PettingZoo API passthrough)."""

    def __init__(
        self, env: Any, output: str | Path, warmup: int = 100, interval: int = 1, **kw: Any
    ) -> None:
        self.env = env
        self.output = Path(output)
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
        record = self.schedule.should_record(sim.tick)
        if record:
            before = sim.features.obs.copy()
            live = np.array(sorted(u.agent_name_mapping[a] for a in u.agents), dtype=np.int64)
        out = self.env.step(actions)
        if record and self.recorder is not None:
            n = sim.n_agents
            self.recorder.record(
                u.last_transition, before, sim.features.obs, None if len(live) == n else live
            )
        return out

    def step_array(self, actions: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, bool]:
        """:meth:`MarketParallelEnv.step_array`, recorded."""
        u = self.unwrapped
        sim = u.simulation
        record = self.schedule.should_record(sim.tick)
        if record:
            before = sim.features.obs.copy()
            live = u._alive.copy()
        out = self.env.step_array(actions)
        if record and self.recorder is not None:
            self.recorder.record(u.last_transition, before, sim.features.obs, None if live.all() else np.flatnonzero(live))
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
        self.output = Path(output)
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
            self.output, self.schedule, self.env.unwrapped._sim, **self._kw
        )
        return out

    def step(self, action: Any) -> tuple[Any, float, bool, bool, dict[str, Any]]:
        u = self.env.unwrapped
        sim = u._sim
        record = sim is not None and self.schedule.should_record(sim.tick)
        if record:
            before = sim.features.obs.copy()
        out = self.env.step(action)
        if record and self.recorder is not None:
            self.recorder.record(u.last_transition, before, sim.features.obs, [u.agent_id])
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
            ``row_group_size``.

    Returns:
        A Gymnasium wrapper or a PettingZoo-style parallel wrapper; ``close()`` finishes
        the file.
    """
    if isinstance(env, gym.Env):
        return GymRecordingWrapper(env, output, warmup, interval, **kw)
    return ParallelRecordingWrapper(env, output, warmup, interval, **kw)
