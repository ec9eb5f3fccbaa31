"""Tokenizing: paragraphs -> sentences (with character offsets) -> word tokens -> terms.

Sentences are split per paragraph with NLTK Punkt, so a heading or title line is
never glued to the next sentence; offsets index into the article's cleaned text.
Terms (for topic models) are lowercase readable words without stop words,
numbers or punctuation; sentences keep their original case and punctuation
because VADER reads intensity from both.
"""

from __future__ import annotations

import re
import string
from collections.abc import Iterator
from dataclasses import dataclass
from functools import lru_cache, partial
from itertools import chain, pairwise
from operator import itemgetter

import regex
from nltk.tokenize import punkt

from textpipe.memo import TokenMemo
from textpipe.resources import load_punkt_params

# A Treebank-like pattern: words with inner apostrophes or hyphens, numbers with
# separators, and single punctuation marks (NLTK's word_tokenize gives nearly the
# same counts at ~25x the cost). Compiled as NLTK's RegexpTokenizer compiles it
# (the `regex` engine, same flags), so tokens are identical; but called directly,
# because NLTK wraps every match call in a ReDoS timeout that cost 4x the matching.
# The pattern is linear (each repetition needs a separator), so nothing is lost.
_WORD = regex.compile(r"\w+(?:[-'’.]\w+)*|[^\w\s]", regex.UNICODE | regex.MULTILINE | regex.DOTALL)
# Terms are matched after "’" became "'", so one apostrophe form is enough.
_TERM = re.compile(r"[^\W\d_]+(?:'[^\W\d_]+)*")
_MIN_TERM_CHARS = 2


@dataclass(frozen=True, slots=True)
class SentenceSpan:
    """One sentence: its position in the article and its [start, end) offsets in the text."""

    sentence_index: int
    paragraph_index: int
    start_char: int
    end_char: int


@dataclass(frozen=True, slots=True)
class TokenizedArticle:
    sentences: tuple[SentenceSpan, ...]
    n_paragraphs: int
    n_tokens: int
    terms: tuple[str, ...]  # the title's, then the body's
    n_title_terms: int


def paragraph_spans(text: str) -> Iterator[tuple[int, int]]:
    """[start, end) of each paragraph; cleaned text separates them with "\\n\\n"."""
    start = 0
    for match in re.finditer(r"\n\s*\n", text):
        if text[start : match.start()].strip():
            yield start, match.start()
        start = match.end()
    if text[start:].strip():
        yield start, len(text)


def split_sentences(text: str) -> list[SentenceSpan]:
    """Sentences of every paragraph, in order, with offsets into `text`."""
    return _split_paragraphs(text, list(paragraph_spans(text)))


def _split_paragraphs(text: str, paragraphs: list[tuple[int, int]]) -> list[SentenceSpan]:
    span_tokenize = _sentence_splitter().span_tokenize
    spans: list[SentenceSpan] = []
    for paragraph_index, (p_start, p_end) in enumerate(paragraphs):
        for s_start, s_end in span_tokenize(text[p_start:p_end]):
            spans.append(SentenceSpan(len(spans), paragraph_index, p_start + s_start, p_start + s_end))
    return spans


def count_tokens(text: str) -> int:
    return len(_WORD.findall(text))


def word_tokens(text: str) -> list[str]:
    return _WORD.findall(text)


def normalize_terms(text: str, stop_words: frozenset[str]) -> list[str]:
    """Lowercase words for topic modelling: no stop words, numbers, punctuation or possessive 's."""
    return list(chain.from_iterable(map(_TERMS, map(_token_memo(stop_words).__getitem__, text.split()))))


def tokenize_article(title: str, text: str, stop_words: frozenset[str]) -> TokenizedArticle:
    """Sentences of the body; tokens of the body; terms of title and body (the title is topical)."""
    paragraphs = list(paragraph_spans(text))
    memo = _token_memo(stop_words)
    title_terms = normalize_terms(title, stop_words)
    body = list(map(memo.__getitem__, text.split()))
    return TokenizedArticle(
        sentences=tuple(_split_paragraphs(text, paragraphs)),
        n_paragraphs=len(paragraphs),
        # str.split() splits at ASCII's file, group, record and unit separators, which
        # the word pattern counts as tokens: a text with one is counted whole.
        n_tokens=count_tokens(text) if _SEPARATORS.search(text) else sum(map(_N_TOKENS, body)),
        # == normalize_terms(f"{title}\n{text}"): no term spans the line break.
        terms=(*title_terms, *chain.from_iterable(map(_TERMS, body))),
        n_title_terms=len(title_terms),
    )


def _piece_facts(stop_words: frozenset[str], piece: str) -> tuple[int, tuple[str, ...]]:
    """A whitespace piece's number of word tokens and its terms.

    Neither pattern matches across whitespace (nor does lowercasing look across it), so
    a text's tokens and terms are those of its whitespace-separated pieces in order.
    """
    words = (w.removesuffix("'s") for w in _TERM.findall(piece.lower().replace("’", "'")))
    return len(_WORD.findall(piece)), tuple(w for w in words if len(w) >= _MIN_TERM_CHARS and w not in stop_words)


_SEPARATORS = re.compile("[\x1c-\x1f]")
_N_TOKENS, _TERMS = itemgetter(0), itemgetter(1)


@lru_cache(maxsize=4)
def _token_memo(stop_words: frozenset[str]) -> TokenMemo:
    return TokenMemo(partial(_piece_facts, stop_words))


# Punkt, same spans, ~9x faster. NLTK's splitter spends most of its time
# deciding whether each candidate ("word. Next") is a break: it builds token
# objects and runs several timeout-guarded regexes per token. `_Punkt` replaces
# that decision with the same rules (NLTK 3.10's `_first_pass_annotation`,
# `_second_pass_annotation` and `_ortho_heuristic`) over per-token facts computed
# once per distinct token, and runs NLTK's candidate search and realignment in one
# pass over plain offsets, on the same patterns compiled as plain `regex` patterns.
# bench/check_punkt.py compares it with NLTK's splitter on real and random text.


def _plain(pattern: object) -> regex.Pattern:
    """The pattern inside one of NLTK's timeout-guarded patterns, compiled alike."""
    return regex.compile(pattern.pattern, pattern.flags)  # type: ignore[attr-defined]


class _PlainLanguageVars(punkt.PunktLanguageVars):
    __slots__ = ()
    re_boundary_realignment = _plain(punkt.PunktLanguageVars.re_boundary_realignment)

    def _word_tokenizer_re(self) -> regex.Pattern:
        try:
            return self._re_word_tokenizer
        except AttributeError:
            self._re_word_tokenizer = _plain(super()._word_tokenizer_re())
            return self._re_word_tokenizer

    def period_context_re(self) -> regex.Pattern:
        try:
            return self._re_period_context
        except AttributeError:
            self._re_period_context = _plain(super().period_context_re())
            return self._re_period_context


# The last of the characters NLTK's `_get_last_whitespace_index` looks for.
_LAST_WHITESPACE = regex.compile(f"[{regex.escape(string.whitespace)}]", regex.REVERSE)


@dataclass(frozen=True, slots=True)
class _TokenFacts:
    """What Punkt's rules read of one token after its first (type-based) pass."""

    tok: str
    type_no_period: str
    type_no_sentperiod: str
    period_final: bool
    sentbreak: bool
    abbr_or_ellipsis: bool
    initial: bool
    first_upper: bool
    first_lower: bool


class _Punkt(punkt.PunktSentenceTokenizer):
    _NUMERIC = _plain(punkt.PunktToken._RE_NUMERIC)
    _ELLIPSIS = _plain(punkt.PunktToken._RE_ELLIPSIS)
    _INITIAL = _plain(punkt.PunktToken._RE_INITIAL)
    _MAX_FACTS = 200_000

    def __init__(self, params: punkt.PunktParameters) -> None:
        super().__init__(params, lang_vars=_PlainLanguageVars())
        self._facts: dict[str, _TokenFacts] = {}
        self._breaks = TokenMemo(self._contains_sentbreak)

    def span_tokenize(self, text: str, realign_boundaries: bool = True) -> Iterator[tuple[int, int]]:
        """NLTK's candidate search, break decisions and realignment in one pass, same spans.

        NLTK chains three generators of slice objects and finds each candidate's
        preceding word with a Python loop over its characters; here, plain offsets and a
        reverse regex search for the whitespace.
        """
        if not realign_boundaries:
            return super().span_tokenize(text, realign_boundaries)
        last_whitespace = _LAST_WHITESPACE.search
        # NLTK's candidates with the start of the word before each: a candidate whose word
        # reaches back over the one before drops that one.
        candidates: list[tuple[regex.Match, int]] = []
        previous: regex.Match | None = None
        previous_start = 0
        for match in self._lang_vars.period_context_re().finditer(text):
            previous_stop = previous.start() if previous is not None else 0
            space = last_whitespace(text, previous_stop, match.start())
            word_start = space.end() if space is not None and space.start() > previous_stop else previous_start
            if previous is not None and previous_stop <= word_start:
                candidates.append((previous, previous_start))
            previous, previous_start = match, word_start
        if previous is not None:
            candidates.append((previous, previous_start))
        breaks = self._breaks
        starts: list[int] = []
        stops: list[int] = []
        last_break = 0
        for match, word_start in candidates:
            # The context NLTK decides on: "word. Next".
            if breaks[text[word_start : match.start()] + match.group() + match.group("after_tok")]:
                starts.append(last_break)
                stops.append(match.end())
                next_token = match.start("next_tok")
                last_break = next_token if next_token >= 0 else match.end()
        starts.append(last_break)
        stops.append(len(text.rstrip()))
        return iter(self._realigned(text, starts, stops))

    def _realigned(self, text: str, starts: list[int], stops: list[int]) -> list[tuple[int, int]]:
        """NLTK's `_realign_boundaries`: closing quotes and brackets after a break join the sentence before it."""
        realign_match = self._lang_vars.re_boundary_realignment.match
        spans = []
        realign = 0
        for i in range(len(starts) - 1):
            start, stop, next_start = starts[i] + realign, stops[i], starts[i + 1]
            found = realign_match(text, next_start, max(stops[i + 1], next_start))
            if found is not None:
                spans.append((start, found.start() + len(found.group().rstrip())))
                realign = found.end() - next_start
            else:
                realign = 0
                if stop > start:
                    spans.append((start, stop))
        start, stop = starts[-1] + realign, stops[-1]
        if stop > start:
            spans.append((start, stop))
        return spans

    def text_contains_sentbreak(self, text: str) -> bool:
        """True if a token other than the last ends a sentence (NLTK's method, same answer).

        Called on each candidate's context, a word, its period and the next word ("said.
        The"): news repeats these, and the answer depends on the text alone.
        """
        return self._breaks[text]

    def _contains_sentbreak(self, text: str) -> bool:
        tokenize = self._lang_vars.word_tokenize
        facts = [self._token_facts(tok) for line in text.split("\n") if line.strip() for tok in tokenize(line)]
        return any(self._is_break(first, second) for first, second in pairwise(facts))

    def _token_facts(self, tok: str) -> _TokenFacts:
        known = self._facts.get(tok)
        if known is not None:
            return known
        abbrev_types = self._params.abbrev_types
        period_final = tok.endswith(".")
        sentbreak = abbr_or_ellipsis = False
        if tok in self._lang_vars.sent_end_chars:
            sentbreak = True
        elif self._ELLIPSIS.match(tok):
            abbr_or_ellipsis = True
        elif period_final and not tok.endswith(".."):
            stem = tok[:-1].lower()
            if stem in abbrev_types or stem.split("-")[-1] in abbrev_types:
                abbr_or_ellipsis = True
            else:
                sentbreak = True
        type_ = self._NUMERIC.sub("##number##", tok.lower())
        type_no_period = type_[:-1] if len(type_) > 1 and type_[-1] == "." else type_
        facts = _TokenFacts(
            tok, type_no_period, type_no_period if sentbreak else type_, period_final, sentbreak,
            abbr_or_ellipsis, bool(self._INITIAL.match(tok)), tok[0].isupper(), tok[0].islower(),
        )
        if len(self._facts) >= self._MAX_FACTS:
            self._facts.clear()
        self._facts[tok] = facts
        return facts

    def _is_break(self, first: _TokenFacts, second: _TokenFacts) -> bool:
        """The first token's sentence break after NLTK's second pass over the pair."""
        if not first.period_final:
            return first.sentbreak
        params = self._params
        typ, next_typ = first.type_no_period, second.type_no_sentperiod
        if (typ, next_typ) in params.collocations:
            return False
        if first.abbr_or_ellipsis and not first.initial:
            if self._sentence_starter(second) is True:
                return True
            if second.first_upper and next_typ in params.sent_starters:
                return True
        if first.initial or typ == "##number##":
            starter = self._sentence_starter(second)
            if starter is False:
                return False
            if starter == "unknown" and first.initial and second.first_upper and not (params.ortho_context[next_typ] & punkt._ORTHO_LC):
                return False
        return first.sentbreak

    def _sentence_starter(self, token: _TokenFacts) -> bool | str:
        """NLTK's orthographic heuristic: True, False or "unknown"."""
        if token.tok in self.PUNCTUATION:
            return False
        context = self._params.ortho_context[token.type_no_sentperiod]
        if token.first_upper and context & punkt._ORTHO_LC and not context & punkt._ORTHO_MID_UC:
            return True
        if token.first_lower and (context & punkt._ORTHO_UC or not context & punkt._ORTHO_BEG_LC):
            return False
        return "unknown"


@lru_cache(maxsize=1)
def _sentence_splitter() -> _Punkt:
    return _Punkt(load_punkt_params())
