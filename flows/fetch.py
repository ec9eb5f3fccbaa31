"""The `textpipe-fetch` flow: the sources file's feeds, sitemaps and sites into the
raw folder, a task per source, and a `fetch-summary` table artifact per run.

Reads like a table of contents: read the sources file -> fetch [source] for each
source, side by side -> record the run -> optionally start a processing run of the
`textpipe-run` deployment when new files arrived (how `textpipe serve` chains them).
"""

from __future__ import annotations

import time
from pathlib import Path

from prefect import flow, get_run_logger, task
from prefect.artifacts import create_table_artifact
from prefect.cache_policies import NO_CACHE
from prefect.client.schemas.objects import TaskRun
from prefect.runtime import flow_run
from prefect.states import Completed, Failed, State
from prefect.utilities.annotations import quote

from textpipe.fetch import FetchLocked, FetchRun, FetchSummary, Source, SourceReport, SourceUnavailable, load_sources
from textpipe.fetch.fetcher import new_run_id
from textpipe_flows.heartbeats import end_runs_without_joining_heartbeats

end_runs_without_joining_heartbeats()

# A processing run started after a fetch waits this long for a processing run that
# holds the output's lock (an hourly one, or one another fetch started).
PROCESS_WAIT_LOCK_SECONDS = 1_800


def _worth_retrying(task_: object, task_run: TaskRun, state: State) -> bool:
    """Retry a source whose listings all failed for a passing reason (timeouts,
    connection errors, 5xx); not one whose feeds are gone or disallowed."""
    error = state.result(raise_on_failure=False)
    return not isinstance(error, SourceUnavailable) or error.transient


@task(name="fetch-source", task_run_name="fetch [{source.name}]", retries=2, retry_delay_seconds=[30, 120],
      retry_condition_fn=_worth_retrying, cache_policy=NO_CACHE)
def fetch_source(run: FetchRun, source: Source) -> SourceReport:
    report = run.fetch_source(source)
    logger = get_run_logger()
    logger.info("%s: %d entries listed, %d new pages, %d from feed text, %d listings not modified, %d skipped by robots.txt, "
                "%d left for later", source.name, report.entries_seen, report.new_pages, report.feed_text,
                report.not_modified, report.robots, report.pending)
    if report.errors:
        logger.warning("%s: errors %s", source.name, dict(sorted(report.errors.items())))
    return report


def _fetch_all(run: FetchRun, sources: tuple[Source, ...], summary: FetchSummary) -> None:
    # quote(): Prefect would otherwise walk the run's object graph looking for futures.
    futures = [fetch_source.submit(quote(run), source) for source in sources]
    for source, future in zip(sources, futures, strict=True):
        future.wait()
        if future.state.is_completed():
            summary.reports.append(future.result())
            continue
        error = future.state.result(raise_on_failure=False)
        if isinstance(error, SourceUnavailable):
            summary.reports.append(error.report)
        summary.failures.append(f"{source.name}: {error if isinstance(error, BaseException) else future.state.message}")


@flow(name="textpipe-fetch", log_prints=False)
def textpipe_fetch(sources_file: str = "sources.toml", raw_dir: str = "data/raw", then_run_deployment: str | None = None) -> FetchSummary:
    """Fetch every source of `sources_file` into `raw_dir`; with `then_run_deployment`
    ("textpipe-run/hourly"), start a run of it when new files arrived."""
    logger = get_run_logger()
    started = time.perf_counter()
    sources = load_sources(Path(sources_file))  # read at every run: an edit takes effect without restarting serve
    summary = FetchSummary(new_run_id((flow_run.get_id() or "").replace("-", "")[:8] or None), raw_dir)
    try:
        with FetchRun(Path(raw_dir), sources, summary.run_id) as run:
            _fetch_all(run, sources.sources, summary)
            run.finish(summary.reports)
    except FetchLocked as exc:
        # The running fetch does the work: this one is not a failure, only moot.
        summary.skipped = str(exc)
        logger.warning(summary.one_line())
        return Completed(message=summary.skipped, data=summary)
    summary.seconds = time.perf_counter() - started
    create_table_artifact(key="fetch-summary", table=summary.rows(), description=f"textpipe fetch {summary.run_id} into {raw_dir}")
    logger.info(summary.one_line())
    if then_run_deployment and summary.new_files:
        _start_processing(then_run_deployment, summary)
    if summary.failures:
        return Failed(message=f"{len(summary.failures)} source(s) failed: {'; '.join(summary.failures)[:500]}", data=summary)
    return summary


def _start_processing(deployment: str, summary: FetchSummary) -> None:
    from prefect.deployments import run_deployment

    # timeout=0: scheduled now, run by `textpipe serve` like a scheduled run, not waited for here.
    processing = run_deployment(deployment, parameters={"wait_lock_seconds": PROCESS_WAIT_LOCK_SECONDS}, timeout=0)
    get_run_logger().info("%d new raw files: started %s run %s", summary.new_files, deployment, processing.name)
