"""Shared fixtures: paths to ../shared, an isolated Prefect home, real articles."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"
BBC = SHARED / "corpora" / "bbc"
SAMPLE = SHARED / "samples" / "000_3396f7b0be424c1a.txt"
RAW = ROOT / "data" / "raw"


def pytest_configure(config: pytest.Config) -> None:
    # Prefect's local mode keeps its database under PREFECT_HOME: give the test
    # session its own, and the offline, quiet settings the CLI uses.
    home = Path(os.environ.get("TEXTPIPE_TEST_PREFECT_HOME", ROOT / ".pytest_cache" / "prefect-home"))
    home.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("PREFECT_HOME", str(home))
    from textpipe.cli import PREFECT_DEFAULTS

    for key, value in PREFECT_DEFAULTS.items():
        os.environ.setdefault(key, value)


def bbc_articles(category: str, limit: int | None = None) -> list[Path]:
    paths = sorted((BBC / category).glob("*.txt"))
    return paths[:limit] if limit else paths


@pytest.fixture(scope="session")
def bbc_texts() -> list[tuple[str, str, str]]:
    """(category, title, body) of 40 BBC articles per category, read plainly."""
    rows = []
    for category in sorted(p.name for p in BBC.iterdir() if p.is_dir()):
        for path in bbc_articles(category, 40):
            title, _, body = path.read_text(encoding="utf-8", errors="replace").partition("\n")
            rows.append((category, title.strip(), body.strip()))
    return rows


@pytest.fixture(scope="session")
def analyst_store(tmp_path_factory):
    """(input, output, result) of a real `textpipe run --topics 12` on `report_inputs.analyst_input`:
    dates, 15 outlets, stories several of them tell, a German article, a reject."""
    import subprocess
    import sys

    from report_inputs import analyst_input

    root = tmp_path_factory.mktemp("analyst")
    input_dir, output = analyst_input(root / "input"), root / "output"
    textpipe = str(Path(sys.executable).with_name("textpipe"))
    result = subprocess.run([textpipe, "run", "--input", str(input_dir), "--output", str(output), "--topics", "12"],
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    return input_dir, output, result


def fences(page: Path) -> list[tuple[str, str]]:
    """(language, body) of every fenced block of a page, in order."""
    blocks, language, body = [], None, []
    for line in page.read_text(encoding="utf-8").splitlines():
        if line.startswith("```"):
            if language is None:
                language, body = line[3:].strip(), []
            else:
                blocks.append((language, "\n".join(body) + "\n"))
                language = None
        elif language is not None:
            body.append(line)
    return blocks


def load_script(path: Path) -> ModuleType:
    """A bench or scripts/ file imported as a module under its file name."""
    spec = importlib.util.spec_from_file_location(path.stem, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while the class is built
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="session")
def sample_output(tmp_path_factory) -> Path:
    """What `make run` writes: one run over the sample input. Read only by the tests using it."""
    output = tmp_path_factory.mktemp("sample-run") / "processed"
    textpipe = str(Path(sys.executable).with_name("textpipe"))
    done = subprocess.run([textpipe, "run", "--input", str(RAW), "--output", str(output)], capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    return output


def scorer_words(words: list[str], prefixes: list[str], suffixes: list[str], case_changes=(str.upper,)):
    """A hypothesis strategy of words that trigger a sentiment scorer's rules: as listed,
    case-changed, and wrapped in punctuation, so random sentences hit the rules far more
    often than random unicode would."""
    from hypothesis import strategies as st

    return st.one_of(
        st.sampled_from(words),
        *(st.sampled_from(words).map(change) for change in case_changes),
        st.tuples(st.sampled_from(prefixes), st.sampled_from(words), st.sampled_from(suffixes)).map("".join),
    )
