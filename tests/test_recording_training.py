"""RecordingWrapper during training: many episodes per file, vector envs, SB3, the parallel env, Minari."""

from __future__ import annotations

import dataclasses
import warnings
from pathlib import Path

import gymnasium as gym
import numpy as np
import pyarrow.parquet as pq
import pytest
from pettingzoo.test import parallel_api_test
from pettingzoo.utils.wrappers import BaseParallelWrapper

import marketenv
from marketenv.config import Config, SimulationConfig
from marketenv.feature_spec import FEATURE_NAMES
from marketenv.parallel_env import MarketParallelEnv
from recorders.check import check_recording
from recorders.recording_wrapper import ParallelRecordingWrapper, Recording, RecordingWrapper

FEATS = [f"f_{n}" for n in FEATURE_NAMES]


def _cfg(small_cfg: Config) -> Config:
    return dataclasses.replace(small_cfg, simulation=SimulationConfig(ticks=1000, seed=3))


def test_gym_wrapper_records_many_episodes_into_one_file(small_cfg: Config, tmp_path: Path) -> None:
    out = tmp_path / "train.parquet"
    env = gym.make(marketenv.ENV_ID, config=small_cfg, observation="raw", max_episode_steps=15)
    env = RecordingWrapper(env, out)
    assert isinstance(env, gym.Wrapper)
    expect_obs, expect_rew, expect_fill = [], [], []
    rng = np.random.default_rng(0)
    for ep in range(3):
        obs, _ = env.reset(seed=ep)
        done = False
        while not done:
            expect_obs.append(obs)
            obs, r, term, trunc, info = env.step(int(rng.integers(0, 3)))
            expect_rew.append(r)
            expect_fill.append(info["fill_quantity"])
            done = term or trunc
    env.close()
    t = pq.read_table(out)
    assert t.column_names[-2:] == ["episode", "env_index"]
    episode = t.column("episode").to_numpy()
    assert np.bincount(episode).tolist() == [15, 15, 15]
    assert (t.column("env_index").to_numpy() == 0).all()
    np.testing.assert_allclose(t.column("reward").to_numpy(), expect_rew, atol=1e-9)
    np.testing.assert_array_equal(t.column("fill_quantity").to_numpy(), expect_fill)
    feats = np.column_stack([t.column(c).to_numpy() for c in FEATS])
    np.testing.assert_allclose(feats, np.stack(expect_obs), rtol=1e-6)  # the raw obs were float32
    assert check_recording(out).ok, check_recording(out).format()
    from marketenv.report import ReportInputError, from_recording

    with pytest.raises(ReportInputError, match="3 episodes"):  # the report needs one continuous run
        from_recording(out)


def test_sb3_training_records_every_env_of_a_vector_env(small_cfg: Config, tmp_path: Path) -> None:
    pytest.importorskip("stable_baselines3")
    import torch
    from stable_baselines3 import PPO
    from stable_baselines3.common.env_util import make_vec_env

    torch.set_num_threads(1)
    rec = Recording(tmp_path / "ppo.parquet")
    vec = make_vec_env(
        marketenv.ENV_ID,
        n_envs=2,
        seed=0,
        env_kwargs={"config": small_cfg, "max_episode_steps": 40},
        wrapper_class=RecordingWrapper,
        wrapper_kwargs={"recording": rec},
    )
    model = PPO("MlpPolicy", vec, n_steps=48, batch_size=48, n_epochs=1, seed=0, device="cpu")
    model.learn(total_timesteps=96)
    vec.close()
    assert rec.path == tmp_path / "ppo.parquet" and rec.path.exists()
    t = pq.read_table(rec.path)
    env_index = t.column("env_index").to_numpy()
    episode = t.column("episode").to_numpy()
    assert np.bincount(env_index).tolist() == [48, 48]  # every step of each env
    for i in (0, 1):  # 48 steps of 40-step episodes: 40 rows of episode 0, 8 of episode 1
        assert np.bincount(episode[env_index == i]).tolist() == [40, 8]
    assert set(t.column("agent_id").to_numpy().tolist()) == {2}  # the learner slot


def test_parallel_wrapper_is_a_pettingzoo_wrapper(small_cfg: Config, tmp_path: Path) -> None:
    cfg = _cfg(small_cfg)
    env = RecordingWrapper(MarketParallelEnv(cfg, learners=3, max_cycles=12), tmp_path / "p.parquet")
    assert isinstance(env, BaseParallelWrapper)
    rewards = []
    for ep in range(2):
        env.reset(seed=ep)
        while env.agents:
            _o, r, *_ = env.step({a: env.action_space(a).sample() for a in env.agents})
            rewards.append([r[a] for a in env.possible_agents])
    path = env.close()
    t = pq.read_table(path)
    assert t.num_rows == 2 * 12 * 3
    assert np.bincount(t.column("episode").to_numpy()).tolist() == [36, 36]
    assert sorted(set(t.column("agent_id").to_numpy().tolist())) == [2, 3, 4]
    np.testing.assert_allclose(t.column("reward").to_numpy(), np.ravel(rewards), atol=1e-9)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        wrapped = RecordingWrapper(MarketParallelEnv(cfg, learners=2, max_cycles=20), tmp_path / "api.parquet")
        parallel_api_test(wrapped, num_cycles=20)
    wrapped.close()


def test_single_episode_layout_for_headless_recording(small_cfg: Config, tmp_path: Path) -> None:
    env = MarketParallelEnv(small_cfg, learners="all", observation="raw", warmup_ticks=0, max_cycles=30)
    rec = ParallelRecordingWrapper(env, tmp_path / "h.parquet", warmup=5)
    rec.reset(seed=1)
    sim = env.simulation
    for _ in range(30):
        rec.step_array(sim.crowd_actions(sim.obs))
    with pytest.raises(RuntimeError, match="one episode"):
        rec.reset(seed=2)
    path = rec.close()
    t = pq.read_table(path)
    assert "episode" not in t.column_names and t.num_rows == 25 * 15
    assert check_recording(path).ok


def test_shared_recording_rejects_reuse_after_close(small_cfg: Config, tmp_path: Path) -> None:
    rec = Recording(tmp_path / "x.parquet")
    env = RecordingWrapper(gym.make(marketenv.ENV_ID, config=small_cfg, max_episode_steps=3), recording=rec)
    env.reset(seed=0)
    for _ in range(3):
        env.step(1)
    env.close()
    assert rec.rows == 3 and rec.path is not None
    with pytest.raises(RuntimeError, match="closed"):
        RecordingWrapper(gym.make(marketenv.ENV_ID, config=small_cfg), recording=rec)
    with pytest.raises(ValueError, match="either an output path"):
        RecordingWrapper(gym.make(marketenv.ENV_ID, config=small_cfg), tmp_path / "y.parquet", recording=rec)


def test_recording_converts_to_minari(small_cfg: Config, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    minari = pytest.importorskip("minari")
    from recorders.minari_export import to_minari

    monkeypatch.setenv("MINARI_DATASETS_PATH", str(tmp_path / "minari"))
    out = tmp_path / "m.parquet"
    env = RecordingWrapper(gym.make(marketenv.ENV_ID, config=small_cfg, observation="raw", max_episode_steps=10), out)
    actions, rewards, first_obs = [], [], []
    for ep in range(2):
        obs, _ = env.reset(seed=ep)
        first_obs.append(obs)
        for k in range(10):
            a = (k + ep) % 3
            actions.append(a)
            _o, r, *_ = env.step(a)
            rewards.append(r)
    env.close()
    ds = to_minari(out, "marketenv/test-v0")
    assert ds.total_episodes == 2 and ds.total_steps == 18  # the last row of each episode is its final observation
    loaded = minari.load_dataset("marketenv/test-v0")
    for ep, episode in enumerate(loaded.iterate_episodes()):
        assert episode.observations.shape == (10, 45)
        np.testing.assert_allclose(episode.observations[0], first_obs[ep], rtol=1e-6)
        np.testing.assert_array_equal(episode.actions, actions[ep * 10 : ep * 10 + 9])  # discrete actions, exactly
        np.testing.assert_allclose(episode.rewards, rewards[ep * 10 : ep * 10 + 9], atol=1e-9)
        assert episode.truncations[-1] and not episode.terminations.any()
