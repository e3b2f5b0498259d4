"""``marketenv --headless-record``: the parallel env, driven by the rule-based crowd, recorded.

:func:`run_recording` is also the supported way to record from Python, from any thread
or process. Called from the main thread, it handles SIGINT (Ctrl-C), SIGTERM, SIGHUP and
SIGQUIT itself: the run stops after the current tick, the file is finished with every
tick recorded so far and moved into place, and the summary says the run was interrupted.
A signal before the first recorded tick leaves an existing file untouched. Whatever
happens (signals during the close, a second signal, an exception), the target is either
the complete new file or the prior one, and no temporary file is left behind.
"""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from types import FrameType

from marketenv.config import Config
from marketenv.errors import RecordingError
from marketenv.outputs import Summary
from marketenv.parallel_env import MarketParallelEnv
from marketenv.progress import Progress
from recorders.recording_wrapper import ParallelRecordingWrapper
from recorders.schedule import RecordSchedule

_SIGNALS = tuple(
    getattr(signal, name)
    for name in ("SIGINT", "SIGTERM", "SIGHUP", "SIGQUIT")
    if hasattr(signal, name)
)


class _StopFlag:
    """Signal handlers that only note the first signal; the tick loop polls the note.

    Nothing is raised inside the recorder, so a signal can arrive at any moment (during
    a flush, while the file is finished, twice in a row) without losing a row. Handlers
    are installed only when called from the main thread, which alone receives signals;
    elsewhere (a thread pool, a Ray actor) the owner of the main thread handles them. A
    signal that is ignored (``nohup``, a background job) stays ignored.
    """

    def __init__(self) -> None:
        self.signum: int | None = None
        self._old: dict[int, object] = {}

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        if self.signum is None:
            self.signum = signum

    def install(self) -> None:
        if threading.current_thread() is not threading.main_thread():
            return
        for s in _SIGNALS:
            if signal.getsignal(s) is signal.SIG_IGN:  # nohup, background jobs: stay ignored
                continue
            try:
                old = signal.signal(s, self._on_signal)
            except (OSError, ValueError):  # pragma: no cover - not settable here
                continue
            self._old[s] = old

    def restore(self) -> None:
        for s, h in self._old.items():
            signal.signal(s, h)  # type: ignore[arg-type]
        self._old.clear()

    @property
    def name(self) -> str:
        return signal.Signals(self.signum).name if self.signum is not None else ""


def _human(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:,.1f} {unit}" if unit != "B" else f"{int(n)} B"
        n /= 1024
    return f"{n:.1f} GB"  # pragma: no cover


def run_recording(
    cfg: Config,
    output: str | Path,
    warmup: int = 100,
    interval: int = 1,
    quiet: bool = False,
    inputs: Sequence[str | Path] = (),
    market_output: str | Path | None = None,
) -> int:
    """Record ``cfg.simulation.ticks`` ticks of the crowd to ``output``; print a summary.

    Args:
        cfg: The scenario (ticks and seed included).
        output: The Parquet file; written to a hidden temporary file next to it and moved
            into place when complete.
        warmup: First tick recorded.
        interval: Record every ``interval``-th tick from ``warmup`` on.
        quiet: No progress line.
        inputs: Files the run reads (its config file); ``output`` must be none of them.
            The agents' model files are always protected.
        market_output: Also write the market table (:mod:`recorders.market_table`) of
            the same ticks to this Parquet file.

    Returns:
        0 when complete; 130 when stopped early by a signal (the file is valid and in
        place, or, if nothing was recorded yet, the prior file is untouched).

    Raises:
        RecordingError: bad schedule or output path (before anything is simulated), or
            a failed write (the prior file is untouched and the temporary file removed).
    """
    ticks = cfg.simulation.ticks
    RecordSchedule(warmup, interval, ticks)  # validate flags before any work
    stop = _StopFlag()
    stop.install()
    try:
        return _record(cfg, output, warmup, interval, quiet, inputs, stop, market_output)
    finally:
        stop.restore()


def _record(
    cfg: Config,
    output: str | Path,
    warmup: int,
    interval: int,
    quiet: bool,
    inputs: Sequence[str | Path],
    stop: _StopFlag,
    market_output: str | Path | None = None,
) -> int:
    ticks = cfg.simulation.ticks
    env = MarketParallelEnv(cfg, learners="all", observation="raw", warmup_ticks=0, max_cycles=ticks)
    rec = ParallelRecordingWrapper(
        env,
        output,
        warmup=warmup,
        interval=interval,
        ticks=ticks,
        extra_flags={"output": str(output), "command": "marketenv --headless-record"},
        inputs=inputs,
    )
    rec.reset(seed=cfg.simulation.seed)
    sim = env.simulation
    recorder = rec.recorder
    assert recorder is not None
    writer = recorder.writer
    out = Summary("the recording is complete")
    for tmp in writer.stale_temps_removed:
        out.err(f"removed {tmp}, an unfinished recording left by a killed run")
    for tmp in writer.stale_temps_kept:
        out.err(f"note: {tmp} belongs to another running process; left alone")
    step = rec.step_array
    market = None
    t0 = time.perf_counter()
    done = 0
    try:
        if market_output is not None:
            from recorders.market_table import MarketRecorder

            if Path(market_output).resolve() == Path(output).resolve():
                raise RecordingError(
                    f"the market table and the agent rows both go to {output}; give the market table its own file"
                )
            market = MarketRecorder(
                market_output,
                rec.schedule,
                sim,
                extra_flags={"output": str(market_output)},
                inputs=[*inputs, output],
            )
            step = market.wrap(step, env)
        prog = Progress(
            ticks,
            extra=lambda: f"{writer.rows_written:,} rows  {_human(writer.bytes_written)}",
            enabled=False if quiet else None,
        )
        while done < ticks and stop.signum is None:
            step(None)  # every slot by its strategy, decided in the compiled tick
            done += 1
            if done & 63 == 0:
                prog.update(done)
        if recorder.rows == 0:
            recorder.abort()
            if market is not None:
                market.abort()
            prog.close()
            target = Path(output)
            kept = "left untouched" if target.exists() else "not created"
            why = f"interrupted by {stop.name}" if stop.signum is not None else "stopped"
            out.err(
                f"{why} at tick {sim.tick:,}, before the first recorded tick ({warmup}):"
                f" nothing was recorded and {target} was {kept}"
            )
            return 130
        path = recorder.close()
        market_path = market.close() if market is not None else None
    except BaseException:
        recorder.abort()
        if market is not None:
            market.abort()
        raise
    prog.update(done)
    prog.close()
    wall = time.perf_counter() - t0
    size = Path(path).stat().st_size
    n_cols = len(writer.schema)
    rows = recorder.rows
    early = done < ticks
    if stop.signum is not None:
        if early:
            out.err(
                f"interrupted by {stop.name} at tick {sim.tick:,}: the file holds every tick"
                " recorded so far"
            )
        else:
            out.err(f"{stop.name} arrived after the last tick: the file is complete")
    out.line(f"recorded     {path}")
    out.line(f"rows         {rows:,}  ({rows / max(wall, 1e-9):,.0f} rows/s)")
    out.line(f"columns      {n_cols}")
    out.line(f"size         {_human(size)} ({size:,} bytes)")
    if market is not None:
        out.line(f"market table {market_path}  ({market.rows:,} rows)")
    out.line(f"ticks        {done:,} simulated, recorded from {warmup} every {interval}")
    out.line(f"trades       {sim.market.total_trades:,}")
    out.line(f"wall time    {wall:.2f} s  ({done / max(wall, 1e-9):,.0f} ticks/s)")
    out.flush()
    return 130 if early else 0
