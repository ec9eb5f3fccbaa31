"""Every shell, Python and SQL snippet of the README and of docs/ runs in the tests.

The README's and the data pages' Python and SQL run here, in order, on what `make run`
produces (the sample input under data/raw). A page whose commands need more than that
(a local news site, a PostgreSQL cluster, a Dask cluster, a benchmark corpus) has a
test module of its own that reads the page and runs them: DEDICATED says which, and a
test here checks that the module reads that page. Every fenced block must be one of the
languages below, so that a new kind of snippet cannot slip past both.
"""

from __future__ import annotations

import os
import re
import shlex
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import ROOT, fences

BIN = Path(sys.executable).parent
OUTPUT = "data/processed"
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
# Not code: output shown as it looks, configuration files (tested where they are read).
NOT_RUN = {"text", "toml", ""}
RUN_HERE = {"python", "sql", "sh"}
# Pages whose commands a module of their own runs (it must read the page).
DEDICATED = {
    "fetching.md": "test_docs_fetching.py",
    "operations.md": "test_docs_operations.py",
    "performance.md": "test_docs_performance.py",
}


def test_every_snippet_is_of_a_kind_the_tests_run():
    for page in PAGES:
        for language, _ in fences(page):
            assert language in NOT_RUN | RUN_HERE, f"{page.name}: a ```{language} block no test runs"


def test_pages_with_their_own_snippet_tests_are_read_by_them():
    for page in PAGES:
        runnable = [language for language, _ in fences(page) if language in RUN_HERE]
        if page.name in DEDICATED and runnable:
            module = ROOT / "tests" / DEDICATED[page.name]
            assert module.exists() and page.name in module.read_text(encoding="utf-8"), \
                f"{page.name}: its commands are said to run in tests/{DEDICATED[page.name]}, which does not read it"


def _here(page: Path) -> bool:
    return page.name not in DEDICATED


@pytest.mark.parametrize("page", [p for p in PAGES if _here(p)], ids=lambda p: p.name)
def test_the_python_and_sql_of_a_page_run_on_the_sample_output(page, sample_output):
    namespace: dict = {}
    for language, code in fences(page):
        code = code.replace(OUTPUT, str(sample_output))
        if language == "python":
            exec(code, namespace)  # noqa: S102 - the page's own code
        elif language == "sql":
            duckdb = pytest.importorskip("duckdb")
            assert duckdb.sql(code).fetchall(), f"{page.name}: the query returned nothing"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _wait_for(url: str, seconds: float = 120) -> None:
    import urllib.request

    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except OSError:
            time.sleep(0.5)
    raise AssertionError(f"nothing answered at {url} within {seconds} s")


@pytest.mark.slow
@pytest.mark.parametrize("page", [p for p in PAGES if _here(p)], ids=lambda p: p.name)
def test_the_shell_commands_of_a_page_run(page, tmp_path):
    """Each line as a user types it, in a copy of the sample input: the output folder, the
    port and Prefect's home are the test's own. A server (`textpipe server`, with `&`)
    is waited for and stopped at the end; `textpipe serve` runs until its deployments are
    registered. `make test` and `make test-slow` are only resolved (`make -n`): they are
    the command running this test."""
    blocks = [code for language, code in fences(page) if language == "sh"]
    if not blocks:
        pytest.skip(f"{page.name} has no shell commands")
    port = _free_port()
    env = {**os.environ, "PREFECT_HOME": str(tmp_path / "prefect-home"), "PATH": f"{BIN}:{os.environ['PATH']}"}
    env.pop("PREFECT_API_URL", None)
    background: list[subprocess.Popen] = []
    try:
        for block in blocks:
            for line in block.splitlines():
                command = line.split("  #", 1)[0].split(" # ", 1)[0].strip()
                if not command or command.startswith("#"):
                    continue
                command = command.replace("4200", str(port)).replace(OUTPUT, str(tmp_path / "processed"))
                words = shlex.split(command.rstrip("&").strip())
                if words[0] == "export":
                    name, _, value = words[1].partition("=")
                    env[name] = value
                    continue
                program = Path(words[0]).name
                if program == "make":
                    target = words[1] if len(words) > 1 else "run"
                    dry = ["-n"] if target in ("test", "test-slow") else []
                    done = subprocess.run(["make", *dry, "-C", str(ROOT), *words[1:]], env=env, capture_output=True, text=True, timeout=1200)
                    assert done.returncode == 0, f"{page.name}: `{line}` failed: {done.stderr[-2000:]}"
                    continue
                words[0] = str(BIN / program) if (BIN / program).exists() else words[0]
                if program == "textpipe" and words[1:2] == ["server"] and "--port" not in words:
                    words += ["--port", str(port)]  # the default, 4200, is the test's own port
                if program == "textpipe" and words[1:2] in (["server"], ["serve"]):
                    proc = subprocess.Popen(words, env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True)
                    background.append(proc)
                    if words[1] == "server":
                        _wait_for(f"http://127.0.0.1:{port}/api/health")
                    else:
                        _wait_for_deployment(env)
                    continue
                done = subprocess.run(words, env=env, cwd=ROOT, capture_output=True, text=True, timeout=600)
                assert done.returncode == 0, f"{page.name}: `{line}` failed: {done.stderr[-2000:]}"
    finally:
        for proc in background:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)


def _wait_for_deployment(env: dict[str, str], seconds: float = 180) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        listing = subprocess.run([str(BIN / "prefect"), "deployment", "ls"], env=env, capture_output=True, text=True, timeout=120)
        if "textpipe-run/hourly" in re.sub(r"\s+", "", listing.stdout).replace("│", "") or "hourly" in listing.stdout:
            return
        time.sleep(1)
    raise AssertionError("textpipe serve registered no deployment")
