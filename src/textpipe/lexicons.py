"""TextBlob's pattern polarity and AFINN's score, exactly, at a fraction of their cost.

`FastPattern.polarity(text)` == `textblob.TextBlob(text).sentiment.polarity` and
`FastAfinn.score(text)` == `afinn.Afinn(emoticons=True).score(text)` for any str (tests
compare them on real and random text). Both read the lexicons their packages ship;
nothing is downloaded. The libraries re-run their tokenizers and regular expressions on
every call (~115 and ~330 microseconds a news sentence); these memoise per whitespace
token and fall back to the library itself for the rare text where a cross-token rule
(an emoticon split by spaces, a multi-word entry) could apply.
"""

from __future__ import annotations

import re
import string
import threading
from dataclasses import dataclass
from itertools import chain, compress, count
from operator import itemgetter

from nltk.sentiment.vader import VaderConstants

from textpipe.memo import TokenMemo

# Fields of the per-token memo entries, read in C over a whole sentence at once.
_PIECES, _INNER, _ASSESSED, _ENDS_LIKE_A_FACE = itemgetter(0), itemgetter(1), itemgetter(5), itemgetter(6)
_FOUND, _SECONDS, _NEGATION, _COUNTS, _VALENCES = itemgetter(1), itemgetter(2), itemgetter(3), itemgetter(4), itemgetter(5)
_N_SCALAR = VaderConstants.N_SCALAR
_STRIP = string.punctuation + "‘’“”"
_WORD = re.compile(r"\w+")


def is_negation(token: str) -> bool:
    """VADER's negation test (its NEGATE words, or any word with "n't") on a token
    with its surrounding punctuation removed."""
    word = token.strip(_STRIP).lower()
    return word in VaderConstants.NEGATE or "n't" in word


_LIBRARY_LOAD = threading.Lock()


class FastPattern:
    """TextBlob's English `PatternAnalyzer` polarity (pattern's en-sentiment.xml lexicon,
    its tokenizer, negation, modifiers, "!" and emoticon rules), bit for bit."""

    def __init__(self) -> None:
        from textblob import _text as pattern
        from textblob.en import sentiment as library

        self._library = library
        self._pattern = pattern
        # A lazydict fills itself from its XML on first use. Two threads building scorers
        # at once (the threads task runner) must not copy it half-filled: one loads it,
        # the other waits.
        with _LIBRARY_LOAD:
            if not dict.__len__(library):
                library.load()
            self._entries: dict[str, tuple[float, float, bool]] = {
                word: (float(by_pos[None][0]), float(by_pos[None][2]), "RB" in by_pos)
                for word, by_pos in dict.items(library)
            }
        self._negations = frozenset(library.negations)
        self._emoticons: dict[str, float] = {}
        for (_kind, polarity), faces in pattern.EMOTICONS.items():
            for face in faces:
                self._emoticons.setdefault(face.lower(), polarity)
        self._relevant = frozenset(self._entries) | self._negations | set(self._emoticons) | {"!", "(!)"}
        self._replacements = [(re.compile(old), new) for old, new in pattern.replacements.items()]
        self._replacements_need_apostrophe = all("'" in old for old in pattern.replacements)
        self._replace_keys = frozenset(pattern.replacements)
        self._lead = tuple(pattern.PUNCTUATION.replace(".", ""))
        self._trail = self._lead + (".",)
        # pattern's emoticon regex joins tokens back into an emoticon ("great : )")
        # only across a space between two adjacent characters of one: by pair, the
        # emoticons and the gap such a space would sit in.
        self._faces_at: dict[tuple[str, str], list[tuple[re.Pattern[str], re.Pattern[str]]]] = {}
        for faces in pattern.EMOTICONS.values():
            for face in sorted(faces):
                for gap in range(len(face) - 1):
                    before = " ?".join(re.escape(ch) for ch in face[: gap + 1])
                    after = " ?".join(re.escape(ch) for ch in face[gap + 1 :])
                    self._faces_at.setdefault((face[gap], face[gap + 1]), []).append(
                        (re.compile(f"{before}\\Z"), re.compile(after))
                    )
        self._face_starts = frozenset(before for before, _after in self._faces_at)
        # Pieces that `_assess` reads alone: not a negation, modifier, emoticon or "!".
        self._not_plain = frozenset({*self._negations, *self._emoticons, "!", "(!)", *(w for w, entry in self._entries.items() if entry[2])})
        self._tokens = TokenMemo(self._split)

    def _split(self, raw: str) -> tuple[tuple[str, ...], bool, str, str, tuple[str, ...], bool, bool]:
        """pattern's `find_tokens` for one whitespace-separated token: its pieces
        lowercased, whether two of them sit like emoticon characters, the first and
        last character, the pieces as written, whether `_assess` can stop at one of
        them (a lexicon word, negation, emoticon or "!"), and whether its last character
        can be an emoticon's, before the next token's first. Pieces that are pattern's
        end-of-sentence marker are left out, as pattern leaves them out."""
        if raw.isalnum():  # most tokens: nothing below applies to them, they are their own piece
            lowered = (raw.lower(),)
            return (lowered, False, raw[0], raw[-1], (raw,), not self._relevant.isdisjoint(lowered), raw[-1] in self._face_starts)
        text = raw
        if "'" in text or not self._replacements_need_apostrophe:  # each of pattern's ("'s", "n't", ...) has one
            for old, new in self._replacements:
                text = old.sub(new, text)
        for quote in ("“", "”", "‘", "’", "'", '"'):
            text = text.replace(quote, f" {quote} ")
        pieces: list[str] = []
        for token in text.split():
            self._split_punctuation(token, pieces)
        eos = self._pattern.EOS
        kept = tuple(piece for piece in pieces if piece != eos)
        inner = any((a[-1], b[0]) in self._faces_at for a, b in zip(kept, kept[1:]))
        first, last = (kept[0][0], kept[-1][-1]) if kept else ("", "")
        lowered = tuple(piece.lower() for piece in kept)
        return (lowered, inner, first, last, kept, not self._relevant.isdisjoint(lowered), last in self._face_starts)

    def _split_punctuation(self, t: str, out: list[str]) -> None:
        # pattern's loop, statement for statement (its order decides "...", "." and abbreviations).
        p = self._pattern
        replace, lead, trail = self._replace_keys, self._lead, self._trail
        tail: list[str] = []
        while t.startswith(lead) and t not in replace:
            out.append(t[0])
            t = t[1:]
        while t.endswith(trail) and t not in replace:
            if t.endswith(lead):
                tail.append(t[-1])
                t = t[:-1]
            if t.endswith("..."):
                tail.append("...")
                t = t[:-3].rstrip(".")
            if t.endswith("."):
                if t in p.ABBREVIATIONS or p.RE_ABBR1.match(t) or p.RE_ABBR2.match(t) or p.RE_ABBR3.match(t):
                    break
                tail.append(t[-1])
                t = t[:-1]
        if t != "":
            out.append(t)
        out.extend(reversed(tail))

    def token_facts(self, raw: str) -> tuple[tuple[str, ...], bool, str, str, tuple[str, ...], bool, bool]:
        """What `polarity` reads from one whitespace token (see `_split`). Not memoised."""
        return self._split(raw)

    def plain_polarities(self, facts: tuple) -> tuple[float, ...] | None:
        """The polarities of the lexicon words in a whitespace token with these
        `token_facts`, or None when the token can change how others are read (a
        negation, a modifier such as "very", an emoticon or "!", or characters that may
        join a neighbour's into an emoticon). In a text without "!" whose tokens all have
        plain polarities, `polarity` is `polarity_from_plain` of them, in order."""
        lowered, inner = facts[0], facts[1]
        if inner or not self._not_plain.isdisjoint(lowered):
            return None
        entries = self._entries
        return tuple(entries[piece][0] for piece in lowered if piece in entries)

    def faces_across(self, facts: list[tuple]) -> bool:
        """Whether two adjacent tokens may end and start an emoticon together (the
        `token_facts` of a text's tokens, in order)."""
        faces_at = self._faces_at
        return any((facts[index][3], facts[index + 1][2]) in faces_at for index in compress(range(len(facts) - 1), map(_ENDS_LIKE_A_FACE, facts)))

    @staticmethod
    def polarity_from_plain(polarities: list[float]) -> float:
        """`_assess`'s mean for words none of which negates, modifies or is an emoticon."""
        return sum(polarities) / float(len(polarities) or 1)

    def _words(self, text: str, raws: list[str] | None = None, items: list[tuple] | None = None) -> list[str] | None:
        """The lowercase words pattern assesses, from the first token with a word
        `_assess` stops at (empty if none has one), or None when only the library can tell.

        pattern splits sentences (at "." "!" "?" and blank lines) only to run two
        regular expressions per sentence, which join tokens back into an emoticon or
        its "(!)" irony mark; when neither can apply, its words are the pieces of the
        whitespace tokens in order, without its end-of-sentence markers.
        """
        if "(" in text and "!" in text:
            return None
        if items is None:
            items = list(map(self._tokens.__getitem__, text.split() if raws is None else raws))
        # Any two adjacent pieces placed like emoticon characters, inside a token or
        # across two; a token left empty (an end-of-sentence marker) ends pattern's
        # sentence, across which nothing is joined.
        if any(map(_INNER, items)) or self.faces_across(items):
            if self._joins_emoticon(items):
                return None
        # Until the first word `_assess` stops at, nothing is pending and every word is
        # passed over: the words from that token on are all it needs.
        start = next(compress(count(), map(_ASSESSED, items)), None)
        if start is None:
            return []
        return list(chain.from_iterable(map(_PIECES, items[start:] if start else items)))

    def _joins_emoticon(self, items: list[tuple]) -> bool:
        """Whether some emoticon, spaces allowed between its characters, spans two
        adjacent pieces (across sentence ends too, so this may say yes when pattern
        would not, never the reverse)."""
        pieces = [piece for item in items for piece in item[4]]
        for j in range(len(pieces) - 1):
            for before, after in self._faces_at.get((pieces[j][-1], pieces[j + 1][0]), ()):
                if before.search(" ".join(pieces[max(0, j - 5) : j + 1])) and after.match(" ".join(pieces[j + 1 : j + 7])):
                    return True
        return False

    def polarity(self, text: str, raws: list[str] | None = None, items: list[tuple] | None = None) -> float:
        """`TextBlob(text).sentiment.polarity`. A caller that has them may pass `raws`,
        `text.split()`, or `items`, the `token_facts` of each of those."""
        words = self._words(text, raws, items)
        if words is None:
            return float(self._library(text)[0])
        return self._assess(words) if words else 0.0

    def _assess(self, words: list[str]) -> float:
        # pattern's `Sentiment.assessments` for untagged words, keeping only what
        # polarity needs: each assessment's polarity, intensity and negation.
        entries, negations, emoticons = self._entries, self._negations, self._emoticons
        punctuation = self._pattern.PUNCTUATION
        found: list[list[float]] = []
        modifier: str | None = None
        negation: str | None = None
        relevant = self._relevant
        for w in words:
            if w not in relevant and negation is None and modifier is None:
                continue  # an unknown plain word changes nothing unless something is pending
            entry = entries.get(w)
            if entry is not None:
                polarity, intensity, is_modifier = entry
                if modifier is None:
                    found.append([polarity, intensity, 1])
                else:
                    last = found[-1]
                    last[0] = max(-1.0, min(polarity * last[1], +1.0))
                    last[1] = intensity
                if negation is not None:
                    found[-1][1] = 1.0 / found[-1][1]
                    found[-1][2] = -1
                modifier = w if is_modifier else None
                negation = w if w in negations else None
                continue
            if w in negations:
                negation = w
            elif negation and len(w.strip("'")) > 1:
                negation = None
            if negation is not None and modifier is not None and modifier.endswith("ly"):
                found[-1][2] = -1
                negation = None
            elif modifier and len(w) > 2:
                modifier = None
            if w == "!" and found:
                found[-1][0] = max(-1.0, min(found[-1][0] * 1.25, +1.0))
            if w == "(!)":
                found.append([0.0, 1.0, 1])
            if w in emoticons and w.isalpha() is False and len(w) <= 5 and w not in punctuation:
                found.append([emoticons[w], 1.0, 1])
        total = 0
        for polarity, _intensity, negated in found:
            total += polarity * -0.5 if negated < 0 else polarity
        return total / float(len(found) or 1)


@dataclass(frozen=True, slots=True)
class AfinnMatch:
    """One AFINN entry found in a text, and the whitespace token it starts in."""

    entry: str
    valence: int
    token_index: int


class FastAfinn:
    """AFINN-165 with its emoticon list, matched as `Afinn(emoticons=True)` matches them:
    the longest entry at the leftmost place, whole words only, in the lowercased text."""

    def __init__(self) -> None:
        from afinn import Afinn
        from afinn.afinn import LANGUAGE_TO_FILENAME

        self._library = Afinn(emoticons=True)
        self._pattern = self._library._pattern
        self.lexicon: dict[str, int] = dict(self._library._dict)
        self._whole_valences = all(isinstance(valence, int) for valence in self.lexicon.values())
        # Word entries of word characters only; the others (emoticons, matched anywhere,
        # and entries such as "cover-up" or "can't") are found by the library's regex.
        words = self._library.read_word_file(self._library.full_filename(LANGUAGE_TO_FILENAME["en"]))
        self._plain_entries = frozenset(entry for entry in words if _WORD.fullmatch(entry))
        emoticons = self._library.read_word_file(self._library.full_filename(LANGUAGE_TO_FILENAME["emoticons"]))
        unusual = sorted({*emoticons, *(entry for entry in words if entry not in self._plain_entries)}, key=len, reverse=True)
        self._unusual = re.compile("|".join(map(re.escape, unusual)))
        # Entries with a space ("does not work") can span tokens: each of their words
        # but the last -> the words that follow it in one.
        self._phrases: dict[str, tuple[str, ...]] = {}
        for entry in self.lexicon:
            words = entry.split()
            for word, following in zip(words, words[1:]):
                self._phrases[word] = (*self._phrases.get(word, ()), following)
        self._phrase_starts = tuple(self._phrases)
        self._tokens = TokenMemo(self._token)

    def _token(self, raw: str) -> tuple[str, tuple[str, ...], tuple[str, ...] | None, bool, bool, int]:
        """(lowercased, entries found in it alone, second words a multi-word entry
        starting at its end would need next, whether it is a negation, whether it
        counts at all: has an entry or is a negation, the sum of its entries' valences)."""
        lower = raw.lower()
        seconds: tuple[str, ...] | None = None
        if lower.endswith(self._phrase_starts):
            seconds = tuple(second for first, rest in self._phrases.items() if lower.endswith(first) for second in rest)
        if self._unusual.search(lower) is None:
            # Without an emoticon or an entry holding a non-word character, what the
            # library's regex (~16 microseconds a token) matches is an entry of word
            # characters between word boundaries: one of the token's runs of them, whole.
            found: tuple[str, ...] = tuple(filter(self._plain_entries.__contains__, _WORD.findall(lower)))
        else:
            found = tuple(self._pattern.findall(lower))
        negation = is_negation(raw)
        return (lower, found, seconds, negation, bool(found) or negation, sum(map(self.lexicon.__getitem__, found)))

    def plain_valence(self, facts: tuple) -> int | None:
        """The summed valence of a whitespace token with these `token_facts`, or None when
        it is a negation or may start an entry of several words. `negated_score` of a
        text whose tokens all have one is (float(their sum), False)."""
        if facts[2] is not None or facts[3] or not self._whole_valences:
            return None
        return facts[5]

    def token_facts(self, raw: str) -> tuple[str, tuple[str, ...], tuple[str, ...] | None, bool, bool, int]:
        """What `negated_score` reads from one whitespace token (see `_token`). Not memoised."""
        return self._token(raw)

    def _found(self, facts: list[tuple]) -> list[tuple[str, int]]:
        """Every entry the library finds in the text of these tokens' facts, in order,
        with the index of the token it starts in.

        Lowercasing token by token equals lowercasing the text (str.lower's one
        context rule, final sigma, never looks across whitespace), and the library's
        word boundaries at a token's ends are the same whether a space or the string's
        end lies beyond: where no entry can span two tokens, the matches are each
        token's own. Tokens an entry may join (one ends with an entry's word, the
        next starts with the word after it) are scanned together, as the library
        scans them, and only they.
        """
        joined = {index for index in compress(range(len(facts) - 1), map(_SECONDS, facts)) if facts[index + 1][0].startswith(facts[index][2])}
        if not joined:
            return [(entry, index) for index in compress(range(len(facts)), map(_FOUND, facts)) for entry in facts[index][1]]
        found: list[tuple[str, int]] = []
        index = 0
        while index < len(facts):
            end = index
            while end in joined:
                end += 1
            if end == index:
                found.extend((entry, index) for entry in facts[index][1])
            else:
                scanned = " ".join(fact[0] for fact in facts[index : end + 1])
                found.extend((m.group(0), index + scanned.count(" ", 0, m.start())) for m in self._pattern.finditer(scanned))
            index = end + 1
        return found

    def matches(self, text: str) -> list[AfinnMatch]:
        """Every entry the library finds, in order, with the token it starts in."""
        lexicon = self.lexicon
        facts = list(map(self._tokens.__getitem__, text.split()))
        return [AfinnMatch(entry, lexicon[entry], index) for entry, index in self._found(facts)]

    def score(self, text: str) -> float:
        """Sum of the valences found: `Afinn(emoticons=True).score(text)`."""
        return float(sum(match.valence for match in self.matches(text)))

    def negated_score(self, text: str, raws: list[str] | None = None, facts: list[tuple] | None = None) -> tuple[float, bool]:
        """AFINN's sum with VADER's negation rule, and whether the text has a negation.

        A valence is multiplied by VADER's N_SCALAR (-0.74) when one of the three tokens
        before its own is a negation ("not good", "never really liked"): AFINN itself
        has no negation rule, only a few entries such as "not good". `raws` and `facts`:
        as for `FastPattern.polarity`.
        """
        if facts is None:
            facts = list(map(self._tokens.__getitem__, text.split() if raws is None else raws))
        lexicon = self.lexicon
        if any(map(_SECONDS, facts)):
            found = [(lexicon[entry], index) for entry, index in self._found(facts)]
            negations = list(compress(range(len(facts)), map(_NEGATION, facts)))
        elif self._whole_valences and not any(map(_NEGATION, facts)):
            # Whole numbers: their sum is exact in any order.
            return float(sum(map(_VALENCES, facts))), False
        else:
            # Most tokens have neither an entry nor a negation: only those that do are read.
            counting = list(compress(range(len(facts)), map(_COUNTS, facts)))
            if not counting:
                return 0.0, False
            found = [(lexicon[entry], index) for index in counting for entry in facts[index][1]]
            negations = [index for index in counting if facts[index][3]]
        if not found:
            return 0.0, bool(negations)
        total = 0.0
        for valence, index in found:
            negated = any(index - 3 <= at < index for at in negations)
            total += valence * _N_SCALAR if negated else valence
        return total, bool(negations)
