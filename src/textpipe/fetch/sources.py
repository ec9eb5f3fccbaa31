"""The sources file (`sources.toml`): politeness settings under `[fetch]` and one
`[[sources]]` table per source. `load_sources` checks every value and raises a
`SourcesFileError` whose one-line message names the file, the line and the field.
"""

from __future__ import annotations

import difflib
import re
import tomllib
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from textpipe import __version__
from textpipe.errors import ConfigError

DEFAULT_USER_AGENT = f"textpipe/{__version__} (+https://example.org/contact)"
SOURCE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,63}")
URL_LISTS = ("feeds", "sitemaps", "sites", "urls")


class SourcesFileError(ConfigError):
    """A sources file that cannot be used; the message is `FILE:LINE: field ...: problem`."""


@dataclass(frozen=True)
class FetchSettings:
    """How politely and how safely pages are fetched (the `[fetch]` table)."""

    user_agent: str = DEFAULT_USER_AGENT
    delay_seconds: float = 1.0           # between the starts of two requests to one host
    max_per_host: int = 2                # requests to one host at once
    timeout_seconds: float = 20.0        # to connect, per read, and for a whole response
    max_bytes: int = 5_000_000           # per response, after decompression
    max_redirects: int = 5
    retries: int = 3                     # further tries after a 429, 5xx, timeout or dropped connection
    max_wait_seconds: float = 60.0       # longest back-off or Retry-After waited within a run
    max_pages_per_source: int = 1_000    # new pages per source per run; the rest wait for the next run

    @property
    def contact_is_default(self) -> bool:
        return "example.org" in self.user_agent


@dataclass(frozen=True)
class Source:
    """One `[[sources]]` table: where its entries are listed, and its folder name."""

    name: str
    feeds: tuple[str, ...] = ()
    sitemaps: tuple[str, ...] = ()
    sites: tuple[str, ...] = ()
    urls: tuple[str, ...] = ()
    allow_private: bool = False


@dataclass(frozen=True)
class SourcesFile:
    path: Path
    settings: FetchSettings
    sources: tuple[Source, ...] = field(default_factory=tuple)


# (kind, minimum, maximum) for each number in [fetch]; a bool is never a number here.
_NUMBERS: dict[str, tuple[type, float, float]] = {
    "delay_seconds": (float, 0.0, 3_600.0),
    "max_per_host": (int, 1, 64),
    "timeout_seconds": (float, 0.1, 600.0),
    "max_bytes": (int, 1_024, 1_073_741_824),
    "max_redirects": (int, 0, 30),
    "retries": (int, 0, 10),
    "max_wait_seconds": (float, 0.0, 3_600.0),
    "max_pages_per_source": (int, 1, 1_000_000),
}
_FETCH_KEYS = tuple(f.name for f in fields(FetchSettings))
_SOURCE_KEYS = tuple(f.name for f in fields(Source))


class _Lines:
    """Finds the line of a table, key or value, for error messages (tomllib keeps no positions)."""

    _HEADER = re.compile(r"\s*(\[\[?)\s*([A-Za-z0-9_.\"' -]+?)\s*\]\]?")

    def __init__(self, text: str) -> None:
        self.lines = text.splitlines()
        self.blocks: list[tuple[str | None, int, int]] = []  # (table, first line, 0-based occurrence)
        seen: dict[str, int] = {}
        self.blocks.append((None, 1, 0))
        for number, line in enumerate(self.lines, start=1):
            match = self._HEADER.match(line)
            if match and not line.lstrip().startswith("#"):
                name = match.group(2).strip("\"' ")
                self.blocks.append((name, number, seen.get(name, 0)))
                seen[name] = seen.get(name, 0) + 1

    def _span(self, table: str | None, index: int) -> tuple[int, int]:
        for position, (name, start, occurrence) in enumerate(self.blocks):
            if name == table and occurrence == index:
                end = self.blocks[position + 1][1] if position + 1 < len(self.blocks) else len(self.lines) + 1
                return start, end
        return 1, len(self.lines) + 1

    def find(self, table: str | None, index: int = 0, key: str | None = None, value: str | None = None) -> int:
        start, end = self._span(table, index)
        if key is None:
            return start
        pattern = re.compile(rf"\s*[\"']?{re.escape(key)}[\"']?\s*=")
        key_line = next((n for n in range(start, end) if pattern.match(self.lines[n - 1])), None)
        if key_line is None:
            return start
        if value is not None:
            return next((n for n in range(key_line, end) if value in self.lines[n - 1]), key_line)
        return key_line


class _Checker:
    def __init__(self, path: Path, text: str) -> None:
        self.path = path
        self.lines = _Lines(text)

    def fail(self, line: int, where: str, problem: str) -> SourcesFileError:
        return SourcesFileError(f"{self.path}:{line}: {where}: {problem}")

    def unknown_keys(self, table: dict[str, Any], allowed: tuple[str, ...], where: str, block: str | None, index: int = 0) -> None:
        for key in table:
            if key not in allowed:
                close = [k for k in allowed if k.startswith(key) or key.startswith(k)] or difflib.get_close_matches(key, allowed, n=1)
                hint = f" (did you mean {close[0]!r}?)" if close else f"; known fields: {', '.join(allowed)}"
                raise self.fail(self.lines.find(block, index, key), f"field {key!r} {where}", f"unknown field{hint}")


def _number(value: Any, kind: type, low: float, high: float) -> float | int | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    if kind is int and not isinstance(value, int):
        return None
    return value if low <= value <= high else None


def _fetch_settings(check: _Checker, table: Any) -> FetchSettings:
    if not isinstance(table, dict):
        raise check.fail(check.lines.find(None, key="fetch"), "[fetch]", "must be a table")
    check.unknown_keys(table, _FETCH_KEYS, "in [fetch]", "fetch")
    values: dict[str, Any] = {}
    for key, raw in table.items():
        where = f"field {key!r} in [fetch]"
        if key == "user_agent":
            if not isinstance(raw, str) or not raw.strip() or any(c in raw for c in "\r\n"):
                raise check.fail(check.lines.find("fetch", key=key), where, "must be a non-empty one-line string")
            values[key] = raw.strip()
            continue
        kind, low, high = _NUMBERS[key]
        number = _number(raw, kind, low, high)
        if number is None:
            noun = "a whole number" if kind is int else "a number"
            raise check.fail(check.lines.find("fetch", key=key), where, f"must be {noun} from {low:g} to {high:g}, got {raw!r}")
        values[key] = kind(number)
    return FetchSettings(**values)


def url_problem(url: str) -> str | None:
    """Why `url` cannot be fetched as written, or None: http(s), a host, no credentials."""
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises on a port that is not a number
    except ValueError as exc:
        return f"{url!r} is not a valid URL ({exc})"
    if parts.scheme.lower() not in ("http", "https"):
        return f"{url!r} is not an http or https URL"
    if not parts.hostname:
        return f"{url!r} has no host"
    if parts.username is not None or parts.password is not None:
        return f"{url!r} holds a user name or password; credentials in URLs are not sent"
    if any(c.isspace() for c in url):
        return f"{url!r} contains white space"
    return None


def _source(check: _Checker, table: Any, index: int, taken: dict[str, int]) -> Source:
    line = check.lines.find("sources", index)
    label = f"[[sources]] #{index + 1}"
    if not isinstance(table, dict):
        raise check.fail(line, label, "must be a table")
    name = table.get("name")
    if isinstance(name, str):
        label = f"source {name!r}"
    check.unknown_keys(table, _SOURCE_KEYS, f"of {label}", "sources", index)
    if not isinstance(name, str) or not SOURCE_NAME.fullmatch(name):
        raise check.fail(check.lines.find("sources", index, "name"), f"field 'name' of {label}",
                         "required: 1-64 letters, digits, '-' or '_', starting with a letter or digit (it names the source's folder), "
                         f"got {name!r}")
    if name.lower() in taken:
        raise check.fail(check.lines.find("sources", index, "name"), f"field 'name' of {label}",
                         f"a source named {name!r} is already defined (source #{taken[name.lower()] + 1}); names must differ, also in case")
    taken[name.lower()] = index
    lists: dict[str, tuple[str, ...]] = {}
    for key in URL_LISTS:
        raw = table.get(key, [])
        if not isinstance(raw, list) or not all(isinstance(item, str) for item in raw):
            raise check.fail(check.lines.find("sources", index, key), f"field {key!r} of {label}", "must be a list of URL strings")
        for item in raw:
            if (problem := url_problem(item)) is not None:
                raise check.fail(check.lines.find("sources", index, key, item), f"field {key!r} of {label}", problem)
        lists[key] = tuple(dict.fromkeys(raw))
    if not any(lists.values()):
        raise check.fail(line, label, f"lists nothing to fetch: give at least one of {', '.join(URL_LISTS)}")
    allow_private = table.get("allow_private", False)
    if not isinstance(allow_private, bool):
        raise check.fail(check.lines.find("sources", index, "allow_private"), f"field 'allow_private' of {label}",
                         f"must be true or false, got {allow_private!r}")
    return Source(name=name, allow_private=allow_private, **lists)


def parse_sources(text: str, path: Path) -> SourcesFile:
    """The sources file's settings and sources, checked; `path` is only for messages."""
    check = _Checker(path, text)
    try:
        document = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        message = str(exc)
        match = re.search(r"\(at line (\d+), column \d+\)", message)
        line = int(match.group(1)) if match else 1
        raise check.fail(line, "TOML syntax", re.sub(r"\s*\(at line \d+, column \d+\)", "", message) or message) from None
    check.unknown_keys(document, ("fetch", "sources"), "at the top level", None)
    settings = _fetch_settings(check, document.get("fetch", {}))
    tables = document.get("sources")
    if not isinstance(tables, list) or not tables:
        raise check.fail(check.lines.find(None, key="sources") if tables is not None else max(len(check.lines.lines), 1),
                         "[[sources]]", "no source defined: add at least one [[sources]] table with a name and feeds, sitemaps, sites or urls")
    taken: dict[str, int] = {}
    return SourcesFile(path, settings, tuple(_source(check, table, index, taken) for index, table in enumerate(tables)))


def load_sources(path: Path) -> SourcesFile:
    """Read and check a sources file; a missing, unreadable or invalid file is a `SourcesFileError`."""
    try:
        data = Path(path).read_bytes()
    except FileNotFoundError:
        raise SourcesFileError(f"{path}:1: sources file: not found (pass one with --sources; see docs/fetching.md)") from None
    except OSError as exc:
        raise SourcesFileError(f"{path}:1: sources file: cannot be read ({exc.strerror or exc})") from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise SourcesFileError(f"{path}:{line}: sources file: not UTF-8 text, as TOML must be") from None
    return parse_sources(text, Path(path))
