"""Summarise a py-spy profile of `textpipe run` by process, pipeline stage and hot function.

Record one first (py-spy samples the command and every process it starts):

    pip install py-spy
    py-spy record --subprocesses -r 100 -f raw -o run.raw -- \
        textpipe run --input bench/corpora/20000/txt --output /tmp/out --task-runner processes --topics 20 --workers 2
    python bench/profile_summary.py run.raw [--rate 100] [--top 25]

py-spy's raw format is one "frame;frame;... count" line per distinct stack, with
a "process PID:command" frame where a child process starts. Samples whose
innermost frame is a wait (a thread blocked on a future, a socket, a queue) are
dropped, so what remains approximates CPU seconds: samples / rate. A process that
is runnable but not running (a loaded machine) still counts, so compare shares
between profiles taken under a similar load average.
"""

from __future__ import annotations

import argparse
import re
import sys
from collections import Counter
from pathlib import Path

# Innermost frames that mean "waiting", not working.
IDLE = ("Condition.wait", "select (selectors.py", "_connection_worker_thread (aiosqlite", "_worker (concurrent/futures/thread.py",
        "heartbeat_loop", "Event.wait", "sleep", "_recv_msg", "accept (socket.py", "_recv (", "_poll (", "poll (")
# The first marker found in a stack (innermost stage function first) names its stage.
STAGES = (
    ("clean-tokenize", "tokenize_articles ("), ("ingest", "ingest_stage ("), ("sentiment", "sentiment_stage ("),
    ("topics", "fit_or_load_and_assign ("), ("write", "commit_batches ("), ("write", "write_topics ("),
    ("write", "commit_run ("), ("discover", "discover ("), ("discover", "seen_article_ids ("),
    ("worker start-up", "_warm_up ("), ("imports", "_find_and_load ("),
)
_LINE = re.compile(r"(.*?) (\d+)\n", re.DOTALL)  # a command line may hold newlines, so lines end at " <count>\n"


def role(frames: list[str]) -> str:
    process = [f for f in frames if f.startswith("process ")][-1]
    if "uvicorn" in process or "prefect.server" in process:
        return "Prefect server process"
    if "multiprocessing" in process:
        return "worker processes"
    return "main process"


def stage(frames: list[str], process_role: str) -> str:
    for name, marker in STAGES:
        if any(marker in frame for frame in frames):
            return name
    return {"Prefect server process": "Prefect server (API, database)",
            "main process": "Prefect and other (main process)"}.get(process_role, "worker, other")


def summarise(raw: str) -> tuple[dict[str, Counter], int]:
    counts: dict[str, Counter] = {"role": Counter(), "stage": Counter(), "function": Counter()}
    idle = 0
    for match in _LINE.finditer(raw):
        frames, n = match.group(1).split(";"), int(match.group(2))
        if any(marker in frames[-1] for marker in IDLE):
            idle += n
            continue
        process_role = role(frames)
        counts["role"][process_role] += n
        counts["stage"][stage(frames, process_role)] += n
        counts["function"][re.sub(r" \(.*?/site-packages/", " (", frames[-1])] += n
    return counts, idle


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("raw", type=Path)
    parser.add_argument("--rate", type=float, default=100.0, help="py-spy's --rate (samples per second)")
    parser.add_argument("--top", type=int, default=25)
    args = parser.parse_args(argv)
    counts, idle = summarise(args.raw.read_text(errors="replace"))
    total = sum(counts["role"].values())
    out = [f"{total / args.rate:.1f} CPU-s sampled ({idle / args.rate:.1f} s of waiting dropped)", ""]
    for title, key, limit in (("process", "role", None), ("stage", "stage", None), ("function (self)", "function", args.top)):
        out += [f"| {title} | CPU s | share |", "|---|---:|---:|"]
        out += [f"| {name} | {n / args.rate:.1f} | {100 * n / total:.1f}% |" for name, n in counts[key].most_common(limit)]
        out.append("")
    sys.stdout.write("\n".join(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
