"""Task runners by name: threads (default), processes, or Dask (local cluster or an address).

"processes" runs tasks in threads whose CPU-bound stage functions go to a
worker-process pool (see `cpu_pool`); Dask runs the tasks themselves on Dask workers.
"""

from __future__ import annotations

from prefect.task_runners import TaskRunner, ThreadPoolTaskRunner

from textpipe.config import Settings


def make_task_runner(settings: Settings) -> TaskRunner:
    if settings.task_runner in ("threads", "processes"):
        return ThreadPoolTaskRunner(max_workers=settings.workers)
    from prefect_dask import DaskTaskRunner

    if settings.dask_address:
        return DaskTaskRunner(address=settings.dask_address)
    return DaskTaskRunner(
        cluster_kwargs={"n_workers": settings.workers, "threads_per_worker": 1, "processes": True, "dashboard_address": None}
    )
