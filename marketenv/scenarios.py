"""The shipped scenarios: configs that load by name (``quick``, ``standard``, ...).

They live in the checkout's top-level ``configs/`` folder, the one source of truth; the
wheel ships that folder as the package data ``marketenv/configs/`` (see
``[tool.setuptools.package-dir]`` in ``pyproject.toml``). :func:`configs_dir` finds
whichever is present, so a name resolves the same in a checkout and in an installed wheel.
"""

from __future__ import annotations

import tomllib
from pathlib import Path

from marketenv.errors import ConfigError

_PACKAGE = Path(__file__).resolve().parent


def configs_dir() -> Path:
    """The folder of the shipped configs (package data in a wheel, ``configs/`` in a checkout)."""
    for d in (_PACKAGE / "configs", _PACKAGE.parent / "configs"):
        if d.is_dir() and any(d.glob("*.toml")):
            return d
    raise ConfigError(
        f"no shipped configs found next to {_PACKAGE}; reinstall marketenv or pass a .toml path"
    )


def shipped_configs() -> dict[str, Path]:
    """Scenario name -> TOML file of every shipped config, sorted by name."""
    return {p.stem: p for p in sorted(configs_dir().glob("*.toml"))}


def describe(path: Path) -> str:
    """One line about a config file: its leading comment's first sentence, else its size."""
    text = path.read_text(encoding="utf-8")
    words: list[str] = []
    for line in text.splitlines():
        line = line.strip()
        if not line.startswith("#"):
            break
        words.append(line.lstrip("#").strip())
        if words[-1].endswith((".", ":")):
            break
    if words:
        return " ".join(words)
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError:
        return "(not valid TOML)"
    ticks = data.get("simulation", {}).get("ticks", "?")
    agents = sum(int(g.get("count", 0)) for g in data.get("agents", []) if isinstance(g, dict))
    return f"{ticks} ticks, {agents} agents"


def resolve_config(name_or_path: str | Path) -> Path:
    """The file of a config given as a path or as a shipped scenario name.

    An existing file, or anything that looks like a path (a ``.toml`` suffix or a folder
    separator), is returned as is; a bare name is looked up among :func:`shipped_configs`.

    Raises:
        ConfigError: a bare name that is not a shipped scenario.
    """
    p = Path(name_or_path)
    text = str(name_or_path)
    if p.exists() or p.suffix or "/" in text or "\\" in text:
        return p
    shipped = shipped_configs()
    if text in shipped:
        return shipped[text]
    raise ConfigError(
        f"no shipped config named {text!r}; use one of {', '.join(shipped)} or the path of a .toml file"
    )
