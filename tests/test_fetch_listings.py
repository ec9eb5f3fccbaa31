"""Listings: RSS, Atom and JSON feeds, sitemaps (index, news, gzipped, plain text) and a
site's home page, parsed into entries with their metadata; unsafe or foreign documents
are refused with a kind the report counts."""

from __future__ import annotations

import gzip
import json

import pytest

from textpipe.fetch.listings import parse_feed, parse_sitemap, site_feeds
from textpipe.fetch.problems import FetchProblem

FEED = "https://news.example/feeds/world.xml"
RSS = b"""<?xml version="1.0"?><rss version="2.0" xmlns:dc="http://purl.org/dc/elements/1.1/"><channel>
<title>World &amp;amp; More</title>
<item><title>Tom &amp;amp; Jerry</title><link>/news/1.html#top</link><pubDate>Tue, 05 Mar 2024 10:30:00 +0100</pubDate>
<dc:creator>Ann Writer</dc:creator><category>World</category><description>&lt;p&gt;First.&lt;/p&gt;&lt;p&gt;Second.&lt;/p&gt;</description></item>
<item><title>No link</title><description>x</description></item>
<item><title>Mailto</title><link>mailto:desk@news.example</link></item>
</channel></rss>"""


def test_rss_entries_carry_url_title_date_author_publisher_and_text():
    listing = parse_feed(RSS, FEED)
    (entry,) = listing.entries
    assert entry.url == "https://news.example/news/1.html"  # resolved against the feed, no fragment
    assert entry.title == "Tom & Jerry" and entry.publisher == entry.feed_title == "World & More" and entry.section is None
    assert entry.published == "2024-03-05T09:30:00Z" and entry.author == "Ann Writer"
    assert entry.categories == ("World",) and entry.text == "First.\n\nSecond." and entry.listing == FEED
    assert listing.skipped == 2


def test_atom_and_json_feeds():
    atom = b"""<feed xmlns="http://www.w3.org/2005/Atom"><title>The Example - Politics</title><entry><title>A</title>
    <link rel="alternate" href="https://news.example/a"/><id>tag:a</id><updated>2024-03-05T10:00:00Z</updated>
    <author><name>B. Writer</name></author><content type="html">&lt;p&gt;Body&lt;/p&gt;</content></entry></feed>"""
    (entry,) = parse_feed(atom, FEED).entries
    assert (entry.url, entry.author, entry.published, entry.text) == ("https://news.example/a", "B. Writer", "2024-03-05T10:00:00Z", "Body")
    # As ingest reads a feed file: the outlet publishes, the feed's title names its section.
    assert (entry.publisher, entry.section, entry.feed_title) == ("The Example", "Politics", "The Example - Politics")
    document = {"version": "https://jsonfeed.org/version/1.1", "title": "Tech", "items": [
        {"id": "1", "url": "/tech/1", "title": "T", "content_html": "<p>One</p><p>Two</p>", "date_published": "2024-03-05T10:00:00Z",
         "authors": [{"name": "C"}, {"name": "D"}], "tags": ["ai"]},
        {"id": "2", "title": "no url"}]}
    listing = parse_feed(json.dumps(document).encode(), FEED)
    (item,) = listing.entries
    assert (item.url, item.author, item.text, item.categories, item.publisher) == ("https://news.example/tech/1", "C, D", "One\n\nTwo", ("ai",), "Tech")
    assert listing.skipped == 1


@pytest.mark.parametrize(("body", "kind"), [
    (b"<html><body>not a feed</body></html>", "not_a_feed"),
    (b'{"items": []}', "not_a_feed"),
    (b'<?xml version="1.0"?><!DOCTYPE r [<!ENTITY a "aaaa"><!ENTITY b "&a;&a;&a;">]><rss version="2.0"><channel><title>&b;</title></channel></rss>', "unsafe_xml"),
])
def test_what_is_not_a_safe_feed_is_refused(body, kind):
    with pytest.raises(FetchProblem) as refused:
        parse_feed(body, FEED)
    assert refused.value.kind == kind


SITEMAP = "https://news.example/sitemap.xml"


def test_sitemap_index_news_sitemap_gzip_and_text():
    index = b"""<sitemapindex xmlns="http://www.sitemaps.org/schemas/sitemap/0.9"><sitemap><loc>https://news.example/s1.xml</loc>
    <lastmod>2024-03-05</lastmod></sitemap><sitemap><loc>/s2.xml.gz</loc></sitemap></sitemapindex>"""
    assert parse_sitemap(index, SITEMAP, 10**6).listings == [("https://news.example/s1.xml", "2024-03-05"), ("https://news.example/s2.xml.gz", None)]
    news = b"""<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9" xmlns:news="http://www.google.com/schemas/sitemap-news/0.9">
    <url><loc>https://news.example/a</loc><lastmod>2024-03-05T12:00:00Z</lastmod><news:news><news:publication><news:name>The Example</news:name>
    <news:language>en</news:language></news:publication><news:publication_date>2024-03-05T10:00:00+01:00</news:publication_date>
    <news:title>Headline</news:title><news:keywords>a, b</news:keywords></news:news></url></urlset>"""
    (entry,) = parse_sitemap(gzip.compress(news), SITEMAP, 10**6).entries
    assert (entry.url, entry.title, entry.published, entry.publisher, entry.categories, entry.lastmod) == (
        "https://news.example/a", "Headline", "2024-03-05T10:00:00+01:00", "The Example", ("a", "b"), "2024-03-05T12:00:00Z")
    text = parse_sitemap(b"https://news.example/x\n\nhttps://news.example/y\nnot a url\n", SITEMAP, 10**6)
    assert [e.url for e in text.entries] == ["https://news.example/x", "https://news.example/y"] and text.skipped == 1


def test_a_gzipped_sitemap_bomb_is_cut_off():
    with pytest.raises(FetchProblem) as refused:
        parse_sitemap(gzip.compress(b" " * 5_000_000), SITEMAP, 100_000)
    assert refused.value.kind == "too_large"


def test_a_home_page_links_its_feeds():
    page = b"""<html><head><link rel="alternate" type="application/rss+xml" href="/rss.xml">
    <link rel="alternate" type="application/atom+xml" href="https://news.example/atom.xml"></head><body></body></html>"""
    assert site_feeds(page, "https://news.example/") == ["https://news.example/rss.xml", "https://news.example/atom.xml"]
