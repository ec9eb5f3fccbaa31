"""tokenize: sentences with offsets per paragraph, tokens, readable terms."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from textpipe.clean import normalize_text
from textpipe.resources import stop_words
from textpipe.tokenize import count_tokens, normalize_terms, paragraph_spans, split_sentences, tokenize_article, word_tokens

from conftest import SAMPLE


def test_sentences_slice_back_and_stay_in_their_paragraph(bbc_texts):
    for _, _, body in bbc_texts[:60]:
        text = normalize_text(body)
        paragraphs = list(paragraph_spans(text))
        sentences = split_sentences(text)
        assert sentences, "every BBC article has sentences"
        for span in sentences:
            p_start, p_end = paragraphs[span.paragraph_index]
            assert p_start <= span.start_char < span.end_char <= p_end
            assert text[span.start_char : span.end_char].strip() == text[span.start_char : span.end_char]
        assert [s.sentence_index for s in sentences] == list(range(len(sentences)))


def test_heading_line_is_never_glued_to_next_sentence():
    body = SAMPLE.read_text(encoding="utf-8")
    text = normalize_text(body)
    heading = "Minsk is Moscow’s war partner, but sends no soldiers"
    sentences = [text[s.start_char : s.end_char] for s in split_sentences(text)]
    assert heading in sentences


def test_terms_are_lowercase_words_without_stop_words_or_numbers(bbc_texts):
    words_to_drop = stop_words()
    for _, title, body in bbc_texts[:30]:
        terms = normalize_terms(f"{title}\n{body}", words_to_drop)
        assert terms
        for term in terms:
            assert term == term.lower() and term not in words_to_drop
            assert not any(ch.isdigit() for ch in term) and term[0].isalpha()


def test_tokenize_article_counts(bbc_texts):
    _, title, body = bbc_texts[3]
    text = normalize_text(body)
    article = tokenize_article(title, text, stop_words())
    assert article.n_paragraphs == text.count("\n\n") + 1
    assert article.n_tokens == count_tokens(text) > len(text.split()) * 0.9


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.characters(codec="utf-8"), max_size=400) | st.text(alphabet=".!? \n\u00a0\u2029aZ1'’\"", max_size=200))
def test_offsets_are_in_bounds_for_any_text(raw):
    text = normalize_text(raw)
    previous_end = 0
    for span in split_sentences(text):
        assert previous_end <= span.start_char < span.end_char <= len(text)
        previous_end = span.end_char
    normalize_terms(text, stop_words())


# The fast paths must decide exactly as the NLTK / ftfy code they replace.

def _nltk_sentence_spans(text: str) -> list[tuple[int, int]]:
    from nltk.tokenize.punkt import PunktSentenceTokenizer

    from textpipe.resources import load_punkt_params

    reference = PunktSentenceTokenizer(load_punkt_params())
    return [(p_start + s, p_start + e) for p_start, p_end in paragraph_spans(text) for s, e in reference.span_tokenize(text[p_start:p_end])]


def test_sentence_splits_equal_nltk_punkt_on_all_bbc():
    from conftest import BBC

    for path in sorted(BBC.glob("*/*.txt")):
        text = normalize_text(path.read_text(encoding="utf-8", errors="replace"))
        assert [(s.start_char, s.end_char) for s in split_sentences(text)] == _nltk_sentence_spans(text), path


@settings(max_examples=400, deadline=None)
@given(st.lists(st.sampled_from(["a", "word", "Xy", "Zeta", " ", " ", ".", "!", "?", '"', "'", "’", "(", ")", "…", ";", ":", "-", "12", "\n",
                                  "\n\n", "Mr.", "U.S.", "e.g.", "No.", "Dr. ", "St. ", "...", "Jan.", "Inc. "]), max_size=80))
def test_sentence_splits_equal_nltk_punkt_on_any_text(pieces):
    text = normalize_text("".join(pieces))
    assert [(s.start_char, s.end_char) for s in split_sentences(text)] == _nltk_sentence_spans(text)


@settings(max_examples=400, deadline=None)
@given(st.lists(st.sampled_from(["a", "Word", "said", "Mr", "U.S", "no", "12", ".", ".", "!", "?", "...", '"', "'", "’", "”", "»", ")", "]",
                                  "}", "(", "--", ";", ":", ",", " ", " ", "  ", "\n", "\t", "\r", "\x0b", "\x0c", "\u00a0"]), max_size=60))
def test_splitter_spans_equal_nltk_punkt_on_raw_text(pieces):
    # Not normalized: every whitespace NLTK looks for, and closing marks to realign.
    from nltk.tokenize.punkt import PunktSentenceTokenizer

    from textpipe.resources import load_punkt_params
    from textpipe.tokenize import _sentence_splitter

    text = "".join(pieces)
    assert list(_sentence_splitter().span_tokenize(text)) == list(PunktSentenceTokenizer(load_punkt_params()).span_tokenize(text))


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=300))
def test_token_count_equals_nltk_regexp_tokenizer(text):
    from nltk.tokenize import RegexpTokenizer

    assert count_tokens(text) == len(RegexpTokenizer(r"\w+(?:[-'’.]\w+)*|[^\w\s]").tokenize(text))


@settings(max_examples=500, deadline=None)
@given(st.text(alphabet=st.characters(min_codepoint=0x20, max_codepoint=0x2122) | st.sampled_from(list("ÃÂâ€™œžŸ¢£¤¥¦§¨©ª«¬®¯°±²³´µ¶·¸¹º»¼½¾¿")), max_size=200))
def test_mojibake_check_equals_ftfy(text):
    import ftfy.badness

    from textpipe.clean import _is_bad

    assert _is_bad(text) == ftfy.badness.is_bad(text)


def _plain_terms(text: str, words_to_drop: frozenset[str]) -> list[str]:
    """normalize_terms written plainly, word by word, without its memo."""
    import re

    words = (w.removesuffix("'s") for w in re.findall(r"[^\W\d_]+(?:'[^\W\d_]+)*", text.lower().replace("’", "'")))
    return [w for w in words if len(w) >= 2 and w not in words_to_drop]


def test_terms_equal_the_plain_rule_and_the_title_then_the_body(bbc_texts, monkeypatch):
    words_to_drop = stop_words()
    edge = ("ΟΔΟΣ Σ’s naïve it’s Bob's 's a I x2 don't O'Neill’s\x1funit\x1c", "Title\nBODY")
    for limit in (200_000, 5):  # a memo cleared every few words gives the same terms
        monkeypatch.setattr("textpipe.memo.MEMO_LIMIT", limit)
        for _, title, body in [*bbc_texts[::7], ("edge", "", edge[0]), ("edge", edge[1], edge[0])]:
            article = tokenize_article(title, body, words_to_drop)
            assert list(article.terms) == _plain_terms(f"{title}\n{body}", words_to_drop)
            assert article.n_title_terms == len(_plain_terms(title, words_to_drop))
            assert normalize_terms(body, words_to_drop) == _plain_terms(body, words_to_drop)
            assert article.n_tokens == len(word_tokens(body))


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=200), st.text(max_size=60))
def test_terms_equal_the_plain_rule_on_any_text(body, title):
    words_to_drop = stop_words()
    assert normalize_terms(body, words_to_drop) == _plain_terms(body, words_to_drop)
    article = tokenize_article(title, body, words_to_drop)
    assert list(article.terms) == _plain_terms(f"{title}\n{body}", words_to_drop)
    assert article.n_tokens == count_tokens(body) == len(word_tokens(body))
