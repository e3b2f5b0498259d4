"""MarketEnv: Gymnasium API, spaces, determinism, info fields, rewards and episode end."""

from __future__ import annotations

import dataclasses
import warnings

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

import marketenv
from marketenv.config import AgentGroupConfig, Config
from marketenv.env import MarketEnv
from marketenv.errors import InvalidActionError, ResetNeeded
from marketenv.feature_spec import FEATURE_INDEX, FEATURE_NAMES
from tests.conftest import without_price_impact

SELL, HOLD, BUY = 0, 1, 2
MID = FEATURE_INDEX["mid_price"]
INFO_KEYS = {
    "tick",
    "fill_quantity",
    "fill_price",
    "fill_buy_quantity",
    "fill_buy_price",
    "fill_sell_quantity",
    "fill_sell_price",
    "fees",
    "order_status",
    "reject_reason",
    "equity",
    "cash",
    "position",
}


def with_learner(cfg: Config, **group: object) -> Config:
    """``cfg`` with a one-agent noise-trader group first: the learner ``NoiseTrader_00``."""
    learner = AgentGroupConfig(type="noise_trader", count=1, **group)  # type: ignore[arg-type]
    out = dataclasses.replace(cfg, agents=(learner, *cfg.agents))
    out.validate()
    return out


def make(cfg: Config, **kw: object) -> gym.Env:
    return gym.make(marketenv.ENV_ID, config=cfg, **kw)


def rollout(env: gym.Env, seed: int, actions: list) -> tuple[list, list, list]:
    obs, info = env.reset(seed=seed)
    all_obs, rewards, infos = [obs], [], [info]
    for a in actions:
        obs, r, term, trunc, info = env.step(a)
        all_obs.append(obs)
        rewards.append(r)
        infos.append(info)
        if term or trunc:
            break
    return all_obs, rewards, infos


# ---------------------------------------------------------------- API and spaces
@pytest.mark.parametrize("action_mode", ["discrete", "limit"])
def test_gymnasium_check_env_passes(small_cfg: Config, action_mode: str) -> None:
    env = make(small_cfg, action_mode=action_mode, max_episode_steps=50)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*infinity.*")  # the unbounded Box is intended
        check_env(env.unwrapped, skip_render_check=True)


def test_registered_and_spaces(small_cfg: Config) -> None:
    assert marketenv.ENV_ID in gym.registry
    env = make(small_cfg)
    u = env.unwrapped
    assert isinstance(u, MarketEnv)
    assert env.observation_space == gym.spaces.Box(-10.0, 10.0, (45,), np.float32)  # scaled by default
    assert make(small_cfg, observation="raw").observation_space == gym.spaces.Box(-np.inf, np.inf, (45,), np.float32)
    assert env.action_space == gym.spaces.Discrete(3)
    assert u.feature_names == FEATURE_NAMES and len(u.feature_names) == 45
    obs, info = env.reset(seed=0)
    assert obs.dtype == np.float32 and obs.shape == (45,)
    assert np.isfinite(obs).all(), "the warm-up leaves no NaN feature"
    assert set(info) == INFO_KEYS
    limit = make(small_cfg, action_mode="limit", sizes=(1, 2, 3), max_offset_ticks=4)
    assert limit.action_space == gym.spaces.MultiDiscrete([3, 3, 9])


def test_learner_slot_default_by_name_and_by_id(small_cfg: Config) -> None:
    u = MarketEnv(small_cfg)
    assert u.agent_name == "NoiseTrader_00" and u.agent_id == 2  # 2 makers come first
    assert MarketEnv(small_cfg, agent="Momentum_00").agent_id == 10
    assert MarketEnv(small_cfg, agent=0).agent_name == "MarketMaker_00"


def test_learner_starts_flat_after_the_warm_up(small_cfg: Config) -> None:
    env = make(small_cfg)
    _obs, info = env.reset(seed=1)
    u = env.unwrapped
    sim = u.simulation
    assert info["tick"] == u.warmup_ticks == 100
    assert info["position"] == 0 and info["cash"] == 100_000.0 and info["equity"] == 100_000.0
    assert sim.market.resting_orders(u.agent_id, 0) == []
    assert sim.market.total_trades > 0, "the crowd traded during the warm-up"


# ---------------------------------------------------------------- determinism
def test_same_seed_same_episode_different_seed_different(small_cfg: Config) -> None:
    acts = np.random.default_rng(0).integers(0, 3, size=60).tolist()
    a = rollout(make(small_cfg), 11, acts)
    b = rollout(make(small_cfg), 11, acts)
    c = rollout(make(small_cfg), 12, acts)
    for x, y in zip(a[0], b[0], strict=True):
        np.testing.assert_array_equal(x, y)
    assert a[1] == b[1]
    assert a[2] == b[2]
    assert not all(np.array_equal(x, y) for x, y in zip(a[0], c[0], strict=True))
    assert a[1] != c[1]


def test_reset_seed_reproducible_within_one_env_and_unseeded_resets_continue(small_cfg: Config) -> None:
    env = make(small_cfg)
    first, _ = env.reset(seed=5)
    second, _ = env.reset()
    again, _ = env.reset(seed=5)
    np.testing.assert_array_equal(first, again)
    assert not np.array_equal(first, second)


def test_limit_mode_deterministic(small_cfg: Config) -> None:
    env = make(small_cfg, action_mode="limit")
    env.action_space.seed(3)
    acts = [env.action_space.sample() for _ in range(40)]
    a = rollout(env, 2, acts)
    b = rollout(make(small_cfg, action_mode="limit"), 2, acts)
    assert a[1] == b[1] and a[2] == b[2]


# ---------------------------------------------------------------- info and rewards
def test_buy_fills_and_increases_position(small_cfg: Config) -> None:
    env = make(small_cfg, order_size=5)
    _obs, info0 = env.reset(seed=4)
    _obs, _r, _te, _tr, info = env.step(BUY)
    assert info["fill_quantity"] > 0
    assert info["order_status"] in ("filled", "cancelled")  # cancelled: book side ran dry
    assert info["reject_reason"] == ""
    assert info["position"] == info0["position"] + info["fill_quantity"]
    assert info["fill_price"] > 0
    cost = info0["cash"] - info["cash"]
    assert cost == pytest.approx(info["fill_quantity"] * info["fill_price"])  # no fees by default
    # The learner's fills are among the tick's trades.
    u = env.unwrapped
    bought = sum(t.quantity for t in u.last_trades if t.buyer == u.agent_id)
    sold = sum(t.quantity for t in u.last_trades if t.seller == u.agent_id)
    assert bought - sold == info["fill_quantity"]


def test_sell_and_hold(small_cfg: Config) -> None:
    env = make(small_cfg, order_size=3)
    env.reset(seed=4)
    _obs, _r, _te, _tr, info = env.step(SELL)
    assert info["fill_quantity"] < 0 and info["position"] == info["fill_quantity"]
    _obs, _r, _te, _tr, info = env.step(HOLD)
    assert info["order_status"] == "none" and info["fill_quantity"] == 0 and info["fill_price"] == 0.0


def test_reward_is_equity_change_marked_at_mid(small_cfg: Config) -> None:
    env = make(small_cfg, order_size=20)
    _obs, info = env.reset(seed=6)
    start = info["equity"]
    total = 0.0
    rng = np.random.default_rng(1)
    for _ in range(80):
        prev = info["equity"]
        _obs, r, term, trunc, info = env.step(int(rng.integers(0, 3)))
        assert r == pytest.approx(info["equity"] - prev, abs=1e-9)
        mid = env.unwrapped.simulation.market.mid_price(0)
        assert info["equity"] == pytest.approx(info["cash"] + info["position"] * mid, abs=1e-9)
        total += r
    assert total == pytest.approx(info["equity"] - start, abs=1e-6)


def test_normalize_reward_divides_by_initial_cash(small_cfg: Config) -> None:
    acts = [BUY, BUY, HOLD, SELL, HOLD, BUY] * 5
    raw = rollout(make(small_cfg), 8, acts)[1]
    norm = rollout(make(small_cfg, normalize_reward=True), 8, acts)[1]
    assert any(r != 0 for r in raw)
    assert norm == [r / 100_000.0 for r in raw]  # exactly the division


def test_position_limit_rejection_reported(small_cfg: Config) -> None:
    cfg = with_learner(small_cfg, position_limit=15)
    env = make(cfg, order_size=10)
    env.reset(seed=0)
    pos = 0
    for _ in range(10):
        _obs, _r, _te, _tr, info = env.step(BUY)
        if info["order_status"] == "rejected":
            break
        assert info["position"] == pos + info["fill_quantity"] <= 15
        pos = info["position"]
    assert info["order_status"] == "rejected", "a buy of 10 with a position above 5 breaks the limit of 15"
    assert pos > 5
    assert info["reject_reason"].startswith("buy rejected: position limit")
    assert info["fill_quantity"] == 0 and info["position"] == pos


def test_limit_orders_rest_cross_and_hold(small_cfg: Config) -> None:
    env = make(small_cfg, action_mode="limit", sizes=(5,), max_offset_ticks=10)
    env.reset(seed=0)
    u = env.unwrapped
    m = u.simulation.market
    # Buy 10 ticks below the reference: rests on the book at that price.
    ref = m.reference_price(0)
    _obs, _r, _te, _tr, info = env.step(np.array([2, 0, 0]))
    assert (info["order_status"], info["fill_quantity"]) == ("resting", 0)
    (oid, side, price, qty), = m.resting_orders(u.agent_id, 0)
    assert (side, price, qty) == (1, ref - 10, 5)
    # Sell 10 ticks below the reference: crosses the bids at once.
    _obs, _r, _te, _tr, info = env.step(np.array([0, 0, 0]))
    assert (info["order_status"], info["fill_quantity"], info["position"]) == ("filled", -5, -5)
    # Hold leaves the resting buy alone.
    _obs, _r, _te, _tr, info = env.step(np.array([1, 0, 10]))
    assert info["order_status"] == "none"
    assert m.resting_orders(u.agent_id, 0) == [(oid, 1, ref - 10, 5)]
    # Sell 10 ticks above the reference: rests too.
    _obs, _r, _te, _tr, info = env.step(np.array([0, 0, 20]))
    assert info["order_status"] == "resting"
    assert [s for _o, s, _p, _q in m.resting_orders(u.agent_id, 0)] == [1, -1]


def test_order_action_mapping(small_cfg: Config) -> None:
    d = MarketEnv(small_cfg, order_size=7)
    np.testing.assert_array_equal(d.order_action(2), [[3, 7, 0], [0, 0, 0]])
    np.testing.assert_array_equal(d.order_action(np.int64(0)), [[0, 0, 0], [3, 7, 0]])
    np.testing.assert_array_equal(d.order_action(np.array([1])), np.zeros((2, 3)))
    np.testing.assert_array_equal(d.order_action(2.0), [[3, 7, 0], [0, 0, 0]])
    lim = MarketEnv(small_cfg, action_mode="limit", sizes=(1, 5), max_offset_ticks=3)
    np.testing.assert_array_equal(lim.order_action([2, 1, 0]), [[1, 5, -3], [0, 0, 0]])
    np.testing.assert_array_equal(lim.order_action(np.array([0, 0, 6])), [[0, 0, 0], [1, 1, 3]])
    np.testing.assert_array_equal(lim.order_action((1, 1, 1)), np.zeros((2, 3)))


# ---------------------------------------------------------------- episode end
def test_truncation_at_max_episode_steps(small_cfg: Config) -> None:
    # The env's own limit (gym.make(..., max_episode_steps=n) would add a TimeLimit instead).
    env = MarketEnv(small_cfg, max_episode_steps=5)
    env.reset(seed=0)
    flags = [env.step(HOLD)[2:4] for _ in range(5)]
    assert flags == [(False, False)] * 4 + [(False, True)]
    with pytest.raises(ResetNeeded, match="NoiseTrader_00.*reset"):
        env.step(HOLD)
    env.reset()
    assert env.step(HOLD)[3] is False


def test_default_truncation_is_config_ticks(small_cfg: Config) -> None:
    env = MarketEnv(small_cfg.with_overrides(ticks=3))
    env.reset(seed=0)
    assert [env.step(HOLD)[3] for _ in range(3)] == [False, False, True]


def test_bankruptcy_terminates(small_cfg: Config) -> None:
    # A learner with 10.00 of cash short-sells 100 shares at market every step; the makers
    # do not skew, so its flow does not move the price and the spread it pays every step
    # wipes its equity out.
    cfg = with_learner(without_price_impact(small_cfg), initial_cash=10.0, position_limit=5000)
    env = make(cfg, order_size=100, max_episode_steps=300)
    _obs, info = env.reset(seed=0)
    start = info["equity"]
    total = 0.0
    terminated = truncated = False
    steps = 0
    while not (terminated or truncated):
        _obs, r, terminated, truncated, info = env.step(SELL)
        total += r
        steps += 1
    assert terminated and not truncated, f"no bankruptcy within {steps} steps"
    assert info["equity"] <= 0 and info["position"] < 0
    assert total == pytest.approx(info["equity"] - start, abs=1e-6)
    with pytest.raises(ResetNeeded):
        env.step(HOLD)


def test_gym_make_time_limit(small_cfg: Config) -> None:
    env = gym.make(marketenv.ENV_ID, config=small_cfg, max_episode_steps=4)
    env.reset(seed=0)
    assert [env.step(HOLD)[3] for _ in range(4)] == [False, False, False, True]


# ---------------------------------------------------------------- invalid input
@pytest.mark.parametrize(
    ("action", "match"),
    [
        (3, "must be 0 \\(sell\\), 1 \\(hold\\) or 2 \\(buy\\)"),
        (-1, "must be 0"),
        (1.5, "integer-valued"),
        (float("nan"), "NaN"),
        (np.float32("inf"), "NaN or inf"),
        ("buy", "dtype"),
        (None, "dtype"),
        (True, "dtype bool"),
        (np.array([1, 2]), "shape \\(2,\\)"),
        (np.zeros((1, 1), dtype=np.int64), "shape \\(1, 1\\)"),
    ],
)
def test_invalid_discrete_actions(small_cfg: Config, action: object, match: str) -> None:
    env = make(small_cfg)
    env.reset(seed=0)
    with pytest.raises(InvalidActionError, match="NoiseTrader_00: action .*" + match) as err:
        env.step(action)
    assert isinstance(err.value, ValueError)


@pytest.mark.parametrize(
    ("action", "match"),
    [
        ([3, 0, 0], "side 3"),
        ([1, 4, 0], "size index 4 must be in 0..3"),
        ([1, 0, 21], "offset index 21 must be in 0..20"),
        ([1, 0, -1], "offset index -1"),
        ([1, 0], "shape \\(2,\\)"),
        (2, "shape \\(\\)"),
        ([np.nan, 0, 0], "NaN"),
        (["a", "b", "c"], "dtype"),
    ],
)
def test_invalid_limit_actions(small_cfg: Config, action: object, match: str) -> None:
    env = make(small_cfg, action_mode="limit")
    env.reset(seed=0)
    with pytest.raises(InvalidActionError, match="NoiseTrader_00: action .*" + match):
        env.step(action)


def test_step_before_reset_raises(small_cfg: Config) -> None:
    env = MarketEnv(small_cfg)
    with pytest.raises(ResetNeeded, match="before reset") as err:
        env.step(HOLD)
    assert isinstance(err.value, RuntimeError)
    env.reset(seed=0)
    env.close()
    with pytest.raises(ResetNeeded):
        env.step(HOLD)


def test_invalid_arguments(small_cfg: Config) -> None:
    with pytest.raises(ValueError, match="action_mode"):
        MarketEnv(small_cfg, action_mode="continuous")
    with pytest.raises(ValueError, match="warmup_ticks"):
        MarketEnv(small_cfg, warmup_ticks=10)
    with pytest.raises(ValueError, match="'Nobody_00' is not in the config"):
        MarketEnv(small_cfg, agent="Nobody_00")
    with pytest.raises(ValueError, match="not an agent id"):
        MarketEnv(small_cfg, agent=99)
    with pytest.raises(ValueError, match="render_mode"):
        MarketEnv(small_cfg, render_mode="human")
    with pytest.raises(ValueError, match="normalize_reward needs initial cash"):
        MarketEnv(with_learner(small_cfg, initial_cash=0.0, initial_position=10), normalize_reward=True)
    with pytest.raises(ValueError, match="max_order_quantity"):
        MarketEnv(small_cfg, order_size=20_000)
