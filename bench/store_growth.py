"""What a year of hourly runs does to a scheduled rerun, and what compaction undoes.

Writes a store with one real `textpipe run` over the BBC corpus, then spreads it
out as a year of hourly runs would have left it: `--runs` runs (8,760), of which
the first 2,127 (one per stored article) each added one article, each run with its own
`part-<run_id>.parquet` per dataset. Then times, in turn, a rerun with nothing
new on that store, `textpipe compact`, and the same rerun on the compacted
store, and writes bench/results/store-growth-<time>.json.

    python bench/store_growth.py [--runs 8760] [--reruns 3]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc

from textpipe import store

BENCH = Path(__file__).resolve().parent
BBC = BENCH.parent.parent / "shared" / "corpora" / "bbc"
RESULTS = BENCH / "results"
TEXTPIPE = str(Path(sys.executable).with_name("textpipe"))
PER_ARTICLE = ("articles", "sentences", "article_topics")


def textpipe(*args: str) -> tuple[float, str]:
    clock = time.perf_counter()
    done = subprocess.run([TEXTPIPE, *args], capture_output=True, text=True, timeout=3600)
    seconds = time.perf_counter() - clock
    if done.returncode != 0:
        sys.exit(f"textpipe {' '.join(args)} failed:\n{done.stderr[-3000:]}")
    return seconds, done.stdout.strip().splitlines()[-1]


def spread_over_runs(output: Path, n_runs: int) -> int:
    """Rewrite the store's single run as `n_runs` hourly runs, one article each in the first ones."""
    (original,) = [p.stem[len("part-"):] for p in store.dataset_files(output, "runs")]
    template = store.read_dataset(output, "runs").to_pylist()[0]
    tables = {name: store.read_dataset(output, name) for name in PER_ARTICLE}
    article_ids = tables["articles"].column("article_id").to_pylist()
    if n_runs < len(article_ids):
        sys.exit(f"--runs must be at least the {len(article_ids)} articles, one per run")
    start = datetime(2025, 1, 1, tzinfo=UTC)
    run_ids = [f"{start + timedelta(hours=h):%Y%m%dT%H%M%SZ}-{h:08x}" for h in range(n_runs)]
    for name in PER_ARTICLE:
        table = tables[name]
        for run_id, article_id in zip(run_ids, article_ids):
            part = table.filter(pc.equal(table.column("article_id"), article_id))
            part = part.set_column(part.schema.get_field_index("run_id"), "run_id", pa.array([run_id] * part.num_rows, pa.string())) if "run_id" in part.column_names else part
            store.write_table(store.dataset_dir(output, name) / store.part_name(run_id), part, store.SCHEMAS[name])
        (store.dataset_dir(output, name) / store.part_name(original)).unlink()
    runs = store.dataset_dir(output, "runs")
    for hour, run_id in enumerate(run_ids):
        row = {**template, "run_id": run_id, "n_new": int(hour < len(article_ids)), "started_at": start + timedelta(hours=hour),
               "finished_at": start + timedelta(hours=hour, seconds=5)}
        store.write_table(runs / store.part_name(run_id), pa.Table.from_pylist([row], schema=store.RUNS), store.RUNS)
    # The original run's record of the input files stays: every file counts as read.
    store.write_table(runs / store.part_name(original), pa.Table.from_pylist([template], schema=store.RUNS), store.RUNS)
    return len(run_ids) + 1


def count_files(output: Path) -> dict[str, int]:
    return {name: len(store.dataset_files(output, name)) for name in store.SCHEMAS}


def in_flow_seconds(summary: str) -> float:
    return float(re.search(r"\[([\d.]+) s\]$", summary).group(1))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=8_760, help="hourly runs to spread the store over (default: a year, 8760)")
    parser.add_argument("--reruns", type=int, default=3, help="timed reruns before and after compaction (default 3)")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="textpipe-store-growth-"))
    output = work / "output"
    os.environ.setdefault("PREFECT_HOME", str(work / "prefect-home"))
    # Measured runs must not compact by themselves: `textpipe compact` is timed on its own.
    os.environ["TEXTPIPE_COMPACT_AFTER_RUNS"] = str(10**9)
    try:
        first, summary = textpipe("run", "--input", str(BBC), "--output", str(output))
        print(f"first run: {first:.1f} s: {summary}")
        clock = time.perf_counter()
        n_runs = spread_over_runs(output, args.runs)
        print(f"spread over {n_runs} runs in {time.perf_counter() - clock:.0f} s: {count_files(output)}")
        before = [textpipe("run", "--input", str(BBC), "--output", str(output)) for _ in range(args.reruns)]
        files_before = count_files(output)
        compaction_seconds, compaction = textpipe("compact", "--output", str(output))
        print(f"compact: {compaction_seconds:.1f} s: {compaction}")
        after = [textpipe("run", "--input", str(BBC), "--output", str(output)) for _ in range(args.reruns)]
        result = {
            "when": datetime.now(UTC).isoformat(timespec="seconds"), "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
            "load_average": os.getloadavg(), "articles": len(store.read_dataset(output, "articles", ["article_id"])), "runs": n_runs, "files_before": files_before, "files_after": count_files(output),
            "rerun_seconds_before": [s for s, _ in before], "rerun_in_flow_seconds_before": [in_flow_seconds(t) for _, t in before],
            "compact_seconds": compaction_seconds, "compact_summary": compaction,
            "rerun_seconds_after": [s for s, _ in after], "rerun_in_flow_seconds_after": [in_flow_seconds(t) for _, t in after],
        }
        wall_before, wall_after = statistics.median(result["rerun_seconds_before"]), statistics.median(result["rerun_seconds_after"])
        flow_before, flow_after = statistics.median(result["rerun_in_flow_seconds_before"]), statistics.median(result["rerun_in_flow_seconds_after"])
        result |= {"rerun_wall_ratio_after_to_before": wall_after / wall_before, "rerun_in_flow_ratio_after_to_before": flow_after / flow_before}
        print(f"rerun with nothing new, median of {args.reruns}: {wall_before:.1f} s ({flow_before:.1f} s in the flow) on {n_runs} runs' files; "
              f"{wall_after:.1f} s ({flow_after:.1f} s in the flow) after compaction: x{wall_after / wall_before:.2f} wall, x{flow_after / flow_before:.2f} in the flow")
        RESULTS.mkdir(exist_ok=True)
        path = RESULTS / f"store-growth-{datetime.now(UTC):%Y%m%dT%H%M%SZ}.json"
        path.write_text(json.dumps(result, indent=2))
        print(f"wrote {path}")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
