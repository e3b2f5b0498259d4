"""``SB3VecEnv``: a :class:`~marketenv.vector_env.MarketVectorEnv` as a stable-baselines3 ``VecEnv``.

Importing this module imports stable-baselines3 (``import marketenv`` does not)::

    venv = SB3VecEnv(gym.make_vec("marketenv/Market-v0", num_envs=8))
    PPO("MlpPolicy", venv).learn(10_000)
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import gymnasium as gym
import numpy as np

from marketenv.errors import ConfigError
from marketenv.vector_env import MarketVectorEnv

try:
    from stable_baselines3.common.env_util import is_wrapped
    from stable_baselines3.common.vec_env import VecEnv
except ImportError:  # pragma: no cover - stable-baselines3 is in the rl and dev extras
    raise ImportError(
        "marketenv.sb3 needs stable-baselines3; install it with pip install 'marketenv[rl]'"
    ) from None


class SB3VecEnv(VecEnv):
    """The markets of a :class:`~marketenv.vector_env.MarketVectorEnv` under SB3's ``VecEnv`` API.

    Behaves as ``DummyVecEnv`` over the same ``MarketEnv`` s (outputs equal step for
    step): an env that ends is reset within the same step, its last observation is in
    its info's ``"terminal_observation"`` and its reset info in ``reset_infos``;
    ``dones = terminated | truncated``; ``info["TimeLimit.truncated"]`` is ``truncated
    and not terminated``; rewards are float32. ``seed(s)`` seeds env ``i`` with ``s + i``
    at the next ``reset``. The wrapped vector env's own autoreset mode is not used.

    Args:
        venv: The vector env (e.g. from ``gym.make_vec("marketenv/Market-v0", num_envs=N)``).

    Raises:
        ConfigError: ``venv`` is not a ``MarketVectorEnv``.
    """

    def __init__(self, venv: MarketVectorEnv) -> None:
        if not isinstance(venv, MarketVectorEnv):
            raise ConfigError(
                f"SB3VecEnv wraps a MarketVectorEnv (got {type(venv).__name__}); "
                "create one with gym.make_vec('marketenv/Market-v0', num_envs=N)"
            )
        self.venv = venv
        super().__init__(venv.num_envs, venv.single_observation_space, venv.single_action_space)
        self._rewards = np.zeros(venv.num_envs, dtype=np.float32)
        self._dones = np.zeros(venv.num_envs, dtype=np.bool_)
        self._actions: np.ndarray | None = None

    def reset(self) -> np.ndarray:
        """Reset every env (with the seeds and options set since the last reset)."""
        venv = self.venv
        for i in range(self.num_envs):
            _obs, self.reset_infos[i] = venv._reset_env(i, self._seeds[i], self._options[i] or None)
        self._reset_seeds()
        self._reset_options()
        return venv._obs.copy()

    def step_async(self, actions: np.ndarray) -> None:
        """Remember the actions of the next :meth:`step_wait`."""
        self._actions = actions

    def step_wait(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[dict[str, Any]]]:
        """Step every env, resetting those that end; ``(obs, rewards, dones, infos)``."""
        venv = self.venv
        acts = venv._actions(self._actions)
        n = self.num_envs
        lanes = venv.lanes
        if lanes is not None:  # every market's tick in one compiled call
            venv.tick_batched(acts)
            self._rewards[:] = venv._rewards
            ends = list(zip(lanes.info_list(), venv._terminations.tolist(), venv._truncations.tolist(), strict=True))
        else:
            ends = []
            for i in range(n):
                _obs, self._rewards[i], terminated, truncated, info = venv._step_env(i, acts[i])
                ends.append((info, terminated, truncated))
        infos: list[dict[str, Any]] = []
        for i, (info, terminated, truncated) in enumerate(ends):
            done = terminated or truncated
            self._dones[i] = done
            info["TimeLimit.truncated"] = truncated and not terminated
            if done:
                info["terminal_observation"] = venv._obs[i].copy()
                _obs, self.reset_infos[i] = venv._reset_env(i)
            infos.append(info)
        return venv._obs.copy(), self._rewards.copy(), self._dones.copy(), infos

    def seed(self, seed: int | None = None) -> Sequence[int | None]:
        """Seed env ``i`` with ``seed + i`` at the next reset (``None``: fresh entropy)."""
        self._seeds = [None if seed is None else int(seed) + i for i in range(self.num_envs)]
        return self._seeds

    def close(self) -> None:
        """Close the vector env."""
        self.venv.close()

    def get_images(self) -> Sequence[np.ndarray | None]:
        """Every env's RGB frame (``None`` each unless ``render_mode="rgb_array"``)."""
        if self.render_mode != "rgb_array":
            return [None] * self.num_envs
        return list(self.venv.render())

    def _targets(self, indices: Any) -> list[gym.Env]:
        return [self.venv.envs[i] for i in self._get_indices(indices)]

    def get_attr(self, attr_name: str, indices: Any = None) -> list[Any]:
        """Attribute ``attr_name`` of the envs at ``indices`` (all by default)."""
        return [env.get_wrapper_attr(attr_name) for env in self._targets(indices)]

    def set_attr(self, attr_name: str, value: Any, indices: Any = None) -> None:
        """Set attribute ``attr_name`` of the envs at ``indices``."""
        for env in self._targets(indices):
            setattr(env, attr_name, value)

    def env_method(self, method_name: str, *method_args: Any, indices: Any = None, **method_kwargs: Any) -> list[Any]:
        """Call method ``method_name`` of the envs at ``indices``."""
        return [env.get_wrapper_attr(method_name)(*method_args, **method_kwargs) for env in self._targets(indices)]

    def env_is_wrapped(self, wrapper_class: type[gym.Wrapper], indices: Any = None) -> list[bool]:
        """Whether the envs at ``indices`` are wrapped in ``wrapper_class`` (they are bare ``MarketEnv`` s)."""
        return [is_wrapped(env, wrapper_class) for env in self._targets(indices)]
