"""Publication dates from record fields: ISO 8601 or RFC 2822 text (or Unix seconds)
to a timezone-aware UTC datetime; anything else is None, never a guess.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime


def to_utc(moment: datetime) -> datetime:
    """Naive times are taken as UTC; aware ones are converted to UTC."""
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def parse_datetime(value: object) -> datetime | None:
    """`"2024-03-01T14:00:00+01:00"`, `"Fri, 01 Mar 2024 14:00:00 +0100"` or 1709298000
    -> `datetime(2024, 3, 1, 13, 0, tzinfo=UTC)`; None when the value is not a date."""
    try:
        if isinstance(value, bool):
            return None
        if isinstance(value, int | float):
            return datetime.fromtimestamp(value, UTC) if math.isfinite(value) else None
        if not isinstance(value, str) or not value.strip():
            return None
        text = value.strip()
        try:
            moment = datetime.fromisoformat(text)
        except ValueError:
            moment = parsedate_to_datetime(text)
        return to_utc(moment)
    except (TypeError, ValueError, OverflowError, IndexError, OSError):
        return None
