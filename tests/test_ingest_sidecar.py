"""Fetched pages and their metadata sidecars (`page.html.meta.json`): discover pairs
them and never counts a sidecar as an input, skipped or rejected; the sidecar's URL,
title, date, author and publisher reach the article; the feed's text stands in for a
stub page; a rewritten sidecar has its page read again."""

from __future__ import annotations

import json
import os
from pathlib import Path

from textpipe.config import Settings
from textpipe.ingest import discover, read_file
from textpipe.ingest.sidecar import sidecar_document
from textpipe.pipeline import fingerprint, split_unchanged
from textpipe.records import RawArticle, Reject, RejectReason

from conftest import BBC

SETTINGS = Settings()
STORY = (BBC / "politics" / "001.txt").read_text(encoding="utf-8").split("\n")
TITLE, PARAGRAPHS = STORY[0].strip(), [p.strip() for p in STORY[1:] if p.strip()]


def _page(paragraphs: list[str], title: str = "Page title - Site", date: str | None = "2020-01-01T00:00:00+00:00") -> str:
    meta = f'<meta property="article:published_time" content="{date}">' if date else ""
    body = "".join(f"<p>{p}</p>" for p in paragraphs)
    return f"<html><head><title>{title}</title>{meta}</head><body><article><h1>{title}</h1>{body}</article></body></html>"


def _write(folder: Path, name: str, page: str | bytes, **metadata: object) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_bytes(page.encode("utf-8") if isinstance(page, str) else page)
    if metadata:
        (folder / f"{name}.meta.json").write_text(json.dumps(sidecar_document(**metadata)), encoding="utf-8")
    return folder / name


def _read_one(root: Path) -> RawArticle | Reject:
    (file,) = discover(root, SETTINGS).files
    (item,) = read_file(file, SETTINGS)
    return item


def test_a_sidecar_is_paired_with_its_page_and_is_no_input(tmp_path):
    _write(tmp_path / "wire" / "ab", "abc.html", _page(PARAGRAPHS), url="https://news.example/a", title=TITLE)
    (tmp_path / "wire" / "ab" / "orphan.html.meta.json").write_text("{}", encoding="utf-8")  # its page never arrived
    found = discover(tmp_path, SETTINGS)
    assert [f.relative for f in found.files] == ["wire/ab/abc.html"]
    assert found.files[0].metadata == tmp_path / "wire" / "ab" / "abc.html.meta.json"
    assert found.skipped == {} and found.rejects == []


def test_the_listings_metadata_wins_over_the_pages(tmp_path):
    _write(tmp_path, "p.html", _page(PARAGRAPHS), url="https://news.example/a?id=1", title=f"  {TITLE} ", published="2024-03-05T09:30:00Z",
           author="Ann Writer", publisher="The Example", section="World", feed_title="The Example - World", listed_in="https://news.example/rss.xml",
           fetched_at="2024-03-05T10:00:00Z")
    article = _read_one(tmp_path)
    assert isinstance(article, RawArticle)
    assert (article.url, article.title, article.author) == ("https://news.example/a?id=1", TITLE, "Ann Writer")
    assert (article.publisher, article.section) == ("The Example", "World")
    assert article.published_at.isoformat() == "2024-03-05T09:30:00+00:00"
    assert article.text.split("\n\n") == PARAGRAPHS
    assert article.extra["feed_title"] == "The Example - World" and article.extra["listed_in"] == "https://news.example/rss.xml"
    assert article.extra["fetched_at"] == "2024-03-05T10:00:00Z" and "text_from" not in article.extra


def test_a_page_without_a_date_gets_the_feeds_and_without_metadata_its_own(tmp_path):
    _write(tmp_path / "a", "p.html", _page(PARAGRAPHS, date=None), url="https://news.example/a", published="Tue, 05 Mar 2024 10:30:00 GMT")
    assert _read_one(tmp_path / "a").published_at.isoformat() == "2024-03-05T10:30:00+00:00"
    _write(tmp_path / "b", "p.html", _page(PARAGRAPHS), url="https://news.example/b")
    assert _read_one(tmp_path / "b").published_at.isoformat() == "2020-01-01T00:00:00+00:00"
    _write(tmp_path / "c", "p.html", _page(PARAGRAPHS, date=None), url="https://news.example/c", published="05/03/2024")
    undated = _read_one(tmp_path / "c")
    assert undated.published_at is None and undated.extra["published_at_raw"] == "05/03/2024"  # no guessing, as for any record


def test_the_feed_text_stands_in_for_a_stub_page(tmp_path):
    _write(tmp_path, "p.html", _page(["Subscribe to read the whole story."]), url="https://news.example/a", text="\n\n".join(PARAGRAPHS))
    article = _read_one(tmp_path)
    assert article.text.split("\n\n") == PARAGRAPHS and article.extra["text_from"] == "feed"


def test_the_charset_the_server_declared_decodes_the_page(tmp_path):
    # Turkish in ISO-8859-9 also reads as (wrong) Western text: only the server's word tells.
    turkish = ["Başbakan İstanbul'da yaptığı açıklamada, görüşmelerin gelecek hafta süreceğini söyledi."]
    page = _page(turkish, title="Haberler").encode("iso-8859-9")
    _write(tmp_path / "declared", "p.html", page, url="https://news.example/tr", charset="iso-8859-9")
    assert _read_one(tmp_path / "declared").text == turkish[0]
    _write(tmp_path / "guessed", "p.html", page, url="https://news.example/tr")
    assert _read_one(tmp_path / "guessed").text != turkish[0]


def test_a_corrupt_sidecar_rejects_its_page_until_mended(tmp_path):
    page = _write(tmp_path, "p.html", _page(PARAGRAPHS))
    (tmp_path / "p.html.meta.json").write_text('{"format": "textpipe-fetch/1", "url": ', encoding="utf-8")
    reject = _read_one(tmp_path)
    assert isinstance(reject, Reject) and reject.reason == RejectReason.PARSE_ERROR and "metadata sidecar p.html.meta.json" in reject.detail
    assert page.exists()


def test_a_rewritten_sidecar_has_its_unchanged_page_read_again(tmp_path):
    page = _write(tmp_path, "p.html", _page(PARAGRAPHS), url="https://news.example/a", title="First title")
    (file,) = discover(tmp_path, SETTINGS).files
    known = {fingerprint(file)}
    assert split_unchanged([file], known)[2] == 1
    sidecar = tmp_path / "p.html.meta.json"
    sidecar.write_text(json.dumps(sidecar_document(url="https://news.example/a", title="Mended title")), encoding="utf-8")
    os.utime(sidecar, ns=(page.stat().st_mtime_ns + 10**9,) * 2)
    (file,) = discover(tmp_path, SETTINGS).files
    to_read, _, unchanged = split_unchanged([file], known)
    assert unchanged == 0 and to_read == [file]
