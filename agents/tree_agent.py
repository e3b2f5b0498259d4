"""TreeAgent: a policy driven by a decision tree or random forest loaded from JSON.

It sees the same ComprehensiveFeatures vector as every other agent, through the same
policy interface; only the signal differs: the model's class probabilities
``(p_sell, p_hold, p_buy)`` (classes -1, 0, 1). The agent buys when ``p_buy`` is at least
``buy_threshold`` and above ``p_sell``, sells when ``p_sell`` is at least
``sell_threshold`` and above ``p_buy``, and otherwise holds; sizing, position limits and
order placement are the shared ones of :class:`agents.signals.SignalStrategy` (it acts
with probability ``activity`` per tick, like every signal strategy).

Config (``type = "tree_agent"``; relative ``model`` paths are relative to the config
file)::

    [[agents]]
    type = "tree_agent"
    count = 10
    params = { model = "models/forward_rf.json", buy_threshold = 0.6, sell_threshold = 0.6,
               activity = 0.5, quantity = 10, order_type = "ioc", aggression_ticks = 2 }

Agents of one config group share one loaded model and are predicted in one batched
``predict_proba`` call per tick (the crowd calls :meth:`TreeStrategy.decide` once per
group). Models are cached by resolved path (and the file's modification time and size),
so several groups naming the same file share one model in memory.

A missing model file is rejected when the config is validated; a malformed one, or one
that reads a feature the market does not compute, when the strategy is built (a
:class:`~marketenv.simulation.Simulation` starts). Both are one-line
:class:`~marketenv.errors.ConfigError` naming ``agents[i].params.model``. The parameters
(:class:`~marketenv.strategy_params.TreeParams`) are declared in the core.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from agents.signals import PySignalStrategy
from marketenv.feature_spec import FEATURE_INDEX, N_FEATURES
from marketenv.strategy_params import TreeParams

__all__ = ["TreeParams", "TreeStrategy", "clear_model_cache", "load_cached", "tree_signal"]

_CACHE: dict[str, tuple[tuple[int, int], Any]] = {}


def load_cached(path: str | Path) -> Any:
    """Load a model once per file version, checking its feature names.

    A model may use any subset of the features, in any order, as long as every name is
    one of :data:`~marketenv.feature_spec.FEATURE_NAMES`. The cache is keyed by the
    resolved path; a file rewritten since (other modification time or size) is loaded
    again.

    Args:
        path: The JSON model file.

    Returns:
        The loaded model (a :class:`~agents.models.RandomForest` or
        :class:`~agents.models.DecisionTree`), shared by every caller of the same file.

    Raises:
        ModelFormatError: Missing or malformed file, or a feature this marketenv does not
            compute (one-line message).
    """
    from agents.models import load_model
    from marketenv.errors import ModelFormatError

    p = Path(path).resolve()
    try:
        st = p.stat()
        version = (st.st_mtime_ns, st.st_size)
    except OSError:
        version = (-1, -1)
    hit = _CACHE.get(str(p))
    if hit is not None and hit[0] == version:
        return hit[1]
    model = load_model(p)
    unknown = [n for n in model.feature_names if n not in FEATURE_INDEX]
    if unknown:
        raise ModelFormatError(
            f"model file {p} uses feature {unknown[0]!r}, which marketenv does not compute: "
            "retrain it on a marketenv recording (marketenv train)"
        )
    _CACHE[str(p)] = (version, model)
    return model


def clear_model_cache() -> None:
    """Forget every cached model (the next :func:`load_cached` reads the file again)."""
    _CACHE.clear()


class TreeStrategy(PySignalStrategy):
    """Signals from a tree model's class probabilities (see the module docstring).

    Args:
        params: Validated :class:`TreeParams`.
        position_limit: The agents' position limit.
    """

    name = "tree_agent"
    label = "TreeAgent"
    Params: ClassVar[type] = TreeParams

    def __init__(self, params: TreeParams, position_limit: int) -> None:
        super().__init__(params, position_limit)
        self.model = load_cached(params.model)
        idx = np.array([FEATURE_INDEX[n] for n in self.model.feature_names], dtype=np.int64)
        # Models exported by marketenv train take the whole observation vector as is.
        self._idx: np.ndarray | None = (
            None if np.array_equal(idx, np.arange(N_FEATURES)) else idx
        )
        self.model.predict_proba(np.zeros((1, self.model.n_features)))  # compile / load now

    def probabilities(self, obs: np.ndarray) -> np.ndarray:
        """Class probabilities for observation rows.

        Args:
            obs: ``(n, 45)`` observations (:data:`~marketenv.feature_spec.FEATURE_NAMES`).

        Returns:
            ``(n, 3)`` probabilities of sell, hold, buy (the model's ``predict_proba``
            on the features it reads).
        """
        x = obs if self._idx is None else obs[:, self._idx]
        return self.model.predict_proba(x)

    def signal(self, obs: np.ndarray) -> np.ndarray:
        """+1 buy / -1 sell / 0 hold per observation row (see the module docstring).

        Args:
            obs: ``(n, 45)`` observations.

        Returns:
            ``(n,)`` int64 signals.
        """
        p = self.params
        prob = self.probabilities(obs)
        return tree_signal(prob, p.buy_threshold, p.sell_threshold)


def tree_signal(prob: np.ndarray, buy_threshold: float, sell_threshold: float) -> np.ndarray:
    """The tree agent's rule: ``(n, 3)`` sell/hold/buy probabilities to +1 / -1 / 0.

    Args:
        prob: ``(n, 3)`` probabilities of classes ``[-1, 0, 1]``.
        buy_threshold: Smallest ``p_buy`` that buys (when ``p_buy > p_sell``).
        sell_threshold: Smallest ``p_sell`` that sells (when ``p_sell > p_buy``).

    Returns:
        ``(n,)`` int64 signals.
    """
    ps, pb = prob[:, 0], prob[:, 2]
    sig = ((pb >= buy_threshold) & (pb > ps)).astype(np.int64)
    sig -= (ps >= sell_threshold) & (ps > pb)
    return sig
