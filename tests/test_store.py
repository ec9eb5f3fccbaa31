"""store: schemas, atomic writes, recovery of interrupted runs, corrupt files, the lock,
and docs/datasets.md's data dictionary kept true to the schemas."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from datetime import UTC, datetime, timedelta

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from textpipe import store
from textpipe.errors import OutputError, RunLockedError

from conftest import ROOT


def _runs_row(run_id: str) -> dict:
    now = datetime.now(UTC)
    return {"run_id": run_id, "flow": "textpipe-run", "started_at": now, "finished_at": now, "n_files": 1, "n_unchanged_files": 0, "n_skipped_files": 0,
            "n_articles_seen": 1, "n_new": 1, "n_duplicates": 0, "n_rejected": 0, "n_topics": 0, "model_id": None,
            "textpipe_version": "test", "parameters": "{}", "stage_seconds": "{}"}


def _sentences(article_id: str, n: int) -> pa.Table:
    return pa.Table.from_pylist(
        [{"article_id": article_id, "sentence_index": i, "paragraph_index": 0, "start_char": i, "end_char": i + 1, "text": "x",
          "compound": 0.0, "pos": 0.0, "neg": 0.0, "neu": 1.0} for i in range(n)],
        schema=store.SENTENCES,
    )


def test_every_schema_column_has_a_description():
    for name, schema in store.SCHEMAS.items():
        assert schema.metadata[b"description"], name
        for field in schema:
            assert field.metadata and field.metadata[b"description"].strip(), f"{name}.{field.name}"
        assert all(f.type.tz == "UTC" for f in schema if pa.types.is_timestamp(f.type))


def test_written_files_carry_schema_and_zstd(tmp_path):
    path = tmp_path / "sentences" / store.part_name("r1")
    store.write_table(path, _sentences("a" * 16, 3), store.SENTENCES)
    metadata = pq.ParquetFile(path).metadata
    assert metadata.row_group(0).column(0).compression == "ZSTD"
    schema = pq.read_schema(path)
    assert schema.field("start_char").metadata[b"description"]
    assert list(pd.read_parquet(tmp_path / "sentences").columns) == store.SENTENCES.names


def test_failed_write_leaves_no_visible_file(tmp_path):
    def tables():
        yield _sentences("a" * 16, 2)
        raise RuntimeError("crash while writing")

    final = tmp_path / "sentences" / store.part_name("r1")
    with pytest.raises(RuntimeError):
        store.write_batches(final, tables(), store.SENTENCES)
    assert not final.exists() and list((tmp_path / "sentences").iterdir()) == []


def test_recover_removes_parts_of_uncommitted_runs(tmp_path):
    store.write_table(tmp_path / "sentences" / store.part_name("done"), _sentences("a" * 16, 2), store.SENTENCES)
    store.commit_run(tmp_path, _runs_row("done"), None)
    store.write_table(tmp_path / "sentences" / store.part_name("crashed"), _sentences("b" * 16, 2), store.SENTENCES)
    (tmp_path / "sentences" / ".part-x.parquet.123.tmp").write_bytes(b"half")
    removed = store.recover(tmp_path)
    assert {p.name for p in removed} == {store.part_name("crashed"), ".part-x.parquet.123.tmp"}
    assert set(pd.read_parquet(tmp_path / "sentences").article_id) == {"a" * 16}


def test_recover_removes_temp_files_of_the_report_and_the_model_pointer(tmp_path):
    # A run killed while writing report.html or models/current.json leaves them beside the datasets.
    (tmp_path / "models").mkdir()
    leftovers = [tmp_path / ".report.html.123.tmp", tmp_path / "models" / ".current.json.123.tmp"]
    for path in leftovers:
        path.write_bytes(b"half")
    (tmp_path / "report.html").write_text("kept")
    assert sorted(store.recover(tmp_path)) == sorted(leftovers)
    assert not any(path.exists() for path in leftovers) and (tmp_path / "report.html").exists()


def test_every_run_part_dataset_reads_as_an_empty_table_with_its_columns_from_the_first_commit(tmp_path):
    store.write_table(tmp_path / "sentences" / store.part_name("r1"), _sentences("a" * 16, 2), store.SENTENCES)
    store.commit_run(tmp_path, _runs_row("r1"), None)
    committed = [name for name in store.SCHEMAS if name not in store.DERIVED]  # derived: see test_derived.py
    for name in committed:
        assert list(pd.read_parquet(tmp_path / name).columns) == store.SCHEMAS[name].names, name
    assert len(pd.read_parquet(tmp_path / "rejects")) == 0 and len(pd.read_parquet(tmp_path / "sentences")) == 2
    assert [p.name for p in store.dataset_files(tmp_path, "sentences")] == [store.part_name("r1")]  # it had a file
    store.commit_run(tmp_path, _runs_row("r2"), None)
    assert {name: len(store.dataset_files(tmp_path, name)) for name in committed} == dict.fromkeys(committed, 1) | {"runs": 2}
    assert store.recover(tmp_path) == []  # the empty files belong to a committed run


def test_a_corrupt_row_less_topics_file_is_moved_alone(tmp_path):
    store.write_table(tmp_path / "sentences" / store.part_name("r1"), _sentences("a" * 16, 2), store.SENTENCES)
    store.commit_run(tmp_path, _runs_row("r1"), None)
    (tmp_path / "topics" / store.part_name("r1")).write_bytes(b"PAR1 torn")
    moved = store.repair(tmp_path)
    assert [p.name for p in moved] == [f"topics--{store.part_name('r1')}"]
    assert len(store.read_dataset(tmp_path, "sentences")) == 2 and store.committed_run_ids(tmp_path) == {"r1"}
    assert store.read_dataset(tmp_path, "topics").num_rows == 0


def test_corrupt_file_is_named_and_repair_moves_it_aside(tmp_path):
    good = tmp_path / "sentences" / store.part_name("good")
    bad = tmp_path / "sentences" / store.part_name("bad")
    store.write_table(good, _sentences("a" * 16, 2), store.SENTENCES)
    store.write_table(bad, _sentences("b" * 16, 2), store.SENTENCES)
    bad.write_bytes(bad.read_bytes()[: bad.stat().st_size // 2])
    with pytest.raises(OutputError, match=re.escape(bad.name)):
        store.read_dataset(tmp_path, "sentences")
    moved = store.repair(tmp_path)
    assert [p.name for p in moved] == [f"sentences--{bad.name}"]
    assert store.read_dataset(tmp_path, "sentences").num_rows == 2


def test_second_lock_holder_gets_a_clear_error(tmp_path):
    with store.OutputLock(tmp_path):
        with pytest.raises(RunLockedError, match="another textpipe run"):
            with store.OutputLock(tmp_path, wait_seconds=0.2):
                pass
    with store.OutputLock(tmp_path):
        pass


def test_a_file_written_before_a_column_existed_reads_it_as_nulls(tmp_path):
    # An older textpipe wrote runs without stage_seconds; readers see the column, null.
    old = pa.Table.from_pylist([_runs_row("r-old")], schema=store.RUNS).drop_columns(["stage_seconds"])
    folder = store.dataset_dir(tmp_path, "runs")
    folder.mkdir(parents=True)
    pq.write_table(old, folder / "part-old.parquet")
    store.write_table(folder / "part-new.parquet", pa.Table.from_pylist([_runs_row("r-new")], schema=store.RUNS), store.RUNS)
    runs = store.read_dataset(tmp_path, "runs")
    assert runs.schema.names == store.RUNS.names
    assert runs.column("run_id").to_pylist() == ["r-new", "r-old"]
    assert runs.column("stage_seconds").to_pylist() == ["{}", None]
    assert store.read_dataset(tmp_path, "runs", ["stage_seconds", "run_id"]).column_names == ["stage_seconds", "run_id"]


def _staged_articles(folder, name: str, ids_and_sources: list[tuple[str, str]]):
    now = datetime.now(UTC)
    rows = [{"article_id": article_id, "source": source, "source_format": "txt", "record": 0, "title": "t", "ingested_at": now, "text": "x",
             "n_paragraphs": 1, "n_sentences": 2, "n_tokens": 1, "run_id": "r1"} for article_id, source in ids_and_sources]
    schema = pa.schema([f for f in store.ARTICLES if f.name not in ("topic_id", "topic_weight", "model_id")])
    return store.write_staged(folder / name, pa.Table.from_pylist(rows, schema=schema))


def test_commit_keeps_the_first_copy_of_an_article_repeated_across_batches(tmp_path):
    staging = tmp_path / "staging"
    staging.mkdir()
    articles = [_staged_articles(staging, "a1.arrow", [("a", "first.txt"), ("b", "b.txt")]),
                _staged_articles(staging, "a2.arrow", [("a", "again.txt"), ("c", "c.txt")])]
    sentences = [store.write_staged(staging / f"s{i}.arrow", pa.concat_tables([_sentences(a, 2) for a in ids]))
                 for i, ids in enumerate((["a", "b"], ["a", "c"]))]
    written = store.commit_batches(tmp_path / "out", "r1", articles, sentences, [], [])
    assert written == {"articles": 3, "sentences": 6, "rejects": 0, "duplicates_across_batches": 1}
    stored = store.read_dataset(tmp_path / "out", "articles").to_pandas()
    assert sorted(stored.article_id) == ["a", "b", "c"]
    assert stored.set_index("article_id").loc["a", "source"] == "first.txt"
    assert (store.read_dataset(tmp_path / "out", "sentences").to_pandas().article_id.value_counts() == 2).all()


def test_table_from_rows_equals_arrow_conversion_of_the_same_rows():
    started = datetime(2026, 11, 26, 4, 30, 1, 123456, tzinfo=UTC)
    rows = [{
        "run_id": "20261126T043001Z-1a2b3c4d", "flow": "textpipe-run", "started_at": started,
        "finished_at": started + timedelta(seconds=2.5), "n_files": 3, "n_unchanged_files": 2_225, "n_skipped_files": 0,
        "n_articles_seen": 10, "n_new": 9, "n_duplicates": 1, "n_rejected": 0, "n_topics": 20, "model_id": model_id,
        "textpipe_version": "0.1.0", "parameters": json.dumps({"input_dir": "data/raw — “quoted”"}), "stage_seconds": "{}",
    } for model_id in ("ca3420c1690b3e43", None)]
    built = store.table_from_rows(rows, store.RUNS)
    assert built.schema == store.RUNS
    assert built.equals(pa.Table.from_pylist(rows, schema=store.RUNS))
    assert store.table_from_rows([], store.RUNS).schema == store.RUNS


def test_the_data_dictionary_of_docs_datasets_is_generated_from_the_schemas():
    done = subprocess.run([sys.executable, str(ROOT / "scripts" / "data_dictionary.py"), "--check"], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    page = (ROOT / "docs" / "datasets.md").read_text(encoding="utf-8")
    for name, schema in store.SCHEMAS.items():
        body = page.split(f"### `{name}`", 1)[1].split("\n### ", 1)[0]
        assert re.findall(r"^\| `([a-z_]+)` \|", body, flags=re.MULTILINE) == schema.names, name
