"""The fetch manifest: an SQLite database under the raw folder
(`<raw>/_fetch/manifest.sqlite`, hidden from ingest by its `_` name) that remembers
every page URL ever listed (normalized, so one page listed twice is fetched once),
what became of it, the validators of every feed and sitemap for conditional
requests, and one row per fetch run.

SQLite is crash-safe on its own (a killed process loses at most the transaction it
was in). A page's files are renamed into place before its row says `saved`; a crash
in between leaves files the next run finds at their fixed path and records without
downloading them again.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urldefrag

from textpipe.fetch.listings import Entry

SCHEMA_VERSION = 1
# Runs in which a page that failed for a passing reason (timeout, 5xx, rate limit) is
# tried again; after that its feed text is used if it has one, or it is given up.
MAX_ATTEMPTS = 3

# States of a page: waiting to be fetched, or what became of it.
PENDING, SAVED, FEED_TEXT, ROBOTS, FAILED, DUPLICATE = "pending", "saved", "feed_text", "robots", "failed", "duplicate"
FINAL_STATES = (SAVED, FEED_TEXT, ROBOTS, FAILED, DUPLICATE)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS pages (
    url_key     TEXT PRIMARY KEY,      -- the URL normalized (courlan), the page's identity
    url         TEXT NOT NULL,         -- the URL as first listed
    source      TEXT NOT NULL,         -- the source that listed it first
    state       TEXT NOT NULL,         -- pending, saved, feed_text, robots, failed, duplicate
    entry       TEXT NOT NULL,         -- the listing's metadata (JSON)
    listed_at   TEXT NOT NULL,         -- when it was first listed (UTC)
    newest      TEXT,                  -- published or lastmod, to fetch the newest first
    attempts    INTEGER NOT NULL DEFAULT 0,
    last_error  TEXT,                  -- kind: detail of the last failure
    path        TEXT,                  -- the raw file, relative to the raw folder
    final_url   TEXT,                  -- the URL after redirects
    final_key   TEXT,
    http_status INTEGER,
    content_type TEXT,
    bytes       INTEGER,
    sha256      TEXT,
    fetched_at  TEXT
);
CREATE INDEX IF NOT EXISTS pages_by_state ON pages (source, state, newest);
CREATE INDEX IF NOT EXISTS pages_by_final_key ON pages (final_key);
CREATE TABLE IF NOT EXISTS listings (
    url          TEXT PRIMARY KEY,     -- a feed, sitemap or site home page
    source       TEXT NOT NULL,
    kind         TEXT NOT NULL,        -- feed, sitemap or site
    etag         TEXT,
    last_modified TEXT,
    lastmod      TEXT,                 -- a sitemap's <lastmod> in its index when last read
    found        TEXT,                 -- a site's feeds and sitemaps (JSON list)
    checked_at   TEXT,
    changed_at   TEXT,
    status       TEXT,                 -- ok, not_modified, or the error kind
    entries      INTEGER
);
CREATE TABLE IF NOT EXISTS runs (
    run_id      TEXT PRIMARY KEY,
    started_at  TEXT NOT NULL,
    finished_at TEXT,
    report      TEXT                   -- per source counts (JSON)
);
"""


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def url_key(url: str) -> str:
    """The URL a page is known by: courlan's normalization (scheme and host lower-cased,
    default port, sorted query, tracking parameters dropped), without a fragment."""
    from courlan import normalize_url

    try:
        normalized = normalize_url(url)
    except ValueError:
        normalized = url
    return urldefrag(normalized).url


def _newest(entry: Entry) -> str | None:
    """The entry's date when it sorts as one (ISO 8601), for newest-first fetching."""
    for value in (entry.published, entry.lastmod):
        if value and value[:4].isdigit() and value[4:5] == "-":
            return value
    return None


def file_stem(key: str) -> str:
    """The name of a page's files: a hash of its key (fixed, so a rerun finds them)."""
    return hashlib.sha256(key.encode("utf-8")).hexdigest()[:24]


@dataclass(frozen=True)
class PageRow:
    url_key: str
    url: str
    source: str
    state: str
    entry: Entry
    attempts: int


@dataclass(frozen=True)
class SavedPage:
    path: str
    final_url: str
    http_status: int
    content_type: str
    size: int
    sha256: str


class Manifest:
    """The manifest, safe to share between threads (one connection, one lock)."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._lock = threading.Lock()
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None, timeout=30)
        self._db.execute("PRAGMA journal_mode=WAL")
        # NORMAL: a power cut may lose the last commits, never corrupt; lost `saved`
        # rows are found again by their files.
        self._db.execute("PRAGMA synchronous=NORMAL")
        version = self._db.execute("PRAGMA user_version").fetchone()[0]
        if version > SCHEMA_VERSION:
            raise RuntimeError(f"{path} was written by a newer textpipe (schema {version}); upgrade textpipe")
        self._db.executescript(_SCHEMA)
        self._db.execute(f"PRAGMA user_version={SCHEMA_VERSION}")

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def _write(self, sql: str, rows: Iterable[tuple[Any, ...]]) -> None:
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                self._db.executemany(sql, rows)
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise

    def _read(self, sql: str, parameters: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        with self._lock:
            return self._db.execute(sql, parameters).fetchall()

    # -- listings

    def listing(self, url: str) -> dict[str, Any] | None:
        rows = self._read("SELECT etag, last_modified, lastmod, found, status FROM listings WHERE url = ?", (url,))
        if not rows:
            return None
        etag, last_modified, lastmod, found, status = rows[0]
        return {"etag": etag, "last_modified": last_modified, "lastmod": lastmod, "found": json.loads(found) if found else None, "status": status}

    def record_listing(self, url: str, source: str, kind: str, status: str, entries: list[Entry] | None = None,
                       etag: str | None = None, last_modified: str | None = None, lastmod: str | None = None,
                       found: list[str] | None = None) -> int:
        """Record a listing's outcome and, in the same transaction, its entries not yet known;
        returns how many entries were new. Validators are kept only with the entries they
        belong to, so a listing whose entries were not recorded is never answered 304."""
        moment = now_iso()
        new = 0
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                for entry in entries or []:
                    cursor = self._db.execute(
                        "INSERT OR IGNORE INTO pages (url_key, url, source, state, entry, listed_at, newest) VALUES (?, ?, ?, ?, ?, ?, ?)",
                        (url_key(entry.url), entry.url, source, PENDING, json.dumps(entry.metadata(), ensure_ascii=False), moment,
                         _newest(entry)))
                    new += cursor.rowcount
                if status == "ok":
                    self._db.execute(
                        "INSERT INTO listings (url, source, kind, etag, last_modified, lastmod, found, checked_at, changed_at, status, entries) "
                        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT(url) DO UPDATE SET source=excluded.source, kind=excluded.kind, "
                        "etag=excluded.etag, last_modified=excluded.last_modified, lastmod=excluded.lastmod, found=excluded.found, "
                        "checked_at=excluded.checked_at, changed_at=excluded.changed_at, status='ok', entries=excluded.entries",
                        (url, source, kind, etag, last_modified, lastmod, json.dumps(found) if found is not None else None, moment, moment,
                         status, len(entries or [])))
                else:
                    self._db.execute(
                        "INSERT INTO listings (url, source, kind, checked_at, status) VALUES (?, ?, ?, ?, ?) "
                        "ON CONFLICT(url) DO UPDATE SET checked_at=excluded.checked_at, status=excluded.status",
                        (url, source, kind, moment, status))
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
        return new

    # -- pages

    def known_states(self, keys: list[str]) -> dict[str, str]:
        states: dict[str, str] = {}
        for start in range(0, len(keys), 500):
            chunk = keys[start:start + 500]
            marks = ",".join("?" * len(chunk))
            states.update(self._read(f"SELECT url_key, state FROM pages WHERE url_key IN ({marks})", tuple(chunk)))  # noqa: S608
        return states

    def pending(self, source: str) -> list[PageRow]:
        """The source's pages still to fetch, newest first (undated ones last, in listing order)."""
        rows = self._read("SELECT url_key, url, source, state, entry, attempts FROM pages WHERE source = ? AND state = ? "
                          "ORDER BY newest IS NULL, newest DESC, rowid", (source, PENDING))
        return [PageRow(key, url, src, state, Entry.from_metadata(json.loads(entry)), attempts) for key, url, src, state, entry, attempts in rows]

    def saved_with_final_key(self, final_key: str, except_key: str) -> str | None:
        rows = self._read("SELECT url_key FROM pages WHERE final_key = ? AND url_key != ? AND state = ? LIMIT 1", (final_key, except_key, SAVED))
        return rows[0][0] if rows else None

    def mark_saved(self, key: str, page: SavedPage, state: str = SAVED) -> None:
        self._write("UPDATE pages SET state = ?, path = ?, final_url = ?, final_key = ?, http_status = ?, content_type = ?, bytes = ?, "
                    "sha256 = ?, fetched_at = ?, attempts = attempts + 1 WHERE url_key = ?",
                    [(state, page.path, page.final_url, url_key(page.final_url), page.http_status, page.content_type, page.size,
                      page.sha256, now_iso(), key)])

    def mark_failed(self, key: str, error: str, state: str, path: str | None = None) -> None:
        """A final outcome without a saved page (`failed`, `robots`, `duplicate`), or the feed text saved at `path`."""
        self._write("UPDATE pages SET state = ?, last_error = ?, path = COALESCE(?, path), fetched_at = ?, attempts = attempts + 1 "
                    "WHERE url_key = ?", [(state, error, path, now_iso(), key)])

    def mark_retry(self, key: str, error: str) -> None:
        self._write("UPDATE pages SET attempts = attempts + 1, last_error = ? WHERE url_key = ?", [(error, key)])

    # -- runs

    def start_run(self, run_id: str) -> None:
        self._write("INSERT OR REPLACE INTO runs (run_id, started_at) VALUES (?, ?)", [(run_id, now_iso())])

    def finish_run(self, run_id: str, report: dict[str, Any]) -> None:
        self._write("UPDATE runs SET finished_at = ?, report = ? WHERE run_id = ?", [(now_iso(), json.dumps(report), run_id)])

    def counts(self) -> dict[str, int]:
        return dict(self._read("SELECT state, count(*) FROM pages GROUP BY state"))
