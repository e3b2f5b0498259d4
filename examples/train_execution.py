"""Train PPO on ``marketenv/Execution-v0`` and compare its implementation shortfall with TWAP, VWAP-style and immediate execution.

    python examples/train_execution.py [--timesteps 100000] [--eval-seeds 200] [--side buy]

Every policy executes the same orders on the same unseen market seeds (evaluation seeds
are disjoint from the training episodes'), so the table also shows each policy's mean
paired difference with TWAP. Shortfall is in basis points of the arrival notional
(lower is better); ``+-`` is one standard error over the evaluation seeds.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable, Sequence
from typing import Any

import gymnasium as gym
import numpy as np

import marketenv
from marketenv.execution import ACTION_MEANINGS, TWAP, Immediate, VWAPStyle

_SHORT = ("wait", "passive", "half", "child", "2 children", "remainder")
EVAL_SEED_BASE = 1_000_000
"""Evaluation episodes use env seeds EVAL_SEED_BASE + k; training draws its own from seed 0."""


def evaluate(env: gym.Env, policy: Any, seeds: Sequence[int], actions: np.ndarray | None = None) -> np.ndarray:
    """Implementation shortfall (bps) of ``policy`` on one order per seed.

    Args:
        env: The execution env.
        policy: Anything with SB3's ``predict``.
        seeds: One order per seed.
        actions: If given, ``(6,)`` counts of the actions taken, updated in place.
    """
    out = []
    for s in seeds:
        obs, _ = env.reset(seed=int(s))
        done = False
        info: dict[str, Any] = {}
        while not done:
            action, _ = policy.predict(obs, deterministic=True)
            if actions is not None:
                actions[int(action)] += 1
            obs, _r, term, trunc, info = env.step(action)
            done = term or trunc
        out.append(info["shortfall_bps"])
    return np.array(out)


def table(results: dict[str, np.ndarray], reference: str = "TWAP") -> str:
    """The comparison table: mean +- standard error, and the paired difference with ``reference``."""
    ref = results[reference]
    n = len(ref)
    lines = [f"{'policy':<12} {'shortfall bps':>18} {'vs ' + reference + ' (paired)':>22} {'beats ' + reference:>10}"]
    for name, v in results.items():
        se = v.std(ddof=1) / np.sqrt(n) if n > 1 else float("nan")
        d = v - ref
        dse = d.std(ddof=1) / np.sqrt(n) if n > 1 else float("nan")
        diff = "" if name == reference else f"{d.mean():+.2f} +- {dse:.2f}"
        wins = "" if name == reference else f"{(d < 0).mean():.0%}"
        lines.append(f"{name:<12} {v.mean():>9.2f} +- {se:<6.2f} {diff:>22} {wins:>10}")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    """Train, evaluate, print the table.

    Returns:
        0, or 2 on bad arguments.
    """
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--timesteps", type=int, default=100_000, help="PPO training steps (default 100000)")
    p.add_argument("--eval-seeds", type=int, default=200, help="evaluation orders per policy (default 200)")
    p.add_argument("--side", choices=("buy", "sell"), default="buy", help="order side (default buy)")
    p.add_argument("--quantity", type=int, default=400, help="shares per order (default 400)")
    p.add_argument("--horizon", type=int, default=100, help="ticks per order (default 100)")
    p.add_argument("--envs", type=int, default=4, help="parallel training envs (default 4)")
    p.add_argument("--seed", type=int, default=0, help="training seed (default 0)")
    p.add_argument(
        "--gae-lambda",
        type=float,
        default=1.0,
        help="PPO's GAE lambda (default 1.0: Monte Carlo returns, so the deadline's cost reaches the early waits)",
    )
    p.add_argument(
        "--ent-coef", type=float, default=0.01, help="PPO's entropy bonus (default 0.01: without it PPO can collapse to waiting)"
    )
    args = p.parse_args(argv)
    if args.timesteps < 1 or args.eval_seeds < 2 or args.envs < 1 or not 0 <= args.gae_lambda <= 1:
        print("error: --timesteps and --envs must be >= 1, --eval-seeds >= 2, --gae-lambda in [0, 1]", file=sys.stderr)
        return 2
    try:
        import torch
        from stable_baselines3 import PPO
        from stable_baselines3.common.env_util import make_vec_env
    except ImportError:
        print("error: stable-baselines3 is not installed; pip install -e '.[rl]'", file=sys.stderr)
        return 2
    torch.set_num_threads(1)
    kw = {"side": args.side, "quantity": args.quantity, "horizon": args.horizon}
    t0 = time.perf_counter()
    vec = make_vec_env(marketenv.EXECUTION_ENV_ID, n_envs=args.envs, seed=args.seed, env_kwargs=kw)
    model = PPO(
        "MlpPolicy", vec, n_steps=256, batch_size=256, gamma=1.0, gae_lambda=args.gae_lambda, ent_coef=args.ent_coef,
        seed=args.seed, device="cpu",
    )
    model.learn(total_timesteps=args.timesteps)
    train_s = time.perf_counter() - t0
    env = gym.make(marketenv.EXECUTION_ENV_ID, **kw)
    seeds = range(EVAL_SEED_BASE, EVAL_SEED_BASE + args.eval_seeds)
    policies: dict[str, Callable[[], Any]] = {
        "TWAP": TWAP,
        "VWAP-style": lambda: VWAPStyle(env),
        "immediate": Immediate,
        "PPO": lambda: model,
    }
    t1 = time.perf_counter()
    counts = {name: np.zeros(len(ACTION_MEANINGS), dtype=np.int64) for name in policies}
    results = {name: evaluate(env, make(), seeds, counts[name]) for name, make in policies.items()}
    print(
        f"{args.side} {args.quantity} shares in {args.horizon} ticks; PPO {args.timesteps:,} steps "
        f"({train_s:.0f} s); {args.eval_seeds} unseen orders ({time.perf_counter() - t1:.0f} s)"
    )
    print(table(results))
    share = counts["PPO"] / max(counts["PPO"].sum(), 1)
    print("PPO's actions: " + ", ".join(f"{w} {f:.0%}" for w, f in zip(_SHORT, share, strict=True)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
