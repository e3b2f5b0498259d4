"""marketenv/Execution-v0: implementation shortfall from the trades, deadline, baselines, the example."""

from __future__ import annotations

import sys
import warnings
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

import marketenv
from marketenv.config import Config
from marketenv.errors import InvalidActionError
from marketenv.execution import CHILD, PASSIVE, REST, TWAP, WAIT, ExecutionEnv, Immediate, VWAPStyle


def run(env: ExecutionEnv, policy, seed: int) -> tuple[list[float], dict, list[tuple[int, int]], int]:
    """Rewards, the last info, the learner's own fills (signed qty, price ticks) from the trade tape, steps."""
    obs, info = env.reset(seed=seed)
    me = env.agent_id
    rewards, fills = [], []
    done, steps = False, 0
    while not done:
        obs, r, term, trunc, info = env.step(policy.predict(obs)[0])
        assert not trunc
        done = term
        steps += 1
        rewards.append(r)
        for t in env.last_trades:
            if t.buyer == me:
                fills.append((t.quantity, t.price))
            if t.seller == me:
                fills.append((-t.quantity, t.price))
    return rewards, info, fills, steps


class Always:
    def __init__(self, a: int) -> None:
        self.a = a

    def predict(self, obs: np.ndarray, **kw: object) -> tuple[int, None]:
        return self.a, None


@pytest.mark.parametrize("side", ["buy", "sell"])
def test_shortfall_is_computed_from_the_trades(small_cfg: Config, side: str) -> None:
    env = ExecutionEnv(small_cfg, side=side, quantity=60, horizon=30)
    rewards, info, fills, steps = run(env, TWAP(), seed=1)
    sign = 1 if side == "buy" else -1
    assert sum(q for q, _ in fills) == sign * 60 == env.simulation.market.position[env.agent_id]
    m0 = info["arrival_mid"]
    cost = sum(abs(q) * (p / 100 - m0) * sign for q, p in fills)  # from the tape, not the env
    assert info["shortfall_bps"] == pytest.approx(1e4 * cost / (60 * m0), abs=1e-9)
    assert sum(rewards) == pytest.approx(-info["shortfall_bps"], abs=1e-9)
    assert steps == 30 and info["executed"] == 60 and info["remaining"] == 0  # child 2 a tick
    assert info["average_price"] == pytest.approx(sum(abs(q) * p for q, p in fills) / 60 / 100)


def test_deadline_executes_the_rest_and_penalises_unfilled(small_cfg: Config) -> None:
    env = ExecutionEnv(small_cfg, quantity=50, horizon=10, penalty_bps=100.0)
    rewards, info, fills, steps = run(env, Always(WAIT), seed=2)
    assert steps == 10
    assert all(r == 0 for r in rewards[:-1])  # waiting costs nothing until the deadline
    assert info["executed"] > 0 and sum(q for q, _ in fills) == info["executed"]  # the deadline order filled
    unfilled = 50 - info["executed"]
    m0 = info["arrival_mid"]
    cost = sum(q * (p / 100 - m0) for q, p in fills)
    assert info["shortfall_bps"] == pytest.approx(1e4 * cost / (50 * m0) + 100.0 * unfilled / 50, abs=1e-9)
    assert rewards[-1] == pytest.approx(-info["shortfall_bps"], abs=1e-9)


def test_immediate_finishes_early_and_pays_the_book(small_cfg: Config) -> None:
    env = ExecutionEnv(small_cfg, quantity=200, horizon=50)
    _r, info, fills, steps = run(env, Immediate(), seed=3)
    assert info["executed"] == 200 and steps < 50
    prices = sorted({p for _, p in fills})
    assert len(prices) > 1  # a 200-share market order walks the book


def test_passive_orders_rest_at_the_touch_and_never_overshoot(small_cfg: Config) -> None:
    env = ExecutionEnv(small_cfg, quantity=30, horizon=40)
    env.reset(seed=4)
    bid = env.simulation.market.books[0].best_bid()
    env.step(PASSIVE)
    resting = env.simulation.market.resting_orders(env.agent_id, 0)
    if resting:  # not filled at once
        assert resting[0][2] == bid and resting[0][3] <= env.child
    total = 0
    for _ in range(39):
        *_x, term, _t, info = env.step(PASSIVE)
        total = info["executed"]
        if term:
            break
    assert total == 30 and env.simulation.market.position[env.agent_id] == 30


def test_vwap_style_completes_and_reacts_to_volume(small_cfg: Config) -> None:
    env = ExecutionEnv(small_cfg, quantity=100, horizon=50)
    policy = VWAPStyle(env)
    _r, info, _f, _s = run(env, policy, seed=5)
    assert info["executed"] == 100
    env.reset(seed=5)
    seen = set()
    obs = None
    for _ in range(30):
        a = int(policy.predict(obs)[0])
        seen.add(a)
        obs, *_ = env.step(a)
    assert len(seen) >= 2  # not a constant schedule


def test_spaces_checker_and_registration(small_cfg: Config) -> None:
    env = gym.make(marketenv.EXECUTION_ENV_ID, config=small_cfg, quantity=40, horizon=20)
    assert env.observation_space.shape == (49,) and env.action_space.n == 6
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        check_env(env.unwrapped, skip_render_check=True)
    obs, _ = env.reset(seed=0)
    assert obs[-4] == 1.0 and obs[-3] == 1.0  # all remains, all the time is left
    obs, *_ = env.step(CHILD)
    assert obs[-4] == pytest.approx(38 / 40) and obs[-3] == pytest.approx(19 / 20)


def test_bad_arguments_and_actions(small_cfg: Config) -> None:
    with pytest.raises(ValueError, match="position limit 1000"):
        ExecutionEnv(small_cfg, quantity=5000)
    with pytest.raises(ValueError, match="side 'hold'"):
        ExecutionEnv(small_cfg, side="hold")
    with pytest.raises(ValueError, match="horizon"):
        ExecutionEnv(small_cfg, horizon=0)
    env = ExecutionEnv(small_cfg)
    env.reset(seed=0)
    with pytest.raises(InvalidActionError, match="0..5"):
        env.step(6)
    with pytest.raises(InvalidActionError, match="0..5"):
        env.step(2.5)
    env.step(np.int64(REST))


def test_train_execution_example_prints_the_table(capsys: pytest.CaptureFixture[str]) -> None:
    pytest.importorskip("stable_baselines3")
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "examples"))
    import train_execution

    assert train_execution.main(["--timesteps", "256", "--eval-seeds", "3", "--quantity", "40", "--horizon", "20", "--envs", "1"]) == 0
    out = capsys.readouterr().out
    for name in ("TWAP", "VWAP-style", "immediate", "PPO"):
        assert name in out
    assert train_execution.main(["--eval-seeds", "1"]) == 2
    assert train_execution.main(["--gae-lambda", "2"]) == 2
