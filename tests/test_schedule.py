"""RecordSchedule: which ticks are recorded, and its flag validation."""

from __future__ import annotations

import numpy as np
import pytest

from marketenv.errors import RecordingError
from recorders.schedule import RecordSchedule


def test_defaults_match_the_cli_flags() -> None:
    s = RecordSchedule()
    assert (s.warmup, s.interval, s.ticks) == (100, 1, None)
    assert not s.should_record(99)
    assert s.should_record(100)
    assert s.should_record(101)


def test_warmup_and_interval_arithmetic() -> None:
    s = RecordSchedule(warmup=100, interval=5)
    assert [t for t in range(95, 116) if s.should_record(t)] == [100, 105, 110, 115]
    assert s.recorded_ticks(300) == range(100, 300, 5)
    assert s.n_recorded(300) == 40
    assert s.n_recorded(101) == 1
    assert s.n_recorded(100) == 0  # the run ends within the warm-up
    assert s.n_recorded(0) == 0


def test_zero_warmup_records_from_tick_zero() -> None:
    s = RecordSchedule(warmup=0, interval=3, ticks=10)
    assert list(s.recorded_ticks()) == [0, 3, 6, 9]
    assert s.n_recorded() == 4
    assert s.should_record(0)


@pytest.mark.parametrize(
    "warmup,interval,ticks", [(0, 1, 1), (0, 7, 50), (13, 4, 200), (99, 100, 1000)]
)
def test_should_record_agrees_with_recorded_ticks(warmup: int, interval: int, ticks: int) -> None:
    s = RecordSchedule(warmup, interval, ticks)
    assert [t for t in range(ticks) if s.should_record(t)] == list(s.recorded_ticks())
    assert s.n_recorded() == len(s.recorded_ticks(ticks))


def test_numpy_integers_are_accepted() -> None:
    s = RecordSchedule(np.int64(5), np.uint32(2), np.int32(20))
    assert s.recorded_ticks() == range(5, 20, 2)
    assert s.should_record(int(np.int64(7)))


def test_as_flags_and_equality() -> None:
    s = RecordSchedule(10, 2, 50)
    assert s.as_flags() == {"warmup": 10, "interval": 2, "ticks": 50}
    assert s == RecordSchedule(10, 2, 50)
    assert s != RecordSchedule(10, 3, 50)
    assert "interval=2" in repr(s)


@pytest.mark.parametrize(
    "kwargs,message",
    [
        ({"interval": 0}, "`interval` must be >= 1 (got 0)"),
        ({"interval": -3}, "`interval` must be >= 1 (got -3)"),
        ({"warmup": -1}, "`warmup` must be >= 0 (got -1)"),
        ({"warmup": 100, "ticks": 100}, "`warmup` 100 leaves nothing to record in `ticks` 100"),
        ({"warmup": 500, "ticks": 100}, "`ticks` 100"),
        ({"warmup": 0, "ticks": 0}, "`ticks` must be >= 1 (got 0)"),
        ({"interval": 10**10}, "`interval` must be <= 1,000,000,000"),
        ({"interval": 1.5}, "`interval` must be an integer"),
        ({"warmup": "10"}, "`warmup` must be an integer"),
        ({"warmup": True}, "`warmup` must be an integer"),
        ({"ticks": 2.0}, "`ticks` must be an integer"),
    ],
)
def test_invalid_values_raise_one_line_errors_naming_the_parameter(kwargs: dict, message: str) -> None:
    with pytest.raises(RecordingError) as info:
        RecordSchedule(**kwargs)
    text = str(info.value)
    assert message in text
    assert "\n" not in text
    assert "--" not in text  # library errors name parameters; the CLI maps them to flags


def test_recorded_ticks_needs_a_length() -> None:
    with pytest.raises(RecordingError, match="ticks"):
        RecordSchedule().recorded_ticks()
    with pytest.raises(RecordingError, match="`ticks` must be >= 0"):
        RecordSchedule().recorded_ticks(-1)
