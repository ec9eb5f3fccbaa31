"""Stories: articles that are copies of one another (wire copy, a republished piece
with a new headline, a dateline added, a paragraph dropped, quotes restyled, a phrase
reworded) share a `story_id`; distinct articles on the same topic do not.

An article's body becomes the set of its word 5-shingles (its terms: lowercase words
without stop words or numbers, so punctuation and quote style do not count), sketched
by MinHash (datasketch's permutations, applied to a whole batch at once). Locality-sensitive hashing over
bands of the sketch finds the few stored articles worth comparing; two articles are
copies when their estimated Jaccard similarity, or the share of the smaller one's
shingles that the larger one contains, passes a threshold measured on an edited BBC
corpus (`bench/stories_quality.py`, docs/analysis.md).

The index is part of the store's state (`_state/story-sketches`, `_state/story-bands`):
per run, the sketches of its articles with their stories, and their band keys, sorted
and memory-mapped when read, so placing an article is a binary search that touches the
pages it needs, never a load of the whole index. A story's id is the id of the first
article placed in it.
"""

from __future__ import annotations

import logging
import mmap
import os
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.ipc as ipc

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
# A band key many articles share (the same boilerplate notice filed thousands of times) is
# compared with at most this many of them: comparing with all would make a run's cost and
# memory grow with the square of such a crowd, and its members are one story anyway.
CANDIDATES_PER_KEY = 24
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


def similarity(first: Sketch, second: Sketch) -> tuple[float, float]:
    """(estimated Jaccard, estimated containment of the smaller set in the larger)."""
    jaccard = float(np.count_nonzero(first.signature == second.signature)) / NUM_PERM
    if jaccard <= 0 or not first.n_shingles or not second.n_shingles:
        return jaccard, 0.0
    shared = jaccard * (first.n_shingles + second.n_shingles) / (1 + jaccard)
    return jaccard, min(1.0, shared / min(first.n_shingles, second.n_shingles))


def band_keys(signatures: np.ndarray) -> np.ndarray:
    """One signed 64-bit key per band of each signature (rows of NUM_PERM uint32): a
    polynomial of the band's values, salted by its number; shape (articles, BANDS)."""
    rows = NUM_PERM // BANDS
    signatures = np.asarray(signatures).reshape(-1, NUM_PERM)
    with np.errstate(over="ignore"):
        powers = np.cumprod(np.full(rows, 0xFF51AFD7ED558CCD, dtype=np.uint64), dtype=np.uint64)
        salts = np.arange(1, BANDS + 1, dtype=np.uint64) * np.uint64(0xD6E8FEB86659FD93)
        bands = signatures[:, : BANDS * rows].astype(np.uint64).reshape(len(signatures), BANDS, rows)
        keys = (bands * powers).sum(axis=2, dtype=np.uint64) + salts
    return keys.view(np.int64)


def article_keys(article_ids: Sequence[str]) -> np.ndarray:
    """Article ids (16 hex digits) as signed 64-bit integers, the index's keys."""
    return np.array([int(a, 16) for a in article_ids], np.uint64).view(np.int64) if len(article_ids) else np.zeros(0, np.int64)


def article_ids(keys: np.ndarray) -> list[str]:
    return [f"{key:016x}" for key in np.asarray(keys, np.int64).view(np.uint64).tolist()]


@dataclass(frozen=True, slots=True)
class NewArticle:
    article_id: str
    sketch: Sketch


# The index: per run (or compaction), two Arrow IPC files under `_state/`, both memory-mapped
# when read, so a lookup touches the pages it needs and never loads the whole index:
# `story-sketches/part-<run>.arrow` (article, story, n_shingles, signature; sorted by article)
# and `story-bands/part-<run>.arrow` (key, article; sorted by key). They are run parts as a
# dataset's are: removed with a run that never committed, merged by compaction, moved aside
# with their run by `repair`.

SKETCHES = pa.schema([
    pa.field("article", pa.int64(), nullable=False),
    pa.field("story", pa.int64(), nullable=False),
    pa.field("n_shingles", pa.int32(), nullable=False),
    pa.field("signature", pa.binary(NUM_PERM * 4), nullable=False),
])
BAND_KEYS = pa.schema([pa.field("key", pa.int64(), nullable=False), pa.field("article", pa.int64(), nullable=False)])
# Written into every part; a part made with other parameters cannot be searched with these.
PARAMETERS = {b"textpipe.stories": f"num_perm={NUM_PERM} bands={BANDS} seed={SEED} shingle_words={SHINGLE_WORDS} scheme=affine32".encode()}
FENCES = b"textpipe.fences"
FENCE_EVERY = 512  # keys: 4 KiB of them between two fences
# Up to this many keys are looked up between fences (a few pages each); more, in one pass over the part.
FEW_LOOKUPS = 4096
SKETCHES_DIR = "story-sketches"
BANDS_DIR = "story-bands"


def sketches_dir(output: Path) -> Path:
    return output / "_state" / SKETCHES_DIR


def bands_dir(output: Path) -> Path:
    return output / "_state" / BANDS_DIR


class _Segment:
    """One run's part of the index, memory-mapped. For a few lookups the kernel is told
    the access is random, so a page fault reads that page and not a readahead window
    around it (4 MB on these machines): placing one article then reads a few pages of
    an index of any size."""

    def __init__(self, sketches_path: Path, bands_path: Path, few_lookups: bool = True) -> None:
        self._maps = [_map(sketches_path, few_lookups), _map(bands_path, few_lookups)]
        try:
            sketches = ipc.open_file(pa.BufferReader(pa.py_buffer(self._maps[0]))).read_all()
            bands = ipc.open_file(pa.BufferReader(pa.py_buffer(self._maps[1]))).read_all()
            for table in (sketches, bands):
                metadata = table.schema.metadata or {}
                if metadata.get(b"textpipe.stories") != PARAMETERS[b"textpipe.stories"] or FENCES not in metadata:
                    raise OutputError(f"it was made with other parameters ({metadata.get(b'textpipe.stories')!r})")
        except (pa.ArrowInvalid, OSError, ValueError, OutputError) as exc:
            raise OutputError(f"the story index part {sketches_path.name} under {sketches_path.parent.parent} cannot be used ({exc}); "
                              f"run `textpipe repair --output {sketches_path.parent.parent.parent}` to build the index again") from exc
        self.articles = _numpy(sketches.column("article"))
        self.stories = _numpy(sketches.column("story"))
        self.sizes = _numpy(sketches.column("n_shingles"))
        signature = sketches.column("signature").chunks[0] if len(sketches) else None
        self.signatures = (np.frombuffer(signature.buffers()[1], np.uint32, len(sketches) * NUM_PERM, signature.offset * NUM_PERM * 4).reshape(-1, NUM_PERM)
                           if signature is not None else np.zeros((0, NUM_PERM), np.uint32))
        self.keys = _numpy(bands.column("key"))
        self.band_articles = _numpy(bands.column("article"))
        self.key_fences = np.frombuffer(bands.schema.metadata[FENCES], np.int64)
        self.article_fences = np.frombuffer(sketches.schema.metadata[FENCES], np.int64)


def _map(path: Path, random_access: bool) -> mmap.mmap:
    with open(path, "rb") as file:
        mapped = mmap.mmap(file.fileno(), 0, access=mmap.ACCESS_READ)
    mapped.madvise(mmap.MADV_RANDOM if random_access else mmap.MADV_WILLNEED)
    return mapped


def _numpy(column: pa.ChunkedArray) -> np.ndarray:
    """A column as numpy: a view of the memory-mapped file (a part is one record batch;
    `ChunkedArray.combine_chunks` would copy even that one chunk)."""
    if column.num_chunks == 1:
        return column.chunk(0).to_numpy(zero_copy_only=True)
    return column.combine_chunks().to_numpy()


def _search(sorted_keys: np.ndarray, fences: np.ndarray, queries: np.ndarray, side: str) -> np.ndarray:
    """`np.searchsorted(sorted_keys, queries, side)`; for a few queries, each within the
    FENCE_EVERY keys its fences bound, so that it maps a page or two of the file and not,
    through the kernel's fault-around, most of it."""
    if len(queries) > FEW_LOOKUPS:
        return np.searchsorted(sorted_keys, queries, side)
    blocks = np.maximum(np.searchsorted(fences, queries, side) - 1, 0)
    found = np.empty(len(queries), np.int64)
    for index, (query, block) in enumerate(zip(queries.tolist(), blocks.tolist(), strict=True)):
        start = block * FENCE_EVERY
        found[index] = start + np.searchsorted(sorted_keys[start : start + FENCE_EVERY + 1], query, side)
    return found


def _equal_pairs(sorted_keys: np.ndarray, fences: np.ndarray, queries: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(index into queries, index into sorted_keys) of equal pairs, by binary search: for each
    query, the first CANDIDATES_PER_KEY keys equal to it."""
    low = _search(sorted_keys, fences, queries, "left")
    counts = np.minimum(_search(sorted_keys, fences, queries, "right") - low, CANDIDATES_PER_KEY)
    hit = np.flatnonzero(counts)
    repeats = counts[hit]
    query_index = np.repeat(hit, repeats)
    position = np.arange(repeats.sum()) - np.repeat(np.cumsum(repeats) - repeats, repeats) + np.repeat(low[hit], repeats)
    return query_index, position


class StoryIndex:
    """The sketches and band keys of every committed article, with their stories."""

    def __init__(self, output: Path) -> None:
        self.output = output

    def parts(self) -> list[tuple[Path, Path]]:
        """(sketches, band keys) file pairs; a part missing either file is left out."""
        folder = sketches_dir(self.output)
        names = sorted(p.name for p in folder.glob("part-*.arrow")) if folder.is_dir() else []
        return [(folder / name, bands_dir(self.output) / name) for name in names if (bands_dir(self.output) / name).exists()]

    def __len__(self) -> int:
        total = 0
        for sketches, _ in self.parts():
            with pa.memory_map(str(sketches)) as source:
                total += ipc.open_file(source).read_all().num_rows
        return total

    def check(self) -> None:
        """Raise OutputError unless every part reads."""
        for sketches, bands in self.parts():
            _Segment(sketches, bands)

    def place(self, articles: Sequence[NewArticle], run_id: str) -> dict[str, str]:
        """Give each new article (in placement order) a story, and write the run's part of the
        index; returns article id -> story id.

        An article joins the story of its most similar copy, stored or earlier in
        `articles`; one with no copy starts a story of its own, its id the story's.
        """
        if not articles:
            return {}
        return self.place_sketches([a.article_id for a in articles], np.array([a.sketch.n_shingles for a in articles], np.int64),
                                   np.stack([a.sketch.signature for a in articles]), run_id)

    def place_sketches(self, new_ids: Sequence[str], sizes: np.ndarray, signatures: np.ndarray, run_id: str) -> dict[str, str]:
        """`place` for articles given as columns: ids, n_shingles and signatures (rows of NUM_PERM uint32)."""
        if not len(new_ids):
            return {}
        ids = article_keys(new_ids)
        signatures = np.asarray(signatures).astype(np.uint32).reshape(-1, NUM_PERM)
        sizes = np.asarray(sizes, np.int64)
        keys = band_keys(signatures)
        stored = self._stored_candidates(keys)
        earlier = _earlier_in_run(keys)
        stories = _assign(ids, signatures, sizes, stored, earlier)
        self._write_part(run_id, ids, stories, sizes, signatures, keys)
        return dict(zip(article_ids(ids), article_ids(stories), strict=True))

    def _stored_candidates(self, keys: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Stored articles sharing a band key with a new one: (new position, story, size, signature) per pair."""
        flat = keys.ravel()
        positions, stories, sizes, signatures = [], [], [], []
        for pair in self.parts():
            segment = _Segment(*pair, few_lookups=len(flat) <= FEW_LOOKUPS)
            query, found = _equal_pairs(segment.keys, segment.key_fences, flat)
            pairs = np.unique(np.stack([query // BANDS, segment.band_articles[found]], axis=1), axis=0) if len(query) else np.zeros((0, 2), np.int64)
            rows = _search(segment.articles, segment.article_fences, pairs[:, 1], "left")
            positions.append(pairs[:, 0])
            stories.append(segment.stories[rows])
            sizes.append(segment.sizes[rows].astype(np.int64))
            signatures.append(segment.signatures[rows])  # a copy: the mapping may go
        if not positions:
            return np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros((0, NUM_PERM), np.uint32)
        return np.concatenate(positions), np.concatenate(stories), np.concatenate(sizes), np.concatenate(signatures)

    def _write_part(self, run_id: str, ids: np.ndarray, stories: np.ndarray, sizes: np.ndarray, signatures: np.ndarray, keys: np.ndarray) -> None:
        write_part(self.output, part_file(run_id), ids, stories, sizes, signatures, keys)


def part_file(run_id: str) -> str:
    return f"part-{run_id}.arrow"


def write_part(output: Path, name: str, ids: np.ndarray, stories: np.ndarray, sizes: np.ndarray, signatures: np.ndarray, keys: np.ndarray) -> None:
    """A part of the index, each file written hidden, fsynced and renamed into place."""
    sketches = pa.Table.from_arrays([
        pa.array(ids), pa.array(stories), pa.array(np.asarray(sizes).astype(np.int32)),
        pa.FixedSizeBinaryArray.from_buffers(pa.binary(NUM_PERM * 4), len(ids), [None, pa.py_buffer(np.ascontiguousarray(signatures, np.uint32).tobytes())]),
    ], schema=SKETCHES)
    bands = pa.Table.from_arrays([pa.array(keys.ravel()), pa.array(np.repeat(ids, BANDS))], schema=BAND_KEYS)
    for folder, table, sort_key in ((sketches_dir(output), sketches, "article"), (bands_dir(output), bands, "key")):
        folder.mkdir(parents=True, exist_ok=True)
        hidden = _write_sorted(folder / name, table, sort_key)
        os.replace(hidden, folder / name)


def _write_sorted(final: Path, table: pa.Table, sort_key: str) -> Path:
    """`table` sorted by `sort_key`, as one record batch in a hidden, fsynced Arrow IPC file
    beside `final`; the schema metadata holds the parameters and the fences (every
    FENCE_EVERY-th key), so that a few lookups read a few pages. Returns the hidden path."""
    table = table.take(pa.array(np.argsort(table.column(sort_key).to_numpy(), kind="stable"))).combine_chunks()
    fences = np.ascontiguousarray(table.column(sort_key).to_numpy()[::FENCE_EVERY], np.int64)
    schema = table.schema.with_metadata({**PARAMETERS, FENCES: fences.tobytes()})
    hidden = final.with_name(f".{final.name}.{os.getpid()}.tmp")
    with pa.OSFile(str(hidden), "wb") as sink, ipc.new_file(sink, schema) as writer:
        writer.write_table(table.cast(schema), max_chunksize=max(table.num_rows, 1))
    fd = os.open(hidden, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
    return hidden


def merge_parts(output: Path, names: Sequence[str], merged: str) -> list[tuple[Path, Path]]:
    """The parts `names` of the index as one part `merged`, written hidden: [(hidden, final)]
    for the caller to rename into place (compaction)."""
    present = [(sketches_dir(output) / n, bands_dir(output) / n) for n in names if (sketches_dir(output) / n).exists() and (bands_dir(output) / n).exists()]
    if not present:
        return []
    hidden = []
    for column, sort_key, folder, schema in ((0, "article", sketches_dir(output), SKETCHES), (1, "key", bands_dir(output), BAND_KEYS)):
        tables = []
        for pair in present:
            with pa.memory_map(str(pair[column])) as source:
                tables.append(ipc.open_file(source).read_all().cast(schema))
        hidden.append((_write_sorted(folder / merged, pa.concat_tables(tables), sort_key), folder / merged))
    return hidden


def _earlier_in_run(keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Pairs (later, earlier) of new articles (by position) sharing a band key, each pair once;
    an article pairs with at most the CANDIDATES_PER_KEY latest before it under a key."""
    count = len(keys)
    owner = np.repeat(np.arange(count, dtype=np.int64), BANDS)
    order = np.lexsort((owner, keys.ravel()))  # by key, then position
    flat, owner = keys.ravel()[order], owner[order]
    distinct = np.r_[True, (flat[1:] != flat[:-1]) | (owner[1:] != owner[:-1])]
    flat, owner = flat[distinct], owner[distinct]
    group_start = np.maximum.accumulate(np.where(np.r_[True, flat[1:] != flat[:-1]], np.arange(len(flat)), 0))
    # Each entry pairs with the (at most CANDIDATES_PER_KEY) entries just before it in its key's group.
    before = np.minimum(np.arange(len(flat)) - group_start, CANDIDATES_PER_KEY)
    total = int(before.sum())
    if not total:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    later = np.repeat(owner, before)
    offset = np.arange(total) - np.repeat(np.cumsum(before) - before, before)
    earlier = owner[np.repeat(np.arange(len(flat)) - before, before) + offset]
    pairs = np.unique(later * count + earlier)
    return pairs // count, pairs % count


def _copies(signatures: np.ndarray, sizes: np.ndarray, other_signatures: np.ndarray, other_sizes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per pair: (estimated Jaccard, whether the two are copies). Copies: a Jaccard similarity of
    JACCARD_MIN or more, or the larger set holding CONTAINMENT_MIN of the smaller one, with
    |A & B| = J (|A| + |B|) / (1 + J) for sets of sizes |A| and |B|."""
    jaccard = (signatures == other_signatures).sum(axis=1) / NUM_PERM
    smaller = np.minimum(sizes, other_sizes)
    shared = jaccard * (sizes + other_sizes) / (1 + jaccard)
    contained = np.divide(shared, smaller, out=np.zeros_like(shared), where=smaller > 0)
    # An article without a shingle (no body terms) has the empty sketch: it is nobody's copy.
    return jaccard, (smaller > 0) & ((jaccard >= JACCARD_MIN) | ((jaccard > 0) & (contained >= CONTAINMENT_MIN)))


def _assign(ids: np.ndarray, signatures: np.ndarray, sizes: np.ndarray, stored: tuple, earlier: tuple[np.ndarray, np.ndarray]) -> np.ndarray:
    """Each new article's story, in order: that of its most similar copy (ties: the smaller
    story id), stored or placed earlier in the run; else its own id."""
    stored_at, stored_story, stored_size, stored_signature = stored
    jaccard, copy = _copies(signatures[stored_at], sizes[stored_at], stored_signature, stored_size)
    best: dict[int, tuple[float, int]] = {}
    for position, score, story in zip(stored_at[copy].tolist(), (-jaccard[copy]).tolist(), stored_story[copy].tolist(), strict=True):
        if position not in best or (score, story) < best[position]:
            best[position] = (score, story)
    later, earlier_at = earlier
    jaccard, copy = _copies(signatures[later], sizes[later], signatures[earlier_at], sizes[earlier_at])
    run_matches: dict[int, list[tuple[float, int]]] = {}
    for position, score, other in zip(later[copy].tolist(), (-jaccard[copy]).tolist(), earlier_at[copy].tolist(), strict=True):
        run_matches.setdefault(position, []).append((score, other))
    stories = ids.copy()
    for position in sorted(set(best) | set(run_matches)):
        choices = [best[position]] if position in best else []
        choices += [(score, int(stories[other])) for score, other in run_matches.get(position, ())]
        stories[position] = min(choices)[1]
    return stories


def sketch_arrays(table: pa.Table) -> tuple[list[str], np.ndarray, np.ndarray]:
    """The sketches of a staged article table (columns article_id, n_shingles, signature) as
    `StoryIndex.place_sketches` takes them: ids, sizes, and signatures as one (articles, NUM_PERM) array."""
    if not table.num_rows:
        return [], np.zeros(0, np.int64), np.zeros((0, NUM_PERM), np.uint32)
    signature = table.column("signature").combine_chunks()
    width = NUM_PERM * 4
    data = np.frombuffer(signature.buffers()[1], np.uint8)[signature.offset * width : (signature.offset + len(signature)) * width]
    return (table.column("article_id").to_pylist(), table.column("n_shingles").to_numpy().astype(np.int64),
            data.view(np.uint32).reshape(-1, NUM_PERM))


def seen_at(table: pa.Table) -> pa.ChunkedArray:
    """When an article was first seen: its publication time, else when textpipe read it."""
    return pc.coalesce(table.column("published_at"), table.column("ingested_at"))


def placement_order(table: pa.Table) -> pa.Table:
    """Articles in the order they are placed: earliest seen first (undated ones by their
    run's start), then by id, so the first copy of a story gives it its id whichever
    batch or file it came in, and is the article `stories_table` takes its title from."""
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


