"""FastVader must equal NLTK's VADER exactly (==); article scores follow VADER's thresholds."""

from __future__ import annotations

import random
import statistics
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from textpipe.resources import nltk_vader, sentence_splitter
from textpipe.sentiment import (
    ArticleSentiment,
    FastVader,
    SentenceSentiment,
    article_sentiment,
    sentiment_label,
)

from conftest import scorer_words

SHARED = Path(__file__).resolve().parents[1].parent / "shared"
BBC = SHARED / "corpora" / "bbc"
SAMPLES = SHARED / "samples"

EDGE_CASES = [
    "",
    "   \t\n  ",
    "...",
    "!?!",
    "?",
    "a",
    "I",
    "The food was GREAT but the service was TERRIBLE.",
    "THE FOOD WAS GREAT.",
    "This is good!!!",
    "This is good!!!!!!!",
    "Is this good??",
    "Is this good????",
    "Is it good?",
    "The film was not good.",
    "The film isn't good at all, it wasn't even funny.",
    "This was never so bad.",
    "It was never this good and never so terrible.",
    "It was so good.",
    "It was good, but it was too long.",
    "It was bad BUT it was cheap, but ugly.",
    "The plot was kind of good.",
    "It was KIND of terrible, sort of funny, just enough fun.",
    "kind",
    "She is kind of kind.",
    "This is the least good option.",
    "At least it was good.",
    "This is the very least good thing.",
    "least good",
    "I love it :)",
    "I hate it :(",
    "Great :D and :-) but :'( too",
    "Party time 😀🎉 so happy 😢",
    "That movie was the bomb, yeah right, it was the shit.",
    "He can't cut the mustard; it was the kiss of death, living hand to mouth.",
    "No, no, NO!",
    "No problem at all.",
    "Read more at https://example.com/good-news?ok=yes&bad=no.",
    "VERY GOOD, very good, Very Good.",
    "The EXTREMELY bad result was extremely BAD.",
    "'Good' \"bad\" (ugly) [nice] {evil}",
    "good, good. good! good? good; good: good- good' good\" good!! good?!? good!?!?",
    ",good .good !!good ???good ?!?!good -good 'good \"good",
    "good...  good!!!! ..good ::good",
    "don't doesn't aint ain't cant nope uh-uh without despite rarely",
    "Not bad. Not good. NOT BAD. NOT GOOD.",
    "It's not the best, but not the worst either; at least it's not horrible.",
    "happy happy joy joy sad sad",
    "The  the  THE the",
    "Stop! Stop!! Stop!!! Help?",
    "Isn't it great? Really?",
]


def bbc_articles(step: int) -> list[Path]:
    return sorted(BBC.glob("*/*.txt"))[::step]


def sentences_of(path: Path) -> list[str]:
    """Title and body sentences, split per paragraph as the pipeline does."""
    splitter = sentence_splitter()
    paragraphs = path.read_text(encoding="utf-8").split("\n\n")
    return [s for p in paragraphs if p.strip() for s in splitter.tokenize(p)]


@pytest.fixture(scope="module")
def reference():
    return nltk_vader()


@pytest.fixture(scope="module")
def fast():
    return FastVader()


def assert_same(fast: FastVader, reference, texts: list[str]) -> None:
    mismatches = [(t, reference.polarity_scores(t), fast.polarity_scores(t)) for t in texts]
    mismatches = [m for m in mismatches if m[1] != m[2]]
    assert mismatches == [], f"{len(mismatches)} of {len(texts)} differ, first: {mismatches[:3]}"


def test_equal_to_nltk_on_a_bbc_sample(fast, reference):
    sentences = [s for path in bbc_articles(step=7) for s in sentences_of(path)]  # ~320 articles
    assert len(sentences) > 5000
    assert_same(fast, reference, sentences)
    scores = [fast.polarity_scores(s)["compound"] for s in sentences]
    assert min(scores) < -0.5 and max(scores) > 0.5  # the sample exercises real sentiment


def test_equal_to_nltk_on_the_sample_article(fast, reference):
    for path in sorted(SAMPLES.glob("*.txt")):
        assert_same(fast, reference, sentences_of(path))


@pytest.mark.parametrize("text", EDGE_CASES)
def test_equal_to_nltk_on_edge_cases(fast, reference, text):
    assert fast.polarity_scores(text) == reference.polarity_scores(text)


def test_edge_cases_do_exercise_the_rules(reference):
    # Guards the edge-case list: if these stop differing, the cases above test less.
    compound = {t: reference.polarity_scores(t)["compound"] for t in EDGE_CASES}
    assert compound["This is good!!!"] > compound["Is it good?"]
    assert compound["The film was not good."] < 0
    assert reference.polarity_scores("")["neu"] == 0.0
    assert reference.polarity_scores("the table stands in the room")["neu"] == 1.0


def test_repeated_words_are_scored_at_their_first_position_like_nltk(fast, reference):
    # NLTK looks up each occurrence's context at the word's first index.
    text = "Not good. The rest was good and good again."
    assert fast.polarity_scores(text) == reference.polarity_scores(text)


def test_memo_eviction_does_not_change_scores(reference):
    tiny = FastVader(reference.lexicon, cache_size=3)
    for text in EDGE_CASES:
        assert tiny.polarity_scores(text) == reference.polarity_scores(text)


@pytest.mark.slow
def test_equal_to_nltk_on_every_bbc_sentence(fast, reference):
    sentences = [s for path in bbc_articles(step=1) for s in sentences_of(path)]
    assert len(sentences) > 40_000
    assert_same(fast, reference, sentences)


# Words that trigger VADER's special rules.
_RULE_WORDS = (
    "good bad great terrible love hate kind of sort just enough least at very never so this "
    "but not no isn't don't n't without the shit bomb cut mustard kiss death hand to mouth "
    "yeah right bad ass extremely barely really :) :( :D 😀 😢 ! ? !! ??? . , ' \""
).split()
_PREFIXES = ["", "'", '"', "!!", "?!?", "...", ",", "("]
_SUFFIXES = ["", ".", ",", "!", "!!!", "?", "???", "'", "...", ")", "!!!!"]
_word = st.one_of(scorer_words(_RULE_WORDS, _PREFIXES, _SUFFIXES, (str.upper, str.title)), st.text(min_size=1, max_size=6))
_gap = st.sampled_from([" ", "  ", "\t", "\n", "\u00a0"])
_rule_sentence = st.lists(st.tuples(_word, _gap), max_size=25).map(lambda pairs: "".join(w + g for w, g in pairs))


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=st.text(max_size=200))
def test_equal_to_nltk_on_any_unicode(fast, reference, text):
    assert fast.polarity_scores(text) == reference.polarity_scores(text)


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=_rule_sentence)
def test_equal_to_nltk_on_rule_heavy_sentences(fast, reference, text):
    assert fast.polarity_scores(text) == reference.polarity_scores(text)


def test_score_and_score_many_wrap_polarity_scores(fast):
    texts = ["What a great day!", "This is awful.", ""]
    many = fast.score_many(texts)
    assert many == [fast.score(t) for t in texts]
    for text, score in zip(texts, many):
        assert isinstance(score, SentenceSentiment)
        raw = fast.polarity_scores(text)
        assert (score.neg, score.neu, score.pos, score.compound) == tuple(raw[k] for k in ("neg", "neu", "pos", "compound"))


def test_vader_reads_capitals_and_punctuation_as_written(fast):
    plain = fast.score("the results were good").compound
    assert fast.score("the results were GOOD!!!").compound > plain > 0


def test_labels_use_vaders_thresholds():
    assert sentiment_label(0.05) == "positive"
    assert sentiment_label(0.0499) == "neutral"
    assert sentiment_label(-0.0499) == "neutral"
    assert sentiment_label(-0.05) == "negative"


def test_article_sentiment_is_the_mean_of_its_sentences():
    rng = random.Random(7)
    scores = []
    for _ in range(9):
        neg, pos = rng.random() / 2, rng.random() / 2
        scores.append(SentenceSentiment(neg=neg, neu=1 - neg - pos, pos=pos, compound=rng.uniform(-1, 1)))
    article = article_sentiment(scores)
    assert article.compound == pytest.approx(statistics.fmean(s.compound for s in scores))
    assert article.pos == pytest.approx(statistics.fmean(s.pos for s in scores))
    assert article.neg == pytest.approx(statistics.fmean(s.neg for s in scores))
    assert article.neu == pytest.approx(statistics.fmean(s.neu for s in scores))
    assert article.label == sentiment_label(article.compound)


@pytest.mark.parametrize(
    ("compounds", "label"),
    [
        ([0.9, -0.7], "positive"),
        ([0.05], "positive"),
        ([0.1, -0.1], "neutral"),
        ([-0.05], "negative"),
        ([-0.3, 0.1], "negative"),
    ],
)
def test_article_label_follows_the_mean_compound(compounds, label):
    scores = [SentenceSentiment(0.0, 1.0, 0.0, c) for c in compounds]
    assert article_sentiment(scores).label == label


def test_article_without_sentences_has_no_scores():
    assert article_sentiment([]) == ArticleSentiment(None, None, None, None, None)
