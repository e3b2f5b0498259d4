"""Fitting a scikit-learn classifier, exporting it and scoring both on the test rows."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from agents.models import CLASSES, DecisionTree, RandomForest, export_sklearn
from agents.training.options import TrainOptions
from marketenv.feature_spec import FEATURE_NAMES

__all__ = ["Scores", "balance", "export", "fit", "format_balance", "importances", "score"]

PARITY_SAMPLE = 20_000
"""Test rows on which the exported model is compared with scikit-learn."""


@dataclass(frozen=True)
class Scores:
    """How the fitted model does on the test rows (and how closely the export follows it)."""

    test_accuracy: float
    train_accuracy: float
    balanced_accuracy: float
    baseline: float
    """Test accuracy of always predicting the most frequent training label."""
    majority: int
    parity: float
    """Largest absolute difference between the exported model's and scikit-learn's probabilities."""

    def as_dict(self) -> dict[str, Any]:
        """The ``scores`` object of the model file's training metadata."""
        return {
            "test_accuracy": self.test_accuracy,
            "train_accuracy": self.train_accuracy,
            "test_balanced_accuracy": self.balanced_accuracy,
            "baseline_test_accuracy": self.baseline,
            "baseline_class": self.majority,
            "export_parity_max_abs_diff": self.parity,
        }


def balance(y: np.ndarray) -> dict[str, int]:
    """Rows per class, keyed ``"-1"``, ``"0"``, ``"1"``."""
    return {str(c): int((y == c).sum()) for c in CLASSES}


def format_balance(counts: dict[str, int]) -> str:
    """The class shares of :func:`balance` counts, on one line."""
    total = max(sum(counts.values()), 1)
    return "  ".join(f"{c:>2} {counts[c] / total:6.1%}" for c in counts)


def fit(options: TrainOptions, x: np.ndarray, y: np.ndarray) -> Any:
    """Fit the classifier ``options.model`` names on rows ``x`` and labels ``y``."""
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.tree import DecisionTreeClassifier

    if options.model == "tree":
        clf = DecisionTreeClassifier(
            max_depth=options.max_depth,
            min_samples_leaf=options.min_samples_leaf,
            random_state=options.seed,
        )
    else:
        clf = RandomForestClassifier(
            n_estimators=options.n_estimators,
            max_depth=options.max_depth,
            min_samples_leaf=options.min_samples_leaf,
            random_state=options.seed,
            n_jobs=-1,
        )
    clf.fit(x, y)
    if hasattr(clf, "n_jobs"):
        clf.n_jobs = None  # predict in one thread: trees summed in order, as the export does
    return clf


def export(
    options: TrainOptions, clf: Any, features: list[str]
) -> tuple[DecisionTree | RandomForest, list[str]]:
    """Convert the fitted classifier to a model; return it and its input features.

    The model takes :data:`~marketenv.feature_spec.FEATURE_NAMES` whenever every training
    feature is one of them, else the training features in order.
    """
    input_features = list(FEATURE_NAMES) if set(features) <= set(FEATURE_NAMES) else features
    model_dict = export_sklearn(clf, features, {}, input_features=input_features)
    model_cls = DecisionTree if options.model == "tree" else RandomForest
    return model_cls.from_dict(model_dict), input_features


def score(
    clf: Any,
    model: DecisionTree | RandomForest,
    features: list[str],
    input_features: list[str],
    train: tuple[np.ndarray, np.ndarray],
    test: tuple[np.ndarray, np.ndarray],
) -> Scores:
    """Score the classifier on the ``(x, y)`` train and test rows; check the export's parity."""
    from sklearn.metrics import balanced_accuracy_score

    (x_train, y_train), (x_test, y_test) = train, test
    pred_test = clf.predict(x_test)
    pred_train = clf.predict(x_train)
    values, counts = np.unique(y_train, return_counts=True)
    majority = int(values[np.argmax(counts)])
    # Self-check: the exported model reproduces scikit-learn on (a sample of) the test rows.
    sample = x_test[:PARITY_SAMPLE]
    columns = [input_features.index(n) for n in features]
    full = np.full((sample.shape[0], len(input_features)), np.nan, dtype=np.float32)
    full[:, columns] = sample
    ours = model.predict_proba(full)
    theirs = np.zeros_like(ours)
    theirs[:, [CLASSES.index(int(c)) for c in clf.classes_]] = clf.predict_proba(sample)
    return Scores(
        test_accuracy=float((pred_test == y_test).mean()),
        train_accuracy=float((pred_train == y_train).mean()),
        balanced_accuracy=float(balanced_accuracy_score(y_test, pred_test)),
        baseline=float((y_test == majority).mean()),
        majority=majority,
        parity=float(np.abs(ours - theirs).max()) if sample.shape[0] else 0.0,
    )


def importances(clf: Any, features: list[str]) -> list[tuple[str, float]]:
    """The features with their importances, most important first."""
    return sorted(
        zip(features, (float(v) for v in clf.feature_importances_), strict=True),
        key=lambda item: -item[1],
    )
