"""Fetching: the first stage. Feeds, sitemaps and sites listed in a sources file are
read on a schedule, and each new page is downloaded once, politely and safely, into
the raw folder that ingest reads (`<raw>/<source>/…`), with its listing's metadata.

Plain Python, no Prefect: `flows/fetch.py` wires `FetchRun.fetch_source` into a task
per source. See docs/fetching.md.
"""

from textpipe.fetch.fetcher import FetchLocked, FetchRun, FetchSummary, SourceReport, SourceUnavailable
from textpipe.fetch.sources import FetchSettings, Source, SourcesFile, SourcesFileError, load_sources

__all__ = ["FetchLocked", "FetchRun", "FetchSummary", "FetchSettings", "Source", "SourceReport", "SourceUnavailable", "SourcesFile",
           "SourcesFileError", "load_sources"]
