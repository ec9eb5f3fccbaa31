"""Precision and recall of same-story pairs, on a corpus of edited copies of BBC articles.

Builds the corpus, places every article with textpipe's story index (in several runs,
as a schedule would), and scores the pairs of articles given one story against the
pairs that are one story by construction:

- originals: BBC articles, minus those that are already near-copies of another BBC
  article (the set has such pairs: the exact share of shared shingles decides), so
  that two originals are always two stories;
- copies of an original, each with 1-3 of these edits: a wire copy under another
  headline, a dateline or agency tag line added, a paragraph dropped, quotes
  restyled, a phrase reworded in a few sentences;
- hard negatives, each a story of its own though it shares text with others: roundups
  (runs of paragraphs, at most 40% of each, from three articles of one category) and
  follow-ups (the first 60% of an article's paragraphs, then as many of a longer one's);
  kept only when, counted exactly, no source holds more than 65% of the smaller one's
  shingles (a copy holds 80% or more).

    python bench/stories_quality.py             # the whole BBC corpus
    python bench/stories_quality.py --originals 300 --sweep   # a sample, and a threshold sweep
"""

from __future__ import annotations

import argparse
import json
import random
import re
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass
from math import comb
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
DEFAULT_BBC = REPO.parent / "shared" / "corpora" / "bbc"

# Rewordings a sub-editor makes; each applies to one sentence where it matches.
REWORDINGS = [
    (r"\bsaid\b", "told reporters"), (r"\bhowever\b", "but"), (r"\bincrease\b", "rise"), (r"\bcompany\b", "firm"),
    (r"\bgovernment\b", "administration"), (r"\bplans\b", "proposals"), (r"\bexpected\b", "forecast"),
    (r"\bmillion\b", "m"), (r"\bbig\b", "large"), (r"\bwill\b", "is set to"), (r"\balso\b", "in addition"),
    (r"\bpeople\b", "individuals"), (r"\bshow\b", "indicate"), (r"\bbecause\b", "as"), (r"\bmore than\b", "over"),
]
DATELINES = ["LONDON (Reuters) - ", "NEW YORK (AP) — ", "BRUSSELS, March 3 (AFP) - ", "(PA) ", "WASHINGTON — "]
TAGLINES = ["Reporting by Anna Smith; Editing by Tom Brown", "(Additional reporting by Lee Park)", "© Agence France-Presse",
            "This story has been corrected to fix a spelling.", "Copyright 2024 The Associated Press. All rights reserved."]


@dataclass(frozen=True)
class Item:
    label: int  # the story it belongs to, by construction
    kind: str  # original, copy, follow-up
    title: str
    paragraphs: tuple[str, ...]

    @property
    def text(self) -> str:
        return "\n\n".join(self.paragraphs)


def load_bbc(bbc: Path) -> list[tuple[str, str, tuple[str, ...]]]:
    articles = []
    for path in sorted(bbc.glob("*/*.txt")):
        title, _, body = path.read_text(encoding="utf-8", errors="replace").partition("\n")
        paragraphs = tuple(" ".join(p.split()) for p in re.split(r"\n\s*\n", body) if p.strip())
        if paragraphs:
            articles.append((path.parent.name, title.strip(), paragraphs))
    return articles


def _terms(text: str) -> list[str]:
    from textpipe.resources import stop_words
    from textpipe.tokenize import normalize_terms

    return normalize_terms(text, stop_words())


def distinct_originals(articles: list[tuple[str, str, tuple[str, ...]]], max_shared: float = 0.2) -> list[int]:
    """Indexes of articles none of which shares more than `max_shared` of its shingles
    with another (exactly, through a sparse product); of a near-copy pair, the first stays."""
    from scipy import sparse

    from textpipe.stories import shingle_hashes

    sets = [shingle_hashes(_terms("\n\n".join(p))) for _, _, p in articles]
    vocabulary = {h: i for i, h in enumerate(np.unique(np.concatenate(sets)))}
    rows = np.repeat(np.arange(len(sets)), [len(s) for s in sets])
    cols = np.array([vocabulary[h] for s in sets for h in s])
    matrix = sparse.csr_matrix((np.ones(len(cols), np.int32), (rows, cols)), shape=(len(sets), len(vocabulary)))
    shared = (matrix @ matrix.T).tocoo()
    sizes = np.array([max(len(s), 1) for s in sets])
    dropped: set[int] = set()
    for i, j, n in zip(shared.row, shared.col, shared.data, strict=True):
        if i < j and i not in dropped and n / min(sizes[i], sizes[j]) > max_shared:
            dropped.add(j)
    return [i for i in range(len(articles)) if i not in dropped]


def _restyle_quotes(paragraphs: list[str], rng: random.Random) -> list[str]:
    if rng.random() < 0.5:
        return [re.sub(r'"([^"]*)"', "“\\1”", p).replace("'", "’") for p in paragraphs]
    return [p.replace("“", '"').replace("”", '"').replace("’", "'") for p in paragraphs]


def _reword(paragraphs: list[str], rng: random.Random) -> list[str]:
    """Reword one phrase in each of up to three sentences."""
    paragraphs = list(paragraphs)
    for _ in range(3):
        index = rng.randrange(len(paragraphs))
        pattern, replacement = rng.choice(REWORDINGS)
        paragraphs[index] = re.sub(pattern, replacement, paragraphs[index], count=1)
    return paragraphs


def make_copy(title: str, paragraphs: tuple[str, ...], rng: random.Random, other_titles: list[str]) -> tuple[str, tuple[str, ...], str]:
    edits = rng.sample(["headline", "dateline", "tagline", "drop", "quotes", "reword", "wire"], k=rng.randint(1, 3))
    body = list(paragraphs)
    if "headline" in edits:
        title = rng.choice(other_titles)  # a new headline (another article's words)
    if "dateline" in edits:
        body[0] = rng.choice(DATELINES) + body[0]
    if "tagline" in edits:
        body.append(rng.choice(TAGLINES))
    if "drop" in edits and len(body) > 3:
        del body[rng.randrange(1, len(body))]
    if "quotes" in edits:
        body = _restyle_quotes(body, rng)
    if "reword" in edits:
        body = _reword(body, rng)
    if "wire" in edits:  # the same copy under the wire's own headline
        title = title.upper() if rng.random() < 0.5 else f"{title} - agency"
    return title, tuple(body), "+".join(sorted(edits))


def _negative(rng: random.Random, articles: list, i: int, by_category: dict[str, list[int]]) -> tuple[str, list[int], tuple[str, ...]]:
    """A roundup (at most 40% of each of three articles) or a follow-up (the first 60% of
    an article, then as much of a longer one); (kind, source indexes, paragraphs)."""
    others = [j for j in by_category[articles[i][0]] if j != i]
    if rng.random() < 0.5:
        sources = [i, *rng.sample(others, 2)]
        body: list[str] = []
        for j in sources:
            paragraphs = articles[j][2]
            size = max(1, int(len(paragraphs) * 0.4))
            start = rng.randrange(len(paragraphs) - size + 1)
            body += paragraphs[start : start + size]
        return "roundup", sources, tuple(body)
    paragraphs = articles[i][2]
    kept = int(len(paragraphs) * 0.6)
    longer = [j for j in others if len(articles[j][2]) >= 2 * kept]
    if kept < 2 or not longer:
        return "follow-up", [], ()
    other = rng.choice(longer)
    return "follow-up", [i, other], (*paragraphs[:kept], *articles[other][2][:kept])


def _distinct(body: set[int], sources: list[set[int]], max_containment: float = 0.65) -> bool:
    """True when, counted exactly, no source holds more than `max_containment` of the
    smaller set's shingles: a story of its own by the definition, with a margin."""
    return all(len(body & source) <= max_containment * min(len(body), len(source)) for source in sources)


def build_corpus(bbc: Path = DEFAULT_BBC, originals: int | None = None, seed: int = 0) -> list[Item]:
    from textpipe.stories import shingle_hashes

    rng = random.Random(seed)
    articles = load_bbc(bbc)
    keep = distinct_originals(articles)
    if originals is not None:
        keep = sorted(rng.sample(keep, min(originals, len(keep))))
    titles = [articles[i][1] for i in keep]
    by_category: dict[str, list[int]] = {}
    for i in keep:
        by_category.setdefault(articles[i][0], []).append(i)
    items: list[Item] = []
    for label, i in enumerate(keep):
        category, title, paragraphs = articles[i]
        items.append(Item(label, "original", title, paragraphs))
        for _ in range(rng.choice([0, 0, 1, 1, 2, 3])):
            copy_title, body, edits = make_copy(title, paragraphs, rng, titles)
            items.append(Item(label, f"copy:{edits}", copy_title, body))
    next_label = len(keep)
    shingles = lambda paragraphs: set(shingle_hashes(_terms("\n\n".join(paragraphs))).tolist())  # noqa: E731
    for i in rng.sample(keep, len(keep) // 2):
        kind, sources, body = _negative(rng, articles, i, by_category)
        if body and _distinct(shingles(body), [shingles(articles[j][2]) for j in sources]):
            items.append(Item(next_label, kind, f"Update: {articles[i][1]}", body))
            next_label += 1
    rng.shuffle(items)
    return items


def place(items: list[Item], runs: int = 3) -> list[str]:
    """Story ids as textpipe's index gives them, the corpus split over `runs` runs."""
    from textpipe.stories import NewArticle, StoryIndex, sketch

    ids = [f"{i:016x}" for i in range(1, len(items) + 1)]
    sketches = [sketch(_terms(item.text)) for item in items]
    stories: dict[str, str] = {}
    with tempfile.TemporaryDirectory() as folder:
        index = StoryIndex(Path(folder))
        bounds = np.linspace(0, len(items), runs + 1).astype(int)
        for run, (start, end) in enumerate(zip(bounds[:-1], bounds[1:], strict=True)):
            batch = [NewArticle(ids[k], sketches[k]) for k in range(start, end)]
            stories.update(index.place(batch, f"run-{run}"))
    return [stories[i] for i in ids]


@dataclass(frozen=True)
class PairScores:
    articles: int
    true_stories: int
    true_pairs: int
    predicted_pairs: int
    correct_pairs: int

    @property
    def precision(self) -> float:
        return self.correct_pairs / self.predicted_pairs if self.predicted_pairs else 1.0

    @property
    def recall(self) -> float:
        return self.correct_pairs / self.true_pairs if self.true_pairs else 1.0


def pair_scores(labels: list[int], predicted: list[str]) -> PairScores:
    """Pairs in one predicted story that are one true story, over all predicted and all true pairs."""
    pairs = lambda counts: sum(comb(n, 2) for n in counts.values())  # noqa: E731
    return PairScores(
        articles=len(labels), true_stories=len(set(labels)), true_pairs=pairs(Counter(labels)),
        predicted_pairs=pairs(Counter(predicted)), correct_pairs=pairs(Counter(zip(labels, predicted, strict=True))),
    )


def sweep(items: list[Item]) -> list[dict]:
    """Precision and recall of the all-pairs decision at other thresholds (exhaustive, no LSH):
    what the chosen thresholds are measured against."""
    from textpipe import stories

    sketches = [stories.sketch(_terms(item.text)) for item in items]
    signatures = np.stack([s.signature for s in sketches])
    sizes = np.array([s.n_shingles for s in sketches], float)
    labels = np.array([item.label for item in items])
    rows = []
    i_index, j_index = np.triu_indices(len(items), 1)
    jaccard = np.zeros(len(i_index))
    for start in range(0, len(i_index), 2_000_000):
        block = slice(start, start + 2_000_000)
        jaccard[block] = (signatures[i_index[block]] == signatures[j_index[block]]).mean(axis=1)
    shared = jaccard * (sizes[i_index] + sizes[j_index]) / (1 + jaccard)
    containment = np.divide(shared, np.minimum(sizes[i_index], sizes[j_index]), out=np.zeros_like(shared), where=np.minimum(sizes[i_index], sizes[j_index]) > 0)
    same = labels[i_index] == labels[j_index]
    for j_min in (0.3, 0.4, 0.5, 0.6, 0.7):
        for c_min in (0.6, 0.7, 0.8, 0.9, 1.01):
            decided = (jaccard >= j_min) | (containment >= c_min)
            correct = int(np.count_nonzero(decided & same))
            rows.append({"jaccard_min": j_min, "containment_min": c_min if c_min <= 1 else None,
                         "precision": round(correct / max(int(decided.sum()), 1), 4), "recall": round(correct / max(int(same.sum()), 1), 4)})
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--bbc", type=Path, default=DEFAULT_BBC)
    parser.add_argument("--originals", type=int, default=None, help="originals to sample (default: every distinct BBC article)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--runs", type=int, default=3, help="runs the corpus is split over (default 3)")
    parser.add_argument("--sweep", action="store_true", help="also print precision/recall at other thresholds (all pairs, no LSH)")
    parser.add_argument("--json", type=Path, help="write the figures to this file")
    args = parser.parse_args(argv)
    clock = time.perf_counter()
    items = build_corpus(args.bbc, args.originals, args.seed)
    predicted = place(items, args.runs)
    scores = pair_scores([item.label for item in items], predicted)
    kinds = Counter(item.kind.split(":")[0] for item in items)
    result = {
        "articles": scores.articles, "originals": kinds["original"], "copies": kinds["copy"], "roundups": kinds["roundup"], "follow_ups": kinds["follow-up"],
        "true_stories": scores.true_stories, "true_pairs": scores.true_pairs, "predicted_pairs": scores.predicted_pairs,
        "correct_pairs": scores.correct_pairs, "precision": round(scores.precision, 4), "recall": round(scores.recall, 4),
        "runs": args.runs, "seed": args.seed, "seconds": round(time.perf_counter() - clock, 1),
    }
    if args.sweep:
        result["sweep"] = sweep(items)
    print(json.dumps(result, indent=2))
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
