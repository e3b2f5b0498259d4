"""The README's Python consumption example runs as written on a recording."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from marketenv.cli import main

ROOT = Path(__file__).resolve().parents[1]


def readme_python_blocks() -> list[str]:
    text = (ROOT / "README.md").read_text()
    return re.findall(r"```python\n(.*?)```", text, flags=re.S)


def test_consumption_example_runs(tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    block = next(b for b in readme_python_blocks() if "training.parquet" in b)
    monkeypatch.chdir(tmp_path)
    assert main(["--headless-record", "--ticks", "400", "--quiet"]) == 0  # default output path
    capsys.readouterr()
    exec(compile(block, "README.md", "exec"), {})
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 10 and all(line.startswith("f_") for line in lines)
    assert float(lines[0].split(": ")[1]) > 0.0  # the market makers' actions are learnable


def test_parallel_env_example_runs() -> None:
    block = next(b for b in readme_python_blocks() if "parallel_env(learners=4)" in b)
    block = block.replace("parallel_env(learners=4)", "parallel_env(learners=4, max_cycles=50)")
    ns: dict = {}
    exec(compile(block, "README.md", "exec"), ns)
    assert ns["env"].agents == []


def test_python_recording_example_runs(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import pyarrow.parquet as pq

    block = next(b for b in readme_python_blocks() if "run_recording" in b)
    block = block.replace('"configs/quick.toml"', repr(str(ROOT / "configs" / "quick.toml")))
    monkeypatch.chdir(tmp_path)
    capsys.readouterr()
    exec(compile(block, "README.md", "exec"), {"__name__": "readme"})
    assert capsys.readouterr().out.strip().splitlines()[-1] == "[0, 0]"
    tables = [pq.read_table(tmp_path / "data" / f"seed{s}.parquet") for s in (1, 2)]
    for t in tables:  # 500 ticks, recorded from 100: 400 ticks x the quick scenario's 50 agents
        assert t.num_rows == 400 * 50
        assert sorted(set(t.column("tick").to_pylist())) == list(range(100, 500))
    assert not tables[0].column("f_mid_price").equals(tables[1].column("f_mid_price"))


def _block(marker: str) -> str:
    return next(b for b in readme_python_blocks() if marker in b)


def _one_thread() -> None:
    torch = pytest.importorskip("torch")
    torch.set_num_threads(1)


def test_sb3_snippet_runs() -> None:
    pytest.importorskip("stable_baselines3")
    _one_thread()
    ns: dict = {}
    exec(compile(_block('make_vec_env("marketenv/Market-v0", n_envs=4'), "README.md", "exec"), ns)
    assert ns["model"].num_timesteps >= 1024
    assert ns["vec"].observation_space.shape == (45,)


def test_supersuit_snippet_runs() -> None:
    pytest.importorskip("supersuit")
    pytest.importorskip("stable_baselines3")
    _one_thread()
    ns: dict = {}
    exec(compile(_block("pettingzoo_env_to_vec_env_v1"), "README.md", "exec"), ns)
    assert ns["vec"].num_envs == 8 and ns["model"].num_timesteps >= 1024


def test_rllib_snippet_runs() -> None:
    pytest.importorskip("ray.rllib")
    import ray

    ray.init(num_cpus=1, include_dashboard=False, log_to_driver=False, ignore_reinit_error=True)
    try:
        ns: dict = {}
        exec(compile(_block("ParallelPettingZooEnv"), "README.md", "exec"), ns)
    finally:
        ray.shutdown()


def test_recording_snippet_runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("stable_baselines3")
    minari = pytest.importorskip("minari")
    import pyarrow.parquet as pq

    _one_thread()
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MINARI_DATASETS_PATH", str(tmp_path / "minari"))
    exec(compile(_block("ppo_training.parquet"), "README.md", "exec"), {})
    one = pq.read_table(tmp_path / "episodes.parquet")
    assert one.num_rows == 600
    assert sorted(set(one.column("episode").to_pylist())) == [0, 1, 2]
    vec = pq.read_table(tmp_path / "ppo_training.parquet")
    assert vec.num_rows == 256
    assert sorted(set(vec.column("env_index").to_pylist())) == [0, 1]
    assert minari.load_dataset("marketenv/random-v0").total_episodes == 3


def test_execution_snippet_runs(capsys: pytest.CaptureFixture[str]) -> None:
    exec(compile(_block('gym.make("marketenv/Execution-v0"'), "README.md", "exec"), {})
    out = capsys.readouterr().out
    assert out.startswith("shortfall ") and "400 shares at" in out
