"""Bad input and faults: the generated fault corpus (tests/faults/corpus.py) through the
library readers case by case, and through one real `textpipe run` — every bad input
rejected with a documented reason, every good article stored intact, memory bounded."""

from __future__ import annotations

import os
import re
import subprocess
import tempfile
import time
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest

from faults import TEXTPIPE
from faults.corpus import FaultManifest, build_fault_corpus, check_case
from textpipe.clean import clean_article
from textpipe.ingest import InputFile, discover, read_file
from textpipe.records import RawArticle, Reject, RejectReason

from conftest import BBC, ROOT

MAX_RSS_BYTES = 1024**3
Outcomes = dict[str, tuple[list[tuple[int, str, str]], list[tuple[int | None, str]]]]


def documented_reason_codes() -> set[str]:
    """The reason codes listed in docs/reliability.md."""
    page = (ROOT / "docs" / "reliability.md").read_text(encoding="utf-8")
    bullet = page.split("**Reason codes:**", 1)[1].split("\n- **", 1)[0]
    return set(re.findall(r"`([a-z_]+)`", bullet))


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> FaultManifest:
    return build_fault_corpus(tmp_path_factory.mktemp("faults") / "input", bbc=BBC)


def _add(outcomes: Outcomes, item: RawArticle | Reject, min_text_chars: int) -> None:
    articles, rejects = outcomes.setdefault(item.source, ([], []))
    if isinstance(item, Reject):
        rejects.append((item.record, item.reason.value))
        return
    article = clean_article(item)
    # The pipeline's rule after cleaning: text that cleaning removed is no text.
    if len(article.text) < min_text_chars:
        rejects.append((item.record, RejectReason.NO_TEXT.value))
    else:
        articles.append((item.record, article.title, article.text))


def fault_count(corpus: FaultManifest) -> int:
    return sum(1 for case in corpus.cases if case.family != "control")


def _problems(corpus: FaultManifest, outcomes: Outcomes) -> dict[str, list[str]]:
    """Every case's problems, and sources that belong to no case (race cases are
    checked on their own: their files sit under `_race/`, which discovery skips)."""
    outcomes = dict(outcomes)
    problems: dict[str, list[str]] = {}
    for case in corpus.cases:
        if case.stage == "race":
            continue
        got = outcomes.pop(case.source, ([], []))
        found = check_case(case, *got) if case.stage != "ignored" else (["was read or rejected"] if got != ([], []) else [])
        if found:
            problems[case.name] = found
    for source, got in outcomes.items():
        problems[f"unexpected source {source!r}"] = [repr(got)[:300]]
    return problems


def test_corpus_is_large_varied_and_uses_documented_codes(corpus):
    print(f"fault corpus: {fault_count(corpus)} cases")
    assert fault_count(corpus) >= 200
    assert len({case.source for case in corpus.cases}) == len(corpus)
    families = {case.family for case in corpus.cases}
    assert {"whitespace", "binary", "encodings", "mojibake", "json", "csv", "html", "xml", "gzip", "paths", "race"} <= families
    expected_codes = {r.value for case in corpus.cases for e in case.rejects for r in e.reasons}
    assert expected_codes <= documented_reason_codes()
    assert {r.value for r in RejectReason} == documented_reason_codes()
    for name, why in corpus.skipped.items():
        print(f"fault case {name} not generated: {why}")


def test_every_case_read_directly_with_the_library(corpus):
    """discover + read_file + clean over the whole corpus, checked case by case."""
    settings = corpus.settings()
    discovery = discover(corpus.root, settings)
    outcomes: Outcomes = {}
    for reject in discovery.rejects:
        _add(outcomes, reject, settings.min_text_chars)
    for file in discovery.files:
        for item in read_file(file, settings):
            assert isinstance(item, RawArticle | Reject)
            if isinstance(item, Reject):
                assert "\n" not in item.detail and 0 < len(item.detail) <= 300
            _add(outcomes, item, settings.min_text_chars)
    problems = _problems(corpus, outcomes)
    assert not problems, "\n".join(f"{name}: {p}" for name, p in sorted(problems.items())[:400])
    ignored = {c.source for c in corpus.cases if c.stage == "ignored"}
    assert not ignored & {f.relative for f in discovery.files}
    assert sum(discovery.skipped.values()) == len(skipped_by_extension(corpus))


def skipped_by_extension(corpus: FaultManifest) -> list[str]:
    """Ignored cases that are counted as skipped: not hidden, only of another extension."""
    ignored = [c.source for c in corpus.cases if c.stage == "ignored"]
    return [s for s in ignored if not any(part.startswith((".", "_")) for part in Path(s).parts)]


@pytest.mark.parametrize("name", ["vanished", "truncated-to-zero", "replaced-by-folder", "replaced-by-fifo",
                                  "replaced-by-outside-link", "replaced-by-binary", "gzip-truncated",
                                  "jsonl-truncated-in-last-record", "deleted-while-read", "truncated-while-read"])  # fmt: skip
def test_file_changed_after_discovery(corpus, name):
    """A file deleted, truncated or replaced between discovery and reading (or while
    being read) is rejected or read as it now is: never an exception, never text
    from outside the input folder."""
    case = next(c for c in corpus.cases if c.name == f"race/{name}")
    settings = corpus.settings()
    folder = corpus.root / Path(case.source).parent
    found = discover(folder, settings)
    assert [f.relative for f in found.files] == [Path(case.source).name]
    file = InputFile(found.files[0].path, case.source)
    if not case.mutate_after_first_item:
        case.mutate(file.path)
    outcomes: Outcomes = {}
    for count, item in enumerate(read_file(file, settings), start=1):
        _add(outcomes, item, settings.min_text_chars)
        if case.mutate_after_first_item and count == 1:
            case.mutate(file.path)
    problems = check_case(case, *outcomes.get(case.source, ([], [])))
    assert not problems, problems
    texts = [text for articles, _ in outcomes.values() for _, _, text in articles]
    assert not any(marker in text for marker in corpus.forbidden_markers for text in texts)


def _run_measured(args: list[str], env: dict[str, str], timeout: float = 900) -> tuple[subprocess.CompletedProcess, int]:
    """Run the CLI and measure its peak RSS (and that of the children it waited for)."""
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        proc = subprocess.Popen([TEXTPIPE, *args], stdin=subprocess.DEVNULL, stdout=out, stderr=err, env={**os.environ, **env})
        deadline = time.monotonic() + timeout
        while True:
            pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                break
            if time.monotonic() > deadline:
                proc.kill()
                raise TimeoutError(f"textpipe {' '.join(args)} ran over {timeout} s")
            time.sleep(0.2)
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        result = subprocess.CompletedProcess(proc.args, proc.returncode, out.read(), err.read())
    return result, usage.ru_maxrss * 1024


def _store_outcomes(output: Path) -> tuple[Outcomes, pd.DataFrame, pd.DataFrame]:
    articles = pd.read_parquet(output / "articles")
    rejects = pd.read_parquet(output / "rejects")
    outcomes: Outcomes = {}
    for row in articles.itertuples():
        outcomes.setdefault(row.source, ([], []))[0].append((row.record, row.title, row.text))
    for row in rejects.itertuples():
        record = None if pd.isna(row.record) else int(row.record)
        outcomes.setdefault(row.source, ([], []))[1].append((record, row.reason))
    return outcomes, articles, rejects


def check_run_against_corpus(corpus: FaultManifest, output: Path, result: subprocess.CompletedProcess) -> None:
    assert result.returncode == 0, result.stderr[-3000:]
    assert "Traceback" not in result.stdout + result.stderr
    outcomes, articles, rejects = _store_outcomes(output)
    problems = _problems(corpus, outcomes)
    assert not problems, "\n".join(f"{name}: {p}" for name, p in sorted(problems.items())[:400])
    assert set(rejects.reason) <= documented_reason_codes()
    assert articles.article_id.is_unique
    assert not rejects.duplicated(["source", "record", "reason"]).any()
    assert (rejects.detail.str.len() > 0).all() and not rejects.detail.str.contains("\n").any()
    leaked = [m for m in corpus.forbidden_markers if articles.text.str.contains(m, regex=False).any()]
    assert not leaked, f"text from ignored, unreadable-named or outside files was stored: {leaked[:5]}"
    assert not articles.source.str.startswith("_race/").any()
    runs = pd.read_parquet(output / "runs")
    assert runs.n_rejected.sum() == len(rejects) and runs.n_new.sum() == len(articles)
    for path in output.rglob("*.parquet"):
        if "_corrupt" not in path.parts:
            pq.ParquetFile(path).read()  # every file whole and readable
    assert not list(output.rglob("*.tmp")) and not (output / "_staging").exists()
    assert runs.n_skipped_files.sum() == len(skipped_by_extension(corpus))


def test_fault_corpus_through_a_real_run(corpus, tmp_path):
    """One `textpipe run` over the corpus (caps set small through TEXTPIPE_* variables):
    exit 0, every good article stored, every bad input rejected with its expected
    reason, nothing else, and the run's memory bounded."""
    output = tmp_path / "output"
    result, peak_rss = _run_measured(["run", "--input", str(corpus.root), "--output", str(output), "--topics", "5"], corpus.env)
    print(f"fault corpus: {fault_count(corpus)} cases; run peak RSS {peak_rss / 2**20:.0f} MiB")
    check_run_against_corpus(corpus, output, result)
    assert peak_rss < MAX_RSS_BYTES

    # A rerun over the same faults adds nothing and lists no reject twice.
    _, articles, rejects = _store_outcomes(output)
    again, _ = _run_measured(["run", "--input", str(corpus.root), "--output", str(output), "--topics", "5"], corpus.env)
    assert again.returncode == 0 and " 0 new" in again.stdout, again.stdout + again.stderr[-3000:]
    _, articles_after, rejects_after = _store_outcomes(output)
    assert len(articles_after) == len(articles) and len(rejects_after) == len(rejects)


@pytest.mark.slow
def test_heavy_fault_corpus_through_a_real_run(tmp_path):
    """The heavy set, with the shipped caps: a 200 MB text file (too large for one
    article), 200 MB of JSONL around one huge record, a gzip bomb above 256 MB and
    10,000 tiny files, beside the whole default corpus. Memory stays bounded."""
    corpus = build_fault_corpus(tmp_path / "input", heavy=True, bbc=BBC)
    print(f"heavy fault corpus: {fault_count(corpus)} cases")
    assert not corpus.env.keys() - {f"TEXTPIPE_{k.upper()}" for k in ("max_file_bytes", "max_decompressed_bytes", "max_record_bytes")}
    output = tmp_path / "output"
    started = time.monotonic()
    result, peak_rss = _run_measured(["run", "--input", str(corpus.root), "--output", str(output), "--topics", "5"], corpus.env, timeout=1500)
    print(f"heavy run: {time.monotonic() - started:.0f} s, peak RSS {peak_rss / 2**20:.0f} MiB")
    check_run_against_corpus(corpus, output, result)
    assert peak_rss < MAX_RSS_BYTES
