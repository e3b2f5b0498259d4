"""The market table: book depth from every agent's resting orders, bars from the trade list."""

from __future__ import annotations

import math
from collections import defaultdict
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest

from marketenv.cli import main
from marketenv.config import load_config
from marketenv.parallel_env import MarketParallelEnv
from recorders.check import main as check_main
from recorders.market_table import DEPTH_LEVELS, MARKET_COLUMNS, MarketRecorder
from recorders.recording_wrapper import ParallelRecordingWrapper

TICKS = 220
WARMUP = 20


def _depth_from_orders(market, symbol: int) -> tuple[list, list]:
    """Aggregate every agent's resting orders into price levels (independent of the book)."""
    side_qty: dict[int, dict[int, int]] = {1: defaultdict(int), -1: defaultdict(int)}
    for agent in range(market.n_agents):
        for _oid, side, price, remaining in market.resting_orders(agent, symbol):
            side_qty[side][price] += remaining
    bids = sorted(side_qty[1].items(), reverse=True)[:DEPTH_LEVELS]
    asks = sorted(side_qty[-1].items())[:DEPTH_LEVELS]
    return bids, asks


@pytest.mark.parametrize("name", ["quick", "multi_symbol"])
def test_market_rows_match_the_orders_trades_and_agent_rows(name: str, tmp_path: Path) -> None:
    cfg = load_config(name).with_overrides(ticks=TICKS)
    env = MarketParallelEnv(cfg, learners="all", observation="raw", warmup_ticks=0, max_cycles=TICKS)
    rec = ParallelRecordingWrapper(env, tmp_path / "agents.parquet", warmup=WARMUP, ticks=TICKS)
    rec.reset(seed=5)
    sim = env.simulation
    mrec = MarketRecorder(tmp_path / "market.parquet", rec.schedule, sim)
    step = mrec.wrap(rec.step_array, env)
    expect: dict[tuple[int, int], dict] = {}
    for _ in range(TICKS):
        tick = sim.tick
        books = {s: _depth_from_orders(sim.market, s) for s in range(sim.market.n_symbols)}
        step(sim.crowd_actions(sim.obs))
        trades = sim.last_trades
        for s in range(sim.market.n_symbols):
            prices = [t.price for t in trades if t.symbol == s]
            expect[(tick, s)] = {
                "depth": books[s],
                "trades": len(prices),
                "volume": sum(t.quantity for t in trades if t.symbol == s),
                "range": (min(prices), max(prices)) if prices else None,
            }
    rec.close()
    mrec.close()
    m = pq.read_table(tmp_path / "market.parquet").to_pydict()
    a = pq.read_table(tmp_path / "agents.parquet").to_pydict()
    names = [s.name for s in cfg.symbols]
    n_sym = len(names)
    assert len(m["tick"]) == (TICKS - WARMUP) * n_sym
    assert list(pq.read_schema(tmp_path / "market.parquet").names) == [c[0] for c in MARKET_COLUMNS]
    rows = {(m["tick"][i], names.index(m["symbol"][i])): i for i in range(len(m["tick"]))}
    assert len(rows) == len(m["tick"])
    for (tick, s), i in rows.items():
        e = expect[(tick, s)]
        bids, asks = e["depth"]
        for side, levels in (("bid", bids), ("ask", asks)):
            for k in range(1, DEPTH_LEVELS + 1):
                if k <= len(levels):
                    assert m[f"{side}_price_{k}"][i] == levels[k - 1][0] / 100, (tick, side, k)
                    assert m[f"{side}_size_{k}"][i] == levels[k - 1][1]
                else:
                    assert math.isnan(m[f"{side}_price_{k}"][i]) and m[f"{side}_size_{k}"][i] == 0
        if bids:
            assert m["best_bid"][i] == bids[0][0] / 100 and m["best_bid_size"][i] == bids[0][1]
        if bids and asks:
            assert m["mid"][i] == pytest.approx((bids[0][0] + asks[0][0]) / 200)
            assert m["spread"][i] == pytest.approx((asks[0][0] - bids[0][0]) / 100)
        assert m["trades"][i] == e["trades"] and m["volume"][i] == e["volume"]
        assert m["open"][i] == m["mid"][i]
        assert m["low"][i] <= min(m["open"][i], m["close"][i]) <= max(m["open"][i], m["close"][i]) <= m["high"][i]
        if e["range"] is not None:
            assert m["low"][i] <= e["range"][0] / 100 and e["range"][1] / 100 <= m["high"][i]
        if (tick + 1, s) in rows:
            assert m["close"][i] == m["mid"][rows[(tick + 1, s)]]
    # The snapshot columns share the agent rows' f_ timing.
    run_ids = set(a["run_id"])
    assert set(m["run_id"]) == run_ids and len(run_ids) == 1
    for j in range(0, len(a["tick"]), 7):
        i = rows[(a["tick"][j], names.index(a["symbol"][j]))]
        assert m["mid"][i] == a["f_mid_price"][j]
        assert m["spread"][i] == pytest.approx(a["f_spread"][j])
        assert m["fair_value"][i] == a["f_fair_value"][j]
        assert m["news_active"][i] == a["f_has_active_news"][j]
        assert m["news_sentiment"][i] == a["f_news_sentiment"][j]
        assert m["news_ticks_remaining"][i] == a["f_news_ticks_remaining"][j]
    # Bars: the next tick's f_total_volume_this_tick is this tick's volume.
    nxt = {(a["tick"][j], a["symbol"][j]): a["f_total_volume_this_tick"][j] for j in range(len(a["tick"]))}
    compared = 0
    for (tick, s), i in rows.items():
        v = nxt.get((tick + 1, names[s]))
        if v is not None:
            assert m["volume"][i] == v
            compared += 1
    assert compared > 0
    assert np.nansum(np.asarray(m["volume"])) > 0


def test_record_market_flag_writes_a_checked_table(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out, mk = tmp_path / "a.parquet", tmp_path / "m.parquet"
    rc = main([
        "--headless-record", "--config", "quick", "--ticks", "150", "--record-warmup", "10",
        "--record-interval", "2", "--record-output", str(out), "--record-market", str(mk), "--quiet",
    ])
    assert rc == 0
    t = pq.read_table(mk, columns=["tick"]).column("tick").to_pylist()
    assert t == list(range(10, 150, 2))
    capsys.readouterr()
    assert check_main([str(mk)]) == 0
    text = capsys.readouterr().out
    assert "market table" in text and "PASS" in text


def test_market_table_cannot_replace_the_agent_rows_or_the_config(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "a.parquet"
    cfg = tmp_path / "c.toml"
    original = (Path(__file__).resolve().parents[1] / "configs" / "quick.toml").read_text()
    cfg.write_text(original)
    for market in (out, cfg):
        rc = main([
            "--headless-record", "--config", str(cfg), "--ticks", "150", "--record-output", str(out),
            "--record-market", str(market), "--quiet",
        ])
        err = capsys.readouterr().err.strip()
        assert rc == 2 and len(err.splitlines()) == 1, err
        assert not out.exists() and not list(tmp_path.glob(".*.tmp"))
    assert cfg.read_text() == original
