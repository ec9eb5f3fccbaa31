"""pipeline: the topic-model sample drawn from staged batches is the reservoir
sample of the whole stream, read without materializing every article's terms."""

from __future__ import annotations

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
