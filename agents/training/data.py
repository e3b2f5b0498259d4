"""The training rows: recordings checked, features chosen, rows read, labelled and split."""

from __future__ import annotations

import math
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from agents.models import CLASSES
from agents.training.options import FEATURE_PREFIX, TrainOptions, fail
from marketenv.errors import TrainingError
from marketenv.feature_spec import AGENT_STATE_FEATURES
from marketenv.outputs import brief, check_output

__all__ = [
    "TrainingData",
    "check_columns",
    "check_paths",
    "inspect_recordings",
    "load_rows",
    "select_features",
    "split_rows",
]

_ID_COLUMNS = ("tick", "agent_id", "agent_name", "symbol")


@dataclass
class TrainingData:
    """The rows used for training and testing, after filtering and labelling."""

    x: np.ndarray  # (n, k) float32 features
    y: np.ndarray  # (n,) int64 labels in -1/0/1
    tick: np.ndarray  # (n,) int64
    file: np.ndarray  # (n,) int32 index into the recordings
    notes: dict[str, Any] = field(default_factory=dict)


def check_paths(options: TrainOptions) -> Path:
    """Refuse a recording given twice and an output that is not a writable new file.

    Returns:
        The model file to write.

    Raises:
        TrainingError: If a recording repeats or ``out`` names something else.
    """
    seen: dict[str, str] = {}
    for rec in options.recordings:
        key = os.path.realpath(rec)
        if key in seen:
            fail(
                f"recording {brief(rec)} is given twice (also as {brief(seen[key])}), so its rows"
                " would count twice (and be in both sets with `split` file): pass each file once"
            )
        seen[key] = rec
    out = check_output(options.out, "`out`", options.recordings, "model.json", TrainingError)
    if not out.parent.is_dir():
        fail(f"`out` {out}: directory {out.parent} does not exist; create it first")
    return out


def inspect_recordings(paths: Sequence[str]) -> list[dict[str, Any]]:
    """Check every recording's existence, format and columns; return their descriptions."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from marketenv.errors import RecordingError
    from recorders.schema import decode_metadata

    out = []
    for raw in paths:
        path = Path(raw)
        if not path.is_file():
            fail(f"recording {path} does not exist or is not a file: pass a .parquet recording")
        try:
            pf = pq.ParquetFile(path)
            schema = pf.schema_arrow
            rows = pf.metadata.num_rows
        except (OSError, pa.ArrowException) as exc:
            first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
            fail(f"recording {path} is not a readable Parquet file ({first})")
        try:
            metadata = decode_metadata(schema.metadata)
        except RecordingError as exc:
            fail(f"recording {path}: {exc}")
        out.append(
            {
                "path": str(path),
                "rows": int(rows),
                "columns": list(schema.names),
                "metadata": metadata,
            }
        )
    return out


def select_features(options: TrainOptions, sources: list[dict[str, Any]]) -> list[str]:
    """Return the training feature names (without the ``f_`` prefix), in order."""
    first = sources[0]
    available = [c[len(FEATURE_PREFIX) :] for c in first["columns"] if c.startswith(FEATURE_PREFIX)]
    every = options.features == "all"
    if every:
        names = available
        if not names:
            fail(
                f"recording {first['path']} has no f_ feature columns: it is not a marketenv recording"
            )
    else:
        names = list(options.features)
    if options.exclude_agent_state:
        names = [n for n in names if n not in AGENT_STATE_FEATURES]
        if not names:
            fail("no features left after `exclude_agent_state`: add market features to `features`")
    for src in sources:
        have = set(src["columns"])
        missing = [n for n in names if FEATURE_PREFIX + n not in have]
        if missing:
            if every:
                fail(
                    f"recording {src['path']} lacks column {FEATURE_PREFIX + missing[0]} of {first['path']}: "
                    "pass `features` with columns every file has"
                )
            fail(
                f"`features`: recording {src['path']} has no column {FEATURE_PREFIX + missing[0]}; "
                "use names from the recording (or `features` all)"
            )
    return names


def check_columns(options: TrainOptions, sources: list[dict[str, Any]]) -> None:
    """Refuse a recording without the id columns or the column the label is made of."""
    needed = [*_ID_COLUMNS, "action" if options.label == "action" else "f_mid_price"]
    for src in sources:
        missing = [c for c in needed if c not in src["columns"]]
        if missing:
            fail(
                f"recording {src['path']} is not a marketenv recording: it has no column "
                f"{missing[0]!r} (write it with marketenv --headless-record)"
            )


def load_rows(options: TrainOptions, sources: list[dict[str, Any]], features: list[str]) -> TrainingData:
    """Read, filter and label the rows of every recording (polars, lazily)."""
    import polars as pl

    horizon = int(options.horizon_ticks)
    pattern = re.compile(options.agents) if options.agents is not None else None
    frames = []
    notes: dict[str, Any] = {"rows_read": 0, "rows_after_agent_filter": 0, "agents": {}}
    feature_exprs = [pl.col(FEATURE_PREFIX + n).cast(pl.Float32) for n in features]
    keys = [pl.col("tick").cast(pl.Int64), pl.col("agent_id"), pl.col("symbol")]
    try:
        for i, src in enumerate(sources):
            lf = pl.scan_parquet(src["path"])
            names = lf.select(pl.col("agent_name").unique()).collect()["agent_name"].to_list()
            kept = sorted(
                n for n in names if n is not None and (pattern is None or pattern.search(n))
            )
            notes["agents"][src["path"]] = {"all": len(names), "kept": len(kept)}
            if pattern is not None:
                lf = lf.filter(pl.col("agent_name").is_in(kept))
            n_filtered = lf.select(pl.len()).collect().item()
            notes["rows_read"] += src["rows"]
            notes["rows_after_agent_filter"] += int(n_filtered)
            src["rows_after_agent_filter"] = int(n_filtered)
            if options.label == "action":
                frame = lf.select(
                    *keys, *feature_exprs, pl.col("action").cast(pl.Int64).alias("_y")
                )
            else:
                base = lf.select(
                    *keys, *feature_exprs, pl.col("f_mid_price").cast(pl.Float64).alias("_mid")
                )
                future = lf.select(
                    (pl.col("tick").cast(pl.Int64) - horizon).alias("tick"),
                    pl.col("agent_id"),
                    pl.col("symbol"),
                    pl.col("f_mid_price").cast(pl.Float64).alias("_future"),
                )
                frame = base.join(future, on=["tick", "agent_id", "symbol"], how="inner")
            frames.append(frame.with_columns(pl.lit(i, dtype=pl.Int32).alias("_file")))
        df = pl.concat(frames).sort(["_file", "tick", "agent_id", "symbol"]).collect()
    except pl.exceptions.PolarsError as exc:
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        fail(
            f"cannot read the recordings ({first}): check that every file is a marketenv recording"
        )
    except OSError as exc:
        fail(f"cannot read the recordings ({exc}): check the files")

    if notes["rows_after_agent_filter"] == 0:
        if pattern is not None:
            fail(f"no rows left after `agents` {options.agents!r}: no agent_name matches it")
        fail("the recordings hold no rows: record a longer run")
    x = df.select([FEATURE_PREFIX + n for n in features]).to_numpy().astype(np.float32, copy=False)
    x = np.ascontiguousarray(x)
    tick = df["tick"].to_numpy().astype(np.int64, copy=False)
    file_idx = df["_file"].to_numpy().astype(np.int32, copy=False)
    if options.label == "action":
        y = df["_y"].to_numpy().astype(np.int64, copy=False)
        bad = ~np.isin(y, CLASSES)
        if bad.any():
            fail(
                f"the action column holds {int(bad.sum())} values outside -1/0/1 (e.g. {int(y[bad][0])}): "
                "the recording is corrupt"
            )
        notes["rows_without_future"] = 0
    else:
        notes["rows_without_future"] = notes["rows_after_agent_filter"] - df.height
        if df.height == 0:
            fail(
                f"no row has a row {horizon} ticks later for the same agent and symbol: "
                "use a `horizon` that is a multiple of the recording interval and shorter than the run"
            )
        mid = df["_mid"].to_numpy()
        future = df["_future"].to_numpy()
        with np.errstate(divide="ignore", invalid="ignore"):
            change_bps = (future - mid) / mid * 1e4
        finite = np.isfinite(change_bps)
        notes["rows_without_finite_move"] = int((~finite).sum())
        y = np.where(np.abs(change_bps) >= options.dead_zone, np.sign(change_bps), 0.0)
        x, y, tick, file_idx = x[finite], y[finite].astype(np.int64), tick[finite], file_idx[finite]
        if x.shape[0] == 0:
            fail("no row has a finite mid-price move: check f_mid_price in the recordings")
    inf_cols = np.isinf(x).any(axis=0)
    if inf_cols.any():
        name = features[int(np.flatnonzero(inf_cols)[0])]
        fail(
            f"column {FEATURE_PREFIX}{name} holds infinite (or beyond float32 range) values: "
            f"the recording is corrupt; leave it out with `features`"
        )
    notes["rows_with_nan_features"] = int(np.isnan(x).any(axis=1).sum())
    return TrainingData(x=x, y=y, tick=tick, file=file_idx, notes=notes)


def split_rows(
    options: TrainOptions, data: TrainingData, sources: list[dict[str, Any]]
) -> tuple[np.ndarray, np.ndarray, dict[str, Any]]:
    """Return boolean train and test masks and a description of the split."""
    n_files = len(sources)
    if options.split == "file":
        n_test = min(max(1, round(n_files * options.test_fraction)), n_files - 1)
        test_files = list(range(n_files - n_test, n_files))
        test = np.isin(data.file, test_files)
        train = ~test
        info = {
            "kind": "file",
            "test_fraction": options.test_fraction,
            "train_files": [sources[i]["path"] for i in range(n_files - n_test)],
            "test_files": [sources[i]["path"] for i in test_files],
        }
        return train, test, info
    horizon = int(options.horizon_ticks)
    train = np.zeros(data.y.shape[0], dtype=bool)
    test = np.zeros_like(train)
    cuts = {}
    for i, src in enumerate(sources):
        in_file = data.file == i
        ticks = np.unique(data.tick[in_file])
        if ticks.size < 2:
            if n_files > 1 and ticks.size == 0:
                continue
            fail(
                f"recording {src['path']} has {ticks.size} usable tick(s); `split` time needs at "
                "least 2: record a longer run"
            )
        k = min(max(int(math.floor(ticks.size * (1.0 - options.test_fraction))), 1), ticks.size - 1)
        cut = int(ticks[k])
        test |= in_file & (data.tick >= cut)
        train |= in_file & (data.tick + horizon < cut)
        cuts[src["path"]] = cut
    info = {
        "kind": "time",
        "test_fraction": options.test_fraction,
        "gap_ticks": horizon,
        "first_test_tick": cuts,
        "rows_in_gap": int((~train & ~test).sum()),
    }
    return train, test, info

