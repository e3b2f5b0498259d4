"""PettingZoo's SB3 tutorial pattern (SuperSuit vector env + PPO) on K learners among the crowd."""

from __future__ import annotations

import numpy as np
import pytest

from marketenv import parallel_env
from marketenv.config import Config

ss = pytest.importorskip("supersuit")
pytest.importorskip("stable_baselines3")
torch = pytest.importorskip("torch")
from stable_baselines3 import PPO  # noqa: E402


@pytest.mark.parametrize("action_mode", ["discrete", "order"])
def test_supersuit_vec_env_trains_ppo(small_cfg: Config, action_mode: str) -> None:
    torch.set_num_threads(1)
    env = parallel_env(config=small_cfg, learners=3, action_mode=action_mode, max_cycles=20)
    vec = ss.pettingzoo_env_to_vec_env_v1(env)
    vec = ss.concat_vec_envs_v1(vec, 2, num_cpus=0, base_class="stable_baselines3")
    assert vec.num_envs == 6  # 3 learners x 2 copies
    # No seed=: SuperSuit's ConcatVecEnv has no seed(), which SB3 calls for a seeded model.
    model = PPO("MlpPolicy", vec, n_steps=16, batch_size=48, n_epochs=1, device="cpu")
    model.learn(total_timesteps=192)  # 2 rollouts, crossing episode ends (20 ticks)
    assert model.num_timesteps >= 192
    obs = vec.reset()
    assert obs.shape == (6, 45) and obs.dtype == np.float32 and np.abs(obs).max() <= 10
    actions, _ = model.predict(obs)
    obs, rewards, dones, infos = vec.step(actions)
    assert rewards.shape == (6,) and np.isfinite(rewards).all()
    assert {"equity", "position"} <= set(infos[0])
    vec.close()
