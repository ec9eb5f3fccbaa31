"""The datasets counted across articles — `stories`, `trends`, `terms` — kept equal to a
recount from the store.

Each is one Parquet file, replaced whole after a run commits, and marked with what it
was counted from: a digest of the committed runs that changed its inputs (runs that
added articles; for `trends` also refits). A file whose mark differs from the store's
is out of date (a crash between a commit and its update, a run moved aside by
`repair`) and is counted again; a run with nothing new finds every mark current and
reads nothing. `stories` and `trends` are recounted from `articles` (narrow columns);
`terms` adds the run's own counts (`_state/terms`) to the dataset when it was current
before the run, and is summed from every run's counts otherwise.

The story index (`textpipe.stories`) is state too: `recover` drops what runs that
never committed put into it.
"""

from __future__ import annotations

import hashlib
import logging
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc

from textpipe import store
from textpipe.errors import OutputError
from textpipe.stories import StoryIndex, stories_table
from textpipe.terms import as_delta, sum_deltas, terms_table
from textpipe.trends import COLUMNS as TREND_COLUMNS, trends_table

log = logging.getLogger(__name__)

_ARTICLE_COLUMNS = sorted({*TREND_COLUMNS, "ingested_at", "title"})


def versions(output: Path, without: str | None = None) -> dict[str, str]:
    """What each derived dataset must be counted from: digests of the committed runs that
    changed its inputs (`without` one of them: the store as it was before that run)."""
    runs = store.read_dataset(output, "runs", ["run_id", "flow", "n_new"]).to_pylist()
    adding = sorted(r["run_id"] for r in runs if r["n_new"] and r["run_id"] != without)
    topics = sorted(r["run_id"] for r in runs if (r["n_new"] or r["flow"] == "refit-topics") and r["run_id"] != without)
    return {"stories": _digest(adding), "terms": _digest(adding), "trends": _digest(topics)}


def _digest(run_ids: list[str]) -> str:
    return hashlib.sha256("\n".join(run_ids).encode()).hexdigest()[:32]


def stale(output: Path) -> list[str]:
    """The derived datasets whose file is missing or was counted from another store state."""
    wanted = versions(output)
    return [name for name in store.DERIVED if store.derived_from(output, name) != wanted[name]]


def refresh(output: Path, run_id: str | None = None) -> list[str]:
    """Bring every derived dataset up to date after `run_id` committed (None: after a
    recovery); returns those rewritten. Call under the output lock."""
    wanted = versions(output)
    outdated = [name for name in store.DERIVED if store.derived_from(output, name) != wanted[name]]
    if not outdated:
        return []
    if "stories" in outdated or "trends" in outdated:
        articles = store.read_dataset(output, "articles", _ARTICLE_COLUMNS)
        if "stories" in outdated:
            store.write_derived(output, "stories", stories_table(articles, store.STORIES), wanted["stories"])
        if "trends" in outdated:
            store.write_derived(output, "trends", trends_table(articles, store.TRENDS), wanted["trends"])
    if "terms" in outdated:
        store.write_derived(output, "terms", _terms(output, run_id), wanted["terms"])
    return outdated


def _terms(output: Path, run_id: str | None) -> pa.Table:
    """Current terms plus the run's counts when the file was current before the run; else all runs' counts summed."""
    current_before = run_id is not None and store.derived_from(output, "terms") == versions(output, without=run_id)["terms"]
    if current_before:
        before = as_delta(store.read_dataset(output, "terms"), store.TERMS_DELTA)
        totals = sum_deltas(pa.concat_tables([before, store.read_terms_deltas(output, run_id)]), store.TERMS_DELTA)
    else:
        totals = sum_deltas(store.read_terms_deltas(output), store.TERMS_DELTA)
    return terms_table(totals, store.TERMS)


def recover(output: Path) -> None:
    """After `store.recover` (which removes the index parts of runs that never committed):
    build the story index of a store written before it existed, and recount any derived
    dataset a crash left out of date."""
    if not store.has_committed_runs(output):
        return  # a new store: the first commit counts them
    if not StoryIndex(output).parts() and store.dataset_files(output, "articles"):
        log.info("built the story index from the %d stored articles", rebuild_index(output))
    missing = [name for name in store.DERIVED if not store.derived_file(output, name).exists()]
    redone = refresh(output)
    if set(redone) - set(missing):
        log.warning("recounted %s, out of date after an interrupted run", ", ".join(sorted(set(redone) - set(missing))))
    if missing:
        log.info("counted %s for the first time in this store", ", ".join(missing))


def rebuild_index(output: Path) -> int:
    """The story index built again from the stored articles, a part per articles file:
    their text sketched again, their stories kept (an article stored before stories
    existed is a story of its own). One row group at a time; returns the articles indexed."""
    import numpy as np
    import pyarrow.parquet as pq

    from textpipe.resources import stop_words
    from textpipe.stories import article_keys, band_keys, part_file, sketch, write_part
    from textpipe.tokenize import normalize_terms

    words_to_drop = stop_words()
    indexed = 0
    for file in store.dataset_files(output, "articles"):
        ids, stories, sizes, signatures = [], [], [], []
        parquet = pq.ParquetFile(file)
        wanted = pa.schema([store.ARTICLES.field(name) for name in ("article_id", "text", "story_id")])
        present = [name for name in wanted.names if name in parquet.schema_arrow.names]
        for group in range(parquet.num_row_groups):
            table = store.conform(parquet.read_row_group(group, columns=present), wanted)
            for article_id, text, story_id in zip(*(table.column(name).to_pylist() for name in wanted.names), strict=True):
                article = sketch(normalize_terms(text, words_to_drop))
                ids.append(article_id)
                stories.append(story_id or article_id)
                sizes.append(article.n_shingles)
                signatures.append(article.signature)
        if ids:
            matrix = np.stack(signatures)
            write_part(output, part_file(store.run_id_of(file)), article_keys(ids), article_keys(stories), np.array(sizes), matrix, band_keys(matrix))
            indexed += len(ids)
    return indexed


def repair(output: Path) -> list[str]:
    """After `store.repair`: a story index with a part that does not read is moved to
    `_corrupt/` and built again from the articles; the derived datasets are recounted.
    Returns what was done, a line each."""
    import os

    done = []
    index = StoryIndex(output)
    try:
        index.check()
    except OutputError as exc:
        quarantine = output / "_corrupt"
        for sketches, bands in index.parts():
            for path in (sketches, bands):
                quarantine.mkdir(exist_ok=True)
                os.replace(path, quarantine / f"{path.parent.name}--{path.name}")
        log.warning("%s: moved the story index to %s", exc, quarantine)
        done.append(f"story index damaged ({exc}): moved to {quarantine} and built again from {rebuild_index(output)} articles")
    outdated = stale(output) if store.has_committed_runs(output) else []
    recover(output)
    return done + [f"recounted {', '.join(outdated)}"] if outdated else done


def counts(output: Path) -> dict[str, int]:
    """Rows per derived dataset (for a run's summary)."""
    return {name: store.read_dataset(output, name, [store.SCHEMAS[name].names[0]]).num_rows for name in store.DERIVED}


def stories_with_copies(output: Path) -> int:
    table = store.read_dataset(output, "stories", ["n_articles"])
    return int(pc.sum(pc.greater(table.column("n_articles"), 1)).as_py() or 0)
