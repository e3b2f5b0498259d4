"""Reading and writing model files (strict JSON, written atomically)."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from marketenv.errors import ModelFormatError
from marketenv.outputs import create_temp, replace_keeping_mode

__all__ = ["read_json", "write_json"]


def read_json(path: str | os.PathLike[str]) -> Any:
    """Parse a model file's JSON; a missing, unreadable or non-JSON file is a ModelFormatError."""
    p = Path(path)
    if not p.is_file():
        raise ModelFormatError(
            f"model file {p} does not exist or is not a file: pass the path of a model .json"
        )
    try:
        with p.open("rb") as fh:
            return json.load(fh)
    except RecursionError:
        raise ModelFormatError(
            f"model file {p} is nested too deeply to be a model: pass a model written by scripts/export_rf.py"
        ) from None
    except (UnicodeDecodeError, ValueError) as exc:  # JSONDecodeError is a ValueError
        if isinstance(exc, json.JSONDecodeError):
            detail = exc.msg
        elif isinstance(exc, UnicodeDecodeError):
            detail = "not UTF-8 text"
        else:
            detail = "a number too long to read"
        raise ModelFormatError(
            f"model file {p} is not valid JSON ({detail}): pass a model written by scripts/export_rf.py"
        ) from None
    except OSError as exc:
        raise ModelFormatError(
            f"model file {p} cannot be read ({exc.strerror}): check its permissions"
        ) from None



def write_json(data: Mapping[str, Any], path: Path) -> None:
    """Write ``data`` as strict one-line JSON, atomically (temporary file, then rename)."""
    text = json.dumps(data, allow_nan=False, separators=(",", ":"))
    # A unique hidden sibling, then an atomic rename that keeps an existing file's mode.
    tmp = create_temp(path)
    try:
        with tmp.open("w", encoding="utf-8") as fh:
            fh.write(text)
            fh.write("\n")
        replace_keeping_mode(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise

