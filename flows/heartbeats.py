"""Prefect's flow-run heartbeats, without the wait for them at the end of every run.

Prefect 3.9's heartbeat thread sleeps in whole seconds, and a sync flow run joins
it when the run ends: with a configured server (heartbeats on) every command and
every scheduled run finished up to 1 s late, 0.5 s on average, as much as a rerun's
own work. Prefect's async flow runs skip that join (`join_on_exit=False`); this
gives textpipe's sync runs the same. Nothing is lost: the thread is a daemon, its
stop flag is set before the run ends, and it checks the flag before each heartbeat.
"""

from __future__ import annotations

import functools
import inspect


def end_runs_without_joining_heartbeats() -> bool:
    """Make sync flow runs in this process skip the heartbeat join; False if this Prefect has no such switch."""
    from prefect import flow_engine

    send_heartbeats = getattr(flow_engine, "_send_heartbeats", None)
    if send_heartbeats is None:
        return False
    if isinstance(send_heartbeats, functools.partial):
        return True  # already done
    if "join_on_exit" not in inspect.signature(send_heartbeats).parameters:
        return False
    flow_engine._send_heartbeats = functools.partial(send_heartbeats, join_on_exit=False)
    return True
