"""The whole loop end to end: record -> train -> export -> load -> trade -> record -> check.

Also the shipped ``configs/tree_agents.toml`` and its model.
"""

from __future__ import annotations

import shlex
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest

from agents.models import RandomForest, load_model
from agents.training import main as train_main
from marketenv.cli import main as cli_main
from marketenv.config import load_config
from marketenv.feature_spec import FEATURE_NAMES
from recorders.check import check_recording

ROOT = Path(__file__).resolve().parents[1]
SHIPPED_CONFIG = ROOT / "configs" / "tree_agents.toml"

MARKET = """
[simulation]
ticks = 600
seed = 1

[[symbols]]
name = "ACME"

[[agents]]
type = "market_maker"
count = 2
initial_cash = 1000000.0
position_limit = 2000

[[agents]]
type = "noise_trader"
count = 8

[[agents]]
type = "momentum"
count = 1

[[agents]]
type = "mean_reversion"
count = 1

[[agents]]
type = "value_trader"
count = 2
"""

TREES = """
[[agents]]
type = "tree_agent"
count = 4
params = { model = "models/forward.json", buy_threshold = 0.5, sell_threshold = 0.5, activity = 0.8 }
"""


def record(config: Path, out: Path, seed: int, ticks: int, warmup: int = 0) -> None:
    argv = [
        "--headless-record", "--config", str(config), "--seed", str(seed), "--ticks", str(ticks),
        "--record-output", str(out), "--record-warmup", str(warmup), "--quiet",
    ]  # fmt: skip
    assert cli_main(argv) == 0


def test_record_train_export_load_trade_record_check(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    market = tmp_path / "market.toml"
    market.write_text(MARKET)
    first = tmp_path / "first.parquet"
    record(market, first, seed=11, ticks=600)

    # Train (marketenv train) and export: the model file is written by the trainer.
    (tmp_path / "configs" / "models").mkdir(parents=True)
    model_path = tmp_path / "configs" / "models" / "forward.json"
    argv = [
        str(first), "--out", str(model_path), "--label", "forward", "--horizon", "5",
        "--exclude-agent-state", "--n-estimators", "8", "--max-depth", "6", "--seed", "0",
    ]  # fmt: skip
    assert train_main(argv) == 0
    assert "wrote" in capsys.readouterr().out

    # Load it back as the market will: the whole observation vector as input.
    model = load_model(model_path, expected_features=FEATURE_NAMES)
    assert isinstance(model, RandomForest) and len(model.trees) == 8
    assert model.training["label"] == "forward" and model.training["horizon"] == 5
    assert model.training["scores"]["export_parity_max_abs_diff"] <= 1e-12

    # Trade: a config with tree agents next to the rule-based crowd, on another seed.
    trading = tmp_path / "configs" / "trading.toml"
    trading.write_text(MARKET + TREES)
    cfg = load_config(trading)
    assert Path(cfg.agents[-1].params["model"]) == model_path  # relative to the config file
    second = tmp_path / "second.parquet"
    record(trading, second, seed=12, ticks=500, warmup=20)

    report = check_recording(second)
    assert report.ok, report.format()
    table = pq.read_table(second, columns=["agent_name", "action", "tick"])
    names = table.column("agent_name").to_numpy().astype(str)
    action = table.column("action").to_numpy()
    tree = np.char.startswith(names, "TreeAgent_")
    assert sorted(set(names[tree])) == [f"TreeAgent_{i:02d}" for i in range(4)]
    assert tree.sum() == 4 * 480
    assert (action[tree] == 1).any() and (action[tree] == -1).any()
    assert cli_main(["check", str(second)]) == 0


def shipped_commands() -> list[list[str]]:
    """The regeneration commands quoted in the shipped config's header comment."""
    lines = []
    for line in SHIPPED_CONFIG.read_text().splitlines():
        if not line.startswith("#"):
            break
        lines.append(line[1:].strip())
    text = " ".join(lines).replace("\\ ", " ")
    commands = []
    for part in text.split("marketenv ")[1:]:
        words = shlex.split(part.split(" Its scores")[0].split(" The model")[0])
        commands.append(words)
    return commands


def test_shipped_config_and_model() -> None:
    cfg = load_config(SHIPPED_CONFIG)
    trees = [g for g in cfg.agents if g.type == "tree_agent"]
    assert len(trees) == 1 and trees[0].count >= 5
    model_path = Path(trees[0].params["model"])
    assert model_path.parent == ROOT / "configs" / "models"
    assert model_path.stat().st_size < 1_500_000
    model = load_model(model_path, expected_features=FEATURE_NAMES)
    assert len(model.trees) == 30 and max(model.depths) <= 8
    # The header comment says how the model was made; the file agrees.
    train = next(c for c in shipped_commands() if c[0] == "train")
    flags = {
        word: train[i + 1]
        for i, word in enumerate(train[:-1])
        if word.startswith("--") and not train[i + 1].startswith("--")
    }
    t = model.training
    assert t["label"] == flags["--label"] == "forward"
    assert t["horizon"] == int(flags["--horizon"])
    assert t["dead_zone_bps"] == float(flags["--dead-zone"])
    assert t["agents"] == flags["--agents"]
    assert t["exclude_agent_state"] and "--exclude-agent-state" in train
    assert t["model"]["n_estimators"] == int(flags["--n-estimators"])
    assert t["model"]["max_depth"] == int(flags["--max-depth"])
    assert t["model"]["min_samples_leaf"] == int(flags["--min-samples-leaf"])
    assert t["model"]["seed"] == int(flags["--seed"])
    recorded = next(c for c in shipped_commands() if c[0] == "--headless-record" and "--seed" in c)
    assert recorded[recorded.index("--record-output") + 1] == train[1]
    seed = int(recorded[recorded.index("--seed") + 1])
    assert seed != cfg.simulation.seed
    assert t["sources"][0]["metadata"]["marketenv.seed"] == seed


def test_shipped_config_records_and_checks(tmp_path: Path) -> None:
    out = tmp_path / "tree_agents.parquet"
    record(SHIPPED_CONFIG, out, seed=7, ticks=300, warmup=50)
    report = check_recording(out)
    assert report.ok, report.format()
    names = pq.read_table(out, columns=["agent_name"]).column("agent_name").to_numpy().astype(str)
    assert np.char.startswith(names, "TreeAgent_").sum() == 10 * 250
