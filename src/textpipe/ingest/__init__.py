"""Ingest: find the input files under a folder and read each into `RawArticle` records,
or `Reject` records that say why a file or record could not be used.

`discover` never follows a link out of the input folder and `read_file` never raises
for bad input. HTML and feed libraries are imported only when such a file is met.
"""

from __future__ import annotations

import dataclasses
import errno
import importlib
import logging
import os
import re
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from textpipe.config import Settings
from textpipe.errors import ConfigError
from textpipe.ingest._bytes import InputFile, InputRejected, one_line
from textpipe.ingest.sidecar import SIDECAR_SUFFIX, page_name_of
from textpipe.records import RawArticle, Reject, RejectReason

__all__ = ["SUPPORTED_SUFFIXES", "Discovery", "InputFile", "discover", "read_file"]

log = logging.getLogger(__name__)

# suffix -> (module, reader function); each may also be gzipped (`name.jsonl.gz`).
_READERS: dict[str, tuple[str, str]] = {
    ".txt": ("textpipe.ingest.text", "read_txt"),
    ".json": ("textpipe.ingest.records", "read_json"),
    ".jsonl": ("textpipe.ingest.records", "read_jsonl"),
    ".ndjson": ("textpipe.ingest.records", "read_jsonl"),
    ".csv": ("textpipe.ingest.records", "read_csv"),
    ".tsv": ("textpipe.ingest.records", "read_csv"),
    ".html": ("textpipe.ingest.html", "read_html"),
    ".htm": ("textpipe.ingest.html", "read_html"),
    ".xml": ("textpipe.ingest.feeds", "read_feed"),
    ".rss": ("textpipe.ingest.feeds", "read_feed"),
    ".atom": ("textpipe.ingest.feeds", "read_feed"),
}
SUPPORTED_SUFFIXES: frozenset[str] = frozenset(_READERS)
NO_SUFFIX = "(none)"

Reader = Callable[[InputFile, Settings], Iterator[RawArticle | Reject]]


@dataclass(frozen=True)
class Discovery:
    """What `discover` found: readable files (sorted by `relative`, each page with its
    metadata sidecar), counts of files skipped for their extension, and rejects for
    paths that cannot be used at all. Sidecars are neither inputs nor skipped."""

    files: list[InputFile]
    skipped: dict[str, int] = field(default_factory=dict)
    rejects: list[Reject] = field(default_factory=list)


def content_suffix(name: str) -> tuple[str, bool]:
    """`"Wire.JSONL.gz"` -> `(".jsonl", True)`; the lower-cased suffix under any `.gz`."""
    lower = name.lower()
    gzipped = lower.endswith(".gz")
    return os.path.splitext(lower[:-3] if gzipped else lower)[1], gzipped


def _skip_key(name: str) -> str:
    suffix, gzipped = content_suffix(name)
    return (suffix + (".gz" if gzipped else "")) or NO_SUFFIX


def _printable(name: str) -> str:
    # Undecodable bytes arrive as lone surrogates, which Parquet and logs cannot hold.
    return name.encode("utf-8", "surrogateescape").decode("utf-8", "replace")


def _is_valid_name(name: str) -> bool:
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


@dataclass
class _Walk:
    root_real: Path
    files: list[InputFile] = field(default_factory=list)
    skipped: Counter[str] = field(default_factory=Counter)
    rejects: list[Reject] = field(default_factory=list)
    sidecars: dict[str, Path] = field(default_factory=dict)  # page's relative path -> its sidecar

    def reject(self, relative: str, reason: RejectReason, detail: object) -> None:
        self.rejects.append(Reject(relative, None, reason, one_line(detail)))

    def add_file(self, path: Path, relative: str) -> None:
        if page_name_of(relative) is not None:
            self.sidecars[relative[: -len(SIDECAR_SUFFIX)]] = path
        elif content_suffix(relative)[0] in SUPPORTED_SUFFIXES:
            self.files.append(InputFile(path, relative))
        else:
            self.skipped[_skip_key(relative)] += 1

    def scan(self, directory: Path, prefix: str) -> list[os.DirEntry]:
        try:
            with os.scandir(directory) as entries:
                return sorted(entries, key=lambda entry: entry.name)
        except OSError as exc:
            self.reject(prefix.rstrip("/") or ".", RejectReason.UNREADABLE, exc.strerror or exc)
            return []


def _resolve_link(walk: _Walk, entry: os.DirEntry, relative: str) -> Path | None:
    """The link's target inside the root, or None after recording why it is unusable."""
    try:
        target = Path(entry.path).resolve(strict=True)
    except RuntimeError as exc:  # Python 3.11 reports a symlink loop this way
        walk.reject(relative, RejectReason.SYMLINK_LOOP, exc)
        return None
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            walk.reject(relative, RejectReason.SYMLINK_LOOP, exc.strerror)
        else:
            walk.reject(relative, RejectReason.UNREADABLE, f"broken symlink: {exc.strerror}")
        return None
    if not target.is_relative_to(walk.root_real):
        walk.reject(relative, RejectReason.OUTSIDE_ROOT, "symlink points outside the input folder")
        return None
    return target


def _walk_tree(walk: _Walk) -> None:
    # An explicit stack: deep trees must not hit the recursion limit. `chain` holds the
    # real paths of the directories being walked, to stop at links back into them.
    root_chain = frozenset({walk.root_real})
    stack = [(iter(walk.scan(walk.root_real, "")), "", walk.root_real, root_chain)]
    while stack:
        entries, prefix, real_dir, chain = stack[-1]
        entry = next(entries, None)
        if entry is None:
            stack.pop()
            continue
        name = entry.name
        if name.startswith((".", "_")):
            continue
        relative = prefix + name
        if not _is_valid_name(name):
            walk.reject(_printable(relative), RejectReason.BAD_PATH, "file name is not valid UTF-8")
            continue
        path = Path(entry.path)
        target = None
        try:
            linked = entry.is_symlink()
            if linked:
                target = _resolve_link(walk, entry, relative)
                if target is None:
                    continue
                is_dir, is_file = target.is_dir(), target.is_file()
            else:
                is_dir = entry.is_dir(follow_symlinks=False)
                is_file = entry.is_file(follow_symlinks=False)
        except OSError as exc:
            walk.reject(relative, RejectReason.UNREADABLE, exc.strerror or exc)
            continue
        if is_dir:
            real = target or real_dir / name
            if real in chain:
                walk.reject(relative, RejectReason.SYMLINK_LOOP, "symlink to a folder above it")
                continue
            children = walk.scan(path, relative + "/")
            stack.append((iter(children), relative + "/", real, chain | {real}))
        elif is_file:
            # A link's resolved target: the reader refuses to follow links (O_NOFOLLOW).
            walk.add_file(target or path, relative)
        else:
            walk.reject(relative, RejectReason.UNREADABLE, "not a regular file or folder")


def discover(root: Path, settings: Settings) -> Discovery:
    """Every input file under `root` (a folder, or one file), sorted by relative path.

    Names starting with "." or "_" are ignored (hidden files, temporary files being
    written). Links are followed only while they stay inside `root`.
    """
    try:
        root_real = Path(root).resolve(strict=True)
    except (OSError, RuntimeError) as exc:
        raise ConfigError(
            f"input folder {str(root)!r} cannot be opened ({exc}); "
            "pass an existing folder with --input or TEXTPIPE_INPUT_DIR"
        ) from exc
    walk = _Walk(root_real)
    if root_real.is_file():
        walk.add_file(root_real, root_real.name)
    else:
        _walk_tree(walk)
    walk.files.sort(key=lambda file: file.relative)
    # A sidecar without its page (a fetch interrupted between the two) is left alone.
    walk.files[:] = [dataclasses.replace(f, metadata=walk.sidecars[f.relative]) if f.relative in walk.sidecars else f
                     for f in walk.files]
    log.debug(
        "discovered %d input files under %s (%d skipped by extension, %d rejected paths)",
        len(walk.files), root, sum(walk.skipped.values()), len(walk.rejects),
    )  # fmt: skip
    return Discovery(files=walk.files, skipped=dict(sorted(walk.skipped.items())),
                     rejects=walk.rejects)  # fmt: skip


def _reader_for(relative: str) -> Reader | None:
    spec = _READERS.get(content_suffix(relative)[0])
    if spec is None:
        return None
    module, function = spec
    reader: Reader = getattr(importlib.import_module(module), function)
    return reader


_LONE_SURROGATE = re.compile("[\ud800-\udfff]")


def _scrub_text(text: str) -> str:
    # JSON escapes such as "\ud800" decode to lone surrogates, which no UTF-8 writer
    # (Parquet, fastText, logs) accepts; they become U+FFFD like any undecodable byte.
    return text if text.isascii() else _LONE_SURROGATE.sub("\ufffd", text)


def _scrub_in_place(extra: dict[str, Any]) -> None:
    # Iterative: a record may nest hundreds of levels deep.
    stack: list[Any] = [extra]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            for key in [key for key in node if isinstance(key, str) and _scrub_text(key) != key]:
                node[_scrub_text(key)] = node.pop(key)
            slots: Iterable[tuple[Any, Any]] = list(node.items())
        else:
            slots = enumerate(node)
        for slot, item in slots:
            if isinstance(item, str):
                node[slot] = _scrub_text(item)
            elif isinstance(item, dict | list):
                stack.append(item)


def _without_surrogates(article: RawArticle) -> RawArticle:
    fields = ("title", "text", "url", "section", "author", "source_id")
    changes = {name: _scrub_text(value) for name in fields if (value := getattr(article, name))}
    changes = {name: value for name, value in changes.items() if value != getattr(article, name)}
    if article.extra:
        _scrub_in_place(article.extra)
    return dataclasses.replace(article, **changes) if changes else article


def read_file(file: InputFile, settings: Settings) -> Iterator[RawArticle | Reject]:
    """The articles in one input file, or rejects saying why (never raises for bad input).

    Records of JSONL and CSV files are streamed, so the caller decides how many to
    hold; a reject for the rest of a file may follow articles already yielded.
    """
    reader = _reader_for(file.relative)
    if reader is None:
        detail = f"no reader for {_skip_key(file.relative)!r} files"
        yield Reject(file.relative, None, RejectReason.PARSE_ERROR, detail)
        return
    try:
        for item in reader(file, settings):
            yield _without_surrogates(item) if isinstance(item, RawArticle) else item
    except InputRejected as exc:
        yield Reject(file.relative, exc.record, exc.reject_reason, exc.detail)
    except OSError as exc:
        yield Reject(file.relative, None, RejectReason.UNREADABLE, one_line(exc.strerror or exc))
    except Exception as exc:  # noqa: BLE001 - one odd file must not stop a 100,000-file run
        log.warning("unexpected error reading %s", file.relative, exc_info=True)
        detail = one_line(f"unexpected {type(exc).__name__}: {exc}")
        yield Reject(file.relative, None, RejectReason.PARSE_ERROR, detail)
