"""Benchmark: `marketenv --headless-record` end to end, against pyarrow's floor.

Usage: python bench/bench_record.py [--scenario quick|standard|large ...] [--ticks N] [--out DIR]

For each scenario: runs the recording in a child process (the command users run), and
reports wall time, rows/s, file size and the child's peak RSS; then the floor: the time
pyarrow alone takes to write the same table (read back into memory first, same row
groups and compression). Also runs the recording at a fraction of the ticks to show that
peak RSS does not grow with ticks. Not a test: figures go in the closing note/README.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

import pyarrow.parquet as pq

ROOT = Path(__file__).resolve().parents[1]


def record(config: Path, out: Path, ticks: int | None) -> tuple[float, int, int]:
    """Run the CLI in a child; return (wall seconds, rows, child peak RSS in bytes)."""
    cmd = [sys.executable, "-m", "marketenv", "--headless-record", "--config", str(config),
           "--record-output", str(out), "--quiet"]
    if ticks is not None:
        cmd += ["--ticks", str(ticks)]
    # Each child runs in its own grandchild-free process: RUSAGE_CHILDREN is the max over
    # children so far, so measure in a fresh python that runs exactly one child.
    probe = (
        "import resource, subprocess, sys, time;"
        "t=time.perf_counter(); r=subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL); w=time.perf_counter()-t;"
        "print(w, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, r.returncode)"
    )
    res = subprocess.run([sys.executable, "-c", probe, *cmd], capture_output=True, text=True, check=True, cwd=ROOT)
    wall, rss_kb, rc = res.stdout.split()
    if int(rc) != 0:
        raise SystemExit(f"recording failed with status {rc}")
    rows = pq.ParquetFile(out).metadata.num_rows
    return float(wall), rows, int(rss_kb) * 1024


def floor(path: Path) -> float:
    """Seconds pyarrow alone needs to write the recorded table (same row groups, zstd)."""
    pf = pq.ParquetFile(path)
    table = pf.read()
    rg = pf.metadata.row_group(0).num_rows
    out = path.with_name(path.stem + ".floor.parquet")
    t0 = time.perf_counter()
    pq.write_table(table, out, row_group_size=rg, compression="zstd")
    dt = time.perf_counter() - t0
    out.unlink()
    return dt


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--scenario", nargs="+", default=["quick", "standard"])
    ap.add_argument("--ticks", type=int, default=None, help="override the scenario's ticks")
    ap.add_argument("--out", default="/tmp/marketenv-bench")
    args = ap.parse_args()
    out_dir = Path(args.out)
    out_dir.mkdir(parents=True, exist_ok=True)
    print(f"{'scenario':<10} {'ticks':>9} {'rows':>11} {'wall s':>8} {'rows/s':>10} {'MB':>8} {'peak RSS MB':>12} {'floor s':>8} {'x floor':>8}")
    for name in args.scenario:
        cfg = ROOT / "configs" / f"{name}.toml"
        out = out_dir / f"{name}.parquet"
        wall, rows, rss = record(cfg, out, args.ticks)
        fl = floor(out)
        size = out.stat().st_size / 1e6
        ticks = args.ticks or "config"
        print(f"{name:<10} {ticks!s:>9} {rows:>11,} {wall:>8.2f} {rows / wall:>10,.0f} {size:>8.1f} {rss / 1e6:>12.0f} {fl:>8.2f} {wall / fl:>8.1f}")
        out.unlink()
    # RSS independence of ticks: the quick market at 2x and 10x its length (both past the
    # point where the writer's three row-group buffers are in use).
    _, _, small_rss = record(ROOT / "configs" / "quick.toml", out_dir / "rss.parquet", 20_000)
    _, _, big_rss = record(ROOT / "configs" / "quick.toml", out_dir / "rss.parquet", 100_000)
    print(f"peak RSS, quick config: 20,000 ticks {small_rss / 1e6:.0f} MB; 100,000 ticks {big_rss / 1e6:.0f} MB")
    (out_dir / "rss.parquet").unlink()


if __name__ == "__main__":
    main()
