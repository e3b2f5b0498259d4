"""Tests of :mod:`agents.training` (``scripts/export_rf.py`` / ``marketenv train``).

Each test writes small synthetic recordings with the recording schema (a few agents on
one symbol, ~2000 ticks) in which the label is learnable: the recorded action is the sign
of ``f_price_change_5`` (mostly), and ``f_news_sentiment`` announces the mid-price move
of the next 10 ticks. Every other feature is noise, NaN during the warm-up where
:data:`~marketenv.feature_spec.NAN_UNTIL` allows it.
"""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from agents.models import DecisionTree, RandomForest, load_model
from agents.training import AGENT_STATE_FEATURES, TrainingError, TrainOptions, main, train
from marketenv.feature_spec import FEATURE_INDEX, FEATURE_NAMES, NAN_UNTIL
from recorders.schema import OUTCOME_COLUMNS, build_schema, make_metadata

ROOT = Path(__file__).resolve().parents[1]
AGENTS = ("MarketMaker_01", "NoiseTrader_02", "Momentum_03")
HORIZON = 10
FAST = ["--n-estimators", "15", "--max-depth", "8"]


def write_recording(
    path: Path,
    *,
    seed: int = 0,
    n_ticks: int = 2000,
    agents: tuple[str, ...] = AGENTS,
    cash_informative: bool = False,
    constant_action: int | None = None,
) -> Path:
    """Write a synthetic recording with learnable labels; return its path.

    Args:
        path: Destination ``.parquet`` file.
        seed: Seed of the generator.
        n_ticks: Ticks 0 .. n_ticks-1, one row per (tick, agent).
        agents: Agent names; agent ids are 1, 2, ...
        cash_informative: If true, each agent's action is fixed and its cash (which
            differs per agent) is the only thing telling the agents apart.
        constant_action: If given, every action is this value.
    """
    rng = np.random.default_rng(seed)
    n_agents = len(agents)
    steps = rng.normal(0.0, 0.002, n_ticks)
    mid = 100.0 * np.exp(np.cumsum(steps))
    change5 = np.full(n_ticks, np.nan)
    change5[5:] = (mid[5:] / mid[:-5] - 1.0) * 100.0
    future = np.full(n_ticks, np.nan)
    future[:-HORIZON] = (mid[HORIZON:] / mid[:-HORIZON] - 1.0) * 1e4  # bps
    sentiment = np.clip(np.nan_to_num(future) / 30.0 + rng.normal(0, 0.1, n_ticks), -1, 1)

    rows = n_ticks * n_agents
    tick = np.repeat(np.arange(n_ticks, dtype=np.uint64), n_agents)
    agent_idx = np.tile(np.arange(n_agents), n_ticks)
    feats = rng.normal(size=(rows, len(FEATURE_NAMES)))
    for name, until in NAN_UNTIL.items():
        feats[tick < until, FEATURE_INDEX[name]] = np.nan
    t = tick.astype(np.int64)
    feats[:, FEATURE_INDEX["mid_price"]] = mid[t]
    feats[:, FEATURE_INDEX["price_change_5"]] = change5[t]
    feats[:, FEATURE_INDEX["news_sentiment"]] = sentiment[t]
    feats[:, FEATURE_INDEX["cash"]] = 10_000.0 * (agent_idx + 1) + rng.normal(0, 50, rows)

    if constant_action is not None:
        action = np.full(rows, constant_action)
    elif cash_informative:
        action = np.array([1, -1, 0])[agent_idx % 3]
    else:
        c5 = np.nan_to_num(change5[t])
        action = np.where(np.abs(c5) > 0.05, np.sign(c5), 0).astype(int)
    flip = rng.random(rows) < 0.1
    action = np.where(flip & (constant_action is None), rng.integers(-1, 2, rows), action)

    schema = build_schema(
        FEATURE_NAMES,
        make_metadata(
            {"synthetic": True, "agents": list(agents)},
            seed,
            {"warmup": 0, "interval": 1, "ticks": n_ticks},
        ),
    )
    columns: dict[str, pa.Array] = {
        "tick": pa.array(tick, pa.uint64()),
        "agent_id": pa.array((agent_idx + 1).astype(np.uint64), pa.uint64()),
        "agent_name": pa.array(np.array(agents)[agent_idx].tolist(), pa.string()),
        "symbol": pa.array(["ACME"] * rows, pa.string()),
    }
    for j, name in enumerate(FEATURE_NAMES):
        columns["f_" + name] = pa.array(feats[:, j], pa.float64())
    for name in OUTCOME_COLUMNS:
        if name == "action":
            columns[name] = pa.array(action.astype(np.int8), pa.int8())
        elif name == "next_mid_price":
            columns[name] = pa.array(np.append(mid[1:], mid[-1])[t], pa.float64())
        else:
            columns[name] = pa.array(rng.normal(size=rows), pa.float64())
    columns["run_id"] = pa.array([f"synthetic-{seed}"] * rows, pa.string())
    table = pa.table([columns[f.name] for f in schema], schema=schema)
    pq.write_table(table, path)
    return path


@pytest.fixture(scope="module")
def recording(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_recording(tmp_path_factory.mktemp("rec") / "run0.parquet", seed=0)


@pytest.fixture(scope="module")
def recording2(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_recording(tmp_path_factory.mktemp("rec") / "run1.parquet", seed=1)


def run(capsys: pytest.CaptureFixture[str], *argv: str | Path) -> tuple[int, str, str]:
    code = main([str(a) for a in argv])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_action_label_time_split(
    recording: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "model.json"
    code, stdout, stderr = run(capsys, recording, "--out", out, *FAST)
    assert code == 0, stderr
    assert stderr == ""
    model = load_model(out, expected_features=FEATURE_NAMES)
    assert isinstance(model, RandomForest)
    meta = model.training
    assert meta["label"] == "action"
    assert meta["split"]["kind"] == "time"
    assert meta["features_used"] == list(FEATURE_NAMES)
    rows = meta["rows"]
    assert rows["read"] == 6000
    assert rows["train"] + rows["test"] == 6000  # no gap for the action label
    assert rows["with_nan_features"] == 100 * 3  # price_change_100 is NaN until tick 100
    scores = meta["scores"]
    assert scores["test_accuracy"] > scores["baseline_test_accuracy"] + 0.2
    assert scores["export_parity_max_abs_diff"] <= 1e-12
    assert next(iter(meta["importances"])) == "price_change_5"
    source = meta["sources"][0]
    assert source["path"] == str(recording)
    assert source["metadata"]["marketenv.seed"] == 0
    assert source["metadata"]["marketenv.recording"]["interval"] == 1
    for text in (
        "rows: train",
        "class balance  train:",
        "test accuracy",
        "majority-class baseline",
        "top 10 feature importances:",
    ):
        assert text in stdout
    assert "  1. price_change_5" in stdout
    # The model takes the full 45-feature vector; predictions agree with the recorded actions.
    table = pq.read_table(recording, columns=[f"f_{n}" for n in FEATURE_NAMES] + ["action"])
    x = np.column_stack([table.column(f"f_{n}").to_numpy() for n in FEATURE_NAMES])[-600:]
    assert (model.predict(x) == table.column("action").to_numpy()[-600:]).mean() > 0.8


def test_forward_label_time_split_has_horizon_gap(
    recording: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "fwd.json"
    code, stdout, stderr = run(
        capsys,
        recording,
        "--out",
        out,
        "--label",
        "forward",
        "--horizon",
        HORIZON,
        "--dead-zone",
        "2",
        *FAST,
    )
    assert code == 0, stderr
    meta = load_model(out).training
    assert meta["label"] == "forward"
    assert meta["horizon"] == HORIZON
    assert meta["dead_zone_bps"] == 2.0
    rows = meta["rows"]
    assert rows["without_future"] == HORIZON * 3  # the last 10 ticks of each agent's series
    # The training rows end HORIZON ticks before the first test tick.
    assert meta["split"]["gap_ticks"] == HORIZON
    assert meta["split"]["rows_in_gap"] == HORIZON * 3
    assert rows["train"] + rows["test"] + HORIZON * 3 == 6000 - HORIZON * 3
    assert meta["scores"]["test_accuracy"] > meta["scores"]["baseline_test_accuracy"] + 0.2
    assert next(iter(meta["importances"])) == "news_sentiment"
    assert "label: forward" in stdout


def test_file_split(
    recording: Path, recording2: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "files.json"
    code, stdout, stderr = run(
        capsys, recording, recording2, "--out", out, "--split", "file", *FAST
    )
    assert code == 0, stderr
    meta = load_model(out).training
    assert meta["split"]["train_files"] == [str(recording)]
    assert meta["split"]["test_files"] == [str(recording2)]
    assert meta["rows"]["train"] == 6000 and meta["rows"]["test"] == 6000
    assert meta["scores"]["test_accuracy"] > meta["scores"]["baseline_test_accuracy"] + 0.2
    assert [s["path"] for s in meta["sources"]] == [str(recording), str(recording2)]
    assert "split: file" in stdout

    code, _, stderr = run(
        capsys, recording, recording2, "--out", out, "--split", "file", "--label", "forward", *FAST
    )
    assert code == 0, stderr
    assert (
        load_model(out).training["rows"]["without_future"] == 2 * HORIZON * 3
    )  # default horizon 10


def test_agent_state_warning(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rec = write_recording(tmp_path / "cash.parquet", cash_informative=True)
    out = tmp_path / "cash.json"
    code, stdout, stderr = run(capsys, rec, "--out", out, *FAST)
    assert code == 0
    warnings = [line for line in stderr.splitlines() if line.startswith("WARNING")]
    assert len(warnings) == 1 and "cash" in warnings[0] and "--exclude-agent-state" in warnings[0]
    assert "cash" in stdout.split("top 10 feature importances:")[1].splitlines()[1]
    assert load_model(out).training["warnings"] == warnings

    code, stdout, stderr = run(capsys, rec, "--out", out, "--exclude-agent-state", *FAST)
    assert code == 0
    assert "WARNING" not in stderr
    model = load_model(out, expected_features=FEATURE_NAMES)
    used = model.training["features_used"]
    assert len(used) == 35 and not set(used) & set(AGENT_STATE_FEATURES)
    excluded = {FEATURE_INDEX[n] for n in AGENT_STATE_FEATURES}
    assert not {f for tree in model.trees for f in tree.feature.tolist()} & excluded


def test_agents_filter_features_and_tree_model(
    recording: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "mm.json"
    code, stdout, stderr = run(
        capsys,
        recording,
        "--out",
        out,
        "--agents",
        "MarketMaker|Momentum",
        "--features",
        "f_price_change_5, rsi_14,price_change_5",
        "--model",
        "tree",
        "--max-depth",
        "6",
    )
    assert code == 0, stderr
    model = load_model(out, expected_features=FEATURE_NAMES)
    assert isinstance(model, DecisionTree)
    meta = model.training
    assert meta["features_used"] == ["price_change_5", "rsi_14"]
    assert meta["rows"]["after_agent_filter"] == 4000
    assert meta["model"]["kind"] == "tree"
    assert max(model.depths) <= 6
    assert "2 of 3" in stdout


def test_same_seed_same_file(
    recording: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    a, b = tmp_path / "a.json", tmp_path / "b.json"
    for out in (a, b):
        assert run(capsys, recording, "--out", out, "--n-estimators", "5", "--seed", "7")[0] == 0
    assert a.read_bytes() == b.read_bytes()
    json.loads(a.read_text())  # strict JSON


def _not_parquet(tmp: Path) -> list[str]:
    bad = tmp / "notes.parquet"
    bad.write_text("hello")
    return [str(bad), "--out", str(tmp / "m.json")]


def _not_recording(tmp: Path) -> list[str]:
    other = tmp / "other.parquet"
    pq.write_table(pa.table({"a": [1, 2, 3]}), other)
    return [str(other), "--out", str(tmp / "m.json")]


def _single_class(tmp: Path) -> list[str]:
    rec = write_recording(tmp / "hold.parquet", n_ticks=300, constant_action=0)
    return [str(rec), "--out", str(tmp / "m.json")]


BAD_INPUTS = [
    (
        "missing file",
        lambda rec, tmp: [str(tmp / "nope.parquet"), "--out", str(tmp / "m.json")],
        "does not exist or is not a file",
    ),
    ("not parquet", lambda rec, tmp: _not_parquet(tmp), "is not a readable Parquet file"),
    (
        "not a recording",
        lambda rec, tmp: _not_recording(tmp),
        "is not a marketenv recording: it has no column 'tick'",
    ),
    (
        "no rows after --agents",
        lambda rec, tmp: [str(rec), "--out", str(tmp / "m.json"), "--agents", "^Whale"],
        "no rows left after --agents '^Whale'",
    ),
    (
        "single class",
        lambda rec, tmp: _single_class(tmp),
        "the training labels hold a single class (0)",
    ),
    (
        "single class with a dead zone",
        lambda rec, tmp: [
            str(rec),
            "--out",
            str(tmp / "m.json"),
            "--label",
            "forward",
            "--dead-zone",
            "1e6",
        ],
        "single class (0): lower --dead-zone",
    ),
    (
        "test fraction",
        lambda rec, tmp: [str(rec), "--out", str(tmp / "m.json"), "--test-fraction", "1.5"],
        "--test-fraction must be between 0 and 1",
    ),
    (
        "n estimators",
        lambda rec, tmp: [str(rec), "--out", str(tmp / "m.json"), "--n-estimators", "0"],
        "--n-estimators must be >= 1",
    ),
    (
        "max depth not an int",
        lambda rec, tmp: [str(rec), "--out", str(tmp / "m.json"), "--max-depth", "ten"],
        "argument --max-depth: invalid int value: 'ten'",
    ),
    (
        "unknown label",
        lambda rec, tmp: [str(rec), "--out", str(tmp / "m.json"), "--label", "reward"],
        "argument --label: invalid choice: 'reward'",
    ),
    ("missing --out", lambda rec, tmp: [str(rec)], "the following arguments are required: --out"),
    (
        "no recordings",
        lambda rec, tmp: ["--out", str(tmp / "m.json")],
        "the following arguments are required: RECORDING",
    ),
    (
        "file split with one file",
        lambda rec, tmp: [str(rec), "--out", str(tmp / "m.json"), "--split", "file"],
        "--split file needs at least 2 recordings (got 1)",
    ),
    (
        "unknown feature",
        lambda rec, tmp: [
            str(rec),
            "--out",
            str(tmp / "m.json"),
            "--features",
            "rsi_14,moon_phase",
        ],
        "has no column f_moon_phase",
    ),
    (
        "horizon with action",
        lambda rec, tmp: [str(rec), "--out", str(tmp / "m.json"), "--horizon", "5"],
        "--horizon applies to --label forward only",
    ),
    (
        "negative horizon",
        lambda rec, tmp: [
            str(rec),
            "--out",
            str(tmp / "m.json"),
            "--label",
            "forward",
            "--horizon",
            "0",
        ],
        "--horizon must be >= 1",
    ),
    (
        "negative dead zone",
        lambda rec, tmp: [
            str(rec),
            "--out",
            str(tmp / "m.json"),
            "--label",
            "forward",
            "--dead-zone",
            "-1",
        ],
        "--dead-zone must be a finite number >= 0",
    ),
    (
        "horizon longer than the run",
        lambda rec, tmp: [
            str(rec),
            "--out",
            str(tmp / "m.json"),
            "--label",
            "forward",
            "--horizon",
            "99999",
        ],
        "no row has a row 99999 ticks later",
    ),
    (
        "bad regex",
        lambda rec, tmp: [str(rec), "--out", str(tmp / "m.json"), "--agents", "Market("],
        "is not a valid regular expression",
    ),
    (
        "out directory missing",
        lambda rec, tmp: [str(rec), "--out", str(tmp / "no" / "m.json")],
        "does not exist; create it first",
    ),
    (
        "only agent state excluded",
        lambda rec, tmp: [
            str(rec),
            "--out",
            str(tmp / "m.json"),
            "--features",
            "cash",
            "--exclude-agent-state",
        ],
        "no features left after --exclude-agent-state",
    ),
]


@pytest.mark.parametrize(
    ("case", "make_argv", "message"), BAD_INPUTS, ids=[c[0] for c in BAD_INPUTS]
)
def test_bad_input_exits_2_with_one_line(
    recording: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    case: str,
    make_argv,
    message: str,
) -> None:
    code, stdout, stderr = run(capsys, *make_argv(recording, tmp_path))
    assert code == 2
    assert stdout == ""
    assert stderr.count("\n") == 1, stderr
    assert stderr.startswith("marketenv train: error: ")
    assert message in stderr, stderr
    assert "Traceback" not in stderr
    assert not (tmp_path / "m.json").exists()


def test_script_wrapper(recording: Path, tmp_path: Path) -> None:
    script = ROOT / "scripts" / "export_rf.py"
    done = subprocess.run(
        [
            sys.executable,
            str(script),
            str(tmp_path / "missing.parquet"),
            "--out",
            str(tmp_path / "m.json"),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 2
    assert done.stderr.startswith("export_rf.py: error: recording ")
    assert done.stderr.count("\n") == 1
    helped = subprocess.run(
        [sys.executable, str(script), "--help"], capture_output=True, text=True, check=False
    )
    assert helped.returncode == 0
    for flag in (
        "--label",
        "--horizon",
        "--dead-zone",
        "--agents",
        "--exclude-agent-state",
        "--split",
        "--min-samples-leaf",
    ):
        assert flag in helped.stdout


# ---------------------------------------------------------------- TrainOptions (the library)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"test_fraction": 1.5}, "`test_fraction` must be between 0 and 1, exclusive (got 1.5)"),
        ({"test_fraction": "0.2"}, "`test_fraction` must be a number"),
        ({"n_estimators": 0}, "`n_estimators` must be >= 1 (got 0)"),
        ({"n_estimators": 10_001}, "`n_estimators` must be <= 10,000 (got 10,001)"),
        ({"max_depth": 65}, "`max_depth` must be <= 64"),
        ({"max_depth": 2.5}, "`max_depth` must be an integer (got 2.5)"),
        ({"min_samples_leaf": True}, "`min_samples_leaf` must be an integer (got True)"),
        ({"seed": 2**32}, "`seed` must be in 0..4294967295 (got 4294967296)"),
        ({"horizon": 5}, "`horizon` applies to `label` forward only"),
        ({"dead_zone": 1.0}, "`dead_zone` applies to `label` forward only"),
        ({"label": "forward", "horizon": 0}, "`horizon` must be >= 1 tick (got 0)"),
        ({"label": "forward", "dead_zone": float("nan")}, "`dead_zone` must be a finite number >= 0"),
        ({"label": "reward"}, "`label` must be 'action' or 'forward' (got 'reward')"),
        ({"split": "random"}, "`split` must be 'time' or 'file' (got 'random')"),
        ({"model": "svm"}, "`model` must be 'forest' or 'tree' (got 'svm')"),
        ({"split": "file"}, "`split` file needs at least 2 recordings (got 1)"),
        ({"agents": "Market("}, "`agents` 'Market(' is not a valid regular expression"),
        ({"features": "rsi_14,,sma_10"}, "`features` 'rsi_14,,sma_10' has an empty name"),
        ({"exclude_agent_state": "yes"}, "`exclude_agent_state` must be True or False"),
        ({"recordings": []}, "`recordings` must be a non-empty list"),
        ({"recordings": "run.parquet"}, "`recordings` must be a non-empty list"),
    ],
)
def test_train_options_reject_bad_values_by_parameter_name(kwargs: dict, message: str) -> None:
    with pytest.raises(TrainingError) as info:
        TrainOptions(**{"recordings": ["run.parquet"], "out": "m.json", **kwargs})
    text = str(info.value)
    assert message in text, text
    assert "--" not in text and "\n" not in text


def test_train_options_are_frozen_keyword_only_and_normalised() -> None:
    opts = TrainOptions(
        recordings=[Path("a.parquet")],
        out=Path("m.json"),
        label="forward",
        features=["f_rsi_14", "sma_10", "rsi_14"],
    )
    assert opts.recordings == ("a.parquet",) and opts.out == "m.json"
    assert (opts.horizon, opts.horizon_ticks, opts.dead_zone) == (10, 10, 0.0)
    assert opts.features == ("rsi_14", "sma_10")
    plain = TrainOptions(recordings=["a.parquet"], out="m.json", features=" All ")
    assert (plain.horizon, plain.dead_zone, plain.horizon_ticks, plain.features) == (None, None, 0, "all")
    assert TrainOptions(recordings=["a"], out="m", features="f_cash, spread").features == ("cash", "spread")
    with pytest.raises(dataclasses.FrozenInstanceError):
        opts.seed = 1  # type: ignore[misc]
    with pytest.raises(TypeError):
        TrainOptions(["a.parquet"], "m.json")  # type: ignore[misc]


def test_train_from_python_writes_the_model_and_names_parameters(
    recording: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "m.json"
    training = train(TrainOptions(recordings=[recording], out=out, n_estimators=5, max_depth=4))
    model = load_model(out)
    assert model.training["model"] == training["model"]
    assert training["model"]["n_estimators"] == len(model.trees) == 5
    assert "wrote " in capsys.readouterr().out
    for options, needle in (
        (TrainOptions(recordings=[recording], out=tmp_path), "`out` "),
        (TrainOptions(recordings=[recording], out=out, agents="^Whale"), "no rows left after `agents` '^Whale'"),
        (TrainOptions(recordings=[recording], out=out, features="cash", exclude_agent_state=True),
         "no features left after `exclude_agent_state`"),
    ):
        with pytest.raises(TrainingError) as info:
            train(options)
        assert needle in str(info.value) and "--" not in str(info.value)
