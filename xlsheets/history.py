"""A patient's history over time: the rolling 12-month windows that payer limits count in.

Payers count sessions "in a rolling 12 months" (at most 4 ESI sessions per region, 3 trigger
point sessions). Getting the window right is fiddly (leap days; a session exactly a year earlier
no longer counts), so batch rules share this instead of writing it again::

    for claim_date, window in rolling_12_months(session_dates):
        if len(window) > limit: ...   # window: the sessions of the 12 months ending that day
"""
from __future__ import annotations

import datetime as dt
from typing import Iterable, Iterator

__all__ = ["year_before", "rolling_12_months"]


def year_before(day: dt.date) -> dt.date:
    """The same calendar day a year earlier (28 February for 29 February)."""
    try:
        return day.replace(year=day.year - 1)
    except ValueError:
        return day.replace(year=day.year - 1, day=28)


def rolling_12_months(dates: Iterable[dt.date]) -> Iterator[tuple[dt.date, list[dt.date]]]:
    """For each distinct date, in order: the dates within the 12 months ending on it.

    A date exactly a year earlier is outside the window (the window starts the day after).
    """
    days = sorted(set(dates))
    start = 0
    for i, day in enumerate(days):
        first_inside = year_before(day)
        while days[start] <= first_inside:
            start += 1
        yield day, days[start:i + 1]
