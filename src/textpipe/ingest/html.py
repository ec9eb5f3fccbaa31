"""Web pages (`.html`, `.htm`): trafilatura finds the main text (dropping navigation,
headers, footers and comments) and the metadata (title, date, URL, author, site name).
The page is parsed only: nothing is rendered and nothing is fetched.

A page fetched by `textpipe fetch` comes with a metadata sidecar (see `sidecar`): its
URL, title, date, author and publisher win over what the page says, and the feed's
text is used instead of the page's when it is longer (a paywall's stub page).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from textpipe.config import Settings
from textpipe.ingest._bytes import InputFile, InputRejected, decode_text, read_all, read_text
from textpipe.ingest._dates import parse_datetime
from textpipe.ingest.sidecar import PageMetadata, read_sidecar
from textpipe.records import RawArticle, Reject, RejectReason

# Keep the time of day and the offset, not just the date htmldate returns by default;
# skip its guesses from free text, which misdate pages that mention other dates.
_DATE_PARAMS = {
    "original_date": True,
    "extensive_search": False,
    "outputformat": "%Y-%m-%dT%H:%M:%S%z",
}


def _extract(page: str) -> Any:
    import trafilatura  # slow to import: only when an HTML file is met

    return trafilatura.bare_extraction(
        page,
        with_metadata=True,
        include_comments=False,
        include_tables=True,
        date_extraction_params=dict(_DATE_PARAMS),
    )


def parse_html(page: str, source: str, settings: Settings, metadata: PageMetadata | None = None) -> RawArticle | Reject:
    """One article from a decoded HTML page (and its fetch metadata, if any)."""
    document = _extract(page)
    lines = (document.text or "").split("\n") if document is not None else []
    paragraphs = [para for line in lines if (para := " ".join(line.split()))]
    title = " ".join((document.title or "").split()) if document is not None else ""
    if paragraphs and paragraphs[0].casefold() == title.casefold():
        del paragraphs[0]  # the page's <h1>, already kept as the title
    text = "\n\n".join(paragraphs)
    meta = metadata or PageMetadata()
    extra: dict[str, Any] = {}
    if meta.text and len(meta.text) > len(text):
        text = meta.text
        extra["text_from"] = "feed"
    if len(text) < settings.min_text_chars:
        return Reject(
            source, None, RejectReason.NO_TEXT,
            f"main text has {len(text)} characters (min_text_chars={settings.min_text_chars})",
        )  # fmt: skip
    extra |= {
        key: value
        for key in ("sitename", "hostname", "description", "language", "tags")
        if (value := getattr(document, key, None))
    }
    raw_date = meta.published or (document.date if document is not None else None)
    published_at = parse_datetime(raw_date) if raw_date else None
    if raw_date and published_at is None:
        extra["published_at_raw"] = raw_date
    categories = (document.categories if document is not None else None) or list(meta.categories)
    if meta.categories:
        extra["categories"] = list(meta.categories)
    extra |= meta.extra
    return RawArticle(
        source=source,
        source_format="html",
        record=0,
        title=" ".join(meta.title.split()) if meta.title else title,
        text=text,
        url=meta.url or (document.url if document is not None else None) or None,
        published_at=published_at,
        section=categories[0] if categories else meta.section,
        author=meta.author or (document.author if document is not None else None) or None,
        publisher=meta.publisher or (document.sitename or document.hostname if document is not None else None) or None,
        extra=extra,
    )


def _decode_page(file: InputFile, settings: Settings, charset: str | None) -> str:
    """The page's text: in the charset its server declared (what a browser does), else as any file."""
    if charset is None:
        return read_text(file, settings, one_record=True)
    data = read_all(file, settings, one_record=True)
    if data[:3] == b"\xef\xbb\xbf" or data[:2] in (b"\xff\xfe", b"\xfe\xff"):
        return decode_text(data)  # a byte-order mark outranks the header
    try:
        return data.decode(charset)
    except (LookupError, UnicodeDecodeError):
        return decode_text(data)


def read_html(file: InputFile, settings: Settings) -> Iterator[RawArticle | Reject]:
    metadata = read_sidecar(file.metadata, settings) if file.metadata is not None else None
    page = _decode_page(file, settings, metadata.charset if metadata else None)
    if not page.strip():
        raise InputRejected(RejectReason.EMPTY, "file holds only whitespace")
    yield parse_html(page, file.relative, settings, metadata)
