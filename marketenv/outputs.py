"""Output files that never destroy anything: checks, temporary names, atomic replacement.

Every command that writes a file (recordings, model files) goes through these helpers:

* :func:`check_output` refuses a target that must not be replaced: a directory, a
  trailing-slash path, an existing non-regular file (device, FIFO, socket) or one of the
  run's own inputs;
* :func:`create_temp` makes the hidden sibling the data is written to first
  (``.<name>.<pid>[.<k>].tmp``, with ``<name>`` cut so that the temporary name fits in the
  file system's 255-byte limit);
* :func:`replace_keeping_mode` moves it over the target, keeping an existing target's
  permission bits;
* :func:`stale_temps` finds the temporary files of the same target left by a process
  that no longer runs (killed with SIGKILL, say) and removes them.

The messages name the output with the ``what`` label the caller passes (a parameter or
a command-line flag), so this module names no flag itself.
"""

from __future__ import annotations

import os
import re
import stat
import sys
from collections.abc import Iterable
from pathlib import Path

from marketenv.errors import MarketEnvError

_NAME_MAX = 255
_TEMP_STEM_BYTES = 180
"""Bytes of the target's name kept in a temporary name (the rest is ``.<pid>.<k>.tmp``)."""

_KINDS = (
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISFIFO, "a FIFO (named pipe)"),
    (stat.S_ISSOCK, "a socket"),
)


def brief(value: object, limit: int = 60) -> str:
    """Text of ``value`` on one line, cut to about ``limit`` characters, for messages."""
    try:
        text = value if isinstance(value, str) else str(value)
    except ValueError:  # an int too long to convert to text
        text = f"<integer of about {int(value).bit_length() * 0.30103:.0f} digits>"  # type: ignore[call-overload]
    if not text.isprintable():  # newlines and control characters: escaped, one line
        text = repr(text)[1:-1]
    if len(text) <= limit:
        return text
    return f"{text[: limit - 20]}...({len(text):,} characters)"


def _temp_stem(name: str) -> str:
    raw = name.encode("utf-8", "surrogateescape")
    if len(raw) <= _TEMP_STEM_BYTES:
        return name
    return raw[:_TEMP_STEM_BYTES].decode("utf-8", "ignore")


def _kind(mode: int) -> str | None:
    for test, label in _KINDS:
        if test(mode):
            return label
    return None


def check_output(
    path: str | os.PathLike[str],
    what: str,
    inputs: Iterable[str | os.PathLike[str]] = (),
    example: str = "out.parquet",
    error: type[MarketEnvError] = MarketEnvError,
) -> Path:
    """Refuse an output path whose replacement would destroy something.

    Args:
        path: The output file.
        what: How messages name the output (e.g. ``"output"`` or ``"--out"``).
        inputs: Files the run reads; the output must be none of them.
        example: A file name suggested in messages.
        error: The exception class raised.

    Returns:
        ``path`` as a :class:`Path`.

    Raises:
        MarketEnvError: (``error``) If ``path`` ends with a separator, is a directory, an existing
            non-regular file, or resolves to one of ``inputs``.
    """
    text = os.fspath(path)
    p = Path(text)
    if text.endswith(("/", os.sep)) or (os.altsep and text.endswith(os.altsep)):
        raise error(
            f"{what} {brief(text)} ends with a slash, so it names a directory; give a file"
            f" path such as {text.rstrip('/' + os.sep)}/{example}"
        )
    try:
        st = p.stat()
    except FileNotFoundError:
        st = None
    except OSError as exc:
        raise error(
            f"{what} {brief(text)} cannot be inspected ({exc.strerror}); choose another path"
        ) from None
    if st is not None:
        if stat.S_ISDIR(st.st_mode):
            raise error(
                f"{what} {brief(text)} is a directory; give a file path such as {p / example}"
            )
        kind = _kind(st.st_mode)
        if kind is not None or not stat.S_ISREG(st.st_mode):
            raise error(
                f"{what} {brief(text)} is {kind or 'not a regular file'}, which would be replaced"
                " by a regular file; choose a regular file path"
            )
        for inp in inputs:
            try:
                same = os.path.samefile(p, inp)
            except OSError:
                same = False
            if same:
                raise error(
                    f"{what} {brief(text)} is also an input of this run ({brief(os.fspath(inp))});"
                    " choose another output file"
                )
    return p


def temp_pattern(path: Path) -> re.Pattern[str]:
    """The names :func:`create_temp` gives the temporary files of ``path`` (pid in group 1)."""
    return re.compile(rf"^\.{re.escape(_temp_stem(path.name))}\.(\d+)(?:\.\d+)?\.tmp$")


def create_temp(path: Path, mode: int = 0o666) -> Path:
    """Create (exclusively) and return an empty hidden temporary file next to ``path``.

    Raises:
        OSError: If the directory cannot be written.
        FileExistsError: If a thousand temporary names are taken.
    """
    base = f".{_temp_stem(path.name)}.{os.getpid()}"
    for k in range(1000):
        tmp = path.with_name(f"{base}.tmp" if k == 0 else f"{base}.{k}.tmp")
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
        except FileExistsError:
            continue
        os.close(fd)
        return tmp
    raise FileExistsError(f"too many temporary files {base}.*.tmp in {path.parent}; delete them")


def replace_keeping_mode(tmp: Path, dest: Path) -> None:
    """Move ``tmp`` over ``dest`` atomically; an existing ``dest`` keeps its permission bits."""
    try:
        st = os.stat(dest)
    except FileNotFoundError:
        st = None
    if st is not None and stat.S_ISREG(st.st_mode):
        os.chmod(tmp, stat.S_IMODE(st.st_mode))
    os.replace(tmp, dest)


def _pid_alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError, ValueError):
        return True  # another user's process, or a number we cannot test: keep the file
    return True


def stale_temps(path: Path, remove: bool = True) -> tuple[list[Path], list[Path]]:
    """Find the temporary files of ``path`` left behind by processes that are gone.

    Args:
        path: The output file.
        remove: Delete the stale files found.

    Returns:
        ``(removed, kept)``: the stale files deleted (or that would be, when ``remove`` is
        false), and temporary files of ``path`` whose process still runs (left alone: they
        may belong to a concurrent run).
    """
    parent = path.parent if str(path.parent) else Path(".")
    pattern = temp_pattern(path)
    removed: list[Path] = []
    kept: list[Path] = []
    try:
        names = os.listdir(parent)
    except OSError:
        return removed, kept
    for name in names:
        m = pattern.match(name)
        if m is None:
            continue
        tmp = parent / name
        if _pid_alive(int(m.group(1))):
            if int(m.group(1)) != os.getpid():
                kept.append(tmp)
            continue
        if remove:
            try:
                tmp.unlink()
            except OSError:
                kept.append(tmp)
                continue
        removed.append(tmp)
    return sorted(removed), sorted(kept)


class Summary:
    """Lines for stdout after the work is done; a broken pipe or full disk there is said
    once on stderr (with ``done``, what is already safe) and does not fail the command.

    Args:
        done: What the stderr note says is already complete, e.g. "the recording is complete".
    """

    def __init__(self, done: str) -> None:
        self.done = done
        self.failed = False

    def _fail(self, exc: OSError) -> None:
        if not self.failed:
            self.failed = True
            self.err(f"cannot write to stdout ({exc.strerror or exc}); {self.done}")
            # Python flushes stdout again at exit: point it at nothing so that cannot fail.
            try:
                devnull = os.open(os.devnull, os.O_WRONLY)
                os.dup2(devnull, sys.stdout.fileno())
                os.close(devnull)
            except (OSError, ValueError, AttributeError):
                pass

    def line(self, text: str) -> None:
        """Print ``text`` unless stdout already failed."""
        if self.failed:
            return
        try:
            print(text)
        except OSError as exc:
            self._fail(exc)

    def flush(self) -> None:
        """Flush stdout now, so that a failure is reported here and not at exit."""
        if self.failed:
            return
        try:
            sys.stdout.flush()
        except OSError as exc:
            self._fail(exc)

    @staticmethod
    def err(text: str) -> None:
        """Print ``text`` on stderr (ignoring a failure there: nothing is left to tell)."""
        try:
            print(text, file=sys.stderr)
        except OSError:
            pass
