"""News feeds (`.xml`, `.rss`, `.atom`): each RSS item or Atom entry is one article,
its HTML summary or content reduced to paragraphs. Documents declaring entities are
refused before any parser expands them; XML that is not a feed is a parse error.
"""

from __future__ import annotations

import io
import re
import xml.sax
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from textpipe.config import Settings
from textpipe.ingest._bytes import InputFile, InputRejected, decode_text, read_all
from textpipe.ingest._dates import parse_datetime
from textpipe.ingest._markup import html_to_paragraphs
from textpipe.ingest.text import split_paragraphs, split_section
from textpipe.records import RawArticle, Reject, RejectReason

_ENTITY_DECLARATION = re.compile(r"<!ENTITY", re.IGNORECASE)
_PLAIN_TYPES = frozenset({"text/plain", "text"})


# Expat errors that only occur when the document stops early: a truncated file.
_PREMATURE_END = ("no element found", "unclosed token", "unclosed cdata section", "partial character")
_ENTRY_ELEMENTS = frozenset({"item", "entry"})


class _RootName(xml.sax.ContentHandler):
    """Remembers the root element's name and counts complete entries; builds nothing,
    so checking is cheap."""

    def __init__(self) -> None:
        super().__init__()
        self.root: str | None = None
        self.complete_entries = 0

    def startElement(self, name: str, attrs: Any) -> None:  # noqa: N802 (SAX API)
        if self.root is None:
            self.root = name

    def endElement(self, name: str) -> None:  # noqa: N802 (SAX API)
        if name.rpartition(":")[2].lower() in _ENTRY_ELEMENTS:
            self.complete_entries += 1


@dataclass(frozen=True)
class XmlCheck:
    """What the safety check learnt: the root element (None when malformed) and, for a
    truncated file, how many entries ended before the cut (the rest are partial)."""

    root: str | None
    complete_entries: int | None = None


def _unsafe_detail(exc: Exception) -> str:
    if (name := getattr(exc, "name", None)) is not None:
        return f"the DTD declares entity {name!r}; entity declarations are refused"
    if (system_id := getattr(exc, "system_id", None)) is not None:
        return f"external reference {system_id!r} is refused"
    return f"{type(exc).__name__}: {exc}"


def check_xml_safety(data: bytes, text: str) -> XmlCheck:
    """Refuse DTD entity declarations (entity-expansion bombs, external entities);
    `text` is `data` decoded, to find a declaration in any encoding."""
    import defusedxml.sax
    from defusedxml import DefusedXmlException

    handler = _RootName()
    try:
        defusedxml.sax.parseString(
            data, handler, forbid_dtd=False, forbid_entities=True, forbid_external=True
        )
    except DefusedXmlException as exc:
        raise InputRejected(RejectReason.UNSAFE_XML, _unsafe_detail(exc)) from exc
    except xml.sax.SAXException as exc:
        # Feedparser has a lenient fallback for malformed feeds; make sure a declaration
        # hidden behind the syntax error cannot reach it.
        if _ENTITY_DECLARATION.search(text):
            raise InputRejected(
                RejectReason.UNSAFE_XML, "ENTITY declaration in a malformed document"
            ) from None
        truncated = str(exc.getMessage()).lower().startswith(_PREMATURE_END)
        return XmlCheck(None, handler.complete_entries if truncated else None)
    return XmlCheck(handler.root)


def _as_utc(struct: Any) -> datetime | None:
    try:
        return datetime(*struct[:6], tzinfo=UTC)
    except (TypeError, ValueError):
        return None


def entry_published(entry: Any) -> tuple[datetime | None, str | None]:
    """(UTC datetime, raw text kept when it could not be parsed)."""
    for key in ("published", "updated"):
        parsed = entry.get(f"{key}_parsed")
        if parsed and (moment := _as_utc(parsed)) is not None:
            return moment, None
        raw = entry.get(key)
        if raw:
            moment = parse_datetime(raw)
            return (moment, None) if moment is not None else (None, raw)
    return None, None


def _detail_text(value: str, content_type: str | None) -> str:
    if (content_type or "").lower() in _PLAIN_TYPES:
        return "\n\n".join(split_paragraphs(value))
    return html_to_paragraphs(value)


def _one_line(value: str | None, detail: Any) -> str:
    """A title as plain text: an HTML title (RSS titles are, to feedparser) loses its tags
    and character references, a plain one (Atom `type="text"`) is kept as written."""
    return " ".join(_detail_text(value or "", (detail or {}).get("type")).split())


def entry_title(entry: Any) -> str:
    return _one_line(entry.get("title"), entry.get("title_detail"))


def feed_title(parsed: Any) -> str | None:
    return _one_line(parsed.feed.get("title"), parsed.feed.get("title_detail")) or None


def entry_publisher(entry: Any, outlet: str | None) -> str | None:
    """An aggregator's entry names the outlet it comes from (RSS <source>); else the feed's outlet."""
    return _one_line((entry.get("source") or {}).get("title"), None) or outlet


def entry_text(entry: Any) -> str:
    """The longest of the entry's contents and summary, as paragraphs."""
    candidates = [(item.get("value") or "", item.get("type")) for item in entry.get("content", [])]
    summary = entry.get("summary_detail") or {}
    candidates.append((entry.get("summary") or "", summary.get("type")))
    texts = [_detail_text(value, kind) for value, kind in candidates if value.strip()]
    return max(texts, key=len, default="")


def _entry_article(
    entry: Any, index: int, source: str, source_format: str, feed_title: str | None,
    outlet: str | None, feed_section: str | None, settings: Settings,
) -> RawArticle | Reject:  # fmt: skip
    text = entry_text(entry)
    if len(text) < settings.min_text_chars:
        return Reject(
            source, index, RejectReason.NO_TEXT,
            f"entry text has {len(text)} characters (min_text_chars={settings.min_text_chars})",
        )  # fmt: skip
    published_at, raw_date = entry_published(entry)
    terms = [tag.get("term") for tag in entry.get("tags", []) if tag.get("term")]
    extra: dict[str, Any] = {}
    if feed_title:
        extra["feed_title"] = feed_title
    if terms:
        extra["categories"] = terms
    if raw_date:
        extra["published_at_raw"] = raw_date
    title = entry_title(entry)
    return RawArticle(
        source=source,
        source_format=source_format,
        record=index,
        title=title,
        text=text,
        url=entry.get("link") or None,
        published_at=published_at,
        section=terms[0] if terms else feed_section,
        author=entry.get("author") or None,
        source_id=entry.get("id") or None,
        publisher=entry_publisher(entry, outlet),
        extra=extra,
    )


def read_feed(file: InputFile, settings: Settings) -> Iterator[RawArticle | Reject]:
    """Every entry of an RSS or Atom file; `record` is the entry's position."""
    import feedparser  # slow to import: only when a feed file is met

    data = read_all(file, settings)
    text = decode_text(data)  # empty / binary / undecodable files are rejected as for text
    check = check_xml_safety(data, text)
    # A stream, never a string: feedparser fetches strings that look like URLs.
    try:
        parsed = feedparser.parse(io.BytesIO(data), resolve_relative_uris=False, sanitize_html=True)
    except UnicodeEncodeError as exc:
        # Feedparser fails on a character reference to a surrogate (&#xD800;): no text.
        raise InputRejected(RejectReason.PARSE_ERROR, f"invalid character reference: {exc}") from exc
    malformed = not parsed.entries and parsed.get("bozo")
    if malformed:
        raise InputRejected(RejectReason.PARSE_ERROR, f"malformed feed: {parsed.get('bozo_exception')}")
    if not parsed.get("version"):
        # Feedparser takes any <item> for an entry, even in an XML file that is no feed.
        raise InputRejected(
            RejectReason.PARSE_ERROR, f"not an RSS or Atom feed (root element <{check.root}>)"
        )
    if not parsed.entries:
        raise InputRejected(RejectReason.NO_TEXT, "the feed has no entries")
    source_format = "atom" if parsed.version.startswith("atom") else "rss"
    title_of_feed = feed_title(parsed)
    # "Northern Ledger – World": the outlet publishes, the feed is one of its sections.
    outlet, feed_section = split_section(title_of_feed) if title_of_feed else (None, None)
    for index, entry in enumerate(parsed.entries):
        if check.complete_entries is not None and index >= check.complete_entries:
            # Feedparser keeps the part of an entry before the cut: a partial article.
            detail = "the file ends inside this entry (truncated feed)"
            yield Reject(file.relative, index, RejectReason.PARSE_ERROR, detail)
            continue
        yield _entry_article(entry, index, file.relative, source_format, title_of_feed, outlet, feed_section, settings)
