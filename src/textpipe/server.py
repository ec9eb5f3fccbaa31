"""Prefect servers for textpipe: `textpipe server` (with its UI, bound to 127.0.0.1
by default) and the temporary API server of a local-mode command.

The UI finds its API through PREFECT_SERVER_API_HOST/PORT; with only `--port`
it would keep calling port 4200, so both are set in the server's environment.
"""

from __future__ import annotations

import atexit
import contextlib
import errno
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from textpipe.errors import ConfigError, TextpipeError
from textpipe.startup import collector_paused

if TYPE_CHECKING:
    from prefect.settings.models.server.services import ServerServicesSettings


def server_environment(host: str, port: int) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        PREFECT_SERVER_API_HOST=host,
        PREFECT_SERVER_API_PORT=str(port),
        PREFECT_UI_API_URL=f"http://{host}:{port}/api",
        PREFECT_UI_ENABLED="true",
        PREFECT_SERVER_ANALYTICS_ENABLED="false",
        DO_NOT_TRACK="1",
        PREFECT_LOGGING_SERVER_LEVEL=env.get("PREFECT_LOGGING_SERVER_LEVEL", "WARNING"),
    )
    user_set = _services_set_by_user()
    if "enabled" not in user_set.db_vacuum.model_fields_set:
        env[DB_VACUUM_SETTING] = "events,flow_runs"
    if not {"batch_size", "flush_interval"} & user_set.task_run_recorder.model_fields_set:
        env.update(TASK_RUN_RECORDER_SETTINGS)
    return env


# Prefect's task-run recorder writes each task-run event in a transaction of its own (batch
# size 1), the largest part of the server's work during a run, on a machine whose cores
# the run's workers keep busy. In batches of up to 50, written at least every second, the
# server's CPU for a 20,000-article run drops from ~2.3 to ~1.6 s (bench/PROFILE.md); the
# UI shows a task's state up to a second later. Set either setting yourself (environment,
# profile or prefect.toml) to keep yours.
TASK_RUN_RECORDER_SETTINGS = {
    "PREFECT_SERVER_SERVICES_TASK_RUN_RECORDER_BATCH_SIZE": "50",
    "PREFECT_SERVER_SERVICES_TASK_RUN_RECORDER_FLUSH_INTERVAL": "1",
}


# An hourly schedule leaves ~8,800 flow runs a year in Prefect's database, with their
# task runs, logs and artifacts; Prefect deletes old events but keeps runs for ever,
# and SQLite and the UI slow down as they pile up. So `textpipe server` also deletes
# finished runs older than Prefect's retention period (90 days unless
# PREFECT_SERVER_SERVICES_DB_VACUUM_RETENTION_PERIOD says otherwise). What each run
# did stays in the store's `runs` dataset for ever.
DB_VACUUM_SETTING = "PREFECT_SERVER_SERVICES_DB_VACUUM_ENABLED"


def _services_set_by_user() -> ServerServicesSettings:
    """Prefect's server-services settings as read once from the environment, a profile and
    prefect.toml; each section's `model_fields_set` names what the user set there."""
    from prefect.settings import Settings

    return Settings().server.services


def server_command(host: str, port: int) -> list[str]:
    prefect = Path(sys.executable).with_name("prefect")
    return [str(prefect), "server", "start", "--host", host, "--port", str(port)]


def run_server(host: str, port: int) -> int:
    """Run the server in the foreground until Ctrl-C or SIGTERM.

    While it runs, its API URL is recorded in PREFECT_HOME, so that `textpipe run`
    with the same PREFECT_HOME and no PREFECT_API_URL reports to it (`running_server`).
    """
    _check_port_free(host, port)
    api_url = f"http://{_client_host(host)}:{port}/api"
    print(f"textpipe: Prefect UI at http://{host}:{port}  (API http://{host}:{port}/api); Ctrl-C stops it")
    print(f"textpipe: `textpipe run` with this PREFECT_HOME ({prefect_home(os.environ)}) reports here; from elsewhere: export PREFECT_API_URL={api_url}")
    process = subprocess.Popen(server_command(host, port), env=server_environment(host, port))
    signal.signal(signal.SIGTERM, lambda *_: process.terminate())
    record = record_server(prefect_home(os.environ), api_url)
    try:
        return process.wait()
    except KeyboardInterrupt:
        process.terminate()
        return process.wait()
    finally:
        forget_server(record, api_url)


# `textpipe server` leaves its URL here while it runs (the file is removed when it stops).
SERVER_RECORD = "textpipe-server.json"


def prefect_home(environment: Mapping[str, str]) -> Path:
    """Prefect's home folder: PREFECT_HOME, else Prefect's default ~/.prefect."""
    return Path(environment.get("PREFECT_HOME") or "~/.prefect").expanduser()


def _client_host(host: str) -> str:
    """Where a client on this machine reaches a server bound to `host`."""
    return "127.0.0.1" if host in ("0.0.0.0", "::", "") else (f"[{host}]" if ":" in host else host)


def record_server(home: Path, api_url: str) -> Path:
    home.mkdir(parents=True, exist_ok=True)
    record = home / SERVER_RECORD
    temporary = home / f".{SERVER_RECORD}.{os.getpid()}"
    temporary.write_text(json.dumps({"api_url": api_url, "pid": os.getpid()}), encoding="utf-8")
    os.replace(temporary, record)
    return record


def forget_server(record: Path, api_url: str) -> None:
    """Remove the record, unless another server has replaced it meanwhile."""
    with contextlib.suppress(OSError, ValueError):
        if json.loads(record.read_text(encoding="utf-8")).get("api_url") == api_url:
            record.unlink()


def running_server(environment: Mapping[str, str], timeout: float = 1.0) -> str | None:
    """The API URL of the `textpipe server` recorded in PREFECT_HOME, if it answers
    /health within `timeout` seconds; None otherwise (no record, or a server that
    was killed and left its record behind)."""
    try:
        api_url = str(json.loads((prefect_home(environment) / SERVER_RECORD).read_text(encoding="utf-8"))["api_url"])
    except (OSError, ValueError, KeyError, TypeError):
        return None
    try:
        with urllib.request.urlopen(f"{api_url}/health", timeout=timeout) as response:
            return api_url if response.status == 200 else None
    except (OSError, ValueError):
        return None


# The command Prefect's own local mode runs (prefect.server.api.server.SubprocessASGIServer):
# the API app alone, no UI, only the services a temporary server needs.
_TEMPORARY_SERVER_ENV = {
    "PREFECT_UI_ENABLED": "0", "PREFECT__SERVER_EPHEMERAL": "1", "PREFECT__SERVER_FINAL": "1",
    # Block types matter to the UI and to flows that use blocks; textpipe's use none. Checking
    # whether they are registered imports every installed Prefect integration (prefect-dask pulls
    # in dask.distributed): ~0.3 s of each boot. Not memoizing leaves no record that they are
    # registered, so a `textpipe server` on the same PREFECT_HOME still registers them at its start.
    "PREFECT_API_BLOCKS_REGISTER_ON_START": "false", "PREFECT_MEMOIZE_BLOCK_AUTO_REGISTRATION": "false",
    # No automations (triggers and their actions: ~0.3 s of each boot, importing the integrations
    # again). This server ends with the command: a proactive trigger could never fire, and a
    # reactive one's action would race the shutdown. Automations belong to `textpipe server`.
    "PREFECT_SERVER_SERVICES_TRIGGERS_ENABLED": "false",
}
_PORT_IN_USE_EXIT = 3  # uvicorn's exit code when it cannot bind


class TemporaryServer:
    """A Prefect API server on a free loopback port for the life of one command.

    Prefect's local mode starts the same server when the flow first calls the
    API, and then waits ~3 s for it; started before the command's imports and
    worker start-up, it boots while they run. Stopped at exit, also if the
    command fails; on Linux it also ends if the command is killed (so call
    `start` from the main thread).
    """

    def __init__(self, environment: dict[str, str]) -> None:
        self._environment = {**environment, **_TEMPORARY_SERVER_ENV}
        self._process: subprocess.Popen[bytes] | None = None
        self.port = 0

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/api"

    def start(self) -> None:
        self._spawn()
        atexit.register(self.stop)

    def _spawn(self) -> None:
        self.port = _free_port()
        self._process = subprocess.Popen(
            [sys.executable, "-m", "uvicorn", "--factory", "textpipe.server:temporary_server_app", "--host", "127.0.0.1",
             "--port", str(self.port), "--log-level", "error", "--lifespan", "on"],
            env=self._environment, preexec_fn=_parent_death_signal(),
        )

    def wait_ready(self, timeout: float) -> None:
        """Return once the API answers; TextpipeError if the server exits or `timeout` seconds pass."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self._process is not None, "start() first"
            code = self._process.poll()
            if code == _PORT_IN_USE_EXIT:  # another process took the port meanwhile
                self._spawn()
                continue
            if code is not None:
                raise TextpipeError(f"Prefect's temporary server exited with code {code} while starting (is PREFECT_HOME {prefect_home(self._environment)} writable?)")
            with contextlib.suppress(OSError):
                with urllib.request.urlopen(f"{self.api_url}/health", timeout=2) as response:
                    if response.status == 200:
                        return
            time.sleep(0.05)
        self.stop()
        raise TextpipeError(f"Prefect's temporary server did not answer within {timeout:.0f} s "
                            "(PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS)")

    def stop(self) -> None:
        process, self._process = self._process, None
        if process is None or process.poll() is not None:
            return
        process.terminate()
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def temporary_server_app() -> Any:
    """The temporary server's app: Prefect's API app (`prefect.server.api.server:create_app`),
    built with the collector paused, which took ~0.4 s off the server's boot (3.3-3.6 s before)."""
    with collector_paused():
        from prefect.server.api.server import create_app

        return create_app()


def _check_port_free(host: str, port: int) -> None:
    """ConfigError when `host:port` is taken, before the banner names a UI that would be someone else's."""
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn binds: a closing socket is no obstacle
        try:
            probe.bind((host, port))
        except OSError as exc:
            hint = " (another Prefect server? choose another with --port)" if exc.errno == errno.EADDRINUSE else ""
            raise ConfigError(f"cannot serve on {host}:{port}: {exc.strerror}{hint}") from None


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _parent_death_signal() -> Callable[[], None] | None:
    """A pre-exec hook for Linux's PR_SET_PDEATHSIG: the kernel sends SIGTERM to the
    server when the thread that started it ends, even by SIGKILL, so no orphaned
    server keeps its port and the database. Built before the fork: the child runs no imports."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        import ctypes

        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None
    return lambda: prctl(1, signal.SIGTERM)
