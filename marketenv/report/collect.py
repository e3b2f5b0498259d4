"""Per-tick market series of one run, for the stylized facts and plots.

A :class:`MarketSeries` holds, per symbol and tick, what the realism report measures:
the mid, spread and book state at the **start** of the tick (the same instant as the
agents' ``f_`` features), the trades and volume **during** the tick, the fair value, and
each symbol's public market features (the ``f_`` features that are not agent state) as a
predictability test needs them. It comes from a fresh simulation (:func:`simulate`) or
from a recording with interval 1 (:func:`from_recording`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from marketenv.errors import MarketEnvError
from marketenv.feature_spec import FEATURE_INDEX, MARKET_FEATURES
from marketenv.types import TICKS_PER_UNIT

DEFAULT_TICKS = 500_000
"""Ticks of a fresh run by default: 8,333 60-tick returns. Over 100,000 ticks the
tail and autocorrelation facts swing across their targets from seed to seed."""

_MARKET_COLS = np.array([FEATURE_INDEX[n] for n in MARKET_FEATURES], dtype=np.int64)


class ReportInputError(MarketEnvError):
    """A recording cannot be measured as given (e.g. its interval is not 1)."""


@dataclass
class MarketSeries:
    """Per-tick series of every symbol of one run.

    Attributes:
        symbols: Symbol names.
        mid: ``(n_symbols, T)`` mid at the start of each tick, currency units.
        spread: ``(n_symbols, T)`` spread at the start of each tick, ticks.
        one_side_empty: ``(n_symbols, T)`` a book side was empty at the start of the tick.
        volume: ``(n_symbols, T)`` shares traded during the tick.
        fair: ``(n_symbols, T)`` fair value at the start of the tick.
        features: ``(n_symbols, T, len(MARKET_FEATURES))`` public market features.
        pnl_by_type: Final P&L (currency units) of each agent, grouped by agent type.
        source: Where the series came from (config and seed, or a file).
    """

    symbols: tuple[str, ...]
    mid: np.ndarray
    spread: np.ndarray
    one_side_empty: np.ndarray
    volume: np.ndarray
    fair: np.ndarray
    features: np.ndarray
    pnl_by_type: dict[str, np.ndarray] = field(default_factory=dict)
    source: str = ""

    @property
    def ticks(self) -> int:
        return int(self.mid.shape[1])


def simulate(
    config: object,
    ticks: int,
    seed: int | None = None,
    warmup: int = 100,
    progress: Callable[[int], None] | None = None,
) -> MarketSeries:
    """Run the crowd alone for ``warmup + ticks`` ticks and collect the last ``ticks``.

    Args:
        config: A validated :class:`~marketenv.config.Config`.
        ticks: Ticks to collect (after the warm-up).
        seed: Root seed (the config's by default).
        warmup: Ticks run first and not collected (indicators fill, books form).
        progress: Called with the number of ticks done, every 1,000 ticks.
    """
    from marketenv.simulation import Simulation

    sim = Simulation(config, seed=seed)
    m = sim.market
    n_sym = m.n_symbols
    first_agent = [int(np.flatnonzero(sim.agent_symbols == s)[0]) for s in range(n_sym)]
    mid = np.empty((n_sym, ticks))
    spread = np.empty((n_sym, ticks))
    empty = np.zeros((n_sym, ticks), dtype=bool)
    volume = np.empty((n_sym, ticks))
    fair = np.empty((n_sym, ticks))
    feats = np.empty((n_sym, ticks, len(MARKET_FEATURES)))
    sim.run(warmup)
    for t in range(ticks):
        obs = sim.obs  # the start of tick t
        for s in range(n_sym):
            book = m.books[s]
            bid, ask = book.best_bid(), book.best_ask()
            empty[s, t] = bid is None or ask is None
            mid[s, t] = m.mid2(s) / (2 * TICKS_PER_UNIT)
            spread[s, t] = m.spread(s)
            fair[s, t] = m.fair_value(s)
            feats[s, t] = obs[first_agent[s], _MARKET_COLS]
        volume[:, t] = sim.step().stats.volume
        if progress is not None and (t + 1) % 1000 == 0:
            progress(t + 1)
    equity = sim.equity
    initial = sim.features.initial_equity
    pnl: dict[str, list[float]] = {}
    for spec in sim.specs:
        pnl.setdefault(spec.type, []).append(float(equity[spec.agent_id] - initial[spec.agent_id]))
    return MarketSeries(
        m.symbol_names, mid, spread, empty, volume, fair, feats,
        {k: np.array(v) for k, v in pnl.items()}, f"simulation seed {sim.seed}",
    )


def from_recording(path: str | Path) -> MarketSeries:
    """Rebuild the per-tick series from an agent-row recording with interval 1.

    The mid, spread, fair value and public features are each symbol's ``f_`` columns (the
    same for every agent on a symbol); the volume during tick ``t`` is the next tick's
    ``f_total_volume_this_tick``. Empty book sides are not recorded, so they are reported
    as never empty (the mid carries the last two-sided quote forward). The last recorded
    tick is dropped, since the volume during it is not in the file.

    Raises:
        ReportInputError: the file is not a recording with interval 1.
    """
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    path = Path(path)
    try:
        pf = pq.ParquetFile(path)
    except (OSError, ValueError) as exc:
        raise ReportInputError(f"{path}: not a readable Parquet recording ({exc})") from None
    names = set(pf.schema_arrow.names)
    need = {"tick", "agent_id", "symbol", *(f"f_{n}" for n in MARKET_FEATURES)}
    missing = sorted(need - names)
    if missing:
        raise ReportInputError(f"{path}: not a marketenv recording (missing columns {', '.join(missing[:3])})")
    if "episode" in names or "env_index" in names:
        runs = pf.read(columns=[c for c in ("episode", "env_index") if c in names])
        distinct = {tuple(r.values()) for r in runs.to_pylist()}
        if len(distinct) > 1:
            raise ReportInputError(
                f"{path}: a training recording with {len(distinct)} episodes; the report measures one "
                "continuous run (record one episode, or run a fresh simulation from the config)"
            )
    cols = ["tick", "agent_id", "symbol", *(f"f_{n}" for n in MARKET_FEATURES)]
    table = pf.read(columns=cols)
    symbols = tuple(sorted(pc.unique(table["symbol"]).to_pylist()))
    n_sym = len(symbols)
    series = {}
    for s, name in enumerate(symbols):
        sub = table.filter(pc.equal(table["symbol"], name))
        first = pc.min(sub["agent_id"]).as_py()
        sub = sub.filter(pc.equal(sub["agent_id"], first))
        ticks = sub["tick"].to_numpy()
        order = np.argsort(ticks, kind="stable")
        ticks = ticks[order]
        steps = np.diff(ticks)
        if steps.size and not np.all(steps == 1):
            raise ReportInputError(
                f"{path}: ticks are recorded every {int(np.median(steps))} ticks; the report needs "
                "interval 1 (record with interval 1, or run a fresh simulation from the config)"
            )
        f = np.column_stack([sub[f"f_{n}"].to_numpy()[order] for n in MARKET_FEATURES])
        series[s] = (ticks, f)
    length = min(v[0].size for v in series.values())
    if length < 2:
        raise ReportInputError(f"{path}: has {length} recorded ticks; the report needs at least 2")
    feats = np.stack([series[s][1][:length] for s in range(n_sym)])
    col = {n: i for i, n in enumerate(MARKET_FEATURES)}
    mid = feats[:, :, col["mid_price"]]
    spread = np.rint(feats[:, :, col["spread"]] * TICKS_PER_UNIT)
    vol_next = feats[:, :, col["total_volume_this_tick"]]
    volume = vol_next[:, 1:]  # the last tick's volume is not recorded: it is dropped
    fair = feats[:, :, col["fair_value"]]
    end = length - 1
    return MarketSeries(
        symbols, mid[:, :end], spread[:, :end], np.zeros((n_sym, end), dtype=bool), volume,
        fair[:, :end], feats[:, :end], {}, str(path),
    )
