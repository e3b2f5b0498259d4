"""The compiled market engine: array order books, matching and exact accounts in numba.

:mod:`~marketenv.engine.layout` names the columns of the state arrays,
:mod:`~marketenv.engine.kernels` holds the kernels; :class:`marketenv.market.Market` owns
the arrays and is the Python interface.

numba checks a cached kernel only against its own source file, while the kernels read
constants and inline functions from other modules. So that an edit to any of those never
runs a stale kernel, importing this package compares one digest of all of them (the
constant modules named here and every module that uses numba) with the one stored beside
the caches and, when it differs, deletes every cached kernel of the packages (they
recompile once). Installed, read-only copies have no caches beside them and are left alone.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

_ROOT = Path(__file__).resolve().parents[2]
_PACKAGES = ("marketenv", "agents", "recorders")
_CONSTANTS = ("marketenv/engine/*.py", "marketenv/actions.py", "marketenv/feature_spec.py")
_STAMP = Path(__file__).resolve().parent / "__pycache__" / "kernel-sources.sha1"


def _drop_stale_kernel_caches(root: Path = _ROOT, packages: tuple[str, ...] = _PACKAGES,
                              constants: tuple[str, ...] = _CONSTANTS, stamp: Path = _STAMP) -> None:
    modules = sorted(p for pkg in packages for p in (root / pkg).rglob("*.py"))
    named = {p for pattern in constants for p in root.glob(pattern)}
    h = hashlib.sha1()
    for p in modules:
        text = p.read_bytes()
        if p in named or b"numba" in text:
            h.update(p.relative_to(root).as_posix().encode() + b"\0" + text)
    digest = h.hexdigest()
    try:
        if stamp.read_text() == digest:
            return
    except OSError:
        pass
    try:
        for f in modules:  # a kernel anywhere may have inlined the changed code
            for cached in (f.parent / "__pycache__").glob(f"{f.stem}.*.nb[ic]"):
                cached.unlink(missing_ok=True)
        stamp.parent.mkdir(exist_ok=True)
        stamp.write_text(digest)
    except OSError:  # a read-only installation: nothing cached beside the sources
        pass


_drop_stale_kernel_caches()
