"""Fault injection: signals at every phase of a recording, a slow writer, a full disk.

The invariant throughout: the target holds either a complete, valid file in which every
recorded (tick, agent) row appears exactly once, or the prior file, byte for byte; and no
temporary file is left. The oracle is an uninterrupted reference run of the same seed:
an interrupted file must equal the reference's first ticks, row for row (the simulation
is deterministic), so nothing here relies on the code under test to judge its output.
"""

from __future__ import annotations

import dataclasses
import errno
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from marketenv.config import AgentGroupConfig, Config, SimulationConfig, default_config
from marketenv.errors import RecordingError
from recorders import parquet_writer as pw
from recorders.recording_wrapper import TransitionRecorder
from recorders.run import run_recording

ROOT = Path(__file__).resolve().parents[1]
TICKS = 300
WARMUP = 20
N_AGENTS = 10
PRIOR = b"PAR1 the prior file, which must survive"


def tiny_config(ticks: int = TICKS) -> Config:
    groups = (
        AgentGroupConfig(type="market_maker", count=2, initial_cash=1_000_000.0),
        AgentGroupConfig(type="noise_trader", count=8),
    )
    cfg = dataclasses.replace(
        default_config(), agents=groups, simulation=SimulationConfig(ticks=ticks, seed=7)
    )
    cfg.validate()
    return cfg


def temps(d: Path) -> list[str]:
    return sorted(f for f in os.listdir(d) if f.endswith(".tmp"))


def keyed(table: pa.Table) -> dict[str, np.ndarray]:
    """Columns sorted by (tick, agent_id), as numpy."""
    idx = pa.compute.sort_indices(table, [("tick", "ascending"), ("agent_id", "ascending")])
    t = table.take(idx)
    return {n: t.column(n).to_numpy(zero_copy_only=False) for n in t.column_names}


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> pa.Table:
    out = tmp_path_factory.mktemp("ref") / "ref.parquet"
    assert run_recording(tiny_config(), out, warmup=WARMUP, quiet=True) == 0
    return pq.read_table(out)


def assert_prefix_of_reference(path: Path, reference: pa.Table) -> int:
    """``path`` holds exactly the reference's rows of its ticks, each once; returns its rows."""
    got = pq.read_table(path)
    pairs = list(zip(got.column("tick").to_pylist(), got.column("agent_id").to_pylist(), strict=True))
    assert len(pairs) == len(set(pairs)), "a (tick, agent) row appears twice"
    ticks = sorted(set(got.column("tick").to_pylist()))
    assert ticks == list(range(WARMUP, WARMUP + len(ticks))), "a recorded tick is missing"
    ref = reference.filter(pa.compute.less_equal(reference.column("tick"), ticks[-1]))
    assert got.num_rows == ref.num_rows == len(ticks) * N_AGENTS
    a, b = keyed(got), keyed(ref)
    for name in reference.column_names:
        x, y = a[name], b[name]
        if x.dtype.kind == "f":
            assert np.array_equal(x, y, equal_nan=True), name
        else:
            assert (x == y).all(), name
    return got.num_rows


def send_at(hook: Callable[..., object], sig: int, times: int = 1) -> Callable[..., object]:
    """Wrap ``hook`` so that the process sends itself ``sig`` (``times`` times) on its first call."""
    fired = []

    def wrapped(*args: object, **kwargs: object) -> object:
        if not fired:
            fired.append(True)
            for _ in range(times):
                os.kill(os.getpid(), sig)
        return hook(*args, **kwargs)

    return wrapped


@pytest.fixture
def target(tmp_path: Path) -> Path:
    out = tmp_path / "rec.parquet"
    out.write_bytes(PRIOR)
    return out


# ------------------------------------------------------------------ in-process phases


def test_signal_during_warmup_keeps_the_prior_file(
    target: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from marketenv.simulation import Simulation

    calls = {"n": 0}
    orig = Simulation.step

    def actions(self: Simulation, *args: object, **kwargs: object) -> object:
        calls["n"] += 1
        if calls["n"] == 5:  # tick 4, inside the warm-up
            os.kill(os.getpid(), signal.SIGINT)
        return orig(self, *args, **kwargs)

    monkeypatch.setattr(Simulation, "step", actions)
    assert run_recording(tiny_config(), target, warmup=WARMUP, quiet=True) == 130
    assert target.read_bytes() == PRIOR
    assert temps(target.parent) == []
    err = capsys.readouterr().err
    assert "nothing was recorded" in err and "left untouched" in err


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT])
def test_signal_mid_run_keeps_every_row_once(
    sig: int, target: Path, reference: pa.Table, monkeypatch: pytest.MonkeyPatch
) -> None:
    from marketenv.simulation import Simulation

    calls = {"n": 0}
    orig = Simulation.step

    def actions(self: Simulation, *args: object, **kwargs: object) -> object:
        calls["n"] += 1
        if calls["n"] == 150:
            os.kill(os.getpid(), sig)
        return orig(self, *args, **kwargs)

    monkeypatch.setattr(Simulation, "step", actions)
    assert run_recording(tiny_config(), target, warmup=WARMUP, quiet=True) == 130
    assert assert_prefix_of_reference(target, reference) == (150 - WARMUP) * N_AGENTS
    assert temps(target.parent) == []


def test_two_signals_in_a_row(target: Path, reference: pa.Table, monkeypatch: pytest.MonkeyPatch) -> None:
    from marketenv.simulation import Simulation

    monkeypatch.setattr(
        Simulation, "step", send_at(Simulation.step, signal.SIGINT, times=2)
    )
    monkeypatch.setattr(TransitionRecorder, "flush", send_at(TransitionRecorder.flush, signal.SIGTERM))
    assert run_recording(tiny_config(), target, warmup=0, quiet=True) == 130
    got = pq.read_table(target)
    assert got.num_rows == N_AGENTS  # the first tick only
    assert temps(target.parent) == []


def test_signal_during_flush(target: Path, reference: pa.Table, monkeypatch: pytest.MonkeyPatch) -> None:
    # Blocks of 64 ticks: the first flush is inside the run, at tick 84.
    monkeypatch.setattr(TransitionRecorder, "flush", send_at(TransitionRecorder.flush, signal.SIGINT))
    assert run_recording(tiny_config(), target, warmup=WARMUP, quiet=True) == 130
    rows = assert_prefix_of_reference(target, reference)
    assert rows == (64 + 1) * N_AGENTS  # the block flushed, then the tick that was running
    assert temps(target.parent) == []


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGHUP])
def test_signal_during_close_keeps_the_whole_run(
    sig: int, target: Path, reference: pa.Table, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setattr(pw.ParquetRecordWriter, "_join", send_at(pw.ParquetRecordWriter._join, sig, times=2))
    assert run_recording(tiny_config(), target, warmup=WARMUP, quiet=True) == 0
    assert assert_prefix_of_reference(target, reference) == reference.num_rows
    assert temps(target.parent) == []
    assert "after the last tick" in capsys.readouterr().err


def test_keyboard_interrupt_while_joining_the_writer(tmp_path: Path, reference: pa.Table) -> None:
    """Library use with Python's default handler: Ctrl-C inside close() still finishes the file."""
    from marketenv.parallel_env import MarketParallelEnv
    from recorders.recording_wrapper import ParallelRecordingWrapper

    out = tmp_path / "lib.parquet"
    env = MarketParallelEnv(tiny_config(), learners="all", observation="raw", warmup_ticks=0, max_cycles=TICKS)
    rec = ParallelRecordingWrapper(env, out, warmup=WARMUP, ticks=TICKS)
    rec.reset(seed=7)
    sim = env.simulation
    for _ in range(TICKS):
        rec.step_array(sim.crowd_actions(sim.obs))
    writer = rec.recorder.writer
    real_join = writer._thread.join
    raised = []

    def join(*a: object) -> None:
        if not raised:
            raised.append(1)
            raise KeyboardInterrupt
        real_join(*a)

    writer._thread.join = join  # type: ignore[method-assign]
    with pytest.raises(KeyboardInterrupt):
        rec.close()
    assert assert_prefix_of_reference(out, reference) == reference.num_rows
    assert temps(tmp_path) == []


def test_interrupted_flush_writes_each_row_once(tmp_path: Path, reference: pa.Table) -> None:
    """A Ctrl-C while the writer waits for a free buffer set (a slow disk) duplicates nothing."""
    from marketenv.parallel_env import MarketParallelEnv
    from recorders.recording_wrapper import ParallelRecordingWrapper

    out = tmp_path / "dup.parquet"
    env = MarketParallelEnv(tiny_config(), learners="all", observation="raw", warmup_ticks=0, max_cycles=TICKS)
    rec = ParallelRecordingWrapper(env, out, warmup=WARMUP, ticks=TICKS, row_group_size=96)
    rec.reset(seed=7)
    writer = rec.recorder.writer
    real = writer._take_free
    state = {"calls": 0}

    def take_free() -> object:
        state["calls"] += 1
        if state["calls"] in (2, 5):  # mid-block: the writer accepted part of a flush
            raise KeyboardInterrupt
        return real()

    writer._take_free = take_free  # type: ignore[method-assign]
    sim = env.simulation
    interrupts = 0
    done = 0
    acts = None
    while done < TICKS:
        if acts is None:  # drawn once per tick: a retried tick replays the same actions
            acts = sim.crowd_actions(sim.obs)
        try:
            rec.step_array(acts)
        except KeyboardInterrupt:
            interrupts += 1
            assert sim.tick == done  # interrupted before the tick ran
            continue
        acts = None
        done += 1
    rec.close()
    assert interrupts == 2
    assert assert_prefix_of_reference(out, reference) == reference.num_rows


def test_slow_writer_then_signal(target: Path, reference: pa.Table, monkeypatch: pytest.MonkeyPatch) -> None:
    real = pw.ParquetRecordWriter._to_batch

    def slow(self: pw.ParquetRecordWriter, buf: object) -> pa.RecordBatch:
        time.sleep(0.05)
        return real(self, buf)

    from marketenv.simulation import Simulation

    monkeypatch.setattr(pw.ParquetRecordWriter, "_to_batch", slow)
    monkeypatch.setattr(pw, "_N_BUFFER_SETS", 2)
    calls = {"n": 0}
    orig = Simulation.step

    def actions(self: Simulation, *args: object, **kwargs: object) -> object:
        calls["n"] += 1
        if calls["n"] == 120:
            os.kill(os.getpid(), signal.SIGINT)
        return orig(self, *args, **kwargs)

    monkeypatch.setattr(Simulation, "step", actions)
    cfg = tiny_config()
    from recorders.recording_wrapper import ParallelRecordingWrapper

    orig_init = ParallelRecordingWrapper.__init__

    def small_groups(self: ParallelRecordingWrapper, *a: object, **kw: object) -> None:
        orig_init(self, *a, row_group_size=50, **kw)  # a row group every 5 ticks

    monkeypatch.setattr(ParallelRecordingWrapper, "__init__", small_groups)
    assert run_recording(cfg, target, warmup=WARMUP, quiet=True) == 130
    assert assert_prefix_of_reference(target, reference) == (120 - WARMUP) * N_AGENTS
    assert pq.ParquetFile(target).metadata.num_row_groups == 20
    assert temps(target.parent) == []


def test_disk_full_keeps_the_prior_file(target: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def full(self: pw.ParquetRecordWriter, buf: object) -> pa.RecordBatch:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(pw.ParquetRecordWriter, "_to_batch", full)
    with pytest.raises(RecordingError, match="disk full"):
        run_recording(tiny_config(), target, warmup=WARMUP, quiet=True)
    assert target.read_bytes() == PRIOR
    assert temps(target.parent) == []


def test_exception_in_the_tick_loop_aborts(target: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from marketenv.simulation import Simulation

    calls = {"n": 0}
    orig = Simulation.step

    def actions(self: Simulation, *args: object, **kwargs: object) -> object:
        calls["n"] += 1
        if calls["n"] == 100:
            raise ZeroDivisionError("a bug in a strategy")
        return orig(self, *args, **kwargs)

    monkeypatch.setattr(Simulation, "step", actions)
    with pytest.raises(ZeroDivisionError):
        run_recording(tiny_config(), target, warmup=WARMUP, quiet=True)
    assert target.read_bytes() == PRIOR
    assert temps(target.parent) == []


def test_an_ignored_signal_stays_ignored(
    target: Path, reference: pa.Table, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Under ``nohup`` (SIGHUP ignored) a hang-up does not stop the recording."""
    from marketenv.simulation import Simulation

    old = signal.signal(signal.SIGHUP, signal.SIG_IGN)
    try:
        monkeypatch.setattr(
            Simulation, "step", send_at(Simulation.step, signal.SIGHUP)
        )
        assert run_recording(tiny_config(), target, warmup=WARMUP, quiet=True) == 0
        assert signal.getsignal(signal.SIGHUP) is signal.SIG_IGN
    finally:
        signal.signal(signal.SIGHUP, old)
    assert assert_prefix_of_reference(target, reference) == reference.num_rows


def test_handlers_are_restored(target: Path) -> None:
    before = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT)}
    assert run_recording(tiny_config(50), target, warmup=0, quiet=True) == 0
    assert {s: signal.getsignal(s) for s in before} == before


def test_signal_while_the_env_is_built(target: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from marketenv.parallel_env import MarketParallelEnv

    monkeypatch.setattr(MarketParallelEnv, "__init__", send_at(MarketParallelEnv.__init__, signal.SIGINT))
    assert run_recording(tiny_config(), target, warmup=0, quiet=True) == 130
    assert target.read_bytes() == PRIOR
    assert temps(target.parent) == []


def test_ctrl_c_before_the_run_is_one_line(
    target: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import marketenv.cli as cli_mod

    def interrupted(*a: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(cli_mod, "load_config", interrupted)
    assert cli_mod.main(["--headless-record", "--record-output", str(target), "--quiet"]) == 130
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "interrupted" in err and "Traceback" not in err
    assert target.read_bytes() == PRIOR


# ------------------------------------------------------------------ off the main thread


def test_recording_from_a_thread(tmp_path: Path, reference: pa.Table) -> None:
    out = tmp_path / "thread.parquet"
    result: dict[str, object] = {}

    def work() -> None:
        try:
            result["code"] = run_recording(tiny_config(), out, warmup=WARMUP, quiet=True)
        except BaseException as exc:  # noqa: BLE001 - reported below
            result["error"] = exc

    t = threading.Thread(target=work)
    t.start()
    t.join(120)
    assert "error" not in result, result.get("error")
    assert result["code"] == 0
    assert assert_prefix_of_reference(out, reference) == reference.num_rows
    assert temps(tmp_path) == []


def test_recording_from_a_thread_pool(tmp_path: Path, reference: pa.Table) -> None:
    from concurrent.futures import ThreadPoolExecutor

    outs = [tmp_path / f"pool{k}.parquet" for k in range(2)]
    with ThreadPoolExecutor(2) as pool:
        codes = list(pool.map(lambda o: run_recording(tiny_config(), o, warmup=WARMUP, quiet=True), outs))
    assert codes == [0, 0]
    for o in outs:
        assert assert_prefix_of_reference(o, reference) == reference.num_rows


# ------------------------------------------------------------------ real processes


def _default_signals() -> None:
    # As from a terminal, even if this test runs where they are ignored (nohup, a background job).
    for s in (signal.SIGINT, signal.SIGHUP, signal.SIGQUIT, signal.SIGTERM):
        signal.signal(s, signal.SIG_DFL)


def cli(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "marketenv", "--headless-record", *args, "--quiet"],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        preexec_fn=_default_signals,
    )


def tiny_toml(d: Path) -> Path:
    p = d / "tiny.toml"
    p.write_text(
        "[simulation]\nticks = 300\nseed = 7\n"
        '[[agents]]\ntype = "market_maker"\ncount = 2\ninitial_cash = 1000000.0\n'
        '[[agents]]\ntype = "noise_trader"\ncount = 8\n'
    )
    return p


def wait_for_temp(p: subprocess.Popen[str], d: Path, min_bytes: int = 0) -> Path:
    deadline = time.monotonic() + 60
    while True:
        found = [d / f for f in temps(d)]
        if found and found[0].stat().st_size >= min_bytes:
            return found[0]
        assert p.poll() is None, p.communicate()
        assert time.monotonic() < deadline
        time.sleep(0.05)


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGHUP, signal.SIGQUIT])
def test_cli_signal_mid_run(sig: int, target: Path) -> None:
    cfg = tiny_toml(target.parent)
    p = cli("--config", str(cfg), "--ticks", "1000000", "--record-warmup", "0",
            "--record-output", str(target))
    wait_for_temp(p, target.parent, min_bytes=100_000)  # row groups are on disk
    p.send_signal(sig)
    _, err = p.communicate(timeout=60)
    assert p.returncode == 130, err
    assert "interrupted" in err and "Traceback" not in err
    t = pq.read_table(target)
    pairs = set(zip(t.column("tick").to_pylist(), t.column("agent_id").to_pylist(), strict=True))
    ticks = sorted({k for k, _ in pairs})
    assert len(pairs) == t.num_rows == len(ticks) * N_AGENTS
    assert ticks == list(range(len(ticks)))
    assert temps(target.parent) == []


def test_cli_signal_during_warmup(target: Path) -> None:
    cfg = tiny_toml(target.parent)
    p = cli("--config", str(cfg), "--ticks", "100000000", "--record-warmup", "99999999",
            "--record-output", str(target))
    wait_for_temp(p, target.parent)
    time.sleep(0.5)
    p.send_signal(signal.SIGTERM)
    _, err = p.communicate(timeout=60)
    assert p.returncode == 130 and "left untouched" in err, err
    assert target.read_bytes() == PRIOR and temps(target.parent) == []


def test_sigkill_leftover_is_cleaned_by_the_next_run(target: Path) -> None:
    cfg = tiny_toml(target.parent)
    p = cli("--config", str(cfg), "--ticks", "1000000", "--record-warmup", "0",
            "--record-output", str(target))
    left = wait_for_temp(p, target.parent, min_bytes=10_000)
    p.kill()
    p.communicate(timeout=60)
    assert left.exists() and target.read_bytes() == PRIOR  # SIGKILL cannot be handled
    p = cli("--config", str(cfg), "--ticks", "60", "--record-warmup", "0", "--record-output", str(target))
    _, err = p.communicate(timeout=60)
    assert p.returncode == 0, err
    assert f"removed {left}" in err
    assert temps(target.parent) == []
    assert pq.read_table(target).num_rows == 60 * N_AGENTS
