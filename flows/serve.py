"""`textpipe serve`: the deployments and their schedules, served by `flow.serve`.

`serve` needs no work pool or worker and runs fully offline against a local
server (`textpipe server`): one process registers the deployments and runs
their scheduled flow runs until it is stopped, which also pauses the schedules.
With a sources file, a fetch deployment fills the input folder every 15 minutes and,
when it brought new files, starts a run of the processing deployment at once.
It also keeps an automation in the server that marks a textpipe run crashed
when its heartbeats stop (the machine or the serving process died mid-run).
"""

from __future__ import annotations

import argparse
import sys
from datetime import timedelta
from typing import Any

from prefect import get_client, serve
from prefect.automations import Automation
from prefect.client.schemas.objects import StateType
from prefect.deployments.runner import RunnerDeployment
from prefect.events.actions import ChangeFlowRunState
from prefect.events.schemas.automations import EventTrigger, Posture
from prefect.events.schemas.events import ResourceSpecification
from prefect.settings import PREFECT_API_URL, get_current_settings

from textpipe.errors import ConfigError
from textpipe_flows.fetch import textpipe_fetch
from textpipe_flows.pipeline import RUN_TAG, textpipe_run
from textpipe_flows.refit import refit_topics

HOURLY = "0 * * * *"
WEEKLY = "0 3 * * 0"
EVERY_15_MINUTES = "*/15 * * * *"
PROCESSING_DEPLOYMENT = "textpipe-run/hourly"
UNRESPONSIVE_RUNS_AUTOMATION = "textpipe: mark unresponsive runs crashed"
# Heartbeats missed before a run counts as gone: one late heartbeat on a busy
# machine must not crash a healthy run.
MISSED_HEARTBEATS = 3


def deployments(input_dir: str, output_dir: str, topics: int | str | None, cron: str = HOURLY, refit_cron: str = WEEKLY,
                sources_file: str | None = None, fetch_cron: str = EVERY_15_MINUTES, process_after_fetch: bool = True,
                **run_options: Any) -> list[RunnerDeployment]:
    """The deployments, with their schedules and default parameters: processing and
    refit, and with a `sources_file` the fetch into `input_dir`.

    `run_options` are further `textpipe-run` parameters (task_runner, workers, ...),
    so that `textpipe serve --workers 4` runs as `textpipe run --workers 4` would.
    """
    # None means "the flow's default", so it is left out rather than sent as null.
    run_parameters = {k: v for k, v in {"input_dir": input_dir, "output_dir": output_dir, "topics": topics, **run_options}.items() if v is not None}
    refit_parameters = {k: v for k, v in {"output_dir": output_dir, "topics": topics}.items() if v is not None}
    scheduled = [
        textpipe_run.to_deployment(
            name="hourly",
            cron=cron,
            parameters=run_parameters,
            description="New articles from the input folder into the Parquet store (topics from the current model).",
            tags=[RUN_TAG],
        ),
        refit_topics.to_deployment(
            name="weekly-refit",
            cron=refit_cron,
            parameters=refit_parameters,
            description="Refit the topic model on the whole store and reassign every article.",
            tags=[RUN_TAG],
        ),
    ]
    if sources_file is not None:
        fetch_parameters = {"sources_file": sources_file, "raw_dir": input_dir}
        if process_after_fetch:
            fetch_parameters["then_run_deployment"] = PROCESSING_DEPLOYMENT
        scheduled.append(textpipe_fetch.to_deployment(
            name="scheduled",
            cron=fetch_cron,
            parameters=fetch_parameters,
            description="New pages from the sources file's feeds, sitemaps and sites into the input folder"
            + (f"; a run of {PROCESSING_DEPLOYMENT} follows each fetch that brought new files." if process_after_fetch else "."),
            tags=[RUN_TAG],
        ))
    return scheduled


def unresponsive_runs_automation(heartbeat_seconds: int) -> Automation:
    """Marks a textpipe flow run Crashed when, after it turned Running or sent a
    heartbeat, neither a heartbeat nor a final state arrives within
    MISSED_HEARTBEATS intervals.

    Without it a run whose machine died stays Running in the UI for ever, and
    Prefect's self-hosted server ships no such automation of its own. The window
    also opens on Running because a run's first heartbeat leaves its process
    after the run turned Running: a run killed in between sent none.
    """
    return Automation(
        name=UNRESPONSIVE_RUNS_AUTOMATION,
        description=f"A textpipe flow run that sent no heartbeat for {MISSED_HEARTBEATS} x {heartbeat_seconds} s "
        "and reached no final state is marked Crashed. Kept by `textpipe serve`.",
        trigger=EventTrigger(
            after={"prefect.flow-run.heartbeat", "prefect.flow-run.Running"},
            expect={"prefect.flow-run.heartbeat", *(f"prefect.flow-run.{s}" for s in ("Completed", "Failed", "Cancelled", "Crashed"))},
            match=ResourceSpecification({"prefect.resource.id": "prefect.flow-run.*"}),
            match_related=ResourceSpecification({"prefect.resource.role": "tag", "prefect.resource.id": f"prefect.tag.{RUN_TAG}"}),
            for_each={"prefect.resource.id"},
            posture=Posture.Proactive,
            threshold=1,
            within=timedelta(seconds=MISSED_HEARTBEATS * heartbeat_seconds),
        ),
        actions=[ChangeFlowRunState(state=StateType.CRASHED, message=f"No heartbeat for {MISSED_HEARTBEATS} x {heartbeat_seconds} s: "
                                    "the process running this flow run is gone. The next run redoes its articles.")],
    )


def keep_unresponsive_runs_automation() -> Automation | None:
    """Create the automation, or update it to the current heartbeat setting; None if heartbeats are off."""
    heartbeat_seconds = get_current_settings().flows.heartbeat_frequency
    if heartbeat_seconds is None:
        return None
    wanted = unresponsive_runs_automation(heartbeat_seconds)
    with get_client(sync_client=True) as client:
        existing = client.read_automations_by_name(UNRESPONSIVE_RUNS_AUTOMATION)
    if not existing:
        return wanted.create()
    wanted.id = existing[0].id
    wanted.update()
    return wanted


def serve_deployments(args: argparse.Namespace) -> None:
    # The setting, not only the environment: a Prefect profile may set the URL too.
    # Without one, serve would start a temporary server whose schedules vanish on exit.
    if not PREFECT_API_URL.value():
        raise ConfigError("no Prefect server to serve on: start `textpipe server` (with the same PREFECT_HOME), or export PREFECT_API_URL=http://HOST:PORT/api")
    run_options = {
        "language": args.language, "task_runner": args.task_runner, "workers": args.workers,
        "dask_address": args.dask_address, "batch_size": args.batch_size,
    }
    keep_unresponsive_runs_automation()
    sources = str(args.sources.resolve()) if args.sources is not None else None
    if sources is None:
        print("textpipe serve: no sources.toml here and no --sources: nothing is fetched, only processed (see docs/fetching.md)", file=sys.stderr)
    serve(*deployments(str(args.input.resolve()), str(args.output.resolve()), args.topics, args.cron, args.refit_cron,
                       sources, args.fetch_cron, args.process_after_fetch, **run_options))
