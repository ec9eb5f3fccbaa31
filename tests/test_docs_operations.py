"""Every command of docs/operations.md, run in the page's order as a user types them.

The page's ports (4200 for Prefect, 5432 for PostgreSQL, 8786 for Dask), its folders
(data/processed, /srv/news, ~) and PREFECT_HOME become the test's own. A command that
starts a service (`textpipe server`, `textpipe serve`, `dask scheduler`, `dask worker`)
runs in the background, and the next command waits until it answers; a new `textpipe
server` replaces the previous one, as the page says to do. The PostgreSQL block runs
as one script (its variables and umask carry over), as an unprivileged user when the
tests run as root: PostgreSQL refuses root. After each block, what it promised is
checked: the run in the server, the database in PostgreSQL, the rows of the Dask run,
the restored and moved stores.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from textpipe.cluster import api_problem

from conftest import RAW, ROOT, fences
from faults import free_port
from services import UNPRIVILEGED, poll, postgres_bin, psql, stop_process_group, unprivileged_dir

PAGE = ROOT / "docs" / "operations.md"
BIN = Path(sys.executable).parent
SERVICES = ("textpipe server", "textpipe serve", "dask scheduler", "dask worker")


def sh_blocks() -> list[str]:
    return [code for language, code in fences(PAGE) if language == "sh"]


def test_the_page_has_the_commands_this_module_runs():
    blocks = sh_blocks()
    joined = "\n".join(blocks)
    for needed in ("textpipe server", "textpipe serve", "initdb", "PREFECT_API_DATABASE_CONNECTION_URL", "dask worker",
                   "--dask-address", "make setup", "tar -czf", "textpipe repair"):
        assert needed in joined, needed
    assert all(language in ("sh", "text") for language, _ in fences(PAGE))


def _commands(block: str) -> list[str]:
    lines = []
    for line in block.splitlines():
        command = re.split(r"\s{2,}#|\s#\s", line, maxsplit=1)[0].strip()
        if command and not command.startswith("#"):
            lines.append(command)
    return lines


def _port_answers(port: int) -> bool:
    with socket.socket() as probe:
        probe.settimeout(1)
        return probe.connect_ex(("127.0.0.1", port)) == 0


class Session:
    """The user's terminal: environment, substitutions, background services."""

    def __init__(self, tmp_path: Path, home: Path) -> None:
        self.ports = {"4200": free_port(), "5432": free_port(), "8786": free_port()}
        self.home = home
        self.srv = tmp_path / "srv"
        self.output = tmp_path / "processed"
        self.env = {k: v for k, v in os.environ.items() if k not in ("PREFECT_API_URL", "PREFECT_API_DATABASE_CONNECTION_URL")}
        self.env.update(HOME=str(home), PREFECT_HOME=str(tmp_path / "prefect-home"), PATH=f"{BIN}:{os.environ['PATH']}")
        self.background: dict[str, subprocess.Popen] = {}
        self.logs = tmp_path / "logs"
        self.logs.mkdir()

    def substitute(self, command: str) -> str:
        for port, ours in self.ports.items():
            command = command.replace(port, str(ours))
        pg = postgres_bin()
        if pg is not None:
            command = re.sub(r"/usr/lib/postgresql/\d+/bin", str(pg), command)
        return command.replace("data/processed", str(self.output)).replace("/srv/news", str(self.srv))

    @property
    def api(self) -> str:
        return f"http://127.0.0.1:{self.ports['4200']}/api"

    def run_block(self, block: str, as_script: bool = False, unprivileged: bool = False) -> None:
        if as_script:
            script = "set -euo pipefail\n" + "\n".join(self.substitute(c) for c in _commands(block))
            command = ["bash", "-c", script]
            if unprivileged and os.geteuid() == 0:
                command = ["runuser", "-u", UNPRIVILEGED, "--", "env", f"HOME={self.home}", *command]
            # The unprivileged user may not enter the repository's folder (a clone under /root): its home.
            done = subprocess.run(command, env=self.env, cwd=self.home if unprivileged else ROOT, capture_output=True, text=True, timeout=300)
            assert done.returncode == 0, f"{PAGE.name}: block failed:\n{block}\n{done.stdout[-2000:]}\n{done.stderr[-3000:]}"
            return
        for command in _commands(block):
            self.run_line(command)

    def run_line(self, line: str) -> None:
        command = self.substitute(line)
        if command.startswith("export "):
            name, _, value = command[len("export "):].partition("=")
            self.env[name] = subprocess.run(["bash", "-c", f'printf %s {value}'], env=self.env, capture_output=True, text=True, check=True).stdout
            return
        service = next((s for s in SERVICES if s in command), None)
        if service is None:
            done = subprocess.run(["bash", "-c", command], env=self.env, cwd=ROOT, capture_output=True, text=True, timeout=900)
            assert done.returncode == 0, f"{PAGE.name}: `{line}` failed:\n{done.stdout[-2000:]}\n{done.stderr[-3000:]}"
            return
        if service == "textpipe server" and "--port" not in command:
            command += f" --port {self.ports['4200']}"  # the page's default port, 4200, is the test's own
        if service in self.background:
            stop_process_group(self.background.pop(service))
        log = (self.logs / f"{service.replace(' ', '-')}.log").open("a")
        self.background[service] = process = subprocess.Popen(["bash", "-c", f"exec {command}"], env=self.env, cwd=ROOT, stdout=log,
                                                               stderr=subprocess.STDOUT, start_new_session=True)

        def ready() -> bool:
            assert process.poll() is None, f"`{line}` exited: {Path(log.name).read_text()[-3000:]}"
            if service == "textpipe server":
                return api_problem(self.api, timeout=2) is None
            if service == "dask scheduler":
                return _port_answers(self.ports["8786"])
            if service == "dask worker":
                return _dask_workers(f"tcp://127.0.0.1:{self.ports['8786']}") > 0
            return _deployments(self.api) >= 2

        poll(ready, 180, f"`{line}` to be ready")

    def stop(self) -> None:
        while self.background:
            stop_process_group(self.background.popitem()[1])


def _dask_workers(address: str) -> int:
    from distributed import Client

    with Client(address, timeout=30) as client:
        return len(client.scheduler_info()["workers"])


def _deployments(api: str) -> int:
    from prefect.client.orchestration import get_client
    from prefect.settings import PREFECT_API_URL, temporary_settings

    with temporary_settings(updates={PREFECT_API_URL: api}), get_client(sync_client=True) as client:
        return len(client.read_deployments())


def _flow_runs(api: str) -> list:
    from prefect.client.orchestration import get_client
    from prefect.settings import PREFECT_API_URL, temporary_settings

    with temporary_settings(updates={PREFECT_API_URL: api}), get_client(sync_client=True) as client:
        return [r for r in client.read_flow_runs() if r.state and r.state.is_final()]


def _articles(output: Path) -> pd.DataFrame:
    return pd.read_parquet(output / "articles").sort_values("article_id").reset_index(drop=True)


@pytest.mark.slow
@pytest.mark.skipif(postgres_bin() is None, reason="no PostgreSQL server binaries under /usr/lib/postgresql (Debian package `postgresql`)")
def test_every_command_of_the_operations_page_runs_and_does_what_it_says(tmp_path):
    blocks = sh_blocks()
    server, schedules, pg_cluster, pg_server, dask, upgrade, backup, move = blocks
    with unprivileged_dir("textpipe-docs-home-") as home:
        session = Session(tmp_path, home)
        try:
            # The server, and a run that reports to it with no PREFECT_API_URL.
            session.run_block(server)
            assert [r.state.is_completed() for r in _flow_runs(session.api)] == [True]
            # Schedules: a triggered run of the served deployment completes (--watch waits for it).
            session.run_block(schedules)
            assert sorted(r.state.is_completed() for r in _flow_runs(session.api)) == [True, True]
            stop_process_group(session.background.pop("textpipe serve"))

            # PostgreSQL: a cluster of the user's own, then a server on it (replacing the one on SQLite) and a run.
            session.run_block(pg_cluster, as_script=True, unprivileged=True)
            try:
                session.run_block(pg_server)
                pg_url = f"postgresql+asyncpg://postgres:choose-a-password@127.0.0.1:{session.ports['5432']}/prefect"
                assert session.env["PREFECT_API_DATABASE_CONNECTION_URL"] == pg_url
                (run,) = _flow_runs(session.api)  # a new database: only this run
                assert psql(pg_url, "select replace(id::text, '-', '') from flow_run", password="choose-a-password") == [run.id.hex]

                # Dask: scheduler and worker processes, and a run on them with the default runner's rows.
                shutil.copytree(RAW, session.srv / "raw")
                session.run_block(dask)
                by_dask, by_default = (_articles(o).drop(columns=["run_id", "ingested_at"]) for o in (session.srv / "processed", session.output))
                pd.testing.assert_frame_equal(by_dask, by_default)
            finally:
                session.stop()
                stop_cluster = [str(postgres_bin() / "pg_ctl"), "-D", str(home / "textpipe-pg"), "-m", "fast", "-w", "stop"]
                subprocess.run(["runuser", "-u", UNPRIVILEGED, "--", *stop_cluster] if os.geteuid() == 0 else stop_cluster,
                               capture_output=True, timeout=120, cwd=home)

            # Upgrading, then a backup restored and a store moved, each with the same articles: in a new
            # shell (the exports above are gone) with no server running, as after an upgrade.
            for name in ("PREFECT_API_URL", "PREFECT_API_DATABASE_CONNECTION_URL"):
                session.env.pop(name, None)
            session.run_block(upgrade)
            session.run_block(backup)
            pd.testing.assert_frame_equal(_articles(session.srv / "restored"), _articles(session.output))
            session.run_block(move)
            pd.testing.assert_frame_equal(_articles(session.srv / "store"), _articles(session.output))
            runs = pd.read_parquet(session.srv / "store" / "runs").sort_values("finished_at")
            assert runs.n_new.iloc[-1] == 0 and runs.n_unchanged_files.iloc[-1] == runs.n_files.iloc[0] > 0
        finally:
            session.stop()
