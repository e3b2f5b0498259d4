"""Tree models stored as JSON, loaded for fast batched inference inside the market.

A model maps the market's feature vector (:data:`marketenv.feature_spec.FEATURE_NAMES`, or
any named subset) to probabilities of the three actions ``-1`` (sell), ``0`` (hold) and
``1`` (buy). Models are trained with scikit-learn (:mod:`agents.training`,
``scripts/export_rf.py``), converted with :func:`export_sklearn`, saved as JSON and loaded
with :func:`load_model`; inference needs numpy and numba (a compiled traversal, see
:mod:`agents.models.forest`), not scikit-learn.

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

Modules: :mod:`~agents.models.format` (constants, node arrays, validation),
:mod:`~agents.models.forest` (the model classes and inference, :func:`load_model`),
:mod:`~agents.models.io` (reading and writing files) and
:mod:`~agents.models.sklearn_export` (:func:`export_sklearn`). The names below are
re-exported here; import them from :mod:`agents.models`.
"""

from __future__ import annotations

from agents.models.forest import DecisionTree, RandomForest, load_model
from agents.models.format import CLASSES, FORMAT, FORMAT_VERSION, MlModel, TreeNodes
from agents.models.sklearn_export import export_sklearn

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
