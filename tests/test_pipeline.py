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
