"""recorders.check: passes valid recordings, names the check a broken one fails."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

from recorders.check import CHECKS, check_recording, main
from recorders.check import stream as check_mod
from tests.recording_fixtures import (
    column,
    make_recording,
    rewrite_recording,
    set_column,
    set_recording_flags,
)

ALL = [name for name, _ in CHECKS]


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A valid recording: 300 ticks x 5 agents, interval 1, warm-up 0."""
    return make_recording(tmp_path_factory.mktemp("rec") / "base.parquet", ticks=300, n_agents=5)


def _copy(src: Path, dst: Path) -> Path:
    dst.write_bytes(src.read_bytes())
    return dst


def _broken(base: Path, tmp_path: Path, edit) -> Path:
    return rewrite_recording(_copy(base, tmp_path / "broken.parquet"), edit)


def _rows_of_agent(table: pa.Table, agent: int) -> np.ndarray:
    return np.flatnonzero(column(table, "agent_id") == agent)


@pytest.mark.parametrize(
    "kwargs",
    [
        {},
        {"interval": 5, "warmup": 100},
        {"warmup": 0, "ticks": 120},
        {"warmup": 37, "interval": 1},
        {"n_symbols": 2, "n_agents": 6},
        {"n_symbols": 3, "n_agents": 7, "interval": 2, "warmup": 10},
    ],
)
def test_valid_recordings_pass(tmp_path: Path, kwargs: dict) -> None:
    path = make_recording(tmp_path / "ok.parquet", **kwargs)
    report = check_recording(path)
    assert report.ok, report.format()
    assert [r.name for r in report.results] == ALL
    assert report.failed == []
    n_agents = kwargs.get("n_agents", 5)
    assert report.n_agents == n_agents
    assert report.n_symbols == kwargs.get("n_symbols", 1)
    assert report.rows == report.n_ticks * n_agents
    assert report.ticks is not None and report.ticks[0] == kwargs.get("warmup", 0)
    temporal = report.result("temporal")
    if kwargs.get("interval", 1) > 1:
        assert temporal.skipped and temporal.passed
    else:
        assert not temporal.skipped and temporal.passed


def test_format_is_a_readable_checklist(base: Path) -> None:
    text = check_recording(base).format()
    assert str(base) in text
    for name in ALL:
        assert any(
            line.strip().startswith("PASS") and name in line for line in text.splitlines()
        ), name
    assert text.rstrip().endswith("PASS: all 9 checks passed")
    assert "1,500 rows" in text


def test_streaming_in_small_batches_keeps_temporal_state(
    base: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(check_mod, "BATCH_ROWS", 7)  # batches cut through ticks and agents
    report = check_recording(base)
    assert report.ok, report.format()
    assert report.result("temporal").detail.startswith(f"{1500 - 5:,} consecutive-tick pairs")

    def shift(t: pa.Table) -> pa.Table:
        v = column(t, "next_cash")
        rows = _rows_of_agent(t, 2)
        v[rows[:-1]] = v[rows[1:]]
        return set_column(t, "next_cash", v)

    broken = _broken(base, tmp_path, shift)
    assert "temporal" in check_recording(broken).failed


def test_broken_reward_fails_reward_only(base: Path, tmp_path: Path) -> None:
    def edit(t: pa.Table) -> pa.Table:
        v = column(t, "reward")
        v[123] += 0.5
        return set_column(t, "reward", v)

    report = check_recording(_broken(base, tmp_path, edit))
    assert report.failed == ["reward"]
    detail = report.result("reward").detail
    assert "reward != next_pnl - f_total_pnl: 1 row" in detail
    assert "tick 24, agent 3" in detail  # row 123 = tick 24, agent 3


def test_tiny_rounding_differences_are_tolerated(base: Path, tmp_path: Path) -> None:
    def edit(t: pa.Table) -> pa.Table:
        v = column(t, "reward")
        return set_column(t, "reward", v + 1e-9)

    assert check_recording(_broken(base, tmp_path, edit)).ok


def test_shifted_next_column_fails_temporal(base: Path, tmp_path: Path) -> None:
    def edit(t: pa.Table) -> pa.Table:
        v = column(t, "next_mid_price")
        rows = _rows_of_agent(t, 1)
        v[rows[:-1]] = v[rows[1:]]  # next_mid_price shifted by one row within agent 1
        return set_column(t, "next_mid_price", v)

    report = check_recording(_broken(base, tmp_path, edit))
    assert "temporal" in report.failed
    assert "next_mid_price != f_mid_price" in report.result("temporal").detail
    assert "agent 1" in report.result("temporal").detail


def test_rows_before_warmup_fail_warmup(base: Path, tmp_path: Path) -> None:
    report = check_recording(_broken(base, tmp_path, lambda t: set_recording_flags(t, warmup=50)))
    assert report.failed == ["warmup"]
    assert (
        "tick before warmup 50: 250 rows (first at tick 0, agent 0"
        in report.result("warmup").detail
    )


@pytest.mark.parametrize(
    "recorded,claimed",
    [
        ({"interval": 5, "warmup": 100}, {"interval": 3}),  # ticks off the grid
        ({"interval": 1, "warmup": 0}, {"interval": 2}),  # every tick recorded, 2 claimed
        ({"interval": 5, "warmup": 100}, {"interval": 1}),  # ticks missing
    ],
)
def test_wrong_interval_fails_interval(tmp_path: Path, recorded: dict, claimed: dict) -> None:
    path = make_recording(tmp_path / "rec.parquet", **recorded)
    report = check_recording(rewrite_recording(path, lambda t: set_recording_flags(t, **claimed)))
    assert "interval" in report.failed
    assert "warmup" not in report.failed


def test_unordered_and_duplicate_rows_fail_interval(base: Path, tmp_path: Path) -> None:
    def swap(t: pa.Table) -> pa.Table:
        idx = np.arange(t.num_rows)
        idx[[10, 11]] = idx[[11, 10]]
        return t.take(pa.array(idx))

    report = check_recording(_broken(base, tmp_path, swap))
    assert "interval" in report.failed
    assert "ordered by agent_id" in report.result("interval").detail

    def dup(t: pa.Table) -> pa.Table:
        idx = np.insert(np.arange(t.num_rows), 50, 49)
        return t.take(pa.array(idx))

    report = check_recording(rewrite_recording(_copy(base, tmp_path / "dup.parquet"), dup))
    assert "duplicate (tick, agent, symbol)" in report.result("interval").detail


def test_wrong_column_type_fails_schema(base: Path, tmp_path: Path) -> None:
    def edit(t: pa.Table) -> pa.Table:
        return set_column(t, "action", column(t, "action").astype(np.int64), type=pa.int64())

    report = check_recording(_broken(base, tmp_path, edit))
    assert report.failed == ["schema"]
    assert "column action is int64, expected int8" in report.result("schema").detail


def test_missing_column_and_metadata_fail_schema(base: Path, tmp_path: Path) -> None:
    report = check_recording(_broken(base, tmp_path, lambda t: t.drop_columns(["next_cash"])))
    assert "schema" in report.failed
    assert "next_cash" in report.result("schema").detail
    assert report.result("temporal").skipped and not report.result("temporal").passed
    assert not report.ok

    report = check_recording(
        rewrite_recording(
            _copy(base, tmp_path / "nometa.parquet"), lambda t: t.replace_schema_metadata({})
        )
    )
    assert "schema" in report.failed and "metadata lacks" in report.result("schema").detail
    assert report.result("warmup").skipped


def test_rsi_out_of_range_fails_feature_ranges(base: Path, tmp_path: Path) -> None:
    def edit(t: pa.Table) -> pa.Table:
        v = column(t, "f_rsi_14")
        v[400] = 120.0
        return set_column(t, "f_rsi_14", v)

    report = check_recording(_broken(base, tmp_path, edit))
    assert report.failed == ["feature_ranges"]
    detail = report.result("feature_ranges").detail
    assert "f_rsi_14 not [0, 100]: 1 row" in detail and "value 120" in detail


def test_infinity_fails_feature_ranges(base: Path, tmp_path: Path) -> None:
    def edit(t: pa.Table) -> pa.Table:
        v = column(t, "f_bb_percent_b")
        v[900] = np.inf
        return set_column(t, "f_bb_percent_b", v)

    report = check_recording(_broken(base, tmp_path, edit))
    assert report.failed == ["feature_ranges"]
    assert "f_bb_percent_b infinite" in report.result("feature_ranges").detail


@pytest.mark.parametrize(
    "name,row,value,fragment",
    [
        ("f_sma_10", 200, np.nan, "f_sma_10 NaN at tick >= 9"),
        ("f_rsi_14", 1499, np.nan, "f_rsi_14 NaN at tick >= 14"),
        ("f_spread", 3, np.nan, "f_spread NaN (never allowed)"),
        ("next_pnl", 700, np.nan, "next_pnl NaN (never allowed)"),
    ],
)
def test_forbidden_nan_fails_nan_policy(
    base: Path, tmp_path: Path, name: str, row: int, value: float, fragment: str
) -> None:
    def edit(t: pa.Table) -> pa.Table:
        v = column(t, name)
        v[row] = value
        return set_column(t, name, v)

    report = check_recording(_broken(base, tmp_path, edit))
    assert "nan_policy" in report.failed
    assert fragment in report.result("nan_policy").detail
    if name.startswith("f_") and name != "f_spread":
        assert report.failed == ["nan_policy"]


def test_nulls_fail_nan_policy(base: Path, tmp_path: Path) -> None:
    def edit(t: pa.Table) -> pa.Table:
        v = column(t, "f_news_sentiment").tolist()
        v[5] = None
        i = t.schema.get_field_index("f_news_sentiment")
        return t.set_column(
            i, pa.field("f_news_sentiment", pa.float64()), pa.array(v, pa.float64())
        )

    report = check_recording(_broken(base, tmp_path, edit))
    assert "nan_policy" in report.failed
    assert "f_news_sentiment null" in report.result("nan_policy").detail


@pytest.mark.parametrize(
    "name,row,value,fragment",
    [
        ("action", 10, 2, "action not in {-1, 0, 1}"),
        ("action_quantity", 11, -1.0, "action_quantity < 0"),
        ("fill_price", 12, 100.0, None),
    ],
)
def test_bad_action_encoding_fails(
    base: Path, tmp_path: Path, name: str, row: int, value: float, fragment: str | None
) -> None:
    def edit(t: pa.Table) -> pa.Table:
        v = column(t, name)
        if name == "fill_price":
            fq = column(t, "fill_quantity")
            r = int(np.flatnonzero(fq == 0)[0])
            v[r] = value
        else:
            v[row] = value
        return set_column(t, name, v)

    report = check_recording(_broken(base, tmp_path, edit))
    assert report.failed == ["action_encoding"]
    detail = report.result("action_encoding").detail
    assert (fragment or "fill_price set but nothing traded") in detail


def test_main_exit_codes(base: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main([str(base)]) == 0
    out = capsys.readouterr().out
    assert "PASS: all 9 checks passed" in out

    def edit(t: pa.Table) -> pa.Table:
        v = column(t, "reward")
        v[0] += 1.0
        return set_column(t, "reward", v)

    assert main([str(_broken(base, tmp_path, edit))]) == 1
    out = capsys.readouterr().out
    assert "FAIL" in out and "reward" in out

    missing = tmp_path / "nope" / "missing.parquet"
    assert main([str(missing)]) == 2
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err + captured.out
    assert len(captured.err.strip().splitlines()) == 1
    assert "no such file" in captured.err

    junk = tmp_path / "junk.parquet"
    junk.write_text("not parquet at all")
    assert main([str(junk)]) == 2
    captured = capsys.readouterr()
    assert (
        "not a readable Parquet file" in captured.err
        and len(captured.err.strip().splitlines()) == 1
    )

    assert main([str(tmp_path)]) == 2
    assert "directory" in capsys.readouterr().err

    truncated = tmp_path / "truncated.parquet"
    truncated.write_bytes(base.read_bytes()[: base.stat().st_size // 2])
    assert main([str(truncated)]) == 2
    assert "Traceback" not in capsys.readouterr().err

    assert main([]) == 2


def test_python_dash_m_reports_without_traceback(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "recorders.check", str(tmp_path / "missing.parquet")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    assert proc.stderr.strip().startswith("marketenv check:")


def test_empty_recording_fails_interval(tmp_path: Path) -> None:
    path = make_recording(tmp_path / "rec.parquet", ticks=50)
    report = check_recording(rewrite_recording(path, lambda t: t.slice(0, 0)))
    assert report.rows == 0 and report.ticks is None
    assert report.failed == ["interval"]
    assert "nothing was recorded" in report.result("interval").detail
    assert "no ticks" in report.format()


def test_broken_cash_identity_fails_fills(base: Path, tmp_path: Path) -> None:
    def edit(t: pa.Table) -> pa.Table:
        fees = column(t, "fees")
        fees[7] = 0.01  # a cent of fees that cash never paid
        return set_column(t, "fees", fees)

    report = check_recording(_broken(base, tmp_path, edit))
    assert report.failed == ["fills"]
    assert "next_cash - f_cash != sell notional - buy notional - fees: 1 row" in report.result("fills").detail


def test_fill_price_outside_traded_range_fails_fills(base: Path, tmp_path: Path) -> None:
    def edit(t: pa.Table) -> pa.Table:
        hi = column(t, "tick_trade_high")
        lo = column(t, "tick_trade_low")
        bq = column(t, "fill_buy_quantity")
        r = int(np.flatnonzero(bq > 0)[0])
        lo[r] = hi[r] = column(t, "fill_buy_price")[r] - 0.05  # range moved below the fill
        return set_column(set_column(t, "tick_trade_high", hi), "tick_trade_low", lo)

    report = check_recording(_broken(base, tmp_path, edit))
    assert report.failed == ["fills"]
    assert "fill_buy_price outside [tick_trade_low, tick_trade_high]: 1 row" in report.result("fills").detail
