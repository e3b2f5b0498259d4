"""Benchmark: ticks/s of the default 50-agent market (features for every agent every tick).

Usage: python bench/bench_market.py [--ticks 10000] [--config FILE] [--repeat 3]

Prints the best-of-N throughput and a per-phase breakdown (microseconds per tick) of one
extra instrumented run. Not a test: figures go in the closing note.
"""

from __future__ import annotations

import argparse
import time

from marketenv.config import load_config
from marketenv.simulation import Simulation


def run(cfg, ticks: int) -> tuple[float, int]:
    sim = Simulation(cfg)
    t0 = time.perf_counter()
    trades = sim.run(ticks)
    return time.perf_counter() - t0, trades


def phases(cfg, ticks: int) -> dict[str, float]:
    sim = Simulation(cfg)
    acc = {"start_tick": 0.0, "features": 0.0, "crowd": 0.0, "execute": 0.0}
    pc = time.perf_counter
    obs = sim.obs
    for _ in range(ticks):  # the phases of Simulation.step, timed one by one
        t0 = pc()
        acts = sim.crowd_actions(obs)
        t1 = pc()
        sim.execute(acts)
        t2 = pc()
        sim.market.start_tick()
        t3 = pc()
        obs = sim.features.compute()
        t4 = pc()
        acc["crowd"] += t1 - t0
        acc["execute"] += t2 - t1
        acc["start_tick"] += t3 - t2
        acc["features"] += t4 - t3
    return {k: v / ticks * 1e6 for k, v in acc.items()}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--ticks", type=int, default=10_000)
    ap.add_argument("--config", default=None)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    cfg = load_config(args.config)
    best = None
    for _ in range(args.repeat):
        wall, trades = run(cfg, args.ticks)
        best = wall if best is None else min(best, wall)
    assert best is not None
    print(f"config: {args.config or 'default'} ({cfg.n_agents} agents, {len(cfg.symbols)} symbol(s))")
    print(f"ticks: {args.ticks:,}  trades: {trades:,}  best wall: {best:.3f} s  -> {args.ticks / best:,.0f} ticks/s")
    ph = phases(cfg, min(args.ticks, 5000))
    print("per-tick phases (us): " + ", ".join(f"{k} {v:.1f}" for k, v in ph.items()) + f", total {sum(ph.values()):.1f}")


if __name__ == "__main__":
    main()
