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
