"""The realism table of a run: every stylized fact of every symbol, plus predictability.

:func:`measure` turns a :class:`~marketenv.report.collect.MarketSeries` into a
:class:`RealismSummary`: per symbol the price facts of :func:`~marketenv.report.facts.price_facts`
and two "no free lunch" facts (the sign of the 10-tick forward mid move predicted out of
sample from ``fair_value_deviation`` alone by a logistic regression, and from all public
market features by gradient-boosted trees, which needs scikit-learn), and for several
symbols the mean pairwise correlation of their 60-tick returns.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from marketenv.report import facts as F
from marketenv.report.collect import MARKET_FEATURES, MarketSeries

HORIZON = 10
"""Ticks ahead of the forward move the no-free-lunch facts predict."""


@dataclass
class RealismSummary:
    """Measured facts of one run.

    Attributes:
        source: Where the series came from.
        ticks: Ticks measured.
        symbols: Per symbol name, its facts in table order.
        market: Facts of the whole market (cross-symbol correlation).
    """

    source: str
    ticks: int
    symbols: dict[str, list[F.Fact]] = field(default_factory=dict)
    market: list[F.Fact] = field(default_factory=list)

    def all_facts(self) -> list[tuple[str, F.Fact]]:
        """``(scope, fact)`` pairs, symbols first."""
        out = [(name, f) for name, facts in self.symbols.items() for f in facts]
        return out + [("market", f) for f in self.market]

    @property
    def passed(self) -> bool:
        """Whether every fact with a target passes (facts without a target are ignored)."""
        return all(f.passed for _s, f in self.all_facts() if f.target() != "any")

    def to_dict(self) -> dict[str, object]:
        return {
            "source": self.source,
            "ticks": self.ticks,
            "passed": self.passed,
            "symbols": {k: [f.to_dict() for f in v] for k, v in self.symbols.items()},
            "market": [f.to_dict() for f in self.market],
        }

    def table(self) -> str:
        """A plain-text table: scope, fact, value, target, pass/fail."""
        rows = [("symbol", "fact", "value", "target", "")]
        for scope, f in self.all_facts():
            value = "n/a" if not math.isfinite(f.value) else f"{f.value:.3g}"
            verdict = "" if f.target() == "any" else ("pass" if f.passed else "FAIL")
            rows.append((scope, f.name, value, f.target(), verdict))
        widths = [max(len(r[i]) for r in rows) for i in range(5)]
        return "\n".join("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows)


def predictability_facts(series: MarketSeries, symbol: int, boosted: bool = True) -> list[F.Fact]:
    """The two no-free-lunch facts of one symbol (chronological 70/30 split with a gap)."""
    mid = series.mid[symbol]
    y = F.forward_sign(mid, HORIZON)
    y[-HORIZON:] = 0  # no forward move at the end: dropped
    train, test = F.split_train_test(len(y), gap=max(100, 10 * HORIZON))
    x = series.features[symbol]
    dev = x[:, MARKET_FEATURES.index("fair_value_deviation")]
    lr = F.logistic_accuracy(dev, y, train, test)
    facts = [
        F.Fact("nfl_logistic_deviation", "sign of 10-tick move from fair_value_deviation (logistic)", lr,
               -F.INF, 0.58, "~0.5: public information is priced"),
    ]
    if boosted:
        gb = F.boosted_accuracy(np.nan_to_num(x, nan=0.0), y, train, test)
        facts.append(F.Fact(
            "nfl_boosted_market", "sign of 10-tick move from all market features (boosted trees)", gb,
            -F.INF, 0.60, "~0.5: no free lunch", "" if math.isfinite(gb) else "needs scikit-learn",
        ))
    return facts


def measure(series: MarketSeries, boosted: bool = True) -> RealismSummary:
    """Every fact of ``series`` (see the module docstring)."""
    out = RealismSummary(series.source, series.ticks)
    for s, name in enumerate(series.symbols):
        facts = F.price_facts(series.mid[s], series.spread[s], series.volume[s], series.one_side_empty[s])
        out.symbols[name] = facts + predictability_facts(series, s, boosted)
    if len(series.symbols) > 1:
        out.market.append(F.Fact(
            "cross_corr_r60", "mean pairwise correlation of r60 between symbols",
            F.cross_correlation(list(series.mid)), 0.2, 0.8, "0.2-0.8 for stocks in one market",
        ))
    return out
