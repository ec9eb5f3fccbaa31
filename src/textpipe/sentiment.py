"""VADER sentiment per sentence and per article.

`FastVader` returns exactly (==) what NLTK 3.10's `SentimentIntensityAnalyzer.polarity_scores`
returns for any str, several times faster. Sentences must be scored as written: VADER
reads intensity from capitals and punctuation.
"""

from __future__ import annotations

import math
import string
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from itertools import compress
from operator import itemgetter

from nltk.sentiment.vader import VaderConstants

from textpipe.resources import nltk_vader

# VADER's published thresholds on the compound score.
POSITIVE_THRESHOLD = 0.05
NEGATIVE_THRESHOLD = -0.05

_C = VaderConstants
_B_DECR = _C.B_DECR
_C_INCR = _C.C_INCR
_N_SCALAR = _C.N_SCALAR
_PUNCTUATION = frozenset(string.punctuation)
_PUNC_LIST = frozenset(_C.PUNC_LIST)
_SO_THIS = ("so", "this")
# Fields of `FastVader.token_facts`, read in C over a whole sentence at once.
_WORD, _LOWER, _UPPER, _IN_LEXICON, _MODIFIES = itemgetter(0), itemgetter(1), itemgetter(2), itemgetter(6), itemgetter(7)


def _multiword(table: Mapping[str, float]) -> dict[tuple[str, ...], float]:
    # NLTK compares "w1 w2" strings; tokens never contain whitespace, so comparing
    # token tuples with the key's words is the same test without building strings.
    return {tuple(key.split(" ")): value for key, value in table.items() if " " in key}


_IDIOMS = _multiword(_C.SPECIAL_CASE_IDIOMS)
_BOOSTER_BIGRAMS = frozenset(key for key in _multiword(_C.BOOSTER_DICT) if len(key) == 2)
_IDIOM_ENDS = frozenset(key[-1] for key in (*_IDIOMS, *_BOOSTER_BIGRAMS))
# A text without any of these words has no idiom or booster bigram: each ends with one,
# or with "of" after "kind" or "sort".
_IDIOM_WORDS = (_IDIOM_ENDS - {"of"}) | {"kind", "sort"}
_EMPTY = {"neg": 0.0, "neu": 0.0, "pos": 0.0, "compound": 0.0}
_NEUTRAL = {"neg": 0.0, "neu": 1.0, "pos": 0.0, "compound": 0.0}


@dataclass(frozen=True, slots=True)
class SentenceSentiment:
    neg: float
    neu: float
    pos: float
    compound: float


@dataclass(frozen=True, slots=True)
class ArticleSentiment:
    """Means of the article's sentence scores; all None for an article without sentences."""

    compound: float | None
    pos: float | None
    neg: float | None
    neu: float | None
    label: str | None


def sentiment_label(compound: float) -> str:
    if compound >= POSITIVE_THRESHOLD:
        return "positive"
    if compound <= NEGATIVE_THRESHOLD:
        return "negative"
    return "neutral"


def article_sentiment(scores: Sequence[SentenceSentiment]) -> ArticleSentiment:
    if not scores:
        return ArticleSentiment(None, None, None, None, None)
    count = len(scores)
    compound = math.fsum(s.compound for s in scores) / count
    return ArticleSentiment(
        compound=compound,
        pos=math.fsum(s.pos for s in scores) / count,
        neg=math.fsum(s.neg for s in scores) / count,
        neu=math.fsum(s.neu for s in scores) / count,
        label=sentiment_label(compound),
    )


def _strip_punctuation(token: str) -> str:
    """NLTK's `SentiText._words_and_emoticons` replacement, decided per token.

    NLTK maps "p+w" and "w+p" to "w" for p in PUNC_LIST and w any word (longer than
    one character) of the text with all ASCII punctuation removed. Since such a w
    has no punctuation, p must be the token's whole leading (or trailing) run of
    punctuation, and the token itself puts w in NLTK's word set.
    """
    if token[0] in _PUNCTUATION:
        start = 1
        while start < len(token) and token[start] in _PUNCTUATION:
            start += 1
        core = token[start:]
        if core and token[:start] in _PUNC_LIST:
            return core if len(core) > 1 and _PUNCTUATION.isdisjoint(core) else token
        return token
    if token[-1] in _PUNCTUATION:
        end = len(token) - 1
        while token[end - 1] in _PUNCTUATION:
            end -= 1
        core = token[:end]
        if token[end:] in _PUNC_LIST and len(core) > 1 and _PUNCTUATION.isdisjoint(core):
            return core
    return token


class FastVader:
    """NLTK 3.10's VADER, bit for bit, without its per-sentence overheads.

    Per-token facts (stripped form, lowercase, caps, lexicon valence, booster,
    negation) are computed once per distinct raw token and memoised; context rules
    run only around lexicon words. Floating-point operations keep NLTK's order.
    """

    def __init__(self, lexicon: Mapping[str, float] | None = None, cache_size: int = 200_000) -> None:
        self.lexicon: Mapping[str, float] = nltk_vader().lexicon if lexicon is None else lexicon
        self._least_negates = "least" not in self.lexicon
        self._cache_size = cache_size
        self._tokens: dict[str, tuple[str, str, bool, float | None, float | None, bool, bool, bool]] = {}

    def token_facts(self, raw: str) -> tuple[str, str, bool, float | None, float | None, bool, bool, bool]:
        """What VADER reads from one whitespace token of two or more characters:
        (word, lowercase, all capitals, valence, booster, negation, in the lexicon,
        whether it can change the valence of a word up to three tokens after it).
        Not memoised."""
        word = _strip_punctuation(raw)
        lower = word.lower()
        valence = self.lexicon.get(lower)
        booster = _C.BOOSTER_DICT.get(lower)
        negation = lower in _C.NEGATE or "n't" in lower
        return (
            word,
            lower,
            word.isupper(),
            valence,
            booster,
            negation,
            valence is not None,
            booster is not None or negation or word in ("never", *_SO_THIS) or lower == "least",
        )

    @staticmethod
    def context_free(facts: tuple) -> bool:
        """Whether a token with these `token_facts` neither changes another token's valence
        nor has its own changed by another's: no booster, negation, "never", "so", "this",
        "least", "but", "kind" or idiom word, and not a lexicon word in capitals (whose
        valence depends on the other tokens' case). A text of such tokens scores as
        `scores_from_valences` of its lexicon words' valences."""
        _word, lower, upper, _valence, _booster, _negation, hit, modifies = facts
        return not (modifies or (upper and hit) or lower == "but" or lower in _IDIOM_WORDS)

    @staticmethod
    def scores_from_valences(text: str, valences: list[float], n: int) -> dict[str, float]:
        """`polarity_scores(text)` for a text of `n` tokens (of two or more characters),
        all `context_free`, whose lexicon words have `valences`, in order."""
        if not n:
            return dict(_EMPTY)
        if not valences:
            return dict(_NEUTRAL)
        return FastVader._score_valence(valences, range(len(valences)), n, text)

    def _token(self, raw: str) -> tuple[str, str, bool, float | None, float | None, bool, bool, bool]:
        facts = self.token_facts(raw)
        if len(self._tokens) >= self._cache_size:
            self._tokens.clear()
        self._tokens[raw] = facts
        return facts

    def polarity_scores(self, text: str) -> dict[str, float]:
        """Same keys and values as NLTK's `SentimentIntensityAnalyzer.polarity_scores(text)`."""
        known = self._tokens
        return self.scores_from_facts(text, [known.get(raw) or self._token(raw) for raw in text.split() if len(raw) > 1])

    def scores_from_facts(self, text: str, facts: list[tuple]) -> dict[str, float]:
        """`polarity_scores(text)` from the `token_facts` of its whitespace tokens of two
        or more characters, in order (VADER drops one-character tokens)."""
        if not facts:
            return dict(_EMPTY)
        hits = list(compress(range(len(facts)), map(_IN_LEXICON, facts)))
        if not hits:
            return dict(_NEUTRAL)
        return self._score(text, facts, hits)

    def score(self, text: str) -> SentenceSentiment:
        s = self.polarity_scores(text)
        return SentenceSentiment(s["neg"], s["neu"], s["pos"], s["compound"])

    def score_many(self, texts: Sequence[str]) -> list[SentenceSentiment]:
        return [self.score(text) for text in texts]

    def _score(self, text: str, facts: list[tuple], hits: list[int]) -> dict[str, float]:
        n = len(facts)
        words = list(map(_WORD, facts))
        lowers = list(map(_LOWER, facts))
        upper_count = sum(map(_UPPER, facts))
        cap_diff = 0 < n - upper_count < n
        sentiments: list[float] = [0] * n  # NLTK's neutral entries are the int 0
        valences: dict[int, float] = {}
        for j in hits:
            # NLTK scores every occurrence of a word at the position of its first occurrence.
            i = words.index(words[j])
            if i not in valences:
                valences[i] = self._valence(i, facts, words, lowers, cap_diff)
            sentiments[j] = valences[i]
        if "but" in lowers:
            bi = lowers.index("but")
            before, after = sentiments[:bi], sentiments[bi + 1 :]
            sentiments = [s * 0.5 for s in before] + [sentiments[bi]] + [s * 1.5 for s in after]
        return self._score_valence(sentiments, hits, n, text)

    def _valence(self, i: int, facts: list[tuple], words: list[str], lowers: list[str], cap_diff: bool) -> float:
        _word, lower, upper, valence, booster, _negated, _hit, _modifies = facts[i]
        n = len(facts)
        if booster is not None or (lower == "kind" and i < n - 1 and lowers[i + 1] == "of"):
            return 0
        if upper and cap_diff:
            valence = valence + _C_INCR if valence > 0 else valence - _C_INCR
        # No booster, negation, "never", "so", "this" or "least" in the three tokens
        # before, and no idiom near: every rule below leaves the valence as it is.
        if not any(map(_MODIFIES, facts[i - 3 if i > 3 else 0 : i])) and (i < 3 or _IDIOM_ENDS.isdisjoint(words[i - 2 : i + 3])):
            return valence
        for start_i in (0, 1, 2):
            j = i - start_i - 1
            if j < 0 or facts[j][3] is not None:
                continue
            s = self._scalar(facts[j], valence, cap_diff)
            if start_i == 1 and s != 0:
                s = s * 0.95
            if start_i == 2 and s != 0:
                s = s * 0.9
            valence = valence + s
            valence = self._never_check(valence, facts, words, start_i, i)
            if start_i == 2:
                valence = self._idioms_check(valence, words, i)
        return self._least_check(valence, facts, lowers, i)

    @staticmethod
    def _scalar(fact: tuple, valence: float, cap_diff: bool) -> float:
        scalar = 0.0
        booster = fact[4]
        if booster is not None:
            scalar = booster
            if valence < 0:
                scalar *= -1
            if fact[2] and cap_diff:
                if valence > 0:
                    scalar += _C_INCR
                else:
                    scalar -= _C_INCR
        return scalar

    @staticmethod
    def _never_check(valence: float, facts: list[tuple], words: list[str], start_i: int, i: int) -> float:
        if start_i == 0:
            if facts[i - 1][5]:
                valence = valence * _N_SCALAR
        elif start_i == 1:
            if words[i - 2] == "never" and words[i - 1] in _SO_THIS:
                valence = valence * 1.5
            elif facts[i - 2][5]:
                valence = valence * _N_SCALAR
        else:
            if (words[i - 3] == "never" and words[i - 2] in _SO_THIS) or words[i - 1] in _SO_THIS:
                valence = valence * 1.25
            elif facts[i - 3][5]:
                valence = valence * _N_SCALAR
        return valence

    @staticmethod
    def _idioms_check(valence: float, words: list[str], i: int) -> float:
        w3, w2, w1, w0 = words[i - 3], words[i - 2], words[i - 1], words[i]
        # Every test below needs an idiom's or booster bigram's last word among these.
        if _IDIOM_ENDS.isdisjoint(words[i - 2 : i + 3]):
            return valence
        for seq in ((w1, w0), (w2, w1, w0), (w2, w1), (w3, w2, w1), (w3, w2)):
            if seq in _IDIOMS:
                valence = _IDIOMS[seq]
                break
        n = len(words)
        if n - 1 > i and (w0, words[i + 1]) in _IDIOMS:
            valence = _IDIOMS[(w0, words[i + 1])]
        if n - 1 > i + 1 and (w0, words[i + 1], words[i + 2]) in _IDIOMS:
            valence = _IDIOMS[(w0, words[i + 1], words[i + 2])]
        if (w3, w2) in _BOOSTER_BIGRAMS or (w2, w1) in _BOOSTER_BIGRAMS:
            valence = valence + _B_DECR
        return valence

    def _least_check(self, valence: float, facts: list[tuple], lowers: list[str], i: int) -> float:
        if not self._least_negates or i == 0 or lowers[i - 1] != "least":
            return valence
        if i > 1:
            if lowers[i - 2] != "at" and lowers[i - 2] != "very":
                valence = valence * _N_SCALAR
        else:
            valence = valence * _N_SCALAR
        return valence

    @staticmethod
    def _score_valence(sentiments: list[float], hits: list[int], n: int, text: str) -> dict[str, float]:
        sum_s = float(sum(sentiments))
        ep_count = min(text.count("!"), 4)
        qm_count = text.count("?")
        qm_amplifier: float = 0
        if qm_count > 1:
            qm_amplifier = qm_count * 0.18 if qm_count <= 3 else 0.96
        punct_emph_amplifier = ep_count * 0.292 + qm_amplifier
        if sum_s > 0:
            sum_s += punct_emph_amplifier
        elif sum_s < 0:
            sum_s -= punct_emph_amplifier
        compound = sum_s / math.sqrt((sum_s * sum_s) + 15)

        # Only lexicon positions can be non-zero; in order, as NLTK accumulates them.
        pos_sum = 0.0
        neg_sum = 0.0
        neu_count = n
        for j in hits:
            s = sentiments[j]
            if s > 0:
                pos_sum += float(s) + 1
                neu_count -= 1
            elif s < 0:
                neg_sum += float(s) - 1
                neu_count -= 1
        if pos_sum > math.fabs(neg_sum):
            pos_sum += punct_emph_amplifier
        elif pos_sum < math.fabs(neg_sum):
            neg_sum -= punct_emph_amplifier
        total = pos_sum + math.fabs(neg_sum) + neu_count
        return {
            "neg": round(math.fabs(neg_sum / total), 3),
            "neu": round(math.fabs(neu_count / total), 3),
            "pos": round(math.fabs(pos_sum / total), 3),
            "compound": round(compound, 4),
        }
