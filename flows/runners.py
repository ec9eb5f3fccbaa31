"""Task runners by name: processes (default), threads, or Dask (local cluster or an address).

"processes" runs tasks in threads whose CPU-bound stage functions go to a
worker-process pool (see `cpu_pool`); Dask runs the tasks themselves on Dask workers.
"""

from __future__ import annotations

from prefect.client.orchestration import get_client
from prefect.task_runners import TaskRunner, ThreadPoolTaskRunner

from textpipe.config import Settings


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
