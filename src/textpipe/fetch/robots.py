"""robots.txt, fetched once per origin per run and obeyed for every request after it
(feeds and sitemaps too), with the configured user agent. Protego parses it (Google's
rules: `*` and `$` in paths, the most specific group for the agent wins).

Following RFC 9309: a robots.txt that is missing or refused (4xx) allows everything;
one that cannot be had (5xx, timeout, connection error) disallows everything for this
run, so a host that is down or overloaded is not crawled blind.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urlsplit

from protego import Protego

from textpipe.fetch.problems import FetchProblem

# Google reads the first 500 KiB of a robots.txt.
MAX_ROBOTS_BYTES = 500 * 1024


@dataclass(frozen=True)
class RobotsRules:
    """What one origin's robots.txt says; `parser` None means "everything allowed",
    `unavailable` a reason everything is disallowed for this run."""

    parser: Protego | None
    unavailable: str | None = None

    def allows(self, url: str, user_agent: str) -> bool:
        return self.parser is None or self.parser.can_fetch(url, user_agent)

    def delay(self, user_agent: str) -> float:
        """Seconds between requests that Crawl-delay or Request-rate ask for (0 if none)."""
        if self.parser is None:
            return 0.0
        delay = self.parser.crawl_delay(user_agent) or 0.0
        rate = self.parser.request_rate(user_agent)
        if rate is not None and rate.requests:
            delay = max(delay, rate.seconds / rate.requests)
        return float(delay)

    def sitemaps(self) -> list[str]:
        return list(self.parser.sitemaps) if self.parser is not None else []


def origin_of(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme.lower()}://{parts.netloc.lower()}"


# (origin, allow_private) -> the robots.txt body, or a FetchProblem raised (its kind and status say why)
RobotsFetch = Callable[[str, bool], bytes]


class RobotsCache:
    """robots.txt rules per origin, fetched on first use, shared by every thread of a run."""

    def __init__(self, fetch: RobotsFetch, user_agent: str, on_delay: Callable[[str, float], None]) -> None:
        self._fetch = fetch
        self._user_agent = user_agent
        self._on_delay = on_delay
        self._rules: dict[str, RobotsRules] = {}
        self._locks: dict[str, threading.Lock] = {}
        self._guard = threading.Lock()

    def rules(self, url: str, allow_private: bool) -> RobotsRules:
        origin = origin_of(url)
        with self._guard:
            lock = self._locks.setdefault(origin, threading.Lock())
        with lock:  # one fetch per origin, however many threads ask at once
            if origin not in self._rules:
                self._rules[origin] = self._load(origin, allow_private)
                delay = self._rules[origin].delay(self._user_agent)
                if delay:
                    self._on_delay(origin, delay)
            return self._rules[origin]

    def _load(self, origin: str, allow_private: bool) -> RobotsRules:
        try:
            body = self._fetch(origin, allow_private)
        except FetchProblem as problem:
            if problem.kind == "refused_address":
                raise
            status = int(problem.kind[5:]) if problem.kind.startswith("http_") and problem.kind[5:].isdigit() else None
            if status is not None and 400 <= status < 500 and status != 429:
                return RobotsRules(None)
            return RobotsRules(None, unavailable=f"{origin}/robots.txt could not be fetched ({problem.kind}: {problem.detail})")
        return RobotsRules(Protego.parse(body.decode("utf-8", errors="replace")))

    def check(self, url: str, allow_private: bool) -> None:
        """Raise a FetchProblem `robots` (disallowed) or `robots_unavailable` unless `url` may be fetched."""
        rules = self.rules(url, allow_private)
        if rules.unavailable is not None:
            raise FetchProblem("robots_unavailable", rules.unavailable, transient=True)
        if not rules.allows(url, self._user_agent):
            raise FetchProblem("robots", f"{url} is disallowed by {origin_of(url)}/robots.txt")
