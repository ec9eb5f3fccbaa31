"""Start-up of a command or server: imports with Python's cyclic garbage collector paused.

Importing Prefect, pydantic and pyarrow creates about a million objects that
live as long as the process. While they pile up, the collector's full passes
walk all of them again and again: ~0.3 s of a command's start and ~0.4 s of a
temporary server's boot on this machine. Frozen afterwards (`gc.freeze`), they
are left out of every later pass too.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def collector_paused() -> Iterator[None]:
    """No cyclic collection inside the block; what exists at its end is frozen."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        gc.freeze()
        if was_enabled:
            gc.enable()
