"""The hand-written reference an analyst would run: one process, no framework.

Reads every .txt under --input (title = first line, body = the rest), splits the
body with an untrained NLTK Punkt model, tokenizes with NLTK's word tokenizer,
scores each sentence with NLTK VADER, fits a 20-topic online LDA, and writes one
Parquet of articles (--output) plus `<output stem>_sentences.parquet` beside it.
Prints one line of JSON and nothing else.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import pandas as pd
from nltk.tokenize import NLTKWordTokenizer
from nltk.tokenize.punkt import PunktSentenceTokenizer
from sklearn.decomposition import LatentDirichletAllocation
from sklearn.feature_extraction.text import CountVectorizer

N_TOPICS = 20


def sentences_path(articles_path: Path) -> Path:
    """Where the sentences Parquet goes for a given articles Parquet."""
    return articles_path.with_name(f"{articles_path.stem}_sentences.parquet")


def _vader():
    # The project's loader builds NLTK's lexicon from the vaderSentiment package,
    # since nltk.download() cannot reach the network here.
    from textpipe.resources import nltk_vader

    return nltk_vader()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--input", type=Path, required=True, help="folder of .txt articles")
    parser.add_argument("--output", type=Path, required=True, help="articles Parquet file to write")
    args = parser.parse_args(argv)

    seconds: dict[str, float] = {}
    clock = time.perf_counter()

    def lap(stage: str) -> None:
        nonlocal clock
        now = time.perf_counter()
        seconds[stage] = round(now - clock, 3)
        clock = now

    paths = sorted(args.input.rglob("*.txt"))
    if not paths:
        raise SystemExit(f"no .txt files under {args.input}")
    docs = []
    for path in paths:
        title, _, body = path.read_text(encoding="utf-8").partition("\n")
        docs.append((path.relative_to(args.input).as_posix(), title.strip(), body.strip()))
    lap("read")

    splitter = PunktSentenceTokenizer()
    word_tokenizer = NLTKWordTokenizer()
    analyzer = _vader()
    lap("load")

    articles, sentences = [], []
    for rel, title, body in docs:
        n_tokens, compounds = 0, []
        for sentence in splitter.tokenize(body):
            n_tokens += len(word_tokenizer.tokenize(sentence))
            compound = analyzer.polarity_scores(sentence)["compound"]
            compounds.append(compound)
            sentences.append((rel, sentence, compound))
        articles.append({
            "path": rel,
            "title": title,
            "n_sentences": len(compounds),
            "n_tokens": n_tokens,
            "mean_compound": sum(compounds) / len(compounds) if compounds else 0.0,
        })
    lap("sentences")

    counts = CountVectorizer(stop_words="english").fit_transform(f"{t}\n\n{b}" for _, t, b in docs)
    lda = LatentDirichletAllocation(n_components=N_TOPICS, learning_method="online", random_state=0)
    dominant = lda.fit_transform(counts).argmax(axis=1)
    lap("topics")

    frame = pd.DataFrame(articles)
    frame["dominant_topic"] = dominant.astype("int32")
    args.output.parent.mkdir(parents=True, exist_ok=True)
    frame.to_parquet(args.output, index=False)
    pd.DataFrame(sentences, columns=["path", "sentence", "compound"]).to_parquet(
        sentences_path(args.output), index=False
    )
    lap("write")

    total = sum(seconds.values())
    summary = {
        "articles": len(frame),
        "sentences": len(sentences),
        "seconds": round(total, 3),
        "articles_per_s": round(len(frame) / total, 2),
        "stage_seconds": seconds,
        "output": str(args.output),
    }
    sys.stdout.write(json.dumps(summary) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
