"""Synthetic, internally consistent recordings for the recorder tests and the benchmark.

:func:`simulate` runs a tiny market in numpy: each symbol's bid follows a random walk on
the cent grid with a spread of 1-4 cents; each agent trades one symbol, buying or selling
whole shares at cent prices within a position limit; cash is kept in integer cents. The
features are computed from that path (moving averages, RSI, MACD, Bollinger bands, ...),
with NaN exactly where :data:`marketenv.feature_spec.NAN_UNTIL` allows it, so that every
check of :mod:`recorders.check` passes. :func:`make_recording` writes the result through
:class:`recorders.parquet_writer.ParquetRecordWriter`, one block per recorded tick as the
recording wrapper does. :func:`rewrite_recording` and friends break a recording on purpose.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from marketenv.feature_spec import FEATURE_INDEX, FEATURE_NAMES, NAN_UNTIL, TICKS_PER_YEAR
from recorders.parquet_writer import ParquetRecordWriter
from recorders.schedule import RecordSchedule
from recorders.schema import (
    KEY_RECORDING,
    KEY_RUN_ID,
    OUTCOME_COLUMNS,
    TRAILING,
    build_schema,
    make_metadata,
)

SYMBOL_NAMES = ("ACME", "BOLT", "CRUX", "DYNA", "EVOX", "FLUX", "GRID", "HALO")
AGENT_KINDS = ("MarketMaker", "Momentum", "MeanReversion", "Noise", "Fundamental")
POSITION_LIMIT = 100


@dataclass
class SimulatedRecording:
    """Rows of a synthetic recording, ready for :meth:`ParquetRecordWriter.write`.

    Attributes:
        columns: Non-feature column -> array over all rows (string columns as codes).
        features: ``(rows, 45)`` feature matrix in :data:`FEATURE_NAMES` order.
        categories: String column -> category list for the codes.
        metadata: File metadata from :func:`recorders.schema.make_metadata`.
        n_agents: Agents per recorded tick (rows per block).
    """

    columns: dict[str, np.ndarray]
    features: np.ndarray
    categories: dict[str, list[str]]
    metadata: dict[str, str]
    n_agents: int

    @property
    def rows(self) -> int:
        """Number of rows."""
        return int(self.features.shape[0])


def _rolling_mean(x: np.ndarray, n: int) -> np.ndarray:
    """Mean of x[t-n+1 .. t] along axis 0 (NaN for t < n-1)."""
    out = np.full_like(x, np.nan, dtype=np.float64)
    c = np.cumsum(np.vstack([np.zeros((1, x.shape[1])), x]), axis=0)
    out[n - 1 :] = (c[n:] - c[:-n]) / n
    return out


def _ema(x: np.ndarray, n: int, start: int) -> np.ndarray:
    """EMA(n) of x along axis 0, seeded at ``start + n - 1`` with the SMA of x[start:start+n]."""
    out = np.full_like(x, np.nan, dtype=np.float64)
    seed_at = start + n - 1
    if seed_at >= x.shape[0]:
        return out
    alpha = 2.0 / (n + 1)
    out[seed_at] = x[start : seed_at + 1].mean(axis=0)
    for t in range(seed_at + 1, x.shape[0]):
        out[t] = alpha * x[t] + (1 - alpha) * out[t - 1]
    return out


def _wilder(x: np.ndarray, n: int) -> np.ndarray:
    """Wilder average of x[1..] along axis 0: seeded at t = n with mean(x[1..n])."""
    out = np.full_like(x, np.nan, dtype=np.float64)
    if n >= x.shape[0]:
        return out
    out[n] = x[1 : n + 1].mean(axis=0)
    for t in range(n + 1, x.shape[0]):
        out[t] = (out[t - 1] * (n - 1) + x[t]) / n
    return out


def _book(rng: np.random.Generator, ticks: int, n_symbols: int) -> tuple[np.ndarray, np.ndarray]:
    """Best bid and spread in cents for ticks 0 .. ticks (the state at each tick's start)."""
    bid_c = np.empty((ticks + 1, n_symbols), dtype=np.int64)
    bid_c[0] = 10_000 + 2_500 * np.arange(n_symbols)
    bid_c[1:] = bid_c[0] + np.cumsum(rng.integers(-3, 4, size=(ticks, n_symbols)), axis=0)
    bid_c = np.maximum(bid_c, 100)
    spread_c = rng.integers(1, 5, size=(ticks + 1, n_symbols))
    return bid_c, spread_c


def _symbol_features(
    rng: np.random.Generator,
    mid: np.ndarray,
    spread: np.ndarray,
    fills: np.ndarray,
    sym_of: np.ndarray,
) -> dict[str, np.ndarray]:
    """Per-(tick, symbol) features for ticks 0 .. ticks-1 from the book path."""
    ticks, n_symbols = mid.shape[0] - 1, mid.shape[1]
    f: dict[str, np.ndarray] = {}
    m = mid[:ticks]
    f["mid_price"] = m
    f["spread"] = spread[:ticks]
    f["spread_bps"] = spread[:ticks] / m * 10_000
    for k in (1, 5, 20, 100):
        pc = np.full_like(m, np.nan)
        if k < ticks:
            pc[k:] = (m[k:] / m[:-k] - 1.0) * 100.0
        f[f"price_change_{k}"] = pc
    for k in (1, 5, 20):
        lr = np.full_like(m, np.nan)
        if k < ticks:
            lr[k:] = np.log(m[k:] / m[:-k])
        f[f"log_return_{k}"] = lr
    for n in (10, 20, 50):
        f[f"sma_{n}"] = _rolling_mean(m, n) if n <= ticks else np.full_like(m, np.nan)
    f["ema_12"] = _ema(m, 12, 0)
    f["ema_26"] = _ema(m, 26, 0)
    change = np.zeros_like(m)
    change[1:] = np.diff(m, axis=0)
    avg_gain = _wilder(np.maximum(change, 0.0), 14)
    avg_loss = _wilder(np.maximum(-change, 0.0), 14)
    with np.errstate(divide="ignore", invalid="ignore"):
        rsi = 100.0 - 100.0 / (1.0 + avg_gain / avg_loss)
    rsi = np.where(avg_loss == 0, np.where(avg_gain == 0, 50.0, 100.0), rsi)
    f["rsi_14"] = np.where(np.isnan(avg_gain), np.nan, rsi)
    macd = f["ema_12"] - f["ema_26"]
    f["macd_line"] = macd
    f["macd_signal"] = _ema(macd, 9, 25)
    f["macd_histogram"] = macd - f["macd_signal"]
    sma20 = f["sma_20"]
    sq = _rolling_mean(m * m, 20) if ticks >= 20 else np.full_like(m, np.nan)
    std = np.sqrt(np.maximum(sq - sma20 * sma20, 0.0))
    f["bb_upper"] = sma20 + 2 * std
    f["bb_middle"] = sma20
    f["bb_lower"] = sma20 - 2 * std
    width = f["bb_upper"] - f["bb_lower"]
    with np.errstate(divide="ignore", invalid="ignore"):
        pb = (m - f["bb_lower"]) / width
    f["bb_percent_b"] = np.where(width > 1e-12, pb, np.where(np.isnan(width), np.nan, 0.5))
    f["atr_14"] = _wilder(np.abs(change) + spread[:ticks], 14)
    fair = np.broadcast_to(100.0 + 25.0 * np.arange(n_symbols), m.shape)
    f["fair_value"] = fair
    f["price_to_fair_value"] = m / fair
    f["fair_value_deviation"] = (m - fair) / fair * 100.0
    # News: events of 10-60 ticks with a sentiment and magnitude, now and then.
    active = np.zeros(m.shape)
    sentiment = np.zeros(m.shape)
    magnitude = np.zeros(m.shape)
    remaining = np.zeros(m.shape)
    for s in range(n_symbols):
        t = int(rng.integers(0, 40))
        while t < ticks:
            dur = int(rng.integers(10, 61))
            end = min(t + dur, ticks)
            active[t:end, s] = 1.0
            sentiment[t:end, s] = rng.uniform(-1, 1)
            magnitude[t:end, s] = rng.uniform(0, 1)
            remaining[t:end, s] = (t + dur) - np.arange(t, end)
            t = end + int(rng.integers(20, 120))
    f["has_active_news"] = active
    f["news_sentiment"] = sentiment
    f["news_magnitude"] = magnitude
    f["news_ticks_remaining"] = remaining
    trades = np.zeros(m.shape)
    volume = np.zeros(m.shape)
    for s in range(n_symbols):
        on = fills[:, sym_of == s]
        trades[1:, s] = (on[: ticks - 1] != 0).sum(axis=1)
        volume[1:, s] = np.abs(on[: ticks - 1]).sum(axis=1)
    f["total_trades_this_tick"] = trades
    f["total_volume_this_tick"] = volume
    ret = np.zeros_like(m)
    ret[1:] = np.diff(np.log(m), axis=0)
    index = m.mean(axis=1, keepdims=True)
    mret = np.zeros_like(index)
    mret[1:] = np.diff(np.log(index), axis=0)
    corr = np.full_like(m, np.nan)
    for t in range(20, ticks):
        a = ret[t - 19 : t + 1]
        b = mret[t - 19 : t + 1]
        da, db = a - a.mean(axis=0), b - b.mean(axis=0)
        den = np.sqrt((da * da).sum(axis=0) * (db * db).sum(axis=0))
        num = (da * db).sum(axis=0)
        corr[t] = np.clip(np.where(den > 0, num / np.where(den > 0, den, 1.0), 0.0), -1.0, 1.0)
    if n_symbols == 1:
        corr[20:] = 1.0
    f["correlation_to_market"] = corr
    rs = np.full_like(m, np.nan)
    if ticks > 20:
        rs[20:] = np.log(m[20:] / m[:-20]) - np.log(index[20:] / index[:-20])
    f["relative_strength"] = rs
    return f


def simulate(
    *,
    ticks: int = 300,
    n_agents: int = 5,
    warmup: int = 0,
    interval: int = 1,
    seed: int = 0,
    n_symbols: int = 1,
) -> SimulatedRecording:
    """Simulate a tiny consistent market and return the recorded rows.

    Args:
        ticks: Ticks simulated (0 .. ticks-1).
        n_agents: Agents; agent ``a`` trades symbol ``a % n_symbols``.
        warmup: ``--record-warmup``.
        interval: ``--record-interval``.
        seed: Seed of the generator.
        n_symbols: Symbols in the market (at most 8).

    Returns:
        The rows of the recorded ticks, ordered by tick then agent.
    """
    schedule = RecordSchedule(warmup=warmup, interval=interval, ticks=ticks)
    if not 1 <= n_symbols <= len(SYMBOL_NAMES):
        raise ValueError(f"n_symbols must be in 1..{len(SYMBOL_NAMES)}")
    rng = np.random.default_rng(seed)
    A = n_agents
    sym_of = np.arange(A) % n_symbols
    initial_c = 10_000_000 * (1 + np.arange(A) % 3)  # 100,000.00 .. 300,000.00 in cents

    book_rng, news_rng, agent_rng = rng.spawn(3)
    bid_all, spread_all = _book(book_rng, ticks, n_symbols)
    mid = (2 * bid_all + spread_all) / 200.0
    t_all = ticks + 1
    pos = np.zeros((t_all, A), dtype=np.int64)
    cash_c = np.zeros((t_all, A), dtype=np.int64)
    cash_c[0] = initial_c
    action = np.zeros((ticks, A), dtype=np.int8)
    qty = np.zeros((ticks, A), dtype=np.int64)
    limit_c = np.zeros((ticks, A), dtype=np.int64)
    is_limit = np.zeros((ticks, A), dtype=bool)
    fill = np.zeros((ticks, A), dtype=np.int64)
    fill_c = np.zeros((ticks, A), dtype=np.int64)
    for t in range(ticks):
        bid = bid_all[t, sym_of]
        ask = bid + spread_all[t, sym_of]
        p = pos[t]
        act = agent_rng.choice(np.array([-1, 0, 1], dtype=np.int8), size=A, p=[0.3, 0.4, 0.3])
        room = np.where(act > 0, POSITION_LIMIT - p, POSITION_LIMIT + p)
        q = np.minimum(agent_rng.integers(1, 11, size=A), room)
        act = np.where(q > 0, act, 0).astype(np.int8)
        q = np.where(act != 0, q, 0)
        lim = agent_rng.random(A) < 0.7
        lim_px = np.where(
            act > 0, ask + agent_rng.integers(0, 3, size=A), bid - agent_rng.integers(0, 3, size=A)
        )
        filled = np.where(act != 0, agent_rng.binomial(q, 0.6), 0)
        side = act.astype(np.int64)
        # Resting orders from earlier ticks sometimes fill while the agent holds.
        resting = (act == 0) & (agent_rng.random(A) < 0.05)
        rside = np.where(agent_rng.random(A) < 0.5, 1, -1)
        rroom = np.where(rside > 0, POSITION_LIMIT - p, POSITION_LIMIT + p)
        rq = np.minimum(agent_rng.integers(1, 4, size=A), rroom)
        filled = np.where(resting, rq, filled)
        side = np.where(resting, rside, side)
        fq = side * filled
        px = np.where(fq > 0, ask, bid)
        action[t], qty[t], is_limit[t] = act, q, lim & (act != 0)
        limit_c[t] = np.where(is_limit[t], lim_px, 0)
        fill[t] = fq
        fill_c[t] = np.where(fq != 0, px, 0)
        pos[t + 1] = p + fq
        cash_c[t + 1] = cash_c[t] - fq * px

    sf = _symbol_features(news_rng, mid, spread_all / 100.0, fill, sym_of)
    mid_a = mid[:, sym_of]  # (ticks+1, A)
    initial = initial_c / 100.0
    cash = cash_c / 100.0
    equity = cash + pos * mid_a
    pnl = equity - initial
    af: dict[str, np.ndarray] = {}
    af["position"] = pos[:ticks].astype(np.float64)
    af["position_normalized"] = pos[:ticks] / POSITION_LIMIT
    af["cash"] = cash[:ticks]
    af["cash_normalized"] = cash[:ticks] / initial
    af["total_pnl"] = pnl[:ticks]
    af["pnl_normalized"] = pnl[:ticks] / initial * 100.0
    af["equity"] = equity[:ticks]
    peak = np.maximum.accumulate(equity[:ticks], axis=0)
    af["max_drawdown"] = np.maximum.accumulate(
        np.clip((peak - equity[:ticks]) / peak, 0, 1), axis=0
    )
    rets = np.zeros((ticks, A))
    rets[1:] = equity[1:ticks] / equity[: ticks - 1] - 1.0
    count = np.arange(ticks)[:, None].astype(np.float64)  # returns r[1..t]
    s1 = np.cumsum(rets, axis=0)
    s2 = np.cumsum(rets * rets, axis=0)
    with np.errstate(divide="ignore", invalid="ignore"):
        mean = s1 / count
        var = np.maximum(s2 / count - mean * mean, 0.0)
    std = np.sqrt(var)
    ann = np.sqrt(TICKS_PER_YEAR)
    af["volatility"] = std * ann
    with np.errstate(divide="ignore", invalid="ignore"):
        af["sharpe"] = np.where(std > 1e-15, mean / np.where(std > 1e-15, std, 1.0) * ann, 0.0)

    rec = np.asarray(schedule.recorded_ticks(ticks), dtype=np.int64)
    tt = np.repeat(rec, A)
    aa = np.tile(np.arange(A), len(rec))
    ss = sym_of[aa]
    feats = np.empty((len(tt), len(FEATURE_NAMES)))
    for name in FEATURE_NAMES:
        j = FEATURE_INDEX[name]
        feats[:, j] = sf[name][tt, ss] if name in sf else af[name][tt, aa]
    for name, until in NAN_UNTIL.items():
        feats[tt < until, FEATURE_INDEX[name]] = np.nan

    act = action[tt, aa]
    fq = fill[tt, aa].astype(np.float64)
    fpx = fill_c[tt, aa] / 100.0
    # The tick's traded range per (tick, symbol): every synthetic fill is one trade.
    traded = fill != 0
    low = np.full((ticks, n_symbols), np.inf)
    high = np.full((ticks, n_symbols), -np.inf)
    t_idx, a_idx = np.nonzero(traded)
    np.minimum.at(low, (t_idx, sym_of[a_idx]), fill_c[t_idx, a_idx] / 100.0)
    np.maximum.at(high, (t_idx, sym_of[a_idx]), fill_c[t_idx, a_idx] / 100.0)
    low[np.isinf(low)] = np.nan
    high[np.isinf(high)] = np.nan
    next_pnl = pnl[tt + 1, aa]
    cols: dict[str, np.ndarray] = {
        "tick": tt.astype(np.uint64),
        "agent_id": aa.astype(np.uint64),
        "agent_name": aa.astype(np.int32),
        "symbol": ss.astype(np.int32),
        "action": act,
        "action_quantity": qty[tt, aa].astype(np.float64),
        "action_price": np.where(is_limit[tt, aa], limit_c[tt, aa] / 100.0, np.nan),
        "fill_quantity": fq,
        "fill_price": np.where(fq != 0, fpx, np.nan),
        "fill_buy_quantity": np.maximum(fq, 0.0),
        "fill_buy_price": np.where(fq > 0, fpx, np.nan),
        "fill_sell_quantity": np.maximum(-fq, 0.0),
        "fill_sell_price": np.where(fq < 0, fpx, np.nan),
        "fees": np.zeros(len(tt)),
        "tick_trade_low": low[tt, ss],
        "tick_trade_high": high[tt, ss],
        "reward": next_pnl - pnl[tt, aa],
        "reward_normalized": (next_pnl - pnl[tt, aa]) / initial[aa],
        "next_mid_price": mid_a[tt + 1, aa],
        "next_position": pos[tt + 1, aa].astype(np.float64),
        "next_pnl": next_pnl,
        "next_cash": cash[tt + 1, aa],
        "next_equity": equity[tt + 1, aa],
    }
    cols["run_id"] = np.zeros(len(tt), dtype=np.int32)
    assert set(cols) == {"tick", "agent_id", "agent_name", "symbol", *OUTCOME_COLUMNS, *TRAILING}
    names = [f"{AGENT_KINDS[a % len(AGENT_KINDS)]}_{a}" for a in range(A)]
    config = {"symbols": list(SYMBOL_NAMES[:n_symbols]), "agents": names, "ticks": ticks}
    metadata = make_metadata(config, seed, schedule.as_flags())
    return SimulatedRecording(
        columns=cols,
        features=feats,
        categories={
            "agent_name": names,
            "symbol": list(SYMBOL_NAMES[:n_symbols]),
            "run_id": [metadata[KEY_RUN_ID]],
        },
        metadata=metadata,
        n_agents=A,
    )


def make_recording(
    path: str | Path,
    *,
    ticks: int = 300,
    n_agents: int = 5,
    warmup: int = 0,
    interval: int = 1,
    seed: int = 0,
    n_symbols: int = 1,
    row_group_size: int = 256,
) -> Path:
    """Simulate a tiny market and write a valid recording of it to ``path``.

    Args:
        path: Output file.
        ticks: Ticks simulated.
        n_agents: Agents (rows per recorded tick).
        warmup: ``--record-warmup``.
        interval: ``--record-interval``.
        seed: Seed of the generator.
        n_symbols: Symbols; agent ``a`` trades symbol ``a % n_symbols``.
        row_group_size: Rows per row group (small, so blocks straddle row groups).

    Returns:
        The path of the finished file.
    """
    sim = simulate(
        ticks=ticks,
        n_agents=n_agents,
        warmup=warmup,
        interval=interval,
        seed=seed,
        n_symbols=n_symbols,
    )
    schema = build_schema(metadata=sim.metadata)
    A = sim.n_agents
    with ParquetRecordWriter(
        path, schema, string_categories=sim.categories, row_group_size=row_group_size
    ) as writer:
        for lo in range(0, sim.rows, A):
            block = {name: col[lo : lo + A] for name, col in sim.columns.items()}
            block["tick"] = sim.columns["tick"][lo]  # a scalar, as the wrapper may pass
            writer.write(block, features=sim.features[lo : lo + A])
    return writer.path


# ---------------------------------------------------------------------- breaking files


def rewrite_recording(path: str | Path, edit: Callable[[pa.Table], pa.Table]) -> Path:
    """Read a recording, apply ``edit`` to its table and write it back in place.

    Args:
        path: The recording.
        edit: Table -> table; the original schema metadata is kept unless ``edit``
            replaces it.

    Returns:
        ``path``.
    """
    p = Path(path)
    table = pq.read_table(p)
    out = edit(table)
    if out.schema.metadata is None and table.schema.metadata is not None:
        out = out.replace_schema_metadata(table.schema.metadata)
    pq.write_table(out, p, row_group_size=256, compression="zstd")
    return p


def set_column(
    table: pa.Table, name: str, values: Any, type: pa.DataType | None = None
) -> pa.Table:
    """Replace column ``name`` by ``values`` (keeping its type unless ``type`` is given)."""
    i = table.schema.get_field_index(name)
    field = table.schema.field(i)
    t = type if type is not None else field.type
    return table.set_column(i, pa.field(name, t, nullable=field.nullable), pa.array(values, type=t))


def column(table: pa.Table, name: str) -> np.ndarray:
    """Column ``name`` as a writable numpy array."""
    return np.array(table.column(name).to_numpy(), copy=True)


def set_recording_flags(table: pa.Table, **flags: Any) -> pa.Table:
    """Return ``table`` with ``marketenv.recording`` flags overridden."""
    meta = dict(table.schema.metadata or {})
    rec = json.loads(meta[KEY_RECORDING.encode()])
    rec.update(flags)
    meta[KEY_RECORDING.encode()] = json.dumps(rec).encode()
    return table.replace_schema_metadata(meta)
