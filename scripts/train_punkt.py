"""Train NLTK Punkt on the BBC news corpus and write `src/textpipe/resource_files/punkt_en.json`.

Run from the repository root: `python scripts/train_punkt.py` (about a minute).
`--compare` also reports how often the pruned parameters split differently from the full ones.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Iterator
from pathlib import Path

from nltk.tokenize.punkt import PunktParameters, PunktSentenceTokenizer, PunktTrainer

REPO = Path(__file__).resolve().parents[1]
DEFAULT_CORPUS = REPO.parent / "shared" / "corpora" / "bbc"
DEFAULT_OUTPUT = REPO / "src" / "textpipe" / "resource_files" / "punkt_en.json"
FORMAT = "textpipe-punkt-params/1"

# BBC house style drops the dots ("Mr Blair", "US"), so Punkt cannot learn these
# from it; other feeds write them with dots. Not "may": it is far more often the verb.
# Not "no": "No." is often a whole sentence in quotes; EXTRA_COLLOCATIONS covers "No. 1".
EXTRA_ABBREVIATIONS = (
    "mr mrs ms dr st prof gen gov sen rep jr sr inc ltd co corp "
    "jan feb mar apr jun jul aug sep sept oct nov dec "
    "u.s e.g i.e etc vs a.m p.m"
).split()
EXTRA_COLLOCATIONS = [("no", "##number##")]

# On BBC text Punkt "learns" as abbreviations words seen once or twice, always at a
# sentence end ("hug", "fad", "sin", "foley"), which would glue sentences in other
# text. Only dotted forms such as "u.k" or "a.d" are kept from what it learns.
LEARNED_ABBREVIATION = re.compile(r"[^\W\d_]+(?:\.[^\W\d_]+)+")


def article_bodies(corpus: Path) -> Iterator[str]:
    """Each article without its title line: titles carry no final stop and would
    teach Punkt that capitalised words start sentences."""
    for path in sorted(corpus.glob("*/*.txt")):
        text = path.read_text(encoding="utf-8", errors="replace")
        _title, _, body = text.partition("\n")
        yield body.strip()


def train(corpus: Path) -> tuple[PunktParameters, dict[str, int]]:
    trainer = PunktTrainer()
    for body in article_bodies(corpus):
        trainer.train(body, finalize=False)
    params = trainer.get_params()
    # Punkt keeps how often each (lowercased) type occurred, with and without a
    # final period; the ortho context is keyed by the type without that period.
    type_counts = trainer._type_fdist  # noqa: SLF001 - no public accessor
    counts = {word: type_counts[word] + type_counts[word + "."] for word in params.ortho_context}
    return params, counts


def pruned(params: PunktParameters, counts: dict[str, int], min_count: int) -> PunktParameters:
    small = PunktParameters()
    learned = {word for word in params.abbrev_types if LEARNED_ABBREVIATION.fullmatch(word)}
    small.abbrev_types = learned | set(EXTRA_ABBREVIATIONS)
    small.collocations = set(params.collocations) | set(EXTRA_COLLOCATIONS)
    small.sent_starters = set(params.sent_starters)
    for word, flags in params.ortho_context.items():
        if counts.get(word, 0) >= min_count:
            small.ortho_context[word] = flags
    return small


def to_json(params: PunktParameters, min_count: int, corpus: Path) -> str:
    document = {
        "format": FORMAT,
        "trained_on": f"BBC News corpus ({corpus.name}, {sum(1 for _ in corpus.glob('*/*.txt'))} articles)",
        "ortho_context_min_count": min_count,
        "extra_abbreviations": sorted(EXTRA_ABBREVIATIONS),
        "abbrev_types": sorted(params.abbrev_types),
        "collocations": sorted([first, second] for first, second in params.collocations),
        "sent_starters": sorted(params.sent_starters),
        "ortho_context": dict(sorted(params.ortho_context.items())),
    }
    return json.dumps(document, ensure_ascii=False, indent=0) + "\n"


def boundaries(tokenizer: PunktSentenceTokenizer, corpus: Path) -> list[list[tuple[int, int]]]:
    return [
        list(tokenizer.span_tokenize(paragraph))
        for body in article_bodies(corpus)
        for paragraph in body.split("\n\n")
        if paragraph.strip()
    ]


def compare(trained: PunktParameters, counts: dict[str, int], min_count: int, corpus: Path) -> None:
    """Report how curation (abbreviations) and pruning (ortho context) change BBC splits."""
    paragraphs = [p for body in article_bodies(corpus) for p in body.split("\n\n") if p.strip()]
    raw = boundaries(PunktSentenceTokenizer(trained), corpus)
    curated = boundaries(PunktSentenceTokenizer(pruned(trained, counts, 0)), corpus)
    final = boundaries(PunktSentenceTokenizer(pruned(trained, counts, min_count)), corpus)
    print(f"{len(paragraphs)} paragraphs, {sum(map(len, raw))} sentences with the raw trained parameters")
    pruning_changes = sum(a != b for a, b in zip(curated, final))
    print(f"pruning ortho context (< {min_count}) changes {pruning_changes} paragraphs")
    changed = [(p, a, b) for p, a, b in zip(paragraphs, raw, curated) if a != b]
    print(f"curating abbreviations changes {len(changed)} paragraphs, e.g.:")
    for paragraph, before, after in changed:
        joined = {end for _, end in before} - {end for _, end in after}
        split = {end for _, end in after} - {end for _, end in before}
        for end in sorted(joined):
            print(f"  now joined: ...{paragraph[max(0, end - 40):end + 30]!r}")
        for end in sorted(split):
            print(f"  now split:  ...{paragraph[max(0, end - 40):end + 30]!r}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS)
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT)
    parser.add_argument("--min-count", type=int, default=5, help="keep ortho context of words seen this often")
    parser.add_argument("--compare", action="store_true", help="report splitting changes caused by pruning")
    args = parser.parse_args(argv)
    if not args.corpus.is_dir():
        print(f"corpus folder {args.corpus} not found; pass --corpus", file=sys.stderr)
        return 2
    full, counts = train(args.corpus)
    # Tokenizing with `full` (in --compare) adds unseen words to its ortho defaultdict.
    learned_contexts = len(full.ortho_context)
    small = pruned(full, counts, args.min_count)
    if args.compare:
        compare(full, counts, args.min_count, args.corpus)
    payload = to_json(small, args.min_count, args.corpus)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    temp = args.output.with_name(f".{args.output.name}.tmp")
    temp.write_text(payload, encoding="utf-8")
    temp.replace(args.output)
    print(
        f"wrote {args.output} ({len(payload.encode()) // 1024} kB): {len(small.abbrev_types)} abbreviations, "
        f"{len(small.collocations)} collocations, {len(small.sent_starters)} sentence starters, "
        f"{len(small.ortho_context)}/{learned_contexts} ortho contexts"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
