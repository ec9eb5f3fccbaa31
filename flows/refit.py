"""The `refit-topics` flow: fit a new topic model on the whole store (for
example weekly) and reassign every article to it. The hourly flow then uses
the new model's `transform` for new articles."""

from __future__ import annotations

import time
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

from prefect import flow, get_run_logger, task
from prefect.cache_policies import NO_CACHE

from textpipe import derived, refit, store
from textpipe.config import Settings, parse_topics
from textpipe.pipeline import IngestCounts, TopicsResult, topic_rows
from textpipe.summary import RunSummary
from textpipe.topics import TopicModel
from textpipe_flows import publish
from textpipe_flows.pipeline import new_run_id, refresh_report, untagged_tasks


@task(name="fit", task_run_name="fit", cache_policy=NO_CACHE)
def fit_model(output: Path, settings: Settings) -> Path:
    model = refit.fit_on_store(output, settings)
    get_run_logger().info("fitted model %s with %d topics on up to %d stored articles", model.model_id_, model.n_topics, settings.topic_fit_sample)
    return output / store.MODELS_DIR / model.model_id_


@task(name="reassign", task_run_name="reassign [file {index}/{total}]", retries=1, cache_policy=NO_CACHE)
def reassign(path: Path, model_dir: Path, settings: Settings, staging: Path, index: int, total: int) -> Path:
    return refit.reassign_file(path, TopicModel.load(model_dir), settings.topic_weight_threshold, staging)


@flow(name="refit-topics", log_prints=False)
def refit_topics(output_dir: str = "data/processed", topics: int | str | None = None) -> RunSummary:
    """Refit the topic model on the store at `output_dir` and reassign all articles."""
    settings = Settings(output_dir=Path(output_dir), n_topics=parse_topics(topics))
    output = settings.output_dir
    started_at = datetime.now(UTC)
    run_id = new_run_id()
    seconds: dict[str, float] = {}
    with store.OutputLock(output), untagged_tasks():
        store.recover(output)
        derived.recover(output)
        staging = store.staging_dir(output, run_id)
        clock = time.perf_counter()
        model_dir = fit_model(output, settings)
        seconds["fit"] = time.perf_counter() - clock
        clock = time.perf_counter()
        files = store.dataset_files(output, "articles")
        mixes = [reassign(path, model_dir, settings, staging, i, len(files)) for i, path in enumerate(files, start=1)]
        store.write_batches(store.dataset_dir(output, "article_topics") / store.part_name(run_id), (store.read_staged(m) for m in mixes), store.ARTICLE_TOPICS)
        seconds["reassign"] = time.perf_counter() - clock
        model = TopicModel.load(model_dir)
        result = TopicsResult(model.model_id_, True, topic_rows(model), [])
        reassigned = IngestCounts(articles_seen=store.read_dataset(output, "articles", ["article_id"]).num_rows)
        summary = RunSummary.build(
            run_id=run_id, settings=settings, counts=reassigned, skipped={}, written={}, topics=result,
            stage_seconds=seconds, started_at=started_at, failures=[], flow="refit-topics",
        )
        store.write_topics(output, model.model_id_, result.topics)
        store.commit_run(output, summary.runs_row(), staging)
        derived.refresh(output, run_id)
        report_path, written_report = refresh_report(output)
        summary = replace(summary, report=str(report_path) if report_path else None)
    publish.run_artifacts(summary, output, written_report)
    get_run_logger().info(summary.one_line())
    return summary
