"""What the ensemble score adds to the sentiment stage, per BBC sentence (one core).

Run from the repository root: `python bench/sentiment_speed.py [--repeat 3]`.
Times the stage's per-sentence work as it was (FastVader) and as it is (FastVader, then
the ensemble from the same text and compound), over every BBC sentence with warm
memos, as a long run has them; the best of --repeat passes, in CPU seconds of this
process. Also times building the scorers, which each worker process does once.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from pathlib import Path

from textpipe.ensemble import SentimentEnsemble
from textpipe.resources import sentence_splitter
from textpipe.sentiment import FastVader

CORPUS = Path(__file__).resolve().parents[1].parent / "shared" / "corpora" / "bbc"


def bbc_sentences(corpus: Path) -> list[str]:
    splitter = sentence_splitter()
    return [s for path in sorted(corpus.glob("*/*.txt")) for p in path.read_text(encoding="utf-8").split("\n\n") if p.strip() for s in splitter.tokenize(p)]


def best_cpu_seconds(work: Callable[[], object], repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        started = time.process_time()
        work()
        best = min(best, time.process_time() - started)
    return best


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", type=Path, default=CORPUS)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args(argv)
    sentences = bbc_sentences(args.corpus)
    started = time.process_time()
    vader = FastVader()
    vader_build = time.process_time() - started
    started = time.process_time()
    ensemble = SentimentEnsemble()
    ensemble_build = time.process_time() - started

    def vader_only() -> None:
        for s in sentences:
            vader.score(s)

    def vader_and_ensemble() -> None:
        for s in sentences:
            ensemble.score(s, vader.score(s).compound)

    vader_and_ensemble()  # warms both memos, as a long run would
    before = best_cpu_seconds(vader_only, args.repeat)
    after = best_cpu_seconds(vader_and_ensemble, args.repeat)
    n = len(sentences)
    print(f"{n:,} BBC sentences, best of {args.repeat}, CPU time of one process")
    print(f"VADER only (the stage before):  {before / n * 1e6:6.1f} us/sentence")
    print(f"VADER + ensemble (the stage now): {after / n * 1e6:6.1f} us/sentence (+{(after - before) / n * 1e6:.1f} us, x{after / before:.2f})")
    print(f"building the scorers, once per worker: FastVader {vader_build:.2f} s, SentimentEnsemble {ensemble_build:.2f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
