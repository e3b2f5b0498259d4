"""Whole runs: a live, sane market, exact accounting every tick, determinism, every type trades."""

from __future__ import annotations

import dataclasses
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from marketenv.config import NewsConfig, SymbolConfig, default_config, load_config
from marketenv.feature_spec import FEATURE_INDEX as F
from marketenv.simulation import Simulation
from marketenv.types import Trade

CONFIGS = Path(__file__).resolve().parents[1] / "configs"
WARM_UP = 100


@dataclass
class Observed:
    """Per tick of one symbol: the mid and fair value at the start, the book after, trades."""

    sim: Simulation
    mid: np.ndarray  # (T, S)
    fair: np.ndarray  # (T, S)
    traded: np.ndarray  # (T, S) bool: any trade in the tick
    two_sided_spread: list[list[int]]  # per symbol, spreads (ticks) at the ends of ticks with both sides
    trades_by_type: Counter[str]
    trades_by_agent: np.ndarray


def observe(sim: Simulation, ticks: int) -> Observed:
    m = sim.market
    S = m.n_symbols
    mid = np.empty((ticks, S))
    fair = np.empty((ticks, S))
    traded = np.zeros((ticks, S), dtype=bool)
    spreads: list[list[int]] = [[] for _ in range(S)]
    by_type: Counter[str] = Counter()
    by_agent = np.zeros(sim.n_agents, dtype=np.int64)
    for t in range(ticks):
        mid[t] = m.mid_prices()  # at the start of tick t
        fair[t] = m.fundamentals.fair_value
        for tr in sim.step().trades:
            traded[t, tr.symbol] = True
            for a in (tr.buyer, tr.seller):
                by_type[sim.specs[a].type] += 1
                by_agent[a] += 1
        for s, book in enumerate(m.books):
            b, a = book.best_bid(), book.best_ask()
            if b is not None and a is not None:
                spreads[s].append(a - b)
    return Observed(sim, mid, fair, traded, spreads, by_type, by_agent)


@pytest.fixture(scope="module")
def default_run() -> Observed:
    return observe(Simulation(default_config(), seed=42), 4000)


# --------------------------------------------------------------------------- a live market
def test_the_default_market_is_alive(default_run: Observed) -> None:
    r = default_run
    assert r.traded[WARM_UP:].mean() > 0.8
    for spreads in r.two_sided_spread:
        assert len(spreads) > 0.95 * len(r.mid) and min(spreads) > 0  # positive, never crossed
        assert np.median(spreads) <= 10  # a few cents on a ~41.00 stock
    dev = np.abs(r.mid[WARM_UP:] / r.fair[WARM_UP:] - 1)
    assert dev.mean() < 0.01 and dev.max() < 0.05
    # the mid moves (not frozen) but stays near the fair value (not exploding)
    assert np.std(np.diff(r.mid[:, 0])) > 0 and len(np.unique(r.mid[:, 0])) > 100


def test_price_follows_fair_value_over_a_long_run(default_run: Observed) -> None:
    mid, fair = default_run.mid[WARM_UP:, 0], default_run.fair[WARM_UP:, 0]
    assert fair.max() / fair.min() > 1.002, "the fair value should wander in this run"
    dm, df = np.diff(np.log(mid[::100])), np.diff(np.log(fair[::100]))
    assert np.corrcoef(dm, df)[0, 1] > 0.8  # 100-tick moves of the price are the fair value's


def test_every_agent_type_and_every_agent_trades(default_run: Observed) -> None:
    types = {s.type for s in default_run.sim.specs}
    assert set(default_run.trades_by_type) == types
    assert all(default_run.trades_by_type[t] >= 20 for t in types), default_run.trades_by_type
    assert (default_run.trades_by_agent > 0).all()


def test_no_systematic_drift_away_from_fair_value(default_run: Observed) -> None:
    """Buy and sell orders are priced symmetrically: the mid is neither above nor below fair value on average."""
    signed = default_run.mid[WARM_UP:, 0] / default_run.fair[WARM_UP:, 0] - 1
    assert abs(signed.mean()) < 0.0005  # 5 bp; a one-tick pricing bias gave ~ -14 bp


@pytest.mark.parametrize("seed", [3, 4])
def test_news_is_priced_in_the_observation_it_arrives_in(seed: int) -> None:
    """A news jump moves the fair value at arrival, and the pegged quotes carry the mid with
    it before anyone observes the tick: no drift towards the news afterwards."""
    cfg = dataclasses.replace(
        default_config(),
        news=NewsConfig(rate=0.005, min_duration=100, max_duration=100, impact=0.02, jump_tail=1000.0),
        symbols=(SymbolConfig(volatility=0.0),),  # only news moves the fair value
    )
    cfg.validate()
    sim = Simulation(cfg, seed)
    T = 3000
    obs = np.array([sim.step().obs[0] for _ in range(T)])
    mid, fair = obs[:, F["mid_price"]], obs[:, F["fair_value"]]
    starts = np.flatnonzero(obs[:, F["news_ticks_remaining"]] == 100)
    big = 0
    for t0 in starts[(starts > 50) & (starts < T - 50)]:
        jump = np.log(fair[t0] / fair[t0 - 1])
        assert np.sign(jump) == np.sign(obs[t0, F["news_sentiment"]])
        if abs(jump) < 0.002:  # a >= 20-tick move on a 103.00 stock
            continue
        big += 1
        at_once = np.log(mid[t0] / mid[t0 - 1])
        later = np.log(mid[t0 + 30] / mid[t0])
        assert at_once == pytest.approx(jump, abs=0.0003), (t0, jump, at_once)
        assert abs(later) < 0.25 * abs(jump), (t0, jump, later)
    assert big >= 3
    assert np.abs(mid / fair - 1).max() < 0.01


# --------------------------------------------------------------------------- accounting
def test_accounting_is_exact_at_every_tick_of_a_multi_symbol_run_with_fees() -> None:
    cfg = load_config(CONFIGS / "multi_symbol.toml")
    assert cfg.market.fee_bps > 0
    sim = Simulation(cfg, seed=9)
    m = sim.market
    S = m.n_symbols
    limits = np.repeat(np.array(m.position_limit), S)
    initial_cash = sum(m.initial_cash)
    for _ in range(2000):
        sim.step()
        m.check_conservation()
        assert sum(m.cash) + m.fees_collected == initial_cash
        pos = np.array(m.position)
        assert (np.abs(pos) <= limits).all()
        assert min(m.cash) >= 0
        assert all(m.free_cash(a) >= 0 for a in range(sim.n_agents))
    assert m.fees_collected > 0 and m.total_trades > 10_000
    # agents trade only their own symbol
    pos = np.array(m.position).reshape(sim.n_agents, S)
    other = np.ones_like(pos, dtype=bool)
    other[np.arange(sim.n_agents), sim.agent_symbols] = False
    assert (pos[other] == 0).all()


# --------------------------------------------------------------------------- determinism
def trade_log(seed: int, ticks: int = 1500, config: str | None = None) -> list[Trade]:
    cfg = default_config() if config is None else load_config(CONFIGS / config)
    sim = Simulation(cfg, seed)
    log: list[Trade] = []
    for _ in range(ticks):
        log.extend(sim.step().trades)
    return log


@pytest.mark.parametrize("config", [None, "multi_symbol.toml"])
def test_same_seed_same_trades_different_seed_different_trades(config: str | None) -> None:
    a, b = trade_log(5, config=config), trade_log(5, config=config)
    assert len(a) > 1000 and a == b
    c = trade_log(6, config=config)
    assert c != a


def test_the_config_seed_is_the_default_seed() -> None:
    cfg = default_config().with_overrides(seed=77)
    a = Simulation(cfg)
    b = Simulation(default_config(), seed=77)
    assert a.seed == b.seed == 77
    for _ in range(300):
        ra, rb = a.step(), b.step()
        np.testing.assert_array_equal(ra.obs, rb.obs)
        np.testing.assert_array_equal(ra.actions, rb.actions)
        assert ra.trades == rb.trades


# --------------------------------------------------------------------------- the one driver
HOLD = np.zeros((2, 3), dtype=np.int64)


def test_step_returns_before_and_after_as_its_docstring_states(small_cfg) -> None:
    sim = Simulation(small_cfg, seed=3)
    assert sim.tick == 0  # a new simulation stands at the start of tick 0
    prev = None
    for t in range(120):
        obs, equity = sim.obs, sim.equity
        tr = sim.step()
        assert tr.tick == t and sim.tick == t + 1
        assert tr.obs is obs and tr.next_obs is sim.obs  # before / after
        if prev is not None:
            assert tr.obs is prev.next_obs
        np.testing.assert_array_equal(tr.equity_before, equity)
        np.testing.assert_array_equal(tr.equity_after, sim.equity)
        # the equity feature is the equity before (obs) and after (next_obs)
        np.testing.assert_array_equal(tr.obs[:, F["equity"]], tr.equity_before)
        np.testing.assert_array_equal(tr.next_obs[:, F["equity"]], tr.equity_after)
        np.testing.assert_array_equal(tr.rewards, tr.next_obs[:, F["equity"]] - tr.obs[:, F["equity"]])
        assert all(x.tick == t for x in tr.trades)
        prev = tr
    kept = prev.obs.copy()
    sim.step()
    np.testing.assert_array_equal(prev.obs, kept)  # a transition's arrays are never written again


def test_step_actions_none_mapping_and_array_forms(small_cfg) -> None:
    a, b, c = (Simulation(small_cfg, seed=11) for _ in range(3))
    for _ in range(150):
        ta = a.step()
        tb = b.step({})
        tc = c.step(c.crowd_actions(c.obs))  # the caller asks the policies itself
        assert ta.trades == tb.trades == tc.trades
        np.testing.assert_array_equal(ta.actions, tc.actions)
    # a mapping replaces those agents' actions; the policies still draw for them, so an
    # array holding every slot's policy action except agent 0's gives the same run
    d, e = Simulation(small_cfg, seed=11), Simulation(small_cfg, seed=11)
    for _ in range(150):
        td = d.step({0: HOLD})
        acts = e.crowd_actions(e.obs)
        acts[0] = 0
        te = e.step(acts)
        assert td.trades == te.trades
        assert not td.actions[0].any()


def test_fast_run_is_the_same_phases_as_step(small_cfg) -> None:
    fast, slow = Simulation(small_cfg, seed=2), Simulation(small_cfg, seed=2)
    n = fast.run(200, hold=(3,))
    trades = sum(len(slow.step({3: HOLD}).trades) for _ in range(200))
    assert n == trades > 100
    assert fast.tick == slow.tick == 200
    np.testing.assert_array_equal(fast.obs, slow.obs)
    np.testing.assert_array_equal(fast.market.cash, slow.market.cash)
