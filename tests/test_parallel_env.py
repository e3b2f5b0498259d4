"""MarketParallelEnv: PettingZoo API, parity with the headless run, rewards, infos, errors."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from pettingzoo.test import parallel_api_test

import marketenv
from marketenv.actions import MARKET
from marketenv.config import AgentGroupConfig, Config, default_config, load_config
from marketenv.errors import InvalidActionError, ResetNeeded
from marketenv.parallel_env import MarketParallelEnv
from marketenv.simulation import Simulation
from marketenv.types import Trade
from tests.conftest import CONFIGS, without_price_impact

INFO_KEYS = {"tick", "fill_quantity", "fill_price", "fill_buy_quantity", "fill_buy_price", "fill_sell_quantity", "fill_sell_price", "fees", "order_status", "reject_reason", "equity", "cash", "position"}


def headless_trades(cfg: Config, ticks: int) -> tuple[list[list[Trade]], Simulation]:
    """Per-tick trades of the headless simulation (``Simulation.step``)."""
    sim = Simulation(cfg)
    out = []
    for _ in range(ticks):
        sim.step()
        out.append(list(sim.market.trades))
    return out, sim


def policy_trades(cfg: Config, ticks: int) -> tuple[list[list[Trade]], MarketParallelEnv]:
    """Per-tick trades of the parallel env driven by ``rule_based_policies``."""
    env = marketenv.parallel_env(config=cfg)
    obs, _ = env.reset(seed=cfg.simulation.seed)
    policies = env.rule_based_policies()
    out = []
    for _ in range(ticks):
        actions = {a: policies[a].predict(obs[a])[0] for a in env.agents}
        obs, *_ = env.step(actions)
        out.append(list(env.last_trades))
    return out, env


def sell_everything_cfg(cfg: Config) -> Config:
    """``cfg`` with a first agent ``NoiseTrader_00`` holding 10.00 of cash, and makers whose
    quotes do not move with its flow (so selling only costs it the spread)."""
    poor = AgentGroupConfig(type="noise_trader", count=1, initial_cash=10.0, position_limit=5000)
    out = dataclasses.replace(without_price_impact(cfg), agents=(poor, *without_price_impact(cfg).agents))
    out.validate()
    return out


# ---------------------------------------------------------------- API
def test_pettingzoo_parallel_api(small_cfg: Config) -> None:
    parallel_api_test(marketenv.parallel_env(config=small_cfg, max_cycles=60), num_cycles=100)


def test_pettingzoo_parallel_api_with_warmup(small_cfg: Config) -> None:
    env = marketenv.parallel_env(config=small_cfg, max_cycles=30, warmup_ticks=100)
    parallel_api_test(env, num_cycles=40)
    obs, _ = env.reset(seed=1)
    assert all(np.isfinite(o).all() for o in obs.values())


def test_factory_callable_repeatedly(small_cfg: Config) -> None:
    # Importing marketenv.parallel_env (the module) must not break marketenv.parallel_env(...).
    import marketenv.parallel_env  # noqa: F401

    for _ in range(2):
        assert isinstance(marketenv.parallel_env(config=small_cfg), MarketParallelEnv)


def test_agents_and_spaces(small_cfg: Config) -> None:
    env = MarketParallelEnv(small_cfg)
    assert env.possible_agents[:3] == ["MarketMaker_00", "MarketMaker_01", "NoiseTrader_00"]
    assert len(env.possible_agents) == small_cfg.n_agents == 15
    obs, infos = env.reset(seed=0)
    assert list(obs) == env.agents == env.possible_agents
    for a in env.agents:
        assert env.observation_space(a).shape == (45,) and obs[a].dtype == np.float64
        assert env.action_space(a).shape == (2, 3) and env.action_space(a).dtype == np.int64
        assert infos[a] == {"tick": 0}
    with pytest.raises(ValueError, match="'Nobody' is not an agent"):
        env.action_space("Nobody")


# ---------------------------------------------------------------- parity
@pytest.mark.parametrize("config", [None, "multi_symbol.toml"])
def test_rule_based_policies_reproduce_headless_run(config: str | None) -> None:
    cfg = default_config() if config is None else load_config(CONFIGS / config)
    ticks = 300
    ref, sim = headless_trades(cfg, ticks)
    got, env = policy_trades(cfg, ticks)
    assert sum(map(len, ref)) > ticks, "the market trades"
    assert got == ref  # every trade of every tick, in order
    # The same as the fast headless loop, down to every account.
    fast = Simulation(cfg)
    assert fast.run(ticks) == sum(map(len, ref))
    m = env.simulation.market
    assert m.cash == fast.market.cash == sim.market.cash
    assert m.position == fast.market.position


def test_vectorised_crowd_driver_reproduces_headless_run(multi_cfg: Config) -> None:
    ticks = 150
    ref, _ = headless_trades(multi_cfg, ticks)
    env = MarketParallelEnv(multi_cfg)
    env.reset(seed=multi_cfg.simulation.seed)
    sim = env.unwrapped.simulation
    got = []
    for _ in range(ticks):
        acts = sim.crowd_actions(sim.features.obs)
        env.step(dict(zip(env.possible_agents, acts, strict=True)))
        got.append(list(env.last_trades))
    assert got == ref


def test_same_seed_same_run_and_next_seed_differs(small_cfg: Config) -> None:
    a, _ = policy_trades(small_cfg, 50)
    b, _ = policy_trades(small_cfg, 50)
    assert a == b
    env = MarketParallelEnv(small_cfg)
    env.reset()
    env.reset()  # seed + 1
    assert env.simulation.seed == small_cfg.simulation.seed + 1


# ---------------------------------------------------------------- rewards and infos
def test_rewards_infos_and_truncation(small_cfg: Config) -> None:
    env = MarketParallelEnv(small_cfg, max_cycles=40)
    obs, _ = env.reset(seed=2)
    policies = env.rule_based_policies()
    start = env.simulation.equity_now().copy()
    total = dict.fromkeys(env.possible_agents, 0.0)
    filled = 0
    for t in range(40):
        obs, rewards, terms, truncs, infos = env.step({a: policies[a].predict(obs[a])[0] for a in env.agents})
        assert set(rewards) == set(terms) == set(truncs) == set(infos) == set(env.possible_agents)
        for a, r in rewards.items():
            total[a] += r
            info = infos[a]
            assert set(info) == INFO_KEYS and info["tick"] == t + 1  # the tick now starting
            assert info["position"] == obs[a][31] and info["cash"] == obs[a][33]
            assert info["equity"] == pytest.approx(obs[a][37])
            if info["fill_quantity"]:
                filled += 1
                assert info["fill_price"] > 0
        assert all(v == (t == 39) for v in truncs.values())
    assert filled > 0
    assert env.agents == []
    end = env.simulation.equity_now()
    for i, a in enumerate(env.possible_agents):
        assert total[a] == pytest.approx(end[i] - start[i], abs=1e-6)
    with pytest.raises(ResetNeeded, match="after the episode ended"):
        env.step({})


def test_normalize_reward(small_cfg: Config) -> None:
    raw = MarketParallelEnv(small_cfg)
    norm = MarketParallelEnv(small_cfg, normalize_reward=True)
    raw.reset(seed=4)
    norm.reset(seed=4)
    buy = np.array([[MARKET, 5, 0], [0, 0, 0]])
    for _ in range(5):
        r1 = raw.step({"NoiseTrader_00": buy})[1]
        r2 = norm.step({"NoiseTrader_00": buy})[1]
        assert r2["MarketMaker_00"] == r1["MarketMaker_00"] / 1_000_000.0
        assert r2["NoiseTrader_00"] == r1["NoiseTrader_00"] / 100_000.0


def test_missing_agents_hold_and_rejections_are_reported(small_cfg: Config) -> None:
    env = MarketParallelEnv(small_cfg)
    env.reset(seed=0)
    too_big = np.array([[MARKET, 1001, 0], [0, 0, 0]])  # position limit 1000
    _obs, _r, _te, _tr, infos = env.step({"NoiseTrader_00": too_big})
    assert infos["NoiseTrader_00"]["order_status"] == "rejected"
    assert "position limit" in infos["NoiseTrader_00"]["reject_reason"]
    assert all(i["order_status"] == "none" for a, i in infos.items() if a != "NoiseTrader_00")


def test_bankrupt_agent_is_terminated_and_removed(small_cfg: Config) -> None:
    cfg = sell_everything_cfg(small_cfg)
    env = MarketParallelEnv(cfg, warmup_ticks=100, max_cycles=300)
    env.reset(seed=0)
    sim = env.simulation
    poor = "NoiseTrader_00"
    sell = np.array([[0, 0, 0], [MARKET, 100, 0]])
    for _ in range(300):
        acts = dict(zip(env.agents, sim.crowd_actions(sim.features.obs), strict=True))
        acts[poor] = sell
        obs, _r, terms, truncs, infos = env.step(acts)
        if terms[poor]:
            break
    assert terms[poor] and not truncs[poor]
    assert infos[poor]["equity"] <= 0
    assert poor not in env.agents and len(env.agents) == cfg.n_agents - 1
    assert not any(v for a, v in terms.items() if a != poor)
    with pytest.raises(InvalidActionError, match=f"{poor}: agent is terminated"):
        env.step({poor: sell})
    obs, rewards, *_ = env.step({})
    assert poor not in obs and poor not in rewards


# ---------------------------------------------------------------- invalid input
@pytest.mark.parametrize(
    ("action", "match"),
    [
        (np.zeros((3, 3), dtype=np.int64), "shape \\(3, 3\\) must be \\(2, 3\\)"),
        ([1, 2, 3], "shape \\(3,\\)"),
        (np.array([[6, 1, 0], [0, 0, 0]]), "outside the action space"),
        (np.array([[1, 10_001, 0], [0, 0, 0]]), "quantity 0..10000"),
        (np.array([[1, 1, 10_001], [0, 0, 0]]), "outside the action space"),
        (np.array([[1, -1, 0], [0, 0, 0]]), "outside the action space"),
        (np.array([[1.0, np.nan, 0.0], [0.0, 0.0, 0.0]]), "NaN"),
        (np.array([[1.0, 1.5, 0.0], [0.0, 0.0, 0.0]]), "integer-valued"),
        (np.array([["a", "b", "c"], ["d", "e", "f"]]), "dtype <U1 must be an integer type"),
    ],
)
def test_invalid_actions_name_the_agent(small_cfg: Config, action: object, match: str) -> None:
    env = MarketParallelEnv(small_cfg)
    env.reset(seed=0)
    hold = np.zeros((2, 3), dtype=np.int64)
    with pytest.raises(InvalidActionError, match="NoiseTrader_01: .*" + match) as err:
        env.step({"NoiseTrader_00": hold, "NoiseTrader_01": action})
    assert isinstance(err.value, ValueError)


def test_unknown_agent_and_bad_container(small_cfg: Config) -> None:
    env = MarketParallelEnv(small_cfg)
    env.reset(seed=0)
    with pytest.raises(InvalidActionError, match="'Trader_99' is not an agent"):
        env.step({"Trader_99": np.zeros((2, 3), dtype=np.int64)})
    with pytest.raises(InvalidActionError, match="must be a dict"):
        env.step([np.zeros((2, 3), dtype=np.int64)])  # type: ignore[arg-type]
    # Integer-valued floats and other integer dtypes are fine.
    env.step({"NoiseTrader_00": np.array([[3.0, 1.0, 0.0], [0.0, 0.0, 0.0]]), "NoiseTrader_01": np.zeros((2, 3), np.int8)})


def test_step_or_policies_before_reset_raise(small_cfg: Config) -> None:
    env = MarketParallelEnv(small_cfg)
    with pytest.raises(ResetNeeded) as err:
        env.step({})
    assert isinstance(err.value, RuntimeError)
    with pytest.raises(ResetNeeded):
        env.rule_based_policies()
    with pytest.raises(ResetNeeded):
        _ = env.simulation
