"""Reading a recording batch by batch: columns as numpy, and each (agent, symbol) pair's last row."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from marketenv.errors import RecordingError
from recorders.schema import STRING_COLUMNS

__all__ = ["BATCH_ROWS", "Batch", "Keys", "is_numeric", "is_stringish", "one_line", "open_recording"]

BATCH_ROWS = 65536
"""Rows per streamed batch."""


def one_line(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    return lines[0] if lines else type(exc).__name__



def is_numeric(t: pa.DataType) -> bool:
    return pa.types.is_integer(t) or pa.types.is_floating(t) or pa.types.is_boolean(t)


def is_stringish(t: pa.DataType) -> bool:
    return pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_binary(t)


class Batch:
    """One streamed batch, with columns converted to numpy on first use."""

    def __init__(self, batch: pa.RecordBatch) -> None:
        self.batch = batch
        self.n = batch.num_rows
        self._np: dict[str, np.ndarray] = {}
        self._codes: dict[str, tuple[np.ndarray, list[Any]]] = {}
        self.pid: np.ndarray | None = None

    def has(self, name: str) -> bool:
        return name in self._np or self.batch.schema.get_field_index(name) >= 0

    def __getitem__(self, name: str) -> np.ndarray:
        arr = self._np.get(name)
        if arr is None:
            col = self.batch.column(name)
            if pa.types.is_floating(col.type) or col.null_count:
                arr = col.to_numpy(zero_copy_only=False).astype(np.float64, copy=False)
            else:
                arr = col.to_numpy(zero_copy_only=False)
            if name == "tick":  # int64 for arithmetic; a null tick (already flagged) -> -1
                if arr.dtype.kind == "f":
                    arr = np.nan_to_num(arr, nan=-1.0)
                arr = arr.astype(np.int64, copy=False)
            self._np[name] = arr
        return arr

    def codes(self, name: str) -> tuple[np.ndarray, list[Any]]:
        """Batch-local codes and values of a (string) column."""
        got = self._codes.get(name)
        if got is None:
            col = self.batch.column(name)
            if not pa.types.is_dictionary(col.type):
                col = pc.dictionary_encode(col)
            values = col.dictionary.to_pylist()
            # A null (flagged by the NaN policy check) gets its own code, whose value is None.
            idx = pc.fill_null(col.indices, len(values)).to_numpy(zero_copy_only=False)
            got = (np.asarray(idx, dtype=np.int64), [*values, None])
            self._codes[name] = got
        return got

    def value(self, name: str, i: int) -> Any:
        if not self.has(name):
            return None
        if name in STRING_COLUMNS:
            idx, values = self.codes(name)
            return values[int(idx[i])]
        return self[name][i]

    def where(self, i: int) -> str:
        """Describe row ``i`` as 'tick T, agent A (name, symbol)'."""
        parts = []
        tick = self.value("tick", i)
        if tick is not None:
            parts.append(f"tick {tick}")
        agent = self.value("agent_id", i)
        if agent is not None:
            who = [
                str(v)
                for v in (self.value("agent_name", i), self.value("symbol", i))
                if v is not None
            ]
            parts.append(f"agent {agent}" + (f" ({', '.join(who)})" if who else ""))
        return ", ".join(parts) if parts else f"row {i}"


class Keys:
    """Global ids of agents, symbols and (agent, symbol) pairs, and each pair's last row."""

    def __init__(self, carry: Sequence[str]) -> None:
        self.carry = list(carry)
        self.agents: dict[Any, int] = {}
        self.symbols: dict[Any, int] = {}
        self.pairs: dict[int, int] = {}
        self.last_tick = np.full(16, -2, dtype=np.int64)
        self.last = {name: np.full(16, np.nan) for name in self.carry}

    def _grow(self, size: int) -> None:
        cap = len(self.last_tick)
        if size <= cap:
            return
        new = max(size, 2 * cap)
        self.last_tick = np.concatenate([self.last_tick, np.full(new - cap, -2, dtype=np.int64)])
        for name in self.carry:
            self.last[name] = np.concatenate([self.last[name], np.full(new - cap, np.nan)])

    def update(self, b: Batch) -> dict[str, np.ndarray]:
        """Set ``b.pid`` and return, per row, the previous row of its pair (tick and carry)."""
        agent = b["agent_id"]
        ua, ainv = np.unique(agent, return_inverse=True)
        gagent = np.array(
            [self.agents.setdefault(v, len(self.agents)) for v in ua.tolist()], dtype=np.int64
        )
        if b.has("symbol"):
            idx, values = b.codes("symbol")
            used = np.zeros(len(values), dtype=bool)
            used[np.unique(idx)] = True  # the null code (last) counts only where it occurs
            gsym = np.array(
                [
                    self.symbols.setdefault(v, len(self.symbols)) if u else 0
                    for v, u in zip(values, used.tolist(), strict=True)
                ],
                dtype=np.int64,
            )
            sym = gsym[idx] if len(gsym) else np.zeros(b.n, dtype=np.int64)
        else:
            sym = np.zeros(b.n, dtype=np.int64)
        combined = (gagent[ainv] << 24) | sym
        uk, kinv = np.unique(combined, return_inverse=True)
        gpair = np.array(
            [self.pairs.setdefault(v, len(self.pairs)) for v in uk.tolist()], dtype=np.int64
        )
        pid = gpair[kinv] if len(gpair) else np.zeros(0, dtype=np.int64)
        b.pid = pid
        self._grow(len(self.pairs))

        order = np.argsort(pid, kind="stable")
        sp = pid[order]
        first = np.ones(b.n, dtype=bool)
        first[1:] = sp[1:] != sp[:-1]
        last = np.ones(b.n, dtype=bool)
        last[:-1] = sp[1:] != sp[:-1]
        out: dict[str, np.ndarray] = {}
        names = ["tick", *self.carry]
        for name in names:
            state = self.last_tick if name == "tick" else self.last[name]
            sv = b[name][order]
            prev_sorted = np.empty_like(sv, dtype=state.dtype)
            prev_sorted[1:] = sv[:-1]
            prev_sorted[first] = state[sp[first]]
            prev = np.empty_like(prev_sorted)
            prev[order] = prev_sorted
            out[name] = prev
            state[sp[last]] = sv[last]
        return out



def open_recording(path: Path) -> tuple[pq.ParquetFile, pa.Schema]:
    """Open a recording; return the file (strings read as dictionaries) and its schema."""
    if not path.exists():
        raise RecordingError(f"{path}: no such file; give the path of a recording (.parquet)")
    if path.is_dir():
        raise RecordingError(f"{path} is a directory; give the path of a recording file inside it")
    try:
        schema = pq.read_schema(path)
        dict_cols = [
            n
            for n in STRING_COLUMNS
            if schema.get_field_index(n) >= 0 and is_stringish(schema.field(n).type)
        ]
        return pq.ParquetFile(path, read_dictionary=dict_cols or None, pre_buffer=False), schema
    except PermissionError:
        raise RecordingError(f"{path}: permission denied; make the file readable") from None
    except (OSError, pa.ArrowException) as exc:
        raise RecordingError(f"{path}: not a readable Parquet file ({one_line(exc)})") from None

