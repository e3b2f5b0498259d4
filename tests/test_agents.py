"""Rule-based agents: each strategy's rule on crafted observations, identities, the crowd.

Crafted observations start from a neutral, fully warm vector (no signal fires) and change
only the features a rule reads; agents are built with ``activity = 1`` (``refresh = 1``)
so the only randomness left is the order size (and, for the noise trader, everything).
"""

from __future__ import annotations

import dataclasses
import json
import math
import re
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from agents.base import AgentSpec, RuleBasedAgent, Strategy
from agents.crowd import Crowd
from agents.market_maker import MarketMaker
from agents.noise_trader import NoiseTrader
from agents.registry import STRATEGIES, agent_specs, build_params, make_policies
from marketenv.actions import ACTION_SHAPE, CANCEL, IOC, LIMIT, MARKET, PEG
from marketenv.config import (
    AgentGroupConfig,
    Config,
    SimulationConfig,
    config_from_dict,
    default_config,
    load_config,
)
from marketenv.errors import ConfigError
from marketenv.feature_spec import FEATURE_INDEX as F
from marketenv.feature_spec import N_FEATURES, NAN_UNTIL
from marketenv.simulation import Simulation, spawn_generators

CONFIGS = Path(__file__).resolve().parents[1] / "configs"
SIGNAL_TYPES = ("momentum", "trend_follower", "mean_reversion", "value_trader", "macd_crossover")
DETERMINISTIC = {"market_maker": {"refresh": 1.0}, "noise_trader": {"activity": 1.0}}
NO_PRIVATE_NOISE = {"value_trader": {"value_noise": 0.0}}

# Features each signal rule reads, and overrides that make it buy / sell.
READS = {
    "momentum": ("price_change_20",),
    "trend_follower": ("sma_10", "sma_50"),
    "mean_reversion": ("bb_percent_b",),
    "value_trader": ("mid_price", "fair_value"),
    "macd_crossover": ("macd_histogram",),
}
BUY_WHEN = {
    "momentum": {"price_change_20": 0.8},  # after a rise
    "trend_follower": {"sma_10": 41.5, "sma_50": 41.0},  # fast above slow
    "mean_reversion": {"bb_percent_b": -0.3},  # below the lower band
    "value_trader": {"mid_price": 40.0, "fair_value": 41.0},  # below fair value
    "macd_crossover": {"macd_histogram": 0.02},  # histogram > 0
}
SELL_WHEN = {
    "momentum": {"price_change_20": -0.8},
    "trend_follower": {"sma_10": 40.5, "sma_50": 41.0},
    "mean_reversion": {"bb_percent_b": 1.3},  # above the upper band
    "value_trader": {"mid_price": 42.0, "fair_value": 41.0},
    "macd_crossover": {"macd_histogram": -0.02},
}


def neutral_obs(**overrides: float) -> np.ndarray:
    """A warm observation in which no signal fires: flat prices at fair value, no position."""
    o = np.zeros(N_FEATURES)
    mid = 41.0
    for name in ("mid_price", "fair_value", "sma_10", "sma_20", "sma_50", "ema_12", "ema_26",
                 "bb_upper", "bb_middle", "bb_lower"):  # fmt: skip
        o[F[name]] = mid
    o[F["spread"]] = 0.03
    o[F["spread_bps"]] = 0.03 / mid * 1e4
    o[F["rsi_14"]] = 50.0
    o[F["bb_percent_b"]] = 0.5
    o[F["atr_14"]] = 0.03
    o[F["price_to_fair_value"]] = 1.0
    o[F["cash"]] = o[F["equity"]] = 100_000.0
    o[F["cash_normalized"]] = 1.0
    o[F["correlation_to_market"]] = 1.0
    for k, v in overrides.items():
        o[F[k]] = v
    if "fair_value_deviation" not in overrides:  # keep the fair-value block consistent
        m, fv = o[F["mid_price"]], o[F["fair_value"]]
        o[F["price_to_fair_value"]] = m / fv
        o[F["fair_value_deviation"]] = (m - fv) / fv * 100
    return o


def make_agent(
    type_name: str, params: dict[str, Any] | None = None, limit: int = 1000, seed: int = 0
) -> RuleBasedAgent:
    p = {"activity": 1.0, **NO_PRIVATE_NOISE.get(type_name, {})} if type_name in SIGNAL_TYPES else dict(
        DETERMINISTIC[type_name]
    )
    p.update(params or {})
    strategy = STRATEGIES[type_name](build_params(type_name, p), limit)
    spec = AgentSpec(0, f"{strategy.label}_00", type_name, 0, limit, 0)
    return RuleBasedAgent(spec, strategy, np.random.default_rng(seed))


def act(agent: RuleBasedAgent, obs: np.ndarray) -> np.ndarray:
    action, state = agent.predict(obs)
    assert state is None and action.shape == ACTION_SHAPE and action.dtype == np.int64
    return action


def direction(action: np.ndarray) -> int:
    """+1 buy only, -1 sell only, 0 hold (all zeros); anything else fails."""
    buy, sell = action[0], action[1]
    if not action.any():
        return 0
    if buy[1] > 0 and not sell.any():
        return 1
    if sell[1] > 0 and not buy.any():
        return -1
    raise AssertionError(f"not a one-sided order: {action.tolist()}")


def prices(action: np.ndarray, mid: float) -> tuple[int, int]:
    """Absolute limit prices (ticks) of the buy and sell rows, from the reference floor(mid)."""
    ref = math.floor(mid * 100 + 0.25)
    return ref + int(action[0, 2]), ref + int(action[1, 2])


# --------------------------------------------------------------------------- signal rules
@pytest.mark.parametrize("type_name", SIGNAL_TYPES)
def test_signal_strategy_buys_sells_and_holds_as_named(type_name: str) -> None:
    agent = make_agent(type_name)
    params = agent.strategy.params
    assert direction(act(agent, neutral_obs())) == 0
    for _ in range(20):
        buy = act(agent, neutral_obs(**BUY_WHEN[type_name]))
        sell = act(agent, neutral_obs(**SELL_WHEN[type_name]))
        assert direction(buy) == 1 and direction(sell) == -1
        otype = {"limit": LIMIT, "ioc": IOC, "market": MARKET}[params.order_type]
        assert buy[0, 0] == otype and sell[1, 0] == otype
        assert 1 <= buy[0, 1] <= params.quantity and 1 <= sell[1, 1] <= params.quantity


@pytest.mark.parametrize("type_name", SIGNAL_TYPES)
@pytest.mark.parametrize("mid", [41.0, 41.005, 40.0, 42.005])
def test_signal_orders_are_priced_symmetrically_about_the_mid(type_name: str, mid: float) -> None:
    aggression = 2
    agent = make_agent(type_name, {"aggression_ticks": aggression, "order_type": "limit"})
    buy_obs = neutral_obs(**BUY_WHEN[type_name])
    sell_obs = neutral_obs(**SELL_WHEN[type_name])
    for o in (buy_obs, sell_obs):  # move the whole price level, keep the signal
        shift = mid - o[F["mid_price"]]
        for name in ("mid_price", "fair_value", "sma_10", "sma_20", "sma_50"):
            o[F[name]] += shift
    m_buy, m_sell = buy_obs[F["mid_price"]], sell_obs[F["mid_price"]]
    bid, _ = prices(act(agent, buy_obs), m_buy)
    _, ask = prices(act(agent, sell_obs), m_sell)
    assert bid == math.floor(round(m_buy * 100, 6) + aggression)
    assert ask == math.ceil(round(m_sell * 100, 6) - aggression)
    # the same distance through the mid on both sides
    assert bid - m_buy * 100 == pytest.approx(m_sell * 100 - ask)


EDGES = {  # (feature overrides, expected direction) around each default threshold
    "momentum": [({"price_change_20": 0.051}, 1), ({"price_change_20": -0.051}, -1), ({"price_change_20": 0.049}, 0)],
    "trend_follower": [({"sma_10": 41.0125}, 1), ({"sma_10": 40.9875}, -1), ({"sma_10": 41.005}, 0)],
    "mean_reversion": [({"bb_percent_b": 1.0001}, -1), ({"bb_percent_b": -0.0001}, 1), ({"bb_percent_b": 1.0}, 0)],
    "value_trader": [({"mid_price": 40.99}, 1), ({"mid_price": 41.01}, -1), ({"mid_price": 41.0}, 0)],
    "macd_crossover": [({"macd_histogram": 1e-9}, 1), ({"macd_histogram": -1e-9}, -1), ({"macd_histogram": 0.0}, 0)],
}  # fmt: skip


@pytest.mark.parametrize("type_name", SIGNAL_TYPES)
def test_default_thresholds(type_name: str) -> None:
    """With default parameters each rule fires just past its documented boundary."""
    agent = make_agent(type_name)
    for overrides, expected in EDGES[type_name]:
        assert direction(act(agent, neutral_obs(**overrides))) == expected, overrides


def test_momentum_reads_its_lookback() -> None:
    agent = make_agent("momentum", {"lookback": 5, "threshold_pct": 0.3})
    assert direction(act(agent, neutral_obs(price_change_20=5.0))) == 0
    assert direction(act(agent, neutral_obs(price_change_5=0.31))) == 1
    assert direction(act(agent, neutral_obs(price_change_5=-0.31))) == -1
    assert direction(act(agent, neutral_obs(price_change_5=0.29))) == 0


def test_trend_and_value_thresholds() -> None:
    trend = make_agent("trend_follower", {"threshold_pct": 0.5})
    assert direction(act(trend, neutral_obs(sma_10=41.1, sma_50=41.0))) == 0  # +0.24% < 0.5%
    assert direction(act(trend, neutral_obs(sma_10=41.3, sma_50=41.0))) == 1
    value = make_agent("value_trader", {"threshold_pct": 1.0, "value_noise": 0.0})
    assert direction(act(value, neutral_obs(mid_price=40.8, fair_value=41.0))) == 0  # -0.49%
    assert direction(act(value, neutral_obs(mid_price=40.5, fair_value=41.0))) == 1
    assert direction(act(value, neutral_obs(mid_price=41.5, fair_value=41.0))) == -1


def test_value_trader_sees_the_fair_value_through_its_own_noise() -> None:
    """At mid == fair, a noisy private estimate buys and sells about equally often, and the
    share that buys at a given mispricing follows the normal law of the estimate."""
    noise = 0.01
    agent = make_agent("value_trader", {"value_noise": noise}, seed=11)
    at_fair = [direction(act(agent, neutral_obs())) for _ in range(4000)]
    assert np.mean(np.array(at_fair) == 1) == pytest.approx(0.5, abs=0.03)
    # mid 0.5% below fair: it buys when its estimate is above the mid, i.e. when
    # 1 + noise * z > 0.995, z > -0.5: probability Phi(0.5) = 0.691.
    below = [direction(act(agent, neutral_obs(mid_price=41.0 * 0.995))) for _ in range(4000)]
    assert np.mean(np.array(below) == 1) == pytest.approx(0.691, abs=0.03)
    twin = make_agent("value_trader", {"value_noise": noise}, seed=11)
    assert [direction(act(twin, neutral_obs())) for _ in range(50)] == at_fair[:50]


def test_mean_reversion_band_margin() -> None:
    agent = make_agent("mean_reversion", {"band_margin": 0.2})
    assert direction(act(agent, neutral_obs(bb_percent_b=1.1))) == 0
    assert direction(act(agent, neutral_obs(bb_percent_b=1.25))) == -1
    assert direction(act(agent, neutral_obs(bb_percent_b=-0.1))) == 0
    assert direction(act(agent, neutral_obs(bb_percent_b=-0.25))) == 1


def test_activity_is_the_probability_of_acting() -> None:
    agent = make_agent("macd_crossover", {"activity": 0.3}, seed=5)
    acted = [direction(act(agent, neutral_obs(macd_histogram=1.0))) for _ in range(4000)]
    assert set(acted) == {0, 1}
    assert np.mean(acted) == pytest.approx(0.3, abs=0.03)


# --------------------------------------------------------------------------- market maker
def quotes(agent: RuleBasedAgent, kind: int = PEG, **overrides: float) -> tuple[int, int, int, int, float]:
    """(bid, ask, bid size, ask size, mid) of a maker's two-sided action of order type ``kind``."""
    o = neutral_obs(**overrides)
    a = act(agent, o)
    assert a[0, 0] == kind and a[1, 0] == kind
    bid, ask = prices(a, o[F["mid_price"]])
    return bid, ask, int(a[0, 1]), int(a[1, 1]), float(o[F["mid_price"]])


def test_market_maker_quotes_around_the_blend_of_mid_and_fair_value() -> None:
    agent = make_agent("market_maker", {"fair_weight": 0.2, "half_spread_ticks": 3.0}, limit=2000)
    bid, ask, qb, qa, _ = quotes(agent, mid_price=41.0, fair_value=41.5)
    centre = 4100 + 0.2 * 50  # ticks
    assert (bid, ask) == (centre - 3, centre + 3)
    assert qb == qa == agent.strategy.params.quote_size
    skew = agent.strategy.params.inventory_skew
    rng = np.random.default_rng(0)
    for _ in range(300):
        mid = rng.integers(1000, 9000) / 100 + rng.choice([0.0, 0.005])
        fair = mid * (1 + rng.normal(0, 0.02))
        pos = float(rng.integers(-2000, 2001))
        bid, ask, *_ = quotes(agent, mid_price=mid, fair_value=fair, position=pos)
        centre = (mid + 0.2 * (fair - mid)) * 100 - skew * pos / 2000
        half_tick = math.floor(2 * centre + 0.5) / 2  # the centre on the half-tick grid
        assert abs(half_tick - centre) <= 0.25 + 1e-9
        assert bid < ask
        assert bid <= half_tick - 3 < bid + 1 and ask - 1 < half_tick + 3 <= ask


def test_market_maker_quote_pair_has_a_one_or_two_tick_spread_centred_on_the_half_tick() -> None:
    agent = make_agent("market_maker", {"inventory_skew": 0.0}, limit=2000)
    for fair, want in ((41.0, (4099, 4101)), (41.005, (4100, 4101)), (41.0024, (4099, 4101)),
                       (41.0026, (4100, 4101)), (41.0076, (4100, 4102))):  # fmt: skip
        bid, ask, *_ = quotes(agent, mid_price=41.0, fair_value=fair)
        assert (bid, ask) == want, fair


def test_market_maker_pegs_unless_told_not_to() -> None:
    assert quotes(make_agent("market_maker"), PEG)[0] > 0
    assert quotes(make_agent("market_maker", {"peg": False}), LIMIT)[0] > 0


def test_market_maker_skews_both_quotes_against_inventory() -> None:
    agent = make_agent("market_maker", {"inventory_skew": 10.0}, limit=2000)
    flat = quotes(agent, position=0.0)
    long = quotes(agent, position=1000.0)
    short = quotes(agent, position=-1000.0)
    assert long[0] < flat[0] and long[1] < flat[1]  # long: both lower (sell more, buy less)
    assert short[0] > flat[0] and short[1] > flat[1]
    assert flat[0] - long[0] == 5 and short[1] - flat[1] == 5  # 10 ticks * 1000 / 2000


def test_market_maker_at_its_limit_withdraws_only_the_side_that_grows_the_position() -> None:
    agent = make_agent("market_maker", {"quote_size": 20}, limit=100)
    assert quotes(agent, position=90.0)[2:4] == (10, 20)
    assert quotes(agent, position=-95.0)[2:4] == (20, 5)
    long = act(agent, neutral_obs(position=100.0))
    assert long[0].tolist() == [CANCEL, 0, 0] and long[1, 0] == PEG and long[1, 1] == 20
    short = act(agent, neutral_obs(position=-100.0))
    assert short[1].tolist() == [CANCEL, 0, 0] and short[0, 0] == PEG and short[0, 1] == 20


def test_market_maker_widens_with_recent_volatility() -> None:
    agent = make_agent("market_maker", {"vol_widening": 1.0, "inventory_skew": 0.0})
    calm = quotes(agent, atr_14=0.0)
    wild = quotes(agent, atr_14=0.03)  # 3 ticks of recent range: 3 more ticks each side
    assert wild[0] == calm[0] - 3 and wild[1] == calm[1] + 3


def test_market_maker_jitter_and_refresh() -> None:
    agent = make_agent("market_maker", {"jitter": 0.5, "half_spread_ticks": 4.0, "refresh": 0.5})
    widths, acted = [], 0
    for _ in range(2000):
        a = act(agent, neutral_obs())
        if a.any():
            acted += 1
            bid, ask = prices(a, 41.0)
            widths.append(ask - bid)
    assert acted == pytest.approx(1000, abs=100)
    assert min(widths) >= 8 and max(widths) <= 2 * math.ceil(4 * 1.5) + 1 and len(set(widths)) > 1


# --------------------------------------------------------------------------- noise trader
def test_noise_trader_orders_are_random_within_their_parameters() -> None:
    params = {"activity": 0.6, "quantity": 7, "market_prob": 0.3, "max_offset_ticks": 4, "cross_ticks": 1,
              "size_tail": 0.0, "vol_feedback": 0.0}  # fmt: skip
    agent = make_agent("noise_trader", params, seed=3)
    dirs, sizes, kinds, buy_off, sell_dist = [], [], [], [], []
    mid = 41.005
    for _ in range(6000):
        a = act(agent, neutral_obs(mid_price=mid, fair_value=mid))
        d = direction(a)
        dirs.append(d)
        if d == 0:
            continue
        row = a[0] if d > 0 else a[1]
        sizes.append(int(row[1]))
        kinds.append(int(row[0]))
        if row[0] == LIMIT:
            bid, ask = prices(a, mid)
            if d > 0:
                buy_off.append(bid - mid * 100)
            else:
                sell_dist.append(mid * 100 - ask)
        else:
            assert row[0] == MARKET and row[2] == 0
    dirs_arr = np.array(dirs)
    assert np.mean(dirs_arr != 0) == pytest.approx(0.6, abs=0.03)
    assert np.mean(dirs_arr[dirs_arr != 0] > 0) == pytest.approx(0.5, abs=0.03)
    assert set(sizes) == set(range(1, 8))
    assert np.mean(np.array(kinds) == MARKET) == pytest.approx(0.3, abs=0.03)
    # a limit order k ticks through the mid, k uniform in -4..1, same on both sides
    assert sorted(set(np.round(buy_off, 6))) == [k - 0.5 for k in range(-4, 2)]
    assert sorted(set(np.round(sell_dist, 6))) == [k - 0.5 for k in range(-4, 2)]

    def sequence(seed: int) -> list[list[list[int]]]:
        agent = make_agent("noise_trader", params, seed=seed)
        return [act(agent, neutral_obs()).tolist() for _ in range(50)]

    assert sequence(3) == sequence(3) and sequence(3) != sequence(4)


def test_noise_trader_sizes_are_pareto_tailed_and_capped() -> None:
    agent = make_agent("noise_trader", {"size_tail": 1.5, "quantity": 40, "vol_feedback": 0.0}, seed=2)
    sizes = []
    for _ in range(20000):
        a = act(agent, neutral_obs())
        sizes.append(int(a[0, 1] + a[1, 1]))
    s = np.array(sizes)
    assert s.min() >= 1 and s.max() == 40
    # P(size >= k) = k ** -1.5 below the cap
    for k in (2, 4, 10):
        assert np.mean(s >= k) == pytest.approx(k**-1.5, rel=0.1), k


def test_noise_trader_activity_follows_news_attention_and_volatility() -> None:
    base = {"activity": 0.1, "news_attention": 2.0, "vol_feedback": 1.0, "vol_ref_ticks": 2.0}
    rates = {}
    for name, over in {"calm": {"atr_14": 0.02}, "news": {"atr_14": 0.02, "news_magnitude": 0.5},
                       "volatile": {"atr_14": 0.06}, "nan_atr": {"atr_14": float("nan")}}.items():  # fmt: skip
        agent = make_agent("noise_trader", base, seed=4)
        rates[name] = np.mean([act(agent, neutral_obs(**over)).any() for _ in range(6000)])
    assert rates["calm"] == pytest.approx(0.1, abs=0.015)  # atr at the reference: neutral
    assert rates["news"] == pytest.approx(0.2, abs=0.02)  # 1 + 2 * 0.5
    assert rates["volatile"] == pytest.approx(0.3, abs=0.02)  # (6 / 2) ** 1
    assert rates["nan_atr"] == pytest.approx(0.1, abs=0.015)  # warm-up: no feedback


# --------------------------------------------------------------------------- safety
@pytest.mark.parametrize("type_name", sorted(STRATEGIES))
def test_every_strategy_holds_on_nan_observations(type_name: str) -> None:
    agent = make_agent(type_name)
    for _ in range(10):
        assert not act(agent, np.full(N_FEATURES, np.nan)).any()
    if type_name in READS:  # the features it reads NaN, everything else signalling
        for name in READS[type_name]:
            o = neutral_obs(**BUY_WHEN[type_name])
            o[F[name]] = np.nan
            assert not act(agent, o).any(), name
    else:  # the maker and noise trader read mid (and fair value, position)
        for name in ("mid_price", "position") + (("fair_value",) if type_name == "market_maker" else ()):
            o = neutral_obs()
            o[F[name]] = np.nan
            assert not act(agent, o).any(), name


def test_signal_strategies_hold_during_a_real_warm_up() -> None:
    sim = Simulation(default_config(), seed=8)
    results = [sim.step() for _ in range(60)]
    for spec in sim.specs:
        if spec.type not in READS:
            continue
        until = max(NAN_UNTIL.get(n, 0) for n in READS[spec.type])
        if until == 0:  # fair_value_deviation is never NaN: the value trader may act at once
            continue
        for r in results[:until]:
            assert not r.actions[spec.agent_id].any(), (spec.agent_name, r.tick)
        assert np.isnan(results[until - 1].obs[spec.agent_id, [F[n] for n in READS[spec.type]]]).any()


LIMIT_CASES = [(t, 0) for t in sorted(STRATEGIES)] + [(t, 30) for t in SIGNAL_TYPES]


@pytest.mark.parametrize(("type_name", "max_position"), LIMIT_CASES)
def test_no_strategy_order_can_pass_its_position_limit(type_name: str, max_position: int) -> None:
    """Whatever the position, no order takes it beyond the limit (or ``max_position``)."""
    limit = 100
    params: dict[str, Any] = {"quantity": 25} if type_name != "market_maker" else {"quote_size": 25}
    if max_position:
        params["max_position"] = max_position
    own = max_position or limit
    agent = make_agent(type_name, params, limit=limit, seed=1)
    for pos in (-limit, -own, -own + 3, -7, 0, 9, own - 2, own, limit):
        overrides: list[dict[str, float]] = [{}]
        if type_name in SIGNAL_TYPES:
            overrides = [BUY_WHEN[type_name], SELL_WHEN[type_name]]
        for ov in overrides:
            for _ in range(30):
                a = act(agent, neutral_obs(position=float(pos), **ov))
                buy, sell = int(a[0, 1]), int(a[1, 1])
                assert buy >= 0 and sell >= 0
                assert pos + buy <= max(own, pos) and pos - sell >= min(-own, pos), (pos, a.tolist())


def test_predict_wants_exactly_one_observation() -> None:
    agent = make_agent("noise_trader")
    assert act(agent, neutral_obs().reshape(1, -1)).shape == ACTION_SHAPE
    assert act(agent, neutral_obs().astype(np.float32)).shape == ACTION_SHAPE
    for bad in (np.zeros((2, N_FEATURES)), np.zeros(N_FEATURES - 1)):
        with pytest.raises(ValueError, match="NoiseTrader_00: observation must be one vector"):
            agent.predict(bad)


def test_signal_actions_kernel_for_model_driven_agents() -> None:
    """Signals from a model are sized, capped and priced by the shared compiled rule."""
    from agents import kernels

    sig = np.array([1, -1, 1, -1, 0, 1], dtype=np.int64)
    obs = np.zeros((6, N_FEATURES))
    obs[:, F["position"]] = [0.0, 0.0, 95.0, -98.0, 0.0, np.nan]
    obs[:, F["mid_price"]] = [41.0, 41.005, 41.005, 41.0, 41.0, 41.0]
    u = np.zeros((6, 5))
    u[:, 1] = 0.95  # size floor(0.95 * 10) + 1 = 10
    params = np.array([1.0, 10.0, 100.0, IOC, 2.0, 0.0, 0.0, 0.0])
    out = np.empty((6, 6), dtype=np.int64)
    kernels.signal_actions(obs, u, sig, params, out)
    acts = out.reshape(6, 2, 3)
    assert acts[0].tolist() == [[IOC, 10, 2], [0, 0, 0]]
    assert acts[1].tolist() == [[0, 0, 0], [IOC, 10, -1]]  # ceil(4100.5 - 2) = 4099 = ref - 1
    assert acts[2].tolist() == [[IOC, 5, 2], [0, 0, 0]]
    assert acts[3].tolist() == [[0, 0, 0], [IOC, 2, -2]]
    assert not acts[4].any() and not acts[5].any()


# --------------------------------------------------------------------------- identities
@pytest.mark.parametrize("config_name", ["default", "multi_symbol"])
def test_agent_ids_and_names_are_stable_unique_and_readable(config_name: str) -> None:
    cfg = default_config() if config_name == "default" else load_config(CONFIGS / f"{config_name}.toml")
    specs = agent_specs(cfg)
    assert [s.agent_id for s in specs] == list(range(cfg.n_agents))
    names = [s.agent_name for s in specs]
    assert len(set(names)) == len(names)
    for s in specs:
        label = STRATEGIES[s.type].label
        assert re.fullmatch(rf"{label}_\d{{2}}", s.agent_name), s.agent_name
    assert agent_specs(cfg) == specs  # stable
    by_type: dict[str, list[str]] = {}
    for s in specs:
        by_type.setdefault(s.type, []).append(s.agent_name)
    for type_name, ns in by_type.items():  # numbered 00, 01, ... per type, in id order
        assert ns == [f"{STRATEGIES[type_name].label}_{k:02d}" for k in range(len(ns))]
    if config_name == "default":
        assert names[:7] == [f"MarketMaker_0{k}" for k in range(6)] + ["NoiseTrader_00"]
    policies = make_policies(cfg, specs, spawn_generators(0, len(specs)).agents)
    assert list(policies) == names
    assert all(p.agent_id == s.agent_id and p.agent_name == s.agent_name for p, s in zip(policies.values(), specs, strict=True))


def test_registry_covers_every_rule_based_type() -> None:
    assert set(STRATEGIES) == {
        "market_maker", "noise_trader", "momentum", "trend_follower", "mean_reversion",
        "value_trader", "macd_crossover",
    }  # fmt: skip
    for name, cls in STRATEGIES.items():
        assert issubclass(cls, Strategy) and cls.name == name and cls.kind >= 0
    assert STRATEGIES["market_maker"] is MarketMaker and STRATEGIES["noise_trader"] is NoiseTrader


# --------------------------------------------------------------------------- crowd vs one by one
def tree_model(tmp_path: Path) -> Path:
    """A hand-written decision stump: sell when the last tick fell (or NaN), else buy."""
    model = {
        "format": "marketenv-tree-model",
        "format_version": 1,
        "model_type": "decision_tree",
        "feature_names": ["price_change_1"],
        "classes": [-1, 0, 1],
        "trees": [
            {
                "feature": [0, -1, -1],
                "threshold": [-0.001, 0.0, 0.0],
                "left": [1, -1, -1],
                "right": [2, -1, -1],
                "missing_go_to_left": [1, 0, 0],
                "value": [[0.4, 0.2, 0.4], [0.8, 0.1, 0.1], [0.1, 0.2, 0.7]],
            }
        ],
    }
    path = tmp_path / "stump.json"
    path.write_text(json.dumps(model))
    return path


def crowd_configs(tmp_path: Path) -> dict[str, Config]:
    default = default_config()
    with_tree = dataclasses.replace(
        default,
        agents=(
            *default.agents[:3],
            AgentGroupConfig(type="tree_agent", count=3, params={"model": str(tree_model(tmp_path)), "activity": 0.5}),
            *default.agents[3:],
        ),
    )
    with_tree.validate()
    return {
        "default": default,
        "multi_symbol": load_config(CONFIGS / "multi_symbol.toml"),
        "with_tree_agents": with_tree,
    }


@pytest.mark.parametrize("config_name", ["default", "multi_symbol", "with_tree_agents"])
def test_crowd_acts_exactly_like_its_agents_one_by_one(config_name: str, tmp_path: Path) -> None:
    cfg = crowd_configs(tmp_path)[config_name]
    seed = 17
    sim = Simulation(cfg, seed)
    policies = list(make_policies(cfg, sim.specs, spawn_generators(seed, sim.n_agents).agents).values())
    acted = np.zeros(sim.n_agents, dtype=bool)
    for _ in range(400):  # > 6 blocks of random numbers
        obs = sim.obs
        crowd = sim.step().actions
        one_by_one = np.stack([p.predict(obs[i])[0] for i, p in enumerate(policies)])
        np.testing.assert_array_equal(crowd, one_by_one)
        acted |= crowd.reshape(sim.n_agents, -1).any(axis=1)
    types = {spec.type for spec in sim.specs}
    assert {sim.specs[i].type for i in np.flatnonzero(acted)} == types, "every strategy should have acted"
    assert acted.mean() >= 0.9


def test_crowd_is_independent_of_how_agents_are_grouped() -> None:
    """An agent's actions depend on its own generator only, not on who shares its group."""
    cfg = default_config()
    noise = cfg.agents[1]
    assert noise.type == "noise_trader" and noise.count == 20
    split = dataclasses.replace(
        cfg,
        agents=(
            cfg.agents[0],
            dataclasses.replace(noise, count=7),
            dataclasses.replace(noise, count=13),
            *cfg.agents[2:],
        ),
    )
    specs_a, specs_b = agent_specs(cfg), agent_specs(split)
    assert [s.agent_name for s in specs_a] == [s.agent_name for s in specs_b]
    crowd_a = Crowd(cfg, specs_a, spawn_generators(3, len(specs_a)).agents)
    crowd_b = Crowd(split, specs_b, spawn_generators(3, len(specs_b)).agents)
    obs = np.tile(neutral_obs(price_change_20=1.0, macd_histogram=0.1), (len(specs_a), 1))
    for _ in range(70):
        np.testing.assert_array_equal(crowd_a.act(obs), crowd_b.act(obs))


# --------------------------------------------------------------------------- config validation
def agents_config(type_name: str, params: dict[str, Any]) -> dict[str, Any]:
    return {"agents": [{"type": type_name, "params": params}]}


BAD_VALUES = [
    ("momentum", "activity", 1.5),
    ("momentum", "activity", "often"),
    ("momentum", "quantity", 0),
    ("momentum", "quantity", 2.5),
    ("momentum", "max_position", -1),
    ("momentum", "order_type", "fok"),
    ("momentum", "aggression_ticks", 5000),
    ("momentum", "lookback", 3),
    ("momentum", "threshold_pct", -0.1),
    ("trend_follower", "threshold_pct", -1.0),
    ("mean_reversion", "band_margin", -0.7),
    ("value_trader", "threshold_pct", -0.5),
    ("value_trader", "order_type", 1),
    ("macd_crossover", "threshold", -0.01),
    ("market_maker", "half_spread_ticks", 0.1),
    ("market_maker", "jitter", -1.0),
    ("market_maker", "quote_size", 0),
    ("market_maker", "fair_weight", 1.5),
    ("market_maker", "inventory_skew", -2.0),
    ("market_maker", "refresh", 2.0),
    ("market_maker", "refresh", True),
    ("noise_trader", "activity", -0.1),
    ("noise_trader", "market_prob", 1.1),
    ("noise_trader", "max_offset_ticks", -1),
    ("noise_trader", "cross_ticks", -2),
    ("noise_trader", "quantity", "ten"),
]


@pytest.mark.parametrize(("type_name", "key", "value"), BAD_VALUES)
def test_bad_param_values_are_one_line_errors_naming_the_key(type_name: str, key: str, value: Any) -> None:
    with pytest.raises(ConfigError) as err:
        config_from_dict(agents_config(type_name, {key: value}))
    msg = str(err.value)
    assert "\n" not in msg and f"agents[0].params.{key}" in msg, msg


@pytest.mark.parametrize("type_name", sorted(STRATEGIES))
def test_unknown_param_key_is_a_one_line_error_naming_the_key(type_name: str) -> None:
    with pytest.raises(ConfigError) as err:
        config_from_dict(agents_config(type_name, {"activty": 0.5}))
    msg = str(err.value)
    assert "\n" not in msg and "agents[0].params.activty" in msg, msg


def test_param_errors_in_a_file_name_the_file_and_the_group(tmp_path: Path) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(
        '[[agents]]\ntype = "noise_trader"\n\n[[agents]]\ntype = "momentum"\nparams = { activity = 3.0 }\n'
    )
    with pytest.raises(ConfigError) as err:
        load_config(path)
    msg = str(err.value)
    assert "\n" not in msg and msg.startswith(str(path)) and "agents[1].params.activity" in msg


@pytest.mark.parametrize("type_name", sorted(STRATEGIES))
def test_default_params_are_valid_and_every_field_can_be_set(type_name: str) -> None:
    cls = STRATEGIES[type_name]
    defaults = {f.name: getattr(cls.Params(), f.name) for f in dataclasses.fields(cls.Params)}
    cfg = config_from_dict(agents_config(type_name, defaults))
    assert build_params(type_name, cfg.agents[0].params) == cls.Params()


def test_a_config_with_every_type_validates() -> None:
    groups = tuple(AgentGroupConfig(type=t, count=1, params=DETERMINISTIC.get(t, {})) for t in sorted(STRATEGIES))
    cfg = dataclasses.replace(default_config(), agents=groups, simulation=SimulationConfig(ticks=10))
    cfg.validate()
    assert [s.type for s in agent_specs(cfg)] == sorted(STRATEGIES)


def test_random_block_is_each_generators_own_stream_across_refills() -> None:
    from agents.base import BLOCK, RandomBlock

    d = 3
    block = RandomBlock([np.random.default_rng(s) for s in (5, 6, 7)], d)
    got = np.stack([block.next().copy() for _ in range(BLOCK + 40)])  # (ticks, agents, d), crosses a refill
    for i, s in enumerate((5, 6, 7)):
        expected = np.random.default_rng(s).random((BLOCK + 40, d))
        np.testing.assert_array_equal(got[:, i, :], expected)
