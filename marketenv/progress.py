"""A dependency-free progress line for terminals (silent when stderr is not a TTY).

A terminal that goes away (SIGHUP, a closed pipe) silences the line instead of failing
the run it reports on.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import TextIO


class Progress:
    """Redraws one status line at most every ``interval`` seconds.

    Args:
        total: Total ticks.
        extra: Optional callable returning extra text (e.g. rows and bytes written).
        stream: Where to draw (default ``sys.stderr``).
        enabled: Force on/off; default: on when ``stream`` is a TTY.
    """

    def __init__(
        self,
        total: int,
        extra: Callable[[], str] | None = None,
        stream: TextIO | None = None,
        enabled: bool | None = None,
        interval: float = 0.2,
    ) -> None:
        self.total = total
        self.extra = extra
        self.stream = stream or sys.stderr
        self.enabled = self.stream.isatty() if enabled is None else enabled
        self.interval = interval
        self.start = time.perf_counter()
        self._last = 0.0

    def update(self, done: int) -> None:
        """Report ``done`` ticks finished (cheap when it is not time to redraw)."""
        if not self.enabled:
            return
        now = time.perf_counter()
        if now - self._last < self.interval and done < self.total:
            return
        self._last = now
        el = max(now - self.start, 1e-9)
        frac = done / self.total if self.total else 1.0
        width = 24
        bar = "#" * int(frac * width)
        text = f"\r[{bar:<{width}}] {done:,}/{self.total:,} ticks  {done / el:,.0f} ticks/s"
        if self.extra is not None:
            text += "  " + self.extra()
        self._draw(text + "\x1b[K")

    def close(self) -> None:
        """End the progress line."""
        if self.enabled:
            self._draw("\n")

    def _draw(self, text: str) -> None:
        """Write to the terminal; if it has gone (a hang-up, a closed pipe), stop drawing."""
        try:
            self.stream.write(text)
            self.stream.flush()
        except (OSError, ValueError):  # ValueError: the stream was closed
            self.enabled = False
