"""One settings object for the whole pipeline.

Values come from arguments, then `TEXTPIPE_*` environment variables, then the
defaults below; nothing reads the environment at import time.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

TaskRunnerName = Literal["threads", "processes", "dask"]
DEFAULT_TOPICS = 10


def parse_topics(value: int | str | None) -> int | None:
    """`--topics` as a setting: "auto" is 0 (choose K by coherence), None keeps the current K."""
    if value is None or value == "":
        return None
    return 0 if str(value) == "auto" else int(value)


class Settings(BaseSettings):
    """Paths, batch sizes, limits and model knobs. `Settings()` gives the defaults."""

    model_config = SettingsConfigDict(env_prefix="TEXTPIPE_", frozen=True, extra="forbid")

    input_dir: Path = Path("data/raw")
    output_dir: Path = Path("data/processed")
    language: str = Field("en", description="Language whose articles get sentiment scores.")

    # Topics for a new model: K, 0 meaning "choose K by coherence" (`--topics auto`),
    # or None: the current model's K, DEFAULT_TOPICS for the first model.
    n_topics: int | None = Field(None, ge=0, le=200)
    auto_topics_candidates: tuple[int, ...] = (5, 8, 10, 15, 20)
    topic_fit_sample: int = Field(
        5_000, ge=10, description="Most articles a new topic model is fitted on (a seeded uniform sample)."
    )
    topic_weight_threshold: float = Field(0.05, ge=0.0, lt=1.0)
    topic_top_terms: int = Field(10, ge=3, le=50)
    max_features: int = Field(20_000, ge=100)
    random_state: int = 0

    # Batching and parallelism.
    batch_size: int = Field(1_000, ge=1, description="Articles per batch task.")
    files_per_batch: int = Field(1_000, ge=1)
    # Worker processes for the CPU-bound stages by default: at 2,225 BBC articles a
    # first run took 4.6-5.1 s against 7.1-7.3 s in threads (the GIL), at 20,000
    # ~19 s against ~41 s.
    task_runner: TaskRunnerName = "processes"
    workers: int = Field(2, ge=1)
    # The worker processes take ~1.3 s to start (NLTK's import alone is ~1 s). New
    # articles on top of a BBC store, with a server: 2.4 MB took 3.8 s in threads
    # and 4.8 s with workers, 4.9 MB 5.7-6.2 s and 5.0-5.5 s, 9.8 MB 9.3-10.0 s and 6.3-6.4 s.
    worker_pool_min_bytes: int = Field(
        4 * 1024 * 1024, ge=0, description="Fewest input bytes to read for which a run starts worker processes."
    )
    dask_address: str | None = None

    # Every run adds a file per dataset; once this many runs have small files, the
    # run merges them (`textpipe compact`), so reading the store stays fast.
    compact_after_runs: int = Field(48, ge=2, description="Runs with small files that make a run compact the store.")

    # Limits that keep memory bounded on hostile input.
    max_file_bytes: int = Field(256 * 1024 * 1024, ge=1)
    max_decompressed_bytes: int = Field(256 * 1024 * 1024, ge=1)
    max_record_bytes: int = Field(16 * 1024 * 1024, ge=1)
    min_text_chars: int = Field(20, ge=1)

    @field_validator("language")
    @classmethod
    def _iso_639_1(cls, value: str) -> str:
        if len(value) != 2 or not value.isalpha():
            raise ValueError(f"language must be an ISO 639-1 code such as 'en', got {value!r}")
        return value.lower()
