"""The quality gate: topic, sentiment and extraction figures in one table, against floors.

Usage (from the repository root): python bench/quality.py [--check] [--pages]

- topics: the pipeline's own topic model (`pipeline.new_topic_model`) fitted on the whole
  BBC corpus at K=5 and K=20; NMI of each article's dominant topic against its category,
  mean NPMI of each topic's top 10 terms (document co-occurrence over the corpus itself,
  terms as lowercase words, independent of the model's own tokenizer and stop words),
  and topic diversity (unique share of every topic's top 25 terms).
- sentiment: Pearson r against the human ratings of ../shared/ratings, for VADER's
  compound and the ensemble score, per development set.
- exactness: share of BBC sentences on which FastVader, FastPattern and FastAfinn give
  exactly their library's numbers (every 10th article).
- extraction: token precision, recall and F1 of the HTML reader's main text against
  hand-marked main text of the pages in bench/quality/pages (micro-averaged).

`--check` exits 1 when a figure is below its floor in bench/quality_floors.json.
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
import re
import sys
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from sklearn.metrics import normalized_mutual_info_score

from textpipe.config import Settings
from textpipe.ensemble import SentimentEnsemble, read_ratings
from textpipe.ingest.html import parse_html
from textpipe.lexicons import FastAfinn, FastPattern
from textpipe.pipeline import new_topic_model
from textpipe.resources import nltk_vader, sentence_splitter, stop_words
from textpipe.sentiment import FastVader
from textpipe.tokenize import normalize_terms

HERE = Path(__file__).resolve().parent
SHARED = HERE.parents[1] / "shared"
BBC = SHARED / "corpora" / "bbc"
RATINGS = SHARED / "ratings"
PAGES = HERE / "quality" / "pages"
FLOORS = HERE / "quality_floors.json"
RATING_SETS = {"movie": "movieReviewSnippets_GroundTruth.txt", "amazon": "amazonReviewSnippets_GroundTruth.txt"}
_WORD = re.compile(r"[^\W\d_]+")


@dataclass(frozen=True)
class Figure:
    key: str  # as in the floors file
    label: str
    value: float


# ----- topics ---------------------------------------------------------------------------


class WordPresence:
    """Which documents contain a term: lowercase words of the raw text (letters only);
    a term of several words is present where they follow each other."""

    def __init__(self, texts: list[str]) -> None:
        self.words = [_WORD.findall(text.lower()) for text in texts]
        self.n_docs = len(texts)
        self._docs: dict[str, set[int]] = {}
        for index, words in enumerate(self.words):
            for word in set(words):
                self._docs.setdefault(word, set()).add(index)

    def docs(self, term: str) -> set[int]:
        parts = _WORD.findall(term.lower())
        if len(parts) == 1:
            return self._docs.get(parts[0], set())
        candidates = set.intersection(*(self._docs.get(part, set()) for part in parts)) if parts else set()
        return {i for i in candidates if any(self.words[i][j : j + len(parts)] == parts for j in range(len(self.words[i])))}

    def npmi(self, terms: list[str]) -> float:
        """Mean NPMI over pairs; a pair never together scores -1, one always together 1."""
        present = [self.docs(term) for term in terms]
        scores = []
        for a, b in itertools.combinations(present, 2):
            joint = len(a & b) / self.n_docs
            if joint == 0.0:
                scores.append(-1.0)
            elif joint == 1.0:
                scores.append(1.0)
            else:
                scores.append(math.log(joint / (len(a) / self.n_docs * len(b) / self.n_docs)) / -math.log(joint))
        return float(np.mean(scores))


def read_bbc(corpus: Path = BBC) -> tuple[list[str], list[str]]:
    paths = sorted(corpus.glob("*/*.txt"))
    if not paths:
        raise SystemExit(f"no BBC articles under {corpus}")
    return [p.read_text(encoding="utf-8") for p in paths], [p.parent.name for p in paths]


def topic_figures(texts: list[str], categories: list[str], ks: tuple[int, ...] = (5, 20)) -> list[Figure]:
    words_to_drop = stop_words()
    docs = [normalize_terms(text, words_to_drop) for text in texts]
    presence = WordPresence(texts)
    figures = []
    for k in ks:
        model = new_topic_model(Settings(n_topics=k, topic_fit_sample=len(docs)), docs)
        dominant = model.transform(docs).argmax(axis=1)
        figures += [
            Figure(f"topics.k{k}.nmi", f"BBC topics K={k}: NMI, dominant topic vs category", normalized_mutual_info_score(categories, dominant)),
            Figure(f"topics.k{k}.npmi", f"BBC topics K={k}: mean NPMI of top-10 terms", float(np.mean([presence.npmi(list(t.top_terms[:10])) for t in model.topics_]))),
            Figure(f"topics.k{k}.diversity", f"BBC topics K={k}: diversity of top-25 terms", model.diversity_),
        ]
    return figures


# ----- sentiment ------------------------------------------------------------------------


def sentiment_figures(ratings: Path = RATINGS) -> list[Figure]:
    vader, ensemble = FastVader(), SentimentEnsemble()
    figures = []
    for name, file in RATING_SETS.items():
        rated = read_ratings(ratings / file)
        human = np.array([r.rating for r in rated])
        compound = [vader.polarity_scores(r.text)["compound"] for r in rated]
        combined = [ensemble.score(r.text, c) for r, c in zip(rated, compound, strict=True)]
        figures += [
            Figure(f"sentiment.{name}.vader", f"{name} reviews ({len(rated):,}): Pearson r, VADER", float(np.corrcoef(human, compound)[0, 1])),
            Figure(f"sentiment.{name}.ensemble", f"{name} reviews ({len(rated):,}): Pearson r, ensemble", float(np.corrcoef(human, combined)[0, 1])),
        ]
    return figures


def bbc_sentences(texts: list[str], step: int = 10) -> list[str]:
    splitter = sentence_splitter()
    return [s for text in texts[::step] for p in text.split("\n\n") if p.strip() for s in splitter.tokenize(p)]


def exactness_figures(sentences: list[str]) -> list[Figure]:
    from afinn import Afinn
    from textblob import TextBlob

    reference, fast = nltk_vader(), FastVader()
    pattern, afinn, afinn_library = FastPattern(), FastAfinn(), Afinn(emoticons=True)
    checks: list[tuple[str, str, Callable[[str], bool]]] = [
        ("exact.vader", "FastVader == NLTK VADER", lambda s: fast.polarity_scores(s) == reference.polarity_scores(s)),
        ("exact.pattern", "FastPattern == TextBlob polarity", lambda s: pattern.polarity(s) == TextBlob(s).sentiment.polarity),
        ("exact.afinn", "FastAfinn == AFINN score", lambda s: afinn.score(s) == afinn_library.score(s)),
    ]
    return [Figure(key, f"{label}, share of {len(sentences):,} BBC sentences", sum(map(same, sentences)) / len(sentences)) for key, label, same in checks]


# ----- extraction -----------------------------------------------------------------------


def _expand(template: str, paragraphs: list[str], as_html: bool) -> str:
    """`{{title}}` and `{{paragraphs}}` / `{{paragraphs[a:b]}}` / `{{paragraphs_br}}` of a page or its gold text."""

    def paragraphs_at(match: re.Match[str]) -> str:
        start, end = match.group(2), match.group(3)
        chosen = paragraphs[slice(int(start) if start else None, int(end) if end else None)] if match.group(1) else paragraphs
        if not as_html:
            return "\n".join(chosen)
        if match.group(0).startswith("{{paragraphs_br"):
            return "<BR><BR>\n".join(chosen)
        return "\n".join(f"<p>{p}</p>" for p in chosen)

    return re.sub(r"\{\{paragraphs(?:_br)?(\[(-?\d*):(-?\d*)\])?\}\}", paragraphs_at, template)


def extraction_pages(pages: Path = PAGES, corpus: Path = BBC) -> list[tuple[str, str, str]]:
    """(name, page HTML, hand-marked main text) per page; templated pages take their
    title and paragraphs from the BBC article the manifest names."""
    import html

    manifest = json.loads((pages / "pages.json").read_text(encoding="utf-8"))
    out = []
    for name, article in manifest.items():
        page = (pages / f"{name}.html").read_text(encoding="utf-8")
        gold = (pages / f"{name}.gold.txt").read_text(encoding="utf-8")
        if article is not None:
            title, _, body = (corpus / article).read_text(encoding="utf-8").partition("\n")
            paragraphs = [p.strip() for p in body.split("\n\n") if p.strip()]
            page = _expand(page.replace("{{title}}", html.escape(title.strip())), [html.escape(p) for p in paragraphs], True)
            gold = _expand(gold, paragraphs, False)
        out.append((name, page, gold))
    return out


def token_overlap(extracted: str, gold: str) -> tuple[int, int, int]:
    """(shared, extracted, gold) counts of lowercase word tokens, as bags."""
    found, wanted = Counter(re.findall(r"\w+", extracted.lower())), Counter(re.findall(r"\w+", gold.lower()))
    return sum((found & wanted).values()), sum(found.values()), sum(wanted.values())


def extraction_figures(pages: list[tuple[str, str, str]], verbose: bool = False) -> list[Figure]:
    settings = Settings()
    shared = extracted = wanted = 0
    for name, page, gold in pages:
        article = parse_html(page, f"{name}.html", settings)
        text = getattr(article, "text", "")
        s, e, w = token_overlap(text, gold)
        shared, extracted, wanted = shared + s, extracted + e, wanted + w
        if verbose:
            print(f"  {name}: precision {s / max(e, 1):.3f}, recall {s / max(w, 1):.3f}")
    precision, recall = shared / max(extracted, 1), shared / max(wanted, 1)
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    label = f"HTML main text, {len(pages)} hand-marked pages: token"
    return [Figure("extraction.precision", f"{label} precision", precision), Figure("extraction.recall", f"{label} recall", recall), Figure("extraction.f1", f"{label} F1", f1)]


# ----- the table ------------------------------------------------------------------------


def measure(verbose: bool = False) -> list[Figure]:
    texts, categories = read_bbc()
    return [
        *topic_figures(texts, categories),
        *sentiment_figures(),
        *exactness_figures(bbc_sentences(texts)),
        *extraction_figures(extraction_pages(), verbose),
    ]


def read_floors(path: Path = FLOORS) -> dict[str, float]:
    floors = json.loads(path.read_text(encoding="utf-8"))
    return {key: float(value) for key, value in floors.items() if not key.startswith("_")}


def below_floor(figures: list[Figure], floors: dict[str, float]) -> list[str]:
    """Figures under their floor, and floors without a figure (a renamed figure must not
    drop out of the gate unnoticed)."""
    values = {f.key: f.value for f in figures}
    problems = [f"{f.label}: {f.value:.3f} < floor {floors[f.key]:.3f}" for f in figures if f.key in floors and f.value < floors[f.key]]
    problems += [f"{key}: floor {floors[key]:.3f} but no such figure" for key in floors if key not in values]
    return problems


def table(figures: list[Figure], floors: dict[str, float]) -> str:
    lines = ["| figure | value | floor |", "|---|---:|---:|"]
    for f in figures:
        floor = f"{floors[f.key]:.3f}" if f.key in floors else ""
        lines.append(f"| {f.label} | {f.value:.3f} | {floor} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="exit 1 if a figure is below its floor")
    parser.add_argument("--pages", action="store_true", help="also print each extraction page's precision and recall")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    figures = measure(verbose=args.pages)
    floors = read_floors()
    print(table(figures, floors))
    print(f"\n{time.perf_counter() - started:.1f} s")
    problems = below_floor(figures, floors)
    for problem in problems:
        print(f"BELOW FLOOR: {problem}", file=sys.stderr)
    return 1 if args.check and problems else 0


if __name__ == "__main__":
    sys.exit(main())
