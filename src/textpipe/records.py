"""Records passed between stages: what ingest produces and what it rejects.

Stages exchange plain frozen dataclasses so that a batch can be built in a test,
pickled to a worker process, or turned into an Arrow table by `store`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import Enum
from typing import Any


class RejectReason(str, Enum):
    """Why an input file or record was rejected; docs/reliability.md lists these codes."""

    UNREADABLE = "unreadable"              # OS error: permissions, vanished, is a directory
    EMPTY = "empty"                        # zero bytes or only whitespace
    BINARY = "binary"                      # not text (NUL bytes, undecodable garbage)
    DECODE_ERROR = "decode_error"          # bytes cannot be decoded in any plausible encoding
    PARSE_ERROR = "parse_error"            # JSON/CSV/XML/HTML syntax that cannot be parsed
    BAD_RECORD = "bad_record"              # record of the wrong shape (not an object, ragged CSV row)
    NO_TEXT = "no_text"                    # parsed, but no usable article text
    TOO_LARGE = "too_large"                # file, line or decompressed size above the configured cap
    UNSAFE_XML = "unsafe_xml"              # DTD / entity declarations (entity-expansion bombs)
    CORRUPT_ARCHIVE = "corrupt_archive"    # truncated or invalid gzip
    OUTSIDE_ROOT = "outside_root"          # symlink that leads outside the input folder
    SYMLINK_LOOP = "symlink_loop"          # symlink cycle
    BAD_PATH = "bad_path"                  # file name that is not valid text (undecodable bytes)


@dataclass(frozen=True, slots=True)
class RawArticle:
    """One article as read from an input file, before cleaning.

    `text` holds the body with paragraphs separated by a blank line ("\\n\\n").
    `source` is the path relative to the input folder (or the record's URL for
    feeds when no path applies); `record` numbers records within the file from 0.
    """

    source: str
    source_format: str
    record: int
    title: str
    text: str
    url: str | None = None
    published_at: datetime | None = None  # timezone-aware, UTC
    section: str | None = None
    author: str | None = None
    source_id: str | None = None  # the record's own `id` field, if any
    publisher: str | None = None  # the outlet, as the record, feed or page names it
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Reject:
    """An input file or record that could not be used, and why."""

    source: str
    record: int | None
    reason: RejectReason
    detail: str
