"""Crash recovery: `textpipe run` killed with SIGKILL at random points, over and over,
then run once more to completion, leaves exactly the datasets of one clean run.

Kills fall at seeded uniform fractions of a clean run's duration (start-up, ingest,
the many 50-article batches, topics, writing), plus a few aimed at the moment a
Parquet file is being written. The whole process group dies each time, so no
worker survives to finish the job. One real Prefect server serves every run.
"""

from __future__ import annotations

import os
import random
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest

from faults import TEXTPIPE, prefect_server

from conftest import BBC, bbc_articles

pytestmark = pytest.mark.slow

SEED = 20240504
RANDOM_KILLS = 20
WRITE_PHASE_KILLS = 4
ARTICLES_PER_CATEGORY = 120
RUN_ARGS = ("--batch-size", "50", "--topics", "5")
# Columns that legitimately differ between two runs over the same input (BBC articles
# have no published_at, so a story is first and last seen when it was ingested).
RUN_COLUMNS = ("run_id", "ingested_at", "first_seen", "last_seen")


@pytest.fixture(scope="module")
def server_env(tmp_path_factory):
    with prefect_server(tmp_path_factory.mktemp("prefect-home")) as env:
        yield {**os.environ, **env}


@pytest.fixture(scope="module")
def input_dir(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("crash-input")
    for category in sorted(p.name for p in BBC.iterdir() if p.is_dir()):
        target = folder / category
        target.mkdir()
        for path in bbc_articles(category, ARTICLES_PER_CATEGORY):
            shutil.copy(path, target / path.name)
    return folder


def start_run(input_dir: Path, output: Path, env: dict[str, str], task_runner: str = "threads") -> subprocess.Popen:
    return subprocess.Popen(
        [TEXTPIPE, "run", "--input", str(input_dir), "--output", str(output), *RUN_ARGS, "--task-runner", task_runner],
        env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        start_new_session=True,
    )  # fmt: skip


def kill_group(proc: subprocess.Popen) -> bool:
    """SIGKILL the run's whole process group; True if the run was still going."""
    alive = proc.poll() is None
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    proc.communicate()
    deadline = time.monotonic() + 10
    while living := group_members(proc.pid):  # no worker of the group may outlive the kill
        assert time.monotonic() < deadline, f"processes of a killed run are still alive: {living}"
        time.sleep(0.05)
    return alive


def group_members(pgid: int) -> list[int]:
    """Processes of a process group that are not zombies (an orphan's zombie waits for
    whoever is PID 1 here to reap it, and holds nothing)."""
    members = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == pgid and fields[0] != "Z":
            members.append(int(stat.parent.name))
    return members


def run_to_completion(input_dir: Path, output: Path, env: dict[str, str]) -> tuple[subprocess.CompletedProcess, float]:
    started = time.monotonic()
    proc = start_run(input_dir, output, env)
    stdout, stderr = proc.communicate(timeout=600)
    return subprocess.CompletedProcess(proc.args, proc.returncode, stdout, stderr), time.monotonic() - started


def committed_runs(output: Path) -> set[str]:
    runs = output / "runs"
    return {p.stem[len("part-"):] for p in runs.glob("part-*.parquet")} if runs.is_dir() else set()


def writing_now(output: Path, committed: set[str]) -> bool:
    """A Parquet file of an uncommitted run is appearing: the run is in its write step."""
    for folder in ("articles", "sentences", "article_topics", "rejects"):
        path = output / folder
        if path.is_dir():
            for entry in os.scandir(path):
                if entry.name.endswith(".tmp") or (entry.name.startswith("part-") and entry.name[5:-8] not in committed):
                    return True
    return False


def what_was_left(output: Path) -> str:
    if not output.exists():
        return "nothing"
    committed = committed_runs(output)
    if any(p.name.endswith(".tmp") for p in output.rglob("*")):
        return "temporary files"
    if writing_now(output, committed):
        return "uncommitted parts"
    if any(p.is_file() for p in (output / "_staging").rglob("*")):
        return "staging"
    return f"{len(committed)} committed run(s)"


def datasets(output: Path) -> dict[str, pd.DataFrame]:
    """Every dataset, read file by file with pyarrow (each must be readable), sorted."""
    keys = {"articles": ["article_id"], "sentences": ["article_id", "sentence_index"],
            "article_topics": ["article_id", "model_id", "topic_id"], "rejects": ["source", "record", "reason"],
            "topics": ["model_id", "topic_id"], "stories": ["story_id"], "trends": ["model_id", "date", "topic_id", "publisher"],
            "terms": ["date", "term"]}  # fmt: skip
    tables = {}
    for name, key in keys.items():
        files = sorted((output / name).glob("*.parquet"))
        frames = [pq.ParquetFile(path).read().to_pandas() for path in files]
        frame = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=key)
        frame = frame.drop(columns=[c for c in RUN_COLUMNS if c in frame.columns])
        if "article_ids" in frame.columns:
            frame["article_ids"] = frame.article_ids.map(list)
        tables[name] = frame.sort_values(key).reset_index(drop=True)
    return tables


def timed_clean_run(input_dir: Path, output: Path, env: dict[str, str]) -> tuple[float, float, float]:
    """One clean run, watched: seconds until its work starts (staging appears), until
    it commits (its `runs` file appears), and until it exits."""
    started = time.monotonic()
    proc = start_run(input_dir, output, env)
    work = commit = None
    while proc.poll() is None:
        now = time.monotonic() - started
        if work is None and any((output / "_staging").glob("*")):
            work = now
        if commit is None and committed_runs(output):
            commit = now
        time.sleep(0.005)
    stdout, stderr = proc.communicate()
    assert proc.returncode == 0, stderr[-3000:]
    assert work is not None and commit is not None
    print(f"clean run: work from {work:.1f} s, commit at {commit:.1f} s, exit at {time.monotonic() - started:.1f} s: "
          + stdout.strip().splitlines()[-1])  # fmt: skip
    return work, commit, time.monotonic() - started


def finish_and_compare(output: Path, clean_output: Path, input_dir: Path, env: dict[str, str]) -> None:
    final, _ = run_to_completion(input_dir, output, env)
    assert final.returncode == 0, final.stderr[-3000:]
    assert "Traceback" not in final.stdout + final.stderr
    got, want = datasets(output), datasets(clean_output)
    articles = got["articles"]
    assert articles.article_id.is_unique
    assert not got["sentences"].duplicated(["article_id", "sentence_index"]).any()
    assert set(articles.article_id) == set(want["articles"].article_id)
    assert set(got["sentences"].article_id) == set(articles.article_id)
    for name in ("sentences", "articles", "article_topics", "rejects", "topics", "stories", "trends", "terms"):
        pd.testing.assert_frame_equal(got[name], want[name], obj=name)
    for path in output.rglob("*.parquet"):
        pq.ParquetFile(path).read()
    assert not [p for p in output.rglob("*") if p.name.endswith(".tmp")]
    assert not (output / "_staging").exists()
    assert pd.read_parquet(output / "runs").n_new.sum() == len(articles)


def test_repeated_sigkill_then_one_run_equals_a_clean_run(input_dir, server_env, tmp_path):
    clean_output = tmp_path / "clean"
    work, commit, _ = timed_clean_run(input_dir, clean_output, server_env)

    # Most kills fall while the run works (ingest, batches, topics, write), a few
    # during start-up, and some at the moment a Parquet file is being written.
    rng = random.Random(SEED)
    plan = [rng.uniform(work, commit) for _ in range(RANDOM_KILLS - 4)] + [rng.uniform(0, work) for _ in range(4)]
    rng.shuffle(plan)
    plan += [None] * WRITE_PHASE_KILLS
    segment = 0
    output = tmp_path / f"crashed-{segment}"
    left: list[str] = []
    # A run after the clean one can be faster than it (a warm server, no heartbeat
    # wait at the end) and finish before its kill: such a kill is made again,
    # earlier, so that RANDOM_KILLS of them still fall while a run works.
    extra_kills = RANDOM_KILLS
    attempt = 0
    while attempt < len(plan):
        delay = plan[attempt]
        committed = committed_runs(output)
        # Every third run uses worker processes (even for a few files), so the kill also hits a process pool.
        pooled = attempt % 3 == 2
        env = {**server_env, "TEXTPIPE_WORKER_POOL_MIN_BYTES": "0"} if pooled else server_env
        proc = start_run(input_dir, output, env, "processes" if pooled else "threads")
        if delay is None:
            while proc.poll() is None and not writing_now(output, committed):
                time.sleep(0.002)
        else:
            time.sleep(delay)
        killed = kill_group(proc)
        assert killed or proc.returncode == 0, proc.stderr[-3000:]
        left.append(("write phase: " if delay is None else "") + (what_was_left(output) if killed else "finished"))
        if not killed and delay is not None and extra_kills:
            extra_kills -= 1
            plan.append(rng.uniform(work, work + 0.7 * (commit - work)))
        attempt += 1
        if committed_runs(output):
            # The run got to commit before the kill: check this store, go on with a new one.
            finish_and_compare(output, clean_output, input_dir, server_env)
            segment += 1
            output = tmp_path / f"crashed-{segment}"
    print(f"{len(plan)} kills over {segment + 1} store(s); left behind: "
          + ", ".join(f"{what} x{left.count(what)}" for what in sorted(set(left))))  # fmt: skip
    assert sum(1 for what in left if what != "finished") >= RANDOM_KILLS
    assert any(what.startswith("write phase: uncommitted") or what.endswith("temporary files") for what in left)
    finish_and_compare(output, clean_output, input_dir, server_env)
