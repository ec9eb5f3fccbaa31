"""What a run did, in one record: the `runs` row, the terminal summary, and the
rows of the run-summary artifact all come from `RunSummary`."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from textpipe import __version__, store
from textpipe.config import Settings

if TYPE_CHECKING:
    from textpipe.pipeline import IngestCounts, TopicsResult


@dataclass(frozen=True)
class RunSummary:
    run_id: str
    flow: str
    started_at: datetime
    finished_at: datetime
    input_dir: str
    output_dir: str
    n_files: int
    n_unchanged_files: int
    n_skipped_files: int
    skipped_by_extension: dict[str, int]
    n_articles_seen: int
    n_new: int
    n_duplicates: int
    n_rejected: int
    rejected_by_reason: dict[str, int]
    n_topics: int
    model_id: str | None
    model_fitted: bool
    topics: list[dict[str, Any]]
    stage_seconds: dict[str, float]
    parameters: dict[str, Any]
    failures: list[str] = field(default_factory=list)
    n_dates_not_read: int = 0
    report: str | None = None  # the store's HTML report, once written and current

    @classmethod
    def build(
        cls,
        *,
        run_id: str,
        settings: Settings,
        counts: IngestCounts,
        skipped: dict[str, int],
        written: dict[str, int],
        topics: TopicsResult | None,
        stage_seconds: dict[str, float],
        started_at: datetime,
        failures: list[str],
        flow: str = "textpipe-run",
        n_unchanged_files: int = 0,
    ) -> RunSummary:
        cross_batch = written.get("duplicates_across_batches", 0)
        return cls(
            run_id=run_id,
            flow=flow,
            started_at=started_at,
            finished_at=datetime.now(UTC),
            input_dir=str(settings.input_dir),
            output_dir=str(settings.output_dir.resolve()),
            n_files=counts.files,
            n_unchanged_files=n_unchanged_files,
            n_skipped_files=sum(skipped.values()),
            skipped_by_extension=dict(sorted(skipped.items())),
            n_articles_seen=counts.articles_seen,
            n_new=written.get("articles", 0),
            n_duplicates=counts.duplicates + cross_batch,
            n_rejected=counts.rejected,
            rejected_by_reason=dict(sorted(counts.rejected_by_reason.items())),
            n_topics=len(topics.topics) if topics else 0,
            model_id=topics.model_id if topics and topics.model_id else None,
            model_fitted=bool(topics and topics.fitted),
            topics=topics.topics if topics else [],
            stage_seconds={k: round(v, 3) for k, v in stage_seconds.items()},
            parameters=settings.model_dump(mode="json"),
            failures=failures,
            n_dates_not_read=counts.dates_not_read,
        )

    def runs_row(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id, "flow": self.flow, "started_at": self.started_at, "finished_at": self.finished_at,
            "n_files": self.n_files, "n_unchanged_files": self.n_unchanged_files, "n_skipped_files": self.n_skipped_files, "n_articles_seen": self.n_articles_seen,
            "n_new": self.n_new, "n_duplicates": self.n_duplicates, "n_rejected": self.n_rejected,
            "n_topics": self.n_topics, "model_id": self.model_id, "textpipe_version": __version__,
            "parameters": store.to_json(self.parameters), "stage_seconds": store.to_json(self.stage_seconds),
        }

    def summary_rows(self) -> list[dict[str, Any]]:
        """Rows (metric, value) for the run-summary table artifact."""
        rows: list[dict[str, Any]] = [
            {"metric": "articles seen", "value": self.n_articles_seen},
            {"metric": "new articles written", "value": self.n_new},
            {"metric": "duplicates", "value": self.n_duplicates},
            {"metric": "files read", "value": self.n_files},
            {"metric": "files unchanged since an earlier run (not read)", "value": self.n_unchanged_files},
            {"metric": "files skipped (other extensions)", "value": self.n_skipped_files},
        ]
        rows += [{"metric": f"files skipped: {extension}", "value": n} for extension, n in self.skipped_by_extension.items()]
        rows.append({"metric": "new articles with a date not read (extra.published_at_raw)", "value": self.n_dates_not_read})
        rows.append({"metric": "rejected", "value": self.n_rejected})
        rows += [{"metric": f"rejected: {reason}", "value": n} for reason, n in self.rejected_by_reason.items()]
        rows += [{"metric": f"seconds: {stage}", "value": s} for stage, s in self.stage_seconds.items()]
        rows.append({"metric": "topic model", "value": f"{self.model_id} ({'fitted' if self.model_fitted else 'reused'}, {self.n_topics} topics)"})
        rows.append({"metric": "output", "value": self.output_dir})
        return rows

    def one_line(self) -> str:
        rejected = f"{self.n_rejected} rejected" + (f" ({_counts(self.rejected_by_reason)})" if self.rejected_by_reason else "")
        seconds = (self.finished_at - self.started_at).total_seconds()
        if self.flow == "refit-topics":
            return (
                f"textpipe refit: {self.n_articles_seen} stored articles reassigned to {self.n_topics} topics "
                f"(model {self.model_id}); {self._where()} [{seconds:.1f} s]"
            )
        unchanged = f" ({self.n_unchanged_files} unchanged files not read again)" if self.n_unchanged_files else ""
        # A file in a format textpipe does not read is no reject, but its owner should see it was left out.
        skipped = (f"; {self.n_skipped_files} file{'s' if self.n_skipped_files != 1 else ''} skipped for their extension ({_counts(self.skipped_by_extension)})"
                   if self.n_skipped_files else "")
        # Such an article is stored, without published_at: a whole export in an unread date format must not pass unnoticed.
        undated = (f"; {self.n_dates_not_read} new article{'s' if self.n_dates_not_read != 1 else ''} with a date not read "
                   "(see extra.published_at_raw)" if self.n_dates_not_read else "")
        return (
            f"textpipe: {self.n_articles_seen} articles in{unchanged}, {self.n_new} new, {self.n_duplicates} duplicates, {rejected}{skipped}{undated}; "
            f"{self.n_topics} topics (model {self.model_id or '-'}); {self._where()} [{seconds:.1f} s]"
        )

    def _where(self) -> str:
        return f"output {self.output_dir}" + (f"; report {self.report}" if self.report else "")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _counts(by_key: dict[str, int]) -> str:
    """`{"empty": 2, "binary": 1}` -> `"empty: 2, binary: 1"`."""
    return ", ".join(f"{key}: {n}" for key, n in by_key.items())
