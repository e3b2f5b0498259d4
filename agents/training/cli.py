"""The ``marketenv train`` command line: flags -> :class:`TrainOptions` -> :func:`train`.

This is the only module of :mod:`agents.training` that knows the flags: the library names
parameters, and :data:`FLAGS` maps them back to flags in error messages and warnings.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import NoReturn

from agents.training.options import DEFAULT_HORIZON, MAX_DEPTH, MAX_ESTIMATORS, TrainOptions
from agents.training.pipeline import train
from marketenv.cli import flag_message, int_in_range
from marketenv.config import MAX_TICKS
from marketenv.errors import MarketEnvError, TrainingError
from marketenv.feature_spec import AGENT_STATE_FEATURES

__all__ = ["FLAGS", "build_parser", "main", "options_from_args"]


class _Parser(argparse.ArgumentParser):
    """An argument parser whose errors are :class:`TrainingError` (one line, exit 2)."""

    def error(self, message: str) -> NoReturn:
        raise TrainingError(f"{message} (see --help)")


def build_parser(prog: str = "marketenv train") -> argparse.ArgumentParser:
    """Build the command-line parser.

    Args:
        prog: Program name shown in help and error messages.

    Returns:
        The parser; its ``error`` raises :class:`TrainingError` instead of exiting.
    """
    p = _Parser(
        prog=prog,
        description="Train a random forest (or a decision tree) on marketenv feature "
        "recordings and export it as a JSON tree model (agents.models).",
    )
    p.add_argument("recordings", nargs="+", metavar="RECORDING", help="Parquet recording(s)")
    p.add_argument("--out", required=True, metavar="MODEL.json", help="model file to write")
    p.add_argument(
        "--label",
        choices=("action", "forward"),
        default="action",
        help="action: clone the recorded action (default); forward: sign of the mid move",
    )
    p.add_argument(
        "--horizon",
        type=int_in_range(-MAX_TICKS, MAX_TICKS),
        default=None,
        metavar="H",
        help=f"forward label: ticks ahead (default {DEFAULT_HORIZON})",
    )
    p.add_argument(
        "--dead-zone",
        type=float,
        default=None,
        metavar="BPS",
        help="forward label: moves below this many basis points are labelled 0 (default 0)",
    )
    p.add_argument("--agents", metavar="REGEX", help="keep rows whose agent_name matches")
    p.add_argument(
        "--features",
        default="all",
        metavar="LIST",
        help="comma-separated feature names (with or without f_), or 'all' (default)",
    )
    p.add_argument(
        "--exclude-agent-state",
        action="store_true",
        help="drop " + ", ".join(AGENT_STATE_FEATURES),
    )
    p.add_argument("--split", choices=("time", "file"), default="time", help="default: time")
    p.add_argument("--test-fraction", type=float, default=0.2, metavar="F", help="default 0.2")
    p.add_argument("--model", choices=("forest", "tree"), default="forest", help="default: forest")
    p.add_argument(
        "--n-estimators",
        type=int_in_range(-MAX_TICKS, MAX_ESTIMATORS),
        default=100,
        metavar="N",
        help=f"default 100, at most {MAX_ESTIMATORS:,}",
    )
    p.add_argument(
        "--max-depth",
        type=int_in_range(-MAX_TICKS, MAX_DEPTH),
        default=10,
        metavar="D",
        help=f"default 10, at most {MAX_DEPTH}",
    )
    p.add_argument(
        "--min-samples-leaf",
        type=int_in_range(-MAX_TICKS, MAX_TICKS),
        default=1,
        metavar="N",
        help="default 1",
    )
    p.add_argument(
        "--seed", type=int_in_range(-(2**32), 2**32), default=0, metavar="S", help="random_state (default 0)"
    )
    return p




FLAGS: dict[str, str] = {
    action.dest: action.option_strings[0]
    for action in build_parser()._actions
    if action.option_strings and action.dest != "help"
}
"""Each :class:`TrainOptions` parameter's flag (``dead_zone`` -> ``--dead-zone``)."""


def options_from_args(args: argparse.Namespace) -> TrainOptions:
    """Build the options of parsed arguments of :func:`build_parser`.

    Raises:
        TrainingError: If a value is out of range (the message names parameters).
    """
    return TrainOptions(**vars(args))


def main(argv: Sequence[str] | None = None, *, prog: str = "marketenv train") -> int:
    """Command-line entry point of ``scripts/export_rf.py`` and ``marketenv train``.

    Args:
        argv: Arguments after the program name (default ``sys.argv[1:]``).
        prog: Program name used in help and error messages.

    Returns:
        0 on success, 2 on bad input (after one line on stderr); ``--help`` returns 0.
    """
    parser = build_parser(prog)

    def flags(message: str) -> str:
        return flag_message(message, FLAGS)

    try:
        args = parser.parse_args(sys.argv[1:] if argv is None else list(argv))
        train(options_from_args(args), wording=flags)
    except SystemExit as exc:  # --help
        return int(exc.code) if isinstance(exc.code, int) else 0
    except MarketEnvError as exc:
        print(f"{prog}: error: {flags(str(exc))}", file=sys.stderr)
        return 2
    return 0
