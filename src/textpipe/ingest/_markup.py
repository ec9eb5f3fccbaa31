"""HTML fragments (feed summaries and contents) to plain paragraphs: block elements and
line breaks end a paragraph, scripts and styles are dropped, whitespace is collapsed.
"""

from __future__ import annotations

from lxml import etree
from lxml import html as lxml_html

from textpipe.ingest.text import split_paragraphs

_BLOCKS = frozenset(
    "address article aside blockquote br dd div dl dt figcaption figure footer h1 h2 h3 h4 "
    "h5 h6 header hr li main nav ol p pre section table tbody td th thead tr ul".split()
)
_DROPPED = frozenset({"script", "style", "noscript", "template", "iframe", "object"})


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


def html_to_paragraphs(fragment: str) -> str:
    """`"<p>One.</p><p>Two<br>lines</p>"` -> `"One.\\n\\nTwo\\n\\nlines"`; plain text keeps
    its blank-line paragraphs."""
    if "<" not in fragment:
        return "\n\n".join(split_paragraphs(fragment))
    try:
        root = lxml_html.fragment_fromstring(fragment, create_parent="div")
    except (etree.ParserError, ValueError):
        return "\n\n".join(split_paragraphs(fragment))
    paragraphs: list[str] = []
    current: list[str] = []
    _walk(root, paragraphs, current)
    _flush(paragraphs, current)
    return "\n\n".join(paragraphs)
