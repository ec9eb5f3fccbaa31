"""Sentences per second of FastVader and NLTK's VADER on every BBC sentence (one core).

Run from the repository root: `python bench/vader_speed.py [--repeat 3]`. Also checks
that both give identical scores, so a fast but wrong build cannot look good.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from pathlib import Path

from textpipe.resources import nltk_vader, sentence_splitter
from textpipe.sentiment import FastVader

CORPUS = Path(__file__).resolve().parents[1].parent / "shared" / "corpora" / "bbc"


def bbc_sentences(corpus: Path) -> list[str]:
    splitter = sentence_splitter()
    sentences = []
    for path in sorted(corpus.glob("*/*.txt")):
        for paragraph in path.read_text(encoding="utf-8").split("\n\n"):
            if paragraph.strip():
                sentences.extend(splitter.tokenize(paragraph))
    return sentences


def best_time(score: Callable[[str], object], sentences: list[str], repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        for sentence in sentences:
            score(sentence)
        best = min(best, time.perf_counter() - start)
    return best


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", type=Path, default=CORPUS)
    parser.add_argument("--repeat", type=int, default=3, help="timed passes; the best one counts")
    args = parser.parse_args(argv)
    sentences = bbc_sentences(args.corpus)
    reference, fast = nltk_vader(), FastVader()
    mismatches = sum(reference.polarity_scores(s) != fast.polarity_scores(s) for s in sentences)
    # The identity pass above also warmed FastVader's token memo, as a long run would be.
    nltk_seconds = best_time(reference.polarity_scores, sentences, args.repeat)
    fast_seconds = best_time(fast.polarity_scores, sentences, args.repeat)
    cold = FastVader(reference.lexicon)
    cold_seconds = best_time(cold.polarity_scores, sentences, 1)
    count = len(sentences)
    print(f"{count} BBC sentences, {mismatches} score mismatches")
    print(f"NLTK VADER:          {count / nltk_seconds:10.0f} sentences/s")
    print(f"FastVader:           {count / fast_seconds:10.0f} sentences/s")
    print(f"FastVader (cold):    {count / cold_seconds:10.0f} sentences/s (empty token memo)")
    print(f"speed-up: {nltk_seconds / fast_seconds:.1f}x (cold {nltk_seconds / cold_seconds:.1f}x)")
    return 1 if mismatches else 0


if __name__ == "__main__":
    sys.exit(main())
