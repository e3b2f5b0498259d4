"""Train a random forest (or one decision tree) on feature recordings and export it as JSON.

Command line (``scripts/export_rf.py`` and ``marketenv train`` both call :func:`main`)::

    export_rf.py RECORDING [RECORDING ...] --out model.json
        [--label action|forward] [--horizon H] [--dead-zone BPS]
        [--agents REGEX] [--features all|NAME,NAME,...] [--exclude-agent-state]
        [--split time|file] [--test-fraction F]
        [--model forest|tree] [--n-estimators N] [--max-depth D] [--min-samples-leaf N]
        [--seed S]

Labels:

* ``action`` (default): behaviour cloning; the label is the recorded ``action`` (-1/0/1).
* ``forward``: the sign of the mid-price move over the next ``H`` ticks of the same
  (agent, symbol) series: ``f_mid_price`` of the row exactly ``H`` ticks later (same file,
  ``agent_id`` and ``symbol``) against this row's. Moves smaller than ``--dead-zone`` basis
  points are labelled 0. Rows without a row ``H`` ticks later are dropped (the end of the
  run, and every row when ``H`` is not a multiple of the recording interval).

Splits never shuffle rows:

* ``time`` (default): in each file, the rows at the last ``--test-fraction`` of its
  recorded ticks are the test set; training rows end at least ``H`` ticks (the label
  horizon; 0 for ``action``) before the first test tick, so no training label looks into
  the test period. Rows in that gap are dropped.
* ``file``: the last ``max(1, round(n_files * test_fraction))`` files (in command-line
  order) are the test set; needs at least two files.

Missing values: rows with NaN features (the warm-up of the rolling indicators) are kept;
scikit-learn learns where NaN goes at each split and the exported model does the same
(see :mod:`agents.models`). Infinite feature values are an error.

The model takes the market's feature vector :data:`~marketenv.feature_spec.FEATURE_NAMES`
whenever every training feature is one of those names (unused inputs are ignored), so an
agent can feed its full observation whatever subset was trained on; otherwise it takes the
training features in order. The JSON's ``training`` object records what was done: rows,
label, split, scores, the majority-class baseline, feature importances and every source
file with its ``marketenv.*`` metadata.

Bad input (missing file, not a recording, no rows after filtering, a single class, bad
flag values) prints one line on stderr and returns exit status 2.
"""

from __future__ import annotations

import argparse
import math
import os
import re
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NoReturn

import numpy as np

from agents.models import CLASSES, DecisionTree, RandomForest, export_sklearn
from marketenv.cli import int_in_range
from marketenv.config import MAX_TICKS
from marketenv.errors import MarketEnvError
from marketenv.feature_spec import AGENT_STATE_FEATURES, FEATURE_NAMES
from marketenv.outputs import brief, check_output, stale_temps

__all__ = ["AGENT_STATE_FEATURES", "TrainingError", "build_parser", "main", "train"]

"""Features describing the agent rather than the market (dropped by --exclude-agent-state)."""

FEATURE_PREFIX = "f_"
_ID_COLUMNS = ("tick", "agent_id", "agent_name", "symbol")
_DEFAULT_HORIZON = 10
MAX_ESTIMATORS = 10_000
"""Most trees in a forest (``--n-estimators``)."""
MAX_DEPTH = 64
"""Deepest tree (``--max-depth``); deeper trees would not fit the model format's budget."""
_PARITY_SAMPLE = 20_000


class TrainingError(MarketEnvError, ValueError):
    """Bad training input; the message is one line naming the problem and the fix."""


class _Parser(argparse.ArgumentParser):
    """An argument parser whose errors are :class:`TrainingError` (one line, exit 2)."""

    def error(self, message: str) -> NoReturn:
        raise TrainingError(f"{message} (see --help)")


def build_parser(prog: str = "marketenv train") -> argparse.ArgumentParser:
    """Build the command-line parser.

    Args:
        prog: Program name shown in help and error messages.

    Returns:
        The parser; its ``error`` raises :class:`TrainingError` instead of exiting.
    """
    p = _Parser(
        prog=prog,
        description="Train a random forest (or a decision tree) on marketenv feature "
        "recordings and export it as a JSON tree model (agents.models).",
    )
    p.add_argument("recordings", nargs="+", metavar="RECORDING", help="Parquet recording(s)")
    p.add_argument("--out", required=True, metavar="MODEL.json", help="model file to write")
    p.add_argument(
        "--label",
        choices=("action", "forward"),
        default="action",
        help="action: clone the recorded action (default); forward: sign of the mid move",
    )
    p.add_argument(
        "--horizon",
        type=int_in_range(-MAX_TICKS, MAX_TICKS),
        default=None,
        metavar="H",
        help=f"forward label: ticks ahead (default {_DEFAULT_HORIZON})",
    )
    p.add_argument(
        "--dead-zone",
        type=float,
        default=None,
        metavar="BPS",
        help="forward label: moves below this many basis points are labelled 0 (default 0)",
    )
    p.add_argument("--agents", metavar="REGEX", help="keep rows whose agent_name matches")
    p.add_argument(
        "--features",
        default="all",
        metavar="LIST",
        help="comma-separated feature names (with or without f_), or 'all' (default)",
    )
    p.add_argument(
        "--exclude-agent-state",
        action="store_true",
        help="drop " + ", ".join(AGENT_STATE_FEATURES),
    )
    p.add_argument("--split", choices=("time", "file"), default="time", help="default: time")
    p.add_argument("--test-fraction", type=float, default=0.2, metavar="F", help="default 0.2")
    p.add_argument("--model", choices=("forest", "tree"), default="forest", help="default: forest")
    p.add_argument(
        "--n-estimators",
        type=int_in_range(-MAX_TICKS, MAX_ESTIMATORS),
        default=100,
        metavar="N",
        help=f"default 100, at most {MAX_ESTIMATORS:,}",
    )
    p.add_argument(
        "--max-depth",
        type=int_in_range(-MAX_TICKS, MAX_DEPTH),
        default=10,
        metavar="D",
        help=f"default 10, at most {MAX_DEPTH}",
    )
    p.add_argument(
        "--min-samples-leaf",
        type=int_in_range(-MAX_TICKS, MAX_TICKS),
        default=1,
        metavar="N",
        help="default 1",
    )
    p.add_argument(
        "--seed", type=int_in_range(-(2**32), 2**32), default=0, metavar="S", help="random_state (default 0)"
    )
    return p


@dataclass
class _Data:
    """The rows used for training and testing, after filtering and labelling."""

    x: np.ndarray  # (n, k) float32 features
    y: np.ndarray  # (n,) int64 labels in -1/0/1
    tick: np.ndarray  # (n,) int64
    file: np.ndarray  # (n,) int32 index into the recordings
    notes: dict[str, Any] = field(default_factory=dict)


def _fail(message: str) -> NoReturn:
    raise TrainingError(message)


def _check_args(args: argparse.Namespace) -> None:
    if args.label == "action":
        if args.horizon is not None:
            _fail("--horizon applies to --label forward only: drop it or pass --label forward")
        if args.dead_zone is not None:
            _fail("--dead-zone applies to --label forward only: drop it or pass --label forward")
        args.horizon_ticks = 0
    else:
        args.horizon_ticks = _DEFAULT_HORIZON if args.horizon is None else args.horizon
        if args.horizon_ticks < 1:
            _fail(f"--horizon must be >= 1 tick (got {args.horizon_ticks})")
        if args.dead_zone is None:
            args.dead_zone = 0.0
        if not math.isfinite(args.dead_zone) or args.dead_zone < 0:
            _fail(f"--dead-zone must be a finite number >= 0 basis points (got {args.dead_zone})")
    if not (math.isfinite(args.test_fraction) and 0.0 < args.test_fraction < 1.0):
        _fail(f"--test-fraction must be between 0 and 1, exclusive (got {args.test_fraction})")
    for flag, value in (
        ("--n-estimators", args.n_estimators),
        ("--max-depth", args.max_depth),
        ("--min-samples-leaf", args.min_samples_leaf),
    ):
        if value < 1:
            _fail(f"{flag} must be >= 1 (got {value})")
    if not 0 <= args.seed < 2**32:
        _fail(f"--seed must be in 0..4294967295 (got {args.seed})")
    if args.agents is not None:
        try:
            re.compile(args.agents)
        except re.error as exc:
            _fail(f"--agents {args.agents!r} is not a valid regular expression ({exc})")
    if args.split == "file" and len(args.recordings) < 2:
        _fail(
            f"--split file needs at least 2 recordings (got {len(args.recordings)}): "
            "pass more files or use --split time"
        )
    seen: dict[str, str] = {}
    for rec in args.recordings:
        key = os.path.realpath(rec)
        if key in seen:
            _fail(
                f"recording {brief(rec)} is given twice (also as {brief(seen[key])}), so its rows"
                " would count twice (and be in both sets with --split file): pass each file once"
            )
        seen[key] = rec
    out = check_output(args.out, "--out", args.recordings, "model.json", TrainingError)
    if not out.parent.is_dir():
        _fail(f"--out {out}: directory {out.parent} does not exist; create it first")


def _inspect(paths: Sequence[str]) -> list[dict[str, Any]]:
    """Check every recording's existence, format and columns; return their descriptions."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from marketenv.errors import RecordingError
    from recorders.schema import decode_metadata

    out = []
    for raw in paths:
        path = Path(raw)
        if not path.is_file():
            _fail(f"recording {path} does not exist or is not a file: pass a .parquet recording")
        try:
            pf = pq.ParquetFile(path)
            schema = pf.schema_arrow
            rows = pf.metadata.num_rows
        except (OSError, pa.ArrowException) as exc:
            first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
            _fail(f"recording {path} is not a readable Parquet file ({first})")
        try:
            metadata = decode_metadata(schema.metadata)
        except RecordingError as exc:
            _fail(f"recording {path}: {exc}")
        out.append(
            {
                "path": str(path),
                "rows": int(rows),
                "columns": list(schema.names),
                "metadata": metadata,
            }
        )
    return out


def _select_features(args: argparse.Namespace, sources: list[dict[str, Any]]) -> list[str]:
    """Return the training feature names (without the ``f_`` prefix), in order."""
    first = sources[0]
    available = [c[len(FEATURE_PREFIX) :] for c in first["columns"] if c.startswith(FEATURE_PREFIX)]
    spec = args.features.strip()
    if spec.lower() == "all":
        names = available
        if not names:
            _fail(
                f"recording {first['path']} has no f_ feature columns: it is not a marketenv recording"
            )
    else:
        names = []
        for item in spec.split(","):
            name = item.strip()
            name = name[len(FEATURE_PREFIX) :] if name.startswith(FEATURE_PREFIX) else name
            if not name:
                _fail(
                    f"--features {args.features!r} has an empty name: separate names with single commas"
                )
            if name not in names:
                names.append(name)
    if args.exclude_agent_state:
        names = [n for n in names if n not in AGENT_STATE_FEATURES]
        if not names:
            _fail("no features left after --exclude-agent-state: add market features to --features")
    for src in sources:
        have = set(src["columns"])
        missing = [n for n in names if FEATURE_PREFIX + n not in have]
        if missing:
            if spec.lower() == "all":
                _fail(
                    f"recording {src['path']} lacks column {FEATURE_PREFIX + missing[0]} of {first['path']}: "
                    "pass --features with columns every file has"
                )
            _fail(
                f"--features: recording {src['path']} has no column {FEATURE_PREFIX + missing[0]}; "
                "use names from the recording (or --features all)"
            )
    return names


def _check_columns(args: argparse.Namespace, sources: list[dict[str, Any]]) -> None:
    needed = [*_ID_COLUMNS, "action" if args.label == "action" else "f_mid_price"]
    for src in sources:
        missing = [c for c in needed if c not in src["columns"]]
        if missing:
            _fail(
                f"recording {src['path']} is not a marketenv recording: it has no column "
                f"{missing[0]!r} (write it with marketenv --headless-record)"
            )


def _load(args: argparse.Namespace, sources: list[dict[str, Any]], features: list[str]) -> _Data:
    """Read, filter and label the rows of every recording (polars, lazily)."""
    import polars as pl

    horizon = int(args.horizon_ticks)
    pattern = re.compile(args.agents) if args.agents is not None else None
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
            if args.label == "action":
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
        _fail(
            f"cannot read the recordings ({first}): check that every file is a marketenv recording"
        )
    except OSError as exc:
        _fail(f"cannot read the recordings ({exc}): check the files")

    if notes["rows_after_agent_filter"] == 0:
        if pattern is not None:
            _fail(f"no rows left after --agents {args.agents!r}: no agent_name matches it")
        _fail("the recordings hold no rows: record a longer run")
    x = df.select([FEATURE_PREFIX + n for n in features]).to_numpy().astype(np.float32, copy=False)
    x = np.ascontiguousarray(x)
    tick = df["tick"].to_numpy().astype(np.int64, copy=False)
    file_idx = df["_file"].to_numpy().astype(np.int32, copy=False)
    if args.label == "action":
        y = df["_y"].to_numpy().astype(np.int64, copy=False)
        bad = ~np.isin(y, CLASSES)
        if bad.any():
            _fail(
                f"the action column holds {int(bad.sum())} values outside -1/0/1 (e.g. {int(y[bad][0])}): "
                "the recording is corrupt"
            )
        notes["rows_without_future"] = 0
    else:
        notes["rows_without_future"] = notes["rows_after_agent_filter"] - df.height
        if df.height == 0:
            _fail(
                f"no row has a row {horizon} ticks later for the same agent and symbol: "
                "use a --horizon that is a multiple of the recording interval and shorter than the run"
            )
        mid = df["_mid"].to_numpy()
        future = df["_future"].to_numpy()
        with np.errstate(divide="ignore", invalid="ignore"):
            change_bps = (future - mid) / mid * 1e4
        finite = np.isfinite(change_bps)
        notes["rows_without_finite_move"] = int((~finite).sum())
        y = np.where(np.abs(change_bps) >= args.dead_zone, np.sign(change_bps), 0.0)
        x, y, tick, file_idx = x[finite], y[finite].astype(np.int64), tick[finite], file_idx[finite]
        if x.shape[0] == 0:
            _fail("no row has a finite mid-price move: check f_mid_price in the recordings")
    inf_cols = np.isinf(x).any(axis=0)
    if inf_cols.any():
        name = features[int(np.flatnonzero(inf_cols)[0])]
        _fail(
            f"column {FEATURE_PREFIX}{name} holds infinite (or beyond float32 range) values: "
            f"the recording is corrupt; leave it out with --features"
        )
    notes["rows_with_nan_features"] = int(np.isnan(x).any(axis=1).sum())
    return _Data(x=x, y=y, tick=tick, file=file_idx, notes=notes)


def _split(
    args: argparse.Namespace, data: _Data, sources: list[dict[str, Any]]
) -> tuple[np.ndarray, np.ndarray, dict[str, Any]]:
    """Return boolean train and test masks and a description of the split."""
    n_files = len(sources)
    if args.split == "file":
        n_test = min(max(1, round(n_files * args.test_fraction)), n_files - 1)
        test_files = list(range(n_files - n_test, n_files))
        test = np.isin(data.file, test_files)
        train = ~test
        info = {
            "kind": "file",
            "test_fraction": args.test_fraction,
            "train_files": [sources[i]["path"] for i in range(n_files - n_test)],
            "test_files": [sources[i]["path"] for i in test_files],
        }
        return train, test, info
    horizon = int(args.horizon_ticks)
    train = np.zeros(data.y.shape[0], dtype=bool)
    test = np.zeros_like(train)
    cuts = {}
    for i, src in enumerate(sources):
        in_file = data.file == i
        ticks = np.unique(data.tick[in_file])
        if ticks.size < 2:
            if n_files > 1 and ticks.size == 0:
                continue
            _fail(
                f"recording {src['path']} has {ticks.size} usable tick(s); --split time needs at "
                "least 2: record a longer run"
            )
        k = min(max(int(math.floor(ticks.size * (1.0 - args.test_fraction))), 1), ticks.size - 1)
        cut = int(ticks[k])
        test |= in_file & (data.tick >= cut)
        train |= in_file & (data.tick + horizon < cut)
        cuts[src["path"]] = cut
    info = {
        "kind": "time",
        "test_fraction": args.test_fraction,
        "gap_ticks": horizon,
        "first_test_tick": cuts,
        "rows_in_gap": int((~train & ~test).sum()),
    }
    return train, test, info


def _balance(y: np.ndarray) -> dict[str, int]:
    return {str(c): int((y == c).sum()) for c in CLASSES}


def _fmt_balance(counts: dict[str, int]) -> str:
    total = max(sum(counts.values()), 1)
    return "  ".join(f"{c:>2} {counts[c] / total:6.1%}" for c in counts)


def _fit(args: argparse.Namespace, x: np.ndarray, y: np.ndarray) -> Any:
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.tree import DecisionTreeClassifier

    if args.model == "tree":
        clf = DecisionTreeClassifier(
            max_depth=args.max_depth, min_samples_leaf=args.min_samples_leaf, random_state=args.seed
        )
    else:
        clf = RandomForestClassifier(
            n_estimators=args.n_estimators,
            max_depth=args.max_depth,
            min_samples_leaf=args.min_samples_leaf,
            random_state=args.seed,
            n_jobs=-1,
        )
    clf.fit(x, y)
    if hasattr(clf, "n_jobs"):
        clf.n_jobs = None  # predict in one thread: trees summed in order, as the export does
    return clf


def train(args: argparse.Namespace, out: Any = None) -> dict[str, Any]:
    """Run the whole pipeline for parsed arguments and write the model file.

    Args:
        args: Parsed arguments of :func:`build_parser`.
        out: Text stream for the report (default ``sys.stdout``).

    Returns:
        The ``training`` metadata written into the model file.

    Raises:
        TrainingError: On bad input (one-line message).
    """
    import sklearn
    from sklearn.metrics import balanced_accuracy_score

    import marketenv

    out = sys.stdout if out is None else out

    def say(line: str = "") -> None:
        print(line, file=out)

    _check_args(args)
    sources = _inspect(args.recordings)
    _check_columns(args, sources)
    features = _select_features(args, sources)
    data = _load(args, sources, features)
    train_mask, test_mask, split_info = _split(args, data, sources)
    n_train, n_test = int(train_mask.sum()), int(test_mask.sum())
    if n_train == 0:
        _fail(
            "no training rows: the test period or the --horizon gap covers all of them; "
            "lower --test-fraction or --horizon, or record a longer run"
        )
    if n_test == 0:
        _fail("no test rows: raise --test-fraction or record a longer run")
    y_train, y_test = data.y[train_mask], data.y[test_mask]
    present = np.unique(y_train)
    if present.size < 2:
        hint = (
            "lower --dead-zone or change --horizon"
            if args.label == "forward"
            else "select agents that trade (--agents) or use --label forward"
        )
        _fail(f"the training labels hold a single class ({int(present[0])}): {hint}")

    notes = data.notes
    agents_note = (
        f", agents matching {args.agents!r}: "
        + ", ".join(f"{v['kept']} of {v['all']}" for v in notes["agents"].values())
        if args.agents is not None
        else ""
    )
    say(
        f"recordings: {len(sources)} file(s), {notes['rows_read']:,} rows read"
        f"{agents_note} -> {notes['rows_after_agent_filter']:,} rows"
    )
    if args.label == "forward":
        say(
            f"label: forward, sign of the mid move over {args.horizon_ticks} ticks, dead zone "
            f"{args.dead_zone:g} bps; dropped {notes['rows_without_future']:,} rows without a row "
            f"{args.horizon_ticks} ticks later"
        )
    else:
        say("label: action (behaviour cloning of the recorded action)")
    excluded = " (agent state excluded)" if args.exclude_agent_state else ""
    say(
        f"features: {len(features)}{excluded}; rows with NaN features: "
        f"{notes['rows_with_nan_features']:,} (kept: the trees learn where NaN goes)"
    )
    if split_info["kind"] == "time":
        say(
            f"split: time, last {args.test_fraction:g} of each file's ticks is the test set, gap "
            f"{split_info['gap_ticks']} ticks ({split_info['rows_in_gap']:,} rows dropped)"
        )
    else:
        say(f"split: file, test file(s): {', '.join(split_info['test_files'])}")
    say(f"rows: train {n_train:,}  test {n_test:,}")
    balance_train, balance_test = _balance(y_train), _balance(y_test)
    say(f"class balance  train: {_fmt_balance(balance_train)}")
    say(f"class balance  test:  {_fmt_balance(balance_test)}")

    clf = _fit(args, data.x[train_mask], y_train)
    input_features = list(FEATURE_NAMES) if set(features) <= set(FEATURE_NAMES) else features
    model_dict = export_sklearn(clf, features, {}, input_features=input_features)
    model_cls = DecisionTree if args.model == "tree" else RandomForest
    model = model_cls.from_dict(model_dict)

    x_test = data.x[test_mask]
    pred_test = clf.predict(x_test)
    pred_train = clf.predict(data.x[train_mask])
    test_acc = float((pred_test == y_test).mean())
    train_acc = float((pred_train == y_train).mean())
    values, counts = np.unique(y_train, return_counts=True)
    majority = int(values[np.argmax(counts)])
    baseline = float((y_test == majority).mean())
    balanced = float(balanced_accuracy_score(y_test, pred_test))
    # Self-check: the exported model reproduces scikit-learn on (a sample of) the test rows.
    sample = x_test[:_PARITY_SAMPLE]
    columns = [input_features.index(n) for n in features]
    full = np.full((sample.shape[0], len(input_features)), np.nan, dtype=np.float32)
    full[:, columns] = sample
    ours = model.predict_proba(full)
    theirs = np.zeros_like(ours)
    theirs[:, [CLASSES.index(int(c)) for c in clf.classes_]] = clf.predict_proba(sample)
    parity = float(np.abs(ours - theirs).max()) if sample.shape[0] else 0.0

    importances = sorted(
        zip(features, (float(v) for v in clf.feature_importances_), strict=True),
        key=lambda item: -item[1],
    )
    say(
        f"model: {'random forest' if args.model == 'forest' else 'decision tree'}"
        + (f", {args.n_estimators} trees" if args.model == "forest" else "")
        + f", max depth {args.max_depth}, min samples leaf {args.min_samples_leaf}, seed {args.seed}"
    )
    say(
        f"test accuracy {test_acc:.4f}  vs majority-class baseline {baseline:.4f} (always {majority}); "
        f"balanced accuracy {balanced:.4f}; train accuracy {train_acc:.4f}"
    )
    say("top 10 feature importances:")
    for rank, (name, value) in enumerate(importances[:10], start=1):
        tag = "  (agent state)" if name in AGENT_STATE_FEATURES else ""
        say(f"  {rank:2d}. {name:<24} {value:.4f}{tag}")
    warnings = []
    state_top = [name for name, _ in importances[:3] if name in AGENT_STATE_FEATURES]
    if state_top:
        warnings.append(
            f"WARNING: agent-state feature(s) {', '.join(state_top)} among the top 3 importances: "
            "they identify the agent rather than the market; retrain with --exclude-agent-state"
        )
    if parity > 1e-12:
        warnings.append(
            f"WARNING: the exported model differs from scikit-learn by up to {parity:.3g} on the "
            "test rows; report this as a bug"
        )
    for line in warnings:
        print(line, file=sys.stderr)

    training = {
        "created_by": "agents.training",
        "versions": {
            "marketenv": marketenv.__version__,
            "scikit_learn": sklearn.__version__,
            "numpy": np.__version__,
        },
        "label": args.label,
        "horizon": args.horizon_ticks if args.label == "forward" else None,
        "dead_zone_bps": args.dead_zone if args.label == "forward" else None,
        "agents": args.agents,
        "features_used": features,
        "exclude_agent_state": bool(args.exclude_agent_state),
        "model": {
            "kind": args.model,
            "n_estimators": args.n_estimators if args.model == "forest" else 1,
            "max_depth": args.max_depth,
            "min_samples_leaf": args.min_samples_leaf,
            "seed": args.seed,
            "classes_seen": [int(c) for c in clf.classes_],
        },
        "rows": {
            "read": notes["rows_read"],
            "after_agent_filter": notes["rows_after_agent_filter"],
            "without_future": notes["rows_without_future"],
            "with_nan_features": notes["rows_with_nan_features"],
            "train": n_train,
            "test": n_test,
        },
        "split": split_info,
        "class_balance": {"train": balance_train, "test": balance_test},
        "scores": {
            "test_accuracy": test_acc,
            "train_accuracy": train_acc,
            "test_balanced_accuracy": balanced,
            "baseline_test_accuracy": baseline,
            "baseline_class": majority,
            "export_parity_max_abs_diff": parity,
        },
        "importances": dict(importances),
        "warnings": warnings,
        "sources": [
            {
                "path": s["path"],
                "rows": s["rows"],
                "rows_after_agent_filter": s.get("rows_after_agent_filter"),
                "metadata": s["metadata"],
            }
            for s in sources
        ],
    }
    model.training = training
    for tmp in stale_temps(Path(args.out))[0]:
        print(f"removed {tmp}, an unfinished model file left by a killed run", file=sys.stderr)
    try:
        model.save(args.out)
    except OSError as exc:
        _fail(f"cannot write --out {args.out} ({exc.strerror or exc}): pass a writable path")
    size = Path(args.out).stat().st_size
    say(
        f"wrote {args.out} ({size / 1e6:.1f} MB, {len(model.trees)} tree(s), max depth {max(model.depths)})"
    )
    return training


def main(argv: Sequence[str] | None = None, *, prog: str = "marketenv train") -> int:
    """Command-line entry point of ``scripts/export_rf.py`` and ``marketenv train``.

    Args:
        argv: Arguments after the program name (default ``sys.argv[1:]``).
        prog: Program name used in help and error messages.

    Returns:
        0 on success, 2 on bad input (after one line on stderr); ``--help`` returns 0.
    """
    parser = build_parser(prog)
    try:
        args = parser.parse_args(sys.argv[1:] if argv is None else list(argv))
        train(args)
    except SystemExit as exc:  # --help
        return int(exc.code) if isinstance(exc.code, int) else 0
    except MarketEnvError as exc:
        print(f"{prog}: error: {exc}", file=sys.stderr)
        return 2
    return 0
