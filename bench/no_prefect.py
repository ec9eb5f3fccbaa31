"""The `textpipe-run` flow's work without Prefect: the reference for Prefect's overhead.

Calls the same library functions as `flows/pipeline.py`, in the same order, on
the same staged files, with the same worker-process pool (`--workers` forkserver
processes, fed by as many threads); what it leaves out is exactly what Prefect
adds: the flow and task runs, their API calls and state bookkeeping, the local
server, logging to it, and the artifacts. Writes the same datasets (a `runs`
row included) and the report, and prints one line of JSON with the wall seconds per phase.

    python bench/no_prefect.py --input bench/corpora/20000/txt --output /tmp/out --topics 20 --workers 2
"""

from __future__ import annotations

import argparse
import json
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path

_STARTED = time.perf_counter()

import pyarrow as pa
from textpipe_flows import cpu_pool  # imports no Prefect: a process pool only

from textpipe import derived, pipeline, report, store
from textpipe.config import Settings
from textpipe.ingest import discover
from textpipe.summary import RunSummary


def run(settings: Settings, refit: bool = False) -> dict[str, object]:
    output = settings.output_dir
    started_at = datetime.now(UTC)
    run_id = f"{started_at:%Y%m%dT%H%M%SZ}-noprefect"
    phases: dict[str, float] = {"imports": time.perf_counter() - _STARTED}
    clock = time.perf_counter()

    def lap(name: str) -> None:
        nonlocal clock
        now = time.perf_counter()
        phases[name] = round(now - clock, 3)
        clock = now

    with store.OutputLock(output):
        store.recover(output)
        derived.recover(output)
        staging = store.staging_dir(output, run_id)
        seen_path = store.write_staged(staging / "seen-ids.arrow", store.seen_article_ids(output))
        discovery = discover(settings.input_dir, settings)
        file_batches, fingerprints, unchanged = pipeline.plan_reads(discovery.files, store.read_file_manifest(output), settings)
        lap("discover")
        counts = pipeline.IngestCounts()
        with cpu_pool.for_settings(settings), ThreadPoolExecutor(max_workers=settings.workers) as threads:
            # As in the flow: the report's imports beside the workers, not at the end.
            report_prepared = threading.Thread(target=report.prepare_rendering, daemon=True)
            report_prepared.start()
            ingested = list(threads.map(
                lambda item: cpu_pool.run(pipeline.ingest_stage, item[1], settings, seen_path, staging, run_id, item[0], started_at),
                enumerate(file_batches, start=1)))
            lap("ingest and tokenize")
            for _, batch_counts, _ in ingested:
                counts.add(batch_counts)
            chunks = [c for chunk_list, _, _ in ingested for c in chunk_list]
            # As in the flow: topics in this process beside the sentiment batches in the workers.
            with ThreadPoolExecutor(max_workers=1) as topics_thread:
                topics_future = topics_thread.submit(
                    pipeline.fit_or_load_and_assign, [c.articles for c in chunks], settings, output, refit)
                batches = list(threads.map(
                    lambda item: cpu_pool.run(pipeline.sentiment_stage, item[1].articles, item[1].sentences, settings.language, item[0])[:3],
                    enumerate(chunks, start=1)))
                lap("sentiment")
                topics = topics_future.result()
                lap("topics (after sentiment)")
        articles = [a for a, _, _ in batches]
        dropped = store.cross_batch_duplicates(articles)
        story_ids = pipeline.place_stories(output, articles, dropped, run_id)
        lap("stories")
        written = store.commit_batches(output, run_id, articles=articles, sentences=[s for _, s, _ in batches],
                                       assignments=topics.assignment_paths, rejects=[c.rejects for c in chunks], story_ids=story_ids,
                                       terms_delta=pipeline.run_terms([m for _, _, m in batches], dropped) if batches else None, dropped=dropped)
        if topics.model_id and batches:
            store.write_topics(output, topics.model_id, topics.topics)
        summary = RunSummary.build(
            run_id=run_id, settings=settings, counts=counts, skipped=discovery.skipped, written=written,
            topics=topics, stage_seconds=phases, started_at=started_at, failures=[], n_unchanged_files=unchanged,
        )
        store.commit_run(output, summary.runs_row(), staging)
        store.record_file_manifest(output, run_id, fingerprints)
        lap("write")
        derived.refresh(output, run_id)
        lap("derive")
        report_prepared.join()
        if not report.is_current(output):
            report.write_report(output)
        lap("report")
    phases["total"] = round(time.perf_counter() - _STARTED, 3)
    return {"articles_new": written.get("articles", 0), "files": counts.files, "unchanged_files": unchanged,
            "model_id": topics.model_id, "seconds": phases}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--input", type=Path, required=True)
    parser.add_argument("--output", type=Path, required=True)
    parser.add_argument("--topics", type=int, default=10)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=1000)
    args = parser.parse_args(argv)
    args.output.mkdir(parents=True, exist_ok=True)
    settings = Settings(input_dir=args.input, output_dir=args.output, n_topics=args.topics, task_runner="processes",
                        workers=args.workers, batch_size=args.batch_size)
    print(json.dumps(run(settings)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
