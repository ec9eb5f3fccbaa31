"""Command-line errors and faults of the output folder.

Usage errors are one line on stderr with exit code 2, before anything is written.
A full disk (simulated with RLIMIT_FSIZE) and a hand-truncated Parquet file give a
non-zero exit and one readable line, never a traceback, and leave the store as it
was; `textpipe repair` and the next run bring back what the damaged file held.
"""

from __future__ import annotations

import os
import resource
import shutil
import signal
import subprocess
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest

from faults import TEXTPIPE, prefect_server
from textpipe.clean import clean_article
from textpipe.config import Settings
from textpipe.ingest import discover, read_file
from textpipe.records import RawArticle

from conftest import bbc_articles

RUN_TIMEOUT = 300


def textpipe(*args: str, env: dict[str, str] | None = None, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run([TEXTPIPE, *args], capture_output=True, text=True, timeout=RUN_TIMEOUT,
                          env={**os.environ, **(env or {})}, stdin=subprocess.DEVNULL, **kwargs)  # fmt: skip


def copy_articles(paths: list[Path], folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for path in paths:
        shutil.copy(path, folder / f"{path.parent.name}-{path.name}")
    return folder


# --- usage errors ----------------------------------------------------------------------


@pytest.fixture
def small_input(tmp_path: Path) -> Path:
    return copy_articles(bbc_articles("sport", 3), tmp_path / "input")


def _usage_cases(tmp: Path, input_dir: Path) -> dict[str, tuple[list[str], str]]:
    blocker = tmp / "a-file"
    blocker.write_text("a regular file, so nothing can be created beneath it")
    out = str(tmp / "output")
    return {
        "topics-zero": (["run", "--input", str(input_dir), "--output", out, "--topics", "0"], "--topics"),
        "topics-word": (["run", "--input", str(input_dir), "--output", out, "--topics", "x"], "--topics"),
        "missing-input": (["run", "--input", str(tmp / "no-such-folder"), "--output", out], "no-such-folder"),
        "input-is-a-file": (["run", "--input", str(sorted(input_dir.iterdir())[0]), "--output", out], f"pass its folder, {input_dir}"),
        "output-inside-input": (["run", "--input", str(input_dir), "--output", str(input_dir / "out")], "inside"),
        "output-not-writable": (["run", "--input", str(input_dir), "--output", str(blocker / "out")], "not writable"),
        "language-de": (["run", "--input", str(input_dir), "--output", out, "--language", "de"], "'de'"),
        "batch-size-zero": (["run", "--input", str(input_dir), "--output", out, "--batch-size", "0"], "--batch-size"),
        "repair-missing-output": (["repair", "--output", str(tmp / "no-such-output")], "no-such-output"),
        "refit-empty-output": (["refit", "--output", str(input_dir)], "run `textpipe run` first"),
    }


@pytest.mark.parametrize("case", ["topics-zero", "topics-word", "missing-input", "input-is-a-file", "output-inside-input",
                                  "output-not-writable", "language-de", "batch-size-zero",
                                  "repair-missing-output", "refit-empty-output"])  # fmt: skip
def test_usage_error_is_one_line_and_exit_code_2(tmp_path, small_input, case):
    args, needle = _usage_cases(tmp_path, small_input)[case]
    before = sorted(p.name for p in small_input.rglob("*"))
    result = textpipe(*args)
    assert result.returncode == 2, result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("textpipe: error:"), result.stderr
    assert needle in lines[0]
    assert result.stdout == ""
    assert sorted(p.name for p in small_input.rglob("*")) == before  # nothing written into the input
    assert not (tmp_path / "output").exists() or case == "refit-empty-output"


@pytest.mark.parametrize("command", ["run", "serve"])
def test_a_configured_api_that_does_not_answer_is_named(tmp_path, small_input, command):
    """PREFECT_API_URL set, its server not started (or stopped): say which URL and what to do."""
    import socket

    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    api = f"http://127.0.0.1:{port}/api"
    result = textpipe(command, "--input", str(small_input), "--output", str(tmp_path / "output"),
                      env={"PREFECT_API_URL": api, "PREFECT_HOME": str(tmp_path / "home")})
    assert result.returncode == 1
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"textpipe: error: no Prefect API answers at {api} (PREFECT_API_URL)"), result.stderr
    assert not any((tmp_path / "output").glob("*/*.parquet"))


# --- faults of the output folder, against one real Prefect server --------------------


@pytest.fixture(scope="module")
def server_env(tmp_path_factory):
    with prefect_server(tmp_path_factory.mktemp("prefect-home")) as env:
        yield env


@pytest.fixture(scope="module")
def first_store(tmp_path_factory, server_env) -> tuple[Path, Path]:
    """An input folder of 60 BBC articles and the store of one run over it."""
    root = tmp_path_factory.mktemp("store")
    input_dir = copy_articles(bbc_articles("business", 30) + bbc_articles("politics", 30), root / "input")
    output = root / "output"
    result = textpipe("run", "--input", str(input_dir), "--output", str(output), "--topics", "4", "--batch-size", "20", env=server_env)
    assert result.returncode == 0, result.stderr[-3000:]
    return input_dir, output


def article_ids(folder: Path) -> set[str]:
    """The ids of the articles in a folder, computed by the library (no run)."""
    settings = Settings()
    items = [item for file in discover(folder, settings).files for item in read_file(file, settings)]
    return {clean_article(item).article_id for item in items if isinstance(item, RawArticle)}


def snapshot(output: Path) -> dict[str, object]:
    """What must survive a failed run: the articles, sentences and every file's bytes."""
    files = {str(p.relative_to(output)): p.read_bytes() for p in sorted(output.rglob("*.parquet")) if "_corrupt" not in p.parts}
    for path in files:
        pq.ParquetFile(output / path).read()  # each one whole and readable
    sentences = pd.read_parquet(output / "sentences", columns=["article_id", "sentence_index"])
    return {
        "article_ids": sorted(pd.read_parquet(output / "articles", columns=["article_id"]).article_id),
        "sentences": sorted(zip(sentences.article_id, sentences.sentence_index, strict=True)),
        "files": files,
    }


def assert_clean_store(output: Path) -> None:
    assert not [p for p in output.rglob("*") if p.name.endswith(".tmp")]
    staging = output / "_staging"
    assert not staging.exists() or not any(p.is_file() for p in staging.rglob("*"))
    articles = pd.read_parquet(output / "articles")
    sentences = pd.read_parquet(output / "sentences")
    assert articles.article_id.is_unique
    assert not sentences.duplicated(["article_id", "sentence_index"]).any()
    assert set(sentences.article_id) == set(articles.article_id)


def assert_one_clear_error(result: subprocess.CompletedProcess, *needles: str) -> str:
    """A failed run (exit 1, not a usage error) that says why in one line on stderr."""
    assert result.returncode == 1, result.stderr[-3000:]
    assert "Traceback" not in result.stdout + result.stderr, result.stderr[-3000:]
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("textpipe:"), result.stderr[-3000:]
    assert all(needle in lines[0] for needle in needles), lines[0]
    return lines[0]


def _limit_file_size(limit: int):  # type: ignore[no-untyped-def]
    def apply() -> None:
        # With SIGXFSZ ignored, a write past the limit fails with EFBIG, as on a full disk.
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    return apply


def test_full_disk_fails_clearly_and_keeps_the_store(first_store, tmp_path, server_env):
    input_dir, first_output = first_store
    output = tmp_path / "output"
    shutil.copytree(first_output, output)
    before = snapshot(output)
    more = tmp_path / "more"
    shutil.copytree(input_dir, more)
    copy_articles(bbc_articles("tech", 40), more)

    args = ("run", "--input", str(more), "--output", str(output), "--batch-size", "20")
    full = textpipe(*args, env=server_env, preexec_fn=_limit_file_size(48 * 1024))
    print(assert_one_clear_error(full, "File too large"))
    after = snapshot(output)
    assert after["article_ids"] == before["article_ids"] and after["sentences"] == before["sentences"]
    changed = {path for path in before["files"] if after["files"].get(path) != before["files"][path]}
    assert not changed, f"a failed run changed committed files: {sorted(changed)}"
    assert_clean_store(output)

    # With space again, the next run adds what the failed one could not.
    retry = textpipe(*args, env=server_env)
    assert retry.returncode == 0, retry.stderr[-3000:]
    stored = set(pd.read_parquet(output / "articles", columns=["article_id"]).article_id)
    assert stored == set(before["article_ids"]) | article_ids(more)
    assert_clean_store(output)


@pytest.mark.slow
def test_full_disk_under_prefects_local_database_is_one_line(first_store, tmp_path):
    """In local mode Prefect's own database is on the full disk too: the run cannot
    start (its server answers 500, or never gets up); the user gets one line, not
    Prefect's traceback, and the store is untouched."""
    input_dir, first_output = first_store
    output = tmp_path / "output"
    shutil.copytree(first_output, output)
    before = snapshot(output)
    copy_articles(bbc_articles("tech", 5), tmp_path / "more")
    local = {key: value for key, value in os.environ.items() if key != "PREFECT_API_URL"}
    local["PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS"] = "30"  # a server that cannot write never gets up
    result = subprocess.run([TEXTPIPE, "run", "--input", str(tmp_path / "more"), "--output", str(output)], env=local,
                            capture_output=True, text=True, timeout=RUN_TIMEOUT, preexec_fn=_limit_file_size(16 * 1024))  # fmt: skip
    print(assert_one_clear_error(result))
    assert snapshot(output) == before
    assert_clean_store(output)


def test_corrupt_parquet_is_named_repaired_and_refilled(first_store, tmp_path, server_env):
    input_dir, first_output = first_store
    output = tmp_path / "output"
    shutil.copytree(first_output, output)
    before = snapshot(output)
    part = sorted((output / "articles").glob("part-*.parquet"))[0]
    with part.open("r+b") as handle:
        handle.truncate(part.stat().st_size // 2)

    args = ("run", "--input", str(input_dir), "--output", str(output))
    broken = textpipe(*args, env=server_env)
    assert_one_clear_error(broken, part.name, "repair")

    repaired = textpipe("repair", "--output", str(output))
    assert repaired.returncode == 0, repaired.stderr
    assert part.name in repaired.stdout
    assert not part.exists() and list((output / "_corrupt").glob(f"*{part.name}"))

    rerun = textpipe(*args, env=server_env)
    assert rerun.returncode == 0, rerun.stderr[-3000:]
    after = snapshot(output)
    assert after["article_ids"] == before["article_ids"]
    assert after["sentences"] == before["sentences"]
    assert_clean_store(output)
    again = textpipe(*args, env=server_env)
    assert again.returncode == 0 and " 0 new" in again.stdout, again.stdout + again.stderr[-2000:]
