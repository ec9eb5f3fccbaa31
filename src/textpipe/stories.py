"""Stories: articles that are copies of one another (wire copy, a republished piece
with a new headline, a dateline added, a paragraph dropped, quotes restyled, a phrase
reworded) share a `story_id`; distinct articles on the same topic do not.

An article's body becomes the set of its word 5-shingles (its terms: lowercase words
without stop words or numbers, so punctuation, quote style and small rewordings count
little), sketched by MinHash (datasketch's
permutations, applied to a whole article at once). Locality-sensitive hashing over
bands of the sketch finds the few stored articles worth comparing; two articles are
copies when their estimated Jaccard similarity, or the share of the smaller one's
shingles that the larger one contains, passes a threshold measured on an edited BBC
corpus (`bench/stories_quality.py`, docs/stories.md).

The index lives in SQLite under the output folder (`_state/stories.sqlite`): one row
per article (its story, run and sketch) and one per band key, looked up through
SQLite's own B-tree, so placing an article reads a few rows, never the whole index.
A story's id is the id of the first article placed in it.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import zlib
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from textpipe.errors import OutputError

log = logging.getLogger(__name__)

SHINGLE_WORDS = 5
NUM_PERM = 64
BANDS = 21  # of NUM_PERM // BANDS = 3 rows each (the 64th value is unused)
SEED = 1
# Two articles are one story when the estimated Jaccard similarity of their shingle sets
# reaches JACCARD_MIN, or the larger one contains CONTAINMENT_MIN of the smaller one's
# shingles (a copy with paragraphs dropped). Chosen from bench/stories_quality.py.
JACCARD_MIN = 0.6
CONTAINMENT_MIN = 0.8
_INDEX_VERSION = 1


@dataclass(frozen=True, slots=True)
class Sketch:
    """An article's body as the placement needs it: how many distinct shingles, and their MinHash."""

    n_shingles: int
    signature: np.ndarray  # NUM_PERM uint32


@lru_cache(maxsize=1)
def _permutations() -> tuple[np.ndarray, np.ndarray]:
    from datasketch import MinHash

    a, b = MinHash(num_perm=NUM_PERM, seed=SEED, scheme="affine32").permutations
    return a.astype(np.uint32), b.astype(np.uint32)


def _fmix32(values: np.ndarray) -> np.ndarray:
    """MurmurHash3's 32-bit finalizer, as datasketch's affine32 scheme mixes its input."""
    values = values ^ (values >> np.uint32(16))
    values = values * np.uint32(0x85EBCA6B)
    values = values ^ (values >> np.uint32(13))
    values = values * np.uint32(0xC2B2AE35)
    return values ^ (values >> np.uint32(16))


_SHINGLE_POWERS = np.cumprod(np.full(SHINGLE_WORDS, 0x9E3779B97F4A7C15, dtype=np.uint64), dtype=np.uint64)


def shingle_hashes(words: Sequence[str]) -> np.ndarray:
    """The distinct 32-bit hashes of the word 5-shingles of `words` (fewer words are one shingle).

    Stable across processes and machines (CRC-32 of each word, not the salted `hash`);
    a shingle is a polynomial of its words' hashes modulo 2**64, folded to 32 bits.
    """
    if not words:
        return np.zeros(0, np.uint32)
    word_hashes = np.fromiter(map(zlib.crc32, map(str.encode, words)), np.uint64, len(words))
    span = min(SHINGLE_WORDS, len(words))
    count = len(words) - span + 1
    shingles = np.zeros(count, np.uint64)
    with np.errstate(over="ignore"):
        for offset in range(span):
            shingles += word_hashes[offset : offset + count] * _SHINGLE_POWERS[offset]
    folded = np.sort(((shingles >> np.uint64(32)) ^ shingles).astype(np.uint32))
    return folded[np.r_[True, folded[1:] != folded[:-1]]]


def sketch(words: Sequence[str]) -> Sketch:
    """MinHash of the shingles of `words` (an article body's terms): the values datasketch's
    `MinHash(num_perm=NUM_PERM, seed=SEED)` gives when fed the shingle hashes, computed for
    all shingles at once (a test compares the two)."""
    hashes = shingle_hashes(words)
    if not len(hashes):
        return Sketch(0, np.full(NUM_PERM, np.iinfo(np.uint32).max, np.uint32))
    a, b = _permutations()
    with np.errstate(over="ignore"):
        signature = (_fmix32(hashes).reshape(-1, 1) * a + b).min(axis=0)
    return Sketch(len(hashes), signature)


def sketch_columns(terms: pa.ListArray | pa.ChunkedArray, skip: Sequence[int]) -> tuple[pa.Array, pa.Array]:
    """(n_shingles, signature) columns for a batch: `sketch` of each article's terms
    after its first `skip[i]` (the title's), computed for the whole batch at once.

    Each distinct word of the batch is hashed once (Arrow's dictionary encoding), and
    the shingles of all articles go through the permutations together; a test checks
    the result against `sketch`, article by article.
    """
    if isinstance(terms, pa.ChunkedArray):
        terms = terms.combine_chunks() if terms.num_chunks else pa.array([], terms.type)
    count = len(terms)
    offsets = terms.offsets.to_numpy().astype(np.int64)
    encoded = pc.dictionary_encode(terms.values.slice(offsets[0], offsets[-1] - offsets[0]) if count else terms.values)
    offsets -= offsets[0] if count else 0
    words = encoded.dictionary.to_pylist()
    word_hashes = np.fromiter(map(zlib.crc32, map(str.encode, words)), np.uint64, len(words))[encoded.indices.to_numpy()]
    starts = np.minimum(offsets[:-1] + np.asarray(skip, np.int64), offsets[1:])
    lengths = offsets[1:] - starts
    shingles, owners = _batch_shingles(word_hashes, starts, lengths)
    sizes = np.zeros(count, np.int64)
    signatures = np.full((count, NUM_PERM), np.iinfo(np.uint32).max, np.uint32)
    if len(shingles):
        keys = np.sort((owners.astype(np.uint64) << np.uint64(32)) | shingles)  # np.unique hashes: 6x slower here
        distinct = keys[np.r_[True, keys[1:] != keys[:-1]]]
        owners, shingles = (distinct >> np.uint64(32)).astype(np.int64), (distinct & np.uint64(0xFFFFFFFF)).astype(np.uint32)
        sizes = np.bincount(owners, minlength=count)
        a, b = _permutations()
        mixed = _fmix32(shingles)
        first = np.flatnonzero(np.r_[True, owners[1:] != owners[:-1]])
        for chunk in range(0, len(first), 256):  # bounded memory: (shingles of 256 articles) x NUM_PERM
            lo = first[chunk]
            hi = first[chunk + 256] if chunk + 256 < len(first) else len(owners)
            with np.errstate(over="ignore"):
                hashed = mixed[lo:hi].reshape(-1, 1) * a + b
            signatures[owners[first[chunk : chunk + 256]]] = np.minimum.reduceat(hashed, first[chunk : chunk + 256] - lo, axis=0)
    return pa.array(sizes, pa.int32()), pa.FixedSizeBinaryArray.from_buffers(
        pa.binary(NUM_PERM * 4), count, [None, pa.py_buffer(signatures.tobytes())])


def _batch_shingles(word_hashes: np.ndarray, starts: np.ndarray, lengths: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The 32-bit shingle hashes of every article's words, with the article each belongs to;
    the same values `shingle_hashes` gives (before de-duplication)."""
    total = len(word_hashes)
    window = np.zeros(max(total - SHINGLE_WORDS + 1, 0), np.uint64)
    with np.errstate(over="ignore"):
        for offset in range(SHINGLE_WORDS):
            window += word_hashes[offset : offset + len(window)] * _SHINGLE_POWERS[offset]
    owner_of_position = np.repeat(np.arange(len(starts)), lengths) if len(starts) else np.zeros(0, np.int64)
    position = np.concatenate([np.arange(s, s + n) for s, n in zip(starts, lengths, strict=True)]) if len(starts) else np.zeros(0, np.int64)
    # A window starting at `position` lies inside its article when SHINGLE_WORDS words remain.
    remaining = (starts + lengths)[owner_of_position] - position if len(position) else np.zeros(0, np.int64)
    full = remaining >= SHINGLE_WORDS
    hashes = [window[position[full]]]
    owners = [owner_of_position[full]]
    short = np.flatnonzero((lengths > 0) & (lengths < SHINGLE_WORDS))
    for article in short:  # fewer words than a shingle: the words are the one shingle
        value = np.zeros(1, np.uint64)
        with np.errstate(over="ignore"):
            for offset in range(lengths[article]):
                value += word_hashes[starts[article] + offset] * _SHINGLE_POWERS[offset]
        hashes.append(value)
        owners.append(np.array([article]))
    shingles = np.concatenate(hashes)
    return ((shingles >> np.uint64(32)) ^ shingles).astype(np.uint32).astype(np.uint64), np.concatenate(owners).astype(np.int64)


def estimated_jaccard(first: np.ndarray, second: np.ndarray) -> float:
    return float(np.count_nonzero(first == second)) / len(first)


def same_story(jaccard: float, n_first: int, n_second: int) -> bool:
    """Copies: a high Jaccard similarity, or the larger set holding most of the smaller one.

    With J the Jaccard similarity of sets of sizes n1 and n2, |A & B| = J (n1 + n2) / (1 + J).
    """
    if jaccard >= JACCARD_MIN:
        return True
    if jaccard <= 0 or not n_first or not n_second:
        return False
    shared = jaccard * (n_first + n_second) / (1 + jaccard)
    return shared / min(n_first, n_second) >= CONTAINMENT_MIN


def similarity(first: Sketch, second: Sketch) -> tuple[float, float]:
    """(estimated Jaccard, estimated containment of the smaller in the larger)."""
    jaccard = estimated_jaccard(first.signature, second.signature)
    if jaccard <= 0 or not first.n_shingles or not second.n_shingles:
        return jaccard, 0.0
    shared = jaccard * (first.n_shingles + second.n_shingles) / (1 + jaccard)
    return jaccard, min(1.0, shared / min(first.n_shingles, second.n_shingles))


def band_keys(signature: np.ndarray) -> list[int]:
    """One signed 64-bit key per band (SQLite's integer): a polynomial of the band's values, salted by its number."""
    rows = NUM_PERM // BANDS
    with np.errstate(over="ignore"):
        powers = np.cumprod(np.full(rows, 0xFF51AFD7ED558CCD, dtype=np.uint64), dtype=np.uint64)
        salts = np.arange(1, BANDS + 1, dtype=np.uint64) * np.uint64(0xD6E8FEB86659FD93)
        keys = signature[: BANDS * rows].astype(np.uint64).reshape(BANDS, rows) @ powers + salts
    return keys.view(np.int64).tolist()


def _article_key(article_id: str) -> int:
    """An article id (16 hex digits) as SQLite's signed 64-bit integer."""
    return int.from_bytes(bytes.fromhex(article_id), "big", signed=True)


def _article_id(key: int) -> str:
    return key.to_bytes(8, "big", signed=True).hex()


@dataclass(frozen=True, slots=True)
class NewArticle:
    article_id: str
    sketch: Sketch


class StoryIndex:
    """The LSH index of every committed article's sketch, with its story.

    Rows carry the run that added them: `forget_runs` drops a run that never
    committed, so the index never holds an article the store does not.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self._db = sqlite3.connect(path, isolation_level=None)
            self._db.execute("PRAGMA synchronous=FULL")
            self._create()
        except sqlite3.DatabaseError as exc:
            raise OutputError(f"the story index {path} cannot be read ({exc}); run `textpipe repair --output {path.parent.parent}`") from exc

    def _create(self) -> None:
        db = self._db
        db.execute("CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID")
        db.execute("CREATE TABLE IF NOT EXISTS articles (article INTEGER PRIMARY KEY, story INTEGER NOT NULL, "
                   "run_id TEXT NOT NULL, n_shingles INTEGER NOT NULL, signature BLOB NOT NULL)")
        db.execute("CREATE INDEX IF NOT EXISTS articles_by_run ON articles (run_id)")
        db.execute("CREATE TABLE IF NOT EXISTS bands (key INTEGER NOT NULL, article INTEGER NOT NULL, PRIMARY KEY (key, article)) WITHOUT ROWID")
        wanted = {"version": str(_INDEX_VERSION), "num_perm": str(NUM_PERM), "bands": str(BANDS), "seed": str(SEED), "shingle_words": str(SHINGLE_WORDS)}
        stored = dict(db.execute("SELECT name, value FROM meta").fetchall())
        if not stored:
            db.executemany("INSERT INTO meta VALUES (?, ?)", wanted.items())
        elif stored != wanted:
            raise OutputError(f"the story index {self.path} was built with other parameters ({stored}); "
                              f"move it aside and run `textpipe repair --output {self.path.parent.parent}` to rebuild it")

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> StoryIndex:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __len__(self) -> int:
        return self._db.execute("SELECT count(*) FROM articles").fetchone()[0]

    def run_ids(self) -> set[str]:
        return {row[0] for row in self._db.execute("SELECT DISTINCT run_id FROM articles")}

    def forget_runs(self, run_ids: Iterable[str]) -> int:
        """Drop the articles (and band keys) of these runs; returns how many articles went."""
        removed = 0
        with self._transaction():
            for run_id in run_ids:
                self._db.execute("DELETE FROM bands WHERE article IN (SELECT article FROM articles WHERE run_id = ?)", (run_id,))
                removed += self._db.execute("DELETE FROM articles WHERE run_id = ?", (run_id,)).rowcount
        return removed

    def stories_of(self, article_ids: Sequence[str]) -> dict[str, str]:
        """The stories of those of `article_ids` the index holds."""
        found: dict[str, str] = {}
        for chunk in _chunks([_article_key(a) for a in article_ids], 500):
            marks = ",".join("?" * len(chunk))
            for article, story in self._db.execute(f"SELECT article, story FROM articles WHERE article IN ({marks})", chunk):
                found[_article_id(article)] = _article_id(story)
        return found

    def place(self, articles: Sequence[NewArticle], run_id: str) -> dict[str, str]:
        """Give each new article a story, in order, and add them to the index; returns article id -> story id.

        An article joins the story of the most similar earlier copy (stored, or earlier in
        `articles`); one with no copy starts a story of its own. An article the index
        already holds keeps its story.
        """
        known = self.stories_of([a.article_id for a in articles])
        pending = [a for a in dict((a.article_id, a) for a in articles).values() if a.article_id not in known]
        keys = [band_keys(a.sketch.signature) for a in pending]
        stored = self._stored_candidates(keys)
        stories = dict(known)
        run_bands: dict[int, list[int]] = {}  # band key -> positions in `pending` placed so far
        rows, band_rows = [], []
        for position, (article, article_keys) in enumerate(zip(pending, keys, strict=True)):
            best: tuple[float, str] | None = None
            for candidate_sketch, story in stored.get(position, ()):
                best = _better(best, article.sketch, candidate_sketch, story)
            for earlier in {p for key in article_keys for p in run_bands.get(key, ())}:
                best = _better(best, article.sketch, pending[earlier].sketch, stories[pending[earlier].article_id])
            story = best[1] if best else article.article_id
            stories[article.article_id] = story
            for key in article_keys:
                run_bands.setdefault(key, []).append(position)
            article_key = _article_key(article.article_id)
            rows.append((article_key, _article_key(story), run_id, article.sketch.n_shingles, article.sketch.signature.tobytes()))
            band_rows += [(key, article_key) for key in article_keys]
        with self._transaction():
            self._db.executemany("INSERT INTO articles VALUES (?, ?, ?, ?, ?)", rows)
            self._db.executemany("INSERT OR IGNORE INTO bands VALUES (?, ?)", sorted(band_rows))
        return stories

    def add_placed(self, articles: Sequence[NewArticle], stories: Sequence[str], run_ids: Sequence[str]) -> None:
        """Add articles whose story is already known (rebuilding the index from the store)."""
        rows, band_rows = [], []
        for article, story, run_id in zip(articles, stories, run_ids, strict=True):
            key = _article_key(article.article_id)
            rows.append((key, _article_key(story), run_id, article.sketch.n_shingles, article.sketch.signature.tobytes()))
            band_rows += [(band, key) for band in band_keys(article.sketch.signature)]
        with self._transaction():
            self._db.executemany("INSERT OR IGNORE INTO articles VALUES (?, ?, ?, ?, ?)", rows)
            self._db.executemany("INSERT OR IGNORE INTO bands VALUES (?, ?)", sorted(band_rows))

    def check(self) -> None:
        """Raise OutputError unless SQLite finds the file intact."""
        try:
            result = self._db.execute("PRAGMA quick_check").fetchone()[0]
        except sqlite3.DatabaseError as exc:
            result = str(exc)
        if result != "ok":
            raise OutputError(f"the story index {self.path} is damaged ({result}); run `textpipe repair --output {self.path.parent.parent}`")

    def _stored_candidates(self, keys: list[list[int]]) -> dict[int, list[tuple[Sketch, str]]]:
        """Per position in `keys`, the stored articles sharing a band key: (sketch, story)."""
        if not keys:
            return {}
        db = self._db
        db.execute("CREATE TEMP TABLE IF NOT EXISTS wanted (key INTEGER NOT NULL, position INTEGER NOT NULL)")
        db.execute("DELETE FROM temp.wanted")
        db.executemany("INSERT INTO temp.wanted VALUES (?, ?)", ((key, position) for position, row in enumerate(keys) for key in row))
        pairs = db.execute("SELECT DISTINCT w.position, b.article FROM temp.wanted w JOIN bands b ON b.key = w.key").fetchall()
        db.execute("DELETE FROM temp.wanted")
        sketches: dict[int, tuple[Sketch, str]] = {}
        for chunk in _chunks(sorted({article for _, article in pairs}), 500):
            marks = ",".join("?" * len(chunk))
            for article, story, n_shingles, signature in db.execute(
                    f"SELECT article, story, n_shingles, signature FROM articles WHERE article IN ({marks})", chunk):
                sketches[article] = (Sketch(n_shingles, np.frombuffer(signature, np.uint32)), _article_id(story))
        found: dict[int, list[tuple[Sketch, str]]] = {}
        for position, article in pairs:
            if article in sketches:
                found.setdefault(position, []).append(sketches[article])
        return found

    def _transaction(self) -> _Transaction:
        return _Transaction(self._db)


class _Transaction:
    def __init__(self, db: sqlite3.Connection) -> None:
        self._db = db

    def __enter__(self) -> None:
        self._db.execute("BEGIN IMMEDIATE")

    def __exit__(self, exc_type: object, *exc: object) -> None:
        self._db.execute("COMMIT" if exc_type is None else "ROLLBACK")


def _better(best: tuple[float, str] | None, article: Sketch, candidate: Sketch, story: str) -> tuple[float, str] | None:
    jaccard = estimated_jaccard(article.signature, candidate.signature)
    if not same_story(jaccard, article.n_shingles, candidate.n_shingles):
        return best
    if best is None or jaccard > best[0] or (jaccard == best[0] and story < best[1]):
        return jaccard, story
    return best


def _chunks(items: list, size: int) -> Iterator[list]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def index_path(output: Path) -> Path:
    return output / "_state" / "stories.sqlite"


def new_articles(table: pa.Table) -> list[NewArticle]:
    """The sketches of a staged article table (columns article_id, n_shingles, signature)."""
    ids = table.column("article_id").to_pylist()
    sizes = table.column("n_shingles").to_pylist()
    signatures = table.column("signature").to_pylist()
    return [NewArticle(a, Sketch(n, np.frombuffer(s, np.uint32))) for a, n, s in zip(ids, sizes, signatures, strict=True)]


def seen_at(table: pa.Table) -> pa.ChunkedArray:
    """When an article was first seen: its publication time, else when textpipe read it."""
    return pc.coalesce(table.column("published_at"), table.column("ingested_at"))


def placement_order(table: pa.Table) -> pa.Table:
    """Articles in the order they are placed: earliest seen first, so the first copy
    of a story gives it its id whichever batch or file it came in."""
    return table.append_column("seen_at", seen_at(table)).sort_by([("seen_at", "ascending"), ("article_id", "ascending")])


def stories_table(articles: pa.Table, schema: pa.Schema) -> pa.Table:
    """The `stories` dataset recounted from articles (article_id, story_id, published_at,
    ingested_at, publisher, title); an article without a story (an older textpipe's) is its own."""
    story = pc.coalesce(articles.column("story_id"), articles.column("article_id"))
    table = pa.table({
        "story_id": story, "seen_at": seen_at(articles), "article_id": articles.column("article_id"),
        "publisher": articles.column("publisher"), "title": articles.column("title"),
    }).sort_by([("story_id", "ascending"), ("seen_at", "ascending"), ("article_id", "ascending")])
    grouped = table.group_by("story_id", use_threads=False).aggregate([
        ("seen_at", "min"), ("seen_at", "max"), ("article_id", "count"),
        ("publisher", "count_distinct", pc.CountOptions(mode="only_valid")), ("title", "first"), ("article_id", "list"),
    ])
    result = pa.table({
        "story_id": grouped.column("story_id"),
        "first_seen": grouped.column("seen_at_min"),
        "last_seen": grouped.column("seen_at_max"),
        "n_articles": grouped.column("article_id_count"),
        "n_publishers": grouped.column("publisher_count_distinct"),
        "title": grouped.column("title_first"),
        "article_ids": grouped.column("article_id_list"),
    })
    result = result.sort_by([("n_articles", "descending"), ("first_seen", "ascending"), ("story_id", "ascending")])
    return pa.Table.from_arrays([result.column(f.name).cast(f.type) for f in schema], schema=schema)


def remove_index(output: Path) -> None:
    for suffix in ("", "-journal"):
        with_suffix = Path(f"{index_path(output)}{suffix}")
        if with_suffix.exists():
            os.remove(with_suffix)
