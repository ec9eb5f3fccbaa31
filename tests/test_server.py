"""server: the temporary Prefect server of local mode is started early, answers, and never outlives its command."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from textpipe.errors import TextpipeError
from textpipe.server import TemporaryServer

from conftest import bbc_articles

TEXTPIPE = str(Path(sys.executable).with_name("textpipe"))


def children(pid: int) -> dict[int, str]:
    """Command lines of the live child processes of `pid`, by pid."""
    found = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        parent = int(stat.rsplit(")", 1)[1].split()[1])
        state = stat.rsplit(")", 1)[1].split()[0]
        if parent == pid and state != "Z":
            found[int(entry.name)] = cmdline
    return found


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def local_env() -> dict[str, str]:
    return {key: value for key, value in os.environ.items() if key != "PREFECT_API_URL"}


def test_temporary_server_answers_and_stops(tmp_path):
    server = TemporaryServer({**local_env(), "PREFECT_HOME": str(tmp_path / "home")})
    server.start()
    try:
        server.wait_ready(timeout=120)
        pids = [pid for pid, command in children(os.getpid()).items() if "uvicorn" in command and str(server.port) in command]
        assert len(pids) == 1
    finally:
        server.stop()
    deadline = time.monotonic() + 10
    while alive(pids[0]) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not alive(pids[0])


def test_temporary_server_leaves_block_registration_to_a_full_server(tmp_path):
    # Prefect skips registering block types at a server's start when its memo store
    # says they are registered; the temporary server registers none, so it must not
    # write that record, or a `textpipe server` on the same home would skip them too.
    home = tmp_path / "home"
    server = TemporaryServer({**local_env(), "PREFECT_HOME": str(home)})
    server.start()
    try:
        server.wait_ready(timeout=120)
    finally:
        server.stop()
    assert (home / "prefect.db").is_file()
    memo = home / "memo_store.toml"
    assert not memo.exists() or "block_auto_registration" not in memo.read_text()


def test_a_server_that_exits_while_starting_is_one_clear_error(tmp_path):
    # A uvicorn that fails at once stands in for a server that cannot start (a full disk, say).
    fake = tmp_path / "fake" / "uvicorn"
    fake.mkdir(parents=True)
    (fake / "__init__.py").write_text("")
    (fake / "__main__.py").write_text("raise SystemExit(7)\n")
    server = TemporaryServer({**local_env(), "PYTHONPATH": str(tmp_path / "fake")})
    server.start()
    started = time.monotonic()
    with pytest.raises(TextpipeError, match="temporary server exited with code 7"):
        server.wait_ready(timeout=60)
    assert time.monotonic() - started < 30


def test_a_server_that_never_answers_times_out_and_is_stopped(tmp_path):
    home = tmp_path / "home"
    home.write_text("a file where Prefect wants its folder")
    server = TemporaryServer({**local_env(), "PREFECT_HOME": str(home)})
    server.start()
    with pytest.raises(TextpipeError, match="did not answer within 3 s"):
        server.wait_ready(timeout=3)
    assert not [pid for pid, command in children(os.getpid()).items() if "uvicorn" in command and str(server.port) in command]


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the parent-death signal is Linux's")
def test_killed_command_takes_its_temporary_server_along(tmp_path):
    input_dir = tmp_path / "input"
    input_dir.mkdir()
    for path in bbc_articles("tech", 30):
        (input_dir / path.name).write_bytes(path.read_bytes())
    run = subprocess.Popen([TEXTPIPE, "run", "--input", str(input_dir), "--output", str(tmp_path / "out")],
                           env=local_env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        deadline = time.monotonic() + 60
        servers: list[int] = []
        while not servers and time.monotonic() < deadline and run.poll() is None:
            servers = [pid for pid, command in children(run.pid).items() if "uvicorn" in command]
            time.sleep(0.05)
        assert servers, "no temporary server was started"
        run.send_signal(signal.SIGKILL)  # the command alone, as `kill -9 <pid>` would
        run.wait(timeout=10)
        deadline = time.monotonic() + 15
        while alive(servers[0]) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not alive(servers[0]), "the temporary server outlived its killed command"
    finally:
        with_group = run.pid
        try:
            os.killpg(with_group, signal.SIGKILL)
        except ProcessLookupError:
            pass


PROBE_SETTINGS = """
from textpipe_flows.local_api import prefect_api
with prefect_api() as wait_for_api:
    wait_for_api()
    from prefect.settings import get_current_settings
    settings = get_current_settings()
    print(settings.api.url or "", settings.flows.heartbeat_frequency)
"""


def test_local_mode_talks_to_the_temporary_server_without_heartbeats(tmp_path):
    probe = subprocess.run([sys.executable, "-c", PROBE_SETTINGS], env={**local_env(), "PREFECT_HOME": str(tmp_path / "home")},
                           capture_output=True, text=True, timeout=180, check=True)
    api_url, heartbeat = probe.stdout.split()
    assert api_url.startswith("http://127.0.0.1:") and heartbeat == "None"


def test_a_configured_api_keeps_prefects_heartbeats(tmp_path):
    # No server answers here; the probe only reads settings, it makes no call.
    environment = {**local_env(), "PREFECT_HOME": str(tmp_path / "home"), "PREFECT_API_URL": "http://127.0.0.1:9/api"}
    probe = subprocess.run([sys.executable, "-c", PROBE_SETTINGS], env=environment, capture_output=True, text=True, timeout=60, check=True)
    assert probe.stdout.split() == ["http://127.0.0.1:9/api", os.environ.get("PREFECT_FLOWS_HEARTBEAT_FREQUENCY", "180")]


@pytest.mark.parametrize("user_setting", [None, "environment", "prefect.toml"])
def test_textpipe_server_vacuums_old_flow_runs_unless_the_user_chose(tmp_path, user_setting):
    """The server environment adds flow runs to what Prefect's vacuum deletes, but a
    choice made in the environment or in prefect.toml is left as it is."""
    env = {**local_env(), "PREFECT_HOME": str(tmp_path / "home")}
    env.pop("PREFECT_SERVER_SERVICES_DB_VACUUM_ENABLED", None)
    if user_setting == "environment":
        env["PREFECT_SERVER_SERVICES_DB_VACUUM_ENABLED"] = "events"
    elif user_setting == "prefect.toml":
        (tmp_path / "prefect.toml").write_text('[server.services.db_vacuum]\nenabled = "events"\n', encoding="utf-8")
    script = ("from textpipe.server import server_environment\n"
              "print(server_environment('127.0.0.1', 4200).get('PREFECT_SERVER_SERVICES_DB_VACUUM_ENABLED'))")
    result = subprocess.run([sys.executable, "-c", script], cwd=tmp_path, env=env, capture_output=True, text=True, check=True)
    expected = {None: "events,flow_runs", "environment": "events", "prefect.toml": "None"}[user_setting]
    assert result.stdout.strip() == expected


@pytest.mark.parametrize("user_setting", [None, "environment", "prefect.toml"])
def test_textpipe_server_batches_task_run_records_unless_the_user_chose(tmp_path, user_setting):
    """The server records task runs in batches (the recorder's batch size and flush
    interval), unless the environment or prefect.toml sets either."""
    env = {**local_env(), "PREFECT_HOME": str(tmp_path / "home")}
    names = ("PREFECT_SERVER_SERVICES_TASK_RUN_RECORDER_BATCH_SIZE", "PREFECT_SERVER_SERVICES_TASK_RUN_RECORDER_FLUSH_INTERVAL")
    for name in names:
        env.pop(name, None)
    if user_setting == "environment":
        env[names[0]] = "5"
    elif user_setting == "prefect.toml":
        (tmp_path / "prefect.toml").write_text("[server.services.task_run_recorder]\nflush_interval = 3\n", encoding="utf-8")
    script = ("from textpipe.server import server_environment\n"
              f"env = server_environment('127.0.0.1', 4200)\nprint(*(env.get(name) for name in {names!r}))")
    result = subprocess.run([sys.executable, "-c", script], cwd=tmp_path, env=env, capture_output=True, text=True, check=True)
    expected = {None: "50 1", "environment": "5 None", "prefect.toml": "None None"}[user_setting]
    assert result.stdout.strip() == expected


def test_textpipe_server_on_a_taken_port_is_one_clear_error(tmp_path):
    """The banner must not name a UI at a port that another process serves."""
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = subprocess.run([TEXTPIPE, "server", "--port", str(port)], env={**local_env(), "PREFECT_HOME": str(tmp_path)},
                                capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr.strip().splitlines() == [f"textpipe: error: cannot serve on 127.0.0.1:{port}: Address already in use "
                                                  "(another Prefect server? choose another with --port)"]
