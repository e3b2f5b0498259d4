"""The results of the checks and the printed checklist."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from marketenv.outputs import brief
from recorders.schema import KEY_RECORDING, KEY_SCHEMA_VERSION

__all__ = ["CHECKS", "MAX_PROBLEMS_SHOWN", "CheckReport", "CheckResult"]

CHECKS: tuple[tuple[str, str], ...] = (
    ("schema", "Schema correctness"),
    ("warmup", "No data before warm-up"),
    ("interval", "Interval respected"),
    ("feature_ranges", "Feature ranges"),
    ("action_encoding", "Action encoding"),
    ("reward", "Reward reconciliation"),
    ("temporal", "next_* / f_* temporal consistency"),
    ("nan_policy", "NaN policy"),
    ("fills", "Exact fills and cash identity"),
)
"""Check name and title, in report order."""

_TITLES = dict(CHECKS)
MAX_PROBLEMS_SHOWN = 4
"""Problems listed per failed check; the rest are counted."""

@dataclass(frozen=True)
class CheckResult:
    """The outcome of one check.

    Attributes:
        name: Check name (one of :data:`CHECKS`), e.g. ``"reward"``.
        passed: Whether nothing contradicted the check.
        detail: One line: what was verified, or each problem with its row count and
            first offending tick and agent.
        skipped: The check could not run (a column or metadata entry it needs is
            missing) or does not apply (``temporal`` with ``interval > 1``).
    """

    name: str
    passed: bool
    detail: str
    skipped: bool = False

    @property
    def title(self) -> str:
        """Human-readable title of the check."""
        return _TITLES.get(self.name, self.name)

    @property
    def status(self) -> str:
        """``"PASS"``, ``"FAIL"`` or ``"SKIP"``."""
        if self.skipped:
            return "SKIP"
        return "PASS" if self.passed else "FAIL"


@dataclass
class CheckReport:
    """Everything :func:`check_recording` found out about a recording.

    Attributes:
        path: The file checked.
        results: One :class:`CheckResult` per check, in :data:`CHECKS` order.
        rows: Number of rows.
        ticks: (first, last) tick, or ``None`` for an empty file.
        n_ticks: Number of distinct ticks.
        n_agents: Number of distinct agent ids.
        n_symbols: Number of distinct symbols.
        row_groups: Number of row groups.
        size_bytes: File size.
        metadata: The decoded ``marketenv.*`` metadata.
    """

    path: Path
    results: list[CheckResult]
    rows: int = 0
    ticks: tuple[int, int] | None = None
    n_ticks: int = 0
    n_agents: int = 0
    n_symbols: int = 0
    row_groups: int = 0
    size_bytes: int = 0
    metadata: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        """Whether every check passed (or did not apply)."""
        return all(r.passed for r in self.results)

    @property
    def failed(self) -> list[str]:
        """Names of the checks that failed (skips for lack of data included)."""
        return [r.name for r in self.results if not r.passed]

    def result(self, name: str) -> CheckResult:
        """Return the result of check ``name``.

        Raises:
            KeyError: If there is no such check.
        """
        for r in self.results:
            if r.name == name:
                return r
        raise KeyError(name)

    def format(self) -> str:
        """Return the report as a readable checklist (one PASS/FAIL/SKIP line per check)."""
        lines = [f"marketenv check: {self.path}"]
        size = _human_bytes(self.size_bytes)
        if self.ticks is not None:
            span = f"ticks {self.ticks[0]}..{self.ticks[1]} ({self.n_ticks:,} recorded)"
        else:
            span = "no ticks"
        lines.append(
            f"  {self.rows:,} rows in {_plural(self.row_groups, 'row group')}, {size}; {span},"
            f" {_plural(self.n_agents, 'agent')}, {_plural(self.n_symbols, 'symbol')}"
        )
        rec = self.metadata.get(KEY_RECORDING)
        if isinstance(rec, dict):
            flags = ", ".join(
                f"{k} {brief(rec[k])}" for k in ("warmup", "interval", "ticks") if rec.get(k) is not None
            )
            lines.append(
                f"  recording: {flags}; schema {self.metadata.get(KEY_SCHEMA_VERSION, '?')},"
                f" marketenv {self.metadata.get('marketenv.version', '?')}"
            )
        lines.append("")
        width = max(len(r.name) for r in self.results)
        for i, r in enumerate(self.results, 1):
            lines.append(f"  {r.status}  {i}. {r.name:<{width}}  {r.detail}")
        lines.append("")
        n = len(self.results)
        if self.ok:
            lines.append(f"PASS: all {n} checks passed")
        else:
            bad = self.failed
            lines.append(f"FAIL: {len(bad)} of {n} checks failed ({', '.join(bad)})")
        return "\n".join(lines)


def _human_bytes(n: int) -> str:
    size = float(n)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if size < 1024 or unit == "GiB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{n} B"  # pragma: no cover


def _plural(n: int, word: str) -> str:
    return f"{n:,} {word}{'' if n == 1 else 's'}"

