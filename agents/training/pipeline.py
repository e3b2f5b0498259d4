""":func:`train`: recordings in, a model file out, a report on the way."""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

import numpy as np

from agents.training import data as _data
from agents.training import fit as _fit
from agents.training.data import TrainingData
from agents.training.options import TrainOptions
from marketenv.errors import TrainingError
from marketenv.feature_spec import AGENT_STATE_FEATURES
from marketenv.outputs import stale_temps

__all__ = ["train"]


@dataclass
class _Run:
    """What the steps of one training run hand to each other."""

    options: TrainOptions
    say: Callable[[str], None]
    sources: list[dict[str, Any]]
    features: list[str]
    data: TrainingData
    train_mask: np.ndarray
    test_mask: np.ndarray
    split_info: dict[str, Any]

    @property
    def y_train(self) -> np.ndarray:
        return self.data.y[self.train_mask]

    @property
    def y_test(self) -> np.ndarray:
        return self.data.y[self.test_mask]


def train(
    options: TrainOptions,
    out: TextIO | None = None,
    *,
    wording: Callable[[str], str] | None = None,
) -> dict[str, Any]:
    """Train on ``options.recordings``, write the model to ``options.out``, report on ``out``.

    Args:
        options: What to train.
        out: Text stream for the report (default ``sys.stdout``); warnings go to stderr.
        wording: Rewrites the parameter names the warnings name (the command line passes
            its flags); default: left as they are.

    Returns:
        The ``training`` metadata written into the model file.

    Raises:
        TrainingError: On bad input (one-line message naming parameters in backticks).
    """
    stream = sys.stdout if out is None else out

    def say(line: str = "") -> None:
        print(line, file=stream)

    run = _prepare(options, say)
    _report_data(run)
    clf = _fit.fit(options, run.data.x[run.train_mask], run.y_train)
    model, input_features = _fit.export(options, clf, run.features)
    scores = _fit.score(
        clf,
        model,
        run.features,
        input_features,
        (run.data.x[run.train_mask], run.y_train),
        (run.data.x[run.test_mask], run.y_test),
    )
    ranked = _fit.importances(clf, run.features)
    _report_model(run, scores, ranked)
    warnings = [(wording or str)(w) for w in _warnings(ranked, scores)]
    for line in warnings:
        print(line, file=sys.stderr)
    model.training = _metadata(run, clf, scores, ranked, warnings)
    _save(model, options, say)
    return model.training


def _prepare(options: TrainOptions, say: Callable[[str], None]) -> _Run:
    """Check the paths, read and label the rows, split them; refuse an untrainable split."""
    _data.check_paths(options)
    sources = _data.inspect_recordings(options.recordings)
    _data.check_columns(options, sources)
    features = _data.select_features(options, sources)
    data = _data.load_rows(options, sources, features)
    train_mask, test_mask, split_info = _data.split_rows(options, data, sources)
    run = _Run(options, say, sources, features, data, train_mask, test_mask, split_info)
    if not train_mask.any():
        raise TrainingError(
            "no training rows: the test period or the `horizon` gap covers all of them; "
            "lower `test_fraction` or `horizon`, or record a longer run"
        )
    if not test_mask.any():
        raise TrainingError("no test rows: raise `test_fraction` or record a longer run")
    present = np.unique(run.y_train)
    if present.size < 2:
        hint = (
            "lower `dead_zone` or change `horizon`"
            if options.label == "forward"
            else "select agents that trade (`agents`) or use `label` forward"
        )
        raise TrainingError(f"the training labels hold a single class ({int(present[0])}): {hint}")
    return run


def _report_data(run: _Run) -> None:
    options, say, notes = run.options, run.say, run.data.notes
    agents_note = (
        f", agents matching {options.agents!r}: "
        + ", ".join(f"{v['kept']} of {v['all']}" for v in notes["agents"].values())
        if options.agents is not None
        else ""
    )
    say(
        f"recordings: {len(run.sources)} file(s), {notes['rows_read']:,} rows read"
        f"{agents_note} -> {notes['rows_after_agent_filter']:,} rows"
    )
    if options.label == "forward":
        say(
            f"label: forward, sign of the mid move over {options.horizon_ticks} ticks, dead zone "
            f"{options.dead_zone:g} bps; dropped {notes['rows_without_future']:,} rows without a row "
            f"{options.horizon_ticks} ticks later"
        )
    else:
        say("label: action (behaviour cloning of the recorded action)")
    excluded = " (agent state excluded)" if options.exclude_agent_state else ""
    say(
        f"features: {len(run.features)}{excluded}; rows with NaN features: "
        f"{notes['rows_with_nan_features']:,} (kept: the trees learn where NaN goes)"
    )
    info = run.split_info
    if info["kind"] == "time":
        say(
            f"split: time, last {options.test_fraction:g} of each file's ticks is the test set, gap "
            f"{info['gap_ticks']} ticks ({info['rows_in_gap']:,} rows dropped)"
        )
    else:
        say(f"split: file, test file(s): {', '.join(info['test_files'])}")
    say(f"rows: train {int(run.train_mask.sum()):,}  test {int(run.test_mask.sum()):,}")
    say(f"class balance  train: {_fit.format_balance(_fit.balance(run.y_train))}")
    say(f"class balance  test:  {_fit.format_balance(_fit.balance(run.y_test))}")


def _report_model(run: _Run, scores: _fit.Scores, ranked: list[tuple[str, float]]) -> None:
    options, say = run.options, run.say
    forest = options.model == "forest"
    say(
        f"model: {'random forest' if forest else 'decision tree'}"
        + (f", {options.n_estimators} trees" if forest else "")
        + f", max depth {options.max_depth}, min samples leaf {options.min_samples_leaf}, seed {options.seed}"
    )
    say(
        f"test accuracy {scores.test_accuracy:.4f}  vs majority-class baseline {scores.baseline:.4f} "
        f"(always {scores.majority}); balanced accuracy {scores.balanced_accuracy:.4f}; "
        f"train accuracy {scores.train_accuracy:.4f}"
    )
    say("top 10 feature importances:")
    for rank, (name, value) in enumerate(ranked[:10], start=1):
        tag = "  (agent state)" if name in AGENT_STATE_FEATURES else ""
        say(f"  {rank:2d}. {name:<24} {value:.4f}{tag}")


def _warnings(ranked: list[tuple[str, float]], scores: _fit.Scores) -> list[str]:
    warnings = []
    state_top = [name for name, _ in ranked[:3] if name in AGENT_STATE_FEATURES]
    if state_top:
        warnings.append(
            f"WARNING: agent-state feature(s) {', '.join(state_top)} among the top 3 importances: "
            "they identify the agent rather than the market; retrain with `exclude_agent_state`"
        )
    if scores.parity > 1e-12:
        warnings.append(
            f"WARNING: the exported model differs from scikit-learn by up to {scores.parity:.3g} on the "
            "test rows; report this as a bug"
        )
    return warnings


def _metadata(
    run: _Run,
    clf: Any,
    scores: _fit.Scores,
    ranked: list[tuple[str, float]],
    warnings: list[str],
) -> dict[str, Any]:
    """The ``training`` object of the model file: what was done, on what, with which result."""
    import sklearn

    import marketenv

    options, notes = run.options, run.data.notes
    forward = options.label == "forward"
    return {
        "created_by": "agents.training",
        "versions": {
            "marketenv": marketenv.__version__,
            "scikit_learn": sklearn.__version__,
            "numpy": np.__version__,
        },
        "label": options.label,
        "horizon": options.horizon_ticks if forward else None,
        "dead_zone_bps": options.dead_zone if forward else None,
        "agents": options.agents,
        "features_used": run.features,
        "exclude_agent_state": bool(options.exclude_agent_state),
        "model": {
            "kind": options.model,
            "n_estimators": options.n_estimators if options.model == "forest" else 1,
            "max_depth": options.max_depth,
            "min_samples_leaf": options.min_samples_leaf,
            "seed": options.seed,
            "classes_seen": [int(c) for c in clf.classes_],
        },
        "rows": {
            "read": notes["rows_read"],
            "after_agent_filter": notes["rows_after_agent_filter"],
            "without_future": notes["rows_without_future"],
            "with_nan_features": notes["rows_with_nan_features"],
            "train": int(run.train_mask.sum()),
            "test": int(run.test_mask.sum()),
        },
        "split": run.split_info,
        "class_balance": {"train": _fit.balance(run.y_train), "test": _fit.balance(run.y_test)},
        "scores": scores.as_dict(),
        "importances": dict(ranked),
        "warnings": warnings,
        "sources": [
            {
                "path": s["path"],
                "rows": s["rows"],
                "rows_after_agent_filter": s.get("rows_after_agent_filter"),
                "metadata": s["metadata"],
            }
            for s in run.sources
        ],
    }


def _save(model: Any, options: TrainOptions, say: Callable[[str], None]) -> None:
    path = Path(options.out)
    for tmp in stale_temps(path)[0]:
        print(f"removed {tmp}, an unfinished model file left by a killed run", file=sys.stderr)
    try:
        model.save(path)
    except OSError as exc:
        raise TrainingError(
            f"cannot write `out` {options.out} ({exc.strerror or exc}): pass a writable path"
        ) from None
    size = path.stat().st_size
    say(
        f"wrote {options.out} ({size / 1e6:.1f} MB, {len(model.trees)} tree(s), max depth {max(model.depths)})"
    )
