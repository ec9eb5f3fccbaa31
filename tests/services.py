"""Real services for the operations tests, on 127.0.0.1 with free ports: a throwaway
PostgreSQL cluster (Debian's server binaries) and a Dask scheduler with worker
processes. Each is stopped, and its files removed, when its block ends.

PostgreSQL refuses to run as root, and a worker that must not see a folder needs
a user other than the folder's owner: when the tests run as root (as in CI),
those processes run as `nobody`.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from faults import free_port

UNPRIVILEGED = "nobody"


def postgres_bin() -> Path | None:
    """The newest of Debian's PostgreSQL server folders (/usr/lib/postgresql/N/bin), if any."""
    folders = [Path(p) for p in glob.glob("/usr/lib/postgresql/*/bin") if (Path(p) / "initdb").exists()]
    return max(folders, key=lambda p: int(p.parent.name)) if folders else None


def as_unprivileged(command: list[str]) -> list[str]:
    """`command` as the unprivileged user when this process is root; else as it is."""
    return ["runuser", "-u", UNPRIVILEGED, "--", *command] if os.geteuid() == 0 else command


@contextmanager
def unprivileged_dir(prefix: str) -> Iterator[Path]:
    """A fresh folder the unprivileged user owns (pytest's own tmp folders are root's, mode 0700)."""
    path = Path(tempfile.mkdtemp(prefix=prefix))
    try:
        if os.geteuid() == 0:
            user = pwd.getpwnam(UNPRIVILEGED)
            os.chown(path, user.pw_uid, user.pw_gid)
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


@contextmanager
def postgres_cluster(database: str = "prefect") -> Iterator[str]:
    """A PostgreSQL cluster on a free loopback port with one empty database; yields
    its SQLAlchemy URL for Prefect (postgresql+asyncpg://...)."""
    bin_dir = postgres_bin()
    assert bin_dir is not None, "no PostgreSQL server binaries under /usr/lib/postgresql"
    port = free_port()
    with unprivileged_dir("textpipe-pg-") as root:
        data = root / "data"
        # cwd: the unprivileged user may not enter the tests' own folder (a clone under /root).
        run = lambda *args: subprocess.run(as_unprivileged([str(bin_dir / args[0]), *args[1:]]), check=True,  # noqa: E731
                                           capture_output=True, text=True, timeout=120, cwd=root)
        run("initdb", "-D", str(data), "-U", "postgres", "--auth=trust", "--encoding=UTF8", "--no-sync")
        # Loopback TCP only; the Unix socket goes in the cluster's own folder.
        options = f"-p {port} -c listen_addresses=127.0.0.1 -k {root} -c fsync=off"
        run("pg_ctl", "-D", str(data), "-o", options, "-l", str(root / "server.log"), "-w", "-t", "60", "start")
        try:
            run("createdb", "-h", "127.0.0.1", "-p", str(port), "-U", "postgres", database)
            yield f"postgresql+asyncpg://postgres@127.0.0.1:{port}/{database}"
        finally:
            run("pg_ctl", "-D", str(data), "-m", "fast", "-w", "stop")


def psql(url: str, query: str, password: str | None = None) -> list[str]:
    """Rows of `query` (one string per row, columns joined by |) run by psql against `url`."""
    address = url.split("@", 1)[1]
    host_port, database = address.split("/", 1)
    host, port = host_port.split(":")
    env = {**os.environ, **({"PGPASSWORD": password} if password else {})}
    done = subprocess.run(["psql", "-h", host, "-p", port, "-U", "postgres", "-d", database, "-At", "-c", query],
                          check=True, capture_output=True, text=True, timeout=60, env=env)
    return done.stdout.splitlines()


def dask_bin() -> str:
    return str(Path(sys.executable).with_name("dask"))


def _wait_for_workers(address: str, count: int, timeout: float) -> None:
    from distributed import Client

    with Client(address, timeout=timeout) as client:
        client.wait_for_workers(count, timeout=timeout)


@contextmanager
def dask_scheduler(log_dir: Path) -> Iterator[str]:
    """`dask scheduler` as a process of its own on a free loopback port; yields its address."""
    port = free_port()
    log = (log_dir / "scheduler.log").open("w")
    process = subprocess.Popen([dask_bin(), "scheduler", "--host", "127.0.0.1", "--port", str(port), "--no-dashboard"],
                               stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        yield f"tcp://127.0.0.1:{port}"
    finally:
        stop_process_group(process)
        log.close()


@contextmanager
def dask_worker(address: str, log_dir: Path, name: str, *, env: dict[str, str] | None = None, expected_workers: int = 1,
                wrap: list[str] | None = None) -> Iterator[subprocess.Popen]:
    """`dask worker` connected to `address`, one process with one thread (started by the
    command `wrap`, if given); returns once the scheduler counts `expected_workers` workers."""
    command = [dask_bin(), "worker", address, "--host", "127.0.0.1", "--nworkers", "1", "--nthreads", "1",
               "--name", name, "--no-dashboard", "--local-directory", tempfile.gettempdir()]
    log = (log_dir / f"{name}.log").open("w")
    process = subprocess.Popen([*(wrap or []), *command], stdout=log, stderr=subprocess.STDOUT,
                               env=env, start_new_session=True, cwd="/")
    try:
        _wait_for_workers(address, expected_workers, 120)
        yield process
    finally:
        stop_process_group(process)
        log.close()


def stop_process_group(process: subprocess.Popen, timeout: float = 30) -> None:
    """SIGTERM the process's group (it was started with start_new_session), then SIGKILL what is left."""
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            pass
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    process.wait()


def poll(check, timeout: float, what: str):  # type: ignore[no-untyped-def]
    """`check()`'s first true value, tried each second; AssertionError after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        assert time.monotonic() < deadline, f"timed out after {timeout:.0f} s waiting for {what}"
        time.sleep(1)
