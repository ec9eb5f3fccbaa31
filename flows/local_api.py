"""The Prefect API a command talks to: the configured one, or a temporary server started at once.

Prefect's local mode would start its temporary server on the flow's first API
call and wait ~3 s for it; `prefect_api` starts it first thing, so that its
boot overlaps the command's imports (Prefect's own among them) and the worker
start-up.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from textpipe.server import TemporaryServer


def starts_temporary_server() -> bool:
    """Whether `prefect_api` will start a temporary server (unless a profile names an API)."""
    return not os.environ.get("PREFECT_API_URL")


@contextmanager
def prefect_api() -> Iterator[Callable[[], None]]:
    """Within the block, Prefect uses the configured API or a temporary server.

    Yields a function that returns once the API answers; call it before the flow.
    """
    # Started before Prefect is imported (~1 s), unless the environment names an API.
    # The server reads the same PREFECT_HOME profile and environment as this process.
    server = TemporaryServer(dict(os.environ)) if starts_temporary_server() else None
    if server is not None:
        server.start()  # stopped at exit, after Prefect's log and event workers have drained
    from prefect.settings import PREFECT_API_URL, PREFECT_FLOWS_HEARTBEAT_FREQUENCY, get_current_settings, temporary_settings

    settings = get_current_settings()
    if server is None or settings.api.url or not settings.server.ephemeral.enabled:
        # A profile or prefect.toml names an API (or forbids local mode): Prefect decides.
        if server is not None:
            server.stop()
        yield lambda: None
        return
    timeout = settings.server.ephemeral.startup_timeout_seconds
    # Heartbeats let a long-lived server mark a vanished flow run as crashed; this
    # server ends with the command, so nothing could read them.
    with temporary_settings(updates={PREFECT_API_URL: server.api_url, PREFECT_FLOWS_HEARTBEAT_FREQUENCY: None}):
        yield lambda: server.wait_ready(timeout)
