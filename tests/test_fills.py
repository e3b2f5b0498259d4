"""Exact fills: recorded fill columns and env infos against the market's own trade list.

The expected values are computed here, trade by trade in plain Python, from
``Simulation.last_trades`` and the documented fee rule ``floor(notional * fee_bps / 10000)`` cents
per side; the recorder and ``marketenv check`` are never the oracle.
"""

from __future__ import annotations

import math
from collections import defaultdict
from fractions import Fraction
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest

from marketenv.config import Config, load_config
from marketenv.parallel_env import MarketParallelEnv
from recorders.recording_wrapper import ParallelRecordingWrapper
from tests.conftest import CONFIGS

SHIPPED = sorted(p.stem for p in CONFIGS.glob("*.toml"))
TICKS = 160
WARMUP = 10


def _fee_cents(notional: int, fee_bps: float) -> int:
    return math.floor(Fraction(notional) * Fraction(str(fee_bps)) / 10_000)


def _expected(trades: list, fee_bps: float) -> dict[int, dict[str, int]]:
    """Per agent: shares and cents bought and sold, fees in cents."""
    out: dict[int, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for t in trades:
        notional = t.price * t.quantity
        fee = _fee_cents(notional, fee_bps)
        b, s = out[t.buyer], out[t.seller]
        b["bq"] += t.quantity
        b["bc"] += notional
        b["fee"] += fee
        s["sq"] += t.quantity
        s["sc"] += notional
        s["fee"] += fee
    return out


def _record(cfg: Config, path: Path) -> dict[int, list]:
    """Record a short run; return each tick's trades."""
    env = MarketParallelEnv(cfg, learners="all", observation="raw", warmup_ticks=0, max_cycles=cfg.simulation.ticks)
    rec = ParallelRecordingWrapper(env, path, warmup=WARMUP, interval=1, ticks=cfg.simulation.ticks)
    rec.reset(seed=cfg.simulation.seed)
    sim = env.simulation
    trades_by_tick = {}
    for _ in range(cfg.simulation.ticks):
        tick = sim.tick
        rec.step_array(sim.crowd_actions(sim.obs))
        trades_by_tick[tick] = sim.last_trades  # the finished tick's trades
    rec.close()
    return trades_by_tick


@pytest.mark.parametrize("name", SHIPPED)
def test_fill_columns_and_cash_identity_on_every_row(name: str, tmp_path: Path) -> None:
    cfg = load_config(CONFIGS / f"{name}.toml").with_overrides(ticks=TICKS)
    path = tmp_path / "rec.parquet"
    trades_by_tick = _record(cfg, path)
    t = pq.read_table(path).to_pydict()
    n = len(t["tick"])
    assert n > 0
    syms = {s.name: k for k, s in enumerate(cfg.symbols)}
    two_sided = traded_rows = 0
    for i in range(n):
        tick, agent = t["tick"][i], t["agent_id"][i]
        trades = trades_by_tick[tick]
        e = _expected(trades, cfg.market.fee_bps).get(agent, {})
        bq, sq = e.get("bq", 0), e.get("sq", 0)
        bc, sc, fee = e.get("bc", 0), e.get("sc", 0), e.get("fee", 0)
        assert t["fill_buy_quantity"][i] == bq
        assert t["fill_sell_quantity"][i] == sq
        assert t["fill_quantity"][i] == bq - sq
        assert t["fees"][i] == pytest.approx(fee / 100, abs=1e-12)
        for col, q, c in (("fill_buy_price", bq, bc), ("fill_sell_price", sq, sc), ("fill_price", bq + sq, bc + sc)):
            if q:
                assert t[col][i] == pytest.approx(c / q / 100, rel=1e-12), (col, tick, agent)
            else:
                assert math.isnan(t[col][i]), (col, tick, agent)
        # The cash identity, to the cent.
        d_cash_cents = (t["next_cash"][i] - t["f_cash"][i]) * 100
        assert abs(d_cash_cents - (sc - bc - fee)) < 1e-6, (tick, agent)
        # Fill prices lie inside the symbol's traded range of the tick.
        prices = [tr.price for tr in trades if tr.symbol == syms[t["symbol"][i]]]
        if prices:
            lo, hi = min(prices) / 100, max(prices) / 100
            assert t["tick_trade_low"][i] == lo and t["tick_trade_high"][i] == hi
            for col in ("fill_price", "fill_buy_price", "fill_sell_price"):
                v = t[col][i]
                assert math.isnan(v) or lo - 1e-9 <= v <= hi + 1e-9
        else:
            assert math.isnan(t["tick_trade_low"][i]) and math.isnan(t["tick_trade_high"][i])
            assert bq == sq == 0
        traded_rows += bool(bq + sq)
        two_sided += bool(bq and sq)
    assert traded_rows > 0
    if name != "tree_agents":
        assert two_sided > 0, "market makers both buy and sell in some ticks"
    if cfg.market.fee_bps > 0:
        assert sum(t["fees"]) > 0


def test_two_sided_rows_are_exact_not_net(tmp_path: Path) -> None:
    """The bug of issue 12: buy 8 / sell 5 must not report 3 shares at the gross notional."""
    cfg = load_config(CONFIGS / "quick.toml").with_overrides(ticks=300)
    path = tmp_path / "rec.parquet"
    _record(cfg, path)
    t = pq.read_table(path, columns=["fill_price", "fill_buy_quantity", "fill_sell_quantity", "f_mid_price"])
    fp = t["fill_price"].to_numpy()
    bq = t["fill_buy_quantity"].to_numpy()
    sq = t["fill_sell_quantity"].to_numpy()
    mid = t["f_mid_price"].to_numpy()
    both = (bq > 0) & (sq > 0)
    assert both.any()
    assert np.all(np.abs(fp[both] / mid[both] - 1) < 0.05)
    netted = both & (bq == sq)
    assert np.all(np.isfinite(fp[netted]))


@pytest.mark.parametrize("name", ["quick", "multi_symbol"])
def test_env_infos_use_the_same_fill_fields(name: str) -> None:
    cfg = load_config(CONFIGS / f"{name}.toml").with_overrides(ticks=80)
    env = MarketParallelEnv(cfg, learners=2, max_cycles=80)  # two learners trading among the crowd
    env.reset(seed=3)
    ids = env.agent_name_mapping
    rng = np.random.default_rng(0)
    checked = 0
    for _ in range(60):
        actions = {a: int(rng.integers(0, 3)) for a in env.agents}
        _obs, _r, _te, _tr, infos = env.step(actions)
        exp = _expected(env.last_trades, cfg.market.fee_bps)
        for a, info in infos.items():
            e = exp.get(ids[a], {})
            bq, sq = e.get("bq", 0), e.get("sq", 0)
            assert info["fill_buy_quantity"] == bq and info["fill_sell_quantity"] == sq
            assert info["fill_quantity"] == bq - sq
            assert info["fees"] == pytest.approx(e.get("fee", 0) / 100)
            for key, q, c in (
                ("fill_buy_price", bq, e.get("bc", 0)),
                ("fill_sell_price", sq, e.get("sc", 0)),
                ("fill_price", bq + sq, e.get("bc", 0) + e.get("sc", 0)),
            ):
                assert info[key] == (pytest.approx(c / q / 100) if q else 0.0)
            checked += bool(bq + sq)
    assert checked > 0


def test_agent_fills_match_a_trade_by_trade_sum() -> None:
    """The batch kernel's learner-only fills: each listed agent's row, self-trades included."""
    from marketenv.engine import kernels as K
    from marketenv.engine.layout import N_TRADE, T_BUYER, T_PRICE, T_QTY, T_SELLER

    rng = np.random.default_rng(7)
    n_rows, used, fee_rate = 40, 31, 2_500  # fee_rate: parts per million of the notional
    trades = np.zeros((n_rows, N_TRADE), dtype=np.int64)
    trades[:, T_QTY] = rng.integers(1, 500, n_rows)
    trades[:, T_PRICE] = rng.integers(9_000, 11_000, n_rows)
    trades[:, T_BUYER] = rng.integers(0, 6, n_rows)
    trades[:, T_SELLER] = rng.integers(0, 6, n_rows)
    trades[3, T_SELLER] = trades[3, T_BUYER]  # a self-trade counts on both sides
    agents = np.array([4, 0, 2, 5, 9])  # 9 never trades
    out = np.full((agents.size, 5), -1, dtype=np.int64)
    K.agent_fills_into(trades, used, fee_rate, agents, out)
    for k, a in enumerate(agents.tolist()):
        want = [0, 0, 0, 0, 0]
        for row in trades[:used].tolist():
            cents = row[T_PRICE] * row[T_QTY]
            fee = cents * fee_rate // 1_000_000
            if row[T_BUYER] == a:
                want[0] += row[T_QTY]
                want[2] += cents
                want[4] += fee
            if row[T_SELLER] == a:
                want[1] += row[T_QTY]
                want[3] += cents
                want[4] += fee
        assert out[k].tolist() == want, a
