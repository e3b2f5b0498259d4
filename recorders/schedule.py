"""Which ticks a recording keeps: a warm-up period, then every ``interval``-th tick.

The recording wrapper asks :meth:`RecordSchedule.should_record` each tick (it decides
*when* to record); :class:`recorders.parquet_writer.ParquetRecordWriter` decides *how*.
"""

from __future__ import annotations

import operator
from typing import Any

from marketenv.config import MAX_TICKS
from marketenv.errors import RecordingError
from marketenv.outputs import brief


def _as_int(value: Any, name: str) -> int:
    if isinstance(value, bool):
        raise RecordingError(f"`{name}` must be an integer (got {value!r})")
    try:
        return operator.index(value)
    except TypeError:
        raise RecordingError(f"`{name}` must be an integer (got {value!r})") from None


class RecordSchedule:
    """Record tick ``t`` iff ``t >= warmup`` and ``(t - warmup) % interval == 0``.

    Ticks are 0-based: with ``warmup=100, interval=5`` the recorded ticks are
    100, 105, 110, ...

    Attributes:
        warmup: Ticks skipped before the first recorded tick.
        interval: Record every ``interval``-th tick from ``warmup`` on.
        ticks: Length of the run, if known.
    """

    __slots__ = ("warmup", "interval", "ticks")

    def __init__(self, warmup: int = 100, interval: int = 1, ticks: int | None = None) -> None:
        """Validate and store the schedule.

        Args:
            warmup: First recorded tick, ``>= 0``.
            interval: Ticks between recorded ticks, ``>= 1``.
            ticks: Length of the run, ``>= 1``; when given, ``warmup`` must be smaller so that at least
                one tick is recorded.

        Raises:
            RecordingError: If a value is not an integer or out of range; the message
                names the parameter (between backticks).
        """
        warmup = _as_int(warmup, "warmup")
        interval = _as_int(interval, "interval")
        if warmup < 0:
            raise RecordingError(f"`warmup` must be >= 0 (got {warmup})")
        if interval < 1:
            raise RecordingError(f"`interval` must be >= 1 (got {interval})")
        for name, value in (("warmup", warmup), ("interval", interval)):
            if value > MAX_TICKS:
                raise RecordingError(f"`{name}` must be <= {MAX_TICKS:,} (got {brief(value)})")
        if ticks is not None:
            ticks = _as_int(ticks, "ticks")
            if ticks < 1:
                raise RecordingError(f"`ticks` must be >= 1 (got {ticks})")
            if warmup >= ticks:
                raise RecordingError(
                    f"`warmup` {warmup} leaves nothing to record in `ticks` {ticks};"
                    f" use a warm-up below {ticks} or more ticks"
                )
        self.warmup: int = warmup
        self.interval: int = interval
        self.ticks: int | None = ticks

    def __repr__(self) -> str:
        return f"RecordSchedule(warmup={self.warmup}, interval={self.interval}, ticks={self.ticks})"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, RecordSchedule):
            return NotImplemented
        return (self.warmup, self.interval, self.ticks) == (
            other.warmup,
            other.interval,
            other.ticks,
        )

    def __hash__(self) -> int:
        return hash((self.warmup, self.interval, self.ticks))

    def should_record(self, tick: int) -> bool:
        """Return whether ``tick`` (0-based) is recorded."""
        return tick >= self.warmup and (tick - self.warmup) % self.interval == 0

    def _ticks(self, ticks: int | None) -> int:
        if ticks is None:
            if self.ticks is None:
                raise RecordingError(
                    "the number of ticks is unknown; pass `ticks` here or to RecordSchedule"
                )
            return self.ticks
        ticks = _as_int(ticks, "ticks")
        if ticks < 0:
            raise RecordingError(f"`ticks` must be >= 0 (got {ticks})")
        return ticks

    def recorded_ticks(self, ticks: int | None = None) -> range:
        """Return the recorded ticks of a run of ``ticks`` ticks (0 .. ticks-1).

        Args:
            ticks: Run length; defaults to the schedule's ``ticks``.

        Returns:
            ``range(warmup, ticks, interval)`` (empty if the run ends within the warm-up).

        Raises:
            RecordingError: If ``ticks`` is negative, or not given and unknown.
        """
        return range(self.warmup, max(self.warmup, self._ticks(ticks)), self.interval)

    def n_recorded(self, ticks: int | None = None) -> int:
        """Return how many ticks of a run of ``ticks`` ticks are recorded."""
        return len(self.recorded_ticks(ticks))

    def as_flags(self) -> dict[str, int | None]:
        """Return the schedule as the ``marketenv.recording`` metadata flags."""
        return {"warmup": self.warmup, "interval": self.interval, "ticks": self.ticks}
