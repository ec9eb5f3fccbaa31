"""textpipe on a Dask cluster as docs/operations.md sets it up: `dask scheduler` and
`dask worker` started as processes of their own (not an in-process LocalCluster),
and `textpipe run --task-runner dask --dask-address ...` against them.

The workers get no PREFECT_API_URL and a Prefect home of their own: only the
machine running the flow needs Prefect's API.
"""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

import pytest

from faults import prefect_server
from services import dask_scheduler, dask_worker
from test_prefect_ops import Server, Snapshot, assert_same_rows, assert_store_is_sound, bbc_subset, ok, read, recorded_task_runs, textpipe

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    with prefect_server(tmp_path_factory.mktemp("prefect-server") / "home") as server_env:
        yield Server(server_env["PREFECT_API_URL"], {k: v for k, v in os.environ.items() if k != "PREFECT_API_URL"} | server_env)


def worker_env(home: Path) -> dict[str, str]:
    """A worker's environment: no Prefect API, a Prefect home of its own."""
    home.mkdir(parents=True, exist_ok=True)
    return {k: v for k, v in os.environ.items() if k != "PREFECT_API_URL"} | {"PREFECT_HOME": str(home)}


def _transitions(address: str) -> int:
    """How many task state changes the scheduler at `address` has seen."""
    from distributed import Client

    with Client(address, timeout=60) as client:
        return client.run_on_scheduler(lambda dask_scheduler: dask_scheduler.transition_counter)


def test_a_run_on_a_dask_cluster_writes_the_same_rows_as_the_default_runner(server, tmp_path):
    input_dir = tmp_path / "input"
    bbc_subset(input_dir, 100, skip=150)
    outputs = {runner: tmp_path / f"output-{runner}" for runner in ("default", "dask")}
    with dask_scheduler(tmp_path) as address, \
            dask_worker(address, tmp_path, "worker-1", env=worker_env(tmp_path / "home-1")), \
            dask_worker(address, tmp_path, "worker-2", env=worker_env(tmp_path / "home-2"), expected_workers=2):
        before = _transitions(address)
        # Small batches, so both workers get some; relative paths, as a user types them.
        common = ("--input", os.path.relpath(input_dir), "--batch-size", "30")
        ok(textpipe("run", *common, "--output", str(outputs["default"]), env=server.env))
        ok(textpipe("run", *common, "--output", os.path.relpath(outputs["dask"]), "--task-runner", "dask", "--dask-address", address, env=server.env))
        transitions = _transitions(address) - before
    snapshots = {runner: Snapshot.of(output) for runner, output in outputs.items()}
    assert snapshots["dask"].last_run().n_new == snapshots["default"].last_run().n_new > 90
    assert_same_rows(snapshots["default"], snapshots["dask"], "default against a Dask cluster")
    assert_store_is_sound(outputs["dask"])
    assert not (outputs["dask"] / "_staging").exists()
    # The workers had no API of their own, yet the server shows every task run of the run they did.
    from test_prefect_ops import _flow_run_of

    with server.client() as client:
        flow_run = _flow_run_of(client, snapshots["dask"].last_run().run_id)
        task_runs = recorded_task_runs(client, flow_run.id)
    names = [r.name for r in task_runs if r.state.is_completed()]
    sentiment = sorted(n for n in names if n.startswith("sentiment [batch"))
    total = len(sentiment)
    assert flow_run.state.is_completed() and total >= 2, sorted(names)
    assert sentiment == sorted(f"sentiment [batch {i}/{total}]" for i in range(1, total + 1)), sentiment
    # The tasks submitted to the runner (each batch's ingest-tokenize and sentiment, and
    # topics) went through the cluster: a task passes at least three scheduler states.
    submitted = [n for n in names if n.startswith(("ingest-tokenize [", "sentiment [", "topics"))]
    assert len(submitted) >= total + 2 and transitions >= 3 * len(submitted), (transitions, sorted(names))


def _hidden_folder_worker(address: str, log_dir: Path, hidden: Path, env: dict[str, str]):  # type: ignore[no-untyped-def]
    """A worker in a mount namespace of its own, where `hidden` is an empty tmpfs: what a
    machine without the shared filesystem sees (its own, empty folder at that path)."""
    unshare = ["unshare", "--mount", "--propagation", "private"] if os.geteuid() == 0 else ["unshare", "--map-root-user", "--mount"]
    wrapper = [*unshare, "sh", "-c", 'mount -t tmpfs tmpfs "$0" && exec "$@"', str(hidden)]
    probe = subprocess.run([*wrapper, "true"], capture_output=True, text=True)
    if probe.returncode != 0:
        pytest.skip(f"cannot hide a folder from a process in a mount namespace of its own here: {probe.stderr.strip()}")
    return dask_worker(address, log_dir, "blind-worker", env=env, expected_workers=2, wrap=wrapper)


def test_a_worker_that_cannot_see_the_output_fails_the_run_at_once_in_one_line(server, tmp_path):
    input_dir, output = tmp_path / "input", tmp_path / "output"
    bbc_subset(input_dir, 40, skip=300)
    output.mkdir()
    with dask_scheduler(tmp_path) as address, \
            dask_worker(address, tmp_path, "worker", env=worker_env(tmp_path / "home-1")), \
            _hidden_folder_worker(address, tmp_path, output, worker_env(tmp_path / "home-2")):
        from distributed import Client

        with Client(address, timeout=60) as client:
            blind = next(a for a, w in client.scheduler_info()["workers"].items() if w["name"] == "blind-worker")
        started = time.monotonic()
        result = textpipe("run", "--input", str(input_dir), "--output", str(output), "--task-runner", "dask",
                          "--dask-address", address, env=server.env, timeout=300)
        seconds = time.monotonic() - started
    assert result.returncode == 1, result.stdout + result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in result.stderr, result.stderr
    assert blind in lines[0] and f"{output}/_staging/" in lines[0] and "cannot see the staging folder" in lines[0], lines[0]
    assert seconds < 90, f"{seconds:.0f} s: not at once"
    # Nothing was written, and the next run (without that worker) finds a clean output.
    assert read(output, "articles").empty and read(output, "runs").empty
