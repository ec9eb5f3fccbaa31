"""What a machine running textpipe's tasks must see: the run's input folder (read), and
its output and staging folders (write), at the same paths as the machine running the
flow; and Prefect's API at the URL that machine uses (each task reports its own state).

On a Dask cluster tasks pass staged file paths, not data, so a worker without the
shared filesystem would fail deep inside a stage; `worker_problem` runs on each
worker first and says what that worker cannot see.
"""

from __future__ import annotations

import os
import tempfile
import urllib.request
from pathlib import Path


def folder_problem(input_dir: Path, output_dir: Path, staging: Path) -> str | None:
    """None if this process can read `input_dir` and write in `output_dir` and `staging`;
    else what is wrong, naming the folder (e.g. "cannot see the staging folder /srv/out/_staging/r1")."""
    if not input_dir.is_dir():
        return f"cannot see the input folder {input_dir}"
    if not os.access(input_dir, os.R_OK | os.X_OK):
        return f"cannot read the input folder {input_dir}"
    for role, folder in (("output", output_dir), ("staging", staging)):
        # The staging folder exists only where the flow made it: a worker with a folder of
        # its own at the output's path (no shared filesystem) does not see it.
        if not folder.is_dir():
            return f"cannot see the {role} folder {folder}"
    for role, folder in (("output", output_dir), ("staging", staging)):
        try:
            with tempfile.NamedTemporaryFile(dir=folder, prefix=".worker-check-"):
                pass
        except OSError as exc:
            return f"cannot write in the {role} folder {folder}: {exc.strerror or exc}"
    return None


def api_problem(api_url: str, timeout: float = 5.0) -> str | None:
    """None if Prefect's API answers /health at `api_url` from this process; else what failed."""
    try:
        with urllib.request.urlopen(f"{api_url}/health", timeout=timeout) as response:
            if response.status == 200:
                return None
            return f"gets HTTP {response.status} from Prefect's API at {api_url}"
    except (OSError, ValueError) as exc:
        return f"cannot reach Prefect's API at {api_url} ({getattr(exc, 'reason', None) or exc})"


def worker_problem(input_dir: Path, output_dir: Path, staging: Path, api_url: str) -> str | None:
    """The first of `folder_problem` and `api_problem` this process has, or None."""
    return folder_problem(input_dir, output_dir, staging) or api_problem(api_url)
