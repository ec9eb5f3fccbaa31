"""startup: imports with the collector paused leave it as it was, with their objects frozen."""

from __future__ import annotations

import gc

import pytest

from textpipe.startup import collector_paused


@pytest.fixture(autouse=True)
def _restore_collector():
    enabled = gc.isenabled()
    yield
    gc.unfreeze()
    if enabled:
        gc.enable()


def test_the_block_runs_without_collection_and_freezes_what_it_made():
    gc.unfreeze()
    with collector_paused():
        assert not gc.isenabled()
        made = [[i] for i in range(10_000)]
    assert gc.isenabled()
    assert gc.get_freeze_count() >= len(made)


def test_the_collector_comes_back_when_the_block_fails():
    with pytest.raises(RuntimeError), collector_paused():
        raise RuntimeError("an import failed")
    assert gc.isenabled()


def test_a_collector_that_was_off_stays_off():
    gc.disable()
    with collector_paused():
        pass
    assert not gc.isenabled()
