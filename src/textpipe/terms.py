"""Terms: who and what the sentences of an article name, for "what is said about whom".

A term is a run of capitalized words (`Vladimir Putin`, `Minsk`, `Palace of
Independence`), normalized: a possessive `'s` ends it and is dropped, leading
function words and titles go (`The Kremlin` -> `Kremlin`, `President Zelensky` ->
`Zelensky`), and a title inside a run splits it (`Ukrainian President Zelensky` ->
`Ukrainian`, `Zelensky`). A capitalized word that only ever starts a sentence is
taken for an ordinary word (`Analysts said ...`). A name's surname is a term of its
own too: a sentence naming `Vladimir Putin` also counts for `Putin`, when the article
names him by the surname alone somewhere (as news prose does after a first mention),
so that `European Union` does not also count for `Union`.

`article_terms` gives, per article, each term with the sentences that name it;
`mention_rows` and `aggregate` turn those into the `terms` dataset's counts.
"""

from __future__ import annotations

import re
from bisect import bisect_right
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

import pyarrow as pa
import pyarrow.compute as pc

def _upper_case_class() -> str:
    """A character class of every upper-case letter below U+3000 (the `re` module has no
    \\p{Lu}; the `regex` module has, at twice the cost per character scanned)."""
    ranges: list[list[int]] = []
    for point in range(0x3000):
        if chr(point).isupper():
            if ranges and ranges[-1][1] == point - 1:
                ranges[-1][1] = point
            else:
                ranges.append([point, point])
    return "[" + "".join(re.escape(chr(a)) + (f"-{re.escape(chr(b))}" if b > a else "") for a, b in ranges) + "]"


_WORD = rf"{_upper_case_class()}\w*(?:[-'’]\w+)*"
_CONNECTOR = r"(?:of|de|del|della|der|den|van|von|da|di|du|des|la|le|al|bin|y|dos|das)"
# Maximal runs of capitalized words joined by single spaces, with lowercase connectors
# inside (`Bank of England`). One pass of the regex engine per article; Python only sees
# runs. No `\b`: it costs a third of the scan, and the one case it rules out, a capital
# inside a word ("iPhone"), is checked on the few matches instead.
_RUN = re.compile(rf"{_WORD}(?: (?:{_CONNECTOR} )*{_WORD})*")
_POSSESSIVE = ("'s", "’s", "s'", "s’")
_CONNECTORS = frozenset(_CONNECTOR[3:-1].split("|"))

# Capitalized only because they start a sentence or a quote; never part of a name.
FUNCTION_WORDS = frozenset("""
a about above according across after afterwards again against all almost also although always am among an and
another any anyone anything are around as at be because been before being below beside besides between beyond
both but by can could did do does doing done down during each either else even ever every everyone everything
few for from further had has have having he her here hers herself him himself his how however i if in indeed
instead into is it its itself just last least less let like many may maybe me meanwhile might mine more
moreover most much must my myself neither never nevertheless next no nobody none nor not nothing now of off
often on once one only onto or other others otherwise our ours ourselves out over own per perhaps please
rather same several she should since so some someone something sometimes still such than that the their theirs
them themselves then there thereafter therefore these they this those though through throughout thus to
today together tomorrow too toward towards under unless until up upon us very via was we well were what whatever
when whenever where whereas whether which while who whoever whole whom whose why will with within without would
yes yesterday yet you your yours yourself yourselves
mr mrs ms miss dr sir dame lord lady madam
monday tuesday wednesday thursday friday saturday sunday january february march april june july august
september october november december
""".split()) - {"may"}  # "May" is a month, and Theresa May
# Titles before a name: dropped, and a run is split at them.
TITLES = frozenset("""
mr mrs ms miss dr sir dame lord lady president vice prime minister ministers chancellor secretary senator sen
rep representative governor gov mayor king queen prince princess pope archbishop bishop cardinal judge
justice chief chairman chairwoman chair ceo professor prof general gen colonel col captain capt sergeant sgt
lieutenant lt commander admiral officer inspector detective superintendent spokesman spokeswoman spokesperson
ambassador envoy premier speaker deputy foreign defence defense interior finance health home culture trade
""".split())
_MIN_TERM_CHARS = 2


@dataclass(frozen=True, slots=True)
class _Name:
    term: str
    words: tuple[str, ...]
    surname: str | None  # the last word of a plain two- or three-word name


@lru_cache(maxsize=1 << 16)
def _names(run: str) -> tuple[_Name, ...]:
    """A regex run as names: function words, titles and possessives end a name,
    connectors stay inside one. Cached: the same runs recur across articles."""
    names: list[list[str]] = [[]]
    for word in run.split(" "):
        if word in _CONNECTORS:
            names[-1].append(word)
            continue
        lower = word.lower()
        if lower in TITLES or lower in FUNCTION_WORDS:
            names.append([])
            continue
        possessive = lower.endswith(_POSSESSIVE)
        names[-1].append(word[:-2] if possessive else word)
        if possessive:
            names.append([])
    found = []
    for words in names:
        while words and words[-1] in _CONNECTORS:
            words.pop()
        while words and words[0] in _CONNECTORS:
            words.pop(0)
        if words and (len(words) > 1 or len(words[0]) >= _MIN_TERM_CHARS):
            plain = 2 <= len(words) <= 3 and not _CONNECTORS.intersection(words)
            found.append(_Name(" ".join(words), tuple(words), words[-1] if plain else None))
    return tuple(found)


_OPENERS = " \"'“‘(«—-–"
# A quarter of the runs in news text are one capitalized function word ("The", "It's"):
# skipped before any other work.
_NOT_NAMES = frozenset(
    form for word in FUNCTION_WORDS | TITLES for cased in (word.capitalize(), word.upper())
    for form in (cased, *(cased + ending for ending in ("'s", "’s", "'re", "’re", "'ll", "’ll", "'d", "’d", "'m", "’m", "'ve", "’ve")))
)


def article_terms(text: str, sentence_starts: Sequence[int]) -> dict[str, set[int]]:
    """Each term the article's sentences name -> the indexes of those sentences.

    `sentence_starts` are the sentences' start offsets in `text`, ascending (the
    `sentences` dataset's start_char).
    """
    starts = sentence_starts
    terms: dict[str, set[int]] = {}
    initial: list[tuple[str, int]] = []  # one-word names that start a sentence
    inside: set[str] = set()  # words capitalized where no sentence starts
    surnames: dict[str, str] = {}  # full name -> surname
    for match in _RUN.finditer(text):
        run = match.group()
        if run in _NOT_NAMES:
            continue
        start = match.start()
        if start and (text[start - 1].isalnum() or (text[start - 1] in "'’" and start > 1 and text[start - 2].isalnum())):
            continue  # a capital inside a word ("iPhone", "O'Brien" found from its "O")
        sentence = bisect_right(starts, start) - 1
        if sentence < 0:
            continue
        sentence_start = starts[sentence]
        # At the start, or after an opening quote or bracket or two.
        at_start = start == sentence_start or (start - sentence_start <= 3 and not text[sentence_start:start].strip(_OPENERS))
        for name in _names(run):
            if at_start:
                at_start = False
                if len(name.words) == 1:
                    initial.append((name.term, sentence))
                    continue
                inside.update(name.words[1:])
            else:
                inside.update(name.words)
            if name.surname:
                surnames[name.term] = name.surname
            sentences = terms.get(name.term)
            if sentences is None:
                terms[name.term] = {sentence}
            else:
                sentences.add(sentence)
    for term, sentence in initial:
        if term in inside:  # capitalized elsewhere too, so a name, not an ordinary word
            terms.setdefault(term, set()).add(sentence)
    for term, surname in surnames.items():
        if surname in terms:
            terms[surname] |= terms[term]
    return terms


# Per article, then per run, then the dataset: each level sums the one below, so the
# `terms` dataset equals a recount over every stored sentence.

MENTIONS = pa.schema([
    pa.field("article_id", pa.string(), nullable=False),
    pa.field("date", pa.date32()),
    pa.field("term", pa.string(), nullable=False),
    pa.field("n_sentences", pa.int64(), nullable=False),
    pa.field("n_scored", pa.int64(), nullable=False),
    pa.field("compound_sum", pa.float64(), nullable=False),
])


def mention_table(articles: pa.Table, sentences: pa.Table, language: str) -> pa.Table:
    """Per (article, term): the sentences naming it, how many have a score, and their summed compound.

    `articles` (article_id, language, text, published_at, n_sentences) and its
    `sentences` (start_char, compound), in the same article order, as the tokenize and
    sentiment stages stage them. Only articles in `language` (English): capitals mark
    names in English prose, not in German, where every noun has one.
    """
    from textpipe.trends import utc_date

    starts = sentences.column("start_char").to_pylist()
    compounds = sentences.column("compound").to_pylist()
    dates = utc_date(articles.column("published_at")).to_pylist()
    ids, day, names, counts, scored, sums = [], [], [], [], [], []
    offset = 0
    for article_id, text, n, date, article_language in zip(
            articles.column("article_id").to_pylist(), articles.column("text").to_pylist(),
            articles.column("n_sentences").to_pylist(), dates, articles.column("language").to_pylist(), strict=True):
        if article_language != language:
            offset += n
            continue
        scores = compounds[offset : offset + n]
        for term, named_in in article_terms(text, starts[offset : offset + n]).items():
            values = [score for k in named_in if (score := scores[k]) is not None]
            ids.append(article_id), day.append(date), names.append(term)
            counts.append(len(named_in)), scored.append(len(values)), sums.append(sum(values))
        offset += n
    return pa.Table.from_arrays(
        [pa.array(ids, pa.string()), pa.array(day, pa.date32()), pa.array(names, pa.string()),
         pa.array(counts, pa.int64()), pa.array(scored, pa.int64()), pa.array(sums, pa.float64())], schema=MENTIONS)


def run_delta(mentions: pa.Table, schema: pa.Schema) -> pa.Table:
    """A run's mentions summed per (date, term): the run's part of the terms state."""
    grouped = mentions.group_by(["date", "term"]).aggregate([
        ("n_sentences", "sum"), ("article_id", "count"), ("n_scored", "sum"), ("compound_sum", "sum")])
    return pa.Table.from_arrays([
        grouped.column("date"), grouped.column("term"), grouped.column("n_sentences_sum"), grouped.column("article_id_count"),
        grouped.column("n_scored_sum"), grouped.column("compound_sum_sum")], schema=schema)


def sum_deltas(deltas: pa.Table, schema: pa.Schema) -> pa.Table:
    """Deltas (of several runs) summed per (date, term), in the delta schema."""
    grouped = deltas.group_by(["date", "term"]).aggregate([
        ("n_sentences", "sum"), ("n_articles", "sum"), ("n_scored", "sum"), ("compound_sum", "sum")])
    return pa.Table.from_arrays([grouped.column("date"), grouped.column("term"), *(
        grouped.column(f"{name}_sum") for name in ("n_sentences", "n_articles", "n_scored", "compound_sum"))], schema=schema)


def as_delta(terms: pa.Table, schema: pa.Schema) -> pa.Table:
    """The `terms` dataset back in the delta schema (its compound sum from mean x scored count)."""
    sums = pc.fill_null(pc.multiply(terms.column("sentiment_mean"), pc.cast(terms.column("n_scored"), pa.float64())), 0.0)
    return pa.Table.from_arrays([terms.column(name) for name in ("date", "term", "n_sentences", "n_articles", "n_scored")] + [sums], schema=schema)


def terms_table(totals: pa.Table, schema: pa.Schema) -> pa.Table:
    """The `terms` dataset from summed deltas: most-mentioned first within each date."""
    scored = totals.column("n_scored")
    mean = pc.if_else(pc.greater(scored, 0), pc.divide(totals.column("compound_sum"), pc.cast(scored, pa.float64())), None)
    table = pa.table({
        "date": totals.column("date"), "term": totals.column("term"), "n_sentences": totals.column("n_sentences"),
        "n_articles": totals.column("n_articles"), "n_scored": scored, "sentiment_mean": mean,
    }).sort_by([("date", "ascending"), ("n_sentences", "descending"), ("term", "ascending")])
    return pa.Table.from_arrays([table.column(f.name).cast(f.type) for f in schema], schema=schema)
