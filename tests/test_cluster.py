"""What a Dask worker checks before a run's tasks reach it (`textpipe.cluster`).
The check on a real cluster, with a worker that cannot see the output: tests/test_dask_cluster.py."""

from __future__ import annotations

from textpipe.cluster import folder_problem


def test_a_machine_that_sees_every_folder_has_no_problem(tmp_path):
    (tmp_path / "in").mkdir()
    (tmp_path / "out" / "_staging" / "run").mkdir(parents=True)
    assert folder_problem(tmp_path / "in", tmp_path / "out", tmp_path / "out" / "_staging" / "run") is None
    assert not list((tmp_path / "out").rglob(".worker-check-*"))


def test_each_missing_folder_is_named(tmp_path):
    (tmp_path / "in").mkdir()
    (tmp_path / "out").mkdir()  # a worker's own empty folder at the output's path: no staging inside
    staging = tmp_path / "out" / "_staging" / "run"
    assert folder_problem(tmp_path / "in", tmp_path / "out", staging) == f"cannot see the staging folder {staging}"
    assert folder_problem(tmp_path / "missing", tmp_path / "out", staging) == f"cannot see the input folder {tmp_path / 'missing'}"
    assert folder_problem(tmp_path / "in", tmp_path / "nowhere", staging) == f"cannot see the output folder {tmp_path / 'nowhere'}"


def test_an_api_that_does_not_answer_is_named(tmp_path):
    from faults import free_port

    from textpipe.cluster import api_problem, worker_problem

    api = f"http://127.0.0.1:{free_port()}/api"
    problem = api_problem(api, timeout=2)
    assert problem is not None and problem.startswith(f"cannot reach Prefect's API at {api} (")
    (tmp_path / "in").mkdir()
    (tmp_path / "out" / "run").mkdir(parents=True)
    assert worker_problem(tmp_path / "in", tmp_path / "out", tmp_path / "out" / "run", api) == problem
