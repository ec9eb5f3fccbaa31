"""The sources file: the documented example and defaults, and a usage error naming
the file, the line and the field for each kind of mistake."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from textpipe.fetch.sources import FetchSettings, SourcesFileError, load_sources, parse_sources

from conftest import ROOT

TEXTPIPE = str(Path(sys.executable).with_name("textpipe"))
GOOD = """\
[fetch]
delay_seconds = 2

[[sources]]
name = "bbc-world"
feeds = ["https://feeds.bbci.co.uk/news/world/rss.xml"]

[[sources]]
name = "wire_2"
sitemaps = ["https://example.com/news-sitemap.xml"]
sites = ["https://example.com/"]
urls = ["https://example.com/story/1"]
allow_private = true
"""


def _documented_example() -> str:
    page = (ROOT / "docs" / "fetching.md").read_text(encoding="utf-8")
    return re.search(r"```toml\n(.*?)```", page, flags=re.S).group(1)


def test_the_documented_example_parses_with_the_issue_defaults():
    example = parse_sources(_documented_example(), Path("sources.toml"))
    defaults = FetchSettings()
    assert example.settings == defaults
    assert (defaults.delay_seconds, defaults.max_per_host, defaults.timeout_seconds, defaults.max_bytes, defaults.max_redirects) == (1.0, 2, 20, 5_000_000, 5)
    assert defaults.user_agent.startswith("textpipe/") and "contact" in defaults.user_agent
    assert example.sources and all(not s.allow_private for s in example.sources)


def test_a_good_file_gives_its_settings_and_sources(tmp_path):
    path = tmp_path / "sources.toml"
    path.write_text(GOOD, encoding="utf-8")
    loaded = load_sources(path)
    assert loaded.settings.delay_seconds == 2.0 and loaded.settings.max_per_host == 2
    world, wire = loaded.sources
    assert world.feeds == ("https://feeds.bbci.co.uk/news/world/rss.xml",) and not world.allow_private
    assert wire.name == "wire_2" and wire.allow_private and wire.urls == ("https://example.com/story/1",)


BAD = [
    # (what is wrong, the file, the line the message must name, words it must hold)
    ("syntax", "[fetch]\ndelay_seconds = = 1\n", 2, ["TOML syntax"]),
    ("typo in a source", GOOD.replace("sitemaps = [", "sitemap = ["), 10, ["'sitemap'", "did you mean 'sitemaps'"]),
    ("unknown setting", "[fetch]\ndelay = 1\n[[sources]]\nname = 'a'\nurls = ['https://x.org/']\n", 2, ["'delay'", "delay_seconds"]),
    ("negative delay", GOOD.replace("delay_seconds = 2", "delay_seconds = -1"), 2, ["'delay_seconds'", "from 0 to 3600", "-1"]),
    ("float where a count is", GOOD.replace("delay_seconds = 2", "max_per_host = 1.5"), 2, ["'max_per_host'", "whole number"]),
    ("ftp URL in a list", GOOD.replace('urls = ["https://example.com/story/1"]', 'urls = [\n  "https://example.com/a",\n  "ftp://example.com/b",\n]'),
     14, ["'urls'", "source 'wire_2'", "'ftp://example.com/b' is not an http or https URL"]),
    ("credentials", GOOD.replace("https://example.com/story/1", "https://me:pw@example.com/story/1"), 12, ["user name or password"]),
    ("bad name", GOOD.replace('name = "wire_2"', 'name = "_hidden"'), 9, ["'name'", "starting with a letter or digit"]),
    ("same name twice", GOOD.replace('name = "wire_2"', 'name = "BBC-World"'), 9, ["already defined", "source #1"]),
    ("nothing to fetch", '[[sources]]\nname = "empty"\n', 1, ["lists nothing to fetch"]),
    ("no sources", "[fetch]\ndelay_seconds = 1\n", 2, ["no source defined"]),
    ("allow_private as text", GOOD.replace("allow_private = true", 'allow_private = "yes"'), 13, ["'allow_private'", "true or false"]),
    ("feeds not a list", GOOD.replace('feeds = ["https://feeds.bbci.co.uk/news/world/rss.xml"]', 'feeds = "https://x.org/rss"'), 6, ["'feeds'", "list of URL strings"]),
]


@pytest.mark.parametrize(("what", "text", "line", "words"), BAD, ids=[case[0] for case in BAD])
def test_each_mistake_names_file_line_and_field(tmp_path, what, text, line, words):
    path = tmp_path / "my-sources.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(SourcesFileError) as error:
        load_sources(path)
    message = str(error.value)
    assert message.startswith(f"{path}:{line}: "), message
    assert "\n" not in message and all(word in message for word in words), message


def test_a_missing_or_undecodable_file_is_one_clear_line(tmp_path):
    with pytest.raises(SourcesFileError, match=r"nope\.toml:1: sources file: not found"):
        load_sources(tmp_path / "nope.toml")
    (tmp_path / "latin.toml").write_bytes(b'[[sources]]\nname = "caf\xe9"\n')
    with pytest.raises(SourcesFileError, match=r"latin\.toml:2: sources file: not UTF-8"):
        load_sources(tmp_path / "latin.toml")


def test_textpipe_fetch_with_a_bad_sources_file_is_a_usage_error(tmp_path):
    path = tmp_path / "sources.toml"
    path.write_text(GOOD.replace("delay_seconds = 2", "delay_seconds = 'slow'"), encoding="utf-8")
    done = subprocess.run([TEXTPIPE, "fetch", "--sources", str(path), "--raw", str(tmp_path / "raw")], capture_output=True, text=True, timeout=60)
    assert done.returncode == 2 and done.stdout == ""
    lines = done.stderr.strip().splitlines()
    assert lines == [f"textpipe: error: {path}:2: field 'delay_seconds' in [fetch]: must be a number from 0 to 3600, got 'slow'"]
    assert not (tmp_path / "raw").exists()  # nothing was started
