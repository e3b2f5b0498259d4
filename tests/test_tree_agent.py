"""Tree agents in the market: parity with scikit-learn on a real recording, actions that
follow from the model's probabilities, batching and model sharing, and config errors."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow.parquet as pq
import pytest
from sklearn.ensemble import RandomForestClassifier

from agents.models import CLASSES, RandomForest, export_sklearn, load_model
from agents.tree_agent import TreeStrategy, clear_model_cache, load_cached, tree_signal
from marketenv.config import AgentGroupConfig, Config, SimulationConfig, default_config, load_config
from marketenv.errors import ConfigError, ModelFormatError
from marketenv.feature_spec import FEATURE_NAMES
from marketenv.simulation import Simulation
from recorders.check import check_recording
from recorders.run import run_recording

FEATURE_COLUMNS = [f"f_{n}" for n in FEATURE_NAMES]
TREE_LIMIT = 25
TREE_QUANTITY = 10
BUY_THRESHOLD = 0.50
SELL_THRESHOLD = 0.55


def small_market(ticks: int, seed: int, extra: tuple[AgentGroupConfig, ...] = ()) -> Config:
    """Two makers, eight noise traders and one of each signal type, plus ``extra``."""
    groups = (
        AgentGroupConfig(type="market_maker", count=2, initial_cash=1_000_000.0, position_limit=2000),
        AgentGroupConfig(type="noise_trader", count=8),
        AgentGroupConfig(type="momentum", count=1),
        AgentGroupConfig(type="trend_follower", count=1),
        AgentGroupConfig(type="mean_reversion", count=1),
        AgentGroupConfig(type="value_trader", count=1),
        AgentGroupConfig(type="macd_crossover", count=1),
        *extra,
    )
    cfg = dataclasses.replace(
        default_config(), agents=groups, simulation=SimulationConfig(ticks=ticks, seed=seed)
    )
    cfg.validate()
    return cfg


def read(path: Path, columns: list[str] | None = None) -> dict[str, np.ndarray]:
    table = pq.read_table(path, columns=columns)
    return {name: table.column(name).to_numpy() for name in table.column_names}


@pytest.fixture(scope="module")
def fitted(tmp_path_factory: pytest.TempPathFactory) -> tuple[RandomForestClassifier, Path]:
    """A forest predicting the sign of the mid move 10 ticks ahead in a small market.

    Trained on every agent's rows, agent state and NaN warm-up rows included.
    """
    tmp = tmp_path_factory.mktemp("tree_agent")
    rec = tmp / "train.parquet"
    run_recording(small_market(500, seed=101), rec, warmup=0, quiet=True)
    data = read(rec, [*FEATURE_COLUMNS, "tick"])
    x = np.column_stack([data[c] for c in FEATURE_COLUMNS])
    assert np.isnan(x).any(), "the warm-up rows should carry NaN features"
    tick = data["tick"].astype(np.int64)
    mid = np.zeros(tick.max() + 1)
    mid[tick] = data["f_mid_price"]  # one symbol: the same mid on every row of a tick
    keep = tick + 10 <= tick.max()
    y = np.sign(mid[tick[keep] + 10] - mid[tick[keep]]).astype(np.int64)
    clf = RandomForestClassifier(n_estimators=12, max_depth=7, random_state=0).fit(x[keep], y)
    path = tmp / "bc.json"
    RandomForest.from_dict(export_sklearn(clf, FEATURE_NAMES, {"test": True})).save(path)
    return clf, path


@pytest.fixture(scope="module")
def traded(
    fitted: tuple[RandomForestClassifier, Path], tmp_path_factory: pytest.TempPathFactory
) -> tuple[Config, Path]:
    """A recording of a market with tree agents that act on every signal (activity 1)."""
    _, model = fitted
    params = {
        "model": str(model),
        "buy_threshold": BUY_THRESHOLD,
        "sell_threshold": SELL_THRESHOLD,
        "activity": 1.0,
        "quantity": TREE_QUANTITY,
        "order_type": "ioc",
        "aggression_ticks": 1,
    }
    trees = AgentGroupConfig(type="tree_agent", count=6, position_limit=TREE_LIMIT, params=params)
    cfg = small_market(600, seed=202, extra=(trees,))
    rec = tmp_path_factory.mktemp("tree_agent_run") / "run.parquet"
    run_recording(cfg, rec, warmup=0, quiet=True)
    return cfg, rec


def test_loaded_model_equals_scikit_learn_on_every_recorded_row(
    fitted: tuple[RandomForestClassifier, Path], traded: tuple[Config, Path]
) -> None:
    clf, path = fitted
    _, rec = traded
    model = load_model(path, expected_features=FEATURE_NAMES)
    data = read(rec, FEATURE_COLUMNS)
    x = np.column_stack([data[c] for c in FEATURE_COLUMNS])
    assert x.shape[0] == 600 * 21 and np.isnan(x).any()
    theirs = np.zeros((x.shape[0], 3))
    theirs[:, [CLASSES.index(int(c)) for c in clf.classes_]] = clf.predict_proba(x)
    ours = model.predict_proba(x)
    np.testing.assert_allclose(ours, theirs, rtol=0, atol=1e-12)
    # And row by row, as a single agent's policy calls it.
    for i in range(0, x.shape[0], 997):
        np.testing.assert_allclose(model.predict_proba(x[i]), theirs[i : i + 1], rtol=0, atol=1e-12)


def test_recorded_actions_follow_from_the_model(traded: tuple[Config, Path]) -> None:
    cfg, rec = traded
    model = load_cached(cfg.agents[-1].params["model"])
    data = read(rec, [*FEATURE_COLUMNS, "agent_name", "action", "action_quantity"])
    tree = np.char.startswith(data["agent_name"].astype(str), "TreeAgent_")
    assert tree.sum() == 600 * 6
    x = np.column_stack([data[c][tree] for c in FEATURE_COLUMNS])
    action = data["action"][tree].astype(np.int64)
    qty = data["action_quantity"][tree]
    signal = tree_signal(model.predict_proba(x), BUY_THRESHOLD, SELL_THRESHOLD)
    position = x[:, FEATURE_NAMES.index("position")]
    room = np.where(signal > 0, TREE_LIMIT - position, TREE_LIMIT + position)
    # Activity 1: every signal becomes an order unless the position limit leaves no room.
    expected = np.where(room > 0, signal, 0)
    acted = action != 0
    np.testing.assert_array_equal(action[acted], signal[acted])  # the sign is the signal's
    np.testing.assert_array_equal(action, expected)
    assert np.all((qty[acted] >= 1) & (qty[acted] <= np.minimum(TREE_QUANTITY, room[acted])))
    np.testing.assert_array_equal(qty[~acted], 0)
    # The run exercised buys, sells, holds and orders capped to nothing at the limit.
    assert (action == 1).sum() > 200 and (action == -1).sum() > 200
    assert (signal == 0).sum() > 100 and ((signal != 0) & (room <= 0)).sum() > 100


def test_market_recording_with_tree_agents_passes_check(traded: tuple[Config, Path]) -> None:
    _, rec = traded
    report = check_recording(rec)
    assert report.ok, report.format()


def test_one_batched_call_per_group_and_shared_model(
    fitted: tuple[RandomForestClassifier, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    _, path = fitted
    groups = (
        AgentGroupConfig(type="tree_agent", count=4, params={"model": str(path)}),
        AgentGroupConfig(type="tree_agent", count=3, params={"model": str(path), "activity": 0.3}),
    )
    sim = Simulation(small_market(40, seed=5, extra=groups))
    strategies = [g.strategy for g in sim.crowd.groups if isinstance(g.strategy, TreeStrategy)]
    assert len(strategies) == 2 and strategies[0].model is strategies[1].model
    model = strategies[0].model
    calls: list[int] = []
    original = model.predict_proba

    def counting(x: np.ndarray) -> np.ndarray:
        calls.append(len(x))
        return original(x)

    monkeypatch.setattr(model, "predict_proba", counting)
    for _ in range(10):
        sim.step()
    assert calls == [4, 3] * 10


def test_tree_signal_rule() -> None:
    prob = np.array(
        [
            [0.2, 0.2, 0.6],  # buy
            [0.6, 0.2, 0.2],  # sell
            [0.45, 0.1, 0.45],  # tie: hold
            [0.3, 0.3, 0.4],  # p_buy below its threshold: hold
            [0.5, 0.0, 0.5],  # tie at the thresholds: hold
            [0.55, 0.0, 0.45],  # sell
        ]
    )
    np.testing.assert_array_equal(tree_signal(prob, 0.45, 0.5), [1, -1, 0, 0, 0, -1])


def test_model_cache_reloads_a_rewritten_file(
    fitted: tuple[RandomForestClassifier, Path], tmp_path: Path
) -> None:
    _, path = fitted
    copy = tmp_path / "m.json"
    copy.write_bytes(path.read_bytes())
    first = load_cached(copy)
    assert load_cached(str(copy)) is first
    d = json.loads(copy.read_text())
    d["trees"] = d["trees"][:3]
    copy.write_text(json.dumps(d))
    second = load_cached(copy)
    assert second is not first and len(second.trees) == 3
    clear_model_cache()
    assert load_cached(copy) is not second


# ------------------------------------------------------------------------- bad model files
def tree_group_toml(model: str) -> str:
    return f"""
[simulation]
ticks = 10

[[agents]]
type = "market_maker"
count = 2

[[agents]]
type = "noise_trader"
count = 3

[[agents]]
type = "tree_agent"
count = 2
params = {{ model = "{model}" }}
"""


def stump(feature: str = "price_change_1") -> dict[str, Any]:
    return {
        "format": "marketenv-tree-model",
        "format_version": 1,
        "model_type": "decision_tree",
        "feature_names": [feature],
        "classes": [-1, 0, 1],
        "trees": [
            {
                "feature": [0, -1, -1],
                "threshold": [0.0, 0.0, 0.0],
                "left": [1, -1, -1],
                "right": [2, -1, -1],
                "value": [[0.4, 0.2, 0.4], [0.8, 0.1, 0.1], [0.1, 0.2, 0.7]],
            }
        ],
    }


BAD_MODELS = {
    "missing": (None, "not found"),
    "malformed_json": ('{"format": "marketenv-tree-model", "trees": [', "is not valid JSON"),
    "unknown_feature": (json.dumps(stump("alpha_from_the_future")), "'alpha_from_the_future'"),
    "wrong_format": (json.dumps({**stump(), "format": "xgboost"}), "format 'xgboost'"),
    "bad_tree": (
        json.dumps({**stump(), "trees": [{**stump()["trees"][0], "left": [5, -1, -1]}]}),
        "left child 5",
    ),
}


@pytest.mark.parametrize("case", sorted(BAD_MODELS))
def test_bad_model_is_a_one_line_config_error(case: str, tmp_path: Path) -> None:
    text, detail = BAD_MODELS[case]
    models = tmp_path / "models"
    models.mkdir()
    if text is not None:
        (models / "m.json").write_text(text)
    cfg_path = tmp_path / "trees.toml"
    cfg_path.write_text(tree_group_toml("models/m.json"))
    with pytest.raises(ConfigError) as info:
        # A missing file fails config validation; a file's content is read (and refused)
        # when the strategy is built, which config validation never does.
        Simulation(load_config(cfg_path))
    message = str(info.value)
    assert "\n" not in message
    prefix = f"{cfg_path}: " if text is None else ""
    assert message.startswith(f"{prefix}agents[2].params.model")
    assert detail in message


@pytest.mark.parametrize("case", ["malformed_json", "unknown_feature"])
def test_the_cli_refuses_a_bad_model_before_any_work_naming_the_file(
    case: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from marketenv.cli import main

    text, detail = BAD_MODELS[case]
    (tmp_path / "models").mkdir()
    (tmp_path / "models" / "m.json").write_text(text)
    cfg_path = tmp_path / "trees.toml"
    cfg_path.write_text(tree_group_toml("models/m.json"))
    out = tmp_path / "rec.parquet"
    args = ["--headless-record", "--config", str(cfg_path), "--ticks", "5", "--quiet", "--record-output", str(out)]
    assert main(args) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and err.startswith(f"marketenv: error: {cfg_path}: agents[2].params.model")
    assert detail in err
    assert not out.exists()


def test_model_errors_from_code_name_the_group(tmp_path: Path) -> None:
    path = tmp_path / "m.json"
    path.write_text(json.dumps(stump("no_such_feature")))
    groups = (
        AgentGroupConfig(type="noise_trader", count=2),
        AgentGroupConfig(type="tree_agent", count=1, params={"model": str(path)}),
    )
    cfg = dataclasses.replace(default_config(), agents=groups)
    cfg.validate()  # the content of a model file is the strategy's to check, when built
    with pytest.raises(ConfigError, match=r"^agents\[1\]\.params\.model: .*'no_such_feature'"):
        Simulation(cfg)
    with pytest.raises(ModelFormatError, match="does not compute"):
        load_cached(path)
    with pytest.raises(ConfigError, match=r"agents\[1\]\.params\.model is required"):
        dataclasses.replace(
            cfg, agents=(groups[0], AgentGroupConfig(type="tree_agent", count=1))
        ).validate()
    path.write_text(json.dumps(stump()))
    bad_threshold = AgentGroupConfig(
        type="tree_agent", count=1, params={"model": str(path), "buy_threshold": 1.5}
    )
    with pytest.raises(ConfigError, match=r"agents\[1\]\.params\.buy_threshold must be in \[0, 1\]"):
        dataclasses.replace(cfg, agents=(groups[0], bad_threshold)).validate()
