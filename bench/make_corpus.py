"""Build a deterministic N-article benchmark corpus from the BBC News articles.

Each synthetic article keeps to one category: a real title and real paragraphs
drawn from 2-3 articles of that category. Same N, seed and BBC input give
byte-identical files; `manifest.json` is written last and marks a complete corpus.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import random
import re
import shutil
import sys
import time
from dataclasses import dataclass
from pathlib import Path

logger = logging.getLogger(__name__)

REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_BBC = REPO_ROOT.parent / "shared" / "corpora" / "bbc"
DEFAULT_CORPORA = REPO_ROOT / "bench" / "corpora"
JSONL_RECORDS_PER_FILE = 10_000
# Bump when the drawing rules change, so that reused corpora are rebuilt.
GENERATOR_VERSION = 1
MANIFEST = "manifest.json"
FORMATS = ("txt", "jsonl")

_BLANK_LINE = re.compile(r"\n[ \t]*\n+")


@dataclass(frozen=True)
class SourceArticle:
    """One BBC article, split into its title and normalised paragraphs."""

    category: str
    name: str
    title: str
    paragraphs: tuple[str, ...]


@dataclass(frozen=True)
class SyntheticArticle:
    """One generated article; `index` numbers it from 1 across the whole corpus."""

    index: int
    category: str
    title: str
    paragraphs: tuple[str, ...]

    @property
    def stem(self) -> str:
        return f"{self.index:06d}"

    @property
    def text(self) -> str:
        return "\n\n".join(self.paragraphs)


def split_paragraphs(body: str) -> tuple[str, ...]:
    """Paragraphs of a BBC body: blocks between blank lines, stripped, empties dropped."""
    parts = (" ".join(line.strip() for line in block.splitlines()) for block in _BLANK_LINE.split(body))
    return tuple(part.strip() for part in parts if part.strip())


def load_bbc(bbc_dir: Path) -> dict[str, list[SourceArticle]]:
    """BBC articles by category, in sorted file order (the order the generator relies on)."""
    by_category: dict[str, list[SourceArticle]] = {}
    for category_dir in sorted(p for p in bbc_dir.iterdir() if p.is_dir()):
        articles = []
        for path in sorted(category_dir.glob("*.txt")):
            title, _, body = path.read_text(encoding="utf-8").partition("\n")
            paragraphs = split_paragraphs(body)
            if title.strip() and paragraphs:
                articles.append(SourceArticle(category_dir.name, path.name, title.strip(), paragraphs))
        if articles:
            by_category[category_dir.name] = articles
    if not by_category:
        raise SystemExit(f"no BBC articles found under {bbc_dir} (expected <category>/NNN.txt); pass --bbc PATH")
    return by_category


def _draw(rng: random.Random, lead: SourceArticle, pool: list[SourceArticle]) -> tuple[str, ...]:
    """A shuffled mix of 3-8 paragraphs from `lead` and 1-2 other articles of its category.

    The lead paragraph of the article whose title is used stays first, so the
    title still introduces the text that follows it.
    """
    others = [a for a in rng.sample(pool, k=min(len(pool), 3)) if a is not lead][: rng.randint(1, 2)]
    # dict.fromkeys: the BBC set has near-duplicate articles that share paragraphs.
    candidates = list(dict.fromkeys(p for a in (lead, *others) for p in a.paragraphs))[1:]
    wanted = rng.randint(3, 8) - 1
    rest = rng.sample(candidates, k=min(wanted, len(candidates)))
    return (lead.paragraphs[0], *rest)


def generate(n: int, bbc: dict[str, list[SourceArticle]], seed: int = 0) -> list[SyntheticArticle]:
    """N synthetic articles with pairwise distinct bodies.

    Titles walk through every BBC article in a seeded shuffle (so categories keep
    the BBC's proportions), reshuffled after each full pass.
    """
    rng = random.Random(seed)
    sources = [a for category in sorted(bbc) for a in bbc[category]]
    seen: set[bytes] = set()
    articles: list[SyntheticArticle] = []
    order: list[SourceArticle] = []
    for index in range(1, n + 1):
        if not order:
            order = sources[:]
            rng.shuffle(order)
        lead = order.pop()
        for _attempt in range(1000):
            paragraphs = _draw(rng, lead, bbc[lead.category])
            digest = hashlib.blake2b("\n\n".join(paragraphs).encode("utf-8"), digest_size=16).digest()
            if digest not in seen:
                break
        else:
            raise RuntimeError(f"could not draw a new paragraph mix for {lead.category}/{lead.name}")
        seen.add(digest)
        articles.append(SyntheticArticle(index, lead.category, lead.title, paragraphs))
    return articles


def _write_txt(articles: list[SyntheticArticle], out: Path) -> None:
    for category in sorted({a.category for a in articles}):
        (out / category).mkdir(parents=True, exist_ok=True)
    for article in articles:
        content = f"{article.title}\n\n{article.text}\n"
        (out / article.category / f"{article.stem}.txt").write_bytes(content.encode("utf-8"))


def _write_jsonl(articles: list[SyntheticArticle], out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    for k, start in enumerate(range(0, len(articles), JSONL_RECORDS_PER_FILE)):
        lines = [
            json.dumps(
                {"id": a.stem, "title": a.title, "text": a.text, "section": a.category},
                ensure_ascii=False,
                sort_keys=True,
            )
            for a in articles[start : start + JSONL_RECORDS_PER_FILE]
        ]
        (out / f"corpus-{k}.jsonl").write_bytes(("\n".join(lines) + "\n").encode("utf-8"))


def _manifest(n: int, seed: int, formats: tuple[str, ...], bbc_dir: Path) -> dict[str, object]:
    return {"n": n, "seed": seed, "formats": list(formats), "generator_version": GENERATOR_VERSION,
            "bbc": bbc_dir.resolve().as_posix()}


def is_built(out: Path, n: int, seed: int, formats: tuple[str, ...], bbc_dir: Path) -> bool:
    """True when `out` holds a complete corpus built with these exact arguments."""
    try:
        found = json.loads((out / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    wanted = _manifest(n, seed, formats, bbc_dir)
    return all(found.get(key) == value for key, value in wanted.items() if key != "formats") and set(
        formats
    ) <= set(found.get("formats", []))


def build_corpus(
    n: int, out: Path, *, formats: tuple[str, ...] = ("txt",), seed: int = 0, bbc_dir: Path = DEFAULT_BBC
) -> Path:
    """Write the corpus under `out` (replacing an earlier one there) and return `out`."""
    if n < 1:
        raise ValueError(f"N must be at least 1, got {n}")
    out.mkdir(parents=True, exist_ok=True)
    stale = [out / f for f in FORMATS if (out / f).exists()]
    if stale and not (out / MANIFEST).exists():
        # Only a folder this script made (it has a manifest) is ours to clear.
        raise SystemExit(f"{out} holds {', '.join(p.name for p in stale)}/ but no {MANIFEST}; refusing to overwrite")
    (out / MANIFEST).unlink(missing_ok=True)
    for path in stale:
        shutil.rmtree(path)
    articles = generate(n, load_bbc(bbc_dir), seed)
    if "txt" in formats:
        _write_txt(articles, out / "txt")
    if "jsonl" in formats:
        _write_jsonl(articles, out / "jsonl")
    manifest = json.dumps(_manifest(n, seed, formats, bbc_dir), indent=2, sort_keys=True) + "\n"
    (out / MANIFEST).write_text(manifest, encoding="utf-8")
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("n", type=int, help="number of articles")
    parser.add_argument("--out", type=Path, help="output folder (default bench/corpora/N/)")
    parser.add_argument("--format", choices=("txt", "jsonl", "both"), default="txt")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--bbc", type=Path, default=DEFAULT_BBC, help="BBC corpus folder (<category>/NNN.txt)")
    args = parser.parse_args(argv)
    formats = FORMATS if args.format == "both" else (args.format,)
    out = args.out or DEFAULT_CORPORA / str(args.n)
    started = time.perf_counter()
    build_corpus(args.n, out, formats=formats, seed=args.seed, bbc_dir=args.bbc)
    summary = {"n": args.n, "out": str(out), "formats": list(formats), "seconds": round(time.perf_counter() - started, 2)}
    sys.stdout.write(json.dumps(summary) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
