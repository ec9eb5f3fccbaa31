"""Parquet datasets: the schemas (defined once, here), atomic writes, recovery, readers.

Layout under the output folder: one directory per dataset (`articles/`,
`sentences/`, `topics/`, `article_topics/`, `rejects/`, `runs/`), each holding
zstd Parquet files named `part-<run_id>.parquet`. A file appears only by
`os.replace` of a finished temporary file whose name starts with "." (ignored by
pandas, pyarrow and DuckDB readers), so a reader never sees half a file. A run
is committed when its `runs` row exists; `recover` deletes the files of runs that
crashed before that point, which makes re-running safe.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
from collections.abc import Iterable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
import contextlib
import io
import itertools
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.ipc as ipc
import pyarrow.parquet as pq

from textpipe.errors import OutputError

log = logging.getLogger(__name__)

UTC_TIMESTAMP = pa.timestamp("us", tz="UTC")
COMPRESSION = "zstd"
STAGING_DIR = "_staging"
MODELS_DIR = "models"


def _field(name: str, type_: pa.DataType, description: str, nullable: bool = True) -> pa.Field:
    return pa.field(name, type_, nullable=nullable, metadata={"description": description})


def _schema(description: str, *fields: pa.Field) -> pa.Schema:
    return pa.schema(list(fields), metadata={"description": description})


ARTICLES = _schema(
    "One row per unique article (first copy seen wins).",
    _field("article_id", pa.string(), "Stable 16-hex id: hash of the normalized title and text.", False),
    _field("source", pa.string(), "Input path relative to the input folder.", False),
    _field("source_format", pa.string(), "txt, json, jsonl, csv, html, rss or atom.", False),
    _field("record", pa.int32(), "Record number inside the source file (0 for single-article files).", False),
    _field("source_id", pa.string(), "The record's own id field, if it had one."),
    _field("url", pa.string(), "Canonical URL of the article, if known."),
    _field("title", pa.string(), "Title, normalized, without a section suffix.", False),
    _field("section", pa.string(), "Section (e.g. Politics), from the record or a title suffix."),
    _field("author", pa.string(), "Author(s) as given by the source."),
    _field("publisher", pa.string(), "The outlet: the record's own field (publisher, source name, site name), the feed's title, the page's site name, a `publisher=<name>` input folder, else the URL's host; null when none is known."),
    _field("published_at", UTC_TIMESTAMP, "Publication time in UTC, if the source gave one."),
    _field("ingested_at", UTC_TIMESTAMP, "When textpipe read the article: the start of the run that added it (UTC).", False),
    _field("language", pa.string(), "ISO 639-1 code detected from the text; null when unsure."),
    _field("text", pa.string(), "Cleaned body: NFC, whitespace collapsed, paragraphs separated by a blank line.", False),
    _field("n_paragraphs", pa.int32(), "Number of paragraphs in text.", False),
    _field("n_sentences", pa.int32(), "Number of sentences in text (rows in `sentences`).", False),
    _field("n_tokens", pa.int32(), "Number of word and punctuation tokens in text.", False),
    _field("sentiment_compound", pa.float64(), "Mean VADER compound of the sentences; null if not English or no sentence."),
    _field("sentiment_pos", pa.float64(), "Mean VADER positive share of the sentences."),
    _field("sentiment_neg", pa.float64(), "Mean VADER negative share of the sentences."),
    _field("sentiment_neu", pa.float64(), "Mean VADER neutral share of the sentences."),
    _field("sentiment_label", pa.string(), "positive (compound >= 0.05), negative (<= -0.05) or neutral; null if unscored."),
    _field("sentiment_ensemble", pa.float64(), "Mean ensemble score of the sentences (see sentences.ensemble); null exactly when sentiment_compound is."),
    _field("topic_id", pa.int32(), "Dominant topic of the current model; null if the article has no known terms."),
    _field("topic_weight", pa.float32(), "Share of the dominant topic in the article's topic mix (0-1)."),
    _field("model_id", pa.string(), "Topic model that assigned topic_id (see `topics`)."),
    _field("story_id", pa.string(), "Story the article belongs to (see `stories`): copies of one article (wire copy, a new headline, a dropped paragraph) share it; the article_id of the story's first article."),
    _field("run_id", pa.string(), "Run that added the article (see `runs`).", False),
    _field("extra", pa.string(), "Other fields of the source record, as a JSON object. textpipe adds a few: `published_at_raw` (a date it could not parse), `feed_title` and `categories` (feeds), `sitename`, `hostname`, `description`, `language`, `tags` (HTML pages' metadata), `listed_in`, `listed_url`, `fetched_at`, `lastmod`, `entry_id` and `text_from` (pages `textpipe fetch` saved: the feed or sitemap that listed the page, the URL as listed when it differs, when it was fetched, the sitemap's lastmod, the feed entry's id, and `feed` when the feed's text stood in for the page's), and `text_chars_cut` (a record's text ended in a `[+N chars]` truncation marker, as NewsAPI's does: the marker is dropped, N kept here)."),
)

SENTENCES = _schema(
    "One row per sentence of every article, with VADER scores and the ensemble score.",
    _field("article_id", pa.string(), "Article the sentence belongs to.", False),
    _field("sentence_index", pa.int32(), "0-based position of the sentence in the article.", False),
    _field("paragraph_index", pa.int32(), "0-based paragraph the sentence is in.", False),
    _field("start_char", pa.int32(), "Offset of the first character in articles.text.", False),
    _field("end_char", pa.int32(), "Offset after the last character: text[start_char:end_char] is the sentence.", False),
    _field("text", pa.string(), "The sentence as written.", False),
    _field("compound", pa.float64(), "VADER compound score (-1..1); null for non-English articles."),
    _field("pos", pa.float64(), "VADER positive share."),
    _field("neg", pa.float64(), "VADER negative share."),
    _field("neu", pa.float64(), "VADER neutral share."),
    _field("ensemble", pa.float64(), "VADER, TextBlob's pattern lexicon and AFINN combined (-1..1, about the mean human rating / 4; see docs/quality.md); null for non-English articles."),
)

TOPICS = _schema(
    "One row per topic of every topic model fitted on this store.",
    _field("model_id", pa.string(), "Topic model id (directory under models/).", False),
    _field("topic_id", pa.int32(), "Topic number within the model.", False),
    _field("label", pa.string(), "The top three terms, comma-separated.", False),
    _field("top_terms", pa.list_(pa.string()), "Most characteristic terms, best first.", False),
    _field("term_weights", pa.list_(pa.float64()), "Weights of top_terms within the topic.", False),
    _field("n_articles", pa.int64(), "Articles whose dominant topic this is.", False),
    _field("coherence", pa.float64(), "Topic coherence (NPMI of the top terms; higher is better)."),
)

ARTICLE_TOPICS = _schema(
    "Topic mix of each article per topic model (long format; weights below 0.05 dropped); filter model_id = articles.model_id for the current model.",
    _field("article_id", pa.string(), "Article.", False),
    _field("model_id", pa.string(), "Topic model.", False),
    _field("topic_id", pa.int32(), "Topic.", False),
    _field("weight", pa.float32(), "Share of this topic in the article (rows of an article sum to <= 1).", False),
)

REJECTS = _schema(
    "Input files and records that could not be used, with the reason (each listed once).",
    _field("source", pa.string(), "Input path relative to the input folder.", False),
    _field("record", pa.int32(), "Record number inside the file; null when the whole file was rejected."),
    _field("reason", pa.string(), "Reason code (see docs/reliability.md).", False),
    _field("detail", pa.string(), "The error message.", False),
    _field("run_id", pa.string(), "Run that first rejected it.", False),
    _field("rejected_at", UTC_TIMESTAMP, "When it was rejected (UTC).", False),
)

RUNS = _schema(
    "One row per committed run: what it read, added and rejected.",
    _field("run_id", pa.string(), "Run id: UTC start time and the first 8 hex digits of the Prefect flow run id, e.g. 20261125T143800Z-1a2b3c4d; a compaction's ends in -compact.", False),
    _field("flow", pa.string(), "Which flow: textpipe-run, refit-topics, or compact (earlier runs' files merged; all counts 0).", False),
    _field("started_at", UTC_TIMESTAMP, "Start (UTC).", False),
    _field("finished_at", UTC_TIMESTAMP, "Commit time (UTC).", False),
    _field("n_files", pa.int64(), "Input files read in this run.", False),
    _field("n_unchanged_files", pa.int64(), "Input files skipped because a committed run read them unchanged (same path, size, mtime).", False),
    _field("n_skipped_files", pa.int64(), "Files skipped for an unknown extension.", False),
    _field("n_articles_seen", pa.int64(), "Articles read (new + duplicates); for refit-topics, articles reassigned.", False),
    _field("n_new", pa.int64(), "Articles added to `articles`.", False),
    _field("n_duplicates", pa.int64(), "Articles already in the store or repeated in this run.", False),
    _field("n_rejected", pa.int64(), "Files and records rejected in this run.", False),
    _field("n_topics", pa.int32(), "Topics in the model used.", False),
    _field("model_id", pa.string(), "Topic model used or fitted."),
    _field("textpipe_version", pa.string(), "textpipe version.", False),
    _field("parameters", pa.string(), "Run parameters as a JSON object.", False),
    _field("stage_seconds", pa.string(), "Seconds spent per stage as a JSON object.", False),
)

STORIES = _schema(
    "One row per story: articles that are copies of one another (rebuilt after every run that adds articles).",
    _field("story_id", pa.string(), "Story id (articles.story_id): the article_id of its first article.", False),
    _field("first_seen", UTC_TIMESTAMP, "Earliest published_at of its articles (ingested_at where an article has none), UTC.", False),
    _field("last_seen", UTC_TIMESTAMP, "Latest published_at of its articles (ingested_at where an article has none), UTC.", False),
    _field("n_articles", pa.int64(), "Articles in the story.", False),
    _field("n_publishers", pa.int64(), "Distinct publishers among them (an article without one is not counted).", False),
    _field("title", pa.string(), "Title of the earliest article.", False),
    _field("article_ids", pa.list_(pa.string()), "Its articles, earliest first.", False),
)

TRENDS = _schema(
    "Articles per day, topic and publisher, with their sentiment: one row per (model_id, date, topic_id, publisher), recounted from `articles` after every run and refit.",
    _field("model_id", pa.string(), "Topic model of the articles counted (articles.model_id); join `topics` on (model_id, topic_id) for labels."),
    _field("date", pa.date32(), "UTC calendar date of published_at; null for articles without one."),
    _field("topic_id", pa.int32(), "Dominant topic (articles.topic_id); null for articles with no known terms."),
    _field("publisher", pa.string(), "Publisher (articles.publisher); null where none is known."),
    _field("n_articles", pa.int64(), "Articles.", False),
    _field("n_stories", pa.int64(), "Distinct stories among them (articles.story_id).", False),
    _field("sentiment_mean", pa.float64(), "Mean sentiment_compound of those with a score (English); null if none."),
    _field("n_positive", pa.int64(), "Articles labelled positive.", False),
    _field("n_neutral", pa.int64(), "Articles labelled neutral.", False),
    _field("n_negative", pa.int64(), "Articles labelled negative.", False),
)

TERMS = _schema(
    "What is said about whom: one row per (date, term), a term being a name or capitalized phrase the sentences use (see docs/analysis.md); updated by every run that adds articles.",
    _field("date", pa.date32(), "UTC calendar date of the articles' published_at; null for articles without one."),
    _field("term", pa.string(), "The name as written, normalized: Vladimir Putin, Putin (also counting sentences that name Vladimir Putin), Minsk.", False),
    _field("n_sentences", pa.int64(), "Sentences that mention it.", False),
    _field("n_articles", pa.int64(), "Articles with such a sentence.", False),
    _field("n_scored", pa.int64(), "Those sentences with a VADER score (English articles).", False),
    _field("sentiment_mean", pa.float64(), "Mean VADER compound of the scored sentences; null if none."),
)

SCHEMAS: dict[str, pa.Schema] = {
    "articles": ARTICLES,
    "sentences": SENTENCES,
    "topics": TOPICS,
    "article_topics": ARTICLE_TOPICS,
    "rejects": REJECTS,
    "runs": RUNS,
    "stories": STORIES,
    "trends": TRENDS,
    "terms": TERMS,
}
# Datasets recounted from the others after a commit (`textpipe.derived`), one file each.
DERIVED = ("stories", "trends", "terms")


def dataset_dir(output: Path, name: str) -> Path:
    return output / name


def part_name(run_id: str) -> str:
    return f"part-{run_id}.parquet"


def run_id_of(path: Path) -> str | None:
    """The run id in a `part_name` file name (or the `.arrow` part of the story index); None for any other name."""
    if path.name.startswith("part-") and path.suffix in (".parquet", ".arrow"):
        return path.stem[len("part-"):]
    return None


def tmp_path(final: Path) -> Path:
    return final.with_name(f".{final.name}.{os.getpid()}.tmp")


@contextmanager
def atomic_parquet_writer(final: Path, schema: pa.Schema) -> Iterator[pq.ParquetWriter]:
    """A ParquetWriter whose file becomes visible at `final` only when the block succeeds."""
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = tmp_path(final)
    writer = pq.ParquetWriter(tmp, schema, compression=COMPRESSION)
    try:
        yield writer
        writer.close()
        fsync(tmp)
        os.replace(tmp, final)
    except BaseException:
        writer.close()
        tmp.unlink(missing_ok=True)
        raise


def fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_table(final: Path, table: pa.Table, schema: pa.Schema) -> None:
    """Write one table atomically, cast to the dataset schema."""
    with atomic_parquet_writer(final, schema) as writer:
        writer.write_table(table.select(schema.names).cast(schema))


def write_batches(final: Path, tables: Iterable[pa.Table], schema: pa.Schema, keep_empty: bool = False) -> int:
    """Stream tables into one Parquet file (one row group each); returns rows written.

    An empty stream writes nothing (so reruns with nothing new add no files),
    unless `keep_empty`: then a file with the schema and no rows.
    """
    non_empty = (table for table in tables if table.num_rows)
    first = next(non_empty, None)
    if first is None:
        if keep_empty:
            write_table(final, schema.empty_table(), schema)
        return 0
    rows = 0
    with atomic_parquet_writer(final, schema) as writer:
        for table in itertools.chain([first], non_empty):
            writer.write_table(table.select(schema.names).cast(schema))
            rows += table.num_rows
    return rows


def dataset_files(output: Path, name: str) -> list[Path]:
    folder = dataset_dir(output, name)
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.glob("*.parquet") if not p.name.startswith((".", "_")))


def read_dataset(output: Path, name: str, columns: list[str] | None = None) -> pa.Table:
    """Read a whole dataset (or some columns); an absent dataset is an empty table."""
    return _read_dataset_files(output, name, dataset_files(output, name), columns)


def _read_dataset_files(output: Path, name: str, files: list[Path], columns: list[str] | None) -> pa.Table:
    """Read some of a dataset's files; a corrupt one is an OutputError that says what to do."""
    schema = SCHEMAS[name]
    if not files:
        return empty_table(_selected(schema, columns))
    try:
        return _read_parquet_files(files, schema, columns)
    except (pa.ArrowInvalid, OSError) as exc:
        bad = find_corrupt_files(output, name)
        where = ", ".join(str(p) for p in bad) or str(dataset_dir(output, name))
        raise OutputError(f"cannot read dataset '{name}': corrupt Parquet file(s): {where} ({exc}); run `textpipe repair --output {output}`") from exc


def _selected(schema: pa.Schema, columns: list[str] | None) -> pa.Schema:
    return schema if columns is None else pa.schema([schema.field(name) for name in columns])


def _read_parquet_files(files: list[Path], schema: pa.Schema, columns: list[str] | None) -> pa.Table:
    """Read files into one table of `schema` (or its `columns`); a column a file lacks reads as nulls.

    File by file rather than through `pyarrow.dataset`, whose import also imports
    pandas: ~0.2 s at the start of every command, most of a rerun's own work.
    """
    wanted = _selected(schema, columns)
    tables = []
    for path in files:
        with pq.ParquetFile(path) as parquet:
            present = set(parquet.schema_arrow.names)
            tables.append(conform(parquet.read(columns=[name for name in wanted.names if name in present]), wanted))
    return pa.concat_tables(tables)


def table_from_rows(rows: list[dict], schema: pa.Schema) -> pa.Table:
    """Rows of JSON-able values (datetimes allowed; no NaN) as a table of `schema`.

    Through Arrow's JSON reader because pyarrow imports pandas (~0.2 s) the first
    time it converts a Python value itself, and a run with nothing new builds no
    other Arrow data from Python: this keeps pandas out of a rerun.
    """
    import pyarrow.json as pj

    lines = "\n".join(json.dumps(row, default=_json_value, allow_nan=False) for row in rows).encode()
    options = pj.ParseOptions(explicit_schema=schema, unexpected_field_behavior="error")
    table = pj.read_json(io.BytesIO(lines), parse_options=options) if rows else empty_table(schema)
    return table.select(schema.names).cast(schema)


def empty_table(schema: pa.Schema) -> pa.Table:
    """A table of `schema` with no rows (`Schema.empty_table` would import pandas)."""
    return pa.Table.from_batches([], schema)


def _json_value(value: object) -> str:
    if isinstance(value, datetime):
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} is not a JSON value")


def conform(table: pa.Table, schema: pa.Schema) -> pa.Table:
    """`table` with exactly the columns of `schema`, in order; a column it lacks is all nulls.

    `from_arrays` keeps the declared schema even where an old file's missing column
    makes a non-nullable field null, as `pyarrow.dataset` does.
    """
    present = set(table.column_names)
    return pa.Table.from_arrays(
        [table.column(f.name).cast(f.type) if f.name in present else pa.nulls(table.num_rows, f.type) for f in schema],
        schema=schema)


def iter_row_groups(path: Path, schema: pa.Schema) -> Iterator[pa.Table]:
    """A Parquet file's row groups, one at a time, each conformed to `schema`."""
    with pq.ParquetFile(path) as parquet:
        for group in range(parquet.num_row_groups):
            yield conform(parquet.read_row_group(group), schema)


def find_corrupt_files(output: Path, name: str) -> list[Path]:
    bad = []
    for path in dataset_files(output, name):
        try:
            pq.ParquetFile(path).read(columns=[SCHEMAS[name].names[0]])
        except Exception:  # noqa: BLE001 - any failure to read means the file is unusable
            bad.append(path)
    return bad


def has_committed_runs(output: Path) -> bool:
    return bool(dataset_files(output, "runs"))


def committed_run_ids(output: Path) -> set[str]:
    return set(read_dataset(output, "runs", ["run_id"]).column("run_id").to_pylist())


def seen_article_ids(output: Path) -> pa.Table:
    """Every article id in the store, once: the table a run's ingest workers stage and read."""
    ids = read_dataset(output, "articles", ["article_id"]).column("article_id")
    return pa.table({"article_id": pc.unique(ids)})


def seen_reject_keys(output: Path) -> set[tuple[str, int | None, str]]:
    table = read_dataset(output, "rejects", ["source", "record", "reason"])
    return set(zip(*(table.column(c).to_pylist() for c in ("source", "record", "reason")), strict=True))


# Datasets whose part files appear before their run's commit; `runs` is the commit
# itself, and `topics` files are per model.
ORPHANABLE = ("articles", "sentences", "article_topics", "rejects")
# Datasets whose `part-<run_id>` files are the run's own, and go with it (repair, compaction).
RUN_PARTS = (*ORPHANABLE, "runs")
# A run's parts of the store's state under `_state/`, written before its commit like
# ORPHANABLE's: the terms it counted, and its part of the story index (`textpipe.stories`).
# Name -> (folder under `_state/`, file suffix).
STATE_PARTS = {"terms-state": ("terms", ".parquet"), "story-sketches": ("story-sketches", ".arrow"), "story-bands": ("story-bands", ".arrow")}


def recover(output: Path) -> list[Path]:
    """Undo what crashed runs left: temp files, staging, and parts of uncommitted runs.

    Must run under the output lock, before a new run reads what the store has.
    """
    shutil.rmtree(output / STAGING_DIR, ignore_errors=True)
    committed = committed_run_ids(output)
    compaction = finish_compaction(output, committed)
    if compaction:
        log.warning("completed an interrupted compaction: removed %d files it had merged or written", len(compaction))
    removed: list[Path] = []
    # The output folder itself and models/ hold the report and the current-model pointer,
    # written through temp files like every dataset's.
    folders = {name: dataset_dir(output, name) for name in SCHEMAS} | {"state": output / "_state", "files-state": files_state_dir(output)} | {
        name: output / "_state" / folder for name, (folder, _) in STATE_PARTS.items()} | {"output": output, "models": output / MODELS_DIR}
    for name, folder in folders.items():
        if not folder.is_dir():
            continue
        for path in folder.iterdir():
            run_id = run_id_of(path)
            orphan = name in (*ORPHANABLE, *STATE_PARTS) and run_id is not None and run_id not in committed
            if path.name.startswith(".") and path.name.endswith(".tmp") or orphan:
                path.unlink(missing_ok=True)
                removed.append(path)
    for path in removed:
        log.warning("removed leftover of an interrupted run: %s", path)
    upgraded = upgrade_files(output)
    if upgraded:
        log.warning("rewrote %d Parquet file(s) of an older textpipe with the current columns", len(upgraded))
    return compaction + removed


def upgrade_files(output: Path) -> list[Path]:
    """Rewrite every dataset file that lacks a column of its schema (an older textpipe wrote
    it) with that column, null: `pandas.read_parquet(folder)` and DuckDB take a dataset's
    columns from one of its files, so a newer column would otherwise vanish for them.
    One file at a time, by atomic replace; a file already current is only looked at."""
    upgraded = []
    for name, schema in SCHEMAS.items():
        for path in dataset_files(output, name):
            try:
                names = pq.read_schema(path).names
            except (OSError, pa.ArrowInvalid):
                continue  # corrupt: `repair`'s business
            if names != schema.names:
                hidden = tmp_path(path)
                write_batches(hidden, iter_row_groups(path, schema), schema_admitting([path], schema), keep_empty=True)
                os.replace(hidden, path)
                upgraded.append(path)
    return upgraded


def run_files(output: Path, run_id: str) -> dict[str, Path]:
    """The files a committed run (or a compaction) added, by dataset: its part of each, of the
    manifest ("files-state") and of the terms it counted ("terms-state").

    `topics` files are per model; the one `part-` file it may hold (no rows,
    `write_schema_only_parts`) stays with the dataset, not with a run.
    """
    name = part_name(run_id)
    candidates = {dataset: dataset_dir(output, dataset) / name for dataset in RUN_PARTS} | {"files-state": files_state_dir(output) / name} | {
        state: output / "_state" / folder / f"part-{run_id}{suffix}" for state, (folder, suffix) in STATE_PARTS.items()}
    return {dataset: path for dataset, path in candidates.items() if path.exists()}


def schema_admitting(files: list[Path], schema: pa.Schema) -> pa.Schema:
    """`schema`, with its non-nullable fields made nullable where one of `files` lacks them.

    Such a file (from an older textpipe) reads that column as nulls; a Parquet
    writer refuses nulls in a non-nullable field, so a file that merges it must say so.
    """
    missing = set()
    for path in files:
        with pq.ParquetFile(path) as parquet:
            missing |= set(schema.names) - set(parquet.schema_arrow.names)
    return pa.schema([field.with_nullable(True) if field.name in missing else field for field in schema], metadata=schema.metadata)


def compaction_journal(output: Path) -> Path:
    return output / "_state" / "compaction.json"


def write_compaction_journal(output: Path, merged_id: str, run_ids: list[str]) -> None:
    journal = compaction_journal(output)
    journal.parent.mkdir(parents=True, exist_ok=True)
    tmp = tmp_path(journal)
    tmp.write_text(json.dumps({"run_id": merged_id, "runs": run_ids}))
    fsync(tmp)
    os.replace(tmp, journal)


def finish_compaction(output: Path, committed: set[str]) -> list[Path]:
    """Complete a compaction (see `textpipe.compact`), or undo one that stopped before its commit.

    Committed (its `runs` row exists): the merged files stand, so the merged runs'
    own files go. Not committed: the merged files go, and the runs keep theirs.
    """
    journal = compaction_journal(output)
    if not journal.exists():
        return []
    entry = json.loads(journal.read_text())
    doomed = entry["runs"] if entry["run_id"] in committed else [entry["run_id"]]
    removed = [path for run_id in doomed for path in run_files(output, run_id).values()]
    for path in removed:
        path.unlink()
    journal.unlink()
    return removed


def repair(output: Path) -> list[Path]:
    """Move corrupt Parquet files aside (to `<output>/_corrupt/`); returns what was moved.

    A run's part files go together, with its record of the input files it read:
    the next run then reads those inputs again and re-adds their articles,
    sentences and topic mixes once each (moving only the corrupt file would leave
    the input marked as read, or the surviving sentences duplicated).
    """
    corrupt = [(name, path) for name in SCHEMAS for path in find_corrupt_files(output, name)]
    whole_runs = sorted({run_id_of(path) for name, path in corrupt if name in RUN_PARTS} - {None})
    moving = [(name, path) for name, path in corrupt if name not in RUN_PARTS or run_id_of(path) is None]
    for run_id in whole_runs:
        moving += list(run_files(output, run_id).items())
    moved = []
    quarantine = output / "_corrupt"
    for name, path in moving:
        quarantine.mkdir(exist_ok=True)
        target = quarantine / f"{name}--{path.name}"
        os.replace(path, target)
        moved.append(target)
        log.warning("moved %s file %s to %s", "corrupt" if (name, path) in corrupt else "same-run", path, target)
    return moved


# Staging: Arrow IPC files that pass batches between tasks without holding them in memory.

def staging_dir(output: Path, run_id: str) -> Path:
    path = output / STAGING_DIR / run_id
    path.mkdir(parents=True, exist_ok=True)
    return path


def write_staged(path: Path, table: pa.Table) -> Path:
    tmp = tmp_path(path)
    with pa.OSFile(str(tmp), "wb") as sink, ipc.new_file(sink, table.schema) as writer:
        writer.write_table(table)
    os.replace(tmp, path)
    return path


def read_staged(path: Path) -> pa.Table:
    with pa.memory_map(str(path)) as source:
        return ipc.open_file(source).read_all()


def to_json(value: object) -> str:
    return json.dumps(value, ensure_ascii=False, sort_keys=True, default=str)


class OutputLock:
    """An exclusive lock on an output folder, so two runs never write it at once.

    Uses `flock` on `<output>/.textpipe.lock`: the kernel drops it when the
    holder dies, so a killed run never leaves a stale lock behind.
    """

    def __init__(self, output: Path, wait_seconds: float = 0.0) -> None:
        self.path = output / ".textpipe.lock"
        self.wait_seconds = wait_seconds
        self._fd: int | None = None

    def __enter__(self) -> OutputLock:
        import fcntl
        import time

        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        deadline = time.monotonic() + self.wait_seconds
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    holder = os.pread(fd, 200, 0).decode(errors="replace").strip() or "unknown"
                    os.close(fd)
                    from textpipe.errors import RunLockedError

                    raise RunLockedError(
                        f"another textpipe run is writing to {self.path.parent} ({holder}); "
                        "wait for it to finish or use --wait-lock SECONDS"
                    ) from None
                time.sleep(0.5)
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"pid {os.getpid()}".encode(), 0)
        self._fd = fd
        return self

    def __exit__(self, *exc: object) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


def current_model_path(output: Path) -> Path | None:
    """Directory of the current topic model, from `models/current.json`, if any."""
    pointer = output / MODELS_DIR / "current.json"
    if not pointer.exists():
        return None
    model_id = json.loads(pointer.read_text())["model_id"]
    return output / MODELS_DIR / model_id


def model_topics(output: Path, model_id: str) -> pa.Table:
    """A model's rows of the `topics` dataset, by topic_id (empty if it has none).

    Each model's rows live in its own file (`write_topics`), so only that file is read.
    """
    path = topics_file(output, model_id)
    return _read_dataset_files(output, "topics", [path] if path.exists() else [], None).sort_by("topic_id")


def read_topic_rows(output: Path, model_id: str) -> list[dict]:
    """A model's topics as the pipeline describes them (without model_id and n_articles)."""
    return [{k: v for k, v in row.items() if k not in ("model_id", "n_articles")} for row in model_topics(output, model_id).to_pylist()]


def set_current_model(output: Path, model_id: str) -> None:
    pointer = output / MODELS_DIR / "current.json"
    tmp = tmp_path(pointer)
    tmp.write_text(json.dumps({"model_id": model_id}))
    os.replace(tmp, pointer)


def topics_file(output: Path, model_id: str) -> Path:
    return dataset_dir(output, "topics") / f"model-{model_id}.parquet"


def cross_batch_duplicates(paths: list[Path]) -> list[set[str]]:
    """Per staged batch, the article ids an earlier batch of the run already has."""
    kept: set[str] = set()
    dropped: list[set[str]] = []
    for path in paths:
        ids = set(read_staged(path).column("article_id").to_pylist())
        dropped.append(ids & kept)
        kept |= ids
    return dropped


def _articles_for_commit(paths: list[Path], assignments: list[tuple[Path, Path]], dropped: list[set[str]], story_ids: Mapping[str, str]) -> Iterator[pa.Table]:
    for index, path in enumerate(paths):
        table = read_staged(path)
        if "story_id" in table.column_names:
            table = table.drop_columns(["story_id"])
        if assignments:
            dominant = read_staged(assignments[index][0])
            table = table.drop_columns([c for c in ("topic_id", "topic_weight", "model_id") if c in table.column_names])
            table = table.append_column("topic_id", dominant.column("topic_id")).append_column(
                "topic_weight", dominant.column("topic_weight")).append_column("model_id", dominant.column("model_id"))
        else:
            for name in ("topic_id", "topic_weight", "model_id"):
                table = table.append_column(ARTICLES.field(name), pa.nulls(table.num_rows, ARTICLES.field(name).type))
        stories = [story_ids.get(article_id) for article_id in table.column("article_id").to_pylist()]
        table = table.append_column(ARTICLES.field("story_id"), pa.array(stories, pa.string()))
        yield drop_ids(table, dropped[index])


def _without(paths: list[Path], dropped: list[set[str]]) -> Iterator[pa.Table]:
    for index, path in enumerate(paths):
        yield drop_ids(read_staged(path), dropped[index])


def drop_ids(table: pa.Table, article_ids: set[str]) -> pa.Table:
    if not article_ids:
        return table
    return table.filter(pc.invert(pc.is_in(table.column("article_id"), pa.array(sorted(article_ids), pa.string()))))


def _new_rejects(paths: list[Path], seen: set[tuple[str, int | None, str]]) -> Iterator[pa.Table]:
    for path in paths:
        table = read_staged(path)
        keys = zip(*(table.column(c).to_pylist() for c in ("source", "record", "reason")), strict=True)
        mask = []
        for key in keys:
            mask.append(key not in seen)
            seen.add(key)
        yield table.filter(pa.array(mask, pa.bool_()))


def commit_batches(
    output: Path,
    run_id: str,
    articles: list[Path],
    sentences: list[Path],
    assignments: list[tuple[Path, Path]],
    rejects: list[Path],
    story_ids: Mapping[str, str] | None = None,
    terms_delta: pa.Table | None = None,
    dropped: list[set[str]] | None = None,
) -> dict[str, int]:
    """Move a run's staged batches into the datasets, one file per dataset, and the
    terms the run counted (`textpipe.terms.run_delta`) into the run's part of `_state/terms`.

    Articles repeated across batches keep their first copy (`dropped`, per batch: the
    ids an earlier batch has, `cross_batch_duplicates`). The files are
    visible at once but the run counts as committed only when `commit_run`
    adds its `runs` row; `recover` removes the files of a run that never did.
    """
    dropped = cross_batch_duplicates(articles) if dropped is None else dropped
    name = part_name(run_id)
    streams = {
        "articles": (_articles_for_commit(articles, assignments, dropped, story_ids or {}), ARTICLES),
        "sentences": (_without(sentences, dropped), SENTENCES),
    }
    if assignments:
        streams["article_topics"] = (_without([long for _, long in assignments], dropped), ARTICLE_TOPICS)
    streams["rejects"] = (_new_rejects(rejects, seen_reject_keys(output)), REJECTS)
    if terms_delta is not None and terms_delta.num_rows:
        write_table(terms_state_dir(output) / name, terms_delta, TERMS_DELTA)
    # Parquet encoding and compression run outside the GIL: one thread per dataset
    # uses every core for what was the run's last single-threaded step.
    with ThreadPoolExecutor(max_workers=len(streams), thread_name_prefix="commit") as pool:
        futures = {dataset: pool.submit(write_batches, dataset_dir(output, dataset) / name, tables, schema) for dataset, (tables, schema) in streams.items()}
        written = {dataset: future.result() for dataset, future in futures.items()}
    written["duplicates_across_batches"] = sum(len(d) for d in dropped)
    return written


def write_topics(output: Path, model_id: str, topics: list[dict]) -> None:
    """(Re)write the topics file of a model with article counts from the whole store."""
    table = read_dataset(output, "articles", ["model_id", "topic_id"])
    table = table.filter(pc.equal(table.column("model_id"), model_id))
    counts = {row["topic_id"]: row["topic_id_count"] for row in table.group_by("topic_id").aggregate([("topic_id", "count")]).to_pylist()}
    rows = [{**t, "model_id": model_id, "n_articles": counts.get(t["topic_id"], 0)} for t in topics]
    write_table(topics_file(output, model_id), pa.Table.from_pylist(rows, schema=TOPICS), TOPICS)


def commit_run(output: Path, runs_row: dict, staging: Path | None) -> None:
    """The commit point: the `runs` row makes the run's files part of the store."""
    write_schema_only_parts(output, runs_row["run_id"])
    write_table(dataset_dir(output, "runs") / part_name(runs_row["run_id"]), table_from_rows([runs_row], RUNS), RUNS)
    if runs_row.get("model_id"):
        set_current_model(output, runs_row["model_id"])
    if staging is not None:
        shutil.rmtree(staging, ignore_errors=True)
        with contextlib.suppress(OSError):
            staging.parent.rmdir()  # only when no other staging is left


def write_schema_only_parts(output: Path, run_id: str) -> None:
    """A file with no rows, named as the run's part, for each dataset that has no file yet.

    Without one, a store whose runs never rejected anything has no `rejects/`
    folder (nor `topics/` while no article was in a language to fit topics on),
    and `pd.read_parquet(".../rejects")` or DuckDB's `read_parquet` fail instead
    of returning an empty table with the dataset's columns.
    """
    for name in (*ORPHANABLE, "topics"):
        if not dataset_files(output, name):
            write_table(dataset_dir(output, name) / part_name(run_id), SCHEMAS[name].empty_table(), SCHEMAS[name])


# The input-file manifest: which files (by path, size and mtime) a committed run
# has fully read, so a scheduled rerun skips unchanged files without reading
# them. Internal state, hence under "_state/" where dataset readers never look.

FILES_STATE = pa.schema([
    pa.field("source", pa.string(), nullable=False),
    pa.field("size", pa.int64(), nullable=False),
    pa.field("mtime_ns", pa.int64(), nullable=False),
    pa.field("run_id", pa.string(), nullable=False),
])


def files_state_dir(output: Path) -> Path:
    return output / "_state" / "files"


def read_file_manifest(output: Path) -> set[tuple[str, int, int]]:
    files = sorted(p for p in files_state_dir(output).glob("part-*.parquet")) if files_state_dir(output).is_dir() else []
    if not files:
        return set()
    table = _read_parquet_files(files, FILES_STATE, ["source", "size", "mtime_ns"])
    return set(zip(*(table.column(c).to_pylist() for c in ("source", "size", "mtime_ns")), strict=True))


def record_file_manifest(output: Path, run_id: str, fingerprints: list[tuple[str, int, int]]) -> None:
    """Remember files a committed run read in full; call only after `commit_run`."""
    if fingerprints:
        # Columns, not `table_from_rows`: 0.05 s instead of 0.4 s for 100,000 files,
        # in a run that read files and so has imported pandas anyway.
        rows = {"source": [f[0] for f in fingerprints], "size": [f[1] for f in fingerprints],
                "mtime_ns": [f[2] for f in fingerprints], "run_id": [run_id] * len(fingerprints)}
        write_table(files_state_dir(output) / part_name(run_id), pa.table(rows, schema=FILES_STATE), FILES_STATE)


# The terms each run counted, summed per (date, term): what `terms` is rebuilt from when it
# is out of date (a crash after a commit, a run moved aside by `repair`). Run parts like a
# dataset's, removed with an uncommitted run and merged by compaction.

TERMS_DELTA = pa.schema([
    pa.field("date", pa.date32()),
    pa.field("term", pa.string(), nullable=False),
    pa.field("n_sentences", pa.int64(), nullable=False),
    pa.field("n_articles", pa.int64(), nullable=False),
    pa.field("n_scored", pa.int64(), nullable=False),
    pa.field("compound_sum", pa.float64(), nullable=False),
])


def terms_state_dir(output: Path) -> Path:
    return output / "_state" / "terms"


def read_terms_deltas(output: Path, run_id: str | None = None) -> pa.Table:
    """The terms counted by one run (none if it counted none), or by every committed run."""
    folder = terms_state_dir(output)
    if run_id is not None:
        files = [path] if (path := folder / part_name(run_id)).exists() else []
    else:
        files = sorted(p for p in folder.glob("part-*.parquet")) if folder.is_dir() else []
    return _read_parquet_files(files, TERMS_DELTA, None) if files else empty_table(TERMS_DELTA)


# Derived datasets: one file each, replaced whole, marked with the store state it was
# counted from (`textpipe.derived` decides when that is out of date).

DERIVED_FROM = b"textpipe.derived_from"


def derived_file(output: Path, name: str) -> Path:
    return dataset_dir(output, name) / f"{name}.parquet"


def write_derived(output: Path, name: str, table: pa.Table, derived_from: str) -> None:
    schema = SCHEMAS[name].with_metadata({**SCHEMAS[name].metadata, DERIVED_FROM: derived_from.encode()})
    write_table(derived_file(output, name), table, schema)


def derived_from(output: Path, name: str) -> str | None:
    """What a derived dataset was counted from (None when it is missing or unreadable)."""
    try:
        metadata = pq.read_schema(derived_file(output, name)).metadata or {}
    except (OSError, pa.ArrowInvalid):
        return None
    value = metadata.get(DERIVED_FROM)
    return value.decode() if value else None
