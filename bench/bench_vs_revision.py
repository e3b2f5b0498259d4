"""Ticks/s of the default market at this checkout vs a git revision, side by side.

    python bench/bench_vs_revision.py b2e1673 [--rounds 4] [--ticks 5000] [--config FILE]

Checks the revision out into a temporary git worktree, then alternates runs of the two
code bases (A B A B ...), each a fresh process that simulates ``--ticks`` ticks of the
crowd after 100 warm-up ticks. Ticks/s are taken over the process's CPU time, which a
shared, noisy machine disturbs far less than wall time; the medians and their ratio are
printed.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CHILD = """
import sys, time
sys.path.insert(0, sys.argv[1])
from marketenv.config import load_config
from marketenv.simulation import Simulation
sim = Simulation(load_config(sys.argv[3] or None))
sim.run(100)
t0 = time.process_time()
trades = sim.run(int(sys.argv[2]))
print(int(sys.argv[2]) / (time.process_time() - t0), trades)
"""


def run(root: Path, ticks: int, config: str) -> tuple[float, int]:
    out = subprocess.run(
        [sys.executable, "-c", CHILD, str(root), str(ticks), config],
        capture_output=True, text=True, check=True, cwd=root, env={"PYTHONPATH": str(root), "PATH": ""},
    ).stdout.split()
    return float(out[0]), int(out[1])


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("revision")
    p.add_argument("--rounds", type=int, default=4)
    p.add_argument("--ticks", type=int, default=5000)
    p.add_argument("--config", default="", help="a config file (default: the built-in default)")
    args = p.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp) / "base"
        subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "-q", "--detach", str(base), args.revision], check=True)
        try:
            a, b = [], []
            for _ in range(args.rounds):
                rate, trades_a = run(base, args.ticks, args.config)
                a.append(rate)
                rate, trades_b = run(ROOT, args.ticks, args.config)
                b.append(rate)
        finally:
            subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(base)], check=False)
    ma, mb = statistics.median(a), statistics.median(b)
    print(f"{args.revision}: {ma:,.0f} ticks/s (CPU time, median of {args.rounds}; {trades_a:,} trades)")
    print(f"this checkout: {mb:,.0f} ticks/s ({trades_b:,} trades)")
    print(f"ratio: {mb / ma:.2f}x")


if __name__ == "__main__":
    main()
