"""Language resources: the private NLTK data dir for VADER, Punkt parameters, stop words."""

from __future__ import annotations

import os
import threading
import warnings
import zipfile
from pathlib import Path

import nltk.data
import pytest
from nltk.sentiment.vader import SentimentIntensityAnalyzer

from textpipe import resources
from textpipe.errors import MissingResourceError

@pytest.fixture
def clean_nltk(monkeypatch):
    """No NLTK search path and no cached files, so NLTK must read what we build."""
    monkeypatch.setattr(nltk.data, "path", [])
    monkeypatch.setattr(nltk.data, "_resource_cache", {})


SHARED = Path(__file__).resolve().parents[1].parent / "shared"
BBC = SHARED / "corpora" / "bbc"


def bbc_paragraphs(n_articles: int) -> list[str]:
    paragraphs = []
    for path in sorted(BBC.glob("*/*.txt"))[::100][:n_articles]:
        _title, _, body = path.read_text(encoding="utf-8").partition("\n")
        paragraphs.extend(p for p in body.strip().split("\n\n") if p.strip())
    return paragraphs


def test_data_dir_comes_from_argument_then_env_then_default(tmp_path, monkeypatch):
    monkeypatch.setenv(resources.NLTK_DATA_ENV, str(tmp_path / "from-env"))
    assert resources.nltk_data_dir(tmp_path / "arg") == (tmp_path / "arg").resolve()
    assert resources.nltk_data_dir() == (tmp_path / "from-env").resolve()
    monkeypatch.delenv(resources.NLTK_DATA_ENV)
    assert resources.nltk_data_dir() == resources.DEFAULT_NLTK_DATA.expanduser().resolve()


def test_built_data_dir_lets_nltk_load_vader_from_a_clean_path(tmp_path, clean_nltk):
    root = resources.use_nltk_data(tmp_path / "nltk_data")

    assert nltk.data.path == [str(root)]
    with zipfile.ZipFile(root / "sentiment" / "vader_lexicon.zip") as archive:
        assert "vader_lexicon/vader_lexicon.txt" in archive.namelist()
    analyzer = SentimentIntensityAnalyzer()  # NLTK's default lexicon location
    assert len(analyzer.lexicon) > 7000
    assert analyzer.polarity_scores("What a wonderful, happy day!")["compound"] > 0.5
    assert analyzer.polarity_scores("A horrible, tragic loss.")["compound"] < -0.5


def test_nltk_vader_is_cached_per_data_dir(tmp_path, clean_nltk):
    first = resources.nltk_vader(tmp_path / "a")
    assert resources.nltk_vader(tmp_path / "a") is first
    assert resources.nltk_vader(tmp_path / "b") is not first


def test_a_lexicon_nltk_cached_from_elsewhere_does_not_shadow_ours(tmp_path, clean_nltk):
    # As if the process had loaded another vader_lexicon.zip (e.g. ~/nltk_data) before.
    key = ("nltk:sentiment/vader_lexicon.zip/vader_lexicon/vader_lexicon.txt", "text")
    nltk.data._resource_cache[key] = "good\t-3.5\t0.1\t[-4, -3]"
    analyzer = resources.nltk_vader(tmp_path / "nltk_data")
    assert len(analyzer.lexicon) > 7000
    assert analyzer.lexicon["good"] > 0


def test_concurrent_builds_leave_one_valid_zip_and_no_temp_files(tmp_path, monkeypatch):
    root = tmp_path / "shared_nltk_data"
    errors: list[BaseException] = []

    def build() -> None:
        try:
            resources.build_nltk_data(root)
        except BaseException as exc:  # noqa: BLE001 - reported by the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=build) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []
    sentiment_dir = root / "sentiment"
    assert [p.name for p in sentiment_dir.iterdir()] == ["vader_lexicon.zip"]
    expected = resources.vader_lexicon_source().read_bytes().rstrip(b"\r\n")
    with zipfile.ZipFile(sentiment_dir / "vader_lexicon.zip") as archive:
        assert archive.read("vader_lexicon/vader_lexicon.txt") == expected


def test_a_corrupt_zip_is_rebuilt(tmp_path):
    root = resources.build_nltk_data(tmp_path / "nltk_data")
    target = root / "sentiment" / "vader_lexicon.zip"
    target.write_bytes(b"not a zip")
    resources.build_nltk_data(root)
    assert zipfile.is_zipfile(target)


def test_missing_vader_package_gives_a_fix(tmp_path, monkeypatch):
    monkeypatch.setattr(resources, "_VADER_LEXICON_PACKAGE", "no_such_vader_package")
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(MissingResourceError, match="pip install") as caught:
        resources.nltk_vader(empty)
    assert "VADER lexicon" in str(caught.value)
    assert not (empty / "sentiment" / "vader_lexicon.zip").exists()


def test_missing_lexicon_file_gives_a_fix(tmp_path, monkeypatch):
    monkeypatch.setattr(resources, "_VADER_LEXICON_FILE", "no_such_lexicon.txt")
    with pytest.raises(MissingResourceError, match="reinstall"):
        resources.nltk_vader(tmp_path / "empty")


def test_data_dir_writable_by_others_is_reported(tmp_path, clean_nltk):
    root = tmp_path / "open_nltk_data"
    root.mkdir()
    os.chmod(root, 0o777)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # NLTK's own warning about the dir
        with pytest.raises(MissingResourceError, match="chmod go-w"):
            resources.nltk_vader(root)


def test_check_resources_names_what_is_missing(tmp_path, monkeypatch):
    monkeypatch.setattr(resources, "_VADER_LEXICON_PACKAGE", "no_such_vader_package")
    with pytest.raises(MissingResourceError) as caught:
        resources.check_resources(tmp_path / "nltk_data")
    message = str(caught.value)
    assert "VADER lexicon" in message
    assert "Punkt" not in message and "stop words" not in message


def test_check_resources_passes_when_everything_is_installed(tmp_path, clean_nltk):
    resources.check_resources(tmp_path / "nltk_data")


def test_shipped_punkt_parameters_are_small_and_complete():
    path = resources.punkt_params_path()
    assert path.is_file()
    assert path.stat().st_size < 300_000
    params = resources.load_punkt_params(path)
    assert {"mr", "mrs", "dr", "u.s", "e.g"} <= params.abbrev_types
    assert params.sent_starters and params.ortho_context
    assert params.ortho_context["a-word-never-seen-in-training"] == 0
    assert "a-word-never-seen-in-training" not in params.ortho_context


def test_missing_punkt_parameters_say_how_to_train_them(tmp_path):
    with pytest.raises(MissingResourceError, match="train_punkt.py"):
        resources.sentence_splitter(tmp_path / "absent.json")
    broken = tmp_path / "broken.json"
    broken.write_text('{"format": "something else"}', encoding="utf-8")
    with pytest.raises(MissingResourceError, match="train_punkt.py"):
        resources.sentence_splitter(broken)


def test_punkt_splits_bbc_paragraphs_into_sentences():
    splitter = resources.sentence_splitter()
    paragraphs = bbc_paragraphs(20)
    sentences = [s for p in paragraphs for s in splitter.tokenize(p)]
    assert len(sentences) > 1.5 * len(paragraphs)
    for sentence in sentences:
        assert sentence == sentence.strip()
        assert sentence[-1] in '.!?"\'):;' or sentence[-1].isalnum(), sentence


def test_punkt_keeps_honorifics_and_dotted_abbreviations_inside_sentences():
    text = (
        "Mr. Brown met U.S. officials and Dr. Jones in Washington on Jan. 5. "
        "They agreed on a deal. Mrs. Smith was not there."
    )
    assert resources.sentence_splitter().tokenize(text) == [
        "Mr. Brown met U.S. officials and Dr. Jones in Washington on Jan. 5.",
        "They agreed on a deal.",
        "Mrs. Smith was not there.",
    ]


def test_span_tokenize_slices_back_to_the_sentences():
    splitter = resources.sentence_splitter()
    for paragraph in bbc_paragraphs(20):
        spans = list(splitter.span_tokenize(paragraph))
        assert [paragraph[start:end] for start, end in spans] == splitter.tokenize(paragraph)
        assert all(0 <= start < end <= len(paragraph) for start, end in spans)
        assert all(prev_end <= start for (_, prev_end), (start, _) in zip(spans, spans[1:]))


def test_stop_words_extend_scikit_learns_list():
    from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS

    words = resources.stop_words()
    assert isinstance(words, frozenset)
    assert ENGLISH_STOP_WORDS <= words
    assert {"said", "mr", "told"} <= words
    assert all(word == word.lower() and word.strip() == word for word in words)
    assert "government" not in words and "new" not in words
