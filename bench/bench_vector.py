"""Benchmark of the vector envs: env-steps/s of 64 markets, side by side in one run.

Prints a table, asserts nothing. Each env-step is one full market tick of one market.
Every figure is the best of ``--repeat`` runs, the rows taking turns within each round
(the machine is shared: the best run is the least disturbed, and turns spread the load
over the rows alike)::

    .venv/bin/python bench/bench_vector.py [--num-envs 64] [--steps 1024] [--repeat 3] [--config FILE] [--busy K]

``--busy K`` keeps ``K`` other processes spinning on the CPU for the whole run (the case
where threads cost: ``parallel="auto"`` should then run serial).

A timed run is at least 512 vector steps by default, so every market refills its 512-tick
blocks of random numbers inside it (in a shorter run that cost can fall outside the clock).

Rows (random discrete actions drawn in advance from a seeded generator; resets and
warm-up outside the clock):

* ``gym.make_vec (default: parallel="auto")``: ``gym.make_vec("marketenv/Market-v0",
  num_envs=N)`` (every market's tick in one compiled call; serial or on numba's threads,
  whichever its comparisons find faster);
* ``gym.make_vec(parallel=True)`` / ``(parallel=False)``: the same always on numba's
  threads (one per core) / always serial;
* ``SB3VecEnv(make_vec)``: the first under stable-baselines3's ``VecEnv`` API;
* ``SyncVectorEnv of N MarketEnv``: Gymnasium's loop over N unwrapped ``MarketEnv`` s;
* ``... (Transition path)``: the same with each env stepping through
  ``Simulation.step`` and its ``Transition`` (how every env stepped before the batched
  kernel; the vector env then was such a loop);
* ``one MarketEnv, N x the steps``: a single env stepped ``N * steps`` times;
* ``floor: Simulation.run``: one market's ticks in one long compiled loop (no env, no
  learner): what a tick itself costs, the ceiling per core.
"""

from __future__ import annotations

import argparse
import functools
import subprocess
import sys
import time
from collections.abc import Callable, Sequence

import gymnasium as gym
import numpy as np
from bench_env import bench_market_env, best_rate

import marketenv
from marketenv.config import Config, load_config
from marketenv.env import MarketEnv
from marketenv.simulation import Simulation

AUTO_THREADED: list[bool] = []
"""Whether each timed run of the default ``make_vec`` ended on numba's threads."""


def bench_vector(vec: gym.vector.VectorEnv, steps: int, seed: int = 0) -> tuple[int, float]:
    """Env-steps of a Gymnasium vector env with random actions."""
    rng = np.random.default_rng(seed)
    actions = rng.integers(0, 3, (steps, vec.num_envs))
    vec.reset(seed=seed)
    step = vec.step
    t0 = time.perf_counter()
    for a in actions:
        step(a)
    elapsed = time.perf_counter() - t0
    lanes = getattr(vec, "lanes", None)
    if lanes is not None and lanes.batch.parallel == "auto":
        AUTO_THREADED.append(lanes.batch.threaded)
    vec.close()
    return steps * vec.num_envs, elapsed


def bench_sb3(cfg: Config, n: int, steps: int, seed: int = 0) -> tuple[int, float]:
    """Env-steps of ``SB3VecEnv`` over ``gym.make_vec``."""
    from marketenv.sb3 import SB3VecEnv

    venv = SB3VecEnv(gym.make_vec(marketenv.ENV_ID, num_envs=n, config=cfg))
    rng = np.random.default_rng(seed)
    actions = rng.integers(0, 3, (steps, n))
    venv.seed(seed)
    venv.reset()
    t0 = time.perf_counter()
    for a in actions:
        venv.step(a)
    elapsed = time.perf_counter() - t0
    venv.close()
    return steps * n, elapsed


def transition_env(cfg: Config) -> MarketEnv:
    """A ``MarketEnv`` stepping through ``Simulation.step`` (the batched kernel switched off)."""
    env = MarketEnv(cfg)
    env._lanes = None
    return env


def bench_floor(cfg: Config, ticks: int) -> tuple[int, float]:
    """Ticks of one market in one compiled ``Simulation.run`` call."""
    sim = Simulation(cfg, seed=0)
    sim.run(100)
    t0 = time.perf_counter()
    sim.run(ticks)
    return ticks, time.perf_counter() - t0


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark and print the table.

    Args:
        argv: Command-line arguments (default ``sys.argv[1:]``).

    Returns:
        0.
    """
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--num-envs", type=int, default=64, help="markets per vector env")
    p.add_argument("--steps", type=int, default=1024, help="vector steps per timed run")
    p.add_argument("--repeat", type=int, default=3, help="rounds; each row's best is reported")
    p.add_argument("--config", default=None, help="a config TOML (default: the built-in 50 agents)")
    p.add_argument("--busy", type=int, default=0, help="other processes kept spinning during the run")
    args = p.parse_args(argv)
    spinners = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(args.busy)]
    try:
        return _run(args)
    finally:
        for proc in spinners:
            proc.kill()
            proc.wait()


def _run(args: argparse.Namespace) -> int:
    n, steps = args.num_envs, args.steps
    # Long enough that no episode ends inside a timed run (env and time limit alike).
    cfg = load_config(args.config).with_overrides(ticks=max(n * steps + 1, 10_000))
    rows: list[tuple[str, Callable[[], tuple[int, float]]]] = [
        ('gym.make_vec (default: "auto")', lambda: bench_vector(gym.make_vec(marketenv.ENV_ID, num_envs=n, config=cfg), steps)),
        (
            "gym.make_vec(parallel=True)",
            lambda: bench_vector(gym.make_vec(marketenv.ENV_ID, num_envs=n, config=cfg, parallel=True), steps),
        ),
        (
            "gym.make_vec(parallel=False)",
            lambda: bench_vector(gym.make_vec(marketenv.ENV_ID, num_envs=n, config=cfg, parallel=False), steps),
        ),
        ("SB3VecEnv(make_vec)", lambda: bench_sb3(cfg, n, steps)),
        (
            f"SyncVectorEnv of {n} MarketEnv",
            lambda: bench_vector(gym.vector.SyncVectorEnv([functools.partial(MarketEnv, cfg)] * n), steps),
        ),
        (
            f"SyncVectorEnv of {n} (Transition path)",
            lambda: bench_vector(gym.vector.SyncVectorEnv([functools.partial(transition_env, cfg)] * n), steps),
        ),
        ("floor: Simulation.run (one market)", lambda: bench_floor(cfg, n * steps)),
        (f"one MarketEnv, {n} x the steps", lambda: bench_market_env(MarketEnv(cfg), n * steps)),
    ]
    print(
        f"config: {args.config or 'default'} ({cfg.n_agents} agents); num_envs={n}, {steps} vector steps "
        f"({n * steps:,} env-steps) per run, best of {args.repeat}; {args.busy} busy processes beside it"
    )
    best = [0.0] * len(rows)
    for _ in range(args.repeat):
        for k, (_label, fn) in enumerate(rows):
            best[k] = max(best[k], best_rate(fn, 1))
    base = best[-1]
    print(f"  {'row':<36} {'env-steps/s':>12} {'vs one env':>11}")
    for (label, _fn), rate in zip(rows, best, strict=True):
        print(f"  {label:<36} {rate:>12,.0f} {rate / base:>10.2f}x")
    print(f'  "auto" ended on threads in {sum(AUTO_THREADED)} of its {len(AUTO_THREADED)} runs')
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
