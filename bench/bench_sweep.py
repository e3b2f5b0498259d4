"""Benchmark: seed sweeps on 1 vs 2 local workers, Ray vs the local pool, and the cost of
the exact-fill columns plus the market table on the standard dataset.

Usage: python bench/bench_sweep.py [--seeds 16] [--ticks N] [--standard-ticks N]
                                   [--repeats 2] [--skip-standard] [--out DIR]

1. Sweep scaling: ``--seeds`` quick-scenario seeds recorded with ``run_sweep`` on 1 and
   on 2 worker processes; rows/s of the whole sweep (target: 2 workers >= 1.6x one).
2. Ray: the same sweep as Ray tasks on a local Ray with 2 CPUs, if ray is installed
   (target: within 20% of the local pool).
3. Peak RSS per worker: each run's worker peak RSS, in the order the runs finished (a
   worker records several runs in turn; flat means memory does not accumulate).
4. The standard dataset (``marketenv --headless-record --config standard``) recorded by
   the code before the fill columns and the market table (the merge base with ``main``,
   exported with ``git archive``) and by this checkout with ``--record-market``; runs
   are interleaved and the best of ``--repeats`` is kept (target: <= 10% slower).

Not a test: figures go in the closing note / README. The machine is shared: run it alone.
"""

from __future__ import annotations

import argparse
import io
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from marketenv.config import load_config  # noqa: E402
from recorders.sweep import plan, run_sweep  # noqa: E402


def sweep(out: Path, seeds: int, ticks: int | None, workers: int | None, ray: str | None) -> tuple[float, int, list[float]]:
    """Record a sweep into a fresh folder; return (wall s, rows, per-run peak RSS MB)."""
    shutil.rmtree(out, ignore_errors=True)
    cfg = load_config("quick").with_overrides(ticks=ticks)
    specs = plan([("quick", cfg)], list(range(1, seeds + 1)), out)
    t0 = time.perf_counter()
    res = run_sweep(specs, out, workers=workers, ray_address=ray, quiet=True)
    wall = time.perf_counter() - t0
    if not res.ok:
        raise SystemExit(f"sweep failed: {res.errors}")
    return wall, res.rows, [r.peak_rss_mb for r in res.runs]


def baseline_tree(dest: Path) -> tuple[Path, str]:
    """Export the merge base with main (the code before this branch) into ``dest``."""
    base = subprocess.run(["git", "merge-base", "HEAD", "main"], cwd=ROOT, capture_output=True, text=True, check=True).stdout.strip()
    tar = subprocess.run(["git", "archive", base], cwd=ROOT, capture_output=True, check=True).stdout
    with tarfile.open(fileobj=io.BytesIO(tar)) as t:
        t.extractall(dest, filter="data")
    return dest, base[:10]


def record(tree: Path, out: Path, ticks: int | None, market: bool) -> tuple[float, int]:
    """Run ``marketenv --headless-record --config standard`` from ``tree``; (wall s, rows)."""
    cmd = [sys.executable, "-m", "marketenv", "--headless-record", "--config", str(tree / "configs" / "standard.toml"),
           "--record-output", str(out), "--quiet"]
    if ticks is not None:
        cmd += ["--ticks", str(ticks)]
    if market:
        cmd += ["--record-market", str(out.with_name("market.parquet"))]
    env = {**os.environ, "PYTHONPATH": str(tree)}
    t0 = time.perf_counter()
    subprocess.run(cmd, cwd=tree, env=env, check=True, stdout=subprocess.DEVNULL)
    wall = time.perf_counter() - t0
    import pyarrow.parquet as pq

    return wall, pq.ParquetFile(out).metadata.num_rows


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seeds", type=int, default=16)
    ap.add_argument("--ticks", type=int, default=None, help="ticks per quick run (default: the config's 10,000)")
    ap.add_argument("--standard-ticks", type=int, default=None, help="ticks of the standard run (default: 100,000)")
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--skip-standard", action="store_true")
    ap.add_argument("--out", default=None)
    args = ap.parse_args()
    out = Path(args.out or tempfile.mkdtemp(prefix="bench_sweep_"))
    out.mkdir(parents=True, exist_ok=True)
    print(f"machine: {os.cpu_count()} cores (shared: figures are noisy)")

    w1, rows, rss1 = sweep(out / "w1", args.seeds, args.ticks, 1, None)
    w2, rows2, rss2 = sweep(out / "w2", args.seeds, args.ticks, 2, None)
    assert rows == rows2
    r1, r2 = rows / w1, rows / w2
    print(f"\n1. sweep of {args.seeds} quick seeds, {rows:,} rows")
    print(f"   1 worker : {w1:6.1f} s  {r1:10,.0f} rows/s")
    print(f"   2 workers: {w2:6.1f} s  {r2:10,.0f} rows/s  = {r2 / r1:.2f}x (target >= 1.6x)")

    try:
        import ray
    except ImportError:
        print("\n2. Ray: not installed (pip install 'marketenv[ray]'), skipped")
    else:
        ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
        try:
            wr, rows3, _ = sweep(out / "ray", args.seeds, args.ticks, None, "local")
        finally:
            ray.shutdown()
        assert rows3 == rows
        print(f"\n2. Ray (local, 2 CPUs): {wr:6.1f} s  {rows / wr:10,.0f} rows/s  = {w2 / wr:.2f}x the local pool"
              " (target >= 0.8x)")

    print("\n3. peak RSS per worker, MB, in finishing order")
    print(f"   1 worker : {', '.join(f'{x:.0f}' for x in rss1)}")
    print(f"   2 workers: {', '.join(f'{x:.0f}' for x in rss2)}")

    if args.skip_standard:
        return
    base_dir, base = baseline_tree(out / "baseline")
    for tree in (base_dir, ROOT):  # untimed: numba compiles and caches each tree's kernels once
        record(tree, out / "warm.parquet", 300, tree is ROOT)
    best = {"before": float("inf"), "after": float("inf")}
    rows_of = {}
    for _ in range(args.repeats):
        for label, tree, market in (("before", base_dir, False), ("after", ROOT, True)):
            wall, n = record(tree, out / f"{label}.parquet", args.standard_ticks, market)
            best[label] = min(best[label], wall)
            rows_of[label] = n
    slow = best["after"] / best["before"] - 1
    print(f"\n4. standard dataset ({rows_of['after']:,} rows), best of {args.repeats}")
    print(f"   before ({base}, no fill columns, no market table): {best['before']:6.1f} s")
    print(f"   after  (fill columns + --record-market)          : {best['after']:6.1f} s  = {slow * 100:+.1f}% (target <= +10%)")


if __name__ == "__main__":
    main()
