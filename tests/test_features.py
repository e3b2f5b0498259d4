"""ComprehensiveFeatures: order, reference values in real runs, causality, NaN policy.

Every check compares what the engine reported at the start of a tick with an independent
recomputation (plain numpy/Python written from the definitions in
:mod:`marketenv.feature_spec` and the :mod:`marketenv.features` docstring) from the state
recorded at that moment: the recorded mid series, the books, the accounts, the
fundamentals and the news.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from numpy.lib.stride_tricks import sliding_window_view

from agents.registry import agent_specs
from marketenv.actions import MARKET
from marketenv.config import AgentGroupConfig, Config, SimulationConfig, default_config, load_config
from marketenv.feature_spec import FEATURE_INDEX as F
from marketenv.feature_spec import (
    FEATURE_NAMES,
    N_CORE_FEATURES,
    N_FEATURES,
    NAN_UNTIL,
    TICKS_PER_YEAR,
)
from marketenv.features import (
    AccountState,
    ComprehensiveFeatures,
    FeatureContext,
    FeatureExtractor,
    RiskSnapshot,
)
from marketenv.simulation import Simulation

CONFIGS = Path(__file__).resolve().parents[1] / "configs"
DEFAULT_TICKS = 3000
MULTI_TICKS = 2000
RTOL = 1e-9

CORE = (
    "mid_price", "spread", "spread_bps",
    "price_change_1", "price_change_5", "price_change_20", "price_change_100",
    "log_return_1", "log_return_5", "log_return_20",
    "sma_10", "sma_20", "sma_50", "ema_12", "ema_26", "rsi_14",
    "macd_line", "macd_signal", "macd_histogram",
    "bb_upper", "bb_middle", "bb_lower", "bb_percent_b", "atr_14",
    "fair_value", "price_to_fair_value", "fair_value_deviation",
    "has_active_news", "news_sentiment", "news_magnitude", "news_ticks_remaining",
    "position", "position_normalized", "cash", "cash_normalized",
    "total_pnl", "pnl_normalized", "equity", "max_drawdown", "sharpe", "volatility",
)  # fmt: skip
EXTRAS = ("total_trades_this_tick", "total_volume_this_tick", "correlation_to_market", "relative_strength")


# --------------------------------------------------------------------------- recording
@dataclass
class Run:
    """Everything observed at the start of each tick of a run (and the tick's trades)."""

    sim: Simulation
    obs: np.ndarray  # (T, n_agents, F) features at the start of each tick
    bid: np.ndarray  # (T, S) best bid in ticks at the start of the tick, -1 if none
    ask: np.ndarray  # (T, S) best ask, -1 if none
    fair: np.ndarray  # (T, S)
    news: np.ndarray  # (T, S, 3) sentiment, magnitude, ticks remaining (0 if none)
    cash: np.ndarray  # (T, n) cents
    position: np.ndarray  # (T, n, S) shares
    trade_hi: np.ndarray  # (T, S) highest trade price during the tick (ticks), -inf if none
    trade_lo: np.ndarray  # (T, S) lowest, +inf if none
    n_trades: np.ndarray  # (T, S)
    volume: np.ndarray  # (T, S)

    def sym_agent(self, symbol: int) -> int:
        """The first agent trading ``symbol`` (its market features are the symbol's)."""
        return int(np.flatnonzero(self.sim.agent_symbols == symbol)[0])

    def feature(self, name: str, symbol: int = 0) -> np.ndarray:
        """A market feature's series for one symbol."""
        return self.obs[:, self.sym_agent(symbol), F[name]]


def record(cfg: Config, seed: int, ticks: int) -> Run:
    sim = Simulation(cfg, seed)
    m = sim.market
    n, S = sim.n_agents, m.n_symbols
    obs = np.empty((ticks, n, N_FEATURES))
    bid = np.full((ticks, S), -1, dtype=np.int64)
    ask = np.full((ticks, S), -1, dtype=np.int64)
    fair = np.empty((ticks, S))
    news = np.zeros((ticks, S, 3))
    cash = np.empty((ticks, n), dtype=np.int64)
    position = np.empty((ticks, n, S), dtype=np.int64)
    hi = np.full((ticks, S), -np.inf)
    lo = np.full((ticks, S), np.inf)
    n_trades = np.zeros((ticks, S), dtype=np.int64)
    volume = np.zeros((ticks, S), dtype=np.int64)
    for t in range(ticks):
        obs[t] = sim.obs  # the start of tick t
        for s, book in enumerate(m.books):
            b, a = book.best_bid(), book.best_ask()
            bid[t, s] = -1 if b is None else b
            ask[t, s] = -1 if a is None else a
            ev = m.active_news(s)
            if ev is not None:
                news[t, s] = (ev.sentiment, ev.magnitude, ev.ticks_remaining)
        fair[t] = m.fundamentals.fair_value
        cash[t] = m.cash
        position[t] = np.array(m.position).reshape(n, S)
        for tr in sim.step().trades:
            s = tr.symbol
            hi[t, s] = max(hi[t, s], tr.price)
            lo[t, s] = min(lo[t, s], tr.price)
            n_trades[t, s] += 1
            volume[t, s] += tr.quantity
    return Run(sim, obs, bid, ask, fair, news, cash, position, hi, lo, n_trades, volume)


@pytest.fixture(scope="module")
def default_run() -> Run:
    return record(default_config(), seed=11, ticks=DEFAULT_TICKS)


@pytest.fixture(scope="module")
def multi_run() -> Run:
    cfg = load_config(CONFIGS / "multi_symbol.toml")
    busy = dataclasses.replace(cfg, news=dataclasses.replace(cfg.news, rate=0.01))  # news on every symbol
    busy.validate()
    return record(busy, seed=5, ticks=MULTI_TICKS)


@pytest.fixture(params=["default", "multi"])
def run(request: pytest.FixtureRequest) -> Run:
    return request.getfixturevalue(f"{request.param}_run")


def assert_series(actual: np.ndarray, expected: np.ndarray, name: str, atol: float = 0.0) -> None:
    """Same NaN positions, and values within ``RTOL`` relative (plus ``atol``)."""
    an, en = np.isnan(actual), np.isnan(expected)
    bad = np.flatnonzero(an != en)
    assert bad.size == 0, f"{name}: NaN mismatch first at tick {bad[0]}"
    a, e = actual[~an], expected[~en]
    err = np.abs(a - e) - (RTOL * np.abs(e) + atol)
    worst = int(np.argmax(err)) if err.size else 0
    assert err.size == 0 or err[worst] <= 0, (
        f"{name}: {a[worst]!r} != reference {e[worst]!r} (tick {np.flatnonzero(~en)[worst]})"
    )


# --------------------------------------------------------------------------- references
def initial_mids(cfg: Config) -> np.ndarray:
    """Each symbol's mid before any trading: its initial price, else its fair value, in cents."""
    return np.array(
        [
            round((s.initial_price if s.initial_price is not None else s.base_fair_value()) * 100) / 100
            for s in cfg.symbols
        ]
    )


def ref_sma(x: np.ndarray, n: int) -> np.ndarray:
    out = np.full(x.shape, np.nan)
    out[n - 1 :] = sliding_window_view(x, n).mean(axis=1)
    return out


def ref_ema(x: np.ndarray, n: int, start: int = 0) -> np.ndarray:
    """EMA(n) of ``x[start:]`` seeded with the mean of its first ``n`` values."""
    out = np.full(x.shape, np.nan)
    k = 2.0 / (n + 1)
    first = start + n - 1
    out[first] = np.mean(x[start : first + 1])
    for t in range(first + 1, len(x)):
        out[t] = out[t - 1] + k * (x[t] - out[t - 1])
    return out


def ref_wilder(values: np.ndarray, n: int = 14) -> np.ndarray:
    """Wilder average of ``values[1:]``: the mean of ``values[1..n]`` at ``t = n``, then smoothing."""
    out = np.full(values.shape, np.nan)
    out[n] = np.mean(values[1 : n + 1])
    for t in range(n + 1, len(values)):
        out[t] = (out[t - 1] * (n - 1) + values[t]) / n
    return out


def ref_rsi(x: np.ndarray) -> np.ndarray:
    d = np.diff(x, prepend=x[0])
    g = ref_wilder(np.maximum(d, 0.0))
    lo = ref_wilder(np.maximum(-d, 0.0))
    total = g + lo
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(total == 0.0, 50.0, 100.0 * g / total)


def ref_bollinger(x: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    mid = ref_sma(x, 20)
    sd = np.full(x.shape, np.nan)
    sd[19:] = sliding_window_view(x, 20).std(axis=1)
    upper, lower = mid + 2 * sd, mid - 2 * sd
    width = upper - lower
    with np.errstate(invalid="ignore", divide="ignore"):
        pct = np.where(width > 1e-12 * np.abs(mid), (x - lower) / width, 0.5)
    pct[np.isnan(mid)] = np.nan
    return upper, mid, lower, pct


def ref_change(x: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    pct = np.full(x.shape, np.nan)
    log = np.full(x.shape, np.nan)
    pct[k:] = (x[k:] / x[:-k] - 1.0) * 100.0
    log[k:] = np.log(x[k:] / x[:-k])
    return pct, log


# --------------------------------------------------------------------------- tests
def test_feature_names_order_and_shape(default_run: Run) -> None:
    assert FEATURE_NAMES[:N_CORE_FEATURES] == CORE
    assert FEATURE_NAMES[N_CORE_FEATURES:] == EXTRAS
    assert N_CORE_FEATURES == 41 and N_FEATURES == 45
    extractor = ComprehensiveFeatures()
    assert isinstance(extractor, FeatureExtractor)
    assert extractor.feature_names == FEATURE_NAMES
    assert default_run.sim.features.feature_names == FEATURE_NAMES
    assert default_run.obs.shape == (DEFAULT_TICKS, default_run.sim.n_agents, 45)


def test_market_features_are_shared_by_a_symbols_agents(run: Run) -> None:
    market_cols = [F[n] for n in FEATURE_NAMES if F[n] < F["position"] or F[n] >= N_CORE_FEATURES]
    for s in range(run.sim.market.n_symbols):
        ids = np.flatnonzero(run.sim.agent_symbols == s)
        block = run.obs[:, ids][:, :, market_cols]
        np.testing.assert_array_equal(block, np.broadcast_to(block[:, :1], block.shape))


def test_indicators_equal_a_reference_on_the_recorded_mid_series(run: Run) -> None:
    for s in range(run.sim.market.n_symbols):
        x = run.feature("mid_price", s)
        ema12, ema26 = ref_ema(x, 12), ref_ema(x, 26)
        line = ema12 - ema26
        signal = ref_ema(line, 9, start=25)
        upper, middle, lower, pct_b = ref_bollinger(x)
        expected = {
            "sma_10": ref_sma(x, 10),
            "sma_20": ref_sma(x, 20),
            "sma_50": ref_sma(x, 50),
            "ema_12": ema12,
            "ema_26": ema26,
            "rsi_14": ref_rsi(x),
            "macd_line": line,
            "macd_signal": signal,
            "macd_histogram": line - signal,
            "bb_upper": upper,
            "bb_middle": middle,
            "bb_lower": lower,
            "bb_percent_b": pct_b,
        }
        # Differences of price-level quantities carry the price level's rounding (1e-15
        # relative of ~50); %B is a ratio in [0, 1] (module docstring of indicators: ~3e-12).
        atol = {"macd_line": 1e-13, "macd_signal": 1e-13, "macd_histogram": 1e-13, "bb_percent_b": 1e-11}
        for name, ref in expected.items():
            assert_series(run.feature(name, s), ref, f"{name}[{s}]", atol.get(name, 0.0))
        assert np.isfinite(x).all() and (x > 0).all()


def test_lagged_changes_equal_the_series(run: Run) -> None:
    for s in range(run.sim.market.n_symbols):
        x = run.feature("mid_price", s)
        for k in (1, 5, 20, 100):
            pct, log = ref_change(x, k)
            assert_series(run.feature(f"price_change_{k}", s), pct, f"price_change_{k}", 1e-12)
            if k != 100:
                assert_series(run.feature(f"log_return_{k}", s), log, f"log_return_{k}", 1e-15)


def test_atr_equals_wilder_average_of_the_tick_bars(run: Run) -> None:
    # Bar of tick t (features docstring): extremes of mid_{t-1}, mid_t (half ticks rounded
    # outwards) and every trade during tick t-1.
    for s in range(run.sim.market.n_symbols):
        x = run.feature("mid_price", s)
        m2 = np.rint(x * 200).astype(np.int64)
        up, down = (m2 + 1) // 2, m2 // 2
        high = np.maximum(np.maximum(up[:-1], up[1:]), run.trade_hi[:-1, s])
        low = np.minimum(np.minimum(down[:-1], down[1:]), run.trade_lo[:-1, s])
        prev = x[:-1] * 100
        tr = np.maximum.reduce([high - low, np.abs(high - prev), np.abs(low - prev)]) / 100
        atr = ref_wilder(np.concatenate([[0.0], tr]))
        assert_series(run.feature("atr_14", s), atr, f"atr_14[{s}]")


def test_mid_and_spread_equal_the_book(run: Run) -> None:
    for s in range(run.sim.market.n_symbols):
        mid, spread = run.feature("mid_price", s), run.feature("spread", s)
        exp_mid = initial_mids(run.sim.config)[s]  # no book before the first tick
        exp_spread = 0.0
        two_sided = 0
        for t in range(len(mid)):
            b, a = run.bid[t, s], run.ask[t, s]
            if b >= 0 and a >= 0:
                assert a > b, f"crossed or locked book at tick {t}"
                exp_mid, exp_spread = (a + b) / 200, (a - b) / 100
                two_sided += 1
            assert mid[t] == exp_mid and spread[t] == exp_spread, f"tick {t}"
        assert two_sided > 0.9 * len(mid)
        bps = run.feature("spread_bps", s)
        np.testing.assert_allclose(bps, spread / mid * 1e4, rtol=1e-12)


def test_fair_value_and_news_equal_the_market(run: Run) -> None:
    for s in range(run.sim.market.n_symbols):
        fv, mid = run.fair[:, s], run.feature("mid_price", s)
        np.testing.assert_array_equal(run.feature("fair_value", s), fv)
        np.testing.assert_allclose(run.feature("price_to_fair_value", s), mid / fv, rtol=1e-14)
        np.testing.assert_allclose(
            run.feature("fair_value_deviation", s), (mid - fv) / fv * 100, rtol=1e-12, atol=1e-12
        )
        sent, mag, rem = run.news[:, s].T
        np.testing.assert_array_equal(run.feature("has_active_news", s), (rem > 0).astype(float))
        np.testing.assert_array_equal(run.feature("news_sentiment", s), sent)
        np.testing.assert_array_equal(run.feature("news_magnitude", s), mag)
        np.testing.assert_array_equal(run.feature("news_ticks_remaining", s), rem)
        assert (rem > 0).any(), "the run should contain news events"


def test_account_features_equal_the_market_accounts(run: Run) -> None:
    sim = run.sim
    m = sim.market
    n = sim.n_agents
    ids = np.arange(n)
    mids = np.stack([run.feature("mid_price", s) for s in range(m.n_symbols)], axis=1)  # (T, S)
    cash = run.cash / 100
    pos = run.position[:, ids, sim.agent_symbols].astype(float)
    equity = cash + np.einsum("tas,ts->ta", run.position.astype(float), mids)
    init_cash = np.array(m.initial_cash) / 100
    init_pos = np.array(m.initial_position).reshape(n, m.n_symbols)
    init_equity = init_cash + init_pos @ mids[0]
    limits = np.array([s.position_limit for s in sim.specs], dtype=float)
    o = run.obs
    np.testing.assert_array_equal(o[:, :, F["position"]], pos)
    np.testing.assert_array_equal(o[:, :, F["position_normalized"]], pos / limits)
    np.testing.assert_array_equal(o[:, :, F["cash"]], cash)
    np.testing.assert_allclose(o[:, :, F["cash_normalized"]], cash / init_cash, rtol=1e-14)
    np.testing.assert_allclose(o[:, :, F["equity"]], equity, rtol=1e-14)
    np.testing.assert_allclose(o[:, :, F["total_pnl"]], equity - init_equity, rtol=0, atol=1e-8)
    np.testing.assert_allclose(
        o[:, :, F["pnl_normalized"]], (equity - init_equity) / init_cash * 100, rtol=0, atol=1e-11
    )
    assert (np.abs(pos) > 0).any(axis=0).all(), "every agent should have held a position"


def ref_risk(equity: np.ndarray, t: int) -> tuple[float, float, float]:
    """(max_drawdown, sharpe, volatility) from the equity series up to tick ``t``."""
    e = equity[: t + 1]
    peak = np.maximum.accumulate(e)
    dd = float(np.clip((peak - e) / np.maximum(peak, 1e-12), 0.0, 1.0).max())
    if t < 2:
        return dd, math.nan, math.nan
    r = np.diff(e) / np.maximum(np.abs(e[:-1]), 1.0)
    std = float(np.std(r, ddof=1))
    ann = math.sqrt(TICKS_PER_YEAR)
    sharpe = float(np.mean(r)) / std * ann if std > 0 else 0.0
    return dd, sharpe, std * ann


def test_risk_features_equal_a_recomputation_from_the_equity_series(run: Run) -> None:
    o = run.obs
    T = o.shape[0]
    checks = sorted({0, 1, 2, 3, 10, 50, T - 1, *range(97, T, 97)})
    for a in range(run.sim.n_agents):
        equity = o[:, a, F["equity"]]
        for t in checks:
            dd, sharpe, vol = ref_risk(equity, t)
            got_dd, got_sharpe, got_vol = o[t, a, F["max_drawdown"] : F["volatility"] + 1]
            assert got_dd == pytest.approx(dd, rel=RTOL, abs=1e-15), (a, t)
            if t < 2:
                assert math.isnan(got_sharpe) and math.isnan(got_vol)
                continue
            assert got_vol == pytest.approx(vol, rel=RTOL, abs=1e-300), (a, t)
            assert got_sharpe == pytest.approx(sharpe, rel=RTOL, abs=1e-9), (a, t)
    assert (o[-1, :, F["max_drawdown"]] > 0).any() and (o[-1, :, F["sharpe"]] != 0).any()


def test_microstructure_features_describe_the_previous_tick(run: Run) -> None:
    for s in range(run.sim.market.n_symbols):
        trades, volume = run.feature("total_trades_this_tick", s), run.feature("total_volume_this_tick", s)
        assert trades[0] == 0 and volume[0] == 0
        np.testing.assert_array_equal(trades[1:], run.n_trades[:-1, s])
        np.testing.assert_array_equal(volume[1:], run.volume[:-1, s])


def test_cross_symbol_features_equal_a_rolling_reference(run: Run) -> None:
    S = run.sim.market.n_symbols
    mids = np.stack([run.feature("mid_price", s) for s in range(S)])  # (S, T)
    rets = np.log(mids[:, 1:] / mids[:, :-1])  # return of tick t is rets[:, t - 1]
    T = mids.shape[1]
    corr_exp = np.full((S, T), np.nan)
    rs_exp = np.full((S, T), np.nan)
    for t in range(20, T):
        w = rets[:, t - 20 : t]
        mkt = w.mean(axis=0)
        for s in range(S):
            if S == 1:
                corr_exp[s, t], rs_exp[s, t] = 1.0, 0.0
                continue
            a, b = w[s] - w[s].mean(), mkt - mkt.mean()
            den = math.sqrt(float(a @ a) * float(b @ b))
            corr_exp[s, t] = float(a @ b) / den if den > 0 else 0.0
        if S > 1:
            rs_exp[:, t] = w.sum(axis=1) - w.sum(axis=1).mean()
    for s in range(S):
        assert_series(run.feature("correlation_to_market", s), corr_exp[s], f"corr[{s}]", 1e-9)
        assert_series(run.feature("relative_strength", s), rs_exp[s], f"rs[{s}]", 1e-14)
    if S > 1:
        corr = np.stack([run.feature("correlation_to_market", s) for s in range(S)])[:, 20:]
        assert ((corr >= -1) & (corr <= 1)).all() and np.std(corr) > 0.05


# --------------------------------------------------------------------------- NaN policy
def assert_nan_policy(obs: np.ndarray, label: str) -> None:
    """Each feature is NaN exactly while ``tick < NAN_UNTIL`` (never if not listed), never inf."""
    T = obs.shape[0]
    for j, name in enumerate(FEATURE_NAMES):
        col = obs[:, :, j]
        until = NAN_UNTIL.get(name, 0)
        assert until < T
        nan = np.isnan(col)
        assert nan[:until].all(), f"{label}: {name} is not NaN at some tick < {until}"
        bad = np.flatnonzero(nan[until:].any(axis=1))
        assert bad.size == 0, f"{label}: {name} is NaN at tick {until + bad[0]}"
        assert not np.isinf(col).any(), f"{label}: {name} is infinite"


def test_nan_policy_holds_on_full_runs(run: Run) -> None:
    assert run.obs.shape[0] >= 2000
    assert_nan_policy(run.obs, run.sim.config.symbols[0].name)


def quiet_config() -> Config:
    """A market where nobody ever trades: value traders with an unreachable threshold."""
    group = AgentGroupConfig(type="value_trader", count=3, params={"threshold_pct": 1e6})
    cfg = dataclasses.replace(default_config(), agents=(group,), simulation=SimulationConfig(ticks=300))
    cfg.validate()
    return cfg


def test_degenerate_flat_market_features() -> None:
    sim = Simulation(quiet_config(), seed=1)
    obs = np.array([sim.step().obs for _ in range(300)])
    assert sim.market.total_trades == 0
    assert_nan_policy(obs, "flat market")
    late = obs[60:]
    mid0 = obs[0, 0, F["mid_price"]]

    def col(name: str) -> np.ndarray:
        return late[:, :, F[name]]

    assert (col("mid_price") == mid0).all()
    assert (col("spread") == 0).all() and (col("spread_bps") == 0).all()  # never two-sided
    assert (col("bb_percent_b") == 0.5).all() and (col("bb_upper") == col("bb_lower")).all()
    assert (col("rsi_14") == 50).all() and (col("atr_14") == 0).all()
    assert (col("sharpe") == 0).all() and (col("volatility") == 0).all()
    assert (col("max_drawdown") == 0).all() and (col("total_pnl") == 0).all()
    assert (col("price_change_20") == 0).all() and (col("macd_histogram") == 0).all()
    assert (col("correlation_to_market") == 1).all() and (col("relative_strength") == 0).all()


@pytest.mark.parametrize("sides", [(-1,), (1,), (1, -1)], ids=["no-asks", "no-bids", "empty"])
def test_one_sided_or_empty_book_carries_mid_and_spread_forward(sides: tuple[int, ...]) -> None:
    sim = Simulation(default_config(), seed=2)
    for _ in range(150):
        sim.step()
    m = sim.market
    book = m.books[0]
    last_mid = (book.best_bid() + book.best_ask()) / 200
    last_spread = (book.best_ask() - book.best_bid()) / 100
    hold = {a: np.zeros((2, 3), dtype=np.int64) for a in range(sim.n_agents)}
    obs = []
    for _ in range(30):
        for a in range(sim.n_agents):
            for side in sides:
                m.cancel_side(a, 0, side)
        obs.append(sim.step(hold).obs)
    obs_arr = np.array(obs)
    assert book.best_ask() is None or book.best_bid() is None
    # the first observation after the cancels still sees the two-sided book of the tick before
    assert (obs_arr[1:, :, F["mid_price"]] == last_mid).all()
    assert (obs_arr[1:, :, F["spread"]] == last_spread).all() and last_spread > 0
    assert np.isfinite(obs_arr).all()
    assert (obs_arr[-1, :, F["bb_percent_b"]] == 0.5).all()  # 20+ flat ticks


# --------------------------------------------------------------------------- causality
def test_features_use_nothing_from_later_ticks() -> None:
    """An extra order at tick t changes no feature at or before t, and changes later ones."""
    cfg = default_config()
    t_inject = 250
    agent = next(s.agent_id for s in agent_specs(cfg) if s.type == "noise_trader")
    extra = np.array([[MARKET, 400, 0], [0, 0, 0]], dtype=np.int64)
    runs = []
    for inject in (False, True):
        sim = Simulation(cfg, seed=21)
        obs = []
        for t in range(t_inject + 60):
            ext = {agent: extra} if inject and t == t_inject else None
            obs.append(sim.step(ext).obs)
        runs.append(np.array(obs))
    a, b = runs
    np.testing.assert_array_equal(a[: t_inject + 1], b[: t_inject + 1])
    assert not np.array_equal(a[t_inject + 1], b[t_inject + 1], equal_nan=True)
    assert a[t_inject + 1, agent, F["position"]] != b[t_inject + 1, agent, F["position"]]
    assert (a[t_inject + 1 :, 0, F["mid_price"]] != b[t_inject + 1 :, 0, F["mid_price"]]).any()


# --------------------------------------------------------------------------- single agent
def manual_context(sim: Simulation, agent: int) -> FeatureContext:
    """A FeatureContext built from the market's own state (not the engine's arrays)."""
    m, eng = sim.market, sim.features
    S = m.n_symbols
    sym = int(sim.agent_symbols[agent])
    mid2 = np.array([m.mid2(s) for s in range(S)], dtype=np.float64)
    pos = np.array(m.position[agent * S : (agent + 1) * S], dtype=np.float64)
    init_pos = np.array(m.initial_position[agent * S : (agent + 1) * S], dtype=np.float64)
    cash = m.cash[agent] / 100
    account = AccountState(
        position=float(pos[sym]),
        position_limit=float(m.position_limit[agent]),
        cash=cash,
        initial_cash=m.initial_cash[agent] / 100,
        initial_equity=(m.initial_cash[agent] + float(init_pos @ initial_mids(sim.config)) * 100) / 100,
        equity=(m.cash[agent] + float(pos @ mid2) / 2) / 100,
    )
    risk = RiskSnapshot(
        float(eng.risk.max_dd[agent]), float(eng.risk.sharpe[agent]), float(eng.risk.volatility[agent])
    )
    return FeatureContext(m.tick, sym, eng.market_features.row(sym), account, risk, eng.price_history)


@pytest.mark.parametrize("config_name", ["default", "multi_symbol"])
def test_single_agent_extract_equals_the_batched_row(config_name: str) -> None:
    cfg = default_config() if config_name == "default" else load_config(CONFIGS / "multi_symbol.toml")
    sim = Simulation(cfg, seed=4)
    extractor = ComprehensiveFeatures()
    for t in range(160):
        obs = sim.obs
        if t in (0, 1, 2, 40, 159):
            for a in range(sim.n_agents):
                exact = extractor.extract(sim.features.context(a))
                np.testing.assert_array_equal(exact, obs[a])
                manual = extractor.extract(manual_context(sim, a))
                np.testing.assert_allclose(manual, obs[a], rtol=1e-13, atol=1e-9)  # pnl: equity - 1e6
        sim.step()
