"""Train K PPO learners among the rule-based crowd with RLlib, through the PettingZoo env.

Needs the ``[rllib]`` extra (``pip install -e '.[rllib]'``)::

    python examples/rllib_multi_agent.py --learners 4 --iterations 5 [--separate] [--max-cycles 500]

With the default shared policy every learner's experience trains one network
(parameter sharing); ``--separate`` gives each learner its own policy. Each iteration
prints the mean episode return per policy, the iteration time and the env steps per
second (one env step is one market tick, with every learner acting).
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from typing import Any

ENV_NAME = "marketenv_k_learners"


def build(
    learners: int,
    separate: bool,
    max_cycles: int,
    config: str | None = None,
    batch: int = 1000,
    seed: int = 0,
) -> Any:
    """A built RLlib PPO algorithm over ``parallel_env(learners=learners)``.

    Args:
        learners: How many learners (the first noise traders of the config).
        separate: One policy per learner instead of one shared policy.
        max_cycles: Ticks per episode.
        config: A scenario TOML (default: the built-in scenario).
        batch: Env steps per training batch (per learner agent, as RLlib counts them).
        seed: Seed of RLlib's and the env's generators.
    """
    from ray.rllib.algorithms.ppo import PPOConfig
    from ray.rllib.core.rl_module.multi_rl_module import MultiRLModuleSpec
    from ray.rllib.core.rl_module.rl_module import RLModuleSpec
    from ray.rllib.env.wrappers.pettingzoo_env import ParallelPettingZooEnv
    from ray.tune.registry import register_env

    from marketenv import parallel_env

    def make(_cfg: Any) -> ParallelPettingZooEnv:
        return ParallelPettingZooEnv(parallel_env(config=config, learners=learners, max_cycles=max_cycles))

    register_env(ENV_NAME, make)
    agents = make({}).possible_agents
    policies = list(agents) if separate else ["shared"]

    def policy_of(agent_id: str, *args: Any, **kwargs: Any) -> str:
        return agent_id if separate else "shared"

    algo_config = (
        PPOConfig()
        .environment(ENV_NAME)
        .env_runners(num_env_runners=0, rollout_fragment_length="auto")
        .multi_agent(policies=set(policies), policy_mapping_fn=policy_of)
        .rl_module(rl_module_spec=MultiRLModuleSpec(rl_module_specs={p: RLModuleSpec() for p in policies}))
        .training(train_batch_size_per_learner=batch, minibatch_size=min(batch, 256), num_epochs=2, lr=3e-4)
        .debugging(seed=seed)
    )
    return algo_config.build_algo()


def main(argv: Sequence[str] | None = None) -> int:
    """Train and print one line per iteration.

    Returns:
        0, or 2 when ray[rllib] is not installed.
    """
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--learners", type=int, default=4, help="number of learners (default 4)")
    p.add_argument("--iterations", type=int, default=5, help="training iterations (default 5)")
    p.add_argument("--separate", action="store_true", help="one policy per learner (default: shared)")
    p.add_argument("--max-cycles", type=int, default=500, help="ticks per episode (default 500)")
    p.add_argument("--batch", type=int, default=1000, help="env steps per training batch (default 1000)")
    p.add_argument("--config", default=None, help="scenario TOML (default: the built-in one)")
    args = p.parse_args(argv)
    if args.iterations < 1 or args.learners < 1 or args.max_cycles < 1 or args.batch < 1:
        print("error: --iterations, --learners, --max-cycles and --batch must be >= 1", file=sys.stderr)
        return 2
    try:
        import ray
    except ImportError:
        print("error: ray[rllib] is not installed; pip install -e '.[rllib]'", file=sys.stderr)
        return 2
    ray.init(num_cpus=1, include_dashboard=False, log_to_driver=False, ignore_reinit_error=True)
    try:
        algo = build(args.learners, args.separate, args.max_cycles, args.config, args.batch)
        for it in range(1, args.iterations + 1):
            t0 = time.perf_counter()
            result = algo.train()
            dt = time.perf_counter() - t0
            runners = result.get("env_runners", {})
            steps = runners.get("num_env_steps_sampled", 0)
            returns = runners.get("module_episode_returns_mean", {})
            shown = "  ".join(f"{k} {v:+.2f}" for k, v in sorted(returns.items()))
            print(f"iteration {it}: {dt:.1f} s, {steps / dt:,.0f} env steps/s, mean return {shown or 'n/a'}")
        algo.stop()
    finally:
        ray.shutdown()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
