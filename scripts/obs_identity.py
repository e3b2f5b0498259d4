"""Are the observations of this checkout bit-identical to a git revision's, tick by tick?

    python scripts/obs_identity.py b0466e7 [--ticks 3000] [--config configs/standard.toml] [--seeds 1 2]

Checks the revision out into a temporary git worktree and, in one fresh process per code
base, runs the headless crowd tick by tick (``Simulation.run(1)``, the compiled loop),
stacking every tick's full ``(n_agents, 45)`` observation array, then the agents' cash and
equity and the trade count. The two must be equal bit for bit (the float64 bit patterns
compared, so NaN matches NaN and -0.0 does not match 0.0).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
CHILD = r"""
import sys
import numpy as np
sys.path.insert(0, sys.argv[1])
from marketenv.config import load_config
from marketenv.simulation import Simulation
ticks, cfg, seed, out = int(sys.argv[2]), sys.argv[3] or None, int(sys.argv[4]), sys.argv[5]
sim = Simulation(load_config(cfg), seed=seed)
obs = np.empty((ticks + 1,) + sim.obs.shape)
obs[0] = sim.obs
for t in range(ticks):
    sim.run(1)
    obs[t + 1] = sim.obs
m = sim.market
np.savez(out, obs=obs, cash=np.asarray(m.cash, dtype=np.float64), trades=np.int64(m.total_trades),
         equity=sim.features.equity)
"""


def run(root: Path, ticks: int, config: str, seed: int, out: Path) -> dict:
    subprocess.run(
        [sys.executable, "-c", CHILD, str(root), str(ticks), config, str(seed), str(out)],
        check=True, cwd=root, env={"PYTHONPATH": str(root), "PATH": ""},
    )
    with np.load(out) as z:
        return {k: z[k] for k in z.files}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("revision")
    p.add_argument("--ticks", type=int, default=3000)
    p.add_argument("--config", default="", help="a config file (default: the built-in default)")
    p.add_argument("--seeds", type=int, nargs="+", default=[1, 2])
    args = p.parse_args()
    bad = 0
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp) / "base"
        subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "-q", "--detach", str(base), args.revision],
                       check=True)
        try:
            for seed in args.seeds:
                old = run(base, args.ticks, args.config, seed, Path(tmp) / f"old{seed}.npz")
                new = run(ROOT, args.ticks, args.config, seed, Path(tmp) / f"new{seed}.npz")
                for key in old:
                    a, b = old[key], new[key]
                    same = a.shape == b.shape and a.dtype == b.dtype and bool(
                        np.array_equal(a.view(np.uint64), b.view(np.uint64)) if a.dtype == np.float64
                        else np.array_equal(a, b))
                    bad += not same
                    print(f"seed {seed} {key:<7} {old[key].shape}  {'same' if same else 'DIFFERENT'}")
        finally:
            subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(base)], check=False)
    sys.exit(1 if bad else 0)


if __name__ == "__main__":
    main()
