"""clean: normalization, ids, language, on real articles and on any unicode."""

from __future__ import annotations

import unicodedata

from hypothesis import given, settings
from hypothesis import strategies as st

from textpipe.clean import clean_article, detect_language, make_article_id, normalize_text
from textpipe.records import RawArticle


def _raw(title: str, text: str, source: str = "a.txt") -> RawArticle:
    return RawArticle(source=source, source_format="txt", record=0, title=title, text=text)


def test_same_article_from_two_files_has_one_id(bbc_texts):
    _, title, body = bbc_texts[0]
    one = clean_article(_raw(title, body, "one.txt"))
    other = clean_article(_raw(f"  {title}\t", body.replace("\n\n", "\n \n\n").replace(". ", ".  "), "sub/other.txt"))
    assert one.article_id == other.article_id
    assert len(one.article_id) == 16 and int(one.article_id, 16) >= 0


def test_different_articles_have_different_ids(bbc_texts):
    ids = {clean_article(_raw(t, b)).article_id for _, t, b in bbc_texts}
    assert len(ids) == len({(t, b) for _, t, b in bbc_texts})


def test_mojibake_is_repaired_and_text_is_nfc():
    broken = "The caf\u00c3\u00a9 reopened \u00e2\u20ac\u201c and prices rose."
    cleaned = normalize_text(broken)
    assert "café" in cleaned and "\u00c3" not in cleaned
    decomposed = unicodedata.normalize("NFD", "Zoë Ball presents on Radio 2.")
    assert normalize_text(decomposed) == unicodedata.normalize("NFC", decomposed)


def test_paragraphs_survive_and_wrapped_lines_join(bbc_texts):
    _, _, body = bbc_texts[5]
    paragraphs = [p for p in body.split("\n\n") if p.strip()]
    cleaned = normalize_text(body.replace("\n\n", "\r\n\r\n\r\n"))
    assert cleaned.count("\n\n") == len(paragraphs) - 1
    assert normalize_text("one line\nwrapped here") == "one line wrapped here"


def test_repeated_title_line_is_dropped():
    article = clean_article(_raw("Markets rally", "Markets rally\n\nShares rose sharply on Monday as investors cheered."))
    assert article.text.startswith("Shares rose")


def test_language_of_bbc_articles_is_english(bbc_texts):
    languages = [detect_language(t, b) for _, t, b in bbc_texts]
    assert languages.count("en") == len(languages)


def test_language_of_other_languages():
    german = "Die Bundesregierung hat am Mittwoch neue Regeln für den Wohnungsbau beschlossen, die Mieter entlasten sollen."
    french = "Le gouvernement a présenté mercredi un nouveau projet de loi sur le logement afin de protéger les locataires."
    assert detect_language("Neue Regeln", german) == "de"
    assert detect_language("Nouveau projet", french) == "fr"
    assert detect_language("", "ok") is None


@settings(max_examples=300, deadline=None)
@given(st.text())
def test_normalize_never_crashes_and_is_idempotent(text):
    once = normalize_text(text)
    assert normalize_text(once) == once
    assert "\r" not in once and "\n\n\n" not in once


@settings(max_examples=100, deadline=None)
@given(st.text(), st.text())
def test_clean_article_on_any_unicode(title, text):
    article = clean_article(_raw(title, text))
    assert "\n" not in article.title
    assert article.article_id == make_article_id(article.title, article.text)


_EVERY_WHITESPACE = [chr(c) for c in range(0x110000) if chr(c).isspace()]


@settings(max_examples=500, deadline=None)
@given(st.text(alphabet=st.sampled_from([*_EVERY_WHITESPACE, "a", "é", ".", "\u200b"]), max_size=80))
def test_every_kind_of_whitespace_collapses_to_one_space(text):
    """Tabs, no-break spaces, ideographic spaces, ...: runs of any Unicode whitespace
    become one space inside a paragraph; only "\n\n" separates paragraphs; no
    visible character is lost."""
    cleaned = normalize_text(text)
    assert set(cleaned) <= {"a", "é", ".", " ", "\n"}
    assert "  " not in cleaned and " \n" not in cleaned and "\n " not in cleaned
    assert cleaned == cleaned.strip() and "\n" not in cleaned.replace("\n\n", "\x00")
    assert "".join(cleaned.split()) == "".join(text.replace("\u200b", "").split())
