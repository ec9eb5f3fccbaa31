"""textpipe: news articles in, analysis-ready Parquet out.

The library is plain Python (no Prefect); flows in `textpipe_flows` wire its
stages into Prefect tasks. `textpipe.open_store(path)` reads a store into pandas
(see docs/notebooks.md).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"
__all__ = ["__version__", "open_store"]

if TYPE_CHECKING:
    from textpipe.reader import open_store


def __getattr__(name: str) -> Any:
    # Imported on first use: `import textpipe` (every CLI command) must not import pandas.
    if name == "open_store":
        from textpipe.reader import open_store

        return open_store
    raise AttributeError(f"module 'textpipe' has no attribute {name!r}")
