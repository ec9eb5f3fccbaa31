"""Structured records (`.json`, `.jsonl`, `.csv`): one article per object or row, with
known fields mapped onto `RawArticle` and every other field kept in `extra`.

JSONL and CSV are streamed line by line, so memory stays bounded by the longest
record (`max_record_bytes`), not the file; a bad record rejects only itself.
"""

from __future__ import annotations

import csv
import json
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any

from textpipe.config import Settings
from textpipe.ingest._bytes import (
    InputFile,
    InputRejected,
    iter_lines,
    one_line,
    open_input,
    peek_sample,
    read_text,
    sniff_encoding,
)
from textpipe.ingest._dates import parse_datetime
from textpipe.ingest._markup import has_block_tags, html_tags, html_to_paragraphs
from textpipe.ingest.text import resolve_character_references, split_paragraphs
from textpipe.records import RawArticle, Reject, RejectReason

# Field names as news APIs, scrapers and datasets spell them (NewsAPI, news-please,
# schema.org NewsArticle, JSON Feed, the HuffPost news-category set, the Guardian's and
# the New York Times' APIs, CMS exports).
# Names match ignoring case, "_", "-" and spaces (`publishedAt` is `published_at`);
# the first listed name that a record fills wins, so full text comes before a summary.
TEXT_FIELDS = ("text", "body", "article_body", "main_text", "full_text", "article_text", "body_text", "content",
               "content_html", "content_text", "description", "summary", "trail_text", "short_description",
               "lead_paragraph", "abstract", "snippet")
TITLE_FIELDS = ("title", "headline", "web_title")
DATE_FIELDS = ("published_at", "date_published", "date_publish", "publish_date", "publication_date",
               "published_date", "web_publication_date", "pub_date", "published", "date")
URL_FIELDS = ("url", "link", "web_url", "canonical_url")
ID_FIELDS = ("id", "guid", "uuid")
# The outlet: NewsAPI's {"source": {"name": ...}}, news-please's `source_domain`, Open
# Graph's `site_name`; a `source` that is a path or a file name names no outlet.
PUBLISHER_FIELDS = ("publisher", "publication", "source_name", "site_name", "outlet", "source", "source_domain")
SECTION_FIELDS = ("section", "section_name", "category")
AUTHOR_FIELDS = ("author", "authors", "byline", "creator")
ARRAY_FIELDS = ("articles", "items", "results", "data", "docs", "records", "entries", "stories", "posts")
# An object holding more of the record's fields (the Guardian's `fields`, with `bodyText`,
# `byline`, `headline` when asked for them): its fields count as the record's own.
NESTED_FIELDS = ("fields",)
# A structured value's text: NewsAPI's {"id": ..., "name": "BBC News"}, schema.org's
# {"@type": "Person", "name": ...}, the New York Times' {"main": headline} and {"original": "By ..."}.
STRUCTURED_TEXT_KEYS = ("name", "main", "original")
CSV_DELIMITERS = ",;\t|"
DETAIL_PROBE_CHARS = 100


def field_key(name: object) -> str:
    """`"publishedAt"`, `"Published_At"`, `"published-at"` -> `"publishedat"`."""
    return _FIELD_NAME_SEPARATORS.sub("", str(name).lower())


_FIELD_NAME_SEPARATORS = re.compile(r"[\s_\-]+")


def _fields_by_key(record: Mapping[str, Any]) -> dict[str, tuple[str, Any]]:
    """`field_key(name)` -> (original name, value); the first spelling of a name wins."""
    fields: dict[str, tuple[str, Any]] = {}
    for key, value in record.items():
        fields.setdefault(field_key(key), (key, value))
    return fields


def _first_present(fields: Mapping[str, tuple[str, Any]], names: Iterable[str], accept: Callable[[Any], bool] | None = None) -> str | None:
    """The original key of the first of `names` whose value is not empty (and passes `accept`)."""
    for name in names:
        key = field_key(name)
        if key in fields and fields[key][1] not in (None, "", [], {}) and (accept is None or accept(fields[key][1])):
            return fields[key][0]
    return None


def _as_text(value: Any) -> str | None:
    if isinstance(value, str):
        return " ".join(_plain(value).split()) or None
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    if isinstance(value, dict):
        text = next((value[key] for key in STRUCTURED_TEXT_KEYS if isinstance(value.get(key), str) and value[key].strip()), None)
        return _as_text(text) if text is not None else None
    if isinstance(value, list) and value:
        texts = [text for item in value if isinstance(item, str | dict) and (text := _as_text(item))]
        return ", ".join(texts) if len(texts) == len(value) else None
    return None


def _structured(value: Any) -> bool:
    return isinstance(value, dict) or (isinstance(value, list) and any(isinstance(item, dict) for item in value))


def _plain(value: str) -> str:
    """A field exported from a CMS often keeps its HTML: tags go, references are resolved."""
    if html_tags(value):
        return html_to_paragraphs(value)
    return resolve_character_references(value)


def record_paragraphs(text: str) -> str:
    """Paragraphs joined by a blank line. With no blank line in the text, each line is
    a paragraph: scraped records usually put one newline between paragraphs."""
    if "\r" in text:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    if "\n" in text and not any(not line.strip() for line in text.strip().split("\n")):
        return "\n\n".join(line.strip() for line in text.split("\n") if line.strip())
    return "\n\n".join(split_paragraphs(text))


def record_body(text: str) -> str:
    """A record's text as paragraphs. HTML (a CMS export's `<p>...</p>` body) is reduced
    to its text. Markup that is only inline (`<b>`, `<a>`) leaves the line breaks to
    mark paragraphs, as in plain text."""
    tags = html_tags(text)
    if not tags:
        return record_paragraphs(resolve_character_references(text))
    if has_block_tags(tags):
        return html_to_paragraphs(text)
    return "\n\n".join(para for line in record_paragraphs(text).split("\n\n") if (para := " ".join(html_to_paragraphs(line).split())))


# NewsAPI and similar feeds cut `content` and say how much is missing: "... [+2816 chars]".
_TRUNCATION_MARKER = re.compile(r"\s*(?:…|\.\.\.)?\s*\[\+(\d{1,9}) chars\]\s*$")


def _without_truncation_marker(text: str) -> tuple[str, int]:
    """The text without a trailing "[+N chars]" marker, and N (0 when there is none);
    the cut text itself is all there is, `extra.text_chars_cut` says so."""
    match = _TRUNCATION_MARKER.search(text)
    return (text[: match.start()], int(match.group(1))) if match else (text, 0)


def _body(value: Any) -> str | None:
    if isinstance(value, str):
        return record_body(value)
    if isinstance(value, list) and all(isinstance(item, str) for item in value):
        return "\n\n".join(para for item in value if (para := record_body(item)))
    return None


def article_from_record(
    record: Any, source: str, source_format: str, index: int, settings: Settings
) -> RawArticle | Reject:
    """Map one parsed record (a dict of field -> value) onto a `RawArticle`."""
    if not isinstance(record, dict):
        return Reject(
            source, index, RejectReason.BAD_RECORD,
            f"record is a JSON {type(record).__name__}, expected an object",
        )  # fmt: skip
    record = _with_nested_fields(record)
    fields = _fields_by_key(record)
    text_key = _first_present(fields, TEXT_FIELDS)
    text = _body(record[text_key]) if text_key is not None else ""
    if text is None:
        kind = type(record[text_key]).__name__
        return Reject(source, index, RejectReason.BAD_RECORD, f"field {text_key!r} is a {kind}")
    text, chars_cut = _without_truncation_marker(text)
    if len(text) < settings.min_text_chars:
        return Reject(
            source, index, RejectReason.NO_TEXT,
            f"text has {len(text)} characters (min_text_chars={settings.min_text_chars})"
            if text_key else f"no text field ({', '.join(TEXT_FIELDS)})",
        )  # fmt: skip

    used = {text_key}
    known: dict[str, str | None] = {}
    for name, candidates in (
        ("title", TITLE_FIELDS), ("url", URL_FIELDS), ("id", ID_FIELDS), ("publisher", PUBLISHER_FIELDS),
        ("section", SECTION_FIELDS), ("author", AUTHOR_FIELDS),
    ):  # fmt: skip
        key = _first_present(fields, candidates, _names_an_outlet if name == "publisher" else None)
        known[name] = _as_text(record[key]) if key is not None else None
        # A structured value ({"id": ..., "name": ...}) gives its name and stays in `extra` whole.
        if key is not None and known[name] is not None and not _structured(record[key]):
            used.add(key)

    extra = {key: value for key, value in record.items() if key not in used}
    extra = {key: value for key, value in extra.items() if value not in (None, "")}
    if chars_cut:
        extra["text_chars_cut"] = chars_cut
    published_at = None
    date_key = _first_present(fields, DATE_FIELDS)
    if date_key is not None:
        extra.pop(date_key, None)
        published_at = parse_datetime(record[date_key])
        if published_at is None:
            extra["published_at_raw"] = record[date_key]

    return RawArticle(
        source=source,
        source_format=source_format,
        record=index,
        title=known["title"] or "",
        text=text,
        url=known["url"],
        published_at=published_at,
        section=known["section"],
        author=known["author"],
        source_id=known["id"],
        publisher=known["publisher"] or api_outlet(fields),
        extra={str(key): value for key, value in extra.items()},
    )


# News APIs whose records do not name their outlet, known by a field of their own.
_API_OUTLETS = (
    ("apiurl", "content.guardianapis.com", "The Guardian"),  # the Guardian's content API
    ("id", "nyt://", "The New York Times"),                  # the Times' Article Search (`_id`)
    ("uri", "nyt://", "The New York Times"),                 # the Times' Top Stories
)


def api_outlet(fields: Mapping[str, tuple[str, Any]]) -> str | None:
    """The outlet of a record from the Guardian's or the New York Times' API, which do not name it."""
    for key, marker, outlet in _API_OUTLETS:
        value = fields.get(key, (None, None))[1]
        if isinstance(value, str) and marker in value:
            return outlet
    return None


_FILE_NAME = re.compile(r"\.(?:txt|json|jsonl|ndjson|csv|tsv|html?|xml|rss|atom|gz)$", re.IGNORECASE)


def _names_an_outlet(value: Any) -> bool:
    """False for a `source` that is a path or a file name (`feeds/world.rss`), which names no outlet."""
    if not isinstance(value, str):
        return True
    return "://" in value or not ("/" in value or "\\" in value or _FILE_NAME.search(value.strip()))


def _with_nested_fields(record: dict[Any, Any]) -> dict[Any, Any]:
    """The record with the fields of a nested `fields` object lifted beside its own
    (its own win); what is not used then goes to `extra` field by field, not twice."""
    nested = {key: value for key, value in record.items() if field_key(key) in NESTED_FIELDS and isinstance(value, dict)}
    if not nested:
        return record
    lifted = {key: value for key, value in record.items() if key not in nested}
    own = {field_key(key) for key in lifted}
    for inner in nested.values():
        for key, value in inner.items():
            if field_key(key) not in own:
                lifted[key] = value
                own.add(field_key(key))
    return lifted


def _json_constant(name: str) -> None:
    # NaN and Infinity are not JSON; keeping them would make `extra` unserialisable.
    return None


def _loads(text: str) -> Any:
    try:
        return json.loads(text, parse_constant=_json_constant)
    except json.JSONDecodeError:
        raise
    except (RecursionError, ValueError) as exc:
        # Thousands of nested brackets or an integer of thousands of digits: a problem
        # of this record, not of the rest of the file.
        message = "nesting too deep" if isinstance(exc, RecursionError) else one_line(exc)
        raise json.JSONDecodeError(message, text[:DETAIL_PROBE_CHARS], 0) from None


def _record_array(document: dict[Any, Any]) -> list[Any] | None:
    """The array of records in an API response: `{"articles": [...]}` (also beside a
    feed's own `description`, as in JSON Feed), or one level down in a document that is
    not an article itself, `{"response": {"results": [...]}}`; else None."""
    fields = _fields_by_key(document)
    is_article = _first_present(fields, TEXT_FIELDS) is not None
    array = _array_field(fields)
    if array is not None and (array or not is_article):  # an article's own empty "data": [] holds no records
        return array
    if is_article:
        return None
    nested = (_array_field(_fields_by_key(value)) for value in document.values() if isinstance(value, dict))
    return next((array for array in nested if array is not None), None)


def _array_field(fields: Mapping[str, tuple[str, Any]]) -> list[Any] | None:
    """An array of objects under one of ARRAY_FIELDS (`"data": [1, 2]` holds no records)."""
    for name in ARRAY_FIELDS:
        value = fields.get(field_key(name), (name, None))[1]
        if isinstance(value, list) and (not value or isinstance(value[0], dict)):
            return value
    return None


def read_json(file: InputFile, settings: Settings) -> Iterator[RawArticle | Reject]:
    """A `.json` file: an article object, an array of them, or an API response holding
    the array (`{"articles": [...]}`, `{"response": {"results": [...]}}`)."""
    try:
        document = _loads(read_text(file, settings))
    except json.JSONDecodeError as exc:
        raise InputRejected(RejectReason.PARSE_ERROR, f"invalid JSON: {exc}") from exc
    if isinstance(document, dict):
        array = _record_array(document)
        records = array if array is not None else [document]
    elif isinstance(document, list):
        records = document
    else:
        raise InputRejected(
            RejectReason.BAD_RECORD,
            f"top level is a JSON {type(document).__name__}, expected an object or an array",
        )
    if not records:
        raise InputRejected(RejectReason.EMPTY, "no records")
    for index, record in enumerate(records):
        yield article_from_record(record, file.relative, "json", index, settings)


def read_jsonl(file: InputFile, settings: Settings) -> Iterator[RawArticle | Reject]:
    """A `.jsonl` file: one object per line; `record` is the 0-based line number."""
    seen_record = False
    with open_input(file, settings) as stream:
        sample, complete = peek_sample(stream)
        encoding = sniff_encoding(sample, complete)
        for index, line in enumerate(iter_lines(stream, encoding, settings.max_record_bytes)):
            if isinstance(line, InputRejected):
                seen_record = True
                yield Reject(file.relative, index, line.reject_reason, line.detail)
                continue
            if not line.strip():
                continue
            seen_record = True
            try:
                record = _loads(line)
            except json.JSONDecodeError as exc:
                yield Reject(
                    file.relative, index, RejectReason.PARSE_ERROR, one_line(f"invalid JSON: {exc}")
                )
                continue
            yield article_from_record(record, file.relative, "jsonl", index, settings)
    if not seen_record:
        raise InputRejected(RejectReason.EMPTY, "no records, only blank lines")


def _sniff_delimiter(sample: str) -> str:
    header = sample.split("\n", 1)[0]
    try:
        delimiter = csv.Sniffer().sniff(sample, delimiters=CSV_DELIMITERS).delimiter
    except csv.Error:
        delimiter = ""
    if delimiter and delimiter in header:
        return delimiter
    # Header names rarely contain a delimiter, so the commonest candidate there wins.
    return max(CSV_DELIMITERS, key=header.count)


def _excel_separator(sample: str) -> str | None:
    """The delimiter an Excel export declares on its first line (`sep=;`), which is no row."""
    match = _EXCEL_SEPARATOR.match(sample.lstrip("\ufeff"))
    return match.group(1) if match else None


_EXCEL_SEPARATOR = re.compile(r"sep=([^\n])[ \t]*(?:\n|$)", re.IGNORECASE)


def _sample_text(sample: bytes, encoding: str, complete: bool) -> str:
    text = sample.decode(encoding, errors="replace")
    if not complete and "\n" in text:
        text = text[: text.rindex("\n") + 1]
    return text.replace("\r\n", "\n")


def _strict_lines(lines: Iterator[str | InputRejected]) -> Iterator[str]:
    # A CSV row can span lines, so an over-long line cannot be skipped on its own.
    for line in lines:
        if isinstance(line, InputRejected):
            raise line
        yield line


def _allow_long_fields(max_record_bytes: int) -> None:
    # The csv module's field limit is process-wide; only ever raise it.
    if csv.field_size_limit() < max_record_bytes:
        csv.field_size_limit(max_record_bytes)


def _blank(row: list[str]) -> bool:
    return not any(field.strip() for field in row)


def read_csv(file: InputFile, settings: Settings) -> Iterator[RawArticle | Reject]:
    """A `.csv` or `.tsv` file with a header row (after Excel's `sep=` line, if any);
    `record` is the 0-based data row number."""
    _allow_long_fields(settings.max_record_bytes)
    source = file.relative
    with open_input(file, settings) as stream:
        sample, complete = peek_sample(stream)
        encoding = sniff_encoding(sample, complete)
        sample_text = _sample_text(sample, encoding, complete)
        declared = _excel_separator(sample_text)
        delimiter = declared or _sniff_delimiter(sample_text)
        lines = _strict_lines(iter_lines(stream, encoding, settings.max_record_bytes))
        if declared:
            next(lines, None)
        # strict: a quote left open must be an error, not swallow the rows after it.
        rows = csv.reader(lines, delimiter=delimiter, strict=True)
        header = next((row for row in rows if not _blank(row)), None)
        if header is None:
            raise InputRejected(RejectReason.EMPTY, "no header row")
        header = [name.strip().lstrip("\ufeff") for name in header]
        index = 0
        while True:
            try:
                row = next(rows)
            except StopIteration:
                break
            except csv.Error as exc:
                yield Reject(source, index, RejectReason.PARSE_ERROR, one_line(f"CSV: {exc}"))
                index += 1
                continue
            except InputRejected as exc:
                exc.record = index
                raise
            if _blank(row):
                continue
            if len(row) != len(header):
                detail = f"row has {len(row)} fields, the header has {len(header)}"
                yield Reject(source, index, RejectReason.BAD_RECORD, detail)
            else:
                record = dict(zip(header, row, strict=True))
                yield article_from_record(record, source, "csv", index, settings)
            index += 1
    if index == 0:
        raise InputRejected(RejectReason.EMPTY, "a header row and no records")
