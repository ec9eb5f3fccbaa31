"""Task runners by name: processes (default), threads, or Dask (local cluster or an address).

"processes" runs tasks in threads whose CPU-bound stage functions go to a
worker-process pool (see `cpu_pool`); Dask runs the tasks themselves on Dask workers.
"""

from __future__ import annotations

from pathlib import Path

from prefect.client.orchestration import get_client
from prefect.task_runners import TaskRunner, ThreadPoolTaskRunner

from textpipe import cluster
from textpipe.config import Settings
from textpipe.errors import ConfigError


def make_task_runner(settings: Settings) -> TaskRunner:
    if settings.task_runner in ("threads", "processes"):
        # One thread more than workers: the topics task runs in this process
        # beside the sentiment batches instead of after them.
        return ThreadPoolTaskRunner(max_workers=settings.workers + 1)
    from prefect_dask import DaskTaskRunner

    if settings.dask_address:
        return DaskTaskRunner(address=settings.dask_address)
    return DaskTaskRunner(
        cluster_kwargs={
            "n_workers": settings.workers, "threads_per_worker": 1, "processes": True, "dashboard_address": None,
            # In local mode the workers would each start their own temporary Prefect
            # server (~10 s and ~280 MB apiece, all writing one SQLite file); point
            # them at the API this run already uses instead.
            "env": {"PREFECT_API_URL": api_url()},
        }
    )


def api_url() -> str:
    """The API this process talks to: PREFECT_API_URL, or the temporary server of local mode."""
    with get_client(sync_client=True) as client:
        return str(client.api_url).rstrip("/")


def check_dask_workers(runner: TaskRunner, settings: Settings, staging: Path) -> None:
    """ConfigError naming the first Dask worker that cannot see the run's folders or its API.

    Runs `cluster.worker_problem` on every worker connected now, before any task:
    without it, a worker lacking the shared filesystem fails a stage with a
    traceback, or its tasks retry, while the others work on.
    """
    from prefect_dask import DaskTaskRunner

    if not isinstance(runner, DaskTaskRunner):
        return
    folders = (settings.input_dir.absolute(), settings.output_dir.absolute(), staging.absolute())
    problems = runner.client.run(cluster.worker_problem, *folders, api_url(), on_error="return")
    for worker, problem in sorted(problems.items()):
        if isinstance(problem, BaseException):
            problem = f"failed the folder check: {type(problem).__name__}: {problem} (is the same textpipe version installed there?)"
        if problem:
            raise ConfigError(f"Dask worker {worker} {problem}: every worker needs the input and output folders at the same "
                              "paths as this machine (a shared filesystem) and this run's Prefect API; see docs/operations.md")
