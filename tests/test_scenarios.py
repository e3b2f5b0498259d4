"""Shipped scenarios: load by name in a checkout and from a wheel installed outside it."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

from marketenv.cli import main
from marketenv.config import load_config
from marketenv.errors import ConfigError
from marketenv.scenarios import configs_dir, resolve_config, shipped_configs
from tests.conftest import CONFIGS, ROOT


def test_names_resolve_to_the_top_level_configs_in_a_checkout() -> None:
    shipped = shipped_configs()
    assert configs_dir() == CONFIGS
    assert set(shipped) == {p.stem for p in CONFIGS.glob("*.toml")}
    assert load_config("quick") == load_config(CONFIGS / "quick.toml")
    # A model path in a shipped config resolves next to the config.
    tree = load_config("tree_agents")
    model = next(g.params["model"] for g in tree.agents if "model" in g.params)
    assert Path(model).is_file()


def test_paths_are_not_names_and_unknown_names_are_one_line_errors(tmp_path: Path) -> None:
    assert resolve_config("configs/quick.toml") == Path("configs/quick.toml")
    assert resolve_config(tmp_path / "x.toml") == tmp_path / "x.toml"
    with pytest.raises(ConfigError, match=r"no shipped config named 'quik'; use one of .*quick"):
        load_config("quik")


def test_configs_command_lists_every_scenario(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["configs"]) == 0
    out = capsys.readouterr().out
    for name in shipped_configs():
        assert any(line.startswith(name + " ") for line in out.splitlines()), name
    assert "10,000 ticks x 50 agents" in out  # quick's description
    assert main(["configs", "extra"]) == 2


def test_cli_error_for_unknown_name(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--headless", "--config", "nosuch", "--quiet"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "nosuch" in err and "quick" in err


def test_wheel_ships_the_configs_and_loads_quick_by_name(tmp_path: Path) -> None:
    # Build from a copy of the sources, outside the checkout.
    src = tmp_path / "src"
    src.mkdir()
    for name in ("marketenv", "recorders", "agents", "configs"):
        shutil.copytree(ROOT / name, src / name, ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, src / name)
    wheels = tmp_path / "wheels"
    py = sys.executable
    subprocess.run(
        [py, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", "-w", str(wheels), str(src)],
        check=True,
        capture_output=True,
    )
    (whl,) = wheels.glob("marketenv-*.whl")
    names = set(zipfile.ZipFile(whl).namelist())
    for p in CONFIGS.glob("*.toml"):
        assert f"marketenv/configs/{p.name}" in names
        # One source of truth: the shipped bytes are the top-level file's.
        assert zipfile.ZipFile(whl).read(f"marketenv/configs/{p.name}") == p.read_bytes()
    assert "marketenv/configs/models/forward_rf.json" in names

    # A fresh venv with the wheel alone; the dependencies come from this interpreter's
    # site-packages through a .pth line (the checkout itself is never on the path).
    venv = tmp_path / "venv"
    subprocess.run([py, "-m", "venv", "--without-pip", str(venv)], check=True)
    vpy = venv / "bin" / "python"
    site = Path(subprocess.run(
        [str(vpy), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
        check=True, capture_output=True, text=True,
    ).stdout.strip())
    zipfile.ZipFile(whl).extractall(site)  # what pip install --no-deps does for a pure wheel
    deps = Path(sysconfig.get_path("purelib"))
    (site / "zz_deps.pth").write_text(str(deps) + "\n")
    run_dir = tmp_path / "elsewhere"
    run_dir.mkdir()
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}
    code = (
        "import marketenv, marketenv.config as c, marketenv.scenarios as s\n"
        "print(marketenv.__file__)\n"
        "print(s.configs_dir())\n"
        "cfg = c.load_config('quick').with_overrides(ticks=30)\n"
        "print(cfg.simulation.ticks, len(cfg.agents))\n"
        "t = c.load_config('tree_agents')\n"
        "import os; print(all(os.path.isfile(g.params['model']) for g in t.agents if 'model' in g.params))\n"
        "from marketenv.cli import main\n"
        "print('rc', main(['--headless', '--config', 'quick', '--ticks', '30', '--quiet']))\n"
    )
    out = subprocess.run(
        [str(vpy), "-c", code], cwd=run_dir, env=env, check=True, capture_output=True, text=True
    ).stdout.splitlines()
    assert out[0].startswith(str(site)), out
    assert out[1] == str(site / "marketenv" / "configs")
    assert out[2].startswith("30 ")
    assert out[3] == "True"
    assert out[-1] == "rc 0"
