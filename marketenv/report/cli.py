"""``marketenv report``: the realism report of a recording or of a fresh run."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import NoReturn

from marketenv.cli import int_in_range
from marketenv.errors import MarketEnvError
from marketenv.report.collect import DEFAULT_TICKS


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        self.exit(2, f"marketenv report: error: {message} (see marketenv report --help)\n")


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(
        prog="marketenv report",
        description="Measure the stylized facts of a recording (interval 1) or of a fresh "
        "simulation, and write DIR/report.html, DIR/facts.json and PNG plots.",
    )
    p.add_argument("recording", nargs="?", default=None, help="a Parquet recording with interval 1")
    p.add_argument("--config", default=None, help="run a fresh simulation of this scenario TOML")
    p.add_argument("--ticks", type=int_in_range(1, 10**9), default=DEFAULT_TICKS,
                   help=f"ticks of a fresh run (default {DEFAULT_TICKS}; shorter runs give noisy facts)")
    p.add_argument("--seed", type=int_in_range(0, 2**63 - 1), default=None, help="root seed of a fresh run (default: the config's)")
    p.add_argument("--out", default="report", help="output folder (default: report/)")
    p.add_argument("--no-boosted", action="store_true", help="skip the gradient-boosted predictability fact")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``marketenv report``; returns the exit status (0 all facts pass, 1 some fail)."""
    args = build_parser().parse_args(argv)
    from marketenv.config import load_config
    from marketenv.report import report

    if args.recording is not None and args.config is not None:
        print("marketenv report: error: give a recording or --config, not both", file=sys.stderr)
        return 2
    try:
        cfg = None if args.recording is not None else load_config(args.config)
        summary = report(
            args.recording, config=cfg, ticks=args.ticks, seed=args.seed, out=args.out,
            boosted=not args.no_boosted,
        )
    except MarketEnvError as e:
        print(f"marketenv report: error: {e}", file=sys.stderr)
        return 2
    except OSError as e:
        print(f"marketenv report: error: {e.strerror or e}: {e.filename or ''}".rstrip(": "), file=sys.stderr)
        return 2
    print(summary.table())
    print(f"wrote {args.out}/report.html, facts.json and {5} plots")
    return 0 if summary.passed else 1
