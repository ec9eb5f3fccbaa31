"""Compare NMF and LDA topic models on the whole BBC corpus (category = folder).

For each method and K prints: NMI between every article's dominant topic and
its category, mean topic NPMI coherence, and fit_transform seconds (best of
--repeats). Usage: python bench/compare_topic_models.py [--k 5 10] [--repeats 3]
"""

from __future__ import annotations

import argparse
import os
import platform
import time
from pathlib import Path

import numpy as np
import sklearn
from sklearn.metrics import normalized_mutual_info_score

from textpipe.resources import stop_words
from textpipe.tokenize import normalize_terms
from textpipe.topics import TopicModel

BBC = Path(__file__).resolve().parents[1].parent / "shared" / "corpora" / "bbc"
STOP_WORDS = stop_words()


def read_corpus(root: Path) -> tuple[list[list[str]], list[str]]:
    docs, categories = [], []
    for path in sorted(root.glob("*/*.txt")):
        docs.append(normalize_terms(path.read_text(encoding="utf-8"), STOP_WORDS))
        categories.append(path.parent.name)
    if not docs:
        raise SystemExit(f"no articles under {root}")
    return docs, categories


def measure(docs: list[list[str]], categories: list[str], method: str, k: int, repeats: int) -> dict:
    seconds = []
    for _ in range(repeats):
        model = TopicModel(n_topics=k, method=method)
        start = time.perf_counter()
        weights = model.fit_transform(docs)
        seconds.append(time.perf_counter() - start)
    return {
        "nmi": normalized_mutual_info_score(categories, weights.argmax(axis=1)),
        "npmi": float(np.mean([topic.coherence for topic in model.topics_])),
        "seconds": min(seconds),
        "labels": [topic.label for topic in model.topics_],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--bbc", type=Path, default=BBC, help="BBC corpus folder (<category>/NNN.txt)")
    parser.add_argument("--k", type=int, nargs="+", default=[5, 10], help="numbers of topics")
    parser.add_argument("--methods", nargs="+", default=["nmf", "lda"], choices=["nmf", "lda"])
    parser.add_argument("--repeats", type=int, default=3, help="fits per cell; the fastest is reported")
    parser.add_argument("--labels", action="store_true", help="also print every topic's label")
    args = parser.parse_args()

    docs, categories = read_corpus(args.bbc)
    print(
        f"{len(docs)} articles, {len(set(categories))} categories; {os.cpu_count()} cores, "
        f"Python {platform.python_version()}, scikit-learn {sklearn.__version__}\n"
    )
    print("| method | K | NMI vs category | mean NPMI | fit_transform s |")
    print("|---|---|---|---|---|")
    labels = {}
    for k in args.k:
        for method in args.methods:
            row = measure(docs, categories, method, k, args.repeats)
            labels[method, k] = row["labels"]
            print(f"| {method} | {k} | {row['nmi']:.3f} | {row['npmi']:.3f} | {row['seconds']:.2f} |", flush=True)
    if args.labels:
        for (method, k), names in labels.items():
            print(f"\n{method} K={k}:")
            for topic_id, label in enumerate(names):
                print(f"  {topic_id}: {label}")


if __name__ == "__main__":
    main()
