#!/usr/bin/env python3
"""Closed loop: record a market, train a forest on it, let it trade, compare its P&L.

1. **Record** the default market (``configs/default.toml``) on the training seeds A with
   marketenv's recorder (what ``marketenv --headless-record`` runs).
2. **Train** a random forest with ``marketenv train`` (:func:`agents.training.main`): the
   sign of the mid-price move over the next 10 ticks (moves under 1 bp are "hold") from
   the market features, one row per tick (``NoiseTrader_00``'s rows: the market features
   are the same for every agent of the symbol). ``--split file`` holds the last training
   seed out, so the reported test accuracy is on a run the forest never saw.
3. **Export** and **load**: the trainer writes the JSON model; it is loaded back the way
   the market loads it and checked against the market's feature vector.
4. **Trade** on the evaluation seeds B (never used for training, checked): the market of
   ``configs/tree_agents.toml`` (the default crowd plus 10 tree agents), its tree agents
   driven by the new model.
5. **Compare** every agent's final ``total_pnl`` (equity minus initial equity, currency
   units) per agent type over all evaluation runs: mean, median, spread, share of
   winners; print the table and save a box plot (and the table as CSV) to
   ``examples/out/``.

Run from the repository root (default settings take one to two minutes on one core)::

    .venv/bin/python examples/closed_loop.py
    .venv/bin/python examples/closed_loop.py --train-seeds 1 2 3 4 --eval-seeds 11 12 \\
        --eval-ticks 20000 --trees 100 --depth 10
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import dataclasses
import io
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # running from a checkout without `pip install -e .`
    sys.path.insert(0, str(ROOT))

from agents.models import load_model  # noqa: E402
from agents.training import main as train_main  # noqa: E402
from marketenv.config import AGENT_TYPES, Config, load_config  # noqa: E402
from marketenv.feature_spec import FEATURE_NAMES  # noqa: E402
from marketenv.simulation import Simulation  # noqa: E402
from recorders.run import run_recording  # noqa: E402

TYPE_ORDER = ("tree_agent", *(t for t in AGENT_TYPES if t != "tree_agent"))
"""Agent types in table order: the model-driven agents first."""


def build_parser() -> argparse.ArgumentParser:
    """The command-line parser."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--train-seeds", type=int, nargs="+", default=[101, 102, 103])
    p.add_argument("--eval-seeds", type=int, nargs="+", default=[201, 202, 203, 204, 205, 206, 207, 208])
    p.add_argument("--train-ticks", type=int, default=10_000)
    p.add_argument("--eval-ticks", type=int, default=10_000)
    p.add_argument("--trees", type=int, default=30)
    p.add_argument("--depth", type=int, default=8)
    p.add_argument("--min-samples-leaf", type=int, default=20)
    p.add_argument("--horizon", type=int, default=10)
    p.add_argument("--dead-zone", type=float, default=1.0, help="basis points")
    p.add_argument("--market", type=Path, default=ROOT / "configs" / "tree_agents.toml",
                   help="evaluation market; its tree_agent group gets the new model")  # fmt: skip
    p.add_argument("--out", type=Path, default=ROOT / "examples" / "out")
    p.add_argument("--keep-recordings", action="store_true", help="keep them in --out")
    return p


def record(seeds: Sequence[int], ticks: int, folder: Path) -> list[Path]:
    """Record the default market once per seed."""
    base = load_config(ROOT / "configs" / "default.toml")
    paths = []
    for seed in seeds:
        path = folder / f"train_seed{seed}.parquet"
        t0 = time.perf_counter()
        with contextlib.redirect_stdout(io.StringIO()):
            run_recording(base.with_overrides(ticks=ticks, seed=seed), path, quiet=True)
        size = path.stat().st_size / 1e6
        print(f"  seed {seed}: {ticks:,} ticks -> {path.name} ({size:.0f} MB, {time.perf_counter() - t0:.1f} s)")
        paths.append(path)
    return paths


def train(recordings: Sequence[Path], model: Path, args: argparse.Namespace) -> str:
    """Run ``marketenv train``; return its report."""
    argv = [
        *map(str, recordings), "--out", str(model),
        "--label", "forward", "--horizon", str(args.horizon), "--dead-zone", str(args.dead_zone),
        "--agents", "^NoiseTrader_00$", "--exclude-agent-state",
        "--split", "file" if len(recordings) > 1 else "time",
        "--n-estimators", str(args.trees), "--max-depth", str(args.depth),
        "--min-samples-leaf", str(args.min_samples_leaf), "--seed", "0",
    ]  # fmt: skip
    report = io.StringIO()
    with contextlib.redirect_stdout(report):
        status = train_main(argv)
    if status != 0:
        raise SystemExit("training failed (see the message above)")
    return report.getvalue()


def evaluation_market(path: Path, model: Path) -> Config:
    """The market of ``path`` with its tree agents driven by ``model``."""
    cfg = load_config(path)
    groups = []
    for g in cfg.agents:
        if g.type == "tree_agent":
            g = dataclasses.replace(g, params={**g.params, "model": str(model)})
        groups.append(g)
    if not any(g.type == "tree_agent" for g in groups):
        raise SystemExit(f"{path} has no tree_agent group to drive with the model")
    cfg = dataclasses.replace(cfg, agents=tuple(groups))
    cfg.validate()
    return cfg


@dataclass(frozen=True)
class Result:
    """One agent's final P&L in one evaluation run."""

    seed: int
    agent: str
    type: str
    total_pnl: float
    pnl_pct_of_cash: float


def evaluate(cfg: Config, seeds: Sequence[int], ticks: int) -> list[Result]:
    """Run the market once per seed; one result per agent and seed."""
    rows: list[Result] = []
    for seed in seeds:
        t0 = time.perf_counter()
        sim = Simulation(cfg.with_overrides(ticks=ticks, seed=seed))
        trades = sim.run(ticks)
        pnl = sim.equity - sim.features.initial_equity
        cash0 = sim.features.initial_cash
        run = [
            Result(seed, spec.agent_name, spec.type, float(value), float(value / c0 * 100.0))
            for spec, value, c0 in zip(sim.specs, pnl, cash0, strict=True)
        ]
        rows.extend(run)
        tree = np.array([r.total_pnl for r in run if r.type == "tree_agent"])
        print(
            f"  seed {seed}: {ticks:,} ticks, {trades:,} trades, tree agents' mean P&L "
            f"{tree.mean():+,.2f} ({time.perf_counter() - t0:.1f} s)"
        )
    return rows


def summarize(rows: Sequence[Result]) -> list[dict[str, Any]]:
    """Per agent type: statistics of the final P&L over every agent and seed."""
    types = [t for t in TYPE_ORDER if any(r.type == t for r in rows)]
    types += sorted({r.type for r in rows} - set(types))
    table = []
    for t in types:
        mine = [r for r in rows if r.type == t]
        pnl = np.array([r.total_pnl for r in mine])
        pct = np.array([r.pnl_pct_of_cash for r in mine])
        seeds = sorted({r.seed for r in mine})
        per_seed = [np.mean([r.total_pnl for r in mine if r.seed == s]) for s in seeds]
        table.append(
            {
                "type": t,
                "agents_x_seeds": int(pnl.size),
                "mean": float(pnl.mean()),
                "median": float(np.median(pnl)),
                "std": float(pnl.std()),
                "min": float(pnl.min()),
                "max": float(pnl.max()),
                "winners_pct": float((pnl > 0).mean() * 100.0),
                "seeds_mean_positive": int(sum(m > 0 for m in per_seed)),
                "seeds": len(seeds),
                "mean_pct_of_cash": float(pct.mean()),
            }
        )
    return table


def format_table(table: Sequence[dict[str, Any]]) -> str:
    """The summary as fixed-width text."""
    head = (
        f"{'type':<15} {'n':>4} {'mean':>10} {'median':>10} {'std':>9} {'min':>10} {'max':>10} "
        f"{'win %':>6} {'seeds>0':>7} {'mean %cash':>10}"
    )
    lines = [head, "-" * len(head)]
    for r in table:
        lines.append(
            f"{r['type']:<15} {r['agents_x_seeds']:>4} {r['mean']:>+10,.1f} {r['median']:>+10,.1f} "
            f"{r['std']:>9,.1f} {r['min']:>+10,.1f} {r['max']:>+10,.1f} {r['winners_pct']:>6.1f} "
            f"{r['seeds_mean_positive']:>3}/{r['seeds']:<3} {r['mean_pct_of_cash']:>+10.3f}"
        )
    return "\n".join(lines)


def plot(rows: Sequence[Result], table: Sequence[dict[str, Any]], path: Path, title: str) -> None:
    """Box plot of the final P&L per type, one dot per agent and seed."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    types = [str(r["type"]) for r in table]
    data = [np.array([r.total_pnl for r in rows if r.type == t]) for t in types]
    fig, ax = plt.subplots(figsize=(10, 5.5))
    major, minor = (int(v) for v in matplotlib.__version__.split(".")[:2])
    horizontal = {"orientation": "horizontal"} if (major, minor) >= (3, 10) else {"vert": False}
    ax.boxplot(data, showfliers=False, widths=0.6, **horizontal)
    jitter = np.random.default_rng(0)  # only spreads the dots vertically
    for i, values in enumerate(data, start=1):
        y = i + jitter.uniform(-0.18, 0.18, size=values.size)
        color = "tab:red" if types[i - 1] == "tree_agent" else "tab:blue"
        ax.scatter(values, y, s=8, alpha=0.45, color=color)
        ax.scatter([values.mean()], [i], marker="D", s=40, color="black", zorder=3)
    ax.set_yticks(range(1, len(types) + 1), types)
    ax.axvline(0.0, color="grey", lw=0.8)
    ax.set_xlabel("final total_pnl per agent and seed (currency units; diamond = mean)")
    ax.set_title(title)
    ax.invert_yaxis()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the loop; return 0.

    Args:
        argv: Command-line arguments (default ``sys.argv[1:]``).
    """
    args = build_parser().parse_args(argv)
    overlap = sorted(set(args.train_seeds) & set(args.eval_seeds))
    if overlap:
        raise SystemExit(f"evaluation seeds {overlap} are also training seeds: pick unseen ones")
    args.out.mkdir(parents=True, exist_ok=True)
    model_path = args.out / "closed_loop_model.json"
    t_start = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        folder = args.out if args.keep_recordings else Path(tmp)
        print(f"1. record the default market on training seeds {args.train_seeds}")
        recordings = record(args.train_seeds, args.train_ticks, folder)
        print("2. train (marketenv train) and export the model")
        report = train(recordings, model_path, args)
        print("   " + "\n   ".join(report.strip().splitlines()))
    print("3. load the model as the market does")
    model = load_model(model_path, expected_features=FEATURE_NAMES)
    scores = model.training["scores"]
    print(f"   {model!r}, {model_path.stat().st_size / 1e6:.2f} MB")
    cfg = evaluation_market(args.market, model_path)
    trees = next(g for g in cfg.agents if g.type == "tree_agent")
    print(
        f"4. trade: {args.market.name} ({cfg.n_agents} agents, {trees.count} tree agents) on unseen "
        f"seeds {args.eval_seeds}"
    )
    rows = evaluate(cfg, args.eval_seeds, args.eval_ticks)
    table = summarize(rows)
    print(
        f"5. final total_pnl per agent type over {len(args.eval_seeds)} seeds x "
        f"{args.eval_ticks:,} ticks (n = agents x seeds)"
    )
    print(format_table(table))
    print(
        f"model: {len(model.trees)} trees, depth <= {max(model.depths)}; held-out test accuracy "
        f"{scores['test_accuracy']:.3f} vs majority baseline {scores['baseline_test_accuracy']:.3f}"
    )
    csv_path = args.out / "closed_loop_pnl.csv"
    with csv_path.open("w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(table[0]))
        writer.writeheader()
        writer.writerows(table)
    png = args.out / "closed_loop_pnl.png"
    title = (
        f"Final P&L by agent type: {len(args.eval_seeds)} unseen seeds x {args.eval_ticks:,} ticks "
        f"(model trained on seeds {', '.join(map(str, args.train_seeds))})"
    )
    plot(rows, table, png, title)
    print(f"wrote {png}, {csv_path} and {model_path} ({time.perf_counter() - t_start:.0f} s in all)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
