"""The `marketenv` command: headless run, summaries, and one-line errors for bad input."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from marketenv.cli import RECORD_FLAGS, flag_message, main

ROOT = Path(__file__).resolve().parents[1]


def run_cli(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "marketenv", *args], capture_output=True, text=True, timeout=timeout, cwd=ROOT
    )


def test_headless_prints_summary(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--headless", "--ticks", "300", "--seed", "5", "--quiet"]) == 0
    out = capsys.readouterr().out
    for word in ("ticks        300", "trades", "volume", "fair value", "ticks/s"):
        assert word in out


def test_same_seed_same_summary(capsys: pytest.CaptureFixture[str]) -> None:
    main(["--headless", "--ticks", "300", "--seed", "5", "--quiet"])
    a = capsys.readouterr().out.splitlines()
    main(["--headless", "--ticks", "300", "--seed", "5", "--quiet"])
    b = capsys.readouterr().out.splitlines()
    strip = lambda lines: [x for x in lines if not x.startswith("wall time")]  # noqa: E731
    assert strip(a) == strip(b)
    main(["--headless", "--ticks", "300", "--seed", "6", "--quiet"])
    c = capsys.readouterr().out.splitlines()
    assert strip(a) != strip(c)


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--headless", "--ticks", "-1"], "--ticks: must be >= 1 (got -1)"),
        (["--headless", "--ticks", "abc"], "--ticks: 'abc' is not an integer"),
        (["--headless", "--ticks", "0"], "must be >= 1"),
        (["--headless", "--seed", "x"], "--seed"),
        (["--headless", "--config", "no/such/file.toml"], "config file 'no/such/file.toml' not found"),
        (["--headless", "--bogus"], "unrecognized arguments: --bogus"),
        (["--headless", "--headless-record"], "not allowed with argument"),
    ],
)
def test_bad_flags_one_line_no_traceback(args: list[str], needle: str) -> None:
    r = run_cli(*args)
    assert r.returncode == 2
    assert needle in r.stderr
    assert "Traceback" not in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1


def test_bad_config_value_names_the_key(tmp_path: Path) -> None:
    cfg = tmp_path / "bad.toml"
    cfg.write_text('[simulation]\nticks = 10\n[[symbols]]\nname = "A"\n[[agents]]\ntype = "noise_trader"\ncount = 0\n')
    r = run_cli("--headless", "--config", str(cfg))
    assert r.returncode == 2
    assert "agents[0].count must be >= 1 (got 0)" in r.stderr
    assert "Traceback" not in r.stderr and len(r.stderr.strip().splitlines()) == 1


def test_python_m_and_console_script_agree() -> None:
    r = run_cli("--headless", "--ticks", "50", "--quiet")
    assert r.returncode == 0 and "ticks        50" in r.stdout
    exe = Path(sys.executable).with_name("marketenv")
    if exe.exists():
        r2 = subprocess.run([str(exe), "--version"], capture_output=True, text=True, timeout=60)
        assert r2.returncode == 0 and "marketenv" in r2.stdout


def test_no_mode_prints_help() -> None:
    r = run_cli()
    assert r.returncode == 2 and "--headless" in r.stdout


def test_flag_message_rewrites_only_backticked_parameters() -> None:
    assert flag_message("`interval` must be >= 1 (got 0)", RECORD_FLAGS) == "--record-interval must be >= 1 (got 0)"
    assert (
        flag_message("the number of ticks is unknown; pass `ticks` here", RECORD_FLAGS)
        == "the number of ticks is unknown; pass --ticks here"
    )
    assert flag_message("`row_group_size` must be a positive integer", RECORD_FLAGS) == (
        "`row_group_size` must be a positive integer"
    )


def test_record_errors_name_the_flags(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = str(tmp_path / "rec.parquet")
    cases = [
        (["--record-interval", "0"], "--record-interval must be >= 1 (got 0)"),
        (["--record-warmup", "-1"], "--record-warmup must be >= 0 (got -1)"),
        (
            ["--record-warmup", "500", "--ticks", "100"],
            "--record-warmup 500 leaves nothing to record in --ticks 100; use a warm-up below 100 or more ticks",
        ),
    ]
    for extra, message in cases:
        assert main(["--headless-record", "--record-output", out, "--quiet", *extra]) == 2
        assert capsys.readouterr().err == f"marketenv: error: {message}\n"
    assert main(["--headless-record", "--record-output", str(tmp_path), "--ticks", "150", "--quiet"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("marketenv: error: --record-output ") and " is a directory;" in err, err
    assert "`" not in err and not (tmp_path / "rec.parquet").exists()
