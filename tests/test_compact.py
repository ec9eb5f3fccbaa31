"""Compaction on a store written by real runs: every row kept, one file per
dataset, safe against a crash at either side of its commit, and done by a run
itself once enough runs have accumulated."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest

from textpipe import compact, store

from conftest import bbc_articles

TEXTPIPE = str(Path(sys.executable).with_name("textpipe"))
MERGED_AND_RUNS = (*compact.MERGED, "runs")


def _run(input_dir: Path, output: Path, **env: str) -> subprocess.CompletedProcess:
    done = subprocess.run([TEXTPIPE, "run", "--input", str(input_dir), "--output", str(output), "--topics", "3"],
                          capture_output=True, text=True, timeout=600, env={**os.environ, **env})
    assert done.returncode == 0, done.stderr[-3000:]
    return done


@pytest.fixture(scope="module")
def written_store(tmp_path_factory) -> tuple[Path, Path]:
    """(input, output) after three runs: business articles and an empty file, then tech articles, then a rerun."""
    root = tmp_path_factory.mktemp("compact")
    input_dir, output = root / "input", root / "output"
    (input_dir / "business").mkdir(parents=True)
    for path in bbc_articles("business", 25):
        shutil.copy(path, input_dir / "business" / path.name)
    (input_dir / "empty.txt").write_text("   \n")
    _run(input_dir, output)
    (input_dir / "tech").mkdir()
    for path in bbc_articles("tech", 25):
        shutil.copy(path, input_dir / "tech" / path.name)
    _run(input_dir, output)
    _run(input_dir, output)
    return input_dir, output


@pytest.fixture
def store_copy(written_store, tmp_path) -> Path:
    copy = tmp_path / "output"
    shutil.copytree(written_store[1], copy)
    return copy


def _rows(output: Path, name: str) -> list[str]:
    return sorted(map(repr, store.read_dataset(output, name).to_pylist()))


def _contents(output: Path) -> dict[str, list[str]]:
    return {name: _rows(output, name) for name in store.SCHEMAS} | {"manifest": sorted(map(repr, store.read_file_manifest(output))),
                                                                   "terms-state": sorted(map(repr, store.read_terms_deltas(output).to_pylist()))}


def _parquet_files(output: Path, name: str) -> list[Path]:
    return store.dataset_files(output, name)


def test_compaction_keeps_every_row_and_leaves_one_file_per_dataset(store_copy):
    before = _contents(store_copy)
    assert len(_parquet_files(store_copy, "runs")) == 3 and len(_parquet_files(store_copy, "articles")) == 2
    done = compact.compact(store_copy, "20990101T000000Z-test-compact")
    assert done is not None and done.runs_merged == 3
    after = _contents(store_copy)
    for name in (*compact.MERGED, "topics", "manifest"):
        assert after[name] == before[name], name
    assert len(before["articles"]) == 50 and len(before["rejects"]) == 1
    for name in MERGED_AND_RUNS:
        assert [p.name for p in _parquet_files(store_copy, name)] == ["part-20990101T000000Z-test-compact.parquet"], name
    runs = store.read_dataset(store_copy, "runs").to_pylist()
    assert sorted(map(repr, (r for r in runs if r["flow"] != "compact"))) == before["runs"]
    compaction = [r for r in runs if r["flow"] == "compact"]
    assert len(compaction) == 1 and compaction[0]["run_id"] == done.run_id and '"runs_merged": 3' in compaction[0]["parameters"]
    assert not store.compaction_journal(store_copy).exists()
    assert store.recover(store_copy) == []


def test_a_dataset_without_rows_stays_readable_after_compaction(tmp_path):
    now = datetime.now(UTC)
    for run_id in ("20260101T000000Z-a", "20260101T010000Z-b"):
        store.commit_run(tmp_path, {"run_id": run_id, "flow": "textpipe-run", "started_at": now, "finished_at": now, "n_files": 0,
                                    "n_unchanged_files": 0, "n_skipped_files": 0, "n_articles_seen": 0, "n_new": 0, "n_duplicates": 0,
                                    "n_rejected": 0, "n_topics": 0, "model_id": None, "textpipe_version": "test", "parameters": "{}",
                                    "stage_seconds": "{}"}, None)
    assert compact.compact(tmp_path, "20990101T000000Z-test-compact") is not None
    for name in compact.MERGED:
        assert [p.name for p in _parquet_files(tmp_path, name)] == ["part-20990101T000000Z-test-compact.parquet"], name
    for name, schema in store.SCHEMAS.items():
        if name not in store.DERIVED:  # one file each, not merged
            assert list(pd.read_parquet(tmp_path / name).columns) == schema.names, name


def test_nothing_to_merge_is_a_no_op(store_copy):
    assert compact.compact(store_copy, "20990101T000000Z-a-compact") is not None
    listing = sorted(p.relative_to(store_copy) for p in store_copy.rglob("*"))
    assert compact.compact(store_copy, "20990101T000001Z-b-compact") is None
    assert sorted(p.relative_to(store_copy) for p in store_copy.rglob("*")) == listing


def test_a_run_bigger_than_the_threshold_is_left_alone(store_copy):
    sizes = {run_id: sum(p.stat().st_size for p in store.run_files(store_copy, run_id).values()) for run_id in compact.small_runs(store_copy)}
    biggest = max(sizes, key=sizes.get)
    done = compact.compact(store_copy, "20990101T000000Z-test-compact", small_run_bytes=sizes[biggest])
    assert done is not None and done.runs_merged == 2
    assert store.run_files(store_copy, biggest), "the big run's files must stay as they were"
    assert len(_rows(store_copy, "articles")) == 50


def _crash_at(monkeypatch, owner, name: str, store_dir: Path, snapshot: Path, when=lambda *args: True) -> None:
    """Copy the store as it is when `owner.name` is called (what a SIGKILL would leave), then fail."""
    original = getattr(owner, name)

    def crash(*args, **kwargs):
        if when(*args):
            shutil.copytree(store_dir, snapshot)
            raise KeyboardInterrupt("simulated crash")
        return original(*args, **kwargs)

    monkeypatch.setattr(owner, name, crash)


def test_a_crash_before_the_commit_is_undone_by_recover(store_copy, tmp_path, monkeypatch):
    before = _contents(store_copy)
    snapshot = tmp_path / "at-crash"
    # The commit point is the rename of the merged `runs` file to its visible name;
    # crash just before it, when every other merged file is already in place.
    _crash_at(monkeypatch, os, "replace", store_copy, snapshot,
              when=lambda tmp, final: Path(final).parent.name == "runs" and not Path(final).name.startswith("."))
    with pytest.raises(KeyboardInterrupt):
        compact.compact(store_copy, "20990101T000000Z-test-compact")
    monkeypatch.undo()
    assert store.compaction_journal(snapshot).exists()
    assert len(_parquet_files(snapshot, "articles")) == 3, "the merged file was in place beside the runs' own"
    store.recover(snapshot)
    assert _contents(snapshot) == before
    assert not store.compaction_journal(snapshot).exists()


def test_a_crash_after_the_commit_is_finished_by_recover(store_copy, tmp_path, monkeypatch):
    before = _contents(store_copy)
    snapshot = tmp_path / "at-crash"
    _crash_at(monkeypatch, store, "finish_compaction", store_copy, snapshot)
    with pytest.raises(KeyboardInterrupt):
        compact.compact(store_copy, "20990101T000000Z-test-compact")
    monkeypatch.undo()
    assert len(_rows(snapshot, "articles")) == 100, "both copies were visible at the crash"
    store.recover(snapshot)
    after = _contents(snapshot)
    for name in (*compact.MERGED, "topics", "manifest"):
        assert after[name] == before[name], name
    assert len(after["runs"]) == len(before["runs"]) + 1
    for name in MERGED_AND_RUNS:
        assert len(_parquet_files(snapshot, name)) == 1, name


def test_repair_moves_a_corrupt_compacted_file_with_the_rest_of_its_compaction(store_copy):
    done = compact.compact(store_copy, "20990101T000000Z-test-compact")
    merged = store.dataset_dir(store_copy, "sentences") / store.part_name(done.run_id)
    merged.write_bytes(merged.read_bytes()[: merged.stat().st_size // 2])
    moved = store.repair(store_copy)
    assert len(moved) == done.files_after
    assert store.run_files(store_copy, done.run_id) == {}
    # Its record of the input files went too, so the next run reads them all again.
    assert store.read_file_manifest(store_copy) == set()


def test_a_run_compacts_the_store_once_enough_runs_have_small_files(written_store, store_copy):
    input_dir, _ = written_store
    assert compact.compact(store_copy, "20990101T000000Z-test-compact") is not None
    articles = _rows(store_copy, "articles")
    # After the compaction above, this run's own file makes two small runs.
    done = _run(input_dir, store_copy, TEXTPIPE_COMPACT_AFTER_RUNS="2")
    summary = done.stdout.strip().splitlines()[-1]
    assert " 0 new, " in summary and "(51 unchanged files not read again)" in summary, summary
    assert _rows(store_copy, "articles") == articles
    for name in MERGED_AND_RUNS:
        assert len(_parquet_files(store_copy, name)) == 1, name
    flows = [r["flow"] for r in store.read_dataset(store_copy, "runs").to_pylist()]
    assert flows.count("compact") == 2 and flows.count("textpipe-run") == 4


def test_the_compact_command_reports_what_it_merged_and_waits_for_no_running_run(store_copy):
    done = subprocess.run([TEXTPIPE, "compact", "--output", str(store_copy)], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    (compaction,) = [r["run_id"] for r in store.read_dataset(store_copy, "runs").to_pylist() if r["flow"] == "compact"]
    written = len(store.run_files(store_copy, compaction))
    assert written == 9  # articles, sentences, article_topics, rejects, runs; the input-file manifest, the terms counted, the story index (2)
    assert done.stdout.startswith(f"textpipe compact: merged the files of 3 runs: 18 files -> {written} ("), done.stdout
    again = subprocess.run([TEXTPIPE, "compact", "--output", str(store_copy)], capture_output=True, text=True, timeout=120)
    assert again.returncode == 0 and "nothing to merge" in again.stdout, again.stdout + again.stderr
    with store.OutputLock(store_copy):
        locked = subprocess.run([TEXTPIPE, "compact", "--output", str(store_copy)], capture_output=True, text=True, timeout=120)
    assert locked.returncode != 0 and "another textpipe run is writing" in locked.stderr, locked.stderr
    assert len(locked.stderr.strip().splitlines()) == 1


def test_a_failed_compaction_leaves_the_committed_run_and_the_store_as_they_were(written_store, store_copy):
    # Runs never read `article_topics`, so a damaged file there lets the run commit
    # and then makes its compaction fail half way.
    input_dir, _ = written_store
    damaged = sorted((store_copy / "article_topics").glob("part-*.parquet"))[0]
    damaged.write_bytes(damaged.read_bytes()[: damaged.stat().st_size // 2])
    articles = _rows(store_copy, "articles")
    runs_files = len(_parquet_files(store_copy, "runs"))
    done = _run(input_dir, store_copy, TEXTPIPE_COMPACT_AFTER_RUNS="2")
    assert " 0 new, " in done.stdout.strip().splitlines()[-1]
    assert _rows(store_copy, "articles") == articles
    assert len(_parquet_files(store_copy, "runs")) == runs_files + 1, "the run committed; nothing was merged"
    assert "compact" not in [r["flow"] for r in store.read_dataset(store_copy, "runs").to_pylist()]
    assert not store.compaction_journal(store_copy).exists()
    assert not [p for p in store_copy.rglob("*") if p.name.endswith(".tmp") or "-compact" in p.name]


def test_a_file_from_before_a_column_existed_is_merged_with_that_column_null(store_copy):
    # An older textpipe wrote `runs` without stage_seconds (non-nullable today):
    # readers see it as null, and the merged file must keep it so.
    old = sorted(store.dataset_dir(store_copy, "runs").glob("part-*.parquet"))[0]
    old_run = old.stem[len("part-"):]
    pq.write_table(pq.read_table(old).drop_columns(["stage_seconds"]), old)
    before = {r["run_id"]: r for r in store.read_dataset(store_copy, "runs").to_pylist()}
    assert before[old_run]["stage_seconds"] is None
    done = compact.compact(store_copy, "20990101T000000Z-test-compact")
    assert done is not None and done.runs_merged == 3
    after = {r["run_id"]: r for r in store.read_dataset(store_copy, "runs").to_pylist()}
    assert {k: v for k, v in after.items() if k != done.run_id} == before
    assert len(_parquet_files(store_copy, "runs")) == 1


def test_files_from_before_the_ensemble_score_read_merge_and_refit_with_it_null(store_copy):
    # textpipe before the ensemble score wrote articles without sentiment_ensemble and
    # sentences without ensemble: readers, compaction and refit all see those rows as null.
    from textpipe import refit
    from textpipe.config import Settings

    olds = {}
    for name, column in (("articles", "sentiment_ensemble"), ("sentences", "ensemble")):
        old = sorted(store.dataset_dir(store_copy, name).glob("part-*.parquet"))[0]
        pq.write_table(pq.read_table(old).drop_columns([column]), old)
        olds[name] = set(pq.read_table(old, columns=["article_id"]).column("article_id").to_pylist())
        rows = store.read_dataset(store_copy, name, ["article_id", column]).to_pylist()
        assert all((r[column] is None) == (r["article_id"] in olds[name]) for r in rows), name
    articles_file = sorted(store.dataset_dir(store_copy, "articles").glob("part-*.parquet"))[0]
    model = refit.fit_on_store(store_copy, Settings(n_topics=3))
    refit.reassign_file(articles_file, model, 0.05, store_copy.parent)
    rewritten = pq.read_table(articles_file)
    assert rewritten.schema.names == store.ARTICLES.names
    by_id = dict(zip(rewritten.column("article_id").to_pylist(), rewritten.column("sentiment_ensemble").to_pylist(), strict=True))
    assert all((score is None) == (article_id in olds["articles"]) for article_id, score in by_id.items())
    assert set(rewritten.column("model_id").to_pylist()) == {model.model_id_}

    before = _contents(store_copy)
    done = compact.compact(store_copy, "20990101T000000Z-test-compact")
    assert done is not None
    after = _contents(store_copy)
    assert {name: rows for name, rows in after.items() if name != "runs"} == {name: rows for name, rows in before.items() if name != "runs"}
