"""The ``marketenv`` command.

::

    marketenv --headless [--ticks N] [--seed N] [--config FILE]
    marketenv --headless-record [--record-output PATH] [--record-warmup N]
              [--record-interval N] [--record-market PATH] [--ticks N] [--seed N] [--config FILE]
    marketenv --headless-record --seeds 1-16 [--config A --config B] [--record-output DIR]
              [--record-market] [--workers N | --ray [ADDRESS]]   a sweep (recorders.sweep)
    marketenv check FILE|DIR      verify a recording or a dataset (recorders.check)
    marketenv configs             list the shipped scenarios (``--config NAME``)
    marketenv train ...           train a tree model on recordings (scripts/export_rf.py)
    marketenv report [FILE]       the realism report of a recording or a fresh run

Bad input prints one line on stderr and exits with status 2; no traceback.
"""

from __future__ import annotations

import argparse
import re
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from typing import NoReturn

from marketenv import __version__
from marketenv.config import MAX_SEED, MAX_TICKS, Config, load_config
from marketenv.errors import ConfigError, MarketEnvError, is_interrupt
from marketenv.outputs import brief
from marketenv.scenarios import resolve_config


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        self.exit(2, f"marketenv: error: {message} (see marketenv --help)\n")


_PARAMETER = re.compile(r"`([A-Za-z_][A-Za-z0-9_]*)`")


def flag_message(message: str, flags: Mapping[str, str]) -> str:
    """Rewrite the parameters a library message names between backticks as a command's flags.

    Args:
        message: A library error or warning; it names parameters in backticks.
        flags: Parameter name -> flag (``{"interval": "--record-interval"}``).

    Returns:
        The message with every mapped parameter (backticks included) replaced by its flag;
        other backticked names are left as they are.
    """
    return _PARAMETER.sub(lambda m: flags.get(m.group(1), m.group(0)), message)


def int_in_range(lo: int, hi: int) -> Callable[[str], int]:
    """An argparse ``type`` accepting integers in ``lo..hi`` (values echoed cut short)."""

    def parse(text: str) -> int:
        if len(text.strip()) <= 30:
            int(text)  # a ValueError makes argparse say "invalid int value: '...'"
        return _int_in(text, lo, hi)

    parse.__name__ = "int"
    return parse


def _int_in(text: str, lo: int, hi: int) -> int:
    if len(text.strip()) > 30:
        raise argparse.ArgumentTypeError(f"{brief(text)} is not an integer of at most {hi:,}")
    try:
        v = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
    if v < lo:
        raise argparse.ArgumentTypeError(f"must be >= {lo} (got {v})")
    if v > hi:
        raise argparse.ArgumentTypeError(f"must be <= {hi:,} (got {v:,})")
    return v


def _positive_int(text: str) -> int:
    return _int_in(text, 1, MAX_TICKS)


def _nonneg_int(text: str) -> int:
    return _int_in(text, 0, MAX_SEED)


def _record_int(text: str) -> int:
    return _int_in(text, -MAX_TICKS, MAX_TICKS)  # the sign is checked by RecordSchedule


RECORD_FLAGS: dict[str, str] = {
    "warmup": "--record-warmup",
    "interval": "--record-interval",
    "ticks": "--ticks",
    "path": "--record-output",
}
"""The flags of the recording parameters (:class:`recorders.schedule.RecordSchedule`,
:class:`recorders.parquet_writer.ParquetRecordWriter`) that library errors name."""


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the main command."""
    p = _Parser(
        prog="marketenv",
        description="Simulated multi-agent stock market. Subcommands: 'check FILE' "
        "verifies a recording, 'train ...' trains a tree model on recordings.",
    )
    p.add_argument("--version", action="version", version=f"marketenv {__version__}")
    mode = p.add_mutually_exclusive_group()
    mode.add_argument("--headless", action="store_true", help="run the simulation without UI")
    mode.add_argument(
        "--headless-record",
        action="store_true",
        help="record ML training data to Parquet (implies --headless)",
    )
    p.add_argument(
        "--config",
        default=None,
        action="append",
        help="scenario: a shipped name (see 'marketenv configs') or a TOML file"
        " (default: the built-in default config); repeat it in a sweep",
    )
    p.add_argument("--ticks", type=_positive_int, default=None, help="ticks to run (default: the config's)")
    p.add_argument("--seed", type=_nonneg_int, default=None, help="root seed (default: the config's)")
    p.add_argument("--quiet", action="store_true", help="no progress line")
    r = p.add_argument_group("recording")
    r.add_argument(
        "--record-output",
        default=None,
        help="output Parquet file (default data/training.parquet); with --seeds, the dataset"
        " folder (default data/dataset)",
    )
    r.add_argument("--record-warmup", type=_record_int, default=100, help="first tick recorded (>= 0)")
    r.add_argument("--record-interval", type=_record_int, default=1, help="record every N ticks (>= 1)")
    r.add_argument(
        "--record-market",
        default=None,
        nargs="?",
        const="",
        metavar="PATH",
        help="also write the market table (one row per tick and symbol) to this Parquet file;"
        " in a sweep, without PATH, into the dataset's market/ folder",
    )
    s = p.add_argument_group("sweeps")
    s.add_argument(
        "--seeds",
        default=None,
        metavar="LIST",
        help="record one run per seed into a hive-partitioned dataset, e.g. 1-16 or 1,5,9-12",
    )
    s.add_argument(
        "--workers", type=_positive_int, default=None, help="local worker processes (default: the cores)"
    )
    s.add_argument(
        "--ray",
        default=None,
        nargs="?",
        const="local",
        metavar="ADDRESS",
        help="run the sweep's runs as Ray tasks (a local Ray, or the cluster at ADDRESS);"
        " needs pip install 'marketenv[ray]'",
    )
    return p


def load_checked(src: str | None) -> Config:
    """:func:`load_config`, then the strategies' own checks (model files), naming the file."""
    from marketenv.registry import check_strategies

    cfg = load_config(src)
    try:
        check_strategies(cfg)
    except ConfigError as e:
        raise ConfigError(f"{resolve_config(src)}: {e}" if src is not None else str(e)) from None
    return cfg


def _load(args: argparse.Namespace) -> Config:
    if args.config and len(args.config) > 1:
        raise ConfigError("--config is given several times; that needs a sweep (--seeds)")
    cfg = load_checked(args.config[0] if args.config else None)
    return cfg.with_overrides(ticks=args.ticks, seed=args.seed)


def run_sweep_command(args: argparse.Namespace) -> int:
    """``--headless-record --seeds``: record a sweep and its dataset card; print a summary."""
    from recorders.card import write_card
    from recorders.sweep import config_label, parse_seeds, plan, print_summary, run_sweep

    if args.seed is not None:
        raise ConfigError("--seed and --seeds exclude each other; give the seeds with --seeds")
    if args.record_market:
        raise ConfigError(
            f"--record-market {args.record_market}: a sweep writes its market table into the"
            " dataset's market/ folder; give --record-market without a path"
        )
    if args.ray is not None and args.workers is not None:
        raise ConfigError("--workers and --ray exclude each other; Ray places the runs itself")
    seeds = parse_seeds(args.seeds)
    sources = args.config or [None]
    configs = [
        (config_label(src) if src is not None else "default", load_checked(src).with_overrides(ticks=args.ticks))
        for src in sources
    ]
    root = args.record_output or "data/dataset"
    specs = plan(
        configs,
        seeds,
        root,
        warmup=args.record_warmup,
        interval=args.record_interval,
        market=args.record_market is not None,
    )
    result = run_sweep(
        specs,
        root,
        workers=args.workers,
        ray_address=args.ray,
        quiet=args.quiet,
        card=lambda _res: write_card(root, specs),
    )
    print_summary(result)
    if result.interrupted:
        return 130
    return 0 if result.ok else 1


def run_headless(cfg: Config, quiet: bool = False) -> int:
    """Run the crowd for ``cfg.simulation.ticks`` ticks and print a summary."""
    from marketenv.progress import Progress
    from marketenv.simulation import Simulation

    sim = Simulation(cfg)
    ticks = cfg.simulation.ticks
    prog = Progress(ticks, enabled=False if quiet else None)
    t0 = time.perf_counter()
    done = 0
    interrupted = False
    try:
        while done < ticks:
            chunk = min(256, ticks - done)
            sim.run(chunk)
            done += chunk
            prog.update(done)
    except KeyboardInterrupt:
        interrupted = True
    except SystemError as exc:
        if not is_interrupt(exc):
            raise
        interrupted = True
    prog.close()
    wall = time.perf_counter() - t0
    m = sim.market
    print(f"marketenv {__version__}  seed {sim.seed}  {len(cfg.symbols)} symbol(s)  {sim.n_agents} agents")
    if interrupted:
        print(f"interrupted after {done:,} of {ticks:,} ticks")
    print(f"ticks        {done:,}")
    print(f"trades       {m.total_trades:,}")
    print(f"volume       {m.total_volume:,} shares")
    for s, name in enumerate(m.symbol_names):
        mid = m.mid_price(s)
        fv = m.fair_value(s)
        print(f"{name:<12} last mid {mid:,.2f}  fair value {fv:,.2f}  ({(mid / fv - 1) * 100:+.2f}%)")
    print(f"wall time    {wall:.2f} s  ({done / max(wall, 1e-9):,.0f} ticks/s)")
    return 130 if interrupted else 0


def list_configs(argv: Sequence[str] = ()) -> int:
    """``marketenv configs``: print each shipped scenario's name, summary and file."""
    from marketenv.scenarios import describe, shipped_configs

    if argv:
        print(f"marketenv configs: error: unexpected argument {argv[0]!r} (it takes none)", file=sys.stderr)
        return 2
    try:
        shipped = shipped_configs()
    except MarketEnvError as e:
        print(f"marketenv: error: {e}", file=sys.stderr)
        return 2
    width = max(len(n) for n in shipped)
    for name, path in shipped.items():
        print(f"{name:<{width}}  {describe(path)}")
        print(f"{'':<{width}}  {path}")
    print(f"\nuse one with --config NAME (e.g. --config {next(iter(shipped))})")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``marketenv`` command; returns the exit status."""
    from marketenv import _startup

    _startup.restore()
    try:
        return _main(argv)
    except KeyboardInterrupt:
        print("marketenv: interrupted; nothing was written", file=sys.stderr)
        return 130
    except SystemError as exc:
        if not is_interrupt(exc):  # a Ctrl-C inside numba's dispatcher (a kernel loading)
            raise
        print("marketenv: interrupted; nothing was written", file=sys.stderr)
        return 130


def _main(argv: Sequence[str] | None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] == "check":
        from recorders.check import main as check_main

        return check_main(argv[1:])
    if argv and argv[0] == "configs":
        return list_configs(argv[1:])
    if argv and argv[0] == "train":
        from agents.training import main as train_main

        return train_main(argv[1:])
    if argv and argv[0] == "report":
        from marketenv.report.cli import main as report_main

        return report_main(argv[1:])
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        if args.headless_record and args.seeds is not None:
            return run_sweep_command(args)
        if args.seeds is not None or args.workers is not None or args.ray is not None:
            raise ConfigError("--seeds, --workers and --ray need --headless-record")
        if args.headless_record:
            from recorders.run import run_recording

            if args.record_market == "":
                raise ConfigError("--record-market needs a PATH outside a sweep, e.g. data/market.parquet")
            cfg = _load(args)
            return run_recording(
                cfg,
                output=args.record_output or "data/training.parquet",
                warmup=args.record_warmup,
                interval=args.record_interval,
                quiet=args.quiet,
                inputs=[resolve_config(c) for c in args.config or []],
                market_output=args.record_market,
            )
        if args.headless:
            return run_headless(_load(args), quiet=args.quiet)
    except MarketEnvError as e:
        print(f"marketenv: error: {flag_message(str(e), RECORD_FLAGS)}", file=sys.stderr)
        return 2
    except OSError as e:
        print(f"marketenv: error: {e.strerror or e}: {e.filename or ''}".rstrip(": "), file=sys.stderr)
        return 2
    parser.print_help()
    return 2
