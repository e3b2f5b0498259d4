"""``marketenv check`` for market tables and for whole sweep datasets.

:func:`check_market_table` verifies a market table (:mod:`recorders.market_table`):

1. ``schema``: columns, order and types, and the metadata (table kind, run id, flags).
2. ``ticks``: every recorded tick of the schedule, each with one row per symbol, in
   (tick, symbol) order.
3. ``book``: best bid below best ask; bid prices falling and ask prices rising with the
   level; a level's size is 0 exactly when its price is NaN; ``best_*`` = level 1.
4. ``bars``: trades and volume >= 0, volume >= trades, no volume without trades;
   ``low <= open, close <= high``; ``open == mid > 0``; ``spread >= 0``; ``close`` equals
   the next tick's ``mid`` (interval 1).
5. ``nan_policy``: NaN only in absent book levels; no nulls.

:func:`check_dataset` checks every partition of a sweep folder (agent files with
:func:`recorders.check.check_recording`, market files with :func:`check_market_table`),
that each file's seed, config and run id agree with its path, and the card: present,
readable, listing exactly the partitions on disk with their row counts and run ids.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from marketenv.errors import RecordingError
from recorders.card import CARD_FORMAT, CARD_JSON, CARD_README, read_card
from recorders.check import CheckReport, CheckResult, check_recording
from recorders.check.rules import Check, differ
from recorders.check.stream import BATCH_ROWS, Batch
from recorders.market_table import (
    DEPTH_LEVELS,
    KEY_TABLE,
    MARKET_SCHEMA_VERSION,
    market_schema,
)
from recorders.schema import (
    KEY_RECORDING,
    KEY_RUN_ID,
    KEY_SCHEMA_VERSION,
    KEY_SEED,
    SCHEMA_VERSION,
    decode_metadata,
)
from recorders.sweep import MARKET_DIR

_K = range(1, DEPTH_LEVELS + 1)


def is_market_table(path: str | Path) -> bool:
    """Whether the Parquet file's metadata marks it as a market table."""
    try:
        meta = pq.read_schema(path).metadata or {}
    except (OSError, pa.ArrowException):
        return False
    return meta.get(KEY_TABLE.encode()) == b"market"


class _MTicks(Check):
    name = "ticks"

    def __init__(self, warmup: int | None, interval: int | None, n_symbols: int) -> None:
        super().__init__()
        self.warmup, self.interval, self.n_symbols = warmup, interval, n_symbols
        self.ticks: list[np.ndarray] = []
        self.syms: list[np.ndarray] = []
        if warmup is None or interval is None:
            self.skip_reason = f"metadata {KEY_RECORDING} has no warmup/interval"

    def update(self, b: Batch, prev: Any) -> None:
        self.ticks.append(b["tick"])
        self.syms.append(b.codes("symbol")[0] if b.n else np.zeros(0, dtype=np.int64))

    def finish(self, ticks_flag: int | None) -> None:
        t = np.concatenate(self.ticks) if self.ticks else np.zeros(0, dtype=np.int64)
        if self.skip_reason is not None:
            return
        n = self.n_symbols
        if len(t) % n:
            self.problems["rows not a multiple of the symbols"] = [len(t), f"{len(t)} rows, {n} symbols"]
            return
        per = t.reshape(-1, n)
        if not (per == per[:, :1]).all():
            self.problems["a tick without one row per symbol"] = [1, "rows out of (tick, symbol) order"]
        want = np.arange(self.warmup, ticks_flag if ticks_flag is not None else per[-1, 0] + 1, self.interval)
        got = per[:, 0]
        if len(got) != len(want) or not (got == want).all():
            self.problems["ticks differ from the schedule"] = [
                abs(len(got) - len(want)) or 1,
                f"{len(got)} ticks recorded, the schedule has {len(want)}",
            ]
        self.n_ticks = len(got)

    def passed_detail(self) -> str:
        return f"{getattr(self, 'n_ticks', 0):,} ticks of the schedule, one row per symbol each"


class _MBook(Check):
    name = "book"

    def update(self, b: Batch, prev: Any) -> None:
        for side, sign in (("bid", -1), ("ask", 1)):
            for k in _K:
                p, q = b[f"{side}_price_{k}"], b[f"{side}_size_{k}"]
                self.flag(b, f"{side}_size_{k} < 0", q < 0, q)
                self.flag(b, f"{side}_size_{k} and price disagree on absence", np.isnan(p) != (q == 0), q)
                if k > 1:
                    before = b[f"{side}_price_{k - 1}"]
                    bad = ~np.isnan(p) & (np.isnan(before) | (sign * (p - before) <= 0))
                    self.flag(b, f"{side}_price_{k} not beyond level {k - 1}", bad, p)
            best, one = b[f"best_{side}"], b[f"{side}_price_1"]
            self.flag(b, f"best_{side} != {side}_price_1", ~((best == one) | (np.isnan(best) & np.isnan(one))), best)
            self.flag(b, f"best_{side}_size != {side}_size_1", b[f"best_{side}_size"] != b[f"{side}_size_1"])
        bid, ask = b["best_bid"], b["best_ask"]
        self.flag(b, "best_bid >= best_ask (crossed book)", bid >= ask, (bid, ask))

    def passed_detail(self) -> str:
        return f"{DEPTH_LEVELS} levels per side ordered, sizes match prices, never crossed"


class _MBars(Check):
    name = "bars"

    def __init__(self, interval: int | None) -> None:
        super().__init__()
        self.interval = interval
        self.last_close: dict[int, tuple[int, float]] = {}
        self.compared = 0

    def update(self, b: Batch, prev: Any) -> None:
        tr, vol = b["trades"], b["volume"]
        self.flag(b, "trades < 0", tr < 0, tr)
        self.flag(b, "volume < trades", vol < tr, vol)
        self.flag(b, "volume without trades", (tr == 0) & (vol != 0), vol)
        o, h, lo, c, mid = b["open"], b["high"], b["low"], b["close"], b["mid"]
        self.flag(b, "open != mid", o != mid, (o, mid))
        self.flag(b, "mid <= 0", ~(mid > 0), mid)
        self.flag(b, "spread < 0", b["spread"] < 0, b["spread"])
        self.flag(b, "low > open or close", (lo > o) | (lo > c), lo)
        self.flag(b, "high < open or close", (h < o) | (h < c), h)
        if self.interval != 1:
            return
        codes, values = b.codes("symbol")
        tick = b["tick"]
        for i in range(b.n):  # a market table has few rows per tick
            key = hash(values[codes[i]])
            last = self.last_close.get(key)
            if last is not None and last[0] + 1 == tick[i]:
                self.compared += 1
                if differ(np.array([last[1]]), mid[i : i + 1], np.abs(mid[i : i + 1]))[0]:
                    self.flag(b, "close != next tick's mid", np.arange(b.n) == i, mid)
            self.last_close[key] = (int(tick[i]), float(c[i]))

    def passed_detail(self) -> str:
        return f"bars ordered (low <= open, close <= high), volumes consistent; {self.compared:,} closes = next mid"


class _MNan(Check):
    name = "nan_policy"

    def update(self, b: Batch, prev: Any) -> None:
        allowed = {f"{s}_price_{k}" for s in ("bid", "ask") for k in _K} | {"best_bid", "best_ask"}
        for f in b.batch.schema:
            col = b.batch.column(f.name)
            if col.null_count:
                self.flag(b, f"{f.name} null", col.is_null().to_numpy(zero_copy_only=False))
            if pa.types.is_floating(f.type) and f.name not in allowed:
                self.flag(b, f"{f.name} NaN", np.isnan(b[f.name]))
            if pa.types.is_floating(f.type):
                self.flag(b, f"{f.name} infinite", np.isinf(b[f.name]))

    def passed_detail(self) -> str:
        return "NaN only in absent book levels; no infinity, no nulls"


class MarketCheckReport(CheckReport):
    """A :class:`CheckReport` of a market table."""

    def format(self) -> str:
        text = super().format().replace(f", {self.n_agents} agents", "").replace(", 0 agents", "")
        return text.replace(f"marketenv check: {self.path}", f"marketenv check: {self.path} (market table)", 1)


def check_market_table(path: str | Path) -> MarketCheckReport:
    """Run the market-table checks (module doc) on one file.

    Raises:
        RecordingError: If the file is missing or not a readable Parquet file.
    """
    p = Path(path)
    if not p.is_file():
        raise RecordingError(f"{p}: no such file; give the path of a market table (.parquet)")
    try:
        pf = pq.ParquetFile(p, read_dictionary=["symbol", "run_id"])
        schema = pf.schema_arrow
    except (OSError, pa.ArrowException) as exc:
        raise RecordingError(f"{p}: not a readable Parquet file ({exc})") from None
    problems = []
    want = market_schema()
    if schema.names != want.names:
        problems.append("columns differ from recorders.market_table.MARKET_COLUMNS")
    else:
        for f in want:
            got = schema.field(f.name).type
            base = got.value_type if pa.types.is_dictionary(got) else got
            if not base.equals(f.type):
                problems.append(f"column {f.name} is {got}, expected {f.type}")
    try:
        meta = decode_metadata(schema.metadata)
    except RecordingError as exc:
        problems.append(str(exc))
        meta = {}
    if meta.get(KEY_SCHEMA_VERSION) != MARKET_SCHEMA_VERSION:
        problems.append(f"schema version {meta.get(KEY_SCHEMA_VERSION)}, expected {MARKET_SCHEMA_VERSION}")
    if KEY_RUN_ID not in meta:
        problems.append(f"metadata lacks {KEY_RUN_ID}")
    rec = meta.get(KEY_RECORDING) if isinstance(meta.get(KEY_RECORDING), dict) else {}
    cfg = meta.get("marketenv.config") if isinstance(meta.get("marketenv.config"), dict) else {}
    n_sym = len(cfg.get("symbols", [])) or 1
    schema_result = CheckResult(
        "schema",
        not problems,
        "; ".join(problems) if problems else f"{len(want)} columns with the expected types; metadata complete",
    )
    ticks = _MTicks(rec.get("warmup"), rec.get("interval"), n_sym)
    checks: list[Check] = [ticks, _MBook(), _MBars(rec.get("interval")), _MNan()]
    rows = 0
    run_ids: set[str] = set()
    if problems:
        for c in checks:
            c.skip_reason = "the schema is wrong"
    else:
        for batch in pf.iter_batches(batch_size=BATCH_ROWS):
            b = Batch(batch)
            rows += b.n
            run_ids.update(pc.unique(batch.column("run_id").dictionary).to_pylist() if b.n else [])
            for c in checks:
                if c.skip_reason is None:
                    c.update(b, None)
        ticks.finish(rec.get("ticks"))
        if run_ids and run_ids != {meta.get(KEY_RUN_ID)}:
            schema_result = CheckResult("schema", False, f"run_id column {sorted(run_ids)} != metadata {meta.get(KEY_RUN_ID)}")
    t_all = np.concatenate(ticks.ticks) if ticks.ticks else np.zeros(0, dtype=np.int64)
    return MarketCheckReport(
        path=p,
        results=[schema_result, *(c.result() for c in checks)],
        rows=rows,
        ticks=(int(t_all.min()), int(t_all.max())) if len(t_all) else None,
        n_ticks=len(np.unique(t_all)),
        n_symbols=n_sym,
        row_groups=pf.metadata.num_row_groups,
        size_bytes=p.stat().st_size,
        metadata=meta,
    )


# ---------------------------------------------------------------- datasets

_PART_RE = re.compile(r"^(?:config=(?P<config>[^/]+)/)?seed=(?P<seed>\d+)/[^/]+\.parquet$")


@dataclass
class DatasetReport:
    """What :func:`check_dataset` found.

    Attributes:
        root: The dataset folder.
        partitions: Relative file path -> one-line result of each data file.
        card: One-line results of the card checks.
        problems: Every failure, one line each.
        rows: Agent rows in the dataset.
    """

    root: Path
    partitions: dict[str, str] = field(default_factory=dict)
    card: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    rows: int = 0

    @property
    def ok(self) -> bool:
        """Whether every partition and the card passed."""
        return not self.problems

    def format(self) -> str:
        """The report as text: one line per file and per card check, then the verdict."""
        lines = [f"marketenv check: {self.root} (dataset)"]
        lines += [f"  {line}" for line in self.partitions.values()]
        lines += [f"  {line}" for line in self.card]
        lines.append("")
        if self.ok:
            lines.append(f"PASS: {len(self.partitions)} files and the card passed ({self.rows:,} agent rows)")
        else:
            lines += [f"  problem: {p}" for p in self.problems[:20]]
            more = len(self.problems) - 20
            lines.append(f"FAIL: {len(self.problems)} problems" + (f" ({more} not shown)" if more > 0 else ""))
        return "\n".join(lines)


def _files(root: Path) -> list[str]:
    return sorted(
        p.relative_to(root).as_posix()
        for p in root.rglob("*.parquet")
        if not any(part.startswith((".", "_")) for part in p.relative_to(root).parts)
    )


def check_dataset(root: str | Path, on_file: Callable[[str], None] | None = None) -> DatasetReport:
    """Check every partition of a sweep dataset and its card (module doc).

    Args:
        root: The dataset folder.
        on_file: Called with each file's relative path before it is checked.

    Raises:
        RecordingError: ``root`` is not a folder, or holds neither a card nor a partition.
    """
    root = Path(root)
    if not root.is_dir():
        raise RecordingError(f"{root}: not a folder; give a dataset folder or a .parquet file")
    rep = DatasetReport(root)
    files = _files(root)
    if not (root / CARD_JSON).exists() and not any(_PART_RE.match(f) for f in files):
        raise RecordingError(
            f"{root} is a directory with no dataset in it (no {CARD_JSON}, no seed=N partitions);"
            " give a recording file or a sweep's output folder"
        )
    agent = [f for f in files if not f.startswith(MARKET_DIR + "/")]
    market = [f[len(MARKET_DIR) + 1 :] for f in files if f.startswith(MARKET_DIR + "/")]
    if not agent:
        rep.problems.append(f"no partitions (config=NAME/seed=N/*.parquet or seed=N/*.parquet) in {root}")
    found: dict[str, dict[str, Any]] = {}
    for rel in agent + [f"{MARKET_DIR}/{m}" for m in market]:
        is_market = rel.startswith(MARKET_DIR + "/")
        key = rel[len(MARKET_DIR) + 1 :] if is_market else rel
        m = _PART_RE.match(key)
        if m is None:
            rep.problems.append(f"{rel}: not in a config=NAME/seed=N or seed=N partition")
            continue
        if on_file is not None:
            on_file(rel)
        try:
            r = check_market_table(root / rel) if is_market else check_recording(root / rel)
        except RecordingError as exc:
            rep.partitions[rel] = f"FAIL  {rel}: {exc}"
            rep.problems.append(f"{rel}: {exc}")
            continue
        bad = [res for res in r.results if not res.passed]
        status = "PASS" if not bad else "FAIL"
        rep.partitions[rel] = f"{status}  {rel}  {r.rows:,} rows" + (
            "" if not bad else "; " + "; ".join(f"{res.name}: {res.detail}" for res in bad)
        )
        for res in bad:
            rep.problems.append(f"{rel}: {res.name}: {res.detail}")
        seed = r.metadata.get(KEY_SEED)
        if seed != int(m.group("seed")):
            rep.problems.append(f"{rel}: the file's seed {seed} is not the partition's seed={m.group('seed')}")
        flags = r.metadata.get(KEY_RECORDING) if isinstance(r.metadata.get(KEY_RECORDING), dict) else {}
        if m.group("config") is not None and flags.get("config_name") != m.group("config"):
            rep.problems.append(
                f"{rel}: the file was recorded for config {flags.get('config_name')!r}, not {m.group('config')!r}"
            )
        entry = found.setdefault(str(Path(key).parent), {"config": m.group("config"), "seed": int(m.group("seed"))})
        entry["market_rows" if is_market else "rows"] = r.rows
        entry["market_run_id" if is_market else "run_id"] = r.metadata.get(KEY_RUN_ID)
        if not is_market:
            rep.rows += r.rows
    _check_card(root, found, rep)
    return rep


def _check_card(root: Path, found: dict[str, dict[str, Any]], rep: DatasetReport) -> None:
    if not (root / CARD_README).is_file():
        rep.problems.append(f"card: {CARD_README} missing")
    try:
        card = read_card(root)
    except OSError:
        rep.problems.append(f"card: {CARD_JSON} missing or unreadable")
        rep.card.append(f"FAIL  card: {CARD_JSON} missing")
        return
    except ValueError as exc:
        rep.problems.append(f"card: {CARD_JSON} is not valid JSON ({exc})")
        rep.card.append(f"FAIL  card: {CARD_JSON} is not valid JSON")
        return
    n0 = len(rep.problems)
    if card.get("format") != CARD_FORMAT:
        rep.problems.append(f"card: format {card.get('format')!r}, expected {CARD_FORMAT!r}")
    if card.get("schema_version") != SCHEMA_VERSION:
        rep.problems.append(f"card: schema_version {card.get('schema_version')!r}, this checker knows {SCHEMA_VERSION}")
    for key in ("marketenv_version", "configs", "seeds", "partitions", "columns", "rows"):
        if key not in card:
            rep.problems.append(f"card: no {key!r} entry")
    listed = {}
    for p in card.get("partitions") or []:
        if p.get("complete"):
            listed[str(Path(p["path"]).parent)] = p
    for d, entry in sorted(found.items()):
        p = listed.get(d)
        if "rows" not in entry:
            rep.problems.append(f"{MARKET_DIR}/{d}: a market partition without agent rows")
            continue
        if p is None:
            rep.problems.append(f"card: partition {d} is on disk but not listed as complete")
            continue
        if p.get("rows") != entry["rows"]:
            rep.problems.append(f"card: {d} lists {p.get('rows')} rows, the file has {entry['rows']}")
        if p.get("run_id") != entry.get("run_id"):
            rep.problems.append(f"card: {d} lists run id {p.get('run_id')}, the file has {entry.get('run_id')}")
        if "market_path" in p and p.get("market_rows") != entry.get("market_rows"):
            rep.problems.append(
                f"card: {d} lists {p.get('market_rows')} market rows, the file has {entry.get('market_rows')}"
            )
        if "market_path" in p and entry.get("market_run_id") not in (None, entry.get("run_id")):
            rep.problems.append(f"{MARKET_DIR}/{d}: run id differs from the agent rows'")
        if p.get("seed") not in card.get("seeds", []) or p.get("config") not in card.get("configs", {}):
            rep.problems.append(f"card: {d} has a seed or config that the card's seeds/configs omit")
    for d in sorted(set(listed) - {d for d, e in found.items() if "rows" in e}):
        rep.problems.append(f"card: lists {d} as complete but its file is missing")
    total = sum(e.get("rows", 0) for e in found.values())
    if card.get("rows") != total:
        rep.problems.append(f"card: rows {card.get('rows')} != {total} in the files")
    ids = [e.get("run_id") for e in found.values() if "rows" in e]
    if len(set(ids)) != len(ids):
        rep.problems.append("card: two partitions share a run id")
    names = [c.get("name") for c in card.get("columns") or []]
    if found and names:
        first = next(iter(sorted(found)))
        path = root / first / "part-0.parquet"
        if path.is_file() and names != pq.read_schema(path).names:
            rep.problems.append("card: columns differ from the files' columns")
    ok = len(rep.problems) == n0
    done = sum(1 for p in card.get("partitions") or [] if p.get("complete"))
    rep.card.append(
        f"{'PASS' if ok else 'FAIL'}  card: {CARD_JSON} and {CARD_README}; {done} complete partitions listed,"
        f" {card.get('rows', 0):,} rows, marketenv {card.get('marketenv_version')}"
        + ("" if card.get("complete") else "; the sweep is not finished (re-run it)")
    )
    if not card.get("complete"):
        rep.problems.append("card: the sweep is not complete; run the same command again to finish it")
