"""A buffered Parquet writer whose file I/O overlaps the simulation.

Rows are appended in blocks (typically one tick: one row per agent) into preallocated
numpy column buffers of ``row_group_size`` rows. A full buffer set is handed, without
copying, to a background thread that turns it into Arrow arrays (zero-copy) and writes it
as one row group; pyarrow releases the GIL while it encodes and compresses, so the
simulation keeps running meanwhile. A fixed pool of three buffer sets (one filling, at
most two pending) keeps memory flat whatever the length of the run; when the disk is
slower than the simulation, :meth:`ParquetRecordWriter.write` waits for a free set.

The file is written to a hidden temporary file in the target's directory
(``.<name>.<pid>.tmp``) and moved into place atomically by
:meth:`ParquetRecordWriter.close`, so an existing file at the target is untouched until
the recording is complete. Leaving a ``with`` block by an exception (Ctrl-C included)
keeps what was written as a valid ``<stem>.partial<suffix>`` file;
:meth:`ParquetRecordWriter.abort` drops it.
If the writer thread fails (a full disk, say), the temporary file is deleted and the next
:meth:`write` or :meth:`close` raises :class:`~marketenv.errors.RecordingError`. Always
close the writer (or use ``with``): the thread is a daemon, and an unclosed writer leaves
its temporary file behind.

Typical use (one block per recorded tick)::

    schema = build_schema(metadata=make_metadata(config, seed, schedule.as_flags()))
    with ParquetRecordWriter(path, schema, string_categories={
        "agent_name": agent_names, "symbol": symbols}) as writer:
        for tick in range(ticks):
            ...
            if schedule.should_record(tick):
                writer.write({"tick": tick, "agent_id": ids, "agent_name": name_codes,
                              "symbol": symbol_codes, "action": actions, ...},
                             features=feature_matrix)
"""

from __future__ import annotations

import errno
import os
import queue
import threading
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from marketenv.errors import RecordingError
from marketenv.outputs import check_output, create_temp, replace_keeping_mode, stale_temps
from recorders.schema import FEATURE_PREFIX

_N_BUFFER_SETS = 3
"""Buffer sets in the pool: one being filled and at most two waiting for / in the writer."""

_CODECS = frozenset({"none", "uncompressed", "snappy", "gzip", "brotli", "lz4", "lz4_raw", "zstd"})

_POLL_SECONDS = 0.2
"""How often a producer waiting for a free buffer set checks that the writer thread lives."""

# numpy dtype kinds accepted for a column of each storage kind (assignment casts them).
_FLOAT_KINDS = "fiub"
_INT_KINDS = "iub"
_CODE_KINDS = "iu"


def _one_line(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    return lines[0] if lines else type(exc).__name__


def _is_disk_full(exc: BaseException) -> bool:
    if isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return True
    return "no space left" in str(exc).lower() or "quota exceeded" in str(exc).lower()


class _BufferSet:
    """One row group's worth of column buffers.

    float64 columns live in one Fortran-ordered 2-D block (each column contiguous, so
    Arrow wraps it without copying, and a feature matrix is stored with one assignment);
    other columns have their own 1-D arrays. String columns hold int32 category codes.
    """

    __slots__ = ("block", "columns", "views", "views_nofeat", "n")

    def __init__(
        self,
        rows: int,
        n_float: int,
        others: Mapping[str, np.dtype],
        float_index: Mapping[str, int],
        order: Sequence[str],
    ) -> None:
        self.block = np.empty((rows, n_float), dtype=np.float64, order="F")
        self.columns: dict[str, np.ndarray] = {}
        for name in order:
            if name in float_index:
                self.columns[name] = self.block[:, float_index[name]]
            else:
                self.columns[name] = np.empty(rows, dtype=others[name])
        self.views: list[np.ndarray] = []
        self.views_nofeat: list[np.ndarray] = []
        self.n = 0


class ParquetRecordWriter:
    """Append blocks of rows to a Parquet file, writing row groups in a background thread.

    Attributes:
        path: The target file.
        schema: The file's Arrow schema (with its key-value metadata).
        row_group_size: Rows per row group (and per buffer).
        partial_path: Where the rows written so far were kept when the ``with`` block
            was left by an exception, else ``None``.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        schema: pa.Schema,
        *,
        string_categories: Mapping[str, Sequence[str]],
        row_group_size: int = 65536,
        compression: str = "zstd",
        inputs: Sequence[str | os.PathLike[str]] = (),
    ) -> None:
        """Validate everything, then create the temporary file and start the writer thread.

        Args:
            path: Target file; its directory is created if missing.
            schema: The schema to write, usually from :func:`recorders.schema.build_schema`.
                Supported column types: integers, floats and strings (``string`` or
                ``large_string``).
            string_categories: For every string column, the list of its possible values;
                :meth:`write` takes integer codes (indices into this list) for it.
            row_group_size: Rows per row group.
            compression: Parquet codec: ``"zstd"``, ``"snappy"``, ``"gzip"``, ``"lz4"``,
                ``"lz4_raw"``, ``"brotli"`` or ``"none"``.
            inputs: Files the run reads (its config, model files); ``path`` must be none
                of them.

        Raises:
            RecordingError: If the schema, the categories or the size are invalid, if
                ``path`` is a directory, ends with a slash, is an existing non-regular
                file (device, FIFO, socket) or one of ``inputs``, or if its directory
                cannot be created or written.
        """
        if (
            isinstance(row_group_size, bool)
            or not isinstance(row_group_size, int | np.integer)
            or row_group_size < 1
        ):
            raise RecordingError(
                f"row_group_size must be a positive integer (got {row_group_size!r})"
            )
        self.row_group_size: int = int(row_group_size)
        if not isinstance(compression, str) or compression.lower() not in _CODECS:
            raise RecordingError(
                f"unknown compression {compression!r}; use one of {', '.join(sorted(_CODECS))}"
            )
        self.schema: pa.Schema = schema
        self.partial_path: Path | None = None
        self._layout(schema, string_categories)
        self.path: Path = self._check_path(path, inputs)
        self.stale_temps_removed: list[Path]
        """Temporary files of ``path`` left by killed runs, deleted at start."""
        self.stale_temps_kept: list[Path]
        """Temporary files of ``path`` whose process still runs (left alone)."""
        self.stale_temps_removed, self.stale_temps_kept = stale_temps(self.path)

        self._rows = 0
        self._bytes = 0
        self._error: BaseException | None = None
        self._final: Path | None = None
        self._finished = False
        self._tmp: Path = self._create_tmp()
        sink = None
        try:
            sink = pa.OSFile(str(self._tmp), "wb")
            self._writer = pq.ParquetWriter(
                sink,
                schema,
                compression=compression,
                use_dictionary=self._dictionary_columns,
            )
            self._sink = sink
        except (OSError, pa.ArrowException, ValueError, TypeError) as exc:
            if sink is not None:
                sink.close()
            self._remove_tmp()
            if isinstance(exc, OSError):
                raise RecordingError(
                    f"`path` {self.path}: cannot write in {self.path.parent} ({_one_line(exc)});"
                    " choose a writable location"
                ) from None
            raise RecordingError(
                f"cannot start a Parquet file with compression {compression!r} ({_one_line(exc)});"
                " use zstd, snappy, gzip, lz4, brotli or none"
            ) from None
        self._bytes = self._sink.tell()

        self._free: queue.Queue[_BufferSet] = queue.Queue()
        self._work: queue.Queue[_BufferSet | None] = queue.Queue()
        for _ in range(_N_BUFFER_SETS):
            buf = _BufferSet(
                self.row_group_size,
                len(self._float_index),
                self._other_dtypes,
                self._float_index,
                self._order,
            )
            buf.views = [buf.columns[name] for name in self._direct_all]
            buf.views_nofeat = [buf.columns[name] for name in self._direct_nofeat]
            self._free.put(buf)
        self._buf: _BufferSet | None = self._free.get_nowait()
        self._thread = threading.Thread(
            target=self._run, name=f"parquet-writer:{self.path.name}", daemon=True
        )
        self._thread.start()

    # ------------------------------------------------------------------ set-up

    def _layout(self, schema: pa.Schema, string_categories: Mapping[str, Sequence[str]]) -> None:
        """Work out the buffer layout of ``schema`` and validate the categories."""
        if not isinstance(schema, pa.Schema) or len(schema) == 0:
            raise RecordingError(
                "schema must be a non-empty pyarrow.Schema; use recorders.schema.build_schema()"
            )
        names = schema.names
        if len(set(names)) != len(names):
            raise RecordingError(
                "schema has duplicate column names; use recorders.schema.build_schema()"
            )
        self._order: list[str] = list(names)
        self._float_index: dict[str, int] = {}
        self._other_dtypes: dict[str, np.dtype] = {}
        self._kinds: dict[str, str] = {}
        self._categories: dict[str, pa.Array] = {}
        self._dictionary_columns: list[str] = []
        for field in schema:
            t = field.type
            if pa.types.is_string(t) or pa.types.is_large_string(t):
                if field.name not in string_categories:
                    raise RecordingError(
                        f"string column {field.name!r} has no categories; pass string_categories={{{field.name!r}: [...]}}"
                    )
                cats = list(string_categories[field.name])
                if not all(isinstance(c, str) for c in cats):
                    raise RecordingError(
                        f"string_categories[{field.name!r}] must hold only str values"
                    )
                self._categories[field.name] = pa.array(cats, type=t)
                self._other_dtypes[field.name] = np.dtype(np.int32)
                self._kinds[field.name] = _CODE_KINDS
                self._dictionary_columns.append(field.name)
            elif pa.types.is_float64(t):
                self._float_index[field.name] = len(self._float_index)
                self._kinds[field.name] = _FLOAT_KINDS
            elif pa.types.is_floating(t) or pa.types.is_integer(t):
                self._other_dtypes[field.name] = np.dtype(t.to_pandas_dtype())
                self._kinds[field.name] = _FLOAT_KINDS if pa.types.is_floating(t) else _INT_KINDS
                if pa.types.is_integer(t):
                    # Ticks, ids and actions repeat a lot within a row group.
                    self._dictionary_columns.append(field.name)
            else:
                raise RecordingError(
                    f"column {field.name!r} has unsupported type {t}; use integers, floats or strings"
                )
        extra = sorted(set(string_categories) - set(self._categories))
        if extra:
            raise RecordingError(
                f"string_categories names {extra}, which are not string columns of the schema"
            )
        # The feature block: the f_ float64 columns, contiguous in the float block.
        feats = [n for n in names if n.startswith(FEATURE_PREFIX) and n in self._float_index]
        idx = [self._float_index[n] for n in feats]
        self._feature_names: list[str] = feats
        self._feature_slice: slice | None = (
            slice(idx[0], idx[-1] + 1)
            if feats and idx == list(range(idx[0], idx[0] + len(idx)))
            else None
        )
        self._direct_all: list[str] = list(names)
        feature_set = set(feats)
        self._direct_nofeat: list[str] = [n for n in names if n not in feature_set]

    def _check_path(
        self, raw: str | os.PathLike[str], inputs: Sequence[str | os.PathLike[str]]
    ) -> Path:
        """Reject what must not be replaced and unwritable locations before touching the disk."""
        path = check_output(raw, "`path`", inputs, "training.parquet", RecordingError)
        if path.name in ("", ".", ".."):
            raise RecordingError(
                f"`path` {path} is not a file name; give a path such as data/training.parquet"
            )
        parent = path.parent
        if parent.exists() and not parent.is_dir():
            raise RecordingError(
                f"`path` {path}: {parent} is not a directory; choose a path inside a directory"
            )
        try:
            parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise RecordingError(
                f"`path` {path}: cannot create directory {parent} ({exc.strerror or _one_line(exc)});"
                " choose a writable location"
            ) from None
        if not os.access(parent, os.W_OK | os.X_OK):
            raise RecordingError(
                f"`path` {path}: directory {parent} is not writable; choose a writable location"
            )
        return path

    def _create_tmp(self) -> Path:
        """Create the hidden temporary file next to the target (exclusively)."""
        try:
            return create_temp(self.path)
        except FileExistsError as exc:
            raise RecordingError(f"{exc}") from None
        except OSError as exc:
            raise RecordingError(
                f"`path` {self.path}: cannot write in {self.path.parent} ({exc.strerror or _one_line(exc)});"
                " choose a writable location"
            ) from None

    # ------------------------------------------------------------------ public API

    @property
    def rows_written(self) -> int:
        """Rows accepted so far: those handed to the file plus those still buffered."""
        return self._rows

    @property
    def bytes_written(self) -> int:
        """Approximate size on disk of the file so far (updated after each row group)."""
        return self._bytes

    @property
    def temp_path(self) -> Path:
        """The hidden temporary file the rows go to until :meth:`close`."""
        return self._tmp

    @property
    def feature_names(self) -> list[str]:
        """The ``f_`` columns filled by the ``features`` matrix of :meth:`write`, in order."""
        return list(self._feature_names)

    def write(self, columns: Mapping[str, Any], *, features: np.ndarray | None = None) -> None:
        """Append a block of ``n`` rows.

        Args:
            columns: Column name -> 1-D array of ``n`` values, for every column of the
                schema (or every non-``f_`` column when ``features`` is given). A scalar
                is repeated over the block (handy for ``tick``). String columns take
                integer codes into their ``string_categories`` list. The block may be
                of any size; it is split across row groups as needed.
            features: Optional ``(n, len(feature_names))`` float array that supplies all
                ``f_`` columns at once, in schema order.

        Raises:
            RecordingError: If a column is missing, unknown, of the wrong length or kind,
                if the writer is closed, or if the background writer failed.
        """
        if self._finished:
            raise RecordingError(
                f"write() after close() of {self.path}; open a new ParquetRecordWriter"
            )
        if self._error is not None:
            self._raise_error()
        n, arrays = self._prepare(columns, features)
        if n == 0:
            return
        rg = self.row_group_size
        fslice = self._feature_slice
        off = 0
        while off < n:
            buf = self._buf
            if buf is None:  # a wait for a free buffer set was interrupted
                buf = self._buf = self._take_free()
            lo = buf.n
            take = min(n - off, rg - lo)
            hi = lo + take
            views = buf.views if features is None else buf.views_nofeat
            if take == n:
                for view, arr in zip(views, arrays, strict=True):
                    view[lo:hi] = arr
                if features is not None:
                    buf.block[lo:hi, fslice] = features
            else:
                for view, arr in zip(views, arrays, strict=True):
                    view[lo:hi] = arr if arr.ndim == 0 else arr[off : off + take]
                if features is not None:
                    buf.block[lo:hi, fslice] = features[off : off + take]
            buf.n = hi
            off += take
            self._rows += take
            if hi == rg:
                self._flush(take_next=True)

    def close(self) -> Path:
        """Write the buffered rows, finish the file and move it into place atomically.

        Safe to call more than once: later calls return the same path. A
        ``KeyboardInterrupt`` arriving meanwhile does not stop it: it is re-raised once
        the file is in place.

        Returns:
            The path of the finished file (``path``; or ``partial_path`` if the writer was
            already finalised by an exception in its ``with`` block).

        Raises:
            RecordingError: If writing or moving the file failed; the temporary file is
                removed and an existing file at ``path`` is left untouched.
        """
        if self._final is not None:
            return self._final
        return self._finish(self.path)

    def abort(self) -> None:
        """Stop writing and delete the temporary file; the target is never touched.

        A ``KeyboardInterrupt`` arriving meanwhile is re-raised once the file is gone.
        """
        if self._finished:
            return
        if self._error is None:
            self._error = RecordingError(f"recording to {self.path} was aborted")
        self._finished = True
        self._work.put(None)
        deferred = self._join()
        self._release_buffers()
        self._remove_tmp()
        if deferred is not None:
            raise deferred

    def __enter__(self) -> ParquetRecordWriter:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc_type is None:
            self.close()
            return
        if self._finished:
            return
        partial = self.path.with_name(f"{self.path.stem}.partial{self.path.suffix}")
        try:
            self._finish(partial)
        except RecordingError:
            return
        self.partial_path = partial
        if exc is not None:
            exc.add_note(f"the {self._rows} rows recorded so far were kept in {partial}")

    def __repr__(self) -> str:
        state = "closed" if self._finished else "open"
        return f"ParquetRecordWriter({str(self.path)!r}, rows={self._rows}, {state})"

    # ------------------------------------------------------------------ internals

    def _prepare(
        self, columns: Mapping[str, Any], features: np.ndarray | None
    ) -> tuple[int, list[np.ndarray]]:
        """Validate one block; return its row count and its arrays in buffer order."""
        n = -1
        if features is not None:
            if self._feature_slice is None:
                raise RecordingError(
                    "this schema has no contiguous f_ float64 columns; pass them in columns"
                )
            if not isinstance(features, np.ndarray):
                features = np.asarray(features)
            nf = len(self._feature_names)
            if (
                features.ndim != 2
                or features.shape[1] != nf
                or features.dtype.kind not in _FLOAT_KINDS
            ):
                raise RecordingError(
                    f"features must be a numeric (n, {nf}) array (got {features.dtype} {features.shape});"
                    " pass one row per record and one column per feature"
                )
            n = features.shape[0]
            names = self._direct_nofeat
        else:
            names = self._direct_all
        if len(columns) != len(names):
            extra = sorted(set(columns) - set(names))
            if extra:
                hint = " (features go in the features matrix)" if features is not None else ""
                raise RecordingError(
                    f"write() got unknown columns {extra}{hint}; pass only schema columns"
                )
        arrays: list[np.ndarray] = []
        kinds = self._kinds
        for name in names:
            try:
                arr = columns[name]
            except KeyError:
                raise RecordingError(
                    f"write() lacks column {name!r}; pass every column of the schema"
                ) from None
            if not isinstance(arr, np.ndarray):
                arr = np.asarray(arr)
            if arr.dtype.kind not in kinds[name]:
                raise RecordingError(
                    f"column {name!r} got {arr.dtype} values; pass {'integer codes' if name in self._categories else 'numbers'} of a numeric dtype"
                )
            if arr.ndim == 1:
                if n < 0:
                    n = arr.shape[0]
                elif arr.shape[0] != n:
                    raise RecordingError(
                        f"column {name!r} has {arr.shape[0]} rows, other columns {n}; pass equal-length arrays"
                    )
            elif arr.ndim != 0:
                raise RecordingError(
                    f"column {name!r} is {arr.ndim}-D; pass a 1-D array or a scalar"
                )
            arrays.append(arr)
        if n < 0:
            raise RecordingError(
                "write() got only scalars; pass at least one array so the number of rows is known"
            )
        return n, arrays

    def _flush(self, *, take_next: bool) -> None:
        """Hand the current buffer set to the writer thread."""
        buf = self._buf
        if buf is None or buf.n == 0:
            return
        for name, cats in self._categories.items():
            codes = buf.columns[name][: buf.n]
            lo, hi = int(codes.min()), int(codes.max())
            if lo < 0 or hi >= len(cats):
                bad = lo if lo < 0 else hi
                self._error = RecordingError(
                    f"column {name!r} has code {bad} but only {len(cats)} categories; pass indices into string_categories[{name!r}]"
                )
                self._raise_error()
        self._buf = None  # handed over: never queue it twice, even if the wait below is interrupted
        self._work.put(buf)
        if take_next:
            self._buf = self._take_free()

    def _take_free(self) -> _BufferSet:
        """Wait for a buffer set the writer thread has finished with."""
        while True:
            try:
                return self._free.get(timeout=_POLL_SECONDS)
            except queue.Empty:
                if self._error is not None:
                    self._raise_error()
                if not self._thread.is_alive():
                    self._error = RuntimeError("the writer thread stopped unexpectedly")
                    self._raise_error()

    def _to_batch(self, buf: _BufferSet) -> pa.RecordBatch:
        n = buf.n
        arrays = []
        for field in self.schema:
            col = buf.columns[field.name][:n]
            cats = self._categories.get(field.name)
            if cats is not None:
                arrays.append(pc.take(cats, pa.array(col)))
            else:
                arrays.append(pa.array(col, type=field.type))
        return pa.RecordBatch.from_arrays(arrays, schema=self.schema)

    def _run(self) -> None:
        """Writer thread: write each queued buffer set as a row group, then finish."""
        while True:
            buf = self._work.get()
            if buf is None:
                break
            try:
                if self._error is None:
                    self._writer.write_batch(
                        self._to_batch(buf), row_group_size=self.row_group_size
                    )
                    self._bytes = self._sink.tell()
            except BaseException as exc:  # noqa: BLE001 - surfaced on the producer side
                self._error = exc
                self._close_file()
                self._remove_tmp()
            finally:
                buf.n = 0
                self._free.put(buf)
        if self._error is None:
            try:
                self._writer.close()
                self._sink.close()
                self._bytes = os.path.getsize(self._tmp)
            except BaseException as exc:  # noqa: BLE001
                self._error = exc
        if self._error is not None:
            self._close_file()
            self._remove_tmp()

    def _release_buffers(self) -> None:
        """Drop the buffer sets once the thread has stopped (the memory is freed)."""
        self._buf = None
        while True:
            try:
                self._free.get_nowait()
            except queue.Empty:
                break

    def _close_file(self) -> None:
        for closer in (self._writer.close, self._sink.close):
            try:
                closer()
            except Exception:  # noqa: BLE001 - best effort after a failure
                pass

    def _remove_tmp(self) -> None:
        try:
            self._tmp.unlink(missing_ok=True)
        except OSError:
            pass

    def _finish(self, dest: Path) -> Path:
        """Flush, stop the thread, finish the file and move it to ``dest``."""
        if self._finished:
            if self._error is not None:
                self._raise_error()
            assert self._final is not None
            return self._final
        self._finished = True
        try:
            if self._error is None:
                self._flush(take_next=False)
        except RecordingError:
            pass
        self._work.put(None)
        deferred = self._join()
        self._release_buffers()
        if self._error is not None:
            self._remove_tmp()
            self._raise_error()
        try:
            replace_keeping_mode(self._tmp, dest)
        except OSError as exc:
            self._remove_tmp()
            self._error = exc
            raise RecordingError(
                f"cannot move the finished recording to {dest} ({exc.strerror or _one_line(exc)});"
                f" check that {dest.parent} is writable"
            ) from None
        self._final = dest
        if deferred is not None:
            raise deferred
        return dest

    def _join(self) -> KeyboardInterrupt | None:
        """Wait for the writer thread to end, even through Ctrl-C (returned, to re-raise later)."""
        deferred: KeyboardInterrupt | None = None
        while True:
            try:
                self._thread.join()
                return deferred
            except KeyboardInterrupt as exc:
                deferred = exc

    def _raise_error(self) -> None:
        exc = self._error
        assert exc is not None
        if isinstance(exc, RecordingError):
            raise RecordingError(str(exc))
        if _is_disk_full(exc):
            raise RecordingError(
                f"disk full while writing {self.path} (unfinished file {self._tmp.name} removed);"
                " free space or choose another `path`"
            )
        raise RecordingError(
            f"writing {self.path} failed ({type(exc).__name__}: {_one_line(exc)});"
            f" unfinished file {self._tmp.name} removed"
        )
