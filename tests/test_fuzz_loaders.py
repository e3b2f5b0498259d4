"""Fuzzing the config and model loaders: random structures and extreme numbers.

Whatever the input, the config loader returns a valid :class:`Config` or raises
:class:`ConfigError`, and the model loader returns a model or raises
:class:`ModelFormatError`: never another exception, never a hang.
"""

from __future__ import annotations

import copy
import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from agents.models import RandomForest, load_model
from marketenv.config import Config, config_from_dict, load_config
from marketenv.errors import ConfigError, ModelFormatError

ROOT = Path(__file__).resolve().parents[1]
FUZZ = settings(
    max_examples=150,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)

EXTREME_INTS = st.sampled_from(
    [0, 1, -1, 2**31, 2**53 + 1, 2**63 - 1, 2**63, -(2**63), 2**64, 10**30, 10**309, -(10**400)]
)
EXTREME_FLOATS = st.sampled_from(
    [0.0, -0.0, 1e-320, 5e-324, 0.005, 0.015, 1e17, 1e308, -1e308, math.inf, -math.inf, math.nan]
)
SCALARS = st.one_of(
    st.booleans(),
    st.integers(),
    EXTREME_INTS,
    st.floats(allow_nan=True, allow_infinity=True),
    EXTREME_FLOATS,
    st.text(max_size=20),
    st.sampled_from(["noise_trader", "market_maker", "tree_agent", "ACME", "", "ioc"]),
)
VALUES = st.recursive(
    SCALARS,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=12), inner, max_size=4)
    ),
    max_leaves=12,
)

BASE: dict[str, Any] = {
    "simulation": {"ticks": 100, "seed": 1},
    "market": {"fee_bps": 1.0, "allow_short": True, "max_order_quantity": 100},
    "news": {"rate": 0.01, "min_duration": 5, "max_duration": 20, "impact": 0.1},
    "symbols": [{"name": "ACME", "eps": 5.0, "initial_price": 41.2}],
    "agents": [
        {"type": "market_maker", "count": 2, "initial_cash": 1000.0, "position_limit": 50},
        {"type": "noise_trader", "count": 3, "initial_position": 5, "params": {}},
    ],
}


def _paths(d: Any, prefix: tuple = ()) -> list[tuple]:
    out = [prefix]
    if isinstance(d, dict):
        for k, v in d.items():
            out += _paths(v, (*prefix, k))
    elif isinstance(d, list):
        for i, v in enumerate(d):
            out += _paths(v, (*prefix, i))
    return out


BASE_PATHS = _paths(BASE)[1:]
KEYS = sorted({p[-1] for p in BASE_PATHS if isinstance(p[-1], str)} | {
    "initial_cash", "initial_position", "volatility", "vol_of_vol", "growth", "discount_rate",
    "fallback_pe", "payout", "symbol", "activity", "quantity", "model", "spread_ticks",
})


def _set(d: Any, path: tuple, value: Any) -> None:
    for k in path[:-1]:
        d = d[k]
    d[path[-1]] = value


def loaded_or_config_error(data: Any) -> None:
    try:
        cfg = config_from_dict(data)
    except ConfigError as exc:
        assert str(exc) and "\n" not in str(exc)
        return
    assert isinstance(cfg, Config)
    cfg.validate()


def test_base_is_valid() -> None:
    assert isinstance(config_from_dict(copy.deepcopy(BASE)), Config)


@FUZZ
@given(
    st.lists(
        st.tuples(st.sampled_from(BASE_PATHS), VALUES), min_size=1, max_size=4
    )
)
def test_config_mutations(edits: list[tuple[tuple, Any]]) -> None:
    data = copy.deepcopy(BASE)
    for path, value in edits:
        try:
            _set(data, path, value)
        except (KeyError, IndexError, TypeError):  # an earlier edit removed the parent
            continue
    loaded_or_config_error(data)


@FUZZ
@given(
    st.sampled_from(["simulation", "market", "news", "symbols.0", "agents.0", "agents.1", "agents.1.params"]),
    st.sampled_from(KEYS),
    st.one_of(SCALARS, VALUES),
)
def test_config_extra_or_replaced_keys(table: str, key: str, value: Any) -> None:
    data = copy.deepcopy(BASE)
    node: Any = data
    for part in table.split("."):
        node = node[int(part)] if part.isdigit() else node[part]
    node[key] = value
    loaded_or_config_error(data)


@FUZZ
@given(st.dictionaries(st.sampled_from([*BASE, "extra"]), VALUES, max_size=6))
def test_config_random_structures(data: dict[str, Any]) -> None:
    loaded_or_config_error(data)


@FUZZ
@given(st.one_of(st.binary(max_size=300), st.text(max_size=300)))
def test_config_files_of_random_bytes(tmp_path: Path, raw: bytes | str) -> None:
    p = tmp_path / "fuzz.toml"
    p.write_bytes(raw if isinstance(raw, bytes) else raw.encode("utf-8", "surrogatepass"))
    try:
        cfg = load_config(p)
    except ConfigError:
        return
    assert isinstance(cfg, Config)


@pytest.mark.parametrize("depth", [10, 1000, 100_000])
def test_config_files_nested_deeply(tmp_path: Path, depth: int) -> None:
    p = tmp_path / "deep.toml"
    p.write_text("a = " + "[" * depth + "]" * depth + "\n" + "b = " + "{x = " * min(depth, 3000) + "1" + "}" * min(depth, 3000))
    with pytest.raises(ConfigError):
        load_config(p)


# ------------------------------------------------------------------------- models

MODEL = json.loads((ROOT / "configs" / "models" / "forward_rf.json").read_text())
SMALL_MODEL = {**MODEL, "trees": MODEL["trees"][:2], "training": {}}
MODEL_PATHS = [p for p in _paths(SMALL_MODEL)[1:] if len(p) <= 4 and (len(p) < 4 or p[-1] < 3)]


def loaded_or_model_error(tmp_path: Path, text: str) -> None:
    p = tmp_path / "fuzz.json"
    p.write_text(text)
    try:
        model = load_model(p)
    except ModelFormatError as exc:
        assert str(exc) and "\n" not in str(exc)
        return
    x = np.zeros((2, model.n_features))
    proba = model.predict_proba(x)
    assert proba.shape == (2, 3) and np.isfinite(proba).all()


def test_small_model_is_valid(tmp_path: Path) -> None:
    assert isinstance(RandomForest.from_dict(SMALL_MODEL), RandomForest)


@FUZZ
@given(st.lists(st.tuples(st.sampled_from(MODEL_PATHS), VALUES), min_size=1, max_size=3))
def test_model_mutations(tmp_path: Path, edits: list[tuple[tuple, Any]]) -> None:
    data = copy.deepcopy(SMALL_MODEL)
    for path, value in edits:
        try:
            _set(data, path, value)
        except (KeyError, IndexError, TypeError):
            continue
    loaded_or_model_error(tmp_path, json.dumps(data))


@FUZZ
@given(VALUES)
def test_model_random_structures(tmp_path: Path, data: Any) -> None:
    loaded_or_model_error(tmp_path, json.dumps(data))


@FUZZ
@given(st.text(max_size=300))
def test_model_random_text(tmp_path: Path, text: str) -> None:
    loaded_or_model_error(tmp_path, text)


@pytest.mark.parametrize(
    "number", ["1e309", "-1e309", str(10**309), "9" * 5000, "NaN", "Infinity", "1" + "0" * 400]
)
@pytest.mark.parametrize("where", ["threshold", "value", "feature", "left"])
def test_model_extreme_numbers(tmp_path: Path, number: str, where: str) -> None:
    data = copy.deepcopy(SMALL_MODEL)
    tree = data["trees"][0]
    if where == "value":
        tree["value"][0][0] = "__N__"
    else:
        tree[where][0] = "__N__"
    loaded_or_model_error(tmp_path, json.dumps(data).replace('"__N__"', number))
