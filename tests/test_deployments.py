"""The scheduled deployments and the command line's help, without a server:
what `textpipe serve` would register, and that every option is documented."""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

import pytest

from textpipe.cli import build_parser

TEXTPIPE = str(Path(sys.executable).with_name("textpipe"))


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    from textpipe_flows.serve import deployments

    root = tmp_path_factory.mktemp("serve")
    return root, {d.name: d for d in deployments(str(root / "in"), str(root / "out"), 7)}


def _cron(deployment) -> list[str]:
    return [s.schedule.cron for s in deployment.schedules if s.active]


def test_hourly_deployment_runs_textpipe_run_with_the_folders(served):
    root, by_name = served
    hourly = by_name["hourly"]
    assert hourly.flow_name == "textpipe-run"
    assert _cron(hourly) == ["0 * * * *"]
    assert hourly.parameters["input_dir"] == str(root / "in")
    assert hourly.parameters["output_dir"] == str(root / "out")
    assert hourly.parameters["topics"] == 7


def test_weekly_refit_deployment(served):
    root, by_name = served
    assert set(by_name) == {"hourly", "weekly-refit"}
    refit = by_name["weekly-refit"]
    assert refit.flow_name == "refit-topics"
    assert _cron(refit) == ["0 3 * * 0"]
    assert refit.parameters == {"output_dir": str(root / "out"), "topics": 7}


def test_deployment_parameters_match_the_flow_signatures(served):
    from textpipe_flows.pipeline import textpipe_run
    from textpipe_flows.refit import refit_topics

    _, by_name = served
    # validate_parameters raises on unknown names or wrong types: a renamed flow
    # argument would otherwise only fail at the first scheduled run.
    run_parameters = textpipe_run.validate_parameters(by_name["hourly"].parameters)
    assert run_parameters["topics"] == 7 and run_parameters["input_dir"].endswith("in")
    assert refit_topics.validate_parameters(by_name["weekly-refit"].parameters)["output_dir"].endswith("out")


def test_serve_passes_every_run_option_to_the_hourly_deployment(tmp_path):
    from textpipe_flows.pipeline import textpipe_run
    from textpipe_flows.serve import deployments

    hourly = deployments(str(tmp_path), str(tmp_path / "out"), "auto", cron="*/5 * * * *", task_runner="dask", workers=3, batch_size=50)[0]
    assert _cron(hourly) == ["*/5 * * * *"]
    validated = textpipe_run.validate_parameters(hourly.parameters)
    assert (validated["task_runner"], validated["workers"], validated["batch_size"], validated["topics"]) == ("dask", 3, 50, "auto")


def test_unset_options_fall_back_to_the_flow_defaults(tmp_path):
    from textpipe_flows.pipeline import textpipe_run
    from textpipe_flows.refit import refit_topics
    from textpipe_flows.serve import deployments

    hourly, refit = deployments(str(tmp_path), str(tmp_path / "out"), None, dask_address=None)
    assert "topics" not in hourly.parameters and "dask_address" not in hourly.parameters
    assert "topics" not in refit.parameters
    assert textpipe_run.validate_parameters(hourly.parameters)["dask_address"] is None
    refit_topics.validate_parameters(refit.parameters)


def test_with_a_sources_file_serve_fetches_every_15_minutes_then_processes(tmp_path):
    from textpipe_flows.fetch import textpipe_fetch
    from textpipe_flows.pipeline import RUN_TAG
    from textpipe_flows.serve import deployments

    sources = str(tmp_path / "sources.toml")
    hourly, refit, fetch = deployments(str(tmp_path / "in"), str(tmp_path / "out"), None, sources_file=sources)
    assert (fetch.flow_name, fetch.name) == ("textpipe-fetch", "scheduled") and _cron(fetch) == ["*/15 * * * *"]
    # The fetch writes where processing reads, and names the processing deployment to start after it.
    assert fetch.parameters == {"sources_file": sources, "raw_dir": str(tmp_path / "in"),
                                "then_run_deployment": f"{hourly.flow_name}/{hourly.name}"}
    assert textpipe_fetch.validate_parameters(fetch.parameters)["raw_dir"] == hourly.parameters["input_dir"]
    assert fetch.tags == [RUN_TAG]
    _, _, alone = deployments(str(tmp_path / "in"), str(tmp_path / "out"), None, sources_file=sources, fetch_cron="*/5 * * * *", process_after_fetch=False)
    assert _cron(alone) == ["*/5 * * * *"] and "then_run_deployment" not in alone.parameters
    assert len(deployments(str(tmp_path / "in"), str(tmp_path / "out"), None)) == 2  # no sources file: no fetch


def test_serve_with_a_bad_sources_file_is_a_usage_error_before_anything_starts(tmp_path):
    (tmp_path / "in").mkdir()
    (tmp_path / "sources.toml").write_text('[[sources]]\nname = "x"\nfeeds = ["gopher://x"]\n', encoding="utf-8")
    result = subprocess.run([TEXTPIPE, "serve", "--input", str(tmp_path / "in"), "--output", str(tmp_path / "out"), "--sources", str(tmp_path / "sources.toml")],
                            check=False, capture_output=True, text=True, timeout=120)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [f"textpipe: error: {tmp_path / 'sources.toml'}:3: field 'feeds' of source 'x': 'gopher://x' is not an http or https URL"]


def test_serve_without_a_server_is_a_one_line_usage_error(tmp_path):
    (tmp_path / "in").mkdir()
    env = {k: v for k, v in os.environ.items() if k != "PREFECT_API_URL"}
    env["PREFECT_HOME"] = str(tmp_path / "prefect-home")  # no profile that could name a server
    result = subprocess.run([TEXTPIPE, "serve", "--input", str(tmp_path / "in"), "--output", str(tmp_path / "out")],
                            check=False, capture_output=True, text=True, env=env, timeout=120)
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("textpipe: error:") and "PREFECT_API_URL" in lines[0]
    assert "textpipe server" in lines[0]


def _subparsers(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    action = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return dict(action.choices)


def _help(*args: str) -> str:
    result = subprocess.run([TEXTPIPE, *args, "--help"], check=False, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_top_level_help_lists_every_command():
    text = _help()
    commands = _subparsers(build_parser())
    assert set(commands) == {"run", "fetch", "refit", "report", "repair", "compact", "server", "serve"}
    for name in commands:
        assert f"    {name} " in text, name
    assert "--version" in text


@pytest.mark.parametrize("command", ["run", "fetch", "refit", "report", "repair", "compact", "server", "serve"])
def test_command_help_documents_every_option(command):
    parser = _subparsers(build_parser())[command]
    text = " ".join(_help(command).split())  # argparse wraps lines
    for action in parser._actions:
        if isinstance(action, argparse._HelpAction):
            continue
        assert action.help, f"{command} {action.option_strings} has no help"
        for option in action.option_strings:
            assert option in text, f"{option} missing from `textpipe {command} --help`"
        # Every option with a real default says what it is.
        if action.default not in (None, False, argparse.SUPPRESS):
            assert "default" in action.help, f"{command} {action.option_strings} does not state its default"


def test_server_help_defaults_to_this_machine_only():
    text = " ".join(_help("server").split())
    assert "default: 127.0.0.1" in text and "default: 4200" in text
    args = build_parser().parse_args(["server"])
    assert (args.host, args.port) == ("127.0.0.1", 4200)


def test_unresponsive_runs_automation_crashes_a_silent_textpipe_run(served):
    from prefect.client.schemas.objects import StateType
    from prefect.events.schemas.automations import Posture

    from textpipe_flows.pipeline import RUN_TAG
    from textpipe_flows.serve import MISSED_HEARTBEATS, unresponsive_runs_automation

    automation = unresponsive_runs_automation(60)
    trigger = automation.trigger
    assert trigger.posture == Posture.Proactive and trigger.after == {"prefect.flow-run.heartbeat", "prefect.flow-run.Running"}
    # Another heartbeat or any final state within the window keeps the run alive.
    assert {"prefect.flow-run.heartbeat", "prefect.flow-run.Completed", "prefect.flow-run.Failed",
            "prefect.flow-run.Cancelled", "prefect.flow-run.Crashed"} == trigger.expect
    assert trigger.within.total_seconds() == MISSED_HEARTBEATS * 60 > 60
    assert trigger.for_each == {"prefect.resource.id"}
    # Only textpipe's runs: those of both deployments carry its tag.
    related = trigger.match_related if isinstance(trigger.match_related, list) else [trigger.match_related]
    assert [dict(r.items()) for r in related] == [{"prefect.resource.role": ["tag"], "prefect.resource.id": [f"prefect.tag.{RUN_TAG}"]}]
    _, by_name = served
    assert all(d.tags == [RUN_TAG] for d in by_name.values())
    assert [a.state for a in automation.actions] == [StateType.CRASHED]


def test_no_unresponsive_runs_automation_without_heartbeats():
    from prefect.settings import PREFECT_FLOWS_HEARTBEAT_FREQUENCY, temporary_settings

    from textpipe_flows.serve import keep_unresponsive_runs_automation

    with temporary_settings(updates={PREFECT_FLOWS_HEARTBEAT_FREQUENCY: None}):
        assert keep_unresponsive_runs_automation() is None


def test_a_flow_run_ends_without_waiting_for_its_heartbeat_thread():
    # Prefect's heartbeat thread sleeps in whole seconds and a sync run joins it
    # at its end; textpipe's flows module turns that join off (flows/heartbeats.py).
    import logging
    import threading

    from prefect import flow_engine

    import textpipe_flows.pipeline  # noqa: F401 - importing it is what switches the join off

    class Engine:  # what the heartbeat thread uses of a flow run engine
        heartbeat_seconds = 30
        flow_run = None
        logger = logging.getLogger("test")

        def _build_heartbeat_event_template(self):
            return {}, []

        def _emit_flow_run_heartbeat(self, resource, related):
            self.emitted = True

    engine = Engine()
    before = set(threading.enumerate())
    with flow_engine._send_heartbeats(engine):
        started = set(threading.enumerate()) - before
    assert len(started) == 1
    heartbeat_thread = started.pop()
    assert heartbeat_thread.is_alive(), "the run's end waited for the heartbeat thread"
    heartbeat_thread.join(timeout=3)
    assert not heartbeat_thread.is_alive() and engine.emitted
