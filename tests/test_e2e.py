"""End to end: `textpipe run` on a mixed folder (the sample article, BBC articles,
JSONL, CSV, JSON, HTML, RSS, Atom, gzip), read back with pandas and checked."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from textpipe.resources import nltk_vader

from conftest import BBC, RAW, SAMPLE

TEXTPIPE = str(Path(sys.executable).with_name("textpipe"))


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """Input folder, output folder, and the results of a first run and a rerun."""
    root = tmp_path_factory.mktemp("e2e")
    input_dir = root / "input"
    shutil.copytree(RAW, input_dir)
    for category in ("politics", "tech"):
        for path in sorted((BBC / category).glob("*.txt"))[10:14]:
            shutil.copy(path, input_dir / "bbc" / f"{category}_{path.name}")
    # The same sample article again under another name: one article, one duplicate.
    shutil.copy(SAMPLE, input_dir / "samples" / "copy of sample.txt")
    (input_dir / "notes.docx").write_bytes(b"PK\x03\x04 not supported")
    (input_dir / "records" / "broken.jsonl").write_text('{"title": "Fine", "text": "A perfectly fine record with enough text to keep."}\n{"title": broken\n', encoding="utf-8")
    output = root / "output"
    first = subprocess.run([TEXTPIPE, "run", "--input", str(input_dir), "--output", str(output), "--topics", "4"], capture_output=True, text=True, timeout=600)
    second = subprocess.run([TEXTPIPE, "run", "--input", str(input_dir), "--output", str(output), "--topics", "4"], capture_output=True, text=True, timeout=600)
    return input_dir, output, first, second


@pytest.fixture(scope="module")
def changed_file_run(runs):
    """A third run after one input file gained a paragraph: a changed file yields a new id."""
    input_dir, output, _, _ = runs
    changed = sorted((input_dir / "bbc").glob("politics_*.txt"))[0]
    changed.write_text(changed.read_text(encoding="utf-8") + "\n\nThis paragraph was added in a later edition of the story.\n", encoding="utf-8")
    third = subprocess.run([TEXTPIPE, "run", "--input", str(input_dir), "--output", str(output)], capture_output=True, text=True, timeout=600)
    return changed.relative_to(input_dir).as_posix(), third


def _read(output: Path, name: str) -> pd.DataFrame:
    return pd.read_parquet(output / name)


def test_run_succeeds_with_a_short_summary(runs):
    _, _, first, _ = runs
    assert first.returncode == 0, first.stderr[-3000:]
    assert "Traceback" not in first.stdout + first.stderr
    last = first.stdout.strip().splitlines()[-1]
    assert last.startswith("textpipe:") and " new, " in last and "duplicates" in last and "rejected" in last


def test_sample_article_title_section_and_boilerplate(runs):
    _, output, _, _ = runs
    articles = _read(output, "articles")
    sample = articles[articles.source == "samples/000_3396f7b0be424c1a.txt"].iloc[0]
    assert sample.title == "Russia: Putin’s visit to Belarus sparks new fears in Kyiv"
    assert sample.section == "Politics"
    assert "Source link" not in sample.text
    assert not sample.text.startswith(sample.title)
    assert sample.language == "en" and sample.sentiment_label in {"positive", "negative", "neutral"}


def test_every_format_is_ingested(runs):
    _, output, _, _ = runs
    formats = set(_read(output, "articles").source_format)
    assert {"txt", "jsonl", "csv", "json", "html", "rss", "atom"} <= formats


def test_duplicates_rejects_and_skips_are_counted(runs):
    _, output, first, second = runs
    articles = _read(output, "articles")
    assert articles.article_id.is_unique
    rejects = _read(output, "rejects")
    broken = rejects[rejects.source == "records/broken.jsonl"]
    assert list(broken.record) == [1] and broken.reason.iloc[0] == "parse_error"
    run = _read(output, "runs").sort_values("started_at").iloc[0]
    assert run.n_duplicates >= 1 and run.n_skipped_files == 1
    assert run.n_new == len(articles)
    # Every run names what it left out, until the file goes: a skip is no reject, but no secret either.
    for result in (first, second):
        assert "; 1 file skipped for their extension (.docx: 1);" in result.stdout.strip().splitlines()[-1]


def test_sentence_offsets_slice_back_to_sentence_text(runs):
    _, output, _, _ = runs
    articles = _read(output, "articles").set_index("article_id")
    sentences = _read(output, "sentences")
    assert len(sentences) > 100
    for row in sentences.itertuples():
        assert articles.at[row.article_id, "text"][row.start_char : row.end_char] == row.text
    counts = sentences.groupby("article_id").size()
    assert (articles.loc[counts.index, "n_sentences"] == counts).all()


def test_sentiment_equals_nltk_vader(runs):
    _, output, _, _ = runs
    articles = _read(output, "articles").set_index("article_id")
    sentences = _read(output, "sentences")
    english = sentences[sentences.article_id.map(articles.language) == "en"]
    reference = nltk_vader()
    for row in english.itertuples():
        expected = reference.polarity_scores(row.text)
        assert (row.compound, row.pos, row.neg, row.neu) == (expected["compound"], expected["pos"], expected["neg"], expected["neu"])
    means = english.groupby("article_id").compound.mean()
    assert (articles.loc[means.index, "sentiment_compound"] - means).abs().max() < 1e-12
    other = sentences[sentences.article_id.map(articles.language) != "en"]
    assert other.compound.isna().all()
    assert articles[articles.language != "en"].sentiment_compound.isna().all()


def test_topic_ids_are_valid(runs):
    _, output, _, _ = runs
    articles = _read(output, "articles")
    topics = _read(output, "topics")
    assert len(topics) == 4 and set(topics.model_id) == set(articles.model_id.dropna())
    assert articles.topic_id.dropna().isin(topics.topic_id).all()
    assert topics.n_articles.sum() == articles.topic_id.notna().sum()
    mix = _read(output, "article_topics")
    assert mix.article_id.isin(articles.article_id).all() and mix.weight.between(0, 1).all()
    for terms in topics.top_terms:
        assert all(term.isalpha() or "'" in term for term in terms)


def test_rerun_adds_nothing(runs):
    _, output, first, second = runs
    assert second.returncode == 0, second.stderr[-3000:]
    runs_table = _read(output, "runs").sort_values("started_at")
    assert len(runs_table) == 2
    first_run, rerun = runs_table.iloc[0], runs_table.iloc[1]
    # Unchanged files are not even read again: the manifest knows them.
    assert rerun.n_new == 0 and rerun.n_articles_seen == 0
    assert rerun.n_unchanged_files == first_run.n_files > 0
    for name in ("articles", "sentences", "article_topics", "rejects"):
        frame = _read(output, name)
        assert not frame.duplicated(subset=[c for c in frame.columns if c not in ("top_terms", "term_weights")]).any(), name
    assert " 0 new," in second.stdout
    # The store did not change: the report the first run wrote stays, and the outcome line still names it.
    report = output / "report.html"
    assert report.stat().st_mtime < rerun.started_at.timestamp()
    assert f"; report {report.resolve()} [" in second.stdout.strip().splitlines()[-1]


def test_changed_file_is_read_again_and_yields_a_new_article(runs, changed_file_run):
    _, output, _, _ = runs
    source, third = changed_file_run
    assert third.returncode == 0, third.stderr[-3000:]
    last = _read(output, "runs").sort_values("started_at").iloc[-1]
    assert last.n_files == 1 and last.n_new == 1
    articles = _read(output, "articles")
    versions = articles[articles.source == source]
    assert len(versions) == 2 and versions.text.str.endswith("later edition of the story.").sum() == 1
    assert articles.article_id.is_unique


def test_no_temporary_or_staging_files_left(runs):
    _, output, _, _ = runs
    leftovers = [p for p in output.rglob("*") if p.name.endswith(".tmp") or "_staging" in p.parts and p.is_file()]
    assert leftovers == []


def test_duckdb_reads_every_dataset(runs):
    duckdb = pytest.importorskip("duckdb")
    _, output, _, _ = runs
    for name in ("articles", "sentences", "topics", "article_topics", "rejects", "runs"):
        count = duckdb.sql(f"select count(*) from read_parquet('{output / name}/*.parquet')").fetchall()[0][0]
        assert count == len(_read(output, name))


def test_a_rerun_with_nothing_new_imports_neither_pandas_nor_the_analysis_libraries(runs, tmp_path):
    # Nor matplotlib: the report of a store that did not change is not drawn again.
    # pyarrow imports pandas (~0.15 s, a tenth of a rerun with a running server) the
    # first time it converts a Python value; a rerun has no reason to. Any new
    # conversion on that path (a filter on a Python string, a table from dicts) fails
    # here, as does a module-level import of a stage a rerun does not run.
    _, output, _, _ = runs
    copy = tmp_path / "output"
    shutil.copytree(output, copy)
    unneeded = ["pandas", "nltk", "sklearn", "ftfy", "matplotlib"]
    script = ("import sys; from textpipe.cli import main; "
              f"code = main(['run', '--input', {str(runs[0])!r}, '--output', {str(copy)!r}]); "
              f"print([name for name in {unneeded!r} if name in sys.modules], code)")
    rerun = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=600)
    assert rerun.returncode == 0, rerun.stderr[-3000:]
    assert " 0 new," in rerun.stdout
    assert rerun.stdout.strip().splitlines()[-1] == "[] 0"
