"""Compaction: the small files of many runs merged into one per dataset.

Every run adds a file to each dataset it writes, and even a run with nothing new
adds one to `runs`: after a year of hourly runs a dataset holds thousands of
files, and reading the store (which every run does) takes seconds. `compact`
merges the files of the runs whose files are small into `part-<compaction id>`
files, as one unit that commits like a run does, by its `runs` row:

1. a journal (`_state/compaction.json`) names the merged runs;
2. the merged files are written hidden, then renamed into place together, the
   `runs` file last (it holds the compaction's own row: the commit point);
3. the merged runs' own files are deleted, then the journal.

A reader can see both copies only between steps 2 and 3 (milliseconds). After a
crash, `store.recover` finishes a committed compaction and undoes the rest.
"""

from __future__ import annotations

import itertools
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pyarrow as pa

from textpipe import __version__, stories, store

# A run whose files (all datasets together) are under this size is merged; a
# bigger one is left as it is, so a compaction never rewrites the bulk of a store.
SMALL_RUN_BYTES = 64 * 1024 * 1024
# Rows are buffered to this many bytes before a row group is written: readers get
# few, large row groups, and memory stays bounded however many files are merged.
ROW_GROUP_BYTES = 64 * 1024 * 1024

MERGED = ("articles", "sentences", "article_topics", "rejects")


@dataclass(frozen=True)
class Compaction:
    run_id: str
    runs_merged: int
    files_before: int
    files_after: int
    bytes_written: int
    seconds: float

    def one_line(self) -> str:
        return (f"merged the files of {self.runs_merged} runs: {self.files_before} files -> {self.files_after} "
                f"({self.bytes_written / 1e6:.1f} MB written, {self.seconds:.1f} s)")


def small_runs(output: Path, small_run_bytes: int = SMALL_RUN_BYTES) -> list[str]:
    """Ids of the committed runs (and earlier compactions) whose files together are under `small_run_bytes`."""
    run_ids = [run_id for run_id in map(store.run_id_of, store.dataset_files(output, "runs")) if run_id]
    return [run_id for run_id in run_ids if sum(p.stat().st_size for p in store.run_files(output, run_id).values()) < small_run_bytes]


def compaction_due(output: Path, min_runs: int, small_run_bytes: int = SMALL_RUN_BYTES) -> bool:
    return len(small_runs(output, small_run_bytes)) >= min_runs


def compact(output: Path, run_id: str, small_run_bytes: int = SMALL_RUN_BYTES, min_runs: int = 2) -> Compaction | None:
    """Merge the files of the small runs under `output` into `part-<run_id>` files.

    Returns None when fewer than `min_runs` runs are small. Call under the
    output lock, after `store.recover`.
    """
    clock = time.perf_counter()
    started_at = datetime.now(UTC)
    run_ids = small_runs(output, small_run_bytes)
    if len(run_ids) < max(min_runs, 2):
        return None
    if store.run_files(output, run_id):
        raise ValueError(f"compaction id {run_id} is already a run of the store under {output}")
    sources = {run_id: store.run_files(output, run_id) for run_id in run_ids}
    store.write_compaction_journal(output, run_id, run_ids)
    hidden: list[tuple[Path, Path]] = []  # (temporary, final)
    try:
        for name in MERGED:
            files = [store.dataset_dir(output, name) / store.part_name(r) for r in run_ids]
            hidden += _merge(store.dataset_dir(output, name) / store.part_name(run_id), files, store.SCHEMAS[name])
        manifests = [store.files_state_dir(output) / store.part_name(r) for r in run_ids]
        hidden += _merge(store.files_state_dir(output) / store.part_name(run_id), manifests, store.FILES_STATE)
        counted = [store.terms_state_dir(output) / store.part_name(r) for r in run_ids]
        hidden += _merge(store.terms_state_dir(output) / store.part_name(run_id), counted, store.TERMS_DELTA)
        hidden += stories.merge_parts(output, [stories.part_file(r) for r in run_ids], stories.part_file(run_id))
        runs = [store.dataset_dir(output, "runs") / store.part_name(r) for r in run_ids]
        own_row = _runs_row(run_id, started_at, len(run_ids), time.perf_counter() - clock)
        commit = _merge(store.dataset_dir(output, "runs") / store.part_name(run_id), runs, store.RUNS, extra=own_row)
        for tmp, final in hidden + commit:
            os.replace(tmp, final)
    except BaseException:
        for tmp, final in hidden:
            tmp.unlink(missing_ok=True)
            final.unlink(missing_ok=True)
        store.compaction_journal(output).unlink(missing_ok=True)
        raise
    store.finish_compaction(output, {run_id})
    written = store.run_files(output, run_id)
    return Compaction(
        run_id=run_id, runs_merged=len(run_ids), files_before=sum(len(files) for files in sources.values()),
        files_after=len(written), bytes_written=sum(p.stat().st_size for p in written.values()), seconds=time.perf_counter() - clock,
    )


def _merge(final: Path, files: list[Path], schema: pa.Schema, extra: pa.Table | None = None) -> list[tuple[Path, Path]]:
    """Write the rows of `files` (those that exist), then `extra`, to a hidden file; [(hidden, final)] or [].

    Files without rows still give a file without rows: a dataset that had only
    those (`rejects` of a store that never rejected anything) stays readable.
    """
    present = [path for path in files if path.exists()]
    schema = store.schema_admitting(present, schema)
    tables = itertools.chain((table for path in present for table in store.iter_row_groups(path, schema)), [store.conform(extra, schema)] if extra is not None else [])
    # A name recover removes (".…tmp") until it is renamed to `final`.
    hidden = store.tmp_path(final)
    store.write_batches(hidden, _regroup(tables, ROW_GROUP_BYTES), schema, keep_empty=bool(present))
    return [(hidden, final)] if hidden.exists() else []


def _regroup(tables: Iterator[pa.Table], target_bytes: int) -> Iterator[pa.Table]:
    """Concatenate consecutive tables into groups of about `target_bytes`."""
    pending: list[pa.Table] = []
    size = 0
    for table in tables:
        if not table.num_rows:
            continue
        pending.append(table)
        size += table.nbytes
        if size >= target_bytes:
            yield pa.concat_tables(pending)
            pending, size = [], 0
    if pending:
        yield pa.concat_tables(pending)


def _runs_row(run_id: str, started_at: datetime, runs_merged: int, seconds: float) -> pa.Table:
    row = {
        "run_id": run_id, "flow": "compact", "started_at": started_at, "finished_at": datetime.now(UTC),
        "n_files": 0, "n_unchanged_files": 0, "n_skipped_files": 0, "n_articles_seen": 0, "n_new": 0,
        "n_duplicates": 0, "n_rejected": 0, "n_topics": 0, "model_id": None, "textpipe_version": __version__,
        "parameters": store.to_json({"runs_merged": runs_merged}), "stage_seconds": store.to_json({"compact": round(seconds, 3)}),
    }
    return store.table_from_rows([row], store.RUNS)
