"""The Prefect API a command talks to: the configured one, or a temporary server started at once.

Prefect's local mode would start its temporary server on the flow's first API
call and wait for it; `prefect_api` starts it before the command's heavy imports
and worker start-up, so the ~4 s boot overlaps them.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from prefect.settings import PREFECT_API_URL, get_current_settings, temporary_settings

from textpipe.server import TemporaryServer


@contextmanager
def prefect_api() -> Iterator[Callable[[], None]]:
    """Within the block, Prefect uses a configured API or a temporary server.

    Yields a function that returns once the API answers; call it before the flow.
    """
    settings = get_current_settings()
    if settings.api.url or not settings.server.ephemeral.enabled:
        yield lambda: None
        return
    # As Prefect passes its settings to its own temporary server (a profile's database URL, say).
    environment = {**os.environ, **settings.to_environment_variables(exclude_unset=True)}
    server = TemporaryServer(environment, settings.server.ephemeral.startup_timeout_seconds)
    # Stopped at exit (registered now, so after Prefect's log and event workers have drained).
    server.start()
    with temporary_settings(updates={PREFECT_API_URL: server.api_url}):
        yield server.wait_ready
