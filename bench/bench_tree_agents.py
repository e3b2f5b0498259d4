"""Benchmark: ticks/s of the default market with 50 tree agents sharing one random forest.

The market is the default config's groups (50 rule-based agents) **plus** a group of
``--count`` (50) ``tree_agent``s sharing one forest (default 100 trees, max depth 10), so
100 agents in all, on one core. The forests are trained the honest way: the default market
is recorded, then ``marketenv train`` fits the sign of the mid move 10 ticks ahead:

* ``market`` forest: market features only (``--exclude-agent-state``, what the trainer
  recommends). In a one-symbol market all 50 agents then see the same model input, and
  the compiled traversal walks that row once per tick.
* ``state`` forest: every feature, the agent's own position, cash and P&L included, so
  the 50 rows differ and are all walked (the worst case for inference).

Each is run with the tree agents acting on every tick (``activity`` 1, the tree agent's
default) and with ``activity`` 0.2 (the rule-based signal agents' default). Figures are the
best of ``--repeat`` runs (other processes share the CPU), next to the default market
alone; one extra run gives the per-tick cost of the tree group's batched call::

    .venv/bin/python bench/bench_tree_agents.py [--ticks 5000] [--repeat 5] [--count 50]
        [--trees 100] [--depth 10] [--models DIR]

``--models DIR`` reuses (or writes) ``DIR/market.json`` and ``DIR/state.json``.
Prints figures; asserts nothing.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import io
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from agents.training import main as train_main
from agents.tree_agent import TreeParams, TreeStrategy
from marketenv.config import AgentGroupConfig, Config, default_config
from marketenv.simulation import Simulation
from recorders.run import run_recording

TARGET = 2_000
"""Ticks per second the market with tree agents should stay above."""


def train_models(out_dir: Path, trees: int, depth: int, ticks: int) -> dict[str, Path]:
    """Record the default market and train the two forests (skipped if already there)."""
    paths = {"market": out_dir / "market.json", "state": out_dir / "state.json"}
    if all(p.is_file() for p in paths.values()):
        return paths
    with tempfile.TemporaryDirectory() as tmp:
        rec = Path(tmp) / "train.parquet"
        cfg = default_config().with_overrides(ticks=ticks, seed=1001)
        with contextlib.redirect_stdout(io.StringIO()):
            run_recording(cfg, rec, warmup=100, quiet=True)
        common = [
            str(rec), "--label", "forward", "--horizon", "10", "--dead-zone", "1",
            "--agents", "^NoiseTrader_0[0-4]$", "--n-estimators", str(trees),
            "--max-depth", str(depth), "--seed", "0",
        ]  # fmt: skip
        for name, extra in (("market", ["--exclude-agent-state"]), ("state", [])):
            t0 = time.perf_counter()
            with contextlib.redirect_stdout(io.StringIO()):
                status = train_main([*common, *extra, "--out", str(paths[name])])
            if status != 0:
                raise SystemExit(f"training the {name} forest failed")
            print(f"trained the {name} forest in {time.perf_counter() - t0:.1f} s")
    return paths


def with_trees(base: Config, model: Path, count: int, activity: float) -> Config:
    """The base config plus one group of ``count`` tree agents."""
    group = AgentGroupConfig(
        type="tree_agent", count=count, params={"model": str(model), "activity": activity}
    )
    cfg = dataclasses.replace(base, agents=(*base.agents, group))
    cfg.validate()
    return cfg


def best_rate(cfg: Config, ticks: int, repeat: int) -> tuple[float, int]:
    """Best ticks/s over ``repeat`` fresh runs, and the trades of a run."""
    best, trades = 0.0, 0
    for _ in range(repeat):
        sim = Simulation(cfg)
        t0 = time.perf_counter()
        trades = sim.run(ticks)
        best = max(best, ticks / (time.perf_counter() - t0))
    return best, trades


def distinct_rows(model: object, obs: np.ndarray) -> int:
    """Rows the compiled traversal walks: runs of rows bitwise equal on the used features."""
    used = model._flat.used  # type: ignore[attr-defined]
    x = np.ascontiguousarray(obs.astype(np.float32)[:, used]).view(np.int32)
    return 1 + int(np.any(x[1:] != x[:-1], axis=1).sum()) if len(x) else 0


def tree_call_us(cfg: Config, ticks: int) -> tuple[float, float, float]:
    """Per tick: microseconds of the tree group's batched decision, of the whole tick, and
    the mean number of distinct rows the model walked."""
    sim = Simulation(cfg)
    group = next(g for g in sim.crowd.groups if isinstance(g.strategy, TreeStrategy))
    spent, counting, calls, walked = 0.0, 0.0, 0, 0
    original = group.act
    model = group.strategy.model

    def timed(obs: np.ndarray) -> np.ndarray:
        nonlocal spent, counting, calls, walked
        t0 = time.perf_counter()
        out = original(obs)
        t1 = time.perf_counter()
        walked += distinct_rows(model, obs)
        spent += t1 - t0
        counting += time.perf_counter() - t1
        calls += 1
        return out

    group.act = timed  # type: ignore[method-assign]
    t0 = time.perf_counter()
    sim.run(ticks)
    wall = time.perf_counter() - t0 - counting
    n = max(calls, 1)
    return spent / n * 1e6, wall / ticks * 1e6, walked / n


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark and print the figures.

    Args:
        argv: Command-line arguments (default ``sys.argv[1:]``).

    Returns:
        0.
    """
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--ticks", type=int, default=5_000, help="ticks per timed run")
    p.add_argument("--repeat", type=int, default=5, help="runs per case (best is kept)")
    p.add_argument("--count", type=int, default=50, help="tree agents")
    p.add_argument("--trees", type=int, default=100)
    p.add_argument("--depth", type=int, default=10)
    p.add_argument("--train-ticks", type=int, default=10_000)
    p.add_argument("--models", type=Path, default=None, help="folder to reuse/write the models")
    args = p.parse_args(argv)

    with tempfile.TemporaryDirectory() as tmp:
        folder = args.models or Path(tmp)
        folder.mkdir(parents=True, exist_ok=True)
        models = train_models(folder, args.trees, args.depth, args.train_ticks)
        base = default_config()
        rate, trades = best_rate(base, args.ticks, args.repeat)
        print(
            f"default market alone ({base.n_agents} agents): {rate:,.0f} ticks/s "
            f"({trades:,} trades in {args.ticks:,} ticks)"
        )
        print(
            f"default market + {args.count} tree agents, best of {args.repeat} x {args.ticks:,} ticks, one core:"
        )
        print(
            f"{'forest':<8} {'nodes':>7} {'rows walked':>11} {'activity':>8} {'ticks/s':>9} "
            f"{'trades':>8} {'tree call us':>12} {'tick us':>8}"
        )
        for name, path in models.items():
            strategy = TreeStrategy(TreeParams(model=str(path)), 1000)
            nodes = sum(t.n_nodes for t in strategy.model.trees)
            for activity in (1.0, 0.2):
                cfg = with_trees(base, path, args.count, activity)
                rate, trades = best_rate(cfg, args.ticks, args.repeat)
                call_us, tick_us, walked = tree_call_us(cfg, min(args.ticks, 3000))
                flag = "" if rate >= TARGET else f"  < {TARGET:,}"
                print(
                    f"{name:<8} {nodes:>7,} {walked:>11.1f} {activity:>8.1f} {rate:>9,.0f} "
                    f"{trades:>8,} {call_us:>12.1f} {tick_us:>8.1f}{flag}"
                )
        print(
            "rows walked: distinct model inputs per tick (mean); tree call us: the tree group's "
            "whole decision per tick (model call, signal, sizing); tick us: a whole tick in that "
            "timed run (slower than the best run)"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
