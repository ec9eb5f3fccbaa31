"""Content-Encoding decoders that never produce more than a chunk at a time, so a
body's size can be capped after decompression: a gzip or brotli bomb is cut off at
the cap instead of being inflated whole into memory.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterator
from typing import Protocol

from textpipe.fetch.problems import FetchProblem

CHUNK = 64 * 1024
ACCEPT_ENCODING = "gzip, deflate, br"
_GZIP_WBITS = 16 + zlib.MAX_WBITS


class Decoder(Protocol):
    def feed(self, data: bytes) -> Iterator[bytes]: ...


class _Identity:
    def feed(self, data: bytes) -> Iterator[bytes]:
        if data:
            yield data


class _Zlib:
    """gzip (several members allowed, as `gzip` writes them) or zlib-wrapped deflate."""

    def __init__(self, wbits: int) -> None:
        self._wbits = wbits
        self._inflater = zlib.decompressobj(wbits)
        self._done = False

    def feed(self, data: bytes) -> Iterator[bytes]:
        while not self._done:
            try:
                piece = self._inflater.decompress(data, CHUNK)
            except zlib.error as exc:
                raise FetchProblem("bad_encoding", f"invalid compressed body: {exc}") from None
            data = self._inflater.unconsumed_tail
            if piece:
                yield piece
            if self._inflater.eof:
                data = self._inflater.unused_data
                if self._wbits != _GZIP_WBITS or not data.strip(b"\0"):
                    self._done = True  # padding after the stream is ignored
                    return
                self._inflater = zlib.decompressobj(self._wbits)  # the next gzip member
            elif not data and len(piece) < CHUNK:
                return  # input used up and no output left inside zlib


class _Deflate:
    """HTTP's `deflate` is zlib-wrapped, but some servers send raw deflate: try both."""

    def __init__(self) -> None:
        self._inner: _Zlib | None = None

    def feed(self, data: bytes) -> Iterator[bytes]:
        if self._inner is None:
            try:
                probe = zlib.decompressobj(zlib.MAX_WBITS)
                probe.decompress(data[:2048], 1)
                self._inner = _Zlib(zlib.MAX_WBITS)
            except zlib.error:
                self._inner = _Zlib(-zlib.MAX_WBITS)
        yield from self._inner.feed(data)


class _Brotli:
    def __init__(self) -> None:
        import brotli

        self._error = brotli.error
        self._decompressor = brotli.Decompressor()

    def feed(self, data: bytes) -> Iterator[bytes]:
        try:
            piece = self._decompressor.process(data, output_buffer_limit=CHUNK)
            # Output beyond the limit stays inside the decompressor: drain it with empty input.
            while piece:
                yield piece
                piece = self._decompressor.process(b"", output_buffer_limit=CHUNK)
            if not self._decompressor.can_accept_more_data():
                raise FetchProblem("bad_encoding", "brotli decompressor stalled")
        except self._error as exc:
            raise FetchProblem("bad_encoding", f"invalid brotli body: {exc}") from None


def decoder_for(content_encoding: str) -> Decoder:
    """A decoder for a response's Content-Encoding (one coding; `identity` or none is plain)."""
    codings = [c.strip().lower() for c in content_encoding.split(",") if c.strip() and c.strip().lower() != "identity"]
    if not codings:
        return _Identity()
    if len(codings) > 1:
        raise FetchProblem("bad_encoding", f"stacked content encodings are not supported: {content_encoding!r}")
    coding = codings[0]
    if coding in ("gzip", "x-gzip"):
        return _Zlib(_GZIP_WBITS)
    if coding == "deflate":
        return _Deflate()
    if coding == "br":
        return _Brotli()
    raise FetchProblem("bad_encoding", f"content encoding {coding!r} was not asked for (Accept-Encoding: {ACCEPT_ENCODING})")
