"""Fault tests' helpers: the fault corpus (`corpus.py`), and one real Prefect server
for tests that run `textpipe run` many times, so each run skips the ~10 s start of
Prefect's local mode."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

TEXTPIPE = str(Path(sys.executable).with_name("textpipe"))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def prefect_server(home: Path, startup_seconds: float = 120, server_env: dict[str, str] | None = None) -> Iterator[dict[str, str]]:
    """`textpipe server` on a free port with its own PREFECT_HOME (and `server_env`, e.g. a
    database URL, for the server alone); yields the environment that points runs at it.
    Stopped (by its process group) on exit."""
    home.mkdir(parents=True, exist_ok=True)
    port = free_port()
    env = {**os.environ, "PREFECT_HOME": str(home), "PREFECT_UI_ENABLED": "false", **(server_env or {})}
    log = (home / "server.log").open("w")
    server = subprocess.Popen([TEXTPIPE, "server", "--port", str(port)], env=env, stdout=log, stderr=subprocess.STDOUT,
                              stdin=subprocess.DEVNULL, start_new_session=True)  # fmt: skip
    api = f"http://127.0.0.1:{port}/api"
    try:
        deadline = time.monotonic() + startup_seconds
        while True:
            if server.poll() is not None:
                raise RuntimeError(f"Prefect server exited with {server.returncode}: {(home / 'server.log').read_text()[-2000:]}")
            try:
                with urllib.request.urlopen(f"{api}/health", timeout=2) as response:
                    if response.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise TimeoutError(f"Prefect server not healthy after {startup_seconds} s")
            time.sleep(0.5)
        yield {"PREFECT_HOME": str(home), "PREFECT_API_URL": api}
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait()
        log.close()
