"""A polite, safe HTTP client: one `get` that obeys robots.txt, spaces and limits
requests per host, honours Retry-After, backs off exponentially, follows redirects
itself (each hop's address checked where it connects, see `safety`), and streams the
body with a cap on its size after decompression and on the whole response's time.

Built on httpx and httpcore (httpx's connection layer, whose network backend is the
place to pin the checked address). Problems come out as `FetchProblem`s.
"""

from __future__ import annotations

import logging
import random
import ssl
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from urllib.parse import urldefrag, urljoin, urlsplit

import certifi
import httpcore
import httpx

from textpipe.fetch.decoding import ACCEPT_ENCODING, decoder_for
from textpipe.fetch.problems import FetchProblem
from textpipe.fetch.robots import MAX_ROBOTS_BYTES, RobotsCache
from textpipe.fetch.safety import PinnedBackend, Resolver, system_resolver
from textpipe.fetch.sources import FetchSettings, url_problem

log = logging.getLogger(__name__)

REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
BACKOFF_BASE_SECONDS = 1.0


@dataclass(frozen=True)
class Validators:
    """What a server said about a listing last time, for a conditional request."""

    etag: str | None = None
    last_modified: str | None = None

    def headers(self) -> dict[str, str]:
        headers = {}
        if self.etag:
            headers["If-None-Match"] = self.etag
        if self.last_modified:
            headers["If-Modified-Since"] = self.last_modified
        return headers


@dataclass(frozen=True)
class Fetched:
    """A response worth using: 200 with its body, or 304 (`not_modified`) with none."""

    url: str
    final_url: str
    status: int
    content_type: str
    body: bytes
    validators: Validators

    @property
    def not_modified(self) -> bool:
        return self.status == 304

    @property
    def media_type(self) -> str:
        return self.content_type.split(";", 1)[0].strip().lower()

    @property
    def charset(self) -> str | None:
        for parameter in self.content_type.split(";")[1:]:
            name, _, value = parameter.partition("=")
            if name.strip().lower() == "charset" and value.strip(" \"'"):
                return value.strip(" \"'").lower()
        return None


def _transport_problem(exc: Exception) -> FetchProblem:
    if isinstance(exc, httpcore.TimeoutException):
        return FetchProblem("timeout", f"{type(exc).__name__}: {exc or 'no answer in time'}", transient=True)
    return FetchProblem("connection", f"{type(exc).__name__}: {exc}", transient=True)


class _Body(httpx.SyncByteStream):
    def __init__(self, stream: httpcore.Response) -> None:
        self._response = stream

    def __iter__(self) -> Iterator[bytes]:
        try:
            yield from self._response.iter_stream()
        except (httpcore.TimeoutException, httpcore.NetworkError, httpcore.ProtocolError) as exc:
            raise _transport_problem(exc) from None

    def close(self) -> None:
        self._response.close()


class _PinnedTransport(httpx.BaseTransport):
    """httpx's transport over an httpcore pool whose connections go to checked addresses."""

    def __init__(self, backend: PinnedBackend, ssl_context: ssl.SSLContext) -> None:
        self._pool = httpcore.ConnectionPool(ssl_context=ssl_context, network_backend=backend, max_connections=64, max_keepalive_connections=32)

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        core_request = httpcore.Request(
            method=request.method,
            url=httpcore.URL(scheme=request.url.raw_scheme, host=request.url.raw_host, port=request.url.port, target=request.url.raw_path),
            headers=request.headers.raw,
            content=request.stream,  # type: ignore[arg-type]
            extensions=request.extensions,
        )
        try:
            response = self._pool.handle_request(core_request)
        except (httpcore.TimeoutException, httpcore.NetworkError, httpcore.ProtocolError, httpcore.UnsupportedProtocol) as exc:
            raise _transport_problem(exc) from None
        return httpx.Response(response.status, headers=response.headers, stream=_Body(response), extensions=response.extensions)

    def close(self) -> None:
        self._pool.close()


class HostGate:
    """Per host: at most `slots` requests at once, their starts at least `delay` apart,
    and none before a time a Retry-After asked for."""

    def __init__(self, slots: int, delay: float, max_wait: float, clock: Callable[[], float], sleep: Callable[[float], None]) -> None:
        self._slots = threading.BoundedSemaphore(slots)
        self._lock = threading.Lock()
        self._next_start = 0.0
        self._clock, self._sleep = clock, sleep
        self.delay = delay
        self.max_wait = max_wait

    @contextmanager
    def turn(self, host: str) -> Iterator[None]:
        with self._slots:
            with self._lock:
                now = self._clock()
                if self._next_start - now > self.max_wait:
                    raise FetchProblem("rate_limited", f"{host} asked for a pause of {self._next_start - now:.0f} s more "
                                       "(Retry-After), longer than max_wait_seconds: left for a later run", transient=True)
                start = max(now, self._next_start)
                self._next_start = start + self.delay
            if start > now:
                self._sleep(start - now)
            yield

    def hold_off(self, seconds: float) -> None:
        with self._lock:
            self._next_start = max(self._next_start, self._clock() + seconds)

    def slow_down(self, delay: float) -> None:
        with self._lock:
            self.delay = max(self.delay, delay)


def retry_after_seconds(value: str | None, now: float | None = None) -> float | None:
    """A Retry-After header (seconds, or an HTTP date) as seconds from now; None if absent or unreadable."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        moment = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if moment.tzinfo is None:
        return None
    return max(0.0, moment.timestamp() - (time.time() if now is None else now))


class PoliteClient:
    """One per fetch run, shared by its threads: connection pools, host gates and the robots cache."""

    def __init__(self, settings: FetchSettings, resolver: Resolver = system_resolver,
                 clock: Callable[[], float] = time.monotonic, sleep: Callable[[float], None] = time.sleep) -> None:
        self.settings = settings
        self._resolver = resolver
        self._clock, self._sleep = clock, sleep
        self._ssl = ssl.create_default_context(cafile=certifi.where())
        self._clients: dict[bool, httpx.Client] = {}
        self._gates: dict[str, HostGate] = {}
        self._lock = threading.Lock()
        self.robots = RobotsCache(self._fetch_robots, settings.user_agent, self._slow_down)

    def close(self) -> None:
        for client in self._clients.values():
            client.close()

    def __enter__(self) -> PoliteClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _client(self, allow_private: bool) -> httpx.Client:
        # One pool per policy: a connection opened for a source that may reach private
        # addresses is never reused for one that may not.
        with self._lock:
            if allow_private not in self._clients:
                self._clients[allow_private] = httpx.Client(
                    transport=_PinnedTransport(PinnedBackend(allow_private, self._resolver), self._ssl),
                    timeout=httpx.Timeout(self.settings.timeout_seconds),
                    headers={"User-Agent": self.settings.user_agent, "Accept-Encoding": ACCEPT_ENCODING},
                    follow_redirects=False,
                    trust_env=False,  # no proxy from the environment: the address check must see the real peer
                )
            return self._clients[allow_private]

    def gate(self, url: str) -> HostGate:
        host = urlsplit(url).netloc.lower()
        with self._lock:
            if host not in self._gates:
                self._gates[host] = HostGate(self.settings.max_per_host, self.settings.delay_seconds,
                                             self.settings.max_wait_seconds, self._clock, self._sleep)
            return self._gates[host]

    def _slow_down(self, origin: str, delay: float) -> None:
        log.info("%s asks for %.1f s between requests (robots.txt)", origin, delay)
        self.gate(origin).slow_down(delay)

    def _fetch_robots(self, origin: str, allow_private: bool) -> bytes:
        return self.get(f"{origin}/robots.txt", allow_private, obey_robots=False, max_bytes=MAX_ROBOTS_BYTES).body

    def get(self, url: str, allow_private: bool, *, validators: Validators | None = None, obey_robots: bool = True,
            accept: str = "*/*", max_bytes: int | None = None) -> Fetched:
        """GET `url`, following redirects (each hop checked like the first); a FetchProblem if it cannot be had."""
        headers = {"Accept": accept, **(validators.headers() if validators else {})}
        chain = [url]
        current = url
        for _ in range(self.settings.max_redirects + 1):
            if (problem := url_problem(current)) is not None:
                raise FetchProblem("bad_url", problem)
            if obey_robots:
                self.robots.check(current, allow_private)
            status, response_headers, body = self._request(current, allow_private, headers, max_bytes or self.settings.max_bytes)
            if status not in REDIRECT_STATUSES:
                validators_now = Validators(response_headers.get("etag"), response_headers.get("last-modified"))
                return Fetched(url, current, status, response_headers.get("content-type", ""), body, validators_now)
            location = response_headers.get("location")
            if not location:
                raise FetchProblem(f"http_{status}", f"{current} redirects without a Location header")
            current = urldefrag(urljoin(current, location.strip())).url
            if current in chain:
                raise FetchProblem("redirect_loop", " -> ".join([*chain, current]))
            chain.append(current)
        raise FetchProblem("too_many_redirects", f"more than max_redirects={self.settings.max_redirects}: {' -> '.join(chain)}")

    def _request(self, url: str, allow_private: bool, headers: dict[str, str], max_bytes: int) -> tuple[int, httpx.Headers, bytes]:
        gate = self.gate(url)
        attempt = 0
        while True:
            try:
                with gate.turn(urlsplit(url).netloc):
                    return self._request_once(url, allow_private, headers, max_bytes)
            except FetchProblem as problem:
                if not problem.transient or attempt >= self.settings.retries or problem.kind == "rate_limited":
                    raise
                wait = problem.retry_after if problem.retry_after is not None else self._backoff(attempt)
                if wait > self.settings.max_wait_seconds:
                    if problem.retry_after is not None:
                        gate.hold_off(problem.retry_after)  # the host's other requests wait for a later run too
                    raise FetchProblem(problem.kind, f"{problem.detail}; Retry-After {wait:.0f} s is longer than "
                                       "max_wait_seconds: left for a later run", transient=True) from None
                log.info("%s: %s; trying again in %.1f s", url, problem.kind, wait)
                if problem.retry_after is not None:
                    gate.hold_off(wait)  # Retry-After holds back every request to the host
                else:
                    self._sleep(wait)
                attempt += 1

    def _backoff(self, attempt: int) -> float:
        return min(self.settings.max_wait_seconds, BACKOFF_BASE_SECONDS * 2**attempt) * random.uniform(0.5, 1.0)

    def _request_once(self, url: str, allow_private: bool, headers: dict[str, str], max_bytes: int) -> tuple[int, httpx.Headers, bytes]:
        deadline = self._clock() + self.settings.timeout_seconds
        with self._client(allow_private).stream("GET", url, headers=headers) as response:
            status = response.status_code
            log.debug("GET %s -> %d", url, status)
            if status in REDIRECT_STATUSES or status == 304:
                return status, response.headers, b""
            if status in (429, 503):
                raise FetchProblem(f"http_{status}", f"{url} answered {status}", transient=True,
                                   retry_after=retry_after_seconds(response.headers.get("retry-after")))
            if status >= 500 or status == 408:
                raise FetchProblem(f"http_{status}", f"{url} answered {status}", transient=True)
            if not 200 <= status < 300:
                raise FetchProblem(f"http_{status}", f"{url} answered {status}")
            return status, response.headers, self._read_body(url, response, deadline, max_bytes)

    def _read_body(self, url: str, response: httpx.Response, deadline: float, max_bytes: int) -> bytes:
        declared = response.headers.get("content-length", "")
        encoding = response.headers.get("content-encoding", "")
        if declared.isdigit() and int(declared) > max_bytes:
            raise FetchProblem("too_large", f"{url} declares {int(declared)} bytes, more than max_bytes={max_bytes}; not read")
        decoder = decoder_for(encoding)
        body = bytearray()
        received = 0
        for chunk in response.iter_raw():  # as it arrives: a chunk size would wait to fill it
            received += len(chunk)
            if received > max_bytes:
                raise FetchProblem("too_large", f"{url}: more than max_bytes={max_bytes} received; cut off")
            for piece in decoder.feed(chunk):
                body += piece
                if len(body) > max_bytes:
                    raise FetchProblem("too_large", f"{url}: more than max_bytes={max_bytes} after {encoding} decompression "
                                       f"(from {received} bytes received); cut off")
            if self._clock() > deadline:
                raise FetchProblem("timeout", f"{url}: response not complete after timeout_seconds={self.settings.timeout_seconds:g}", transient=True)
        return bytes(body)
