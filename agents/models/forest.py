"""Tree models in memory and their batched inference (a compiled numba traversal).

:class:`DecisionTree` and :class:`RandomForest` validate their trees when built, pack
them into flat arrays (:class:`_FlatForest`) and walk them with :func:`_forest_proba`.
:func:`load_model` reads a model file of either type.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numba as nb
import numpy as np

from agents.models.format import (
    CLASSES,
    FIX_EXPORT,
    FORMAT,
    FORMAT_VERSION,
    TreeNodes,
    check_expected,
    check_feature_names,
    check_tree,
    json_safe,
    parse_model,
    source_label,
)
from agents.models.io import read_json, write_json
from marketenv.errors import ModelFormatError

__all__ = ["DecisionTree", "RandomForest", "load_model"]


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
        where = source_label(source)
        self.feature_names: tuple[str, ...] = check_feature_names(list(feature_names), where)
        self.classes: np.ndarray = np.array(CLASSES, dtype=np.int64)
        trees = list(trees)
        if not trees:
            raise ModelFormatError(f"{where} has no trees: {FIX_EXPORT}")
        depths = [
            check_tree(tree, len(self.feature_names), len(CLASSES), f"{where} tree {k}")
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
            "training": json_safe(self.training),
            "trees": [tree.to_dict() for tree in self.trees],
        }

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write the model as strict JSON (atomically: temporary file, then rename).

        Args:
            path: Destination file; its directory must exist.
        """
        write_json(self.to_dict(), Path(path))

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
        names, trees, training = parse_model(data, source, cls.model_type)
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
        return cls.from_dict(read_json(path), str(path))


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
        names, trees, training = parse_model(data, source, cls.model_type)
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
        return cls.from_dict(read_json(path), str(path))



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
    data = read_json(path)
    source = str(path)
    names, trees, training = parse_model(data, source, None)
    if expected_features is not None:
        check_expected(names, expected_features, source_label(source))
    if data["model_type"] == "decision_tree":
        return DecisionTree(names, trees[0], training, source=source)
    return RandomForest(names, trees, training, source=source)

