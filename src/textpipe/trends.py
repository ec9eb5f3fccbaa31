"""Trends: how many articles each topic and publisher had per day, and their tone.

`trends_table` recounts the `trends` dataset from `articles`: one row per
(model_id, date, topic_id, publisher), `date` the UTC calendar date of
published_at (null without one). Every article counts once, under the model that
assigned its topic: after `textpipe refit` that is the new model for all of them.
"""

from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc

# The articles columns a recount reads.
COLUMNS = ["article_id", "story_id", "model_id", "published_at", "topic_id", "publisher", "sentiment_compound", "sentiment_label"]
KEYS = ["model_id", "date", "topic_id", "publisher"]


def utc_date(timestamps: pa.ChunkedArray | pa.Array) -> pa.ChunkedArray | pa.Array:
    """UTC calendar dates of UTC timestamps (nulls stay null)."""
    return pc.cast(pc.cast(timestamps, pa.timestamp("us")), pa.date32())


def trends_table(articles: pa.Table, schema: pa.Schema) -> pa.Table:
    """The `trends` dataset from articles' COLUMNS (an article without a story counts as its own)."""
    labels = articles.column("sentiment_label")
    counts = {label: pc.cast(pc.fill_null(pc.equal(labels, label), False), pa.int64()) for label in ("positive", "neutral", "negative")}
    table = pa.table({
        "model_id": articles.column("model_id"),
        "date": utc_date(articles.column("published_at")),
        "topic_id": articles.column("topic_id"),
        "publisher": articles.column("publisher"),
        "story": pc.coalesce(articles.column("story_id"), articles.column("article_id")),
        "compound": articles.column("sentiment_compound"),
        **counts,
    })
    grouped = table.group_by(KEYS).aggregate([
        ("story", "count"), ("story", "count_distinct"), ("compound", "mean"),
        ("positive", "sum"), ("neutral", "sum"), ("negative", "sum"),
    ])
    result = pa.table({
        **{key: grouped.column(key) for key in KEYS},
        "n_articles": grouped.column("story_count"),
        "n_stories": grouped.column("story_count_distinct"),
        "sentiment_mean": grouped.column("compound_mean"),
        "n_positive": grouped.column("positive_sum"),
        "n_neutral": grouped.column("neutral_sum"),
        "n_negative": grouped.column("negative_sum"),
    }).sort_by([(key, "ascending") for key in KEYS])
    return pa.Table.from_arrays([result.column(f.name).cast(f.type) for f in schema], schema=schema)
