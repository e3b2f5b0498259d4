"""The JSON model format, version 1: its constants, node arrays and validation.

See :mod:`agents.models` and ``docs/model_format.md`` for the format itself. Everything
here works on parsed JSON (dicts and lists) and numpy arrays; nothing reads files.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np

from marketenv.errors import ModelFormatError

__all__ = [
    "CLASSES",
    "FIX_EXPORT",
    "FORMAT",
    "FORMAT_VERSION",
    "MODEL_TYPES",
    "PROB_TOL",
    "MlModel",
    "TreeNodes",
    "check_expected",
    "check_feature_names",
    "check_tree",
    "json_safe",
    "parse_model",
    "source_label",
]

FORMAT = "marketenv-tree-model"
"""Value of the ``format`` key of every model file."""

FORMAT_VERSION = 1
"""The only ``format_version`` this module reads and writes."""

CLASSES: tuple[int, ...] = (-1, 0, 1)
"""Action classes, in probability-column order: sell, hold, buy."""

MODEL_TYPES = ("random_forest", "decision_tree")

PROB_TOL = 1e-6
"""How far a leaf's probabilities may sum from 1."""

FIX_EXPORT = "re-export the model with scripts/export_rf.py"
"""The fix named by most format errors."""

_TREE_KEYS = ("feature", "threshold", "left", "right", "value")


@runtime_checkable
class MlModel(Protocol):
    """What an ML-driven agent needs from a model.

    Attributes:
        feature_names: Input names, in the column order ``predict_proba`` expects.
        classes: The action classes of the probability columns (``[-1, 0, 1]``).
    """

    feature_names: tuple[str, ...]
    classes: np.ndarray

    def predict_proba(self, features: np.ndarray) -> np.ndarray:
        """Return class probabilities.

        Args:
            features: ``(n_rows, n_features)`` or a single ``(n_features,)`` vector.

        Returns:
            ``(n_rows, n_classes)`` float64 probabilities (``(1, n_classes)`` for a vector).
        """
        ...



@dataclass(frozen=True)
class TreeNodes:
    """The parallel node arrays of one tree (see the module docstring).

    Attributes:
        feature: ``(n_nodes,)`` int64; feature index of a split, ``-1`` at a leaf.
        threshold: ``(n_nodes,)`` float64; go left iff ``float32(x) <= threshold``.
        left: ``(n_nodes,)`` int64; left child, ``-1`` at a leaf.
        right: ``(n_nodes,)`` int64; right child, ``-1`` at a leaf.
        missing_go_to_left: ``(n_nodes,)`` bool; where a NaN feature goes.
        value: ``(n_nodes, n_classes)`` float64 class probabilities (leaf rows used).
    """

    feature: np.ndarray
    threshold: np.ndarray
    left: np.ndarray
    right: np.ndarray
    missing_go_to_left: np.ndarray
    value: np.ndarray

    def __post_init__(self) -> None:
        """Coerce the arrays to their canonical dtypes (int64, float64, bool)."""
        for name, dtype in (
            ("feature", np.int64),
            ("threshold", np.float64),
            ("left", np.int64),
            ("right", np.int64),
            ("missing_go_to_left", np.bool_),
            ("value", np.float64),
        ):
            try:
                array = np.asarray(getattr(self, name), dtype=dtype)
            except (TypeError, ValueError, OverflowError):
                raise ModelFormatError(
                    f"tree array '{name}' cannot be read as {np.dtype(dtype).name}: {FIX_EXPORT}"
                ) from None
            object.__setattr__(self, name, array)

    @property
    def n_nodes(self) -> int:
        """Number of nodes."""
        return int(self.feature.shape[0])

    def to_dict(self) -> dict[str, list[Any]]:
        """Return the JSON-ready node arrays of this tree.

        Returns:
            A dict with plain Python lists under the keys of the file format.
        """
        return {
            "feature": self.feature.tolist(),
            "threshold": self.threshold.tolist(),
            "left": self.left.tolist(),
            "right": self.right.tolist(),
            "missing_go_to_left": self.missing_go_to_left.astype(np.int64).tolist(),
            "value": self.value.tolist(),
        }



def source_label(source: str | None) -> str:
    """How error messages name a model: ``"model"``, or ``"model file PATH"``."""
    return "model" if source is None else f"model file {source}"


def _int_array(raw: Any, name: str, where: str) -> np.ndarray:
    if not isinstance(raw, list):
        raise ModelFormatError(
            f"{where} has '{name}' of type {type(raw).__name__}, not a list: {FIX_EXPORT}"
        )
    if not all(isinstance(v, int) for v in raw):
        raise ModelFormatError(f"{where} has non-integer entries in '{name}': {FIX_EXPORT}")
    try:
        return np.asarray(raw, dtype=np.int64).reshape(len(raw))
    except OverflowError:
        raise ModelFormatError(
            f"{where} has out-of-range integers in '{name}': {FIX_EXPORT}"
        ) from None


def _float_array(raw: Any, name: str, where: str) -> np.ndarray:
    if not isinstance(raw, list):
        raise ModelFormatError(
            f"{where} has '{name}' of type {type(raw).__name__}, not a list: {FIX_EXPORT}"
        )
    if not all(isinstance(v, int | float) and not isinstance(v, bool) for v in raw):
        raise ModelFormatError(f"{where} has non-numeric entries in '{name}': {FIX_EXPORT}")
    try:
        return np.asarray(raw, dtype=np.float64).reshape(len(raw))
    except OverflowError:
        raise ModelFormatError(
            f"{where} has numbers beyond the float range in '{name}': {FIX_EXPORT}"
        ) from None


def _value_array(raw: Any, n_classes: int, where: str) -> np.ndarray:
    if not isinstance(raw, list):
        raise ModelFormatError(
            f"{where} has 'value' of type {type(raw).__name__}, not a list: {FIX_EXPORT}"
        )
    for i, row in enumerate(raw):
        if not isinstance(row, list) or not all(
            isinstance(v, int | float) and not isinstance(v, bool) for v in row
        ):
            raise ModelFormatError(
                f"{where} node {i} has a 'value' that is not a list of numbers: {FIX_EXPORT}"
            )
        if len(row) != n_classes:
            raise ModelFormatError(
                f"{where} node {i} has {len(row)} class probabilities but the model has "
                f"{n_classes} classes {list(CLASSES)}: {FIX_EXPORT}"
            )
    try:
        return np.asarray(raw, dtype=np.float64).reshape(len(raw), n_classes)
    except OverflowError:
        raise ModelFormatError(
            f"{where} has numbers beyond the float range in 'value': {FIX_EXPORT}"
        ) from None


def _tree_from_dict(raw: Any, n_classes: int, where: str) -> TreeNodes:
    if not isinstance(raw, Mapping):
        raise ModelFormatError(
            f"{where} is a {type(raw).__name__}, not an object of node arrays: {FIX_EXPORT}"
        )
    missing = [key for key in _TREE_KEYS if key not in raw]
    if missing:
        raise ModelFormatError(f"{where} lacks the node array(s) {missing}: {FIX_EXPORT}")
    mgl_raw = raw.get("missing_go_to_left")
    if mgl_raw is None:  # optional: NaN goes right everywhere
        mgl_raw = [0] * len(raw["feature"]) if isinstance(raw["feature"], list) else []
    if isinstance(mgl_raw, list) and not all(v in (0, 1) and isinstance(v, int) for v in mgl_raw):
        raise ModelFormatError(
            f"{where} has 'missing_go_to_left' entries other than 0/1: {FIX_EXPORT}"
        )
    return TreeNodes(
        feature=_int_array(raw["feature"], "feature", where),
        threshold=_float_array(raw["threshold"], "threshold", where),
        left=_int_array(raw["left"], "left", where),
        right=_int_array(raw["right"], "right", where),
        missing_go_to_left=_int_array(mgl_raw, "missing_go_to_left", where).astype(bool),
        value=_value_array(raw["value"], n_classes, where),
    )


def check_tree(tree: TreeNodes, n_features: int, n_classes: int, where: str) -> int:
    """Validate one tree's structure; return its depth (edges from root to deepest leaf)."""
    n = tree.n_nodes
    lengths = {
        "feature": tree.feature.shape,
        "threshold": tree.threshold.shape,
        "left": tree.left.shape,
        "right": tree.right.shape,
        "missing_go_to_left": tree.missing_go_to_left.shape,
        "value": tree.value.shape[:1],
    }
    if any(len(shape) != 1 or shape[0] != n for shape in lengths.values()):
        sizes = ", ".join(f"{k}={s[0] if s else '?'}" for k, s in lengths.items())
        raise ModelFormatError(
            f"{where} has node arrays of different lengths ({sizes}): {FIX_EXPORT}"
        )
    if n == 0:
        raise ModelFormatError(f"{where} has no nodes: {FIX_EXPORT}")
    if tree.value.ndim != 2 or tree.value.shape[1] != n_classes:
        raise ModelFormatError(
            f"{where} has {tree.value.shape[-1]} class probabilities per node but the model has "
            f"{n_classes} classes: {FIX_EXPORT}"
        )
    leaf = tree.feature == -1
    bad_leaf = leaf & ((tree.left != -1) | (tree.right != -1))
    if bad_leaf.any():
        i = int(np.flatnonzero(bad_leaf)[0])
        raise ModelFormatError(
            f"{where} node {i} is a leaf (feature -1) with children; leaves need left = right = -1: {FIX_EXPORT}"
        )
    split = ~leaf
    bad_feature = split & ((tree.feature < 0) | (tree.feature >= n_features))
    if bad_feature.any():
        i = int(np.flatnonzero(bad_feature)[0])
        raise ModelFormatError(
            f"{where} node {i} splits on feature index {int(tree.feature[i])}, outside 0..{n_features - 1} "
            f"of the {n_features} feature_names: {FIX_EXPORT}"
        )
    for name, child in (("left", tree.left), ("right", tree.right)):
        bad_child = split & ((child < 0) | (child >= n))
        if bad_child.any():
            i = int(np.flatnonzero(bad_child)[0])
            raise ModelFormatError(
                f"{where} node {i} has {name} child {int(child[i])}, outside 0..{n - 1}: {FIX_EXPORT}"
            )
    nan_thr = np.isnan(tree.threshold)
    if nan_thr.any():
        i = int(np.flatnonzero(nan_thr)[0])
        raise ModelFormatError(
            f"{where} node {i} has a NaN threshold; thresholds must be finite numbers: {FIX_EXPORT}"
        )
    inf_thr = np.isinf(tree.threshold)
    if inf_thr.any():
        i = int(np.flatnonzero(inf_thr)[0])
        raise ModelFormatError(
            f"{where} node {i} has an infinite threshold; thresholds must be finite numbers: {FIX_EXPORT}"
        )
    not_finite = ~np.isfinite(tree.value).all(axis=1)
    if not_finite.any():
        i = int(np.flatnonzero(not_finite)[0])
        raise ModelFormatError(
            f"{where} node {i} has non-finite class probabilities {tree.value[i].tolist()}: {FIX_EXPORT}"
        )
    leaf_values = tree.value[leaf]
    bad_prob = ~np.all(leaf_values >= 0.0, axis=1) | (
        np.abs(leaf_values.sum(axis=1) - 1.0) > PROB_TOL
    )
    if bad_prob.any():
        i = int(np.flatnonzero(leaf)[np.flatnonzero(bad_prob)[0]])
        raise ModelFormatError(
            f"{where} leaf {i} has probabilities {tree.value[i].tolist()} that are not >= 0 summing to 1: {FIX_EXPORT}"
        )
    # Walk from the root level by level: every node must be reached exactly once.
    seen = np.zeros(n, dtype=bool)
    seen[0] = True
    frontier = np.array([0], dtype=np.int64)
    depth = 0
    while True:
        frontier = frontier[split[frontier]]
        if frontier.size == 0:
            break
        children = np.concatenate([tree.left[frontier], tree.right[frontier]])
        uniq, counts = np.unique(children, return_counts=True)
        again = uniq[(counts > 1) | seen[uniq]]
        if again.size:
            raise ModelFormatError(
                f"{where} reaches node {int(again[0])} twice (a cycle or a shared child), so it is not a tree: {FIX_EXPORT}"
            )
        seen[children] = True
        frontier = children
        depth += 1
    if not seen.all():
        i = int(np.flatnonzero(~seen)[0])
        raise ModelFormatError(
            f"{where} node {i} is not reachable from the root node 0: {FIX_EXPORT}"
        )
    return depth


def check_feature_names(raw: Any, where: str) -> tuple[str, ...]:
    """Return ``raw`` as a tuple of distinct non-empty names; ``where`` prefixes errors."""
    if (
        not isinstance(raw, list | tuple)
        or not raw
        or not all(isinstance(v, str) and v for v in raw)
    ):
        raise ModelFormatError(
            f"{where} needs 'feature_names' as a non-empty list of names: {FIX_EXPORT}"
        )
    names = tuple(raw)
    if len(set(names)) != len(names):
        dup = next(v for v in names if names.count(v) > 1)
        raise ModelFormatError(
            f"{where} lists feature '{dup}' twice in 'feature_names': {FIX_EXPORT}"
        )
    return names


def check_expected(names: Sequence[str], expected: Sequence[str], where: str) -> None:
    """Refuse a model whose ``names`` differ from the caller's ``expected`` features."""
    expected = tuple(expected)
    for i, (got, want) in enumerate(zip(names, expected, strict=False)):
        if got != want:
            raise ModelFormatError(
                f"{where} expects feature {i} to be '{got}' but the caller provides '{want}': "
                "retrain the model on a recording with the current feature set"
            )
    if len(names) != len(expected):
        raise ModelFormatError(
            f"{where} expects {len(names)} features but the caller provides {len(expected)}: "
            "retrain the model on a recording with the current feature set"
        )



def parse_model(
    data: Any, source: str | None, model_type: str | None
) -> tuple[tuple[str, ...], list[TreeNodes], dict[str, Any]]:
    """Validate a parsed model file; return its feature names, trees and training metadata.

    Args:
        data: The parsed JSON.
        source: The file path named in error messages, if any.
        model_type: The ``model_type`` the caller needs, or ``None`` for either.

    Raises:
        ModelFormatError: If ``data`` is not a valid model of that type.
    """
    where = source_label(source)
    if not isinstance(data, Mapping):
        raise ModelFormatError(
            f"{where} holds a JSON {type(data).__name__}, not an object: {FIX_EXPORT}"
        )
    fmt = data.get("format")
    if fmt != FORMAT:
        raise ModelFormatError(
            f"{where} has format {fmt!r}, not '{FORMAT}': pass a model written by scripts/export_rf.py"
        )
    version = data.get("format_version")
    if version != FORMAT_VERSION or isinstance(version, bool):
        raise ModelFormatError(
            f"{where} has format_version {json.dumps(version)}; this marketenv reads version "
            f"{FORMAT_VERSION}: {FIX_EXPORT}"
        )
    mtype = data.get("model_type")
    if mtype not in MODEL_TYPES:
        raise ModelFormatError(
            f"{where} has model_type {json.dumps(mtype)}, not one of {list(MODEL_TYPES)}: {FIX_EXPORT}"
        )
    if model_type is not None and mtype != model_type:
        cls_name = "RandomForest" if mtype == "random_forest" else "DecisionTree"
        raise ModelFormatError(
            f"{where} holds a {mtype}: load it with load_model() or {cls_name}.load()"
        )
    names = check_feature_names(data.get("feature_names"), where)
    classes = data.get("classes")
    if (
        not isinstance(classes, list)
        or classes != list(CLASSES)
        or any(isinstance(c, bool) for c in classes)
    ):
        raise ModelFormatError(
            f"{where} has classes {json.dumps(classes)}; version {FORMAT_VERSION} requires "
            f"{list(CLASSES)}: {FIX_EXPORT}"
        )
    raw_trees = data.get("trees")
    if not isinstance(raw_trees, list) or not raw_trees:
        raise ModelFormatError(f"{where} needs 'trees' as a non-empty list: {FIX_EXPORT}")
    if mtype == "decision_tree" and len(raw_trees) != 1:
        raise ModelFormatError(
            f"{where} is a decision_tree with {len(raw_trees)} trees; it needs exactly 1 "
            "(use model_type random_forest for several)"
        )
    training = data.get("training", {})
    if not isinstance(training, Mapping):
        raise ModelFormatError(f"{where} has 'training' that is not an object: {FIX_EXPORT}")
    trees = [
        _tree_from_dict(raw, len(CLASSES), f"{where} tree {k}") for k, raw in enumerate(raw_trees)
    ]
    return names, trees, dict(training)



def json_safe(obj: Any) -> Any:
    """Convert numpy values and non-finite floats (to ``None``) for strict JSON."""
    if isinstance(obj, Mapping):
        return {str(k): json_safe(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple | set | frozenset):
        return [json_safe(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return json_safe(obj.tolist())
    if isinstance(obj, np.generic):
        return json_safe(obj.item())
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if isinstance(obj, Path):
        return str(obj)
    return obj

