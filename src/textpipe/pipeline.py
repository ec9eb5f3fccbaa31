"""Batch stages as plain functions from Arrow tables to Arrow tables.

Each function is what one Prefect task (or a test, or a Dask worker) calls for
one batch; none of them knows about Prefect or keeps state between calls. The
flow decides batching, staging between tasks, retries and artifacts.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Container, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from textpipe import store
from textpipe.config import DEFAULT_TOPICS, Settings
from textpipe.ingest import InputFile, read_file
from textpipe.records import RawArticle, Reject, RejectReason

# The analysis modules (NLTK, scikit-learn: ~1.5 s to import) are imported where
# they are used: the process that only orchestrates (the CLI, Prefect's flow with
# worker processes) never needs them, and a rerun with nothing new stays quick.
if TYPE_CHECKING:
    from textpipe.clean import CleanArticle
    from textpipe.ensemble import SentenceScorer
    from textpipe.topics import TopicModel

# Columns of a staged article table before analysis: the articles schema minus
# what later stages add.
_ANALYSIS_COLUMNS = (
    "n_paragraphs", "n_sentences", "n_tokens",
    "sentiment_compound", "sentiment_pos", "sentiment_neg", "sentiment_neu", "sentiment_label", "sentiment_ensemble",
    "topic_id", "topic_weight", "model_id", "story_id",
)
INGESTED = pa.schema([f for f in store.ARTICLES if f.name not in _ANALYSIS_COLUMNS])
TERMS_FIELD = pa.field("terms", pa.list_(pa.string()))
T = TypeVar("T")


@dataclass
class IngestCounts:
    """What an ingest batch saw; summed over batches for the run summary."""

    files: int = 0
    articles_seen: int = 0
    new: int = 0
    duplicates: int = 0
    rejected: int = 0
    rejected_by_reason: dict[str, int] = field(default_factory=dict)
    # New articles whose record had a date textpipe could not read (kept in extra.published_at_raw).
    dates_not_read: int = 0
    date_not_read_example: str = ""

    def add_reject(self, reject: Reject) -> None:
        self.rejected += 1
        self.rejected_by_reason[reject.reason.value] = self.rejected_by_reason.get(reject.reason.value, 0) + 1

    def add(self, other: IngestCounts) -> None:
        self.files += other.files
        self.articles_seen += other.articles_seen
        self.new += other.new
        self.duplicates += other.duplicates
        self.rejected += other.rejected
        self.dates_not_read += other.dates_not_read
        self.date_not_read_example = self.date_not_read_example or other.date_not_read_example
        for reason, n in other.rejected_by_reason.items():
            self.rejected_by_reason[reason] = self.rejected_by_reason.get(reason, 0) + n


@dataclass
class IngestedChunk:
    articles: pa.Table  # schema INGESTED
    rejects: list[Reject]


def plan_file_batches(files: Sequence[InputFile], settings: Settings, sizes: Sequence[int] | None = None) -> list[list[InputFile]]:
    """Group files into batches of at most `files_per_batch` files and ~`batch_size` articles' bytes.

    `sizes` (bytes, one per file) saves a stat per file when the caller has them.
    """
    max_bytes = settings.batch_size * 4_096
    batches: list[list[InputFile]] = []
    current: list[InputFile] = []
    current_bytes = 0
    for index, file in enumerate(files):
        size = sizes[index] if sizes is not None else _size(file)
        if current and (len(current) >= settings.files_per_batch or current_bytes + size > max_bytes):
            batches.append(current)
            current, current_bytes = [], 0
        current.append(file)
        current_bytes += size
    if current:
        batches.append(current)
    return batches


def _size(file: InputFile) -> int:
    try:
        return file.path.stat().st_size
    except OSError:
        return 0


def ingest_files(
    files: Sequence[InputFile],
    settings: Settings,
    seen_ids: Container[str],
    run_id: str,
    ingested_at: datetime,
    counts: IngestCounts,
) -> Iterator[IngestedChunk]:
    """Read, clean and de-duplicate; yields chunks of at most `batch_size` new articles
    (their language detected chunk by chunk: `clean.with_languages`).

    `counts` is updated in place. Duplicates are articles whose id is in
    `seen_ids` or repeated earlier in this batch.
    """
    # ftfy: ~30 ms a rerun with nothing to read does not need
    from textpipe.clean import clean_without_language, with_languages

    kept: list[CleanArticle] = []
    rejects: list[Reject] = []
    batch_ids: set[str] = set()
    for file in files:
        counts.files += 1
        for item in read_file(file, settings):
            article = clean_without_language(item) if isinstance(item, RawArticle) else None
            if article is not None and len(article.text) < settings.min_text_chars:
                # Invisible characters pass the reader's length check but not cleaning.
                item = Reject(item.source, item.record, RejectReason.NO_TEXT, f"text has {len(article.text)} characters after cleaning")
            if isinstance(item, Reject) or article is None:
                rejects.append(item)
                counts.add_reject(item)
                continue
            counts.articles_seen += 1
            if article.article_id in seen_ids or article.article_id in batch_ids:
                counts.duplicates += 1
                continue
            batch_ids.add(article.article_id)
            kept.append(article)
            counts.new += 1
            if "published_at_raw" in article.extra:
                counts.dates_not_read += 1
                counts.date_not_read_example = counts.date_not_read_example or str(article.extra["published_at_raw"])[:60]
            if len(kept) >= settings.batch_size:
                yield IngestedChunk(articles_table(with_languages(kept), run_id, ingested_at), rejects)
                kept, rejects = [], []
    if kept or rejects:
        yield IngestedChunk(articles_table(with_languages(kept), run_id, ingested_at), rejects)


def articles_table(articles: Sequence[CleanArticle], run_id: str, ingested_at: datetime) -> pa.Table:
    # Column by column: a dict per article costs more than Arrow's conversion itself.
    columns: dict[str, list] = {
        name: [getattr(a, name) for a in articles]
        for name in INGESTED.names if name not in ("ingested_at", "run_id", "extra")
    }
    columns["ingested_at"] = [ingested_at] * len(articles)
    columns["run_id"] = [run_id] * len(articles)
    columns["extra"] = [store.to_json(a.extra) if a.extra else None for a in articles]
    return pa.Table.from_pydict(columns, schema=INGESTED)


def rejects_table(rejects: Sequence[Reject], run_id: str, rejected_at: datetime) -> pa.Table:
    rows = [
        {"source": r.source, "record": r.record, "reason": r.reason.value, "detail": r.detail,
         "run_id": run_id, "rejected_at": rejected_at}
        for r in rejects
    ]
    return pa.Table.from_pylist(rows, schema=store.REJECTS)


def tokenize_articles(articles: pa.Table) -> tuple[pa.Table, pa.Table]:
    """Adds n_paragraphs, n_sentences, n_tokens, terms and the body's sketch (n_shingles,
    signature: `textpipe.stories`); returns (articles, sentences without scores)."""
    from textpipe.resources import stop_words
    from textpipe.stories import sketch_columns
    from textpipe.tokenize import tokenize_article

    words_to_drop = stop_words()
    n_paragraphs, n_sentences, n_tokens, terms, n_title_terms = [], [], [], [], []
    sentence_columns: dict[str, list] = {k: [] for k in ("article_id", "sentence_index", "paragraph_index", "start_char", "end_char", "text")}
    for article_id, title, text in zip(
        articles.column("article_id").to_pylist(),
        articles.column("title").to_pylist(),
        articles.column("text").to_pylist(),
        strict=True,
    ):
        tokenized = tokenize_article(title, text, words_to_drop)
        n_paragraphs.append(tokenized.n_paragraphs)
        n_sentences.append(len(tokenized.sentences))
        n_tokens.append(tokenized.n_tokens)
        terms.append(list(tokenized.terms))
        n_title_terms.append(tokenized.n_title_terms)
        for span in tokenized.sentences:
            sentence_columns["article_id"].append(article_id)
            sentence_columns["sentence_index"].append(span.sentence_index)
            sentence_columns["paragraph_index"].append(span.paragraph_index)
            sentence_columns["start_char"].append(span.start_char)
            sentence_columns["end_char"].append(span.end_char)
            sentence_columns["text"].append(text[span.start_char : span.end_char])
    articles = (
        articles.append_column(pa.field("n_paragraphs", pa.int32()), pa.array(n_paragraphs, pa.int32()))
        .append_column(pa.field("n_sentences", pa.int32()), pa.array(n_sentences, pa.int32()))
        .append_column(pa.field("n_tokens", pa.int32()), pa.array(n_tokens, pa.int32()))
        .append_column(TERMS_FIELD, pa.array(terms, TERMS_FIELD.type))
    )
    n_shingles, signatures = sketch_columns(articles.column("terms"), n_title_terms)
    articles = articles.append_column("n_shingles", n_shingles).append_column("signature", signatures)
    unscored = pa.schema([f for f in store.SENTENCES if f.name in sentence_columns])
    return articles, pa.Table.from_pydict(sentence_columns, schema=unscored)


def score_sentiment(articles: pa.Table, sentences: pa.Table, language: str, scorer: SentenceScorer | None = None) -> tuple[pa.Table, pa.Table]:
    """VADER and the ensemble score per sentence of articles in `language`; others keep
    null scores. Adds article means and VADER's label."""
    from textpipe.ensemble import SentenceScorer, article_ensemble
    from textpipe.sentiment import SentenceSentiment, article_sentiment

    scorer = scorer if scorer is not None else SentenceScorer()
    scored_languages = dict(zip(articles.column("article_id").to_pylist(), articles.column("language").to_pylist(), strict=True))
    per_article: dict[str, list[SentenceSentiment]] = {}
    per_article_ensemble: dict[str, list[float]] = {}
    neg, neu, pos, compound, combined = [], [], [], [], []
    for article_id, text in zip(sentences.column("article_id").to_pylist(), sentences.column("text").to_pylist(), strict=True):
        if scored_languages.get(article_id) != language:
            neg.append(None), neu.append(None), pos.append(None), compound.append(None), combined.append(None)
            continue
        score, sentence_ensemble = scorer.score(text)
        per_article.setdefault(article_id, []).append(score)
        neg.append(score.neg), neu.append(score.neu), pos.append(score.pos), compound.append(score.compound)
        per_article_ensemble.setdefault(article_id, []).append(sentence_ensemble)
        combined.append(sentence_ensemble)
    for name, values in (("compound", compound), ("pos", pos), ("neg", neg), ("neu", neu), ("ensemble", combined)):
        sentences = sentences.append_column(store.SENTENCES.field(name), pa.array(values, pa.float64()))
    article_ids = articles.column("article_id").to_pylist()
    summaries = [article_sentiment(per_article.get(article_id, ())) for article_id in article_ids]
    for name, attribute in (("sentiment_compound", "compound"), ("sentiment_pos", "pos"), ("sentiment_neg", "neg"), ("sentiment_neu", "neu"), ("sentiment_label", "label")):
        field_ = store.ARTICLES.field(name)
        articles = articles.append_column(field_, pa.array([getattr(s, attribute) for s in summaries], field_.type))
    field_ = store.ARTICLES.field("sentiment_ensemble")
    means = [article_ensemble(per_article_ensemble.get(article_id, ())) for article_id in article_ids]
    return articles.append_column(field_, pa.array(means, field_.type)), sentences


def sample_documents(documents: Iterable[T], size: int, seed: int) -> list[T]:
    """A seeded uniform sample (reservoir) of at most `size` documents from a stream."""
    rng = random.Random(seed)
    sample: list[T] = []
    for index, document in enumerate(documents):
        if index < size:
            sample.append(document)
        else:
            slot = rng.randint(0, index)
            if slot < size:
                sample[slot] = document
    return sample


def assign_topics(model: TopicModel, article_ids: pa.Array | pa.ChunkedArray, terms: pa.Array | pa.ChunkedArray, threshold: float) -> tuple[pa.Table, pa.Table]:
    """Dominant topic per article and the long-format topic mix (weights >= threshold).

    `terms` is a list<string> column, one term list per article of `article_ids`.
    """
    weights = model.transform(terms) if len(terms) else np.zeros((0, model.n_topics), np.float32)
    dominant = weights.argmax(axis=1) if len(weights) else np.zeros(0, np.int64)
    dominant_weight = weights[np.arange(len(weights)), dominant] if len(weights) else np.zeros(0, np.float32)
    has_topic = dominant_weight > 0
    dominant_table = pa.table(
        {
            "article_id": article_ids,
            "topic_id": pa.array(np.where(has_topic, dominant, 0).astype(np.int32), mask=~has_topic),
            "topic_weight": pa.array(dominant_weight.astype(np.float32), mask=~has_topic),
            "model_id": pa.array([model.model_id_] * len(article_ids), pa.string()),
        }
    )
    rows, cols = np.nonzero(weights >= max(threshold, 1e-9))
    long_table = pa.table(
        {
            "article_id": article_ids.take(pa.array(rows, pa.int64())),
            "model_id": pa.array([model.model_id_] * len(rows), pa.string()),
            "topic_id": pa.array(cols.astype(np.int32)),
            "weight": pa.array(weights[rows, cols].astype(np.float32)),
        },
        schema=store.ARTICLE_TOPICS,
    )
    return dominant_table, long_table


def with_topics(articles: pa.Table, dominant: pa.Table) -> pa.Table:
    """Join dominant-topic columns (by article_id, same order) into an article table."""
    if articles.num_rows and not pc.all(pc.equal(articles.column("article_id"), dominant.column("article_id"))).as_py():
        raise ValueError("topic assignments are not in the order of the articles")
    for name in ("topic_id", "topic_weight", "model_id"):
        field_ = store.ARTICLES.field(name)
        column = dominant.column(name).cast(field_.type)
        if name in articles.column_names:
            articles = articles.set_column(articles.schema.get_field_index(name), field_, column)
        else:
            articles = articles.append_column(field_, column)
    return articles


@dataclass
class TopicsResult:
    model_id: str
    fitted: bool
    topics: list[dict]  # topic_id, label, top_terms, term_weights, coherence
    assignment_paths: list[tuple[Path, Path]]  # staged (dominant, long) per batch, in batch order


def sample_staged_terms(paths: Sequence[Path], language: str | None, size: int, seed: int) -> list[list[str]]:
    """`sample_documents` over the non-empty term lists of staged batches (of articles in
    `language`, unless None), materializing only the sampled ones."""
    eligible_rows = []
    for path in paths:
        table = store.read_staged(path).select(["terms", "language"])
        has_terms = pc.greater(pc.list_value_length(table.column("terms")), 0)
        keep = has_terms if language is None else pc.and_(has_terms, pc.equal(table.column("language"), language))
        eligible_rows.append(np.flatnonzero(keep.fill_null(False).to_numpy(zero_copy_only=False)))
    positions = (
        (batch, int(row)) for batch, rows in enumerate(eligible_rows) for row in rows
    )
    sampled = sample_documents(positions, size, seed)
    rows_by_batch: dict[int, list[int]] = {}
    for batch, row in sampled:
        rows_by_batch.setdefault(batch, []).append(row)
    terms_at: dict[tuple[int, int], list[str]] = {}
    for batch, rows in rows_by_batch.items():
        taken = store.read_staged(paths[batch]).column("terms").take(pa.array(rows, pa.int64())).to_pylist()
        terms_at.update(zip(((batch, row) for row in rows), taken, strict=True))
    return [terms_at[position] for position in sampled]


_MIN_DOCS_FOR_DF_CUTOFFS = 20


def new_topic_model(settings: Settings, sample: list[list[str]], current_k: int | None = None) -> TopicModel:
    """Fit a model on a document sample.

    K is settings.n_topics; 0 means choose it by topic quality ("auto": coherence
    times diversity, `textpipe.topics.choose_n_topics`); None keeps
    the current model's K (DEFAULT_TOPICS when there is none).
    """
    from textpipe.topics import TopicModel, choose_n_topics

    n_topics = settings.n_topics if settings.n_topics is not None else (current_k or DEFAULT_TOPICS)
    # Document-frequency cut-offs only make sense on a corpus; a handful of
    # articles keeps every term.
    small = len(sample) < _MIN_DOCS_FOR_DF_CUTOFFS
    model_kwargs = {
        "max_features": settings.max_features, "top_terms": settings.topic_top_terms, "random_state": settings.random_state,
        "min_df": 1 if small else 2, "max_df": 1.0 if small else 0.3,
    }
    if n_topics == 0:
        candidates = [k for k in settings.auto_topics_candidates if k < len(sample)] or [max(1, len(sample) // 2)]
        n_topics, _ = choose_n_topics(sample, candidates, **model_kwargs)
    n_topics = max(1, min(n_topics, len(sample)))
    return TopicModel(n_topics=n_topics, **model_kwargs).fit(sample)


def fit_or_load_and_assign(article_paths: Sequence[Path], settings: Settings, output: Path, refit: bool) -> TopicsResult:
    """Topics for staged article batches: the current saved model's `transform`, or a new fit.

    A new model is fitted only when there is none yet, when `refit` is asked
    for, or when an explicit topic count differs from the current model's.
    """
    current = store.current_model_path(output)
    if not article_paths:
        # Nothing to fit on or assign: the current model stands, as the store describes it.
        if current is None or refit:
            return TopicsResult(model_id="", fitted=False, topics=[], assignment_paths=[])
        return TopicsResult(model_id=current.name, fitted=False, topics=store.read_topic_rows(output, current.name), assignment_paths=[])
    from textpipe.topics import TopicModel

    model = TopicModel.load(current) if current is not None else None
    wants_other_k = model is not None and settings.n_topics not in (None, 0, model.n_topics)
    fitted = model is None or refit or wants_other_k
    if fitted:
        sample = sample_staged_terms(article_paths, settings.language, settings.topic_fit_sample, settings.random_state)
        if not sample:  # no article in the scored language: topics from all of them
            sample = sample_staged_terms(article_paths, None, settings.topic_fit_sample, settings.random_state)
        if len(sample) < 2:
            return TopicsResult(model_id="", fitted=False, topics=[], assignment_paths=[])
        model = new_topic_model(settings, sample, model.n_topics if model is not None else None)
        model.save(output / store.MODELS_DIR)
    assert model is not None
    paths = []
    for index, path in enumerate(article_paths):
        table = store.read_staged(path).select(["article_id", "terms"])
        dominant, long = assign_topics(model, table.column("article_id"), table.column("terms"), settings.topic_weight_threshold)
        paths.append((
            store.write_staged(path.with_name(f"topic-{index:05d}.arrow"), dominant),
            store.write_staged(path.with_name(f"topic-mix-{index:05d}.arrow"), long),
        ))
    return TopicsResult(model_id=model.model_id_, fitted=fitted, topics=topic_rows(model), assignment_paths=paths)


def topic_rows(model: TopicModel) -> list[dict]:
    """The model's topics as rows of the `topics` dataset (without n_articles)."""
    return [
        {"topic_id": t.topic_id, "label": t.label, "top_terms": list(t.top_terms), "term_weights": list(t.term_weights), "coherence": t.coherence}
        for t in model.topics_
    ]


# Staged stages: the same functions over Arrow IPC files, so a task (or a
# worker process) receives and returns paths, never article data.


# One scorer of each kind per process, built once even when the threads task runner
# asks for it from several tasks at the same moment.
_SCORERS_BUILT = threading.Lock()


def _scorer() -> SentenceScorer:
    with _SCORERS_BUILT:
        return _build_scorer()


@lru_cache(maxsize=1)
def _build_scorer() -> SentenceScorer:
    from textpipe.ensemble import SentenceScorer

    return SentenceScorer()


@dataclass(frozen=True)
class StagedChunk:
    """One chunk of an ingest batch, read, cleaned and tokenized, as staged files."""

    articles: Path  # tokenized articles (`tokenize_articles`)
    sentences: Path  # their sentences, not yet scored
    rejects: Path
    n_sentences: int


def ingest_stage(files: Sequence[InputFile], settings: Settings, seen_path: Path, staging: Path, run_id: str, index: int,
                 ingested_at: datetime | None = None) -> tuple[list[StagedChunk], IngestCounts, dict[str, float]]:
    """`ingest_files` and `tokenize_articles` for one file batch; returns its staged
    chunks, counts, and the seconds spent reading and cleaning ("ingest") and tokenizing.

    Tokenizing in the same call saves staging the cleaned articles for another task to
    read back, and the wait for every batch to be read before any is tokenized.
    `ingested_at` is the run's start, the same for all its batches: an undated article's
    place among its run's articles (its story's first article, `textpipe.stories`) must
    not depend on which batch read it first.
    """
    started = time.perf_counter()
    seen = set(store.read_staged(seen_path).column("article_id").to_pylist())
    now = ingested_at or datetime.now(UTC)
    counts = IngestCounts()
    chunks = []
    tokenize_seconds = 0.0
    for part, chunk in enumerate(ingest_files(files, settings, seen, run_id, now, counts)):
        name = f"{index:05d}-{part:03d}"
        rejects = store.write_staged(staging / f"rejects-{name}.arrow", rejects_table(chunk.rejects, run_id, now))
        clock = time.perf_counter()
        articles, sentences = tokenize_articles(chunk.articles)
        chunks.append(StagedChunk(
            store.write_staged(staging / f"tokenized-{name}.arrow", articles),
            store.write_staged(staging / f"sentences-{name}.arrow", sentences),
            rejects,
            sentences.num_rows,
        ))
        tokenize_seconds += time.perf_counter() - clock
    return chunks, counts, {"ingest": time.perf_counter() - started - tokenize_seconds, "tokenize": tokenize_seconds}


def sentiment_stage(articles_path: Path, sentences_path: Path, language: str, index: int) -> tuple[Path, Path, Path, int]:
    """`score_sentiment` on a staged batch, then the terms its sentences name
    (`textpipe.terms.mention_table`); returns (articles, sentences, mentions, n_sentences scored)."""
    from textpipe.terms import mention_table

    articles, sentences = score_sentiment(store.read_staged(articles_path), store.read_staged(sentences_path), language, _scorer())
    return (
        store.write_staged(articles_path.with_name(f"scored-{index:05d}.arrow"), articles),
        store.write_staged(sentences_path.with_name(f"scored-sentences-{index:05d}.arrow"), sentences),
        store.write_staged(articles_path.with_name(f"mentions-{index:05d}.arrow"), mention_table(articles, sentences, language)),
        sentences.num_rows,
    )


def place_stories(output: Path, article_paths: Sequence[Path], dropped: Sequence[set[str]], run_id: str) -> dict[str, str]:
    """The story of every new article of a run (`textpipe.stories`), placed earliest first;
    the index gains the run's part (removed again if the run never commits)."""
    from textpipe.stories import StoryIndex, placement_order, sketch_arrays

    columns = ["article_id", "published_at", "ingested_at", "n_shingles", "signature"]
    tables = [store.read_staged(path).select(columns) for path in article_paths]
    tables = [store.drop_ids(table, ids) for table, ids in zip(tables, dropped, strict=True)]
    if not tables or not sum(t.num_rows for t in tables):
        return {}
    return StoryIndex(output).place_sketches(*sketch_arrays(placement_order(pa.concat_tables(tables))), run_id)


def run_terms(mention_paths: Sequence[Path], dropped: Sequence[set[str]]) -> pa.Table | None:
    """The terms a run's new articles name, summed per (date, term): its part of the terms
    state; None for a run with no new article (Arrow's group-by would import pandas, ~0.15 s of a rerun)."""
    from textpipe.terms import run_delta

    if not mention_paths:
        return None
    tables = [store.drop_ids(store.read_staged(path), ids) for path, ids in zip(mention_paths, dropped, strict=True)]
    return run_delta(pa.concat_tables(tables), store.TERMS_DELTA)


def fingerprint(file: InputFile) -> tuple[str, int, int] | None:
    """(relative path, size, mtime) of an input file; None if it cannot be stat'ed.

    A page's metadata sidecar counts as part of it (sizes added, the later mtime), so a
    sidecar rewritten while its page stayed the same has the page read again.
    """
    try:
        stat = file.path.stat()
        size, mtime = stat.st_size, stat.st_mtime_ns
        if file.metadata is not None:
            meta = file.metadata.stat()
            size, mtime = size + meta.st_size, max(mtime, meta.st_mtime_ns)
    except OSError:
        return None
    return file.relative, size, mtime


def split_unchanged(files: Sequence[InputFile], known: set[tuple[str, int, int]]) -> tuple[list[InputFile], list[tuple[str, int, int]], int]:
    """Files to read, their fingerprints, and how many were skipped as unchanged since a committed run."""
    to_read, fingerprints, unchanged = [], [], 0
    for file in files:
        file_print = fingerprint(file)
        if file_print is not None and file_print in known:
            unchanged += 1
            continue
        to_read.append(file)
        if file_print is not None:
            fingerprints.append(file_print)
    return to_read, fingerprints, unchanged


def plan_reads(files: Sequence[InputFile], known: set[tuple[str, int, int]], settings: Settings) -> tuple[list[list[InputFile]], list[tuple[str, int, int]], int]:
    """The files changed since a committed run, in batches; their fingerprints; how many were unchanged."""
    to_read, fingerprints, unchanged = split_unchanged(files, known)
    sizes = {relative: size for relative, size, _ in fingerprints}
    return plan_file_batches(to_read, settings, [sizes.get(file.relative, 0) for file in to_read]), fingerprints, unchanged
