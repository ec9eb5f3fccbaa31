"""HTML fragments (feed summaries and contents, HTML in a record's fields) to plain
paragraphs: block elements and line breaks end a paragraph, scripts and styles are
dropped, whitespace is collapsed, character references are resolved.

lxml is imported on the first fragment that has tags: telling whether a record's
text is HTML must not cost plain-text readers the import.
"""

from __future__ import annotations

import html
import re
from typing import TYPE_CHECKING

from textpipe.ingest.text import split_paragraphs

if TYPE_CHECKING:
    from lxml import etree

_BLOCKS = frozenset(
    "address article aside blockquote br dd div dl dt figcaption figure footer h1 h2 h3 h4 "
    "h5 h6 header hr li main nav ol p pre section table tbody td th thead tr ul".split()
)
_DROPPED = frozenset({"script", "style", "noscript", "template", "iframe", "object"})
_INLINE = frozenset(
    "a abbr b bdi bdo big cite code del dfn em font i img ins kbd mark q s samp small span "
    "strike strong sub sup time tt u var wbr".split()
)
# A tag only counts when it names an HTML element: "<Reuters>" or "<jo@example.com>" in
# plain text is no markup.
_TAG = re.compile(r"</?([A-Za-z][A-Za-z0-9]*)(?:\s[^<>]*)?/?>")
_HTML_ELEMENTS = _BLOCKS | _DROPPED | _INLINE


def html_tags(text: str) -> set[str]:
    """The known HTML elements whose tags `text` holds (`<p>`, `</b>`, `<br/>`); empty for plain text."""
    if "<" not in text:
        return set()
    return {name for match in _TAG.finditer(text) if (name := match.group(1).lower()) in _HTML_ELEMENTS}


def has_block_tags(tags: set[str]) -> bool:
    return not tags.isdisjoint(_BLOCKS)


def _walk(element: etree._Element, paragraphs: list[str], current: list[str]) -> None:
    tag = element.tag if isinstance(element.tag, str) else ""
    if tag in _DROPPED:
        if element.tail:
            current.append(element.tail)
        return
    block = tag in _BLOCKS
    if block:
        _flush(paragraphs, current)
    if element.text and isinstance(element.tag, str):
        current.append(element.text)
    for child in element:
        _walk(child, paragraphs, current)
    if block:
        _flush(paragraphs, current)
    if element.tail:
        current.append(element.tail)


def _flush(paragraphs: list[str], current: list[str]) -> None:
    text = " ".join("".join(current).split())
    if text:
        paragraphs.append(text)
    current.clear()


def _untagged_paragraphs(fragment: str) -> str:
    return "\n\n".join(split_paragraphs(html.unescape(fragment)))


def html_to_paragraphs(fragment: str) -> str:
    """`"<p>One.</p><p>Two<br>lines</p>"` -> `"One.\\n\\nTwo\\n\\nlines"`; a fragment with no
    tags keeps its blank-line paragraphs. Character references are resolved in both
    (`"Tom &amp; Jerry"` -> `"Tom & Jerry"`): the fragment is HTML."""
    if "<" not in fragment:
        return _untagged_paragraphs(fragment)
    from lxml import etree
    from lxml import html as lxml_html

    try:
        root = lxml_html.fragment_fromstring(fragment, create_parent="div")
    except (etree.ParserError, ValueError):
        return _untagged_paragraphs(fragment)
    paragraphs: list[str] = []
    current: list[str] = []
    _walk(root, paragraphs, current)
    _flush(paragraphs, current)
    return "\n\n".join(paragraphs)
