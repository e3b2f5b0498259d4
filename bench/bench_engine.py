"""The compiled engine against the pure-Python reference, side by side in one run.

    python bench/bench_engine.py [--ticks 20000] [--rounds 3] [--steps 20000]

Prints, for the default (50 agents) and standard (100 agents) configs:

* headless ticks/s of ``Simulation.run`` (whole ticks in one compiled call) and of the
  reference (``Simulation(reference=True)``: the pure-Python order book, market and
  features), alternating A B A B ..., over process CPU time (a shared, noisy machine
  disturbs CPU time far less than wall time); medians and their ratio;
* ``gym.make("marketenv/Market-v0")`` steps/s, random actions (env and wrappers included),
  on its compiled path and, alternating with it, through ``Simulation.step`` and its
  ``Transition`` (the path every step took before the batched kernel);
* ``import marketenv`` plus the first tick in a fresh process with warm numba caches
  (wall time), and the same with an empty cache directory (the cold compile).

For the speed-up against an older commit (e.g. the Python engine at b2e1673) use
``bench/bench_vs_revision.py``.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

FIRST_TICK = """
import time
t0 = time.perf_counter()
import marketenv
from marketenv.simulation import Simulation
sim = Simulation(marketenv.config.default_config(), seed=1)
sim.run(1)
print(time.perf_counter() - t0)
"""


def headless(config: str, reference: bool, ticks: int) -> tuple[float, int]:
    from marketenv.config import load_config
    from marketenv.simulation import Simulation

    sim = Simulation(load_config(ROOT / "configs" / config), seed=7, reference=reference)
    sim.run(100)
    t0 = time.process_time()
    trades = sim.run(ticks)
    return ticks / (time.process_time() - t0), trades


def env_steps(steps: int, transition_path: bool = False) -> float:
    import gymnasium as gym
    import numpy as np

    import marketenv  # noqa: F401

    env = gym.make("marketenv/Market-v0", max_episode_steps=10**9)
    if transition_path:  # step through Simulation.step and its Transition, not the batched kernel
        env.unwrapped._lanes = None
    env.reset(seed=0)
    rng = np.random.default_rng(0)
    acts = rng.integers(0, env.action_space.n, steps)
    t0 = time.process_time()
    for a in acts.tolist():
        _obs, _r, term, trunc, _info = env.step(a)
        if term or trunc:
            env.reset()
    return steps / (time.process_time() - t0)


def first_tick(cache_dir: str | None) -> float:
    env = dict(os.environ)
    if cache_dir is not None:
        env["NUMBA_CACHE_DIR"] = cache_dir
    out = subprocess.run([sys.executable, "-c", FIRST_TICK], capture_output=True, text=True, check=True,
                         cwd=ROOT, env=env)
    return float(out.stdout.split()[-1])


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--ticks", type=int, default=20_000)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--steps", type=int, default=20_000)
    args = p.parse_args()
    print(f"{'config':<10} {'engine':>12} {'reference':>12} {'ratio':>7}  trades (engine run)")
    for config in ("default.toml", "standard.toml"):
        fast, ref = [], []
        headless(config, False, 200)  # compile / load the kernels outside the timing
        for _ in range(args.rounds):
            r, t_fast = headless(config, False, args.ticks)
            fast.append(r)
            r, t_ref = headless(config, True, max(args.ticks // 10, 1000))
            ref.append(r)
        a, b = statistics.median(fast), statistics.median(ref)
        print(f"{config[:-5]:<10} {a:>10,.0f}/s {b:>10,.0f}/s {a / b:>6.1f}x  {t_fast:,}")
    env_steps(500)
    env_steps(500, True)
    fast, slow = [], []
    for _ in range(args.rounds):
        fast.append(env_steps(args.steps))
        slow.append(env_steps(args.steps, True))
    a, b = statistics.median(fast), statistics.median(slow)
    print(f"MarketEnv via gym.make: {a:,.0f} steps/s (batched kernel); {b:,.0f} steps/s through "
          f"Simulation.step and its Transition; {a / b:.2f}x")
    warm = statistics.median(first_tick(None) for _ in range(3))
    with tempfile.TemporaryDirectory() as tmp:
        cold = first_tick(tmp)
        warm_fresh = first_tick(tmp)
    print(f"import marketenv + first tick: {warm:.2f} s with warm caches ({warm_fresh:.2f} s after a cold run), "
          f"{cold:.1f} s cold (compiling every kernel)")


if __name__ == "__main__":
    main()
