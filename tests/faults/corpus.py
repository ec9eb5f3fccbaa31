"""The fault corpus: hundreds of distinct bad inputs written under one folder, each
paired with what textpipe must make of it.

`build_fault_corpus(root)` writes the files and returns a `FaultManifest`. A case
names its source (the path relative to `root`, as textpipe reports it), the rejects
it must cause (record number and allowed reason codes) and the articles that must
still get through (record, title, a marker word the cleaned text must hold, and
words such as accented ones that must survive decoding). `check_case` compares
what a reader or a run produced for one source with that. Deterministic: the same
call writes the same bytes.

Size-dependent cases follow the caps in `FaultManifest.env` (TEXTPIPE_* settings):
small caps for the default corpus, the shipped defaults for the heavy one.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
import os
import random
import re
import socket
import struct
import zlib
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from html import escape
from pathlib import Path

from textpipe.config import Settings
from textpipe.records import RejectReason as R

ANY_RECORD = -1  # ExpectedReject.record: any record of the file
MARKER = re.compile(r"\bref\d{5}q\b")
MOJIBAKE_SIGNS = ("Ã", "â€")
MiB = 1024 * 1024


@dataclass(frozen=True)
class Caps:
    max_file_bytes: int
    max_decompressed_bytes: int
    max_record_bytes: int

    def env(self) -> dict[str, str]:
        return {f"TEXTPIPE_{name.upper()}": str(value) for name, value in self.__dict__.items()}


SMALL_CAPS = Caps(max_file_bytes=4 * MiB, max_decompressed_bytes=4 * MiB, max_record_bytes=256 * 1024)


@dataclass(frozen=True)
class ExpectedReject:
    record: int | None  # None: the whole file (or path); ANY_RECORD: any record
    reasons: frozenset[R]
    optional: bool = False

    def describe(self) -> str:
        where = "file" if self.record is None else "a record" if self.record == ANY_RECORD else f"record {self.record}"
        return f"{'/'.join(sorted(r.value for r in self.reasons))} ({where}{', optional' if self.optional else ''})"


@dataclass(frozen=True)
class ExpectedArticle:
    record: int
    title: str
    marker: str | None = None  # the only marker word the cleaned text may hold
    words: tuple[str, ...] = ()  # words the cleaned text must contain (accents, repaired mojibake)
    absent: tuple[str, ...] = ()  # strings the cleaned text must not contain


@dataclass(frozen=True)
class FaultCase:
    """One bad input and what must come of it.

    stage: "read" (a file that `discover` finds and `read_file` reads), "discover" (a
    path `discover` itself rejects or follows), "ignored" (hidden, underscore or
    unknown-extension names: neither read nor rejected), "race" (a file changed after
    discovery by `mutate`, under `_race/`, which runs ignore: library tests only).
    """

    name: str
    family: str
    source: str
    articles: tuple[ExpectedArticle, ...] = ()
    rejects: tuple[ExpectedReject, ...] = ()
    may_articles: tuple[ExpectedArticle, ...] = ()  # may get through; if not, a reject must say why
    stage: str = "read"
    mutate: Callable[[Path], None] | None = None
    mutate_after_first_item: bool = False

    def expectation(self) -> str:
        parts = [f"rejected: {r.describe()}" for r in self.rejects]
        if self.articles or not self.rejects:
            parts.append(f"good records still get through: {len(self.articles)} articles")
        if self.may_articles:
            parts.append(f"{len(self.may_articles)} more may")
        return "; ".join(parts)


@dataclass
class FaultManifest:
    root: Path
    caps: Caps
    cases: list[FaultCase]
    skipped: dict[str, str] = field(default_factory=dict)  # case -> why it was not generated
    forbidden_markers: set[str] = field(default_factory=set)  # must never reach the store

    @property
    def env(self) -> dict[str, str]:
        return self.caps.env()

    def settings(self, **overrides: object) -> Settings:
        return Settings(**{**self.caps.__dict__, **overrides})

    def by_source(self) -> dict[str, FaultCase]:
        return {case.source: case for case in self.cases if case.stage != "race"}

    def __len__(self) -> int:
        return len(self.cases)


def check_case(
    case: FaultCase,
    articles: Iterable[tuple[int, str, str]],
    rejects: Iterable[tuple[int | None, str]],
) -> list[str]:
    """Problems with what came of `case`: articles as (record, title, cleaned text),
    rejects as (record, reason code). An empty list means all is as expected."""
    got_articles, got_rejects = list(articles), list(rejects)
    problems = []
    for expected in case.articles:
        if not any(record == expected.record and title == expected.title for record, title, _ in got_articles):
            problems.append(f"missing article: record {expected.record} {expected.title!r}")
    allowed = {(a.record, a.title): a for a in case.articles + case.may_articles}
    for record, title, text in got_articles:
        expected = allowed.get((record, title))
        if expected is None:
            problems.append(f"unexpected article: record {record} {title!r}: {text[:80]!r}")
            continue
        markers = set(MARKER.findall(text))
        if expected.marker is not None and markers != {expected.marker}:
            problems.append(f"record {record}: text holds markers {sorted(markers)}, expected only {expected.marker}")
        problems += [f"record {record}: {word!r} not in the text" for word in expected.words if word not in text]
        problems += [f"record {record}: {word!r} in the text" for word in expected.absent if word in text + title]
    for expected in case.rejects:
        if not expected.optional and not any(_matches(expected, record, reason) for record, reason in got_rejects):
            problems.append(f"missing reject: {expected.describe()}")
    for record, reason in got_rejects:
        if not any(_matches(expected, record, reason) for expected in case.rejects):
            problems.append(f"unexpected reject: record {record} {reason}")
    got_titles = {(record, title) for record, title, _ in got_articles}
    lost = [a for a in case.may_articles if (a.record, a.title) not in got_titles]
    if lost and not got_rejects:
        problems.append(f"{len(lost)} article(s) neither stored nor rejected")
    return problems


def _matches(expected: ExpectedReject, record: int | None, reason: str) -> bool:
    if reason not in {r.value for r in expected.reasons}:
        return False
    return expected.record == ANY_RECORD and record is not None or expected.record == record


# --- text to write ---------------------------------------------------------------------

_SENTENCES = (
    "The town council approved a new budget on Tuesday after a long debate about the harbour wall.",
    "Engineers said the repairs would take two years and cost more than the original estimate.",
    "Residents who attended the meeting asked for a public inquiry into the delays.",
    "The library will stay open on Saturdays, the mayor confirmed in a statement.",
    "Local businesses welcomed the decision but warned that parking remains a problem.",
    "A spokesperson for the regional government declined to comment on the figures.",
    "Teachers at the primary school raised money for new books with a summer fair.",
    "The river burst its banks for the second time this winter, flooding several roads.",
    "Farmers in the valley reported a better harvest than expected despite the dry spring.",
    "The football club announced that its new stadium will open next season.",
    "Bus services will run less often on Sundays from next month, the operator said.",
    "Volunteers planted more than a thousand trees along the old railway line.",
)
_TOPICS = ("Harbour wall", "Council budget", "Library hours", "River flooding", "Bus timetable", "Tree planting")


@dataclass(frozen=True)
class Story:
    title: str
    paragraphs: tuple[str, ...]
    marker: str

    @property
    def text(self) -> str:
        return "\n\n".join(self.paragraphs)

    def expect(self, record: int = 0, title: str | None = None, words: Sequence[str] = (),
               absent: Sequence[str] = ()) -> ExpectedArticle:  # fmt: skip
        return ExpectedArticle(record, self.title if title is None else title, self.marker, tuple(words), tuple(absent))

    def record(self) -> dict[str, str]:
        return {"title": self.title, "text": self.text}


def txt_doc(story: Story) -> str:
    return f"{story.title}\n\n{story.text}\n"


def jsonl_line(story: Story) -> str:
    return json.dumps(story.record(), ensure_ascii=False)


def json_doc(stories: Sequence[Story]) -> str:
    return json.dumps([s.record() for s in stories], ensure_ascii=False, indent=1)


def csv_doc(stories: Sequence[Story], delimiter: str = ",") -> str:
    out = io.StringIO()
    writer = csv.writer(out, delimiter=delimiter, lineterminator="\n")
    writer.writerow(["title", "text"])
    writer.writerows([s.title, s.text] for s in stories)
    return out.getvalue()


def html_doc(story: Story, charset: str | None = None, extra_body: str = "") -> str:
    meta = f'<meta charset="{charset}">' if charset else ""
    paragraphs = "".join(f"<p>{escape(p)}</p>" for p in story.paragraphs)
    return (
        f"<!DOCTYPE html><html><head>{meta}<title>{escape(story.title)}</title></head><body>"
        f"<article><h1>{escape(story.title)}</h1>{paragraphs}</article>{extra_body}</body></html>"
    )


def rss_item(story: Story) -> str:
    return f"<item><title>{escape(story.title)}</title><description>{escape(story.text)}</description></item>"


def rss_doc(stories: Sequence[Story], encoding: str | None = None, items: str | None = None) -> str:
    declaration = f'<?xml version="1.0" encoding="{encoding}"?>' if encoding else '<?xml version="1.0"?>'
    body = items if items is not None else "".join(rss_item(s) for s in stories)
    return f'{declaration}\n<rss version="2.0"><channel><title>Fault feed</title>{body}</channel></rss>\n'


def atom_doc(stories: Sequence[Story]) -> str:
    entries = "".join(
        f"<entry><title>{escape(s.title)}</title><id>urn:fault:{s.marker}</id>"
        f"<updated>2024-05-04T08:00:00Z</updated><content type=\"text\">{escape(s.text)}</content></entry>"
        for s in stories
    )
    return (
        '<?xml version="1.0" encoding="utf-8"?>\n<feed xmlns="http://www.w3.org/2005/Atom">'
        f"<title>Fault feed</title><id>urn:fault</id><updated>2024-05-04T08:00:00Z</updated>{entries}</feed>\n"
    )


BILLION_LAUGHS = (
    '<?xml version="1.0"?>\n<!DOCTYPE lolz [<!ENTITY lol "lol">'
    + "".join(f'<!ENTITY lol{i} "{f"&lol{i - 1};" * 10 if i > 1 else "&lol;" * 10}">' for i in range(1, 10))
    + ']>\n<rss version="2.0"><channel><title>&lol9;</title><item><title>&lol9;</title>'
    "<description>&lol9;</description></item></channel></rss>\n"
)


def quadratic_blowup(kilobytes: int = 50, references: int = 5_000) -> str:
    entity = "A" * (kilobytes * 1024)
    return (
        f'<?xml version="1.0"?>\n<!DOCTYPE rss [<!ENTITY a "{entity}">]>\n<rss version="2.0"><channel>'
        f"<item><title>Blowup</title><description>{'&a;' * references}</description></item></channel></rss>\n"
    )


def gzip_bytes(data: bytes, mtime: int = 0) -> bytes:
    return gzip.compress(data, mtime=mtime)


def gzip_of_repeated(chunk: bytes, total: int) -> bytes:
    """A gzip member of `chunk` repeated up to `total` bytes, built without holding it."""
    compressor = zlib.compressobj(9, zlib.DEFLATED, 31)  # wbits 31: gzip header and trailer
    parts, written = [], 0
    block = chunk * max(1, MiB // len(chunk))
    while written < total:
        piece = block[: total - written]
        parts.append(compressor.compress(piece))
        written += len(piece)
    parts.append(compressor.flush())
    return b"".join(parts)


# --- the builder -----------------------------------------------------------------------

_W = frozenset  # short alias for reason sets
EMPTY, BINARY_LIKE, PARSE = _W({R.EMPTY}), _W({R.BINARY, R.DECODE_ERROR}), _W({R.PARSE_ERROR})


class _Builder:
    def __init__(self, root: Path, caps: Caps) -> None:
        self.root = root
        self.caps = caps
        self.cases: list[FaultCase] = []
        self.skipped: dict[str, str] = {}
        self.forbidden: set[str] = set()
        self._stories = 0
        self._rng = random.Random(20240504)

    def story(self, title: str | None = None, words_sentence: str | None = None) -> Story:
        self._stories += 1
        n = self._stories
        marker = f"ref{n:05d}q"
        picks = [_SENTENCES[(n * 7 + i * 5) % len(_SENTENCES)] for i in range(3)]
        first = " ".join(picks[:2]) + (f" {words_sentence}" if words_sentence else "")
        paragraphs = (first, f"{picks[2]} The file reference is {marker}.")
        return Story(title or f"{_TOPICS[n % len(_TOPICS)]} report {n}", paragraphs, marker)

    def random_bytes(self, size: int, low: int = 0, high: int = 256) -> bytes:
        return bytes(self._rng.randrange(low, high) for _ in range(size))

    def write(self, relative: str, data: bytes) -> Path:
        path = self.root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        return path

    def add(self, name: str, family: str, source: str, data: bytes | None = None, **expect: object) -> FaultCase:
        if data is not None:
            self.write(source, data)
        case = FaultCase(name=name, family=family, source=source, **expect)  # type: ignore[arg-type]
        self.cases.append(case)
        return case

    def reject(self, name: str, family: str, source: str, data: bytes | None, reasons: frozenset[R],
               record: int | None = None) -> FaultCase:  # fmt: skip
        return self.add(name, family, source, data, rejects=(ExpectedReject(record, reasons),))


FORMATS = ("txt", "json", "jsonl", "csv", "html", "rss")


def _one_story_doc(fmt: str, story: Story, encoding: str | None = None) -> str:
    return {
        "txt": lambda: txt_doc(story),
        "json": lambda: json_doc([story]),
        "jsonl": lambda: jsonl_line(story) + "\n",
        "csv": lambda: csv_doc([story]),
        "html": lambda: html_doc(story, charset=encoding),
        "rss": lambda: rss_doc([story], encoding=encoding),
    }[fmt]()


def _whitespace(b: _Builder) -> None:
    kinds = {
        "empty": "", "space": " ", "newlines": "\n\n\n", "crlf": "\r\n\r\n", "tabs": "\t \t",
        "formfeeds": " \f\v\r\n", "nbsp": "\u00a0\u00a0\n", "em-spaces": "\u2002\u2003\u2009",
        "ideographic": "\u3000\n", "line-separators": "\u2028\u2029", "next-line": "\u0085\n",
        "bom-only": "\ufeff",
    }  # fmt: skip
    for kind, content in kinds.items():
        data = content.encode("utf-8")
        for fmt in FORMATS:
            b.reject(f"whitespace/{kind}.{fmt}", "whitespace", f"whitespace/{kind}.{fmt}", data, EMPTY)
    for fmt in ("txt", "jsonl", "csv"):
        b.reject(f"whitespace/utf16-spaces.{fmt}", "whitespace", f"whitespace/utf16-spaces.{fmt}",
                 " \n \n".encode("utf-16"), EMPTY)  # fmt: skip


def _binary(b: _Builder) -> None:
    patterns = {
        "random-64": b.random_bytes(64),
        "random-4k": b.random_bytes(4096),
        "random-80k": b.random_bytes(80 * 1024),
        "high-bytes": b.random_bytes(2048, 0x80, 0x100),
        "zeros": bytes(1024),
        "ff": b"\xff" * 1024,
        "png": b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + b.random_bytes(600),
        "jpeg": b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + b.random_bytes(600),
        "elf": b"\x7fELF\x02\x01\x01" + bytes(9) + b.random_bytes(600),
        "zip": b"PK\x03\x04\x14\x00\x00\x00\x08\x00" + b.random_bytes(600),
        "pdf": b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<< /Length 600 /Filter /FlateDecode >>\nstream\n"
        + zlib.compress(b.random_bytes(900)) + b"\nendstream\nendobj\n",
        "sqlite": b"SQLite format 3\x00" + b.random_bytes(600),
        "gzip-inside": gzip_bytes(b"Title\n\n" + _SENTENCES[0].encode() * 20),
        "nul-in-text": b"Harbour report\n\nThe council met on Tuesday.\x00\x00\x00 The wall is old." * 3,
        "control-chars": bytes(range(1, 9)) * 300,
    }
    for kind, data in patterns.items():
        for fmt in FORMATS:
            b.reject(f"binary/{kind}.{fmt}", "binary", f"binary/{kind}.{fmt}", data, BINARY_LIKE)


# Encodings that must decode to the same text; (codec, BOM added by hand, XML/HTML label).
_ENCODINGS = {
    "latin-1": ("latin-1", b"", "ISO-8859-1"),
    "cp1252": ("cp1252", b"", "windows-1252"),
    "utf-8-bom": ("utf-8", b"\xef\xbb\xbf", "utf-8"),
    "utf-16-le-bom": ("utf-16-le", b"\xff\xfe", "UTF-16"),
    "utf-16-be-bom": ("utf-16-be", b"\xfe\xff", "UTF-16"),
    "utf-16-le": ("utf-16-le", b"", "UTF-16LE"),
    "utf-16-be": ("utf-16-be", b"", "UTF-16BE"),
    "utf-32-bom": ("utf-32-le", b"\xff\xfe\x00\x00", "UTF-32"),
}
_ACCENTED = {
    "latin-1": ("The café on Müller Straße in São Paulo reopened, and the niño smiled.", ("café", "Müller", "Straße", "São")),
    "cp1252": ("The café’s “new œuvre” costs €12 at Müller’s.", ("café’s", "“new", "œuvre”", "€12", "Müller’s")),
}


def _encodings(b: _Builder) -> None:
    for name, (codec, bom, label) in _ENCODINGS.items():
        sentence, words = _ACCENTED["cp1252" if name == "cp1252" else "latin-1"]
        for fmt in FORMATS:
            story = b.story(title=f"Café Müller report {b._stories + 1}", words_sentence=sentence)
            document = _one_story_doc(fmt, story, encoding=label if fmt in ("html", "rss") else None)
            if fmt == "rss" and codec.startswith("utf-8"):
                document = document.replace(' encoding="utf-8"', "")
            data = bom + document.encode(codec)
            source = f"encodings/{name}.{fmt}"
            b.add(source, "encodings", source, data, articles=(story.expect(words=words),))
    legacy = {
        "cp1251": ("Правительство объявило о новых мерах поддержки экономики в среду вечером, сообщили в министерстве финансов.", "Правительство"),
        "koi8-r": ("Городской совет утвердил новый бюджет во вторник после долгих споров о ремонте набережной.", "бюджет"),
        "iso-8859-7": ("Το δημοτικό συμβούλιο ενέκρινε τον νέο προϋπολογισμό την Τρίτη μετά από μακρά συζήτηση.", "προϋπολογισμό"),
        "shift_jis": ("市議会は火曜日、港の防波堤の修理費用をめぐる長い議論の末、新しい予算を承認しました。", "予算"),
        "gb18030": ("市议会在星期二经过长时间辩论后批准了新的预算，用于修复港口防波堤。", "预算"),
    }  # fmt: skip
    for codec, (sentence, word) in legacy.items():
        story = b.story(title=f"{word} {b._stories + 1}", words_sentence=f"{sentence} {sentence}")
        source = f"encodings/legacy-{codec}.txt"
        b.add(source, "encodings", source, txt_doc(story).encode(codec), articles=(story.expect(words=(word,)),))


def sloppy_cp1252(data: bytes) -> str:
    """UTF-8 bytes read as Windows-1252 the way real mojibake is made: the five bytes
    that code page leaves undefined pass through as Latin-1 control characters."""
    return "".join(chr(byte) if 0x80 <= byte < 0xA0 and bytes([byte]) in b"\x81\x8d\x8f\x90\x9d"
                   else bytes([byte]).decode("cp1252") for byte in data)  # fmt: skip


def _mojibake(b: _Builder) -> None:
    variants = {
        "accents": ("The café on Müller Straße in São Paulo reopened.", ("café", "Müller", "Straße", "São")),
        # ftfy straightens the curly quotes of text it repairs; the words must be whole.
        "quotes": ("The mayor’s “final” offer was rejected.", ("mayor", "final", "offer was rejected")),
    }
    for variant, (sentence, words) in variants.items():
        for fmt in ("txt", "json", "jsonl", "csv", "html"):
            story = b.story(title=f"Café report {b._stories + 1}", words_sentence=sentence)
            broken = sloppy_cp1252(_one_story_doc(fmt, story).encode("utf-8"))
            source = f"mojibake/{variant}.{fmt}"
            b.add(source, "mojibake", source, broken.encode("utf-8"),
                  articles=(story.expect(words=words, absent=MOJIBAKE_SIGNS),))  # fmt: skip
    story = b.story(title=f"Café report {b._stories + 1}", words_sentence="The café reopened.")
    twice = sloppy_cp1252(sloppy_cp1252(txt_doc(story).encode("utf-8")).encode("utf-8"))
    b.add("mojibake/twice.txt", "mojibake", "mojibake/twice.txt", twice.encode("utf-8"),
          articles=(story.expect(words=("café",), absent=MOJIBAKE_SIGNS),))  # fmt: skip


def _cut_points(length: int, count: int) -> list[int]:
    return sorted({max(1, min(length - 1, round(length * k / (count + 1)))) for k in range(1, count + 1)})


def _three_line_jsonl(b: _Builder, family: str, name: str, middle: str, reasons: frozenset[R] | None,
                      middle_story: Story | None = None) -> None:  # fmt: skip
    """Good record, `middle` line, good record: the good ones must get through."""
    first, last = b.story(), b.story()
    data = f"{jsonl_line(first)}\n{middle}\n{jsonl_line(last)}\n".encode("utf-8", "surrogatepass")
    articles = [first.expect(0), last.expect(2)]
    if middle_story is not None:
        articles.insert(1, middle_story.expect(1))
    rejects = (ExpectedReject(1, reasons),) if reasons else ()
    b.add(name, family, name, data, articles=tuple(articles), rejects=rejects)


def _json(b: _Builder) -> None:
    family = "json"
    line = jsonl_line(b.story())
    for cut in _cut_points(len(line), 20):
        _three_line_jsonl(b, family, f"json/mid-truncated-at-{cut:03d}.jsonl", line[:cut], PARSE)
    for cut in _cut_points(200, 6):
        first, second, third = b.story(), b.story(), b.story()
        data = f"{jsonl_line(first)}\n{jsonl_line(second)}\n{jsonl_line(third)[:cut]}".encode()
        b.add(f"json/tail-truncated-at-{cut:03d}.jsonl", family, f"json/tail-truncated-at-{cut:03d}.jsonl", data,
              articles=(first.expect(0), second.expect(1)), rejects=(ExpectedReject(2, PARSE),))  # fmt: skip
    document = json_doc([b.story(), b.story()])
    for cut in _cut_points(len(document), 10):
        b.reject(f"json/document-truncated-at-{cut:03d}.json", family,
                 f"json/document-truncated-at-{cut:03d}.json", document[:cut].encode(), PARSE)  # fmt: skip

    text = json.dumps(b.story().text)[1:-1]  # escaped, to sit inside the broken JSON
    invalid = {
        "trailing-comma": f'{{"title": "x", "text": "{text}",}}',
        "single-quotes": f"{{'title': 'x', 'text': '{text}'}}",
        "unquoted-keys": f'{{title: "x", text: "{text}"}}',
        "comment": f'{{"title": "x", "text": "{text}"}} // trailing comment',
        "python-literals": f'{{"title": "x", "text": "{text}", "ok": True, "none": None}}',
        "missing-colon": f'{{"title" "x", "text": "{text}"}}',
        "extra-brace": f'{{"title": "x", "text": "{text}"}}}}',
        "two-objects": f'{{"title": "x"}} {{"text": "{text}"}}',
        "raw-control-char": f'{{"title": "x\x01y", "text": "{text}\tmore"}}',
        "bad-escape": f'{{"title": "\\x41", "text": "{text}"}}',
        "bom-mid-file": f'\ufeff{{"title": "x", "text": "{text}"}}',
        "garbage-after": f'{{"title": "x", "text": "{text}"}} xyz',
        "lone-bracket": "]",
        "bare-word": "hello world",
        "unterminated-string": f'{{"title": "x", "text": "{text}}}',
        "deep-nesting": "[" * 100_000 + "]" * 100_000,
        "huge-integer": f'{{"title": "x", "text": "{text}", "n": {"9" * 5000}}}',
    }
    for kind, middle in invalid.items():
        _three_line_jsonl(b, family, f"json/invalid-{kind}.jsonl", middle, PARSE)

    shapes = {
        "array": "[]", "numbers": "[1, 2, 3]", "string": '"just a string"', "number": "42", "null": "null",
        "true": "true", "text-object": f'{{"title": "x", "text": {{"value": "{text}"}}}}',
        "text-numbers": '{"title": "x", "text": [1, 2, 3]}', "text-number": '{"title": "x", "text": 12345}',
        "text-bool": '{"title": "x", "body": true}',
    }  # fmt: skip
    for kind, middle in shapes.items():
        _three_line_jsonl(b, family, f"json/shape-{kind}.jsonl", middle, _W({R.BAD_RECORD}))
    no_text = {
        "empty-object": "{}", "title-only": '{"title": "Only a title here"}',
        "short-text": '{"title": "x", "text": "Too short."}', "blank-text": '{"title": "x", "text": "   \\n\\t  "}',
        "empty-fields": '{"title": "x", "text": "", "body": null, "content": []}',
        "invisible-text": '{"title": "x", "text": "' + "\\u200b" * 40 + '"}',
    }  # fmt: skip
    for kind, middle in no_text.items():
        _three_line_jsonl(b, family, f"json/no-text-{kind}.jsonl", middle, _W({R.NO_TEXT}))

    def good_middle(kind: str, build: Callable[[Story], str], title: str | None = None) -> None:
        story = b.story()
        middle = build(story)
        expected = Story(title if title is not None else story.title, story.paragraphs, story.marker)
        _three_line_jsonl(b, family, f"json/odd-but-good-{kind}.jsonl", middle, None, expected)

    good_middle("nan-extra", lambda s: json.dumps({**s.record(), "score": float("nan"), "big": float("inf")}))
    good_middle("duplicate-keys", lambda s: f'{{"title": "wrong", "title": {json.dumps(s.title)}, "text": {json.dumps(s.text)}}}')
    good_middle("upper-case-keys", lambda s: json.dumps({"TITLE": s.title, "Text": s.text}))
    good_middle("lone-surrogates", lambda s: json.dumps({"title": s.title + " \ud800", "text": s.text, "x": "\udfff"}),
                title=None)  # fmt: skip
    b.cases[-1] = _retitle(b.cases[-1], 1, lambda t: t + " \ufffd")
    good_middle("deep-extra", lambda s: json.dumps(s.record())[:-1] + ', "x": ' + "[" * 400 + "]" * 400 + "}")
    good_middle("escaped-unicode", lambda s: json.dumps(s.record(), ensure_ascii=True))
    good_middle("crlf", lambda s: jsonl_line(s) + "\r")
    good_middle("body-list", lambda s: json.dumps({"title": s.title, "body": list(s.paragraphs)}))

    stories = [b.story(), b.story()]
    b.add("json/wrapped-articles.json", family, "json/wrapped-articles.json",
          json.dumps({"articles": [s.record() for s in stories]}).encode(),
          articles=tuple(s.expect(i) for i, s in enumerate(stories)))  # fmt: skip
    story = b.story()
    b.add("json/array-with-non-object.json", family, "json/array-with-non-object.json",
          json.dumps([1, story.record()]).encode(), articles=(story.expect(1),),
          rejects=(ExpectedReject(0, _W({R.BAD_RECORD})),))  # fmt: skip
    b.reject("json/top-level-number.json", family, "json/top-level-number.json", b"42", _W({R.BAD_RECORD}))
    b.reject("json/empty-array.json", family, "json/empty-array.json", b"[]", EMPTY)
    b.reject("json/empty-object.json", family, "json/empty-object.json", b"{}", _W({R.NO_TEXT}), record=0)
    b.reject("json/deep-nesting.json", family, "json/deep-nesting.json", b"[" * 100_000 + b"]" * 100_000, PARSE)
    b.reject("json/blank-lines-only.jsonl", family, "json/blank-lines-only.jsonl", b"\n \n\t\n", EMPTY)


def _retitle(case: FaultCase, record: int, change: Callable[[str], str]) -> FaultCase:
    articles = tuple(
        ExpectedArticle(a.record, change(a.title), a.marker, a.words, a.absent) if a.record == record else a
        for a in case.articles
    )
    return FaultCase(**{**case.__dict__, "articles": articles})


def _csv(b: _Builder) -> None:
    family = "csv"

    def rows_file(name: str, header: str, rows: list[str], articles: tuple = (), rejects: tuple = ()) -> None:
        data = (header + "\n" + "\n".join(rows) + "\n").encode()
        b.add(name, family, name, data, articles=articles, rejects=rejects)

    def row(story: Story, delimiter: str = ",") -> str:
        out = io.StringIO()
        # The writer quotes fields holding its line terminator, so it must be "\n" here.
        csv.writer(out, delimiter=delimiter, lineterminator="\n").writerow([story.title, story.text])
        return out.getvalue()[:-1]

    first, last = b.story(), b.story()
    rows_file("csv/ragged-fewer.csv", "title,text,author", [row(first) + ",Ann", '"Lonely title"', row(last) + ",Bob"],
              (first.expect(0), last.expect(2)), (ExpectedReject(1, _W({R.BAD_RECORD})),))  # fmt: skip
    first, last = b.story(), b.story()
    rows_file("csv/ragged-more.csv", "title,text", [row(first), row(b.story()) + ",extra,fields", row(last)],
              (first.expect(0), last.expect(2)), (ExpectedReject(1, _W({R.BAD_RECORD})),))  # fmt: skip
    for delimiter, name in ((";", "semicolon"), ("\t", "tab"), ("|", "pipe")):
        stories = [b.story(), b.story()]
        data = csv_doc(stories, delimiter=delimiter).encode()
        b.add(f"csv/delimiter-{name}.csv", family, f"csv/delimiter-{name}.csv", data,
              articles=tuple(s.expect(i) for i, s in enumerate(stories)))  # fmt: skip
    stories = [b.story(), b.story()]
    mixed = "title,text\n" + "".join(f"{s.title};{' '.join(s.paragraphs).replace(',', '')}\n" for s in stories)
    b.add("csv/header-comma-rows-semicolon.csv", family, "csv/header-comma-rows-semicolon.csv", mixed.encode(),
          rejects=(ExpectedReject(0, _W({R.BAD_RECORD})), ExpectedReject(1, _W({R.BAD_RECORD}))))  # fmt: skip
    for newline, name in (("\n", "lf"), ("\r\n", "crlf")):
        stories = [b.story(), b.story()]
        data = csv_doc(stories).replace("\n\n", newline * 2)
        b.add(f"csv/embedded-newlines-{name}.csv", family, f"csv/embedded-newlines-{name}.csv", data.encode(),
              articles=tuple(s.expect(i) for i, s in enumerate(stories)))  # fmt: skip
    first, swallowed = b.story(), b.story()
    plain = f"{swallowed.title},{' '.join(swallowed.paragraphs).replace(',', '')}"
    rows_file("csv/unterminated-quote.csv", "title,text", [row(first), f'Open,"{b.story().text}', plain],
              (first.expect(0),), (ExpectedReject(1, PARSE),))  # fmt: skip
    b.forbidden.add(swallowed.marker)
    first, last = b.story(), b.story()
    rows_file("csv/text-after-closing-quote.csv", "title,text", [row(first), f'Bad,"{b.story().text}"oops', row(last)],
              (first.expect(0), last.expect(2)), (ExpectedReject(1, PARSE),))  # fmt: skip
    b.reject("csv/header-only.csv", family, "csv/header-only.csv", b"title,text\n", EMPTY)
    b.reject("csv/header-and-blank-rows.csv", family, "csv/header-and-blank-rows.csv", b"title,text\n,\n \n\t,\n", EMPTY)
    rows_file("csv/no-text-column.csv", "title,author", ["First headline,Ann", "Second headline,Bob"],
              rejects=(ExpectedReject(0, _W({R.NO_TEXT})), ExpectedReject(1, _W({R.NO_TEXT}))))  # fmt: skip
    prefix = [b.story()]
    while len(csv_doc(prefix)) <= 64 * 1024:
        prefix.append(b.story())
    last = b.story()
    # Past the encoding sample, a NUL is just a character in a field, which cleaning drops.
    nul = b.story()
    nul_row = row(nul).replace("The file reference", "The \x00file reference")
    data = (csv_doc(prefix) + nul_row + "\n" + row(last) + "\n").encode()
    b.add("csv/nul-after-sample.csv", family, "csv/nul-after-sample.csv", data,
          articles=tuple(s.expect(i) for i, s in enumerate([*prefix, nul, last])))  # fmt: skip
    stories = [b.story(), b.story()]
    b.add("csv/utf8-bom-header.csv", family, "csv/utf8-bom-header.csv", b"\xef\xbb\xbf" + csv_doc(stories).encode(),
          articles=tuple(s.expect(i) for i, s in enumerate(stories)))  # fmt: skip
    stories = [b.story()]
    b.add("csv/blank-and-delimiter-only-rows.csv", family, "csv/blank-and-delimiter-only-rows.csv",
          ("title,text\n,\n\n" + row(stories[0]) + "\n , \n").encode(), articles=(stories[0].expect(0),))  # fmt: skip


def _html(b: _Builder) -> None:
    family = "html"
    text = escape(b.story().text)
    no_text = {
        "no-body": "<html><head><title>Nothing below</title></head></html>",
        "empty-body": "<html><head><title>Empty</title></head><body></body></html>",
        "script-only": f"<html><head><title>S</title></head><body><script>var t = '{text}';</script></body></html>",
        "style-only": "<html><head><title>S</title><style>p { color: red; }</style></head><body><style>b{}</style></body></html>",
        "comments-only": f"<html><body><!-- {text} --></body></html>",
        "images-only": "<html><body>" + '<img src="a.png" alt="">' * 50 + "</body></html>",
        "frameset": '<html><frameset cols="50%,50%"><frame src="a.html"><frame src="b.html"></frameset></html>',
        "nav-and-footer-only": "<html><body><nav><a href='/'>Home</a> <a href='/news'>News</a></nav>"
        "<footer>Copyright 2024 Example News. All rights reserved.</footer></body></html>",
        "deep-nesting-text-at-bottom": "<html><head><title>Deep</title></head><body>"
        + "<div>" * 5000 + f"<p>{text}</p>" + "</div>" * 5000 + "</body></html>",
        "tags-only": "<html><body>" + "<div><span></span></div>" * 500 + "</body></html>",
    }
    for kind, page in no_text.items():
        b.reject(f"html/{kind}.html", family, f"html/{kind}.html", page.encode(), _W({R.NO_TEXT}))
    story = b.story()
    deep_after = "<div>" * 5000 + "<p>deep</p>" + "</div>" * 5000
    b.add("html/deep-nesting-after-article.html", family, "html/deep-nesting-after-article.html",
          html_doc(story, extra_body=deep_after).encode(), articles=(story.expect(),))  # fmt: skip
    story = b.story()
    unclosed = html_doc(story).replace("</p>", "").replace("</article>", "").replace("</body></html>", "")
    b.add("html/unclosed-tags.html", family, "html/unclosed-tags.html", unclosed.encode(), articles=(story.expect(),))
    story = b.story()
    b.add("html/huge-attribute.html", family, "html/huge-attribute.html",
          html_doc(story, extra_body=f'<div data-x="{"x" * 100_000}"></div>').encode(), articles=(story.expect(),))  # fmt: skip
    story = b.story()
    b.add("html/script-around-article.html", family, "html/script-around-article.html",
          html_doc(story, extra_body="<script>" + "document.write('x');" * 2000 + "</script>").encode(),
          articles=(story.expect(),))  # fmt: skip


def _xml(b: _Builder) -> None:
    family = "xml"
    unsafe = _W({R.UNSAFE_XML})
    story = b.story()
    bombs = {
        "billion-laughs.rss": BILLION_LAUGHS.encode(),
        "billion-laughs.xml": BILLION_LAUGHS.encode(),
        "billion-laughs.atom": BILLION_LAUGHS.replace('<rss version="2.0"><channel>', '<feed xmlns="http://www.w3.org/2005/Atom">')
        .replace("</channel></rss>", "</feed>").replace("<item>", "<entry>").replace("</item>", "</entry>").encode(),
        "billion-laughs-utf16.rss": BILLION_LAUGHS.encode("utf-16"),
        "billion-laughs-utf16-no-bom.rss": BILLION_LAUGHS.encode("utf-16-le"),
        "billion-laughs-malformed.rss": BILLION_LAUGHS.replace("</channel>", "<channel>").encode(),
        "billion-laughs-malformed-utf16.rss": ('<?xml version="1.0" encoding="utf-16"?><!-- a -- b -->'
                                               + BILLION_LAUGHS.split("?>", 1)[1]).encode("utf-16"),
        "quadratic-blowup.rss": quadratic_blowup().encode(),
        "quadratic-blowup-malformed.rss": ("<!-- x -- y -->" + quadratic_blowup()).encode(),
        "external-entity-file.rss": b'<?xml version="1.0"?><!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
        + rss_doc([story]).split("?>", 1)[1].replace(escape(story.title), "&x;").encode(),
        "external-entity-http.rss": b'<?xml version="1.0"?><!DOCTYPE r [<!ENTITY x SYSTEM "http://127.0.0.1:9/x">]>'
        + rss_doc([story]).split("?>", 1)[1].replace(escape(story.title), "&x;").encode(),
        "parameter-entity.rss": b'<?xml version="1.0"?><!DOCTYPE r [<!ENTITY % p SYSTEM "http://127.0.0.1:9/p.dtd"> %p;]>'
        + rss_doc([story]).split("?>", 1)[1].encode(),
        "entity-in-atom.atom": atom_doc([story]).replace("<feed", '<!DOCTYPE feed [<!ENTITY e "entity">]><feed', 1).encode(),
    }  # fmt: skip
    for name, data in bombs.items():
        b.reject(f"xml/{name}", family, f"xml/{name}", data, unsafe)
    b.reject("xml/billion-laughs.rss.gz", family, "xml/billion-laughs.rss.gz", gzip_bytes(BILLION_LAUGHS.encode()), unsafe)

    story = b.story()
    b.add("xml/external-dtd-only.rss", family, "xml/external-dtd-only.rss",
          rss_doc([story]).replace("?>", '?><!DOCTYPE rss SYSTEM "http://127.0.0.1:9/rss.dtd">', 1).encode(),
          may_articles=(story.expect(),), rejects=(ExpectedReject(None, unsafe, optional=True),))  # fmt: skip

    # Each file gets its own stories: a story in two files would be stored once only.
    def three() -> tuple[list[Story], str]:
        stories = [b.story() for _ in range(3)]
        return stories, rss_doc(stories)

    for index in range(3):
        stories, feed = three()
        cut = feed.index(escape(stories[index].text)[:40]) + 60
        b.add(f"xml/truncated-in-item-{index}.rss", family, f"xml/truncated-in-item-{index}.rss", feed[:cut].encode(),
              articles=tuple(s.expect(i) for i, s in enumerate(stories[:index])),
              rejects=(ExpectedReject(index, PARSE),))  # fmt: skip
    stories, feed = three()
    cut = feed.index(escape(stories[1].title)) + 5
    b.add("xml/truncated-in-title.rss", family, "xml/truncated-in-title.rss", feed[:cut].encode(),
          articles=(stories[0].expect(0),), rejects=(ExpectedReject(1, PARSE),))  # fmt: skip
    stories, feed = three()
    cut = feed.index("</channel>") + 4
    b.add("xml/truncated-in-closing-tags.rss", family, "xml/truncated-in-closing-tags.rss", feed[:cut].encode(),
          articles=tuple(s.expect(i) for i, s in enumerate(stories)))  # fmt: skip
    b.reject("xml/truncated-in-declaration.rss", family, "xml/truncated-in-declaration.rss", feed[:15].encode(), PARSE)
    stories = [b.story() for _ in range(3)]
    atom = atom_doc(stories)
    cut = atom.index(escape(stories[2].text)[:40]) + 30
    b.add("xml/truncated.atom", family, "xml/truncated.atom", atom[:cut].encode(),
          articles=(stories[0].expect(0), stories[1].expect(1)), rejects=(ExpectedReject(2, PARSE),))  # fmt: skip

    # Mid-document syntax errors: a lenient parser may recover the items; whatever it
    # keeps must be whole, and whatever it drops must be reported.
    lenient = {
        "unescaped-ampersand": lambda s: rss_item(s).replace("</description>", " Fish & chips.</description>"),
        "undefined-entity": lambda s: rss_item(s).replace("</description>", " Caf&eacute;&nbsp;open.</description>"),
        "unclosed-inline-tag": lambda s: rss_item(s).replace("<description>", "<description><b>"),
        "stray-text-between-items": lambda s: rss_item(s) + "stray < text",
    }
    for kind, item in lenient.items():
        items = [b.story() for _ in range(2)]
        data = rss_doc(items, items="".join(item(s) for s in items)).encode()
        b.add(f"xml/invalid-{kind}.rss", family, f"xml/invalid-{kind}.rss", data,
              may_articles=tuple(s.expect(i) for i, s in enumerate(items)),
              rejects=(ExpectedReject(ANY_RECORD, PARSE, optional=True), ExpectedReject(None, PARSE, optional=True)))  # fmt: skip

    not_feeds = {
        "inventory.xml": b'<?xml version="1.0"?><inventory><item sku="1">Widget</item></inventory>',
        "html-page.xml": b"<html><body><p>Just a page, not a feed at all.</p></body></html>",
        "plain-text.rss": b"This is plain text in a file named like a feed.\nNothing else.\n",
        "json.rss": json.dumps(b.story().record()).encode(),
        "two-roots.rss": (rss_doc([]) + rss_doc([])).encode(),
    }
    for name, data in not_feeds.items():
        b.reject(f"xml/not-a-feed-{name}", family, f"xml/not-a-feed-{name}", data, PARSE)
    b.reject("xml/no-items.rss", family, "xml/no-items.rss", rss_doc([]).encode(), _W({R.NO_TEXT}))
    story = b.story()
    items = f"<item><title>Empty one</title><description></description></item>{rss_item(story)}<item><title>Title only</title></item>"
    b.add("xml/empty-items.rss", family, "xml/empty-items.rss", rss_doc([], items=items).encode(),
          articles=(story.expect(1),), rejects=(ExpectedReject(0, _W({R.NO_TEXT})), ExpectedReject(2, _W({R.NO_TEXT}))))  # fmt: skip
    deep = "<item><title>Deep</title><description><![CDATA[" + "<div>" * 5000 + "text at the bottom" + "</div>" * 5000 + "]]></description></item>"
    b.reject("xml/deep-nesting-in-summary.rss", family, "xml/deep-nesting-in-summary.rss",
             rss_doc([], items=deep).encode(), _W({R.NO_TEXT}), record=0)  # fmt: skip
    story = b.story()
    surrogate = rss_item(story).replace("</description>", " &#xD800;</description>")
    b.reject("xml/surrogate-character-reference.rss", family, "xml/surrogate-character-reference.rss",
             rss_doc([], items=surrogate).encode(), PARSE)  # fmt: skip


def _gzip(b: _Builder) -> None:
    family = "gzip"
    corrupt = _W({R.CORRUPT_ARCHIVE})
    story = b.story()
    packed = gzip_bytes(txt_doc(story).encode() * 3)
    for cut in _cut_points(len(packed), 8):
        b.reject(f"gzip/truncated-at-{cut:03d}.txt.gz", family, f"gzip/truncated-at-{cut:03d}.txt.gz", packed[:cut], corrupt)
    middle = bytearray(packed)
    middle[len(packed) // 2] ^= 0xFF
    crc = bytearray(packed)
    crc[-8] ^= 0xFF
    size = bytearray(packed)
    size[-4:] = struct.pack("<I", 7)
    broken = {
        "flipped-byte": bytes(middle), "bad-crc": bytes(crc), "bad-length": bytes(size),
        "not-gzip": txt_doc(b.story()).encode(), "random-bytes": b.random_bytes(300),
        "trailing-garbage": packed + b"garbage after the member",
        "magic-only": b"\x1f\x8b", "header-only": packed[:10],
    }  # fmt: skip
    for kind, data in broken.items():
        b.reject(f"gzip/{kind}.txt.gz", family, f"gzip/{kind}.txt.gz", data, corrupt)
    b.reject("gzip/empty-file.txt.gz", family, "gzip/empty-file.txt.gz", b"", EMPTY)
    b.reject("gzip/empty-content.txt.gz", family, "gzip/empty-content.txt.gz", gzip_bytes(b""), EMPTY)
    b.reject("gzip/whitespace-content.jsonl.gz", family, "gzip/whitespace-content.jsonl.gz", gzip_bytes(b" \n\n "), EMPTY)
    b.reject("gzip/binary-content.txt.gz", family, "gzip/binary-content.txt.gz", gzip_bytes(b.random_bytes(2000)), BINARY_LIKE)
    b.reject("gzip/gzip-in-gzip.txt.gz", family, "gzip/gzip-in-gzip.txt.gz", gzip_bytes(packed), BINARY_LIKE)

    story = b.story()
    b.add("gzip/trailing-zeros.txt.gz", family, "gzip/trailing-zeros.txt.gz", gzip_bytes(txt_doc(story).encode()) + bytes(64),
          articles=(story.expect(),))  # fmt: skip
    story = b.story()
    document = txt_doc(story).encode()
    b.add("gzip/two-members.txt.gz", family, "gzip/two-members.txt.gz",
          gzip_bytes(document[:50]) + gzip_bytes(document[50:]), articles=(story.expect(),))  # fmt: skip
    story = b.story()
    named = io.BytesIO()
    with gzip.GzipFile(filename="original name.txt", mode="wb", fileobj=named, mtime=1) as handle:
        handle.write(txt_doc(story).encode())
    b.add("gzip/header-with-name.txt.gz", family, "gzip/header-with-name.txt.gz", named.getvalue(), articles=(story.expect(),))

    stories = [b.story() for _ in range(400)]
    lines = "".join(jsonl_line(s) + "\n" for s in stories).encode()
    packed_lines = gzip_bytes(lines)
    b.add("gzip/jsonl-truncated.jsonl.gz", family, "gzip/jsonl-truncated.jsonl.gz", packed_lines[: len(packed_lines) * 3 // 4],
          may_articles=tuple(s.expect(i) for i, s in enumerate(stories)), rejects=(ExpectedReject(None, corrupt),))  # fmt: skip

    too_large = _W({R.TOO_LARGE})
    bomb_size = b.caps.max_decompressed_bytes + MiB
    bomb = gzip_of_repeated(b" ", bomb_size)
    for inner in ("txt", "jsonl", "csv", "json", "html", "rss"):
        b.reject(f"gzip/bomb.{inner}.gz", family, f"gzip/bomb.{inner}.gz", bomb, too_large)
    lying = bytearray(gzip_of_repeated(b"a", bomb_size))
    lying[-4:] = struct.pack("<I", 100)
    b.add("gzip/bomb-lying-trailer.jsonl.gz", family, "gzip/bomb-lying-trailer.jsonl.gz", bytes(lying),
          rejects=(ExpectedReject(None, too_large), ExpectedReject(0, too_large, optional=True)))  # fmt: skip


def _sizes(b: _Builder) -> None:
    family = "sizes"
    too_large = _W({R.TOO_LARGE})
    caps = b.caps
    megabyte_line = " ".join(_SENTENCES) + " "
    big_text = (megabyte_line * (MiB // len(megabyte_line) + 1))[:MiB]
    big = b.story(words_sentence=big_text)
    expected_big = (big.expect(1),) if MiB < caps.max_record_bytes else ()
    big_reject = (ExpectedReject(1, too_large),) if MiB >= caps.max_record_bytes else ()
    first, last = b.story(), b.story()
    data = f"{jsonl_line(first)}\n{jsonl_line(big)}\n{jsonl_line(last)}\n".encode()
    b.add("sizes/one-megabyte-line.jsonl", family, "sizes/one-megabyte-line.jsonl", data,
          articles=(first.expect(0), *expected_big, last.expect(2)), rejects=big_reject)  # fmt: skip
    big = b.story(words_sentence=big_text)
    b.add("sizes/one-megabyte-line.txt", family, "sizes/one-megabyte-line.txt", txt_doc(big).encode(),
          articles=(big.expect(),) if expected_big else (), rejects=(ExpectedReject(None, too_large),) if big_reject else ())  # fmt: skip
    first, big = b.story(), b.story(words_sentence=big_text)
    data = (csv_doc([first]) + csv_doc([big]).split("\n", 1)[1]).encode()
    b.add("sizes/one-megabyte-row.csv", family, "sizes/one-megabyte-row.csv", data,
          articles=(first.expect(0), *((big.expect(1),) if expected_big else ())),
          rejects=(ExpectedReject(1, too_large),) if big_reject else ())  # fmt: skip
    for suffix in ("jsonl", "json", "rss"):
        name = f"sizes/sparse-over-file-cap.{suffix}"
        path = b.write(name, b"")
        os.truncate(path, caps.max_file_bytes + 1)
        b.reject(name, family, name, None, too_large)
    if caps.max_record_bytes < caps.max_file_bytes:
        name = "sizes/article-over-record-cap.html"
        path = b.write(name, b"<html><body><p>")
        os.truncate(path, caps.max_record_bytes + 1)
        b.reject(name, family, name, None, too_large)


def _paths(b: _Builder) -> None:
    family = "paths"
    for name in ("with space.txt", "  leading spaces.txt", "new\nline.txt", "tab\there.txt", "naïve café.txt",
                 "📰 news.txt", "back\\slash.txt", "quotes 'single' \"double\".txt", "x" * 240 + ".txt",
                 "UPPER.TXT", "colon:and;semicolon.txt"):  # fmt: skip
        story = b.story()
        b.add(f"paths/{name!r}", family, f"paths/{name}", txt_doc(story).encode(), articles=(story.expect(),))
    story = b.story()
    deep = "/".join(f"d{i}" for i in range(60))
    b.add("paths/60-folders-deep", family, f"paths/deep/{deep}/leaf.txt", txt_doc(story).encode(), articles=(story.expect(),))
    story = b.story()
    b.add("paths/folder-named-like-a-file", family, "paths/folder.txt/inside.txt", txt_doc(story).encode(),
          articles=(story.expect(),))  # fmt: skip

    base = os.fsencode(b.root / "paths")
    for raw_name, kind in ((b"caf\xe9.txt", "latin-1 name"), (b"\xff\xfe.jsonl", "invalid bytes")):
        story = b.story()
        with open(os.path.join(base, raw_name), "wb") as handle:
            handle.write(txt_doc(story).encode())
        b.forbidden.add(story.marker)
        source = "paths/" + raw_name.decode("utf-8", "replace")
        b.add(f"paths/non-utf8 {kind}", family, source, rejects=(ExpectedReject(None, _W({R.BAD_PATH})),), stage="discover")
    os.makedirs(os.path.join(base, b"dir\xff"))
    story = b.story()
    with open(os.path.join(base, b"dir\xff", b"inside.txt"), "wb") as handle:
        handle.write(txt_doc(story).encode())
    b.forbidden.add(story.marker)
    b.add("paths/non-utf8 folder", family, "paths/dir\ufffd", rejects=(ExpectedReject(None, _W({R.BAD_PATH})),), stage="discover")

    links = b.root / "links"
    links.mkdir()
    outside = b.root.parent / f"{b.root.name}-outside"
    outside.mkdir(exist_ok=True)
    secret = b.story()
    (outside / "secret.txt").write_text(txt_doc(secret))
    b.forbidden.add(secret.marker)

    def link(name: str, target: str | Path, reasons: frozenset[R], stage: str = "discover") -> None:
        (links / name).symlink_to(target)
        b.add(f"links/{name}", family, f"links/{name}", rejects=(ExpectedReject(None, reasons),), stage=stage)

    loop, outside_root = _W({R.SYMLINK_LOOP}), _W({R.OUTSIDE_ROOT})
    link("loop-a.txt", "loop-b.txt", loop)
    link("loop-b.txt", "loop-a.txt", loop)
    link("self.txt", "self.txt", loop)
    link("up", "..", loop)
    link("outside-file.txt", outside / "secret.txt", outside_root)
    link("outside-relative.txt", f"../../{outside.name}/secret.txt", outside_root)
    link("outside-folder", outside, outside_root)
    link("etc-passwd.txt", "/etc/passwd", outside_root)
    link("dev-zero.txt", "/dev/zero", outside_root)
    link("broken.txt", "does-not-exist.txt", _W({R.UNREADABLE}))
    target = b.story()
    b.write("links/_targets/real.txt", txt_doc(target).encode())
    (links / "inside-link.txt").symlink_to("_targets/real.txt")
    b.add("links/inside-link.txt", family, "links/inside-link.txt", articles=(target.expect(),), stage="discover")
    target = b.story()
    b.write("links/_target_folder/article.txt", txt_doc(target).encode())
    (links / "inside-folder").symlink_to("_target_folder")
    b.add("links/inside-folder", family, "links/inside-folder/article.txt", articles=(target.expect(),), stage="discover")

    special = b.root / "special"
    special.mkdir()
    os.mkfifo(special / "pipe.txt")
    b.add("special/fifo", family, "special/pipe.txt", rejects=(ExpectedReject(None, _W({R.UNREADABLE})),), stage="discover")
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.bind(str(special / "sock.jsonl"))
    b.add("special/socket", family, "special/sock.jsonl", rejects=(ExpectedReject(None, _W({R.UNREADABLE})),), stage="discover")
    if os.geteuid() == 0:
        b.skipped["special/no-permission"] = "running as root: chmod 000 does not stop root from reading"
    else:
        for name, make in (("locked.txt", lambda p: p.write_text(txt_doc(b.story()))), ("locked-folder", lambda p: p.mkdir())):
            path = special / name
            make(path)
            path.chmod(0)
            b.add(f"special/{name}", family, f"special/{name}", rejects=(ExpectedReject(None, _W({R.UNREADABLE})),),
                  stage="discover" if name.endswith("folder") else "read")  # fmt: skip

    for name in (".hidden.txt", "_draft.txt", "_private/inside.txt", ".git/notes.txt", "notes.docx", "README",
                 "data.txt.bak", "archive.gz", "page.php"):  # fmt: skip
        story = b.story()
        b.write(f"ignored/{name}", txt_doc(story).encode())
        b.forbidden.add(story.marker)
        b.add(f"ignored/{name}", family, f"ignored/{name}", stage="ignored")


def _invisible(b: _Builder) -> None:
    family = "invisible"
    # The reader sees 40 characters; cleaning leaves none: rejected as the record it was.
    for name, char in (("zero-width-space", "\u200b"), ("bom-chars", "\ufeff"), ("bidi-overrides", "\u202e\u202d"),
                       ("delete-chars", "\x7f")):  # fmt: skip
        b.reject(f"invisible/{name}.txt", family, f"invisible/{name}.txt",
                 f"A title\n\n{char * 40}\n".encode(), _W({R.NO_TEXT}), record=0)  # fmt: skip


def truncate_to(size: int) -> Callable[[Path], None]:
    def truncate(path: Path) -> None:
        os.truncate(path, size)

    return truncate


def _races(b: _Builder) -> None:
    family = "race"

    def race(name: str, data: bytes, mutate: Callable[[Path], None], suffix: str = "txt", after_first: bool = False,
             **expect: object) -> None:  # fmt: skip
        source = f"_race/{name}/file.{suffix}"
        b.write(source, data)
        b.add(f"race/{name}", family, source, stage="race", mutate=mutate, mutate_after_first_item=after_first, **expect)

    unreadable = (ExpectedReject(None, _W({R.UNREADABLE})),)
    race("vanished", txt_doc(b.story()).encode(), Path.unlink, rejects=unreadable)
    race("truncated-to-zero", txt_doc(b.story()).encode(), truncate_to(0), rejects=(ExpectedReject(None, EMPTY),))
    race("replaced-by-folder", txt_doc(b.story()).encode(), lambda p: (p.unlink(), p.mkdir()), rejects=unreadable)
    race("replaced-by-fifo", txt_doc(b.story()).encode(), lambda p: (p.unlink(), os.mkfifo(p)), rejects=unreadable)
    outside = b.root.parent / f"{b.root.name}-outside" / "secret.txt"
    race("replaced-by-outside-link", txt_doc(b.story()).encode(), lambda p: (p.unlink(), p.symlink_to(outside)),
         rejects=unreadable)  # fmt: skip
    race("replaced-by-binary", txt_doc(b.story()).encode(), lambda p: p.write_bytes(bytes(range(256)) * 4),
         rejects=(ExpectedReject(None, BINARY_LIKE),))  # fmt: skip
    race("gzip-truncated", gzip_bytes(txt_doc(b.story()).encode() * 5), truncate_to(30), suffix="txt.gz",
         rejects=(ExpectedReject(None, _W({R.CORRUPT_ARCHIVE})),))  # fmt: skip
    first, second, third = b.story(), b.story(), b.story()
    lines = f"{jsonl_line(first)}\n{jsonl_line(second)}\n{jsonl_line(third)}\n".encode()
    race("jsonl-truncated-in-last-record", lines, truncate_to(len(lines) - 40), suffix="jsonl",
         articles=(first.expect(0), second.expect(1)), rejects=(ExpectedReject(2, PARSE),))  # fmt: skip
    stories = [b.story() for _ in range(300)]
    lines = "".join(jsonl_line(s) + "\n" for s in stories).encode()
    race("deleted-while-read", lines, Path.unlink, suffix="jsonl", after_first=True,
         articles=tuple(s.expect(i) for i, s in enumerate(stories)))  # fmt: skip
    race("truncated-while-read", lines, truncate_to(0), suffix="jsonl", after_first=True,
         articles=(stories[0].expect(0),), may_articles=tuple(s.expect(i) for i, s in enumerate(stories) if i),
         rejects=(ExpectedReject(ANY_RECORD, PARSE, optional=True),))  # fmt: skip


def _controls(b: _Builder, bbc: Path | None) -> None:
    """Real BBC articles beside the faults, so the good path is exercised in every folder."""
    if bbc is None or not bbc.is_dir():
        return
    families = sorted({case.source.split("/")[0] for case in b.cases if "/" in case.source} - {"_race", "ignored"})
    categories = sorted(p.name for p in bbc.iterdir() if p.is_dir())
    for index, folder in enumerate(families):
        category = categories[index % len(categories)]
        for path in sorted((bbc / category).glob("*.txt"))[index * 2 : index * 2 + 2]:
            raw = path.read_bytes()
            title = raw.decode("utf-8", "replace").split("\n", 1)[0].strip()
            source = f"{folder}/bbc-{category}-{path.name}"
            b.add(source, "control", source, raw, articles=(ExpectedArticle(0, " ".join(title.split())),))


def _heavy(b: _Builder) -> None:
    family = "heavy"
    too_large = _W({R.TOO_LARGE})
    size = 200 * MiB
    path = b.root / "heavy" / "two-hundred-megabytes.txt"
    path.parent.mkdir(parents=True, exist_ok=True)
    chunk = (" ".join(_SENTENCES) + "\n").encode()
    with path.open("wb") as handle:
        handle.write(b"A title for a file far too big to be one article\n\n")
        block = chunk * (MiB // len(chunk))
        while handle.tell() < size:
            handle.write(block)
    expect = (ExpectedReject(None, too_large),) if size > b.caps.max_record_bytes else ()
    b.add("heavy/200MB.txt", family, "heavy/two-hundred-megabytes.txt", rejects=expect)

    # 200 MB of JSONL: one huge record amid good ones, streamed past without holding it.
    stories = [b.story() for _ in range(500)]
    path = b.root / "heavy" / "two-hundred-megabytes.jsonl"
    with path.open("wb") as handle:
        for story in stories[:250]:
            handle.write((jsonl_line(story) + "\n").encode())
        handle.write(b'{"title": "Huge", "text": "')
        block = b"word " * (MiB // 5)
        while handle.tell() < size:
            handle.write(block)
        handle.write(b'"}\n')
        for story in stories[250:]:
            handle.write((jsonl_line(story) + "\n").encode())
    b.add("heavy/200MB.jsonl", family, "heavy/two-hundred-megabytes.jsonl",
          articles=tuple(s.expect(i if i < 250 else i + 1) for i, s in enumerate(stories)),
          rejects=(ExpectedReject(250, too_large),))  # fmt: skip

    bomb = gzip_of_repeated(b"a", b.caps.max_decompressed_bytes + 16 * MiB)
    b.reject("heavy/bomb.jsonl.gz", family, "heavy/bomb.jsonl.gz", bomb, too_large)

    for index in range(10_000):
        story = Story(f"Tiny note {index}", (f"A short note about the harbour wall, number {index}.",), "")
        source = f"heavy/tiny/{index // 1000:02d}/{index:05d}.txt"
        b.add(source, family, source, txt_doc(story).encode(), articles=(ExpectedArticle(0, story.title),))


def build_fault_corpus(root: Path, heavy: bool = False, bbc: Path | None = None) -> FaultManifest:
    """Write the fault corpus under `root` (created; must not exist or be empty).

    `heavy` adds a 200 MB text file, 200 MB of JSONL, a gzip bomb above the shipped
    256 MB cap and 10,000 tiny files, and uses the shipped caps instead of small ones.
    `bbc`: a folder of BBC categories to mix a few good articles into every folder.
    """
    root.mkdir(parents=True, exist_ok=True)
    defaults = Settings()
    caps = (Caps(defaults.max_file_bytes, defaults.max_decompressed_bytes, defaults.max_record_bytes)
            if heavy else SMALL_CAPS)  # fmt: skip
    builder = _Builder(root, caps)
    for family in (_whitespace, _binary, _encodings, _mojibake, _json, _csv, _html, _xml, _gzip, _sizes, _paths,
                   _invisible, _races):  # fmt: skip
        family(builder)
    _controls(builder, bbc)
    if heavy:
        _heavy(builder)
    duplicates = {name for name, n in Counter(case.name for case in builder.cases).items() if n > 1}
    assert not duplicates, f"fault case names must be unique: {sorted(duplicates)[:5]}"
    return FaultManifest(root, caps, builder.cases, builder.skipped, builder.forbidden)
