"""A new user's first minutes: `make run` on a fresh copy of the repository (any
supported Python, no warnings of textpipe's making, lines that say what happens),
and a `textpipe run` that shows up in the UI of the `textpipe server` already running.
"""

from __future__ import annotations

import glob
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import ROOT
from faults import prefect_server

TEXTPIPE = str(Path(sys.executable).with_name("textpipe"))
SUPPORTED = ("3.11", "3.12", "3.13")


def _runs(python: str) -> bool:
    return subprocess.run([python, "-c", ""], capture_output=True).returncode == 0


def installed_pythons() -> dict[str, str]:
    """version -> an interpreter of it that runs: on PATH, or one pyenv installed but did not select."""
    found = {}
    for version in SUPPORTED:
        candidates = [shutil.which(f"python{version}"), *sorted(glob.glob(os.path.expanduser(f"~/.pyenv/versions/{version}.*/bin/python{version}")))]
        found.update({version: c for c in candidates if c and version not in found and _runs(c)})
    return found


def other_pythons() -> list[str]:
    """The supported versions installed here other than the one running the tests."""
    this = f"{sys.version_info.major}.{sys.version_info.minor}"
    return [version for version in installed_pythons() if version != this] or ["none"]


def copy_of_the_repository(dest: Path) -> Path:
    """The repository's tracked files (a fresh clone's content, with uncommitted edits), no .venv, no output."""
    files = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=ROOT,
                           capture_output=True, check=True).stdout.decode().split("\0")
    for name in filter(None, files):
        source = ROOT / name
        if not source.exists() and not source.is_symlink():
            continue  # deleted, not yet committed
        target = dest / name
        target.parent.mkdir(parents=True, exist_ok=True)
        if source.is_symlink():
            target.symlink_to(os.readlink(source))
        else:
            shutil.copy2(source, target)
    return dest


# pip's own complaints about this machine's pip configuration (an index folder that is
# not there) are not textpipe's making, and a user without that configuration never sees them.
MACHINE_PIP_CONFIG = re.compile(r"^WARNING: Location '[^']+' is ignored: it is neither a file nor a directory\.$")


@pytest.mark.slow
@pytest.mark.parametrize("version", other_pythons())
def test_the_quick_start_on_another_python_prints_what_it_does_and_no_warning(version, tmp_path):
    if version == "none":
        pytest.skip(f"no other Python of {', '.join(SUPPORTED)} is installed here (the tests run on {sys.version.split()[0]})")
    python = installed_pythons()[version]
    repo = copy_of_the_repository(tmp_path / "textpipe")
    # As a user types it at a shell: not a sub-make of the `make test-slow` running this
    # test (whose MAKELEVEL would make it print "Entering directory" first).
    env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "PREFECT_API_URL", "MAKELEVEL", "MAKEFLAGS", "MFLAGS")}
    env["PREFECT_HOME"] = str(tmp_path / "prefect-home")
    # The Makefile picks the first of 3.11, 3.12, 3.13 that runs. The earlier versions are
    # shadowed by commands that fail as a missing one does (or an unselected pyenv shim):
    # it must pass over them and find this one by itself.
    pythons = tmp_path / "bin"
    pythons.mkdir()
    (pythons / f"python{version}").symlink_to(python)
    for earlier in SUPPORTED[:SUPPORTED.index(version)]:
        stub = pythons / f"python{earlier}"
        stub.write_text(f"#!/bin/sh\necho 'python{earlier}: command not found' >&2\nexit 127\n")
        stub.chmod(0o755)
    env["PATH"] = f"{pythons}:{env['PATH']}"
    done = subprocess.run(["make", "run"], cwd=repo, env=env, capture_output=True, text=True, timeout=1800)
    lines = [line for line in (done.stdout + done.stderr).splitlines() if not MACHINE_PIP_CONFIG.match(line)]
    assert done.returncode == 0, "\n".join(lines[-60:])
    assert lines[0] == f"make: creating .venv with python{version} (Python {version}.{_micro(python)})", lines[:3]
    assert lines[1].startswith("make: installing textpipe and its dependencies"), lines[:3]
    assert lines[2] == "make: running textpipe run --input data/raw --output data/processed", lines[:4]
    assert not [line for line in lines if re.search(r"warn|deprecat|!!", line, re.I)], "\n".join(lines)
    # The run's own outcome line, and the datasets it wrote with this Python.
    assert len(lines) == 4 and re.match(r"textpipe: \d+ articles in, \d+ new, ", lines[3]), lines
    assert any((repo / "data" / "processed" / "articles").glob("*.parquet"))
    assert (repo / ".venv" / "bin" / f"python{version}").exists()


def _micro(python: str) -> str:
    return subprocess.run([python, "-c", "import sys; print(sys.version_info.micro)"], capture_output=True, text=True).stdout.strip()


def test_a_stale_server_record_means_local_mode_at_once(tmp_path):
    from textpipe.server import SERVER_RECORD, record_server, running_server
    from faults import free_port

    record = record_server(tmp_path, f"http://127.0.0.1:{free_port()}/api")  # a server killed without cleaning up
    assert record == tmp_path / SERVER_RECORD
    started = time.monotonic()
    assert running_server({"PREFECT_HOME": str(tmp_path)}) is None
    assert time.monotonic() - started < 1.5
    record.write_text("not json")
    assert running_server({"PREFECT_HOME": str(tmp_path)}) is None
    assert running_server({"PREFECT_HOME": str(tmp_path / "elsewhere")}) is None


@pytest.mark.slow
def test_a_run_reports_to_the_server_of_its_prefect_home_without_prefect_api_url(tmp_path):
    from test_prefect_ops import Server, Snapshot, _flow_run_of, bbc_subset, ok, textpipe

    from textpipe.server import SERVER_RECORD

    home = tmp_path / "home"
    input_dir, output = tmp_path / "input", tmp_path / "output"
    bbc_subset(input_dir, 25, skip=200)
    with prefect_server(home) as server_env:
        assert (home / SERVER_RECORD).exists()
        env = {k: v for k, v in os.environ.items() if k != "PREFECT_API_URL"} | {"PREFECT_HOME": str(home)}
        done = ok(textpipe("run", "--input", str(input_dir), "--output", str(output), env=env))
        lines = done.stderr.strip().splitlines()
        assert lines[:1] == [f"textpipe: reporting to the Prefect server at {server_env['PREFECT_API_URL']} (started by `textpipe server` "
                         f"with PREFECT_HOME {home}); set PREFECT_API_URL to choose another"], done.stderr
        assert sum("Prefect server" in line for line in lines) == 1, done.stderr
        with Server(server_env["PREFECT_API_URL"], env).client() as client:
            flow_run = _flow_run_of(client, Snapshot.of(output).last_run().run_id)
        assert flow_run.state.is_completed()
    # Stopped, the server takes its record along: the next run is in local mode, and says nothing about a server.
    assert not (home / SERVER_RECORD).exists()
    again = ok(textpipe("run", "--input", str(input_dir), "--output", str(output), env=env))
    assert "Prefect server" not in again.stderr and len(Snapshot.of(output).tables["runs"]) == 2


def test_serve_with_no_server_to_serve_on_says_how_to_start_one(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "PREFECT_API_URL"} | {"PREFECT_HOME": str(tmp_path / "home")}
    done = subprocess.run([TEXTPIPE, "serve", "--input", str(ROOT / "data" / "raw"), "--output", str(tmp_path / "out")],
                          env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 2, done.stderr
    assert done.stderr.strip().splitlines() == ["textpipe: error: no Prefect server to serve on: start `textpipe server` "
                                                "(with the same PREFECT_HOME), or export PREFECT_API_URL=http://HOST:PORT/api"]
