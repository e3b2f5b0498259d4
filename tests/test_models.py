"""Tests of :mod:`agents.models`: parity with scikit-learn, the file format and its errors.

Parity tests fit scikit-learn models on seeded synthetic data (45 features, actions
-1/0/1), export them, and compare ``predict_proba`` on thousands of rows, including rows
placed exactly at and next to the split thresholds and rows with NaN.
"""

from __future__ import annotations

import copy
import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.tree import DecisionTreeClassifier

from agents.models import (
    CLASSES,
    DecisionTree,
    MlModel,
    RandomForest,
    TreeNodes,
    export_sklearn,
    load_model,
)
from marketenv.errors import ModelFormatError
from marketenv.feature_spec import FEATURE_NAMES

N_FEATURES = 45
NAMES = list(FEATURE_NAMES)
TOL = 1e-12


def make_data(seed: int, n: int, nan_fraction: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """Rows of 45 features with a learnable, non-linear three-class label."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, N_FEATURES))
    x[:, 3] = np.round(x[:, 3], 1)  # many ties: thresholds between repeated values
    score = x[:, 4] + 0.8 * x[:, 7] * x[:, 9] - 0.5 * x[:, 3] + 0.7 * rng.normal(size=n)
    y = np.digitize(score, [-0.6, 0.6]) - 1
    if nan_fraction:
        x[rng.random(x.shape) < nan_fraction] = np.nan
    return x, y


def expand(proba: np.ndarray, classes: np.ndarray) -> np.ndarray:
    """scikit-learn probability columns placed in the [-1, 0, 1] layout."""
    out = np.zeros((proba.shape[0], 3))
    out[:, [CLASSES.index(int(c)) for c in classes]] = proba
    return out


def threshold_rows(model: Any, x: np.ndarray, rng: np.random.Generator, n: int) -> np.ndarray:
    """Rows whose split features sit exactly at, and one float32 step around, thresholds."""
    estimators = getattr(model, "estimators_", [model])
    rows = []
    for _ in range(n):
        tree = estimators[int(rng.integers(len(estimators)))].tree_
        splits = np.flatnonzero(tree.children_left >= 0)
        row = x[int(rng.integers(len(x)))].copy()
        for node in rng.choice(splits, size=min(8, splits.size), replace=False):
            thr = tree.threshold[node]
            if not math.isfinite(thr):
                continue
            t32 = np.float32(thr)
            choice = int(rng.integers(4))
            row[tree.feature[node]] = (
                thr,
                float(t32),
                float(np.nextafter(t32, np.float32(-np.inf))),
                float(np.nextafter(t32, np.float32(np.inf))),
            )[choice]
        rows.append(row)
    return np.array(rows)


def assert_parity(ours: np.ndarray, theirs: np.ndarray) -> None:
    assert ours.shape == theirs.shape
    assert ours.dtype == np.float64
    assert np.abs(ours - theirs).max() <= TOL


@pytest.fixture(scope="module")
def data() -> tuple[np.ndarray, np.ndarray]:
    return make_data(0, 4000)


@pytest.fixture(scope="module")
def forest(data: tuple[np.ndarray, np.ndarray]) -> RandomForestClassifier:
    x, y = data
    return RandomForestClassifier(n_estimators=30, max_depth=9, random_state=0).fit(x, y)


@pytest.fixture(scope="module")
def tree(data: tuple[np.ndarray, np.ndarray]) -> DecisionTreeClassifier:
    x, y = data
    return DecisionTreeClassifier(max_depth=12, random_state=0).fit(x, y)


@pytest.fixture(scope="module")
def small_dict() -> dict[str, Any]:
    """A valid depth-3 decision tree model as a dict (the base of the error cases)."""
    x, y = make_data(1, 500)
    dt = DecisionTreeClassifier(max_depth=3, random_state=0).fit(x, y)
    return export_sklearn(dt, NAMES, {"note": "small"})


def test_forest_parity_random_rows(forest: RandomForestClassifier) -> None:
    x, _ = make_data(7, 5000)
    model = RandomForest.from_dict(export_sklearn(forest, NAMES, {}))
    ours = model.predict_proba(x)
    assert_parity(ours, expand(forest.predict_proba(x), forest.classes_))
    # The averaging follows scikit-learn's order of operations, so the match is exact.
    np.testing.assert_array_equal(ours, forest.predict_proba(x))


def test_forest_parity_at_thresholds(forest: RandomForestClassifier) -> None:
    rng = np.random.default_rng(3)
    x_train, _ = make_data(0, 4000)
    x = threshold_rows(forest, x_train, rng, 3000)
    model = RandomForest.from_dict(export_sklearn(forest, NAMES, {}))
    assert_parity(model.predict_proba(x), expand(forest.predict_proba(x), forest.classes_))


def test_tree_parity(tree: DecisionTreeClassifier) -> None:
    rng = np.random.default_rng(4)
    x_train, _ = make_data(0, 4000)
    x = np.vstack([make_data(8, 3000)[0], threshold_rows(tree, x_train, rng, 2000)])
    model = DecisionTree.from_dict(export_sklearn(tree, NAMES, {}))
    assert_parity(model.predict_proba(x), expand(tree.predict_proba(x), tree.classes_))


@pytest.mark.parametrize("model_cls", [RandomForestClassifier, DecisionTreeClassifier])
def test_parity_with_nan_trained_model(model_cls: type) -> None:
    x, y = make_data(2, 4000, nan_fraction=0.05)
    x[:, 10] = np.where(y == 1, np.nan, x[:, 10])  # NaN itself is informative here
    kwargs = {"n_estimators": 20} if model_cls is RandomForestClassifier else {}
    clf = model_cls(max_depth=8, random_state=0, **kwargs).fit(x, y)
    estimators = getattr(clf, "estimators_", [clf])
    # The "NaN versus every number" split (threshold +inf in scikit-learn) is exercised.
    assert any(np.isposinf(e.tree_.threshold).any() for e in estimators)
    exported = export_sklearn(clf, NAMES, {})
    assert all(math.isfinite(t) for tr in exported["trees"] for t in tr["threshold"])
    model = load_model_from_dict(exported)
    x_test, _ = make_data(9, 4000, nan_fraction=0.1)
    assert_parity(model.predict_proba(x_test), expand(clf.predict_proba(x_test), clf.classes_))


def test_nan_rows_on_model_trained_without_nan(forest: RandomForestClassifier) -> None:
    """scikit-learn sends NaN to the child that had more training samples; so do we."""
    x, _ = make_data(10, 3000, nan_fraction=0.2)
    model = RandomForest.from_dict(export_sklearn(forest, NAMES, {}))
    assert_parity(model.predict_proba(x), expand(forest.predict_proba(x), forest.classes_))


def test_repeated_rows_and_unused_features(forest: RandomForestClassifier) -> None:
    """Equal consecutive rows are walked once; the result must not depend on it."""
    model = RandomForest.from_dict(export_sklearn(forest, NAMES, {}))
    used = sorted({int(f) for e in forest.estimators_ for f in e.tree_.feature if f >= 0})
    unused = [f for f in range(N_FEATURES) if f not in used]
    x, _ = make_data(11, 40, nan_fraction=0.1)
    rows = np.repeat(x, 3, axis=0)  # runs of three equal rows, NaN included
    if unused:  # rows that differ only where no split looks
        rows[1::3, unused[0]] += 1.0
    rows[2::3][rows[2::3] == 0.0] = -0.0
    rows[5, used[0]] = np.nextafter(np.float32(rows[5, used[0]]), np.float32(np.inf))
    theirs = expand(forest.predict_proba(rows), forest.classes_)
    assert_parity(model.predict_proba(rows), theirs)
    for i in (0, 1, 5, 119):
        assert_parity(model.predict_proba(rows[i]), theirs[i : i + 1])
    same = np.repeat(x[:1], 50, axis=0)
    np.testing.assert_array_equal(model.predict_proba(same), np.repeat(theirs[:1], 50, axis=0))


def test_empty_batch(forest: RandomForestClassifier) -> None:
    model = RandomForest.from_dict(export_sklearn(forest, NAMES, {}))
    out = model.predict_proba(np.zeros((0, N_FEATURES)))
    assert out.shape == (0, 3) and out.dtype == np.float64


@pytest.mark.parametrize("labels", [(0, 1), (-1, 1), (-1, 0)])
def test_two_class_models_expand_to_three_columns(labels: tuple[int, int]) -> None:
    x, y3 = make_data(5, 3000)
    y = np.where(y3 > 0, labels[1], labels[0])
    rf = RandomForestClassifier(n_estimators=10, max_depth=6, random_state=1).fit(x, y)
    model = RandomForest.from_dict(export_sklearn(rf, NAMES, {}))
    x_test, _ = make_data(6, 3000)
    ours = model.predict_proba(x_test)
    assert_parity(ours, expand(rf.predict_proba(x_test), rf.classes_))
    absent = ({-1, 0, 1} - set(labels)).pop()
    assert np.all(ours[:, CLASSES.index(absent)] == 0.0)
    np.testing.assert_array_equal(model.predict(x_test), rf.predict(x_test))


def test_input_features_remap_to_full_vector() -> None:
    x, y = make_data(11, 3000)
    used = ["price_change_5", "rsi_14", "cash", "mid_price", "spread"]
    cols = [NAMES.index(n) for n in used]
    rf = RandomForestClassifier(n_estimators=10, max_depth=7, random_state=2).fit(x[:, cols], y)
    exported = export_sklearn(rf, used, {}, input_features=NAMES)
    assert exported["feature_names"] == NAMES
    model = RandomForest.from_dict(exported)
    x_test, _ = make_data(12, 2000)
    assert_parity(
        model.predict_proba(x_test), expand(rf.predict_proba(x_test[:, cols]), rf.classes_)
    )
    used_in_splits = {f for tr in exported["trees"] for f in tr["feature"] if f >= 0}
    assert used_in_splits <= set(cols)


def test_one_row_input_and_dtypes(forest: RandomForestClassifier) -> None:
    x, _ = make_data(13, 50)
    model = RandomForest.from_dict(export_sklearn(forest, NAMES, {}))
    batch = model.predict_proba(x)
    assert batch.shape == (50, 3)
    one = model.predict_proba(x[7])
    assert one.shape == (1, 3)
    np.testing.assert_array_equal(one[0], batch[7])
    np.testing.assert_array_equal(model.predict_proba(x.astype(np.float32)), batch)
    np.testing.assert_array_equal(model.predict_proba(x[7].tolist()), one)
    np.testing.assert_array_equal(model.predict_proba(np.asfortranarray(x)), batch)
    assert model.predict_proba(np.empty((0, N_FEATURES))).shape == (0, 3)
    np.testing.assert_allclose(batch.sum(axis=1), 1.0, atol=1e-12)


@pytest.mark.parametrize("shape", [(44,), (3, 44), (2, 3, 45), ()])
def test_wrong_input_shape_is_a_value_error(
    forest: RandomForestClassifier, shape: tuple[int, ...]
) -> None:
    model = RandomForest.from_dict(export_sklearn(forest, NAMES, {}))
    with pytest.raises(ValueError, match="expects rows of 45 features"):
        model.predict_proba(np.zeros(shape))


def test_float32_rounding_decides_like_scikit_learn() -> None:
    """Inputs are rounded to float32 before the comparison, as scikit-learn does."""
    model = DecisionTree(
        ["a"],
        TreeNodes(
            feature=[0, -1, -1],
            threshold=[0.1, 0.0, 0.0],
            left=[1, -1, -1],
            right=[2, -1, -1],
            missing_go_to_left=[1, 0, 0],
            value=[[0.0, 1.0, 0.0], [1.0, 0.0, 0.0], [0.0, 0.0, 1.0]],
        ),
    )
    # float32(0.1) = 0.10000000149 > 0.1, so 0.1 goes right although 0.1 <= 0.1 in float64.
    assert model.predict([[0.1]]).tolist() == [1]
    assert model.predict([[0.09999999]]).tolist() == [-1]
    assert model.predict([[float(np.nextafter(np.float32(0.1), np.float32(0)))]]).tolist() == [-1]
    assert model.predict([[math.nan]]).tolist() == [-1]  # missing_go_to_left
    assert model.predict([[math.inf]]).tolist() == [1]
    assert model.predict([[-math.inf]]).tolist() == [-1]


def test_round_trip_dict_and_file(forest: RandomForestClassifier, tmp_path: Path) -> None:
    meta = {"rows": 4000, "label": "action", "scores": {"acc": np.float64(0.5), "bad": math.nan}}
    exported = export_sklearn(forest, NAMES, meta)
    assert exported["training"]["scores"] == {"acc": 0.5, "bad": None}
    model = RandomForest.from_dict(exported)
    assert model.to_dict() == exported
    assert RandomForest.from_dict(model.to_dict()).to_dict() == exported
    path = tmp_path / "rf.json"
    model.save(path)
    text = path.read_text()
    json.loads(text, parse_constant=lambda c: pytest.fail(f"non-strict JSON constant {c}"))
    loaded = load_model(path, expected_features=FEATURE_NAMES)
    assert isinstance(loaded, RandomForest)
    assert isinstance(loaded, MlModel)
    assert loaded.feature_names == tuple(NAMES)
    assert loaded.classes.tolist() == [-1, 0, 1]
    assert loaded.training["rows"] == 4000
    assert loaded.to_dict() == exported
    x, _ = make_data(14, 1000)
    np.testing.assert_array_equal(loaded.predict_proba(x), model.predict_proba(x))
    assert RandomForest.load(path).to_dict() == exported
    assert not list(tmp_path.glob("*.tmp"))


def test_decision_tree_round_trip(tree: DecisionTreeClassifier, tmp_path: Path) -> None:
    model = DecisionTree.from_dict(export_sklearn(tree, NAMES, {"kind": "tree"}))
    path = tmp_path / "dt.json"
    model.save(path)
    loaded = load_model(path)
    assert isinstance(loaded, DecisionTree)
    assert loaded.to_dict() == model.to_dict()
    assert DecisionTree.load(path).tree.n_nodes == tree.tree_.node_count
    with pytest.raises(ModelFormatError, match="holds a decision_tree: load it with load_model"):
        RandomForest.load(path)


def test_missing_go_to_left_is_optional(small_dict: dict[str, Any]) -> None:
    d = copy.deepcopy(small_dict)
    for tr in d["trees"]:
        del tr["missing_go_to_left"]
    model = DecisionTree.from_dict(d)
    assert not model.tree.missing_go_to_left.any()
    x = np.full((1, N_FEATURES), np.nan)
    node = 0
    t = model.tree
    while t.feature[node] >= 0:
        node = t.right[node]
    np.testing.assert_array_equal(model.predict_proba(x)[0], t.value[node])


def load_model_from_dict(d: dict[str, Any]) -> MlModel:
    return (
        RandomForest.from_dict(d)
        if d["model_type"] == "random_forest"
        else DecisionTree.from_dict(d)
    )


# ----------------------------------------------------------------------------- errors


def write(tmp_path: Path, d: Any, name: str = "m.json") -> Path:
    path = tmp_path / name
    path.write_text(json.dumps(d))
    return path


def first_split(d: dict[str, Any]) -> int:
    return next(i for i, f in enumerate(d["trees"][0]["feature"]) if f >= 0)


def first_leaf(d: dict[str, Any]) -> int:
    return next(i for i, f in enumerate(d["trees"][0]["feature"]) if f < 0)


def _set(key: str, value: Any) -> Any:
    def mutate(d: dict[str, Any]) -> None:
        d[key] = value

    return mutate


def _tree(fn: Any) -> Any:
    def mutate(d: dict[str, Any]) -> None:
        fn(d["trees"][0], d)

    return mutate


def _cycle(t: dict[str, Any], d: dict[str, Any]) -> None:
    node = next(i for i in range(1, len(t["feature"])) if t["feature"][i] >= 0)
    t["left"][node] = 0


def _shared(t: dict[str, Any], d: dict[str, Any]) -> None:
    t["right"][0] = t["left"][0]


def _unreachable(t: dict[str, Any], d: dict[str, Any]) -> None:
    for key, val in (("feature", -1), ("threshold", 0.0), ("left", -1), ("right", -1)):
        t[key].append(val)
    t["missing_go_to_left"].append(0)
    t["value"].append([1.0, 0.0, 0.0])


ERROR_CASES: list[tuple[str, Any, str]] = [
    (
        "wrong format",
        _set("format", "sklearn-pickle"),
        "has format 'sklearn-pickle', not 'marketenv-tree-model'",
    ),
    ("no format", lambda d: d.pop("format"), "has format None"),
    ("unknown model_type", _set("model_type", "gbm"), 'has model_type "gbm", not one of'),
    ("classes", _set("classes", [0, 1]), "has classes [0, 1]; version 1 requires [-1, 0, 1]"),
    ("no feature names", _set("feature_names", []), "needs 'feature_names' as a non-empty list"),
    (
        "duplicate feature",
        lambda d: d["feature_names"].__setitem__(1, d["feature_names"][0]),
        "lists feature 'mid_price' twice",
    ),
    ("no trees", _set("trees", []), "needs 'trees' as a non-empty list"),
    (
        "tree is not an object",
        _set("trees", [[1, 2]]),
        "tree 0 is a list, not an object of node arrays",
    ),
    (
        "two trees in a decision_tree",
        lambda d: d["trees"].append(copy.deepcopy(d["trees"][0])),
        "is a decision_tree with 2 trees; it needs exactly 1",
    ),
    ("training not an object", _set("training", [1]), "has 'training' that is not an object"),
    (
        "missing node array",
        _tree(lambda t, d: t.pop("threshold")),
        "tree 0 lacks the node array(s) ['threshold']",
    ),
    (
        "arrays of different lengths",
        _tree(lambda t, d: t["threshold"].pop()),
        "tree 0 has node arrays of different lengths",
    ),
    (
        "non-integer child",
        _tree(lambda t, d: t["left"].__setitem__(0, 1.5)),
        "tree 0 has non-integer entries in 'left'",
    ),
    (
        "string threshold",
        _tree(lambda t, d: t["threshold"].__setitem__(0, "0.5")),
        "tree 0 has non-numeric entries in 'threshold'",
    ),
    (
        "child out of range",
        _tree(lambda t, d: t["left"].__setitem__(0, 10**6)),
        "tree 0 node 0 has left child 1000000, outside",
    ),
    (
        "negative child of a split",
        _tree(lambda t, d: t["right"].__setitem__(0, -1)),
        "tree 0 node 0 has right child -1, outside",
    ),
    (
        "cycle",
        _tree(_cycle),
        "reaches node 0 twice (a cycle or a shared child), so it is not a tree",
    ),
    ("shared child", _tree(_shared), "twice (a cycle or a shared child), so it is not a tree"),
    ("unreachable node", _tree(_unreachable), "is not reachable from the root node 0"),
    (
        "leaf with a child",
        _tree(lambda t, d: t["left"].__setitem__(first_leaf(d), 0)),
        "is a leaf (feature -1) with children",
    ),
    (
        "feature index out of range",
        _tree(lambda t, d: t["feature"].__setitem__(0, 45)),
        "node 0 splits on feature index 45, outside 0..44",
    ),
    (
        "feature index below -1",
        _tree(lambda t, d: t["feature"].__setitem__(0, -2)),
        "node 0 splits on feature index -2",
    ),
    (
        "probabilities not summing to 1",
        _tree(lambda t, d: t["value"].__setitem__(first_leaf(d), [0.5, 0.2, 0.2])),
        "that are not >= 0 summing to 1",
    ),
    (
        "negative probability",
        _tree(lambda t, d: t["value"].__setitem__(first_leaf(d), [1.5, -0.5, 0.0])),
        "that are not >= 0 summing to 1",
    ),
    (
        "non-finite probability at a split node",
        _tree(lambda t, d: t["value"].__setitem__(0, [math.nan, 0.5, 0.5])),
        "node 0 has non-finite class probabilities [nan, 0.5, 0.5]",
    ),
    (
        "wrong class count",
        _tree(lambda t, d: t["value"].__setitem__(2, [0.5, 0.5])),
        "node 2 has 2 class probabilities but the model has 3 classes",
    ),
    (
        "bad missing_go_to_left",
        _tree(lambda t, d: t["missing_go_to_left"].__setitem__(0, 2)),
        "has 'missing_go_to_left' entries other than 0/1",
    ),
]


@pytest.mark.parametrize(
    ("case", "mutate", "message"), ERROR_CASES, ids=[c[0] for c in ERROR_CASES]
)
def test_malformed_files(
    small_dict: dict[str, Any], tmp_path: Path, case: str, mutate: Any, message: str
) -> None:
    d = copy.deepcopy(small_dict)
    mutate(d)
    path = write(tmp_path, d)
    with pytest.raises(ModelFormatError) as info:
        load_model(path)
    text = str(info.value)
    assert message in text, text
    assert text.startswith(f"model file {path} ")
    assert "\n" not in text


def test_nan_and_infinite_thresholds(small_dict: dict[str, Any], tmp_path: Path) -> None:
    for bad, word in ((math.nan, "a NaN threshold"), (math.inf, "an infinite threshold")):
        d = copy.deepcopy(small_dict)
        d["trees"][0]["threshold"][first_split(d)] = bad
        path = tmp_path / "m.json"
        path.write_text(json.dumps(d))  # Python writes NaN / Infinity literals
        with pytest.raises(ModelFormatError, match=f"node {first_split(d)} has {word}"):
            load_model(path)


def test_format_version_message(small_dict: dict[str, Any], tmp_path: Path) -> None:
    d = dict(small_dict, format_version=7)
    path = write(tmp_path, d)
    with pytest.raises(ModelFormatError) as info:
        load_model(path)
    assert str(info.value) == (
        f"model file {path} has format_version 7; this marketenv reads version 1: "
        "re-export the model with scripts/export_rf.py"
    )
    for version in ("1", 1.5, True, None):
        with pytest.raises(ModelFormatError, match="has format_version"):
            load_model(write(tmp_path, dict(small_dict, format_version=version)))


def test_not_json_missing_and_directory(tmp_path: Path) -> None:
    garbage = tmp_path / "garbage.json"
    garbage.write_text("{not json")
    with pytest.raises(
        ModelFormatError, match=r"garbage.json is not valid JSON \(.*\): pass a model"
    ):
        load_model(garbage)
    binary = tmp_path / "binary.json"
    binary.write_bytes(b"\xff\xfe\x00")
    with pytest.raises(ModelFormatError, match="is not valid JSON"):
        load_model(binary)
    with pytest.raises(ModelFormatError, match="missing.json does not exist or is not a file"):
        load_model(tmp_path / "missing.json")
    with pytest.raises(ModelFormatError, match="does not exist or is not a file"):
        load_model(tmp_path)
    with pytest.raises(ModelFormatError, match="holds a JSON list, not an object"):
        load_model(write(tmp_path, [1, 2, 3]))


def test_expected_features(small_dict: dict[str, Any], tmp_path: Path) -> None:
    path = write(tmp_path, small_dict)
    assert load_model(path, expected_features=FEATURE_NAMES).n_features == 45
    swapped = list(FEATURE_NAMES)
    swapped[31], swapped[33] = swapped[33], swapped[31]
    with pytest.raises(ModelFormatError) as info:
        load_model(path, expected_features=swapped)
    assert str(info.value) == (
        f"model file {path} expects feature 31 to be 'position' but the caller provides 'cash': "
        "retrain the model on a recording with the current feature set"
    )
    with pytest.raises(ModelFormatError, match="expects 45 features but the caller provides 44"):
        load_model(path, expected_features=FEATURE_NAMES[:44])
    with pytest.raises(ModelFormatError, match="expects 45 features but the caller provides 46"):
        load_model(path, expected_features=[*FEATURE_NAMES, "extra"])


def test_export_errors() -> None:
    x, y = make_data(15, 400)
    bad_classes = DecisionTreeClassifier(max_depth=2).fit(x, y + 1)  # classes 0, 1, 2
    with pytest.raises(
        ModelFormatError, match=r"classes \[0, 1, 2\] are not a subset of \[-1, 0, 1\]"
    ):
        export_sklearn(bad_classes, NAMES, {})
    ok = DecisionTreeClassifier(max_depth=2, random_state=0).fit(x, y)
    with pytest.raises(ModelFormatError, match="fitted on 45 features but 44 feature_names"):
        export_sklearn(ok, NAMES[:44], {})
    with pytest.raises(ModelFormatError, match="is not among input_features"):
        export_sklearn(ok, NAMES, {}, input_features=NAMES[:-1])
    with pytest.raises(ModelFormatError, match="cannot export a LogisticRegression"):
        export_sklearn(LogisticRegression().fit(x, y), NAMES, {})
    multi = DecisionTreeClassifier(max_depth=2).fit(x, np.stack([y, y], axis=1))
    with pytest.raises(ModelFormatError, match="multi-output"):
        export_sklearn(multi, NAMES, {})
    float_classes = DecisionTreeClassifier(max_depth=2, random_state=0).fit(x, y.astype(float))
    assert export_sklearn(float_classes, NAMES, {})["classes"] == [-1, 0, 1]
    words = DecisionTreeClassifier(max_depth=2).fit(x, np.array(["sell", "hold", "buy"])[y + 1])
    with pytest.raises(ModelFormatError, match="not a subset"):
        export_sklearn(words, NAMES, {})


def test_programmatic_construction_validates() -> None:
    good = TreeNodes([-1], [0.0], [-1], [-1], [False], [[0.2, 0.3, 0.5]])
    model = RandomForest(["a", "b"], [good, good])
    np.testing.assert_array_equal(
        model.predict_proba([[1.0, 2.0], [3.0, 4.0]]), [[0.2, 0.3, 0.5]] * 2
    )
    with pytest.raises(ModelFormatError, match="model has no trees"):
        RandomForest(["a"], [])
    with pytest.raises(ModelFormatError, match="model tree 0 node 0 splits on feature index 3"):
        DecisionTree(
            ["a"],
            TreeNodes([3, -1, -1], [0.0] * 3, [1, -1, -1], [2, -1, -1], [0] * 3, [[1.0, 0, 0]] * 3),
        )
    with pytest.raises(ModelFormatError, match="cannot be read as int64"):
        TreeNodes(["x"], [0.0], [-1], [-1], [False], [[1.0, 0.0, 0.0]])
