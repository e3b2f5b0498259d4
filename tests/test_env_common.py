"""The glue both envs share: warm-up and dtype defaults, one seed rule, one info builder, one status rule."""

from __future__ import annotations

import numpy as np
import pytest

from marketenv.actions import NO_OUTCOME, ActionOutcome
from marketenv.config import Config
from marketenv.env import MarketEnv
from marketenv.env_common import EpisodeSeeds, outcome_status
from marketenv.parallel_env import MarketParallelEnv
from marketenv.simulation import Simulation
from marketenv.types import OrderStatus

HOLD_ACTION = 1  # discrete mode: 0 sell, 1 hold, 2 buy


@pytest.mark.parametrize("observation", ["scaled", "raw"])
def test_both_envs_default_to_a_full_warm_up_and_float32(small_cfg: Config, observation: str) -> None:
    single = MarketEnv(small_cfg, observation=observation)
    par = MarketParallelEnv(small_cfg, learners=3, observation=observation)
    assert single.warmup_ticks == par.warmup_ticks == 100
    obs, info = single.reset(seed=4)
    pobs, pinfos = par.reset(seed=4)
    assert info["tick"] == 100 and all(i["tick"] == 100 for i in pinfos.values())
    assert single.observation_space.dtype == np.float32
    assert obs.dtype == np.float32 and np.isfinite(obs).all()
    for a, o in pobs.items():
        assert par.observation_space(a).dtype == np.float32
        assert o.dtype == np.float32 and np.isfinite(o).all()
    o, *_ = single.step(HOLD_ACTION)
    assert o.dtype == np.float32 and np.isfinite(o).all()


def test_both_envs_refuse_a_short_warm_up_for_scaled_observations(small_cfg: Config) -> None:
    for make in (lambda **kw: MarketEnv(small_cfg, **kw), lambda **kw: MarketParallelEnv(small_cfg, **kw)):
        with pytest.raises(ValueError, match="warmup_ticks must be >= 100"):
            make(warmup_ticks=99)
        with pytest.raises(ValueError, match="warmup_ticks must be >= 100"):
            make(warmup_ticks=-1, observation="raw")
        make(warmup_ticks=0, observation="raw")  # raw features may be NaN: allowed


def test_seed_rule() -> None:
    seeds = EpisodeSeeds()
    assert seeds.next(7) == 7  # a given seed is the market's root seed
    after7 = [seeds.next(None) for _ in range(3)]
    assert len(set(after7)) == 3 and 7 not in after7
    again = EpisodeSeeds()
    again.next(None)  # whatever came before, a seed restarts the stream
    assert again.next(7) == 7 and [again.next(None) for _ in range(3)] == after7
    # envs seeded 0, 1, 2 (a vector env) do not replay each other's episodes
    streams = []
    for s in range(3):
        e = EpisodeSeeds()
        streams.append([e.next(s), *(e.next(None) for _ in range(5))])
    flat = [x for st in streams for x in st]
    assert len(set(flat)) == len(flat)
    # never seeded: fresh entropy, so unseeded envs differ
    assert EpisodeSeeds().next(None) != EpisodeSeeds().next(None)
    for bad in (-1, 1.5, True, "3", 2**63):
        with pytest.raises(ValueError, match="seed must be an integer"):
            EpisodeSeeds().next(bad)


def test_market_env_holding_is_the_headless_run_with_that_slot_holding(small_cfg: Config) -> None:
    env = MarketEnv(small_cfg, agent="NoiseTrader_02")
    env.reset(seed=123)
    assert env.simulation.seed == 123  # the market of Simulation(config, seed=123)
    i = env.agent_id
    sim = Simulation(small_cfg, seed=123)
    sim.run(env.warmup_ticks, hold=(i,))
    np.testing.assert_array_equal(env.simulation.obs, sim.obs)
    hold = {i: np.zeros((2, 3), dtype=np.int64)}
    n = 0
    for _ in range(200):
        _o, reward, *_ = env.step(HOLD_ACTION)
        tr = sim.step(hold)
        assert env.last_trades == tr.trades
        assert reward == tr.rewards[i]
        n += len(tr.trades)
    assert n > 100


def test_the_parallel_env_with_one_learner_is_market_env_across_unseeded_resets(small_cfg: Config) -> None:
    single = MarketEnv(small_cfg)
    par = MarketParallelEnv(small_cfg, learners=1)
    a = par.possible_agents[0]
    for seed in (5, None, None):
        o1, i1 = single.reset(seed=seed)
        o2, i2 = par.reset(seed=seed)
        assert single.simulation.seed == par.simulation.seed
        np.testing.assert_array_equal(o1, o2[a])
        assert i1 == i2[a]
        for t in range(30):
            act = t % 3
            s1 = single.step(act)
            s2 = par.step({a: act})
            np.testing.assert_array_equal(s1[0], s2[0][a])
            assert s1[1] == s2[1][a] and s1[4] == s2[4][a]


def test_outcome_status_is_the_buy_order_else_the_sell_order() -> None:
    filled, resting, rejected = int(OrderStatus.FILLED), int(OrderStatus.RESTING), int(OrderStatus.REJECTED)
    both = ActionOutcome(*NO_OUTCOME[:4], filled, rejected, *NO_OUTCOME[6:])
    sell_only = ActionOutcome(*NO_OUTCOME[:4], -1, resting, *NO_OUTCOME[6:])
    assert outcome_status(both) == "filled"
    assert outcome_status(sell_only) == "resting"
    assert outcome_status(NO_OUTCOME) == "none"
