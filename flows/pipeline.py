"""The `textpipe-run` flow: new articles from an input folder into the Parquet store.

Reads like a table of contents: discover -> ingest-tokenize [files i/n] ->
sentiment [batch i/m], with topics beside it (it needs only the tokenized
batches) -> write -> stories, trends, terms -> report, then now and then compact. Tasks pass staged file paths, never article data,
so Prefect holds nothing big in memory.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path

import pyarrow as pa
from prefect import flow, get_run_logger, task
from prefect.artifacts import create_progress_artifact, update_progress_artifact
from prefect.cache_policies import NO_CACHE
from prefect.context import TagsContext
from prefect.runtime import flow_run
from prefect.states import Failed
from prefect.utilities.annotations import quote

from textpipe import compact, derived, pipeline, report, store
from textpipe.pipeline import TopicsResult, fit_or_load_and_assign
from textpipe.config import Settings, parse_topics
from textpipe.ingest import InputFile, discover
from textpipe.records import Reject
from textpipe.summary import RunSummary
from textpipe_flows import cpu_pool, publish
from textpipe_flows.heartbeats import end_runs_without_joining_heartbeats
from textpipe_flows.runners import check_dask_workers, make_task_runner


# Every textpipe flow run (the CLI's and the deployments') imports this module first.
end_runs_without_joining_heartbeats()

RUN_TAG = "textpipe"  # the Prefect tag of every run textpipe starts: the deployments' and the CLI's


@dataclass
class IngestResult:
    chunks: list[pipeline.StagedChunk]
    counts: pipeline.IngestCounts
    seconds: dict[str, float]  # in the worker: reading and cleaning ("ingest"), "tokenize"


@dataclass
class StagedBatch:
    articles: Path
    sentences: Path
    seconds: dict[str, float] = field(default_factory=dict)
    mentions: Path | None = None  # the terms its sentences name, once scored


@dataclass
class InputPlan:
    batches: list[list[InputFile]]
    fingerprints: list[tuple[str, int, int]]  # of the files to read, for the manifest
    n_unchanged: int
    skipped: dict[str, int]
    path_rejects: list[Reject]

    @property
    def bytes_to_read(self) -> int:
        return sum(size for _, size, _ in self.fingerprints)


@task(name="discover", task_run_name="discover", retries=2, retry_delay_seconds=[1, 5], cache_policy=NO_CACHE)
def discover_inputs(settings: Settings) -> InputPlan:
    discovery = discover(settings.input_dir, settings)
    batches, fingerprints, unchanged = pipeline.plan_reads(discovery.files, store.read_file_manifest(settings.output_dir), settings)
    get_run_logger().info(
        "found %d supported files in %s (%d unchanged since an earlier run, not read again); skipped %d with other extensions; %d path problems",
        len(discovery.files), settings.input_dir, unchanged, sum(discovery.skipped.values()), len(discovery.rejects),
    )
    return InputPlan(batches, fingerprints, unchanged, discovery.skipped, discovery.rejects)


# One task per file batch reads, cleans and tokenizes: a task run costs Prefect's server
# ~35 ms of CPU, and a separate tokenize task per batch would also wait for every batch
# to be read first.
@task(name="ingest-tokenize", task_run_name="ingest-tokenize [files {index}/{total}]", retries=2, retry_delay_seconds=[1, 5], cache_policy=NO_CACHE)
def ingest_batch(files: list[InputFile], settings: Settings, seen_path: Path, staging: Path, run_id: str, index: int, total: int,
                 ingested_at: datetime | None = None) -> IngestResult:
    chunks, counts, seconds = cpu_pool.run(pipeline.ingest_stage, files, settings, seen_path, staging, run_id, index, ingested_at)
    logger = get_run_logger()
    logger.info("%d files: %d articles, %d new, %d duplicates, %d rejected; %d sentences", counts.files, counts.articles_seen, counts.new,
                counts.duplicates, counts.rejected, sum(c.n_sentences for c in chunks))
    if counts.rejected:
        logger.warning("rejected %d files/records: %s", counts.rejected, counts.rejected_by_reason)
    if counts.dates_not_read:
        logger.warning("%d new articles have a publication date textpipe could not read, e.g. %r: stored without published_at, "
                       "the date kept in extra.published_at_raw", counts.dates_not_read, counts.date_not_read_example)
    return IngestResult(chunks, counts, seconds)


@task(name="sentiment", task_run_name="sentiment [batch {index}/{total}]", cache_policy=NO_CACHE)
def sentiment_batch(batch: StagedBatch, language: str, index: int, total: int) -> StagedBatch:
    started = time.perf_counter()
    articles, sentences, mentions, n_sentences = cpu_pool.run(pipeline.sentiment_stage, batch.articles, batch.sentences, language, index)
    get_run_logger().info("scored %d sentences", n_sentences)
    return StagedBatch(articles, sentences, {**batch.seconds, "sentiment": time.perf_counter() - started}, mentions)


@dataclass
class TopicsStep:
    result: TopicsResult
    assignments: dict[int, tuple[Path, Path]]  # staged (dominant, mix) by batch number
    seconds: float


@task(name="topics", task_run_name="topics", cache_policy=NO_CACHE)
def topics_step(tokenized: dict[int, StagedBatch], settings: Settings, output: Path, refit: bool) -> TopicsStep:
    """Fit or load the model on the tokenized batches (by batch number)."""
    from threadpoolctl import threadpool_limits

    started = time.perf_counter()
    # Worker processes keep every core busy meanwhile: BLAS threads of its own would
    # only wait for a core, spinning (~0.3 CPU-s of a 20,000-article run).
    with threadpool_limits(1) if cpu_pool.workers_active() else contextlib.nullcontext():
        result = fit_or_load_and_assign([b.articles for b in tokenized.values()], settings, output, refit)
    get_run_logger().info("%s topic model %s with %d topics", "fitted" if result.fitted else "used", result.model_id, len(result.topics))
    assignments = dict(zip(tokenized, result.assignment_paths, strict=True)) if result.assignment_paths else {}
    return TopicsStep(result, assignments, time.perf_counter() - started)


@task(name="write", task_run_name="write", cache_policy=NO_CACHE)
def write_step(batches: list[StagedBatch], reject_paths: list[Path], topics: TopicsResult | None, output: Path, run_id: str) -> dict[str, int]:
    articles = [b.articles for b in batches]
    dropped = store.cross_batch_duplicates(articles)
    written = store.commit_batches(
        output,
        run_id,
        articles=articles,
        sentences=[b.sentences for b in batches],
        assignments=topics.assignment_paths if topics else [],
        rejects=reject_paths,
        story_ids=pipeline.place_stories(output, articles, dropped, run_id),
        terms_delta=pipeline.run_terms([b.mentions for b in batches if b.mentions is not None], dropped),
        dropped=dropped,
    )
    if topics and topics.model_id and batches:  # with nothing new, the topic counts stand
        store.write_topics(output, topics.model_id, topics.topics)
    get_run_logger().info("wrote %s", ", ".join(f"{n} {name}" for name, n in written.items()))
    return written


@task(name="derive", task_run_name="stories, trends, terms", cache_policy=NO_CACHE)
def derive_step(output: Path, run_id: str) -> list[str]:
    """Recount the datasets across articles for the committed run."""
    updated = derived.refresh(output, run_id)
    if updated:
        get_run_logger().info("updated %s", ", ".join(updated))
    return updated


@task(name="report", task_run_name="report", cache_policy=NO_CACHE)
def report_step(output: Path) -> report.WrittenReport:
    """Write the store's HTML report: coverage and tone by topic, stories, terms, publishers, rejects."""
    started = time.perf_counter()
    written = report.write_report(output)
    get_run_logger().info("wrote %s in %.2f s: %s", written.path, time.perf_counter() - started, written.headline.one_line())
    return written


def refresh_report(output: Path) -> tuple[Path | None, report.WrittenReport | None]:
    """The store's report (None if it could not be written) and, when this run wrote it, what it wrote.

    Written only when the store changed since the report was (new articles, rejects, a
    new model, or a recount a crash had left undone): a run with nothing new keeps it
    and imports neither pandas nor matplotlib.
    """
    if report.is_current(output):
        return report.default_path(output).resolve(), None
    # The run is committed: a report that fails shows as a failed task, and the next run writes it.
    state = report_step(output, return_state=True)
    if not state.is_completed():
        get_run_logger().warning("the report was not written; the run's data is committed, the next run writes it: %s", state.message)
        return None, None
    written = state.result()
    return written.path.resolve(), written


@task(name="compact", task_run_name="compact", cache_policy=NO_CACHE)
def compact_store(output: Path, compaction_id: str) -> None:
    done = compact.compact(output, compaction_id)
    if done is not None:
        get_run_logger().info("compacted the store: %s", done.one_line())


@contextmanager
def untagged_tasks() -> Iterator[None]:
    """Task runs started inside get none of the tags around the flow call.

    The `textpipe` tag is for flow runs (the UI's filter, the crash automation).
    A tagged task run asks the API for tag concurrency slots before it starts and
    returns them after: 2-3 s of stalled batches per 20,000 articles here. Runs
    of the deployments never tag their tasks; this makes the CLI's runs alike.
    """
    with TagsContext(current_tags=set()):
        yield


def new_run_id() -> str:
    """A run's id: UTC start time and the Prefect flow run's id, sortable and traceable to the UI."""
    flow_run_id = flow_run.get_id() or ""
    return f"{datetime.now(UTC):%Y%m%dT%H%M%SZ}-{flow_run_id.replace('-', '')[:8]}"


@flow(name="textpipe-run", log_prints=False)
def textpipe_run(
    input_dir: str = "data/raw",
    output_dir: str = "data/processed",
    topics: int | str | None = None,
    language: str = "en",
    task_runner: str = "processes",
    workers: int = 2,
    dask_address: str | None = None,
    batch_size: int = 1_000,
    refit: bool = False,
    wait_lock_seconds: float = 0.0,
) -> RunSummary:
    """Process the articles in `input_dir` that the store at `output_dir` has not seen."""
    if task_runner == "dask" and dask_address:
        # A cluster's workers have working directories of their own: they get absolute paths.
        input_dir, output_dir = str(Path(input_dir).absolute()), str(Path(output_dir).absolute())
    settings = Settings(
        input_dir=Path(input_dir), output_dir=Path(output_dir), n_topics=parse_topics(topics),
        language=language, task_runner=task_runner, workers=workers, dask_address=dask_address, batch_size=batch_size,
    )
    logger = get_run_logger()
    output = settings.output_dir
    started_at = datetime.now(UTC)
    run_id = new_run_id()
    stage_seconds: dict[str, float] = {}
    with store.OutputLock(output, wait_lock_seconds), untagged_tasks():
        removed = store.recover(output)
        if removed:
            logger.warning("cleaned %d files left by an interrupted run", len(removed))
        derived.recover(output)
        staging = store.staging_dir(output, run_id)
        seen_path = store.write_staged(staging / "seen-ids.arrow", store.seen_article_ids(output))
        clock = time.perf_counter()
        plan = discover_inputs(settings)
        file_batches, skipped, path_rejects = plan.batches, plan.skipped, plan.path_rejects
        stage_seconds["discover"] = time.perf_counter() - clock
        progress = _Progress(bool(file_batches))
        counts = pipeline.IngestCounts()
        failures: list[str] = []
        with cpu_pool.for_settings(settings, plan.bytes_to_read), make_task_runner(settings) as runner:
            check_dask_workers(runner, settings, staging)
            _log_where_stages_run(settings, plan)
            ingested = _run_ingest(runner, file_batches, settings, seen_path, staging, run_id, failures, started_at)
            for result in ingested:
                counts.add(result.counts)
            for name in ("ingest", "tokenize"):
                stage_seconds[name] = sum(r.seconds[name] for r in ingested)
            chunks = [c for r in ingested for c in r.chunks]
            progress.update(40.0)
            # Enough to read to start workers: the report will be rendered at the end. Not
            # before the batches are read: its imports would hold the interpreter while the
            # first tasks are dispatched (~0.4 s later, measured).
            report_prepared = _prepare_report() if cpu_pool.workers_active() else None
            batches, topics_result, stage_seconds["topics"] = _run_analysis(runner, chunks, settings, refit, failures, progress)
        stage_seconds["sentiment"] = sum(b.seconds.get("sentiment", 0.0) for b in batches)
        clock = time.perf_counter()
        reject_paths = [c.rejects for c in chunks] + _stage_path_rejects(path_rejects, counts, staging, run_id)
        written = write_step(batches, reject_paths, topics_result, output, run_id)
        stage_seconds["write"] = time.perf_counter() - clock
        summary = RunSummary.build(
            run_id=run_id, settings=settings, counts=counts, skipped=skipped, written=written,
            topics=topics_result, stage_seconds=stage_seconds, started_at=started_at, failures=failures,
            n_unchanged_files=plan.n_unchanged,
        )
        store.commit_run(output, summary.runs_row(), staging)
        if not failures:
            store.record_file_manifest(output, run_id, plan.fingerprints)
        # The run is committed: a failed recount shows as a failed task, and the next run redoes it.
        # A run that changed nothing they count has no task for them (a rerun stays quick).
        derivation = derive_step(output, run_id, return_state=True) if derived.stale(output) else None
        if derivation is not None and not derivation.is_completed():
            logger.warning("stories, trends and terms were not updated; the run's data is committed, the next run recounts them: %s", derivation.message)
        if report_prepared is not None:
            report_prepared.join()
        report_path, written_report = refresh_report(output)
        summary = replace(summary, report=str(report_path) if report_path else None)
        if compact.compaction_due(output, settings.compact_after_runs):
            # The run is committed: a failed compaction shows as a failed task, and the next run tries again.
            compaction = compact_store(output, f"{run_id}-compact", return_state=True)
            if not compaction.is_completed():
                logger.warning("compaction failed; the run's data is committed, the next run tries again: %s", compaction.message)
    progress.update(100.0)
    publish.run_artifacts(summary, output, written_report)
    logger.info(summary.one_line())
    if failures:
        return Failed(message=f"{len(failures)} batch(es) failed; their articles were not written and will be retried next run: {'; '.join(failures)[:500]}", data=summary)
    return summary


def _prepare_report() -> threading.Thread:
    """Start importing what the report needs (~1 s), beside the workers, not at the end."""

    def prepare() -> None:
        with contextlib.suppress(Exception):  # the report step itself says what fails
            report.prepare_rendering()

    thread = threading.Thread(target=prepare, name="prepare-report", daemon=True)
    thread.start()
    return thread


class _Progress:
    """The run's progress artifact. A run with nothing to read gets none: it is
    over in a fraction of a second, and the bar's three API calls were ~10% of it."""

    def __init__(self, has_files_to_read: bool) -> None:
        self._id = create_progress_artifact(0.0, key="textpipe-progress", description="Share of batches done") if has_files_to_read else None

    def update(self, percent: float) -> None:
        if self._id is not None:
            update_progress_artifact(self._id, percent)


def _log_where_stages_run(settings: Settings, plan: InputPlan) -> None:
    if not plan.batches or settings.task_runner != "processes":
        return
    in_workers = cpu_pool.workers_active()
    get_run_logger().info("%.1f MB to read: stages run in %s", plan.bytes_to_read / 1e6,
                          f"{settings.workers} worker process{'es' if settings.workers > 1 else ''}" if in_workers else "threads (too little to start worker processes for)")


def _stage_path_rejects(rejects: list[Reject], counts: pipeline.IngestCounts, staging: Path, run_id: str) -> list[Path]:
    """Rejects found while discovering (bad symlinks, unreadable folders) join the ingest rejects."""
    if not rejects:
        return []
    for reject in rejects:
        counts.add_reject(reject)
    return [store.write_staged(staging / "rejects-paths.arrow", pipeline.rejects_table(rejects, run_id, datetime.now(UTC)))]


def _run_ingest(runner, file_batches: Sequence[list[InputFile]], settings: Settings, seen_path: Path, staging: Path, run_id: str, failures: list[str],
                ingested_at: datetime) -> list[IngestResult]:
    total = len(file_batches)
    # quote: Prefect would otherwise walk each batch's ~1,000 file records twice per task
    # run, looking for futures (~1 CPU-s per 20,000 files in this process). Not for
    # Dask, whose graph code takes the quote (a tuple) apart.
    wrap = (lambda files: files) if settings.task_runner == "dask" else quote
    futures = [
        runner.submit(ingest_batch, {"files": wrap(files), "settings": settings, "seen_path": seen_path, "staging": staging, "run_id": run_id, "index": i, "total": total, "ingested_at": ingested_at})
        for i, files in enumerate(file_batches, start=1)
    ]
    results = []
    for i, future in enumerate(futures, start=1):
        future.wait()
        if future.state.is_completed():
            results.append(future.result())
        else:
            failures.append(f"ingest-tokenize [files {i}/{total}]: {future.state.message}")
    return results


def _run_analysis(runner, chunks: list[pipeline.StagedChunk], settings: Settings, refit: bool, failures: list[str],
                  progress: _Progress) -> tuple[list[StagedBatch], TopicsResult, float]:
    """Score sentiment per tokenized batch while the topics task fits (or loads) the
    model on all of them beside it."""
    total = len(chunks)
    tokenized = {i: StagedBatch(chunk.articles, chunk.sentences) for i, chunk in enumerate(chunks, start=1)}
    # Submitted before the sentiment batches, so it gets a thread of its own at once.
    topics = runner.submit(topics_step, {"tokenized": tokenized, "settings": settings, "output": settings.output_dir, "refit": refit})
    scored = {i: runner.submit(sentiment_batch, {"batch": batch, "language": settings.language, "index": i, "total": total}) for i, batch in tokenized.items()}
    batches: dict[int, StagedBatch] = {}
    for done, (i, future) in enumerate(scored.items(), start=1):
        future.wait()
        if future.state.is_completed():
            batches[i] = future.result()
        else:
            failures.append(f"sentiment [batch {i}/{total}]: {future.state.message}")
        progress.update(40.0 + 50.0 * done / max(len(scored), 1))
    step = topics.result()
    # A batch whose sentiment failed is not written, so neither are its topics.
    assignment_paths = [step.assignments[i] for i in batches] if step.assignments else []
    return list(batches.values()), replace(step.result, assignment_paths=assignment_paths), step.seconds
