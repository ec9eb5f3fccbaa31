"""Fetching from a real local site (tests/fetch_site.py on 127.0.0.1): what is fetched,
what is refused or skipped and why, what the manifest and the run's report say, that
a second fetch downloads nothing it already has, and that `textpipe run` on the raw
folder gives the articles with their URLs and their feeds' metadata.

The site is on loopback, so its sources set allow_private; the refusal of private
addresses is tested from a public address in tests/test_fetch_netns.py.
"""

from __future__ import annotations

import gzip
import json
import sqlite3
import subprocess
import sys
from datetime import timedelta
from email.utils import format_datetime
from pathlib import Path

import brotli
import pandas as pd
import pytest

from fetch_site import EPOCH, NewsSite, Reply, Story, bbc_stories, gzip_bomb, page_html, redirect, rss, rss_item, running, sequence
from textpipe.fetch import FetchRun, load_sources
from textpipe.fetch.manifest import url_key
from textpipe.fetch.sources import parse_sources

TEXTPIPE = str(Path(sys.executable).with_name("textpipe"))
SETTINGS = """
[fetch]
user_agent = "textpipe-tests/1.0 (+mailto:tests@localhost)"
delay_seconds = 0
max_per_host = 2
timeout_seconds = 1
max_bytes = 200_000
retries = 1
max_wait_seconds = 3
"""


def fetch(raw: Path, sources_path: Path) -> dict:
    """One fetch run of every source, in this process; the reports by source name."""
    sources = load_sources(sources_path)
    with FetchRun(raw, sources) as run:
        reports = {source.name: run.fetch_source(source) for source in sources.sources}
        run.finish(list(reports.values()))
    return reports


def one_feed(site: NewsSite, stories: list[Story], sources: Path, name: str, settings: str = SETTINGS, allow_private: bool = True,
             description: str | None = None) -> Path:
    """Serve an open robots.txt and one feed listing `stories` (their pages served by the
    caller, or as they are); write a sources file with one source for it."""
    site.add_robots("User-agent: *\n")
    site.add_feed("/feeds/all.xml", "All", [rss_item(site.base, s, description=description) for s in stories])
    sources.write_text(settings + f'[[sources]]\nname = "{name}"\nfeeds = ["{site.url("/feeds/all.xml")}"]\n'
                       f"allow_private = {str(allow_private).lower()}\n", encoding="utf-8")
    return sources


def manifest_rows(raw: Path) -> dict[str, dict]:
    with sqlite3.connect(raw / "_fetch" / "manifest.sqlite") as db:
        db.row_factory = sqlite3.Row
        return {row["url"]: dict(row) for row in db.execute("SELECT * FROM pages")}


def page_requests(site: NewsSite, start: int = 0) -> list[str]:
    return [r.path for r in site.log[start:] if not r.path.startswith(("/feeds/", "/sitemap", "/robots.txt")) and r.path != "/"]


def news_sitemap(site: NewsSite, stories: list[Story]) -> str:
    urls = "".join(
        f"<url><loc>{site.url(s.path)}</loc><news:news><news:publication><news:name>Local Sitemap News</news:name>"
        f"<news:language>en</news:language></news:publication><news:publication_date>{s.published.isoformat()}</news:publication_date>"
        f"<news:title>{s.title}</news:title></news:news></url>" for s in stories)
    return ('<?xml version="1.0" encoding="UTF-8"?><urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9" '
            f'xmlns:news="http://www.google.com/schemas/sitemap-news/0.9">{urls}</urlset>')


class Scenario:
    """The local site of the main scenario and the stories behind each route."""

    def __init__(self, site: NewsSite) -> None:
        self.site = site
        s = bbc_stories(26, skip=40)
        self.normal, self.undated, self.paywalled, self.private, self.flaky, self.limited, self.shared = s[0:4], s[4], s[5], s[6], s[7], s[8], s[9]
        self.atom_only, self.json_feed, self.news, self.gz, self.changing, self.gone = s[10:12], s[12:14], s[14:16], s[16], s[17:20], s[20]
        self.errors = {  # path -> the story whose title the feed gives it (no feed text: nothing to fall back on)
            "/loop/a": s[21], "/news/huge.html": s[22], "/news/huge-stream.html": s[23], "/news/bomb.html": s[24],
            "/news/bomb-br.html": s[25], "/news/slow.html": s[0], "/news/dribble.html": s[1], "/docs/report.pdf": s[2],
        }
        self._serve()

    def _serve(self) -> None:
        site, base = self.site, self.site.base
        site.add_robots(f"User-agent: *\nDisallow: /private/\nSitemap: {base}/sitemap_index.xml\n")
        site.add_pages([*self.normal, self.shared, *self.atom_only, *self.json_feed, *self.news, self.gz, *self.changing])
        site.add_pages([self.undated], with_date=False)
        stub = Story(self.paywalled.slug, self.paywalled.title, ("Subscribe to read.",), self.paywalled.published, "", "")
        site.add_static(self.paywalled.path, page_html(stub, with_date=False), "text/html")
        site.add(self.flaky.path, sequence(Reply(500, {"Content-Type": "text/plain"}, b"oops"), Reply(200, {"Content-Type": "text/html"}, page_html(self.flaky).encode())))
        site.add(self.limited.path, sequence(Reply(429, {"Retry-After": "1", "Content-Type": "text/plain"}, b"slow down"),
                                             Reply(200, {"Content-Type": "text/html"}, page_html(self.limited).encode())))
        site.add("/loop/a", redirect("/loop/b"))
        site.add("/loop/b", redirect(base + "/loop/a"))
        site.add_static("/news/huge.html", "<html><body>" + "<p>x</p>" * 80_000 + "</body></html>", "text/html")
        site.add("/news/huge-stream.html", lambda r: Reply(200, {"Content-Type": "text/html"}, b"<html>" + b"<p>y</p>" * 80_000, until_close=True))
        bomb = gzip_bomb(64 << 20)
        site.add("/news/bomb.html", lambda r: Reply(200, {"Content-Type": "text/html", "Content-Encoding": "gzip"}, bomb))
        brotli_bomb = brotli.compress(b" " * (64 << 20), quality=5)
        site.add("/news/bomb-br.html", lambda r: Reply(200, {"Content-Type": "text/html", "Content-Encoding": "br"}, brotli_bomb))
        site.add("/news/slow.html", lambda r: Reply(200, {"Content-Type": "text/html"}, b"<html>late</html>", before_headers=3))
        site.add("/news/dribble.html", lambda r: Reply(200, {"Content-Type": "text/html"}, b"<html>" + b" " * 40, dribble=(1, 0.1)))
        site.add_static("/docs/report.pdf", b"%PDF-1.4 not a page", "application/pdf")
        world = [rss_item(base, story) for story in self.normal]
        world.append(rss_item(base, self.undated))
        world.append({**rss_item(base, self.paywalled), "content": "".join(f"<p>{p}</p>" for p in self.paywalled.paragraphs)})
        world.append({**rss_item(base, self.private, link=base + "/private/" + self.private.slug + ".html"),
                      "content": "".join(f"<p>{p}</p>" for p in self.private.paragraphs)})
        world += [rss_item(base, self.flaky), rss_item(base, self.limited), rss_item(base, self.shared, link=base + self.shared.path + "?utm_source=rss")]
        world.append({**rss_item(base, self.gone, link=base + "/news/gone.html"), "content": "".join(f"<p>{p}</p>" for p in self.gone.paragraphs)})
        world += [rss_item(base, story, link=base + path, description="") for path, story in self.errors.items()]
        site.add_feed("/feeds/world.xml", "Local News - World", world)
        site.add_static("/feeds/politics.atom", self.atom([self.shared, *self.atom_only]), "application/atom+xml", conditional=True)
        site.add_static("/feeds/tech.json", json.dumps({"version": "https://jsonfeed.org/version/1.1", "title": "Local News - Tech", "items": [
            {"id": s.slug, "url": base + s.path, "title": s.title, "date_published": s.published.isoformat(), "authors": [{"name": s.author}],
             "summary": s.paragraphs[0]} for s in self.json_feed]}), "application/feed+json", conditional=True)
        index = ('<?xml version="1.0" encoding="UTF-8"?><sitemapindex xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">'
                 f"<sitemap><loc>{base}/sitemaps/news.xml</loc><lastmod>2024-03-01</lastmod></sitemap>"
                 f"<sitemap><loc>{base}/sitemaps/more.xml.gz</loc></sitemap></sitemapindex>")
        site.add_static("/sitemap_index.xml", index, "application/xml", conditional=True)
        site.add_static("/sitemaps/news.xml", news_sitemap(site, self.news), "application/xml", conditional=True)
        more = gzip.compress(f'<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9"><url><loc>{base}{self.gz.path}</loc></url></urlset>'.encode())
        site.add_static("/sitemaps/more.xml.gz", more, "application/gzip", conditional=True)
        site.add_static("/", '<html><head><title>Local News</title><link rel="alternate" type="application/rss+xml" '
                        'title="Latest" href="/feeds/changing.xml"></head><body><h1>Local News</h1></body></html>', "text/html", conditional=True)
        self.change_feed(1)

    def atom(self, stories: list[Story]) -> str:
        base = self.site.base
        entries = "".join(
            f'<entry><title>{s.title}</title><link href="{base}{s.path}{"?utm_source=atom&amp;utm_medium=feed" if s is self.shared else ""}"/>'
            f"<id>{base}{s.path}</id><updated>{s.published.isoformat()}</updated><author><name>{s.author}</name></author>"
            f"<summary>{s.paragraphs[0]}</summary></entry>" for s in stories)
        return f'<?xml version="1.0" encoding="utf-8"?><feed xmlns="http://www.w3.org/2005/Atom"><title>Local News - Politics</title>{entries}</feed>'

    def change_feed(self, version: int) -> None:
        """Version 1 lists the first two changing stories; version 2 drops the first,
        retitles the second, and adds the third."""
        base = self.site.base
        first, second, third = self.changing
        items = [rss_item(base, first), rss_item(base, second)] if version == 1 else \
            [{**rss_item(base, second), "title": second.title + " (updated)"}, rss_item(base, third)]
        self.site.add_feed("/feeds/changing.xml", "Local News - Latest", items, format_datetime(EPOCH + timedelta(days=version), usegmt=True))


def sources_toml(base: str) -> str:
    return SETTINGS + f"""
[[sources]]
name = "local-feeds"
feeds = ["{base}/feeds/world.xml", "{base}/feeds/politics.atom", "{base}/feeds/tech.json"]
allow_private = true

[[sources]]
name = "local-sitemaps"
sitemaps = ["{base}/sitemap_index.xml"]
allow_private = true

[[sources]]
name = "local-site"
sites = ["{base}/"]
allow_private = true
"""


@pytest.fixture(scope="module")
def scenario(tmp_path_factory):
    """Two fetches of the main scenario (the changing feed changes in between), and a third with nothing new."""
    root = tmp_path_factory.mktemp("fetch")
    with running(NewsSite()) as site:
        world = Scenario(site)
        sources = root / "sources.toml"
        sources.write_text(sources_toml(site.base), encoding="utf-8")
        raw = root / "raw"
        first = fetch(raw, sources)
        after_first = len(site.log)
        manifest_after_first = manifest_rows(raw)
        world.change_feed(2)
        second = fetch(raw, sources)
        after_second = len(site.log)
        third = fetch(raw, sources)
        yield {"site": site, "world": world, "raw": raw, "sources": sources, "first": first, "second": second, "third": third,
               "logs": (site.log[:after_first], site.log[after_first:after_second], site.log[after_second:]),
               "manifest_after_first": manifest_after_first, "root": root}


def _paths(requests) -> list[str]:  # type: ignore[no-untyped-def]
    return [r.path for r in requests]


def test_the_first_fetch_saves_every_listed_page_once(scenario):
    world, raw, site = scenario["world"], scenario["raw"], scenario["site"]
    rows = scenario["manifest_after_first"]
    saved = {url for url, row in rows.items() if row["state"] == "saved"}
    expected = [*world.normal, world.undated, world.paywalled, world.flaky, world.limited, *world.atom_only, *world.json_feed, *world.news, world.gz, *world.changing[:2]]
    assert {site.url(s.path) for s in expected} <= {rows[u]["final_url"] for u in saved}
    for url in saved:
        page = raw / rows[url]["path"]
        assert page.is_file() and page.with_name(page.name + ".meta.json").is_file()
        assert rows[url]["sha256"] and rows[url]["bytes"] == page.stat().st_size
    first = scenario["first"]
    # The normal pages, the undated, paywalled, flaky, rate-limited and shared ones, the Atom and JSON feeds' own.
    assert first["local-feeds"].new_pages == len(world.normal) + 5 + len(world.atom_only) + len(world.json_feed)
    assert first["local-sitemaps"].new_pages == 3 and first["local-site"].new_pages == 2


def test_robots_txt_is_obeyed_and_the_feed_text_used_instead(scenario):
    world, site, raw = scenario["world"], scenario["site"], scenario["raw"]
    assert not any(path.startswith("/private/") for path in _paths(site.log))
    assert all(r.headers["user-agent"] == "textpipe-tests/1.0 (+mailto:tests@localhost)" for r in site.log)
    row = manifest_rows(raw)[site.url(f"/private/{world.private.slug}.html")]
    assert row["state"] == "feed_text" and row["last_error"].startswith("robots:")
    record = json.loads((raw / row["path"]).read_text(encoding="utf-8"))
    assert record["text_from"] == "feed" and world.private.paragraphs[-1] in record["text"]
    report = scenario["first"]["local-feeds"]
    assert report.robots == 1 and report.feed_text == 2  # robots.txt, and the 404 below


def test_a_500_is_tried_again_and_a_429_waits_for_its_retry_after(scenario):
    world, site = scenario["world"], scenario["site"]
    assert site.hits(world.flaky.path) == 2
    first, second = site.requests_to(world.limited.path)
    assert second.at - first.at >= 0.95  # Retry-After: 1
    assert scenario["first"]["local-feeds"].errors.get("http_500") is None  # recovered within the run


def test_pages_that_cannot_be_had_are_reported_and_not_saved(scenario):
    site = scenario["site"]
    rows = scenario["manifest_after_first"]
    errors = {path: rows[site.url(path)]["last_error"].split(":")[0] for path in scenario["world"].errors}
    assert errors == {
        "/loop/a": "redirect_loop", "/news/huge.html": "too_large", "/news/huge-stream.html": "too_large",
        "/news/bomb.html": "too_large", "/news/bomb-br.html": "too_large", "/news/slow.html": "timeout",
        "/news/dribble.html": "timeout", "/docs/report.pdf": "wrong_content_type",
    }
    for path in ("/news/huge.html", "/news/huge-stream.html", "/news/bomb.html", "/news/bomb-br.html", "/loop/a", "/docs/report.pdf"):
        assert rows[site.url(path)]["state"] == "failed" and rows[site.url(path)]["path"] is None
    assert "after gzip decompression" in rows[site.url("/news/bomb.html")]["last_error"]
    assert "after br decompression" in rows[site.url("/news/bomb-br.html")]["last_error"]
    # The loop is seen at its first repetition, not after max_redirects hops.
    assert site.hits("/loop/a") == 1 and site.hits("/loop/b") == 1
    # A timeout passes, so the page waits for a later run (tried once more within this one).
    assert rows[site.url("/news/slow.html")]["state"] == "pending" and site.hits("/news/slow.html") >= 2
    report = scenario["first"]["local-feeds"]
    assert report.errors["too_large"] == 4 and report.errors["redirect_loop"] == 1 and report.errors["http_404"] == 1
    assert report.errors["wrong_content_type"] == 1 and report.errors["timeout"] == 2 and report.pending == 2


def test_a_missing_page_falls_back_on_its_feed_text(scenario):
    raw, site, world = scenario["raw"], scenario["site"], scenario["world"]
    row = manifest_rows(raw)[site.url("/news/gone.html")]
    assert row["state"] == "feed_text" and row["last_error"].startswith("http_404")
    assert json.loads((raw / row["path"]).read_text(encoding="utf-8"))["title"] == world.gone.title


def test_an_entry_listed_by_two_feeds_is_fetched_once(scenario):
    world, site, raw = scenario["world"], scenario["site"], scenario["raw"]
    assert site.hits(world.shared.path) == 1
    keys = [url_key(u) for u in manifest_rows(raw) if world.shared.slug in u]
    assert len(keys) == 1
    assert scenario["first"]["local-feeds"].duplicates == 1


def test_sitemap_index_news_and_gzipped_sitemaps(scenario):
    world, raw, site = scenario["world"], scenario["raw"], scenario["site"]
    rows = manifest_rows(raw)
    news = json.loads(rows[site.url(world.news[0].path)]["entry"])
    assert news["title"] == world.news[0].title and news["publisher"] == "Local Sitemap News"
    assert rows[site.url(world.gz.path)]["state"] == "saved"


def test_a_site_is_read_through_the_feed_its_home_page_links(scenario):
    world, raw, site = scenario["world"], scenario["raw"], scenario["site"]
    rows = manifest_rows(raw)
    assert rows[site.url(world.changing[0].path)]["source"] == "local-site"


def test_second_fetch_gets_only_the_changed_feeds_new_entry(scenario):
    world, site = scenario["world"], scenario["site"]
    _, second_log, _ = scenario["logs"]
    pages = page_requests_of(second_log)
    # New: the changing feed's third story. Again (twice each): the two pages that timed out, left for later.
    assert set(pages) == {world.changing[2].path, "/news/slow.html", "/news/dribble.html"} and pages.count(world.changing[2].path) == 1
    second = scenario["second"]
    assert second["local-site"].new_pages == 1 and second["local-site"].known == 1  # the retitled entry is not fetched again
    assert sum(r.new_pages for r in second.values()) == 1
    # The first version's dropped entry stays saved.
    assert manifest_rows(scenario["raw"])[site.url(world.changing[0].path)]["state"] == "saved"


def page_requests_of(requests) -> list[str]:  # type: ignore[no-untyped-def]
    return [r.path for r in requests if not r.path.startswith(("/feeds/", "/sitemap", "/robots.txt")) and r.path != "/"]


def test_unchanged_feeds_and_sitemaps_cost_one_304_each(scenario):
    _, second_log, third_log = scenario["logs"]
    listings = [r for r in second_log if r.path in ("/feeds/world.xml", "/feeds/politics.atom", "/feeds/tech.json", "/sitemap_index.xml")]
    assert len(listings) == 4 and all(r.headers.get("if-none-match") and r.headers.get("if-modified-since") for r in listings)
    second = scenario["second"]
    assert second["local-feeds"].not_modified == 3 and second["local-feeds"].entries_seen == 0
    # The index is unchanged: its sitemaps are not asked for again.
    assert not any(r.path.startswith("/sitemaps/") for r in second_log)
    assert second["local-sitemaps"].not_modified == 1
    third = scenario["third"]
    assert sum(r.new_pages for r in third.values()) == 0 and third["local-site"].not_modified == 2  # home page and feed
    assert set(page_requests_of(third_log)) <= {"/news/slow.html", "/news/dribble.html"}


def test_pages_that_keep_failing_are_given_up_after_three_runs(scenario):
    rows = manifest_rows(scenario["raw"])
    slow = rows[scenario["site"].url("/news/slow.html")]
    assert slow["state"] == "failed" and slow["attempts"] == 3 and slow["last_error"].startswith("timeout")


def test_the_run_report_rows_are_the_artifacts_table(scenario):
    from textpipe.fetch import FetchSummary

    first = scenario["first"]
    summary = FetchSummary("r", "raw", list(first.values()))
    rows = summary.rows()
    assert [r["source"] for r in rows] == ["local-feeds", "local-sitemaps", "local-site", "(all sources)"]
    feeds = rows[0]
    assert feeds["skipped by robots.txt"] == 1 and feeds["from feed text"] == 2 and "too_large: 4" in feeds["errors"]
    assert rows[-1]["new pages"] == sum(r.new_pages for r in first.values())
    with sqlite3.connect(scenario["raw"] / "_fetch" / "manifest.sqlite") as db:
        runs = db.execute("SELECT report FROM runs ORDER BY started_at").fetchall()
    assert len(runs) == 3 and json.loads(runs[0][0])["local-feeds"]["new_pages"] == first["local-feeds"].new_pages


@pytest.fixture(scope="module")
def processed(scenario):
    output = scenario["root"] / "processed"
    done = subprocess.run([TEXTPIPE, "run", "--input", str(scenario["raw"]), "--output", str(output)], capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    return done, pd.read_parquet(output / "articles"), pd.read_parquet(output / "runs")


def test_textpipe_run_reads_the_raw_folder_with_urls_and_feed_metadata(scenario, processed):
    world, site = scenario["world"], scenario["site"]
    done, articles, runs = processed
    by_url = articles.set_index("url")
    for story in [*world.normal, world.undated, *world.json_feed, world.flaky]:
        row = by_url.loc[site.url(story.path)]
        assert row.title == story.title
        assert row.published_at == pd.Timestamp(story.published)
        assert row.source.startswith("local-feeds/") and row.source.endswith(".html")
    undated = by_url.loc[site.url(world.undated.path)]
    assert undated.publisher == "Local News" and json.loads(undated.extra)["feed_title"] == "Local News - World"
    assert undated.author == world.undated.author
    news = by_url.loc[site.url(world.news[0].path)]
    assert news.published_at == pd.Timestamp(world.news[0].published) and news.publisher == "Local Sitemap News"
    # Each page once, the copy listed twice too, and no sidecar read as an article or counted as skipped.
    assert articles.url.is_unique and len(by_url.loc[[site.url(world.shared.path)]]) == 1
    assert int(runs.n_skipped_files.iloc[0]) == 0 and int(runs.n_rejected.iloc[0]) == 0
    assert "skipped" not in done.stdout


def test_the_feed_text_stands_in_for_a_paywalled_or_forbidden_page(scenario, processed):
    world, site = scenario["world"], scenario["site"]
    _, articles, _ = processed
    by_url = articles.set_index("url")
    paywalled = by_url.loc[site.url(world.paywalled.path)]
    assert world.paywalled.paragraphs[-1][:60] in paywalled.text and json.loads(paywalled.extra)["text_from"] == "feed"
    forbidden = by_url.loc[site.url(f"/private/{world.private.slug}.html")]
    assert forbidden.source_format == "json" and forbidden.title == world.private.title
    assert forbidden.published_at == pd.Timestamp(world.private.published) and forbidden.publisher == "Local News"
    assert json.loads(forbidden.extra)["text_from"] == "feed"


def test_a_second_run_after_a_fetch_with_nothing_new_reads_nothing(scenario, processed):
    output = scenario["root"] / "processed"
    done = subprocess.run([TEXTPIPE, "run", "--input", str(scenario["raw"]), "--output", str(output)], capture_output=True, text=True, timeout=600)
    assert done.returncode == 0 and " 0 new" in done.stdout, done.stdout + done.stderr[-2000:]


# ---------------------------------------------------------------- politeness


def test_delay_crawl_delay_and_concurrency_per_host(tmp_path):
    stories = bbc_stories(6, skip=100)
    with running(NewsSite()) as site:
        for story in stories:
            site.add(story.path, lambda r, s=story: Reply(200, {"Content-Type": "text/html"}, page_html(s).encode(), before_headers=0.2))
        settings = SETTINGS.replace("delay_seconds = 0", "delay_seconds = 0.1").replace("timeout_seconds = 1", "timeout_seconds = 5")
        sources = one_feed(site, stories, tmp_path / "sources.toml", "paced", settings)
        site.add_robots("User-agent: *\nCrawl-delay: 0.3\n")
        report = fetch(tmp_path / "raw", sources)["paced"]
        starts = sorted(r.at for r in site.log if r.path.startswith("/news/"))
    assert report.new_pages == 6
    gaps = [b - a for a, b in zip(starts, starts[1:], strict=False)]
    assert min(gaps) >= 0.29, gaps  # robots.txt's Crawl-delay outranks the smaller delay_seconds
    assert site.max_in_flight <= 2


def test_max_pages_per_source_takes_the_newest_first_and_leaves_the_rest(tmp_path):
    stories = bbc_stories(7, skip=120)
    with running(NewsSite()) as site:
        site.add_pages(stories)
        sources = one_feed(site, stories, tmp_path / "sources.toml", "capped", SETTINGS.replace("[fetch]", "[fetch]\nmax_pages_per_source = 3"))
        first = fetch(tmp_path / "raw", sources)["capped"]
        fetched_first = page_requests(site)
        second = fetch(tmp_path / "raw", sources)["capped"]
    newest = sorted(stories, key=lambda s: s.published, reverse=True)
    assert (first.new_pages, first.pending, second.new_pages, second.pending) == (3, 4, 3, 1)
    assert fetched_first and set(fetched_first) == {s.path for s in newest[:3]}


def test_a_rate_limit_longer_than_max_wait_is_left_for_a_later_run(tmp_path):
    stories = bbc_stories(3, skip=140)
    with running(NewsSite()) as site:
        for story in stories:
            site.add(story.path, lambda r: Reply(503, {"Retry-After": "3600", "Content-Type": "text/plain"}, b"busy"))
        sources = one_feed(site, stories, tmp_path / "sources.toml", "busy", SETTINGS.replace("max_per_host = 2", "max_per_host = 1"), description="")
        report = fetch(tmp_path / "raw", sources)["busy"]
        asked = page_requests(site)
    # One 503 with an hour's Retry-After: the host's other pages are not even asked for.
    assert len(asked) == 1 and report.pending == 3
    assert set(report.errors) == {"http_503", "rate_limited"}


def test_two_fetches_of_one_raw_folder_never_overlap(tmp_path):
    from textpipe.fetch import FetchLocked

    sources = parse_sources('[[sources]]\nname = "a"\nurls = ["http://127.0.0.1:9/x"]\n', tmp_path / "s.toml")
    with FetchRun(tmp_path / "raw", sources), pytest.raises(FetchLocked, match="another textpipe fetch"):
        FetchRun(tmp_path / "raw", sources).__enter__()
    with FetchRun(tmp_path / "raw", sources):  # released
        pass


def test_an_unreachable_source_fails_for_a_passing_reason(tmp_path):
    from textpipe.fetch import SourceUnavailable

    sources = parse_sources(SETTINGS + '[[sources]]\nname = "down"\nfeeds = ["http://127.0.0.1:9/feed.xml"]\nallow_private = true\n', tmp_path / "s.toml")
    with FetchRun(tmp_path / "raw", sources) as run, pytest.raises(SourceUnavailable) as failed:
        run.fetch_source(sources.sources[0])
    assert failed.value.transient and failed.value.report.errors == {"robots_unavailable": 1}


def test_private_addresses_are_refused_without_allow_private(tmp_path):
    stories = bbc_stories(1, skip=160)
    with running(NewsSite()) as site:
        site.add_pages(stories)
        sources = load_sources(one_feed(site, stories, tmp_path / "sources.toml", "strict", allow_private=False))
        from textpipe.fetch import SourceUnavailable

        with FetchRun(tmp_path / "raw", sources) as run, pytest.raises(SourceUnavailable) as failed:
            run.fetch_source(sources.sources[0])
    assert not site.log  # not a single byte went to the loopback address
    assert failed.value.report.errors == {"refused_address": 1} and not failed.value.transient
