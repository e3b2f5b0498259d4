"""Tree models stored as JSON, loaded for fast batched inference inside the market.

A model maps the market's feature vector (:data:`marketenv.feature_spec.FEATURE_NAMES`, or
any named subset) to probabilities of the three actions ``-1`` (sell), ``0`` (hold) and
``1`` (buy). Models are trained with scikit-learn (:mod:`agents.training`,
``scripts/export_rf.py``), converted with :func:`export_sklearn`, saved as JSON and loaded
with :func:`load_model`; inference needs numpy and numba (a compiled traversal, see
:func:`_forest_proba`), not scikit-learn.

JSON format, version 1 (``docs/model_format.md`` is the full reference)::

    {
      "format": "marketenv-tree-model",
      "format_version": 1,
      "model_type": "random_forest" | "decision_tree",
      "feature_names": ["mid_price", "spread", ...],
      "classes": [-1, 0, 1],
      "training": {...free-form metadata: rows, label, split, scores, sources...},
      "trees": [
        {"feature": [...], "threshold": [...], "left": [...], "right": [...],
         "missing_go_to_left": [...], "value": [[p_-1, p_0, p_1], ...]}
      ]
    }

* ``feature_names`` are the model's inputs, in order: a row passed to ``predict_proba``
  holds one value per name. ``classes`` is always ``[-1, 0, 1]`` in version 1.
* Each tree is a set of parallel node arrays; node ``0`` is the root and every other node
  is the child of exactly one node. ``feature[i]`` indexes ``feature_names``; a leaf has
  ``feature = left = right = -1``. ``value[i]`` holds the class probabilities of node
  ``i`` (only leaf rows are used; each sums to 1). ``missing_go_to_left[i]`` is ``0``/``1``
  (optional array: without it NaN goes right everywhere).
* Decision rule at a split node, with ``x32 = float32(x[feature])``: if ``x32`` is NaN go
  left iff ``missing_go_to_left``; otherwise go left iff ``x32 <= threshold``
  (the comparison is done in float64 on the float32-rounded value, as in scikit-learn).
* A ``random_forest`` averages its trees' leaf probabilities: summed in tree order, then
  divided by the number of trees. A ``decision_tree`` has exactly one tree.

Parity: for a model exported from a fitted scikit-learn ``RandomForestClassifier`` or
``DecisionTreeClassifier``, :meth:`RandomForest.predict_proba` equals scikit-learn's
``predict_proba`` (columns expanded to ``[-1, 0, 1]``) on every row scikit-learn accepts,
NaN features included, to within 1e-12 (in practice bit for bit). Infinite features, which
scikit-learn refuses, are compared as ordinary numbers here.

Missing values: NaN features (the warm-up ticks of the market, see
:data:`marketenv.feature_spec.NAN_UNTIL`) are supported. Training keeps rows with NaN and
scikit-learn learns per split where NaN goes; a split that saw no NaN in training sends
NaN to its child with more training samples. Both are exported in
``missing_go_to_left``. A scikit-learn split "NaN versus everything else" has an infinite
threshold; the exporter writes it as the largest float64 (JSON has no infinity).
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numba as nb
import numpy as np

from marketenv.errors import ModelFormatError
from marketenv.outputs import create_temp, replace_keeping_mode

__all__ = [
    "CLASSES",
    "FORMAT",
    "FORMAT_VERSION",
    "DecisionTree",
    "MlModel",
    "RandomForest",
    "TreeNodes",
    "export_sklearn",
    "load_model",
]

FORMAT = "marketenv-tree-model"
"""Value of the ``format`` key of every model file."""

FORMAT_VERSION = 1
"""The only ``format_version`` this module reads and writes."""

CLASSES: tuple[int, ...] = (-1, 0, 1)
"""Action classes, in probability-column order: sell, hold, buy."""

MODEL_TYPES = ("random_forest", "decision_tree")

_PROB_TOL = 1e-6
_FIX_EXPORT = "re-export the model with scripts/export_rf.py"
_TREE_KEYS = ("feature", "threshold", "left", "right", "value")
_FLOAT64_MAX = float(np.finfo(np.float64).max)


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
                    f"tree array '{name}' cannot be read as {np.dtype(dtype).name}: {_FIX_EXPORT}"
                ) from None
            object.__setattr__(self, name, array)

    @property
    def n_nodes(self) -> int:
        """Number of nodes."""
        return int(self.feature.shape[0])

    @property
    def is_leaf(self) -> np.ndarray:
        """``(n_nodes,)`` bool mask of the leaves."""
        return self.feature < 0

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


# ----------------------------------------------------------------------------- validation


def _where(source: str | None) -> str:
    return "model" if source is None else f"model file {source}"


def _int_array(raw: Any, name: str, where: str) -> np.ndarray:
    if not isinstance(raw, list):
        raise ModelFormatError(
            f"{where} has '{name}' of type {type(raw).__name__}, not a list: {_FIX_EXPORT}"
        )
    if not all(isinstance(v, int) for v in raw):
        raise ModelFormatError(f"{where} has non-integer entries in '{name}': {_FIX_EXPORT}")
    try:
        return np.asarray(raw, dtype=np.int64).reshape(len(raw))
    except OverflowError:
        raise ModelFormatError(
            f"{where} has out-of-range integers in '{name}': {_FIX_EXPORT}"
        ) from None


def _float_array(raw: Any, name: str, where: str) -> np.ndarray:
    if not isinstance(raw, list):
        raise ModelFormatError(
            f"{where} has '{name}' of type {type(raw).__name__}, not a list: {_FIX_EXPORT}"
        )
    if not all(isinstance(v, int | float) and not isinstance(v, bool) for v in raw):
        raise ModelFormatError(f"{where} has non-numeric entries in '{name}': {_FIX_EXPORT}")
    try:
        return np.asarray(raw, dtype=np.float64).reshape(len(raw))
    except OverflowError:
        raise ModelFormatError(
            f"{where} has numbers beyond the float range in '{name}': {_FIX_EXPORT}"
        ) from None


def _value_array(raw: Any, n_classes: int, where: str) -> np.ndarray:
    if not isinstance(raw, list):
        raise ModelFormatError(
            f"{where} has 'value' of type {type(raw).__name__}, not a list: {_FIX_EXPORT}"
        )
    for i, row in enumerate(raw):
        if not isinstance(row, list) or not all(
            isinstance(v, int | float) and not isinstance(v, bool) for v in row
        ):
            raise ModelFormatError(
                f"{where} node {i} has a 'value' that is not a list of numbers: {_FIX_EXPORT}"
            )
        if len(row) != n_classes:
            raise ModelFormatError(
                f"{where} node {i} has {len(row)} class probabilities but the model has "
                f"{n_classes} classes {list(CLASSES)}: {_FIX_EXPORT}"
            )
    try:
        return np.asarray(raw, dtype=np.float64).reshape(len(raw), n_classes)
    except OverflowError:
        raise ModelFormatError(
            f"{where} has numbers beyond the float range in 'value': {_FIX_EXPORT}"
        ) from None


def _tree_from_dict(raw: Any, n_classes: int, where: str) -> TreeNodes:
    if not isinstance(raw, Mapping):
        raise ModelFormatError(
            f"{where} is a {type(raw).__name__}, not an object of node arrays: {_FIX_EXPORT}"
        )
    missing = [key for key in _TREE_KEYS if key not in raw]
    if missing:
        raise ModelFormatError(f"{where} lacks the node array(s) {missing}: {_FIX_EXPORT}")
    mgl_raw = raw.get("missing_go_to_left")
    if mgl_raw is None:  # optional: NaN goes right everywhere
        mgl_raw = [0] * len(raw["feature"]) if isinstance(raw["feature"], list) else []
    if isinstance(mgl_raw, list) and not all(v in (0, 1) and isinstance(v, int) for v in mgl_raw):
        raise ModelFormatError(
            f"{where} has 'missing_go_to_left' entries other than 0/1: {_FIX_EXPORT}"
        )
    return TreeNodes(
        feature=_int_array(raw["feature"], "feature", where),
        threshold=_float_array(raw["threshold"], "threshold", where),
        left=_int_array(raw["left"], "left", where),
        right=_int_array(raw["right"], "right", where),
        missing_go_to_left=_int_array(mgl_raw, "missing_go_to_left", where).astype(bool),
        value=_value_array(raw["value"], n_classes, where),
    )


def _check_tree(tree: TreeNodes, n_features: int, n_classes: int, where: str) -> int:
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
            f"{where} has node arrays of different lengths ({sizes}): {_FIX_EXPORT}"
        )
    if n == 0:
        raise ModelFormatError(f"{where} has no nodes: {_FIX_EXPORT}")
    if tree.value.ndim != 2 or tree.value.shape[1] != n_classes:
        raise ModelFormatError(
            f"{where} has {tree.value.shape[-1]} class probabilities per node but the model has "
            f"{n_classes} classes: {_FIX_EXPORT}"
        )
    leaf = tree.feature == -1
    bad_leaf = leaf & ((tree.left != -1) | (tree.right != -1))
    if bad_leaf.any():
        i = int(np.flatnonzero(bad_leaf)[0])
        raise ModelFormatError(
            f"{where} node {i} is a leaf (feature -1) with children; leaves need left = right = -1: {_FIX_EXPORT}"
        )
    split = ~leaf
    bad_feature = split & ((tree.feature < 0) | (tree.feature >= n_features))
    if bad_feature.any():
        i = int(np.flatnonzero(bad_feature)[0])
        raise ModelFormatError(
            f"{where} node {i} splits on feature index {int(tree.feature[i])}, outside 0..{n_features - 1} "
            f"of the {n_features} feature_names: {_FIX_EXPORT}"
        )
    for name, child in (("left", tree.left), ("right", tree.right)):
        bad_child = split & ((child < 0) | (child >= n))
        if bad_child.any():
            i = int(np.flatnonzero(bad_child)[0])
            raise ModelFormatError(
                f"{where} node {i} has {name} child {int(child[i])}, outside 0..{n - 1}: {_FIX_EXPORT}"
            )
    nan_thr = np.isnan(tree.threshold)
    if nan_thr.any():
        i = int(np.flatnonzero(nan_thr)[0])
        raise ModelFormatError(
            f"{where} node {i} has a NaN threshold; thresholds must be finite numbers: {_FIX_EXPORT}"
        )
    inf_thr = np.isinf(tree.threshold)
    if inf_thr.any():
        i = int(np.flatnonzero(inf_thr)[0])
        raise ModelFormatError(
            f"{where} node {i} has an infinite threshold; thresholds must be finite numbers: {_FIX_EXPORT}"
        )
    not_finite = ~np.isfinite(tree.value).all(axis=1)
    if not_finite.any():
        i = int(np.flatnonzero(not_finite)[0])
        raise ModelFormatError(
            f"{where} node {i} has non-finite class probabilities {tree.value[i].tolist()}: {_FIX_EXPORT}"
        )
    leaf_values = tree.value[leaf]
    bad_prob = ~np.all(leaf_values >= 0.0, axis=1) | (
        np.abs(leaf_values.sum(axis=1) - 1.0) > _PROB_TOL
    )
    if bad_prob.any():
        i = int(np.flatnonzero(leaf)[np.flatnonzero(bad_prob)[0]])
        raise ModelFormatError(
            f"{where} leaf {i} has probabilities {tree.value[i].tolist()} that are not >= 0 summing to 1: {_FIX_EXPORT}"
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
                f"{where} reaches node {int(again[0])} twice (a cycle or a shared child), so it is not a tree: {_FIX_EXPORT}"
            )
        seen[children] = True
        frontier = children
        depth += 1
    if not seen.all():
        i = int(np.flatnonzero(~seen)[0])
        raise ModelFormatError(
            f"{where} node {i} is not reachable from the root node 0: {_FIX_EXPORT}"
        )
    return depth


def _check_feature_names(raw: Any, where: str) -> tuple[str, ...]:
    if (
        not isinstance(raw, list | tuple)
        or not raw
        or not all(isinstance(v, str) and v for v in raw)
    ):
        raise ModelFormatError(
            f"{where} needs 'feature_names' as a non-empty list of names: {_FIX_EXPORT}"
        )
    names = tuple(raw)
    if len(set(names)) != len(names):
        dup = next(v for v in names if names.count(v) > 1)
        raise ModelFormatError(
            f"{where} lists feature '{dup}' twice in 'feature_names': {_FIX_EXPORT}"
        )
    return names


def _check_expected(names: Sequence[str], expected: Sequence[str], where: str) -> None:
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


# ----------------------------------------------------------------------------- inference


@nb.njit(cache=True)
def _forest_proba(
    x: np.ndarray,
    used: np.ndarray,
    roots: np.ndarray,
    depths: np.ndarray,
    nodes: np.ndarray,
    value: np.ndarray,
    out: np.ndarray,
) -> None:
    """Fill ``out (n, C)`` with the mean leaf probabilities of the trees for rows ``x``.

    Args:
        x: ``(n, F)`` C-contiguous float32 rows.
        used: Feature indices some split reads (rows equal on them get equal outputs).
        roots: ``(T,)`` node index of every tree's root.
        depths: ``(T,)`` every tree's depth.
        nodes: ``(N, 4)`` int32 records (one 16-byte load per step): split feature (0 at
            a leaf); first child (the node itself at a leaf); the threshold's float32
            bits, rounded down (``+inf`` at a leaf; go right iff ``x > threshold``);
            1 if a NaN goes right (0 at a leaf).
        value: ``(N, C)`` float64 class probabilities.
        out: ``(n, C)`` float64, overwritten.
    """
    n, n_features = x.shape
    n_trees = roots.shape[0]
    n_classes = value.shape[1]
    thr = nodes.view(np.float32)
    # A row bitwise equal to the previous one on every feature the trees read reaches the
    # same leaves: walk it once. (In a one-symbol market, all agents of a model that
    # ignores the agent's own state share one row.) ``slot[i]`` is row i's distinct row.
    bits = x.view(np.int32)
    slot = np.empty(n, dtype=np.int64)
    n_walk = 0
    for i in range(n):
        same = i > 0
        if same:
            for f in used:
                if bits[i, f] != bits[i - 1, f]:
                    same = False
                    break
        if not same:
            n_walk += 1
        slot[i] = n_walk - 1
    rows = np.empty((n_walk, n_features), dtype=np.float32)
    for i in range(n):
        if i == 0 or slot[i] != slot[i - 1]:
            rows[slot[i]] = x[i]
    # Level by level over all trees at once: every (tree, row) pair is an independent
    # chain of loads, so the CPU overlaps many of them (a single row too). A leaf is its
    # own child and never goes right, so a pair that reached its leaf stays there.
    state = np.empty((n_trees, n_walk), dtype=np.int32)
    max_depth = 0
    for t in range(n_trees):
        max_depth = max(max_depth, depths[t])
        for k in range(n_walk):
            state[t, k] = roots[t]
    for level in range(max_depth):
        for t in range(n_trees):
            if level >= depths[t]:
                continue
            for k in range(n_walk):
                node = state[t, k]
                v = rows[k, nodes[node, 0]]
                go_right = v > thr[node, 2]
                if v != v:
                    go_right = nodes[node, 3] != 0
                state[t, k] = nodes[node, 1] + go_right
    # Leaf probabilities summed in tree order, as scikit-learn's forest accumulates them.
    acc = np.zeros((n_walk, n_classes), dtype=np.float64)
    for t in range(n_trees):
        for k in range(n_walk):
            leaf = state[t, k]
            for c in range(n_classes):
                acc[k, c] += value[leaf, c]
    for k in range(n_walk):
        for c in range(n_classes):
            acc[k, c] /= n_trees
    for i in range(n):
        for c in range(n_classes):
            out[i, c] = acc[slot[i], c]


class _FlatForest:
    """All trees' nodes in flat arrays, walked by the compiled :func:`_forest_proba`.

    Layout: each tree's nodes are contiguous, renumbered breadth first with the two
    children of a split next to each other, so a split stores only its left child
    (``first``; the right child is ``first + 1``). A leaf is its own child with threshold
    ``+inf`` and NaN going left, so it never moves: walking a tree ``depth`` steps lands
    every row on its leaf without a branch on "is this a leaf".

    Thresholds are stored as float32, rounded down: for a float32 input ``x``,
    ``x <= t64`` holds exactly when ``x <= floor32(t64)``, so comparing in float32 gives
    the very decisions scikit-learn makes comparing float32 inputs with float64
    thresholds.
    """

    __slots__ = ("depths", "n_classes", "nodes", "roots", "used", "value")

    def __init__(self, trees: Sequence[TreeNodes], depths: Sequence[int]) -> None:
        feats, firsts, thr64, nan_right, values, roots = [], [], [], [], [], []
        base = 0
        for tree in trees:
            n = tree.n_nodes
            leaf = tree.feature < 0
            # Breadth first, level by level; the children of a split follow as a pair.
            levels = [np.zeros(1, dtype=np.int64)]
            while True:
                splits = levels[-1][~leaf[levels[-1]]]
                if splits.size == 0:
                    break
                levels.append(np.stack([tree.left[splits], tree.right[splits]], axis=1).ravel())
            order = np.concatenate(levels)  # new position -> original node
            new_pos = np.empty(n, dtype=np.int64)
            new_pos[order] = np.arange(n)
            leaf_new = leaf[order]
            feats.append(np.where(leaf_new, 0, tree.feature[order]))
            left_new = new_pos[np.where(leaf_new, 0, tree.left[order])]
            firsts.append(base + np.where(leaf_new, np.arange(n), left_new))
            thr64.append(np.where(leaf_new, np.inf, tree.threshold[order]))
            nan_right.append(~leaf_new & ~tree.missing_go_to_left[order])
            values.append(tree.value[order])
            roots.append(base)
            base += n
        if base >= 2**31:
            raise ModelFormatError(f"the trees have {base:,} nodes; at most 2**31 - 1 are supported")
        t64 = np.concatenate(thr64)
        with np.errstate(over="ignore"):
            t32 = t64.astype(np.float32)
        above = t32.astype(np.float64) > t64
        t32[above] = np.nextafter(t32[above], np.float32(-np.inf))
        nodes = np.empty((base, 4), dtype=np.int32)
        nodes[:, 0] = np.concatenate(feats)
        nodes[:, 1] = np.concatenate(firsts)
        nodes[:, 2] = t32.view(np.int32)
        nodes[:, 3] = np.concatenate(nan_right)
        self.nodes = nodes
        self.value = np.ascontiguousarray(np.concatenate(values))
        self.roots = np.array(roots, dtype=np.int64)
        self.depths = np.array(depths, dtype=np.int64)
        features = np.concatenate([t.feature for t in trees])
        self.used = np.unique(features[features >= 0]).astype(np.int64)
        self.n_classes = int(self.value.shape[1])

    def predict_proba(self, x32: np.ndarray) -> np.ndarray:
        """Mean leaf probabilities over the trees for C-contiguous float32 rows ``(n, F)``."""
        out = np.empty((x32.shape[0], self.n_classes), dtype=np.float64)
        _forest_proba(x32, self.used, self.roots, self.depths, self.nodes, self.value, out)
        return out


def _as_rows(features: Any, n_features: int) -> np.ndarray:
    x = np.asarray(features)
    if x.ndim == 1:
        x = x[None, :]
    if x.ndim != 2 or x.shape[1] != n_features:
        raise ValueError(
            f"predict_proba expects rows of {n_features} features (shape (n, {n_features}) or "
            f"({n_features},)), got shape {np.shape(features)}; pass the features named in model.feature_names"
        )
    if x.dtype != np.float32:
        x = x.astype(np.float32)
    return np.ascontiguousarray(x)


class _TreeModel:
    """Shared implementation of :class:`DecisionTree` and :class:`RandomForest`."""

    model_type: str = ""

    def __init__(
        self,
        feature_names: Sequence[str],
        trees: Sequence[TreeNodes],
        training: Mapping[str, Any] | None = None,
        *,
        source: str | None = None,
    ) -> None:
        where = _where(source)
        self.feature_names: tuple[str, ...] = _check_feature_names(list(feature_names), where)
        self.classes: np.ndarray = np.array(CLASSES, dtype=np.int64)
        trees = list(trees)
        if not trees:
            raise ModelFormatError(f"{where} has no trees: {_FIX_EXPORT}")
        depths = [
            _check_tree(tree, len(self.feature_names), len(CLASSES), f"{where} tree {k}")
            for k, tree in enumerate(trees)
        ]
        self.trees: tuple[TreeNodes, ...] = tuple(trees)
        self.depths: tuple[int, ...] = tuple(depths)
        self.training: dict[str, Any] = dict(training or {})
        self._flat = _FlatForest(self.trees, depths)

    @property
    def n_features(self) -> int:
        """Number of input features."""
        return len(self.feature_names)

    def predict_proba(self, features: np.ndarray) -> np.ndarray:
        """Return class probabilities for one or many feature rows.

        Features are rounded to float32 before the comparisons, as scikit-learn does.
        NaN follows each split's ``missing_go_to_left``.

        Args:
            features: ``(n_rows, n_features)`` array (any float dtype), or a single
                ``(n_features,)`` vector, in :attr:`feature_names` order.

        Returns:
            ``(n_rows, 3)`` float64 probabilities of classes ``[-1, 0, 1]``
            (``(1, 3)`` for a single vector); a new array on every call.

        Raises:
            ValueError: If the shape does not match the number of features.
        """
        return self._flat.predict_proba(_as_rows(features, self.n_features))

    def predict(self, features: np.ndarray) -> np.ndarray:
        """Return the most probable class per row (the first one on ties, like scikit-learn).

        Args:
            features: As for :meth:`predict_proba`.

        Returns:
            ``(n_rows,)`` int64 array of classes from ``[-1, 0, 1]``.
        """
        return self.classes[np.argmax(self.predict_proba(features), axis=1)]

    def to_dict(self) -> dict[str, Any]:
        """Return the model as a JSON-ready dict (the file format).

        Returns:
            A dict of plain Python values; ``json.dumps`` writes it as a model file.
        """
        return {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "model_type": self.model_type,
            "feature_names": list(self.feature_names),
            "classes": [int(c) for c in self.classes],
            "training": _json_safe(self.training),
            "trees": [tree.to_dict() for tree in self.trees],
        }

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write the model as strict JSON (atomically: temporary file, then rename).

        Args:
            path: Destination file; its directory must exist.
        """
        _write_json(self.to_dict(), Path(path))

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(trees={len(self.trees)}, max_depth={max(self.depths)}, "
            f"features={self.n_features})"
        )


class DecisionTree(_TreeModel):
    """A single decision tree classifier over the actions ``[-1, 0, 1]``.

    Attributes:
        feature_names: Input names, in column order.
        classes: ``np.array([-1, 0, 1])``.
        trees: A one-tuple with the tree's :class:`TreeNodes`.
        depths: A one-tuple with the tree's depth.
        training: Training metadata from the file (free-form).
    """

    model_type = "decision_tree"

    def __init__(
        self,
        feature_names: Sequence[str],
        tree: TreeNodes,
        training: Mapping[str, Any] | None = None,
        *,
        source: str | None = None,
    ) -> None:
        """Validate and pack a tree.

        Args:
            feature_names: Input names, in column order.
            tree: The node arrays.
            training: Optional training metadata.
            source: The file path named in error messages, if loaded from a file.

        Raises:
            ModelFormatError: If the tree is malformed.
        """
        super().__init__(feature_names, [tree], training, source=source)

    @property
    def tree(self) -> TreeNodes:
        """The node arrays of the tree."""
        return self.trees[0]

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], source: str | None = None) -> DecisionTree:
        """Build a decision tree from a parsed model file.

        Args:
            data: The parsed JSON.
            source: The file path named in error messages, if the dict was read from one.

        Returns:
            The model.

        Raises:
            ModelFormatError: If the dict is not a valid ``decision_tree`` model.
        """
        names, trees, training = _parse(data, source, cls.model_type)
        return cls(names, trees[0], training, source=source)

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> DecisionTree:
        """Load a ``decision_tree`` model file.

        Args:
            path: The JSON file.

        Returns:
            The model.

        Raises:
            ModelFormatError: If the file is missing, not JSON or not a valid tree model.
        """
        return cls.from_dict(_read_json(path), str(path))


class RandomForest(_TreeModel):
    """A random forest classifier: the mean of its trees' probabilities.

    Attributes:
        feature_names: Input names, in column order.
        classes: ``np.array([-1, 0, 1])``.
        trees: The trees' :class:`TreeNodes`, in averaging order.
        depths: Each tree's depth.
        training: Training metadata from the file (free-form).
    """

    model_type = "random_forest"

    def __init__(
        self,
        feature_names: Sequence[str],
        trees: Sequence[TreeNodes],
        training: Mapping[str, Any] | None = None,
        *,
        source: str | None = None,
    ) -> None:
        """Validate and pack the trees.

        Args:
            feature_names: Input names, in column order.
            trees: One or more trees, in averaging order.
            training: Optional training metadata.
            source: The file path named in error messages, if loaded from a file.

        Raises:
            ModelFormatError: If a tree is malformed or there is none.
        """
        super().__init__(feature_names, trees, training, source=source)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], source: str | None = None) -> RandomForest:
        """Build a forest from a parsed model file.

        Args:
            data: The parsed JSON.
            source: The file path named in error messages, if the dict was read from one.

        Returns:
            The model.

        Raises:
            ModelFormatError: If the dict is not a valid ``random_forest`` model.
        """
        names, trees, training = _parse(data, source, cls.model_type)
        return cls(names, trees, training, source=source)

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> RandomForest:
        """Load a ``random_forest`` model file.

        Args:
            path: The JSON file.

        Returns:
            The model.

        Raises:
            ModelFormatError: If the file is missing, not JSON or not a valid forest model.
        """
        return cls.from_dict(_read_json(path), str(path))


# ----------------------------------------------------------------------------- files


def _parse(
    data: Any, source: str | None, model_type: str | None
) -> tuple[tuple[str, ...], list[TreeNodes], dict[str, Any]]:
    where = _where(source)
    if not isinstance(data, Mapping):
        raise ModelFormatError(
            f"{where} holds a JSON {type(data).__name__}, not an object: {_FIX_EXPORT}"
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
            f"{FORMAT_VERSION}: {_FIX_EXPORT}"
        )
    mtype = data.get("model_type")
    if mtype not in MODEL_TYPES:
        raise ModelFormatError(
            f"{where} has model_type {json.dumps(mtype)}, not one of {list(MODEL_TYPES)}: {_FIX_EXPORT}"
        )
    if model_type is not None and mtype != model_type:
        cls_name = "RandomForest" if mtype == "random_forest" else "DecisionTree"
        raise ModelFormatError(
            f"{where} holds a {mtype}: load it with load_model() or {cls_name}.load()"
        )
    names = _check_feature_names(data.get("feature_names"), where)
    classes = data.get("classes")
    if (
        not isinstance(classes, list)
        or classes != list(CLASSES)
        or any(isinstance(c, bool) for c in classes)
    ):
        raise ModelFormatError(
            f"{where} has classes {json.dumps(classes)}; version {FORMAT_VERSION} requires "
            f"{list(CLASSES)}: {_FIX_EXPORT}"
        )
    raw_trees = data.get("trees")
    if not isinstance(raw_trees, list) or not raw_trees:
        raise ModelFormatError(f"{where} needs 'trees' as a non-empty list: {_FIX_EXPORT}")
    if mtype == "decision_tree" and len(raw_trees) != 1:
        raise ModelFormatError(
            f"{where} is a decision_tree with {len(raw_trees)} trees; it needs exactly 1 "
            "(use model_type random_forest for several)"
        )
    training = data.get("training", {})
    if not isinstance(training, Mapping):
        raise ModelFormatError(f"{where} has 'training' that is not an object: {_FIX_EXPORT}")
    trees = [
        _tree_from_dict(raw, len(CLASSES), f"{where} tree {k}") for k, raw in enumerate(raw_trees)
    ]
    return names, trees, dict(training)


def _read_json(path: str | os.PathLike[str]) -> Any:
    p = Path(path)
    if not p.is_file():
        raise ModelFormatError(
            f"model file {p} does not exist or is not a file: pass the path of a model .json"
        )
    try:
        with p.open("rb") as fh:
            return json.load(fh)
    except RecursionError:
        raise ModelFormatError(
            f"model file {p} is nested too deeply to be a model: pass a model written by scripts/export_rf.py"
        ) from None
    except (UnicodeDecodeError, ValueError) as exc:  # JSONDecodeError is a ValueError
        if isinstance(exc, json.JSONDecodeError):
            detail = exc.msg
        elif isinstance(exc, UnicodeDecodeError):
            detail = "not UTF-8 text"
        else:
            detail = "a number too long to read"
        raise ModelFormatError(
            f"model file {p} is not valid JSON ({detail}): pass a model written by scripts/export_rf.py"
        ) from None
    except OSError as exc:
        raise ModelFormatError(
            f"model file {p} cannot be read ({exc.strerror}): check its permissions"
        ) from None


def _json_safe(obj: Any) -> Any:
    """Convert numpy values and non-finite floats (to ``None``) for strict JSON."""
    if isinstance(obj, Mapping):
        return {str(k): _json_safe(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple | set | frozenset):
        return [_json_safe(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return _json_safe(obj.tolist())
    if isinstance(obj, np.generic):
        return _json_safe(obj.item())
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if isinstance(obj, Path):
        return str(obj)
    return obj


def _write_json(data: Mapping[str, Any], path: Path) -> None:
    text = json.dumps(data, allow_nan=False, separators=(",", ":"))
    # A unique hidden sibling, then an atomic rename that keeps an existing file's mode.
    tmp = create_temp(path)
    try:
        with tmp.open("w", encoding="utf-8") as fh:
            fh.write(text)
            fh.write("\n")
        replace_keeping_mode(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def load_model(
    path: str | os.PathLike[str], expected_features: Sequence[str] | None = None
) -> DecisionTree | RandomForest:
    """Load a model file of either type.

    Args:
        path: The JSON model file.
        expected_features: The features the caller will pass, in order (usually
            :data:`marketenv.feature_spec.FEATURE_NAMES`); if given, the model's
            ``feature_names`` must equal it exactly.

    Returns:
        A :class:`RandomForest` or :class:`DecisionTree` (both satisfy :class:`MlModel`).

    Raises:
        ModelFormatError: If the file is missing, not JSON, of another format or version,
            malformed, or expects other features; the message is one line naming the
            problem and the fix.
    """
    data = _read_json(path)
    source = str(path)
    names, trees, training = _parse(data, source, None)
    if expected_features is not None:
        _check_expected(names, expected_features, _where(source))
    if data["model_type"] == "decision_tree":
        return DecisionTree(names, trees[0], training, source=source)
    return RandomForest(names, trees, training, source=source)


# ----------------------------------------------------------------------------- export


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
        counts if np.allclose(sums, 1.0, atol=_PROB_TOL) else counts / np.where(sums > 0, sums, 1.0)
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
        "training": _json_safe(dict(training_meta or {})),
        "trees": [tree.to_dict() for tree in trees],
    }
