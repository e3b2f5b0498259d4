"""Benchmark of tree-model inference (:mod:`agents.models`); prints figures, asserts nothing.

Fits a scikit-learn random forest (default: 100 trees, max depth 10, 45 features) on
seeded synthetic data, exports it to JSON, loads it back, and times the compiled
``predict_proba`` for the per-tick batch of 50 agents (all rows distinct), for 50 equal
rows (what the agents of one symbol pass a model that ignores their own state: walked
once), for a single row, and for a batch whose rows carry warm-up NaN, next to
scikit-learn's own ``predict_proba`` on the same rows::

    .venv/bin/python bench/bench_models.py [--trees 100] [--depth 10] [--batch 50]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from agents.models import export_sklearn, load_model
from marketenv.feature_spec import FEATURE_NAMES


def per_call_us(fn: Callable[[], object], calls: int, rounds: int) -> tuple[float, float]:
    """Return (best, median) microseconds per call over ``rounds`` rounds of ``calls`` calls."""
    fn()  # warm up caches
    samples = []
    for _ in range(rounds):
        start = time.perf_counter_ns()
        for _ in range(calls):
            fn()
        samples.append((time.perf_counter_ns() - start) / calls / 1e3)
    return min(samples), statistics.median(samples)


def make_data(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Noisy three-class data on 45 features, so the trees grow to full depth."""
    x = rng.normal(size=(n, len(FEATURE_NAMES)))
    score = x[:, 4] + 0.8 * x[:, 7] * x[:, 9] - 0.5 * x[:, 30] + rng.normal(size=n)
    return x, np.digitize(score, [-0.5, 0.5]) - 1


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark and print the figures.

    Args:
        argv: Command-line arguments (default ``sys.argv[1:]``).

    Returns:
        0.
    """
    from sklearn.ensemble import RandomForestClassifier

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--trees", type=int, default=100)
    p.add_argument("--depth", type=int, default=10)
    p.add_argument("--batch", type=int, default=50, help="rows per call (agents per tick)")
    p.add_argument("--train-rows", type=int, default=20_000)
    p.add_argument("--calls", type=int, default=200, help="calls per timing round")
    p.add_argument("--rounds", type=int, default=15)
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)

    rng = np.random.default_rng(args.seed)
    x, y = make_data(rng, args.train_rows)
    t0 = time.perf_counter()
    rf = RandomForestClassifier(
        n_estimators=args.trees, max_depth=args.depth, random_state=args.seed, n_jobs=-1
    ).fit(x, y)
    rf.n_jobs = None
    fit_s = time.perf_counter() - t0

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "rf.json"
        t0 = time.perf_counter()
        from agents.models import RandomForest

        RandomForest.from_dict(export_sklearn(rf, FEATURE_NAMES, {"bench": True})).save(path)
        export_s = time.perf_counter() - t0
        size_mb = path.stat().st_size / 1e6
        t0 = time.perf_counter()
        model = load_model(path, expected_features=FEATURE_NAMES)
        load_s = time.perf_counter() - t0

    batch, _ = make_data(rng, args.batch)
    row = batch[:1].copy()
    same = np.repeat(row, args.batch, axis=0)
    warm = batch.copy()
    warm[: max(1, args.batch // 10), :20] = np.nan  # agents still in their warm-up
    parity = max(
        float(np.abs(model.predict_proba(b) - rf.predict_proba(b)).max())
        for b in (batch, row, warm, same)
    )

    nodes = sum(t.n_nodes for t in model.trees)
    print(
        f"forest: {len(model.trees)} trees, max depth {max(model.depths)}, {nodes:,} nodes, "
        f"{model.n_features} features (fit {fit_s:.1f} s on {args.train_rows:,} rows)"
    )
    print(
        f"model file: {size_mb:.2f} MB JSON; export+save {export_s * 1e3:.0f} ms, load {load_s * 1e3:.0f} ms"
    )
    print(f"parity with scikit-learn: max |diff| = {parity:.3g}")
    print(f"{'predict_proba':<36} {'best us':>9} {'median us':>10}")
    cases = [
        (f"marketenv, {args.batch} rows", lambda: model.predict_proba(batch)),
        (f"marketenv, {args.batch} equal rows", lambda: model.predict_proba(same)),
        ("marketenv, 1 row", lambda: model.predict_proba(row)),
        (f"marketenv, {args.batch} rows with warm-up NaN", lambda: model.predict_proba(warm)),
        (f"scikit-learn, {args.batch} rows", lambda: rf.predict_proba(batch)),
        ("scikit-learn, 1 row", lambda: rf.predict_proba(row)),
    ]
    for name, fn in cases:
        slow = name.startswith("scikit")
        best, median = per_call_us(fn, max(1, args.calls // (10 if slow else 1)), args.rounds)
        print(f"{name:<36} {best:>9.1f} {median:>10.1f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
