"""The dataset card of a sweep: ``_dataset.json`` (for programs) and ``README.md`` (for people).

The card describes what is on disk: every partition with its config, seed, run id, row
count and whether it is complete; the configs in full; the seeds; the recording schedule;
every column with its type and description; the package and schema versions. A
``realism`` entry holds, per config, the stylized facts of ``marketenv report`` measured on
its partitions (median over seeds and passes; ``null`` when no partition has interval 1).
Writing the card again (a resumed or extended sweep) merges the partitions the previous
card listed and that are still on disk.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq

import marketenv
from marketenv.feature_spec import FEATURE_DESCRIPTIONS, FEATURE_NAMES
from recorders.market_table import MARKET_COLUMNS, MARKET_SCHEMA_VERSION
from recorders.schema import (
    FEATURE_PREFIX,
    OUTCOME_DESCRIPTIONS,
    SCHEMA_VERSION,
    build_schema,
)
from recorders.sweep import MARKET_DIR, RunSpec, is_complete

CARD_JSON = "_dataset.json"
CARD_README = "README.md"
CARD_FORMAT = "marketenv.dataset"
CARD_VERSION = 1

LEADING_DESCRIPTIONS: dict[str, str] = {
    "tick": "the market tick (0-based)",
    "agent_id": "the agent's id (its slot in the config's agent order)",
    "agent_name": "the agent's name (type and index)",
    "symbol": "the symbol the agent trades",
    "run_id": "the run: a hash of config, seed, schedule and package version",
}


def column_descriptions() -> list[dict[str, str]]:
    """Name, Arrow type and description of every agent-row column, in file order."""
    desc = {
        **LEADING_DESCRIPTIONS,
        **{FEATURE_PREFIX + n: FEATURE_DESCRIPTIONS[n] for n in FEATURE_NAMES},
        **OUTCOME_DESCRIPTIONS,
    }
    return [{"name": f.name, "type": str(f.type), "description": desc[f.name]} for f in build_schema()]


def market_column_descriptions() -> list[dict[str, str]]:
    """Name, Arrow type and description of every market-table column."""
    return [{"name": n, "type": str(t), "description": d} for n, t, d in MARKET_COLUMNS]


def _rel(root: Path, path: Path) -> str:
    return Path(os.path.relpath(path, root)).as_posix()


def _rows(path: Path) -> int:
    return pq.ParquetFile(path).metadata.num_rows


def build_card(root: str | Path, specs: Sequence[RunSpec]) -> dict[str, Any]:
    """The card of the dataset at ``root`` after recording ``specs`` (see module doc)."""
    root = Path(root)
    old = read_card(root) if (root / CARD_JSON).is_file() else {}
    entries: dict[tuple[str, int], dict[str, Any]] = {}
    configs: dict[str, Any] = dict(old.get("configs") or {})
    for p in old.get("partitions") or []:
        if (root / p["path"]).is_file():
            entries[(p["config"], int(p["seed"]))] = p
    schedule: dict[str, Any] = dict(old.get("recording") or {})
    for s in specs:
        complete = is_complete(s)
        entry: dict[str, Any] = {
            "config": s.config_name,
            "seed": s.seed,
            "path": _rel(root, s.path),
            "run_id": s.run_id,
            "ticks": s.ticks,
            "complete": complete,
            "rows": _rows(s.path) if complete else None,
        }
        if s.market_path is not None:
            entry["market_path"] = _rel(root, s.market_path)
            entry["market_rows"] = _rows(s.market_path) if complete else None
        entries[(s.config_name, s.seed)] = entry
        configs[s.config_name] = s.config.to_dict()
        schedule = {"warmup": s.warmup, "interval": s.interval}
    parts = [entries[k] for k in sorted(entries)]
    names = sorted({p["config"] for p in parts})
    multi = len(names) > 1 or any(p["path"].startswith("config=") for p in parts)
    has_market = any("market_path" in p for p in parts)
    done = [p for p in parts if p["complete"]]
    return {
        "format": CARD_FORMAT,
        "card_version": CARD_VERSION,
        "marketenv_version": marketenv.__version__,
        "schema_version": SCHEMA_VERSION,
        "layout": "config={config}/seed={seed}/part-0.parquet" if multi else "seed={seed}/part-0.parquet",
        "hive_keys": ["config", "seed"] if multi else ["seed"],
        "configs": {n: configs[n] for n in names},
        "seeds": sorted({int(p["seed"]) for p in parts}),
        "recording": schedule,
        "complete": len(done) == len(parts),
        "partitions": parts,
        "rows": sum(p["rows"] for p in done),
        "columns": column_descriptions(),
        "market": (
            {
                "dir": MARKET_DIR,
                "schema_version": MARKET_SCHEMA_VERSION,
                "rows": sum(p.get("market_rows") or 0 for p in done),
                "columns": market_column_descriptions(),
            }
            if has_market
            else None
        ),
        "realism": realism_summary(root, done) or old.get("realism"),
    }


REALISM_MAX_ROWS = 20_000_000
"""Partitions larger than this are not measured for the card (run ``marketenv report``)."""


def realism_summary(root: Path, partitions: Sequence[dict[str, Any]]) -> dict[str, Any] | None:
    """Per config, the stylized facts of its complete partitions (interval 1 only).

    Each fact of :mod:`marketenv.report` (without the gradient-boosted one) is measured on
    every partition of the config; the card keeps its median over seeds and how many seeds
    pass its target. ``None`` when no partition can be measured.
    """
    from marketenv.report import ReportInputError, from_recording, measure

    by_config: dict[str, list[Any]] = {}
    for p in partitions:
        if p.get("rows") is None or p["rows"] > REALISM_MAX_ROWS:
            continue
        try:
            summary = measure(from_recording(root / p["path"]), boosted=False)
        except ReportInputError:
            continue
        by_config.setdefault(p["config"], []).append(summary)
    if not by_config:
        return None
    out: dict[str, Any] = {}
    for name, runs in by_config.items():
        facts: dict[str, dict[str, Any]] = {}
        for run in runs:
            for scope, f in run.all_facts():
                d = facts.setdefault(f"{scope}.{f.key}", {"name": f.name, "target": f.target(), "values": [], "passed": 0})
                d["values"].append(f.value)
                d["passed"] += int(f.passed)
        for d in facts.values():
            vals = [v for v in d.pop("values") if v == v]
            d["median"] = float(sorted(vals)[len(vals) // 2]) if vals else None
            d["runs"] = len(runs)
        out[name] = {"runs": len(runs), "ticks": runs[0].ticks, "facts": facts}
    return out


def read_card(root: str | Path) -> dict[str, Any]:
    """Read ``root/_dataset.json`` (raises ``OSError`` or ``ValueError`` when unreadable)."""
    return json.loads((Path(root) / CARD_JSON).read_text(encoding="utf-8"))


def _readme(card: dict[str, Any]) -> str:
    keys = card["hive_keys"]
    glob = "/".join(f"{k}=*" for k in keys) + "/*.parquet"
    seeds = card["seeds"]
    seed_text = f"{seeds[0]}..{seeds[-1]} ({len(seeds)} seeds)" if seeds else "none"
    lines = [
        "# marketenv dataset",
        "",
        f"Recorded with marketenv {card['marketenv_version']} (schema {card['schema_version']}).",
        f"{card['rows']:,} agent rows in {sum(p['complete'] for p in card['partitions'])} complete"
        f" partitions of {len(card['partitions'])}" + ("" if card["complete"] else " (the sweep is not finished)") + ".",
        "",
        f"- configs: {', '.join(card['configs'])}",
        f"- seeds: {seed_text}",
        f"- recording: warm-up {card['recording'].get('warmup')}, every {card['recording'].get('interval')} tick(s)",
        f"- layout: `{card['layout']}` (hive partitions: {', '.join(keys)})",
        "",
        "Every row is one (tick, agent): the agent's features at the start of the tick (`f_`),",
        "its action and fills during the tick and the state after it (`next_`). The full",
        "conventions (units, signs, timing, NaN policy, the cash identity) are in the marketenv",
        "README, section \"Recording conventions\". Each file's metadata holds its config and seed.",
        "",
        "## Reading it",
        "",
        "```python",
        "import polars as pl",
        f"df = pl.scan_parquet('DIR/{glob}', hive_partitioning=True).collect()",
        "",
        "import duckdb",
        f"duckdb.sql(\"SELECT seed, count(*) FROM read_parquet('DIR/{glob}', hive_partitioning=true) GROUP BY seed\")",
        "",
        "import pyarrow.dataset as ds",
        "t = ds.dataset('DIR', format='parquet', partitioning='hive',",
        "               ignore_prefixes=['.', '_', 'README', 'market']).to_table()",
        "",
        "import datasets  # Hugging Face",
        f"hf = datasets.load_dataset('parquet', data_files='DIR/{glob}', split='train')",
        "```",
        "",
        "(`DIR` is this folder. Hugging Face `datasets` does not turn the `config=`/`seed=`",
        "folders into columns: use the `run_id` column, one per partition as listed below.)",
        "",
        "Configs that share the `[[symbols]]`, `[news]` and `[fundamentals]` tables share the",
        "fair-value and news path of a seed: split training and test sets by seed, not by config.",
        "",
    ]
    if card.get("market"):
        lines += [
            "## Market table",
            "",
            f"`{MARKET_DIR}/{card['layout']}`: one row per (tick, symbol), {card['market']['rows']:,} rows;",
            "the snapshot columns share the `f_` timing, the bar columns describe the tick.",
            "",
            "| column | type | description |",
            "|---|---|---|",
            *(f"| `{c['name']}` | {c['type']} | {c['description']} |" for c in card["market"]["columns"]),
            "",
        ]
    lines += [
        "## Columns",
        "",
        "| column | type | description |",
        "|---|---|---|",
        *(f"| `{c['name']}` | {c['type']} | {c['description']} |" for c in card["columns"]),
        "",
        "## Partitions",
        "",
        "| config | seed | rows | run id | complete |",
        "|---|---|---|---|---|",
        *(
            f"| {p['config']} | {p['seed']} | {p['rows'] if p['rows'] is not None else '-'} | `{p['run_id']}` |"
            f" {'yes' if p['complete'] else 'no'} |"
            for p in card["partitions"]
        ),
        "",
    ]
    realism = card.get("realism")
    if realism is None:
        lines += ["Realism summary: not computed (no partition with interval 1; run `marketenv report`).", ""]
    else:
        lines += ["## Realism summary", "", "Stylized facts per config, median over its seeds "
                  "(`marketenv report` on one partition gives the plots; short runs are noisy).", ""]
        for name, r in realism.items():
            lines += [f"### {name} ({r['runs']} run(s) of {r['ticks']:,} ticks)", "",
                      "| fact | median | target | runs passing |", "|---|---|---|---|"]
            for key, d in r["facts"].items():
                med = "n/a" if d["median"] is None else f"{d['median']:.3g}"
                ok = "" if d["target"] == "any" else f"{d['passed']}/{d['runs']}"
                lines.append(f"| {key} | {med} | {d['target']} | {ok} |")
            lines.append("")
    return "\n".join(lines)


def write_card(root: str | Path, specs: Sequence[RunSpec]) -> dict[str, Any]:
    """Write ``_dataset.json`` and ``README.md`` into ``root`` (atomically); return the card."""
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    card = build_card(root, specs)
    for name, text in ((CARD_JSON, json.dumps(card, indent=1, sort_keys=False) + "\n"), (CARD_README, _readme(card))):
        tmp = root / f".{name}.{os.getpid()}.tmp"
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, root / name)
    return card
