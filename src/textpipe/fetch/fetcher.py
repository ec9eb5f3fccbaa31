"""One fetch run: for each source, read its listings (feeds, sitemaps, sites' feeds or
sitemaps, single URLs), record every page not seen before in the manifest, and fetch
the pending ones, newest first, into the raw folder.

`FetchRun` holds what the run's sources share (the client with its host gates and
robots cache, the manifest, the lock on the raw folder); `fetch_source` does one
source and returns its `SourceReport`. Runs on one raw folder never overlap.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import secrets
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from textpipe.errors import OutputError
from textpipe.fetch import rawfiles
from textpipe.fetch.client import Fetched, PoliteClient, Validators
from textpipe.fetch.listings import Entry, Listing, parse_feed, parse_sitemap, site_feeds, site_sitemap_guesses
from textpipe.fetch.manifest import DUPLICATE, FAILED, FEED_TEXT, FINAL_STATES, MAX_ATTEMPTS, ROBOTS, Manifest, PageRow, SavedPage, file_stem, now_iso, url_key
from textpipe.fetch.problems import FetchProblem
from textpipe.fetch.safety import Resolver, system_resolver
from textpipe.fetch.sources import Source, SourcesFile
from textpipe.ingest.sidecar import sidecar_document

log = logging.getLogger(__name__)

PAGE_ACCEPT = "text/html,application/xhtml+xml;q=0.9,*/*;q=0.1"
LISTING_ACCEPT = "application/rss+xml,application/atom+xml,application/feed+json,application/xml;q=0.9,text/xml;q=0.9,*/*;q=0.1"
HTML_TYPES = frozenset({"text/html", "application/xhtml+xml"})
MAX_SITEMAP_DEPTH = 3          # an index of indexes of sitemaps, and no deeper
MAX_SITEMAPS_PER_SOURCE = 200  # sitemaps read per source per run
MAX_THREADS_PER_SOURCE = 16


class FetchLocked(OutputError):
    """Another fetch run is writing to the same raw folder."""


class SourceUnavailable(Exception):
    """None of a source's listings could be read. `transient`: for a passing reason
    (timeouts, connection errors, 5xx), worth trying again soon."""

    def __init__(self, report: SourceReport, transient: bool) -> None:
        errors = ", ".join(f"{kind}: {n}" for kind, n in sorted(report.errors.items())) or "robots.txt"
        super().__init__(f"source {report.source!r}: none of its {report.listings} listings could be read ({errors})")
        self.report = report
        self.transient = transient


@dataclass
class SourceReport:
    """What one source's fetch did; the run's artifact has one row of these per source."""

    source: str
    entries_seen: int = 0     # distinct pages listed this run
    new_pages: int = 0        # pages downloaded and saved
    feed_text: int = 0        # pages that could not be had, saved from the feed's text instead
    known: int = 0            # listed pages fetched (or given up) by an earlier run
    not_modified: int = 0     # listings unchanged since the last run (304, or the same <lastmod>)
    robots: int = 0           # pages and listings robots.txt disallows
    duplicates: int = 0       # pages listed twice, or redirecting to a page already saved
    pending: int = 0          # pages left for a later run (max_pages_per_source, or a passing error)
    recovered: int = 0        # pages an interrupted run saved but had not recorded
    listings: int = 0
    listings_failed: int = 0
    errors: Counter[str] = field(default_factory=Counter)
    seconds: float = 0.0

    def row(self) -> dict[str, Any]:
        return {
            "source": self.source, "entries seen": self.entries_seen, "new pages": self.new_pages,
            "from feed text": self.feed_text, "already fetched": self.known, "not modified": self.not_modified,
            "skipped by robots.txt": self.robots, "duplicates": self.duplicates, "left for later": self.pending,
            "errors": ", ".join(f"{kind}: {n}" for kind, n in sorted(self.errors.items())) or "none",
        }

    def as_dict(self) -> dict[str, Any]:
        return {**{k: v for k, v in self.__dict__.items() if k != "errors"}, "errors": dict(self.errors)}


# What each outcome of a page adds to its source's report.
_COUNTERS: dict[str, tuple[str, ...]] = {
    "new": ("new_pages",), "feed_text": ("feed_text",), "robots": ("robots",), "robots_feed_text": ("robots", "feed_text"),
    "duplicate": ("duplicates",), "pending": ("pending",), "recovered": ("recovered",), "failed": (),
}


@dataclass(frozen=True)
class _Outcome:
    result: str  # new, feed_text, robots, robots_feed_text, duplicate, pending, failed, recovered
    error: str | None = None


def new_run_id(suffix: str | None = None) -> str:
    return f"{datetime.now(UTC):%Y%m%dT%H%M%SZ}-{suffix or secrets.token_hex(4)}"


class FetchRun:
    """The shared state of one fetch run over `raw`; use as a context manager."""

    def __init__(self, raw: Path, sources_file: SourcesFile, run_id: str | None = None, resolver: Resolver = system_resolver) -> None:
        self.raw = Path(raw)
        self.sources_file = sources_file
        self.settings = sources_file.settings
        self.run_id = run_id or new_run_id()
        self._resolver = resolver
        self._lock_fd: int | None = None

    def __enter__(self) -> FetchRun:
        folder = rawfiles.fetch_dir(self.raw)
        folder.mkdir(parents=True, exist_ok=True)
        fd = os.open(folder / "lock", os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise FetchLocked(f"another textpipe fetch is writing to {self.raw}; this one did nothing") from None
        self._lock_fd = fd
        try:
            leftovers = rawfiles.clear_tmp(self.raw)
            if leftovers:
                log.warning("removed %d half-written files of an interrupted fetch", leftovers)
            self.manifest = Manifest(folder / "manifest.sqlite")
            self.manifest.start_run(self.run_id)
            self.client = PoliteClient(self.settings, self._resolver)
        except BaseException:
            self._release()
            raise
        if self.settings.contact_is_default:
            log.warning("the user agent still names example.org: set [fetch] user_agent in %s to a contact address of yours, "
                        "so that sites can reach you", self.sources_file.path)
        return self

    def __exit__(self, *exc: object) -> None:
        try:
            self.client.close()
            self.manifest.close()
        finally:
            self._release()

    def _release(self) -> None:
        if self._lock_fd is not None:
            os.close(self._lock_fd)  # closing the descriptor releases the flock
            self._lock_fd = None

    def finish(self, reports: list[SourceReport]) -> None:
        self.manifest.finish_run(self.run_id, {r.source: r.as_dict() for r in reports})

    # ------------------------------------------------------------ one source

    def fetch_source(self, source: Source) -> SourceReport:
        started = time.perf_counter()
        report = SourceReport(source.name)
        listed = self._read_listings(source, report)
        keys = Counter(url_key(entry.url) for entry in listed)
        report.entries_seen = len(keys)
        report.duplicates += sum(n - 1 for n in keys.values())
        states = self.manifest.known_states(list(keys))
        report.known = sum(1 for state in states.values() if state in FINAL_STATES)
        todo = self.manifest.pending(source.name)
        limit = self.settings.max_pages_per_source
        report.pending += max(0, len(todo) - limit)
        todo = todo[:limit]
        hosts = {urlsplit(row.url).netloc for row in todo}
        workers = max(1, min(MAX_THREADS_PER_SOURCE, self.settings.max_per_host * len(hosts)))
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix=f"fetch-{source.name}") as pool:
            for outcome in pool.map(lambda row: self._fetch_page(source, row), todo):
                self._count(report, outcome)
        report.seconds = time.perf_counter() - started
        log.info("%s: %d listed, %d new pages, %d from feed text, %d pending, errors %s", source.name, report.entries_seen,
                 report.new_pages, report.feed_text, report.pending, dict(report.errors) or "none")
        if report.listings and report.listings_failed == report.listings:
            transient = any(kind in _TRANSIENT_LISTING_ERRORS or kind.startswith("http_5") for kind in report.errors)
            raise SourceUnavailable(report, transient)
        return report

    @staticmethod
    def _count(report: SourceReport, outcome: _Outcome) -> None:
        if outcome.error is not None:
            report.errors[outcome.error] += 1
        for counter in _COUNTERS[outcome.result]:
            setattr(report, counter, getattr(report, counter) + 1)

    # ------------------------------------------------------------ listings

    def _read_listings(self, source: Source, report: SourceReport) -> list[Entry]:
        entries: list[Entry] = []
        sitemaps_read: set[str] = set()
        for url in source.feeds:
            entries += self._read_listing(source, url, "feed", report)
        for url in source.sitemaps:
            entries += self._read_sitemap(source, url, None, 0, sitemaps_read, report)
        for url in source.sites:
            entries += self._read_site(source, url, sitemaps_read, report)
        if source.urls:
            single = [Entry(url=url) for url in source.urls]
            self.manifest.record_listing(f"urls:{source.name}", source.name, "urls", "ok", single)
            entries += single
        return entries

    def _get_listing(self, source: Source, url: str, kind: str, report: SourceReport) -> Fetched | None:
        """The listing (a 304 counted as not modified), or None when it failed (counted, recorded)."""
        report.listings += 1
        previous = self.manifest.listing(url) or {}
        validators = Validators(previous.get("etag"), previous.get("last_modified"))
        try:
            fetched = self.client.get(url, source.allow_private, validators=validators, accept=LISTING_ACCEPT)
        except FetchProblem as problem:
            self._listing_failed(source, url, kind, problem, report)
            return None
        if fetched.not_modified:
            report.not_modified += 1
            self.manifest.record_listing(url, source.name, kind, "not_modified")
        return fetched

    def _listing_failed(self, source: Source, url: str, kind: str, problem: FetchProblem, report: SourceReport) -> None:
        report.listings_failed += 1
        if problem.kind == "robots":
            report.robots += 1
        else:
            report.errors[problem.kind] += 1
        log.warning("%s: %s %s: %s", source.name, kind, url, problem.detail)
        self.manifest.record_listing(url, source.name, kind, problem.kind)

    def _read_listing(self, source: Source, url: str, kind: str, report: SourceReport) -> list[Entry]:
        fetched = self._get_listing(source, url, kind, report)
        if fetched is None or fetched.not_modified:
            return []
        try:
            listing = parse_feed(fetched.body, fetched.final_url)
        except FetchProblem as problem:
            self._listing_failed(source, url, kind, problem, report)
            return []
        self._record(source, url, kind, fetched, listing)
        return listing.entries

    def _record(self, source: Source, url: str, kind: str, fetched: Fetched, listing: Listing, lastmod: str | None = None,
                found: list[str] | None = None) -> None:
        self.manifest.record_listing(url, source.name, kind, "ok", listing.entries, fetched.validators.etag,
                                     fetched.validators.last_modified, lastmod, found)
        if listing.skipped:
            log.info("%s: %d entries of %s have no http(s) link", source.name, listing.skipped, url)

    def _read_sitemap(self, source: Source, url: str, lastmod: str | None, depth: int, read: set[str], report: SourceReport) -> list[Entry]:
        if url in read or len(read) >= MAX_SITEMAPS_PER_SOURCE:
            return []
        read.add(url)
        previous = self.manifest.listing(url) or {}
        if lastmod and previous.get("lastmod") == lastmod and previous.get("status") in ("ok", "not_modified"):
            report.not_modified += 1  # its index says it has not changed since it was read
            return []
        fetched = self._get_listing(source, url, "sitemap", report)
        if fetched is None or fetched.not_modified:
            return []
        try:
            listing = parse_sitemap(fetched.body, fetched.final_url, self.settings.max_bytes)
        except FetchProblem as problem:
            self._listing_failed(source, url, "sitemap", problem, report)
            return []
        entries = list(listing.entries)
        if depth + 1 < MAX_SITEMAP_DEPTH:
            for child, child_lastmod in listing.listings:
                entries += self._read_sitemap(source, child, child_lastmod, depth + 1, read, report)
        # Recorded after its children: an index is answered 304 only once they were read.
        self._record(source, url, "sitemap", fetched, listing, lastmod)
        return entries

    def _read_site(self, source: Source, url: str, sitemaps_read: set[str], report: SourceReport) -> list[Entry]:
        """A home page's feeds, or else the sitemaps robots.txt names, or else the usual sitemap places."""
        previous = self.manifest.listing(url) or {}
        fetched = self._get_listing(source, url, "site", report)
        if fetched is None:
            return []
        if fetched.not_modified:  # the home page is unchanged: so are the feeds it links to
            return self._read_found(source, previous.get("found") or [], sitemaps_read, report)
        found = [f"feed {feed}" for feed in site_feeds(fetched.body, fetched.final_url)]
        if not found:
            try:
                robots_sitemaps = self.client.robots.rules(url, source.allow_private).sitemaps()
            except FetchProblem:
                robots_sitemaps = []
            found = [f"sitemap {s}" for s in robots_sitemaps]
        if not found:
            found = self._guess_sitemap(source, url)
        self._record(source, url, "site", fetched, Listing(), found=found)
        if not found:
            report.errors["no_feed_or_sitemap"] += 1
            log.warning("%s: site %s links no feed, and no sitemap was found", source.name, url)
        return self._read_found(source, found, sitemaps_read, report)

    def _guess_sitemap(self, source: Source, url: str) -> list[str]:
        for guess in site_sitemap_guesses(url):
            try:
                parse_sitemap(self.client.get(guess, source.allow_private, accept=LISTING_ACCEPT).body, guess, self.settings.max_bytes)
            except FetchProblem:
                continue
            return [f"sitemap {guess}"]
        return []

    def _read_found(self, source: Source, found: list[str], sitemaps_read: set[str], report: SourceReport) -> list[Entry]:
        entries: list[Entry] = []
        for item in found:
            kind, _, url = item.partition(" ")
            if kind == "feed":
                entries += self._read_listing(source, url, "feed", report)
            else:
                entries += self._read_sitemap(source, url, None, 0, sitemaps_read, report)
        return entries

    # ------------------------------------------------------------ pages

    def _fetch_page(self, source: Source, row: PageRow) -> _Outcome:
        files = rawfiles.page_files(self.raw, source.name, file_stem(row.url_key))
        if (recovered := self._recover(row, files)) is not None:
            return recovered
        try:
            fetched = self.client.get(row.url, source.allow_private, accept=PAGE_ACCEPT)
            _check_page(fetched)
        except FetchProblem as problem:
            return self._page_problem(row, files, problem)
        final_key = url_key(fetched.final_url)
        if final_key != row.url_key and (other := self.manifest.saved_with_final_key(final_key, row.url_key)):
            self.manifest.mark_failed(row.url_key, f"duplicate: redirects to {fetched.final_url}, saved for {other}", DUPLICATE)
            return _Outcome("duplicate")
        entry = row.entry
        # The article's URL: where the page was found, normalized like the manifest's keys
        # (tracking parameters such as utm_source dropped); as listed too, when that differs.
        sidecar = sidecar_document(
            url=final_key, listed_url=row.url if row.url != final_key else None, title=entry.title,
            published=entry.published, author=entry.author, publisher=entry.publisher, section=entry.section,
            feed_title=entry.feed_title, categories=list(entry.categories),
            text=entry.text, listed_in=entry.listing, lastmod=entry.lastmod, entry_id=entry.entry_id, fetched_at=now_iso(),
            content_type=fetched.content_type, charset=fetched.charset,
        )
        path = rawfiles.save_page(self.raw, files, fetched.body, sidecar)
        self.manifest.mark_saved(row.url_key, SavedPage(path, fetched.final_url, fetched.status, fetched.content_type,
                                                        len(fetched.body), rawfiles.sha256(fetched.body)))
        return _Outcome("new")

    def _recover(self, row: PageRow, files: rawfiles.PageFiles) -> _Outcome | None:
        """Files an interrupted run renamed into place but never recorded: record them, download nothing."""
        if files.page.is_file() and files.sidecar.is_file():
            body = files.page.read_bytes()
            try:
                sidecar = json.loads(files.sidecar.read_bytes())
            except ValueError:
                sidecar = {}
            self.manifest.mark_saved(row.url_key, SavedPage(files.relative(files.page, self.raw), sidecar.get("url") or row.url, 200,
                                                            sidecar.get("content_type", ""), len(body), rawfiles.sha256(body)))
            return _Outcome("recovered")
        if files.feed_text.is_file():
            self.manifest.mark_failed(row.url_key, "recovered: feed text saved by an interrupted run", FEED_TEXT, files.relative(files.feed_text, self.raw))
            return _Outcome("recovered")
        return None

    def _page_problem(self, row: PageRow, files: rawfiles.PageFiles, problem: FetchProblem) -> _Outcome:
        error = f"{problem.kind}: {problem.detail}"
        counted = None if problem.kind == "robots" else problem.kind
        if problem.kind != "robots" and problem.transient and row.attempts + 1 < MAX_ATTEMPTS:
            self.manifest.mark_retry(row.url_key, error)
            return _Outcome("pending", counted)
        if row.entry.text:
            path, _ = rawfiles.save_feed_text(self.raw, files, _feed_text_record(row, error))
            self.manifest.mark_failed(row.url_key, error, FEED_TEXT, path)
            return _Outcome("feed_text", counted) if counted else _Outcome("robots_feed_text")
        self.manifest.mark_failed(row.url_key, error, ROBOTS if problem.kind == "robots" else FAILED)
        return _Outcome("robots") if problem.kind == "robots" else _Outcome("failed", counted)


_TRANSIENT_LISTING_ERRORS = frozenset({"timeout", "connection", "dns", "rate_limited", "robots_unavailable", "http_429", "http_408"})


def _check_page(fetched: Fetched) -> None:
    """An HTML page, or a FetchProblem saying what it is instead."""
    body = fetched.body
    media_type = fetched.media_type
    if media_type and media_type not in HTML_TYPES:
        raise FetchProblem("wrong_content_type", f"{fetched.final_url} is {media_type}, not an HTML page; not saved")
    if not body.strip():
        raise FetchProblem("empty_page", f"{fetched.final_url} answered with an empty page")
    head = body[:4096].lstrip(b"\xef\xbb\xbf \t\r\n")
    if b"\x00" in body[:4096] or not head.startswith(b"<"):
        raise FetchProblem("not_html", f"{fetched.final_url} is served as {media_type or 'no type'} but is not HTML; not saved")


def _feed_text_record(row: PageRow, error: str) -> dict[str, Any]:
    """The JSON record saved when a page cannot be had but its feed gave its text."""
    entry = row.entry
    record = {
        "url": row.url, "title": entry.title, "text": entry.text, "published_at": entry.published, "author": entry.author,
        "publisher": entry.publisher, "section": entry.section, "feed_title": entry.feed_title,
        "categories": list(entry.categories) or None, "id": entry.entry_id,
        "listed_in": entry.listing, "text_from": "feed", "page_problem": error, "fetched_at": now_iso(),
    }
    return {k: v for k, v in record.items() if v is not None}


@dataclass
class FetchSummary:
    """What a fetch run did: the terminal's line, the artifact's rows, the flow's result."""

    run_id: str
    raw_dir: str
    reports: list[SourceReport] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)  # sources that failed, with why
    seconds: float = 0.0
    skipped: str | None = None  # why the run did nothing (another fetch was running)

    def total(self, name: str) -> int:
        return sum(getattr(report, name) for report in self.reports)

    @property
    def errors(self) -> Counter[str]:
        return sum((report.errors for report in self.reports), Counter())

    @property
    def new_files(self) -> int:
        """Raw files this run added for ingest to read."""
        return self.total("new_pages") + self.total("feed_text") + self.total("recovered")

    def rows(self) -> list[dict[str, Any]]:
        rows = [report.row() for report in self.reports]
        if len(rows) > 1:
            total = SourceReport("(all sources)", **{name: self.total(name) for name in (
                "entries_seen", "new_pages", "feed_text", "known", "not_modified", "robots", "duplicates", "pending")})
            total.errors = self.errors
            rows.append(total.row())
        return rows

    def one_line(self) -> str:
        if self.skipped:
            return f"textpipe fetch: {self.skipped}"
        errors = self.errors
        parts = [
            f"{len(self.reports)} source{'s' if len(self.reports) != 1 else ''}",
            f"{self.total('entries_seen')} entries listed",
            f"{self.total('new_pages')} new pages",
            f"{self.total('feed_text')} from feed text",
            f"{self.total('not_modified')} listings not modified",
            f"{self.total('robots')} skipped by robots.txt",
            f"{self.total('pending')} left for later",
            f"{sum(errors.values())} errors" + (f" ({', '.join(f'{k}: {n}' for k, n in sorted(errors.items()))})" if errors else ""),
        ]
        if self.total("recovered"):
            parts.append(f"{self.total('recovered')} pages of an interrupted fetch recorded")
        if self.failures:
            parts.append(f"{len(self.failures)} source(s) failed")
        return f"textpipe fetch: {', '.join(parts)}; raw folder {self.raw_dir} [{self.seconds:.1f} s]"
