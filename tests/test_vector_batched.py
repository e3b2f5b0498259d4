"""``gym.make_vec`` gives ``MarketVectorEnv``; it equals Gymnasium's and SB3's own vector envs.

The references step each ``MarketEnv`` through ``Simulation.step`` (not the batched
kernel the vector env runs), so every comparison is also a differential test of the
batched path.

Gymnasium 1.4 ships no checker for vector envs (``check_env`` takes a single ``Env``), so
the oracles are its reference ``SyncVectorEnv`` and SB3's ``DummyVecEnv`` over the same
``MarketEnv`` s, compared with Gymnasium's exact ``data_equivalence`` (types, dtypes and
values), plus Gymnasium's vector ``RecordEpisodeStatistics`` wrapper.
"""

from __future__ import annotations

import dataclasses
import functools
import importlib
import os
import re
import subprocess
import sys
from typing import Any

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import data_equivalence
from gymnasium.vector import AutoresetMode, SyncVectorEnv
from gymnasium.vector.utils import batch_space

import marketenv
from marketenv import batch as batch_mod
from marketenv.config import Config
from marketenv.env import MarketEnv
from marketenv.errors import ConfigError, InvalidActionError, ResetNeeded
from marketenv.vector_env import MarketVectorEnv
from tests.test_batch import transition_path
from tests.test_readme import readme_python_blocks

N = 3


@pytest.fixture
def broke_cfg(tiny_cfg: Config) -> Config:
    """``tiny_cfg`` whose noise traders start with 10.0 cash: 100-share orders bankrupt them in tens of steps."""
    groups = tuple(dataclasses.replace(g, initial_cash=10.0) if g.type == "noise_trader" else g for g in tiny_cfg.agents)
    cfg = dataclasses.replace(tiny_cfg, agents=groups)
    cfg.validate()
    return cfg


def make_ours(cfg: Config, n: int = N, **kw: Any) -> MarketVectorEnv:
    vec = gym.make_vec(marketenv.ENV_ID, num_envs=n, config=cfg, **kw)
    assert type(vec) is MarketVectorEnv
    return vec


def transition_env(cfg: Config, **kw: Any) -> MarketEnv:
    """A ``MarketEnv`` stepping through ``Simulation.step`` and its ``Transition``, not the batched kernel."""
    return transition_path(MarketEnv(cfg, **kw))


def sync_of_market_envs(cfg: Config, n: int = N, autoreset_mode: AutoresetMode = AutoresetMode.NEXT_STEP, **kw: Any) -> SyncVectorEnv:
    return SyncVectorEnv([functools.partial(transition_env, cfg, **kw) for _ in range(n)], autoreset_mode=autoreset_mode)


def assert_same(ours: tuple, theirs: tuple, where: str) -> None:
    names = ("obs", "reward", "terminated", "truncated", "infos") if len(ours) == 5 else ("obs", "infos")
    for name, a, b in zip(names, ours, theirs, strict=True):
        assert data_equivalence(a, b, exact=True), f"{name} differ at {where}:\n{a}\n{b}"


def run_side_by_side(ours: gym.vector.VectorEnv, theirs: gym.vector.VectorEnv, steps: int, seed: int = 5) -> np.ndarray:
    """Step both with the same random actions; assert every output equal; the ``(steps, 2, n)`` flags."""
    assert_same(ours.reset(seed=seed), theirs.reset(seed=seed), "reset")
    space = ours.action_space
    space.seed(seed)
    flags = []
    for t in range(steps):
        actions = space.sample()
        out = ours.step(actions)
        assert_same(out, theirs.step(actions.copy()), f"step {t}")
        flags.append((out[2], out[3]))
    ours.close()
    theirs.close()
    return np.array(flags)


def test_make_vec_returns_the_batched_env(tiny_cfg: Config) -> None:
    vec = make_ours(tiny_cfg, max_episode_steps=20)
    single = MarketEnv(tiny_cfg)
    assert vec.num_envs == N and vec.spec is not None and vec.spec.id == marketenv.ENV_ID
    assert vec.metadata["autoreset_mode"] is AutoresetMode.NEXT_STEP
    assert vec.single_observation_space == single.observation_space
    assert vec.single_action_space == single.action_space
    assert vec.observation_space == batch_space(single.observation_space, N)
    assert vec.action_space == batch_space(single.action_space, N)
    obs, infos = vec.reset(seed=0)
    assert obs.shape == (N, 45) and obs.dtype == np.float32
    assert infos["equity"].shape == (N,) and infos["_equity"].all()
    # The other modes still give Gymnasium's own vector envs.
    sync = gym.make_vec(marketenv.ENV_ID, num_envs=2, vectorization_mode="sync", config=tiny_cfg)
    assert type(sync) is SyncVectorEnv


def test_import_marketenv_imports_neither_vector_env_nor_sb3() -> None:
    code = "import sys, marketenv; print('marketenv.vector_env' in sys.modules, 'stable_baselines3' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["False", "False"]


@pytest.mark.parametrize("action_mode", ["discrete", "limit"])
def test_equals_sync_vector_env_across_truncations(tiny_cfg: Config, action_mode: str) -> None:
    ours = make_ours(tiny_cfg, max_episode_steps=6, action_mode=action_mode)
    theirs = sync_of_market_envs(tiny_cfg, max_episode_steps=6, action_mode=action_mode)
    flags = run_side_by_side(ours, theirs, 20)
    # Truncated at steps 6, 13 and 20 (the next-step autoresets are steps 7 and 14).
    assert [t for t in range(20) if flags[t, 1].all()] == [5, 12, 19]
    assert not flags[:, 0].any()


def test_parallel_markets_equal_sync_vector_env(broke_cfg: Config) -> None:
    kw = {"max_episode_steps": 25, "order_size": 100}
    flags = run_side_by_side(make_ours(broke_cfg, 4, parallel=True, **kw), sync_of_market_envs(broke_cfg, 4, **kw), 120)
    assert flags[:, 0].any() and flags[:, 1].any()


def test_auto_switching_kernels_equals_sync_vector_env(broke_cfg: Config, monkeypatch: pytest.MonkeyPatch) -> None:
    """``parallel="auto"`` taking turns between the kernels every few steps changes nothing."""
    monkeypatch.setattr(batch_mod, "threads_usable", lambda n: True)
    monkeypatch.setattr(batch_mod, "_KEEP", 3)
    monkeypatch.setattr(batch_mod, "_KEEP_MAX", 3)
    kw = {"max_episode_steps": 25, "order_size": 100}
    ours = make_ours(broke_cfg, 4, parallel="auto", **kw)
    batch = ours.lanes.batch
    kinds: list[bool] = []
    choose = batch._choose
    monkeypatch.setattr(batch, "_choose", lambda: (r := choose(), kinds.append(r[0]))[0])
    flags = run_side_by_side(ours, sync_of_market_envs(broke_cfg, 4, **kw), 90)
    assert flags[:, 0].any() and flags[:, 1].any()
    for c in range(0, 81, 9):  # each cycle: three timed steps of each kernel, then three of the faster
        assert kinds[c:c + 6] == [False] * 3 + [True] * 3, c
        assert len(set(kinds[c + 6:c + 9])) == 1, c


def test_auto_compares_less_often_while_its_choice_holds(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(batch_mod, "threads_usable", lambda n: True)
    monkeypatch.setattr(batch_mod, "_KEEP", 4)
    monkeypatch.setattr(batch_mod, "_KEEP_MAX", 16)
    batch = batch_mod.MarketBatch(2, [0], parallel="auto")
    cost = {False: 1.0, True: 2.0}  # seconds a step takes: the serial kernel always wins
    now = [0.0]
    monkeypatch.setattr(batch_mod.time, "perf_counter", lambda: now[0])
    monkeypatch.setattr(batch, "_missing", 0)  # no markets: the kernels are stood in for
    kinds: list[bool] = []

    def run(threaded: bool, actions: np.ndarray, todo: np.ndarray) -> tuple[int, int]:
        kinds.append(threaded)
        now[0] += cost[threaded]
        return 0, 0  # nothing to serve, no buffer grew

    monkeypatch.setattr(batch, "_run", run)
    for _ in range(6 + 4 + 6 + 8 + 6 + 16 + 6 + 16):
        batch.step(np.zeros((2, 1, 6), dtype=np.int64))
    compare = [False] * 3 + [True] * 3
    assert kinds == compare + [False] * 4 + compare + [False] * 8 + compare + [False] * 16 + compare + [False] * 16


def test_auto_stays_serial_where_threads_cannot_pay(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(batch_mod, "_safe_thread_pool", lambda: True)  # whatever this machine's numba has
    monkeypatch.setattr(batch_mod.nb, "get_num_threads", lambda: 2)
    assert batch_mod.threads_usable(16) is (len(os.sched_getaffinity(0)) >= 2)
    assert not batch_mod.threads_usable(15)  # under two chunks of markets per thread
    monkeypatch.setattr(batch_mod.nb, "get_num_threads", lambda: 1)
    assert not batch_mod.threads_usable(1_000)
    monkeypatch.setattr(batch_mod.nb, "get_num_threads", lambda: 2)
    monkeypatch.setattr(batch_mod, "_threads_pid", os.getpid() + 1)  # a child of a process with threads
    assert not batch_mod.threads_usable(1_000)
    monkeypatch.setattr(batch_mod, "_threads_pid", None)
    monkeypatch.setattr(batch_mod, "_safe_thread_pool", lambda: False)  # only numba's workqueue layer
    assert not batch_mod.threads_usable(1_000)


def test_the_workqueue_layer_is_not_a_safe_pool(monkeypatch: pytest.MonkeyPatch) -> None:
    safe = batch_mod._safe_thread_pool.__wrapped__
    monkeypatch.setattr(batch_mod.nb.config, "THREADING_LAYER", "workqueue")
    assert not safe()
    try:
        importlib.import_module("numba.np.ufunc.tbbpool")
        tbb = True
    except ImportError:  # no libtbb here
        tbb = False
    monkeypatch.setattr(batch_mod.nb.config, "THREADING_LAYER", "safe")  # numba's "safe" means TBB only
    assert safe() is tbb


@pytest.mark.parametrize("bad", ["yes", 1, None, "Auto"])
def test_bad_parallel_is_one_line(tiny_cfg: Config, bad: object) -> None:
    with pytest.raises(ConfigError, match=f"parallel must be True, False or 'auto' \\(got {re.escape(repr(bad))}\\)") as err:
        make_ours(tiny_cfg, parallel=bad)
    assert "\n" not in str(err.value)


def test_equals_sync_vector_env_across_terminations(broke_cfg: Config) -> None:
    ours = make_ours(broke_cfg, max_episode_steps=40, order_size=100)
    theirs = sync_of_market_envs(broke_cfg, max_episode_steps=40, order_size=100)
    flags = run_side_by_side(ours, theirs, 90)
    terminated, truncated = flags[:, 0], flags[:, 1]
    assert terminated.sum() >= 3 and truncated.any(), "the run must cross both kinds of episode end"


def test_equals_make_vec_sync_with_gym_make_time_limit(broke_cfg: Config) -> None:
    kw = {"num_envs": N, "config": broke_cfg, "order_size": 100, "max_episode_steps": 25}
    sync = gym.make_vec(marketenv.ENV_ID, vectorization_mode="sync", **kw)
    flags = run_side_by_side(gym.make_vec(marketenv.ENV_ID, **kw), sync, 60)
    assert flags[:, 0].any() and flags[:, 1].any()


def test_bankrupt_on_the_last_step_is_also_truncated_as_under_time_limit(broke_cfg: Config) -> None:
    actions = [(0, 2, 0, 0, 2)[t % 5] for t in range(200)]
    env = MarketEnv(broke_cfg, order_size=100)
    env.reset(seed=3)
    last = next(t for t, a in enumerate(actions) if env.step(a)[2]) + 1  # the step it goes bankrupt
    kw = {"num_envs": 1, "config": broke_cfg, "order_size": 100, "max_episode_steps": last}
    ours, sync = gym.make_vec(marketenv.ENV_ID, **kw), gym.make_vec(marketenv.ENV_ID, vectorization_mode="sync", **kw)
    assert_same(ours.reset(seed=3), sync.reset(seed=3), "reset")
    for t in range(last + 1):
        out = ours.step(np.array([actions[t]]))
        assert_same(out, sync.step(np.array([actions[t]])), f"step {t}")
        assert (out[2][0], out[3][0]) == ((True, True) if t == last - 1 else (False, False))


def test_config_ticks_limit_episodes_like_sync(tiny_cfg: Config) -> None:
    """Without max_episode_steps, make_vec passes the spec's 10,000; the config's 5 ticks still end episodes."""
    cfg = tiny_cfg.with_overrides(ticks=5)
    sync = gym.make_vec(marketenv.ENV_ID, num_envs=N, vectorization_mode="sync", config=cfg)
    flags = run_side_by_side(make_ours(cfg), sync, 12)
    assert [t for t in range(12) if flags[t, 1].all()] == [4, 10]


def test_same_step_autoreset_equals_sync(broke_cfg: Config) -> None:
    ours = make_ours(broke_cfg, max_episode_steps=15, order_size=100, autoreset_mode="SameStep")
    assert ours.metadata["autoreset_mode"] is AutoresetMode.SAME_STEP
    theirs = sync_of_market_envs(broke_cfg, max_episode_steps=15, order_size=100, autoreset_mode=AutoresetMode.SAME_STEP)
    ours.reset(seed=1)
    theirs.reset(seed=1)
    rng = np.random.default_rng(0)
    ends = 0
    for t in range(40):
        actions = rng.integers(0, 3, N)
        out = ours.step(actions)
        assert_same(out, theirs.step(actions), f"step {t}")
        done = out[2] | out[3]
        if done.any():
            ends += int(done.sum())
            assert (out[4]["_final_obs"] == done).all()
            for i in np.flatnonzero(done):
                assert out[4]["final_obs"][i].shape == (45,)
                assert not np.array_equal(out[4]["final_obs"][i], out[0][i]), "the batch holds the reset observation"
    assert ends >= 3


def test_disabled_autoreset_and_reset_mask(tiny_cfg: Config) -> None:
    ours = make_ours(tiny_cfg, max_episode_steps=3, autoreset_mode=AutoresetMode.DISABLED)
    theirs = sync_of_market_envs(tiny_cfg, max_episode_steps=3, autoreset_mode=AutoresetMode.DISABLED)
    assert_same(ours.reset(seed=2), theirs.reset(seed=2), "reset")
    for t in range(3):
        assert_same(ours.step(np.ones(N, dtype=np.int64)), theirs.step(np.ones(N, dtype=np.int64)), f"step {t}")
    with pytest.raises(ResetNeeded, match="reset_mask"):
        ours.step(np.ones(N, dtype=np.int64))
    mask = np.array([True, False, True])
    assert_same(ours.reset(options={"reset_mask": mask}), theirs.reset(options={"reset_mask": mask.copy()}), "masked reset")
    infos = ours.reset(options={"reset_mask": mask})[1]
    assert infos["_equity"].tolist() == [True, False, True]


def test_deterministic_and_each_env_on_its_own_stream(tiny_cfg: Config) -> None:
    def run() -> list:
        vec = make_ours(tiny_cfg, max_episode_steps=4)
        outs: list = [vec.reset(seed=11)]
        for t in range(9):
            outs.append(vec.step(np.array([t % 3, 2, 0])))
        return outs

    first, second = run(), run()
    assert data_equivalence(first, second, exact=True)
    obs0 = first[0][0]
    assert not np.array_equal(obs0[0], obs0[1]) and not np.array_equal(obs0[1], obs0[2])
    # Env i is seeded seed + i: a lone MarketEnv reset with that seed starts the same.
    for i in range(N):
        np.testing.assert_array_equal(obs0[i], MarketEnv(tiny_cfg).reset(seed=11 + i)[0])
    # One seed per env; and another seed gives another market.
    vec = make_ours(tiny_cfg)
    np.testing.assert_array_equal(vec.reset(seed=[13, 11, 12])[0], obs0[[2, 0, 1]])
    assert not np.array_equal(vec.reset(seed=12)[0], obs0)


@pytest.mark.parametrize("observation", ["scaled", "raw"])
def test_spaces_contain_every_observation(broke_cfg: Config, observation: str) -> None:
    vec = make_ours(broke_cfg, max_episode_steps=10, order_size=100, observation=observation)
    obs, _ = vec.reset(seed=4)
    vec.action_space.seed(4)
    seen = [obs]
    for _ in range(30):
        seen.append(vec.step(vec.action_space.sample())[0])
    for obs in seen:
        assert vec.observation_space.contains(obs)
        assert all(vec.single_observation_space.contains(row) for row in obs)


def test_copy_false_returns_the_preallocated_batch(tiny_cfg: Config) -> None:
    vec = make_ours(tiny_cfg, copy=False)
    first = vec.reset(seed=0)[0]
    before = first.copy()
    second = vec.step(np.full(N, 2))[0]
    assert second is first and not np.array_equal(second, before)
    assert make_ours(tiny_cfg).reset(seed=0)[0] is not make_ours(tiny_cfg).reset(seed=0)[0]


@pytest.mark.parametrize("num_envs", [0, -1, "x", 2.5, True])
def test_bad_num_envs_is_one_line_naming_value_and_fix(tiny_cfg: Config, num_envs: object) -> None:
    with pytest.raises(ConfigError) as err:
        gym.make_vec(marketenv.ENV_ID, num_envs=num_envs, config=tiny_cfg)
    msg = str(err.value)
    assert "\n" not in msg and repr(num_envs) in msg and "num_envs=1 or more" in msg


def test_other_bad_arguments_are_one_line(tiny_cfg: Config) -> None:
    for kw, needle in (({"autoreset_mode": "later"}, "'later'"), ({"max_episode_steps": 0}, "got 0")):
        with pytest.raises(ConfigError, match=needle) as err:
            make_ours(tiny_cfg, **kw)
        assert "\n" not in str(err.value)
    vec = make_ours(tiny_cfg)
    vec.reset(seed=0)
    with pytest.raises(InvalidActionError, match=r"shape \(3, \.\.\.\) \(got shape \(2,\)\)"):
        vec.step(np.array([1, 1]))
    with pytest.raises(ConfigError, match="2 seeds for 3 envs"):
        vec.reset(seed=[1, 2])


@pytest.mark.parametrize("bad", [3, -1])
def test_an_out_of_range_discrete_action_in_a_batch_is_refused_by_env(tiny_cfg: Config, bad: int) -> None:
    vec = make_ours(tiny_cfg)
    vec.reset(seed=0)
    before = vec.lanes.batch.ticks.copy()
    for dtype in (np.int64, np.int32):
        with pytest.raises(InvalidActionError, match=repr(bad)) as err:
            vec.step(np.array([1, bad, 2], dtype=dtype))
        assert "\n" not in str(err.value)
    assert (vec.lanes.batch.ticks == before).all()  # refused before any market moved
    vec.step(np.array([1, 0, 2], dtype=np.uint8))  # any integer dtype of valid actions
    assert (vec.lanes.batch.ticks == before + 1).all()


def test_gymnasium_episode_statistics_agree(broke_cfg: Config) -> None:
    from gymnasium.wrappers.vector import RecordEpisodeStatistics

    kw = {"max_episode_steps": 12, "order_size": 100}
    ours = RecordEpisodeStatistics(make_ours(broke_cfg, **kw))
    theirs = RecordEpisodeStatistics(sync_of_market_envs(broke_cfg, **kw))
    ours.reset(seed=8)
    theirs.reset(seed=8)
    episodes = 0
    for t in range(30):
        actions = np.array([0, 2, t % 3])
        a, b = ours.step(actions)[4], theirs.step(actions)[4]
        assert ("episode" in a) == ("episode" in b)
        if "episode" in a:
            for key in ("r", "l"):
                np.testing.assert_array_equal(a["episode"][key], b["episode"][key])
            np.testing.assert_array_equal(a["_episode"], b["_episode"])
            episodes += int(a["_episode"].sum())
    assert episodes >= N


def test_readme_vector_snippet_runs() -> None:
    block = next(b for b in readme_python_blocks() if "make_vec" in b)
    block = block.replace("num_envs=8", "num_envs=2").replace("learn(total_timesteps=1_024)", "learn(total_timesteps=256)")
    ns: dict = {}
    exec(compile(block, "README.md", "exec"), ns)
    assert ns["model"].num_timesteps >= 256


# ---------------------------------------------------------------- SB3


def test_sb3_adapter_equals_dummy_vec_env(broke_cfg: Config) -> None:
    pytest.importorskip("stable_baselines3")
    from stable_baselines3.common.vec_env import DummyVecEnv

    from marketenv.sb3 import SB3VecEnv

    kw = {"max_episode_steps": 15, "order_size": 100}
    ours = SB3VecEnv(make_ours(broke_cfg, **kw))
    theirs = DummyVecEnv([functools.partial(transition_env, broke_cfg, **kw) for _ in range(N)])
    ours.seed(21)
    theirs.seed(21)
    assert data_equivalence(ours.reset(), theirs.reset(), exact=True)
    assert data_equivalence(ours.reset_infos, theirs.reset_infos, exact=True)
    rng = np.random.default_rng(1)
    dones = 0
    for t in range(50):
        actions = rng.integers(0, 3, N)
        a, b = ours.step(actions), theirs.step(actions)
        for name, x, y in zip(("obs", "rewards", "dones", "infos"), a, b, strict=True):
            assert data_equivalence(x, y, exact=True), f"{name} differ at step {t}:\n{x}\n{y}"
        assert data_equivalence(ours.reset_infos, theirs.reset_infos, exact=True)
        dones += int(a[2].sum())
    assert dones >= 3
    assert ours.get_attr("agent_name") == theirs.get_attr("agent_name")
    assert ours.env_is_wrapped(gym.Wrapper) == [False] * N


def test_sb3_adapter_refuses_other_vector_envs(tiny_cfg: Config) -> None:
    pytest.importorskip("stable_baselines3")
    from marketenv.sb3 import SB3VecEnv

    with pytest.raises(ConfigError, match="got SyncVectorEnv"):
        SB3VecEnv(sync_of_market_envs(tiny_cfg))


def test_ppo_learns_on_the_sb3_adapter(tiny_cfg: Config) -> None:
    torch = pytest.importorskip("torch")
    pytest.importorskip("stable_baselines3")
    from stable_baselines3 import PPO

    from marketenv.sb3 import SB3VecEnv

    venv = SB3VecEnv(make_ours(tiny_cfg, n=4, max_episode_steps=50, normalize_reward=True))
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        model = PPO("MlpPolicy", venv, n_steps=64, batch_size=64, n_epochs=1, seed=0, device="cpu")
        model.learn(256)
    finally:
        torch.set_num_threads(threads)
    assert model.num_timesteps >= 256
    actions, _ = model.predict(venv.reset())
    assert actions.shape == (4,)


def test_batched_vector_env_steps_the_markets_once(tiny_cfg: Config) -> None:
    vec = make_ours(tiny_cfg)
    vec.reset(seed=1)
    for _ in range(3):
        vec.step(vec.action_space.sample())
    assert vec.batched
    assert all(s is env.simulation for s, env in zip(vec.lanes.batch.sims, vec.envs, strict=True))
    assert all(env._lanes.batch.sims[0] is None for env in vec.envs)  # no second state built per reset
    assert [env.simulation.tick for env in vec.envs] == [int(t) for t in vec.lanes.batch.ticks]
