"""The README's query snippets run as written on what `make run` produces.

They are what an analyst copies first; the run is the one `make run` does (the
sample input under data/raw, which has nothing to reject), so a dataset that is
empty must still read as a table with its columns.
"""

from __future__ import annotations

import re

import pandas as pd
import pytest

from textpipe import store

from conftest import ROOT

README_OUTPUT = "data/processed"


def _snippets_section() -> str:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    return readme.split("## What you get", 1)[1].split("\n## ", 1)[0]


def test_every_dataset_of_the_sample_run_reads_with_its_columns(sample_output):
    for name, schema in store.SCHEMAS.items():
        assert list(pd.read_parquet(sample_output / name).columns) == schema.names, name


def test_the_pandas_snippets_run_in_order(sample_output):
    section = _snippets_section()
    blocks = re.findall(r"```python\n(.*?)```", section, flags=re.S)
    assert len(blocks) == 2
    namespace: dict = {}
    for code in blocks:
        exec(code.replace(README_OUTPUT, str(sample_output)), namespace)  # noqa: S102 - the README's own code
    assert len(namespace["a"]) > 0
    # The sample holds one wire story that a second outlet republished, and an article about Putin.
    assert namespace["told"].publisher.nunique() == 2
    assert namespace["putin"].n_sentences.sum() >= 8


def test_the_duckdb_snippet_runs(sample_output):
    duckdb = pytest.importorskip("duckdb")
    (query,) = re.findall(r"```sql\n(.*?)```", _snippets_section(), flags=re.S)
    rows = duckdb.sql(query.replace(README_OUTPUT, str(sample_output))).fetchall()
    with_topic = pd.read_parquet(sample_output / "articles").topic_id.notna().sum()
    assert rows and all(len(row) == 4 for row in rows)
    assert sum(row[2] for row in rows) == with_topic  # every article with a topic counted once, under its label
