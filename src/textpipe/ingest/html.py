"""Web pages (`.html`, `.htm`): trafilatura finds the main text (dropping navigation,
headers, footers and comments) and the metadata (title, date, URL, author, site name).
The page is parsed only: nothing is rendered and nothing is fetched.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from textpipe.config import Settings
from textpipe.ingest._bytes import InputFile, read_text
from textpipe.ingest._dates import parse_datetime
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


def parse_html(page: str, source: str, settings: Settings) -> RawArticle | Reject:
    """One article from a decoded HTML page."""
    document = _extract(page)
    lines = (document.text or "").split("\n") if document is not None else []
    paragraphs = [para for line in lines if (para := " ".join(line.split()))]
    title = " ".join((document.title or "").split()) if document is not None else ""
    if paragraphs and paragraphs[0].casefold() == title.casefold():
        del paragraphs[0]  # the page's <h1>, already kept as the title
    text = "\n\n".join(paragraphs)
    if len(text) < settings.min_text_chars:
        return Reject(
            source, None, RejectReason.NO_TEXT,
            f"main text has {len(text)} characters (min_text_chars={settings.min_text_chars})",
        )  # fmt: skip
    extra = {
        key: value
        for key in ("sitename", "hostname", "description", "language", "tags")
        if (value := getattr(document, key, None))
    }
    published_at = parse_datetime(document.date) if document.date else None
    if document.date and published_at is None:
        extra["published_at_raw"] = document.date
    categories = document.categories or []
    return RawArticle(
        source=source,
        source_format="html",
        record=0,
        title=title,
        text=text,
        url=document.url or None,
        published_at=published_at,
        section=categories[0] if categories else None,
        author=document.author or None,
        publisher=document.sitename or document.hostname or None,
        extra=extra,
    )


def read_html(file: InputFile, settings: Settings) -> Iterator[RawArticle | Reject]:
    yield parse_html(read_text(file, settings, one_record=True), file.relative, settings)
