"""Rolling per-symbol mid-price history: a ring buffer per symbol, O(1) record and lookup.

:class:`PriceHistory` keeps the last ``capacity`` prices of each symbol and answers the
lagged features of :mod:`marketenv.feature_spec`: ``price_change_k`` (percent) and
``log_return_k``, both NaN while fewer than ``k + 1`` prices are recorded (``t < k``).
"""

from __future__ import annotations

import math

__all__ = ["PriceHistory"]

_NAN = math.nan


class PriceHistory:
    """The last ``capacity`` mid prices of each of ``n_symbols`` symbols.

    Record one price per symbol per tick with :meth:`record`; ``ticks_ago = 0`` is the
    latest price. Lags must satisfy ``0 <= ticks_ago < capacity`` (a :class:`ValueError`
    otherwise); a lag beyond the recorded history gives NaN.

    Args:
        n_symbols: Number of symbols (at least 1); symbols are ``0 .. n_symbols - 1``.
        capacity: Number of prices kept per symbol (at least 1). Lags up to
            ``capacity - 1`` are available, so ``price_change_100`` needs 101 or more.

    Raises:
        ValueError: If ``n_symbols`` or ``capacity`` is less than 1.

    Example:
        >>> h = PriceHistory(1, capacity=8)
        >>> for p in (100.0, 101.0, 99.0):
        ...     h.record(0, p)
        >>> h.price_at(0, 1), round(h.price_change(0, 2), 9)
        (101.0, -1.0)
    """

    __slots__ = ("_n_symbols", "_capacity", "_bufs", "_counts")

    def __init__(self, n_symbols: int, capacity: int = 128) -> None:
        """Create an empty history (see the class docstring)."""
        if n_symbols < 1:
            raise ValueError(f"n_symbols must be at least 1, got {n_symbols}")
        if capacity < 1:
            raise ValueError(f"capacity must be at least 1, got {capacity}")
        self._n_symbols = n_symbols
        self._capacity = capacity
        self._bufs: list[list[float]] = [[_NAN] * capacity for _ in range(n_symbols)]
        self._counts: list[int] = [0] * n_symbols

    @property
    def n_symbols(self) -> int:
        """Number of symbols."""
        return self._n_symbols

    @property
    def capacity(self) -> int:
        """Number of prices kept per symbol."""
        return self._capacity

    def record(self, symbol: int, price: float) -> None:
        """Append ``symbol``'s price for the current tick (one call per symbol per tick).

        Args:
            symbol: Symbol index in ``0 .. n_symbols - 1``.
            price: The mid price, finite and positive.

        Raises:
            ValueError: If ``symbol`` is out of range or ``price`` is not finite and positive.
        """
        if not 0 <= symbol < self._n_symbols:
            raise ValueError(f"symbol must be in [0, {self._n_symbols}), got {symbol}")
        if not 0.0 < price < math.inf:
            raise ValueError(f"price must be finite and positive, got {price!r}")
        n = self._counts[symbol]
        self._bufs[symbol][n % self._capacity] = price
        self._counts[symbol] = n + 1

    def count(self, symbol: int) -> int:
        """Return the number of prices recorded for ``symbol`` (not capped at capacity).

        Raises:
            ValueError: If ``symbol`` is out of range.
        """
        if not 0 <= symbol < self._n_symbols:
            raise ValueError(f"symbol must be in [0, {self._n_symbols}), got {symbol}")
        return self._counts[symbol]

    def price_at(self, symbol: int, ticks_ago: int) -> float:
        """Return ``symbol``'s price ``ticks_ago`` ticks before the latest one.

        Args:
            symbol: Symbol index in ``0 .. n_symbols - 1``.
            ticks_ago: Lag, ``0 <= ticks_ago < capacity``; 0 is the latest price.

        Returns:
            The price, or NaN if fewer than ``ticks_ago + 1`` prices are recorded.

        Raises:
            ValueError: If ``symbol`` or ``ticks_ago`` is out of range.
        """
        n = self._checked_count(symbol, ticks_ago)
        if ticks_ago >= n:
            return _NAN
        return self._bufs[symbol][(n - 1 - ticks_ago) % self._capacity]

    def price_change(self, symbol: int, k: int) -> float:
        """Return the percent change from ``k`` ticks ago, ``(p_t / p_{t-k} - 1) * 100``.

        Args:
            symbol: Symbol index in ``0 .. n_symbols - 1``.
            k: Lag, ``0 <= k < capacity``.

        Returns:
            The percent change, or NaN if fewer than ``k + 1`` prices are recorded.

        Raises:
            ValueError: If ``symbol`` or ``k`` is out of range.
        """
        return self.changes(symbol, (k,))[0]

    def log_return(self, symbol: int, k: int) -> float:
        """Return the log return over ``k`` ticks, ``ln(p_t / p_{t-k})``.

        Args:
            symbol: Symbol index in ``0 .. n_symbols - 1``.
            k: Lag, ``0 <= k < capacity``.

        Returns:
            The log return, or NaN if fewer than ``k + 1`` prices are recorded.

        Raises:
            ValueError: If ``symbol`` or ``k`` is out of range.
        """
        return self.log_returns(symbol, (k,))[0]

    def changes(self, symbol: int, lags: tuple[int, ...]) -> tuple[float, ...]:
        """Return :meth:`price_change` for several lags at once (one validation, no calls).

        Args:
            symbol: Symbol index in ``0 .. n_symbols - 1``.
            lags: Lags, each ``0 <= k < capacity``.

        Returns:
            The percent changes, in the order of ``lags`` (NaN where history is short).

        Raises:
            ValueError: If ``symbol`` or any lag is out of range.
        """
        n, buf, latest = self._lags_view(symbol, lags)
        cap = self._capacity
        return tuple(
            [(latest / buf[(n - 1 - k) % cap] - 1.0) * 100.0 if k < n else _NAN for k in lags]
        )

    def log_returns(self, symbol: int, lags: tuple[int, ...]) -> tuple[float, ...]:
        """Return :meth:`log_return` for several lags at once.

        Args:
            symbol: Symbol index in ``0 .. n_symbols - 1``.
            lags: Lags, each ``0 <= k < capacity``.

        Returns:
            The log returns, in the order of ``lags`` (NaN where history is short).

        Raises:
            ValueError: If ``symbol`` or any lag is out of range.
        """
        n, buf, latest = self._lags_view(symbol, lags)
        cap = self._capacity
        log = math.log
        return tuple([log(latest / buf[(n - 1 - k) % cap]) if k < n else _NAN for k in lags])

    def _checked_count(self, symbol: int, ticks_ago: int) -> int:
        """Validate ``symbol`` and ``ticks_ago`` and return the symbol's count."""
        if not 0 <= symbol < self._n_symbols:
            raise ValueError(f"symbol must be in [0, {self._n_symbols}), got {symbol}")
        if not 0 <= ticks_ago < self._capacity:
            raise ValueError(f"ticks_ago must be in [0, {self._capacity}), got {ticks_ago}")
        return self._counts[symbol]

    def _lags_view(self, symbol: int, lags: tuple[int, ...]) -> tuple[int, list[float], float]:
        """Validate ``symbol`` and ``lags``; return ``(count, buffer, latest price)``."""
        if not 0 <= symbol < self._n_symbols:
            raise ValueError(f"symbol must be in [0, {self._n_symbols}), got {symbol}")
        cap = self._capacity
        for k in lags:
            if not 0 <= k < cap:
                raise ValueError(f"ticks_ago must be in [0, {cap}), got {k}")
        n = self._counts[symbol]
        buf = self._bufs[symbol]
        return n, buf, buf[(n - 1) % cap]
