"""TreeAgent: a policy driven by a decision tree or random forest loaded from JSON.

It sees the same ComprehensiveFeatures vector as every other agent, through the same
policy interface; only the signal differs: the model's class probabilities
``(p_sell, p_hold, p_buy)`` (classes -1, 0, 1). The agent buys when ``p_buy`` is at least
``buy_threshold`` and above ``p_sell``, sells when ``p_sell`` is at least
``sell_threshold`` and above ``p_buy``, and otherwise holds; sizing, position limits and
order placement are the shared ones of :class:`agents.signals.SignalStrategy`.

Agents of one config group share one loaded model and are predicted in one batched
call per tick. Models are cached by path, so several groups naming the same file share
it too.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from agents.signals import PySignalStrategy, SignalParams
from marketenv.feature_spec import FEATURE_INDEX

_CACHE: dict[tuple[str, float], Any] = {}


def load_cached(path: str | Path) -> Any:
    """Load a model once per (path, modification time), checking its feature names.

    A model may use any subset of the features, in any order, as long as every name is
    one of :data:`~marketenv.feature_spec.FEATURE_NAMES`.

    Raises:
        ModelFormatError: malformed file or a feature this marketenv does not compute.
    """
    from agents.models import load_model
    from marketenv.errors import ModelFormatError

    p = Path(path).resolve()
    try:
        key = (str(p), p.stat().st_mtime)
    except OSError:
        key = (str(p), -1.0)
    if key not in _CACHE:
        model = load_model(p)
        unknown = [n for n in model.feature_names if n not in FEATURE_INDEX]
        if unknown:
            raise ModelFormatError(
                f"model {p.name} uses feature {unknown[0]!r}, which marketenv does not compute; "
                "retrain it on a marketenv recording"
            )
        _CACHE[key] = model
    return _CACHE[key]


@dataclass(frozen=True)
class TreeParams(SignalParams):
    """Tree-agent parameters.

    Attributes:
        model: Path of the JSON model (relative paths are relative to the config file).
        buy_threshold: Smallest ``p_buy`` that triggers a buy.
        sell_threshold: Smallest ``p_sell`` that triggers a sell.
    """

    model: str = ""
    buy_threshold: float = 0.5
    sell_threshold: float = 0.5
    activity: float = 1.0

    def validate(self, where: str) -> None:
        super().validate(where)
        from marketenv.errors import ConfigError, ModelFormatError

        if not self.model:
            raise ConfigError(f"{where}.model is required: the path of a JSON model from scripts/export_rf.py")
        for name in ("buy_threshold", "sell_threshold"):
            v = getattr(self, name)
            if not 0 <= v <= 1:
                raise ConfigError(f"{where}.{name} must be in [0, 1] (got {v})")
        if not Path(self.model).is_file():
            raise ConfigError(f"{where}.model {self.model!r} not found; train one with scripts/export_rf.py")
        try:
            load_cached(self.model)
        except ModelFormatError as e:
            raise ConfigError(f"{where}.model: {e}") from None


class TreeStrategy(PySignalStrategy):
    """Signals from a tree model's class probabilities."""

    name = "tree_agent"
    label = "TreeAgent"
    Params: ClassVar[type] = TreeParams

    def __init__(self, params: TreeParams, position_limit: int) -> None:
        super().__init__(params, position_limit)
        self.model = load_cached(params.model)
        self._idx = np.array([FEATURE_INDEX[n] for n in self.model.feature_names], dtype=np.int64)
        classes = [int(c) for c in self.model.classes]
        self._col = {c: classes.index(c) if c in classes else None for c in (-1, 0, 1)}

    def probabilities(self, obs: np.ndarray) -> np.ndarray:
        """``(n, 3)`` probabilities of sell, hold, buy for observation rows."""
        p = self.model.predict_proba(obs[:, self._idx])
        out = np.zeros((obs.shape[0], 3))
        for j, c in enumerate((-1, 0, 1)):
            col = self._col[c]
            if col is not None:
                out[:, j] = p[:, col]
        return out

    def signal(self, obs: np.ndarray) -> np.ndarray:
        p = self.params
        prob = self.probabilities(obs)
        ps, pb = prob[:, 0], prob[:, 2]
        sig = np.zeros(obs.shape[0], dtype=np.int64)
        sig[(pb >= p.buy_threshold) & (pb > ps)] = 1
        sig[(ps >= p.sell_threshold) & (ps > pb)] = -1
        return sig
