"""docs/fetching.md as written: its commands run (against a local site), its Python
runs on the manifest they leave, its sample messages are the ones textpipe prints,
and every `textpipe` command line it shows is one the command accepts."""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from fetch_site import NewsSite, bbc_stories, rss_item, running, write_sources
from textpipe.cli import build_parser
from textpipe.fetch.sources import SourcesFileError, parse_sources

from conftest import ROOT, fences

DOC = (ROOT / "docs" / "fetching.md").read_text(encoding="utf-8")
BIN = str(Path(sys.executable).parent)


def _fences() -> list[tuple[str, str]]:
    return fences(ROOT / "docs" / "fetching.md")


def _blocks(language: str) -> list[str]:
    return [body for lang, body in _fences() if lang == language]


@pytest.fixture(scope="module")
def quick_start(tmp_path_factory):
    """The doc's first commands, in a folder whose sources.toml lists a local site."""
    folder = tmp_path_factory.mktemp("docs-fetching")
    stories = bbc_stories(4, skip=400)
    with running(NewsSite()) as site:
        site.add_robots("User-agent: *\n")
        site.add_pages(stories)
        site.add_feed("/feeds/all.xml", "Docs News - World", [rss_item(site.base, s) for s in stories])
        write_sources(folder / "sources.toml", "docs", [site.url("/feeds/all.xml")])
        outputs = []
        for line in _blocks("sh")[0].strip().splitlines():
            command = line.split("#", 1)[0].strip().replace(".venv/bin", BIN)
            outputs.append(subprocess.run(shlex.split(command), cwd=folder, capture_output=True, text=True, timeout=600))
    return folder, stories, site, outputs


def test_the_quick_start_fetches_then_processes(quick_start):
    folder, stories, site, (fetched, processed) = quick_start
    assert fetched.returncode == 0, fetched.stderr[-3000:]
    assert processed.returncode == 0, processed.stderr[-3000:]
    line = fetched.stdout.strip().splitlines()[-1]
    assert line.startswith("textpipe fetch: 1 source, 4 entries listed, 4 new pages, 0 from feed text,")
    articles = pd.read_parquet(folder / "data" / "processed" / "articles")
    assert sorted(articles.url) == sorted(site.url(s.path) for s in stories)
    assert set(articles.publisher) == {"Docs News"} and set(articles.section) <= {s.category for s in stories}


def test_the_sample_outcome_line_has_the_commands_shape(quick_start):
    _, _, _, (fetched, _) = quick_start
    shape = re.compile(r"textpipe fetch: \d+ sources?, \d+ entries listed, \d+ new pages, \d+ from feed text, \d+ listings not modified, "
                       r"\d+ skipped by robots.txt, \d+ left for later, \d+ errors( \(.*\))?; raw folder \S+ \[[\d.]+ s\]")
    (sample,) = [block for block in _blocks("") if block.startswith("textpipe fetch:")]
    assert shape.fullmatch(sample.strip()) and shape.fullmatch(fetched.stdout.strip().splitlines()[-1])


def test_the_manifest_snippet_runs_on_what_the_fetch_left(quick_start, monkeypatch):
    folder, stories, _, _ = quick_start
    monkeypatch.chdir(folder)
    (code,) = _blocks("python")
    namespace: dict = {}
    exec(code, namespace)  # noqa: S102 - the doc's own code
    assert namespace["states"] == {"saved": len(stories)} and namespace["failures"] == []
    assert namespace["last_run"]["docs"]["new_pages"] == len(stories)


def test_the_sample_error_messages_are_what_textpipe_says():
    samples = [line.removeprefix("textpipe: error: ") for block in _blocks("")
               for line in block.splitlines() if line.startswith("textpipe: error: sources.toml")]
    assert len(samples) == 2
    example = _blocks("toml")[0]
    wrong_url = example.replace('feeds = ["https://feeds.bbci.co.uk/news/world/rss.xml"]', 'feeds = ["ftp://example.com/rss"]')
    misspelt = example.replace("delay_seconds = 1.0 ", "delay = 1.0 ")
    for text, sample in zip((wrong_url, misspelt), samples, strict=True):
        with pytest.raises(SourcesFileError) as error:
            parse_sources(text, Path("sources.toml"))
        assert str(error.value) == sample


def test_every_command_line_shown_is_accepted():
    parser = build_parser()
    lines = [line.split("#", 1)[0].strip() for block in _blocks("sh") for line in block.splitlines()]
    lines += re.findall(r"`(textpipe (?:fetch|serve|run) [^`]*)`", DOC)
    assert any(line.split()[1] == "serve" for line in lines if line.startswith("textpipe"))
    for line in lines:
        words = shlex.split(line.replace(".venv/bin/", ""))
        if words and words[0] == "textpipe":
            parser.parse_args(words[1:])


def test_the_readmes_sources_example_is_a_valid_sources_file_with_the_defaults_it_claims():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Fetching", 1)[1].split("\n## ", 1)[0]
    (example,) = re.findall(r"```toml\n(.*?)```", section, flags=re.S)
    sources = parse_sources(example, Path("sources.toml"))
    defaults = parse_sources('[[sources]]\nname = "x"\nurls = ["https://example.com/a"]\n', Path("sources.toml"))
    assert [s.name for s in sources.sources] == ["bbc-world"]
    for key in ("delay_seconds", "max_per_host", "max_bytes"):  # "these are the defaults"
        assert getattr(sources.settings, key) == getattr(defaults.settings, key), key
