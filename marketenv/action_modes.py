"""Learner action spaces (``discrete``, ``limit``, ``order``) and their translation to order actions.

Every mode is a ``Discrete`` or ``MultiDiscrete`` space that trainers (SB3, RLlib,
SuperSuit) accept and whose ``sample()`` is a sensible order; :meth:`ActionCodec.order`
turns an action into the market's ``(2, 3)`` int64 order action
(:mod:`marketenv.actions`).

* ``"discrete"``: ``Discrete(3)``: 0 sell ``order_size`` at market, 1 hold, 2 buy
  ``order_size`` at market.
* ``"limit"``: ``MultiDiscrete([3, len(sizes), 2 * max_offset_ticks + 1])`` = (side: 0
  sell / 1 hold / 2 buy, index into ``sizes``, price-offset index): a good-till-cancelled
  limit order of ``sizes[index]`` at ``reference + offset_index - max_offset_ticks``
  ticks that replaces the resting orders on that side.
* ``"order"``: both sides at once, ``MultiDiscrete([N_TYPES, len(sizes), 2 *
  max_offset_ticks + 1] * 2)`` = (buy type, buy size index, buy offset index, sell type,
  sell size index, sell offset index); types as :mod:`marketenv.actions` (0 none, 1
  limit, 2 IOC, 3 market, 4 cancel, ...). It is the bounded encoding of the full order action: two-sided
  quotes, IOC orders and cancels, with offsets within ``max_offset_ticks`` of the
  reference price.
"""

from __future__ import annotations

from typing import Any

import numba as nb
import numpy as np
from gymnasium import spaces

from marketenv.actions import ACTION_SHAPE, LIMIT, MARKET, N_TYPES
from marketenv.errors import InvalidActionError

ACTION_MODES = ("discrete", "limit", "order")

_INT_TYPES = frozenset({int, np.int64, np.int32, np.int16, np.int8, np.uint64, np.uint32, np.uint16, np.uint8})


def _read_only(a: np.ndarray) -> np.ndarray:
    a.setflags(write=False)
    return a


class ActionCodec:
    """One learner action mode: its space and the order action of each of its actions.

    Args:
        action_mode: ``"discrete"``, ``"limit"`` or ``"order"``.
        order_size: Shares per discrete order (>= 1).
        sizes: Order sizes of the limit and order modes (each >= 1).
        max_offset_ticks: Price-offset range of the limit and order modes (>= 0).
        max_order_quantity: The market's largest order (sizes must not exceed it).

    Raises:
        ValueError: An argument is out of range.
    """

    def __init__(
        self,
        action_mode: str = "discrete",
        order_size: int = 10,
        sizes: tuple[int, ...] = (1, 5, 10, 50),
        max_offset_ticks: int = 10,
        max_order_quantity: int | None = None,
    ) -> None:
        if action_mode not in ACTION_MODES:
            raise ValueError(f"action_mode {action_mode!r} must be 'discrete', 'limit' or 'order'")
        if order_size < 1 or not sizes or min(sizes) < 1 or max_offset_ticks < 0:
            raise ValueError("order_size and sizes must be >= 1 and max_offset_ticks >= 0")
        if max_order_quantity is not None and max(order_size, *sizes) > max_order_quantity:
            raise ValueError(f"order_size and sizes must be <= the config's max_order_quantity {max_order_quantity}")
        self.mode = action_mode
        self.order_size = int(order_size)
        self.sizes = tuple(int(s) for s in sizes)
        self.max_offset_ticks = int(max_offset_ticks)
        n_off = 2 * self.max_offset_ticks + 1
        if action_mode == "discrete":
            self.space: spaces.Space = spaces.Discrete(3)
            hold = np.zeros(ACTION_SHAPE, dtype=np.int64)
            sell, buy = hold.copy(), hold.copy()
            sell[1] = (MARKET, self.order_size, 0)
            buy[0] = (MARKET, self.order_size, 0)
            self._discrete = tuple(_read_only(a) for a in (sell, hold, buy))
            self._table = np.stack(self._discrete).reshape(3, 6)
        elif action_mode == "limit":
            self.space = spaces.MultiDiscrete([3, len(self.sizes), n_off])
            self._discrete = ()
        else:
            self.space = spaces.MultiDiscrete([N_TYPES, len(self.sizes), n_off] * 2)
            self._discrete = ()
        self._shape = () if action_mode == "discrete" else (3,) if action_mode == "limit" else (6,)

    def orders(self, actions: np.ndarray, rows: np.ndarray, out: np.ndarray, who: Any) -> None:
        """Write the flat order actions of ``actions[i]`` into ``out[i]`` (``(N, 6)``) for the rows ``rows``.

        Args:
            actions: One action per row (an array from a batched action space).
            rows: ``(N,)`` bool, the rows to translate (the others may hold anything).
            out: ``(N, 6)`` int64.
            who: ``who(i)`` names row ``i``'s agent, for error messages.

        Raises:
            InvalidActionError: A translated row's action is not in the space (as :meth:`order`).
        """
        if (self.mode == "discrete" and actions.ndim == 1 and actions.dtype.kind in "iu"
                and actions.shape[0] == out.shape[0] and _gather_rows(actions.astype(np.int64, copy=False),
                                                                     self._table, out)):
            return  # every row valid: one gather
        for i in np.flatnonzero(rows).tolist():
            out[i] = self.order(actions[i], who(i)).reshape(6)

    @property
    def lot(self) -> int:
        """The mode's typical order size (the unit of the scaled ``position``)."""
        return self.order_size if self.mode == "discrete" else max(self.sizes)

    def order(self, action: Any, who: str) -> np.ndarray:
        """The ``(2, 3)`` int64 order action of ``action`` (possibly a shared read-only array).

        Args:
            action: An element of :attr:`space`: Python or NumPy integers, integer arrays
                or integer-valued floats.
            who: The agent's name, for error messages.

        Raises:
            InvalidActionError: The action is not in the space (out of range, NaN,
                non-integer, other dtype or shape), naming ``who`` and the problem.
        """
        if self.mode == "discrete" and type(action) in _INT_TYPES and 0 <= action <= 2:
            return self._discrete[action]  # the fast path (SB3 passes numpy ints)
        try:
            a = np.asarray(action)
        except ValueError:  # a ragged nesting of lists
            raise self._invalid(action, who, "is a ragged nesting of lists") from None
        kind = a.dtype.kind
        if kind == "f":
            if not np.isfinite(a).all():
                raise self._invalid(action, who, "contains NaN or inf")
            if not (a == np.round(a)).all():
                raise self._invalid(action, who, "must be integer-valued")
        elif kind not in "iu":
            raise self._invalid(action, who, f"has dtype {a.dtype}; use integers")
        if self.mode == "discrete":
            if a.shape not in ((), (1,)):
                raise self._invalid(action, who, f"has shape {a.shape}; a discrete action is one integer")
            k = int(a.reshape(-1)[0])
            if not 0 <= k <= 2:
                raise self._invalid(action, who, "must be 0 (sell), 1 (hold) or 2 (buy)")
            return self._discrete[k]
        if a.shape != self._shape:
            what = "(side, size index, offset index)" if self.mode == "limit" else "(type, size index, offset index) x (buy, sell)"
            raise self._invalid(action, who, f"has shape {a.shape}; an action of mode {self.mode!r} is {what}")
        v = [int(x) for x in a]
        n_off = 2 * self.max_offset_ticks
        order = np.zeros(ACTION_SHAPE, dtype=np.int64)
        if self.mode == "limit":
            side, size_i, off_i = v
            if not 0 <= side <= 2:
                raise self._invalid(action, who, f"side {side} must be 0 (sell), 1 (hold) or 2 (buy)")
            self._check_size_offset(action, who, size_i, off_i, n_off)
            if side != 1:
                order[0 if side == 2 else 1] = (LIMIT, self.sizes[size_i], off_i - self.max_offset_ticks)
            return order
        for row, (typ, size_i, off_i) in enumerate((v[:3], v[3:])):
            if not 0 <= typ < N_TYPES:
                raise self._invalid(action, who, f"type {typ} must be in 0..{N_TYPES - 1}")
            self._check_size_offset(action, who, size_i, off_i, n_off)
            if typ:
                order[row] = (typ, self.sizes[size_i], off_i - self.max_offset_ticks)
        return order

    def _check_size_offset(self, action: Any, who: str, size_i: int, off_i: int, n_off: int) -> None:
        if not 0 <= size_i < len(self.sizes):
            raise self._invalid(action, who, f"size index {size_i} must be in 0..{len(self.sizes) - 1}")
        if not 0 <= off_i <= n_off:
            raise self._invalid(action, who, f"offset index {off_i} must be in 0..{n_off}")

    def _invalid(self, action: Any, who: str, problem: str) -> InvalidActionError:
        shown = action.tolist() if isinstance(action, np.ndarray) else action
        space = str(self.space).replace("\n", " ")
        return InvalidActionError(f"{who}: action {shown!r} {problem} (action space {space})")


@nb.njit(cache=True)
def _gather_rows(index: np.ndarray, table: np.ndarray, out: np.ndarray) -> bool:
    """``out[i] = table[index[i]]`` for every row if every index is a row of ``table``;
    ``False`` (``out`` untouched) otherwise."""
    n = table.shape[0]
    for i in range(index.shape[0]):
        if index[i] < 0 or index[i] >= n:
            return False
    for i in range(index.shape[0]):
        out[i, :] = table[index[i]]
    return True
