"""The market table: one row per (recorded tick, symbol), next to the agent rows.

Timing matches the agent rows. The *snapshot* columns (``mid`` .. ``ask_size_5``,
``spread``, ``fair_value``, ``news_*``) are the state at the start of the tick, before any
agent acts: the same instant as the agent rows' ``f_`` columns, so ``mid``, ``spread``,
``fair_value`` and ``news_*`` equal ``f_mid_price``, ``f_spread``, ``f_fair_value`` and
``f_news_*`` of every agent row of that (tick, symbol). The *bar* columns (``trades``,
``volume``, ``open``, ``high``, ``low``, ``close``) describe what happened during the tick,
like the agent rows' fill columns: ``open`` is the mid at the start (= ``mid``), ``close``
the mid after the tick (= the next tick's ``mid``), and ``high`` / ``low`` the market's bar:
both mids rounded outwards to whole ticks and every trade between them.

An empty book side has NaN prices and size 0 (``mid`` and ``spread`` carry the last
two-sided quote forward, as the features do); missing depth levels likewise. The same
:class:`~recorders.schedule.RecordSchedule` as the agent rows decides which ticks are kept.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from marketenv.config import model_inputs
from marketenv.simulation import Simulation, Transition
from marketenv.types import TICKS_PER_UNIT
from recorders.parquet_writer import ParquetRecordWriter
from recorders.schedule import RecordSchedule
from recorders.schema import KEY_FEATURES, KEY_RUN_ID, KEY_SCHEMA_VERSION, make_metadata

DEPTH_LEVELS = 5
"""Book levels recorded per side."""

MARKET_SCHEMA_VERSION = "market-1"
"""``marketenv.schema_version`` of a market table."""

KEY_TABLE = "marketenv.table"
"""Metadata key naming the table kind (``"market"``); agent recordings do not carry it."""

_LEVELS = range(1, DEPTH_LEVELS + 1)

MARKET_COLUMNS: tuple[tuple[str, pa.DataType, str], ...] = (
    ("tick", pa.uint64(), "the tick (0-based)"),
    ("symbol", pa.string(), "the symbol"),
    ("mid", pa.float64(), "(best_bid + best_ask) / 2 at the start of the tick (= f_mid_price)"),
    ("best_bid", pa.float64(), "best bid at the start of the tick, NaN if no bids"),
    ("best_bid_size", pa.int64(), "shares at the best bid (0 if none)"),
    ("best_ask", pa.float64(), "best ask at the start of the tick, NaN if no asks"),
    ("best_ask_size", pa.int64(), "shares at the best ask (0 if none)"),
    ("spread", pa.float64(), "best_ask - best_bid (last two-sided value if a side is empty; = f_spread)"),
    *(
        col
        for k in _LEVELS
        for col in (
            (f"bid_price_{k}", pa.float64(), f"price of bid level {k} (1 = best), NaN if absent"),
            (f"bid_size_{k}", pa.int64(), f"shares at bid level {k}, 0 if absent"),
        )
    ),
    *(
        col
        for k in _LEVELS
        for col in (
            (f"ask_price_{k}", pa.float64(), f"price of ask level {k} (1 = best), NaN if absent"),
            (f"ask_size_{k}", pa.int64(), f"shares at ask level {k}, 0 if absent"),
        )
    ),
    ("trades", pa.int64(), "trades in the symbol during the tick"),
    ("volume", pa.int64(), "shares traded in the symbol during the tick"),
    ("open", pa.float64(), "mid at the start of the tick"),
    ("high", pa.float64(), "bar high: both mids rounded outwards and every trade of the tick"),
    ("low", pa.float64(), "bar low: both mids rounded outwards and every trade of the tick"),
    ("close", pa.float64(), "mid after the tick (= next tick's mid)"),
    ("fair_value", pa.float64(), "fundamental fair value at the start of the tick (= f_fair_value)"),
    ("news_active", pa.float64(), "1.0 if a news event is active for the symbol, else 0.0"),
    ("news_sentiment", pa.float64(), "sentiment of the active event in [-1, 1], 0.0 if none"),
    ("news_magnitude", pa.float64(), "magnitude of the active event in [0, 1], 0.0 if none"),
    ("news_ticks_remaining", pa.float64(), "ticks until the active event expires, 0.0 if none"),
    ("run_id", pa.string(), "the run (same id as the run's agent rows)"),
)
"""Name, type and description of every market-table column, in file order."""

_FLOATS = [n for n, t, _d in MARKET_COLUMNS if pa.types.is_float64(t)]
_INTS = [n for n, t, _d in MARKET_COLUMNS if pa.types.is_int64(t)]
_F = {n: j for j, n in enumerate(_FLOATS)}
_I = {n: j for j, n in enumerate(_INTS)}
_MID, _OPEN, _SPREAD, _FAIR = _F["mid"], _F["open"], _F["spread"], _F["fair_value"]
_BID_P = np.array([_F[f"bid_price_{k}"] for k in _LEVELS])
_ASK_P = np.array([_F[f"ask_price_{k}"] for k in _LEVELS])
_BID_Q = np.array([_I[f"bid_size_{k}"] for k in _LEVELS])
_ASK_Q = np.array([_I[f"ask_size_{k}"] for k in _LEVELS])
_BEST_BID, _BEST_ASK = _F["best_bid"], _F["best_ask"]
_BEST_BID_Q, _BEST_ASK_Q = _I["best_bid_size"], _I["best_ask_size"]
_NEWS = np.array([_F[n] for n in ("news_active", "news_sentiment", "news_magnitude", "news_ticks_remaining")])


def market_schema(metadata: dict[str, str] | None = None) -> pa.Schema:
    """The Arrow schema of a market table (every column non-nullable)."""
    return pa.schema(
        [pa.field(n, t, nullable=False) for n, t, _d in MARKET_COLUMNS], metadata=metadata
    )


class MarketRecorder:
    """Stages market-table rows and hands them to a :class:`ParquetRecordWriter`.

    Call :meth:`capture` at the start of a recorded tick (before any agent acts) and
    :meth:`commit` after it; :meth:`close` finishes the file.

    Args:
        output: The Parquet file to write.
        schedule: Which ticks to record (the agent rows' schedule).
        simulation: The simulation being recorded.
        extra_flags: More recording flags for the metadata.
        row_group_size: Rows per Parquet row group.
        inputs: Files the output must not replace (the config, the agent-rows file); the
            agents' model files are always protected.
    """

    BLOCK_TICKS = 256

    def __init__(
        self,
        output: str | Path,
        schedule: RecordSchedule,
        simulation: Simulation,
        extra_flags: dict[str, Any] | None = None,
        row_group_size: int = 65536,
        inputs: Sequence[str | Path] = (),
    ) -> None:
        self.schedule = schedule
        self.sim = simulation
        flags = {**schedule.as_flags(), **(extra_flags or {})}
        meta = make_metadata(simulation.config.to_dict(), simulation.seed, flags)
        del meta[KEY_FEATURES]
        meta[KEY_SCHEMA_VERSION] = MARKET_SCHEMA_VERSION
        meta[KEY_TABLE] = "market"
        self.run_id: str = meta[KEY_RUN_ID]
        self.writer = ParquetRecordWriter(
            output,
            market_schema(meta),
            string_categories={
                "symbol": list(simulation.market.symbol_names),
                "run_id": [self.run_id],
            },
            row_group_size=row_group_size,
            inputs=[*inputs, *model_inputs(simulation.config)],
        )
        self.n_symbols = simulation.market.n_symbols
        cap = self.BLOCK_TICKS * self.n_symbols
        self._f = np.empty((cap, len(_FLOATS)))
        self._i = np.empty((cap, len(_INTS)), dtype=np.int64)
        self._tick = np.empty(cap, dtype=np.uint64)
        self._sym = np.tile(np.arange(self.n_symbols, dtype=np.int32), self.BLOCK_TICKS)
        self._run = np.zeros(cap, dtype=np.int32)
        self._n = 0
        self._open = False
        self.rows = 0
        """Rows recorded so far (staged or written)."""

    def capture(self) -> None:
        """Stage the snapshot columns of the tick now starting (call before agents act)."""
        if self._n + self.n_symbols > self._f.shape[0]:
            self.flush()
        m = self.sim.market
        f, i = self._f, self._i
        lo = self._n
        unit = float(TICKS_PER_UNIT)
        self._tick[lo : lo + self.n_symbols] = m.tick
        for s in range(self.n_symbols):
            r = lo + s
            fr, ir = f[r], i[r]
            bids, asks = m.books[s].depth(DEPTH_LEVELS)
            mid = m.mid_price(s)
            fr[_MID] = mid
            fr[_OPEN] = mid
            fr[_SPREAD] = m.spread(s) / unit
            fr[_FAIR] = m.fair_value(s)
            for levels, fp, iq, best_p, best_q in (
                (bids, _BID_P, _BID_Q, _BEST_BID, _BEST_BID_Q),
                (asks, _ASK_P, _ASK_Q, _BEST_ASK, _BEST_ASK_Q),
            ):
                n = len(levels)
                fr[fp] = np.nan
                ir[iq] = 0
                if n:
                    px, qty = zip(*levels, strict=True)
                    fr[fp[:n]] = px
                    fr[fp[:n]] /= unit
                    ir[iq[:n]] = qty
                fr[best_p] = fr[fp[0]]
                ir[best_q] = ir[iq[0]]
            news = m.active_news(s)
            if news is None:
                fr[_NEWS] = 0.0
            else:
                fr[_NEWS] = (1.0, news.sentiment, news.magnitude, news.ticks_remaining)
        self._open = True

    def commit(self, transition: Transition) -> None:
        """Stage the bar columns of the tick :meth:`capture` started (call after it)."""
        if not self._open:
            raise RuntimeError("commit() without capture(): capture the market before the tick")
        self._open = False
        st = transition.stats
        m = self.sim.market
        lo, hi = self._n, self._n + self.n_symbols
        unit = float(TICKS_PER_UNIT)
        self._i[lo:hi, _I["trades"]] = st.trades
        self._i[lo:hi, _I["volume"]] = st.volume
        self._f[lo:hi, _F["high"]] = st.high / unit
        self._f[lo:hi, _F["low"]] = st.low / unit
        self._f[lo:hi, _F["close"]] = m.mid_prices()
        self._n = hi
        self.rows += self.n_symbols

    def wrap(self, step: Callable[[np.ndarray | None], Any], env: Any) -> Callable[[np.ndarray | None], Any]:
        """``step`` (an env's ``step_array``) with this table recorded around it.

        Args:
            step: Executes one tick's actions.
            env: The environment whose ``last_transition`` holds the finished tick.
        """
        sim = self.sim
        should = self.schedule.should_record

        def stepped(actions: np.ndarray | None) -> Any:
            record = should(sim.tick)
            if record:
                self.capture()
            out = step(actions)
            if record:
                self.commit(env.last_transition)
            return out

        return stepped

    def flush(self) -> None:
        """Hand the staged rows to the writer."""
        n = self._n
        if n == 0:
            return
        cols: dict[str, np.ndarray] = {"tick": self._tick[:n], "symbol": self._sym[:n], "run_id": self._run[:n]}
        for name, j in _F.items():
            cols[name] = self._f[:n, j]
        for name, j in _I.items():
            cols[name] = self._i[:n, j]
        self.writer.write(cols)
        self._n = 0

    def close(self) -> Path:
        """Write what is staged, finish the file and move it into place; returns its path."""
        if self._open:  # a tick captured but never finished: drop it
            self._open = False
        self.flush()
        return self.writer.close()

    def abort(self) -> None:
        """Drop the temporary file (the target path is never touched)."""
        self._n = 0
        self._open = False
        self.writer.abort()
