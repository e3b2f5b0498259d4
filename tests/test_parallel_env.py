"""MarketParallelEnv: K learners among the crowd, PettingZoo API and seeding, parity, rewards, errors."""

from __future__ import annotations

import dataclasses
import warnings

import numpy as np
import pytest
from gymnasium import spaces
from pettingzoo.test import api_test, parallel_api_test, parallel_seed_test, seed_test

import marketenv
from marketenv import multiagent
from marketenv.actions import N_TYPES
from marketenv.config import AgentGroupConfig, Config, default_config, load_config
from marketenv.env import MarketEnv
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
        out.append(sim.step().trades)
    return out, sim


def engine(cfg: Config, **kw: object) -> MarketParallelEnv:
    """Every slot, raw features, no warm-up: the headless-run driver setup."""
    return MarketParallelEnv(cfg, learners="all", observation="raw", warmup_ticks=0, **kw)


def policy_trades(cfg: Config, ticks: int) -> tuple[list[list[Trade]], MarketParallelEnv]:
    """Per-tick trades of the parallel env driven by ``rule_based_policies`` through ``step_array``."""
    env = engine(cfg)
    env.reset(seed=cfg.simulation.seed)
    policies = env.rule_based_policies()
    names = [s.agent_name for s in env.specs]
    raw = env.simulation.obs.copy()
    out = []
    for _ in range(ticks):
        raw, *_ = env.step_array(np.stack([policies[a].predict(raw[i])[0] for i, a in enumerate(names)]))
        out.append(list(env.last_trades))
    return out, env


def sell_everything_cfg(cfg: Config) -> Config:
    """``cfg`` with a first agent ``NoiseTrader_00`` holding 10.00 of cash, and makers whose
    quotes do not move with its flow (so selling only costs it the spread)."""
    poor = AgentGroupConfig(type="noise_trader", count=1, initial_cash=10.0, position_limit=5000)
    out = dataclasses.replace(without_price_impact(cfg), agents=(poor, *without_price_impact(cfg).agents))
    out.validate()
    return out


# ---------------------------------------------------------------- PettingZoo API and seeding
def test_pettingzoo_tests_pass_on_defaults() -> None:
    """The four PettingZoo test functions on the shipped defaults (default scenario, 1 learner)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "agents named like player_0" is a naming recommendation
        parallel_api_test(multiagent.parallel_env(), num_cycles=100)
        parallel_seed_test(multiagent.parallel_env, num_cycles=100)
        api_test(multiagent.env(), num_cycles=50)
        seed_test(multiagent.env, num_cycles=50)


@pytest.mark.parametrize("action_mode", ["discrete", "limit", "order"])
@pytest.mark.parametrize("learners", [4, "all"])
def test_pettingzoo_tests_pass_for_modes(small_cfg: Config, action_mode: str, learners: object) -> None:
    fn = lambda: marketenv.parallel_env(config=small_cfg, learners=learners, action_mode=action_mode, max_cycles=40)  # noqa: E731
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        parallel_api_test(fn(), num_cycles=50)
        parallel_seed_test(fn, num_cycles=50)


def test_defaults_match_market_env() -> None:
    env = marketenv.parallel_env()
    single = MarketEnv()
    assert env.possible_agents == [single.agent_name]
    a = env.possible_agents[0]
    assert env.observation_space(a) == single.observation_space == spaces.Box(-10, 10, (45,), np.float32)
    assert env.action_space(a) == single.action_space == spaces.Discrete(3)
    assert env.warmup_ticks == single.warmup_ticks == 100
    obs, infos = env.reset(seed=0)
    assert obs[a].dtype == np.float32 and np.isfinite(obs[a]).all()
    first, single_info = single.reset(seed=0)
    np.testing.assert_array_equal(obs[a], first)  # one seed rule: the same market
    assert infos[a] == single_info  # one info builder
    assert single_info["tick"] == 100 and single_info["order_status"] == "none"
    assert single_info["fill_quantity"] == 0 and single_info["equity"] == single_info["cash"] == 100_000.0


def test_one_learner_is_market_env(small_cfg: Config) -> None:
    """With one learner and the same market seed, the parallel env and MarketEnv agree step for step."""
    par = MarketParallelEnv(small_cfg, learners=["NoiseTrader_03"], action_mode="limit")
    single = MarketEnv(small_cfg, agent="NoiseTrader_03", action_mode="limit")
    obs, _ = par.reset(seed=3)
    first, _ = single.reset(seed=3)
    assert par.simulation.seed == single.simulation.seed == 3
    np.testing.assert_array_equal(obs["NoiseTrader_03"], first)
    space = par.action_space("NoiseTrader_03")
    space.seed(1)
    for _ in range(60):
        act = space.sample()
        o1, r1, *_, i1 = par.step({"NoiseTrader_03": act})
        o2, r2, _t, _u, i2 = single.step(act)
        np.testing.assert_array_equal(o1["NoiseTrader_03"], o2)
        assert r1["NoiseTrader_03"] == pytest.approx(r2)
        assert i1["NoiseTrader_03"] == i2


def test_k_learners_are_noise_traders_and_the_crowd_trades(small_cfg: Config) -> None:
    env = MarketParallelEnv(small_cfg, learners=3)
    assert env.possible_agents == ["NoiseTrader_00", "NoiseTrader_01", "NoiseTrader_02"]
    assert env.learner_ids == [2, 3, 4]
    env.reset(seed=0)
    for _ in range(20):
        env.step({})  # every learner holds
    m = env.simulation.market
    assert m.total_trades > 0
    assert all(m.position[i] == 0 for i in env.learner_ids)  # nobody traded for the learners
    assert MarketParallelEnv(small_cfg, learners=["Momentum_00", 0]).possible_agents == ["MarketMaker_00", "Momentum_00"]
    with pytest.raises(ValueError, match="first 9 noise traders but the config has 8"):
        MarketParallelEnv(small_cfg, learners=9)
    with pytest.raises(ValueError, match="twice"):
        MarketParallelEnv(small_cfg, learners=[2, "NoiseTrader_00"])
    with pytest.raises(ValueError, match="'some'"):
        MarketParallelEnv(small_cfg, learners="some")


def test_state_concatenates_the_learners(small_cfg: Config) -> None:
    env = MarketParallelEnv(small_cfg, learners=2)
    obs, _ = env.reset(seed=1)
    state = env.state()
    assert env.state_space.contains(state) and state.shape == (90,)
    np.testing.assert_array_equal(state, np.concatenate([obs[a] for a in env.possible_agents]))
    aec = multiagent.env(config=small_cfg, learners=2)
    aec.reset(seed=1)
    np.testing.assert_array_equal(aec.state(), state)


def test_order_mode_is_bounded_and_means_both_sides(small_cfg: Config) -> None:
    env = MarketParallelEnv(small_cfg, learners=1, action_mode="order", sizes=(2, 7), max_offset_ticks=3)
    a = env.possible_agents[0]
    assert env.action_space(a) == spaces.MultiDiscrete([N_TYPES, 2, 7, N_TYPES, 2, 7])
    env.reset(seed=0)
    ref = env.simulation.market.reference_price(0)
    # buy 7 limit at ref - 3, sell 2 limit at ref + 3: a two-sided quote
    _o, _r, _t, _u, info = env.step({a: np.array([1, 1, 0, 1, 0, 6])})
    resting = sorted(env.simulation.market.resting_orders(env.learner_ids[0], 0))
    sides = {(o[1], o[2], o[3]) for o in resting} if resting else set()
    assert info[a]["order_status"] in ("resting", "filled")
    prices = sorted(o[2] for o in resting)
    assert prices and (prices[0] == ref - 3 or prices[-1] == ref + 3), sides


def test_raw_observation_and_no_warmup(small_cfg: Config) -> None:
    env = MarketParallelEnv(small_cfg, learners=2, observation="raw", warmup_ticks=0)
    obs, _ = env.reset(seed=0)
    assert np.isnan(obs["NoiseTrader_00"]).any()  # the NaN policy's first ticks
    assert obs["NoiseTrader_00"].dtype == np.float32
    with pytest.raises(ValueError, match="warmup_ticks must be >= 100"):
        MarketParallelEnv(small_cfg, warmup_ticks=0)


def test_factory_callable_repeatedly(small_cfg: Config) -> None:
    # Importing marketenv.parallel_env (the module) must not break marketenv.parallel_env(...).
    import marketenv.parallel_env  # noqa: F401

    for _ in range(2):
        assert isinstance(marketenv.parallel_env(config=small_cfg), MarketParallelEnv)


# ---------------------------------------------------------------- parity
@pytest.mark.parametrize("config", [None, "multi_symbol.toml"])
def test_rule_based_policies_reproduce_headless_run(config: str | None) -> None:
    cfg = default_config() if config is None else load_config(CONFIGS / config)
    ticks = 300
    ref, sim = headless_trades(cfg, ticks)
    got, env = policy_trades(cfg, ticks)
    assert sum(map(len, ref)) > ticks, "the market trades"
    assert got == ref  # every trade of every tick, in order
    fast = Simulation(cfg)
    assert fast.run(ticks) == sum(map(len, ref))
    m = env.simulation.market
    assert list(m.cash) == list(fast.market.cash) == list(sim.market.cash)
    assert list(m.position) == list(fast.market.position)


def test_vectorised_crowd_driver_reproduces_headless_run(multi_cfg: Config) -> None:
    ticks = 150
    ref, _ = headless_trades(multi_cfg, ticks)
    env = engine(multi_cfg)
    env.reset(seed=multi_cfg.simulation.seed)
    sim = env.simulation
    got = []
    for _ in range(ticks):
        env.step_array(sim.crowd_actions(sim.obs))
        got.append(list(env.last_trades))
    assert got == ref


def test_learners_holding_leave_the_crowd_run_unchanged(small_cfg: Config) -> None:
    """Learner slots that hold keep the crowd's random streams: same trades as a crowd whose slots hold."""
    env = MarketParallelEnv(small_cfg, learners=2, observation="raw", warmup_ticks=0)
    env.reset(seed=7)
    got = []
    for _ in range(40):
        env.step({})
        got.append(list(env.last_trades))
    sim = Simulation(small_cfg, seed=7)
    hold = dict.fromkeys(env.learner_ids, np.zeros((2, 3), dtype=np.int64))
    ref = [sim.step(hold).trades for _ in range(40)]
    assert sum(map(len, ref)) > 10
    assert got == ref


def test_same_seed_same_run_and_next_seed_differs(small_cfg: Config) -> None:
    a, _ = policy_trades(small_cfg, 50)
    b, _ = policy_trades(small_cfg, 50)
    assert a == b
    env = MarketParallelEnv(small_cfg)
    env.reset(seed=small_cfg.simulation.seed)
    assert env.simulation.seed == small_cfg.simulation.seed
    env.reset()  # the next seed, drawn from a generator seeded by the last one given
    drawn = env.simulation.seed
    assert drawn != small_cfg.simulation.seed
    single = MarketEnv(small_cfg)
    single.reset(seed=small_cfg.simulation.seed)
    single.reset()
    assert single.simulation.seed == drawn  # the same rule as MarketEnv


# ---------------------------------------------------------------- rewards and infos
def test_rewards_infos_and_truncation(small_cfg: Config) -> None:
    env = MarketParallelEnv(small_cfg, learners=4, max_cycles=40)
    env.reset(seed=2)
    m = env.simulation.market
    start = env.simulation.equity.copy()
    total = dict.fromkeys(env.possible_agents, 0.0)
    filled = 0
    rng = np.random.default_rng(0)
    for t in range(40):
        acts = {a: int(rng.integers(0, 3)) for a in env.agents}
        obs, rewards, terms, truncs, infos = env.step(acts)
        assert set(obs) == set(rewards) == set(terms) == set(truncs) == set(infos) == set(env.possible_agents)
        for a, r in rewards.items():
            total[a] += r
            i = env.agent_name_mapping[a]
            info = infos[a]
            assert set(info) == INFO_KEYS and info["tick"] == 100 + t + 1  # the tick now starting
            assert info["position"] == m.position[i] and info["cash"] == m.cash[i] / 100
            if info["fill_quantity"]:
                filled += 1
                assert info["fill_price"] > 0 and abs(info["fill_quantity"]) <= 10
        assert all(v == (t == 39) for v in truncs.values())
    assert filled > 0
    assert env.agents == []
    end = env.simulation.equity
    for a in env.possible_agents:
        i = env.agent_name_mapping[a]
        assert total[a] == pytest.approx(end[i] - start[i], abs=1e-6)
    with pytest.raises(ResetNeeded, match="after the episode ended"):
        env.step({})


def test_normalize_reward(small_cfg: Config) -> None:
    kw = {"learners": ["MarketMaker_00", "NoiseTrader_00"]}
    raw = MarketParallelEnv(small_cfg, **kw)
    norm = MarketParallelEnv(small_cfg, normalize_reward=True, **kw)
    raw.reset(seed=4)
    norm.reset(seed=4)
    for _ in range(5):
        r1 = raw.step({"NoiseTrader_00": 2, "MarketMaker_00": 0})[1]
        r2 = norm.step({"NoiseTrader_00": 2, "MarketMaker_00": 0})[1]
        assert r2["MarketMaker_00"] == r1["MarketMaker_00"] / 1_000_000.0
        assert r2["NoiseTrader_00"] == r1["NoiseTrader_00"] / 100_000.0
    assert any(r1.values())


def test_missing_agents_hold_and_rejections_are_reported(small_cfg: Config) -> None:
    env = MarketParallelEnv(small_cfg, learners=3, action_mode="limit", sizes=(1001,))
    env.reset(seed=0)
    _obs, _r, _te, _tr, infos = env.step({"NoiseTrader_00": np.array([2, 0, 20])})  # limit buy 1001 above the mid
    assert infos["NoiseTrader_00"]["order_status"] == "rejected"
    assert "position limit" in infos["NoiseTrader_00"]["reject_reason"]  # position limit 1000
    assert all(i["order_status"] == "none" for a, i in infos.items() if a != "NoiseTrader_00")


def test_bankrupt_learner_is_terminated_and_removed(small_cfg: Config) -> None:
    cfg = sell_everything_cfg(small_cfg)
    env = MarketParallelEnv(cfg, learners=["NoiseTrader_00", "NoiseTrader_01"], order_size=100, max_cycles=300)
    env.reset(seed=0)
    poor = "NoiseTrader_00"
    for _ in range(300):
        obs, _r, terms, truncs, infos = env.step({poor: 0})  # sell 100 at market, every tick
        if terms[poor]:
            break
    assert terms[poor] and not truncs[poor]
    assert infos[poor]["equity"] <= 0
    assert env.agents == ["NoiseTrader_01"] and not terms["NoiseTrader_01"]
    assert not env.alive[0] and env.alive[1]
    with pytest.raises(InvalidActionError, match=f"{poor}: agent is terminated"):
        env.step({poor: 0})
    obs, rewards, *_ = env.step({})
    assert poor not in obs and poor not in rewards
    assert env.state().shape == (90,)  # the dead learner's row stays in the state


# ---------------------------------------------------------------- invalid input
@pytest.mark.parametrize(
    ("mode", "action", "match"),
    [
        ("discrete", 3, "must be 0 \\(sell\\), 1 \\(hold\\) or 2 \\(buy\\)"),
        ("discrete", np.array([1, 1]), "shape \\(2,\\)"),
        ("discrete", 1.5, "integer-valued"),
        ("discrete", np.nan, "NaN"),
        ("discrete", "buy", "dtype <U3"),
        ("order", np.array([N_TYPES, 0, 0, 0, 0, 0]), f"type {N_TYPES} must be in 0..{N_TYPES - 1}"),
        ("order", np.array([1, 4, 0, 0, 0, 0]), "size index 4"),
        ("order", np.array([1, 0, 21, 0, 0, 0]), "offset index 21 must be in 0..20"),
        ("order", np.zeros((2, 3), dtype=np.int64), "shape \\(2, 3\\)"),
        ("limit", np.array([3, 0, 0]), "side 3"),
    ],
)
def test_invalid_actions_name_the_agent(small_cfg: Config, mode: str, action: object, match: str) -> None:
    env = MarketParallelEnv(small_cfg, learners=2, action_mode=mode)
    env.reset(seed=0)
    hold = env.action_space("NoiseTrader_00").sample()
    with pytest.raises(InvalidActionError, match="NoiseTrader_01: .*" + match) as err:
        env.step({"NoiseTrader_00": hold, "NoiseTrader_01": action})
    assert isinstance(err.value, ValueError)


def test_step_array_rejects_bad_orders(small_cfg: Config) -> None:
    env = engine(small_cfg)
    env.reset(seed=0)
    acts = np.zeros((15, 2, 3), dtype=np.int64)
    acts[3, 0] = (1, 10_001, 0)
    with pytest.raises(InvalidActionError, match="NoiseTrader_01: .*quantity 0..10000"):
        env.step_array(acts)
    with pytest.raises(InvalidActionError, match="shape \\(2, 3\\) must be \\(15, 2, 3\\)"):
        env.step_array(acts[0])
    bad = acts.astype(float)
    bad[3, 0] = (1, 1.5, 0)
    with pytest.raises(InvalidActionError, match="NoiseTrader_01: .*integer-valued"):
        env.step_array(bad)


def test_unknown_agent_and_bad_container(small_cfg: Config) -> None:
    env = MarketParallelEnv(small_cfg)
    env.reset(seed=0)
    with pytest.raises(InvalidActionError, match="'Trader_99' is not an agent"):
        env.step({"Trader_99": 1})
    with pytest.raises(InvalidActionError, match="must be a dict"):
        env.step([1])  # type: ignore[arg-type]
    env.step({"NoiseTrader_00": np.int8(2)})  # other integer types are fine
    with pytest.raises(ValueError, match="'Nobody' is not an agent"):
        env.action_space("Nobody")


def test_step_or_policies_before_reset_raise(small_cfg: Config) -> None:
    env = MarketParallelEnv(small_cfg)
    with pytest.raises(ResetNeeded) as err:
        env.step({})
    assert isinstance(err.value, RuntimeError)
    with pytest.raises(ResetNeeded):
        env.rule_based_policies()
    with pytest.raises(ResetNeeded):
        _ = env.simulation
