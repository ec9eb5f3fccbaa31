"""Publication dates from record fields to a timezone-aware UTC datetime.

Read: ISO 8601, RFC 2822, dates written with a month name ("March 5, 2024",
"5 Mar 2024 10:30 GMT"), year-first numeric dates ("2024/03/05"), and Unix time
in seconds or milliseconds (as a number or a string of digits). Anything else is
None, never a guess: "05/03/2024" (day or month first?), a date without its day
or year, or a time in a zone whose abbreviation is ambiguous ("CST", "IST").
"""

from __future__ import annotations

import math
import re
import warnings
from datetime import UTC, datetime, timedelta, timezone
from email.utils import parsedate_to_datetime

from dateutil import parser as dateutil_parser

# Milliseconds since 1970 pass 1e11 in 1973; seconds would reach it only in the year 5138.
_MILLISECONDS_FROM = 1e11
_EPOCH_DIGITS = re.compile(r"\d{10}(?:\d{3})?")
_MONTH_NAME = re.compile(r"\b(?:jan|feb|mar|apr|may|jun|jul|aug|sep|sept|oct|nov|dec)[a-z]*\b\.?", re.IGNORECASE)
_FOUR_DIGIT_YEAR = re.compile(r"(?<!\d)\d{4}(?!\d)")
_YEAR_FIRST = re.compile(r"\d{4}[/.]\d{1,2}[/.]\d{1,2}\b")
# The shape of an RFC 2822 date. Python's parser of it is lenient: given "March 5, 2024
# 10:30 PM EST" it ignores "PM" and the zone, so other shapes go to `_written_date`.
_RFC_2822 = re.compile(r"(?:[A-Za-z]{3},?\s+)?\d{1,2}\s+[A-Za-z]{3}\s+\d{2,4}(?:\s+\d{1,2}:\d{2}(?::\d{2})?)?"
                       r"(?:\s+(?:[+-]\d{4}|(?![AaPp][Mm]\b)[A-Za-z]{1,5}))?(?:\s+\(.*\))?")
# Zone abbreviations that name one offset in news from the US and Europe; UTC, GMT
# and Z are known to dateutil. Others ("CST": US or China, "IST", "BST") are not guessed.
_ZONES = {name: timezone(timedelta(hours=hours), name) for name, hours in {
    "EST": -5, "EDT": -4, "CDT": -5, "MST": -7, "MDT": -6, "PST": -8, "PDT": -7, "CET": 1, "CEST": 2}.items()}


def to_utc(moment: datetime) -> datetime:
    """Naive times are taken as UTC; aware ones are converted to UTC."""
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def parse_datetime(value: object) -> datetime | None:
    """`"2024-03-01T14:00:00+01:00"`, `"Fri, 01 Mar 2024 14:00:00 +0100"`, `"March 1, 2024 1:00 PM GMT"`
    or 1709298000 -> `datetime(2024, 3, 1, 13, 0, tzinfo=UTC)`; None when the value is not a date."""
    try:
        if isinstance(value, bool):
            return None
        if isinstance(value, int | float):
            return _from_unix_time(value)
        if not isinstance(value, str) or not value.strip():
            return None
        text = value.strip()
        if _EPOCH_DIGITS.fullmatch(text):
            return _from_unix_time(int(text))
        for parse in (datetime.fromisoformat, _rfc_2822_date, _written_date):
            try:
                moment = parse(text)
            except (TypeError, ValueError, OverflowError, IndexError):
                continue
            if moment is not None:
                return to_utc(moment)
        return None
    except (TypeError, ValueError, OverflowError, OSError):
        return None


def _from_unix_time(value: float) -> datetime | None:
    if not math.isfinite(value):
        return None
    return datetime.fromtimestamp(value / 1000 if abs(value) >= _MILLISECONDS_FROM else value, UTC)


def _rfc_2822_date(text: str) -> datetime | None:
    return parsedate_to_datetime(text) if _RFC_2822.fullmatch(text) else None


def _written_date(text: str) -> datetime | None:
    """A date with its month written as a word, or year first; None if day, month or year is missing."""
    if not (_MONTH_NAME.search(text) and _FOUR_DIGIT_YEAR.search(text)) and not _YEAR_FIRST.match(text):
        return None
    with warnings.catch_warnings():
        # An unknown zone abbreviation would otherwise be dropped with a warning, shifting the time by hours.
        warnings.simplefilter("error", dateutil_parser.UnknownTimezoneWarning)
        try:
            # Two different defaults: a field the text lacks shows up as a difference.
            first = dateutil_parser.parse(text, default=datetime(2000, 1, 1), tzinfos=_ZONES)
            second = dateutil_parser.parse(text, default=datetime(2001, 2, 2), tzinfos=_ZONES)
        except (dateutil_parser.ParserError, dateutil_parser.UnknownTimezoneWarning, OverflowError):
            return None
    return first if first == second else None
