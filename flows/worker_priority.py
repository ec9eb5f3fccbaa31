"""Imported first by the worker pool's forkserver: its workers run at a lower CPU priority.

The workers' batch work should take what the machine has left, after the
orchestration that every worker waits on: Prefect's server answering task-run
updates, and its start-up in local mode, which runs while the workers warm up.
"""

import os

WORKER_NICENESS = 5

os.nice(WORKER_NICENESS)
