"""The Parquet schema of a feature recording and its file metadata.

One row per (recorded tick, agent, symbol), ordered by tick then ``agent_id``. The columns,
in this order, are :data:`LEADING`, one ``f_<name>`` float64 column per feature (state at
the start of the tick), :data:`OUTCOME_COLUMNS` (the action, its fills, the reward and
the ``next_`` state after the tick) and :data:`TRAILING` (the run id).

The file's key-value metadata carries everything needed to interpret the rows later:
the schema version, the marketenv version, the simulation config and seed, the feature
names with their descriptions, and the recording flags (warm-up, interval, ...). Build it
with :func:`make_metadata` and read it back with :func:`read_metadata`.
"""

from __future__ import annotations

import enum
import hashlib
import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

import marketenv
from marketenv.errors import RecordingError
from marketenv.feature_spec import FEATURE_DESCRIPTIONS, FEATURE_NAMES

SCHEMA_VERSION = "2"
"""Version of the column layout; bump it when columns are added, removed or retyped."""

FEATURE_PREFIX = "f_"
"""Prefix of the pre-tick feature columns."""

LEADING: list[str] = ["tick", "agent_id", "agent_name", "symbol"]
"""Identifying columns, first in every row."""

LEADING_TYPES: dict[str, pa.DataType] = {
    "tick": pa.uint64(),
    "agent_id": pa.uint64(),
    "agent_name": pa.string(),
    "symbol": pa.string(),
}

OUTCOME_COLUMNS: list[str] = [
    "action",
    "action_quantity",
    "action_price",
    "fill_quantity",
    "fill_price",
    "fill_buy_quantity",
    "fill_buy_price",
    "fill_sell_quantity",
    "fill_sell_price",
    "fees",
    "tick_trade_low",
    "tick_trade_high",
    "reward",
    "reward_normalized",
    "next_mid_price",
    "next_position",
    "next_pnl",
    "next_cash",
    "next_equity",
]
"""Action, outcome and post-tick columns, last in every row."""

OUTCOME_TYPES: dict[str, pa.DataType] = {
    name: (pa.int8() if name == "action" else pa.float64()) for name in OUTCOME_COLUMNS
}

TRAILING: list[str] = ["run_id"]
"""Columns after the outcomes: ``run_id`` identifies the run (see :func:`make_run_id`)."""

STRING_COLUMNS: tuple[str, ...] = ("agent_name", "symbol", "run_id")
"""Columns stored as plain strings; the writer takes them as codes into category lists."""

NAN_ALLOWED_OUTCOMES: frozenset[str] = frozenset(
    {
        "action_price",
        "fill_price",
        "fill_buy_price",
        "fill_sell_price",
        "tick_trade_low",
        "tick_trade_high",
    }
)
"""Outcome columns that may hold NaN (no limit price; nothing filled; the symbol did not trade)."""

OUTCOME_DESCRIPTIONS: dict[str, str] = {
    "action": "sign of the net quantity the agent placed this tick (-1 sell, 0 hold, 1 buy)",
    "action_quantity": "all shares the agent placed this tick (both sides)",
    "action_price": "limit price on the side of action, NaN for holds and market orders",
    "fill_quantity": "net signed shares traded during the tick (+ bought, - sold), resting orders included",
    "fill_price": "VWAP of all the agent's fills in the tick (both sides), NaN if none",
    "fill_buy_quantity": "shares bought during the tick",
    "fill_buy_price": "VWAP of the buys, NaN if none",
    "fill_sell_quantity": "shares sold during the tick",
    "fill_sell_price": "VWAP of the sells, NaN if none",
    "fees": "fees paid during the tick, currency units",
    "tick_trade_low": "lowest trade price in the symbol during the tick, NaN if it did not trade",
    "tick_trade_high": "highest trade price in the symbol during the tick, NaN if it did not trade",
    "reward": "P&L change over the tick marked to the mid, currency units",
    "reward_normalized": "reward / initial_cash",
    "next_mid_price": "mid after the tick (= next tick's f_mid_price)",
    "next_position": "position after the tick",
    "next_pnl": "total P&L after the tick",
    "next_cash": "cash after the tick; next_cash - f_cash = sell notional - buy notional - fees",
    "next_equity": "equity after the tick",
}
"""Outcome column -> one-line description (for dataset cards)."""

KEY_SCHEMA_VERSION = "marketenv.schema_version"
KEY_VERSION = "marketenv.version"
KEY_CONFIG = "marketenv.config"
KEY_SEED = "marketenv.seed"
KEY_FEATURES = "marketenv.features"
KEY_RECORDING = "marketenv.recording"
KEY_RUN_ID = "marketenv.run_id"

METADATA_KEYS: tuple[str, ...] = (
    KEY_SCHEMA_VERSION,
    KEY_VERSION,
    KEY_CONFIG,
    KEY_SEED,
    KEY_FEATURES,
    KEY_RECORDING,
    KEY_RUN_ID,
)
"""Key-value metadata every recording carries."""

_JSON_KEYS = frozenset({KEY_CONFIG, KEY_SEED, KEY_FEATURES, KEY_RECORDING})
_REQUIRED_FLAGS = ("warmup", "interval")


def feature_columns(names: Sequence[str] = FEATURE_NAMES) -> list[str]:
    """Return the column names of the given features (``f_`` + name), in order.

    Args:
        names: Feature names, by default the full :data:`FEATURE_NAMES` vector.

    Returns:
        The prefixed column names.
    """
    return [FEATURE_PREFIX + name for name in names]


def column_names(feature_names: Sequence[str] = FEATURE_NAMES) -> list[str]:
    """Return every column name of a recording, in file order.

    Args:
        feature_names: Feature names, by default :data:`FEATURE_NAMES`.

    Returns:
        ``LEADING + feature_columns(feature_names) + OUTCOME_COLUMNS + TRAILING``.
    """
    return [*LEADING, *feature_columns(feature_names), *OUTCOME_COLUMNS, *TRAILING]


def build_schema(
    feature_names: Sequence[str] = FEATURE_NAMES,
    metadata: Mapping[str | bytes, str | bytes] | None = None,
) -> pa.Schema:
    """Build the Arrow schema of a recording.

    Args:
        feature_names: Feature names, by default :data:`FEATURE_NAMES`.
        metadata: Optional key-value metadata, usually from :func:`make_metadata`.

    Returns:
        The schema, with ``metadata`` attached.

    Raises:
        RecordingError: If a feature name is repeated or collides with another column.
    """
    names = column_names(feature_names)
    if len(set(names)) != len(names):
        dupes = sorted({n for n in names if names.count(n) > 1})
        raise RecordingError(f"duplicate column names {dupes}; give each feature a unique name")
    fields = [pa.field(name, LEADING_TYPES[name], nullable=False) for name in LEADING]
    fields += [
        pa.field(name, pa.float64(), nullable=False) for name in feature_columns(feature_names)
    ]
    fields += [pa.field(name, OUTCOME_TYPES[name], nullable=False) for name in OUTCOME_COLUMNS]
    fields += [pa.field(name, pa.string(), nullable=False) for name in TRAILING]
    return pa.schema(fields, metadata=dict(metadata) if metadata else None)


def _json_default(obj: Any) -> Any:
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, Path):
        return str(obj)
    if isinstance(obj, enum.Enum):
        return obj.value
    if isinstance(obj, set | frozenset | tuple):
        return list(obj)
    raise TypeError(f"{type(obj).__name__} is not JSON serialisable")


def _dumps(key: str, value: Any) -> str:
    try:
        return json.dumps(value, default=_json_default, sort_keys=True, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise RecordingError(
            f"metadata {key} cannot be stored as JSON ({exc}); pass plain numbers, strings, lists and dicts"
        ) from None


def make_run_id(config: Mapping[str, Any], seed: int | None, flags: Mapping[str, Any]) -> str:
    """A run's id: 16 hex digits of a hash of its config, seed, schedule and package version.

    The same run recorded twice gets the same id (so a resumed sweep is idempotent);
    any change to what determines the rows changes it.

    Args:
        config: The simulation config.
        seed: The simulation seed.
        flags: Recording flags; only ``warmup``, ``interval`` and ``ticks`` count.
    """
    key = {
        "config": dict(config),
        "seed": seed,
        "schedule": {k: flags.get(k) for k in ("warmup", "interval", "ticks")},
        "version": marketenv.__version__,
        "schema": SCHEMA_VERSION,
    }
    text = json.dumps(key, default=_json_default, sort_keys=True, allow_nan=False)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def make_metadata(
    config: Mapping[str, Any],
    seed: int | None,
    flags: Mapping[str, Any],
    feature_names: Sequence[str] = FEATURE_NAMES,
    descriptions: Mapping[str, str] = FEATURE_DESCRIPTIONS,
) -> dict[str, str]:
    """Build the key-value metadata of a recording.

    Args:
        config: The simulation config (stored as JSON).
        seed: The simulation seed.
        flags: Recording flags; must contain ``warmup`` and ``interval`` and usually
            ``ticks`` (see :meth:`recorders.schedule.RecordSchedule.as_flags`).
        feature_names: The recorded features, in column order.
        descriptions: Feature name -> one-line description.

    Returns:
        A dict with the keys of :data:`METADATA_KEYS`, values as strings.

    Raises:
        RecordingError: If a flag is missing or a value cannot be stored as JSON.
    """
    missing = [flag for flag in _REQUIRED_FLAGS if flag not in flags]
    if missing:
        raise RecordingError(
            f"recording flags lack {missing}; pass warmup and interval (RecordSchedule.as_flags())"
        )
    features = [{"name": name, "description": descriptions.get(name, "")} for name in feature_names]
    return {
        KEY_SCHEMA_VERSION: SCHEMA_VERSION,
        KEY_VERSION: marketenv.__version__,
        KEY_CONFIG: _dumps(KEY_CONFIG, dict(config)),
        KEY_SEED: _dumps(KEY_SEED, seed),
        KEY_FEATURES: _dumps(KEY_FEATURES, features),
        KEY_RECORDING: _dumps(KEY_RECORDING, dict(flags)),
        KEY_RUN_ID: make_run_id(config, seed, flags),
    }


def decode_metadata(raw: Mapping[bytes | str, bytes | str] | None) -> dict[str, Any]:
    """Decode the ``marketenv.*`` entries of raw Arrow/Parquet key-value metadata.

    Args:
        raw: The metadata mapping (``schema.metadata``); may be ``None``.

    Returns:
        Key (full name, e.g. ``"marketenv.recording"``) -> value, JSON-decoded for the
        config, seed, features and recording entries and a plain string otherwise.

    Raises:
        RecordingError: If a JSON entry is malformed.
    """
    out: dict[str, Any] = {}
    for key, value in (raw or {}).items():
        k = key.decode("utf-8", "replace") if isinstance(key, bytes) else key
        if not k.startswith("marketenv."):
            continue
        v = value.decode("utf-8", "replace") if isinstance(value, bytes) else value
        if k in _JSON_KEYS:
            try:
                out[k] = json.loads(v)
            except json.JSONDecodeError as exc:
                raise RecordingError(
                    f"metadata {k} is not valid JSON ({exc.msg}); rewrite the recording"
                ) from None
        else:
            out[k] = v
    return out


def read_metadata(path: str | Path) -> dict[str, Any]:
    """Read the ``marketenv.*`` metadata of a recording.

    Args:
        path: A Parquet file written with :func:`build_schema` metadata.

    Returns:
        See :func:`decode_metadata`; keys absent from the file are absent here.

    Raises:
        RecordingError: If the file is missing or not Parquet.
    """
    p = Path(path)
    if not p.is_file():
        raise RecordingError(f"{p}: no such file; give the path of a .parquet recording")
    try:
        schema = pq.read_schema(p)
    except (OSError, pa.ArrowException) as exc:
        raise RecordingError(f"{p}: not a readable Parquet file ({_one_line(exc)})") from None
    return decode_metadata(schema.metadata)


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


TRAINING_COLUMNS: list[str] = ["episode", "env_index"]
"""Columns a recording made by a wrapper during training ends with: the episode number of
its env (0, 1, ...) and the env's index among the envs writing the same file (0 alone)."""

TRAINING_TYPES: dict[str, pa.DataType] = {"episode": pa.uint32(), "env_index": pa.uint16()}


def with_training_columns(schema: pa.Schema) -> pa.Schema:
    """``schema`` with :data:`TRAINING_COLUMNS` appended (metadata kept)."""
    for name in TRAINING_COLUMNS:
        schema = schema.append(pa.field(name, TRAINING_TYPES[name], nullable=False))
    return schema


def is_training_schema(schema: pa.Schema) -> bool:
    """Whether a recording's schema carries the :data:`TRAINING_COLUMNS`."""
    return all(name in schema.names for name in TRAINING_COLUMNS)
