"""Which addresses may be fetched, that the address checked is the one connected to,
and that response bodies are decoded in bounded pieces (bombs cut off, not inflated)."""

from __future__ import annotations

import gzip
import ipaddress
import zlib

import brotli
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fetch_site import NewsSite, Reply, running
from textpipe.fetch.client import PoliteClient, retry_after_seconds
from textpipe.fetch.decoding import CHUNK, decoder_for
from textpipe.fetch.problems import FetchProblem
from textpipe.fetch.safety import address_refusal, checked_addresses
from textpipe.fetch.sources import FetchSettings


@pytest.mark.parametrize(("address", "reason"), [
    ("127.0.0.1", "loopback"), ("127.8.9.10", "loopback"), ("::1", "loopback"),
    ("10.0.0.5", "private"), ("172.16.3.4", "private"), ("192.168.1.1", "private"), ("fc00::1", "private"),
    ("169.254.169.254", "link-local"), ("fe80::1", "link-local"),
    ("224.0.0.1", "multicast"), ("239.255.255.250", "multicast"), ("ff02::1", "multicast"),
    ("0.0.0.0", "unspecified"), ("240.0.0.1", "reserved"), ("100.64.0.1", "not globally routable"),
    ("::ffff:127.0.0.1", "loopback (inside ::ffff:7f00:1)"), ("2002:a00:1::1", "private (inside 2002:a00:1::1)"),
    ("64:ff9b::a9fe:a9fe", "link-local (inside 64:ff9b::a9fe:a9fe)"),
])
def test_non_public_addresses_are_refused_with_the_reason(address, reason):
    assert address_refusal(ipaddress.ip_address(address)) == reason


@pytest.mark.parametrize("address", ["8.8.8.8", "151.101.0.81", "2a04:4e42::81", "11.22.33.2"])
def test_public_unicast_addresses_pass(address):
    assert address_refusal(ipaddress.ip_address(address)) is None


def test_a_name_with_any_private_address_is_refused_before_connecting():
    calls = []

    def resolver(host: str, port: int) -> list[str]:
        calls.append(host)
        return ["151.101.0.81", "10.1.2.3"]  # one public, one private: a rebinding set-up

    with pytest.raises(FetchProblem) as refused:
        checked_addresses("news.example", 443, allow_private=False, resolver=resolver)
    assert refused.value.kind == "refused_address" and "10.1.2.3, a private address" in refused.value.detail
    assert calls == ["news.example"]
    assert checked_addresses("news.example", 443, allow_private=True, resolver=resolver) == ["151.101.0.81", "10.1.2.3"]


def test_the_connection_goes_to_the_checked_address_and_keeps_the_host_name():
    """A name is resolved once per connection, by the resolver that was checked, and the
    request still names the host (Host header; SNI for https)."""
    resolved = []

    def resolver(host: str, port: int) -> list[str]:
        resolved.append(host)
        return ["127.0.0.1"]

    with running(NewsSite()) as site:
        site.add_robots("User-agent: *\n")
        site.add("/page", lambda r: Reply(200, {"Content-Type": "text/html"}, b"<html>hello</html>"))
        port = site.base.rsplit(":", 1)[1]
        settings = FetchSettings(user_agent="textpipe-tests", delay_seconds=0)
        with PoliteClient(settings, resolver=resolver) as client:
            fetched = client.get(f"http://news.example:{port}/page", allow_private=True)
            with pytest.raises(FetchProblem, match="news.example resolves to 127.0.0.1, a loopback address"):
                client.get(f"http://news.example:{port}/page", allow_private=False)
    assert fetched.body == b"<html>hello</html>"
    assert {r.headers["host"] for r in site.log} == {f"news.example:{port}"}
    assert len(site.log) == 2 and resolved  # robots.txt and the page, both through the resolver


def test_only_http_and_https_are_fetched():
    with PoliteClient(FetchSettings()) as client:
        for url in ("file:///etc/passwd", "ftp://example.com/x", "gopher://example.com/", "http:///nohost"):
            with pytest.raises(FetchProblem) as refused:
                client.get(url, allow_private=True)
            assert refused.value.kind == "bad_url"


def test_retry_after_in_seconds_or_as_a_date():
    assert retry_after_seconds("120") == 120.0
    assert retry_after_seconds("Wed, 21 Oct 2015 07:28:00 GMT", now=1445412470.0) == 10.0
    assert retry_after_seconds("soon") is None and retry_after_seconds(None) is None


PAYLOAD = (b"<p>Real text, repeated.</p>" * 3000) + bytes(range(256)) * 40


@pytest.mark.parametrize(("coding", "encode"), [
    ("gzip", gzip.compress), ("x-gzip", gzip.compress),
    ("gzip", lambda data: gzip.compress(data[:5000]) + gzip.compress(data[5000:])),  # two members, as `cat a.gz b.gz`
    ("deflate", zlib.compress), ("deflate", lambda data: zlib.compress(data)[2:-4]),  # zlib-wrapped, and raw
    ("br", brotli.compress), ("identity", lambda data: data), ("", lambda data: data),
])
def test_each_content_coding_decodes_in_bounded_pieces(coding, encode):
    body = encode(PAYLOAD)
    decoder = decoder_for(coding)
    pieces = [piece for start in range(0, len(body), 1000) for piece in decoder.feed(body[start:start + 1000])]
    assert b"".join(pieces) == PAYLOAD and max(map(len, pieces)) <= 2 * CHUNK


@settings(max_examples=40, deadline=None)
@given(data=st.binary(max_size=20_000), cut=st.integers(1, 5_000), coding=st.sampled_from(["gzip", "deflate", "br"]))
def test_any_body_decodes_whatever_the_chunking(data, cut, coding):
    body = {"gzip": gzip.compress, "deflate": zlib.compress, "br": brotli.compress}[coding](data)
    decoder = decoder_for(coding)
    assert b"".join(piece for start in range(0, len(body), cut) for piece in decoder.feed(body[start:start + cut])) == data


def test_a_bomb_comes_out_a_chunk_at_a_time():
    bomb = gzip.compress(b"\0" * (50 << 20), compresslevel=9)  # ~50 KB inflating to 50 MB
    pieces = decoder_for("gzip").feed(bomb[:4096])
    sizes = [len(next(pieces)) for _ in range(10)]
    assert max(sizes) <= CHUNK  # the caller can stop at its cap: nothing is inflated ahead of it


def test_unasked_or_stacked_codings_are_refused():
    for coding in ("zstd", "compress", "gzip, br"):
        with pytest.raises(FetchProblem) as refused:
            decoder_for(coding)
        assert refused.value.kind == "bad_encoding"
