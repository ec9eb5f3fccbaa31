"""Bytes to text for every reader: open with size caps, gunzip with a decompression
cap, pick an encoding, and split big files into decoded lines without loading them.

Problems surface as `InputRejected` (a `BadInputError` carrying a `RejectReason`),
which `read_file` turns into a `Reject`; nothing here returns partial garbage.
"""

from __future__ import annotations

import codecs
import gzip
import io
import os
import re
import stat
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from textpipe.config import Settings
from textpipe.errors import BadInputError
from textpipe.records import RejectReason

CHUNK_BYTES = 64 * 1024
DETAIL_CHARS = 300
GZIP_MIN_BYTES = 18  # header and trailer of an empty member
GUESS_SAMPLE_BYTES = 256 * 1024  # charset-normalizer is slow; a prefix decides well enough

# Longest BOMs first: the UTF-32-LE BOM starts with the UTF-16-LE one.
_BOMS: tuple[tuple[bytes, str], ...] = (
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)
# Encodings in which a b"\n" byte may be half a character: split lines after decoding.
_WIDE_ENCODINGS = ("utf-16", "utf-32", "utf_16", "utf_32")
# C0 controls other than \t \n \v \f \r.
_CONTROL_CHARS = re.compile(r"[\x00-\x08\x0e-\x1f]")
_WORD_PUNCTUATION = frozenset("’‘·\u00ad")  # may sit between two letters in real words


class InputRejected(BadInputError):
    """A file or record that cannot be used; `record` is None for the whole file."""

    def __init__(self, reason: RejectReason, detail: str, record: int | None = None) -> None:
        super().__init__(reason.value, one_line(detail))
        self.reject_reason = reason
        self.record = record


@dataclass(frozen=True)
class InputFile:
    """A file found by `discover`; `relative` (POSIX, relative to the root) is its `source`.
    `metadata`: the page's metadata sidecar (`page.html.meta.json`, see `sidecar`), if any."""

    path: Path
    relative: str
    metadata: Path | None = None


@dataclass(frozen=True)
class Cap:
    """A size limit and the setting it comes from, for the rejection message."""

    name: str
    limit: int


def one_line(message: object) -> str:
    """Collapse a message to one line of at most ~300 characters for `Reject.detail`."""
    text = " ".join(str(message).split())
    return text if len(text) <= DETAIL_CHARS else text[: DETAIL_CHARS - 1] + "…"


def is_gzip_name(relative: str) -> bool:
    return relative.lower().endswith(".gz")


def _open_nonblocking(path: str, flags: int) -> int:
    # O_NONBLOCK keeps a FIFO that slipped into the input folder from hanging the run.
    # O_NOFOLLOW: `discover` hands over links already resolved inside the root, so a
    # link met here replaced the file after discovery and may lead anywhere.
    return os.open(path, flags | os.O_NONBLOCK | os.O_NOFOLLOW)


class _CappedGunzip(io.RawIOBase):
    """Decompresses a gzip stream, failing once more than `cap` bytes come out."""

    def __init__(self, compressed: BinaryIO, cap: Cap) -> None:
        super().__init__()
        self._gzip = gzip.GzipFile(fileobj=compressed, mode="rb")
        self._cap = cap
        self._produced = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        view = memoryview(buffer).cast("B")
        filled = 0
        # Fill the whole request so that `peek` sees a full sample, as for a plain file.
        while filled < len(view):
            try:
                got = self._gzip.readinto(view[filled:])
            except EOFError as exc:
                raise InputRejected(
                    RejectReason.CORRUPT_ARCHIVE, f"truncated gzip: {exc}"
                ) from exc
            except (gzip.BadGzipFile, zlib.error) as exc:
                raise InputRejected(RejectReason.CORRUPT_ARCHIVE, f"invalid gzip: {exc}") from exc
            if not got:
                break
            filled += got
            self._produced += got
            if self._produced > self._cap.limit:
                raise InputRejected(
                    RejectReason.TOO_LARGE,
                    f"decompressed size exceeds {self._cap.name}={self._cap.limit}",
                )
        return filled

    def close(self) -> None:
        self._gzip.close()
        super().close()


def _check_declared_size(raw: io.FileIO, size: int, cap: Cap) -> None:
    """Settle a gzip whose trailer declares more than `cap` bytes before any is used.

    The trailer (the last member's size modulo 4 GiB) is only a hint: it is garbage
    when the file is truncated. So a large claim is checked by inflating, and
    discarding, up to `cap` bytes, which tells a bomb (TOO_LARGE) from a broken file
    (CORRUPT_ARCHIVE) before a 64 KiB sample of it could be judged as binary text.
    """
    if size < GZIP_MIN_BYTES:
        return
    raw.seek(size - 4)
    declared = int.from_bytes(raw.read(4), "little")
    raw.seek(0)
    if declared <= cap.limit:
        return
    drain = _CappedGunzip(raw, cap)
    buffer = bytearray(CHUNK_BYTES)
    while drain.readinto(memoryview(buffer)):
        pass
    raw.seek(0)


def _caps(settings: Settings, one_record: bool) -> tuple[Cap, Cap]:
    """(file size cap, decompressed size cap). A file that is one article (`.txt`,
    `.html`) is also a record: held whole in memory through every stage, it gets the
    record cap."""
    file_cap = Cap("max_file_bytes", settings.max_file_bytes)
    unpacked_cap = Cap("max_decompressed_bytes", settings.max_decompressed_bytes)
    if not one_record:
        return file_cap, unpacked_cap
    record_cap = Cap("max_record_bytes", settings.max_record_bytes)
    return min(file_cap, record_cap, key=_limit), min(unpacked_cap, record_cap, key=_limit)


def _limit(cap: Cap) -> int:
    return cap.limit


@contextmanager
def open_input(
    file: InputFile, settings: Settings, one_record: bool = False
) -> Iterator[io.BufferedReader]:
    """Open a regular file (gunzipping `*.gz` with a cap) as a buffered binary stream."""
    file_cap, unpacked_cap = _caps(settings, one_record)
    raw = open(file.path, "rb", buffering=0, opener=_open_nonblocking)  # noqa: SIM115
    try:
        info = os.fstat(raw.fileno())
        if not stat.S_ISREG(info.st_mode):
            raise InputRejected(RejectReason.UNREADABLE, "not a regular file")
        if info.st_size > file_cap.limit:
            raise InputRejected(
                RejectReason.TOO_LARGE,
                f"file has {info.st_size} bytes, {file_cap.name}={file_cap.limit}",
            )
        if is_gzip_name(file.relative):
            _check_declared_size(raw, info.st_size, unpacked_cap)
            source: io.RawIOBase = _CappedGunzip(raw, unpacked_cap)
        else:
            source = raw
        with io.BufferedReader(source, buffer_size=CHUNK_BYTES) as stream:
            yield stream
    finally:
        raw.close()


def read_all(file: InputFile, settings: Settings, one_record: bool = False) -> bytes:
    """The whole (decompressed) content of a file, within the configured caps."""
    with open_input(file, settings, one_record) as stream:
        if not is_gzip_name(file.relative):
            return stream.read()
        # Chunked so a bomb fails at the cap instead of allocating a cap-sized buffer.
        chunks = []
        while chunk := stream.read(CHUNK_BYTES):
            chunks.append(chunk)
        return b"".join(chunks)


def _bom_encoding(data: bytes) -> str | None:
    for bom, encoding in _BOMS:
        if data.startswith(bom):
            return encoding
    return None


def _looks_binary(text: str) -> bool:
    sample = text[:CHUNK_BYTES]
    controls = len(_CONTROL_CHARS.findall(sample))
    return controls > max(2, len(sample) // 100)


def _plausible_text(text: str) -> str:
    # Control characters are valid UTF-8 (and ASCII), but a file full of them is not text.
    if _looks_binary(text):
        raise InputRejected(RejectReason.BINARY, "control characters: not a text file")
    return text


def _reads_as_western(text: str) -> bool:
    """True when Windows-1252 gives plausible Western European text: mostly ASCII letters,
    and no symbol (such as ³ or ¿) wedged inside a word, as other code pages would give."""
    letters = accented = 0
    for position, char in enumerate(text):
        if char.isalpha():
            letters += 1
            accented += not char.isascii()
        elif (
            not char.isascii()
            and char not in _WORD_PUNCTUATION
            and 0 < position < len(text) - 1
            and text[position - 1].isalpha()
            and text[position + 1].isalpha()
        ):
            return False
    return accented <= 0.3 * letters


def _guess_encoding(sample: bytes) -> str:
    """Encoding of non-UTF-8 bytes: Windows-1252 (a superset of printable Latin-1) when
    it reads as Western text, else charset-normalizer's guess. Its own ranking often
    prefers a Baltic or Central European code page for short French or German text."""
    from charset_normalizer import from_bytes

    sample = sample[:GUESS_SAMPLE_BYTES]
    try:
        western = sample.decode("cp1252")
    except UnicodeDecodeError:
        western = None
    if western is not None and _reads_as_western(western):
        if _looks_binary(western):
            raise InputRejected(RejectReason.BINARY, "control characters: not a text file")
        return "cp1252"
    best = from_bytes(sample).best()
    # A guess with no letter or digit in it (0xFF filler read as no-break spaces) is no text.
    if best is None or not any(char.isalnum() for char in str(best)):
        raise InputRejected(RejectReason.DECODE_ERROR, "no plausible text encoding found")
    if _looks_binary(str(best)):
        raise InputRejected(RejectReason.BINARY, "control characters: not a text file")
    return best.encoding


def _bomless_utf16(sample: bytes) -> str | None:
    """UTF-16 without a BOM, told by its NUL bytes: Latin-script text has a NUL in the
    high byte of most characters, always at the same parity; binary data has them
    anywhere. Returns "utf-16-le" / "utf-16-be" or None."""
    sample = sample[: len(sample) & ~1]
    pairs = len(sample) // 2
    if pairs < 2:
        return None
    high_le, high_be = sample[1::2].count(0), sample[0::2].count(0)
    for encoding, same, other in (("utf-16-le", high_le, high_be), ("utf-16-be", high_be, high_le)):
        if same * 2 >= pairs and other * 20 <= same:
            try:
                # Incremental: a sample may end inside a surrogate pair.
                text = codecs.getincrementaldecoder(encoding)().decode(sample, final=False)
            except UnicodeDecodeError:
                return None
            return None if _looks_binary(text) else encoding
    return None


def _nul_encoding(sample: bytes) -> str:
    """The encoding of a sample holding NUL bytes and no BOM, or a BINARY rejection."""
    encoding = _bomless_utf16(sample)
    if encoding is None:
        raise InputRejected(RejectReason.BINARY, "NUL bytes and not UTF-16 text")
    return encoding


def decode_text(data: bytes) -> str:
    """Decode a whole file: BOM, else UTF-8, else a detected encoding; never empty."""
    if not data:
        raise InputRejected(RejectReason.EMPTY, "file is empty (0 bytes)")
    encoding = _bom_encoding(data)
    if encoding is None and b"\x00" in data:
        encoding = _nul_encoding(data[:GUESS_SAMPLE_BYTES])
    if encoding is None:
        try:
            text = _plausible_text(data.decode("utf-8"))
        except UnicodeDecodeError:
            encoding = _guess_encoding(data)
    if encoding is not None:
        try:
            text = data.decode(encoding)
        except (UnicodeDecodeError, LookupError) as exc:
            raise InputRejected(RejectReason.DECODE_ERROR, f"{encoding}: {exc}") from exc
    if not text.strip():
        raise InputRejected(RejectReason.EMPTY, "file holds only whitespace")
    return text


def read_text(file: InputFile, settings: Settings, one_record: bool = False) -> str:
    """Read and decode a whole file (for formats that are parsed in one piece);
    `one_record`: the file is a single article, capped at `max_record_bytes`."""
    return decode_text(read_all(file, settings, one_record))


def sniff_encoding(sample: bytes, complete: bool) -> str:
    """Encoding of a stream judged from its first bytes (`complete`: the sample is all of it)."""
    if not sample:
        raise InputRejected(RejectReason.EMPTY, "file is empty (0 bytes)")
    encoding = _bom_encoding(sample)
    if encoding is not None:
        return encoding
    if b"\x00" in sample:
        return _nul_encoding(sample)
    try:
        # Incremental: a multi-byte character cut by the sample's end is not an error.
        _plausible_text(codecs.getincrementaldecoder("utf-8")().decode(sample, final=complete))
    except UnicodeDecodeError:
        return _guess_encoding(sample)
    return "utf-8"


def _decode_line(raw: bytes, encoding: str) -> str:
    try:
        return raw.decode(encoding)
    except UnicodeDecodeError:
        # A stray Windows-1252 byte in an otherwise UTF-8 file should cost one line's
        # accents, not the rest of the file.
        return raw.decode("cp1252", errors="replace")


def _skip_rest_of_line(stream: io.BufferedReader) -> None:
    while chunk := stream.readline(CHUNK_BYTES):
        if chunk.endswith(b"\n"):
            return


def _too_long(max_bytes: int) -> InputRejected:
    return InputRejected(RejectReason.TOO_LARGE, f"line longer than max_record_bytes={max_bytes}")


def iter_lines(
    stream: io.BufferedReader, encoding: str, max_bytes: int
) -> Iterator[str | InputRejected]:
    """Decoded lines with their line endings; an over-long line yields an `InputRejected`
    in its place (and is skipped) so one bad line does not end the file."""
    if encoding.lower().startswith(_WIDE_ENCODINGS):
        yield from _iter_wide_lines(stream, encoding, max_bytes)
        return
    while raw := stream.readline(max_bytes + 1):
        if len(raw) > max_bytes and not raw.endswith(b"\n"):
            _skip_rest_of_line(stream)
            yield _too_long(max_bytes)
            continue
        yield _decode_line(raw, encoding)


def _iter_wide_lines(
    stream: io.BufferedReader, encoding: str, max_bytes: int
) -> Iterator[str | InputRejected]:
    # UTF-16/32 cannot be split on b"\n"; the limit counts characters, a close bound.
    text = io.TextIOWrapper(stream, encoding=encoding, newline="")
    try:
        while line := text.readline(max_bytes + 1):
            if len(line) > max_bytes and not line.endswith(("\n", "\r")):
                while (rest := text.readline(CHUNK_BYTES)) and not rest.endswith("\n"):
                    pass
                yield _too_long(max_bytes)
                continue
            yield line
    except UnicodeDecodeError as exc:
        raise InputRejected(RejectReason.DECODE_ERROR, f"{encoding}: {exc}") from exc
    finally:
        text.detach()


def peek_sample(stream: io.BufferedReader) -> tuple[bytes, bool]:
    """The first buffered bytes of a fresh stream (up to 64 KiB) and whether that is all."""
    sample = stream.peek(CHUNK_BYTES)[:CHUNK_BYTES]
    return sample, len(sample) < CHUNK_BYTES
