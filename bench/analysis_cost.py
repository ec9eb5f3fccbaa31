"""What stories, trends and terms cost per article, beside the stages they ride on.

Runs the library's stages on a corpus in one process (no Prefect, no worker pool), and
times the parts the three datasets added: the MinHash sketch in the tokenize stage,
the term mentions in the sentiment stage, story placement before the write, and the
recount of stories, trends and terms after the commit. Prints one JSON object:
microseconds per article for each, and for the stages around them.

    python bench/analysis_cost.py bench/corpora/20000/txt
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import pyarrow as pa


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("input", type=Path)
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args(argv)

    from textpipe import derived, pipeline, store
    from textpipe.config import Settings
    from textpipe.ingest import discover
    from textpipe.resources import stop_words
    from textpipe.stories import sketch_columns
    from textpipe.terms import mention_table
    from textpipe.tokenize import normalize_terms

    with tempfile.TemporaryDirectory() as folder:
        output = Path(folder)
        settings = Settings(input_dir=args.input, output_dir=output, n_topics=20)
        files = discover(args.input, settings).files
        seconds: dict[str, float] = {}

        def timed(name: str, function, *call_args):
            started = time.perf_counter()
            result = function(*call_args)
            seconds[name] = seconds.get(name, 0.0) + time.perf_counter() - started
            return result

        run_id = "bench-analysis"
        now = datetime.now(UTC)
        counts = pipeline.IngestCounts()
        chunks = timed("ingest and clean", lambda: list(pipeline.ingest_files(files, settings, set(), run_id, now, counts)))
        staging = store.staging_dir(output, run_id)
        article_paths, mention_paths = [], []
        for index, chunk in enumerate(chunks):
            articles, sentences = timed("tokenize (with the sketch)", pipeline.tokenize_articles, chunk.articles)
            titles = [len(normalize_terms(t, stop_words())) for t in articles.column("title").to_pylist()]
            timed("  of which: sketch", sketch_columns, articles.column("terms"), titles)
            # The scorers are built once per process, as each worker does (pipeline's lru_caches).
            articles, sentences = timed("sentiment (VADER and the ensemble)", pipeline.score_sentiment, articles, sentences, "en", pipeline._scorer())
            mentions = timed("terms: mentions per article (in the sentiment stage)", mention_table, articles, sentences, "en")
            article_paths.append(store.write_staged(staging / f"articles-{index}.arrow", articles))
            mention_paths.append(store.write_staged(staging / f"mentions-{index}.arrow", mentions))
            store.write_staged(staging / f"sentences-{index}.arrow", sentences)
        dropped = store.cross_batch_duplicates(article_paths)
        story_ids = timed("stories: placement (before the write)", pipeline.place_stories, output, article_paths, dropped, run_id)
        delta = timed("terms: the run's counts (before the write)", pipeline.run_terms, mention_paths, dropped)
        store.commit_batches(output, run_id, article_paths, [staging / f"sentences-{i}.arrow" for i in range(len(chunks))], [], [],
                             story_ids=story_ids, terms_delta=delta, dropped=dropped)
        row = {"run_id": run_id, "flow": "textpipe-run", "started_at": now, "finished_at": now, "n_files": len(files), "n_unchanged_files": 0,
               "n_skipped_files": 0, "n_articles_seen": counts.articles_seen, "n_new": counts.new, "n_duplicates": 0, "n_rejected": 0,
               "n_topics": 0, "model_id": None, "textpipe_version": "bench", "parameters": "{}", "stage_seconds": "{}"}
        store.commit_run(output, row, None)
        timed("derive: stories, trends and terms recounted (after the commit)", derived.refresh, output, run_id)
        n = counts.new
        result = {
            "articles": n, "input": str(args.input), "machine": f"{os.cpu_count()} cores, {platform.processor() or platform.machine()}",
            "load_average": os.getloadavg(), "microseconds_per_article": {name: round(s / n * 1e6, 1) for name, s in seconds.items()},
            "stories": store.read_dataset(output, "stories", ["story_id"]).num_rows,
            "terms_rows": store.read_dataset(output, "terms", ["term"]).num_rows,
        }
    print(json.dumps(result, indent=2))
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
