"""``marketenv check FILE|DIR`` (and ``python -m recorders.check``): print the checklist, exit 0/1/2."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from marketenv.errors import RecordingError
from marketenv.outputs import Summary
from recorders.check.recording import check_recording

__all__ = ["main"]


def main(argv: Sequence[str] | None = None) -> int:
    """Command line: check a recording and print the checklist.

    Args:
        argv: Arguments after the program name (default ``sys.argv[1:]``).

    Returns:
        0 if every check passed, 1 if one failed, 2 if the file cannot be read (or the
        arguments are wrong).
    """
    parser = argparse.ArgumentParser(
        prog="marketenv check",
        description="Verify a feature recording (schema, warm-up, interval, ranges, actions,"
        " rewards, next_* consistency, NaN policy).",
    )
    parser.add_argument(
        "file",
        metavar="FILE",
        help="the .parquet recording (or market table) to check, or a sweep's dataset folder",
    )
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:
        return int(exc.code) if isinstance(exc.code, int) else 2
    try:
        if Path(args.file).is_dir():
            from recorders.check_dataset import check_dataset

            dataset = check_dataset(args.file)
            print(dataset.format())
            return 0 if dataset.ok else 1
        from recorders.check_dataset import check_market_table, is_market_table

        report = check_market_table(args.file) if is_market_table(args.file) else check_recording(args.file)
    except RecordingError as exc:
        print(f"marketenv check: {exc}", file=sys.stderr)
        return 2
    out = Summary("the exit status still gives the verdict")
    out.line(report.format())
    out.flush()
    return 0 if report.ok else 1

