""":func:`check_recording`: stream a recording through every check into a report."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa

from marketenv.errors import RecordingError
from recorders.check import stream
from recorders.check.report import CheckReport, CheckResult
from recorders.check.rules import (
    TEMPORAL_PAIRS,
    Actions,
    Check,
    Fills,
    Interval,
    NanPolicy,
    Ranges,
    Reward,
    Temporal,
    Warmup,
    check_schema,
    int_flag,
)
from recorders.check.stream import Batch, Keys, is_numeric, one_line, open_recording
from recorders.schema import KEY_RECORDING, is_training_schema

__all__ = ["check_recording"]


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
    pf, schema = open_recording(p)
    schema_result, meta = check_schema(schema)
    rec = meta.get(KEY_RECORDING) if isinstance(meta.get(KEY_RECORDING), dict) else {}
    warmup = int_flag(rec, "warmup")
    interval = int_flag(rec, "interval")
    ticks = int_flag(rec, "ticks")

    types = {f.name: f.type for f in schema}
    numeric = {n for n, t in types.items() if is_numeric(t)}
    float_cols = [n for n, t in types.items() if pa.types.is_floating(t)]
    present = set(types)

    checks: list[Check] = [
        Warmup(warmup),
        Interval(warmup, interval, ticks),
        Ranges(float_cols, numeric),
        Actions(),
        Reward(),
        Temporal(interval),
        NanPolicy(float_cols, list(types)),
        Fills(),
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
    carry = [nxt for nxt, _ in TEMPORAL_PAIRS if nxt in numeric]
    keys = Keys(carry) if all(k in numeric for k in key_cols) else None
    temporal = checks[5]
    if keys is None or len(carry) < len(TEMPORAL_PAIRS):
        if temporal.skip_reason is None:
            temporal.skip_reason = "columns tick/agent_id/next_* missing or not numeric"
        running = [c for c in running if c is not temporal]

    rows = 0
    tick_lo: int | None = None
    tick_hi: int | None = None
    distinct_ticks = 0
    last_tick: int | None = None
    try:
        for batch in pf.iter_batches(batch_size=stream.BATCH_ROWS):
            b = Batch(batch)
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
            f"{p}: cannot read the recording to the end ({one_line(exc)}); it may be truncated"
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


def _result(check: Check, training: bool) -> CheckResult:
    if training and check.skip_reason == "training recording":
        why = "not applicable: a training recording interleaves episodes (episode/env_index columns)"
        return CheckResult(check.name, True, why, skipped=True)
    return check.result()

