"""Issue 13, item by item: nothing lost, nothing wrong, no tracebacks (one line, exit 2)."""

from __future__ import annotations

import json
import os
import shutil
import socket
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from agents.models import load_model
from marketenv.cli import main
from marketenv.config import (
    MAX_AGENTS,
    MAX_CASH,
    MAX_FEE_BPS,
    MAX_SHARES,
    config_from_dict,
    load_config,
)
from marketenv.errors import ConfigError, InvalidActionError, MarketEnvError, ModelFormatError
from marketenv.outputs import check_output
from recorders.check import main as check_main
from tests.recording_fixtures import make_recording, rewrite_recording

ROOT = Path(__file__).resolve().parents[1]
PRIOR = b"the prior file"
TINY = (
    "[simulation]\nticks = 120\nseed = 5\n"
    '[[agents]]\ntype = "market_maker"\ncount = 2\ninitial_cash = 1000000.0\n'
    '[[agents]]\ntype = "noise_trader"\ncount = 6\n'
)


def one_line_error(err: str, needle: str) -> None:
    assert err.count("\n") == 1, err
    assert needle in err, err
    assert "Traceback" not in err


def record(capsys: pytest.CaptureFixture[str], d: Path, out: str, *extra: str) -> tuple[int, str]:
    cfg = d / "tiny.toml"
    if not cfg.exists():
        cfg.write_text(TINY)
    code = main(["--headless-record", "--config", str(cfg), "--record-warmup", "10",
                 "--record-output", out, "--quiet", *extra])
    return code, capsys.readouterr().err


def base() -> dict[str, Any]:
    return {
        "simulation": {"ticks": 100, "seed": 1},
        "symbols": [{"name": "ACME"}],
        "agents": [{"type": "noise_trader", "count": 3}],
    }


# ---------------------------------------------------------------- 1. non-regular outputs


def test_fifo_output_is_refused_and_stays_a_fifo(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    fifo = tmp_path / "f.fifo"
    os.mkfifo(fifo)
    code, err = record(capsys, tmp_path, str(fifo))
    assert code == 2
    one_line_error(err, "FIFO")
    assert stat.S_ISFIFO(os.stat(fifo).st_mode)
    assert [f for f in os.listdir(tmp_path) if f.endswith(".tmp")] == []


def test_devices_and_sockets_are_refused() -> None:
    with pytest.raises(MarketEnvError, match="character device"):
        check_output("/dev/null", "--out")
    d = Path(os.environ.get("TMPDIR", "/tmp"))
    path = d / f"sock{os.getpid()}"
    s = socket.socket(socket.AF_UNIX)
    try:
        s.bind(str(path))
        with pytest.raises(MarketEnvError, match="socket"):
            check_output(path, "--out")
    finally:
        s.close()
        path.unlink(missing_ok=True)


def test_train_refuses_a_device(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from agents.training import main as train_main

    rec = make_recording(tmp_path / "r.parquet")
    assert train_main([str(rec), "--out", "/dev/full"]) == 2
    one_line_error(capsys.readouterr().err, "character device")
    assert stat.S_ISCHR(os.stat("/dev/full").st_mode)


def test_trailing_slash_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, err = record(capsys, tmp_path, str(tmp_path / "newdir") + "/")
    assert code == 2
    one_line_error(err, "ends with a slash")
    assert not (tmp_path / "newdir").exists()


def test_a_250_byte_name_works(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    name = "a" * 242 + ".parquet"
    assert len(name.encode()) == 250
    code, err = record(capsys, tmp_path, str(tmp_path / name))
    assert code == 0, err
    assert pq.read_table(tmp_path / name).num_rows == (120 - 10) * 8


def test_replacing_keeps_the_mode(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "m.parquet"
    out.write_bytes(PRIOR)
    os.chmod(out, 0o600)
    code, err = record(capsys, tmp_path, str(out))
    assert code == 0, err
    assert stat.S_IMODE(os.stat(out).st_mode) == 0o600
    assert out.read_bytes()[:4] == b"PAR1"


def test_model_save_keeps_the_mode(tmp_path: Path) -> None:
    src = ROOT / "configs" / "models" / "forward_rf.json"
    model = load_model(src)
    out = tmp_path / "m.json"
    out.write_text("{}")
    os.chmod(out, 0o640)
    model.save(out)
    assert stat.S_IMODE(os.stat(out).st_mode) == 0o640
    assert load_model(out).n_features == model.n_features


# ---------------------------------------------------------------- 2. inputs are never outputs


def test_record_output_equal_to_the_config_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cfg = tmp_path / "tiny.toml"
    cfg.write_text(TINY)
    code, err = record(capsys, tmp_path, str(cfg))
    assert code == 2
    one_line_error(err, "is also an input")
    assert cfg.read_text() == TINY
    link = tmp_path / "link.parquet"
    link.symlink_to(cfg)
    code, err = record(capsys, tmp_path, str(link))
    assert code == 2 and cfg.read_text() == TINY


def test_record_output_equal_to_a_model_file_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    shutil.copytree(ROOT / "configs" / "models", tmp_path / "models")
    cfg = tmp_path / "trees.toml"
    cfg.write_text((ROOT / "configs" / "tree_agents.toml").read_text())
    model = tmp_path / "models" / "forward_rf.json"
    before = model.read_bytes()
    code = main(["--headless-record", "--config", str(cfg), "--ticks", "50", "--record-warmup", "0",
                 "--record-output", str(model), "--quiet"])
    assert code == 2
    one_line_error(capsys.readouterr().err, "is also an input")
    assert model.read_bytes() == before


def test_train_out_equal_to_a_recording_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from agents.training import main as train_main

    rec = make_recording(tmp_path / "r.parquet")
    before = rec.read_bytes()
    assert train_main([str(rec), "--out", str(rec)]) == 2
    one_line_error(capsys.readouterr().err, "is also an input")
    assert rec.read_bytes() == before


# ---------------------------------------------------------------- 6. zero-cash agents


def test_zero_cash_agents_are_refused_with_a_reason() -> None:
    d = base()
    d["agents"][0]["initial_cash"] = 0.0
    with pytest.raises(ConfigError, match=r"agents\[0\] start with equity 0.00.*bankrupt"):
        config_from_dict(d)
    d["agents"][0].update(initial_position=-5)
    with pytest.raises(ConfigError, match="bankrupt"):
        config_from_dict(d)


def test_zero_cash_long_agents_trade_identically_headless_and_recorded(tmp_path: Path) -> None:
    from marketenv.parallel_env import MarketParallelEnv
    from marketenv.simulation import Simulation
    from recorders.run import run_recording

    d = {
        "simulation": {"ticks": 300, "seed": 4},
        "agents": [
            {"type": "market_maker", "count": 2, "initial_cash": 1_000_000.0},
            {"type": "noise_trader", "count": 6, "initial_cash": 0.0, "initial_position": 100},
            {"type": "noise_trader", "count": 6},
        ],
    }
    cfg = config_from_dict(d)
    sim = Simulation(cfg)
    sim.run(300)
    headless = sim.market.total_trades
    env = MarketParallelEnv(cfg, learners="all", observation="raw", warmup_ticks=0, max_cycles=300)
    env.reset(seed=4)
    s = env.simulation
    for _ in range(300):
        env.step_array(s.crowd_actions(s.obs))
    assert env.alive.all()
    assert s.market.total_trades == headless > 0
    out = tmp_path / "z.parquet"
    assert run_recording(cfg, out, warmup=0, quiet=True) == 0
    names = pq.read_table(out, columns=["agent_id"]).column("agent_id").to_numpy()
    assert len(names) == 300 * 14  # nobody dropped out


# ---------------------------------------------------------------- 7. bounds against overflow


@pytest.mark.parametrize(
    ("edit", "needle"),
    [
        (lambda d: d["agents"][0].update(position_limit=2**63 - 1, initial_position=2**63 - 1000),
         f"position_limit must be <= {MAX_SHARES:,}"),
        (lambda d: d.update(market={"fee_bps": 20000.0}), f"fee_bps must be <= {MAX_FEE_BPS:,}"),
        (lambda d: d.update(market={"allow_short": False}) or d["agents"][0].update(initial_position=-5),
         "is short but market.allow_short is false"),
        (lambda d: d["symbols"][0].update(initial_price=41.123), "initial_price must be a whole number of cents"),
        (lambda d: d["agents"][0].update(initial_cash=1e17), f"initial_cash must be <= {MAX_CASH:,}"),
        (lambda d: d["symbols"][0].update(volatility=1000.0), "volatility must be in [0, 5]"),
        (lambda d: d["agents"][0].update(count=10**7), f"count must be <= {MAX_AGENTS:,}"),
        (lambda d: d["agents"][0].update(count=2**62), f"count must be <= {MAX_AGENTS:,}"),
        (lambda d: d["agents"].extend([{"type": "noise_trader", "count": MAX_AGENTS}]),
         f"at most {MAX_AGENTS:,} are supported"),
        (lambda d: d["agents"][0].update(initial_cash=10**400), "must be a finite number"),
        (lambda d: d["simulation"].update(seed=2**70), "seed must be <="),
        (lambda d: d.update(news={"max_duration": 10**30}), "news.max_duration must be <="),
    ],
)
def test_values_are_bounded_and_the_message_states_the_bound(edit, needle: str) -> None:
    d = base()
    edit(d)
    with pytest.raises(ConfigError) as exc:
        config_from_dict(d)
    assert needle in str(exc.value)
    assert len(str(exc.value)) < 300


def test_the_largest_accepted_values_cannot_overflow() -> None:
    """At the bounds, the largest cash, notional and position values fit int64 by a wide margin."""
    total_cash_cents = MAX_AGENTS * MAX_CASH * 100
    assert total_cash_cents < 2**63 / 10
    # A position at the limit marked at the highest initial price (1e7 units = 1e9 cents):
    assert MAX_SHARES * 10**9 * 2 < 2**63 / 100


# ---------------------------------------------------------------- 8. config tracebacks


def write(d: Path, name: str, text: str | bytes) -> Path:
    p = d / name
    p.write_bytes(text if isinstance(text, bytes) else text.encode())
    return p


def run_cfg(capsys: pytest.CaptureFixture[str], cfg: Path | str, *extra: str) -> tuple[int, str]:
    code = main(["--headless", "--config", str(cfg), "--ticks", "20", "--quiet", *extra])
    return code, capsys.readouterr().err


def test_deep_toml_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cfg = write(tmp_path, "deep.toml", "x = " + "[" * 5000 + "]" * 5000 + "\n")
    code, err = run_cfg(capsys, cfg)
    assert code == 2
    one_line_error(err, "nested too deeply")


def test_toml_with_a_bom_loads(tmp_path: Path) -> None:
    plain = write(tmp_path, "plain.toml", TINY)
    bom = write(tmp_path, "bom.toml", b"\xef\xbb\xbf" + TINY.encode())
    assert load_config(bom) == load_config(plain)


def test_a_config_that_is_a_directory(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, err = run_cfg(capsys, tmp_path)
    assert code == 2
    one_line_error(err, "is a directory")


def test_5000_digit_integer_in_a_config(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cfg = write(tmp_path, "big.toml", TINY.replace("count = 6", "count = " + "9" * 5000))
    code, err = run_cfg(capsys, cfg)
    assert code == 2
    one_line_error(err, "number too long")


# ---------------------------------------------------------------- 9. model JSON


@pytest.fixture
def model_dict() -> dict[str, Any]:
    return json.loads((ROOT / "configs" / "models" / "forward_rf.json").read_text())


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("[" * 100_000 + "]" * 100_000, "nested too deeply"),
        ('{"a": ' + "9" * 5000 + "}", "a number too long"),
    ],
)
def test_malformed_model_json(tmp_path: Path, text: str, needle: str) -> None:
    p = write(tmp_path, "m.json", text)
    with pytest.raises(ModelFormatError, match=needle):
        load_model(p)


@pytest.mark.parametrize("key", ["threshold", "value"])
def test_model_numbers_beyond_the_float_range(tmp_path: Path, model_dict: dict[str, Any], key: str) -> None:
    tree = model_dict["trees"][0]
    if key == "threshold":
        tree["threshold"][0] = 10**309
    else:
        tree["value"][0][0] = 10**309
    p = write(tmp_path, "m.json", json.dumps(model_dict))
    with pytest.raises(ModelFormatError, match="beyond the float range"):
        load_model(p)


# ---------------------------------------------------------------- 10. check on crafted files


@pytest.fixture
def small_rec(tmp_path: Path) -> Path:
    return make_recording(tmp_path / "r.parquet", ticks=40)


def set_raw_recording_meta(table: pa.Table, raw: str) -> pa.Table:
    meta = dict(table.schema.metadata or {})
    meta[b"marketenv.recording"] = raw.encode()
    return table.replace_schema_metadata(meta)


@pytest.mark.parametrize(
    "raw",
    [
        '{"warmup": 0, "interval": 100000000000000000000000, "ticks": 40}',
        '{"warmup": 100000000000000000000000000000, "interval": 1, "ticks": 40}',
        '{"warmup": 0, "interval": 1, "ticks": ' + "9" * 5000 + "}",
        "[" * 100_000 + "]" * 100_000,
    ],
    ids=["interval 1e23", "huge warmup", "5000 digits", "deep JSON"],
)
def test_check_on_crafted_metadata_fails_cleanly(
    small_rec: Path, raw: str, capsys: pytest.CaptureFixture[str]
) -> None:
    rewrite_recording(small_rec, lambda t: set_raw_recording_meta(t, raw))
    code = check_main([str(small_rec)])
    out, err = capsys.readouterr()
    assert code == 1, err
    assert "Traceback" not in err and "FAIL" in out
    assert max(len(line) for line in out.splitlines()) < 2000


def test_check_on_a_null_agent_name(small_rec: Path, capsys: pytest.CaptureFixture[str]) -> None:
    def null_name(t: pa.Table) -> pa.Table:
        names = t.column("agent_name").to_pylist()
        names[3] = None
        i = t.schema.get_field_index("agent_name")
        return t.set_column(i, pa.field("agent_name", pa.string(), nullable=True), pa.array(names))

    rewrite_recording(small_rec, null_name)
    code = check_main([str(small_rec)])
    out, err = capsys.readouterr()
    assert code == 1 and "Traceback" not in err, err


def test_check_on_a_file_the_cli_cannot_write_any_more(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """--record-interval 10**23 is refused at the source now."""
    with pytest.raises(SystemExit) as exc:
        record(capsys, tmp_path, str(tmp_path / "i.parquet"), "--record-interval", str(10**23))
    assert exc.value.code == 2
    one_line_error(capsys.readouterr().err, "--record-interval: must be <= 1,000,000,000")


def test_check_with_stdout_on_a_full_disk(small_rec: Path) -> None:
    with open("/dev/full", "w") as full:
        r = subprocess.run([sys.executable, "-m", "marketenv", "check", str(small_rec)],
                           stdout=full, stderr=subprocess.PIPE, text=True, cwd=ROOT, timeout=120)
    assert r.returncode == 0, r.stderr  # the verdict (a valid file) is still the exit status
    one_line_error(r.stderr, "cannot write to stdout")


# ---------------------------------------------------------------- 11. train options


@pytest.mark.parametrize(
    ("flag", "needle"),
    [("--max-depth", "--max-depth: must be <= 64"), ("--n-estimators", "--n-estimators: must be <= 10,000")],
)
def test_train_huge_sizes(tmp_path: Path, capsys: pytest.CaptureFixture[str], flag: str, needle: str) -> None:
    from agents.training import main as train_main

    rec = make_recording(tmp_path / "r.parquet")
    assert train_main([str(rec), "--out", str(tmp_path / "m.json"), flag, str(2**70)]) == 2
    one_line_error(capsys.readouterr().err, needle)


def test_train_same_file_twice_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from agents.training import main as train_main

    rec = make_recording(tmp_path / "r.parquet")
    other = tmp_path / "sub"
    other.mkdir()
    link = other / "same.parquet"
    link.symlink_to(rec)
    assert train_main([str(rec), str(link), "--split", "file", "--out", str(tmp_path / "m.json")]) == 2
    one_line_error(capsys.readouterr().err, "is given twice")
    assert not (tmp_path / "m.json").exists()


# ---------------------------------------------------------------- 12. minor


def test_recording_with_stdout_on_a_full_disk_exits_0(tmp_path: Path) -> None:
    cfg = write(tmp_path, "tiny.toml", TINY)
    out = tmp_path / "o.parquet"
    with open("/dev/full", "w") as full:
        r = subprocess.run(
            [sys.executable, "-m", "marketenv", "--headless-record", "--config", str(cfg),
             "--record-warmup", "10", "--record-output", str(out), "--quiet"],
            stdout=full, stderr=subprocess.PIPE, text=True, cwd=ROOT, timeout=120,
        )
    assert r.returncode == 0, r.stderr
    one_line_error(r.stderr, "cannot write to stdout")
    assert pq.read_table(out).num_rows == (120 - 10) * 8


def test_recording_into_a_closed_pipe_exits_0(tmp_path: Path) -> None:
    cfg = write(tmp_path, "tiny.toml", TINY)
    out = tmp_path / "o.parquet"
    r_fd, w_fd = os.pipe()
    os.close(r_fd)  # nobody reads: writing raises BrokenPipeError
    try:
        r = subprocess.run(
            [sys.executable, "-m", "marketenv", "--headless-record", "--config", str(cfg),
             "--record-warmup", "10", "--record-output", str(out), "--quiet"],
            stdout=w_fd, stderr=subprocess.PIPE, text=True, cwd=ROOT, timeout=120,
        )
    finally:
        os.close(w_fd)
    assert r.returncode == 0, r.stderr
    one_line_error(r.stderr, "cannot write to stdout")
    assert pq.read_table(out).num_rows == (120 - 10) * 8


def test_long_values_are_echoed_short(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["--headless", "--ticks", "9" * 5000])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    one_line_error(err, "5,000 characters")
    assert len(err) < 250


def test_ragged_parallel_actions() -> None:
    from marketenv.parallel_env import parallel_env

    env = parallel_env(learners="all", max_cycles=5)
    env.reset(seed=1)
    a = env.agents[0]
    with pytest.raises(InvalidActionError, match="ragged"):
        env.step({a: [[0, 0, 0], [0, 0]]})
    with pytest.raises(InvalidActionError, match="ragged"):
        env.unwrapped.step_array([[[0, 0, 0], [0, 0]]] * len(env.agents))
    acts = np.zeros((len(env.agents), 2, 3), dtype=np.int64)
    env.unwrapped.step_array(acts)  # still usable


def test_progress_on_a_vanished_terminal_does_not_fail_the_run() -> None:
    from marketenv.progress import Progress

    class Gone:
        def isatty(self) -> bool:
            return True

        def write(self, text: str) -> int:
            raise OSError(5, "Input/output error")

        def flush(self) -> None:
            raise OSError(5, "Input/output error")

    prog = Progress(10, stream=Gone(), interval=0.0)  # type: ignore[arg-type]
    prog.update(5)
    assert prog.enabled is False
    prog.update(10)
    prog.close()


# ---------------------------------------------------------------- 12. Ctrl-C while the command starts
@pytest.mark.parametrize("delay", [0.02, 0.1, 0.3, 0.8])
def test_ctrl_c_at_any_moment_of_start_up_is_one_line_and_130(delay: float) -> None:
    """Once Python runs (the child says "ready" before it imports anything of ours), a
    Ctrl-C while the package imports is answered by the start-up handler, and a later one
    by the command's own handling. Either way: exit 130, one line, no traceback. (A signal
    inside the interpreter's own initialisation, before any Python code runs, cannot be
    handled by a Python program.)"""
    import signal as _signal
    import subprocess as _sp
    import sys as _sys
    import time as _time

    child = (
        "import sys, runpy; sys.stderr.write('ready\\n'); sys.stderr.flush(); "
        "sys.argv = ['marketenv', '--headless', '--ticks', '100000000', '--quiet']; "
        "runpy.run_module('marketenv', run_name='__main__', alter_sys=True)"
    )
    proc = _sp.Popen([_sys.executable, "-c", child], stdout=_sp.PIPE, stderr=_sp.PIPE, text=True)
    assert proc.stderr is not None
    assert proc.stderr.readline() == "ready\n"
    _time.sleep(delay)
    proc.send_signal(_signal.SIGINT)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, (proc.returncode, err)
    assert "Traceback" not in err and "KeyboardInterrupt" not in err, err
    assert err.count("\n") <= 1 and "interrupted" in err + out, (out, err)


def test_importing_the_library_leaves_sigint_alone() -> None:
    import subprocess as _sp
    import sys as _sys

    code = "import signal, marketenv; print(signal.getsignal(signal.SIGINT) is signal.default_int_handler)"
    r = _sp.run([_sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert r.stdout.strip() == "True", r.stderr
