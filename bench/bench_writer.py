"""Benchmark the recording writer against pyarrow writing a ready table.

Usage::

    python bench/bench_writer.py                 # 10,000,000 rows, 3 runs of each path
    python bench/bench_writer.py --rows 500000 --repeat 5

It prints, for N rows of the recording schema (61 columns, zstd, row groups of 65,536):

* **floor**: ``pq.write_table`` of a ready in-memory table of N rows (the least any
  writer can spend: encoding, compression and I/O only);
* **writer**: :class:`recorders.parquet_writer.ParquetRecordWriter` fed the same rows in
  blocks of 100 (one tick of 100 agents, as the recording wrapper does);

with rows/s, the file size and the peak RSS of each (every run is a fresh process so that
the peaks are separate; the runs of the two paths alternate and the median is shown,
because a shared 2-core machine is noisy). The rows are a synthetic but realistic recording (the
test fixture's market with 100 agents on 4 symbols), 2,622 ticks long, repeated to N rows;
the ready table repeats the same buffers, so it costs no memory beyond one copy.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from recorders.parquet_writer import ParquetRecordWriter  # noqa: E402
from recorders.schema import STRING_COLUMNS, build_schema, feature_columns  # noqa: E402
from tests.recording_fixtures import SimulatedRecording, simulate  # noqa: E402

POOL_TICKS = 2622
AGENTS = 100


def _rss_now() -> int:
    """Current resident set size in bytes (Linux), 0 if unknown."""
    try:
        with open("/proc/self/statm") as fh:
            return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return 0


def _rss_peak() -> int:
    """Peak resident set size of this process in bytes."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak if sys.platform == "darwin" else peak * 1024


def _pool() -> tuple[SimulatedRecording, pa.Schema]:
    sim = simulate(ticks=POOL_TICKS, n_agents=AGENTS, n_symbols=4, seed=7)
    return sim, build_schema(metadata=sim.metadata)


def _pool_table(sim: SimulatedRecording, schema: pa.Schema) -> pa.Table:
    arrays = []
    feats = dict(zip(feature_columns(), sim.features.T, strict=True))
    for f in schema:
        if f.name in STRING_COLUMNS:
            cats = pa.array(sim.categories[f.name])
            arrays.append(cats.take(pa.array(sim.columns[f.name])))
        elif f.name in feats:
            arrays.append(pa.array(np.ascontiguousarray(feats[f.name]), type=f.type))
        else:
            arrays.append(pa.array(sim.columns[f.name], type=f.type))
    return pa.Table.from_arrays(arrays, schema=schema)


def run_floor(rows: int, path: Path, row_group_size: int, compression: str) -> dict[str, float]:
    """Time pyarrow writing a ready N-row table (same properties as the writer)."""
    sim, schema = _pool()
    pool = _pool_table(sim, schema)
    k, rem = divmod(rows, pool.num_rows)
    table = pa.concat_tables([pool] * k + ([pool.slice(0, rem)] if rem else []))
    base = _rss_now()
    dict_cols = [
        f.name for f in schema if pa.types.is_string(f.type) or pa.types.is_integer(f.type)
    ]
    t0 = time.perf_counter()
    pq.write_table(
        table,
        path,
        row_group_size=row_group_size,
        compression=compression,
        use_dictionary=dict_cols,
    )
    seconds = time.perf_counter() - t0
    return {
        "seconds": seconds,
        "bytes": path.stat().st_size,
        "rss_base": base,
        "rss_peak": _rss_peak(),
    }


def run_writer(
    rows: int, path: Path, row_group_size: int, compression: str, block: int
) -> dict[str, float]:
    """Time ParquetRecordWriter fed the same rows in blocks of ``block`` rows."""
    sim, schema = _pool()
    n_pool = sim.rows
    blocks = []
    for lo in range(0, n_pool - block + 1, block):
        cols = {k: v[lo : lo + block] for k, v in sim.columns.items()}
        blocks.append((cols, sim.features[lo : lo + block]))
    base = _rss_now()
    t0 = time.perf_counter()
    writer = ParquetRecordWriter(
        path,
        schema,
        string_categories=sim.categories,
        row_group_size=row_group_size,
        compression=compression,
    )
    done = 0
    i = 0
    nb = len(blocks)
    while done < rows:
        cols, feats = blocks[i]
        if rows - done < block:
            take = rows - done
            cols = {k: v[:take] for k, v in cols.items()}
            feats = feats[:take]
        writer.write(cols, features=feats)
        done += feats.shape[0]
        i = i + 1 if i + 1 < nb else 0
    writer.close()
    seconds = time.perf_counter() - t0
    return {
        "seconds": seconds,
        "bytes": path.stat().st_size,
        "rss_base": base,
        "rss_peak": _rss_peak(),
    }


def _child(args: argparse.Namespace) -> int:
    path = Path(args.out) / f"bench_{args.mode}.parquet"
    if args.mode == "floor":
        res = run_floor(args.rows, path, args.row_group_size, args.compression)
    else:
        res = run_writer(args.rows, path, args.row_group_size, args.compression, args.block)
    if not args.keep:
        path.unlink(missing_ok=True)
    print(json.dumps(res))
    return 0


def _mib(n: float) -> str:
    return f"{n / 2**20:,.0f} MiB"


def main(argv: list[str] | None = None) -> int:
    """Run both paths in child processes and print the comparison."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rows", type=int, default=10_000_000, help="rows to write (default 10M)")
    ap.add_argument("--block", type=int, default=AGENTS, help="rows per write() call (default 100)")
    ap.add_argument("--row-group-size", type=int, default=65536)
    ap.add_argument("--compression", default="zstd")
    ap.add_argument("--out", default=None, help="directory for the files (default: a temp dir)")
    ap.add_argument("--keep", action="store_true", help="keep the written files")
    ap.add_argument("--repeat", type=int, default=3, help="runs of each path (median shown)")
    ap.add_argument("--mode", choices=("floor", "writer"), help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.mode:
        return _child(args)

    runs: dict[str, list[dict[str, float]]] = {"floor": [], "writer": []}
    with tempfile.TemporaryDirectory(prefix="bench_writer_", dir=args.out) as tmp:
        out = args.out or tmp
        for _ in range(args.repeat):  # interleaved, so that machine noise hits both paths
            for mode in ("floor", "writer"):
                cmd = [
                    sys.executable,
                    __file__,
                    "--mode",
                    mode,
                    "--rows",
                    str(args.rows),
                    "--block",
                    str(args.block),
                    "--row-group-size",
                    str(args.row_group_size),
                    "--compression",
                    args.compression,
                    "--out",
                    str(out),
                ] + (["--keep"] if args.keep else [])
                proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
                if proc.returncode != 0:
                    print(proc.stderr, file=sys.stderr)
                    return 1
                runs[mode].append(json.loads(proc.stdout.strip().splitlines()[-1]))
    n = args.rows
    med = {mode: float(np.median([r["seconds"] for r in rs])) for mode, rs in runs.items()}
    print(
        f"rows {n:,} x 61 columns, row groups of {args.row_group_size:,}, {args.compression};"
        f" median of {args.repeat} run{'s' if args.repeat > 1 else ''} (each in a fresh process)"
    )
    labels = {
        "floor": "(a) floor  pq.write_table(ready table)",
        "writer": f"(b) writer blocks of {args.block:<4}          ",
    }
    for mode in ("floor", "writer"):
        rs = runs[mode]
        secs = med[mode]
        peak = max(r["rss_peak"] for r in rs)
        base = min(r["rss_base"] for r in rs)
        all_secs = ", ".join(f"{r['seconds']:.2f}" for r in rs)
        print(
            f"  {labels[mode]} {secs:8.2f} s  {n / secs:>12,.0f} rows/s  file {_mib(rs[0]['bytes'])}"
            f"  peak RSS {_mib(peak)} (input data {_mib(base)})  [runs: {all_secs} s]"
        )
    w = runs["writer"]
    extra = max(r["rss_peak"] - r["rss_base"] for r in w)
    print(
        f"  writer / floor = {med['writer'] / med['floor']:.2f}x;"
        f" writer memory above its input data: {_mib(extra)}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
