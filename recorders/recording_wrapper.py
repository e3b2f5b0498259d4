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


class TransitionRecorder:
    """Turns market transitions into recording rows and hands them to the writer.

    Args:
        output: The Parquet file to write.
        schedule: Which ticks to record.
        simulation: The simulation being recorded (for names, symbols, initial cash).
        extra_flags: More recording flags for the metadata (e.g. the command line).
        row_group_size: Rows per Parquet row group.
    """

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

    def record(
        self,
        transition: Transition,
        obs_before: np.ndarray,
        obs_after: np.ndarray,
        agents: np.ndarray | Sequence[int] | None = None,
    ) -> None:
        """Write the rows of one transition.

        Args:
            transition: The finished tick.
            obs_before: All agents' features at its start ``(n_agents, F)``.
            obs_after: All agents' features after it ``(n_agents, F)``.
            agents: Agent ids to record, ascending (default: all).
        """
        tr = transition
        action, qty, price = tr.encoded_actions()
        reward = tr.rewards
        cols = {
            "tick": np.uint64(tr.tick),
            "agent_id": self._ids,
            "agent_name": self._name_codes,
            "symbol": self._sym_codes,
            "action": action,
            "action_quantity": qty,
            "action_price": price,
            "fill_quantity": tr.fill_quantity.astype(np.float64),
            "fill_price": tr.fill_price,
            "reward": reward,
            "reward_normalized": reward / self._norm,
            "next_mid_price": obs_after[:, _MID],
            "next_position": obs_after[:, _POS],
            "next_pnl": obs_after[:, _PNL],
            "next_cash": obs_after[:, _CASH],
            "next_equity": obs_after[:, _EQ],
        }
        feats = obs_before
        if agents is not None:
            idx = np.asarray(agents, dtype=np.int64)
            cols = {k: (v if np.ndim(v) == 0 else v[idx]) for k, v in cols.items()}
            feats = feats[idx]
        self.writer.write(cols, features=feats)
        self.rows += feats.shape[0]

    def close(self) -> Path:
        """Finish the file and move it into place; returns its path."""
        return self.writer.close()

    def abort(self) -> None:
        """Drop the temporary file (the target path is never touched)."""
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
