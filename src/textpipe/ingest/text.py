"""Plain-text articles (`.txt`): the first non-empty line is the title, then paragraphs
separated by blank lines. A trailing ` – Section` on the title becomes `section`; a
body line repeating the title and a closing "Source link" line are dropped. Character
references left by a scraper (`caf&#233;`, `&amp;`) are resolved.
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterator

from textpipe.config import Settings
from textpipe.ingest._bytes import InputFile, read_text
from textpipe.records import RawArticle, Reject, RejectReason

SECTION_WORDS: frozenset[str] = frozenset(
    {
        "Politics", "Business", "Economy", "Sport", "Sports", "Technology", "Tech",
        "Science", "Health", "Entertainment", "Culture", "World", "Opinion", "Europe",
        "UK", "US", "Asia", "Africa", "Middle East", "Environment", "Travel",
        "Education", "Media",
    }
)  # fmt: skip

_SECTION_SUFFIX = re.compile(
    r"\s[-–—]\s+("
    + "|".join(re.escape(word) for word in sorted(SECTION_WORDS, key=len, reverse=True))
    + r")\s*$",
    re.IGNORECASE,
)
_BLANK_LINE = re.compile(r"\n\s*\n")
# Only references ended by ";": "AT&T" or "?a=1&copy=2" in plain text stay as they are.
_CHARACTER_REFERENCE = re.compile(r"&(?:#[0-9]{1,7}|#[xX][0-9a-fA-F]{1,6}|[A-Za-z][A-Za-z0-9]{1,31});")
_TRAILER = "source link"


def resolve_character_references(text: str) -> str:
    """`"Tom &amp; Jerry&#8217;s caf&#233;"` -> `"Tom & Jerry’s café"`, for text that left
    HTML without its tags; a bare `&` is left alone."""
    if "&" not in text:
        return text
    return _CHARACTER_REFERENCE.sub(lambda match: html.unescape(match.group(0)), text)


def split_section(title: str) -> tuple[str, str | None]:
    """`"Headline – Politics"` -> `("Headline", "Politics")`; otherwise `(title, None)`."""
    match = _SECTION_SUFFIX.search(title)
    if match is None or match.start() == 0:
        return title, None
    return title[: match.start()].rstrip(), match.group(1)


def _join_lines(block: str) -> str:
    if "\n" not in block:
        return block.strip()
    return " ".join(line.strip() for line in block.split("\n") if line.strip())


def split_paragraphs(text: str) -> list[str]:
    """Blank-line separated paragraphs; a single newline inside one becomes a space."""
    if "\r" in text:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    return [para for block in _BLANK_LINE.split(text) if (para := _join_lines(block))]


def parse_text(text: str, source: str, settings: Settings) -> RawArticle | Reject:
    """One article from the decoded content of a `.txt` file."""
    if "\r" in text:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    text = resolve_character_references(text)
    title_line, _, rest = text.lstrip().partition("\n")
    title, section = split_section(title_line.strip())
    paragraphs = split_paragraphs(rest)
    if paragraphs and split_section(paragraphs[0])[0].casefold() == title.casefold():
        del paragraphs[0]
    if paragraphs and paragraphs[-1].casefold() == _TRAILER:
        del paragraphs[-1]
    body = "\n\n".join(paragraphs)
    if len(body) < settings.min_text_chars:
        return Reject(
            source, None, RejectReason.NO_TEXT, f"body has {len(body)} characters after the title"
        )
    return RawArticle(
        source=source, source_format="txt", record=0, title=title, text=body, section=section
    )


def read_txt(file: InputFile, settings: Settings) -> Iterator[RawArticle | Reject]:
    yield parse_text(read_text(file, settings, one_record=True), file.relative, settings)
