"""pipeline: the topic-model sample drawn from staged batches is the reservoir
sample of the whole stream, read without materializing every article's terms."""

from __future__ import annotations

import json

import pyarrow as pa
import pytest

from textpipe import store
from textpipe.pipeline import sample_documents, sample_staged_terms
from textpipe.resources import stop_words
from textpipe.tokenize import normalize_terms



@pytest.fixture(scope="module")
def staged_batches(tmp_path_factory, bbc_texts) -> tuple[list, list[tuple[list[str], str]]]:
    """Staged batches of 200 BBC articles' term lists; every 7th article is marked German and every 11th has no terms."""
    words_to_drop = stop_words()
    rows = []
    for index, (_, title, text) in enumerate(bbc_texts):
        terms = [] if index % 11 == 0 else normalize_terms(f"{title}\n{text}", words_to_drop)
        rows.append((terms, "de" if index % 7 == 0 else "en"))
    folder = tmp_path_factory.mktemp("staged")
    paths = []
    for batch, start in enumerate(range(0, len(rows), 70)):
        chunk = rows[start : start + 70]
        table = pa.table({"terms": pa.array([t for t, _ in chunk], pa.list_(pa.string())), "language": [lang for _, lang in chunk]})
        paths.append(store.write_staged(folder / f"tokenized-{batch:05d}.arrow", table))
    return paths, rows


@pytest.mark.parametrize("language", ["en", None])
@pytest.mark.parametrize("size", [40, 5_000])
def test_staged_sample_is_the_reservoir_sample_of_the_stream(staged_batches, language, size):
    paths, rows = staged_batches
    stream = [terms for terms, lang in rows if terms and (language is None or lang == language)]
    sample = sample_staged_terms(paths, language, size, seed=3)
    assert sample == sample_documents(stream, size, seed=3)
    assert len(sample) == min(size, len(stream))


def test_plan_reads_skips_unchanged_files_and_batches_the_rest_as_by_size(tmp_path):
    from pathlib import Path

    from textpipe.config import Settings
    from textpipe.ingest import discover
    from textpipe.pipeline import fingerprint, plan_file_batches, plan_reads

    from conftest import bbc_articles

    for path in bbc_articles("business", 60):
        (tmp_path / path.name).write_bytes(path.read_bytes())
    settings = Settings(input_dir=tmp_path, output_dir=Path("unused"), batch_size=2, files_per_batch=7)
    files = discover(tmp_path, settings).files
    known = {fingerprint(files[0]), fingerprint(files[5])}
    batches, fingerprints, unchanged = plan_reads(files, known, settings)
    rest = [f for i, f in enumerate(files) if i not in (0, 5)]
    assert unchanged == 2 and [f[0] for f in fingerprints] == [f.relative for f in rest]
    assert batches == plan_file_batches(rest, settings) and len(batches) > 60 // 7


def test_new_articles_with_a_date_not_read_are_counted_and_named_in_the_outcome(tmp_path, bbc_texts):
    """Stored without published_at, such articles must not pass unnoticed: a whole export
    in a date format textpipe does not read would otherwise look like undated news."""
    from datetime import UTC, datetime

    from textpipe.config import Settings
    from textpipe.ingest import InputFile
    from textpipe.pipeline import IngestCounts, ingest_files
    from textpipe.summary import RunSummary

    dates = ["05/03/2024", "2024-03-05T10:00:00Z", "March 2024", "March 5, 2024"]
    rows = [{"title": title, "text": text, "date": date} for (_, title, text), date in zip(bbc_texts, dates, strict=False)]
    path = tmp_path / "dated.jsonl"
    path.write_text("".join(json.dumps(row) + "\n" for row in rows) + json.dumps(rows[0]) + "\n", encoding="utf-8")
    settings = Settings(input_dir=tmp_path, output_dir=tmp_path / "out")
    counts = IngestCounts()
    chunks = list(ingest_files([InputFile(path, path.name)], settings, set(), "r1", datetime.now(UTC), counts))
    stored = pa.concat_tables([chunk.articles for chunk in chunks])
    assert (counts.new, counts.duplicates, counts.dates_not_read, counts.date_not_read_example) == (4, 1, 2, "05/03/2024")
    assert stored.column("published_at").null_count == 2

    total = IngestCounts()
    total.add(counts)
    total.add(counts)
    assert (total.dates_not_read, total.date_not_read_example) == (4, "05/03/2024")
    summary = RunSummary.build(run_id="r1", settings=settings, counts=counts, skipped={}, written={"articles": 4}, topics=None,
                               stage_seconds={}, started_at=datetime.now(UTC), failures=[])
    assert "; 2 new articles with a date not read (see extra.published_at_raw);" in summary.one_line()
    assert {"metric": "new articles with a date not read (extra.published_at_raw)", "value": 2} in summary.summary_rows()
