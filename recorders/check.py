"""Verify a feature recording against the design note's checklist.

``python -m recorders.check FILE`` (or ``marketenv check FILE``) prints a checklist and
exits 0 if every check passed, 1 if one failed and 2 if the file cannot be read. A market
table or a sweep's dataset folder is checked by :mod:`recorders.check_dataset`.

The file is streamed batch by batch (one row group at a time), so a recording of tens of
millions of rows is checked in bounded memory; the temporal checks carry the last row of
every (agent, symbol) pair from one batch to the next. The checks:

1. ``schema``: column names, order and types exactly as :func:`recorders.schema.build_schema`
   makes them, and the ``marketenv.*`` metadata present and well formed.
2. ``warmup``: no row before ``--record-warmup``.
3. ``interval``: every tick is ``warmup + k * interval``, none missing in between, ticks
   nondecreasing, rows ordered by (tick, agent_id), no duplicate (tick, agent, symbol).
4. ``feature_ranges``: RSI in [0, 100], spread >= 0, mid > 0, drawdown in [0, 1], news
   fields in range, normalised position in [-1, 1], no infinity anywhere.
5. ``action_encoding``: action in {-1, 0, 1}, ``action_quantity >= 0`` (and > 0 for a buy or
   sell), a hold (net quantity 0, e.g. a two-sided quote) has no limit price, prices > 0,
   ``fill_price`` is NaN exactly when nothing filled (neither side).
6. ``reward``: ``reward == next_pnl - f_total_pnl`` == the change of cash + position * mid;
   ``next_position == f_position + fill_quantity``; equity identities; ``reward_normalized``
   == ``reward / initial_cash`` (``initial_cash = f_cash / f_cash_normalized``).
7. ``temporal``: for rows of one (agent, symbol) one tick apart, ``next_mid_price``,
   ``next_position``, ``next_pnl`` and ``next_cash`` equal the next row's ``f_mid_price``,
   ``f_position``, ``f_total_pnl`` and ``f_cash`` (not applicable when ``interval > 1``).
8. ``nan_policy``: a feature of :data:`marketenv.feature_spec.NAN_UNTIL` is NaN only before
   its tick; other features never; outcomes only the prices of :data:`NAN_ALLOWED_OUTCOMES`; no
   nulls at all.
9. ``fills``: ``fill_quantity = fill_buy_quantity - fill_sell_quantity``; each side's
   price is NaN exactly when that side did not trade; ``fill_price`` is the VWAP of both
   sides; ``fees >= 0``; the cash identity ``next_cash - f_cash = fill_sell_quantity *
   fill_sell_price - fill_buy_quantity * fill_buy_price - fees``; and every fill price
   lies inside the tick's traded range ``[tick_trade_low, tick_trade_high]``.

Money comes from integer cents, so equalities hold to ``1e-6 + 1e-9 * scale`` where
``scale`` is the sum of the magnitudes of the terms compared.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from marketenv.config import MAX_TICKS
from marketenv.errors import RecordingError
from marketenv.feature_spec import FEATURE_NAMES, NAN_UNTIL
from marketenv.outputs import Summary, brief
from recorders.schema import (
    FEATURE_PREFIX,
    KEY_FEATURES,
    KEY_RECORDING,
    KEY_SCHEMA_VERSION,
    METADATA_KEYS,
    NAN_ALLOWED_OUTCOMES,
    SCHEMA_VERSION,
    STRING_COLUMNS,
    build_schema,
    decode_metadata,
    is_training_schema,
    with_training_columns,
)

BATCH_ROWS = 65536
"""Rows per streamed batch."""

ABS_TOL = 1e-6
"""Absolute tolerance of money equalities (currency units)."""

REL_TOL = 1e-9
"""Relative tolerance of money equalities, applied to the magnitude of the terms."""

CHECKS: tuple[tuple[str, str], ...] = (
    ("schema", "Schema correctness"),
    ("warmup", "No data before warm-up"),
    ("interval", "Interval respected"),
    ("feature_ranges", "Feature ranges"),
    ("action_encoding", "Action encoding"),
    ("reward", "Reward reconciliation"),
    ("temporal", "next_* / f_* temporal consistency"),
    ("nan_policy", "NaN policy"),
    ("fills", "Exact fills and cash identity"),
)
"""Check name and title, in report order."""

_TITLES = dict(CHECKS)
_MAX_PROBLEMS_SHOWN = 4


@dataclass(frozen=True)
class CheckResult:
    """The outcome of one check.

    Attributes:
        name: Check name (one of :data:`CHECKS`), e.g. ``"reward"``.
        passed: Whether nothing contradicted the check.
        detail: One line: what was verified, or each problem with its row count and
            first offending tick and agent.
        skipped: The check could not run (a column or metadata entry it needs is
            missing) or does not apply (``temporal`` with ``interval > 1``).
    """

    name: str
    passed: bool
    detail: str
    skipped: bool = False

    @property
    def title(self) -> str:
        """Human-readable title of the check."""
        return _TITLES.get(self.name, self.name)

    @property
    def status(self) -> str:
        """``"PASS"``, ``"FAIL"`` or ``"SKIP"``."""
        if self.skipped:
            return "SKIP"
        return "PASS" if self.passed else "FAIL"


@dataclass
class CheckReport:
    """Everything :func:`check_recording` found out about a recording.

    Attributes:
        path: The file checked.
        results: One :class:`CheckResult` per check, in :data:`CHECKS` order.
        rows: Number of rows.
        ticks: (first, last) tick, or ``None`` for an empty file.
        n_ticks: Number of distinct ticks.
        n_agents: Number of distinct agent ids.
        n_symbols: Number of distinct symbols.
        row_groups: Number of row groups.
        size_bytes: File size.
        metadata: The decoded ``marketenv.*`` metadata.
    """

    path: Path
    results: list[CheckResult]
    rows: int = 0
    ticks: tuple[int, int] | None = None
    n_ticks: int = 0
    n_agents: int = 0
    n_symbols: int = 0
    row_groups: int = 0
    size_bytes: int = 0
    metadata: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        """Whether every check passed (or did not apply)."""
        return all(r.passed for r in self.results)

    @property
    def failed(self) -> list[str]:
        """Names of the checks that failed (skips for lack of data included)."""
        return [r.name for r in self.results if not r.passed]

    def result(self, name: str) -> CheckResult:
        """Return the result of check ``name``.

        Raises:
            KeyError: If there is no such check.
        """
        for r in self.results:
            if r.name == name:
                return r
        raise KeyError(name)

    def format(self) -> str:
        """Return the report as a readable checklist (one PASS/FAIL/SKIP line per check)."""
        lines = [f"marketenv check: {self.path}"]
        size = _human_bytes(self.size_bytes)
        if self.ticks is not None:
            span = f"ticks {self.ticks[0]}..{self.ticks[1]} ({self.n_ticks:,} recorded)"
        else:
            span = "no ticks"
        lines.append(
            f"  {self.rows:,} rows in {_plural(self.row_groups, 'row group')}, {size}; {span},"
            f" {_plural(self.n_agents, 'agent')}, {_plural(self.n_symbols, 'symbol')}"
        )
        rec = self.metadata.get(KEY_RECORDING)
        if isinstance(rec, dict):
            flags = ", ".join(
                f"{k} {brief(rec[k])}" for k in ("warmup", "interval", "ticks") if rec.get(k) is not None
            )
            lines.append(
                f"  recording: {flags}; schema {self.metadata.get(KEY_SCHEMA_VERSION, '?')},"
                f" marketenv {self.metadata.get('marketenv.version', '?')}"
            )
        lines.append("")
        width = max(len(r.name) for r in self.results)
        for i, r in enumerate(self.results, 1):
            lines.append(f"  {r.status}  {i}. {r.name:<{width}}  {r.detail}")
        lines.append("")
        n = len(self.results)
        if self.ok:
            lines.append(f"PASS: all {n} checks passed")
        else:
            bad = self.failed
            lines.append(f"FAIL: {len(bad)} of {n} checks failed ({', '.join(bad)})")
        return "\n".join(lines)


# ---------------------------------------------------------------------------- helpers


def _human_bytes(n: int) -> str:
    size = float(n)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if size < 1024 or unit == "GiB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{n} B"  # pragma: no cover


def _plural(n: int, word: str) -> str:
    return f"{n:,} {word}{'' if n == 1 else 's'}"


def _one_line(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    return lines[0] if lines else type(exc).__name__


def _fmt(v: Any) -> str:
    if isinstance(v, float | np.floating):
        return f"{float(v):.10g}"
    return str(v)


def _int_flag(rec: dict[str, Any], key: str) -> int | None:
    """The integer flag ``key``, or ``None`` if absent, not an integer or beyond 0..MAX_TICKS."""
    v = rec.get(key)
    if isinstance(v, bool) or not isinstance(v, int) or not 0 <= v <= MAX_TICKS:
        return None
    return v


def _is_numeric(t: pa.DataType) -> bool:
    return pa.types.is_integer(t) or pa.types.is_floating(t) or pa.types.is_boolean(t)


def _is_stringish(t: pa.DataType) -> bool:
    return pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_binary(t)


class _Batch:
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


class _Keys:
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

    def update(self, b: _Batch) -> dict[str, np.ndarray]:
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


class _Check:
    """Accumulates problems (rule -> count and first offending row) across batches."""

    name = ""
    required: tuple[str, ...] = ()

    def __init__(self) -> None:
        self.problems: dict[str, list[Any]] = {}
        self.skip_reason: str | None = None

    def flag(
        self,
        b: _Batch,
        rule: str,
        mask: np.ndarray,
        values: np.ndarray | tuple[np.ndarray, np.ndarray] | None = None,
    ) -> None:
        """Count the rows of ``mask`` under ``rule``; remember the first one.

        ``values`` is shown for the first offending row: one array (its value) or a pair
        (the value found and the value expected).
        """
        count = int(np.count_nonzero(mask))
        if not count:
            return
        entry = self.problems.get(rule)
        if entry is None:
            i = int(np.argmax(mask))
            first = b.where(i)
            if isinstance(values, tuple):
                first += f", {_fmt(values[0][i])} vs {_fmt(values[1][i])}"
            elif values is not None:
                first += f", value {_fmt(values[i])}"
            self.problems[rule] = [count, first]
        else:
            entry[0] += count

    def update(self, b: _Batch, prev: dict[str, np.ndarray] | None) -> None:
        raise NotImplementedError

    def passed_detail(self) -> str:
        return "ok"

    def result(self) -> CheckResult:
        if self.skip_reason is not None:
            return CheckResult(self.name, False, f"not run: {self.skip_reason}", skipped=True)
        if not self.problems:
            return CheckResult(self.name, True, self.passed_detail())
        items = list(self.problems.items())
        parts = [
            f"{rule}: {count:,} row{'s' if count != 1 else ''} (first at {first})"
            for rule, (count, first) in items[:_MAX_PROBLEMS_SHOWN]
        ]
        if len(items) > _MAX_PROBLEMS_SHOWN:
            parts.append(f"and {len(items) - _MAX_PROBLEMS_SHOWN} more problems")
        return CheckResult(self.name, False, "; ".join(parts))


def _close(a: np.ndarray, b: np.ndarray, scale: np.ndarray) -> np.ndarray:
    """Rows where a and b differ by more than the money tolerance (NaN never flags)."""
    return np.abs(a - b) > ABS_TOL + REL_TOL * scale


# ---------------------------------------------------------------------------- the checks


class _Warmup(_Check):
    name = "warmup"
    required = ("tick",)

    def __init__(self, warmup: int | None) -> None:
        super().__init__()
        self.warmup = warmup
        self.first: int | None = None
        if warmup is None:
            self.skip_reason = f"metadata {KEY_RECORDING} has no integer warmup"

    def update(self, b: _Batch, prev: dict[str, np.ndarray] | None) -> None:
        tick = b["tick"]
        if b.n:
            lo = int(tick.min())
            self.first = lo if self.first is None else min(self.first, lo)
        self.flag(b, f"tick before warmup {self.warmup}", tick < self.warmup, tick)

    def passed_detail(self) -> str:
        if self.first is None:
            return "no rows"
        return f"first tick {self.first} >= warmup {self.warmup}"


class _Interval(_Check):
    name = "interval"
    required = ("tick", "agent_id")

    def __init__(self, warmup: int | None, interval: int | None, ticks: int | None) -> None:
        super().__init__()
        self.warmup = warmup if warmup is not None else 0
        self.interval = interval
        self.ticks = ticks
        self.prev_tick: int | None = None
        self.prev_agent: int | None = None
        self.n_ticks = 0
        self.first: int | None = None
        self.last: int | None = None
        if interval is None or interval < 1:
            self.skip_reason = f"metadata {KEY_RECORDING} has no integer interval >= 1"

    def update(self, b: _Batch, prev: dict[str, np.ndarray] | None) -> None:
        if not b.n:
            return
        tick = b["tick"]
        agent = b["agent_id"]
        pt = np.empty_like(tick)
        pt[1:] = tick[:-1]
        pa_ = np.empty_like(agent)
        pa_[1:] = agent[:-1]
        has_prev = np.ones(b.n, dtype=bool)
        if self.prev_tick is None:
            has_prev[0] = False
            pt[0] = tick[0]
            pa_[0] = agent[0]
            self.first = int(tick[0])
        else:
            pt[0] = self.prev_tick
            pa_[0] = self.prev_agent
        iv = self.interval
        assert iv is not None
        aligned_zone = tick >= self.warmup
        self.flag(
            b,
            f"tick not warmup + k*{iv} (warmup {self.warmup})",
            aligned_zone & ((tick - self.warmup) % iv != 0),
            tick,
        )
        self.flag(b, "tick decreases", has_prev & (tick < pt), tick)
        same = has_prev & (tick == pt)
        self.flag(b, "rows not ordered by agent_id within a tick", same & (agent < pa_), agent)
        new_tick = has_prev & (tick > pt)
        self.flag(
            b,
            f"ticks missing (gap wider than {iv})",
            new_tick & (tick - pt > iv) & (pt >= self.warmup),
            tick,
        )
        if prev is not None:
            self.flag(b, "duplicate (tick, agent, symbol)", prev["tick"] == tick, tick)
        if self.ticks is not None:
            self.flag(b, f"tick >= --ticks {self.ticks}", tick >= self.ticks, tick)
        self.n_ticks += int(np.count_nonzero(new_tick)) + (0 if self.prev_tick is not None else 1)
        self.prev_tick = int(tick[-1])
        self.prev_agent = agent[-1]
        self.last = self.prev_tick

    def result(self) -> CheckResult:
        if self.skip_reason is None and self.first is None:
            return CheckResult(self.name, False, "no rows: nothing was recorded")
        return super().result()

    def passed_detail(self) -> str:
        return (
            f"{self.n_ticks:,} ticks {self.first}..{self.last}, every {self.interval} from"
            f" warmup {self.warmup}, none missing; rows ordered by (tick, agent_id)"
        )


_RANGE_RULES: tuple[tuple[str, float, float, bool], ...] = (
    # column, low, high, whether the low bound is inclusive (the high one always is)
    ("f_rsi_14", 0.0, 100.0, True),
    ("f_spread", 0.0, np.inf, True),
    ("f_spread_bps", 0.0, np.inf, True),
    ("f_mid_price", 0.0, np.inf, False),
    ("f_max_drawdown", 0.0, 1.0, True),
    ("f_news_sentiment", -1.0, 1.0, True),
    ("f_news_magnitude", 0.0, 1.0, True),
    ("f_news_ticks_remaining", 0.0, np.inf, True),
    ("f_position_normalized", -1.0, 1.0, True),
    ("f_volatility", 0.0, np.inf, True),
    ("f_atr_14", 0.0, np.inf, True),
    ("f_total_trades_this_tick", 0.0, np.inf, True),
    ("f_total_volume_this_tick", 0.0, np.inf, True),
)


class _Ranges(_Check):
    name = "feature_ranges"

    def __init__(self, float_columns: Iterable[str], present: set[str]) -> None:
        super().__init__()
        self.float_columns = list(float_columns)
        self.rules = [rule for rule in _RANGE_RULES if rule[0] in present]
        self.news = "f_has_active_news" in present
        self.n_rules = len(self.rules) + int(self.news)

    def update(self, b: _Batch, prev: dict[str, np.ndarray] | None) -> None:
        for col, lo, hi, inclusive in self.rules:
            v = b[col]
            low_bad = (v < lo) if inclusive else (v <= lo)
            if np.isinf(hi):
                bound = f">= {_fmt(lo)}" if inclusive else f"> {_fmt(lo)}"
            else:
                bound = f"[{_fmt(lo)}, {_fmt(hi)}]"
            self.flag(b, f"{col} not {bound}", low_bad | (v > hi), v)
        if self.news:
            v = b["f_has_active_news"]
            self.flag(b, "f_has_active_news not 0 or 1", ~np.isnan(v) & (v != 0) & (v != 1), v)
        for col in self.float_columns:
            v = b[col]
            self.flag(b, f"{col} infinite", np.isinf(v), v)

    def passed_detail(self) -> str:
        return f"{self.n_rules} range rules hold; no infinity in {len(self.float_columns)} float columns"


class _Actions(_Check):
    name = "action_encoding"
    required = (
        "action",
        "action_quantity",
        "action_price",
        "fill_quantity",
        "fill_price",
        "fill_buy_quantity",
        "fill_sell_quantity",
    )

    def __init__(self) -> None:
        super().__init__()
        self.counts = np.zeros(3, dtype=np.int64)

    def update(self, b: _Batch, prev: dict[str, np.ndarray] | None) -> None:
        act = b["action"]
        qty = b["action_quantity"]
        price = b["action_price"]
        fp = b["fill_price"]
        valid = (act == -1) | (act == 0) | (act == 1)
        self.flag(b, "action not in {-1, 0, 1}", ~valid, act)
        self.counts += np.array([np.count_nonzero(act == k) for k in (-1, 0, 1)])
        self.flag(b, "action_quantity < 0", qty < 0, qty)
        hold = act == 0
        self.flag(
            b, "buy/sell (action +-1) with action_quantity 0", ~hold & valid & (qty == 0), qty
        )
        self.flag(b, "hold (action 0) with an action_price", hold & ~np.isnan(price), price)
        self.flag(b, "action_price <= 0", price <= 0, price)
        traded = b["fill_buy_quantity"] + b["fill_sell_quantity"]
        no_fill = traded == 0
        self.flag(
            b,
            "fill_price NaN but shares traded",
            np.isnan(fp) & ~no_fill & ~np.isnan(traded),
            traded,
        )
        self.flag(b, "fill_price set but nothing traded", ~np.isnan(fp) & no_fill, fp)
        self.flag(b, "fill_price <= 0", fp <= 0, fp)

    def passed_detail(self) -> str:
        sell, hold, buy = (int(x) for x in self.counts)
        return f"actions -1/0/1 = {sell:,}/{hold:,}/{buy:,}; holds carry no limit price; fill_price NaN iff no fill"


class _Reward(_Check):
    name = "reward"
    required = (
        "reward",
        "reward_normalized",
        "fill_quantity",
        "f_mid_price",
        "f_position",
        "f_cash",
        "f_cash_normalized",
        "f_total_pnl",
        "f_equity",
        "next_mid_price",
        "next_position",
        "next_pnl",
        "next_cash",
        "next_equity",
    )

    def __init__(self) -> None:
        super().__init__()
        self.rows = 0

    def update(self, b: _Batch, prev: dict[str, np.ndarray] | None) -> None:
        r = b["reward"]
        f_pnl, n_pnl = b["f_total_pnl"], b["next_pnl"]
        f_cash, f_pos, f_mid = b["f_cash"], b["f_position"], b["f_mid_price"]
        n_cash, n_pos, n_mid = b["next_cash"], b["next_position"], b["next_mid_price"]
        fq = b["fill_quantity"]
        f_val = f_pos * f_mid
        n_val = n_pos * n_mid
        f_eq = f_cash + f_val
        n_eq = n_cash + n_val
        a_r, a_fc, a_nc = np.abs(r), np.abs(f_cash), np.abs(n_cash)
        a_fv, a_nv = np.abs(f_val), np.abs(n_val)
        self.flag(
            b,
            "reward != next_pnl - f_total_pnl",
            _close(r, n_pnl - f_pnl, a_r + np.abs(n_pnl) + np.abs(f_pnl)),
            (r, n_pnl - f_pnl),
        )
        self.flag(
            b,
            "reward != change of cash + position*mid",
            _close(r, n_eq - f_eq, a_r + a_fc + a_nc + a_fv + a_nv),
            (r, n_eq - f_eq),
        )
        self.flag(
            b,
            "next_position != f_position + fill_quantity",
            _close(n_pos, f_pos + fq, np.abs(n_pos) + np.abs(f_pos) + np.abs(fq)),
            (n_pos, f_pos + fq),
        )
        self.flag(
            b,
            "next_equity != next_cash + next_position*next_mid_price",
            _close(b["next_equity"], n_eq, a_nc + a_nv),
            (b["next_equity"], n_eq),
        )
        self.flag(
            b,
            "f_equity != f_cash + f_position*f_mid_price",
            _close(b["f_equity"], f_eq, a_fc + a_fv),
            (b["f_equity"], f_eq),
        )
        cn = b["f_cash_normalized"]
        usable = np.isfinite(cn) & (cn != 0)
        with np.errstate(divide="ignore", invalid="ignore"):
            initial = np.where(usable, f_cash / np.where(usable, cn, 1.0), np.nan)
        rn_money = b["reward_normalized"] * initial
        self.flag(
            b,
            "reward_normalized != reward / initial_cash",
            usable & _close(rn_money, r, a_r + np.abs(rn_money)),
            (b["reward_normalized"], r / initial),
        )
        self.rows += b.n

    def passed_detail(self) -> str:
        return (
            f"{self.rows:,} rows: reward = next_pnl - f_total_pnl = equity change;"
            " next_position = f_position + fill; equity and reward_normalized consistent"
        )


class _Fills(_Check):
    name = "fills"
    required = (
        "fill_quantity",
        "fill_price",
        "fill_buy_quantity",
        "fill_buy_price",
        "fill_sell_quantity",
        "fill_sell_price",
        "fees",
        "tick_trade_low",
        "tick_trade_high",
        "f_cash",
        "next_cash",
    )

    def __init__(self) -> None:
        super().__init__()
        self.rows = 0
        self.two_sided = 0
        self.traded = 0

    def update(self, b: _Batch, prev: dict[str, np.ndarray] | None) -> None:
        fq, fp = b["fill_quantity"], b["fill_price"]
        bq, bp = b["fill_buy_quantity"], b["fill_buy_price"]
        sq, sp = b["fill_sell_quantity"], b["fill_sell_price"]
        fees = b["fees"]
        lo, hi = b["tick_trade_low"], b["tick_trade_high"]
        for name, q in (("fill_buy_quantity", bq), ("fill_sell_quantity", sq)):
            self.flag(b, f"{name} < 0 or not whole", (q < 0) | (q != np.round(q)), q)
        self.flag(
            b,
            "fill_quantity != fill_buy_quantity - fill_sell_quantity",
            fq != bq - sq,
            (fq, bq - sq),
        )
        for side, q, p in (("buy", bq, bp), ("sell", sq, sp)):
            self.flag(b, f"fill_{side}_price NaN but fill_{side}_quantity > 0", np.isnan(p) & (q > 0), q)
            self.flag(b, f"fill_{side}_price set but fill_{side}_quantity == 0", ~np.isnan(p) & (q == 0), p)
        buy_n = np.where(bq > 0, bq * bp, 0.0)
        sell_n = np.where(sq > 0, sq * sp, 0.0)
        total = bq + sq
        with np.errstate(divide="ignore", invalid="ignore"):
            vwap = (buy_n + sell_n) / total
        self.flag(
            b,
            "fill_price != VWAP of both sides",
            (total > 0) & _close(fp, vwap, np.abs(fp) + np.abs(vwap)),
            (fp, vwap),
        )
        self.flag(b, "fees < 0 or NaN", ~(fees >= 0), fees)
        d_cash = b["next_cash"] - b["f_cash"]
        want = sell_n - buy_n - fees
        self.flag(
            b,
            "next_cash - f_cash != sell notional - buy notional - fees",
            _close(d_cash, want, np.abs(b["next_cash"]) + np.abs(b["f_cash"]) + buy_n + sell_n),
            (d_cash, want),
        )
        any_fill = total > 0
        self.flag(b, "shares traded but tick_trade_low/high NaN", any_fill & (np.isnan(lo) | np.isnan(hi)), total)
        self.flag(b, "tick_trade_low > tick_trade_high", lo > hi, (lo, hi))
        eps = ABS_TOL + REL_TOL * np.abs(hi)
        for name, p in (("fill_price", fp), ("fill_buy_price", bp), ("fill_sell_price", sp)):
            outside = (p < lo - eps) | (p > hi + eps)
            self.flag(b, f"{name} outside [tick_trade_low, tick_trade_high]", outside, p)
        self.rows += b.n
        self.traded += int(np.count_nonzero(any_fill))
        self.two_sided += int(np.count_nonzero((bq > 0) & (sq > 0)))

    def passed_detail(self) -> str:
        return (
            f"{self.rows:,} rows ({self.traded:,} with fills, {self.two_sided:,} two-sided):"
            " net = buys - sells, fill_price = VWAP, cash identity to the cent,"
            " fill prices inside the tick's traded range"
        )


_TEMPORAL_PAIRS: tuple[tuple[str, str], ...] = (
    ("next_mid_price", "f_mid_price"),
    ("next_position", "f_position"),
    ("next_pnl", "f_total_pnl"),
    ("next_cash", "f_cash"),
)


class _Temporal(_Check):
    name = "temporal"
    required = ("tick", "agent_id", *(c for pair in _TEMPORAL_PAIRS for c in pair))

    def __init__(self, interval: int | None) -> None:
        super().__init__()
        self.interval = interval
        self.compared = 0

    def update(self, b: _Batch, prev: dict[str, np.ndarray] | None) -> None:
        assert prev is not None
        follows = prev["tick"] + 1 == b["tick"]
        self.compared += int(np.count_nonzero(follows))
        for nxt, cur in _TEMPORAL_PAIRS:
            before = prev[nxt]
            now = b[cur]
            bad = follows & _close(before, now, np.abs(before) + np.abs(now))
            self.flag(b, f"previous row's {nxt} != {cur}", bad, (before, now))

    def result(self) -> CheckResult:
        if self.skip_reason is None and not self.problems and self.compared == 0:
            why = (
                f"interval {self.interval} > 1"
                if self.interval is not None and self.interval > 1
                else "no (agent, symbol) recorded on two consecutive ticks"
            )
            return CheckResult(self.name, True, f"not applicable: {why}", skipped=True)
        return super().result()

    def passed_detail(self) -> str:
        return f"{self.compared:,} consecutive-tick pairs: next_* equals the next row's f_*"


class _NanPolicy(_Check):
    name = "nan_policy"
    required = ("tick",)

    def __init__(self, float_columns: Iterable[str], all_columns: Iterable[str]) -> None:
        super().__init__()
        self.float_columns = list(float_columns)
        self.all_columns = list(all_columns)
        self.nans_allowed = 0

    def update(self, b: _Batch, prev: dict[str, np.ndarray] | None) -> None:
        tick = b["tick"]
        for col in self.all_columns:
            nulls = b.batch.column(col).null_count
            if nulls:
                mask = b.batch.column(col).is_null().to_numpy(zero_copy_only=False)
                self.flag(b, f"{col} null (use NaN or a value)", mask)
        for col in self.float_columns:
            nan = np.isnan(b[col])
            if not nan.any():
                continue
            if col.startswith(FEATURE_PREFIX):
                until = NAN_UNTIL.get(col[len(FEATURE_PREFIX) :])
                if until is None:
                    self.flag(b, f"{col} NaN (never allowed)", nan)
                else:
                    bad = nan & (tick >= until)
                    self.flag(b, f"{col} NaN at tick >= {until}", bad, tick)
                    self.nans_allowed += int(np.count_nonzero(nan & ~bad))
            elif col in NAN_ALLOWED_OUTCOMES:
                self.nans_allowed += int(np.count_nonzero(nan))
            else:
                self.flag(b, f"{col} NaN (never allowed)", nan)

    def passed_detail(self) -> str:
        return (
            f"{self.nans_allowed:,} NaN values, all allowed (warm-up features,"
            " action and fill prices, traded range); no nulls"
        )


# ---------------------------------------------------------------------------- schema


def _check_schema(schema: pa.Schema) -> tuple[CheckResult, dict[str, Any]]:
    """Check names, order, types and metadata; return the result and decoded metadata."""
    problems: list[str] = []
    expected = build_schema(FEATURE_NAMES)
    if is_training_schema(schema):
        expected = with_training_columns(expected)
    names = schema.names
    want = expected.names
    missing = [n for n in want if n not in names]
    extra = [n for n in names if n not in want]
    if missing:
        problems.append(
            f"{len(missing)} columns missing ({', '.join(missing[:4])}{', ...' if len(missing) > 4 else ''})"
        )
    if extra:
        problems.append(
            f"{len(extra)} unexpected columns ({', '.join(extra[:4])}{', ...' if len(extra) > 4 else ''})"
        )
    if not missing and not extra and names != want:
        i = next(i for i, (a, b) in enumerate(zip(names, want, strict=True)) if a != b)
        problems.append(f"columns out of order: column {i} is {names[i]}, expected {want[i]}")
    for f in expected:
        i = schema.get_field_index(f.name)
        if i >= 0 and not schema.field(i).type.equals(f.type):
            problems.append(f"column {f.name} is {schema.field(i).type}, expected {f.type}")
    try:
        meta = decode_metadata(schema.metadata)
    except RecordingError as exc:
        problems.append(str(exc))
        meta = {}
    except (RecursionError, ValueError):
        problems.append("metadata is nested too deeply or holds a number too long to read")
        meta = {}
    absent = [k for k in METADATA_KEYS if k not in meta]
    if absent:
        problems.append(f"metadata lacks {', '.join(absent)}")
    version = meta.get(KEY_SCHEMA_VERSION)
    if version is not None and version != SCHEMA_VERSION:
        problems.append(f"schema version {version}, this checker knows {SCHEMA_VERSION}")
    feats = meta.get(KEY_FEATURES)
    if feats is not None:
        try:
            listed = [f["name"] for f in feats]
        except (TypeError, KeyError):
            listed = None
        if listed is None:
            problems.append(f"metadata {KEY_FEATURES} is not a list of {{name, description}}")
        elif listed != list(FEATURE_NAMES):
            problems.append(
                f"metadata {KEY_FEATURES} lists {len(listed)} features that differ from the f_ columns"
            )
    rec = meta.get(KEY_RECORDING)
    if rec is not None:
        if not isinstance(rec, dict):
            problems.append(f"metadata {KEY_RECORDING} is not an object")
        else:
            for key in ("warmup", "interval"):
                if _int_flag(rec, key) is None:
                    problems.append(
                        f"metadata {KEY_RECORDING} has no integer {key} in 0..{MAX_TICKS:,}"
                    )
    if problems:
        shown = problems[:_MAX_PROBLEMS_SHOWN]
        more = len(problems) - len(shown)
        detail = "; ".join(shown) + (f"; and {more} more problems" if more else "")
        return CheckResult("schema", False, detail), meta
    return (
        CheckResult(
            "schema",
            True,
            f"{len(want)} columns in order with the expected types; metadata complete (schema {SCHEMA_VERSION})",
        ),
        meta,
    )


# ---------------------------------------------------------------------------- driver


def _open(path: Path) -> tuple[pq.ParquetFile, pa.Schema]:
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
            if schema.get_field_index(n) >= 0 and _is_stringish(schema.field(n).type)
        ]
        return pq.ParquetFile(path, read_dictionary=dict_cols or None, pre_buffer=False), schema
    except PermissionError:
        raise RecordingError(f"{path}: permission denied; make the file readable") from None
    except (OSError, pa.ArrowException) as exc:
        raise RecordingError(f"{path}: not a readable Parquet file ({_one_line(exc)})") from None


def check_recording(path: str | Path) -> CheckReport:
    """Run every check of the verification checklist on a recording.

    Args:
        path: The Parquet file.

    Returns:
        The report; ``report.ok`` tells whether the recording passed.

    Raises:
        RecordingError: If the file is missing, not Parquet, or cannot be read to the end.
    """
    p = Path(path)
    pf, schema = _open(p)
    schema_result, meta = _check_schema(schema)
    rec = meta.get(KEY_RECORDING) if isinstance(meta.get(KEY_RECORDING), dict) else {}
    warmup = _int_flag(rec, "warmup")
    interval = _int_flag(rec, "interval")
    ticks = _int_flag(rec, "ticks")

    types = {f.name: f.type for f in schema}
    numeric = {n for n, t in types.items() if _is_numeric(t)}
    float_cols = [n for n, t in types.items() if pa.types.is_floating(t)]
    present = set(types)

    checks: list[_Check] = [
        _Warmup(warmup),
        _Interval(warmup, interval, ticks),
        _Ranges(float_cols, numeric),
        _Actions(),
        _Reward(),
        _Temporal(interval),
        _NanPolicy(float_cols, list(types)),
        _Fills(),
    ]
    for c in checks:
        bad = [n for n in c.required if n not in numeric]
        if bad and c.skip_reason is None:
            what = "missing" if any(n not in present for n in bad) else "not numeric"
            c.skip_reason = f"column {bad[0]} {what}"
    training = is_training_schema(schema)
    if training:
        # Episodes (and envs) interleave: tick order and consecutive rows hold per episode only.
        for c in (checks[1], checks[5]):
            c.skip_reason = "training recording"
    running = [c for c in checks if c.skip_reason is None]
    key_cols = ("tick", "agent_id")
    carry = [nxt for nxt, _ in _TEMPORAL_PAIRS if nxt in numeric]
    keys = _Keys(carry) if all(k in numeric for k in key_cols) else None
    temporal = checks[5]
    if keys is None or len(carry) < len(_TEMPORAL_PAIRS):
        if temporal.skip_reason is None:
            temporal.skip_reason = "columns tick/agent_id/next_* missing or not numeric"
        running = [c for c in running if c is not temporal]

    rows = 0
    tick_lo: int | None = None
    tick_hi: int | None = None
    distinct_ticks = 0
    last_tick: int | None = None
    try:
        for batch in pf.iter_batches(batch_size=BATCH_ROWS):
            b = _Batch(batch)
            rows += b.n
            if not b.n:
                continue
            prev = keys.update(b) if keys is not None else None
            if "tick" in numeric:
                t = b["tick"]
                lo, hi = int(t.min()), int(t.max())
                tick_lo = lo if tick_lo is None else min(tick_lo, lo)
                tick_hi = hi if tick_hi is None else max(tick_hi, hi)
                changes = int(np.count_nonzero(t[1:] != t[:-1]))
                distinct_ticks += changes + (
                    0 if last_tick is not None and int(t[0]) == last_tick else 1
                )
                last_tick = int(t[-1])
            for c in running:
                c.update(b, prev)
    except (OSError, pa.ArrowException) as exc:
        raise RecordingError(
            f"{p}: cannot read the recording to the end ({_one_line(exc)}); it may be truncated"
        ) from None

    report = CheckReport(
        path=p,
        results=[schema_result, *(_result(c, training) for c in checks)],
        rows=rows,
        ticks=(tick_lo, tick_hi) if tick_lo is not None and tick_hi is not None else None,
        n_ticks=distinct_ticks,
        n_agents=len(keys.agents) if keys is not None else 0,
        n_symbols=len(keys.symbols) if keys is not None else 0,
        row_groups=pf.metadata.num_row_groups,
        size_bytes=p.stat().st_size,
        metadata=meta,
    )
    return report


def _result(check: _Check, training: bool) -> CheckResult:
    if training and check.skip_reason == "training recording":
        why = "not applicable: a training recording interleaves episodes (episode/env_index columns)"
        return CheckResult(check.name, True, why, skipped=True)
    return check.result()


def main(argv: Sequence[str] | None = None) -> int:
    """Command line: check a recording and print the checklist.

    Args:
        argv: Arguments after the program name (default ``sys.argv[1:]``).

    Returns:
        0 if every check passed, 1 if one failed, 2 if the file cannot be read (or the
        arguments are wrong).
    """
    parser = argparse.ArgumentParser(
        prog="marketenv check",
        description="Verify a feature recording (schema, warm-up, interval, ranges, actions,"
        " rewards, next_* consistency, NaN policy).",
    )
    parser.add_argument(
        "file",
        metavar="FILE",
        help="the .parquet recording (or market table) to check, or a sweep's dataset folder",
    )
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:
        return int(exc.code) if isinstance(exc.code, int) else 2
    try:
        if Path(args.file).is_dir():
            from recorders.check_dataset import check_dataset

            dataset = check_dataset(args.file)
            print(dataset.format())
            return 0 if dataset.ok else 1
        from recorders.check_dataset import check_market_table, is_market_table

        report = check_market_table(args.file) if is_market_table(args.file) else check_recording(args.file)
    except RecordingError as exc:
        print(f"marketenv check: {exc}", file=sys.stderr)
        return 2
    out = Summary("the exit status still gives the verdict")
    out.line(report.format())
    out.flush()
    return 0 if report.ok else 1


if __name__ == "__main__":
    sys.exit(main())
