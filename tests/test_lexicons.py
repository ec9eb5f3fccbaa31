"""FastPattern and FastAfinn must equal TextBlob's and AFINN's own scores exactly (==),
on real news sentences, the rated review snippets, edge cases and random text."""

from __future__ import annotations

from pathlib import Path

import pytest
from afinn import Afinn
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from textblob import TextBlob

from textpipe.ensemble import read_ratings
from textpipe.lexicons import FastAfinn, FastPattern, is_negation
from textpipe.resources import sentence_splitter

from conftest import BBC, SAMPLE, SHARED, scorer_words

RATINGS = SHARED / "ratings"

EDGE_CASES = [
    "",
    "   \t\n  ",
    "Good.",
    "It is not good.",
    "It is not a very good film, and never really bad.",
    "It isn't good; I don't like it.",
    "Terribly good, surprisingly awful!",
    "What a great day!!!",
    "Great :) and sad :( and :-D and XD and <3",
    "Great : ) and sad : ( and : - D",
    "The (!) irony, and ( ! ) again.",
    "He was 12 (in 2008) and so on.",
    "It was so.\n\nO really\n\nnice",
    "e.g. U.S. Mr. Smith vs. etc. a.m. good...",
    "o.O and o . O and radio . Or",
    "'Good' \"bad\" “nice” ‘ugly’ can't won't I'd we'll they're you've",
    "bad luck, no fun, does not work, can't stand it, cool stuff, green washing",
    "not bad luck; kind of good; some kind of bad",
    "ΣΑΣ ΟΔΟΣ σοφός, naïve cover-up",
    "END-OF-SENTENCE good END-OF-SENTENCE. bad",
    "The film was GOOD!!! The plot was BAD???",
    "An exodus, xoxo and XOXO, 38D, good_bad, GOOD_, goodness, Good2 and naïveté",
    "GlaxoSmithKline, (cover-up) well-being's, 'can't' and xo.",
    "It does not work; xdoes not work; does not not good; kind of kind of; some kind of no fun, bad luck bad luck.",
]


def sentences_of(path: Path) -> list[str]:
    splitter = sentence_splitter()
    return [s for p in path.read_text(encoding="utf-8").split("\n\n") if p.strip() for s in splitter.tokenize(p)]


@pytest.fixture(scope="module")
def pattern() -> FastPattern:
    return FastPattern()


@pytest.fixture(scope="module")
def afinn() -> FastAfinn:
    return FastAfinn()


@pytest.fixture(scope="module")
def afinn_library() -> Afinn:
    return Afinn(emoticons=True)


@pytest.fixture(scope="module")
def bbc_sentences() -> list[str]:
    sentences = [s for path in sorted(BBC.glob("*/*.txt"))[::25] for s in sentences_of(path)] + sentences_of(SAMPLE)
    assert len(sentences) > 1500
    return sentences


def assert_pattern_equal(pattern: FastPattern, texts: list[str]) -> None:
    differ = [(t, TextBlob(t).sentiment.polarity, pattern.polarity(t)) for t in texts]
    differ = [d for d in differ if d[1] != d[2]]
    assert differ == [], f"{len(differ)} of {len(texts)} differ, first: {differ[:3]}"


def assert_afinn_equal(afinn: FastAfinn, library: Afinn, texts: list[str]) -> None:
    # The library's score is the sum of what find_all finds (one ~0.4 ms scan a sentence).
    differ = [(t, library.find_all(t), [m.entry for m in afinn.matches(t)]) for t in texts]
    differ = [d for d in differ if d[1] != d[2]]
    assert differ == [], f"{len(differ)} of {len(texts)} differ, first: {differ[:3]}"
    for text in texts[::50]:
        assert afinn.score(text) == library.score(text)


def test_pattern_equals_textblob_on_news(pattern, bbc_sentences):
    assert_pattern_equal(pattern, bbc_sentences)
    assert min(map(pattern.polarity, bbc_sentences)) < -0.5 < 0.5 < max(map(pattern.polarity, bbc_sentences))


def test_afinn_equals_the_library_on_news(afinn, afinn_library, bbc_sentences):
    assert_afinn_equal(afinn, afinn_library, bbc_sentences)


def rated_snippets() -> list[str]:
    texts = [r.text for name in ("movieReviewSnippets_GroundTruth.txt", "amazonReviewSnippets_GroundTruth.txt") for r in read_ratings(RATINGS / name)]
    assert len(texts) == 14_313
    return texts


def test_both_equal_their_libraries_on_rated_snippets(pattern, afinn, afinn_library):
    texts = rated_snippets()[::7]
    assert_pattern_equal(pattern, texts)
    assert_afinn_equal(afinn, afinn_library, texts)


@pytest.mark.slow
def test_both_equal_their_libraries_on_every_rated_snippet_and_bbc_sentence(pattern, afinn, afinn_library):
    texts = rated_snippets() + [s for path in sorted(BBC.glob("*/*.txt")) for s in sentences_of(path)]
    assert_pattern_equal(pattern, texts)
    assert_afinn_equal(afinn, afinn_library, texts)


@pytest.mark.parametrize("text", EDGE_CASES)
def test_both_equal_their_libraries_on_edge_cases(pattern, afinn, afinn_library, text):
    assert pattern.polarity(text) == TextBlob(text).sentiment.polarity
    assert afinn.score(text) == afinn_library.score(text)


def test_edge_cases_take_both_paths(pattern, afinn):
    # Guards the list above: some cases need the library's own cross-token rules.
    assert pattern._words("Great : ) and sad") is None  # an emoticon split by a space
    assert pattern._words("The (!) irony") is None
    assert pattern._words("the radio. Then") is not None  # "o ." looks like the start of o.O, is not
    assert [m.entry for m in afinn.matches("it does not work, some kind of")] == ["does not work", "some kind"]  # multi-word entries
    assert [m.entry for m in afinn.matches("it does work")] == []
    assert TextBlob("Great : ) and sad").sentiment.polarity != TextBlob("Great and sad").sentiment.polarity


def test_a_tiny_memo_gives_the_same_scores(afinn_library, monkeypatch):
    monkeypatch.setattr("textpipe.memo.MEMO_LIMIT", 3)
    pattern, afinn = FastPattern(), FastAfinn()
    for text in EDGE_CASES * 2:
        assert pattern.polarity(text) == TextBlob(text).sentiment.polarity
        assert afinn.score(text) == afinn_library.score(text)


_WORDS = (
    "good bad great not no never very really terribly happy sad love hate don't can't isn't "
    "does work luck fun stand kind of some cool stuff o O . .. ... ! !! ? ( ) (! !) : ; - ' \" "
    ":) :( :D XD <3 ♥ 8 8) e.g. U.S. Mr. END-OF-SENTENCE Σ naïve cover-up"
).split()
_token = st.one_of(
    scorer_words(_WORDS, ["", "(", "'", '"', ":", "-"], ["", ".", ",", "!", ")", "'", "...", ":"]),
    st.text(min_size=1, max_size=5),
)
_gap = st.sampled_from([" ", "  ", "\n", "\n\n", "\r\n\r\n", "\t", "\u00a0", ""])
_sentence = st.lists(st.tuples(_token, _gap), max_size=20).map(lambda pairs: "".join(t + g for t, g in pairs))


@settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=st.one_of(st.text(max_size=120), _sentence))
def test_both_equal_their_libraries_on_random_text(pattern, afinn, afinn_library, text):
    assert pattern.polarity(text) == TextBlob(text).sentiment.polarity
    assert afinn.score(text) == afinn_library.score(text)


def test_negation_rule_follows_vader(afinn):
    assert is_negation("not") and is_negation("Isn't") and is_negation("(never") and not is_negation("note")
    plain, has_negation = afinn.negated_score("a good film")
    negated, also = afinn.negated_score("not a good film")
    assert (has_negation, also) == (False, True)
    assert negated == pytest.approx(plain * -0.74)
    far, _ = afinn.negated_score("not that it was a good film")  # four tokens back: out of reach
    assert far == plain


def test_scorers_built_by_threads_at_once_score_as_one_built_alone(bbc_sentences):
    """The threads task runner builds scorers from several tasks at the same moment,
    while TextBlob's lexicon is still loading itself from its XML: each must score as a
    scorer built alone does (before the lock, a few sentences in a thousand differed)."""
    import sys
    import threading

    from textblob.en import sentiment as library

    from textpipe.ensemble import SentimentEnsemble

    texts = bbc_sentences[:3000]
    reference = SentimentEnsemble()
    want = [reference.score(text, 0.0) for text in texts]
    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # switch threads often, as a loaded machine does
    try:
        for _attempt in range(3):
            dict.clear(library)  # as in a fresh process: the lexicon loads on first use
            start = threading.Barrier(4)
            got: dict[int, float] = {}

            def score(first: int) -> None:
                start.wait()
                ensemble = SentimentEnsemble()
                for index in range(first, len(texts), 4):
                    got[index] = ensemble.score(texts[index], 0.0)

            threads = [threading.Thread(target=score, args=(first,)) for first in range(4)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            assert [got[index] for index in range(len(texts))] == want
    finally:
        sys.setswitchinterval(interval)
