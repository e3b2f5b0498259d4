"""MarketEnv in Gymnasium's vector envs (sync and async, fork and spawn)."""

from __future__ import annotations

import functools
import pickle

import gymnasium as gym
import numpy as np
from gymnasium.vector import AsyncVectorEnv, SyncVectorEnv

import marketenv
from marketenv.config import Config


def env_fns(cfg: Config, n: int = 2, **kw: object) -> list:
    return [functools.partial(gym.make, marketenv.ENV_ID, config=cfg, **kw) for _ in range(n)]


def run(vec: gym.vector.VectorEnv, steps: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray, dict]:
    obs, infos = vec.reset(seed=seed)
    assert obs.shape == (2, 45) and obs.dtype == np.float32
    assert set(infos) >= {"equity", "position", "order_status"}
    rewards = []
    for t in range(steps):
        obs, r, term, trunc, infos = vec.step(np.array([2, 0]) if t % 2 == 0 else np.array([1, 1]))
        rewards.append(r)
    return obs, np.array(rewards), infos


def test_env_fns_pickle(tiny_cfg: Config) -> None:
    fn = pickle.loads(pickle.dumps(env_fns(tiny_cfg)[0]))
    env = fn()
    assert env.reset(seed=0)[0].shape == (45,)


def test_make_vec_sync(tiny_cfg: Config) -> None:
    vec = gym.make_vec(marketenv.ENV_ID, num_envs=2, vectorization_mode="sync", config=tiny_cfg)
    try:
        obs, rewards, infos = run(vec, 6)
        assert rewards.shape == (6, 2)
        assert infos["position"].shape == (2,)
        assert (infos["fill_quantity"] != 0).any() or (infos["position"] != 0).any()
    finally:
        vec.close()


def test_sync_and_async_agree_and_seeds_differ(tiny_cfg: Config) -> None:
    sync = SyncVectorEnv(env_fns(tiny_cfg))
    asyn = AsyncVectorEnv(env_fns(tiny_cfg))
    try:
        o1, r1, i1 = run(sync, 5, seed=3)
        o2, r2, i2 = run(asyn, 5, seed=3)
    finally:
        sync.close()
        asyn.close()
    np.testing.assert_array_equal(o1, o2)
    np.testing.assert_array_equal(r1, r2)
    np.testing.assert_array_equal(i1["equity"], i2["equity"])
    assert not np.array_equal(o1[0], o1[1]), "sub-envs get different seeds"


def test_async_spawn_pickles_env_fns(tiny_cfg: Config) -> None:
    vec = AsyncVectorEnv(env_fns(tiny_cfg, action_mode="limit"), context="spawn")
    try:
        obs, _ = vec.reset(seed=1)
        assert obs.shape == (2, 45)
        vec.action_space.seed(0)
        for _ in range(3):
            obs, r, term, trunc, infos = vec.step(vec.action_space.sample())
        assert np.isfinite(obs).all() and r.shape == (2,)
    finally:
        vec.close()


def test_autoreset_after_truncation(tiny_cfg: Config) -> None:
    vec = gym.make_vec(
        marketenv.ENV_ID, num_envs=2, vectorization_mode="async", config=tiny_cfg.with_overrides(ticks=3)
    )
    try:
        vec.reset(seed=0)
        truncs = [vec.step(np.array([1, 1]))[3].tolist() for _ in range(5)]
    finally:
        vec.close()
    # Truncated at the third step; the fourth is the (next-step) autoreset; then it runs again.
    assert truncs[2] == [True, True]
    assert truncs[3] == [False, False] and truncs[4] == [False, False]
