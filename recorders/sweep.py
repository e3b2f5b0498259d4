"""Seed sweeps: many recorded runs into one hive-partitioned dataset.

Layout under the output folder ``ds/``::

    ds/config=NAME/seed=N/part-0.parquet          agent rows (several configs)
    ds/seed=N/part-0.parquet                      agent rows (one config)
    ds/market/config=NAME/seed=N/part-0.parquet   market table (with ``market=True``)
    ds/_dataset.json, ds/README.md                the dataset card (:mod:`recorders.card`)

Each partition is one run, recorded by :func:`record_partition` exactly as
``marketenv --headless-record`` records a file. A partition's file appears only when its
run is complete (the writer renames its hidden temporary file into place), so a failed
or interrupted sweep leaves every finished partition valid and no half-written one
visible. Running the same sweep again skips the complete partitions (their run id,
stored in the file, must match the run that would be recorded) and records the rest.

Runs go to local worker processes (:func:`run_sweep` with ``workers``) or, with
``ray_address``, to Ray tasks on a local or remote cluster (the output folder must then
be on a file system every node sees).
"""

from __future__ import annotations

import multiprocessing as mp
import os
import re
import resource
import signal
import sys
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq

from marketenv.config import Config
from marketenv.errors import RecordingError
from marketenv.outputs import stale_temps, temp_pattern
from marketenv.progress import Progress
from recorders.schedule import RecordSchedule
from recorders.schema import KEY_RUN_ID, decode_metadata, make_run_id

PART_NAME = "part-0.parquet"
"""File name of a partition's data."""

MARKET_DIR = "market"
"""Sub-folder of the market-table dataset."""

_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
_PROGRESS_EVERY = 256


def parse_seeds(text: str) -> list[int]:
    """Parse a seed list such as ``"1-16"``, ``"3"`` or ``"1,4,10-12"`` (sorted, unique).

    Raises:
        RecordingError: not a list of non-negative integers and ranges ``a-b`` with ``a <= b``.
    """
    seeds: set[int] = set()
    for part in str(text).split(","):
        part = part.strip()
        m = re.fullmatch(r"(\d+)(?:-(\d+))?", part)
        if m is None:
            raise RecordingError(
                f"seeds {text!r}: {part!r} is not a seed or a range; write e.g. 1-16 or 1,4,10-12"
            )
        lo = int(m.group(1))
        hi = int(m.group(2)) if m.group(2) is not None else lo
        if hi < lo:
            raise RecordingError(f"seeds {text!r}: range {part} is empty; write the low seed first")
        if hi - lo >= 1_000_000:
            raise RecordingError(f"seeds {text!r}: range {part} is too long (at most 1,000,000 seeds)")
        seeds.update(range(lo, hi + 1))
    return sorted(seeds)


@dataclass(frozen=True)
class RunSpec:
    """One partition of a sweep: a config, a seed and where its files go.

    Attributes:
        config_name: The partition's ``config=`` value.
        config: The scenario (ticks included).
        seed: The root seed.
        warmup: First recorded tick.
        interval: Record every ``interval``-th tick.
        path: The agent-rows file.
        market_path: The market-table file, or ``None``.
    """

    config_name: str
    config: Config
    seed: int
    warmup: int
    interval: int
    path: Path
    market_path: Path | None = None

    @property
    def ticks(self) -> int:
        """Ticks simulated."""
        return self.config.simulation.ticks

    @property
    def run_id(self) -> str:
        """The run id the partition's rows carry (:func:`recorders.schema.make_run_id`)."""
        flags = RecordSchedule(self.warmup, self.interval, self.ticks).as_flags()
        return make_run_id(self.config.with_overrides(seed=self.seed).to_dict(), self.seed, flags)


@dataclass
class RunResult:
    """What one recorded partition produced."""

    config_name: str
    seed: int
    rows: int
    market_rows: int
    seconds: float
    peak_rss_mb: float
    skipped: bool = False


@dataclass
class SweepResult:
    """The outcome of :func:`run_sweep`.

    Attributes:
        root: The dataset folder.
        runs: One result per partition recorded or skipped, in completion order.
        missing: Partitions that did not complete (interrupted or failed).
        interrupted: Whether the sweep was stopped by a signal.
        errors: One line per failed run.
        seconds: Wall time.
    """

    root: Path
    runs: list[RunResult] = field(default_factory=list)
    missing: list[RunSpec] = field(default_factory=list)
    interrupted: bool = False
    errors: list[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def rows(self) -> int:
        """Agent rows recorded in this call (skipped partitions excluded)."""
        return sum(r.rows for r in self.runs if not r.skipped)

    @property
    def ok(self) -> bool:
        """Every partition is complete."""
        return not self.missing and not self.interrupted and not self.errors


def config_label(source: str | Path) -> str:
    """The ``config=`` name of a config given by name or path (the file's stem)."""
    name = Path(str(source)).stem if str(source).endswith(".toml") else Path(str(source)).name
    if not _NAME_RE.match(name):
        raise RecordingError(
            f"config name {name!r} cannot name a partition; rename the file to letters, digits, _ . -"
        )
    return name


def plan(
    configs: Sequence[tuple[str, Config]],
    seeds: Sequence[int],
    root: str | Path,
    warmup: int = 100,
    interval: int = 1,
    market: bool = False,
) -> list[RunSpec]:
    """The partitions of a sweep, in (config, seed) order.

    Args:
        configs: ``(name, config)`` pairs; one pair gives the ``seed=N`` layout, several
            the ``config=NAME/seed=N`` layout.
        seeds: Root seeds.
        root: The dataset folder.
        warmup: First recorded tick (validated against every config's ticks).
        interval: Record every ``interval``-th tick.
        market: Also record the market table into ``root/market/``.

    Raises:
        RecordingError: no config or seed, a repeated config name, or a bad schedule.
    """
    if not configs:
        raise RecordingError("a sweep needs at least one config")
    if not seeds:
        raise RecordingError("a sweep needs at least one seed")
    names = [n for n, _c in configs]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise RecordingError(f"config name {dupes[0]!r} is given twice; give each config once")
    root = Path(root)
    if root.exists() and not root.is_dir():
        raise RecordingError(f"sweep output {root} is a file; give a folder such as data/dataset")
    multi = len(configs) > 1
    specs = []
    for name, cfg in configs:
        config_label(name)
        RecordSchedule(warmup, interval, cfg.simulation.ticks)
        for seed in seeds:
            rel = Path(f"config={name}") / f"seed={seed}" if multi else Path(f"seed={seed}")
            specs.append(
                RunSpec(
                    name,
                    cfg,
                    int(seed),
                    warmup,
                    interval,
                    root / rel / PART_NAME,
                    root / MARKET_DIR / rel / PART_NAME if market else None,
                )
            )
    return specs


def _stored_run_id(path: Path) -> str | None:
    try:
        return decode_metadata(pq.read_schema(path).metadata).get(KEY_RUN_ID)
    except Exception:  # noqa: BLE001 - an unreadable file is simply not complete
        return None


def is_complete(spec: RunSpec) -> bool:
    """Whether the partition's files exist and hold this very run.

    Raises:
        RecordingError: a file there holds another run (other config, ticks or schedule).
    """
    files = [spec.path] + ([spec.market_path] if spec.market_path is not None else [])
    want = spec.run_id
    complete = True
    for f in files:
        if not f.is_file():
            complete = False
            continue
        got = _stored_run_id(f)
        if got is None:
            complete = False
        elif got != want:
            raise RecordingError(
                f"{f} holds another run (run id {got}, this sweep records {want});"
                " record into another folder or delete that partition"
            )
    return complete


def _clean_stale(spec: RunSpec, own: bool = False) -> None:
    """Remove the partition's temporary files left by runs whose process is gone.

    With ``own``, remove this process's instead (a run interrupted while its writers
    were opening). The writers themselves also clear stale files when they start.
    """
    pid = os.getpid()
    for f in (spec.path, spec.market_path):
        if f is None or not f.parent.is_dir():
            continue
        if not own:
            stale_temps(f)
            continue
        pattern = temp_pattern(f)
        for name in os.listdir(f.parent):
            m = pattern.match(name)
            if m is not None and int(m.group(1)) == pid:
                try:
                    (f.parent / name).unlink(missing_ok=True)
                except OSError:
                    pass


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def record_partition(spec: RunSpec, on_ticks: Callable[[int], None] | None = None) -> RunResult:
    """Record one partition (a complete run) and move its files into place.

    Safe in any thread or process: it installs no signal handler. If it fails or is
    interrupted (any exception, ``SystemExit`` and ``KeyboardInterrupt`` included), its
    temporary files are removed and nothing appears at the partition's paths.

    Args:
        spec: The partition.
        on_ticks: Called with the number of ticks just simulated (progress reports).
    """
    from marketenv.parallel_env import MarketParallelEnv
    from recorders.market_table import MarketRecorder
    from recorders.recording_wrapper import ParallelRecordingWrapper

    t0 = time.perf_counter()
    _clean_stale(spec)
    cfg = spec.config.with_overrides(seed=spec.seed)
    ticks = cfg.simulation.ticks
    flags = {"config_name": spec.config_name, "command": "marketenv --headless-record --seeds"}
    rec = market = None
    try:
        env = MarketParallelEnv(cfg, learners="all", observation="raw", warmup_ticks=0, max_cycles=ticks)
        rec = ParallelRecordingWrapper(
            env, spec.path, warmup=spec.warmup, interval=spec.interval, ticks=ticks, extra_flags=flags
        )
        rec.reset(seed=spec.seed)
        sim = env.simulation
        step = rec.step_array
        if spec.market_path is not None:
            market = MarketRecorder(spec.market_path, rec.schedule, sim, extra_flags=flags)
            step = market.wrap(step, env)
        done = 0
        while done < ticks:
            step(None)  # every slot by its strategy, decided in the compiled tick
            done += 1
            if on_ticks is not None and done % _PROGRESS_EVERY == 0:
                on_ticks(_PROGRESS_EVERY)
        if on_ticks is not None and done % _PROGRESS_EVERY:
            on_ticks(done % _PROGRESS_EVERY)
        # The market table first: the agent file's appearance marks the partition done.
        market_rows = 0
        if market is not None:
            market.close()
            market_rows = market.rows
        rows = rec.recorder.rows
        rec.recorder.close()
    except BaseException:
        if rec is not None and rec.recorder is not None:
            rec.recorder.abort()
        if market is not None:
            market.abort()
        _clean_stale(spec, own=True)  # also a file whose writer was interrupted while opening
        raise
    return RunResult(
        spec.config_name, spec.seed, rows, market_rows, time.perf_counter() - t0, _peak_rss_mb()
    )


# ---------------------------------------------------------------- local process pool

_COUNTER: Any = None


def _on_sigterm(signum: int, frame: Any) -> None:
    raise SystemExit(128 + signum)


def _init_worker(counter: Any) -> None:
    """Pool worker set-up: Ctrl-C is the parent's to handle; SIGTERM aborts the run."""
    global _COUNTER
    _COUNTER = counter
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, _on_sigterm)


def _count(n: int) -> None:
    with _COUNTER.get_lock():
        _COUNTER.value += n


def _pool_task(spec: RunSpec) -> tuple[RunSpec, RunResult | None, str | None]:
    try:
        return spec, record_partition(spec, _count), None
    except Exception as exc:  # noqa: BLE001 - reported by the parent, the sweep goes on
        return spec, None, f"{spec.config_name} seed {spec.seed}: {type(exc).__name__}: {exc}"


def _ray_task(spec: RunSpec) -> tuple[RunSpec, RunResult | None, str | None]:
    try:
        return spec, record_partition(spec), None
    except Exception as exc:  # noqa: BLE001
        return spec, None, f"{spec.config_name} seed {spec.seed}: {type(exc).__name__}: {exc}"


class _Stop(Exception):
    pass


def default_workers() -> int:
    """The cores this process may use."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not Linux
        return max(1, os.cpu_count() or 1)


def run_sweep(
    specs: Sequence[RunSpec],
    root: str | Path,
    workers: int | None = None,
    ray_address: str | None = None,
    quiet: bool = False,
    card: Callable[[SweepResult], None] | None = None,
) -> SweepResult:
    """Record every incomplete partition of ``specs``; skip the complete ones.

    Args:
        specs: The partitions, from :func:`plan`.
        root: The dataset folder (as given to :func:`plan`).
        workers: Local worker processes (default: the cores); ignored with Ray.
        ray_address: Run the partitions as Ray tasks: ``"local"`` starts a local Ray,
            anything else is the address of a cluster (``ray.init(address=...)``).
        quiet: No progress bar.
        card: Called with the result at the end, also after an interruption (writes
            the dataset card).

    Returns:
        The result; ``result.ok`` when every partition is complete.

    Raises:
        RecordingError: bad arguments, a partition holding another run, or Ray missing.
    """
    if workers is not None and workers < 1:
        raise RecordingError(f"workers must be >= 1 (got {workers})")
    t0 = time.perf_counter()
    result = SweepResult(root=Path(root))
    try:
        Path(root).mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise RecordingError(
            f"cannot create the dataset folder {root} ({exc.strerror or exc}); choose a writable location"
        ) from None
    if not os.access(root, os.W_OK | os.X_OK):
        raise RecordingError(f"the dataset folder {root} is not writable; choose a writable location")
    todo = []
    for s in specs:
        if is_complete(s):
            rows = pq.ParquetFile(s.path).metadata.num_rows
            mrows = pq.ParquetFile(s.market_path).metadata.num_rows if s.market_path else 0
            result.runs.append(RunResult(s.config_name, s.seed, rows, mrows, 0.0, 0.0, skipped=True))
        else:
            todo.append(s)
    total = sum(s.ticks for s in todo)
    prog = Progress(
        total,
        extra=lambda: f"{len(result.runs) - (len(specs) - len(todo)):,}/{len(todo):,} runs",
        enabled=False if quiet else None,
    )
    main_thread = threading.current_thread() is threading.main_thread()
    old_term = None
    if main_thread:

        def _term(signum: int, frame: Any) -> None:
            raise _Stop()

        old_term = signal.signal(signal.SIGTERM, _term)
    finished: set[tuple[str, int]] = set()
    try:
        if not todo:
            pass
        elif ray_address is not None:
            _run_ray(todo, ray_address, result, finished, prog)
        else:
            _run_local(todo, min(workers or default_workers(), len(todo)), result, finished, prog)
    except (KeyboardInterrupt, _Stop):
        result.interrupted = True
    finally:
        if old_term is not None:
            signal.signal(signal.SIGTERM, old_term)
    prog.close()
    result.missing = [s for s in todo if (s.config_name, s.seed) not in finished]
    result.seconds = time.perf_counter() - t0
    if card is not None:
        card(result)
    return result


def _collect(
    spec: RunSpec,
    res: RunResult | None,
    err: str | None,
    result: SweepResult,
    finished: set[tuple[str, int]],
) -> None:
    if res is not None:
        result.runs.append(res)
        finished.add((spec.config_name, spec.seed))
    elif err is not None:
        result.errors.append(err)


def _run_local(
    todo: Sequence[RunSpec],
    workers: int,
    result: SweepResult,
    finished: set[tuple[str, int]],
    prog: Progress,
) -> None:
    """Run the partitions on ``workers`` spawned processes; a dead worker fails its runs."""
    ctx = mp.get_context("spawn")
    counter = ctx.Value("q", 0)
    pool = ProcessPoolExecutor(workers, mp_context=ctx, initializer=_init_worker, initargs=(counter,))
    futures = {pool.submit(_pool_task, s): s for s in todo}
    try:
        pending = set(futures)
        while pending:
            done, pending = wait(pending, timeout=0.2, return_when=FIRST_COMPLETED)
            for fut in done:
                try:
                    spec, res, err = fut.result()
                except BrokenProcessPool:
                    spec, res = futures[fut], None
                    err = f"{spec.config_name} seed {spec.seed}: a worker process died (out of memory or killed?)"
                _collect(spec, res, err, result, finished)
            prog.update(counter.value)
        pool.shutdown(wait=True)
    except BaseException:
        # SIGTERM each worker: it drops its temporary files and exits.
        procs = list(getattr(pool, "_processes", {}).values())
        pool.shutdown(wait=False, cancel_futures=True)
        for proc in procs:
            if proc.is_alive():
                proc.terminate()
        for proc in procs:
            proc.join(timeout=10)
        # A worker that cannot run its SIGTERM handler in time (e.g. inside a long compile)
        # is killed; the parent then removes the temporary files it left.
        for proc in procs:
            if proc.is_alive():
                proc.kill()
                proc.join(timeout=10)
                _remove_worker_tmp(todo, proc.pid)
        raise


def _remove_worker_tmp(todo: Sequence[RunSpec], pid: int | None) -> None:
    """Delete the unfinished files (``.<name>.<pid>[.k].tmp``, see :func:`marketenv.outputs.create_temp`)
    a killed worker left in the partitions."""
    dirs = {p.parent for spec in todo for p in (spec.path, spec.market_path) if p is not None}
    for d in dirs:
        for pattern in (f".*.{pid}.tmp", f".*.{pid}.*.tmp"):
            for f in d.glob(pattern):
                f.unlink(missing_ok=True)


def _run_ray(
    todo: Sequence[RunSpec],
    address: str,
    result: SweepResult,
    finished: set[tuple[str, int]],
    prog: Progress,
) -> None:
    try:
        import ray
    except ImportError:
        raise RecordingError(
            "Ray is not installed; pip install 'marketenv[ray]' or run without Ray"
        ) from None
    started = not ray.is_initialized()
    if started:
        kwargs: dict[str, Any] = {"include_dashboard": False, "log_to_driver": False}
        if address != "local":
            kwargs["address"] = address
        try:
            ray.init(**kwargs)
        except Exception as exc:  # noqa: BLE001 - Ray raises several kinds
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise RecordingError(
                f"cannot start or reach Ray at {address!r} ({first}); check the address or run without Ray"
            ) from None
    task = ray.remote(_ray_task)
    refs = [task.remote(s) for s in todo]
    ticks = 0
    try:
        pending = list(refs)
        while pending:
            ready, pending = ray.wait(pending, num_returns=1, timeout=0.5)
            for ref in ready:
                spec, res, err = ray.get(ref)
                _collect(spec, res, err, result, finished)
                ticks += spec.ticks
                prog.update(ticks)
    except BaseException:
        for ref in refs:
            ray.cancel(ref, force=True)
        raise
    finally:
        if started:
            ray.shutdown()


def print_summary(result: SweepResult, stream: Any = None) -> None:
    """Print what a sweep did (one line per fact)."""
    out = stream or sys.stdout
    made = [r for r in result.runs if not r.skipped]
    skipped = len(result.runs) - len(made)
    wall = max(result.seconds, 1e-9)
    print(f"dataset      {result.root}", file=out)
    print(f"partitions   {len(made):,} recorded, {skipped:,} already complete, {len(result.missing):,} missing", file=out)
    print(f"rows         {result.rows:,} recorded  ({result.rows / wall:,.0f} rows/s)", file=out)
    if made:
        print(f"peak RSS     {max(r.peak_rss_mb for r in made):,.0f} MB per worker (max)", file=out)
    print(f"wall time    {result.seconds:.2f} s", file=out)
    for e in result.errors:
        print(f"failed       {e}", file=sys.stderr)
    if result.interrupted:
        print(
            "interrupted: finished partitions are complete; run the same command again to record the rest",
            file=sys.stderr,
        )
