"""``marketenv --headless-record``: the parallel env, driven by the rule-based crowd, recorded.

SIGINT (Ctrl-C) and SIGTERM end the run cleanly: the file is finished with every tick
recorded so far, moved into place, and the summary says the run was interrupted.
"""

from __future__ import annotations

import signal
import sys
import time
from pathlib import Path
from types import FrameType

from marketenv.config import Config
from marketenv.parallel_env import MarketParallelEnv
from marketenv.progress import Progress
from recorders.recording_wrapper import ParallelRecordingWrapper
from recorders.schedule import RecordSchedule


class _Stop(Exception):
    pass


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
) -> int:
    """Record ``cfg.simulation.ticks`` ticks of the crowd to ``output``; print a summary.

    Returns:
        0 when complete, 130 when interrupted (the file is still valid and in place).

    Raises:
        RecordingError: bad flags or output path (before anything is simulated).
    """
    ticks = cfg.simulation.ticks
    RecordSchedule(warmup, interval, ticks)  # validate flags before any work
    env = MarketParallelEnv(cfg, max_cycles=ticks)
    rec = ParallelRecordingWrapper(
        env,
        output,
        warmup=warmup,
        interval=interval,
        ticks=ticks,
        extra_flags={"output": str(output), "command": "marketenv --headless-record"},
    )
    rec.reset(seed=cfg.simulation.seed)
    u = env
    sim = u.simulation
    recorder = rec.recorder
    assert recorder is not None
    writer = recorder.writer
    prog = Progress(
        ticks,
        extra=lambda: f"{writer.rows_written:,} rows  {_human(writer.bytes_written)}",
        enabled=False if quiet else None,
    )

    def _on_signal(signum: int, frame: FrameType | None) -> None:
        raise _Stop()

    old = {s: signal.signal(s, _on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
    t0 = time.perf_counter()
    done = 0
    interrupted = False
    try:
        while done < ticks:
            rec.step_array(sim.crowd_actions(sim.features.obs))
            done += 1
            if done & 63 == 0:
                prog.update(done)
    except _Stop:
        interrupted = True
    finally:
        for s, h in old.items():
            signal.signal(s, h)
    try:
        path = recorder.close()
    except BaseException:
        recorder.abort()
        raise
    prog.update(done)
    prog.close()
    wall = time.perf_counter() - t0
    size = Path(path).stat().st_size
    n_cols = len(writer.schema)
    rows = recorder.rows
    if interrupted:
        print(
            f"interrupted at tick {sim.tick:,}: the file holds every tick recorded so far",
            file=sys.stderr,
        )
    print(f"recorded     {path}")
    print(f"rows         {rows:,}  ({rows / max(wall, 1e-9):,.0f} rows/s)")
    print(f"columns      {n_cols}")
    print(f"size         {_human(size)} ({size:,} bytes)")
    print(f"ticks        {done:,} simulated, recorded from {warmup} every {interval}")
    print(f"trades       {sim.market.total_trades:,}")
    print(f"wall time    {wall:.2f} s  ({done / max(wall, 1e-9):,.0f} ticks/s)")
    return 130 if interrupted else 0
