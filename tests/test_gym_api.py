"""Gymnasium conventions: registration limit, render modes, scaled observations, SB3's own patterns."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest

import marketenv
from marketenv.config import Config, SimulationConfig, default_config
from marketenv.env import MarketEnv
from marketenv.errors import UnsupportedRenderMode
from marketenv.feature_spec import FEATURE_INDEX as IX
from marketenv.render import BUY, FRAME_HEIGHT, FRAME_WIDTH, SELL


def test_spec_carries_the_real_episode_limit() -> None:
    spec = gym.spec(marketenv.ENV_ID)
    assert spec.max_episode_steps == default_config().simulation.ticks == MarketEnv().max_episode_steps


def test_time_limit_is_truncation(small_cfg: Config) -> None:
    env = gym.make(marketenv.ENV_ID, config=small_cfg, max_episode_steps=7)
    env.reset(seed=0)
    flags = [env.step(1)[2:4] for _ in range(7)]
    assert flags[-1] == (False, True) and all(f == (False, False) for f in flags[:-1])


def test_unsupported_render_mode_is_gymnasiums_error(small_cfg: Config) -> None:
    with pytest.raises(gym.error.UnsupportedMode, match="'video'"):
        MarketEnv(small_cfg, render_mode="video")
    with pytest.raises(UnsupportedRenderMode):
        with pytest.warns(UserWarning):
            gym.make(marketenv.ENV_ID, config=small_cfg, render_mode="video")
    assert MarketEnv.metadata["render_modes"] == ["ansi", "rgb_array"]


def test_ansi_shows_book_trades_and_account(small_cfg: Config) -> None:
    env = MarketEnv(small_cfg, render_mode="ansi")
    env.reset(seed=2)
    _o, _r, _te, _tr, info = env.step(2)  # buy 10 at market
    text = env.render()
    assert isinstance(text, str)
    book = env.simulation.market.books[0]
    assert f"bid {book.best_bid() / 100:.2f} x {book.best_bid_qty()}" in text
    assert f"ask {book.best_ask() / 100:.2f} x {book.best_ask_qty()}" in text
    assert f"position {info['position']} " in text and info["position"] == 10
    assert f"cash {info['cash']:,.2f}" in text
    assert f"{len(env.last_trades)} this tick" in text
    assert "*" in text  # the learner's own trade is marked


def _count(frame: np.ndarray, color: tuple[int, int, int]) -> int:
    return int((frame == np.array(color, dtype=np.uint8)).all(axis=2).sum())


def test_rgb_array_chart_shows_fills_by_side(small_cfg: Config) -> None:
    env = MarketEnv(small_cfg, render_mode="rgb_array")
    env.reset(seed=3)
    first = env.render()
    assert first.shape == (FRAME_HEIGHT, FRAME_WIDTH, 3) and first.dtype == np.uint8
    for _ in range(20):
        env.step(1)
    holding = env.render()
    assert _count(holding, BUY) == 0 and _count(holding, SELL) == 0
    assert not np.array_equal(first, holding)  # the price line moved across the chart
    env.step(2)
    bought = env.render()
    assert _count(bought, BUY) > 0 and _count(bought, SELL) == 0
    env.step(0)
    env.step(0)
    assert _count(env.render(), SELL) > 0


def test_record_video_writes_an_mp4(small_cfg: Config, tmp_path: Path) -> None:
    pytest.importorskip("moviepy")
    env = gym.make(marketenv.ENV_ID, config=small_cfg, render_mode="rgb_array", max_episode_steps=30)
    env = gym.wrappers.RecordVideo(env, str(tmp_path / "videos"), episode_trigger=lambda e: True, disable_logger=True)
    env.reset(seed=0)
    for _ in range(30):
        *_, term, trunc, _info = env.step(env.action_space.sample())
    env.close()
    videos = list((tmp_path / "videos").glob("*.mp4"))
    assert len(videos) == 1 and videos[0].stat().st_size > 1000


def test_scaled_observation_matches_its_definition(small_cfg: Config) -> None:
    scaled, raw = MarketEnv(small_cfg), MarketEnv(small_cfg, observation="raw")
    s0, _ = scaled.reset(seed=5)
    r0, _ = raw.reset(seed=5)
    mid0 = float(r0[IX["mid_price"]])
    rng = np.random.default_rng(0)
    for _ in range(150):
        a = int(rng.integers(0, 3))
        s, *_ = scaled.step(a)
        r, *_ = raw.step(a)
        assert s.dtype == np.float32 and scaled.observation_space.contains(s)
    r = r.astype(np.float64)
    mid = r[IX["mid_price"]]
    expect = {
        "mid_price": 100 * (mid / mid0 - 1),
        "sma_20": 100 * (r[IX["sma_20"]] / mid - 1),
        "fair_value": 100 * (r[IX["fair_value"]] / mid - 1),
        "spread": 100 * r[IX["spread"]] / mid,
        "rsi_14": (r[IX["rsi_14"]] - 50) / 50,
        "cash": r[IX["cash"]] / 100_000 - 1,  # the noise trader's initial cash
        "equity": r[IX["equity"]] / 100_000 - 1,
        "total_pnl": 100 * r[IX["total_pnl"]] / 100_000,
        "position": np.clip(r[IX["position"]] / 10, -10, 10),  # lots of order_size
        "total_volume_this_tick": min(np.log1p(r[IX["total_volume_this_tick"]]), 10),
        "log_return_1": 100 * r[IX["log_return_1"]],
    }
    for name, value in expect.items():
        assert s[IX[name]] == pytest.approx(value, rel=1e-5, abs=1e-5), name
    assert np.abs(r).max() > 1000 and np.abs(s).max() <= 10  # raw is unbounded, scaled is not


def test_scaled_observation_is_bounded_over_a_long_episode(small_cfg: Config) -> None:
    cfg = dataclasses.replace(small_cfg, simulation=SimulationConfig(ticks=400, seed=1))
    env = MarketEnv(cfg)
    obs, _ = env.reset(seed=9)
    seen = [obs]
    done = False
    while not done:
        obs, _r, term, trunc, _ = env.step(2 if len(seen) % 3 else 0)
        seen.append(obs)
        done = term or trunc
    arr = np.stack(seen)
    assert np.isfinite(arr).all() and np.abs(arr).max() <= 10.0
    assert (arr.std(axis=0) > 0).sum() >= 30  # the features move, they are not clipped flat


sb3 = pytest.importorskip("stable_baselines3")


def test_sb3_make_vec_env_and_ppo_by_id() -> None:
    import torch
    from stable_baselines3 import PPO
    from stable_baselines3.common.env_util import make_vec_env

    torch.set_num_threads(1)
    vec = make_vec_env(marketenv.ENV_ID, n_envs=2, seed=0)  # passes render_mode="rgb_array"
    assert vec.render_mode == "rgb_array"
    obs = vec.reset()
    assert obs.shape == (2, 45)
    frames = vec.get_images()
    assert len(frames) == 2 and frames[0].shape == (FRAME_HEIGHT, FRAME_WIDTH, 3)
    vec.close()
    model = PPO("MlpPolicy", marketenv.ENV_ID, n_steps=64, batch_size=32, n_epochs=1, seed=0, device="cpu")
    model.learn(total_timesteps=64)
    assert model.num_timesteps >= 64
    assert model.get_env().render_mode == "rgb_array"
