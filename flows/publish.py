"""Artifacts every run publishes in the Prefect UI: summary, topics, sentiment, output link, and the
report's headline numbers when the run wrote it."""

from __future__ import annotations

from pathlib import Path

import pyarrow.compute as pc
from prefect.artifacts import create_markdown_artifact, create_table_artifact

from textpipe import store
from textpipe.report import WrittenReport, headline_markdown
from textpipe.summary import RunSummary


def run_artifacts(summary: RunSummary, output: Path, written_report: WrittenReport | None = None) -> None:
    create_table_artifact(key="run-summary", table=summary.summary_rows(), description=f"textpipe run {summary.run_id}")
    if summary.topics:
        create_table_artifact(key="topics", table=topic_rows(summary, output), description=f"Topics of model {summary.model_id}")
    create_markdown_artifact(key="sentiment-overview", markdown=sentiment_markdown(summary, output), description="Sentiment of this run's new articles")
    create_markdown_artifact(
        key="output",
        markdown=f"Parquet datasets: `{output.resolve()}` (`articles/`, `sentences/`, `topics/`, `article_topics/`, `rejects/`, `runs/`)\n\n"
        f"```python\nimport pandas as pd\npd.read_parquet('{output.resolve() / 'articles'}')\n```",
        description="Where the output is",
    )
    if written_report is not None:
        create_markdown_artifact(key="report", markdown=headline_markdown(written_report.headline, written_report.path),
                                 description="The store's HTML report: its headline numbers")


def topic_rows(summary: RunSummary, output: Path) -> list[dict]:
    return [
        {"topic_id": r["topic_id"], "label": r["label"], "top_terms": ", ".join(r["top_terms"]), "articles": r["n_articles"], "coherence": round(r["coherence"] or 0.0, 3)}
        for r in store.model_topics(output, summary.model_id or "").to_pylist()
    ]


def sentiment_markdown(summary: RunSummary, output: Path) -> str:
    if summary.n_new == 0:  # spares a rerun reading the whole articles dataset
        return "No new articles in this run."
    table = store.read_dataset(output, "articles", ["run_id", "section", "source_format", "sentiment_label", "sentiment_compound"])
    table = table.filter(pc.equal(table.column("run_id"), summary.run_id))
    if table.num_rows == 0:
        return "No new articles in this run."
    # mode="all": the default count skips nulls, so unscored articles would show as 0
    labels = table.group_by("sentiment_label").aggregate([("sentiment_label", "count", pc.CountOptions(mode="all"))]).to_pylist()
    lines = ["### Articles per sentiment label", "", "| label | articles |", "|---|---|"]
    lines += [f"| {r['sentiment_label'] or 'not scored (not English)'} | {r['sentiment_label_count']} |" for r in labels]
    for key in ("section", "source_format"):
        grouped = table.group_by(key).aggregate([("sentiment_compound", "mean"), ("sentiment_compound", "count")]).sort_by(key).to_pylist()
        lines += ["", f"### Mean compound by {key}", "", f"| {key} | mean compound | scored articles |", "|---|---|---|"]
        lines += [
            f"| {r[key] or '(none)'} | {_number(r['sentiment_compound_mean'])} | {r['sentiment_compound_count']} |"
            for r in grouped
        ]
    return "\n".join(lines)


def _number(value: float | None) -> str:
    return "" if value is None else f"{value:.3f}"
