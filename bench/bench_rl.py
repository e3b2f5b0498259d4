"""Benchmark of the RL-facing envs: K learners and rendering.

Prints figures, asserts nothing; each is the best of ``--repeat`` runs (the machine is
shared). Actions are sampled from the seeded action spaces before the clock starts::

    .venv/bin/python bench/bench_rl.py [--steps 3000] [--repeat 3]

Rows (default scenario, 50 agents):

* ``MarketEnv, render_mode=None`` / ``"rgb_array"`` (no ``render()`` call) /
  ``"rgb_array" + render() every step`` (what ``RecordVideo`` does while recording) /
  ``"ansi" + render() every step``;
* ``parallel_env(learners=K)`` for K = 1 and 4, dict API: steps (ticks) per second and
  agent steps per second;
* ``Execution-v0`` with TWAP.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable, Sequence

from marketenv.env import MarketEnv
from marketenv.execution import ExecutionEnv
from marketenv.parallel_env import MarketParallelEnv


def best(run: Callable[[], float], repeat: int) -> float:
    """The best rate of ``repeat`` calls."""
    return max(run() for _ in range(repeat))


def gym_rate(render_mode: str | None, call_render: bool, steps: int) -> float:
    """Steps/s of MarketEnv with random actions."""
    env = MarketEnv(render_mode=render_mode)
    env.action_space.seed(0)
    actions = [env.action_space.sample() for _ in range(steps)]
    env.reset(seed=0)
    t0 = time.perf_counter()
    for a in actions:
        env.step(a)
        if call_render:
            env.render()
    return steps / (time.perf_counter() - t0)


def parallel_rate(learners: int, steps: int) -> float:
    """Ticks/s of the parallel env with ``learners`` learners acting at random."""
    env = MarketParallelEnv(learners=learners)
    env.reset(seed=0)
    space = env.action_space(env.possible_agents[0])
    space.seed(0)
    actions = [{a: space.sample() for a in env.possible_agents} for _ in range(steps)]
    t0 = time.perf_counter()
    for acts in actions:
        env.step(acts)
    return steps / (time.perf_counter() - t0)


def execution_rate(steps: int) -> float:
    """Steps/s of Execution-v0 under TWAP, resets included."""
    env = ExecutionEnv()
    env.reset(seed=0)
    done = 0
    t0 = time.perf_counter()
    while done < steps:
        *_x, term, trunc, _i = env.step(3)
        done += 1
        if term or trunc:
            env.reset()
    return steps / (time.perf_counter() - t0)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the rows and print one line each."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--steps", type=int, default=3000, help="steps per timed run")
    p.add_argument("--repeat", type=int, default=3, help="runs per row; the best is reported")
    args = p.parse_args(argv)
    n, r = args.steps, args.repeat
    print(f"default scenario (50 agents); {n:,} steps per run, best of {r}")
    rows = [
        ("MarketEnv, render_mode=None", lambda: gym_rate(None, False, n), "steps/s"),
        ('MarketEnv, "rgb_array", no render()', lambda: gym_rate("rgb_array", False, n), "steps/s"),
        ('MarketEnv, "rgb_array" + render()', lambda: gym_rate("rgb_array", True, n), "steps/s"),
        ('MarketEnv, "ansi" + render()', lambda: gym_rate("ansi", True, n), "steps/s"),
        ("parallel_env(learners=1)", lambda: parallel_rate(1, n), "ticks/s"),
        ("parallel_env(learners=4)", lambda: parallel_rate(4, n), "ticks/s"),
        ("Execution-v0, TWAP", lambda: execution_rate(n), "steps/s"),
    ]
    for label, fn, unit in rows:
        rate = best(fn, r)
        extra = f"  ({rate * 4:,.0f} agent steps/s)" if "learners=4" in label else ""
        print(f"  {label:<40} {rate:>8,.0f} {unit}{extra}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
