"""Worker processes for the CPU-bound stages with `--task-runner processes`.

Prefect's ProcessPoolTaskRunner spawns a fresh interpreter per worker and
costs ~8 s before the first task here; instead, tasks run in threads (so the
UI shows every task run) and hand their stage function to a forkserver pool
that has textpipe imported once.
"""

from __future__ import annotations

import contextlib
import gc
import multiprocessing
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from typing import Any, TypeVar

from textpipe.config import Settings

T = TypeVar("T")

_pool: ProcessPoolExecutor | None = None


# A batch allocates millions of small objects and makes almost no reference
# cycles, while the caches (tokens, sentence-splitter facts) grow large: with
# Python's default gen-0 threshold (700) the collector ran often, and each full
# pass walked those caches: ~4% of the workers' time.
_WORKER_GC_THRESHOLDS = (50_000, 20, 100)


def _warm_up() -> None:
    """Each worker's initializer; the forkserver has loaded the models (`forkserver_warm`)."""
    gc.freeze()  # the forkserver's imports and loaded models live as long as the worker
    gc.set_threshold(*_WORKER_GC_THRESHOLDS)
    gc.enable()


def _started() -> None:
    """A no-op task: submitting one per worker makes the workers start now."""


def _start_workers(pool: ProcessPoolExecutor, workers: int) -> None:
    with contextlib.suppress(RuntimeError):  # the block ended (and shut the pool) first
        for _ in range(workers):
            pool.submit(_started)


def _wants_workers(settings: Settings, bytes_to_read: int | None = None) -> bool:
    """Whether stage functions go to worker processes (a size of None: not known yet)."""
    if settings.task_runner != "processes":
        return False
    return bytes_to_read is None or 0 < bytes_to_read >= settings.worker_pool_min_bytes


def workers_active() -> bool:
    return _pool is not None


@contextmanager
def for_settings(settings: Settings, bytes_to_read: int | None = None) -> Iterator[None]:
    """Within the block, `run` uses a process pool if the settings ask for processes,
    and `bytes_to_read` (if known) is enough work to repay the workers' start-up.

    An enclosing block's pool is reused: the CLI opens one before it imports
    the flow, so the workers warm up meanwhile, and while Prefect's local server starts.
    """
    global _pool
    if _pool is not None or not _wants_workers(settings, bytes_to_read):
        yield
        return
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(["textpipe_flows.forkserver_start", "textpipe_flows.forkserver_warm"])
    _pool = ProcessPoolExecutor(max_workers=settings.workers, mp_context=context, initializer=_warm_up)
    # Starting the forkserver blocks until it has imported textpipe: let a thread wait for that.
    threading.Thread(target=_start_workers, args=(_pool, settings.workers), name="start-workers", daemon=True).start()
    try:
        yield
    finally:
        pool, _pool = _pool, None
        pool.shutdown(wait=True, cancel_futures=True)


def run(function: Callable[..., T], *args: Any) -> T:
    """Call a stage function in a worker process when a pool is active, else here."""
    if _pool is None:
        return function(*args)
    return _pool.submit(function, *args).result()
