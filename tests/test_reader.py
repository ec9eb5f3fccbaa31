"""`textpipe.open_store`: every dataset as pandas, labels joined, and the analyst's
questions across datasets, checked against plain `pd.read_parquet` of the same store."""

from __future__ import annotations

import subprocess
import sys

import pandas as pd
import pytest

import textpipe
from textpipe.errors import StoreNotFoundError
from textpipe.reader import StoreReader


@pytest.fixture(scope="module")
def store(analyst_store) -> StoreReader:
    return textpipe.open_store(analyst_store[1])


@pytest.fixture(scope="module")
def output(analyst_store):
    return analyst_store[1]


def read(output, name: str) -> pd.DataFrame:
    return pd.read_parquet(output / name)


def test_import_textpipe_does_not_import_pandas():
    code = "import sys, textpipe; assert callable(textpipe.open_store); print('pandas' in sys.modules)"
    # The attribute is looked up lazily: asking for it imports the reader, and pandas with it.
    first = subprocess.run([sys.executable, "-c", "import sys, textpipe; print('pandas' in sys.modules)"], capture_output=True, text=True, check=True)
    second = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert first.stdout.strip() == "False" and second.stdout.strip() == "True"


@pytest.mark.parametrize("where", ["missing", "empty"])
def test_a_missing_store_is_one_clear_error(tmp_path, where):
    folder = tmp_path / "store"
    if where == "empty":
        folder.mkdir()
    with pytest.raises(FileNotFoundError) as raised:
        textpipe.open_store(folder)
    assert isinstance(raised.value, StoreNotFoundError)
    message = str(raised.value)
    assert "\n" not in message and str(folder) in message and "textpipe run" in message


def test_every_dataset_reads_whole(store, output):
    model = store.model_id
    assert model == read(output, "runs").sort_values("started_at").model_id.dropna().iloc[-1]
    expected = {
        "articles": len(read(output, "articles")), "sentences": len(read(output, "sentences")),
        "topics": (read(output, "topics").model_id == model).sum(),
        "article_topics": (read(output, "article_topics").model_id == model).sum(),
        "rejects": len(read(output, "rejects")), "runs": len(read(output, "runs")), "stories": len(read(output, "stories")),
        "trends": (read(output, "trends").model_id == model).sum(), "terms": len(read(output, "terms")),
    }
    for name, rows in expected.items():
        frame = getattr(store, name)()
        assert isinstance(frame, pd.DataFrame) and len(frame) == rows > 0, name


def test_topic_labels_are_joined_onto_articles_trends_and_mixes(store, output):
    topics = read(output, "topics")
    labels = dict(zip(zip(topics.model_id, topics.topic_id), topics.label, strict=True))
    articles = store.articles()
    assert str(articles.topic_id.dtype) == "Int32"  # a nullable column that stays integer
    for row in articles.itertuples():
        assert row.topic_label == labels.get((row.model_id, row.topic_id)) if pd.notna(row.topic_id) else pd.isna(row.topic_label)
    trends = store.trends()
    known = trends.dropna(subset=["topic_id"])
    assert list(known.topic_label) == [labels[(store.model_id, t)] for t in known.topic_id]
    mix = store.article_topics()
    assert list(mix.topic_label) == [labels[(store.model_id, t)] for t in mix.topic_id]


def test_date_filters_keep_the_days_asked_for(store, output):
    articles = read(output, "articles")
    days = articles.published_at.dt.date
    since, until = pd.Timestamp("2024-03-05").date(), pd.Timestamp("2024-03-20").date()
    expected = articles[(days >= since) & (days <= until)]
    got = store.articles(columns=["article_id", "published_at"], since="2024-03-05", until="2024-03-20")
    assert set(got.article_id) == set(expected.article_id) and 0 < len(got) < len(articles)
    trends = store.trends(since=since, until=until)
    assert trends.date.between(pd.Timestamp(since), pd.Timestamp(until)).all()
    assert trends.n_articles.sum() == len(expected[expected.model_id == store.model_id])
    assert store.terms(since="2024-03-05", until="2024-03-20").date.between(pd.Timestamp(since), pd.Timestamp(until)).all()


def test_stories_several_outlets_tell_and_their_articles(store, output):
    articles = read(output, "articles")
    several = store.stories(min_publishers=2)
    assert len(several) >= 5 and (several.n_publishers >= 2).all()
    assert list(several.n_articles) == sorted(several.n_articles, reverse=True)
    for story in several.itertuples():
        members = articles[articles.story_id == story.story_id]
        assert story.publishers == sorted(members.publisher.dropna().unique())
        told = store.story(story.story_id)
        assert list(told.article_id) == list(story.article_ids)  # earliest first, as the dataset lists them
        assert told.publisher.nunique() == story.n_publishers and told.topic_label.notna().all()


def test_top_terms_sum_the_dates(store, output):
    terms = read(output, "terms")
    top = store.top_terms(10)
    for row in top.itertuples():
        rows = terms[terms.term == row.term]
        assert row.n_sentences == rows.n_sentences.sum() and row.n_articles == rows.n_articles.sum()
        assert row.sentiment_mean == pytest.approx((rows.sentiment_mean.fillna(0) * rows.n_scored).sum() / rows.n_scored.sum())
    assert list(top.n_sentences) == sorted(top.n_sentences, reverse=True)


def test_mentions_are_the_sentences_terms_counts(store, output):
    terms = read(output, "terms")
    for term in [*store.top_terms(4).term, "Putin", "Tony Blair"]:
        found = store.mentions(term)
        assert len(found) == terms[terms.term == term].n_sentences.sum() > 0, term
        assert found.text.str.contains(term, regex=False).all(), term
        scored = found.compound.dropna()
        rows = terms[terms.term == term]
        assert scored.mean() == pytest.approx((rows.sentiment_mean * rows.n_scored).sum() / rows.n_scored.sum()), term
    # The sample article (../shared/samples/): every sentence that names Putin.
    articles, sentences = read(output, "articles"), read(output, "sentences")
    sample = articles[articles.source == "samples/000_3396f7b0be424c1a.txt"].article_id.iloc[0]
    naming = sentences[(sentences.article_id == sample) & sentences.text.str.contains("Putin")]
    putin = store.mentions("Putin")
    assert set(putin[putin.article_id == sample].sentence_index) == set(naming.sentence_index) and len(naming) >= 5
    assert {"article_title", "publisher", "published_at", "topic_label", "compound"} <= set(putin.columns)
