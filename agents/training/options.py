"""What a training run does: :class:`TrainOptions`, validated when built."""

from __future__ import annotations

import math
import operator
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal, NoReturn

from marketenv.config import MAX_TICKS
from marketenv.errors import TrainingError

__all__ = [
    "DEFAULT_HORIZON",
    "FEATURE_PREFIX",
    "MAX_DEPTH",
    "MAX_ESTIMATORS",
    "MAX_SEED",
    "TrainOptions",
    "fail",
]

FEATURE_PREFIX = "f_"
"""Prefix of the feature columns of a recording."""

DEFAULT_HORIZON = 10
"""Ticks ahead of the ``forward`` label when ``horizon`` is not given."""

MAX_ESTIMATORS = 10_000
"""Most trees in a forest (``n_estimators``)."""

MAX_DEPTH = 64
"""Deepest tree (``max_depth``); deeper trees would not fit the model format's budget."""

MAX_SEED = 2**32 - 1
"""Largest ``seed`` (scikit-learn's ``random_state`` range)."""

_CHOICES = {"label": ("action", "forward"), "split": ("time", "file"), "model": ("forest", "tree")}


def fail(message: str) -> NoReturn:
    """Raise :class:`~marketenv.errors.TrainingError` with ``message``."""
    raise TrainingError(message)


def _integer(name: str, value: Any, lo: int | None = None, hi: int | None = None) -> int:
    """``value`` as an int (in ``lo..hi`` when given); the error names the parameter ``name``."""
    if isinstance(value, bool):
        fail(f"`{name}` must be an integer (got {value!r})")
    try:
        v = operator.index(value)
    except TypeError:
        fail(f"`{name}` must be an integer (got {value!r})")
    if lo is not None and v < lo:
        fail(f"`{name}` must be >= {lo} (got {v})")
    if hi is not None and v > hi:
        fail(f"`{name}` must be <= {hi:,} (got {v:,})")
    return v


def _number(name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        fail(f"`{name}` must be a number (got {value!r})")
    return float(value)


@dataclass(frozen=True, kw_only=True)
class TrainOptions:
    """Everything a training run needs, validated when built.

    Attributes:
        recordings: The Parquet recordings, in order (the ``file`` split tests the last).
        out: The model file to write (``.json``).
        label: ``"action"`` (clone the recorded action) or ``"forward"`` (sign of the
            mid-price move over ``horizon`` ticks).
        horizon: ``forward`` only: ticks ahead (default :data:`DEFAULT_HORIZON`, >= 1);
            ``None`` for ``action``.
        dead_zone: ``forward`` only: moves below this many basis points are labelled 0
            (default 0, finite, >= 0); ``None`` for ``action``.
        agents: A regular expression; only rows whose ``agent_name`` matches are used.
        features: ``"all"``, or the feature names (with or without ``f_``), as a sequence
            or one comma-separated string; kept as ``"all"`` or a tuple of distinct names
            without the prefix.
        exclude_agent_state: Drop :data:`~marketenv.feature_spec.AGENT_STATE_FEATURES`.
        split: ``"time"`` (the last ``test_fraction`` of each file's ticks is the test
            set) or ``"file"`` (the last files are; needs two recordings).
        test_fraction: Share of the test set, in (0, 1).
        model: ``"forest"`` or ``"tree"``.
        n_estimators: Trees of a forest, 1..:data:`MAX_ESTIMATORS`.
        max_depth: Deepest split, 1..:data:`MAX_DEPTH`.
        min_samples_leaf: Fewest training rows per leaf, >= 1.
        seed: scikit-learn's ``random_state``, 0..:data:`MAX_SEED`.

    Raises:
        TrainingError: A value out of range, of the wrong type, or an option that does not
            apply; the message names the parameter between backticks.
    """

    recordings: Sequence[str | os.PathLike[str]]
    out: str | os.PathLike[str]
    label: Literal["action", "forward"] = "action"
    horizon: int | None = None
    dead_zone: float | None = None
    agents: str | None = None
    features: str | Sequence[str] = "all"
    exclude_agent_state: bool = False
    split: Literal["time", "file"] = "time"
    test_fraction: float = 0.2
    model: Literal["forest", "tree"] = "forest"
    n_estimators: int = 100
    max_depth: int = 10
    min_samples_leaf: int = 1
    seed: int = 0

    def __post_init__(self) -> None:
        """Validate every value and normalise the containers and defaults."""
        if isinstance(self.recordings, str | os.PathLike) or not self.recordings:
            fail("`recordings` must be a non-empty list of recording paths")
        self._set("recordings", tuple(os.fspath(r) for r in self.recordings))
        self._set("out", os.fspath(self.out))
        for name, allowed in _CHOICES.items():
            if getattr(self, name) not in allowed:
                fail(f"`{name}` must be {' or '.join(map(repr, allowed))} (got {getattr(self, name)!r})")
        self._check_label()
        test_fraction = _number("test_fraction", self.test_fraction)
        if not (math.isfinite(test_fraction) and 0.0 < test_fraction < 1.0):
            fail(f"`test_fraction` must be between 0 and 1, exclusive (got {self.test_fraction})")
        self._set("n_estimators", _integer("n_estimators", self.n_estimators, 1, MAX_ESTIMATORS))
        self._set("max_depth", _integer("max_depth", self.max_depth, 1, MAX_DEPTH))
        self._set("min_samples_leaf", _integer("min_samples_leaf", self.min_samples_leaf, 1, MAX_TICKS))
        seed = _integer("seed", self.seed)
        if not 0 <= seed <= MAX_SEED:
            fail(f"`seed` must be in 0..{MAX_SEED} (got {seed})")
        self._set("seed", seed)
        if self.agents is not None:
            if not isinstance(self.agents, str):
                fail(f"`agents` must be a regular expression string (got {self.agents!r})")
            try:
                re.compile(self.agents)
            except re.error as exc:
                fail(f"`agents` {self.agents!r} is not a valid regular expression ({exc})")
        if not isinstance(self.exclude_agent_state, bool):
            fail(f"`exclude_agent_state` must be True or False (got {self.exclude_agent_state!r})")
        if self.split == "file" and len(self.recordings) < 2:
            fail(
                f"`split` file needs at least 2 recordings (got {len(self.recordings)}): "
                "pass more files or use `split` time"
            )
        self._set("features", self._feature_names())

    def _set(self, name: str, value: Any) -> None:
        object.__setattr__(self, name, value)

    def _check_label(self) -> None:
        if self.label == "action":
            for name in ("horizon", "dead_zone"):
                if getattr(self, name) is not None:
                    fail(f"`{name}` applies to `label` forward only: drop it or pass `label` forward")
            return
        horizon = _integer("horizon", DEFAULT_HORIZON if self.horizon is None else self.horizon)
        if horizon < 1:
            fail(f"`horizon` must be >= 1 tick (got {horizon})")
        self._set("horizon", _integer("horizon", horizon, hi=MAX_TICKS))
        dead_zone = 0.0 if self.dead_zone is None else _number("dead_zone", self.dead_zone)
        if not math.isfinite(dead_zone) or dead_zone < 0:
            fail(f"`dead_zone` must be a finite number >= 0 basis points (got {dead_zone})")
        self._set("dead_zone", dead_zone)

    def _feature_names(self) -> str | tuple[str, ...]:
        spec = self.features
        if isinstance(spec, str):
            if spec.strip().lower() == "all":
                return "all"
            items = spec.strip().split(",")
        elif isinstance(spec, Sequence) and all(isinstance(s, str) for s in spec):
            items = list(spec)
        else:
            fail(f"`features` must be 'all' or feature names (got {spec!r})")
        names: list[str] = []
        for item in items:
            name = item.strip()
            name = name[len(FEATURE_PREFIX) :] if name.startswith(FEATURE_PREFIX) else name
            if not name:
                fail(f"`features` {spec!r} has an empty name: separate names with single commas")
            if name not in names:
                names.append(name)
        return tuple(names)

    @property
    def horizon_ticks(self) -> int:
        """The label's look-ahead: ``horizon`` for ``forward``, 0 for ``action``."""
        return self.horizon if self.label == "forward" and self.horizon is not None else 0
