"""The quality gate (bench/quality.py): every figure at or above its floor in
bench/quality_floors.json, and the gate's own measures behave as documented."""

from __future__ import annotations


import pytest

from conftest import ROOT, load_script


def _gate():
    return load_script(ROOT / "bench" / "quality.py")


quality = _gate()


@pytest.fixture(scope="module")
def figures():
    return quality.measure()


def test_every_figure_is_at_or_above_its_floor(figures):
    floors = quality.read_floors()
    assert quality.below_floor(figures, floors) == []
    assert {f.key for f in figures} == set(floors)  # every figure has a floor


def test_a_figure_below_its_floor_or_a_floor_without_a_figure_is_reported():
    figures = [quality.Figure("a", "figure a", 0.5), quality.Figure("b", "figure b", 0.9)]
    problems = quality.below_floor(figures, {"a": 0.6, "b": 0.9, "c": 0.1})
    assert problems == ["figure a: 0.500 < floor 0.600", "c: floor 0.100 but no such figure"]


def test_npmi_of_the_evaluator_follows_its_definition():
    presence = quality.WordPresence(["Pound and sterling.", "pound, sterling, bank", "A goal!"])
    assert presence.npmi(["pound", "goal"]) == -1.0
    # P(pound, sterling) = 2/3 = P(pound) = P(sterling): log(1/(2/3)) / -log(2/3) = 1
    assert presence.npmi(["pound", "sterling"]) == pytest.approx(1.0)
    assert presence.docs("pound sterling") == {1}  # adjacent words (punctuation is not a word)
    assert presence.docs("and sterling") == {0}


def test_token_overlap_counts_words_as_bags():
    assert quality.token_overlap("the cat, the hat", "The cat sat") == (2, 4, 3)


def test_extraction_pages_are_filled_from_the_corpus():
    pages = quality.extraction_pages()
    assert len(pages) >= 9
    for name, page, gold in pages:
        assert "{{" not in page and "{{" not in gold, name
        assert len(gold.split()) > 80, name
