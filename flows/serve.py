"""`textpipe serve`: the deployments and their schedules, served by `flow.serve`.

`serve` needs no work pool or worker and runs fully offline against a local
server (`textpipe server`): one process registers both deployments and runs
their scheduled flow runs until it is stopped, which also pauses the schedules.
"""

from __future__ import annotations

import argparse
from typing import Any

from prefect import serve
from prefect.deployments.runner import RunnerDeployment
from prefect.settings import PREFECT_API_URL

from textpipe.errors import ConfigError
from textpipe_flows.pipeline import textpipe_run
from textpipe_flows.refit import refit_topics

HOURLY = "0 * * * *"
WEEKLY = "0 3 * * 0"


def deployments(input_dir: str, output_dir: str, topics: int | str | None, cron: str = HOURLY, refit_cron: str = WEEKLY, **run_options: Any) -> list[RunnerDeployment]:
    """The two deployments, with their schedules and default parameters.

    `run_options` are further `textpipe-run` parameters (task_runner, workers, ...),
    so that `textpipe serve --workers 4` runs as `textpipe run --workers 4` would.
    """
    # None means "the flow's default", so it is left out rather than sent as null.
    run_parameters = {k: v for k, v in {"input_dir": input_dir, "output_dir": output_dir, "topics": topics, **run_options}.items() if v is not None}
    refit_parameters = {k: v for k, v in {"output_dir": output_dir, "topics": topics}.items() if v is not None}
    return [
        textpipe_run.to_deployment(
            name="hourly",
            cron=cron,
            parameters=run_parameters,
            description="New articles from the input folder into the Parquet store (topics from the current model).",
            tags=["textpipe"],
        ),
        refit_topics.to_deployment(
            name="weekly-refit",
            cron=refit_cron,
            parameters=refit_parameters,
            description="Refit the topic model on the whole store and reassign every article.",
            tags=["textpipe"],
        ),
    ]


def serve_deployments(args: argparse.Namespace) -> None:
    # The setting, not only the environment: a Prefect profile may set the URL too.
    # Without one, serve would start a temporary server whose schedules vanish on exit.
    if not PREFECT_API_URL.value():
        raise ConfigError("PREFECT_API_URL is not set: start `textpipe server` and export PREFECT_API_URL=http://127.0.0.1:4200/api")
    run_options = {
        "language": args.language, "task_runner": args.task_runner, "workers": args.workers,
        "dask_address": args.dask_address, "batch_size": args.batch_size,
    }
    serve(*deployments(str(args.input.resolve()), str(args.output.resolve()), args.topics, args.cron, args.refit_cron, **run_options))
