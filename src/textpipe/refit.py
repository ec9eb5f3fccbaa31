"""Refit: a new topic model on (a bounded sample of) the whole store, then every
article's topics reassigned to it.

Terms are recomputed from each article's title and text, so the store need not
keep them. Article files are rewritten one at a time, row group by row group,
each by atomic replace; `article_topics` gains the new model's rows (rows of
older models stay, keyed by model_id).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from textpipe import store
from textpipe.config import Settings
from textpipe.pipeline import assign_topics, new_topic_model, sample_documents, with_topics
from textpipe.resources import stop_words
from textpipe.tokenize import normalize_terms
from textpipe.topics import TopicModel


def _terms_of(table: pa.Table) -> list[list[str]]:
    words_to_drop = stop_words()
    return [normalize_terms(f"{t}\n{x}", words_to_drop) for t, x in zip(table.column("title").to_pylist(), table.column("text").to_pylist(), strict=True)]


def store_terms(output: Path, language: str) -> Iterator[list[str]]:
    """Terms of every stored article in `language`, file by file."""
    for path in store.dataset_files(output, "articles"):
        parquet = pq.ParquetFile(path)
        for group in range(parquet.num_row_groups):
            table = parquet.read_row_group(group, columns=["title", "text", "language"])
            for terms, lang in zip(_terms_of(table), table.column("language").to_pylist(), strict=True):
                if lang == language and terms:
                    yield terms


def fit_on_store(output: Path, settings: Settings) -> TopicModel:
    sample = sample_documents(store_terms(output, settings.language), settings.topic_fit_sample, settings.random_state)
    if len(sample) < 2:
        raise ValueError(f"the store under {output} has fewer than 2 articles in '{settings.language}' to fit topics on")
    current = store.current_model_path(output)
    model = new_topic_model(settings, sample, TopicModel.load(current).n_topics if current is not None else None)
    model.save(output / store.MODELS_DIR)
    return model


def reassign_file(path: Path, model: TopicModel, threshold: float, staging: Path) -> Path:
    """Rewrite one articles file with the model's topics; returns the staged topic mix."""
    parquet = pq.ParquetFile(path)
    mixes = []

    def groups() -> Iterator[pa.Table]:
        for group in range(parquet.num_row_groups):
            # A file from an older textpipe may lack a later column: it is rewritten with it null.
            table = store.conform(parquet.read_row_group(group), store.ARTICLES)
            terms = pa.array(_terms_of(table), pa.list_(pa.string()))
            dominant, long = assign_topics(model, table.column("article_id"), terms, threshold)
            mixes.append(long)
            yield with_topics(table, dominant)

    store.write_batches(path, groups(), store.ARTICLES)
    mix = pa.concat_tables(mixes) if mixes else store.ARTICLE_TOPICS.empty_table()
    return store.write_staged(staging / f"topic-mix-{path.stem}.arrow", mix)
