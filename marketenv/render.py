"""Rendering without windows or plotting libraries: a text view and an RGB chart drawn with numpy.

``rgb_array`` frames are ``(FRAME_HEIGHT, FRAME_WIDTH, 3)`` uint8 (both multiples of 16,
as video encoders want): the top panel shows the mid (white) and the fair value
(orange) over the last :data:`WINDOW` steps with the learner's buys (green) and sells
(red) as markers at their fill prices; the bottom panel shows the learner's equity
(cyan). Each panel is scaled to its own range; a grey line marks the middle of the
range.
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING

import numpy as np

from marketenv.errors import UnsupportedRenderMode
from marketenv.types import TICKS_PER_UNIT, Trade

if TYPE_CHECKING:
    from marketenv.simulation import Simulation

RENDER_MODES = ("ansi", "rgb_array")
FRAME_HEIGHT = 256
FRAME_WIDTH = 512
WINDOW = 400
"""Steps shown by an ``rgb_array`` frame (the most recent ones)."""

BACKGROUND = (16, 18, 24)
GRID = (60, 64, 72)
MID = (235, 235, 235)
FAIR = (255, 165, 0)
BUY = (40, 200, 80)
SELL = (230, 50, 50)
EQUITY = (0, 200, 230)


def check_render_mode(render_mode: str | None) -> str | None:
    """``render_mode`` if it is ``None`` or supported, else :class:`UnsupportedRenderMode`."""
    if render_mode is not None and render_mode not in RENDER_MODES:
        raise UnsupportedRenderMode(
            f"render_mode {render_mode!r} is not supported; use None, 'ansi' or 'rgb_array'"
        )
    return render_mode


class History:
    """The last ``window`` steps of one learner: mid, fair value, equity and fills (a ring)."""

    def __init__(self, window: int = WINDOW) -> None:
        self.window = window
        self._data = np.zeros((window, 5))  # mid, fair, equity, fill qty, fill price
        self._n = 0

    def clear(self) -> None:
        """Forget everything (a new episode)."""
        self._n = 0

    def append(self, mid: float, fair: float, equity: float, fill_qty: float, fill_price: float) -> None:
        """Add one step."""
        self._data[self._n % self.window] = (mid, fair, equity, fill_qty, fill_price)
        self._n += 1

    def __len__(self) -> int:
        return min(self._n, self.window)

    def arrays(self) -> np.ndarray:
        """The kept steps in time order, ``(len, 5)``."""
        n, w = self._n, self.window
        if n <= w:
            return self._data[:n]
        k = n % w
        return np.concatenate([self._data[k:], self._data[:k]])


def _line(canvas: np.ndarray, top: int, bottom: int, ys: np.ndarray, lo: float, hi: float, color: tuple[int, int, int]) -> None:
    """Draw the series ``ys`` (values in ``[lo, hi]``) across the canvas's panel rows ``top..bottom``."""
    width = canvas.shape[1]
    n = ys.shape[0]
    if n == 0:
        return
    rows = _to_rows(ys, top, bottom, lo, hi)
    xs = np.linspace(0, width - 1, n) if n > 1 else np.array([width - 1.0])
    cols = np.arange(width)
    if n > 1:
        r = np.interp(cols, xs, rows)
        prev = np.concatenate([r[:1], r[:-1]])
        lo_r, hi_r = np.floor(np.minimum(r, prev)), np.ceil(np.maximum(r, prev))
        first = int(np.ceil(xs[0]))
    else:
        lo_r = hi_r = np.full(width, rows[0])
        first = width - 1
    lo_i = np.clip(lo_r[first:], top, bottom).astype(np.int64)
    hi_i = np.clip(hi_r[first:], top, bottom).astype(np.int64)
    lengths = hi_i - lo_i + 1
    starts = np.cumsum(lengths) - lengths
    rows = np.repeat(lo_i, lengths) + (np.arange(int(lengths.sum())) - np.repeat(starts, lengths))
    canvas[rows, np.repeat(cols[first:], lengths)] = color


def _to_rows(v: np.ndarray, top: int, bottom: int, lo: float, hi: float) -> np.ndarray:
    span = hi - lo if hi > lo else 1.0
    return bottom - (np.asarray(v, dtype=np.float64) - lo) / span * (bottom - top)


def _markers(canvas: np.ndarray, top: int, bottom: int, idx: np.ndarray, n: int, ys: np.ndarray, lo: float, hi: float, color: tuple[int, int, int]) -> None:
    """Draw 5x5 squares at the steps ``idx`` (of ``n``) and values ``ys``."""
    if idx.size == 0:
        return
    width = canvas.shape[1]
    x = np.rint(idx / max(n - 1, 1) * (width - 1)).astype(int) if n > 1 else np.full(idx.size, width - 1)
    y = np.rint(_to_rows(ys, top, bottom, lo, hi)).astype(int)
    d = np.arange(-2, 3)
    ys_ = np.clip(y[:, None, None] + d[None, :, None], top, bottom)
    xs_ = np.clip(x[:, None, None] + d[None, None, :], 0, width - 1)
    ys_, xs_ = np.broadcast_arrays(ys_, xs_)
    canvas[ys_.ravel(), xs_.ravel()] = color


@functools.cache
def _background(height: int, width: int) -> np.ndarray:
    frame = np.empty((height, width, 3), dtype=np.uint8)
    frame[:] = BACKGROUND
    frame.setflags(write=False)
    return frame


def rgb_frame(history: History, height: int = FRAME_HEIGHT, width: int = FRAME_WIDTH) -> np.ndarray:
    """The chart of a learner's recent steps as an ``(height, width, 3)`` uint8 image."""
    canvas = _background(height, width).copy()
    split = (height * 2) // 3
    panels = ((4, split - 4), (split + 4, height - 5))
    canvas[split, :] = GRID
    data = history.arrays()
    n = data.shape[0]
    if n == 0:
        return canvas
    mid, fair, equity, fq, fp = data.T
    filled = fq != 0
    prices = np.concatenate([mid, fair, fp[filled]])
    lo, hi = float(prices.min()), float(prices.max())
    pad = max((hi - lo) * 0.05, 1e-9)
    (t0, b0), (t1, b1) = panels
    for top, bottom in panels:
        canvas[(top + bottom) // 2, :] = GRID
    _line(canvas, t0, b0, fair, lo - pad, hi + pad, FAIR)
    _line(canvas, t0, b0, mid, lo - pad, hi + pad, MID)
    steps = np.arange(n)
    _markers(canvas, t0, b0, steps[fq > 0], n, fp[fq > 0], lo - pad, hi + pad, BUY)
    _markers(canvas, t0, b0, steps[fq < 0], n, fp[fq < 0], lo - pad, hi + pad, SELL)
    elo, ehi = float(equity.min()), float(equity.max())
    epad = max((ehi - elo) * 0.05, 1e-9)
    _line(canvas, t1, b1, equity, elo - epad, ehi + epad, EQUITY)
    return canvas


def ansi_view(sim: Simulation, agent: int, trades: list[Trade], capital: float, last: int = 5) -> str:
    """The text view of one learner: top of book, the last trades, its position, cash and P&L.

    Args:
        sim: The running simulation.
        agent: The learner's agent id.
        trades: The last step's trades (every agent's).
        capital: The learner's starting equity, for the P&L.
        last: How many of the most recent trades to list.
    """
    m = sim.market
    sym = int(sim.agent_symbols[agent])
    book = m.books[sym]
    bid, ask = book.best_bid(), book.best_ask()
    bid_s = f"{bid / TICKS_PER_UNIT:.2f} x {book.best_bid_qty()}" if bid is not None else "--"
    ask_s = f"{ask / TICKS_PER_UNIT:.2f} x {book.best_ask_qty()}" if ask is not None else "--"
    name = sim.specs[agent].agent_name
    equity = float(sim.equity[agent])
    mine = [t for t in trades if agent in (t.buyer, t.seller)]
    shown = trades[-last:]
    tape = ", ".join(
        f"{t.quantity}@{t.price / TICKS_PER_UNIT:.2f}{'*' if agent in (t.buyer, t.seller) else ''}" for t in shown
    )
    lines = [
        f"tick {m.tick}  {m.symbol_names[sym]}  bid {bid_s}  ask {ask_s}  "
        f"mid {m.mid_price(sym):.3f}  fair {m.fair_value(sym):.2f}",
        f"last trades ({len(trades)} this tick, {len(mine)} yours*): {tape or 'none'}",
        f"{name}: position {m.position[agent * m.n_symbols + sym]}  cash {m.cash[agent] / TICKS_PER_UNIT:,.2f}  "
        f"equity {equity:,.2f}  P&L {equity - capital:+,.2f}",
    ]
    return "\n".join(lines) + "\n"
