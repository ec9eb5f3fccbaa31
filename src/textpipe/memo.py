"""A bounded memo of per-token facts, shared by the stages that read text token by token.

News repeats its whitespace tokens ("said.", "the", "(BBC)"): the tokenizer and the
sentiment scorers compute what they need from each distinct one once, then look it up,
`map(memo.__getitem__, tokens)` running in C for every token seen before.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

# Entries at most, per memo: a worker holds a few memos for as long as it lives.
MEMO_LIMIT = 200_000


class TokenMemo(dict):  # type: ignore[type-arg]
    """token -> `compute(token)`, computed on first sight. Cleared when it reaches `MEMO_LIMIT`."""

    def __init__(self, compute: Callable[[str], Any]) -> None:
        super().__init__()
        self._compute = compute

    def __missing__(self, token: str) -> Any:
        if len(self) >= MEMO_LIMIT:
            self.clear()
        facts = self[token] = self._compute(token)
        return facts
