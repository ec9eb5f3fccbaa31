"""Topic model over documents that are already lists of normalized terms (see
`textpipe.tokenize.normalize_terms`): fit / transform / save / load, like a
scikit-learn estimator. NMF on TF-IDF by default, LDA on raw counts as an option.

Coherence is NPMI (Bouma 2009) over whole-document co-occurrence of each topic's
top terms, computed on the documents the model was fitted on; see
`docs/topic-model-choice.md` for why NMF is the default.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import os
import shutil
import tempfile
import zipfile
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import scipy.sparse as sp
from sklearn.decomposition import NMF, LatentDirichletAllocation, non_negative_factorization
from sklearn.exceptions import NotFittedError
from sklearn.feature_extraction.text import CountVectorizer, TfidfTransformer
from sklearn.preprocessing import normalize

from textpipe import __version__
from textpipe.errors import OutputError

logger = logging.getLogger(__name__)

Method = Literal["nmf", "lda"]
Terms = Sequence[str]
# Documents for `transform`: term lists, or an Arrow list<string> column of them
# (counted in Arrow's C++ kernels: ~50x faster than scikit-learn's Python loop).
Documents = Sequence[Terms] | pa.Array | pa.ChunkedArray

MODEL_JSON = "model.json"
MODEL_NPZ = "model.npz"
LABEL_TERMS = 3
# Topic terms are ranked by relevance (Sievert & Shirley 2014): lambda * log(share of
# the topic) + (1 - lambda) * log(share / the term's share of the corpus). 1.0 ranks
# by weight alone, which lists words every topic shares ("people", "year"); their
# user study found 0.6 best for telling what a topic is about. On BBC it lifted the
# top-10 terms' NPMI from 0.36 to 0.44 (K=5) and 0.45 to 0.56 (K=20); see
# docs/topic-model-choice.md.
RELEVANCE_LAMBDA = 0.6
# Topic diversity (Dieng et al. 2020) is the unique share of every topic's top 25 terms.
DIVERSITY_TERMS = 25

# "cd" reached the same NMI as "mu" on BBC at half the time, and its transform
# reproduces fit_transform's dominant topic for every training document (see
# docs/topic-model-choice.md); 400 iterations is far above what it needs there.
_NMF_SOLVER = "cd"
_NMF_INIT = "nndsvda"
_NMF_MAX_ITER = 400
# The fit stops once the projected gradient has shrunk 1,000-fold, not sklearn's
# 10,000-fold: a third less fitting time, and NMI against the BBC categories and
# topic coherence equal or better for K = 5, 10, 20 (and on the 20,000-article
# benchmark corpus). Transform keeps sklearn's tolerance: it converges fast anyway.
_NMF_FIT_TOL = 1e-3
_LDA_MAX_ITER = 10
_ARRAY_NAMES = {"nmf": ("components", "idf"), "lda": ("components", "exp_dirichlet_component")}


@dataclass(frozen=True)
class Topic:
    """One learned topic: its top terms, their share of the topic, and its NPMI coherence."""

    topic_id: int
    label: str
    top_terms: tuple[str, ...]
    term_weights: tuple[float, ...]
    coherence: float


def _identity(doc: Terms) -> Terms:
    # The analyzer: documents arrive already tokenized and normalized.
    return doc


def _as_term_lists(docs: Sequence[Terms]) -> list[Terms]:
    docs = list(docs)
    for index, doc in enumerate(docs):
        # A bare string would be read as a list of characters and fit garbage.
        if isinstance(doc, (str, bytes)):
            raise TypeError(
                f"document {index} is a string; pass lists of terms "
                "(textpipe.tokenize.normalize_terms gives them)"
            )
    return docs


def _npmi(presence: sp.spmatrix, n_docs: int) -> float:
    """Mean NPMI over all pairs of columns of a binary doc x term matrix.

    A pair that never co-occurs scores -1 (the measure's lower bound), a pair
    that occurs in every document scores 1.
    """
    n_terms = presence.shape[1]
    if n_terms < 2 or n_docs == 0:
        return 0.0
    presence = sp.csc_matrix(presence, dtype=np.float64)
    joint = (presence.T @ presence).toarray()
    p_term = np.diag(joint) / n_docs
    scores = []
    for i in range(n_terms):
        for j in range(i + 1, n_terms):
            p_joint = joint[i, j] / n_docs
            if p_joint == 0.0:
                scores.append(-1.0)
            elif p_joint == 1.0:
                scores.append(1.0)
            else:
                pmi = math.log(p_joint / (p_term[i] * p_term[j]))
                scores.append(pmi / -math.log(p_joint))
    return float(np.mean(scores))


def count_terms(docs: pa.Array | pa.ChunkedArray, vocabulary: pa.Array) -> sp.csr_matrix:
    """Document-term counts of an Arrow list<string> column over `vocabulary` (term
    at each column index); the same matrix as a CountVectorizer with that vocabulary.
    Terms outside the vocabulary and null documents count nothing."""
    if isinstance(docs, pa.ChunkedArray):
        docs = docs.combine_chunks() if docs.num_chunks else pa.array([], docs.type)
    if not (pa.types.is_list(docs.type) or pa.types.is_large_list(docs.type)) or not pa.types.is_string(docs.type.value_type):
        raise TypeError(f"documents must be a list<string> array, got {docs.type}")
    columns = pc.index_in(pc.list_flatten(docs), value_set=vocabulary)
    known = columns.is_valid()
    rows = pc.list_parent_indices(docs).filter(known).to_numpy()
    columns = columns.filter(known).to_numpy()
    counts = sp.csr_matrix(
        (np.ones(len(rows), np.float64), (rows, columns)), shape=(len(docs), len(vocabulary)), dtype=np.float64
    )
    counts.sum_duplicates()  # also sorts indices, as CountVectorizer leaves them
    return counts


def topic_coherence(top_terms: Sequence[str], docs: Sequence[Terms]) -> float:
    """NPMI coherence of one topic: mean over pairs of `top_terms` of

    log(P(a, b) / (P(a) P(b))) / -log P(a, b),

    where P is the fraction of `docs` containing the term(s). Ranges from -1
    (never together) to 1 (always together); around 0 means independent.
    """
    vectorizer = CountVectorizer(analyzer=_identity, vocabulary=list(dict.fromkeys(top_terms)), binary=True)
    docs = _as_term_lists(docs)
    return _npmi(vectorizer.transform(docs), len(docs))


class TopicModel:
    """Topics from term lists; learned state ends in `_` as in scikit-learn."""

    def __init__(
        self,
        n_topics: int = 10,
        method: Method = "nmf",
        max_features: int = 20_000,
        min_df: int | float = 2,
        max_df: float = 0.3,
        top_terms: int = 10,
        random_state: int = 0,
        relevance: float = RELEVANCE_LAMBDA,
    ) -> None:
        self.n_topics = n_topics
        self.method = method
        self.max_features = max_features
        self.min_df = min_df
        self.max_df = max_df
        self.top_terms = top_terms
        self.random_state = random_state
        self.relevance = relevance

    def get_params(self) -> dict[str, Any]:
        return {
            "n_topics": self.n_topics,
            "method": self.method,
            "max_features": self.max_features,
            "min_df": self.min_df,
            "max_df": self.max_df,
            "top_terms": self.top_terms,
            "random_state": self.random_state,
            "relevance": self.relevance,
        }

    def __repr__(self) -> str:
        args = ", ".join(f"{key}={value!r}" for key, value in self.get_params().items())
        return f"TopicModel({args})"

    # ----- fitting -------------------------------------------------------

    def fit(self, docs: Sequence[Terms]) -> TopicModel:
        self._fit(_as_term_lists(docs))
        return self

    def fit_transform(self, docs: Sequence[Terms]) -> np.ndarray:
        docs = _as_term_lists(docs)
        counts = self._fit(docs)
        return self._weights_from_counts(counts)

    def _fit(self, docs: list[Terms]) -> sp.csr_matrix:
        self._check_params(len(docs))
        vectorizer = CountVectorizer(
            analyzer=_identity,
            min_df=self.min_df,
            max_df=self.max_df,
            max_features=self.max_features,
            dtype=np.float64,
        )
        try:
            counts = vectorizer.fit_transform(docs)
        except ValueError as exc:
            raise ValueError(f"cannot build a vocabulary from {len(docs)} documents: {exc}") from exc
        if counts.shape[1] < self.n_topics:
            raise ValueError(
                f"n_topics={self.n_topics} needs at least that many terms; only {counts.shape[1]} "
                f"survive min_df={self.min_df} and max_df={self.max_df}"
            )
        vocabulary = vectorizer.get_feature_names_out().tolist()
        self.vocabulary_ = {term: index for index, term in enumerate(vocabulary)}
        if self.method == "nmf":
            training_weights = self._shares(self._fit_nmf(counts), counts)
        else:
            self._fit_lda(counts)
            training_weights = self._weights_from_counts(counts)
        self._order_topics_by_prevalence(training_weights)
        self.topics_ = self._describe_topics(counts)
        self.n_documents_ = len(docs)
        self.fitted_at_ = datetime.now(UTC)
        self.model_id_ = self._compute_model_id()
        logger.info(
            "fitted %s with %d topics on %d documents, %d terms: model %s",
            self.method, self.n_topics, len(docs), len(vocabulary), self.model_id_,
        )
        return counts

    def _check_params(self, n_docs: int) -> None:
        if self.method not in ("nmf", "lda"):
            raise ValueError(f"method must be 'nmf' or 'lda', got {self.method!r}")
        if self.n_topics < 1 or self.top_terms < LABEL_TERMS:
            raise ValueError(
                f"need n_topics >= 1 and top_terms >= {LABEL_TERMS}, got {self.n_topics} and {self.top_terms}"
            )
        if not 0.0 <= self.relevance <= 1.0:
            raise ValueError(f"relevance must be within 0..1, got {self.relevance}")
        # Fewer documents than topics cannot give distinct topics (NMF's SVD
        # initialisation has rank <= n_docs); refuse rather than quietly shrink K.
        if n_docs < self.n_topics:
            raise ValueError(
                f"n_topics={self.n_topics} needs at least {self.n_topics} documents, got {n_docs}; "
                "fit on more documents or ask for fewer topics"
            )

    def _fit_nmf(self, counts: sp.csr_matrix) -> np.ndarray:
        """Fit the factorisation; returns the training documents' raw topic weights."""
        self.idf_ = TfidfTransformer(sublinear_tf=True).fit(counts).idf_.astype(np.float64)
        nmf = NMF(
            n_components=self.n_topics,
            init=_NMF_INIT,
            solver=_NMF_SOLVER,
            max_iter=_NMF_MAX_ITER,
            tol=_NMF_FIT_TOL,
            random_state=self.random_state,
        )
        weights = nmf.fit_transform(self._tfidf(counts))
        self.components_ = nmf.components_.astype(np.float64)
        return weights

    def _fit_lda(self, counts: sp.csr_matrix) -> None:
        lda = LatentDirichletAllocation(
            n_components=self.n_topics,
            learning_method="online",
            max_iter=_LDA_MAX_ITER,
            random_state=self.random_state,
        )
        lda.fit(counts)
        self.components_ = lda.components_.astype(np.float64)
        self.exp_dirichlet_component_ = lda.exp_dirichlet_component_.astype(np.float64)

    def _order_topics_by_prevalence(self, training_weights: np.ndarray) -> None:
        # Solvers return topics in arbitrary order; topic 0 = the largest share
        # of the training documents makes ids mean something in reports.
        order = np.argsort(-training_weights.sum(axis=0), kind="stable")
        self.components_ = np.ascontiguousarray(self.components_[order])
        if self.method == "lda":
            self.exp_dirichlet_component_ = np.ascontiguousarray(self.exp_dirichlet_component_[order])

    def _describe_topics(self, counts: sp.csr_matrix) -> list[Topic]:
        vocabulary = self.feature_names_
        presence = (counts > 0).astype(np.float64).tocsc()
        ranked = self._ranked_terms(counts, max(self.top_terms, DIVERSITY_TERMS))
        listed = ranked[:, :DIVERSITY_TERMS]
        self.diversity_ = float(len(np.unique(listed)) / listed.size)
        topics = []
        for topic_id, row in enumerate(self.components_):
            share = row / row.sum() if row.sum() > 0 else row
            top = ranked[topic_id, : self.top_terms]
            terms = tuple(vocabulary[i] for i in top)
            topics.append(
                Topic(
                    topic_id=topic_id,
                    label=", ".join(terms[:LABEL_TERMS]),
                    top_terms=terms,
                    term_weights=tuple(float(share[i]) for i in top),
                    coherence=_npmi(presence[:, top], counts.shape[0]),
                )
            )
        return topics

    def _ranked_terms(self, counts: sp.csr_matrix, n: int) -> np.ndarray:
        """Column indices of each topic's `n` most relevant terms, best first."""
        totals = np.asarray(counts.sum(axis=0)).ravel()
        corpus_share = totals / totals.sum()
        rows = self.components_.sum(axis=1, keepdims=True)
        share = np.divide(self.components_, rows, out=np.zeros_like(self.components_), where=rows > 0)
        with np.errstate(divide="ignore"):
            # log(share) - (1 - lambda) log(corpus share); a term with no weight ranks last.
            relevance = np.log(share) - (1.0 - self.relevance) * np.log(corpus_share)
        relevance[share <= 0] = -np.inf
        return np.argsort(-relevance, axis=1, kind="stable")[:, :n]

    # ----- transforming --------------------------------------------------

    @property
    def feature_names_(self) -> list[str]:
        self._check_fitted()
        return sorted(self.vocabulary_, key=self.vocabulary_.__getitem__)

    def transform(self, docs: Documents) -> np.ndarray:
        """Topic shares per document: rows sum to 1, or are all zero for a doc with no known term."""
        self._check_fitted()
        if isinstance(docs, (pa.Array, pa.ChunkedArray)):
            return self._weights_from_counts(count_terms(docs, pa.array(self.feature_names_, pa.string())))
        vectorizer = CountVectorizer(analyzer=_identity, vocabulary=self.vocabulary_, dtype=np.float64)
        return self._weights_from_counts(vectorizer.transform(_as_term_lists(docs)))

    def _weights_from_counts(self, counts: sp.csr_matrix) -> np.ndarray:
        raw = self._nmf_weights(counts) if self.method == "nmf" else self._lda_weights(counts)
        return self._shares(raw, counts)

    @staticmethod
    def _shares(raw: np.ndarray, counts: sp.csr_matrix) -> np.ndarray:
        totals = raw.sum(axis=1, keepdims=True)
        # LDA gives an empty document its prior (uniform shares); a document
        # with no known term has no topic, so it gets a zero row either way.
        known = (np.asarray(counts.sum(axis=1)) > 0) & (totals > 0)
        shares = np.divide(raw, totals, out=np.zeros_like(raw), where=known)
        return shares.astype(np.float32)

    def _tfidf(self, counts: sp.csr_matrix) -> sp.csr_matrix:
        # float32: NMF fits ~30% faster with the same topics (NMI on BBC unchanged).
        tf = counts.astype(np.float32)
        np.log(tf.data, out=tf.data)
        tf.data += 1.0
        return normalize(tf @ sp.diags(self.idf_.astype(np.float32)), norm="l2", copy=False)

    def _nmf_weights(self, counts: sp.csr_matrix) -> np.ndarray:
        # The public factorisation with H fixed is exactly NMF.transform, and
        # needs no fitted sklearn object, so a loaded model runs the same code.
        weights, _, _ = non_negative_factorization(
            self._tfidf(counts),
            H=self.components_.astype(np.float32),
            n_components=self.n_topics,
            update_H=False,
            solver=_NMF_SOLVER,
            max_iter=_NMF_MAX_ITER,
            random_state=self.random_state,
        )
        return weights

    def _lda_weights(self, counts: sp.csr_matrix) -> np.ndarray:
        # Rebuilt from saved arrays so fitted and loaded models share one path;
        # the E-step starts from ones (random_init=False), so it is deterministic.
        lda = LatentDirichletAllocation(
            n_components=self.n_topics, learning_method="online", random_state=self.random_state
        )
        lda.components_ = self.components_
        lda.exp_dirichlet_component_ = self.exp_dirichlet_component_
        lda.doc_topic_prior_ = 1.0 / self.n_topics
        lda.topic_word_prior_ = 1.0 / self.n_topics
        lda.n_features_in_ = self.components_.shape[1]
        return lda.transform(counts, normalize=False)

    def _check_fitted(self) -> None:
        if not hasattr(self, "components_"):
            raise NotFittedError("this TopicModel is not fitted yet; call fit() first")

    # ----- identity and persistence --------------------------------------

    def _arrays(self) -> dict[str, np.ndarray]:
        names = _ARRAY_NAMES[self.method]
        return {name: getattr(self, name + "_") for name in names}

    def _compute_model_id(self) -> str:
        params = self.get_params()
        if params["relevance"] == 1.0:
            # Models saved before `relevance` existed ranked by weight; their ids stay valid.
            del params["relevance"]
        digest = hashlib.sha256()
        digest.update(json.dumps(params, sort_keys=True).encode())
        digest.update("\n".join(self.feature_names_).encode())
        for name, array in sorted(self._arrays().items()):
            digest.update(name.encode())
            digest.update(np.ascontiguousarray(array, dtype=np.float64).tobytes())
        return digest.hexdigest()[:16]

    def _metadata(self) -> dict[str, Any]:
        return {
            "model_id": self.model_id_,
            "params": self.get_params(),
            "fitted_at": self.fitted_at_.isoformat(),
            "n_documents": self.n_documents_,
            "diversity": self.diversity_,
            "textpipe_version": __version__,
            "vocabulary": self.feature_names_,
            "topics": [asdict(topic) for topic in self.topics_],
        }

    def save(self, directory: Path) -> Path:
        """Write `directory/<model_id_>/{model.npz,model.json}` atomically; return that folder.

        The folder is built under a dot-name that readers ignore, then renamed
        into place, so a reader sees either the whole model or none of it.
        """
        self._check_fitted()
        directory = Path(directory)
        target = directory / self.model_id_
        try:
            directory.mkdir(parents=True, exist_ok=True)
            staging = Path(tempfile.mkdtemp(prefix=f".{self.model_id_}-", dir=directory))
            try:
                np.savez(staging / MODEL_NPZ, **self._arrays())
                (staging / MODEL_JSON).write_text(json.dumps(self._metadata(), indent=1), encoding="utf-8")
                _replace_dir(staging, target)
            finally:
                shutil.rmtree(staging, ignore_errors=True)
        except OSError as exc:
            raise OutputError(f"cannot write topic model to {target}: {exc}; check space and permissions") from exc
        logger.info("saved topic model %s to %s", self.model_id_, target)
        return target

    @classmethod
    def load(cls, path: Path) -> TopicModel:
        """Read a folder written by `save`; never unpickles. Raises OutputError naming a bad file."""
        path = Path(path)
        meta = _read_metadata(path / MODEL_JSON)
        try:
            # A model saved before `relevance` existed ranked its terms by weight alone.
            model = cls(**{"relevance": 1.0, **meta["params"]})
            model._check_params(meta["n_documents"])
            model.vocabulary_ = {term: index for index, term in enumerate(meta["vocabulary"])}
            model.topics_ = [_topic_from_json(topic) for topic in meta["topics"]]
            model.fitted_at_ = datetime.fromisoformat(meta["fitted_at"])
            model.n_documents_ = int(meta["n_documents"])
            model.diversity_ = float(meta["diversity"]) if "diversity" in meta else _diversity(model.topics_)
            stored_id = str(meta["model_id"])
        except (KeyError, TypeError, ValueError) as exc:
            raise OutputError(f"{path / MODEL_JSON} is not a valid topic model description: {exc!r}") from exc
        for name, array in _read_arrays(path / MODEL_NPZ, model._expected_shapes()).items():
            setattr(model, name + "_", array)
        model.model_id_ = model._compute_model_id()
        if model.model_id_ != stored_id:
            raise OutputError(
                f"{path / MODEL_NPZ} does not match the model_id {stored_id} in {path / MODEL_JSON} "
                f"(arrays hash to {model.model_id_}); the folder is corrupt or mixed, refit and save again"
            )
        return model

    def _expected_shapes(self) -> dict[str, tuple[int, ...]]:
        n_terms = len(self.vocabulary_)
        shapes = {"components": (self.n_topics, n_terms)}
        if self.method == "nmf":
            shapes["idf"] = (n_terms,)
        else:
            shapes["exp_dirichlet_component"] = (self.n_topics, n_terms)
        return shapes


def _replace_dir(staging: Path, target: Path) -> None:
    if not target.exists():
        os.replace(staging, target)
        return
    # Same model_id means same params and arrays; swap so the folder is never
    # half-written, then drop the old copy.
    retired = Path(tempfile.mkdtemp(prefix=f".{target.name}-old-", dir=target.parent))
    os.replace(target, retired / target.name)
    os.replace(staging, target)
    shutil.rmtree(retired, ignore_errors=True)


def _read_metadata(path: Path) -> dict[str, Any]:
    try:
        meta = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise OutputError(f"cannot read topic model file {path}: {exc}; refit and save the model again") from exc
    if not isinstance(meta, dict):
        raise OutputError(f"{path} does not hold a JSON object; refit and save the model again")
    return meta


def _read_arrays(path: Path, shapes: dict[str, tuple[int, ...]]) -> dict[str, np.ndarray]:
    try:
        with np.load(path, allow_pickle=False) as npz:
            arrays = {name: npz[name] for name in shapes}
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as exc:
        raise OutputError(f"cannot read topic model file {path}: {exc!r}; refit and save the model again") from exc
    for name, array in arrays.items():
        if array.shape != shapes[name] or array.dtype != np.float64 or not np.all(np.isfinite(array)):
            raise OutputError(
                f"{path}: array {name!r} has shape {array.shape} and dtype {array.dtype}, "
                f"expected finite float64 of shape {shapes[name]}; refit and save the model again"
            )
    return arrays


def _topic_from_json(data: dict[str, Any]) -> Topic:
    return Topic(
        topic_id=int(data["topic_id"]),
        label=str(data["label"]),
        top_terms=tuple(str(term) for term in data["top_terms"]),
        term_weights=tuple(float(weight) for weight in data["term_weights"]),
        coherence=float(data["coherence"]),
    )


def _diversity(topics: Sequence[Topic]) -> float:
    terms = [term for topic in topics for term in topic.top_terms]
    return len(set(terms)) / len(terms) if terms else 0.0


def topic_quality(model: TopicModel) -> float:
    """Mean topic NPMI times topic diversity (Dieng, Ruiz & Blei 2020's "topic quality"):
    coherent topics that do not repeat each other's terms."""
    return float(np.mean([topic.coherence for topic in model.topics_])) * model.diversity_


def choose_n_topics(
    docs: Sequence[Terms], candidates: Sequence[int], **model_kwargs: Any
) -> tuple[int, dict[int, float]]:
    """Fit one model per candidate K; return the K with the highest topic quality
    (`topic_quality`: mean NPMI x diversity; the smaller K on a tie) and every candidate's quality.

    Coherence alone keeps rising with K on news (finer topics, such as a single doping
    story, are very coherent); diversity falls once topics start to split what one
    topic held and share its terms, so their product stops rising where K runs out
    of distinct stories to tell.
    """
    if not candidates:
        raise ValueError("choose_n_topics needs at least one candidate number of topics")
    if "n_topics" in model_kwargs:
        raise ValueError("pass the numbers of topics as candidates, not as n_topics")
    docs = _as_term_lists(docs)
    scores: dict[int, float] = {}
    for k in sorted(set(candidates)):
        model = TopicModel(n_topics=k, **model_kwargs).fit(docs)
        scores[k] = topic_quality(model)
        logger.info("K=%d: mean NPMI %.4f, diversity %.3f, quality %.4f", k, np.mean([t.coherence for t in model.topics_]), model.diversity_, scores[k])
    best = max(scores, key=lambda k: (round(scores[k], 3), -k))
    return best, scores
