"""The layout runs one way: config -> core -> policies/envs -> recorders; the CLI composes.

``marketenv/`` (the core) imports neither ``agents/`` nor ``recorders/``, except its CLI
modules (the composition root); strategies are found through ``marketenv.registry`` by
path. Checked twice: by importing every core module in a fresh interpreter, and by
reading every import statement (lazy ones inside functions included) of the source.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CLI_MODULES = {"marketenv.cli", "marketenv.__main__", "marketenv.report.cli"}
"""The composition root: the only core modules allowed to import agents/ and recorders/."""


def modules_of(package: str) -> dict[str, Path]:
    """Every module of a top-level package by dotted name."""
    out = {}
    for path in sorted((ROOT / package).rglob("*.py")):
        parts = list(path.relative_to(ROOT).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        out[".".join(parts)] = path
    return out


def imported_modules(name: str, path: Path, known: set[str]) -> set[str]:
    """The project modules ``name`` imports anywhere in its source (lazy imports included).

    Imports for type checking only are left out: they never run.
    """
    tree = ast.parse(path.read_text(encoding="utf-8"))
    is_package = path.name == "__init__.py"
    typing_only = {  # imports under "if TYPE_CHECKING:" never run
        id(n)
        for block in ast.walk(tree)
        if isinstance(block, ast.If) and "TYPE_CHECKING" in ast.unparse(block.test)
        for stmt in block.body
        for n in ast.walk(stmt)
    }
    found: set[str] = set()
    for node in ast.walk(tree):
        if id(node) in typing_only:
            continue
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = name.split(".")
                base = base if is_package else base[:-1]
                base = base[: len(base) - (node.level - 1)]
                mod = ".".join([*base, node.module] if node.module else base)
            else:
                mod = node.module or ""
            # "from pkg import sub" imports the submodule pkg.sub
            targets = [f"{mod}.{a.name}" if f"{mod}.{a.name}" in known else mod for a in node.names]
        else:
            continue
        for t in targets:
            while t and t not in known:  # "import a.b.c" of a package: its nearest module
                t = t.rpartition(".")[0]
            if t and t != name:
                found.add(t)
    return found


def import_graph(packages: tuple[str, ...]) -> dict[str, set[str]]:
    mods: dict[str, Path] = {}
    for p in packages:
        mods.update(modules_of(p))
    known = set(mods)
    return {m: imported_modules(m, path, known) for m, path in mods.items()}


def test_importing_every_core_module_loads_no_strategy_and_no_recorder() -> None:
    core = sorted(set(modules_of("marketenv")) - CLI_MODULES)
    assert "marketenv.simulation" in core and "marketenv.registry" in core
    code = (
        "import importlib, sys\n"
        f"for m in {core!r}:\n"
        "    importlib.import_module(m)\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('agents', 'recorders'))\n"
        "print(','.join(bad))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "", f"importing the core loaded {done.stdout.strip()}"


def test_no_core_module_imports_agents_or_recorders_even_lazily() -> None:
    graph = import_graph(("marketenv", "agents", "recorders"))
    upward = {
        (m, t)
        for m, targets in graph.items()
        if m.startswith("marketenv") and m not in CLI_MODULES
        for t in targets
        if t.split(".")[0] in ("agents", "recorders")
    }
    assert upward == set()


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle of ``graph`` (a list of modules, first == last), or ``None``."""
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(m: str) -> list[str] | None:
        state[m] = 1
        stack.append(m)
        for t in sorted(graph.get(m, ())):
            if state.get(t) == 1:
                return [*stack[stack.index(t) :], t]
            if t not in state and (c := visit(t)) is not None:
                return c
        stack.pop()
        state[m] = 2
        return None

    for m in sorted(graph):
        if m not in state and (c := visit(m)) is not None:
            return c
    return None


def test_find_cycle_finds_a_cycle_and_only_a_real_one() -> None:
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": set()}) is None
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]


@pytest.mark.parametrize("packages", [("marketenv",), ("marketenv", "agents")])
def test_core_and_strategies_have_no_import_cycle(packages: tuple[str, ...]) -> None:
    graph = {m: t for m, t in import_graph(packages).items() if m not in CLI_MODULES}
    # The package __init__ re-exports the public API, so every submodule "imports" it at
    # run time; as a graph node it only fans out.
    graph = {m: {t for t in ts if t not in packages} for m, ts in graph.items()}
    assert find_cycle(graph) is None, " -> ".join(find_cycle(graph) or [])


def test_registry_entries_match_the_strategy_classes_they_name() -> None:
    from marketenv import registry

    for name in registry.BUILTIN_STRATEGIES:
        entry = registry.strategy_entry(name)
        cls = registry.load_entry_point(entry.entry_point)
        assert cls.name == name and cls.label == entry.label and cls.Params is entry.params


def test_a_plugin_strategy_is_validated_and_built_by_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import dataclasses

    from marketenv import registry
    from marketenv.config import AgentGroupConfig, default_config
    from marketenv.errors import ConfigError
    from marketenv.simulation import Simulation

    (tmp_path / "plugin_params.py").write_text(
        "from dataclasses import dataclass\n"
        "from marketenv.validation import require_in\n"
        "@dataclass(frozen=True)\n"
        "class HoldParams:\n"
        "    patience: float = 0.5\n"
        "    def validate(self, where):\n"
        "        require_in(self.patience, 0, 1, f'{where}.patience')\n"
    )
    (tmp_path / "plugin_strategy.py").write_text(
        "import numpy as np\n"
        "from agents.base import Strategy\n"
        "class Hold(Strategy):\n"
        "    name = 'holder'\n"
        "    label = 'Holder'\n"
        "    def decide(self, obs, u):\n"
        "        return np.zeros((obs.shape[0], 2, 3), dtype=np.int64)\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(registry, "_ENTRIES", dict(registry._ENTRIES))  # undone after the test
    registry.register_strategy("holder", "plugin_strategy:Hold", params="plugin_params:HoldParams", label="Holder")
    with pytest.raises(ConfigError, match="already registered"):
        registry.register_strategy("holder", "plugin_strategy:Hold", params="plugin_params:HoldParams")
    base = default_config()
    bad = AgentGroupConfig(type="holder", count=2, params={"patience": 2.0})
    with pytest.raises(ConfigError, match=r"agents\[7\]\.params\.patience must be in \[0, 1\]"):
        dataclasses.replace(base, agents=(*base.agents, bad)).validate()
    cfg = dataclasses.replace(base, agents=(*base.agents, AgentGroupConfig(type="holder", count=2)))
    cfg.validate()
    sim = Simulation(cfg, seed=1)
    held = [s.agent_id for s in sim.specs if s.type == "holder"]
    assert [sim.specs[i].agent_name for i in held] == ["Holder_00", "Holder_01"]
    trades = [t for _ in range(50) for t in sim.step().trades]
    assert trades and not any(t.buyer in held or t.seller in held for t in trades)
