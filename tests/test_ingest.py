"""Ingest: discovery rules, every input format, encodings, and hostile input (bombs,
links, binaries) turned into rejects rather than crashes or memory blow-ups."""

from __future__ import annotations

import csv
import email.utils
import gzip
import html
import json
import os
import re
import shutil
import subprocess
import sys
import tracemalloc
import xml.etree.ElementTree as ET
from datetime import UTC, datetime
from pathlib import Path
from xml.sax.saxutils import escape as xml_escape

import pytest
from hypothesis import HealthCheck, given, settings as hypothesis_settings, strategies as st
from lxml import html as lxml_html

from textpipe.config import Settings
from textpipe.ingest import SUPPORTED_SUFFIXES, Discovery, InputFile, discover, read_file
from textpipe.ingest._dates import parse_datetime
from textpipe.records import RawArticle, Reject, RejectReason

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"
SAMPLE = SHARED / "samples" / "000_3396f7b0be424c1a.txt"
BBC = SHARED / "corpora" / "bbc"
RAW = ROOT / "data" / "raw"
FIXTURES = ROOT / "tests" / "fixtures" / "ingest"

SETTINGS = Settings()
BODY = (
    "The town council approved a new budget on Tuesday after a long debate about "
    "the cost of repairing the harbour wall and the future of the public library."
)


def read(path: Path, settings: Settings = SETTINGS, root: Path | None = None) -> list:
    relative = path.relative_to(root).as_posix() if root else path.name
    return list(read_file(InputFile(path, relative), settings))


def articles(records: list) -> list[RawArticle]:
    return [record for record in records if isinstance(record, RawArticle)]


def rejects(records: list) -> list[Reject]:
    return [record for record in records if isinstance(record, Reject)]


def only_reject(records: list) -> Reject:
    assert len(records) == 1 and isinstance(records[0], Reject), records
    return records[0]


def blank_line_paragraphs(text: str) -> list[str]:
    return [block.strip() for block in re.split(r"\n\s*\n", text) if block.strip()]


# --- .txt -----------------------------------------------------------------------------


def test_sample_article_title_section_and_paragraphs():
    (article,) = read(SAMPLE)
    raw = SAMPLE.read_text(encoding="utf-8")
    blocks = blank_line_paragraphs(raw)
    first_line = raw.splitlines()[0]
    assert article.title == "Russia: Putin’s visit to Belarus sparks new fears in Kyiv"
    assert article.section == "Politics"
    assert first_line.startswith(article.title) and first_line.endswith(article.section)
    assert not article.text.startswith(article.title)
    assert "Source link" not in article.text
    dropped = [blocks[0], blocks[1], blocks[-1]]  # title, repeated title, "Source link"
    assert blocks[1] == blocks[0] and blocks[-1] == "Source link"
    assert article.text.split("\n\n") == [b for b in blocks if b not in dropped]
    assert (article.source_format, article.record, article.source) == ("txt", 0, SAMPLE.name)


@pytest.mark.parametrize("category", ["sport"])
def test_every_bbc_file_of_a_category_keeps_its_first_line_as_title(category):
    paths = sorted((BBC / category).glob("*.txt"))
    assert len(paths) > 100
    for path in paths:
        (article,) = read(path)
        raw = path.read_text(encoding="utf-8")
        title = re.sub(r"&(#[0-9]+|[a-z]+);", lambda match: html.unescape(match.group(0)), raw.splitlines()[0].strip())
        assert article.title == title  # "&#163;8m" is "£8m"
        assert article.section is None  # the category folder is not a section
        assert len(article.text.split("\n\n")) == len(blank_line_paragraphs(raw)) - 1


@pytest.mark.parametrize(
    ("title_line", "title", "section"),
    [
        ("Budget passes – Politics", "Budget passes", "Politics"),
        ("Budget passes — economy", "Budget passes", "economy"),
        ("Budget passes - Middle East", "Budget passes", "Middle East"),
        ("Budget passes-Politics", "Budget passes-Politics", None),
        ("Budget passes – Parliament", "Budget passes – Parliament", None),
    ],
)
def test_section_suffix_on_txt_titles(tmp_path, title_line, title, section):
    path = tmp_path / "a.txt"
    path.write_text(f"{title_line}\n\n{BODY}\n", encoding="utf-8")
    (article,) = read(path)
    assert (article.title, article.section) == (title, section)


def test_single_newlines_inside_a_paragraph_become_spaces(tmp_path):
    path = tmp_path / "wrapped.txt"
    lines = BODY.split(" the ")
    path.write_text("Title\n\n" + "\nthe ".join(lines) + "\n\n\nSecond paragraph here.\r\n", "utf-8")
    (article,) = read(path)
    assert article.text == BODY + "\n\nSecond paragraph here."


@pytest.mark.parametrize("encoding", ["utf-16", "utf-8-sig", "cp1252", "latin-1"])
def test_text_encodings_decode(tmp_path, encoding):
    title = "Café owners fear new parking rules – Business"
    body = "Señor Müller said the café’s façade, “like the town”, needs €20,000 of work."
    if encoding == "latin-1":  # no typographic quotes, dashes or euro sign in Latin-1
        title = title.replace("–", "-")
        body = body.translate(str.maketrans({"’": "'", "“": '"', "”": '"', "€": "EUR "}))
    path = tmp_path / f"{encoding}.txt"
    path.write_bytes(f"{title}\n\n{body}\n".encode(encoding))
    (article,) = read(path)
    assert article.title == "Café owners fear new parking rules"
    assert article.text == body


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (b"", RejectReason.EMPTY),
        (b" \n\t\n  \r\n", RejectReason.EMPTY),
        (bytes(range(256)) * 8, RejectReason.BINARY),
        (b"PK\x03\x04\x14\x00\x00\x00\x08\x00" + b"\x00\x17" * 200, RejectReason.BINARY),
        ("Title only – Politics\n".encode(), RejectReason.NO_TEXT),
    ],
)
def test_unusable_text_files_are_rejected(tmp_path, content, reason):
    path = tmp_path / "bad.txt"
    path.write_bytes(content)
    reject = only_reject(read(path))
    assert reject.reason == reason and reject.source == "bad.txt" and "\n" not in reject.detail


def test_file_above_max_file_bytes_is_too_large(tmp_path):
    path = tmp_path / "big.txt"
    path.write_text("Title\n\n" + BODY * 20, encoding="utf-8")
    reject = only_reject(read(path, Settings(max_file_bytes=1000)))
    assert reject.reason == RejectReason.TOO_LARGE and "1000" in reject.detail


# --- gzip -----------------------------------------------------------------------------


def test_gzipped_text_reads_like_the_plain_file(tmp_path):
    packed = tmp_path / "sample.txt.gz"
    packed.write_bytes(gzip.compress(SAMPLE.read_bytes()))
    (plain,) = read(SAMPLE)
    (unpacked,) = read(packed)
    assert (unpacked.title, unpacked.text, unpacked.source_format) == (plain.title, plain.text, "txt")


def test_committed_jsonl_gz_gives_one_article_per_line():
    path = RAW / "records" / "archive.jsonl.gz"
    lines = gzip.decompress(path.read_bytes()).decode("utf-8").splitlines()
    records = read(path, root=RAW)
    assert [a.source_id for a in articles(records)] == [json.loads(line)["id"] for line in lines]
    assert all(a.source_format == "jsonl" and a.source == "records/archive.jsonl.gz" for a in records)


@pytest.mark.parametrize("name", ["bomb.txt.gz", "bomb.jsonl.gz", "bomb.csv.gz"])
def test_gzip_bomb_is_too_large_without_inflating_it(tmp_path, name):
    path = tmp_path / name
    path.write_bytes(gzip.compress(bytes(20 * 1024 * 1024), compresslevel=9))
    assert path.stat().st_size < 100_000
    tracemalloc.start()
    try:
        reject = only_reject(read(path, Settings(max_decompressed_bytes=1024 * 1024)))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert reject.reason == RejectReason.TOO_LARGE
    assert peak < 5 * 1024 * 1024


def test_gzip_over_the_cap_with_a_lying_trailer_is_still_capped(tmp_path):
    data = bytearray(gzip.compress(b"Title\n\n" + BODY.encode() * 2000))
    data[-4:] = (10).to_bytes(4, "little")  # claims 10 bytes; the CRC check comes too late
    path = tmp_path / "liar.txt.gz"
    path.write_bytes(bytes(data))
    reject = only_reject(read(path, Settings(max_decompressed_bytes=50_000)))
    assert reject.reason == RejectReason.TOO_LARGE


@pytest.mark.parametrize("name", ["cut.txt.gz", "cut.jsonl.gz"])
def test_truncated_or_fake_gzip_is_a_corrupt_archive(tmp_path, name):
    packed = gzip.compress(SAMPLE.read_bytes())
    (tmp_path / name).write_bytes(packed[: len(packed) // 2])
    (tmp_path / ("fake." + name)).write_bytes(b"this is not gzip at all, just text")
    for path in (tmp_path / name, tmp_path / ("fake." + name)):
        assert only_reject(read(path)).reason == RejectReason.CORRUPT_ARCHIVE


# --- JSON, JSONL, CSV -------------------------------------------------------------------


def test_jsonl_broken_middle_line_rejects_only_that_record():
    path = FIXTURES / "broken_middle.jsonl"
    lines = path.read_text(encoding="utf-8").splitlines()
    records = read(path)
    good = [i for i, line in enumerate(lines) if line.rstrip().endswith("}")]
    assert [a.record for a in articles(records)] == good
    (reject,) = rejects(records)
    assert reject.reason == RejectReason.PARSE_ERROR
    assert reject.record == next(i for i in range(len(lines)) if i not in good) == 1
    assert reject.detail.startswith("invalid JSON")


def test_jsonl_fields_map_onto_the_article():
    path = RAW / "records" / "wire.jsonl"
    expected = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    records = articles(read(path, root=RAW))
    assert len(records) == len(expected)
    for article, record in zip(records, expected, strict=True):
        assert (article.title, article.url, article.source_id) == (record["title"], record["url"], record["id"])
        assert (article.section, article.author) == (record["section"], record["author"])
        assert article.publisher == record["source"] and "source" not in article.extra
        assert article.extra["lang"] == record["lang"]
        assert "title" not in article.extra and "text" not in article.extra
        moment = parse_datetime(record["published_at"])
        if moment is None:
            assert article.published_at is None
            assert article.extra["published_at_raw"] == record["published_at"]
        else:
            assert article.published_at == moment and article.published_at.tzinfo is UTC
        paragraphs = [p.strip() for p in record["text"].split("\n") if p.strip()]
        assert article.text.split("\n\n") == paragraphs
        json.dumps(article.extra)  # serialisable


def test_jsonl_line_over_max_record_bytes_is_too_large(tmp_path):
    rows = [
        {"title": "Short one", "text": BODY},
        {"title": "Huge one", "text": BODY * 200},
        {"title": "Short two", "text": BODY},
    ]
    path = tmp_path / "long.jsonl"
    path.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    records = read(path, Settings(max_record_bytes=2_000))
    assert [a.title for a in articles(records)] == ["Short one", "Short two"]
    assert [(r.record, r.reason) for r in rejects(records)] == [(1, RejectReason.TOO_LARGE)]


def test_jsonl_is_streamed_not_loaded(tmp_path):
    path = tmp_path / "many.jsonl"
    with path.open("w", encoding="utf-8") as out:
        for number in range(20_000):
            out.write(json.dumps({"id": number, "title": f"Story {number}", "text": BODY}) + "\n")
    stream = read_file(InputFile(path, "many.jsonl"), SETTINGS)
    tracemalloc.start()
    try:
        first = [next(stream) for _ in range(10)]
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
        stream.close()
    assert [a.source_id for a in first] == [str(n) for n in range(10)]
    assert peak < path.stat().st_size / 4


def test_csv_ragged_row_and_sniffed_semicolon():
    path = FIXTURES / "ragged.csv"
    with path.open(encoding="utf-8", newline="") as handle:
        rows = list(csv.reader(handle, delimiter=";"))[1:]
    records = read(path)
    ragged = [i for i, row in enumerate(rows) if len(row) != len(rows[0])]
    assert [(r.record, r.reason) for r in rejects(records)] == [(i, RejectReason.BAD_RECORD) for i in ragged]
    good = articles(records)
    assert [a.source_id for a in good] == [row[0] for i, row in enumerate(rows) if i not in ragged]
    assert good[0].text.split("\n\n") == blank_line_paragraphs(rows[0][2])
    assert good[0].published_at == good[1].published_at == datetime(2024, 5, 4, 8, 0, tzinfo=UTC)


@pytest.mark.parametrize("name, first_line, delimiter", [
    ("excel.csv", "sep=;", ";"), ("excel-tabs.csv", "SEP=\t", "\t"), ("sheet.tsv", None, "\t"),
])
def test_csv_delimiter_declared_by_excel_or_implied_by_tsv(tmp_path, name, first_line, delimiter):
    """Excel writes "sep=;" as a first line when asked to keep the delimiter; it is no header."""
    stories = [_bbc_story("sport", n) for n in (1, 2, 3)]
    path = tmp_path / name
    with path.open("w", encoding="utf-8-sig", newline="") as handle:
        if first_line:
            handle.write(first_line + "\r\n")
        writer = csv.writer(handle, delimiter=delimiter)
        writer.writerow(["Title", "Body", "Date"])
        writer.writerows([title, "\n".join(paragraphs), "2005-01-0{}".format(i + 1)] for i, (title, paragraphs) in enumerate(stories))
    records = read(path)
    assert [(a.record, a.title, a.text.split("\n\n")) for a in articles(records)] == [
        (i, title, paragraphs) for i, (title, paragraphs) in enumerate(stories)]
    assert [a.published_at.day for a in articles(records)] == [1, 2, 3]


def test_ndjson_is_read_as_jsonl(tmp_path):
    title, paragraphs = _bbc_story("tech", 1)
    path = tmp_path / "feed.ndjson"
    path.write_text(json.dumps({"title": title, "text": "\n".join(paragraphs)}) + "\n", encoding="utf-8")
    (article,) = articles(read(path))
    assert (article.source_format, article.title, article.text.split("\n\n")) == ("jsonl", title, paragraphs)


def test_committed_csv_keeps_quoted_multiline_text():
    path = RAW / "records" / "desk.csv"
    with path.open(encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    records = articles(read(path, root=RAW))
    assert [a.title for a in records] == [row["title"] for row in rows]
    multiline = [i for i, row in enumerate(rows) if "\n" in row["body"]]
    assert multiline
    for i in multiline:
        assert "\n\n" in records[i].text and "\n\n\n" not in records[i].text


@pytest.mark.parametrize(
    ("document", "expected"),
    [
        ({"items": [{"title": "A", "text": BODY}, {"title": "B", "body": BODY}]}, ["A", "B"]),
        ({"Title": "Solo", "Content": BODY}, ["Solo"]),
        ([{"title": "A", "description": BODY}, "not an object", {"title": "C"}],
         ["A", RejectReason.BAD_RECORD, RejectReason.NO_TEXT]),
        (42, [RejectReason.BAD_RECORD]),
        ([], [RejectReason.EMPTY]),
    ],
)  # fmt: skip
def test_json_shapes(tmp_path, document, expected):
    path = tmp_path / "doc.json"
    path.write_text(json.dumps(document), encoding="utf-8")
    got = [r.title if isinstance(r, RawArticle) else r.reason for r in read(path)]
    assert got == expected


def test_text_field_preference_and_short_text(tmp_path):
    record = {"title": "T", "text": "", "body": BODY, "content": "other", "summary": "x"}
    path = tmp_path / "one.jsonl"
    path.write_text(json.dumps(record) + "\n" + json.dumps({"title": "S", "text": "Too short."}) + "\n")
    first, second = read(path)
    assert first.text == BODY and first.extra == {"content": "other", "summary": "x"}
    assert second.reason == RejectReason.NO_TEXT and second.record == 1


def test_unix_time_in_milliseconds_as_a_json_number(tmp_path):
    path = tmp_path / "dated.jsonl"
    path.write_text(json.dumps({"title": "T", "text": BODY, "publishedAt": 1709301600000}) + "\n", encoding="utf-8")
    (article,) = read(path)
    assert article.published_at == datetime(2024, 3, 1, 14, 0, tzinfo=UTC) and "published_at_raw" not in article.extra


@given(st.text(max_size=60))
def test_date_parsing_never_raises(text):
    moment = parse_datetime(text)
    assert moment is None or moment.tzinfo is UTC


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("2024-03-01T14:00:00+01:00", datetime(2024, 3, 1, 13, 0, tzinfo=UTC)),
        ("2024-03-01T14:00:00Z", datetime(2024, 3, 1, 14, 0, tzinfo=UTC)),
        ("2024-03-01 23:30:00-05:30", datetime(2024, 3, 2, 5, 0, tzinfo=UTC)),
        ("2024-03-01T14:00:00", datetime(2024, 3, 1, 14, 0, tzinfo=UTC)),
        ("Fri, 01 Mar 2024 14:00:00 +0100", datetime(2024, 3, 1, 13, 0, tzinfo=UTC)),
        ("Fri, 01 Mar 2024 20:00:00 -0700", datetime(2024, 3, 2, 3, 0, tzinfo=UTC)),
        ("Fri, 01 Mar 2024 14:00:00 GMT", datetime(2024, 3, 1, 14, 0, tzinfo=UTC)),
        # Month names, as scraped pages and CMS exports write dates.
        ("March 1, 2024", datetime(2024, 3, 1, tzinfo=UTC)),
        ("1 Mar. 2024 14:00 GMT", datetime(2024, 3, 1, 14, 0, tzinfo=UTC)),
        ("Friday, March 1, 2024 2:00 PM EST", datetime(2024, 3, 1, 19, 0, tzinfo=UTC)),
        ("Friday, March 1, 2024 10:30 PM CET", datetime(2024, 3, 1, 21, 30, tzinfo=UTC)),
        ("2024/03/01 14:00", datetime(2024, 3, 1, 14, 0, tzinfo=UTC)),
        # Unix time, in seconds or milliseconds, as a number or as CSV text.
        ("1709301600", datetime(2024, 3, 1, 14, 0, tzinfo=UTC)),
        ("1709301600000", datetime(2024, 3, 1, 14, 0, tzinfo=UTC)),
        # Not dates, or not without a guess: which of day and month comes first,
        # the missing day, a two-digit year, a zone abbreviation with several meanings.
        ("01/03/2024", None),
        ("15/03/2024 08:10", None),  # day first here, but not read, like the rest of its export would not be
        ("March 2024", None),
        ("1 Mar 24 2:00 PM", None),
        ("March 1, 2024 2:00 PM CST", None),
        ("May the fourth be with you, 2024", None),
        ("last Tuesday", None),
        ("", None),
    ],
)
def test_published_at_parsing_converts_to_utc(tmp_path, raw, expected):
    assert parse_datetime(raw) == expected
    path = tmp_path / "dated.jsonl"
    path.write_text(json.dumps({"title": "T", "text": BODY, "date": raw}) + "\n", encoding="utf-8")
    (article,) = read(path)
    assert article.published_at == expected
    assert article.extra.get("published_at_raw") == (raw if expected is None and raw else None)


# --- feeds ----------------------------------------------------------------------------


def _paragraphs_in_html(fragment: str) -> int:
    return len(lxml_html.fragment_fromstring(fragment, create_parent="div").findall(".//p"))


def test_rss_entries():
    path = RAW / "feeds" / "world.rss"
    items = ET.parse(path).getroot().findall("./channel/item")
    records = read(path, root=RAW)
    assert len(records) == len(items) and all(isinstance(r, RawArticle) for r in records)
    for index, (article, item) in enumerate(zip(records, items, strict=True)):
        assert (article.source_format, article.record) == ("rss", index)
        assert article.title == item.findtext("title")
        assert article.url == item.findtext("link")
        assert article.source_id == item.findtext("guid")
        expected = email.utils.parsedate_to_datetime(item.findtext("pubDate")).astimezone(UTC)
        assert article.published_at == expected
        assert "<" not in article.text
        assert len(article.text.split("\n\n")) == _paragraphs_in_html(item.findtext("description"))


def test_atom_entries():
    path = RAW / "feeds" / "tech.atom"
    ns = {"a": "http://www.w3.org/2005/Atom"}
    entries = ET.parse(path).getroot().findall("a:entry", ns)
    records = read(path, root=RAW)
    assert len(records) == len(entries)
    for article, entry in zip(records, entries, strict=True):
        assert article.source_format == "atom"
        assert article.source_id == entry.findtext("a:id", namespaces=ns)
        assert article.author == entry.findtext("a:author/a:name", namespaces=ns)
        stamp = entry.findtext("a:published", namespaces=ns) or entry.findtext("a:updated", namespaces=ns)
        assert article.published_at == datetime.fromisoformat(stamp).astimezone(UTC)
        assert "<" not in article.text and article.text.count("\n\n") == 2


def test_character_references_in_real_plain_text_are_resolved(tmp_path):
    """Some BBC articles carry their scraper's references ("caf&#233;"): read as "café",
    while a bare "&" ("AT&T") is text."""
    reference = re.compile(r"&(#[0-9]+|[a-z]+);")
    paths = [path for path in sorted(BBC.glob("*/*.txt")) if reference.search(path.read_text(encoding="utf-8", errors="replace"))]
    assert len(paths) >= 5
    for path in paths:
        raw = path.read_text(encoding="utf-8", errors="replace")
        (article,) = read(path, root=BBC)
        assert not reference.search(article.title + article.text), path
        for match in reference.finditer(raw):
            assert html.unescape(match.group(0)) in article.title + article.text
    bare = tmp_path / "bare.txt"
    bare.write_text(f"AT&T buys R&D arm\n\n{BODY} AT&T said Q&A sessions follow; x &y; z.\n", encoding="utf-8")
    (article,) = read(bare)
    assert (article.title, article.text) == ("AT&T buys R&D arm", f"{BODY} AT&T said Q&A sessions follow; x &y; z.")


def _bbc_articles_with_ampersands(limit: int = 12) -> list[tuple[str, list[str]]]:
    """(title, paragraphs) of real BBC articles that hold "&", quotes or apostrophes."""
    found = []
    for path in sorted(BBC.glob("*/*.txt")):
        raw = path.read_text(encoding="utf-8", errors="replace")
        if "&" not in raw:
            continue
        title, _, body = raw.partition("\n")
        found.append((title.strip(), [" ".join(p.split()) for p in body.split("\n\n") if p.strip()]))
        if len(found) == limit:
            return found
    return found


@pytest.mark.parametrize("suffix", [".jsonl", ".csv"])
def test_html_in_record_fields_is_reduced_to_the_text_a_browser_shows(tmp_path, suffix):
    """CMS exports keep a body's <p> markup and escape "&" in titles; the stored text must not."""
    originals = _bbc_articles_with_ampersands()
    rows = [
        {"title": html.escape(title), "text": "".join(f"<p class='body'>{html.escape(p)}</p>\n" for p in paragraphs)}
        for title, paragraphs in originals
    ]
    path = tmp_path / f"cms{suffix}"
    if suffix == ".jsonl":
        path.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    else:
        with path.open("w", encoding="utf-8", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=["title", "text"])
            writer.writeheader()
            writer.writerows(rows)
    records = articles(read(path))
    assert len(records) == len(originals) >= 5
    for article, (title, paragraphs) in zip(records, originals, strict=True):
        assert article.title == " ".join(title.split())
        assert article.text.split("\n\n") == paragraphs


def test_inline_markup_in_a_record_keeps_line_break_paragraphs(tmp_path):
    (title, paragraphs), *_ = _bbc_articles_with_ampersands(1)
    marked = [f"<b>{html.escape(p.split()[0])}</b> {html.escape(' '.join(p.split()[1:]))}" for p in paragraphs]
    path = tmp_path / "inline.jsonl"
    path.write_text(json.dumps({"title": title, "text": "\n".join(marked)}) + "\n", encoding="utf-8")
    (article,) = articles(read(path))
    assert article.text.split("\n\n") == paragraphs


def test_plain_record_text_keeps_angle_brackets_and_bare_ampersands(tmp_path):
    text = f"AT&T and <Reuters> said 3 < 4 and R&D rose; mail <desk@example.com>. {BODY}"
    path = tmp_path / "plain.jsonl"
    path.write_text(json.dumps({"title": "Q&A: <Reuters>", "text": text}) + "\n", encoding="utf-8")
    (article,) = articles(read(path))
    assert (article.title, article.text) == ("Q&A: <Reuters>", text)


def _bbc_story(category: str, number: int) -> tuple[str, list[str]]:
    title, _, body = (BBC / category / f"{number:03d}.txt").read_text(encoding="utf-8", errors="replace").partition("\n")
    return title.strip(), [" ".join(p.split()) for p in body.split("\n\n") if p.strip()]


def test_records_shaped_as_news_apis_and_scrapers_deliver_them_map_onto_the_article(tmp_path):
    """A NewsAPI response, news-please output, a JSON Feed, the HuffPost news-category set
    and an API response nesting its array: field names as those tools spell them."""
    stories = [_bbc_story(category, n) for category in ("business", "politics", "tech") for n in (1, 2)]
    newsapi = {"status": "ok", "totalResults": 2, "articles": [
        {"source": {"id": None, "name": "BBC News"}, "author": "Ann Reporter", "title": title, "description": paragraphs[0],
         "url": f"https://news.example/{i}", "urlToImage": f"https://img.example/{i}.jpg", "publishedAt": "2005-03-0{}T10:30:00Z".format(i + 1),
         "content": "\n".join(paragraphs)}
        for i, (title, paragraphs) in enumerate(stories[:2])]}
    # NewsAPI's free tier cuts `content` at 200 characters and says how much is missing.
    full = " ".join(stories[1][1])
    newsapi["articles"][1]["content"] = f"{full[:200]}… [+{len(full) - 200} chars]"
    (tmp_path / "newsapi.json").write_text(json.dumps(newsapi), encoding="utf-8")
    news_please = [
        {"title": title, "maintext": "\n".join(paragraphs), "description": paragraphs[0], "date_publish": "2005-03-01 13:04:05",
         "url": f"https://politics.example/{i}", "source_domain": "politics.example", "authors": ["Ann Reporter", "Bo Writer"], "language": "en"}
        for i, (title, paragraphs) in enumerate(stories[2:4])]
    (tmp_path / "news-please.jsonl").write_text("".join(json.dumps(r) + "\n" for r in news_please), encoding="utf-8")
    huffpost = [{"link": f"https://tech.example/{i}", "headline": title, "category": "TECH", "short_description": paragraphs[0],
                 "authors": "Cy Author", "date": "2005-03-02"} for i, (title, paragraphs) in enumerate(stories[4:])]
    (tmp_path / "news-category.jsonl").write_text("".join(json.dumps(r) + "\n" for r in huffpost), encoding="utf-8")
    (tmp_path / "nested.json").write_text(json.dumps({"response": {"status": "ok", "docs": huffpost}}), encoding="utf-8")
    json_feed = {"version": "https://jsonfeed.org/version/1.1", "title": "Example", "description": stories[5][1][0], "items": [
        {"id": f"urn:{i}", "url": f"https://feed.example/{i}", "title": title, "date_published": "2005-03-03T08:00:00+01:00",
         "authors": [{"name": "Di Editor"}], "content_html": "".join(f"<p>{html.escape(p)}</p>" for p in paragraphs)}
        for i, (title, paragraphs) in enumerate(stories[:2])]}
    (tmp_path / "feed.json").write_text(json.dumps(json_feed), encoding="utf-8")

    by_api = articles(read(tmp_path / "newsapi.json"))
    assert [a.title for a in by_api] == [title for title, _ in stories[:2]]
    assert by_api[0].text.split("\n\n") == stories[0][1] and "text_chars_cut" not in by_api[0].extra
    assert (by_api[1].text, by_api[1].extra["text_chars_cut"]) == (full[:200].rstrip(), len(full) - 200)
    assert [a.published_at for a in by_api] == [datetime(2005, 3, d, 10, 30, tzinfo=UTC) for d in (1, 2)]
    assert {(a.author, a.publisher) for a in by_api} == {("Ann Reporter", "BBC News")}
    assert "urlToImage" in by_api[0].extra and "publishedAt" not in by_api[0].extra
    assert by_api[0].extra["source"] == {"id": None, "name": "BBC News"}  # the name is taken, nothing is lost

    scraped = articles(read(tmp_path / "news-please.jsonl"))
    assert [a.text.split("\n\n") for a in scraped] == [paragraphs for _, paragraphs in stories[2:4]]
    assert {(a.author, a.publisher, a.published_at) for a in scraped} == {
        ("Ann Reporter, Bo Writer", "politics.example", datetime(2005, 3, 1, 13, 4, 5, tzinfo=UTC))}
    assert scraped[0].extra["description"] == stories[2][1][0]

    json_feed_articles = articles(read(tmp_path / "feed.json"))
    assert [(a.source_id, a.title, a.text.split("\n\n"), a.author) for a in json_feed_articles] == [
        (f"urn:{i}", title, paragraphs, "Di Editor") for i, (title, paragraphs) in enumerate(stories[:2])]
    assert {a.published_at for a in json_feed_articles} == {datetime(2005, 3, 3, 7, 0, tzinfo=UTC)}

    for name in ("news-category.jsonl", "nested.json"):
        labelled = articles(read(tmp_path / name))
        assert [(a.title, a.text, a.section, a.url) for a in labelled] == [
            (title, paragraphs[0], "TECH", f"https://tech.example/{i}") for i, (title, paragraphs) in enumerate(stories[4:])]


def test_guardian_and_new_york_times_api_responses_map_onto_the_article(tmp_path):
    """The Guardian's content API (`show-fields=bodyText,byline`: the text sits in a nested
    `fields` object) and the New York Times' article search (`headline.main`, `byline.original`)
    and top stories (`published_date`), as they answer."""
    stories = [_bbc_story("politics", n) for n in (3, 4)]
    guardian = {"response": {"status": "ok", "total": 2, "results": [
        {"id": f"politics/2005/mar/0{i + 1}/story", "type": "article", "sectionName": "Politics", "webPublicationDate": f"2005-03-0{i + 1}T09:15:00Z",
         "webTitle": title, "webUrl": f"https://www.theguardian.example/politics/{i}", "pillarName": "News",
         "fields": {"bodyText": " ".join(paragraphs), "byline": "Ann Reporter", "wordcount": str(sum(len(p.split()) for p in paragraphs))}}
        for i, (title, paragraphs) in enumerate(stories)]}}
    (tmp_path / "guardian.json").write_text(json.dumps(guardian), encoding="utf-8")
    search = {"status": "OK", "response": {"docs": [
        {"_id": f"nyt://article/{i}", "web_url": f"https://www.nytimes.example/{i}", "abstract": paragraphs[0],
         "lead_paragraph": " ".join(paragraphs[:2]), "headline": {"main": title, "kicker": None, "print_headline": title.upper()},
         "pub_date": f"2005-03-0{i + 1}T05:00:00+0000", "section_name": "World", "byline": {"original": "By Bo Writer", "person": [{"firstname": "Bo"}]}}
        for i, (title, paragraphs) in enumerate(stories)]}}
    (tmp_path / "nyt-search.json").write_text(json.dumps(search), encoding="utf-8")
    top = {"status": "OK", "section": "world", "results": [
        {"section": "world", "title": title, "abstract": " ".join(paragraphs[:2]), "url": f"https://www.nytimes.example/top/{i}",
         "byline": "By Cy Author", "published_date": f"2005-03-0{i + 1}T06:00:00-05:00"} for i, (title, paragraphs) in enumerate(stories)]}
    (tmp_path / "nyt-top.json").write_text(json.dumps(top), encoding="utf-8")

    by_guardian = articles(read(tmp_path / "guardian.json"))
    assert [(a.title, a.text, a.section, a.author, a.source_id) for a in by_guardian] == [
        (title, " ".join(paragraphs), "Politics", "Ann Reporter", f"politics/2005/mar/0{i + 1}/story") for i, (title, paragraphs) in enumerate(stories)]
    assert [a.published_at for a in by_guardian] == [datetime(2005, 3, d, 9, 15, tzinfo=UTC) for d in (1, 2)]
    assert "fields" not in by_guardian[0].extra and "bodyText" not in by_guardian[0].extra and by_guardian[0].extra["wordcount"]

    by_search = articles(read(tmp_path / "nyt-search.json"))
    assert [(a.title, a.text.split("\n\n"), a.author, a.url) for a in by_search] == [
        (title, [" ".join(paragraphs[:2])], "By Bo Writer", f"https://www.nytimes.example/{i}") for i, (title, paragraphs) in enumerate(stories)]
    assert [a.published_at for a in by_search] == [datetime(2005, 3, d, 5, 0, tzinfo=UTC) for d in (1, 2)]
    assert by_search[0].extra["headline"]["print_headline"] == stories[0][0].upper()  # structured: kept whole

    by_top = articles(read(tmp_path / "nyt-top.json"))
    assert [(a.title, a.section, a.published_at) for a in by_top] == [
        (title, "world", datetime(2005, 3, i + 1, 11, 0, tzinfo=UTC)) for i, (title, _) in enumerate(stories)]


@pytest.mark.parametrize(("document", "expected"), [
    ({"title": "Budget", "text": BODY, "data": [1, 2, 3]}, ["Budget"]),  # an article's own list field
    ({"title": "Budget", "text": BODY, "results": []}, ["Budget"]),
    ({"title": "Feed", "description": BODY, "items": [{"title": "Budget", "content_text": BODY}]}, ["Budget"]),
    ({"response": {"status": "ok", "results": [{"title": "Budget", "text": BODY}]}}, ["Budget"]),
    ({"response": {"results": []}}, RejectReason.EMPTY),
    ({"articles": []}, RejectReason.EMPTY),
])
def test_a_json_document_is_one_article_or_holds_an_array_of_them(tmp_path, document, expected):
    path = tmp_path / "doc.json"
    path.write_text(json.dumps(document), encoding="utf-8")
    records = read(path)
    if isinstance(expected, RejectReason):
        assert only_reject(records).reason == expected
    else:
        assert [a.title for a in articles(records)] == expected and not rejects(records)


def test_feed_titles_and_summaries_escaped_twice_read_as_text(tmp_path):
    """Many RSS feeds escape their HTML text once more ("Tom &amp;amp; Jerry"); an Atom
    title of type "text" is literal, so "&lt;" in it stays."""
    originals = _bbc_articles_with_ampersands(5)
    items = "".join(
        f"<item><title>{xml_escape(html.escape(title))}</title>"
        f"<description>{xml_escape(html.escape(' '.join(paragraphs)))}</description></item>"
        for title, paragraphs in originals
    )
    rss = tmp_path / "twice.rss"
    rss.write_text(f'<?xml version="1.0"?><rss version="2.0"><channel><title>A &amp;amp; B</title>{items}</channel></rss>', encoding="utf-8")
    records = articles(read(rss))
    assert [a.title for a in records] == [title for title, _ in originals]
    assert [a.text for a in records] == [" ".join(paragraphs) for _, paragraphs in originals]
    assert {a.extra["feed_title"] for a in records} == {"A & B"}

    atom = tmp_path / "types.atom"
    atom.write_text(
        '<?xml version="1.0" encoding="utf-8"?><feed xmlns="http://www.w3.org/2005/Atom"><title>F</title>'
        f'<entry><id>urn:1</id><title type="html">Caf&amp;eacute; &amp;lt;b&amp;gt;</title><summary>{BODY}</summary></entry>'
        f'<entry><id>urn:2</id><title type="text">Caf&amp;eacute; &amp;lt;b&amp;gt;</title><summary>{BODY}</summary></entry>'
        "</feed>", encoding="utf-8")
    assert [a.title for a in articles(read(atom))] == ["Café <b>", "Caf&eacute; &lt;b&gt;"]


def test_entity_bomb_is_unsafe_and_cheap():
    tracemalloc.start()
    try:
        reject = only_reject(read(FIXTURES / "billion_laughs.rss"))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert reject.reason == RejectReason.UNSAFE_XML and "lol" in reject.detail
    assert peak < 20 * 1024 * 1024


def test_entity_declaration_in_malformed_xml_is_unsafe(tmp_path):
    path = tmp_path / "bad.xml"
    path.write_text('<!DOCTYPE x [<!ENTITY e "boo">]><rss><channel><item>&e;</chan', "utf-8")
    assert only_reject(read(path)).reason == RejectReason.UNSAFE_XML


@pytest.mark.parametrize(
    ("name", "needle"), [("not_a_feed.xml", "<inventory>"), ("truncated.rss", "malformed")]
)
def test_xml_that_is_not_a_readable_feed_is_a_parse_error(name, needle):
    reject = only_reject(read(FIXTURES / name))
    assert reject.reason == RejectReason.PARSE_ERROR and needle in reject.detail


# --- HTML -----------------------------------------------------------------------------


def test_html_main_text_excludes_navigation_and_footer():
    path = RAW / "pages" / "article.html"
    tree = lxml_html.parse(str(path))
    body_paragraphs = [" ".join(p.text_content().split()) for p in tree.findall(".//article//div/p")]
    (article,) = read(path, root=RAW)
    assert article.source_format == "html"
    assert article.text.split("\n\n") == body_paragraphs
    for boilerplate in ("Subscribe for unlimited access", "Privacy policy", "All rights reserved", "Most read"):
        assert boilerplate in path.read_text(encoding="utf-8")
        assert boilerplate not in article.text
    meta = {m.get("property") or m.get("name"): m.get("content") for m in tree.findall(".//meta")}
    assert article.title == meta["og:title"]
    assert article.published_at == datetime.fromisoformat(meta["article:published_time"]).astimezone(UTC)
    assert article.author == meta["author"] and article.url == meta["og:url"]


def test_html_without_text_is_no_text(tmp_path):
    path = tmp_path / "menu.html"
    path.write_text("<html><body><nav><a href='/'>Home</a></nav></body></html>", encoding="utf-8")
    assert only_reject(read(path)).reason == RejectReason.NO_TEXT


# --- discovery ------------------------------------------------------------------------


def _tree(tmp_path: Path) -> Path:
    root = tmp_path / "in"
    (root / "b" / "deep").mkdir(parents=True)
    (root / "a.txt").write_text(f"A\n\n{BODY}", encoding="utf-8")
    (root / "b" / "deep" / "c.jsonl").write_text(json.dumps({"title": "C", "text": BODY}))
    (root / "b" / "notes.docx").write_bytes(b"PK\x03\x04")
    (root / "b" / "scan.PDF").write_bytes(b"%PDF")
    (root / "b" / "more.pdf").write_bytes(b"%PDF")
    (root / "README").write_text("no extension")
    (root / ".hidden.txt").write_text(f"H\n\n{BODY}")
    (root / "_partial.txt").write_text(f"P\n\n{BODY}")
    (root / ".git").mkdir()
    (root / ".git" / "x.txt").write_text(f"G\n\n{BODY}")
    return root


def test_discover_is_sorted_recursive_and_counts_unknown_extensions(tmp_path):
    root = _tree(tmp_path)
    found = discover(root, SETTINGS)
    assert isinstance(found, Discovery)
    assert [f.relative for f in found.files] == ["a.txt", "b/deep/c.jsonl"]
    assert all(f.path.is_file() for f in found.files)
    assert found.skipped == {".docx": 1, ".pdf": 2, "(none)": 1}
    assert found.rejects == []
    assert discover(root, SETTINGS) == found


def test_symlink_outside_root_is_not_followed(tmp_path):
    root = _tree(tmp_path)
    secret = tmp_path / "secret.txt"
    secret.write_text(f"Secret\n\n{BODY}", encoding="utf-8")
    (root / "leak.txt").symlink_to(secret)
    (root / "leakdir").symlink_to(tmp_path, target_is_directory=True)
    (root / "inside.txt").symlink_to(root / "a.txt")
    found = discover(root, SETTINGS)
    outside = {r.source for r in found.rejects if r.reason == RejectReason.OUTSIDE_ROOT}
    assert outside == {"leak.txt", "leakdir"}
    relatives = [f.relative for f in found.files]
    assert "leak.txt" not in relatives and not any(r.startswith("leakdir") for r in relatives)
    assert "inside.txt" in relatives


def test_symlink_loops_do_not_hang(tmp_path):
    root = _tree(tmp_path)
    (root / "b" / "deep" / "up").symlink_to(root / "b", target_is_directory=True)
    (root / "self").symlink_to(root, target_is_directory=True)
    (root / "ping.txt").symlink_to(root / "pong.txt")
    (root / "pong.txt").symlink_to(root / "ping.txt")
    found = discover(root, SETTINGS)
    loops = sorted(r.source for r in found.rejects if r.reason == RejectReason.SYMLINK_LOOP)
    assert loops == ["b/deep/up", "ping.txt", "pong.txt", "self"]
    assert [f.relative for f in found.files] == ["a.txt", "b/deep/c.jsonl"]


@pytest.mark.skipif(sys.platform != "linux", reason="needs bytes file names")
def test_undecodable_name_and_fifo_are_rejected(tmp_path):
    root = _tree(tmp_path)
    with open(os.path.join(os.fsencode(root), b"caf\xe9.txt"), "wb") as handle:
        handle.write(f"T\n\n{BODY}".encode())
    os.mkfifo(root / "pipe.txt")
    found = discover(root, SETTINGS)
    reasons = {r.source: r.reason for r in found.rejects}
    assert reasons == {"caf\ufffd.txt": RejectReason.BAD_PATH, "pipe.txt": RejectReason.UNREADABLE}
    # Reading a FIFO directly must not block either.
    assert only_reject(read(root / "pipe.txt")).reason == RejectReason.UNREADABLE


def test_discover_on_a_missing_folder_raises_a_clear_error(tmp_path):
    from textpipe.errors import ConfigError

    with pytest.raises(ConfigError, match="does not exist|cannot be opened"):
        discover(tmp_path / "nope", SETTINGS)


def test_supported_suffixes_cover_every_format():
    assert SUPPORTED_SUFFIXES == {".txt", ".json", ".jsonl", ".ndjson", ".csv", ".tsv", ".html", ".htm", ".xml", ".rss", ".atom"}


def test_committed_sample_folder_reads_without_rejects():
    found = discover(RAW, SETTINGS)
    assert found.rejects == [] and found.skipped == {}
    records = [r for f in found.files for r in read_file(f, SETTINGS)]
    assert rejects(records) == []
    formats = {a.source_format for a in records}
    assert formats == {"txt", "json", "jsonl", "csv", "html", "rss", "atom"}
    for article in records:
        json.dumps(article.extra)
        assert article.published_at is None or article.published_at.tzinfo is UTC


# --- robustness -----------------------------------------------------------------------


@hypothesis_settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    suffix=st.sampled_from(sorted(SUPPORTED_SUFFIXES) + [".jsonl.gz"]),
    content=st.one_of(
        st.binary(max_size=400),
        st.text(max_size=400).map(lambda text: text.encode("utf-8", "surrogatepass")),
    ),
)
def test_read_file_never_raises(tmp_path, suffix, content):
    path = tmp_path / f"fuzz{suffix}"
    path.write_bytes(content)
    for record in read_file(InputFile(path, path.name), SETTINGS):
        assert isinstance(record, RawArticle | Reject)
        if isinstance(record, Reject):
            assert "\n" not in record.detail and len(record.detail) <= 300


def test_reading_text_does_not_import_html_or_feed_libraries(tmp_path):
    script = (
        "import sys; from pathlib import Path\n"
        "from textpipe.config import Settings\n"
        "from textpipe.ingest import InputFile, read_file\n"
        f"list(read_file(InputFile(Path({str(SAMPLE)!r}), 's.txt'), Settings()))\n"
        "print(sorted(m for m in ('trafilatura', 'feedparser', 'charset_normalizer', 'lxml') if m in sys.modules))\n"
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"


def test_copying_a_folder_keeps_sources_relative(tmp_path):
    root = tmp_path / "copy"
    shutil.copytree(RAW, root)
    found = discover(root, SETTINGS)
    assert [f.relative for f in found.files] == [f.relative for f in discover(RAW, SETTINGS).files]
    assert all("\\" not in f.relative and not f.relative.startswith("/") for f in found.files)


# --- publisher --------------------------------------------------------------------------


def _publishers(path: Path, root: Path) -> list[str | None]:
    from textpipe.clean import clean_article

    return [clean_article(article).publisher for article in articles(read(path, root=root))]


def test_publisher_from_the_record_feed_page_folder_or_url(tmp_path):
    """Each input names its outlet its own way: a record's field (NewsAPI's source.name,
    site_name, a `source` that is an outlet and not a path), the Guardian's and the Times'
    APIs by their own fields, a feed's title or an entry's <source>, a page's site name,
    a `publisher=<name>` folder; else the URL's host, and a bare .txt has none."""
    (title, paragraphs), (title2, paragraphs2) = _bbc_story("politics", 5), _bbc_story("business", 6)
    text = "\n\n".join(paragraphs)
    records = [
        {"title": title, "text": text, "source": {"id": "bbc-news", "name": "BBC News"}},
        {"title": title, "text": text, "site_name": "  The  Coastal Courier "},
        {"title": title, "text": text, "source": "exports/2024/wire.jsonl", "url": "https://www.reuters.example/a/1"},
        {"title": title, "text": text, "source": "https://www.apnews.example/", "url": "https://elsewhere.example/x"},
        {"title": title, "text": text, "apiUrl": "https://content.guardianapis.com/politics/x", "webUrl": "https://www.theguardian.com/x"},
        {"title": title, "text": text, "uri": "nyt://article/1b2c"},
        {"title": title, "text": text},
    ]
    (tmp_path / "mixed.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    assert _publishers(tmp_path / "mixed.jsonl", tmp_path) == [
        "BBC News", "The Coastal Courier", "reuters.example", "apnews.example", "The Guardian", "The New York Times", None]

    items = "".join(
        f"<item><title>{xml_escape(t)}</title><link>https://feeds.example/{i}</link><description>{xml_escape(' '.join(p))}</description>{source}</item>"
        for i, (t, p, source) in enumerate([(title, paragraphs, ""), (title2, paragraphs2, '<source url="https://wire.example/rss">Wire Service</source>')]))
    (tmp_path / "world.rss").write_text(f'<?xml version="1.0"?><rss version="2.0"><channel><title>World &amp; Nation</title>{items}</channel></rss>', encoding="utf-8")
    assert _publishers(tmp_path / "world.rss", tmp_path) == ["World & Nation", "Wire Service"]
    tech = articles(read(RAW / "feeds" / "tech.atom", root=RAW))  # "Circuit Weekly – Technology": a section of the outlet
    assert _publishers(RAW / "feeds" / "tech.atom", RAW) == ["Circuit Weekly"] * len(tech) and tech[0].section == "Technology"

    assert _publishers(RAW / "pages" / "article.html", RAW) == ["The Coastal Courier"]

    folder = tmp_path / "publisher=BBC News" / "2024"
    folder.mkdir(parents=True)
    shutil.copy(BBC / "politics" / "005.txt", folder / "005.txt")
    shutil.copy(BBC / "politics" / "005.txt", tmp_path / "bare.txt")
    assert _publishers(folder / "005.txt", tmp_path) == ["BBC News"]
    assert _publishers(tmp_path / "bare.txt", tmp_path) == [None]
