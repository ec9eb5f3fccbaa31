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
from textpipe.stories import StoryIndex, index_path, stories_table
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
    """After `store.recover`: drop index rows of runs that never committed (or build the
    index, for a store written before it existed), and recount any derived dataset a
    crash left out of date."""
    path = index_path(output)
    if not path.exists() and store.dataset_files(output, "articles"):
        indexed = rebuild_index(output)
        log.info("built the story index from the %d stored articles", indexed)
    elif path.exists():
        committed = store.committed_run_ids(output)
        with StoryIndex(path) as index:
            orphans = index.run_ids() - committed
            if orphans:
                removed = index.forget_runs(orphans)
                log.warning("removed %d articles of %d interrupted run(s) from the story index", removed, len(orphans))
    if not store.has_committed_runs(output):
        return  # a new store: the first commit counts them
    missing = [name for name in store.DERIVED if not store.derived_file(output, name).exists()]
    redone = refresh(output)
    if set(redone) - set(missing):
        log.warning("recounted %s, out of date after an interrupted run", ", ".join(sorted(set(redone) - set(missing))))
    if missing:
        log.info("counted %s for the first time in this store", ", ".join(missing))


def rebuild_index(output: Path) -> int:
    """A new story index from the stored articles (their text sketched again, their
    stories kept; an article stored before stories existed is a story of its own).
    Reads the store one row group at a time; returns the articles indexed."""
    import pyarrow.parquet as pq

    from textpipe.resources import stop_words
    from textpipe.stories import NewArticle, sketch
    from textpipe.tokenize import normalize_terms

    path = index_path(output)
    for leftover in (path, Path(f"{path}-journal")):
        leftover.unlink(missing_ok=True)
    words_to_drop = stop_words()
    indexed = 0
    with StoryIndex(path) as index:
        for file in store.dataset_files(output, "articles"):
            parquet = pq.ParquetFile(file)
            for group in range(parquet.num_row_groups):
                table = store.conform(parquet.read_row_group(group), store.ARTICLES).select(["article_id", "story_id", "text", "run_id"])
                rows = table.to_pylist()
                index.add_placed([NewArticle(r["article_id"], sketch(normalize_terms(r["text"], words_to_drop))) for r in rows],
                                 [r["story_id"] or r["article_id"] for r in rows], [r["run_id"] for r in rows])
                indexed += len(rows)
    return indexed


def repair(output: Path) -> list[str]:
    """After `store.repair`: a damaged story index is moved to `_corrupt/` and built again
    from the articles; the derived datasets are recounted. Returns what was done."""
    import os

    done = []
    path = index_path(output)
    if path.exists():
        try:
            with StoryIndex(path) as index:
                index.check()
        except OutputError as exc:
            quarantine = output / "_corrupt"
            quarantine.mkdir(exist_ok=True)
            os.replace(path, quarantine / "stories.sqlite")
            log.warning("%s: moved to %s", exc, quarantine / "stories.sqlite")
            done.append(f"story index damaged: moved to {quarantine / 'stories.sqlite'} and built again from {rebuild_index(output)} articles")
    outdated = stale(output) if store.has_committed_runs(output) else []
    recover(output)
    return done + [f"recounted {', '.join(outdated)}"] if outdated else done


def counts(output: Path) -> dict[str, int]:
    """Rows per derived dataset (for a run's summary)."""
    return {name: store.read_dataset(output, name, [store.SCHEMAS[name].names[0]]).num_rows for name in store.DERIVED}


def stories_with_copies(output: Path) -> int:
    table = store.read_dataset(output, "stories", ["n_articles"])
    return int(pc.sum(pc.greater(table.column("n_articles"), 1)).as_py() or 0)
