"""`FetchProblem`: a request that could not be made or answered usefully. Its `kind`
is what the fetch report counts it under (`refused_address`, `timeout`, `http_404`,
`robots`, ...); `transient` problems are tried again, now or in a later run.
"""

from __future__ import annotations


class FetchProblem(Exception):
    def __init__(self, kind: str, detail: str, transient: bool = False, retry_after: float | None = None) -> None:
        super().__init__(f"{kind}: {detail}")
        self.kind = kind
        self.detail = detail
        self.transient = transient
        self.retry_after = retry_after  # seconds the server asked us to wait (Retry-After)
