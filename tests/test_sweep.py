"""Seed sweeps: layout, engines, resume after an interruption, the card and check DIR."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pyarrow.dataset as pads
import pyarrow.parquet as pq
import pytest

from marketenv.cli import main
from marketenv.config import load_config
from marketenv.errors import RecordingError
from recorders.check import main as check_main
from recorders.check_dataset import check_dataset
from recorders.sweep import parse_seeds
from tests.conftest import ROOT

TICKS, WARMUP = 260, 60
IGNORE = [".", "_", "README", "market"]


def _same_rows(a, b) -> None:
    assert a.schema.names == b.schema.names and a.num_rows == b.num_rows
    for name in a.schema.names:
        x, y = a[name].to_numpy(), b[name].to_numpy()
        if x.dtype.kind == "f":
            assert np.array_equal(x, y, equal_nan=True), name
        else:
            assert x.tolist() == y.tolist(), name


def _agents(name: str) -> int:
    return sum(g.count for g in load_config(name).agents)


def test_parse_seeds() -> None:
    assert parse_seeds("1-4") == [1, 2, 3, 4]
    assert parse_seeds("7") == [7]
    assert parse_seeds("1,4,10-12,4") == [1, 4, 10, 11, 12]
    for bad in ("", "a", "5-3", "-1", "1-"):
        with pytest.raises(RecordingError, match="seeds"):
            parse_seeds(bad)


@pytest.fixture(scope="module")
def two_configs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("sweep") / "ds"
    rc = main([
        "--headless-record", "--seeds", "1-3", "--config", "quick", "--config", "multi_symbol",
        "--ticks", str(TICKS), "--record-warmup", str(WARMUP), "--record-output", str(root),
        "--record-market", "--workers", "2", "--quiet",
    ])
    assert rc == 0
    return root


def test_layout_and_the_three_engines(two_configs: Path) -> None:
    import duckdb
    import polars as pl

    root = two_configs
    expected = {
        (c, s): (TICKS - WARMUP) * _agents(c) for c in ("quick", "multi_symbol") for s in (1, 2, 3)
    }
    for (c, s), _n in expected.items():
        assert (root / f"config={c}" / f"seed={s}" / "part-0.parquet").is_file()
        assert (root / "market" / f"config={c}" / f"seed={s}" / "part-0.parquet").is_file()
    glob = str(root / "config=*" / "seed=*" / "*.parquet")
    df = pl.scan_parquet(glob, hive_partitioning=True).select("config", "seed", "run_id").collect()
    got = {(r["config"], r["seed"]): r["len"] for r in df.group_by("config", "seed").len().to_dicts()}
    assert got == expected
    runs = df.group_by("config", "seed").agg(pl.col("run_id").n_unique().alias("n"), pl.col("run_id").first())
    assert runs["n"].to_list() == [1] * 6 and runs["run_id"].n_unique() == 6
    q = f"SELECT config, seed, count(*) AS n FROM read_parquet('{glob}', hive_partitioning=true) GROUP BY config, seed"
    assert {(c, s): n for c, s, n in duckdb.sql(q).fetchall()} == expected
    t = pads.dataset(root, format="parquet", partitioning="hive", ignore_prefixes=IGNORE)
    tab = t.to_table(columns=["config", "seed", "run_id"])
    pairs = {}
    for c, s in zip(tab["config"].to_pylist(), tab["seed"].to_pylist(), strict=True):
        pairs[(c, s)] = pairs.get((c, s), 0) + 1
    assert pairs == expected


def test_hugging_face_datasets_reads_it(two_configs: Path) -> None:
    datasets = pytest.importorskip("datasets")
    files = sorted(str(p) for p in two_configs.glob("config=quick/seed=*/*.parquet"))
    hf = datasets.load_dataset("parquet", data_files=files, split="train")
    assert hf.num_rows == 3 * (TICKS - WARMUP) * _agents("quick")
    assert len(set(hf["run_id"])) == 3


def test_a_partition_is_the_single_run_recording(two_configs: Path, tmp_path: Path, capsys) -> None:
    single = tmp_path / "one.parquet"
    assert main([
        "--headless-record", "--seed", "2", "--config", "multi_symbol", "--ticks", str(TICKS),
        "--record-warmup", str(WARMUP), "--record-output", str(single), "--quiet",
    ]) == 0
    a = pq.read_table(single)
    b = pq.read_table(two_configs / "config=multi_symbol" / "seed=2" / "part-0.parquet")
    _same_rows(a, b)


def test_card_describes_the_files(two_configs: Path) -> None:
    card = json.loads((two_configs / "_dataset.json").read_text())
    files = sorted(two_configs.glob("config=*/seed=*/part-0.parquet"))
    assert card["rows"] == sum(pq.ParquetFile(f).metadata.num_rows for f in files)
    assert card["seeds"] == [1, 2, 3] and sorted(card["configs"]) == ["multi_symbol", "quick"]
    assert card["configs"]["quick"]["simulation"]["ticks"] == TICKS
    assert card["complete"] and len(card["partitions"]) == 6
    assert [c["name"] for c in card["columns"]] == pq.read_schema(files[0]).names
    assert all(c["description"] for c in card["columns"])
    assert card["market"]["rows"] == sum(
        pq.ParquetFile(f).metadata.num_rows for f in two_configs.glob("market/config=*/seed=*/*.parquet")
    )
    assert card["marketenv_version"] and card["schema_version"] == "2"
    # realism: VR(10) of each quick partition's mid (the last tick dropped, as the report
    # does), computed here with numpy; the card keeps the median over the three seeds
    vrs = []
    for f in sorted(two_configs.glob("config=quick/seed=*/part-0.parquet")):
        t = pq.read_table(f, columns=["agent_id", "f_mid_price"])
        ids = t["agent_id"].to_numpy()
        lm = np.log(t["f_mid_price"].to_numpy()[ids == ids.min()][:-1])
        vrs.append(np.var(lm[10:] - lm[:-10]) / (10 * np.var(np.diff(lm))))
    quick = card["realism"]["quick"]
    assert quick["runs"] == 3 and quick["facts"]["ACME.vr10"]["median"] == pytest.approx(sorted(vrs)[1])
    assert quick["facts"]["ACME.spread_mean"]["target"] == "<= 2.5"
    readme = (two_configs / "README.md").read_text()
    assert "Realism summary" in readme and "ACME.vr10" in readme
    for word in ("polars", "duckdb", "pyarrow.dataset", "datasets", "fill_buy_price", "bid_price_1"):
        assert word in readme


def test_check_dir_passes_and_catches_damage(two_configs: Path, tmp_path: Path, capsys) -> None:
    assert check_main([str(two_configs)]) == 0
    out = capsys.readouterr().out
    assert out.count("PASS  config=") == 6 and out.count("PASS  market/config=") == 6
    import shutil

    bad = tmp_path / "bad"
    shutil.copytree(two_configs, bad)
    (bad / "config=quick" / "seed=2" / "part-0.parquet").unlink()
    rep = check_dataset(bad)
    assert not rep.ok and any("config=quick/seed=2 as complete but its file is missing" in p for p in rep.problems)
    card = json.loads((bad / "_dataset.json").read_text())
    card["partitions"][0]["rows"] += 1
    (bad / "_dataset.json").write_text(json.dumps(card))
    rep = check_dataset(bad)
    assert any("lists" in p and "rows, the file has" in p for p in rep.problems)
    (bad / "_dataset.json").unlink()
    assert check_main([str(bad)]) == 1


def test_another_run_in_the_folder_is_a_one_line_error(two_configs: Path, capsys) -> None:
    rc = main([
        "--headless-record", "--seeds", "1-3", "--config", "quick", "--config", "multi_symbol",
        "--ticks", str(TICKS + 1), "--record-warmup", str(WARMUP), "--record-output", str(two_configs),
        "--quiet",
    ])
    err = capsys.readouterr().err.strip()
    assert rc == 2 and len(err.splitlines()) == 1 and "holds another run" in err


def _mtimes(root: Path) -> dict[str, int]:
    return {p.relative_to(root).as_posix(): p.stat().st_mtime_ns for p in root.rglob("part-0.parquet")}


def test_interrupted_sweep_resumes_with_every_row_once(tmp_path: Path) -> None:
    root = tmp_path / "ds"
    ticks, seeds = 1500, list(range(1, 7))
    cmd = [
        sys.executable, "-m", "marketenv", "--headless-record", "--seeds", "1-6", "--config", "quick",
        "--ticks", str(ticks), "--record-output", str(root), "--workers", "1", "--quiet",
    ]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen(cmd, cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 120
    while not list(root.glob("seed=*/part-0.parquet")) and time.monotonic() < deadline:
        time.sleep(0.05)
    proc.send_signal(signal.SIGINT)
    _out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    first = _mtimes(root)
    assert 1 <= len(first) < len(seeds)
    # What is visible is valid: every finished partition checks, nothing half-written shows.
    for rel in first:
        assert check_main([str(root / rel)]) == 0
    assert not [p for p in root.rglob("*") if p.name.endswith(".tmp")]
    card = json.loads((root / "_dataset.json").read_text())
    assert not card["complete"]
    assert check_main([str(root)]) == 1  # an unfinished sweep does not pass

    done = subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert f"{len(first)} already complete" in done.stdout
    after = _mtimes(root)
    assert len(after) == len(seeds)
    assert all(after[rel] == t for rel, t in first.items()), "complete partitions were rewritten"
    t = pads.dataset(root, format="parquet", partitioning="hive", ignore_prefixes=IGNORE).to_table(
        columns=["seed", "tick", "agent_id"]
    )
    key = (np.asarray(t["seed"]).astype(np.int64) << 40) | (np.asarray(t["tick"]).astype(np.int64) << 16) | np.asarray(t["agent_id"]).astype(np.int64)
    n_agents = _agents("quick")
    assert len(key) == len(seeds) * (ticks - 100) * n_agents
    assert len(np.unique(key)) == len(key), "a row is present twice"
    assert check_main([str(root)]) == 0


def test_ray_sweep_matches_the_local_pool(tmp_path: Path) -> None:
    pytest.importorskip("ray")
    args = ["--headless-record", "--seeds", "4-5", "--config", "quick", "--ticks", "200",
            "--record-warmup", "20", "--quiet"]
    assert main([*args, "--record-output", str(tmp_path / "local"), "--workers", "2"]) == 0
    assert main([*args, "--record-output", str(tmp_path / "ray"), "--ray"]) == 0
    for s in (4, 5):
        a = pq.read_table(tmp_path / "local" / f"seed={s}" / "part-0.parquet")
        b = pq.read_table(tmp_path / "ray" / f"seed={s}" / "part-0.parquet")
        _same_rows(a, b)
    assert check_main([str(tmp_path / "ray")]) == 0


def test_sweep_flag_errors(tmp_path: Path, capsys) -> None:
    cases = [
        (["--headless-record", "--seeds", "1-2", "--seed", "3"], "--seed and --seeds"),
        (["--headless-record", "--seeds", "x"], "seeds 'x'"),
        (["--headless-record", "--seeds", "1", "--record-market", "m.parquet"], "market/ folder"),
        (["--headless", "--seeds", "1-2"], "need --headless-record"),
        (["--headless-record", "--config", "quick", "--config", "default"], "needs a sweep"),
    ]
    for argv, fragment in cases:
        assert main([*argv, "--record-output", str(tmp_path / "o"), "--quiet"]) == 2
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1 and fragment in err, err


def test_a_killed_worker_fails_its_runs_and_the_rerun_finishes(tmp_path: Path) -> None:
    root = tmp_path / "ds"
    cmd = [
        sys.executable, "-m", "marketenv", "--headless-record", "--seeds", "1-3", "--config", "quick",
        "--ticks", "1500", "--record-output", str(root), "--workers", "1", "--quiet",
    ]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen(cmd, cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    tmp = []
    while not tmp and time.monotonic() < deadline:
        tmp = list(root.glob("seed=*/.part-0.parquet.*.tmp"))
        time.sleep(0.02)
    assert tmp, "no run started"
    worker = int(tmp[0].name.split(".")[3])  # .part-0.parquet.<pid>.tmp
    os.kill(worker, signal.SIGKILL)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 1, err
    assert "worker process died" in err
    assert not (tmp[0].parent / "part-0.parquet").exists()  # the killed run left nothing visible
    done = subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert not list(root.rglob("*.tmp")), "the stale temporary file was cleaned up"
    assert check_main([str(root)]) == 0


def test_uncreatable_dataset_folder_is_a_one_line_error(tmp_path: Path, capsys) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("a file, not a folder")
    for out in (blocker, blocker / "ds"):
        rc = main(["--headless-record", "--seeds", "1", "--config", "quick", "--ticks", "200",
                   "--record-output", str(out), "--quiet"])
        err = capsys.readouterr().err.strip()
        assert rc == 2 and len(err.splitlines()) == 1, err
        assert "is a file" in err or "cannot create the dataset folder" in err
