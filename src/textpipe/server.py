"""`textpipe server`: a local Prefect server with its UI, bound to 127.0.0.1 by default.

The UI finds its API through PREFECT_SERVER_API_HOST/PORT; with only `--port`
it would keep calling port 4200, so both are set in the server's environment.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path


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
    return env


def server_command(host: str, port: int) -> list[str]:
    prefect = Path(sys.executable).with_name("prefect")
    return [str(prefect), "server", "start", "--host", host, "--port", str(port)]


def run_server(host: str, port: int) -> int:
    """Run the server in the foreground until Ctrl-C or SIGTERM."""
    print(f"textpipe: Prefect UI at http://{host}:{port}  (API http://{host}:{port}/api); Ctrl-C stops it")
    print(f"textpipe: in another shell: export PREFECT_API_URL=http://{host}:{port}/api")
    process = subprocess.Popen(server_command(host, port), env=server_environment(host, port))
    signal.signal(signal.SIGTERM, lambda *_: process.terminate())
    try:
        return process.wait()
    except KeyboardInterrupt:
        process.terminate()
        return process.wait()
