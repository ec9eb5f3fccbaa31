"""How the fetch and processing schedules relate, against a real Prefect server:
`textpipe serve` with a sources file registers the fetch deployment beside
processing and refit; a fetch run that brought new files starts a run of the
processing deployment (its child in the UI), which turns the pages into articles;
a fetch with nothing new starts none. The fetch run's artifact is checked too.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from faults import prefect_server
from fetch_site import NewsSite, bbc_stories, rss_item, running, wait_until, write_sources

TEXTPIPE = str(Path(sys.executable).with_name("textpipe"))
pytestmark = pytest.mark.slow


def test_serve_fetches_then_processes_what_the_fetch_brought(tmp_path):
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterFlowRunId, DeploymentFilter, DeploymentFilterId
    from prefect.settings import PREFECT_API_URL, temporary_settings

    stories = bbc_stories(5, skip=300)
    with prefect_server(tmp_path / "prefect-home") as server_env, running(NewsSite()) as site:
        site.add_robots("User-agent: *\n")
        site.add_pages(stories, with_date=False)
        site.add_feed("/feeds/all.xml", "Served News", [rss_item(site.base, s) for s in stories])
        sources = write_sources(tmp_path / "sources.toml", "served", [site.url("/feeds/all.xml")])
        raw, output = tmp_path / "raw", tmp_path / "processed"
        raw.mkdir()
        env = {k: v for k, v in os.environ.items() if k != "PREFECT_API_URL"} | server_env
        log = (tmp_path / "serve.log").open("w")
        # The processing schedule itself set far away: any processing run seen here was started by a fetch.
        serving = subprocess.Popen([TEXTPIPE, "serve", "--input", str(raw), "--output", str(output), "--sources", str(sources),
                                    "--workers", "1", "--cron", "0 0 1 1 *"], env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        try:
            with temporary_settings(updates={PREFECT_API_URL: server_env["PREFECT_API_URL"]}), get_client(sync_client=True) as client:
                def registered():
                    assert serving.poll() is None, (tmp_path / "serve.log").read_text()[-3000:]
                    found = {f"{client.read_flow(d.flow_id).name}/{d.name}": d for d in client.read_deployments()}
                    return found if len(found) == 3 else None

                deployments = wait_until(registered, 120, "serve to register its deployments", pause=1)
                fetch, hourly = deployments["textpipe-fetch/scheduled"], deployments["textpipe-run/hourly"]
                assert [s.schedule.cron for s in fetch.schedules] == ["*/15 * * * *"]

                def started_by_a_fetch():  # type: ignore[no-untyped-def]
                    # Not the far-away schedule's future runs: those the fetch started, as its children.
                    runs = client.read_flow_runs(deployment_filter=DeploymentFilter(id=DeploymentFilterId(any_=[hourly.id])))
                    return [r for r in runs if r.parent_task_run_id is not None]

                def finished(flow_run_id):  # type: ignore[no-untyped-def]
                    return wait_until(lambda: (r := client.read_flow_run(flow_run_id)).state.is_final() and r, 300, "a run to finish", pause=1)

                first = finished(client.create_flow_run_from_deployment(fetch.id).id)
                assert first.state.is_completed(), first.state
                processing = wait_until(started_by_a_fetch, 120, "the processing run the fetch starts", pause=1)
                assert len(processing) == 1 and processing[0].parameters["wait_lock_seconds"] == 1800
                done = finished(processing[0].id)
                assert done.state.is_completed(), (done.state, (tmp_path / "serve.log").read_text()[-3000:])

                artifacts = client.read_artifacts(artifact_filter=ArtifactFilter(flow_run_id=ArtifactFilterFlowRunId(any_=[first.id])))
                (summary,) = [a for a in artifacts if a.key == "fetch-summary"]
                table = json.loads(summary.data) if isinstance(summary.data, str) else summary.data
                assert table == [{"source": "served", "entries seen": 5, "new pages": 5, "from feed text": 0, "already fetched": 0,
                                  "not modified": 0, "skipped by robots.txt": 0, "duplicates": 0, "left for later": 0, "errors": "none"}]

                # Nothing new: a 304, and no processing run.
                second = finished(client.create_flow_run_from_deployment(fetch.id).id)
                assert second.state.is_completed()
                time.sleep(12)  # longer than the runner's poll: a run started now would show
                assert len(started_by_a_fetch()) == 1
        finally:
            serving.send_signal(signal.SIGTERM)
            try:
                serving.wait(timeout=60)
            except subprocess.TimeoutExpired:
                os.killpg(serving.pid, signal.SIGKILL)
            log.close()
    articles = pd.read_parquet(output / "articles")
    assert sorted(articles.url) == sorted(site.url(s.path) for s in stories)
    assert set(articles.published_at) == {pd.Timestamp(s.published) for s in stories}  # from the feed: the pages carry no date
