"""Train PPO on ``MarketEnv`` and compare it with hold and random baselines.

The learner takes over one noise trader's slot of a config (default: the built-in
50-agent market) and trades ``order_size`` shares at market (``Discrete(3)``: sell /
hold / buy). PPO (stable-baselines3, CPU) trains on short episodes with rewards
normalised by the initial cash and observations standardised by ``VecNormalize``. The
trained policy, a hold-only policy and a uniformly random policy are then evaluated on
the same episode seeds, none of which (nor any market they start) was used in training.
The script prints a comparison table and writes a plot to ``--out-dir``::

    .venv/bin/python examples/train_ppo.py                  # a few minutes on CPU
    .venv/bin/python examples/train_ppo.py --timesteps 20000 --eval-episodes 5  # quick look

Outputs (``--out-dir``, default ``examples/out/``): ``ppo_market.png`` (training curve,
mean evaluation P&L over the episode, final P&L per policy), ``ppo_market.zip`` (the
model) and ``ppo_market_vecnormalize.pkl`` (the observation statistics it needs).
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import gymnasium as gym
import matplotlib
import numpy as np

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import torch  # noqa: E402
from stable_baselines3 import PPO  # noqa: E402
from stable_baselines3.common.monitor import Monitor  # noqa: E402
from stable_baselines3.common.vec_env import DummyVecEnv, VecNormalize  # noqa: E402

from marketenv.config import load_config  # noqa: E402
from marketenv.env import MarketEnv  # noqa: E402

EVAL_SEED_OFFSET = 1_000_000
"""Evaluation episodes reset with seeds ``EVAL_SEED_OFFSET + seed * 1000 + k``; training
environments with ``seed + i`` (and then their own seeded streams)."""


class MarketSeedLog(gym.Wrapper):
    """Remembers the root seed of every market an episode starts (to prove train/eval disjointness)."""

    def __init__(self, env: gym.Env, log: set[int]) -> None:
        super().__init__(env)
        self.log = log

    def reset(self, **kwargs: Any) -> tuple[Any, dict[str, Any]]:
        out = self.env.reset(**kwargs)
        self.log.add(self.env.unwrapped.simulation.seed)
        return out


@dataclass
class Episode:
    """One evaluation episode of one policy."""

    pnl: float
    """Final equity minus initial equity, currency units."""
    ret_pct: float
    """Sum of the normalised rewards, percent of the initial cash."""
    fills: int
    """Steps in which the learner traded."""
    max_abs_position: int
    curve: np.ndarray
    """Equity minus initial equity after every step."""


def make_env(args: argparse.Namespace) -> MarketEnv:
    return MarketEnv(
        args.config,
        order_size=args.order_size,
        normalize_reward=True,
        max_episode_steps=args.episode_length,
    )


def evaluate(
    act: Callable[[np.ndarray], int], env: MarketEnv, seeds: Sequence[int], seed_log: set[int]
) -> list[Episode]:
    """Run one episode per seed with the policy ``act(obs) -> action``."""
    episodes = []
    for s in seeds:
        obs, info = env.reset(seed=s)
        seed_log.add(env.simulation.seed)
        start = info["equity"]
        curve, total, fills, max_pos = [], 0.0, 0, 0
        done = False
        while not done:
            obs, reward, terminated, truncated, info = env.step(act(obs))
            total += reward
            fills += info["fill_quantity"] != 0
            max_pos = max(max_pos, abs(info["position"]))
            curve.append(info["equity"] - start)
            done = terminated or truncated
        episodes.append(Episode(curve[-1], 100.0 * total, fills, max_pos, np.array(curve)))
    return episodes


def summary(name: str, eps: list[Episode]) -> dict[str, Any]:
    pnl = [e.pnl for e in eps]
    return {
        "policy": name,
        "episodes": len(eps),
        "mean_pnl": statistics.fmean(pnl),
        "std_pnl": statistics.stdev(pnl) if len(pnl) > 1 else 0.0,
        "se_pnl": statistics.stdev(pnl) / len(pnl) ** 0.5 if len(pnl) > 1 else 0.0,
        "median_pnl": statistics.median(pnl),
        "win_rate": 100.0 * sum(p > 0 for p in pnl) / len(pnl),
        "mean_ret_pct": statistics.fmean(e.ret_pct for e in eps),
        "fills": statistics.fmean(e.fills for e in eps),
        "max_pos": statistics.fmean(e.max_abs_position for e in eps),
    }


def print_table(rows: list[dict[str, Any]]) -> None:
    head = (
        f"{'policy':<8} {'episodes':>8} {'mean P&L':>10} {'s.e.':>8} {'std':>9} {'median':>9} {'win %':>6} "
        f"{'return %':>9} {'fills/ep':>8} {'max|pos|':>8}"
    )
    print(head)
    print("-" * len(head))
    for r in rows:
        print(
            f"{r['policy']:<8} {r['episodes']:>8} {r['mean_pnl']:>10.2f} {r['se_pnl']:>8.2f} {r['std_pnl']:>9.2f} "
            f"{r['median_pnl']:>9.2f} {r['win_rate']:>6.1f} {r['mean_ret_pct']:>9.4f} {r['fills']:>8.1f} {r['max_pos']:>8.1f}"
        )


def plot(path: Path, monitor_returns: list[tuple[int, float]], results: dict[str, list[Episode]], title: str) -> None:
    fig, axes = plt.subplots(1, 3, figsize=(16, 4.5))
    ax = axes[0]
    if monitor_returns:
        steps, rets = zip(*monitor_returns, strict=True)
        ax.plot(steps, 100.0 * np.array(rets), ".", alpha=0.3, label="episode")
        k = max(1, len(rets) // 20)
        smooth = np.convolve(100.0 * np.array(rets), np.ones(k) / k, mode="valid")
        ax.plot(steps[k - 1 :], smooth, label=f"mean of {k}")
    ax.set(title="training episodes", xlabel="timesteps", ylabel="return, % of initial cash")
    ax.legend()
    ax = axes[1]
    for name, eps in results.items():
        curves = np.array([e.curve for e in eps if len(e.curve) == len(eps[0].curve)])
        mean = curves.mean(axis=0)
        sd = curves.std(axis=0)
        x = np.arange(1, len(mean) + 1)
        ax.plot(x, mean, label=name)
        ax.fill_between(x, mean - sd, mean + sd, alpha=0.15)
    ax.axhline(0.0, color="grey", lw=0.5)
    ax.set(title="evaluation: P&L over the episode (mean ± sd)", xlabel="step", ylabel="P&L, currency units")
    ax.legend()
    ax = axes[2]
    names = list(results)
    ax.boxplot([[e.pnl for e in results[n]] for n in names], tick_labels=names)
    ax.axhline(0.0, color="grey", lw=0.5)
    ax.set(title="evaluation: final P&L per episode", ylabel="P&L, currency units")
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv: Sequence[str] | None = None) -> int:
    """Train, evaluate, print the table and save the plot.

    Args:
        argv: Command-line arguments (default ``sys.argv[1:]``).

    Returns:
        0.
    """
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--timesteps", type=int, default=100_000, help="PPO training timesteps")
    p.add_argument("--eval-episodes", type=int, default=20, help="evaluation episodes per policy")
    p.add_argument("--episode-length", type=int, default=500, help="steps per episode (truncation)")
    p.add_argument("--out-dir", type=Path, default=Path(__file__).resolve().parent / "out")
    p.add_argument("--seed", type=int, default=0, help="seeds training, the random baseline and the eval seed range")
    p.add_argument("--config", default=None, help="a config TOML (default: the built-in 50-agent market)")
    p.add_argument("--order-size", type=int, default=10, help="shares per market order")
    p.add_argument("--n-envs", type=int, default=4, help="training environments (in-process)")
    p.add_argument("--threads", type=int, default=1, help="torch threads")
    args = p.parse_args(argv)
    args.config = load_config(args.config)
    args.out_dir.mkdir(parents=True, exist_ok=True)
    torch.set_num_threads(args.threads)

    # ---------------------------------------------------------------- training
    train_seeds: set[int] = set()
    venv = DummyVecEnv([lambda: Monitor(MarketSeedLog(make_env(args), train_seeds)) for _ in range(args.n_envs)])
    venv.seed(args.seed)  # sub-env i resets with seed + i, then continues its own stream
    venv = VecNormalize(venv, norm_obs=True, norm_reward=False, clip_obs=10.0)
    model = PPO(
        "MlpPolicy",
        venv,
        n_steps=512,
        batch_size=256,
        n_epochs=5,
        learning_rate=3e-4,
        gamma=0.99,
        ent_coef=0.01,
        policy_kwargs={"net_arch": [64, 64]},
        seed=args.seed,
        device="cpu",
        verbose=0,
    )
    agent = make_env(args)
    print(
        f"training PPO for {args.timesteps:,} timesteps: learner {agent.agent_name} in a "
        f"{args.config.n_agents}-agent market, {args.n_envs} envs, episodes of {args.episode_length} steps"
    )
    t0 = time.perf_counter()
    model.learn(total_timesteps=args.timesteps)
    train_wall = time.perf_counter() - t0
    # The envs finish their episodes in lock step: the i-th finished episode (1-based,
    # interleaved over the envs) ended after about i * episode_length timesteps.
    per_env = [m.get_episode_rewards() for m in venv.venv.envs]  # type: ignore[attr-defined]
    rets = [r[k] for k in range(max(map(len, per_env), default=0)) for r in per_env if k < len(r)]
    monitor_returns = [((i + 1) * args.episode_length, r) for i, r in enumerate(rets)]
    print(f"trained in {train_wall:.1f} s ({model.num_timesteps / train_wall:,.0f} steps/s), "
          f"{len(monitor_returns)} training episodes on {len(train_seeds)} markets")
    model.save(args.out_dir / "ppo_market.zip")
    venv.save(str(args.out_dir / "ppo_market_vecnormalize.pkl"))

    # ---------------------------------------------------------------- evaluation
    venv.training = False
    eval_seeds = [EVAL_SEED_OFFSET + args.seed * 1000 + k for k in range(args.eval_episodes)]
    rng = np.random.default_rng(args.seed + 7)
    policies: dict[str, Callable[[np.ndarray], int]] = {
        "ppo": lambda obs: int(model.predict(venv.normalize_obs(obs), deterministic=True)[0]),
        "hold": lambda obs: 1,
        "random": lambda obs: int(rng.integers(0, 3)),
    }
    eval_markets: set[int] = set()
    results: dict[str, list[Episode]] = {}
    t0 = time.perf_counter()
    for name, act in policies.items():
        results[name] = evaluate(act, make_env(args), eval_seeds, eval_markets)
    eval_wall = time.perf_counter() - t0
    overlap = train_seeds & eval_markets
    if overlap:  # pragma: no cover - reset seeds of training and evaluation never coincide
        raise RuntimeError(f"evaluation reused training markets {sorted(overlap)[:3]}")
    print(
        f"evaluated {len(policies)} policies x {args.eval_episodes} episodes in {eval_wall:.1f} s on reset seeds "
        f"{eval_seeds[0]}..{eval_seeds[-1]} ({len(eval_markets)} markets, none used in training)\n"
    )
    cash0 = agent.reset(seed=eval_seeds[0])[1]["cash"]
    print(f"P&L in currency units over {args.episode_length} steps (initial cash {cash0:,.0f}); "
          "s.e. = standard error of the mean;")
    print("return % = sum of normalised rewards x 100; max|pos| = mean over episodes of the largest |position|\n")
    rows = [summary(name, eps) for name, eps in results.items()]
    print_table(rows)
    path = args.out_dir / "ppo_market.png"
    plot(path, monitor_returns, results, f"PPO vs baselines, {args.timesteps:,} timesteps, seed {args.seed}")
    print(f"\nplot: {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
