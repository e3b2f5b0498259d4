"""A quiet Ctrl-C while the ``marketenv`` command is still importing.

The command's own handling of Ctrl-C starts in :func:`marketenv.cli.main`; before it,
Python would print a ``KeyboardInterrupt`` traceback from inside the imports. When the
process is the ``marketenv`` command (the console script or ``python -m marketenv``),
importing the package installs a SIGINT handler that says one line and exits with 130;
:func:`restore` (called first thing by the command) puts Python's default back. Imported
as a library, nothing changes.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
from types import FrameType

EXIT_INTERRUPTED = 130


def _is_command() -> bool:
    arg0 = sys.argv[0] if sys.argv else ""
    # "-m" is argv[0] while ``python -m marketenv`` is still locating its __main__.
    return os.path.basename(arg0) == "marketenv" or arg0 == "-m"


def _quiet(signum: int, frame: FrameType | None) -> None:
    os.write(2, b"marketenv: interrupted while starting; nothing was written\n")
    os._exit(EXIT_INTERRUPTED)


def install() -> None:
    """Install the quiet handler if this process is the command and SIGINT is Python's default."""
    if (
        _is_command()
        and threading.current_thread() is threading.main_thread()
        and signal.getsignal(signal.SIGINT) is signal.default_int_handler
    ):
        signal.signal(signal.SIGINT, _quiet)


def restore() -> None:
    """Put Python's default SIGINT handling back (if :func:`install` replaced it)."""
    if signal.getsignal(signal.SIGINT) is _quiet:
        signal.signal(signal.SIGINT, signal.default_int_handler)
