"""Plots, ``facts.json`` and ``report.html`` of a realism summary.

Plots need matplotlib (the ``[report]`` extra); it is imported only here, with the
non-interactive Agg backend, so nothing opens a window.
"""

from __future__ import annotations

import html
import json
import math
from pathlib import Path

import numpy as np

from marketenv.errors import MarketEnvError
from marketenv.report import facts as F
from marketenv.report.collect import MarketSeries
from marketenv.report.summary import RealismSummary

PLOTS = {
    "price_vs_fair.png": "Mid price and fair value",
    "returns.png": "Return distributions against a normal (log scale)",
    "acf.png": "Autocorrelation of 60-tick returns and of their absolute values",
    "spread_volume.png": "Spread and 60-tick volume",
    "pnl_by_type.png": "Final P&L by agent type",
}


class ReportDependencyError(MarketEnvError):
    """A plotting dependency is missing."""


def _pyplot():  # noqa: ANN202 - matplotlib is optional
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise ReportDependencyError(
            "the report's plots need matplotlib; install it with: pip install 'marketenv[report]'"
        ) from None
    return plt


def _price(plt, series: MarketSeries, path: Path) -> None:  # noqa: ANN001
    n = len(series.symbols)
    fig, axes = plt.subplots(n, 1, figsize=(10, 2.8 * n), squeeze=False)
    t = np.arange(series.ticks) / 3600.0
    for ax, s in zip(axes[:, 0], range(n), strict=True):
        ax.plot(t, series.mid[s], lw=0.6, label="mid")
        ax.plot(t, series.fair[s], lw=0.6, label="fair value", alpha=0.8)
        ax.set_title(series.symbols[s])
        ax.set_xlabel("hours (1 tick = 1 s)")
        ax.legend(loc="upper left")
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def _returns(plt, series: MarketSeries, path: Path) -> None:  # noqa: ANN001
    lm = np.log(series.mid[0])
    fig, ax = plt.subplots(figsize=(7, 4.5))
    grid = np.linspace(-8, 8, 400)
    for q in (1, 60, 600):
        r = np.diff(lm[::q])
        r = r[r != 0] if q == 1 else r
        if r.size < 20 or r.std() == 0:
            continue
        z = (r - r.mean()) / r.std()
        hist, edges = np.histogram(z, bins=80, range=(-8, 8), density=True)
        centres = (edges[:-1] + edges[1:]) / 2
        ok = hist > 0
        ax.semilogy(centres[ok], hist[ok], ".-", lw=0.8, ms=3,
                    label=f"{q}-tick (kurtosis {F.excess_kurtosis(r):.1f})" + (", nonzero" if q == 1 else ""))
    ax.semilogy(grid, np.exp(-grid**2 / 2) / math.sqrt(2 * math.pi), "k--", lw=1, label="normal")
    ax.set_ylim(1e-5, 1)
    ax.set_xlabel("standardised log return")
    ax.set_ylabel("density")
    ax.set_title(f"{series.symbols[0]}: return distributions")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def _acf(plt, series: MarketSeries, path: Path) -> None:  # noqa: ANN001
    r = F.r60(series.mid[0])
    lags = np.arange(1, 61)
    fig, ax = plt.subplots(figsize=(7, 4))
    ax.plot(lags, F.acf(r, lags), "o-", ms=3, label="r60")
    ax.plot(lags, F.acf(np.abs(r), lags), "s-", ms=3, label="|r60|")
    band = 2 / math.sqrt(max(r.size, 1))
    ax.axhspan(-band, band, color="grey", alpha=0.2, label="±2/√n")
    ax.axhline(0, color="k", lw=0.5)
    ax.set_xlabel("lag (minutes)")
    ax.set_ylabel("autocorrelation")
    ax.set_title(f"{series.symbols[0]}: ACF")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def _spread_volume(plt, series: MarketSeries, path: Path) -> None:  # noqa: ANN001
    fig, (a, b) = plt.subplots(1, 2, figsize=(10, 3.8))
    sp = series.spread[0]
    top = int(max(5, np.percentile(sp, 99.5)))
    a.hist(sp, bins=np.arange(0.5, top + 1.5), density=True)
    a.set_xlabel("spread (ticks)")
    a.set_title("spread at the start of each tick")
    v = F.bars(series.volume[0])
    b.hist(v, bins=60, density=True)
    b.set_yscale("log")
    b.set_xlabel("shares per 60 ticks")
    b.set_title("60-tick volume")
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def _pnl(plt, series: MarketSeries, path: Path) -> None:  # noqa: ANN001
    fig, ax = plt.subplots(figsize=(8, 4))
    names = sorted(series.pnl_by_type)
    if names:
        ax.boxplot([series.pnl_by_type[n] for n in names], showmeans=True)
        ax.set_xticks(range(1, len(names) + 1), names, rotation=30, ha="right")
        ax.axhline(0, color="k", lw=0.5)
    else:
        ax.text(0.5, 0.5, "no P&L in this source", ha="center", va="center", transform=ax.transAxes)
    ax.set_ylabel("final P&L (currency units)")
    ax.set_title("P&L by agent type")
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def write_report(series: MarketSeries, summary: RealismSummary, out: str | Path) -> Path:
    """Write ``report.html``, ``facts.json`` and the PNG plots into ``out``; return the HTML path.

    Raises:
        ReportDependencyError: matplotlib is not installed.
    """
    plt = _pyplot()
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "facts.json").write_text(json.dumps(summary.to_dict(), indent=2) + "\n", encoding="utf-8")
    for fn, (name, _title) in zip(
        (_price, _returns, _acf, _spread_volume, _pnl), PLOTS.items(), strict=True
    ):
        fn(plt, series, out / name)
    rows = []
    for scope, f in summary.all_facts():
        value = "n/a" if not math.isfinite(f.value) else f"{f.value:.3g}"
        verdict = "" if f.target() == "any" else ("pass" if f.passed else "FAIL")
        cls = "" if not verdict else ("ok" if f.passed else "bad")
        rows.append(
            f"<tr class='{cls}'><td>{html.escape(scope)}</td><td>{html.escape(f.name)}</td><td>{value}</td>"
            f"<td>{html.escape(f.target())}</td><td>{verdict}</td><td>{html.escape(f.reference)}</td></tr>"
        )
    images = "\n".join(f"<h2>{html.escape(t)}</h2><img src='{n}' alt='{html.escape(t)}'>" for n, t in PLOTS.items())
    page = f"""<!doctype html><html><head><meta charset="utf-8"><title>marketenv realism report</title>
<style>body{{font-family:sans-serif;max-width:1000px;margin:2em auto}}td,th{{padding:2px 8px;border-bottom:1px solid #ddd}}
tr.ok td:nth-child(5){{color:green}}tr.bad td:nth-child(5){{color:#b00;font-weight:bold}}img{{max-width:100%}}</style></head>
<body><h1>Realism report</h1><p>{html.escape(summary.source)}: {summary.ticks:,} ticks (1 tick = 1 s).
{"All facts pass." if summary.passed else "Some facts fail."}</p>
<table><tr><th>symbol</th><th>fact</th><th>value</th><th>target</th><th></th><th>real markets</th></tr>
{"".join(rows)}</table>
{images}
</body></html>
"""
    path = out / "report.html"
    path.write_text(page, encoding="utf-8")
    return path
