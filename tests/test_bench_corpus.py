"""The benchmark corpus generator: deterministic output, one category per article.

Builds small corpora from the real BBC articles in ../shared with the script's
own command line, as the benchmark does.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import load_script

REPO = Path(__file__).resolve().parents[1]
SCRIPT = REPO / "bench" / "make_corpus.py"
BBC = REPO.parent / "shared" / "corpora" / "bbc"


def _load_generator():
    return load_script(SCRIPT)


def _build(out: Path, n: int, seed: int = 0) -> None:
    subprocess.run(
        [sys.executable, str(SCRIPT), str(n), "--out", str(out), "--format", "both",
         "--seed", str(seed), "--bbc", str(BBC)],
        check=True, capture_output=True,
    )


def _files(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("corpus-a")
    _build(out, 50)
    return out


def test_same_n_and_seed_give_byte_identical_output(corpus: Path, tmp_path: Path) -> None:
    _build(tmp_path, 50)
    first, second = _files(corpus), _files(tmp_path)
    assert len([name for name in first if name.startswith("txt/")]) == 50
    assert first == second


def test_another_seed_gives_another_corpus(corpus: Path, tmp_path: Path) -> None:
    _build(tmp_path, 50, seed=1)
    first, second = _files(corpus), _files(tmp_path)
    assert sum(first[name] != second.get(name) for name in first if name.startswith("txt/")) > 25


def test_each_article_keeps_to_one_category(corpus: Path) -> None:
    gen = _load_generator()
    bbc = gen.load_bbc(BBC)
    paragraph_categories: dict[str, set[str]] = {}
    for category, articles in bbc.items():
        for article in articles:
            for paragraph in article.paragraphs:
                paragraph_categories.setdefault(paragraph, set()).add(category)
    titles = {category: {a.title for a in articles} for category, articles in bbc.items()}

    bodies = set()
    for path in sorted((corpus / "txt").rglob("*.txt")):
        category = path.parent.name
        title, blank, body = path.read_text(encoding="utf-8").split("\n", 2)
        paragraphs = body.rstrip("\n").split("\n\n")
        assert blank == "" and title in titles[category], path
        assert 1 <= len(paragraphs) <= 8, path
        for paragraph in paragraphs:
            assert category in paragraph_categories.get(paragraph, set()), (path, paragraph[:60])
        bodies.add(body)
    assert len(bodies) == 50


def test_jsonl_records_match_the_txt_files(corpus: Path) -> None:
    records = [json.loads(line) for f in sorted((corpus / "jsonl").glob("corpus-*.jsonl"))
               for line in f.read_text(encoding="utf-8").splitlines()]
    assert len(records) == 50
    for record in records:
        txt = corpus / "txt" / record["section"] / f"{record['id']}.txt"
        assert txt.read_text(encoding="utf-8") == f"{record['title']}\n\n{record['text']}\n"
