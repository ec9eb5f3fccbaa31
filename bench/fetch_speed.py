"""How long `textpipe fetch` takes for N new pages from a local site at delay 0.

The site (tests/fetch_site.py: one RSS feed listing N pages of BBC text) runs in a
process of its own, as a remote site would; the fetch is the real command, with its
defaults except `delay_seconds = 0` (and `max_per_host` as given). Measured: the
command's wall time, the fetch's own time (the bracketed figure of its outcome line),
and a second fetch with nothing new; with the load average before and after.

    python bench/fetch_speed.py            # 1,000 pages, ~30 s
    python bench/fetch_speed.py --pages 5000 --max-per-host 4

Writes bench/results/fetch-<N>-<time>.json and prints it.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TEXTPIPE = str(Path(sys.executable).with_name("textpipe"))


def _start_site(pages: int, folder: Path) -> tuple[subprocess.Popen, str]:
    ready = folder / "site.ready"
    site = subprocess.Popen([sys.executable, str(ROOT / "tests" / "fetch_site.py"), "--pages", str(pages), "--ready-file", str(ready)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while not ready.exists():
        if site.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError("the local site did not start")
        time.sleep(0.05)
    return site, ready.read_text()


def _fetch(sources: Path, raw: Path, env: dict[str, str]) -> dict:
    started = time.perf_counter()
    done = subprocess.run([TEXTPIPE, "fetch", "--sources", str(sources), "--raw", str(raw)], capture_output=True, text=True, env=env, timeout=900)
    wall = time.perf_counter() - started
    if done.returncode != 0:
        raise RuntimeError(done.stderr[-3000:])
    line = done.stdout.strip().splitlines()[-1]
    inside = float(re.search(r"\[([\d.]+) s\]$", line).group(1))
    return {"wall_seconds": round(wall, 2), "fetch_seconds": inside, "outcome": line}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pages", type=int, default=1000)
    parser.add_argument("--max-per-host", type=int, default=2)
    parser.add_argument("--no-save", action="store_true", help="print the result only (the slow test's way)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="fetch-bench-") as tmp:
        folder = Path(tmp)
        site, base = _start_site(args.pages, folder)
        try:
            sources = folder / "sources.toml"
            sources.write_text(f'[fetch]\nuser_agent = "textpipe-bench (+mailto:bench@localhost)"\ndelay_seconds = 0\n'
                               f'max_per_host = {args.max_per_host}\n\n[[sources]]\nname = "bench"\nfeeds = ["{base}/feeds/all.xml"]\n'
                               "allow_private = true\n", encoding="utf-8")
            # Its own Prefect home, whose database one unmeasured fetch creates first (a user's already has one).
            env = {**os.environ, "PREFECT_HOME": str(folder / "prefect-home")}
            env.pop("PREFECT_API_URL", None)
            warm = folder / "warm.toml"
            warm.write_text(sources.read_text().replace('name = "bench"', 'name = "warm"').replace("/feeds/all.xml", "/robots.txt"), encoding="utf-8")
            subprocess.run([TEXTPIPE, "fetch", "--sources", str(warm), "--raw", str(folder / "warm-raw")], capture_output=True, env=env, timeout=600)
            load_before = os.getloadavg()
            first = _fetch(sources, folder / "raw", env)
            second = _fetch(sources, folder / "raw", env)
            load_after = os.getloadavg()
            saved = len(list((folder / "raw" / "bench").glob("*/*.html")))
        finally:
            site.terminate()
            site.wait()
    result = {
        "pages": args.pages, "max_per_host": args.max_per_host, "pages_saved": saved,
        "first_fetch": first, "second_fetch": second,
        "pages_per_second": round(args.pages / first["fetch_seconds"], 1),
        "load_average_before": [round(x, 2) for x in load_before], "load_average_after": [round(x, 2) for x in load_after],
        "cpus": os.cpu_count(), "when": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    if not args.no_save:
        out = ROOT / "bench" / "results" / f"fetch-{args.pages}-{datetime.now(UTC):%Y%m%dT%H%M%SZ}.json"
        out.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
