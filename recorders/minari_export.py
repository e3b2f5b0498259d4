"""Convert a recording to a Minari dataset (Farama's offline-RL format). Needs ``pip install minari``.

Each (``env_index``, ``episode``, ``agent_id``) of a training recording (or each agent of a
single-run recording) becomes one Minari episode, in file order:

* ``observations``: the ``f_`` features of its rows, float32 (raw units; the first
  ``n`` rows give ``n`` observations);
* ``actions``: the recorded ``action`` + 1, in ``Discrete(3)`` (0 net sell, 1 no net
  order, 2 net buy: exactly ``MarketEnv``'s discrete action for a discrete learner);
* ``rewards``: ``reward`` (currency units);
* the last row supplies the final observation only, so an episode of ``n`` rows has
  ``n - 1`` transitions; the last transition is a termination when its ``next_equity``
  is <= 0 (bankruptcy), else a truncation.

Rows of one episode must be on consecutive recorded ticks (``interval=1``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pyarrow.parquet as pq
from gymnasium import spaces

from marketenv.errors import RecordingError
from marketenv.feature_spec import FEATURE_NAMES, N_FEATURES
from recorders.schema import FEATURE_PREFIX


def recording_episodes(path: str | Path) -> list[dict[str, np.ndarray]]:
    """The recording's episodes as Minari episode buffers (dicts of arrays), see the module doc.

    Raises:
        RecordingError: The file is not a recording, or an episode has fewer than 2 rows.
    """
    table = pq.read_table(path)
    names = set(table.column_names)
    feats = [FEATURE_PREFIX + n for n in FEATURE_NAMES]
    need = {"agent_id", "tick", "action", "reward", "next_equity", *feats}
    if not need <= names:
        raise RecordingError(f"{path}: not a marketenv recording (missing {sorted(need - names)[:3]})")
    col = {n: table.column(n).to_numpy() for n in ("agent_id", "tick", "action", "reward", "next_equity")}
    n = table.num_rows
    ep = table.column("episode").to_numpy() if "episode" in names else np.zeros(n, dtype=np.uint32)
    env = table.column("env_index").to_numpy() if "env_index" in names else np.zeros(n, dtype=np.uint16)
    obs = np.column_stack([table.column(c).to_numpy() for c in feats]).astype(np.float32)
    keys = np.stack([env.astype(np.int64), ep.astype(np.int64), col["agent_id"].astype(np.int64)], axis=1)
    _, first, inverse = np.unique(keys, axis=0, return_index=True, return_inverse=True)
    out = []
    for g in np.argsort(first):  # groups in file order
        rows = np.flatnonzero(inverse.reshape(-1) == g)
        if rows.size < 2:
            raise RecordingError(f"{path}: an episode has {rows.size} row; record at least 2 ticks per episode")
        t = rows[:-1]
        term = np.zeros(t.size, dtype=bool)
        trunc = np.zeros(t.size, dtype=bool)
        if col["next_equity"][rows[-2]] <= 0:
            term[-1] = True
        else:
            trunc[-1] = True
        out.append(
            {
                "observations": obs[rows],
                "actions": (col["action"][t].astype(np.int64) + 1),
                "rewards": col["reward"][t].astype(np.float64),
                "terminations": term,
                "truncations": trunc,
            }
        )
    return out


def to_minari(path: str | Path, dataset_id: str, **kwargs: Any) -> Any:
    """Write the recording as the local Minari dataset ``dataset_id`` and return it.

    Args:
        path: A recording (training or single-run).
        dataset_id: Minari's ``(namespace/)name-v<version>``.
        **kwargs: More :func:`minari.create_dataset_from_buffers` arguments
            (``author``, ``description``, ...).

    Returns:
        The ``minari.MinariDataset`` (stored under ``MINARI_DATASETS_PATH``).

    Raises:
        RecordingError: The file is not a recording.
        ImportError: Minari is not installed.
    """
    import minari
    from minari.data_collector.episode_buffer import EpisodeBuffer

    buffers = [EpisodeBuffer(id=i, **ep) for i, ep in enumerate(recording_episodes(path))]
    kwargs.setdefault("description", f"marketenv recording {Path(path).name}: learners' raw features, Discrete(3) net order direction, P&L rewards")
    kwargs.setdefault("author", "marketenv")
    kwargs.setdefault("author_email", "none")
    kwargs.setdefault("code_permalink", "none")
    return minari.create_dataset_from_buffers(
        dataset_id,
        buffers,
        observation_space=spaces.Box(-np.inf, np.inf, (N_FEATURES,), np.float32),
        action_space=spaces.Discrete(3),
        algorithm_name=kwargs.pop("algorithm_name", "marketenv recording"),
        data_format=kwargs.pop("data_format", "arrow"),
        **kwargs,
    )
