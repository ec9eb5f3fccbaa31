"""A redirect to a private address, from a source that is genuinely public, is refused
before any connection is made.

The site runs on a public unicast address (11.22.33.2, global to Python's `ipaddress`)
in a network namespace of its own; the fetcher runs in a second namespace joined to it
by a veth pair and holding only that link, so nothing can leave the machine. The
fetcher's namespace also serves a trap site on 127.0.0.1:8080, the redirect's target:
it must see no request, unless the source sets allow_private (which shows the trap works).

Needs root and iproute2 (`ip netns`): .ci/run has both; elsewhere the test is skipped.
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from fetch_site import wait_until, write_sources

TESTS = Path(__file__).resolve().parent
SITE_ADDRESS, CLIENT_ADDRESS = "11.22.33.2", "11.22.33.1"
TRAP = "http://127.0.0.1:8080/news/secret.html"
FETCH = """
import sys
from pathlib import Path
from textpipe.fetch import FetchRun, load_sources
sources = load_sources(Path(sys.argv[1]))
with FetchRun(Path(sys.argv[2]), sources) as run:
    reports = [run.fetch_source(source) for source in sources.sources]
    run.finish(reports)
print({r.source: (r.new_pages, dict(r.errors)) for r in reports})
"""


def _ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True, text=True, timeout=30)


@pytest.fixture
def namespaces():
    if os.geteuid() != 0 or shutil.which("ip") is None:
        pytest.skip("network namespaces need root and iproute2's `ip`")
    tag = str(os.getpid())[-6:]
    client, site = f"tpfc{tag}", f"tpfs{tag}"
    try:
        _ip("netns", "add", client)
        _ip("netns", "add", site)
        _ip("link", "add", f"tpc{tag}", "netns", client, "type", "veth", "peer", "name", f"tps{tag}", "netns", site)
        for namespace, device, address in ((client, f"tpc{tag}", CLIENT_ADDRESS), (site, f"tps{tag}", SITE_ADDRESS)):
            _ip("-n", namespace, "addr", "add", f"{address}/30", "dev", device)
            _ip("-n", namespace, "link", "set", device, "up")
            _ip("-n", namespace, "link", "set", "lo", "up")
    except (subprocess.CalledProcessError, OSError) as exc:
        for namespace in (client, site):
            subprocess.run(["ip", "netns", "del", namespace], capture_output=True, check=False)
        detail = exc.stderr.strip() if isinstance(exc, subprocess.CalledProcessError) else exc
        pytest.skip(f"network namespaces unavailable here: {detail}")
    try:
        yield client, site
    finally:
        for namespace in (client, site):
            subprocess.run(["ip", "netns", "del", namespace], capture_output=True, check=False)


def _serve(namespace: str, tmp: Path, name: str, *args: str) -> subprocess.Popen:
    ready = tmp / f"{name}.ready"
    process = subprocess.Popen(["ip", "netns", "exec", namespace, sys.executable, str(TESTS / "fetch_site.py"), "--ready-file", str(ready), *args],
                               stdout=subprocess.DEVNULL, stderr=(tmp / f"{name}.err").open("w"))
    def started() -> bool:
        assert process.poll() is None, (tmp / f"{name}.err").read_text()
        return ready.exists()

    wait_until(started, 30, f"{name} to start")
    return process


def _fetch(namespace: str, tmp: Path, allow_private: bool) -> tuple[str, dict[str, dict]]:
    sources = write_sources(tmp / f"sources-{allow_private}.toml", "public", [f"http://{SITE_ADDRESS}/feeds/with-redirect.xml"],
                            allow_private, timeout_seconds=5)
    raw = tmp / f"raw-{allow_private}"
    done = subprocess.run(["ip", "netns", "exec", namespace, sys.executable, "-c", FETCH, str(sources), str(raw)],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]
    with sqlite3.connect(raw / "_fetch" / "manifest.sqlite") as db:
        rows = {url: {"state": state, "error": error} for url, state, error in db.execute("SELECT url, state, last_error FROM pages")}
    return done.stdout, rows


def test_a_redirect_from_a_public_site_to_loopback_is_refused(namespaces, tmp_path):
    client, site = namespaces
    trap_log = tmp_path / "trap.jsonl"
    processes = [
        _serve(site, tmp_path, "site", "--host", SITE_ADDRESS, "--port", "80", "--pages", "3", "--redirect-to", TRAP),
        _serve(client, tmp_path, "trap", "--host", "127.0.0.1", "--port", "8080", "--pages", "1", "--log", str(trap_log)),
    ]
    try:
        _, rows = _fetch(client, tmp_path, allow_private=False)
        away = rows[f"http://{SITE_ADDRESS}/away"]
        saved = [url for url, row in rows.items() if row["state"] == "saved"]
        trap_hits_refused = trap_log.read_text().splitlines() if trap_log.exists() else []
        # The same source allowed private addresses: the redirect is followed to the trap.
        _, allowed = _fetch(client, tmp_path, allow_private=True)
        trap_hits_allowed = [json.loads(line) for line in trap_log.read_text().splitlines()]
    finally:
        for process in processes:
            process.terminate()
            process.wait(timeout=10)
    # The public site's own pages are fetched without allow_private: the check is of the address, not of the source.
    assert len(saved) == 3
    assert away["state"] == "failed" and away["error"].startswith("refused_address: 127.0.0.1 resolves to 127.0.0.1, a loopback address")
    assert trap_hits_refused == []
    assert [hit["path"] for hit in trap_hits_allowed] == ["/robots.txt", "/news/secret.html"]
    assert allowed[f"http://{SITE_ADDRESS}/away"]["state"] == "failed"  # the trap has no such page: a 404, after the hop
