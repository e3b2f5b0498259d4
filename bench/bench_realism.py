"""Stylized facts of the shipped scenarios on several seeds, measured against their targets.

    python bench/bench_realism.py                       # default, standard, multi_symbol; 3 seeds
    python bench/bench_realism.py --ticks 500000 --seeds 11 12 13 14 --configs default

Every run is a fresh simulation (100 warm-up ticks, then ``--ticks`` measured, 1 tick =
1 s) measured by :mod:`marketenv.report`. The table shows each fact's value per seed and
how many seeds pass. Definitions: docs/realism.md.
"""

from __future__ import annotations

import argparse
import math
import time
from pathlib import Path

from marketenv.config import load_config
from marketenv.report import measure, simulate

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--configs", nargs="+", default=["default", "standard", "multi_symbol"])
    p.add_argument("--seeds", nargs="+", type=int, default=[101, 202, 303])
    p.add_argument("--ticks", type=int, default=200_000)
    p.add_argument("--no-boosted", action="store_true", help="skip the gradient-boosted fact (faster)")
    args = p.parse_args()
    for name in args.configs:
        cfg = load_config(ROOT / "configs" / f"{name}.toml")
        runs = []
        for seed in args.seeds:
            t0 = time.perf_counter()
            series = simulate(cfg, args.ticks, seed=seed)
            runs.append(measure(series, boosted=not args.no_boosted))
            print(f"# {name} seed {seed}: {args.ticks:,} ticks in {time.perf_counter() - t0:.0f} s", flush=True)
        print(f"\n## {name}: {args.ticks:,} ticks, seeds {' '.join(map(str, args.seeds))}\n")
        print("| symbol | fact | target | " + " | ".join(f"seed {s}" for s in args.seeds) + " | pass |")
        print("|---|---|---|" + "---|" * len(args.seeds) + "---|")
        rows = [list(r.all_facts()) for r in runs]
        for i, (scope, fact) in enumerate(rows[0]):
            facts = [r[i][1] for r in rows]
            vals = " | ".join("n/a" if not math.isfinite(f.value) else f"{f.value:.3g}" for f in facts)
            ok = "" if fact.target() == "any" else f"{sum(f.passed for f in facts)}/{len(facts)}"
            name = fact.name.replace("|", "\\|")
            print(f"| {scope} | {name} | {fact.target()} | {vals} | {ok} |")
        print(flush=True)


if __name__ == "__main__":
    main()
