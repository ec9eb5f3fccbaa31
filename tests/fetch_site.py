"""A local news site for the fetch tests and the fetch benchmark: a real HTTP server
(the standard library's, one thread per connection) serving feeds (RSS, Atom, JSON
Feed), a sitemap index, robots.txt and article pages made of real BBC text, plus
routes that misbehave the ways real sites do.

In a test: `with NewsSite.start(articles) as site: site.url("/feeds/world.xml")`.
As a process (the benchmark, a network namespace): `python tests/fetch_site.py --help`.
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import html
import json
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

BBC = Path(__file__).resolve().parents[2] / "shared" / "corpora" / "bbc"
EPOCH = datetime(2024, 3, 1, 8, 0, tzinfo=UTC)
LAST_MODIFIED = format_datetime(EPOCH, usegmt=True)


@dataclass(frozen=True)
class Story:
    slug: str
    title: str
    paragraphs: tuple[str, ...]
    published: datetime
    author: str
    category: str

    @property
    def path(self) -> str:
        return f"/news/{self.slug}.html"


def bbc_stories(count: int, skip: int = 0) -> list[Story]:
    """`count` BBC articles, round-robin over the categories, each with a date and an author."""
    categories = sorted(p.name for p in BBC.iterdir() if p.is_dir())
    files = {c: sorted((BBC / c).glob("*.txt")) for c in categories}
    stories = []
    for index in range(skip, skip + count):
        category = categories[index % len(categories)]
        path = files[category][index // len(categories)]
        title, _, body = path.read_text(encoding="utf-8", errors="replace").partition("\n")
        paragraphs = tuple(p.strip() for p in body.split("\n") if p.strip())
        stories.append(Story(f"{category}-{path.stem}", title.strip(), paragraphs, EPOCH + timedelta(hours=index),
                             f"Reporter {index % 7}", category.title()))
    return stories


def page_html(story: Story, with_date: bool = True) -> str:
    date = f'<meta property="article:published_time" content="{story.published.isoformat()}">' if with_date else ""
    body = "".join(f"<p>{html.escape(p)}</p>" for p in story.paragraphs)
    return (f'<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{html.escape(story.title)} - Local News</title>{date}'
            '<link rel="alternate" type="application/rss+xml" href="/feeds/world.xml"></head><body>'
            '<header><nav><a href="/">Home</a> | <a href="/news/">News</a> | <a href="/sport/">Sport</a></nav></header>'
            f"<main><article><h1>{html.escape(story.title)}</h1>{body}</article></main>"
            "<footer><p>Copyright Local News. All rights reserved.</p></footer></body></html>")


def rss(title: str, site: str, items: list[dict[str, str]]) -> str:
    body = "".join(
        "<item>" + "".join(f"<{k}>{html.escape(v)}</{k}>" for k, v in item.items() if k != "content")
        + (f"<content:encoded><![CDATA[{item['content']}]]></content:encoded>" if "content" in item else "") + "</item>"
        for item in items)
    return ('<?xml version="1.0" encoding="utf-8"?><rss version="2.0" xmlns:content="http://purl.org/rss/1.0/modules/content/" '
            f'xmlns:dc="http://purl.org/dc/elements/1.1/"><channel><title>{html.escape(title)}</title><link>{site}/</link>'
            f"<description>{html.escape(title)}</description>{body}</channel></rss>")


def rss_item(site: str, story: Story, link: str | None = None, description: str | None = None) -> dict[str, str]:
    return {"title": story.title, "link": link or site + story.path, "guid": site + story.path,
            "pubDate": format_datetime(story.published, usegmt=True), "dc:creator": story.author, "category": story.category,
            "description": description if description is not None else story.paragraphs[0]}


@dataclass
class Reply:
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    before_headers: float = 0.0             # seconds of silence before answering
    dribble: tuple[int, float] | None = None  # (bytes per write, seconds between writes)
    until_close: bool = False               # no Content-Length: the body ends when the connection closes


Route = Callable[["Request"], Reply]


class _QuietServer(ThreadingHTTPServer):
    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # a client that hangs up on a response it refused (too large, too slow) is expected here


@dataclass(frozen=True)
class Request:
    path: str
    headers: dict[str, str]
    at: float
    peer: str


class NewsSite:
    """Routes by path; `hits` counts requests per path, `log` keeps them in order."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0, log_file: Path | None = None) -> None:
        self.routes: dict[str, Route] = {}
        self._log_file = log_file.open("a", buffering=1) if log_file else None
        self.log: list[Request] = []
        self._lock = threading.Lock()
        self.in_flight = 0
        self.max_in_flight = 0
        self._server = _QuietServer((host, port), self._handler())
        self._server.daemon_threads = True
        bound = self._server.server_address[1]
        self.base = f"http://{host}" + ("" if bound == 80 else f":{bound}")
        self._thread: threading.Thread | None = None

    # ---- serving

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        site = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            # As real servers do: no Nagle delay, and headers and body leave in one write
            # (else each response waits ~40 ms for the client's delayed ACK).
            disable_nagle_algorithm = True
            wbufsize = 1 << 16

            def log_message(self, *args: Any) -> None:  # quiet
                pass

            def do_GET(self) -> None:  # noqa: N802 (http.server API)
                request = Request(self.path, {k.lower(): v for k, v in self.headers.items()}, time.monotonic(), self.client_address[0])
                with site._lock:
                    site.log.append(request)
                    site.in_flight += 1
                    site.max_in_flight = max(site.max_in_flight, site.in_flight)
                    if site._log_file:
                        site._log_file.write(json.dumps({"path": request.path, "peer": request.peer}) + "\n")
                try:
                    route = site.routes.get(self.path.split("?", 1)[0])
                    reply = route(request) if route else Reply(404, {"Content-Type": "text/plain"}, b"not found")
                    self._send(reply)
                except (BrokenPipeError, ConnectionResetError):
                    self.close_connection = True
                finally:
                    with site._lock:
                        site.in_flight -= 1

            def _send(self, reply: Reply) -> None:
                if reply.before_headers:
                    time.sleep(reply.before_headers)
                self.send_response(reply.status)
                headers = {"Connection": "close"} if reply.until_close else {"Content-Length": str(len(reply.body))}
                headers |= reply.headers
                if reply.until_close:
                    self.close_connection = True
                for name, value in headers.items():
                    self.send_header(name, value)
                self.end_headers()
                if reply.dribble:
                    size, pause = reply.dribble
                    for start in range(0, len(reply.body), size):
                        self.wfile.write(reply.body[start:start + size])
                        self.wfile.flush()
                        time.sleep(pause)
                else:
                    self.wfile.write(reply.body)

        return Handler

    def serve_in_thread(self) -> NewsSite:
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def url(self, path: str) -> str:
        return self.base + path

    def hits(self, path: str) -> int:
        with self._lock:
            return sum(1 for r in self.log if r.path.split("?", 1)[0] == path)

    def requests_to(self, path: str) -> list[Request]:
        with self._lock:
            return [r for r in self.log if r.path.split("?", 1)[0] == path]

    # ---- content

    def add(self, path: str, route: Route) -> None:
        self.routes[path] = route

    def add_static(self, path: str, body: str | bytes, content_type: str, conditional: bool = False,
                   last_modified: str = LAST_MODIFIED) -> None:
        """A fixed response; `conditional`: with ETag and Last-Modified, and 304 when they match
        (If-None-Match first: as HTTP says, If-Modified-Since counts only without it)."""
        data = body.encode("utf-8") if isinstance(body, str) else body
        etag = '"' + hashlib.sha1(data).hexdigest()[:16] + '"'

        def serve(request: Request) -> Reply:
            if conditional:
                asked = request.headers.get("if-none-match")
                unchanged = asked == etag if asked is not None else request.headers.get("if-modified-since") == last_modified
                if unchanged:
                    return Reply(304, {"ETag": etag})
            headers = {"Content-Type": content_type}
            if conditional:
                headers |= {"ETag": etag, "Last-Modified": last_modified}
            return Reply(200, headers, data)

        self.routes[path] = serve

    def add_pages(self, stories: list[Story], with_date: bool = True) -> None:
        for story in stories:
            self.add_static(story.path, page_html(story, with_date), "text/html; charset=utf-8")

    def add_feed(self, path: str, title: str, items: list[dict[str, str]], last_modified: str = LAST_MODIFIED) -> None:
        self.add_static(path, rss(title, self.base, items), "application/rss+xml; charset=utf-8", conditional=True, last_modified=last_modified)

    def add_sitemap(self, path: str, urls: list[str]) -> None:
        body = ('<?xml version="1.0" encoding="UTF-8"?><urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">'
                + "".join(f"<url><loc>{html.escape(u)}</loc></url>" for u in urls) + "</urlset>")
        self.add_static(path, body, "application/xml", conditional=True)

    def add_robots(self, text: str) -> None:
        self.add_static("/robots.txt", text, "text/plain")


def sequence(*replies: Reply) -> Route:
    """A route answering each request with the next reply, the last one for ever after."""
    lock = threading.Lock()
    state = {"n": 0}

    def serve(request: Request) -> Reply:
        with lock:
            index = min(state["n"], len(replies) - 1)
            state["n"] += 1
        return replies[index]

    return serve


def redirect(location: str, status: int = 302) -> Route:
    return lambda request: Reply(status, {"Location": location, "Content-Type": "text/plain"}, b"moved")


def gzip_bomb(decompressed_bytes: int) -> bytes:
    """A gzip member inflating to `decompressed_bytes` of spaces, built without holding them."""
    compressor = __import__("zlib").compressobj(9, 8, 16 + 15)
    chunk = b" " * (1 << 20)
    out = []
    for _ in range(decompressed_bytes >> 20):
        out.append(compressor.compress(chunk))
    out.append(compressor.flush())
    return b"".join(out)


def write_sources(path: Path, name: str, feeds: list[str], allow_private: bool = True, **settings: object) -> Path:
    """A sources file with one source reading `feeds`; `settings` go under [fetch]
    (a test user agent and delay_seconds = 0 unless given)."""
    fetch = {"user_agent": "textpipe-tests/1.0 (+mailto:tests@localhost)", "delay_seconds": 0, **settings}
    lines = ["[fetch]", *(f"{key} = {json.dumps(value)}" for key, value in fetch.items()), "",
             "[[sources]]", f"name = {json.dumps(name)}", f"feeds = {json.dumps(feeds)}", f"allow_private = {str(allow_private).lower()}"]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def wait_until(check: Callable[[], Any], timeout: float, what: str, pause: float = 0.1) -> Any:
    """`check()`'s first true value, polled every `pause` s; an AssertionError after `timeout` s."""
    deadline = time.monotonic() + timeout
    while not (value := check()):
        assert time.monotonic() < deadline, f"timed out after {timeout:.0f} s waiting for {what}"
        time.sleep(pause)
    return value


@contextmanager
def running(site: NewsSite) -> Iterator[NewsSite]:
    site.serve_in_thread()
    try:
        yield site
    finally:
        site.stop()


def bench_site(site: NewsSite, pages: int) -> list[Story]:
    """A site with one feed listing `pages` pages, for the speed benchmark."""
    stories = bbc_stories(pages)
    site.add_pages(stories)
    site.add_robots("User-agent: *\nAllow: /\n")
    site.add_feed("/feeds/all.xml", "Local News - All", [rss_item(site.base, s) for s in stories])
    return stories


def main() -> None:
    parser = argparse.ArgumentParser(description="Serve a local news site until killed.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--pages", type=int, default=1000, help="pages listed by /feeds/all.xml")
    parser.add_argument("--redirect-to", default=None, help="also serve /away, a redirect to this URL")
    parser.add_argument("--ready-file", type=Path, default=None, help="write the base URL here once serving")
    parser.add_argument("--log", type=Path, default=None, help="append each request's path here (JSON lines)")
    args = parser.parse_args()
    site = NewsSite(args.host, args.port, args.log)
    bench_site(site, args.pages)
    if args.redirect_to:
        # /feeds/with-redirect.xml: the feed's pages and /away, which redirects to --redirect-to.
        site.add("/away", redirect(args.redirect_to))
        stories = bbc_stories(args.pages)
        items = [rss_item(site.base, s) for s in stories] + [{"title": "Away", "link": site.url("/away"), "description": ""}]
        site.add_feed("/feeds/with-redirect.xml", "Local News - Away", items)
    if args.ready_file:
        args.ready_file.write_text(site.base)
    site._server.serve_forever()


if __name__ == "__main__":
    main()
