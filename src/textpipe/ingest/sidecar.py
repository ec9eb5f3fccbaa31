"""Metadata sidecars: `page.html.meta.json` beside a fetched `page.html` carries what the
feed or sitemap said about the page (its URL, title, date, author, publisher, and the
feed's own text) and how it was fetched. `discover` attaches a sidecar to its page and
never reads it as an article; the HTML reader merges it into the page's article.

`textpipe fetch` writes the sidecar before the page, each atomically, so a page is never
seen without its metadata. A sidecar whose page is missing is ignored.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from textpipe.config import Settings
from textpipe.ingest._bytes import InputRejected
from textpipe.records import RejectReason

SIDECAR_SUFFIX = ".meta.json"
PAGE_SUFFIXES = (".html", ".htm")
SIDECAR_FORMAT = "textpipe-fetch/1"


def page_name_of(sidecar_name: str) -> str | None:
    """`"x.html.meta.json"` -> `"x.html"`; None if the name is not a page's sidecar."""
    if not sidecar_name.lower().endswith(SIDECAR_SUFFIX):
        return None
    page = sidecar_name[: -len(SIDECAR_SUFFIX)]
    return page if page.lower().endswith(PAGE_SUFFIXES) else None


def sidecar_name_of(page_name: str) -> str:
    return page_name + SIDECAR_SUFFIX


@dataclass(frozen=True)
class PageMetadata:
    """What a sidecar holds; every field may be missing."""

    url: str | None = None
    title: str | None = None
    published: str | None = None
    author: str | None = None
    publisher: str | None = None  # the outlet
    section: str | None = None    # the feed's section, when its title names one ("Outlet – World")
    categories: tuple[str, ...] = ()
    text: str | None = None       # the feed's text for the page (paragraphs)
    charset: str | None = None    # what the server declared in Content-Type
    extra: dict[str, Any] = field(default_factory=dict)  # kept in the article's extra


_STRING_FIELDS = ("url", "title", "published", "author", "publisher", "section", "text", "charset")
_EXTRA_FIELDS = ("feed_title", "listed_url", "listed_in", "fetched_at", "lastmod", "entry_id")


def read_sidecar(path: Path, settings: Settings) -> PageMetadata:
    """Read a sidecar; an unusable one is an InputRejected (the page is rejected with it, so
    that it is read again, with its metadata, once the sidecar is mended)."""
    try:
        with open(path, "rb") as handle:
            data = handle.read(settings.max_record_bytes + 1)
    except OSError as exc:
        raise InputRejected(RejectReason.UNREADABLE, f"metadata sidecar {path.name}: {exc.strerror or exc}") from None
    if len(data) > settings.max_record_bytes:
        raise InputRejected(RejectReason.TOO_LARGE, f"metadata sidecar {path.name} exceeds max_record_bytes={settings.max_record_bytes}")
    try:
        document = json.loads(data)
    except (ValueError, RecursionError) as exc:
        raise InputRejected(RejectReason.PARSE_ERROR, f"metadata sidecar {path.name}: invalid JSON: {exc}") from None
    if not isinstance(document, dict) or document.get("format") != SIDECAR_FORMAT:
        raise InputRejected(RejectReason.PARSE_ERROR, f"metadata sidecar {path.name}: not a {SIDECAR_FORMAT} object")
    strings = {name: value for name in _STRING_FIELDS if isinstance(value := document.get(name), str) and value.strip()}
    categories = document.get("categories")
    return PageMetadata(
        **strings,
        categories=tuple(c for c in categories if isinstance(c, str)) if isinstance(categories, list) else (),
        extra={name: document[name] for name in _EXTRA_FIELDS if document.get(name) not in (None, "")},
    )


def sidecar_document(**fields: Any) -> dict[str, Any]:
    """The JSON object `textpipe fetch` writes (empty fields left out)."""
    return {"format": SIDECAR_FORMAT, **{k: v for k, v in fields.items() if v not in (None, "", [], ())}}
