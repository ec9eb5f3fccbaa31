"""What keeps stories, trends and terms right when the store is damaged or old: `textpipe
repair` rebuilds a damaged story index and recounts a damaged derived file, a store
written before stories existed gets its index on the next run, and every derived
dataset reads as an empty table with its columns from the first commit."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest

from textpipe import derived, store
from textpipe.stories import StoryIndex

from conftest import BBC

TEXTPIPE = str(Path(sys.executable).with_name("textpipe"))


def _run(*args: str) -> subprocess.CompletedProcess:
    done = subprocess.run([TEXTPIPE, *args], capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    return done


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> tuple[Path, Path]:
    """A store of 30 BBC business articles, and a copy of the first one waiting in a second folder."""
    root = tmp_path_factory.mktemp("derived")
    raw = root / "raw"
    raw.mkdir()
    for path in sorted((BBC / "business").glob("*.txt"))[:30]:
        shutil.copy(path, raw / path.name)
    title, _, body = (BBC / "business" / "001.txt").read_text(encoding="utf-8").partition("\n")
    later = root / "later"
    later.mkdir()
    (later / "copy.txt").write_text(f"{title.strip()} (wire)\n\nNEW YORK (AP) - {body.strip()}\n", encoding="utf-8")
    _run("run", "--input", str(raw), "--output", str(root / "out"), "--topics", "3")
    return root / "out", later


@pytest.fixture
def output(built, tmp_path) -> Path:
    copy = tmp_path / "out"
    shutil.copytree(built[0], copy)
    return copy


def _story_of_first(output: Path) -> str:
    articles = pd.read_parquet(output / "articles")
    return articles.set_index("source").story_id["001.txt"]


def test_every_derived_dataset_reads_with_its_columns_from_a_first_run_with_nothing(tmp_path):
    (tmp_path / "empty").mkdir()
    _run("run", "--input", str(tmp_path / "empty"), "--output", str(tmp_path / "out"))
    for name in store.DERIVED:
        frame = pd.read_parquet(tmp_path / "out" / name)
        assert list(frame.columns) == store.SCHEMAS[name].names and frame.empty, name


def test_a_damaged_story_index_is_moved_aside_and_built_again_with_the_same_stories(output, built):
    before = pd.read_parquet(output / "stories")
    (sketches, _), = StoryIndex(output).parts()
    sketches.write_bytes(b"not an Arrow file" * 100)
    broken = subprocess.run([TEXTPIPE, "run", "--input", str(built[1]), "--output", str(output)], capture_output=True, text=True, timeout=600)
    assert broken.returncode != 0 and "textpipe repair" in broken.stderr and sketches.name in broken.stderr
    assert "Traceback" not in broken.stderr and len(broken.stderr.strip().splitlines()) <= 2
    repaired = _run("repair", "--output", str(output))
    assert "story index damaged" in repaired.stdout and (output / "_corrupt" / f"story-sketches--{sketches.name}").exists()
    pd.testing.assert_frame_equal(pd.read_parquet(output / "stories"), before)
    _run("run", "--input", str(built[1]), "--output", str(output))
    articles = pd.read_parquet(output / "articles")
    assert articles.set_index("source").story_id["copy.txt"] == _story_of_first(output)  # the rebuilt index finds it


def test_a_damaged_derived_file_is_named_moved_aside_and_recounted(output):
    want = pd.read_parquet(output / "trends")
    path = store.derived_file(output, "trends")
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    with pytest.raises(Exception):
        pq.read_table(path)
    repaired = _run("repair", "--output", str(output))
    assert "trends" in repaired.stdout and (output / "_corrupt" / "trends--trends.parquet").exists()
    pd.testing.assert_frame_equal(pd.read_parquet(output / "trends"), want)


def test_a_store_from_before_stories_gets_its_index_and_later_copies_join_its_articles(output, built):
    # An older textpipe: no story_id column, no publisher, no index, no derived files.
    for path in store.dataset_files(output, "articles"):
        pq.write_table(pq.read_table(path).drop_columns(["story_id", "publisher"]), path)
    for folder in ("story-sketches", "story-bands"):
        shutil.rmtree(output / "_state" / folder)
    for name in store.DERIVED:
        shutil.rmtree(output / name)
    shutil.rmtree(store.terms_state_dir(output))
    _run("run", "--input", str(built[1]), "--output", str(output))
    articles = pd.read_parquet(output / "articles").set_index("source")
    assert pd.isna(articles.story_id["001.txt"])  # stored before stories: its own story, by its id
    assert articles.story_id["copy.txt"] == articles.article_id["001.txt"]
    stories = pd.read_parquet(output / "stories").set_index("story_id")
    assert stories.n_articles[articles.article_id["001.txt"]] == 2 and stories.n_articles.sum() == len(articles)
    assert derived.stale(output) == []
