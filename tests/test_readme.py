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
    block = next(b for b in readme_python_blocks() if "parallel_env()" in b)
    block = block.replace("parallel_env()", "parallel_env(max_cycles=50)")
    ns: dict = {}
    exec(compile(block, "README.md", "exec"), ns)
    assert ns["env"].agents == []
