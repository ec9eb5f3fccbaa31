"""What the ensemble score adds to the sentiment stage, per BBC sentence (one core).

Run from the repository root: `python bench/sentiment_speed.py [--repeat 3]`.
Times the stage's per-sentence work as it was before the ensemble (FastVader), with
each scorer run on its own (FastVader, then the ensemble from the same text and
compound), and as the stage runs it (`SentenceScorer`: one split and one memo for
all three), over every BBC sentence: first sight (empty memos, as a worker's first
batch) and warm (as a long run has them, the best of --repeat passes); CPU seconds
of this process. Also times building the scorers, which each worker does once.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from pathlib import Path

from textpipe.ensemble import SentenceScorer, SentimentEnsemble
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
    vader, ensemble = FastVader(), SentimentEnsemble()
    build = time.process_time() - started
    scorer = SentenceScorer()

    def vader_only() -> None:
        for s in sentences:
            vader.score(s)

    def each_alone() -> None:
        for s in sentences:
            ensemble.score(s, vader.score(s).compound)

    def one_pass() -> None:
        for s in sentences:
            scorer.score(s)

    first_sight = {name: best_cpu_seconds(work, 1) for name, work in (("vader", vader_only), ("alone", each_alone), ("one pass", one_pass))}
    warm = {name: best_cpu_seconds(work, args.repeat) for name, work in (("vader", vader_only), ("alone", each_alone), ("one pass", one_pass))}
    n = len(sentences)
    print(f"{n:,} BBC sentences, CPU time of one process, us/sentence (first sight / warm, best of {args.repeat})")
    for name, label in (("vader", "VADER only (before the ensemble)"), ("alone", "VADER, then the ensemble, each alone"), ("one pass", "VADER and the ensemble in one pass (the stage)")):
        extra = "" if name == "vader" else f"  (x{first_sight[name] / first_sight['vader']:.2f} / x{warm[name] / warm['vader']:.2f} VADER only)"
        print(f"{label:48s} {first_sight[name] / n * 1e6:6.1f} / {warm[name] / n * 1e6:6.1f}{extra}")
    print(f"building the scorers, once per worker: {build:.2f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
