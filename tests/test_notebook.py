"""examples/analyst.ipynb runs, top to bottom, in a real Jupyter kernel (nbclient +
ipykernel): on the test store with dates and publishers in the default set, and on
the whole BBC corpus, as the notebook itself reads it, in the slow set."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import nbformat
import pandas as pd
import pytest
from nbclient import NotebookClient

from conftest import BBC, ROOT

NOTEBOOK = ROOT / "examples" / "analyst.ipynb"
TEXTPIPE = str(Path(sys.executable).with_name("textpipe"))


def execute(store: Path, monkeypatch: pytest.MonkeyPatch) -> nbformat.NotebookNode:
    """The notebook, executed on `store` (a failing cell raises CellExecutionError)."""
    monkeypatch.setenv("TEXTPIPE_STORE", str(store))
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    NotebookClient(notebook, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(NOTEBOOK.parent)}}).execute()
    return notebook


def printed(notebook: nbformat.NotebookNode) -> str:
    return "".join(o.get("text", "") for cell in notebook.cells if cell.cell_type == "code" for o in cell.outputs if o.output_type == "stream")


def images(notebook: nbformat.NotebookNode) -> int:
    return sum("image/png" in o.get("data", {}) for cell in notebook.cells if cell.cell_type == "code" for o in cell.outputs)


def test_the_committed_notebook_has_its_outputs():
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    nbformat.validate(notebook)
    code = [cell for cell in notebook.cells if cell.cell_type == "code"]
    assert code and all(cell.execution_count for cell in code)
    assert not [o for cell in code for o in cell.outputs if o.output_type == "error"]
    assert "2,127 articles, 0 with a publication date, 0 with a publisher" in printed(notebook)


def test_the_notebook_runs_on_a_store_with_dates_and_publishers(analyst_store, monkeypatch):
    _, output, _ = analyst_store
    notebook = execute(output, monkeypatch)
    articles = pd.read_parquet(output / "articles")
    out = printed(notebook)
    assert f"{len(articles):,} articles, {articles.published_at.notna().sum()} with a publication date, {articles.publisher.notna().sum()} with a publisher" in out
    assert "No article has a publication date" not in out
    assert images(notebook) == 3  # per day, per topic, and the terms chart


@pytest.mark.slow
def test_the_notebook_runs_on_the_bbc_corpus(tmp_path, monkeypatch):
    output = tmp_path / "bbc"
    run = subprocess.run([TEXTPIPE, "run", "--input", str(BBC), "--output", str(output)], capture_output=True, text=True, timeout=900)
    assert run.returncode == 0, run.stderr[-3000:]
    notebook = execute(output, monkeypatch)
    out = printed(notebook)
    terms = pd.read_parquet(output / "terms")
    blair = terms[terms.term == "Blair"]
    assert f"{blair.n_sentences.sum()} sentences in {blair.n_articles.sum()} articles name Blair" in out
    assert "No article has a publication date: coverage and tone per topic instead." in out
    stories = pd.read_parquet(output / "stories")
    assert f"{(stories.n_articles > 1).sum()} of {len(stories):,} stories have more than one article" in out
    assert images(notebook) == 2
