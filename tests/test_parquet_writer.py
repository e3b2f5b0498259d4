"""ParquetRecordWriter: round trips, row groups, atomic replace, failures."""

from __future__ import annotations

import errno
import os
from pathlib import Path

import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from polars.testing import assert_frame_equal

from marketenv.errors import RecordingError
from marketenv.feature_spec import FEATURE_NAMES
from recorders import parquet_writer as pw
from recorders.parquet_writer import ParquetRecordWriter
from recorders.schedule import RecordSchedule
from recorders.schema import (
    LEADING,
    METADATA_KEYS,
    OUTCOME_COLUMNS,
    build_schema,
    column_names,
    feature_columns,
    make_metadata,
    read_metadata,
)

AGENTS = ["MarketMaker_0", "Noise_1", "Momentum_2", "Fundamental_3"]
SYMBOLS = ["ACME", "BOLT"]
RUNS = ["run-a", "run-b"]
CATS = {"agent_name": AGENTS, "symbol": SYMBOLS, "run_id": RUNS}


def _metadata(**flags: object) -> dict[str, str]:
    return make_metadata(
        {"ticks": 50, "symbols": SYMBOLS}, 42, {**RecordSchedule(0, 1, 50).as_flags(), **flags}
    )


def _schema() -> pa.Schema:
    return build_schema(metadata=_metadata())


def _blocks(
    rng: np.random.Generator, sizes: list[int]
) -> list[tuple[dict[str, np.ndarray], np.ndarray]]:
    """Random blocks of the given sizes (all columns, features as a matrix)."""
    out = []
    tick = 0
    for n in sizes:
        cols: dict[str, np.ndarray] = {
            "tick": np.full(n, tick, dtype=np.uint64),
            "agent_id": rng.integers(0, 2**40, size=n).astype(np.uint64),
            "agent_name": rng.integers(0, len(AGENTS), size=n).astype(np.int32),
            "symbol": rng.integers(0, len(SYMBOLS), size=n).astype(np.int64),
            "action": rng.integers(-1, 2, size=n).astype(np.int8),
        }
        for name in OUTCOME_COLUMNS[1:]:
            cols[name] = rng.normal(size=n)
        cols["fill_price"][rng.random(n) < 0.5] = np.nan
        cols["run_id"] = rng.integers(0, len(RUNS), size=n).astype(np.int32)
        out.append((cols, rng.normal(size=(n, len(FEATURE_NAMES)))))
        tick += 1
    return out


def _expected(blocks: list[tuple[dict[str, np.ndarray], np.ndarray]]) -> dict[str, np.ndarray]:
    exp = {name: np.concatenate([b[0][name] for b in blocks]) for name in blocks[0][0]}
    feats = np.concatenate([b[1] for b in blocks])
    for j, name in enumerate(feature_columns()):
        exp[name] = feats[:, j]
    exp["agent_name"] = np.array(AGENTS, dtype=object)[exp["agent_name"]]
    exp["symbol"] = np.array(SYMBOLS, dtype=object)[exp["symbol"]]
    exp["run_id"] = np.array(RUNS, dtype=object)[exp["run_id"]]
    return exp


def _write(path: Path, blocks, row_group_size: int = 50, **kw) -> ParquetRecordWriter:
    w = ParquetRecordWriter(
        path, _schema(), string_categories=CATS, row_group_size=row_group_size, **kw
    )
    for cols, feats in blocks:
        w.write(cols, features=feats)
    return w


def _tmp_files(d: Path) -> list[Path]:
    return sorted(p for p in d.iterdir() if p.name.endswith(".tmp"))


def test_round_trip_pyarrow_and_polars_with_row_groups_and_splits(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    sizes = [7, 13, 120, 1, 50, 49, 3, 260, 0, 17]  # blocks straddle and span row groups
    blocks = _blocks(rng, sizes)
    path = tmp_path / "out" / "rec.parquet"
    w = _write(path, blocks, row_group_size=50)
    total = sum(sizes)
    assert w.rows_written == total
    assert w.close() == path

    pf = pq.ParquetFile(path)
    assert pf.metadata.num_rows == total
    assert pf.metadata.num_row_groups == -(-total // 50)
    assert [pf.metadata.row_group(i).num_rows for i in range(pf.metadata.num_row_groups - 1)] == [
        50
    ] * (pf.metadata.num_row_groups - 1)
    table = pq.read_table(path)
    assert table.schema.names == column_names()
    assert table.schema.field("agent_name").type == pa.string()
    assert table.schema.field("symbol").type == pa.string()
    assert table.schema.field("tick").type == pa.uint64()
    assert table.schema.field("action").type == pa.int8()
    exp = _expected(blocks)
    for name in column_names():
        got = table.column(name).to_numpy(zero_copy_only=False)
        if got.dtype == object:
            assert list(got) == list(exp[name]), name
        else:
            np.testing.assert_array_equal(got, exp[name].astype(got.dtype), err_msg=name)

    df = pl.read_parquet(path)
    assert df.columns == column_names()
    assert df.height == total
    assert df.schema["agent_name"] == pl.String
    assert df.schema["tick"] == pl.UInt64
    assert df["agent_name"].to_list() == list(exp["agent_name"])
    np.testing.assert_array_equal(df["f_mid_price"].to_numpy(), exp["f_mid_price"])
    # NaN is stored as a float NaN, not as a null.
    assert df["fill_price"].null_count() == 0
    assert df["fill_price"].is_nan().sum() == int(np.isnan(exp["fill_price"]).sum())


def test_features_matrix_and_per_column_input_give_the_same_file(tmp_path: Path) -> None:
    rng = np.random.default_rng(2)
    blocks = _blocks(rng, [30, 30, 45])
    a = _write(tmp_path / "a.parquet", blocks).close()
    w = ParquetRecordWriter(
        tmp_path / "b.parquet", _schema(), string_categories=CATS, row_group_size=50
    )
    for cols, feats in blocks:
        full = dict(cols)
        for j, name in enumerate(feature_columns()):
            full[name] = feats[:, j]
        w.write(full)
    b = w.close()
    assert_frame_equal(pl.read_parquet(a), pl.read_parquet(b))


def test_scalar_columns_are_broadcast(tmp_path: Path) -> None:
    rng = np.random.default_rng(3)
    ((cols, feats),) = _blocks(rng, [5])
    cols = dict(cols)
    cols["tick"] = np.uint64(77)
    cols["symbol"] = 1
    w = ParquetRecordWriter(tmp_path / "s.parquet", _schema(), string_categories=CATS)
    w.write(cols, features=feats)
    t = pq.read_table(w.close())
    assert t.column("tick").to_pylist() == [77] * 5
    assert t.column("symbol").to_pylist() == ["BOLT"] * 5


def test_close_twice_and_write_after_close(tmp_path: Path) -> None:
    rng = np.random.default_rng(4)
    w = _write(tmp_path / "c.parquet", _blocks(rng, [10]))
    first = w.close()
    assert w.close() == first
    assert w.bytes_written == first.stat().st_size
    with pytest.raises(RecordingError, match="after close"):
        w.write(*_blocks(rng, [1])[0][:1])
    assert _tmp_files(tmp_path) == []


def test_empty_recording_is_a_valid_file(tmp_path: Path) -> None:
    with ParquetRecordWriter(tmp_path / "e.parquet", _schema(), string_categories=CATS) as w:
        pass
    t = pq.read_table(w.path)
    assert t.num_rows == 0
    assert t.schema.names == column_names()


def test_atomic_replace_keeps_an_existing_target_until_close(tmp_path: Path) -> None:
    rng = np.random.default_rng(5)
    path = tmp_path / "rec.parquet"
    path.write_bytes(b"previous recording")
    w = _write(path, _blocks(rng, [40] * 10), row_group_size=50)  # several groups flushed
    assert path.read_bytes() == b"previous recording"
    tmps = _tmp_files(tmp_path)
    assert (
        len(tmps) == 1 and tmps[0].name.startswith(".rec.parquet.") and tmps[0].parent == tmp_path
    )
    assert w.temp_path == tmps[0]
    assert w.bytes_written > 0
    w.close()
    assert pq.read_metadata(path).num_rows == 400
    assert _tmp_files(tmp_path) == []


def test_exception_in_with_keeps_a_valid_partial_file_and_the_target(tmp_path: Path) -> None:
    rng = np.random.default_rng(6)
    path = tmp_path / "rec.parquet"
    path.write_bytes(b"previous recording")
    blocks = _blocks(rng, [40] * 3)  # 120 rows: two full groups and 20 buffered rows
    with pytest.raises(KeyboardInterrupt) as info:
        with ParquetRecordWriter(path, _schema(), string_categories=CATS, row_group_size=50) as w:
            for cols, feats in blocks:
                w.write(cols, features=feats)
            raise KeyboardInterrupt
    assert path.read_bytes() == b"previous recording"
    assert w.partial_path == tmp_path / "rec.partial.parquet"
    assert w.close() == w.partial_path
    t = pq.read_table(w.partial_path)
    assert t.num_rows == 120
    assert read_metadata(w.partial_path)["marketenv.seed"] == 42
    assert any("rec.partial.parquet" in note for note in getattr(info.value, "__notes__", []))
    assert _tmp_files(tmp_path) == []


def test_directory_as_output_is_rejected(tmp_path: Path) -> None:
    d = tmp_path / "x"
    d.mkdir()
    with pytest.raises(RecordingError) as info:
        ParquetRecordWriter(d, _schema(), string_categories=CATS)
    msg = str(info.value)
    assert "is a directory" in msg and "training.parquet" in msg and "\n" not in msg
    assert list(d.iterdir()) == []


def test_missing_parent_directories_are_created(tmp_path: Path) -> None:
    path = tmp_path / "a" / "b" / "rec.parquet"
    w = ParquetRecordWriter(path, _schema(), string_categories=CATS)
    assert path.parent.is_dir()
    assert w.close() == path


def test_parent_that_cannot_be_created_is_rejected(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    for target in (blocker / "rec.parquet", blocker / "sub" / "rec.parquet"):
        with pytest.raises(RecordingError) as info:
            ParquetRecordWriter(target, _schema(), string_categories=CATS)
        msg = str(info.value)
        assert msg.startswith("`path` ") and "--" not in msg and "\n" not in msg
    assert blocker.read_text() == "not a directory"


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="root may write anywhere")
def test_unwritable_parent_is_rejected(tmp_path: Path) -> None:
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o500)
    try:
        with pytest.raises(RecordingError, match="not writable"):
            ParquetRecordWriter(ro / "rec.parquet", _schema(), string_categories=CATS)
    finally:
        ro.chmod(0o700)


def test_metadata_round_trip(tmp_path: Path) -> None:
    meta = make_metadata(
        {"seed": 42, "symbols": SYMBOLS, "nested": {"a": [1, 2]}},
        42,
        {**RecordSchedule(100, 5, 1000).as_flags(), "command": "marketenv --headless-record"},
    )
    w = ParquetRecordWriter(
        tmp_path / "m.parquet", build_schema(metadata=meta), string_categories=CATS
    )
    got = read_metadata(w.close())
    assert set(METADATA_KEYS) <= set(got)
    assert got["marketenv.schema_version"] == "2"
    assert got["marketenv.config"] == {"seed": 42, "symbols": SYMBOLS, "nested": {"a": [1, 2]}}
    assert got["marketenv.seed"] == 42
    assert got["marketenv.recording"]["warmup"] == 100
    assert got["marketenv.recording"]["interval"] == 5
    assert got["marketenv.recording"]["command"] == "marketenv --headless-record"
    assert [f["name"] for f in got["marketenv.features"]] == list(FEATURE_NAMES)
    assert all(f["description"] for f in got["marketenv.features"])
    import marketenv

    assert got["marketenv.version"] == marketenv.__version__


def test_make_metadata_needs_warmup_and_interval() -> None:
    with pytest.raises(RecordingError, match="warmup"):
        make_metadata({}, 0, {"interval": 1})
    with pytest.raises(RecordingError, match="JSON"):
        make_metadata({"bad": object()}, 0, {"warmup": 0, "interval": 1})


def test_read_metadata_of_missing_and_non_parquet_files(tmp_path: Path) -> None:
    with pytest.raises(RecordingError, match="no such file"):
        read_metadata(tmp_path / "nope.parquet")
    junk = tmp_path / "junk.parquet"
    junk.write_text("hello")
    with pytest.raises(RecordingError, match="not a readable Parquet"):
        read_metadata(junk)


class _FullDiskWriter(pq.ParquetWriter):
    """A ParquetWriter whose second row group hits a full disk."""

    calls = 0

    def write_batch(self, *args: object, **kwargs: object) -> None:
        type(self).calls += 1
        if type(self).calls >= 2:
            raise OSError(errno.ENOSPC, "No space left on device")
        super().write_batch(*args, **kwargs)


def test_writer_thread_failure_surfaces_and_removes_the_temp_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(pw.pq, "ParquetWriter", _FullDiskWriter)
    _FullDiskWriter.calls = 0
    rng = np.random.default_rng(7)
    path = tmp_path / "rec.parquet"
    path.write_bytes(b"previous recording")
    w = ParquetRecordWriter(path, _schema(), string_categories=CATS, row_group_size=20)
    blocks = _blocks(rng, [10] * 5)
    with pytest.raises(RecordingError) as info:
        for _ in range(200):  # bounded: the error must surface long before
            for cols, feats in blocks:
                w.write(cols, features=feats)
    msg = str(info.value)
    assert "disk full" in msg and "`path`" in msg and "--" not in msg and "\n" not in msg
    with pytest.raises(RecordingError, match="disk full"):
        w.close()
    assert path.read_bytes() == b"previous recording"
    assert _tmp_files(tmp_path) == []


def test_writer_thread_failure_inside_with_keeps_no_partial(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(pw.pq, "ParquetWriter", _FullDiskWriter)
    _FullDiskWriter.calls = 0
    rng = np.random.default_rng(8)
    path = tmp_path / "rec.parquet"
    blocks = _blocks(rng, [10] * 5)
    with pytest.raises(RecordingError, match="disk full"):
        with ParquetRecordWriter(path, _schema(), string_categories=CATS, row_group_size=20) as w:
            for _ in range(200):
                for cols, feats in blocks:
                    w.write(cols, features=feats)
    assert w.partial_path is None
    assert list(tmp_path.iterdir()) == []


def test_abort_removes_the_temp_file_and_leaves_the_target(tmp_path: Path) -> None:
    rng = np.random.default_rng(9)
    path = tmp_path / "rec.parquet"
    path.write_bytes(b"keep me")
    w = _write(path, _blocks(rng, [60, 60]), row_group_size=50)
    w.abort()
    w.abort()
    assert path.read_bytes() == b"keep me"
    assert _tmp_files(tmp_path) == []


def test_block_validation(tmp_path: Path) -> None:
    rng = np.random.default_rng(10)
    ((cols, feats),) = _blocks(rng, [4])
    w = ParquetRecordWriter(tmp_path / "v.parquet", _schema(), string_categories=CATS)
    bad = dict(cols)
    del bad["reward"]
    with pytest.raises(RecordingError, match="lacks column 'reward'"):
        w.write(bad, features=feats)
    with pytest.raises(RecordingError, match="unknown columns"):
        w.write({**cols, "bogus": np.zeros(4)}, features=feats)
    with pytest.raises(RecordingError, match="rows"):
        w.write({**cols, "reward": np.zeros(3)}, features=feats)
    with pytest.raises(RecordingError, match="features"):
        w.write(cols, features=feats[:, :10])
    with pytest.raises(RecordingError, match="'action'"):
        w.write({**cols, "action": np.zeros(4, dtype=np.float64)}, features=feats)
    with pytest.raises(RecordingError, match="'agent_name'"):
        w.write({**cols, "agent_name": np.array(["a", "b", "c", "d"])}, features=feats)
    assert w.rows_written == 0
    w.write(cols, features=feats)
    assert w.close().exists()


def test_out_of_range_string_code_is_reported(tmp_path: Path) -> None:
    rng = np.random.default_rng(11)
    ((cols, feats),) = _blocks(rng, [4])
    w = ParquetRecordWriter(
        tmp_path / "v.parquet", _schema(), string_categories=CATS, row_group_size=4
    )
    with pytest.raises(RecordingError, match="symbol.*code 5"):
        w.write({**cols, "symbol": np.full(4, 5)}, features=feats)
    with pytest.raises(RecordingError):
        w.close()
    assert _tmp_files(tmp_path) == []


def test_schema_and_categories_are_validated_before_touching_disk(tmp_path: Path) -> None:
    path = tmp_path / "new" / "rec.parquet"
    with pytest.raises(RecordingError, match="string_categories"):
        ParquetRecordWriter(path, _schema(), string_categories={"agent_name": AGENTS})
    with pytest.raises(RecordingError, match="not string columns"):
        ParquetRecordWriter(path, _schema(), string_categories={**CATS, "tick": ["x"]})
    with pytest.raises(RecordingError, match="row_group_size"):
        ParquetRecordWriter(path, _schema(), string_categories=CATS, row_group_size=0)
    with pytest.raises(RecordingError, match="unsupported type"):
        ParquetRecordWriter(path, pa.schema([("t", pa.timestamp("s"))]), string_categories={})
    with pytest.raises(RecordingError, match="compression"):
        ParquetRecordWriter(path, _schema(), string_categories=CATS, compression="nope")
    assert not path.parent.exists()


def test_leading_columns_come_first() -> None:
    assert _schema().names[:4] == LEADING
    assert _schema().names[-len(OUTCOME_COLUMNS) - 1 :] == [*OUTCOME_COLUMNS, "run_id"]


def test_schema_layout_and_types() -> None:
    schema = build_schema()
    assert feature_columns(["a", "b"]) == ["f_a", "f_b"]
    assert len(schema) == 4 + len(FEATURE_NAMES) + len(OUTCOME_COLUMNS) + 1 == 69
    assert schema.names[4:49] == [f"f_{n}" for n in FEATURE_NAMES]
    assert [str(schema.field(n).type) for n in LEADING] == ["uint64", "uint64", "string", "string"]
    assert schema.field("action").type == pa.int8()
    assert all(schema.field(n).type == pa.float64() for n in OUTCOME_COLUMNS[1:])
    assert schema.metadata is None
    assert build_schema(metadata=_metadata()).metadata[b"marketenv.schema_version"] == b"2"
    with pytest.raises(RecordingError, match="duplicate"):
        build_schema(["mid_price", "mid_price"])
