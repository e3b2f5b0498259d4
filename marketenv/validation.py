"""Validation of config tables: type checks, range checks and building frozen dataclasses.

The one place that turns plain TOML values into typed, validated dataclasses, for the
config tables (:mod:`marketenv.config`) and strategy parameters
(:mod:`marketenv.strategy_params`) alike. Every failure is a one-line
:class:`~marketenv.errors.ConfigError` naming the key.
"""

from __future__ import annotations

import dataclasses
import math
import types
import typing
from collections.abc import Mapping
from typing import Any

from marketenv.errors import ConfigError
from marketenv.outputs import brief

__all__ = ["brief", "build_dataclass", "require", "require_in", "require_range"]


def require(ok: bool, message: str) -> None:
    """Raise :class:`ConfigError` with ``message`` unless ``ok``."""
    if not ok:
        raise ConfigError(message)


def require_in(value: float, lo: float, hi: float, key: str) -> None:
    """Raise :class:`ConfigError` unless ``lo <= value <= hi`` (NaN fails), naming ``key``.

    The one range check of config tables and strategy parameters alike; the message is
    ``"{key} must be in [lo, hi] (got value)"``.
    """
    if not lo <= value <= hi:
        raise ConfigError(f"{key} must be in [{lo:g}, {hi:g}] (got {brief(value)})")


def require_range(value: float, lo: float, hi: float, key: str) -> None:
    """``lo <= value <= hi``, else a message that states the bounds."""
    if value < lo:
        raise ConfigError(f"{key} must be >= {lo:,} (got {brief(value)}); allowed: {lo:,} to {hi:,}")
    if value > hi:
        raise ConfigError(f"{key} must be <= {hi:,} (got {brief(value)}); allowed: {lo:,} to {hi:,}")


def _check_type(value: Any, tp: Any, key: str) -> Any:
    """Check (and lightly coerce int -> float) a TOML value against a type hint."""
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        args = typing.get_args(tp)
        if value is None and type(None) in args:
            return None
        for arg in args:
            if arg is type(None):
                continue
            try:
                return _check_type(value, arg, key)
            except ConfigError:
                continue
        names = " or ".join(getattr(a, "__name__", str(a)) for a in args if a is not type(None))
        raise ConfigError(f"{key} must be {names} (got {type(value).__name__} {brief(repr(value))})")
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ConfigError(f"{key} must be a number (got {type(value).__name__} {brief(repr(value))})")
        try:
            as_float = float(value)
        except OverflowError:
            as_float = math.inf
        if not math.isfinite(as_float):
            raise ConfigError(f"{key} must be a finite number (got {brief(value)})")
        return as_float
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{key} must be an integer (got {type(value).__name__} {brief(repr(value))})")
        return value
    if tp is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{key} must be true or false (got {type(value).__name__} {brief(repr(value))})")
        return value
    if tp is str:
        if not isinstance(value, str):
            raise ConfigError(f"{key} must be a string (got {type(value).__name__} {brief(repr(value))})")
        return value
    if origin is not None and origin is Mapping or tp is Mapping:
        if not isinstance(value, Mapping):
            raise ConfigError(f"{key} must be a table (got {type(value).__name__})")
        return dict(value)
    if dataclasses.is_dataclass(tp):
        return build_dataclass(tp, value, key)
    raise ConfigError(f"{key}: unsupported type {tp!r}")  # pragma: no cover


def build_dataclass(cls: Any, data: Any, where: str) -> Any:
    """An instance of the dataclass ``cls`` from a plain table, every value type-checked.

    Unknown keys, wrong types and non-finite numbers raise :class:`ConfigError` naming
    ``<where>.<key>``; nested dataclasses and tuples of them are built recursively. Range
    checks are the dataclass's own ``validate``, which this does not call.
    """
    if not isinstance(data, Mapping):
        raise ConfigError(f"{where} must be a table (got {type(data).__name__})")
    hints = typing.get_type_hints(cls)
    fields = {f.name for f in dataclasses.fields(cls)}
    unknown = [k for k in data if k not in fields]
    if unknown:
        prefix = f"{where}." if where else ""
        raise ConfigError(
            f"unknown key {prefix}{brief(unknown[0])}; known keys: {', '.join(sorted(fields))}"
        )
    kwargs: dict[str, Any] = {}
    for name, value in data.items():
        key = f"{where}.{name}" if where else name
        tp = hints[name]
        if typing.get_origin(tp) is tuple:
            (item_tp, _) = typing.get_args(tp)
            if not isinstance(value, list):
                raise ConfigError(f"{key} must be an array of tables (got {type(value).__name__})")
            kwargs[name] = tuple(build_dataclass(item_tp, v, f"{key}[{i}]") for i, v in enumerate(value))
        else:
            kwargs[name] = _check_type(value, tp, key)
    return cls(**kwargs)
