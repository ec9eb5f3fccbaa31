"""The topic model on the real BBC corpus: quality bar, fit/transform agreement,
save/load round trip without pickle, corrupt files, labels made of real words,
choosing K, and the edge cases (empty documents, too few documents).
"""

from __future__ import annotations

import json
import pickle
import re

import numpy as np
import pyarrow as pa
import pytest
from sklearn.exceptions import NotFittedError
from sklearn.feature_extraction.text import CountVectorizer
from sklearn.metrics import normalized_mutual_info_score

from textpipe.errors import OutputError
from textpipe.resources import stop_words
from textpipe.tokenize import normalize_terms
from textpipe.topics import MODEL_JSON, MODEL_NPZ, RELEVANCE_LAMBDA, Topic, TopicModel, choose_n_topics, count_terms, topic_coherence

from conftest import BBC

STOP_WORDS = stop_words()


@pytest.fixture(scope="module")
def bbc() -> tuple[list[list[str]], list[str], str]:
    """Term lists, categories (the folder) and the whole raw text, lowercased."""
    docs, categories, texts = [], [], []
    for path in sorted(BBC.glob("*/*.txt")):
        text = path.read_text(encoding="utf-8")
        docs.append(normalize_terms(text, STOP_WORDS))
        categories.append(path.parent.name)
        texts.append(text.lower())
    assert len(docs) == 2225
    return docs, categories, "\n".join(texts)


@pytest.fixture(scope="module")
def nmf5(bbc) -> tuple[TopicModel, np.ndarray]:
    docs, _, _ = bbc
    model = TopicModel(n_topics=5)
    return model, model.fit_transform(docs)


@pytest.fixture(scope="module")
def lda_small(bbc) -> tuple[TopicModel, list[list[str]]]:
    # Every 5th article keeps all five categories and the fit under a second.
    docs = bbc[0][::5]
    return TopicModel(n_topics=5, method="lda").fit(docs), docs


def test_nmf_k5_recovers_bbc_categories(bbc, nmf5):
    _, categories, _ = bbc
    _, weights = nmf5
    score = normalized_mutual_info_score(categories, weights.argmax(axis=1))
    assert score >= 0.75, f"NMI between dominant topic and category is {score:.3f}"


def test_transform_of_training_docs_matches_fit_transform(bbc, nmf5):
    model, weights = nmf5
    again = model.transform(bbc[0])
    np.testing.assert_array_equal(again.argmax(axis=1), weights.argmax(axis=1))


def test_arrow_counts_equal_scikit_learns_on_bbc(bbc, nmf5):
    model, _ = nmf5
    # Unknown terms, an empty and a null document, and chunks: the cases Arrow handles apart.
    docs = [*bbc[0], ["qwxzvbn", "pound"], [], None]
    column = pa.chunked_array([pa.array(docs[:1000], pa.list_(pa.string())), pa.array(docs[1000:], pa.list_(pa.string()))])
    ours = count_terms(column, pa.array(model.feature_names_, pa.string()))
    theirs = CountVectorizer(analyzer=lambda doc: doc, vocabulary=model.vocabulary_, dtype=np.float64).transform([d or [] for d in docs])
    assert ours.shape == theirs.shape and ours.has_sorted_indices
    for name in ("indptr", "indices", "data"):
        np.testing.assert_array_equal(getattr(ours, name), getattr(theirs, name))


def test_transform_of_an_arrow_column_equals_that_of_lists(bbc, nmf5, lda_small):
    for model, docs in ((nmf5[0], bbc[0]), (lda_small[0], lda_small[1])):
        np.testing.assert_array_equal(model.transform(pa.array(docs, pa.list_(pa.string()))), model.transform(docs))
    with pytest.raises(TypeError, match="list<string>"):
        nmf5[0].transform(pa.array(["pound"]))


def test_rows_are_topic_shares(bbc, nmf5):
    model, weights = nmf5
    assert weights.shape == (len(bbc[0]), 5)
    assert weights.dtype == np.float32
    assert (weights >= 0).all()
    np.testing.assert_allclose(weights.sum(axis=1), 1.0, atol=1e-5)


def test_document_without_known_terms_gets_zero_row(bbc, nmf5, lda_small):
    for model, doc in ((nmf5[0], bbc[0][0]), (lda_small[0], lda_small[1][0])):
        weights = model.transform([[], ["qwxzvbn"], doc])
        assert not weights[:2].any()
        assert weights[2].sum() == pytest.approx(1.0, abs=1e-5)


def test_learned_state(bbc, nmf5):
    model, _ = nmf5
    assert re.fullmatch(r"[0-9a-f]{16}", model.model_id_)
    assert model.n_documents_ == len(bbc[0])
    assert model.fitted_at_.tzinfo is not None
    assert model.components_.shape == (5, len(model.vocabulary_)) == (5, model.idf_.shape[0])
    assert len(model.vocabulary_) <= model.max_features
    assert [topic.topic_id for topic in model.topics_] == list(range(5))


def test_refit_is_deterministic(bbc, nmf5):
    model, weights = nmf5
    again = TopicModel(**model.get_params())
    np.testing.assert_array_equal(again.fit_transform(bbc[0]), weights)
    assert again.model_id_ == model.model_id_


def test_labels_are_readable_words_of_the_corpus(bbc, nmf5):
    model, _ = nmf5
    text = bbc[2]
    corpus_words = set(re.findall(r"[^\W\d_]+(?:['’][^\W\d_]+)*", text)) | set(re.findall(r"[^\W\d_]+", text))
    for topic in model.topics_:
        assert topic.label == ", ".join(topic.top_terms[:3])
        assert len(topic.top_terms) == model.top_terms == len(set(topic.top_terms))
        for term in topic.top_terms:
            assert term in model.vocabulary_
            # A stemmer would give "compani" or "elect"; those never stand alone in the text.
            assert term in corpus_words, f"{term!r} of topic {topic.label!r} is not a word of the corpus"
            assert term not in STOP_WORDS


def test_terms_are_ranked_by_relevance_and_weights_are_their_shares(bbc, nmf5):
    model, _ = nmf5
    counts = CountVectorizer(analyzer=lambda doc: doc, vocabulary=model.vocabulary_).transform(bbc[0])
    corpus_share = np.asarray(counts.sum(axis=0)).ravel() / counts.sum()
    for topic, row in zip(model.topics_, model.components_, strict=True):
        share = row / row.sum()
        columns = [model.vocabulary_[term] for term in topic.top_terms]
        np.testing.assert_allclose(topic.term_weights, share[columns])
        with np.errstate(divide="ignore"):
            relevance = RELEVANCE_LAMBDA * np.log(share) + (1 - RELEVANCE_LAMBDA) * np.log(share / corpus_share)
        assert (np.diff(relevance[columns]) <= 1e-9).all()
        assert relevance[columns[-1]] >= np.sort(relevance)[-model.top_terms] - 1e-9  # no better term left out
        assert 0 < sum(topic.term_weights) <= 1.0


def test_relevance_makes_topics_more_coherent_and_distinct_than_weight_alone(bbc, nmf5):
    model, _ = nmf5
    by_weight = TopicModel(n_topics=5, relevance=1.0).fit(bbc[0])
    np.testing.assert_array_equal(by_weight.components_, model.components_)  # same factorisation
    assert np.mean([t.coherence for t in model.topics_]) > np.mean([t.coherence for t in by_weight.topics_]) + 0.05
    assert model.diversity_ >= by_weight.diversity_
    assert model.diversity_ >= 0.9


def test_a_model_saved_before_relevance_existed_still_loads(tmp_path, bbc):
    old = TopicModel(n_topics=3, relevance=1.0).fit(bbc[0][::10])
    folder = old.save(tmp_path)
    meta = json.loads((folder / MODEL_JSON).read_text())
    del meta["params"]["relevance"], meta["diversity"]
    (folder / MODEL_JSON).write_text(json.dumps(meta))
    loaded = TopicModel.load(folder)
    assert loaded.model_id_ == old.model_id_ == folder.name
    assert loaded.relevance == 1.0 and [t.top_terms for t in loaded.topics_] == [t.top_terms for t in old.topics_]


def test_topics_differ_between_categories(bbc, nmf5):
    # Every category's articles should have a dominant topic that most of them share.
    _, categories, _ = bbc
    _, weights = nmf5
    dominant = weights.argmax(axis=1)
    majority = {}
    for category in sorted(set(categories)):
        topics = dominant[np.array(categories) == category]
        majority[category] = np.bincount(topics, minlength=5).argmax()
    assert len(set(majority.values())) == 5, majority


def test_stored_coherence_is_npmi_on_fitted_docs(bbc, nmf5):
    model, _ = nmf5
    for topic in model.topics_:
        assert -1.0 <= topic.coherence <= 1.0
        assert topic.coherence == pytest.approx(topic_coherence(topic.top_terms, bbc[0]))


def test_topic_coherence_bounds():
    always = [["pound", "sterling"], ["pound", "sterling", "bank"], ["goal"]]
    assert topic_coherence(["pound", "sterling"], always) == pytest.approx(1.0)
    assert topic_coherence(["pound", "goal"], always) == -1.0


def test_topic_coherence_ranks_related_terms_higher(bbc):
    docs = bbc[0]
    assert topic_coherence(["election", "labour", "tory"], docs) > topic_coherence(["election", "film", "striker"], docs)


def test_save_load_round_trip(tmp_path, bbc, nmf5):
    model, _ = nmf5
    folder = model.save(tmp_path)
    assert folder == tmp_path / model.model_id_
    assert sorted(p.name for p in tmp_path.iterdir()) == [model.model_id_]  # no staging left behind
    loaded = TopicModel.load(folder)
    sample = bbc[0][::50]
    np.testing.assert_array_equal(loaded.transform(sample), model.transform(sample))
    assert loaded.model_id_ == model.model_id_
    assert loaded.topics_ == model.topics_
    assert loaded.get_params() == model.get_params()
    assert loaded.vocabulary_ == model.vocabulary_
    assert loaded.fitted_at_ == model.fitted_at_
    assert all(isinstance(topic, Topic) for topic in loaded.topics_)


def test_save_over_existing_copy(tmp_path, nmf5):
    model, _ = nmf5
    first = model.save(tmp_path)
    second = model.save(tmp_path)
    assert first == second
    assert TopicModel.load(second).model_id_ == model.model_id_
    assert sorted(p.name for p in tmp_path.iterdir()) == [model.model_id_]


def test_lda_round_trip(tmp_path, lda_small):
    model, docs = lda_small
    weights = model.transform(docs)
    np.testing.assert_allclose(weights.sum(axis=1), 1.0, atol=1e-5)
    loaded = TopicModel.load(model.save(tmp_path))
    np.testing.assert_array_equal(loaded.transform(docs), weights)
    assert loaded.model_id_ == model.model_id_


def test_saved_arrays_need_no_pickle(tmp_path, monkeypatch, nmf5):
    model, _ = nmf5
    folder = model.save(tmp_path)
    with np.load(folder / MODEL_NPZ, allow_pickle=False) as npz:
        assert all(npz[name].dtype.kind == "f" for name in npz.files)

    def refuse(*args, **kwargs):
        raise AssertionError("load tried to unpickle")

    monkeypatch.setattr(pickle, "load", refuse)
    monkeypatch.setattr(pickle, "loads", refuse)
    assert TopicModel.load(folder).model_id_ == model.model_id_


def test_object_array_is_refused(tmp_path, nmf5):
    model, _ = nmf5
    folder = model.save(tmp_path)
    components = np.empty(model.components_.shape, dtype=object)
    np.savez(folder / MODEL_NPZ, components=components, idf=model.idf_)
    with pytest.raises(OutputError, match=MODEL_NPZ):
        TopicModel.load(folder)


def test_truncated_npz_names_the_file(tmp_path, nmf5):
    folder = nmf5[0].save(tmp_path)
    data = (folder / MODEL_NPZ).read_bytes()
    (folder / MODEL_NPZ).write_bytes(data[: len(data) // 2])
    with pytest.raises(OutputError, match=re.escape(str(folder / MODEL_NPZ))):
        TopicModel.load(folder)


def test_missing_or_broken_json_names_the_file(tmp_path, nmf5):
    folder = nmf5[0].save(tmp_path)
    (folder / MODEL_JSON).write_text('{"params": ', encoding="utf-8")
    with pytest.raises(OutputError, match=MODEL_JSON):
        TopicModel.load(folder)
    (folder / MODEL_JSON).unlink()
    with pytest.raises(OutputError, match=MODEL_JSON):
        TopicModel.load(folder)


def test_edited_arrays_do_not_match_model_id(tmp_path, nmf5):
    model, _ = nmf5
    folder = model.save(tmp_path)
    np.savez(folder / MODEL_NPZ, components=model.components_ * 1.01, idf=model.idf_)
    with pytest.raises(OutputError, match="model_id"):
        TopicModel.load(folder)
    np.savez(folder / MODEL_NPZ, components=model.components_[:, :-1], idf=model.idf_)
    with pytest.raises(OutputError, match="shape"):
        TopicModel.load(folder)


def test_choose_n_topics_by_coherence_times_diversity(bbc):
    candidates = (3, 5, 8)
    best, scores = choose_n_topics(bbc[0], candidates, max_features=5_000)
    assert set(scores) == set(candidates)
    assert all(-1.0 <= score <= 1.0 for score in scores.values())
    assert scores[best] == max(scores.values())
    model = TopicModel(n_topics=best, max_features=5_000).fit(bbc[0])
    assert scores[best] == pytest.approx(np.mean([t.coherence for t in model.topics_]) * model.diversity_)


def test_too_few_documents_is_refused(bbc):
    with pytest.raises(ValueError, match="at least 5 documents"):
        TopicModel(n_topics=5, min_df=1, max_df=1.0).fit(bbc[0][:3])


def test_too_few_terms_is_refused():
    docs = [["pound", "sterling"], ["pound", "sterling"], ["pound", "sterling"]]
    with pytest.raises(ValueError, match="terms"):
        TopicModel(n_topics=3, min_df=1, max_df=1.0).fit(docs)


def test_strings_instead_of_term_lists_are_refused(bbc):
    with pytest.raises(TypeError, match="normalize_terms"):
        TopicModel(n_topics=2).fit([" ".join(doc) for doc in bbc[0][:20]])


def test_transform_before_fit():
    with pytest.raises(NotFittedError):
        TopicModel().transform([["pound"]])
