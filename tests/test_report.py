"""The realism report: fact estimators on series with known answers, the recording reader
against a fresh simulation, the command, and a short realism run with loose bounds."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from marketenv.config import SimulationConfig, default_config, load_config
from marketenv.report import ReportInputError, from_recording, measure, simulate
from marketenv.report import facts as F
from recorders.run import run_recording

CONFIGS = Path(__file__).resolve().parents[1] / "configs"


# --------------------------------------------------------------------------- estimators
def test_variance_ratio_is_one_for_a_random_walk_and_above_for_a_trend() -> None:
    rng = np.random.default_rng(0)
    walk = np.cumsum(rng.standard_normal(200_000))
    assert F.variance_ratio(walk, 10) == pytest.approx(1.0, abs=0.03)
    ar = np.zeros(200_000)  # returns with AR(1) 0.5: VR(10) = (1 + 2 * sum) ~ 2.6
    e = rng.standard_normal(200_000)
    for t in range(1, ar.size):
        ar[t] = 0.5 * ar[t - 1] + e[t]
    vr = F.variance_ratio(np.cumsum(ar), 10)
    expected = 1 + 2 * sum((1 - k / 10) * 0.5**k for k in range(1, 10))
    assert vr == pytest.approx(expected, rel=0.05)
    assert math_isnan(F.variance_ratio(walk[:15], 10))


def math_isnan(x: float) -> bool:
    return x != x


def test_kurtosis_hill_and_acf_on_known_distributions() -> None:
    rng = np.random.default_rng(1)
    assert F.excess_kurtosis(rng.standard_normal(400_000)) == pytest.approx(0.0, abs=0.05)
    assert F.excess_kurtosis(rng.standard_t(6, 400_000)) == pytest.approx(3.0, rel=0.25)  # 6/(6-4)
    pareto = (1 - rng.random(400_000)) ** (-1 / 3.0)  # tail index 3
    assert F.hill_index(pareto, 0.025) == pytest.approx(3.0, rel=0.08)
    x = np.zeros(100_000)
    e = rng.standard_normal(x.size)
    for t in range(1, x.size):
        x[t] = 0.6 * x[t - 1] + e[t]
    np.testing.assert_allclose(F.acf(x, [1, 2, 3]), [0.6, 0.36, 0.216], atol=0.02)


def test_logistic_accuracy_finds_a_real_signal_and_not_a_fake_one() -> None:
    rng = np.random.default_rng(2)
    x = rng.standard_normal(20_000)
    y = np.sign(x + 0.3 * rng.standard_normal(x.size)).astype(np.int8)
    train, test = F.split_train_test(x.size)
    assert F.logistic_accuracy(x, y, train, test) > 0.85
    assert F.logistic_accuracy(rng.standard_normal(x.size), y, train, test) == pytest.approx(0.5, abs=0.03)
    assert F.logistic_accuracy(-x, y, train, test) > 0.85  # the sign of the slope is learned


def test_forward_sign_and_split() -> None:
    mid = np.array([1.0, 2.0, 2.0, 1.0, 5.0])
    assert F.forward_sign(mid, 2).tolist() == [1, -1, 1, 0, 0]
    train, test = F.split_train_test(1000, gap=50)
    assert (train.stop, test.start, test.stop) == (700, 750, 1000)


# --------------------------------------------------------------------------- sources
def test_a_recording_gives_the_same_series_as_the_simulation(tmp_path: Path) -> None:
    cfg = load_config(CONFIGS / "multi_symbol.toml")
    warmup, ticks = 100, 600
    run_cfg = dataclasses.replace(cfg, simulation=SimulationConfig(ticks=warmup + ticks, seed=5))
    out = tmp_path / "rec.parquet"
    assert run_recording(run_cfg, out, warmup=warmup, interval=1, quiet=True) == 0
    rec = from_recording(out)
    sim = simulate(cfg, ticks, seed=5, warmup=warmup)
    assert rec.symbols == sim.symbols
    n = rec.ticks
    assert n == ticks - 1  # the last tick's volume is not in the file
    np.testing.assert_array_equal(rec.mid, sim.mid[:, :n])
    np.testing.assert_array_equal(rec.spread, sim.spread[:, :n])
    np.testing.assert_array_equal(rec.volume, sim.volume[:, :n])
    np.testing.assert_array_equal(rec.fair, sim.fair[:, :n])
    np.testing.assert_array_equal(rec.features, sim.features[:, :n])


def test_a_recording_with_interval_5_is_refused_with_the_fix(tmp_path: Path) -> None:
    cfg = default_config().with_overrides(ticks=300)
    out = tmp_path / "rec.parquet"
    run_recording(cfg, out, warmup=0, interval=5, quiet=True)
    with pytest.raises(ReportInputError, match="interval 1"):
        from_recording(out)


def test_the_command_writes_the_report_and_refuses_bad_input_in_one_line(tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    out = tmp_path / "rep"
    cmd = [sys.executable, "-m", "marketenv", "report", "--ticks", "4000", "--seed", "3", "--out", str(out),
           "--no-boosted"]  # fmt: skip
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert r.returncode in (0, 1), r.stderr
    assert "variance ratio VR(10)" in r.stdout
    facts = json.loads((out / "facts.json").read_text())
    keys = [f["key"] for f in facts["symbols"]["ACME"]]
    assert {"vr10", "kurtosis_r60", "spread_mean", "nfl_logistic_deviation"} <= set(keys)
    html = (out / "report.html").read_text()
    for png in ("price_vs_fair.png", "returns.png", "acf.png", "spread_volume.png", "pnl_by_type.png"):
        assert (out / png).stat().st_size > 1000 and png in html
    bad = subprocess.run([sys.executable, "-m", "marketenv", "report", str(tmp_path / "missing.parquet")],
                         capture_output=True, text=True, timeout=120)  # fmt: skip
    assert bad.returncode == 2 and bad.stderr.count("\n") == 1 and "Traceback" not in bad.stderr


# --------------------------------------------------------------------------- a short realism run
def test_a_short_default_run_keeps_its_stylized_facts_within_loose_bounds() -> None:
    """A regression guard only (30,000 ticks is too short for the real targets):
    bench/bench_realism.py measures the targets on long runs."""
    s = measure(simulate(default_config(), 30_000, seed=2024), boosted=False)
    f = {x.key: x.value for x in s.symbols["ACME"]}
    assert 0.7 <= f["vr10"] <= 1.4 and 0.6 <= f["vr100"] <= 1.5
    assert 0.08 <= f["vol_annual"] <= 0.8
    assert f["kurtosis_r60"] > 0.5 and f["kurtosis_r1"] > f["kurtosis_r60"]
    assert f["acf_abs_r60_lag1"] > 0.0 and f["acf_vol60_lag1"] > 0.1 and f["corr_absr_vol60"] > 0.05
    assert f["spread_median"] <= 2 and f["spread_mean"] <= 2.5 and f["empty_side"] == 0
    assert f["nfl_logistic_deviation"] <= 0.6
