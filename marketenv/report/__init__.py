"""The realism report: stylized facts of a run, plots and an HTML page (``marketenv report``).

From Python::

    from marketenv.report import report
    summary = report(config=load_config("configs/default.toml"), ticks=DEFAULT_TICKS, out="report/")
    print(summary.table())

``report(recording="data/training.parquet", out="report/")`` measures an existing
recording instead (it needs interval 1). Definitions of every fact: ``docs/realism.md``.
"""

from __future__ import annotations

from pathlib import Path

from marketenv.report.collect import (
    DEFAULT_TICKS,
    MarketSeries,
    ReportInputError,
    from_recording,
    simulate,
)
from marketenv.report.summary import RealismSummary, measure

__all__ = ["DEFAULT_TICKS", "MarketSeries", "RealismSummary", "ReportInputError", "from_recording", "measure", "report",
           "simulate"]


def report(
    recording: str | Path | None = None,
    *,
    config: object | None = None,
    ticks: int = DEFAULT_TICKS,
    seed: int | None = None,
    out: str | Path | None = None,
    boosted: bool = True,
) -> RealismSummary:
    """Measure a recording or a fresh run and (if ``out`` is given) write the report there.

    Args:
        recording: A Parquet recording with interval 1; if ``None``, a fresh simulation.
        config: The scenario of a fresh simulation (the default config if ``None``).
        ticks: Ticks of a fresh simulation, after a 100-tick warm-up.
        seed: Root seed of a fresh simulation (the config's if ``None``).
        out: Folder for ``report.html``, ``facts.json`` and the plots; nothing is written if ``None``.
        boosted: Include the gradient-boosted no-free-lunch fact (needs scikit-learn).

    Raises:
        ReportInputError: the recording cannot be measured.
    """
    if recording is not None:
        series = from_recording(recording)
    else:
        from marketenv.config import default_config

        series = simulate(config if config is not None else default_config(), ticks, seed=seed)
    summary = measure(series, boosted=boosted)
    if out is not None:
        from marketenv.report.render import write_report

        write_report(series, summary, out)
    return summary
