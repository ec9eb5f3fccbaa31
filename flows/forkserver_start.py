"""Imported first by the worker pool's forkserver: its workers run at a lower
CPU priority, and the forkserver imports textpipe with the collector paused.

The workers' batch work should take what the machine has left, after the
orchestration that every worker waits on: Prefect's server answering task-run
updates, and its start-up in local mode, which runs while the workers warm up.

The preload's imports (NLTK, scikit-learn, textpipe) create objects that live as
long as the workers; the collector's full passes over them as they pile up cost
~0.2 s of CPU at every start. Each worker freezes them and turns the collector
back on once it has warmed up (`cpu_pool._warm_up`).
"""

import gc
import os

WORKER_NICENESS = 5

os.nice(WORKER_NICENESS)
gc.disable()
