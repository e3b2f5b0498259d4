"""The small exception hierarchy of marketenv.

Every error raised on bad input names the offending value and how to fix it, in one line.
The command line prints ``str(error)`` and exits non-zero without a traceback.

Library code never names a command-line flag: it names the parameter, between backticks
(the message reads: `interval` must be >= 1 (got 0)). A command rewrites those names to its
flags with :func:`marketenv.cli.flag_message` (--record-interval must be >= 1 (got 0)).
"""

from __future__ import annotations

from gymnasium.error import UnsupportedMode


class MarketEnvError(Exception):
    """Base class of every error marketenv raises on purpose."""


class ConfigError(MarketEnvError, ValueError):
    """A configuration file or object is invalid (unknown key, wrong type, impossible value)."""


class InvalidOrderError(MarketEnvError, ValueError):
    """An order or action is malformed (not merely rejected by a market rule)."""


class InvalidActionError(InvalidOrderError):
    """An environment action is outside its space, NaN, or of the wrong dtype."""


class ResetNeeded(MarketEnvError, RuntimeError):
    """An environment was stepped before ``reset`` or after its episode ended."""


class ModelFormatError(MarketEnvError, ValueError):
    """A model file is malformed, of an unknown version, or expects other features."""


class TrainingError(MarketEnvError, ValueError):
    """Bad training input (options, recordings, labels); one line naming the problem and the fix."""


class RecordingError(MarketEnvError, RuntimeError):
    """A recording cannot be written or fails verification."""


class UnsupportedRenderMode(MarketEnvError, UnsupportedMode, ValueError):
    """A ``render_mode`` the environment does not draw (Gymnasium's ``UnsupportedMode``)."""


def is_interrupt(exc: BaseException) -> bool:
    """Whether ``exc`` is a Ctrl-C, or wraps one in its cause/context chain.

    A ``KeyboardInterrupt`` that lands while numba's dispatcher runs Python code (loading a
    kernel from its cache, or compiling it) comes out as a ``SystemError`` ("returned a
    result with an exception set") caused by the interrupt.
    """
    seen = 0
    e: BaseException | None = exc
    while e is not None and seen < 20:
        if isinstance(e, KeyboardInterrupt):
            return True
        e = e.__cause__ or e.__context__
        seen += 1
    return False


def reraise_interrupt(exc: SystemError) -> None:
    """Raise ``KeyboardInterrupt`` if ``exc`` wraps one (see :func:`is_interrupt`), else ``exc``."""
    if is_interrupt(exc):
        raise KeyboardInterrupt from None
    raise exc
