"""`marketenv --headless-record` end to end: the file, its conventions, and failure modes."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from marketenv.cli import main
from marketenv.feature_spec import FEATURE_NAMES
from recorders.check import check_recording
from recorders.schema import read_metadata

ROOT = Path(__file__).resolve().parents[1]
N_AGENTS = 50


def record(out: Path, *extra: str) -> int:
    return main(["--headless-record", "--record-output", str(out), "--quiet", *extra])


@pytest.fixture(scope="module")
def default_rec(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("rec") / "sub" / "training.parquet"
    assert record(out, "--ticks", "400", "--seed", "11") == 0
    return out


def test_file_reads_back_with_pyarrow_and_polars(default_rec: Path) -> None:
    table = pq.read_table(default_rec)
    names = table.column_names
    assert names[:4] == ["tick", "agent_id", "agent_name", "symbol"]
    assert names[4 : 4 + len(FEATURE_NAMES)] == [f"f_{n}" for n in FEATURE_NAMES]
    assert names[4 + len(FEATURE_NAMES) :] == [
        "action", "action_quantity", "action_price", "fill_quantity", "fill_price",
        "fill_buy_quantity", "fill_buy_price", "fill_sell_quantity", "fill_sell_price", "fees",
        "tick_trade_low", "tick_trade_high", "reward", "reward_normalized", "next_mid_price", "next_position", "next_pnl", "next_cash", "next_equity", "run_id",
    ]
    s = table.schema
    assert s.field("tick").type == pa.uint64() and s.field("agent_id").type == pa.uint64()
    assert s.field("agent_name").type == pa.string() and s.field("symbol").type == pa.string()
    assert s.field("action").type == pa.int8()
    assert all(s.field(f"f_{n}").type == pa.float64() for n in FEATURE_NAMES)
    df = pl.read_parquet(default_rec)
    assert df.height == (400 - 100) * N_AGENTS
    assert df["tick"].min() == 100 and df["tick"].max() == 399
    # ordered by tick then agent
    key = df.select((pl.col("tick") * 1000 + pl.col("agent_id")).alias("k"))["k"].to_numpy()
    assert (np.diff(key.astype(np.int64)) > 0).all()
    assert df["agent_name"].str.contains("MarketMaker").any()


def test_check_passes_on_default(default_rec: Path) -> None:
    rep = check_recording(default_rec)
    assert rep.ok, rep.format()


def test_conventions_hold_row_by_row(default_rec: Path) -> None:
    df = pl.read_parquet(default_rec).sort(["agent_id", "tick"])
    reward = df["reward"].to_numpy()
    assert np.allclose(reward, (df["next_pnl"] - df["f_total_pnl"]).to_numpy(), atol=1e-6)
    eq_before = (df["f_cash"] + df["f_position"] * df["f_mid_price"]).to_numpy()
    eq_after = (df["next_cash"] + df["next_position"] * df["next_mid_price"]).to_numpy()
    assert np.allclose(reward, eq_after - eq_before, atol=1e-6)
    assert np.array_equal(df["next_position"].to_numpy(), (df["f_position"] + df["fill_quantity"]).to_numpy())
    same = (df["agent_id"].to_numpy()[1:] == df["agent_id"].to_numpy()[:-1])
    for nxt, f in (("next_mid_price", "f_mid_price"), ("next_position", "f_position"), ("next_pnl", "f_total_pnl")):
        assert np.allclose(df[nxt].to_numpy()[:-1][same], df[f].to_numpy()[1:][same], atol=1e-9)
    assert set(np.unique(df["action"].to_numpy())) <= {-1, 0, 1}
    assert (df["fill_quantity"] != 0).sum() > 0  # the market traded


def test_metadata_describes_the_dataset(default_rec: Path) -> None:
    meta = read_metadata(default_rec)
    assert meta["marketenv.seed"] == 11
    assert meta["marketenv.config"]["simulation"]["ticks"] == 400
    rec = meta["marketenv.recording"]
    assert rec["warmup"] == 100 and rec["interval"] == 1
    names = [f["name"] for f in meta["marketenv.features"]]
    assert names == list(FEATURE_NAMES)
    assert all(f["description"] for f in meta["marketenv.features"])
    assert meta["marketenv.version"]


def test_interval_5_and_warmup_0(tmp_path: Path) -> None:
    out = tmp_path / "i5.parquet"
    assert record(out, "--ticks", "300", "--record-interval", "5") == 0
    ticks = np.unique(pq.read_table(out, columns=["tick"])["tick"].to_numpy())
    assert ticks.tolist() == list(range(100, 300, 5))
    assert check_recording(out).ok
    out0 = tmp_path / "w0.parquet"
    assert record(out0, "--ticks", "150", "--record-warmup", "0") == 0
    rep = check_recording(out0)
    assert rep.ok, rep.format()
    df = pl.read_parquet(out0)
    assert df["tick"].min() == 0 and df["f_sma_50"].is_nan().any()  # warm-up NaNs recorded


def test_multi_symbol(tmp_path: Path) -> None:
    out = tmp_path / "m.parquet"
    assert record(out, "--ticks", "250", "--config", str(ROOT / "configs" / "multi_symbol.toml")) == 0
    rep = check_recording(out)
    assert rep.ok, rep.format()
    df = pl.read_parquet(out, columns=["symbol", "agent_id"])
    assert sorted(df["symbol"].unique().to_list()) == ["ACME", "BOLT", "GROW"]


def test_same_seed_identical_data(tmp_path: Path) -> None:
    a, b, c = tmp_path / "a.parquet", tmp_path / "b.parquet", tmp_path / "c.parquet"
    record(a, "--ticks", "200", "--seed", "3")
    record(b, "--ticks", "200", "--seed", "3")
    record(c, "--ticks", "200", "--seed", "4")
    ta, tb, tc = pq.read_table(a), pq.read_table(b), pq.read_table(c)

    def same(x: pa.Table, y: pa.Table) -> bool:  # NaN-aware: warm-up features are NaN
        for name in x.column_names:
            u = x[name].to_numpy(zero_copy_only=False)
            v = y[name].to_numpy(zero_copy_only=False)
            ok = np.array_equal(u, v, equal_nan=True) if u.dtype.kind == "f" else np.array_equal(u, v)
            if not ok:
                return False
        return True

    assert same(ta, tb)
    assert not same(ta, tc)


def _rewrite(src: Path, dst: Path, column: str, fn) -> None:
    t = pq.read_table(src)
    i = t.column_names.index(column)
    arr = fn(t[column].to_numpy().copy())
    t = t.set_column(i, column, pa.array(arr, type=t.schema.field(column).type))
    pq.write_table(t.replace_schema_metadata(pq.read_schema(src).metadata), dst)


def test_check_fails_on_broken_reward_and_shifted_next(default_rec: Path, tmp_path: Path) -> None:
    bad = tmp_path / "bad_reward.parquet"

    def bump(r: np.ndarray) -> np.ndarray:
        r[1234] += 0.5
        return r

    _rewrite(default_rec, bad, "reward", bump)
    rep = check_recording(bad)
    assert not rep.ok and not rep.result("reward").passed

    shifted = tmp_path / "shifted.parquet"
    _rewrite(default_rec, shifted, "next_mid_price", lambda v: np.roll(v, N_AGENTS))
    rep = check_recording(shifted)
    assert not rep.ok and not rep.result("temporal").passed


def run_cli(*args: str, **kw) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "marketenv", *args], capture_output=True, text=True, timeout=120, cwd=ROOT, **kw)


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--record-interval", "0"], "--record-interval must be >= 1"),
        (["--record-warmup", "-1"], "--record-warmup must be >= 0"),
        (["--record-warmup", "500", "--ticks", "100"], "--record-warmup"),
        (["--record-interval", "x"], "--record-interval"),
    ],
)
def test_bad_record_flags(tmp_path: Path, args: list[str], needle: str) -> None:
    out = tmp_path / "keep.parquet"
    out.write_bytes(b"precious")
    r = run_cli("--headless-record", "--record-output", str(out), *args)
    assert r.returncode == 2, r.stderr
    assert needle in r.stderr and "Traceback" not in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1
    assert out.read_bytes() == b"precious"


def test_output_is_a_directory_or_unwritable(tmp_path: Path) -> None:
    r = run_cli("--headless-record", "--record-output", str(tmp_path), "--ticks", "200")
    assert r.returncode == 2 and "is a directory" in r.stderr and "Traceback" not in r.stderr
    blocker = tmp_path / "file"
    blocker.write_text("x")
    r = run_cli("--headless-record", "--record-output", str(blocker / "sub" / "o.parquet"), "--ticks", "200")
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1


def test_ctrl_c_leaves_a_valid_file(tmp_path: Path) -> None:
    out = tmp_path / "int.parquet"
    out.write_bytes(b"old")
    p = subprocess.Popen(
        [sys.executable, "-m", "marketenv", "--headless-record", "--record-output", str(out),
         "--ticks", "1000000", "--record-warmup", "0", "--quiet"],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    deadline = time.monotonic() + 60
    while not [f for f in os.listdir(tmp_path) if f.endswith(".tmp")]:  # the recording has started
        assert p.poll() is None and time.monotonic() < deadline
        time.sleep(0.1)
    time.sleep(2.0)
    assert out.read_bytes() == b"old"  # untouched while recording
    p.send_signal(signal.SIGINT)
    stdout, stderr = p.communicate(timeout=60)
    assert p.returncode == 130, stderr
    assert "interrupted" in stderr and "Traceback" not in stderr
    rep = check_recording(out)
    assert rep.ok, rep.format()
    assert rep.rows > 0
    assert not [f for f in os.listdir(tmp_path) if f.endswith(".tmp")]


def test_recording_wrapper_on_gym_env(tmp_path: Path) -> None:
    import gymnasium as gym

    import marketenv  # noqa: F401
    from recorders.recording_wrapper import RecordingWrapper

    env = RecordingWrapper(gym.make("marketenv/Market-v0", max_episode_steps=60), tmp_path / "g.parquet", warmup=110, interval=1)
    env.reset(seed=1)
    done = False
    k = 0
    while not done:
        _, _, term, trunc, _ = env.step(k % 3)
        done = term or trunc
        k += 1
    env.close()
    rep = check_recording(tmp_path / "g.parquet")
    assert rep.ok, rep.format()
    df = pl.read_parquet(tmp_path / "g.parquet")
    assert df["agent_id"].n_unique() == 1 and df["tick"].min() == 110
    assert json.loads(json.dumps(read_metadata(tmp_path / "g.parquet")["marketenv.recording"]))["warmup"] == 110


def test_recorder_commit_needs_capture_and_blocks_span_flushes(tmp_path: Path) -> None:
    from marketenv.config import default_config
    from marketenv.simulation import Simulation
    from recorders.recording_wrapper import TransitionRecorder
    from recorders.schedule import RecordSchedule

    cfg = default_config().with_overrides(ticks=200)
    sim = Simulation(cfg)
    rec = TransitionRecorder(tmp_path / "r.parquet", RecordSchedule(0, 1, 200), sim)
    tr = sim.step()
    with pytest.raises(RuntimeError, match="capture"):
        rec.commit(tr, tr.next_obs)
    # more ticks than one staging block, a subset of agents on some ticks
    for t in range(1, 150):
        rec.capture(sim.obs, None if t % 3 else [0, 7, 49])
        tr = sim.step()
        rec.commit(tr, tr.next_obs)
    rec.close()
    df = pl.read_parquet(tmp_path / "r.parquet")
    expected = sum(N_AGENTS if t % 3 else 3 for t in range(1, 150))
    assert df.height == rec.rows == expected
    sub = df.filter(pl.col("tick") == 3)
    assert sub["agent_id"].to_list() == [0, 7, 49]


def test_compiled_staging_equals_the_numpy_path(tmp_path: Path) -> None:
    """The kernel that stages a compiled transition's rows writes what the NumPy path
    (the transition's own properties) writes: every column, subsets of agents included."""
    import dataclasses

    from marketenv.config import MarketConfig, default_config
    from marketenv.simulation import Simulation
    from recorders.recording_wrapper import TransitionRecorder
    from recorders.schedule import RecordSchedule

    cfg = dataclasses.replace(default_config().with_overrides(ticks=400), market=MarketConfig(fee_bps=1.5))
    tables = []
    for fast in (True, False):
        sim = Simulation(cfg, seed=8)
        rec = TransitionRecorder(tmp_path / f"{fast}.parquet", RecordSchedule(0, 1, 400), sim)
        rec.fast = fast
        for t in range(300):
            rec.capture(sim.obs, None if t % 4 else [1, 5, 33])
            tr = sim.step()
            rec.commit(tr, tr.next_obs)
        rec.close()
        tables.append(pq.read_table(tmp_path / f"{fast}.parquet"))
    a, b = tables
    assert a.num_rows == b.num_rows > 0
    for name in a.column_names:
        if name != "run_id":
            x, y = a[name].to_numpy(zero_copy_only=False), b[name].to_numpy(zero_copy_only=False)
            assert np.array_equal(x, y, equal_nan=x.dtype.kind == "f"), name
    assert np.isfinite(a["fill_price"].to_numpy(zero_copy_only=False)).any()  # something traded
