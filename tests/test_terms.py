"""Terms: the names a sentence uses, normalized, on real text (the sample article about
Putin's visit to Minsk, BBC politics), and the counts that sum them per run."""

from __future__ import annotations

import re
from datetime import date
from pathlib import Path

import pyarrow as pa
import pytest
from hypothesis import given, settings as hypothesis_settings, strategies as st

from textpipe import store
from textpipe.clean import clean_article
from textpipe.config import Settings
from textpipe.ingest.text import parse_text
from textpipe.terms import article_terms, as_delta, run_delta, sum_deltas, terms_table
from textpipe.tokenize import split_sentences

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT.parent / "shared" / "samples" / "000_3396f7b0be424c1a.txt"
BBC = ROOT.parent / "shared" / "corpora" / "bbc"


def _article(path: Path) -> tuple[str, list[str]]:
    """(cleaned text, its sentences) as the pipeline has them."""
    article = clean_article(parse_text(path.read_text(encoding="utf-8", errors="replace"), path.name, Settings()))
    spans = split_sentences(article.text)
    return article.text, [article.text[s.start_char : s.end_char] for s in spans]


def _terms(path: Path) -> tuple[dict[str, set[int]], list[str]]:
    text, sentences = _article(path)
    starts = [s.start_char for s in split_sentences(text)]
    return article_terms(text, starts), sentences


def test_every_sentence_that_names_putin_counts_for_putin():
    terms, sentences = _terms(SAMPLE)
    naming = {i for i, sentence in enumerate(sentences) if re.search(r"\bPutin\b", sentence)}
    assert len(naming) >= 8
    assert terms["Putin"] == naming  # "Vladimir Putin", "Putin’s", "flew Putin For ..."
    assert terms["Vladimir Putin"] <= terms["Putin"]
    assert terms["Lukashenko"] == {i for i, s in enumerate(sentences) if "Lukashenko" in s}
    assert terms["Minsk"] == {i for i, s in enumerate(sentences) if re.search(r"\bMinsk\b", s)}


def test_names_are_normalized_as_news_prose_writes_them():
    terms, sentences = _terms(SAMPLE)
    assert "Palace of Independence" in terms  # a connector stays inside a name
    assert "Kremlin" in terms and "The Kremlin" not in terms  # a leading function word goes
    assert "Zelensky" in terms and not [t for t in terms if "President" in t]  # titles go, and split a run
    assert "Sergey Lavrov" in terms and "Lavrov" not in terms  # no surname alone in the article: not counted apart
    assert "European Union" in terms and "Union" not in terms
    assert not [t for t in terms if t.endswith(("’s", "'s"))]  # possessives are dropped
    # Capitalized only at the start of a sentence: an ordinary word, not a name.
    assert "Protecting" not in terms and "Prepared" not in terms and "Whether" not in terms
    assert "Schraibman" in terms  # starts a sentence, but is capitalized inside others too


def test_bbc_politics_names_and_their_surnames():
    path = BBC / "politics" / "002.txt"
    terms, sentences = _terms(path)
    named = [t for t in terms if " " in t]
    assert named, terms
    for name in named:
        surname = name.split(" ")[-1]
        if surname in terms and not set(name.split(" ")) & {"of", "de", "van", "von"}:
            assert terms[name] <= terms[surname], name
    for term, where in terms.items():
        assert all(term.split(" ")[0] in sentences[i] or term in sentences[i] for i in where), term


@hypothesis_settings(max_examples=200, deadline=None)
@given(st.text(max_size=400), st.lists(st.integers(0, 400), max_size=8))
def test_any_text_gives_terms_in_bounds(text, starts):
    starts = sorted(set(s for s in starts if s <= len(text)) | {0})
    for term, sentences in article_terms(text, starts).items():
        assert term and term == term.strip() and "  " not in term
        assert all(0 <= i < len(starts) for i in sentences)


def _mentions(rows: list[tuple[str, date | None, str, int, int, float]]) -> pa.Table:
    from textpipe.terms import MENTIONS

    return pa.Table.from_pylist([dict(zip(MENTIONS.names, row, strict=True)) for row in rows], schema=MENTIONS)


def test_run_counts_sum_per_date_and_term_and_merge_like_a_recount():
    day = date(2024, 3, 5)
    first = run_delta(_mentions([("a", day, "Putin", 3, 3, -0.9), ("b", day, "Putin", 1, 0, 0.0), ("b", None, "Minsk", 2, 2, 0.5)]), store.TERMS_DELTA)
    second = run_delta(_mentions([("c", day, "Putin", 2, 2, 0.4)]), store.TERMS_DELTA)
    merged = terms_table(sum_deltas(pa.concat_tables([as_delta(terms_table(first, store.TERMS), store.TERMS_DELTA), second]), store.TERMS_DELTA), store.TERMS)
    recount = terms_table(sum_deltas(pa.concat_tables([first, second]), store.TERMS_DELTA), store.TERMS)
    rows = {(r["date"], r["term"]): r for r in merged.to_pylist()}
    assert rows[(day, "Putin")] == {"date": day, "term": "Putin", "n_sentences": 6, "n_articles": 3, "n_scored": 5, "sentiment_mean": pytest.approx(-0.1)}
    assert rows[(None, "Minsk")]["sentiment_mean"] == pytest.approx(0.25)
    for got, want in zip(merged.to_pylist(), recount.to_pylist(), strict=True):
        assert got == {**want, "sentiment_mean": pytest.approx(want["sentiment_mean"])}
    unscored = terms_table(run_delta(_mentions([("d", day, "Minsk", 1, 0, 0.0)]), store.TERMS_DELTA), store.TERMS)
    assert unscored.column("sentiment_mean").to_pylist() == [None]
