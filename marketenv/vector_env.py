"""``MarketVectorEnv``: N independent markets in one process (a Gymnasium ``VectorEnv``).

``gym.make_vec("marketenv/Market-v0", num_envs=N, **kwargs)`` returns it (the spec's
``vector_entry_point``). It holds one ``MarketEnv(**kwargs)`` per slot, which builds and
resets that slot's market. A step runs the tick of every market in one compiled call
(:class:`~marketenv.env_common.LearnerBatch`) and writes the results into preallocated
batch arrays; with ``render_mode`` set, or a config whose crowd cannot run compiled, it
steps the envs one by one instead. Either way its outputs equal those of
``gym.vector.SyncVectorEnv`` over the same envs, seed for seed.
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numba as nb
import numpy as np
from gymnasium.vector import AutoresetMode
from gymnasium.vector.utils import batch_space

from marketenv.batch import Parallel, check_parallel
from marketenv.env import MarketEnv, resolve_config
from marketenv.env_common import LearnerBatch
from marketenv.errors import ConfigError, InvalidActionError, ResetNeeded

_SCALARS = (int, float, bool, np.number)


def check_num_envs(num_envs: Any) -> int:
    """``num_envs`` as an int >= 1.

    Raises:
        ConfigError: It is not a positive integer.
    """
    if isinstance(num_envs, bool) or not isinstance(num_envs, int | np.integer) or num_envs < 1:
        raise ConfigError(f"num_envs must be a positive integer (got {num_envs!r}); pass num_envs=1 or more")
    return int(num_envs)


def _column_dtype(value: Any) -> Any:
    """The batch dtype ``VectorEnv._add_info`` gives a scalar info value (None: not a scalar)."""
    if type(value) in (int, float, bool) or isinstance(value, np.number):
        return type(value)
    if isinstance(value, str):
        return object
    return None


class MarketVectorEnv(gym.vector.VectorEnv):
    """``num_envs`` independent :class:`~marketenv.env.MarketEnv` markets stepped in one process.

    Env ``i`` is its own ``MarketEnv(**env_kwargs)`` with its own generator:
    ``reset(seed=s)`` seeds env ``i`` with ``s + i`` (a list seeds each env), exactly as
    :class:`gymnasium.vector.SyncVectorEnv` does, so the two give identical batches.

    Spaces are the batched single-env spaces (``batch_space``): observations
    ``(num_envs, 45)`` float32, written into one preallocated array; rewards float64;
    infos are a vector-env dict (one array per key plus a ``_key`` mask).

    Autoreset (``metadata["autoreset_mode"]``): ``NEXT_STEP`` (default) resets an env on
    the step after it ended (that step's reward is 0, its flags False and its action
    ignored); ``SAME_STEP`` resets it at once and puts the last observation and info in
    ``infos["final_obs"]`` / ``infos["final_info"]``; ``DISABLED`` leaves resetting to
    ``reset(options={"reset_mask": mask})``.

    ``max_episode_steps`` acts like the ``TimeLimit`` that ``gym.make`` adds: an episode
    is truncated after that many steps, or earlier at the env's own limit (its config's
    ``simulation.ticks``); ``make_vec`` passes the spec's value when none is given.

    Args:
        num_envs: Number of markets (>= 1).
        max_episode_steps: Steps before truncation, or ``None`` for the env's own limit.
        autoreset_mode: An :class:`~gymnasium.vector.AutoresetMode` or its value.
        copy: Return a copy of the observation batch (else the internal array, which
            the next ``step`` overwrites).
        parallel: Where the markets' ticks run: ``True`` on numba's threads
            (``NUMBA_NUM_THREADS``, one per core by default), ``False`` one after another,
            ``"auto"`` (default) whichever is faster at the time: it times three steps of
            each after 500 steps, then less often while the choice holds (at most every
            8,000). Threads are about 1.9x faster on two idle cores and
            slower when other processes keep the cores busy. ``"auto"`` stays serial with
            one usable core or thread, fewer than 8 markets per thread, without TBB or
            OpenMP (numba's workqueue fallback is unsafe with Python threads), or in a
            process forked from one whose markets ran on threads. The results are identical
            either way.
        **env_kwargs: Keyword arguments of :class:`~marketenv.env.MarketEnv` (same for
            every env; ``config`` is loaded once).

    Raises:
        ConfigError: ``num_envs``, ``max_episode_steps``, ``autoreset_mode`` or
            ``parallel`` is invalid, or the config is.
    """

    def __init__(
        self,
        num_envs: int = 1,
        max_episode_steps: int | None = None,
        autoreset_mode: str | AutoresetMode = AutoresetMode.NEXT_STEP,
        copy: bool = True,
        parallel: Parallel = "auto",
        **env_kwargs: Any,
    ) -> None:
        n = check_num_envs(num_envs)
        parallel = check_parallel(parallel)
        if max_episode_steps is not None and (
            isinstance(max_episode_steps, bool)
            or not isinstance(max_episode_steps, int | np.integer)
            or max_episode_steps < 1
        ):
            raise ConfigError(
                f"max_episode_steps must be a positive integer or None (got {max_episode_steps!r}); "
                "pass max_episode_steps=1 or more"
            )
        try:
            self.autoreset_mode = AutoresetMode(autoreset_mode)
        except ValueError:
            modes = ", ".join(repr(m.value) for m in AutoresetMode)
            raise ConfigError(f"autoreset_mode must be one of {modes} (got {autoreset_mode!r})") from None
        env_kwargs["config"] = resolve_config(env_kwargs.get("config"))
        self.envs: list[MarketEnv] = [MarketEnv(**env_kwargs) for _ in range(n)]
        """The markets, in slot order."""
        self.num_envs = n
        self.max_episode_steps = None if max_episode_steps is None else int(max_episode_steps)
        self.copy = bool(copy)
        first = self.envs[0]
        self.metadata = {**first.metadata, "autoreset_mode": self.autoreset_mode}
        self.render_mode = first.render_mode
        self.single_observation_space = first.observation_space
        self.single_action_space = first.action_space
        self.observation_space = batch_space(self.single_observation_space, n)
        self.action_space = batch_space(self.single_action_space, n)
        space = self.single_observation_space
        self._obs = np.zeros((n, *space.shape), dtype=space.dtype)
        self._rewards = np.zeros(n, dtype=np.float64)
        self._terminations = np.zeros(n, dtype=np.bool_)
        self._truncations = np.zeros(n, dtype=np.bool_)
        self._autoreset = np.zeros(n, dtype=np.bool_)
        self._elapsed = np.zeros(n, dtype=np.int64)
        self._lanes = first.batch(n, parallel) if self.render_mode is None else None
        self._orders = np.zeros((n, 6), dtype=np.int64)
        if self._lanes is not None:  # the batch reads the orders and writes the results in place
            lanes = self._lanes
            self._obs, self._rewards, self._terminations = lanes.obs, lanes.rewards, lanes.terminated
            self._orders = lanes.orders
        self._all = np.ones(n, dtype=np.bool_)
        self._none = np.zeros(n, dtype=np.bool_)
        self._env_limit = first.max_episode_steps

    # ------------------------------------------------------------ one env
    def _reset_env(self, i: int, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[np.ndarray, dict]:
        """Reset env ``i`` into row ``i`` of the batch; its observation and info."""
        env = self.envs[i]
        obs, info = env.reset(seed=seed, options=options)
        self._obs[i] = obs
        self._elapsed[i] = 0
        if self._lanes is not None:
            self._lanes.start(i, env.simulation)
        return obs, info

    def _step_env(self, i: int, action: Any) -> tuple[np.ndarray, float, bool, bool, dict]:
        """Step env ``i`` (time limit applied) into row ``i`` of the batch."""
        obs, reward, terminated, truncated, info = self.envs[i].step(action)
        self._obs[i] = obs
        self._elapsed[i] += 1
        if self.max_episode_steps is not None and self._elapsed[i] >= self.max_episode_steps:
            truncated = True
        return obs, reward, terminated, truncated, info

    def _actions(self, actions: Any) -> np.ndarray:
        """The batch of actions as an array with one row per env."""
        arr = np.asarray(actions)
        if arr.ndim == 0 or arr.shape[0] != self.num_envs:
            raise InvalidActionError(
                f"actions must hold one action per env, shape ({self.num_envs}, ...) (got shape {arr.shape}); "
                "pass a batch from action_space"
            )
        return arr

    # ------------------------------------------------------------ infos
    def _batch_infos(self, infos: list[dict[str, Any]], rows: list[int]) -> dict[str, Any]:
        """The vector-env info dict of ``infos[k]`` (env ``rows[k]``), as ``_add_info`` builds it."""
        n = self.num_envs
        first = infos[0]
        keys = first.keys()
        dtypes = [_column_dtype(v) for v in first.values()]
        if len(rows) == n and None not in dtypes and all(info.keys() == keys for info in infos[1:]):
            out: dict[str, Any] = {}
            mask = np.ones(n, dtype=np.bool_)
            for key, dtype in zip(keys, dtypes, strict=True):
                out[key] = np.array([info[key] for info in infos], dtype=dtype)
                out[f"_{key}"] = mask.copy()
            return out
        out = {}
        for info, i in zip(infos, rows, strict=True):
            out = self._add_info(out, info, i)
        return out

    # ------------------------------------------------------------ API
    def reset(
        self, *, seed: int | list[int | None] | None = None, options: dict[str, Any] | None = None
    ) -> tuple[np.ndarray, dict[str, Any]]:
        """Reset every env (or those of ``options["reset_mask"]``).

        Args:
            seed: ``None`` (fresh entropy), an int ``s`` (env ``i`` gets ``s + i``) or one
                seed per env.
            options: Passed to each env's ``reset``; a ``"reset_mask"`` (bool array, one
                per env) resets only the envs it marks.

        Returns:
            The observation batch and the vector-env info dict.

        Raises:
            ConfigError: The seed list or the reset mask does not match ``num_envs``.
        """
        n = self.num_envs
        if seed is None:
            seeds: list[int | None] = [None] * n
        elif isinstance(seed, int | np.integer):
            super().reset(seed=int(seed))
            seeds = [int(seed) + i for i in range(n)]
        else:
            seeds = list(seed)
            if len(seeds) != n:
                raise ConfigError(f"seed list has {len(seeds)} seeds for {n} envs; pass one seed per env or an int")
        mask = np.ones(n, dtype=np.bool_)
        if options is not None and "reset_mask" in options:
            options = dict(options)
            mask = np.asarray(options.pop("reset_mask"))
            if mask.dtype != np.bool_ or mask.shape != (n,) or not mask.any():
                raise ConfigError(
                    f"reset_mask must be a bool array of shape ({n},) with a True value "
                    f"(got {mask.dtype} {mask.shape}); mark the envs to reset"
                )
        rows = [i for i in range(n) if mask[i]]
        infos = []
        for i in rows:
            infos.append(self._reset_env(i, seeds[i], options)[1])
        self._terminations[mask] = False
        self._truncations[mask] = False
        self._autoreset[mask] = False
        obs = self._obs.copy() if self.copy else self._obs
        return obs, self._batch_infos(infos, rows)

    def step(self, actions: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, dict[str, Any]]:
        """Step every env with its row of ``actions`` (autoresetting as ``autoreset_mode`` says).

        Raises:
            InvalidActionError: ``actions`` has no row per env, or an env rejects its action.
            ResetNeeded: An env is stepped after its end with autoreset disabled, or
                before the first ``reset``.
        """
        acts = self._actions(actions)
        mode = self.autoreset_mode
        if mode is AutoresetMode.DISABLED and self._autoreset.any():  # checked before any env moves
            i = int(np.flatnonzero(self._autoreset)[0])
            raise ResetNeeded(
                f"env {i} was stepped after its episode ended (autoreset disabled); "
                "reset it with reset(options={'reset_mask': mask})"
            )
        if self._lanes is not None:
            return self._step_batched(acts)
        rewards, terms, truncs = self._rewards, self._terminations, self._truncations
        infos: list[dict[str, Any]] = []
        finals: list[tuple[int, np.ndarray, dict[str, Any]]] = []
        for i in range(self.num_envs):
            if mode is AutoresetMode.NEXT_STEP and self._autoreset[i]:
                info = self._reset_env(i)[1]
                rewards[i] = 0.0
                terms[i] = truncs[i] = False
            else:
                obs, rewards[i], terms[i], truncs[i], info = self._step_env(i, acts[i])
                if mode is AutoresetMode.SAME_STEP and (terms[i] or truncs[i]):
                    finals.append((i, obs, info))
                    info = self._reset_env(i)[1]
            infos.append(info)
        out = self._batch_infos(infos, list(range(self.num_envs)))
        for i, obs, info in finals:
            out = self._add_info(out, {"final_obs": obs, "final_info": info}, i)
        np.logical_or(terms, truncs, out=self._autoreset)
        obs_batch = self._obs.copy() if self.copy else self._obs
        return obs_batch, rewards.copy(), terms.copy(), truncs.copy(), out

    def tick_batched(self, acts: np.ndarray, stepping: np.ndarray | None = None) -> None:
        """Step the envs ``stepping`` marks (all by default) in one compiled call, without autoreset.

        Afterwards the rewards, terminations, truncations (time limits applied) and
        observations of those envs are in the batch arrays, and their infos in
        ``lanes.info(i)`` / ``lanes.infos()``. For adapters with their own reset rules
        (:class:`~marketenv.sb3.SB3VecEnv`); needs the compiled path (:attr:`batched`).
        """
        lanes = self._lanes
        assert lanes is not None
        if stepping is None:
            stepping = self._all
        envs = self.envs
        envs[0].codec.orders(acts, stepping, self._orders, lambda i: envs[i].agent_name)
        lanes.step(self._orders, stepping)
        limit = -1 if self.max_episode_steps is None else self.max_episode_steps
        _time_limits(stepping, self._terminations, self._elapsed, self._env_limit, limit, self._truncations)

    @property
    def batched(self) -> bool:
        """Whether a step runs every market in one compiled call (see the module docstring)."""
        return self._lanes is not None

    @property
    def lanes(self) -> LearnerBatch | None:
        """The compiled batch behind :meth:`tick_batched` (``None`` when not :attr:`batched`)."""
        return self._lanes

    def _step_batched(self, acts: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, dict[str, Any]]:
        """:meth:`step` with every market's tick in one compiled call (same results)."""
        lanes = self._lanes
        assert lanes is not None
        mode = self.autoreset_mode
        resetting = self._autoreset.copy() if mode is AutoresetMode.NEXT_STEP and self._autoreset.any() else None
        self.tick_batched(acts, self._all if resetting is None else ~resetting)
        rewards, terms, truncs = self._rewards, self._terminations, self._truncations
        out = lanes.infos(masks=True)  # every env has every key
        rows = [] if resetting is None else np.flatnonzero(resetting).tolist()
        if mode is AutoresetMode.SAME_STEP:
            ended = np.flatnonzero(terms | truncs).tolist()
            finals = [(i, lanes.obs[i].copy(), lanes.info(i)) for i in ended]
            rows = ended
        for i in rows:
            info = self._reset_env(i)[1]
            for key, value in info.items():
                out[key][i] = value
        if resetting is not None:
            rewards[resetting] = 0.0
            terms[resetting] = False
            truncs[resetting] = False
        if mode is AutoresetMode.SAME_STEP:
            for i, obs, info in finals:
                out = self._add_info(out, {"final_obs": obs, "final_info": info}, i)
        np.logical_or(terms, truncs, out=self._autoreset)
        obs_batch = self._obs.copy() if self.copy else self._obs
        return obs_batch, rewards.copy(), terms.copy(), truncs.copy(), out

    def render(self) -> tuple[Any, ...]:
        """Every env's ``render()``, in slot order."""
        return tuple(env.render() for env in self.envs)

    def call(self, name: str, *args: Any, **kwargs: Any) -> tuple[Any, ...]:
        """Every env's attribute ``name``, called with the arguments if it is callable."""
        out = []
        for env in self.envs:
            attr = getattr(env, name)
            out.append(attr(*args, **kwargs) if callable(attr) else attr)
        return tuple(out)

    def get_attr(self, name: str) -> tuple[Any, ...]:
        """Every env's attribute ``name``, in slot order."""
        return tuple(getattr(env, name) for env in self.envs)

    def close_extras(self, **kwargs: Any) -> None:
        """Close every env."""
        for env in self.envs:
            env.close()


@nb.njit(cache=True)
def _time_limits(stepping, terminated, elapsed, env_limit, limit, truncated):  # noqa: ANN001, ANN202
    """Count a step of each env ``stepping`` marks; ``truncated`` = at its env's step limit and
    not terminated, or at ``limit`` (``-1``: none; like Gymnasium's ``TimeLimit``, terminated or not)."""
    for i in range(elapsed.shape[0]):
        if stepping[i]:
            elapsed[i] += 1
        e = elapsed[i]
        truncated[i] = (not terminated[i] and e >= env_limit) or (limit >= 0 and e >= limit)

