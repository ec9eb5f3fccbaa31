"""Where fetched pages go and how they are written: under `<raw>/<source>/<xx>/`, named
by a hash of the page's normalized URL (so a rerun finds what an interrupted run
wrote), each file written under `<raw>/_fetch/tmp/`, fsynced and renamed into place.

A page is `<stem>.html` with its metadata sidecar `<stem>.html.meta.json` (written
first); a page that could not be had but whose feed carries its text is
`<stem>.json`, one JSON record the ingest's JSON reader reads.
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from textpipe.ingest.sidecar import sidecar_name_of
from textpipe.store import fsync

FETCH_DIR = "_fetch"


def fetch_dir(raw: Path) -> Path:
    return raw / FETCH_DIR


def tmp_dir(raw: Path) -> Path:
    return fetch_dir(raw) / "tmp"


def clear_tmp(raw: Path) -> int:
    """Remove what an interrupted run left half-written; returns how many files."""
    folder = tmp_dir(raw)
    count = len(list(folder.iterdir())) if folder.is_dir() else 0
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True, exist_ok=True)
    return count


@dataclass(frozen=True)
class PageFiles:
    page: Path
    sidecar: Path
    feed_text: Path

    def relative(self, path: Path, raw: Path) -> str:
        return path.relative_to(raw).as_posix()


def page_files(raw: Path, source: str, stem: str) -> PageFiles:
    folder = raw / source / stem[:2]
    return PageFiles(folder / f"{stem}.html", folder / sidecar_name_of(f"{stem}.html"), folder / f"{stem}.json")


def write_atomic(final: Path, data: bytes, raw: Path) -> None:
    """Write `data` to `final` so that a reader sees the whole file or none of it."""
    final.parent.mkdir(parents=True, exist_ok=True)
    temporary = tmp_dir(raw) / f"{final.name}.{secrets.token_hex(4)}"
    with open(temporary, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temporary, final)
    fsync(final.parent)


def save_page(raw: Path, files: PageFiles, body: bytes, sidecar: dict[str, Any]) -> str:
    """The sidecar, then the page: ingest never sees a page without its metadata."""
    write_atomic(files.sidecar, json.dumps(sidecar, ensure_ascii=False, indent=1).encode("utf-8"), raw)
    write_atomic(files.page, body, raw)
    return files.relative(files.page, raw)


def save_feed_text(raw: Path, files: PageFiles, record: dict[str, Any]) -> tuple[str, bytes]:
    data = json.dumps(record, ensure_ascii=False, indent=1).encode("utf-8")
    write_atomic(files.feed_text, data, raw)
    return files.relative(files.feed_text, raw), data


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()
