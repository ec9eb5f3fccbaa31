"""A store, read from a notebook: `textpipe.open_store(path)` gives each dataset as a
pandas DataFrame, with the current topic model's labels joined where topics are numbers,
and the questions analysts ask across datasets: the stories several outlets tell and
their articles, how a topic moved, the sentences that name a term.

Read-only, through `textpipe.store`'s readers (so a store being written is read as its
last committed state, file by file). Integer columns that can be null stay integers
(`Int32`, `Int64`); dates (`trends.date`, `terms.date`) are pandas datetimes, so
`since="2024-03-01"` and plotting work on them directly.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from datetime import date, datetime
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from textpipe import store
from textpipe.errors import StoreNotFoundError
from textpipe.report import current_model_id
from textpipe.terms import article_terms

DateLike = str | date | datetime | pd.Timestamp


def open_store(path: str | os.PathLike[str]) -> StoreReader:
    """The store at `path` (the `--output` folder of `textpipe run`), read-only."""
    folder = Path(path)
    if not store.has_committed_runs(folder):
        where = "does not exist" if not folder.exists() else "holds no textpipe store (no committed run)"
        raise StoreNotFoundError(f"{folder} {where}: run `textpipe run --input <folder of articles> --output {folder}` first")
    return StoreReader(folder)


def _frame(table: pa.Table) -> pd.DataFrame:
    """An Arrow table as pandas: nullable integers stay integers, dates become datetimes."""
    mapping = {pa.int32(): pd.Int32Dtype(), pa.int64(): pd.Int64Dtype()}
    return table.to_pandas(types_mapper=mapping.get, date_as_object=False)


class StoreReader:
    """Each dataset of one store as a DataFrame; see docs/notebooks.md."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def __repr__(self) -> str:
        return f"StoreReader({str(self.path)!r})"

    @property
    def model_id(self) -> str | None:
        """The current topic model (what `articles.topic_id` refers to)."""
        return current_model_id(self.path)

    def _read(self, name: str, columns: list[str] | None = None) -> pa.Table:
        return store.read_dataset(self.path, name, columns)

    # ------------------------------------------------------------ the datasets

    def articles(self, columns: list[str] | None = None, since: DateLike | None = None, until: DateLike | None = None,
                 publisher: str | Iterable[str] | None = None, topic: int | None = None) -> pd.DataFrame:
        """Articles with `topic_label` (the current model's label of topic_id).

        `since`/`until` keep articles published on those UTC days or between them
        (articles without a date go); `publisher` one or several; `topic` a topic_id.
        """
        wanted = list(store.ARTICLES.names) if columns is None else list(columns)
        needed = list(dict.fromkeys([*wanted, "model_id", "topic_id", *(["published_at"] if since or until else []),
                                     *(["publisher"] if publisher is not None else [])]))
        table = self._read("articles", needed)
        table = _between(table, "published_at", since, until)
        if publisher is not None:
            names = [publisher] if isinstance(publisher, str) else list(publisher)
            table = table.filter(pc.is_in(table.column("publisher"), pa.array(names, pa.string())))
        if topic is not None:
            table = table.filter(pc.equal(table.column("topic_id"), pa.scalar(topic, pa.int32())))
        frame = self._with_labels(_frame(table))
        return frame[[*wanted, "topic_label"]] if "topic_id" in wanted else frame[wanted]

    def sentences(self, article_ids: Iterable[str] | None = None) -> pd.DataFrame:
        """Sentences with their VADER scores; only those of `article_ids` if given, in article order."""
        table = self._read("sentences")
        if article_ids is not None:
            table = table.filter(pc.is_in(table.column("article_id"), pa.array(list(article_ids), pa.string())))
        return _frame(table)

    def topics(self, model_id: str | None = None, all_models: bool = False) -> pd.DataFrame:
        """The topics of the current model (or of `model_id`, or of every model fitted on the store)."""
        table = self._read("topics")
        if not all_models:
            table = table.filter(pc.equal(table.column("model_id"), model_id or self.model_id or ""))
        return _frame(table).sort_values(["model_id", "topic_id"]).reset_index(drop=True)

    def article_topics(self, model_id: str | None = None) -> pd.DataFrame:
        """Each article's topic mix under the current model (or `model_id`), with `topic_label`."""
        table = self._read("article_topics")
        model = model_id or self.model_id or ""
        frame = _frame(table.filter(pc.equal(table.column("model_id"), model)))
        return self._with_labels(frame, model)

    def rejects(self) -> pd.DataFrame:
        return _frame(self._read("rejects"))

    def runs(self) -> pd.DataFrame:
        return _frame(self._read("runs")).sort_values("started_at").reset_index(drop=True)

    def stories(self, min_articles: int = 1, min_publishers: int = 0, limit: int | None = None) -> pd.DataFrame:
        """Stories, largest first (most articles, then most publishers, then earliest), with
        `publishers`: the names of their distinct publishers. `min_publishers=2`: the stories
        several outlets tell."""
        table = self._read("stories")
        table = table.filter(pc.and_(pc.greater_equal(table.column("n_articles"), min_articles),
                                     pc.greater_equal(table.column("n_publishers"), min_publishers)))
        table = table.sort_by([("n_articles", "descending"), ("n_publishers", "descending"), ("first_seen", "ascending"), ("story_id", "ascending")])
        if limit is not None:
            table = table.slice(0, limit)
        frame = _frame(table)
        frame["publishers"] = self._publishers_of(table.column("story_id"))
        return frame

    def _publishers_of(self, story_ids: pa.ChunkedArray) -> list[list[str]]:
        articles = self._read("articles", ["story_id", "publisher"])
        articles = articles.filter(pc.and_(pc.is_in(articles.column("story_id"), story_ids.combine_chunks()), pc.is_valid(articles.column("publisher"))))
        names: dict[str, set[str]] = {}
        for story_id, publisher in zip(articles.column("story_id").to_pylist(), articles.column("publisher").to_pylist(), strict=True):
            names.setdefault(story_id, set()).add(publisher)
        return [sorted(names.get(s, ())) for s in story_ids.to_pylist()]

    def story(self, story_id: str, columns: list[str] | None = None) -> pd.DataFrame:
        """The articles of one story, earliest first (published_at, else when textpipe read them)."""
        wanted = columns or ["article_id", "title", "publisher", "published_at", "ingested_at", "source", "url",
                             "sentiment_compound", "topic_id", "n_sentences"]
        table = self._read("articles", list(dict.fromkeys([*wanted, "story_id", "published_at", "ingested_at", "model_id", "topic_id"])))
        table = table.filter(pc.equal(table.column("story_id"), story_id))
        frame = self._with_labels(_frame(table))
        frame["seen_at"] = frame.published_at.fillna(frame.ingested_at)
        frame = frame.sort_values(["seen_at", "article_id"]).reset_index(drop=True)
        return frame[[*wanted, "topic_label"]] if "topic_id" in wanted else frame[wanted]

    def trends(self, since: DateLike | None = None, until: DateLike | None = None, all_models: bool = False) -> pd.DataFrame:
        """Articles and mean sentiment per (date, topic, publisher) under the current model, with
        `topic_label`; `all_models` also keeps rows of articles an earlier model assigned."""
        table = self._read("trends")
        if not all_models and self.model_id:
            table = table.filter(pc.equal(table.column("model_id"), self.model_id))
        return self._with_labels(_frame(_between(table, "date", since, until)))

    def terms(self, since: DateLike | None = None, until: DateLike | None = None, term: str | None = None) -> pd.DataFrame:
        """The `terms` dataset (one row per date and term), optionally one term's rows."""
        table = _between(self._read("terms"), "date", since, until)
        if term is not None:
            table = table.filter(pc.equal(table.column("term"), term))
        return _frame(table)

    # ------------------------------------------------------------ across datasets

    def top_terms(self, n: int | None = 20, since: DateLike | None = None, until: DateLike | None = None) -> pd.DataFrame:
        """The most mentioned terms over the whole period (or `since`/`until`): sentences,
        articles, scored sentences and their mean compound, summed over dates."""
        summed = sum_terms(_between(self._read("terms"), "date", since, until))
        return summed if n is None else summed.head(n)

    def mentions(self, term: str, since: DateLike | None = None, until: DateLike | None = None, language: str = "en") -> pd.DataFrame:
        """The sentences that name `term` as the `terms` dataset counts them (so `Putin` also
        finds "Vladimir Putin"), with their article's title, publisher, date and topic.

        Only articles in `language` are searched: `terms` counts names in English text.
        """
        articles = self._read("articles", ["article_id", "title", "publisher", "published_at", "language", "text", "model_id", "topic_id"])
        articles = _between(articles, "published_at", since, until)
        # Every sentence that names a term contains it as written: a cheap first filter.
        articles = articles.filter(pc.and_(pc.equal(articles.column("language"), language), pc.match_substring(articles.column("text"), term)))
        sentences = self._read("sentences", ["article_id", "sentence_index", "start_char", "text", "compound"])
        sentences = sentences.filter(pc.is_in(sentences.column("article_id"), articles.column("article_id").combine_chunks()))
        starts: dict[str, list[tuple[int, int]]] = {}
        for article_id, index, start in zip(*(sentences.column(c).to_pylist() for c in ("article_id", "sentence_index", "start_char")), strict=True):
            starts.setdefault(article_id, []).append((index, start))
        keep: set[tuple[str, int]] = set()
        for article_id, text in zip(articles.column("article_id").to_pylist(), articles.column("text").to_pylist(), strict=True):
            ordered = sorted(starts.get(article_id, ()))
            named = article_terms(text, [start for _, start in ordered]).get(term, set())
            keep.update((article_id, ordered[k][0]) for k in named)
        found = _frame(sentences.drop_columns(["start_char"]))
        found = found[[key in keep for key in zip(found.article_id, found.sentence_index, strict=True)]]
        about = self._with_labels(_frame(articles.drop_columns(["text", "language"]))).rename(columns={"title": "article_title"})
        merged = found.merge(about, on="article_id", how="left")
        return merged.sort_values(["published_at", "article_id", "sentence_index"], na_position="last").reset_index(drop=True)

    def _with_labels(self, frame: pd.DataFrame, model_id: str | None = None) -> pd.DataFrame:
        """`frame` with `topic_label` from its rows' own model (or `model_id`) and topic_id."""
        if "topic_id" not in frame.columns:
            return frame
        topics = _frame(self._read("topics", ["model_id", "topic_id", "label"])).rename(columns={"label": "topic_label"})
        if model_id is not None or "model_id" not in frame.columns:
            topics = topics[topics.model_id == (model_id or self.model_id)].drop(columns="model_id")
            return frame.merge(topics, on="topic_id", how="left")
        return frame.merge(topics, on=["model_id", "topic_id"], how="left")


def sum_terms(terms: pa.Table) -> pd.DataFrame:
    """`terms` rows summed over dates, most mentioned first: sentences, articles, scored
    sentences and the mean compound of the scored ones (each date's mean weighs its count)."""
    compound = pc.multiply(pc.fill_null(terms.column("sentiment_mean"), 0.0), pc.cast(terms.column("n_scored"), pa.float64()))
    table = pa.table({"term": terms.column("term"), "n_sentences": terms.column("n_sentences"), "n_articles": terms.column("n_articles"),
                      "n_scored": terms.column("n_scored"), "compound": compound})
    summed = table.group_by("term").aggregate([(c, "sum") for c in ("n_sentences", "n_articles", "n_scored", "compound")])
    frame = summed.to_pandas().rename(columns=lambda c: c.removesuffix("_sum"))
    frame["sentiment_mean"] = (frame.compound / frame.n_scored).where(frame.n_scored > 0)
    return frame.drop(columns="compound").sort_values(["n_sentences", "term"], ascending=[False, True]).reset_index(drop=True)


def _day(value: DateLike) -> date:
    return pd.Timestamp(value).date()


def _between(table: pa.Table, column: str, since: DateLike | None, until: DateLike | None) -> pa.Table:
    """Rows whose `column` (a UTC timestamp or a date) falls on the days `since`..`until`, both included."""
    if since is None and until is None:
        return table
    from textpipe.trends import utc_date

    values = table.column(column)
    days = values if pa.types.is_date(values.type) else utc_date(values)
    keep = pc.is_valid(days)
    if since is not None:
        keep = pc.and_(keep, pc.greater_equal(days, pa.scalar(_day(since), pa.date32())))
    if until is not None:
        keep = pc.and_(keep, pc.less_equal(days, pa.scalar(_day(until), pa.date32())))
    return table.filter(pc.fill_null(keep, False))
