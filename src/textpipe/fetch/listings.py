"""What a feed, a sitemap or a site's home page lists: entries (page URL and whatever
metadata the listing gives) and further listings (a sitemap index's sitemaps, a
site's feeds). Parsing only; fetching is the caller's.

Feeds: feedparser for RSS and Atom (after the same entity-declaration check ingest
applies), JSON Feed by its specification. Sitemaps: lxml without entity expansion or
network, with news-sitemap metadata; gzipped sitemaps are inflated with a cap. Sites:
trafilatura's feed discovery on the home page, and the `Sitemap:` lines of robots.txt.
"""

from __future__ import annotations

import io
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urldefrag, urljoin

from textpipe.fetch.decoding import decoder_for
from textpipe.fetch.problems import FetchProblem
from textpipe.fetch.sources import url_problem

SITEMAP_NS = "http://www.sitemaps.org/schemas/sitemap/0.9"
NEWS_NS = "http://www.google.com/schemas/sitemap-news/0.9"
MAX_SITE_FEEDS = 5


@dataclass(frozen=True)
class Entry:
    """One page a listing names, with the metadata the listing gives for it."""

    url: str
    title: str | None = None
    published: str | None = None     # ISO 8601 in UTC when the listing's date was read, else as written
    author: str | None = None
    publisher: str | None = None     # the outlet: the feed's title (without a section suffix), a news sitemap's publication
    section: str | None = None       # the section a feed's title names ("Outlet – World")
    feed_title: str | None = None
    categories: tuple[str, ...] = ()
    entry_id: str | None = None
    text: str | None = None          # the feed's own text for the entry (paragraphs), used when the page cannot be
    listing: str | None = None       # the feed or sitemap that listed it
    lastmod: str | None = None       # a sitemap's <lastmod>

    def metadata(self) -> dict[str, Any]:
        return {k: (list(v) if isinstance(v, tuple) else v) for k, v in self.__dict__.items() if v not in (None, (), "")}

    @classmethod
    def from_metadata(cls, data: dict[str, Any]) -> Entry:
        known = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        if "categories" in known:
            known["categories"] = tuple(known["categories"])
        return cls(**known)


@dataclass
class Listing:
    entries: list[Entry] = field(default_factory=list)
    listings: list[tuple[str, str | None]] = field(default_factory=list)  # (sitemap URL, its <lastmod>) of an index
    title: str | None = None
    skipped: int = 0  # entries without a usable http(s) URL


def absolute(base: str, link: str | None) -> str | None:
    """`link` resolved against `base`, without its fragment; None unless it is a fetchable http(s) URL."""
    if not link or not isinstance(link, str):
        return None
    url = urldefrag(urljoin(base, link.strip())).url
    return url if url_problem(url) is None else None


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _xml_safety(body: bytes) -> None:
    from textpipe.ingest._bytes import InputRejected
    from textpipe.ingest.feeds import check_xml_safety

    try:
        check_xml_safety(body, body.decode("utf-8", errors="replace"))
    except InputRejected as exc:
        raise FetchProblem("unsafe_xml", exc.detail) from None


def parse_feed(body: bytes, url: str) -> Listing:
    """The entries of an RSS, Atom or JSON feed; FetchProblem `not_a_feed` if it is none of them."""
    if body.lstrip()[:1] == b"{":
        return _parse_json_feed(body, url)
    import feedparser

    from textpipe.ingest.feeds import entry_published, entry_publisher, entry_text, entry_title, feed_title
    from textpipe.ingest.text import split_section

    _xml_safety(body)
    parsed = feedparser.parse(io.BytesIO(body), resolve_relative_uris=False, sanitize_html=True)
    if not parsed.get("version"):
        raise FetchProblem("not_a_feed", f"{url} is not an RSS, Atom or JSON feed ({parsed.get('bozo_exception') or 'no feed element'})")
    listing = Listing(title=feed_title(parsed))
    # As ingest reads a feed file: "Outlet – World" is the outlet's World section.
    outlet, section = split_section(listing.title) if listing.title else (None, None)
    for item in parsed.entries:
        link = absolute(url, item.get("link") or (item.get("id") if str(item.get("id", "")).startswith("http") else None))
        if link is None:
            listing.skipped += 1
            continue
        moment, raw_date = entry_published(item)
        authors = item.get("author") or ", ".join(a.get("name", "") for a in item.get("authors", []) if a.get("name")) or None
        listing.entries.append(Entry(
            url=link, title=entry_title(item) or None, published=_iso(moment) if moment else raw_date, author=authors,
            publisher=entry_publisher(item, outlet), section=section, feed_title=listing.title, categories=tuple(t.get("term") for t in item.get("tags", []) if t.get("term")),
            entry_id=item.get("id") or None, text=entry_text(item) or None, listing=url,
        ))
    return listing


def _json_author(item: dict[str, Any]) -> str | None:
    authors = item.get("authors") or ([item["author"]] if isinstance(item.get("author"), dict) else [])
    names = [a.get("name") for a in authors if isinstance(a, dict) and isinstance(a.get("name"), str)]
    return ", ".join(names) or None


def _parse_json_feed(body: bytes, url: str) -> Listing:
    from textpipe.ingest._markup import html_to_paragraphs
    from textpipe.ingest.text import split_paragraphs

    try:
        document = json.loads(body)
    except (ValueError, RecursionError) as exc:
        raise FetchProblem("not_a_feed", f"{url}: invalid JSON: {exc}") from None
    if not isinstance(document, dict) or "jsonfeed.org" not in str(document.get("version", "")) or not isinstance(document.get("items"), list):
        raise FetchProblem("not_a_feed", f"{url} is JSON but not a JSON Feed (no jsonfeed.org version and items list)")
    from textpipe.ingest.text import split_section

    title = document.get("title") if isinstance(document.get("title"), str) else None
    listing = Listing(title=title)
    outlet, section = split_section(title) if title else (None, None)
    for item in document["items"]:
        link = absolute(url, item.get("url") or item.get("external_url")) if isinstance(item, dict) else None
        if link is None:
            listing.skipped += 1
            continue
        if isinstance(item.get("content_html"), str) and item["content_html"].strip():
            text = html_to_paragraphs(item["content_html"])
        else:
            plain = next((item[k] for k in ("content_text", "summary") if isinstance(item.get(k), str) and item[k].strip()), "")
            text = "\n\n".join(split_paragraphs(plain))
        tags = tuple(t for t in item.get("tags", []) if isinstance(t, str)) if isinstance(item.get("tags"), list) else ()
        listing.entries.append(Entry(
            url=link, title=item.get("title") if isinstance(item.get("title"), str) else None,
            published=item.get("date_published") if isinstance(item.get("date_published"), str) else None,
            author=_json_author(item), publisher=outlet, section=section, feed_title=title, categories=tags,
            entry_id=str(item["id"]) if item.get("id") is not None else None, text=text or None, listing=url,
        ))
    return listing


def _inflate(body: bytes, max_bytes: int, url: str) -> bytes:
    """A gzipped sitemap file (`sitemap.xml.gz`, served as is) inflated, within `max_bytes`."""
    if body[:2] != b"\x1f\x8b":
        return body
    out = bytearray()
    for piece in decoder_for("gzip").feed(body):
        out += piece
        if len(out) > max_bytes:
            raise FetchProblem("too_large", f"{url}: more than max_bytes={max_bytes} once gunzipped; cut off")
    return bytes(out)


def _text(element: Any, path: str) -> str | None:
    found = element.find(path, {"s": SITEMAP_NS, "n": NEWS_NS})
    return " ".join(found.text.split()) if found is not None and found.text and found.text.strip() else None


def parse_sitemap(body: bytes, url: str, max_bytes: int) -> Listing:
    """A sitemap index's sitemaps, or a sitemap's pages (news sitemaps with their title,
    date and publication); a plain-text sitemap is one URL per line."""
    body = _inflate(body, max_bytes, url)
    head = body.lstrip()[:1]
    if head != b"<":
        return _parse_text_sitemap(body, url)
    from lxml import etree

    _xml_safety(body)
    parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False)
    try:
        root = etree.fromstring(body, parser)
    except etree.XMLSyntaxError as exc:
        raise FetchProblem("not_a_sitemap", f"{url}: {exc}") from None
    kind = etree.QName(root).localname
    listing = Listing()
    if kind == "sitemapindex":
        for child in root.iter(f"{{{SITEMAP_NS}}}sitemap", "sitemap"):
            loc = absolute(url, _text(child, "s:loc") or _text(child, "loc"))
            if loc:
                listing.listings.append((loc, _text(child, "s:lastmod") or _text(child, "lastmod")))
        return listing
    if kind != "urlset":
        raise FetchProblem("not_a_sitemap", f"{url}: root element <{kind}> is neither <urlset> nor <sitemapindex>")
    for node in root.iter(f"{{{SITEMAP_NS}}}url", "url"):
        loc = absolute(url, _text(node, "s:loc") or _text(node, "loc"))
        if loc is None:
            listing.skipped += 1
            continue
        keywords = _text(node, "n:news/n:keywords")
        listing.entries.append(Entry(
            url=loc, title=_text(node, "n:news/n:title"), published=_text(node, "n:news/n:publication_date"),
            publisher=_text(node, "n:news/n:publication/n:name"),
            categories=tuple(k.strip() for k in keywords.split(",") if k.strip()) if keywords else (),
            listing=url, lastmod=_text(node, "s:lastmod") or _text(node, "lastmod"),
        ))
    return listing


def _parse_text_sitemap(body: bytes, url: str) -> Listing:
    text = body.decode("utf-8", errors="replace")
    if "<html" in text[:500].lower():
        raise FetchProblem("not_a_sitemap", f"{url} is an HTML page, not a sitemap")
    listing = Listing()
    for line in text.splitlines():
        if not line.strip():
            continue
        loc = absolute(url, line.strip())
        if loc is None:
            listing.skipped += 1
        else:
            listing.entries.append(Entry(url=loc, listing=url))
    if not listing.entries:
        raise FetchProblem("not_a_sitemap", f"{url} lists no http(s) URL")
    return listing


def site_feeds(page: bytes, url: str) -> list[str]:
    """Feeds a site's home page links to (trafilatura's discovery), at most MAX_SITE_FEEDS."""
    from courlan import get_hostinfo
    from trafilatura.feeds import FeedParameters, determine_feed

    domain, base = get_hostinfo(url)
    html = page.decode("utf-8", errors="replace")
    found = determine_feed(html, FeedParameters(base, domain or "", url))
    return [link for link in dict.fromkeys(absolute(url, f) for f in found) if link][:MAX_SITE_FEEDS]


def site_sitemap_guesses(url: str) -> list[str]:
    """Where sitemaps usually are, when neither robots.txt nor the home page says (trafilatura's list)."""
    from trafilatura.sitemaps import GUESSES

    return [u for u in (absolute(url, "/" + guess) for guess in GUESSES) if u]
