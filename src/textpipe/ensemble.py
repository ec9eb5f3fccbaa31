"""An ensemble sentence sentiment score beside VADER's: VADER's compound, TextBlob's
pattern polarity and AFINN (with VADER's negation rule), combined with weights fitted
on rated sentences; in [-1, 1], about the mean human rating (-4..+4) divided by 4.

The weights and how they were chosen: `scripts/fit_sentiment_ensemble.py` and
docs/quality.md. VADER's own columns are never changed by this module.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import chain
from operator import itemgetter
from pathlib import Path

from textpipe.lexicons import FastAfinn, FastPattern
from textpipe.memo import TokenMemo
from textpipe.sentiment import FastVader, SentenceSentiment

# VADER's normalisation of a sum of valences into (-1, 1), applied to AFINN's sum.
AFINN_ALPHA = 15.0


@dataclass(frozen=True, slots=True)
class EnsembleWeights:
    """Coefficients of the four features; the score is their clipped weighted sum."""

    vader: float
    pattern: float
    afinn: float
    negation: float


# Fitted by `python scripts/fit_sentiment_ensemble.py` on ../shared/ratings (movie and
# Amazon review sentences, each set weighted equally); a test refits and compares.
WEIGHTS = EnsembleWeights(vader=0.319, pattern=0.365, afinn=0.088, negation=-0.102)


@dataclass(frozen=True, slots=True)
class SentenceFeatures:
    """What the ensemble reads from one sentence."""

    vader: float  # VADER's compound, as NLTK computes it
    pattern: float  # TextBlob's pattern polarity, -1..1
    afinn: float  # AFINN's sum with VADER's negation rule, normalised like VADER's: x / sqrt(x^2 + 15)
    negation: float  # 1.0 if the sentence has a negation word ("not", "never", "n't", ...), else 0.0


class SentimentEnsemble:
    """Scores sentences from their text and VADER compound (which the caller already has)."""

    def __init__(
        self,
        weights: EnsembleWeights = WEIGHTS,
        pattern: FastPattern | None = None,
        afinn: FastAfinn | None = None,
    ) -> None:
        self.weights = weights
        self.pattern = pattern if pattern is not None else FastPattern()
        self.afinn = afinn if afinn is not None else FastAfinn()

    def features(self, text: str, vader_compound: float) -> SentenceFeatures:
        raws = text.split()
        afinn_sum, has_negation = self.afinn.negated_score(text, raws)
        return SentenceFeatures(
            vader=vader_compound,
            pattern=self.pattern.polarity(text, raws),
            afinn=afinn_sum / math.sqrt(afinn_sum * afinn_sum + AFINN_ALPHA),
            negation=1.0 if has_negation else 0.0,
        )

    def combine(self, features: SentenceFeatures) -> float:
        w = self.weights
        raw = w.vader * features.vader + w.pattern * features.pattern + w.afinn * features.afinn + (w.negation if features.negation else 0.0)
        return min(1.0, max(-1.0, raw))

    def score(self, text: str, vader_compound: float) -> float:
        """`combine(features(text, vader_compound))`, without building the features object."""
        raws = text.split()
        afinn_sum, has_negation = self.afinn.negated_score(text, raws)
        return self._combine(vader_compound, self.pattern.polarity(text, raws), afinn_sum, has_negation)

    def _combine(self, vader_compound: float, pattern: float, afinn_sum: float, has_negation: bool) -> float:
        w = self.weights
        raw = (
            w.vader * vader_compound
            + w.pattern * pattern
            + w.afinn * (afinn_sum / math.sqrt(afinn_sum * afinn_sum + AFINN_ALPHA))
            + (w.negation if has_negation else 0.0)
        )
        return min(1.0, max(-1.0, raw))


class SentenceScorer:
    """VADER's scores and the ensemble score of a sentence, from one pass over its tokens.

    The same numbers as `FastVader.score(text)` and `SentimentEnsemble.score(text,
    compound)` (a test compares them), at about two thirds of their cost. The text is split
    once, and each distinct token is looked up once, in one memo holding what all three
    scorers read from it, and what it adds to each scorer's sum when none of its context
    rules applies. Most news sentences have no token that changes how another is read
    (a negation, booster, "but", idiom, emoticon or "!", each scorer with its own list):
    such a sentence gets that scorer's numbers from those sums.
    """

    def __init__(self, vader: FastVader | None = None, ensemble: SentimentEnsemble | None = None) -> None:
        self.vader = vader if vader is not None else FastVader()
        self.ensemble = ensemble if ensemble is not None else SentimentEnsemble()
        self._tokens = TokenMemo(self._token)

    def _token(self, raw: str) -> tuple:
        """What the three scorers read from one whitespace token: VADER's, pattern's and
        AFINN's `token_facts` (VADER's None for one character: it drops those); what the
        token adds to VADER's valences, whether VADER counts it, pattern's polarities and
        AFINN's valence, each None where one of that scorer's context rules involves the
        token."""
        vader = self.vader.token_facts(raw) if len(raw) > 1 else None
        pattern = self.ensemble.pattern
        pattern_facts = pattern.token_facts(raw)
        afinn_facts = self.ensemble.afinn.token_facts(raw)
        valences: tuple[float, ...] | None = ()
        if vader is not None:
            valences = None if not FastVader.context_free(vader) else (vader[3],) if vader[6] else ()
        return (vader, pattern_facts, afinn_facts, valences, vader is not None, pattern.plain_polarities(pattern_facts),
                self.ensemble.afinn.plain_valence(afinn_facts))

    def score(self, text: str) -> tuple[SentenceSentiment, float]:
        raws = text.split()
        facts = list(map(self._tokens.__getitem__, raws))
        valences = list(map(_VADER_VALENCES, facts))
        if None in valences:
            # VADER drops tokens of one character; they have no VADER facts.
            vader = self.vader.scores_from_facts(text, list(filter(None, map(_VADER_FACTS, facts))))
        else:
            vader = FastVader.scores_from_valences(text, list(chain.from_iterable(valences)), sum(map(_COUNTS_FOR_VADER, facts)))
        compound = vader["compound"]
        ensemble = self.ensemble
        afinn_valences = list(map(_AFINN_VALENCE, facts))
        if None in afinn_valences:
            afinn_sum, has_negation = ensemble.afinn.negated_score(text, raws, list(map(_AFINN_FACTS, facts)))
        else:
            afinn_sum, has_negation = float(sum(afinn_valences)), False
        polarities = list(map(_PATTERN_POLARITIES, facts))
        pattern_facts = list(map(_PATTERN_FACTS, facts))
        if self._pattern_plain(text, polarities, pattern_facts):
            pattern = FastPattern.polarity_from_plain(list(chain.from_iterable(polarities)))
        else:
            pattern = ensemble.pattern.polarity(text, raws, pattern_facts)
        return (
            SentenceSentiment(vader["neg"], vader["neu"], vader["pos"], compound),
            ensemble._combine(compound, pattern, afinn_sum, has_negation),
        )

    def _plain_paths(self, text: str) -> tuple[bool, bool, bool]:
        """Whether `score` reads VADER, AFINN and pattern from the plain numbers (for tests)."""
        facts = list(map(self._tokens.__getitem__, text.split()))
        return (
            None not in map(_VADER_VALENCES, facts),
            None not in map(_AFINN_VALENCE, facts),
            self._pattern_plain(text, list(map(_PATTERN_POLARITIES, facts)), list(map(_PATTERN_FACTS, facts))),
        )

    def _pattern_plain(self, text: str, polarities: list[tuple[float, ...] | None], pattern_facts: list[tuple]) -> bool:
        """Whether pattern's polarity is `polarity_from_plain` of the tokens' polarities."""
        return None not in polarities and "!" not in text and not self.ensemble.pattern.faces_across(pattern_facts)


(_VADER_FACTS, _PATTERN_FACTS, _AFINN_FACTS, _VADER_VALENCES, _COUNTS_FOR_VADER, _PATTERN_POLARITIES, _AFINN_VALENCE) = (
    itemgetter(i) for i in range(7))


def article_ensemble(scores: Sequence[float]) -> float | None:
    """Mean of an article's sentence scores, as for VADER's compound; None without sentences."""
    return math.fsum(scores) / len(scores) if scores else None


@dataclass(frozen=True)
class RatedSentence:
    snippet_id: str
    rating: float  # mean human rating, -4..+4
    text: str


def read_ratings(path: Path) -> list[RatedSentence]:
    """Hutto & Gilbert's ground-truth files: Latin-1, tab-separated id, mean rating, text."""
    rated = []
    for number, line in enumerate(Path(path).read_text(encoding="latin-1").splitlines(), start=1):
        if not line.strip():
            continue
        parts = line.split("\t", 2)
        try:
            rated.append(RatedSentence(parts[0], float(parts[1]), parts[2]))
        except (IndexError, ValueError) as exc:
            raise ValueError(f"{path}:{number}: expected 'id<TAB>rating<TAB>text', got {line[:60]!r}") from exc
    return rated
