"""stable-baselines3 drives MarketEnv, and its models swap with rule-based policies."""

from __future__ import annotations

import dataclasses
import warnings
from collections.abc import Iterator

import gymnasium as gym
import numpy as np
import pytest

import marketenv
from agents.base import Policy
from marketenv.config import AgentGroupConfig, Config, default_config
from marketenv.env import MarketEnv

sb3 = pytest.importorskip("stable_baselines3")
torch = pytest.importorskip("torch")
from stable_baselines3 import PPO  # noqa: E402
from stable_baselines3.common.env_checker import check_env as sb3_check_env  # noqa: E402


def make(cfg: Config, **kw: object) -> gym.Env:
    return gym.make(marketenv.ENV_ID, config=cfg, normalize_reward=True, max_episode_steps=200, **kw)


@pytest.fixture(autouse=True)
def _one_thread() -> Iterator[None]:
    before = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny networks: threads only add overhead
    yield
    torch.set_num_threads(before)


@pytest.mark.parametrize("action_mode", ["discrete", "limit"])
def test_sb3_env_checker(small_cfg: Config, action_mode: str) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the unbounded float32 Box is intended
        sb3_check_env(make(small_cfg, action_mode=action_mode), warn=False)


@pytest.fixture(scope="module")
def trained() -> tuple[PPO, gym.Env]:
    """PPO trained for 2048 steps (n_steps=256) on a 15-agent market."""
    groups = (
        AgentGroupConfig(type="market_maker", count=2, initial_cash=1_000_000.0, position_limit=2000),
        AgentGroupConfig(type="noise_trader", count=8),
        AgentGroupConfig(type="momentum", count=2),
        AgentGroupConfig(type="value_trader", count=3),
    )
    cfg = dataclasses.replace(default_config(), agents=groups)
    cfg.validate()
    env = make(cfg)
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    model = PPO("MlpPolicy", env, n_steps=256, batch_size=64, n_epochs=2, seed=0, device="cpu", verbose=0)
    model.learn(total_timesteps=2048)
    torch.set_num_threads(before)
    return model, env


def test_ppo_learns_and_predicts(trained: tuple[PPO, gym.Env]) -> None:
    model, env = trained
    assert model.num_timesteps >= 2048
    obs, _ = env.reset(seed=123)
    for _ in range(20):
        action, state = model.predict(obs, deterministic=True)
        assert state is None
        assert env.action_space.contains(int(action))
        obs, reward, term, trunc, info = env.step(action)
        assert np.isfinite(reward)
        assert info["order_status"] in ("none", "filled", "cancelled", "rejected", "resting")


def test_ppo_limit_mode_smoke(small_cfg: Config) -> None:
    env = make(small_cfg, action_mode="limit")
    model = PPO("MlpPolicy", env, n_steps=128, batch_size=64, n_epochs=1, seed=0, device="cpu")
    model.learn(total_timesteps=256)
    obs, _ = env.reset(seed=0)
    action, _ = model.predict(obs)
    assert action.shape == (3,) and env.action_space.contains(action)
    env.step(action)


def test_trained_model_and_rule_based_policy_share_predict(trained: tuple[PPO, gym.Env], small_cfg: Config) -> None:
    model, _ = trained
    penv = marketenv.parallel_env(config=small_cfg, learners=["NoiseTrader_00", "NoiseTrader_01"], max_cycles=20)
    obs, _ = penv.reset(seed=0)
    policies = penv.rule_based_policies()
    raw = penv.simulation.obs  # the rule-based policies read raw features
    # Same protocol: predict(one observation) -> (action, state).
    for policy, o in ((model, obs["NoiseTrader_00"]), (policies["NoiseTrader_01"], raw[3])):
        assert isinstance(policy, Policy)
        out = policy.predict(o, state=None, episode_start=None, deterministic=True)
        assert isinstance(out, tuple) and len(out) == 2 and out[1] is None
        assert isinstance(out[0], np.ndarray)
    # The rule-based action is an order action; the model's becomes one through the env's codec.
    rule_action = policies["NoiseTrader_01"].predict(raw[3])[0]
    model_action = penv.codec.order(model.predict(obs["NoiseTrader_00"])[0], "NoiseTrader_00")
    assert model_action.shape == rule_action.shape == (2, 3)
    assert model_action.dtype == rule_action.dtype == np.int64
    # A model trained on MarketEnv drives learners of the parallel env as it is (same spaces).
    assert penv.action_space("NoiseTrader_00") == MarketEnv(small_cfg).action_space
    while penv.agents:
        obs, rewards, *_ = penv.step({a: model.predict(obs[a], deterministic=True)[0] for a in penv.agents})
        assert all(np.isfinite(r) for r in rewards.values())
    assert penv.agents == []
