"""Prefect on PostgreSQL, as docs/operations.md sets it up: a throwaway PostgreSQL
cluster on loopback (Debian's server binaries), `textpipe server` on it, the
deployments of `textpipe serve`, and concurrent runs writing through that server.

SQLite stalls under concurrent writers (prefect-notes.md: a 68 s "database is
locked" stall after a burst of task runs); this is the set-up that avoids it.
"""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

import pytest

from faults import prefect_server
from services import poll, postgres_bin, postgres_cluster, psql, stop_process_group
from test_prefect_ops import TEXTPIPE, Server, Snapshot, assert_store_is_sound, bbc_subset, lock_is_open_in, read

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(postgres_bin() is None, reason="no PostgreSQL server binaries under /usr/lib/postgresql (Debian package `postgresql`)"),
]


@pytest.fixture(scope="module")
def pg_server(tmp_path_factory):
    with postgres_cluster() as database_url:
        home = tmp_path_factory.mktemp("prefect-on-postgres") / "home"
        with prefect_server(home, server_env={"PREFECT_API_DATABASE_CONNECTION_URL": database_url}) as server_env:
            # The runs get the server's URL, never the database's: only the server talks to PostgreSQL.
            env = {k: v for k, v in os.environ.items() if k != "PREFECT_API_DATABASE_CONNECTION_URL"} | server_env
            yield database_url, Server(server_env["PREFECT_API_URL"], env)


def test_the_server_keeps_its_state_in_postgresql(pg_server):
    database_url, server = pg_server
    assert psql(database_url, "select 1") == ["1"]
    # Prefect's migrations made its tables in the cluster's database, and no SQLite file beside it.
    tables = set(psql(database_url, "select tablename from pg_tables where schemaname = 'public'"))
    assert {"flow_run", "task_run", "deployment"} <= tables
    assert not list(Path(server.env["PREFECT_HOME"]).glob("*.db"))


def _start_run(input_dir, output, env, log) -> subprocess.Popen:  # type: ignore[no-untyped-def]
    return subprocess.Popen([TEXTPIPE, "run", "--input", str(input_dir), "--output", str(output), "--batch-size", "100"],
                            env=env, stdout=log, stderr=subprocess.STDOUT, text=True)


def test_served_deployments_and_three_runs_at_once_with_a_fourth_refused(pg_server, tmp_path):
    database_url, server = pg_server
    inputs = {name: tmp_path / f"input-{name}" for name in ("served", "a", "b", "c")}
    sizes = {"served": 20, "a": 400, "b": 150, "c": 150}
    for i, (name, path) in enumerate(inputs.items()):
        bbc_subset(path, sizes[name], skip=20 + 80 * i)
    outputs = {name: tmp_path / f"output-{name}" for name in inputs}
    logs = {name: (tmp_path / f"{name}.log") for name in (*inputs, "refused")}
    serving = subprocess.Popen([TEXTPIPE, "serve", "--input", str(inputs["served"]), "--output", str(outputs["served"]), "--workers", "1"],
                               env=server.env, stdout=logs["served"].open("w"), stderr=subprocess.STDOUT, start_new_session=True)
    runs: dict[str, subprocess.Popen] = {}
    try:
        with server.client() as client:
            def registered():
                assert serving.poll() is None, logs["served"].read_text()[-3000:]
                found = {f"{client.read_flow(d.flow_id).name}/{d.name}": d for d in client.read_deployments()}
                return found if len(found) == 2 else None

            deployments = poll(registered, 180, "textpipe serve to register its deployments")
            served_run = client.create_flow_run_from_deployment(deployments["textpipe-run/hourly"].id)
            for name in ("a", "b", "c"):
                runs[name] = _start_run(inputs[name], outputs[name], server.env, logs[name].open("w"))
            # The fourth, on the output run "a" is writing, once "a" holds that output's lock.
            lock = outputs["a"] / ".textpipe.lock"
            poll(lambda: lock_is_open_in(runs["a"].pid, lock) or runs["a"].poll() is not None, 300, "run a to take its output's lock")
            assert runs["a"].poll() is None, logs["a"].read_text()[-3000:]
            started = time.monotonic()
            refused = subprocess.run([TEXTPIPE, "run", "--input", str(inputs["b"]), "--output", str(outputs["a"])],
                                     env=server.env, capture_output=True, text=True, timeout=600)
            refused_seconds = time.monotonic() - started
            a_still_running = runs["a"].poll() is None
            codes = {name: process.wait(timeout=1200) for name, process in runs.items()}
            assert codes == {"a": 0, "b": 0, "c": 0}, {name: logs[name].read_text()[-2000:] for name in runs}
            final = poll(lambda: (r := client.read_flow_run(served_run.id)).state.is_final() and r, 600, "the served run")
            assert final.state.is_completed(), (final.state, logs["served"].read_text()[-3000:])

            # The guard: refused at once, in one line naming the output, while "a" was writing it.
            assert a_still_running, "run a ended before the fourth run reached the lock: the test proves nothing"
            assert refused.returncode == 1, refused.stderr
            assert refused.stderr.strip().splitlines() == [line for line in refused.stderr.splitlines() if "another textpipe run" in line]
            assert str(outputs["a"]) in refused.stderr and "--wait-lock" in refused.stderr
            assert refused_seconds < 120

            # Nothing lost, nothing twice: every input file is an article once (or a counted duplicate).
            for name in inputs:
                snapshot = Snapshot.of(outputs[name])
                assert_store_is_sound(outputs[name])
                articles = snapshot.tables["articles"]
                (run,) = snapshot.tables["runs"].itertuples()
                assert run.n_articles_seen == sizes[name] and run.n_rejected == 0, name
                assert articles.source.is_unique and len(articles) == run.n_new == sizes[name] - run.n_duplicates > 0, name
                assert set(articles.source) <= {p.name for p in inputs[name].iterdir()}, name
            # The refused run read the input of "b" into the output of "a": none of it is there.
            assert not set(read(outputs["a"], "articles").source) & {p.name for p in inputs["b"].iterdir()}

            # The server saw all five flow runs; the database behind it is PostgreSQL.
            from prefect.client.schemas.filters import FlowFilter, FlowFilterName

            # (The hourly schedule has also put its next runs in the future: Scheduled, not final.)
            flow_runs = [r for r in client.read_flow_runs(flow_filter=FlowFilter(name=FlowFilterName(any_=["textpipe-run"]))) if r.state.is_final()]
            by_output = {}
            for flow_run in flow_runs:
                by_output.setdefault(flow_run.parameters.get("output_dir"), []).append(flow_run)
            for name in ("a", "b", "c"):
                states = sorted(r.state.type.value for r in by_output[str(outputs[name])])
                assert states == (["COMPLETED", "FAILED"] if name == "a" else ["COMPLETED"]), (name, states)
            failed = next(r for r in by_output[str(outputs["a"])] if r.state.is_failed())
            assert "another textpipe run" in (failed.state.message or ""), failed.state.message
            ids_in_postgres = set(psql(database_url, "select replace(id::text, '-', '') from flow_run"))
            assert len(flow_runs) == 5 and not {r.id.hex for r in flow_runs} - ids_in_postgres, ({r.id.hex for r in flow_runs} - ids_in_postgres)
    finally:
        for process in runs.values():
            if process.poll() is None:
                process.kill()
                process.wait()
        stop_process_group(serving)
