"""Check that textpipe's fast Punkt splits exactly as NLTK's PunktSentenceTokenizer.

Same trained parameters on both sides. Compares every break decision
(`text_contains_sentbreak`) and every paragraph's sentence spans, on the BBC
corpus and on random text built from the words the parameters know about
(abbreviations, collocations, sentence starters, orthographic contexts, in
random case) mixed with numbers, initials, ellipses, quotes and newlines.
Prints one line of JSON; exits 1 on any difference.

    python bench/check_punkt.py [--random 200000] [--bbc ../shared/corpora/bbc]
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from pathlib import Path

from nltk.tokenize.punkt import PunktSentenceTokenizer

from textpipe.clean import normalize_text
from textpipe.resources import load_punkt_params
from textpipe.tokenize import _sentence_splitter, paragraph_spans

BENCH = Path(__file__).resolve().parent
DEFAULT_BBC = BENCH.parent.parent / "shared" / "corpora" / "bbc"


def random_texts(params, n: int, seed: int) -> list[str]:
    rng = random.Random(seed)
    known = sorted(params.abbrev_types) + sorted(params.sent_starters) + [w for pair in sorted(params.collocations) for w in pair]
    known += rng.sample(sorted(params.ortho_context), min(2_000, len(params.ortho_context)))
    odd = ["3", "1,000", "-2.5", "J", "U.S", "e.g", "...", "..", ".", "?", "!", "!!", "?!", '"', "'", "(", ")", "“", "”",
           "’", "«", "»", "--", "-", ",", ";", ":", "ex-gov", "No", "St", "Mr", "é", "Élan", "ß", "İ", "ǅ", "1990s", "a"]

    def word() -> str:
        w = rng.choice(known) if rng.random() < 0.6 else rng.choice(odd)
        case = rng.random()
        w = w.capitalize() if case < 0.3 else w.upper() if case < 0.4 else w
        return w + rng.choice(["", "", ".", ".", ",", "?", "!", '."', ".)", "...", ".’", "!”"])

    collocations = sorted(params.collocations)
    texts = []
    for _ in range(n // 10):  # the rarer rules: collocations, numbers and initials before a word
        first = rng.choice([rng.choice(collocations)[0], rng.choice(["3", "12", "1,000", "2.5", "J", "K", "x"])])
        second = rng.choice([rng.choice(collocations)[1], rng.choice(known)])
        second = second.capitalize() if rng.random() < 0.5 else second
        texts.append(f"{rng.choice(known)} {first}. {second} {rng.choice(known)}.")
    for _ in range(n - n // 10):
        parts = []
        for _ in range(rng.randint(1, 12)):
            parts.append(word())
            parts.append(rng.choice([" ", " ", " ", "  ", "\n", " \n ", "\t", "", "\r", "\x0b", "\x0c", " --", "-- "]))
        texts.append("".join(parts))
    return texts


def contexts(splitter: PunktSentenceTokenizer, text: str) -> list[str]:
    return [context for _, context in splitter._match_potential_end_contexts(text)]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--random", type=int, default=200_000, help="random texts to compare (default 200,000)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--bbc", type=Path, default=DEFAULT_BBC)
    args = parser.parse_args(argv)

    params = load_punkt_params()
    reference, fast = PunktSentenceTokenizer(params), _sentence_splitter()
    paragraphs = []
    for path in sorted(args.bbc.glob("*/*.txt")):
        text = normalize_text(path.read_text(encoding="utf-8", errors="replace"))
        paragraphs += [text[a:b] for a, b in paragraph_spans(text)]
    texts = paragraphs + random_texts(params, args.random, args.seed)

    decisions = differences = 0
    examples = []
    seconds = {"nltk": 0.0, "textpipe": 0.0}
    for text in texts:
        for context in contexts(reference, text):
            decisions += 1
            if reference.text_contains_sentbreak(context) != fast.text_contains_sentbreak(context):
                differences += 1
                examples.append({"context": context})
        started = time.perf_counter()
        expected = list(reference.span_tokenize(text))
        seconds["nltk"] += time.perf_counter() - started
        started = time.perf_counter()
        got = list(fast.span_tokenize(text))
        seconds["textpipe"] += time.perf_counter() - started
        if got != expected:
            differences += 1
            examples.append({"text": text[:200], "nltk": expected, "textpipe": got})
    report = {
        "bbc_paragraphs": len(paragraphs), "random_texts": args.random, "decisions_compared": decisions,
        "differences": differences, "examples": examples[:5],
        "seconds": {k: round(v, 2) for k, v in seconds.items()},
    }
    print(json.dumps(report, ensure_ascii=False))
    return 1 if differences else 0


if __name__ == "__main__":
    sys.exit(main())
