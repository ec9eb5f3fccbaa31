"""Stories, trends and terms over several real `textpipe run`s: copies arriving in a later
run join the first run's stories, and the three datasets equal a recount from the
store (pandas, and the term extraction run again over the stored sentences) after
each run, after a refit, after a SIGKILL and the run that follows, and after a crash
between a commit and the recount.

The input is BBC articles as JSONL records with dates and publishers, and edited
copies of them (bench/stories_quality.py's edits) under other publishers.
"""

from __future__ import annotations

import json
import random
import shutil
import signal
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandas as pd
import pytest

from textpipe import store
from textpipe.terms import article_terms

from conftest import BBC, ROOT, load_script

TEXTPIPE = str(Path(sys.executable).with_name("textpipe"))
START = datetime(2024, 3, 1, 6, 0, tzinfo=UTC)


def _quality():
    return load_script(ROOT / "bench" / "stories_quality.py")


@pytest.fixture(scope="module")
def batches() -> list[list[dict]]:
    """Three batches of records: originals, then copies of earlier originals with new ones, then copies again."""
    quality = _quality()
    rng = random.Random(7)
    originals = [a for a in quality.load_bbc(BBC) if a[0] in ("business", "politics", "tech")]
    originals = [originals[i] for i in sorted(rng.sample(range(len(originals)), 48))]
    titles = [title for _, title, _ in originals]

    def record(index: int, title: str, paragraphs: tuple[str, ...], publisher: str, hours: float) -> dict:
        return {"id": f"r{index}", "title": title, "text": "\n\n".join(paragraphs), "publisher": publisher,
                "published_at": (START + timedelta(hours=hours)).isoformat(), "url": f"https://news.example/{index}"}

    def copy_of(title: str, paragraphs: tuple[str, ...]) -> tuple[str, tuple[str, ...]]:
        copy_title, body, _ = quality.make_copy(title, paragraphs, rng, titles)
        if (copy_title, body) == (title, paragraphs):  # an edit that changed nothing: a duplicate, not a copy
            body = ("WASHINGTON (AP) — " + body[0], *body[1:])
        return copy_title, body

    first = [record(i, t, p, ["Daily Ledger", "Morning Post"][i % 2], i * 3) for i, (_, t, p) in enumerate(originals[:24])]
    copies_of_first = []
    for i, (_, title, paragraphs) in enumerate(originals[:12]):
        copy_title, body = copy_of(title, paragraphs)
        copies_of_first.append(record(100 + i, copy_title, body, "Wire Service", i * 3 + 30))
    second = copies_of_first + [record(i, t, p, "Evening Star", i * 2) for i, (_, t, p) in enumerate(originals[24:], start=24)]
    third = []
    for i, (_, title, paragraphs) in enumerate([*originals[:6], *originals[24:30]]):
        copy_title, body = copy_of(title, paragraphs)
        third.append(record(200 + i, copy_title, body, "Regional Times", 120 + i))
    return [first, second, third]


def _write(folder: Path, name: str, records: list[dict]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")


def _run(*args: str) -> subprocess.CompletedProcess:
    done = subprocess.run([TEXTPIPE, *args], capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    return done


def _stories_recount(articles: pd.DataFrame) -> pd.DataFrame:
    a = articles.assign(seen=articles.published_at.fillna(articles.ingested_at)).sort_values(["story_id", "seen", "article_id"])
    grouped = a.groupby("story_id", sort=True)
    return pd.DataFrame({
        "first_seen": grouped.seen.min(), "last_seen": grouped.seen.max(), "n_articles": grouped.size(),
        "n_publishers": grouped.publisher.nunique(), "title": grouped.title.first(),
        "article_ids": grouped.article_id.agg(list),
    })


def _trends_recount(articles: pd.DataFrame) -> pd.DataFrame:
    a = articles.assign(date=articles.published_at.dt.tz_convert("UTC").dt.date)
    keys = ["model_id", "date", "topic_id", "publisher"]
    grouped = a.groupby(keys, dropna=False)
    return pd.DataFrame({
        "n_articles": grouped.size(), "n_stories": grouped.story_id.nunique(),
        "sentiment_mean": grouped.sentiment_compound.mean(),
        **{f"n_{label}": grouped.sentiment_label.agg(lambda s, label=label: int((s == label).sum())) for label in ("positive", "neutral", "negative")},
    })


def _terms_recount(articles: pd.DataFrame, sentences: pd.DataFrame) -> pd.DataFrame:
    rows = []
    english = articles[articles.language == "en"].set_index("article_id")
    for article_id, own in sentences[sentences.article_id.isin(english.index)].sort_values("sentence_index").groupby("article_id"):
        article = english.loc[article_id]
        date = article.published_at.tz_convert("UTC").date() if pd.notna(article.published_at) else None
        compounds = own.compound.tolist()
        for term, named_in in article_terms(article.text, own.start_char.tolist()).items():
            scores = [compounds[i] for i in named_in if pd.notna(compounds[i])]
            rows.append({"date": date, "term": term, "article_id": article_id, "n": len(named_in), "scored": len(scores), "sum": sum(scores)})
    frame = pd.DataFrame(rows)
    grouped = frame.groupby(["date", "term"], dropna=False)
    out = pd.DataFrame({"n_sentences": grouped.n.sum(), "n_articles": grouped.article_id.nunique(), "n_scored": grouped.scored.sum(), "sum": grouped["sum"].sum()})
    out["sentiment_mean"] = (out["sum"] / out.n_scored).where(out.n_scored > 0)
    return out.drop(columns="sum")


def assert_equal_to_a_recount(output: Path) -> pd.DataFrame:
    articles = pd.read_parquet(output / "articles")
    assert articles.story_id.notna().all()
    stories = pd.read_parquet(output / "stories").set_index("story_id").sort_index()
    want = _stories_recount(articles)
    stories["article_ids"] = stories.article_ids.map(list)
    pd.testing.assert_frame_equal(stories, want, check_dtype=False, check_names=False)

    trends = pd.read_parquet(output / "trends", dtype_backend="numpy_nullable")
    got = trends.set_index(["model_id", "date", "topic_id", "publisher"]).sort_index()
    recount = _trends_recount(articles).sort_index()
    assert len(got) == len(recount) and got.n_articles.sum() == len(articles)
    pd.testing.assert_frame_equal(got.reset_index(drop=True).astype(float), recount.reset_index(drop=True).astype(float), check_names=False)

    terms = pd.read_parquet(output / "terms").set_index(["date", "term"]).sort_index()
    recount = _terms_recount(articles, pd.read_parquet(output / "sentences")).sort_index()
    assert list(terms.index) == list(recount.index)
    pd.testing.assert_frame_equal(terms.astype(float), recount.astype(float), check_names=False, atol=1e-9)
    return articles


# `textpipe` whose whole process group (workers too) is SIGKILLed when the run reaches its
# commit point: polling the store for the run's parts and killing it then raced a
# commit that follows the parts by milliseconds.
KILLED_AT_COMMIT = """
import os, signal, sys
from textpipe import cli, store
store.commit_run = lambda *args, **kwargs: os.killpg(0, signal.SIGKILL)
sys.argv = ["textpipe", *sys.argv[1:]]
cli.console_script()
"""


def _uncommitted_parts(output: Path) -> list[Path]:
    committed = store.committed_run_ids(output)
    return [p for p in (output / "articles").glob("part-*.parquet") if store.run_id_of(p) not in committed]


def test_copies_across_runs_join_one_story_and_every_dataset_equals_a_recount(batches, tmp_path):
    raw, output = tmp_path / "raw", tmp_path / "out"
    first, second, third = batches
    _write(raw, "a.jsonl", first)
    _run("run", "--input", str(raw), "--output", str(output), "--topics", "5")
    articles = assert_equal_to_a_recount(output)
    first_stories = dict(zip(articles.source_id, articles.story_id, strict=True))

    _write(raw, "b.jsonl", second)
    _run("run", "--input", str(raw), "--output", str(output))
    articles = assert_equal_to_a_recount(output)
    story_of = dict(zip(articles.source_id, articles.story_id, strict=True))
    for i in range(12):  # every copy of a first-run original joined its story
        assert story_of[f"r{100 + i}"] == first_stories[f"r{i}"], i
    assert len(set(story_of.values())) == 48  # and nothing else was merged
    stories = pd.read_parquet(output / "stories")
    assert (stories.n_publishers[stories.n_articles == 2] == 2).all()

    _run("refit", "--output", str(output), "--topics", "4")
    articles = assert_equal_to_a_recount(output)
    current = json.loads((output / "models" / "current.json").read_text())["model_id"]
    assert set(pd.read_parquet(output / "trends").model_id) == {current} and articles.topic_id.max() <= 3

    # A run killed at its commit, then the run that follows it.
    _write(raw, "c.jsonl", third)
    killed = subprocess.run([sys.executable, "-c", KILLED_AT_COMMIT, "run", "--input", str(raw), "--output", str(output)],
                            capture_output=True, text=True, timeout=600, start_new_session=True)
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-3000:]
    assert _uncommitted_parts(output)  # killed after writing its articles, before its commit
    _run("run", "--input", str(raw), "--output", str(output))
    articles = assert_equal_to_a_recount(output)
    assert len(articles) == 72 and articles.article_id.is_unique
    story_of = dict(zip(articles.source_id, articles.story_id, strict=True))
    assert [story_of[f"r{200 + i}"] for i in range(12)] == [story_of[f"r{i}"] for i in [*range(6), *range(24, 30)]]

    # A crash between a commit and the recount leaves the derived files of the store
    # before that commit: the next run, with nothing new, counts them again.
    before = {name: (output / name / f"{name}.parquet").read_bytes() for name in store.DERIVED}
    _write(raw, "d.jsonl", [{**first[0], "id": "r999", "title": "A late copy", "publisher": "Late Wire",
                            "published_at": (START + timedelta(days=9)).isoformat()}])
    _run("run", "--input", str(raw), "--output", str(output))
    for name, data in before.items():
        (output / name / f"{name}.parquet").write_bytes(data)
    done = _run("run", "--input", str(raw), "--output", str(output))
    assert "recounted" in done.stderr
    articles = assert_equal_to_a_recount(output)
    assert articles.set_index("source_id").story_id["r999"] == story_of["r0"]
