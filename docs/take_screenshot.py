"""Make the README's screenshots of the Prefect UI: a `textpipe-run` flow run
and its `run-summary` artifact.

Starts `textpipe server` on a free port with a throwaway PREFECT_HOME, runs
`textpipe run` on data/raw against it, and has headless Chromium (Debian's
`chromium` package) capture the pages. Nothing outside a temporary folder and
the two PNGs is touched.

    .venv/bin/python docs/take_screenshot.py [--budget-ms 15000]
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
CHROMIUM_FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
    "--disable-sync", "--no-first-run", "--window-size=1600,1100", "--hide-scrollbars",
]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_healthy(url: str, server: subprocess.Popen, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise SystemExit(f"textpipe server exited with {server.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(1)
    raise SystemExit(f"no answer from {url} within {timeout:.0f} s")


def stop(process: subprocess.Popen) -> None:
    # The server runs in its own session: signal the whole group so uvicorn goes too.
    try:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
    except ProcessLookupError:
        pass


def latest_ids(env: dict[str, str]) -> tuple[str, str]:
    """(flow run id, run-summary artifact id) of the newest textpipe-run, read in a child with the server's env."""
    code = (
        "from prefect.client.orchestration import get_client\n"
        "from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterFlowRunId, ArtifactFilterKey, FlowFilter, FlowFilterName\n"
        "from prefect.client.schemas.sorting import FlowRunSort\n"
        "with get_client(sync_client=True) as client:\n"
        "    run = client.read_flow_runs(flow_filter=FlowFilter(name=FlowFilterName(any_=['textpipe-run'])), sort=FlowRunSort.START_TIME_DESC, limit=1)[0]\n"
        "    assert run.state.is_completed(), run.state\n"
        "    artifact = client.read_artifacts(artifact_filter=ArtifactFilter(flow_run_id=ArtifactFilterFlowRunId(any_=[run.id]), key=ArtifactFilterKey(any_=['run-summary'])))[0]\n"
        "    print(run.id, artifact.id)\n"
    )
    flow_run_id, artifact_id = subprocess.run([sys.executable, "-c", code], env=env, check=True, capture_output=True, text=True).stdout.split()
    return flow_run_id, artifact_id


def screenshot(chromium: str, url: str, target: Path, budget_ms: int, scratch: Path) -> None:
    profile = Path(tempfile.mkdtemp(prefix="chromium-", dir=scratch))
    subprocess.run(
        [chromium, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", f"--virtual-time-budget={budget_ms}", f"--screenshot={target}", url],
        check=True, capture_output=True, timeout=180,
    )
    print(f"wrote {target} ({url})")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--budget-ms", type=int, default=15000, help="Chromium virtual time for the page to render (default: 15000)")
    parser.add_argument("--input", type=Path, default=ROOT / "data" / "raw")
    args = parser.parse_args()
    chromium = shutil.which("chromium")
    if not chromium:
        raise SystemExit("chromium not found: apt-get install -y chromium")
    port = free_port()
    with tempfile.TemporaryDirectory(prefix="textpipe-shot-") as scratch:
        env = {**os.environ, "PREFECT_HOME": str(Path(scratch) / "prefect-home"), "PREFECT_API_URL": f"http://127.0.0.1:{port}/api"}
        server = subprocess.Popen([str(BIN / "textpipe"), "server", "--port", str(port)], env=env, start_new_session=True,
                                  stdout=subprocess.DEVNULL)
        try:
            wait_healthy(f"http://127.0.0.1:{port}/api/health", server)
            subprocess.run([str(BIN / "textpipe"), "run", "--input", str(args.input), "--output", str(Path(scratch) / "processed")],
                           env=env, check=True, timeout=600)
            flow_run_id, artifact_id = latest_ids(env)
            ui = f"http://127.0.0.1:{port}"
            screenshot(chromium, f"{ui}/runs/flow-run/{flow_run_id}", ROOT / "docs" / "prefect-flow-run.png", args.budget_ms, Path(scratch))
            screenshot(chromium, f"{ui}/artifacts/artifact/{artifact_id}", ROOT / "docs" / "prefect-artifacts.png", args.budget_ms, Path(scratch))
        finally:
            stop(server)
    return 0


if __name__ == "__main__":
    sys.exit(main())
