"""Benchmark of the environments: steps/s of ``MarketEnv`` and ticks/s of the parallel env.

Prints figures, asserts nothing. Every figure is the best of ``--repeat`` runs (the
machine is shared, so the best run is the least disturbed one)::

    .venv/bin/python bench/bench_env.py [--steps 5000] [--repeat 5] [--config FILE]

Rows:

* ``headless Simulation.run``: the crowd alone, no env (the floor every env sits on);
* ``MarketEnv discrete`` / ``limit``: one learner against the crowd, unwrapped, random
  actions drawn in advance from a seeded generator;
* ``gym.make MarketEnv discrete``: the same through ``gym.make`` (order-enforcing and
  passive-checker wrappers);
* ``parallel env, rule_based_policies``: every slot driven by its own policy's
  ``predict`` through ``step_array`` (the parity loop);
* ``parallel env, step_array``: every slot driven by one vectorised
  ``simulation.crowd_actions(simulation.obs)`` call per tick.

K-learner and rendering figures are in ``bench/bench_rl.py``.

Profile a row with e.g. ``python -m cProfile -s tottime bench/bench_env.py --only env``.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable, Sequence

import gymnasium as gym
import numpy as np

import marketenv
from marketenv.config import Config, load_config
from marketenv.env import MarketEnv
from marketenv.parallel_env import MarketParallelEnv
from marketenv.simulation import Simulation


def best_rate(run: Callable[[], tuple[int, float]], repeat: int) -> float:
    """The best ``units / seconds`` of ``repeat`` calls of ``run`` (which returns both)."""
    best = 0.0
    for _ in range(repeat):
        units, seconds = run()
        best = max(best, units / seconds)
    return best


def bench_headless(cfg: Config, steps: int) -> tuple[int, float]:
    """Ticks of the crowd alone."""
    sim = Simulation(cfg)
    t0 = time.perf_counter()
    sim.run(steps)
    return steps, time.perf_counter() - t0


def bench_market_env(env: gym.Env, steps: int, seed: int = 0) -> tuple[int, float]:
    """Steps of a ``MarketEnv`` with random actions (drawn before the clock starts)."""
    env.action_space.seed(seed)
    actions = [env.action_space.sample() for _ in range(steps)]
    env.reset(seed=seed)
    step = env.step
    t0 = time.perf_counter()
    for a in actions:
        _obs, _r, term, trunc, _info = step(a)
        if term or trunc:
            env.reset()
    return steps, time.perf_counter() - t0


def _engine(cfg: Config, steps: int) -> MarketParallelEnv:
    return MarketParallelEnv(cfg, learners="all", observation="raw", warmup_ticks=0, max_cycles=steps)


def bench_parallel_policies(cfg: Config, steps: int) -> tuple[int, float]:
    """Ticks of the parallel env, every slot driven by its rule-based policy."""
    env = _engine(cfg, steps)
    env.reset(seed=cfg.simulation.seed)
    policies = list(env.rule_based_policies().values())  # in slot order
    raw = env.simulation.obs.copy()
    t0 = time.perf_counter()
    for _ in range(steps):
        raw, *_ = env.step_array(np.stack([p.predict(row)[0] for p, row in zip(policies, raw, strict=True)]))
    return steps, time.perf_counter() - t0


def bench_parallel_array(cfg: Config, steps: int) -> tuple[int, float]:
    """Ticks of the parallel env through the batched ``step_array`` (no per-agent dicts)."""
    env = _engine(cfg, steps)
    env.reset(seed=cfg.simulation.seed)
    sim = env.unwrapped.simulation
    t0 = time.perf_counter()
    for _ in range(steps):
        env.step_array(sim.crowd_actions(sim.obs))
    return steps, time.perf_counter() - t0


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark and print one line per row.

    Args:
        argv: Command-line arguments (default ``sys.argv[1:]``).

    Returns:
        0.
    """
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--steps", type=int, default=5000, help="steps (ticks) per timed run")
    p.add_argument("--repeat", type=int, default=5, help="runs per row; the best is reported")
    p.add_argument("--config", default=None, help="a config TOML (default: the built-in 50 agents)")
    p.add_argument(
        "--only",
        choices=("headless", "env", "limit", "make", "policies", "array"),
        action="append",
        help="run only these rows (repeatable)",
    )
    args = p.parse_args(argv)
    cfg = load_config(args.config).with_overrides(ticks=max(args.steps, 1))
    n = args.steps
    rows: list[tuple[str, str, Callable[[], tuple[int, float]]]] = [
        ("headless", "headless Simulation.run", lambda: bench_headless(cfg, n)),
        ("env", "MarketEnv discrete", lambda: bench_market_env(MarketEnv(cfg), n)),
        ("limit", "MarketEnv limit", lambda: bench_market_env(MarketEnv(cfg, action_mode="limit"), n)),
        ("make", "gym.make MarketEnv discrete", lambda: bench_market_env(gym.make(marketenv.ENV_ID, config=cfg), n)),
        ("policies", "parallel env, rule_based_policies", lambda: bench_parallel_policies(cfg, n)),
        ("array", "parallel env, step_array", lambda: bench_parallel_array(cfg, n)),
    ]
    print(f"config: {args.config or 'default'} ({cfg.n_agents} agents, {len(cfg.symbols)} symbol(s)); "
          f"{n:,} steps per run, best of {args.repeat}")
    for key, label, fn in rows:
        if args.only and key not in args.only:
            continue
        unit = "steps/s" if key in ("env", "limit", "make") else "ticks/s"
        print(f"  {label:<36} {best_rate(fn, args.repeat):>9,.0f} {unit}", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
