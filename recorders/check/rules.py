"""The checks: each one a set of per-row rules, accumulated over the streamed batches."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np
import pyarrow as pa

from marketenv.config import MAX_TICKS
from marketenv.errors import RecordingError
from marketenv.feature_spec import FEATURE_NAMES, NAN_UNTIL
from recorders.check.report import MAX_PROBLEMS_SHOWN, CheckResult
from recorders.check.stream import Batch
from recorders.schema import (
    FEATURE_PREFIX,
    KEY_FEATURES,
    KEY_RECORDING,
    KEY_SCHEMA_VERSION,
    METADATA_KEYS,
    NAN_ALLOWED_OUTCOMES,
    SCHEMA_VERSION,
    build_schema,
    decode_metadata,
    is_training_schema,
    with_training_columns,
)

__all__ = [
    "ABS_TOL",
    "REL_TOL",
    "TEMPORAL_PAIRS",
    "Actions",
    "Check",
    "Fills",
    "Interval",
    "NanPolicy",
    "Ranges",
    "Reward",
    "Temporal",
    "Warmup",
    "check_schema",
    "differ",
    "int_flag",
]

ABS_TOL = 1e-6
"""Absolute tolerance of money equalities (currency units)."""

REL_TOL = 1e-9
"""Relative tolerance of money equalities, applied to the magnitude of the terms."""


def _fmt(v: Any) -> str:
    if isinstance(v, float | np.floating):
        return f"{float(v):.10g}"
    return str(v)


def int_flag(rec: dict[str, Any], key: str) -> int | None:
    """The integer flag ``key``, or ``None`` if absent, not an integer or beyond 0..MAX_TICKS."""
    v = rec.get(key)
    if isinstance(v, bool) or not isinstance(v, int) or not 0 <= v <= MAX_TICKS:
        return None
    return v



class Check:
    """Accumulates problems (rule -> count and first offending row) across batches."""

    name = ""
    required: tuple[str, ...] = ()

    def __init__(self) -> None:
        self.problems: dict[str, list[Any]] = {}
        self.skip_reason: str | None = None

    def flag(
        self,
        b: Batch,
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

    def update(self, b: Batch, prev: dict[str, np.ndarray] | None) -> None:
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
            for rule, (count, first) in items[:MAX_PROBLEMS_SHOWN]
        ]
        if len(items) > MAX_PROBLEMS_SHOWN:
            parts.append(f"and {len(items) - MAX_PROBLEMS_SHOWN} more problems")
        return CheckResult(self.name, False, "; ".join(parts))


def differ(a: np.ndarray, b: np.ndarray, scale: np.ndarray) -> np.ndarray:
    """Rows where a and b differ by more than the money tolerance (NaN never flags)."""
    return np.abs(a - b) > ABS_TOL + REL_TOL * scale



class Warmup(Check):
    name = "warmup"
    required = ("tick",)

    def __init__(self, warmup: int | None) -> None:
        super().__init__()
        self.warmup = warmup
        self.first: int | None = None
        if warmup is None:
            self.skip_reason = f"metadata {KEY_RECORDING} has no integer warmup"

    def update(self, b: Batch, prev: dict[str, np.ndarray] | None) -> None:
        tick = b["tick"]
        if b.n:
            lo = int(tick.min())
            self.first = lo if self.first is None else min(self.first, lo)
        self.flag(b, f"tick before warmup {self.warmup}", tick < self.warmup, tick)

    def passed_detail(self) -> str:
        if self.first is None:
            return "no rows"
        return f"first tick {self.first} >= warmup {self.warmup}"


class Interval(Check):
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

    def update(self, b: Batch, prev: dict[str, np.ndarray] | None) -> None:
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
            self.flag(b, f"tick >= ticks {self.ticks}", tick >= self.ticks, tick)
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


class Ranges(Check):
    name = "feature_ranges"

    def __init__(self, float_columns: Iterable[str], present: set[str]) -> None:
        super().__init__()
        self.float_columns = list(float_columns)
        self.rules = [rule for rule in _RANGE_RULES if rule[0] in present]
        self.news = "f_has_active_news" in present
        self.n_rules = len(self.rules) + int(self.news)

    def update(self, b: Batch, prev: dict[str, np.ndarray] | None) -> None:
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


class Actions(Check):
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

    def update(self, b: Batch, prev: dict[str, np.ndarray] | None) -> None:
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


class Reward(Check):
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

    def update(self, b: Batch, prev: dict[str, np.ndarray] | None) -> None:
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
            differ(r, n_pnl - f_pnl, a_r + np.abs(n_pnl) + np.abs(f_pnl)),
            (r, n_pnl - f_pnl),
        )
        self.flag(
            b,
            "reward != change of cash + position*mid",
            differ(r, n_eq - f_eq, a_r + a_fc + a_nc + a_fv + a_nv),
            (r, n_eq - f_eq),
        )
        self.flag(
            b,
            "next_position != f_position + fill_quantity",
            differ(n_pos, f_pos + fq, np.abs(n_pos) + np.abs(f_pos) + np.abs(fq)),
            (n_pos, f_pos + fq),
        )
        self.flag(
            b,
            "next_equity != next_cash + next_position*next_mid_price",
            differ(b["next_equity"], n_eq, a_nc + a_nv),
            (b["next_equity"], n_eq),
        )
        self.flag(
            b,
            "f_equity != f_cash + f_position*f_mid_price",
            differ(b["f_equity"], f_eq, a_fc + a_fv),
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
            usable & differ(rn_money, r, a_r + np.abs(rn_money)),
            (b["reward_normalized"], r / initial),
        )
        self.rows += b.n

    def passed_detail(self) -> str:
        return (
            f"{self.rows:,} rows: reward = next_pnl - f_total_pnl = equity change;"
            " next_position = f_position + fill; equity and reward_normalized consistent"
        )


class Fills(Check):
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

    def update(self, b: Batch, prev: dict[str, np.ndarray] | None) -> None:
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
            (total > 0) & differ(fp, vwap, np.abs(fp) + np.abs(vwap)),
            (fp, vwap),
        )
        self.flag(b, "fees < 0 or NaN", ~(fees >= 0), fees)
        d_cash = b["next_cash"] - b["f_cash"]
        want = sell_n - buy_n - fees
        self.flag(
            b,
            "next_cash - f_cash != sell notional - buy notional - fees",
            differ(d_cash, want, np.abs(b["next_cash"]) + np.abs(b["f_cash"]) + buy_n + sell_n),
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


TEMPORAL_PAIRS: tuple[tuple[str, str], ...] = (
    ("next_mid_price", "f_mid_price"),
    ("next_position", "f_position"),
    ("next_pnl", "f_total_pnl"),
    ("next_cash", "f_cash"),
)


class Temporal(Check):
    name = "temporal"
    required = ("tick", "agent_id", *(c for pair in TEMPORAL_PAIRS for c in pair))

    def __init__(self, interval: int | None) -> None:
        super().__init__()
        self.interval = interval
        self.compared = 0

    def update(self, b: Batch, prev: dict[str, np.ndarray] | None) -> None:
        assert prev is not None
        follows = prev["tick"] + 1 == b["tick"]
        self.compared += int(np.count_nonzero(follows))
        for nxt, cur in TEMPORAL_PAIRS:
            before = prev[nxt]
            now = b[cur]
            bad = follows & differ(before, now, np.abs(before) + np.abs(now))
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


class NanPolicy(Check):
    name = "nan_policy"
    required = ("tick",)

    def __init__(self, float_columns: Iterable[str], all_columns: Iterable[str]) -> None:
        super().__init__()
        self.float_columns = list(float_columns)
        self.all_columns = list(all_columns)
        self.nans_allowed = 0

    def update(self, b: Batch, prev: dict[str, np.ndarray] | None) -> None:
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



def check_schema(schema: pa.Schema) -> tuple[CheckResult, dict[str, Any]]:
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
                if int_flag(rec, key) is None:
                    problems.append(
                        f"metadata {KEY_RECORDING} has no integer {key} in 0..{MAX_TICKS:,}"
                    )
    if problems:
        shown = problems[:MAX_PROBLEMS_SHOWN]
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

