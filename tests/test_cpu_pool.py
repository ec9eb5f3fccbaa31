"""cpu_pool: stage functions go to worker processes only when the settings ask for
processes and the run has enough to read to repay the workers' start-up."""

from __future__ import annotations

import os

from textpipe.config import Settings
from textpipe_flows import cpu_pool

PROCESSES = Settings(task_runner="processes", workers=1, worker_pool_min_bytes=1_000)


def where_run() -> int:
    return cpu_pool.run(os.getpid)


def test_enough_to_read_runs_stage_functions_in_a_worker_process():
    with cpu_pool.for_settings(PROCESSES, bytes_to_read=1_000):
        assert where_run() != os.getpid()
    assert where_run() == os.getpid()


def test_too_little_to_read_or_threads_runs_them_here():
    with cpu_pool.for_settings(PROCESSES, bytes_to_read=999):
        assert where_run() == os.getpid()
    with cpu_pool.for_settings(Settings(task_runner="processes", worker_pool_min_bytes=0), bytes_to_read=0):
        assert where_run() == os.getpid()  # nothing to read: no workers even with no minimum
    with cpu_pool.for_settings(Settings(task_runner="threads", worker_pool_min_bytes=0), bytes_to_read=10**9):
        assert where_run() == os.getpid()


def test_workers_started_before_the_flow_serve_it_whatever_it_reads():
    # The CLI starts them (size unknown) before a first run's flow, which then finds little to read.
    with cpu_pool.for_settings(PROCESSES):
        worker = where_run()
        with cpu_pool.for_settings(PROCESSES, bytes_to_read=0):
            assert where_run() == worker != os.getpid()


def collector_state() -> tuple[bool, tuple[int, int, int], int]:
    import gc

    return gc.isenabled(), gc.get_threshold(), gc.get_freeze_count()


def test_workers_collect_garbage_again_once_warmed_up():
    # The forkserver imports textpipe with the collector off (forkserver_start);
    # a worker left that way would never free a reference cycle.
    with cpu_pool.for_settings(PROCESSES, bytes_to_read=1_000):
        enabled, thresholds, frozen = cpu_pool.run(collector_state)
    assert enabled and thresholds == cpu_pool._WORKER_GC_THRESHOLDS
    assert frozen > 100_000  # the imports and warmed caches, left out of every pass


def models_loaded() -> tuple[int, int, int]:
    from textpipe import clean, pipeline, tokenize

    return (tokenize._sentence_splitter.cache_info().currsize, pipeline._build_scorer.cache_info().currsize,
            clean._language_detector.cache_info().currsize)


def test_workers_start_with_the_models_the_forkserver_loaded():
    # Loaded once in the forkserver (forkserver_warm), not by each worker's first batch.
    with cpu_pool.for_settings(PROCESSES, bytes_to_read=1_000):
        assert cpu_pool.run(models_loaded) == (1, 1, 1)
