"""Every language resource textpipe uses (VADER lexicon, Punkt parameters, stop words),
loaded offline from installed packages or files shipped in `textpipe/resource_files/`.

Each loader is cached; anything missing raises `MissingResourceError` saying how to fix it.
"""

from __future__ import annotations

import functools
import importlib.util
import io
import json
import logging
import os
import tempfile
import zipfile
from pathlib import Path
from typing import TYPE_CHECKING

from textpipe.errors import MissingResourceError

if TYPE_CHECKING:
    from nltk.sentiment.vader import SentimentIntensityAnalyzer
    from nltk.tokenize.punkt import PunktParameters, PunktSentenceTokenizer

logger = logging.getLogger(__name__)

NLTK_DATA_ENV = "TEXTPIPE_NLTK_DATA"
DEFAULT_NLTK_DATA = Path("~/.cache/textpipe/nltk_data")

# The lexicon ships inside the vaderSentiment package; NLTK 3.10 only reads it from
# its data path, at the location its SentimentIntensityAnalyzer defaults to:
# "sentiment/vader_lexicon.zip/vader_lexicon/vader_lexicon.txt".
_VADER_LEXICON_PACKAGE = "vaderSentiment"
_VADER_LEXICON_FILE = "vader_lexicon.txt"
VADER_ZIP = Path("sentiment") / "vader_lexicon.zip"
VADER_ZIP_MEMBER = "vader_lexicon/vader_lexicon.txt"

PUNKT_PARAMS_FILE = "punkt_en.json"
PUNKT_FORMAT = "textpipe-punkt-params/1"
_PUNKT_FIX = "run `python scripts/train_punkt.py` from the repository root to create it"

# News boilerplate on top of scikit-learn's list: reporting verbs and honorifics
# appear in nearly every article, so they only blur topics.
NEWS_STOP_WORDS = frozenset(
    {
        "said",
        "says",
        "say",
        "told",
        "according",
        "mr",
        "mrs",
        "ms",
        # Time words that every dated news story carries.
        "year",
        "years",
        # Filler adverb frequent in quotes.
        "just",
    }
)


def nltk_data_dir(data_dir: Path | str | None = None) -> Path:
    """The private NLTK data directory textpipe builds: argument, env, then default."""
    chosen = data_dir if data_dir is not None else os.environ.get(NLTK_DATA_ENV) or DEFAULT_NLTK_DATA
    return Path(chosen).expanduser().resolve()


def vader_lexicon_source() -> Path:
    """Path of the lexicon file inside the installed vaderSentiment package."""
    spec = importlib.util.find_spec(_VADER_LEXICON_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise MissingResourceError(
            f"VADER lexicon: the {_VADER_LEXICON_PACKAGE!r} package is not installed; "
            "install textpipe's dependencies (`pip install -e .`) or `pip install vaderSentiment==3.3.2`"
        )
    for location in spec.submodule_search_locations:
        candidate = Path(location) / _VADER_LEXICON_FILE
        if candidate.is_file():
            return candidate
    raise MissingResourceError(
        f"VADER lexicon: {_VADER_LEXICON_FILE} is missing from the {_VADER_LEXICON_PACKAGE!r} package "
        f"in {list(spec.submodule_search_locations)}; reinstall it "
        "(`pip install --force-reinstall vaderSentiment==3.3.2`)"
    )


def _zipped_lexicon(lexicon: bytes) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("vader_lexicon/", b"")
        archive.writestr(VADER_ZIP_MEMBER, lexicon)
    return buffer.getvalue()


def _zip_holds(path: Path, lexicon: bytes) -> bool:
    try:
        with zipfile.ZipFile(path) as archive:
            return archive.read(VADER_ZIP_MEMBER) == lexicon
    except (OSError, KeyError, zipfile.BadZipFile):
        return False


def _write_atomically(target: Path, payload: bytes) -> None:
    # Concurrent builders each write their own temp file and rename it over the
    # target; the contents are identical, so whichever rename lands last is fine.
    handle, temp_name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "wb") as temp:
            temp.write(payload)
            temp.flush()
            os.fsync(temp.fileno())
        os.chmod(temp_name, 0o644)
        os.replace(temp_name, target)
    except BaseException:
        Path(temp_name).unlink(missing_ok=True)
        raise


def _vader_lexicon_bytes() -> bytes:
    # NLTK parses every "\n"-separated line, so a trailing newline would be an empty entry.
    return vader_lexicon_source().read_bytes().rstrip(b"\r\n")


def build_nltk_data(data_dir: Path | str | None = None) -> Path:
    """Create (or refresh) `<data_dir>/sentiment/vader_lexicon.zip`; return the data dir.

    Idempotent and safe to run from several processes at once.
    """
    root = nltk_data_dir(data_dir)
    lexicon = _vader_lexicon_bytes()
    # NLTK refuses data roots that others can write to, so create them private.
    try:
        root.mkdir(mode=0o700, parents=True, exist_ok=True)
        (root / VADER_ZIP.parent).mkdir(mode=0o755, exist_ok=True)
    except OSError as exc:
        raise MissingResourceError(
            f"VADER lexicon: cannot create the NLTK data directory {root}: {exc}; "
            f"point {NLTK_DATA_ENV} at a writable directory"
        ) from exc
    target = root / VADER_ZIP
    if not _zip_holds(target, lexicon):
        logger.info("writing the VADER lexicon for NLTK to %s", target)
        try:
            _write_atomically(target, _zipped_lexicon(lexicon))
        except OSError as exc:
            raise MissingResourceError(
                f"VADER lexicon: cannot write {target}: {exc}; point {NLTK_DATA_ENV} at a writable directory"
            ) from exc
    return root


def use_nltk_data(data_dir: Path | str | None = None) -> Path:
    """Build the data dir and put it first on `nltk.data.path`, ahead of any user copy."""
    import nltk.data

    root = str(build_nltk_data(data_dir))
    if nltk.data.path[:1] != [root]:
        if root in nltk.data.path:
            nltk.data.path.remove(root)
        nltk.data.path.insert(0, root)
    return Path(root)


def nltk_vader(data_dir: Path | str | None = None) -> SentimentIntensityAnalyzer:
    """NLTK's own VADER analyzer reading the vaderSentiment lexicon (the reference)."""
    return _nltk_vader(nltk_data_dir(data_dir))


@functools.lru_cache(maxsize=4)
def _nltk_vader(root: Path) -> SentimentIntensityAnalyzer:
    import nltk.data
    from nltk.sentiment.vader import SentimentIntensityAnalyzer

    use_nltk_data(root)
    expected = _vader_lexicon_bytes().decode("utf-8")
    try:
        analyzer = SentimentIntensityAnalyzer()
        if analyzer.lexicon_file != expected:
            # nltk.data.load caches file contents by resource name for the whole
            # process, so a lexicon loaded earlier from another data dir would win.
            logger.warning("NLTK had another VADER lexicon cached; reloading it from %s", root)
            nltk.data.clear_cache()
            analyzer = SentimentIntensityAnalyzer()
    except LookupError as exc:
        raise MissingResourceError(
            f"VADER lexicon: NLTK cannot read {root / VADER_ZIP} (is the directory private to you? "
            f"NLTK refuses group/world-writable data dirs; try `chmod go-w {root}`). NLTK said: {exc}"
        ) from exc
    if analyzer.lexicon_file != expected:
        raise MissingResourceError(
            f"VADER lexicon: NLTK loaded a lexicon other than vaderSentiment's from {root / VADER_ZIP}; "
            "delete that directory and retry"
        )
    return analyzer


def punkt_params_path() -> Path:
    """Where the shipped Punkt parameters live (inside the installed package)."""
    return Path(__file__).with_name("resource_files") / PUNKT_PARAMS_FILE


class _OrthoContext(dict[str, int]):
    """Punkt looks up every word after a full stop here; NLTK's defaultdict would store
    each unseen one, so a long-running splitter's parameters would grow without bound."""

    def __missing__(self, key: str) -> int:
        return 0


def load_punkt_params(path: Path | str | None = None) -> PunktParameters:
    """Read Punkt parameters saved by `scripts/train_punkt.py` into a `PunktParameters`."""
    from nltk.tokenize.punkt import PunktParameters

    source = Path(path) if path is not None else punkt_params_path()
    try:
        saved = json.loads(source.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise MissingResourceError(f"Punkt parameters: {source} does not exist; {_PUNKT_FIX}") from exc
    except (OSError, ValueError) as exc:
        raise MissingResourceError(f"Punkt parameters: cannot read {source} ({exc}); {_PUNKT_FIX}") from exc
    if not isinstance(saved, dict) or saved.get("format") != PUNKT_FORMAT:
        raise MissingResourceError(
            f"Punkt parameters: {source} is not a {PUNKT_FORMAT!r} file; {_PUNKT_FIX}"
        )
    params = PunktParameters()
    try:
        params.abbrev_types = set(saved["abbrev_types"])
        params.collocations = {(first, second) for first, second in saved["collocations"]}
        params.sent_starters = set(saved["sent_starters"])
        params.ortho_context = _OrthoContext({word: int(flags) for word, flags in saved["ortho_context"].items()})
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise MissingResourceError(f"Punkt parameters: {source} is malformed ({exc!r}); {_PUNKT_FIX}") from exc
    return params


@functools.lru_cache(maxsize=4)
def sentence_splitter(path: Path | str | None = None) -> PunktSentenceTokenizer:
    """Punkt sentence splitter with parameters trained on BBC news (shipped JSON)."""
    from nltk.tokenize.punkt import PunktSentenceTokenizer

    return PunktSentenceTokenizer(load_punkt_params(path))


@functools.lru_cache(maxsize=1)
def stop_words() -> frozenset[str]:
    """scikit-learn's English stop words plus a few news boilerplate words."""
    try:
        from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS
    except ImportError as exc:
        raise MissingResourceError(
            "stop words: scikit-learn is not installed; install textpipe's dependencies (`pip install -e .`)"
        ) from exc
    return frozenset(ENGLISH_STOP_WORDS) | NEWS_STOP_WORDS


def check_resources(data_dir: Path | str | None = None) -> None:
    """Load every resource once; raise one MissingResourceError listing all that fail."""
    problems = []
    for name, load in (
        ("VADER lexicon", lambda: nltk_vader(data_dir)),
        ("Punkt parameters", sentence_splitter),
        ("stop words", stop_words),
    ):
        try:
            load()
        except MissingResourceError as exc:
            problems.append(str(exc))
        except Exception as exc:  # noqa: BLE001 - any failure means the resource is unusable
            problems.append(f"{name}: {exc!r}")
    if problems:
        raise MissingResourceError("missing language resources:\n  - " + "\n  - ".join(problems))
