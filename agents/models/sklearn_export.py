"""Conversion of fitted scikit-learn tree classifiers to the JSON model format.

scikit-learn is imported only when :func:`export_sklearn` is called.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from agents.models.format import (
    CLASSES,
    FORMAT,
    FORMAT_VERSION,
    PROB_TOL,
    TreeNodes,
    json_safe,
)
from marketenv.errors import ModelFormatError

__all__ = ["export_sklearn"]

_FLOAT64_MAX = float(np.finfo(np.float64).max)


def _tree_from_sklearn(
    tree_: Any, classes: np.ndarray, columns: np.ndarray, where: str
) -> TreeNodes:
    """Convert a fitted ``sklearn.tree._tree.Tree`` to :class:`TreeNodes`."""
    left = np.asarray(tree_.children_left, dtype=np.int64)
    right = np.asarray(tree_.children_right, dtype=np.int64)
    leaf = left == -1
    feature = np.where(leaf, -1, np.asarray(tree_.feature, dtype=np.int64))
    feature[~leaf] = columns[feature[~leaf]]
    threshold = np.asarray(tree_.threshold, dtype=np.float64).copy()
    threshold[leaf] = 0.0
    # scikit-learn uses +inf for "NaN goes right, every number goes left": with the
    # float32-rounded, finite inputs scikit-learn accepts, the largest float64 is the same.
    threshold[np.isposinf(threshold)] = _FLOAT64_MAX
    missing = getattr(tree_, "missing_go_to_left", None)
    if missing is None:  # scikit-learn < 1.3: no missing-value support
        missing = np.zeros(left.shape, dtype=bool)
    missing = np.asarray(missing, dtype=bool) & ~leaf
    raw = np.asarray(tree_.value, dtype=np.float64)
    if raw.ndim != 3 or raw.shape[1] != 1:
        raise ModelFormatError(
            f"{where} has {raw.shape[1]} outputs; export single-output classifiers only"
        )
    counts = raw[:, 0, :]
    # scikit-learn >= 1.4 stores fractions; older versions store (weighted) counts.
    sums = counts.sum(axis=1, keepdims=True)
    probs = (
        counts if np.allclose(sums, 1.0, atol=PROB_TOL) else counts / np.where(sums > 0, sums, 1.0)
    )
    value = np.zeros((probs.shape[0], len(CLASSES)), dtype=np.float64)
    for j, cls in enumerate(classes):
        value[:, CLASSES.index(int(cls))] = probs[:, j]
    return TreeNodes(feature, threshold, left, right, missing, value)



def export_sklearn(
    model: Any,
    feature_names: Sequence[str],
    training_meta: Mapping[str, Any] | None = None,
    *,
    input_features: Sequence[str] | None = None,
) -> dict[str, Any]:
    """Convert a fitted scikit-learn tree classifier to the JSON model format.

    Args:
        model: A fitted ``RandomForestClassifier`` or ``DecisionTreeClassifier`` with
            classes from ``{-1, 0, 1}`` (probability columns are expanded to all three,
            zero for classes absent in training).
        feature_names: Names of the columns the model was fitted on, in order.
        training_meta: Stored under ``"training"`` (numpy values and NaN are converted
            for strict JSON).
        input_features: If given, the exported model takes this vector instead (for
            example the full :data:`~marketenv.feature_spec.FEATURE_NAMES`): split
            feature indices are remapped, so unused inputs are simply ignored. Must
            contain every name of ``feature_names``.

    Returns:
        The model as a JSON-ready dict; pass it to :func:`json.dump`,
        :meth:`RandomForest.from_dict` or :meth:`DecisionTree.from_dict`.

    Raises:
        ModelFormatError: If the model type, its classes, outputs or feature count are
            not supported.
    """
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.tree import DecisionTreeClassifier

    if isinstance(model, RandomForestClassifier):
        model_type, estimators = "random_forest", list(model.estimators_)
    elif isinstance(model, DecisionTreeClassifier):
        model_type, estimators = "decision_tree", [model]
    else:
        raise ModelFormatError(
            f"cannot export a {type(model).__name__}: fit a RandomForestClassifier or DecisionTreeClassifier"
        )
    if getattr(model, "n_outputs_", 1) != 1:
        raise ModelFormatError("cannot export a multi-output classifier: fit one label column")
    names = list(feature_names)
    if len(names) != model.n_features_in_:
        raise ModelFormatError(
            f"the model was fitted on {model.n_features_in_} features but {len(names)} feature_names "
            "were given: pass the names of the training columns in order"
        )
    classes = np.asarray(model.classes_)
    try:
        as_int = [int(c) for c in classes]
    except (TypeError, ValueError):
        as_int = []
    if (
        not as_int
        or any(float(a) != float(c) for a, c in zip(as_int, classes.tolist(), strict=True))
        or not set(as_int) <= set(CLASSES)
    ):
        raise ModelFormatError(
            f"the model's classes {classes.tolist()} are not a subset of {list(CLASSES)}: "
            "train on action labels -1/0/1"
        )
    if input_features is None:
        out_names = names
        columns = np.arange(len(names), dtype=np.int64)
    else:
        out_names = list(input_features)
        index = {name: i for i, name in enumerate(out_names)}
        unknown = [name for name in names if name not in index]
        if unknown:
            raise ModelFormatError(
                f"feature '{unknown[0]}' is not among input_features: pass an input vector "
                "containing every training feature"
            )
        columns = np.array([index[name] for name in names], dtype=np.int64)
    trees = [
        _tree_from_sklearn(est.tree_, np.array(as_int), columns, f"estimator {k}")
        for k, est in enumerate(estimators)
    ]
    return {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "model_type": model_type,
        "feature_names": out_names,
        "classes": list(CLASSES),
        "training": json_safe(dict(training_meta or {})),
        "trees": [tree.to_dict() for tree in trees],
    }
