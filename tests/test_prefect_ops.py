"""textpipe as an operator runs it: against a real `textpipe server`, two runs
at once on one output, refit then run, reruns, and the Dask task runner.

Everything goes through the `textpipe` command in real processes; Prefect's
own client reads back what the server recorded. The tests that need a server
or take long are marked slow and share one server (module fixture).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest

from textpipe import store

from conftest import BBC, RAW
from faults import free_port, prefect_server
from services import poll

TEXTPIPE = str(Path(sys.executable).with_name("textpipe"))
DATASETS = ("articles", "sentences", "topics", "article_topics", "rejects", "runs")
CATEGORIES = ("business", "entertainment", "politics", "sport", "tech")


# ---------------------------------------------------------------- helpers


def bbc_subset(dest: Path, count: int, skip: int = 10) -> list[Path]:
    """Copy `count` BBC articles, round-robin over the categories, from file number `skip` on.

    data/raw/bbc already holds files 001-002; skipping the first ten keeps a
    subset free of copies of those unless a test adds one on purpose.
    """
    dest.mkdir(parents=True, exist_ok=True)
    per_category = {c: sorted((BBC / c).glob("*.txt"))[skip:] for c in CATEGORIES}
    copied = []
    for i in range(count):
        category = CATEGORIES[i % len(CATEGORIES)]
        source = per_category[category][i // len(CATEGORIES)]
        target = dest / f"{category}_{source.name}"
        shutil.copy(source, target)
        copied.append(target)
    return copied


def textpipe(*args: str, env: dict[str, str] | None = None, timeout: float = 900) -> subprocess.CompletedProcess:
    return subprocess.run([TEXTPIPE, *args], check=False, capture_output=True, text=True, env=env, timeout=timeout)


def ok(result: subprocess.CompletedProcess) -> subprocess.CompletedProcess:
    assert result.returncode == 0, f"exit {result.returncode}\nstdout: {result.stdout[-2000:]}\nstderr: {result.stderr[-4000:]}"
    return result


def read(output: Path, name: str) -> pd.DataFrame:
    directory = output / name
    if not directory.is_dir() or not any(directory.glob("*.parquet")):
        return pd.DataFrame()
    return pd.read_parquet(directory)


@dataclass
class Snapshot:
    """The whole store at one moment: every dataset, its files, the model dirs."""

    tables: dict[str, pd.DataFrame]
    files: dict[str, list[str]]
    models: list[str]
    current_model: str | None

    @classmethod
    def of(cls, output: Path) -> Snapshot:
        pointer = output / "models" / "current.json"
        return cls(
            tables={name: read(output, name) for name in DATASETS},
            files={name: sorted(p.name for p in (output / name).glob("*.parquet")) for name in DATASETS},
            models=sorted(p.name for p in (output / "models").iterdir() if p.is_dir()) if (output / "models").is_dir() else [],
            current_model=json.loads(pointer.read_text())["model_id"] if pointer.exists() else None,
        )

    def last_run(self) -> pd.Series:
        return self.tables["runs"].sort_values("finished_at").iloc[-1]


def assert_store_is_sound(output: Path) -> None:
    """Every Parquet file reads whole, and each article is stored once."""
    for path in output.glob("*/*.parquet"):
        pq.read_table(path)
    articles = read(output, "articles")
    assert articles.article_id.is_unique, articles.article_id[articles.article_id.duplicated()].tolist()[:5]
    sentences = read(output, "sentences")
    assert not sentences.duplicated(["article_id", "sentence_index"]).any()
    assert set(sentences.article_id) <= set(articles.article_id)


def in_flow_seconds(run: pd.Series) -> float:
    return (run.finished_at - run.started_at).total_seconds()


def lock_is_open_in(pid: int, lock: Path) -> bool:
    """Whether process `pid` has the output's lock file open (it is waiting for or holding it)."""
    try:
        fds = os.listdir(f"/proc/{pid}/fd")
    except OSError:
        return False
    for fd in fds:
        try:
            if os.readlink(f"/proc/{pid}/fd/{fd}") == str(lock):
                return True
        except OSError:
            continue
    return False


# ---------------------------------------------------------------- the server


@dataclass
class Server:
    api: str
    env: dict[str, str]

    def client(self):  # type: ignore[no-untyped-def]
        from prefect.client.orchestration import get_client
        from prefect.settings import PREFECT_API_URL, temporary_settings

        with temporary_settings(updates={PREFECT_API_URL: self.api}):
            return get_client(sync_client=True)


def _stop(process: subprocess.Popen) -> None:
    # The server is its own process group (start_new_session): SIGTERM it, then
    # SIGKILL whatever of the group is left, so no uvicorn outlives the tests.
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    with prefect_server(tmp_path_factory.mktemp("prefect-server") / "home") as server_env:
        env = {k: v for k, v in os.environ.items() if k != "PREFECT_API_URL"} | server_env
        yield Server(server_env["PREFECT_API_URL"], env)


@pytest.mark.slow
def test_the_server_deletes_finished_runs_past_prefects_retention(server):
    """An hourly schedule must not grow Prefect's database for ever: the server runs
    Prefect's vacuum for old flow runs, not only for old events."""
    import urllib.request

    with urllib.request.urlopen(f"{server.api}/admin/settings", timeout=10) as response:
        vacuum = json.load(response)["server"]["services"]["db_vacuum"]
    assert {"events", "flow_runs"} <= set(vacuum["enabled"])


# ---------------------------------------------------------------- 1. a run seen by a real server


@pytest.fixture(scope="module")
def served_run(server, tmp_path_factory):
    root = tmp_path_factory.mktemp("served")
    input_dir = root / "input"
    shutil.copytree(RAW, input_dir)
    bbc_subset(input_dir / "more", 6)
    # One duplicate and one broken record, so every counter has something to count.
    shutil.copy(RAW / "bbc" / "business_001.txt", input_dir / "more" / "copy.txt")
    (input_dir / "more" / "broken.jsonl").write_text('{"title": "Fine", "text": "A fine record with enough words in it to keep."}\n{"title": oops\n', encoding="utf-8")
    output = root / "output"
    result = ok(textpipe("run", "--input", str(input_dir), "--output", str(output), env=server.env))
    run = Snapshot.of(output).last_run()
    with server.client() as client:
        return output, run, _flow_run_of(client, run.run_id), result


def recorded_task_runs(client, flow_run_id, timeout: float = 30):  # type: ignore[no-untyped-def]
    """The task runs of a finished flow run once the server has recorded them all: `textpipe
    server` writes task-run events in batches, at least every second (textpipe.server)."""
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId

    def read():  # type: ignore[no-untyped-def]
        return client.read_task_runs(flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[flow_run_id])))

    # A task run shows once its first event is written and is final once its last one is;
    # a second read, a flush interval later, shows that none was still on its way.
    def settled():  # type: ignore[no-untyped-def]
        first = read()
        if not first or not all(t.state and t.state.is_final() for t in first):
            return None
        time.sleep(1.5)
        second = read()
        return second if len(second) == len(first) and all(t.state.is_final() for t in second) else None

    return poll(settled, timeout, "the server to record the run's task runs")


def _flow_run_of(client, run_id: str):  # type: ignore[no-untyped-def]
    """The `textpipe-run` flow run that wrote the `runs` row `run_id`."""
    from prefect.client.schemas.filters import FlowFilter, FlowFilterName

    flow_runs = client.read_flow_runs(flow_filter=FlowFilter(name=FlowFilterName(any_=["textpipe-run"])))
    # run_id ends with the first 8 hex digits of the Prefect flow run id.
    matching = [r for r in flow_runs if r.id.hex[:8] == run_id.rsplit("-", 1)[-1]]
    assert len(matching) == 1, (run_id, [str(r.id) for r in flow_runs])
    return matching[0]


def _artifacts_of(client, flow_run) -> dict:  # type: ignore[no-untyped-def]
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterFlowRunId

    artifacts = client.read_artifacts(artifact_filter=ArtifactFilter(flow_run_id=ArtifactFilterFlowRunId(any_=[flow_run.id])))
    return {a.key: a for a in artifacts}


@pytest.mark.slow
def test_served_run_completes_in_the_server(served_run):
    _, run, flow_run, result = served_run
    assert flow_run.state.is_completed(), flow_run.state
    assert flow_run.parameters["input_dir"].endswith("input")
    assert result.stdout.strip().splitlines()[-1].startswith(f"textpipe: {run.n_articles_seen} articles in")


@pytest.mark.slow
def test_served_run_shows_every_stage_as_a_task_run(served_run, server):
    _, _, flow_run, _ = served_run
    with server.client() as client:
        task_runs = recorded_task_runs(client, flow_run.id)
    names = [t.name for t in task_runs]
    for stage in ("discover", "ingest-tokenize [files 1/1]", "sentiment [batch 1/", "topics", "write"):
        assert any(name.startswith(stage) for name in names), (stage, names)
    assert all(t.state.is_completed() for t in task_runs), [(t.name, t.state.name) for t in task_runs]


@pytest.mark.slow
def test_the_flow_run_carries_the_textpipe_tag_and_its_task_runs_none(served_run, server):
    # A tagged task run asks the server for tag concurrency slots before it
    # starts: at 20,000 articles that stalled whole batches for seconds.
    from textpipe_flows.pipeline import RUN_TAG

    _, _, flow_run, _ = served_run
    with server.client() as client:
        task_runs = recorded_task_runs(client, flow_run.id)
    assert RUN_TAG in flow_run.tags
    assert task_runs and all(not t.tags for t in task_runs), [(t.name, t.tags) for t in task_runs]


@pytest.fixture(scope="module")
def served_artifacts(served_run, server):
    _, _, flow_run, _ = served_run
    with server.client() as client:
        return _artifacts_of(client, flow_run)


def _table(artifact) -> list[dict]:  # type: ignore[no-untyped-def]
    return json.loads(artifact.data) if isinstance(artifact.data, str) else artifact.data


@pytest.mark.slow
def test_run_summary_artifact_equals_the_runs_dataset(served_run, served_artifacts):
    _, run, _, _ = served_run
    rows = {r["metric"]: r["value"] for r in _table(served_artifacts["run-summary"])}
    assert rows["articles seen"] == run.n_articles_seen
    assert rows["new articles written"] == run.n_new
    assert rows["duplicates"] == run.n_duplicates
    assert rows["rejected"] == run.n_rejected
    assert rows["files read"] == run.n_files
    assert [v for k, v in rows.items() if k.startswith("files unchanged")] == [run.n_unchanged_files]
    by_reason = {k.removeprefix("rejected: "): v for k, v in rows.items() if k.startswith("rejected: ")}
    assert sum(by_reason.values()) == run.n_rejected and by_reason.get("parse_error", 0) >= 1
    assert run.n_duplicates >= 1 and run.n_new == run.n_articles_seen - run.n_duplicates


@pytest.mark.slow
def test_topics_sentiment_and_output_artifacts(served_run, served_artifacts):
    output, run, _, _ = served_run
    assert {"run-summary", "topics", "sentiment-overview", "output"} <= set(served_artifacts)
    topics = _table(served_artifacts["topics"])
    assert len(topics) == run.n_topics
    assert sum(t["articles"] for t in topics) == read(output, "articles").topic_id.notna().sum()
    overview = served_artifacts["sentiment-overview"].data
    label_rows = overview.split("### Articles per sentiment label")[1].split("###")[0]
    counts = [int(line.rsplit("|", 2)[1]) for line in label_rows.splitlines() if line.startswith("| ") and not line.startswith("| label")]
    assert sum(counts) == run.n_new  # every new article is in exactly one label row, unscored ones included
    assert str(output.resolve()) in served_artifacts["output"].data


@pytest.mark.slow
def test_the_progress_artifact_of_a_run_with_work_ends_at_100(served_artifacts):
    progress = served_artifacts["textpipe-progress"]
    assert progress.type == "progress" and float(progress.data) == 100.0


# ---------------------------------------------------------------- 2. two runs on one output


@pytest.fixture
def small_input(tmp_path):
    bbc_subset(tmp_path / "input", 5, skip=40)
    return tmp_path / "input", tmp_path / "output"


def test_run_refuses_an_output_another_run_is_writing(small_input):
    input_dir, output = small_input
    output.mkdir()
    with store.OutputLock(output):
        result = textpipe("run", "--input", str(input_dir), "--output", str(output))
    assert result.returncode == 1, result.stderr
    lines = [line for line in result.stderr.splitlines() if "another textpipe run" in line]
    assert lines == result.stderr.strip().splitlines(), result.stderr  # that one line and nothing else
    assert len(lines) == 1 and str(output) in lines[0] and "--wait-lock" in lines[0]
    assert not (output / "runs").exists() and not (output / "articles").exists()


def test_wait_lock_waits_for_the_other_run_then_writes(small_input):
    input_dir, output = small_input
    output.mkdir()
    lock = output / ".textpipe.lock"
    held = 3.0
    with store.OutputLock(output):
        process = subprocess.Popen([TEXTPIPE, "run", "--input", str(input_dir), "--output", str(output), "--wait-lock", "300"],
                                   stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        deadline = time.monotonic() + 180
        while not lock_is_open_in(process.pid, lock):
            assert process.poll() is None, process.communicate()
            assert time.monotonic() < deadline, "the run never reached the lock"
            time.sleep(0.2)
        time.sleep(held)
    _, stderr = process.communicate(timeout=600)
    assert process.returncode == 0, stderr[-3000:]
    run = Snapshot.of(output).last_run()
    assert run.n_articles_seen == 5 and run.n_new == len(read(output, "articles")) > 0
    # started_at is taken before the lock: a run that really waited took at least `held` s.
    assert in_flow_seconds(run) >= held
    assert_store_is_sound(output)


def _race(input_dir: Path, output: Path, env: dict[str, str], *extra: str) -> list[subprocess.CompletedProcess]:
    command = [TEXTPIPE, "run", "--input", str(input_dir), "--output", str(output), *extra]
    processes = [subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env) for _ in range(2)]
    results = []
    for process in processes:
        stdout, stderr = process.communicate(timeout=900)
        results.append(subprocess.CompletedProcess(command, process.returncode, stdout, stderr))
    return results


@pytest.mark.slow
def test_two_runs_started_together_without_waiting(server, tmp_path):
    input_dir = tmp_path / "input"
    bbc_subset(input_dir, 30, skip=60)
    output = tmp_path / "output"
    results = _race(input_dir, output, server.env)
    codes = sorted(r.returncode for r in results)
    runs = read(output, "runs")
    if codes == [0, 1]:
        loser = next(r for r in results if r.returncode == 1)
        assert len([line for line in loser.stderr.splitlines() if "another textpipe run" in line]) == 1, loser.stderr
        assert len(runs) == 1
    else:  # the first finished before the second reached the lock
        assert codes == [0, 0], [r.stderr[-2000:] for r in results]
        assert min(runs.n_new) == 0
    assert_store_is_sound(output)
    assert runs.n_new.sum() == len(read(output, "articles")) > 0
    assert runs.sort_values("finished_at").n_articles_seen.iloc[0] == 30


@pytest.mark.slow
def test_two_runs_started_together_with_wait_lock(server, tmp_path):
    input_dir = tmp_path / "input"
    bbc_subset(input_dir, 30, skip=60)
    output = tmp_path / "output"
    results = _race(input_dir, output, server.env, "--wait-lock", "300")
    assert [r.returncode for r in results] == [0, 0], [r.stderr[-2000:] for r in results]
    runs = read(output, "runs")
    assert len(runs) == 2 and min(runs.n_new) == 0
    assert_store_is_sound(output)
    assert runs.n_new.sum() == len(read(output, "articles")) > 0


# ---------------------------------------------------------------- 3. rerun, refit, then run again


@pytest.fixture(scope="module")
def history(server, tmp_path_factory):
    """A store after each step: first run (200 articles), rerun, refit to 5 topics, run with 20 more."""
    root = tmp_path_factory.mktemp("history")
    input_dir, output = root / "input", root / "output"
    bbc_subset(input_dir, 200)
    common = ("--input", str(input_dir), "--output", str(output))
    steps: dict[str, tuple[subprocess.CompletedProcess, Snapshot]] = {}
    steps["first"] = (ok(textpipe("run", *common, env=server.env)), Snapshot.of(output))
    steps["rerun"] = (ok(textpipe("run", *common, env=server.env)), Snapshot.of(output))
    steps["refit"] = (textpipe("refit", "--output", str(output), "--topics", "5", env=server.env), Snapshot.of(output))
    before = {p.name for p in input_dir.iterdir()}
    added = [p for p in bbc_subset(root / "more", 220) if p.name not in before]
    for path in added[:20]:
        shutil.copy(path, input_dir / path.name)
    steps["more"] = (textpipe("run", *common, env=server.env), Snapshot.of(output))
    return output, steps


@pytest.mark.slow
def test_rerun_over_unchanged_input_adds_nothing(history):
    _, steps = history
    first, rerun = steps["first"][1], steps["rerun"][1]
    for name in DATASETS:
        if name == "runs":
            continue
        assert len(rerun.tables[name]) == len(first.tables[name]), name
        assert rerun.files[name] == first.files[name], name  # not even an empty part file
    assert set(rerun.tables["articles"].article_id) == set(first.tables["articles"].article_id)
    assert rerun.models == first.models
    assert len(rerun.tables["runs"]) == len(first.tables["runs"]) + 1
    row, first_row = rerun.last_run(), first.last_run()
    assert first_row.n_articles_seen == 200 and first_row.n_unchanged_files == 0
    # Files a committed run read are recognised by path, size and mtime and not read again.
    assert row.n_new == 0 and row.n_articles_seen == 0 and row.n_unchanged_files == first_row.n_files == 200


@pytest.mark.slow
def test_a_rerun_with_nothing_to_read_reports_without_a_progress_bar(history, server):
    _, steps = history
    with server.client() as client:
        keys = set(_artifacts_of(client, _flow_run_of(client, steps["rerun"][1].last_run().run_id)))
    assert {"run-summary", "topics", "sentiment-overview", "output"} <= keys
    assert "textpipe-progress" not in keys  # over in a fraction of a second: nothing to follow


@pytest.mark.slow
def test_rerun_is_faster_than_the_first_run(history):
    _, steps = history
    first, rerun = steps["first"][1].last_run(), steps["rerun"][1].last_run()
    assert in_flow_seconds(rerun) <= in_flow_seconds(first), (first.stage_seconds, rerun.stage_seconds)


@pytest.mark.slow
def test_refit_reassigns_every_article_to_the_new_model(history):
    _, steps = history
    result, refit = steps["refit"]
    ok(result)
    first = steps["rerun"][1]
    new_model = refit.current_model
    assert new_model and new_model != first.current_model
    assert new_model in refit.models and first.current_model in refit.models
    articles = refit.tables["articles"]
    assert len(articles) == len(first.tables["articles"]) and articles.article_id.is_unique
    with_topic = articles[articles.topic_id.notna()]
    assert len(with_topic) >= 0.9 * len(articles)
    assert set(with_topic.model_id) == {new_model}
    assert first.current_model not in set(articles.model_id.dropna())
    topics = refit.tables["topics"]
    new_topics = topics[topics.model_id == new_model]
    assert sorted(new_topics.topic_id) == list(range(5))
    assert set(with_topic.topic_id.astype(int)) <= set(new_topics.topic_id)
    counts = with_topic.topic_id.value_counts()
    assert {int(k): int(v) for k, v in counts.items()} == {int(r.topic_id): int(r.n_articles) for r in new_topics.itertuples() if r.n_articles}


@pytest.mark.slow
def test_refit_adds_article_topics_and_a_runs_row(history):
    _, steps = history
    refit = steps["refit"][1]
    first = steps["rerun"][1]
    new_model = refit.current_model
    mixes = refit.tables["article_topics"]
    articles = refit.tables["articles"]
    assert set(mixes[mixes.model_id == new_model].article_id) == set(articles[articles.topic_id.notna()].article_id)
    # The old model's mixes stay: article_topics keeps one set of rows per model.
    assert (mixes.model_id == first.current_model).sum() == len(first.tables["article_topics"])
    row = refit.last_run()
    assert row.flow == "refit-topics" and row.model_id == new_model and row.n_topics == 5
    assert refit.tables["sentences"].shape == first.tables["sentences"].shape
    assert refit.tables["articles"].article_id.is_unique


@pytest.mark.slow
def test_run_after_refit_uses_the_refitted_model(history):
    output, steps = history
    result, more = steps["more"]
    ok(result)
    refit = steps["refit"][1]
    assert more.models == refit.models  # transform only: no model fitted
    assert more.current_model == refit.current_model
    row = more.last_run()
    assert row.model_id == refit.current_model
    assert row.n_articles_seen == 20 and row.n_unchanged_files == 200  # only the new files were read
    new = more.tables["articles"][more.tables["articles"].run_id == row.run_id]
    assert len(new) == row.n_new and row.n_new >= 15
    assert set(new.model_id.dropna()) == {refit.current_model}
    mixes = more.tables["article_topics"]
    assert set(new[new.topic_id.notna()].article_id) <= set(mixes[mixes.model_id == refit.current_model].article_id)
    assert_store_is_sound(output)


# ---------------------------------------------------------------- 4. Dask and threads give the same data as the default


@pytest.mark.slow
def test_dask_and_threads_runners_write_the_same_data_as_the_default(server, tmp_path):
    input_dir = tmp_path / "input"
    shutil.copytree(RAW, input_dir)
    bbc_subset(input_dir / "bbc-more", 100, skip=100)
    outputs = {runner: tmp_path / runner for runner in ("default", "threads", "dask")}
    # A small batch size so Dask gets several batches to spread over its workers.
    common = ("--input", str(input_dir), "--batch-size", "40")
    ok(textpipe("run", *common, "--output", str(outputs["default"]), env=server.env))
    ok(textpipe("run", *common, "--output", str(outputs["threads"]), "--task-runner", "threads", env=server.env))
    # Dask in local mode (no PREFECT_API_URL), the way `textpipe run --task-runner dask` is
    # used most: the workers must report to the run's temporary server.
    local = {k: v for k, v in os.environ.items() if k != "PREFECT_API_URL"}
    ok(textpipe("run", *common, "--output", str(outputs["dask"]), "--task-runner", "dask", "--workers", "2", env=local))
    snapshots = {runner: Snapshot.of(output) for runner, output in outputs.items()}
    assert snapshots["default"].last_run().n_new > 100
    for other in ("threads", "dask"):
        assert_same_rows(snapshots["default"], snapshots[other], f"default against {other}")
    parameters = {runner: json.loads(snapshot.last_run().parameters)["task_runner"] for runner, snapshot in snapshots.items()}
    assert parameters == {"default": "processes", "threads": "threads", "dask": "dask"}


def assert_same_rows(a: Snapshot, b: Snapshot, what: str) -> None:
    """Both stores hold the same rows (in any order), apart from what differs from run to run (ids, timestamps)."""
    keys = {"articles": ["article_id"], "sentences": ["article_id", "sentence_index"], "topics": ["model_id", "topic_id"],
            "article_topics": ["article_id", "model_id", "topic_id"], "rejects": ["source", "record"]}
    for name, key in keys.items():
        left, right = a.tables[name], b.tables[name]
        if left.empty and right.empty:
            continue
        drop = [c for c in ("run_id", "ingested_at", "rejected_at") if c in left.columns]
        left = left.drop(columns=drop).sort_values(key).reset_index(drop=True)
        right = right.drop(columns=drop).sort_values(key).reset_index(drop=True)
        pd.testing.assert_frame_equal(left, right, obj=f"{name}: {what}")


def test_dask_workers_report_to_the_api_of_the_run():
    from prefect.settings import PREFECT_API_URL, temporary_settings

    from textpipe.config import Settings
    from textpipe_flows.runners import make_task_runner

    api = f"http://127.0.0.1:{free_port()}/api"
    with temporary_settings(updates={PREFECT_API_URL: api}):
        runner = make_task_runner(Settings(task_runner="dask", workers=3))
    assert runner.cluster_kwargs["n_workers"] == 3
    assert runner.cluster_kwargs["env"] == {"PREFECT_API_URL": api}


# ---------------------------------------------------------------- 5. the scheduled deployments, served


@pytest.mark.slow
def test_serve_registers_both_schedules_runs_a_triggered_run_and_pauses_on_stop(server, tmp_path):
    input_dir, output = tmp_path / "input", tmp_path / "output"
    bbc_subset(input_dir, 8, skip=300)
    log = (tmp_path / "serve.log").open("w")
    # Worker processes even for these few files: a scheduled run starts its pool inside the
    # process Prefect's runner starts for it, and that path must work too.
    env = server.env | {"TEXTPIPE_WORKER_POOL_MIN_BYTES": "0"}
    serving = subprocess.Popen([TEXTPIPE, "serve", "--input", str(input_dir), "--output", str(output), "--workers", "1"],
                               env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        with server.client() as client:
            def served():
                assert serving.poll() is None, (tmp_path / "serve.log").read_text()[-3000:]
                found = {f"{client.read_flow(d.flow_id).name}/{d.name}": d for d in client.read_deployments()}
                return found if len(found) == 2 else None

            deployments = poll(served, 120, "textpipe serve to register its deployments")
            hourly, refit = deployments["textpipe-run/hourly"], deployments["refit-topics/weekly-refit"]
            assert [s.schedule.cron for s in hourly.schedules] == ["0 * * * *"] and not hourly.paused
            assert [s.schedule.cron for s in refit.schedules] == ["0 3 * * 0"] and not refit.paused
            assert hourly.parameters["input_dir"] == str(input_dir.resolve()) and hourly.parameters["workers"] == 1
            from textpipe_flows.serve import UNRESPONSIVE_RUNS_AUTOMATION

            assert len(client.read_automations_by_name(UNRESPONSIVE_RUNS_AUTOMATION)) == 1

            flow_run = client.create_flow_run_from_deployment(hourly.id, parameters={"topics": 3})
            final = poll(lambda: (r := client.read_flow_run(flow_run.id)).state.is_final() and r, 300, "the triggered run")
            assert final.state.is_completed(), (final.state, (tmp_path / "serve.log").read_text()[-3000:])
            run = Snapshot.of(output).last_run()
            assert run.run_id.endswith(flow_run.id.hex[:8]) and run.n_new == len(read(output, "articles")) > 0
            assert run.n_topics == 3
            from prefect.client.schemas.filters import LogFilter, LogFilterFlowRunId

            logs = [log.message for log in client.read_logs(LogFilter(flow_run_id=LogFilterFlowRunId(any_=[flow_run.id])))]
            assert any("stages run in 1 worker process" in message for message in logs), logs

            serving.send_signal(signal.SIGTERM)
            serving.wait(timeout=60)
            # Stopping `serve` pauses both deployments: no schedule fires with nobody to run it.
            assert all(client.read_deployment(d.id).paused for d in (hourly, refit))
    finally:
        _stop(serving)
        log.close()


@pytest.mark.slow
def test_a_killed_run_is_marked_crashed_once_its_heartbeats_stop(server, tmp_path):
    """The automation `textpipe serve` keeps: a run whose process died turns Crashed, not Running for ever.

    Two runs: one killed mid-flow, and one whose process died after it turned
    Running but before its first heartbeat reached the server (a Running run
    with no process behind it), which only the Running event can catch.
    """
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterTags
    from prefect.settings import PREFECT_API_URL, PREFECT_FLOWS_HEARTBEAT_FREQUENCY, temporary_settings
    from prefect.states import Running

    from textpipe_flows.pipeline import RUN_TAG, textpipe_run
    from textpipe_flows.serve import MISSED_HEARTBEATS, keep_unresponsive_runs_automation

    heartbeat_seconds = 30  # Prefect's shortest interval
    with temporary_settings(updates={PREFECT_API_URL: server.api, PREFECT_FLOWS_HEARTBEAT_FREQUENCY: heartbeat_seconds}):
        assert keep_unresponsive_runs_automation() is not None
    input_dir = tmp_path / "input"
    bbc_subset(input_dir, 1800)  # ~10 s of work: still running when it is killed
    env = server.env | {"PREFECT_FLOWS_HEARTBEAT_FREQUENCY": str(heartbeat_seconds)}
    running = subprocess.Popen([TEXTPIPE, "run", "--input", str(input_dir), "--output", str(tmp_path / "output"), "--batch-size", "100"],
                               env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        with server.client() as client:
            silent = client.create_flow_run(textpipe_run, parameters={"input_dir": "never-read"}, tags=[RUN_TAG])
            assert client.set_flow_run_state(silent.id, Running()).state.is_running()

            def started():
                assert running.poll() is None, "the run ended before it could be killed"
                runs = [r for r in client.read_flow_runs(flow_run_filter=FlowRunFilter(tags=FlowRunFilterTags(all_=[RUN_TAG])))
                        if r.state and r.state.is_running() and r.parameters.get("input_dir") == str(input_dir)]
                return runs[0] if runs else None

            killed = poll(started, 120, "the run to start")
            os.killpg(running.pid, signal.SIGKILL)
            killed_at = time.monotonic()
            for flow_run in (killed, silent):
                crashed = poll(lambda: (r := client.read_flow_run(flow_run.id)).state.is_final() and r,
                                MISSED_HEARTBEATS * heartbeat_seconds + 120, f"the automation to mark {flow_run.name}")
                assert crashed.state.is_crashed(), crashed.state
                assert "heartbeat" in (crashed.state.message or "")
        # Not before the heartbeats were due: a healthy run is never crashed early.
        assert time.monotonic() - killed_at >= heartbeat_seconds
    finally:
        _stop(running)
