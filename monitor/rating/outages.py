"""Planned outages as Copenhagen days: which days of a rating window a planned stop covers.

Pure functions. The outages come from `[rating.planned_outages]` and the `[cutover]` window
(or the loaded demo's window when config has none); `service.py` gathers them.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass

from ..localtime import CPH

CUTOVER_REASON = "Skift af driftscenter"


@dataclass(frozen=True)
class Outage:
    """A planned stop of the platform from `start` to `end` (aware instants), with its reason."""

    start: dt.datetime
    end: dt.datetime
    reason: str = ""


def day_bounds(day: dt.date) -> tuple[dt.datetime, dt.datetime]:
    """The Copenhagen day as the instants [00:00, next 00:00) (23 or 25 hours on DST days)."""
    start = dt.datetime.combine(day, dt.time(0), CPH)
    end = dt.datetime.combine(day + dt.timedelta(days=1), dt.time(0), CPH)
    return start.astimezone(dt.UTC), end.astimezone(dt.UTC)


def outage_days(outages: Iterable[Outage], first: dt.date, last: dt.date) -> dict[dt.date, tuple[str, ...]]:
    """Days from `first` to `last` (inclusive) that overlap an outage, each with the reasons.

    A day overlaps an outage when some instant of the day lies within [start, end): an outage
    that ends exactly at midnight does not touch the next day.
    """
    found: dict[dt.date, list[str]] = {}
    for outage in outages:
        if outage.end <= outage.start:
            continue
        day = max(first, outage.start.astimezone(CPH).date())
        stop = min(last, outage.end.astimezone(CPH).date())
        while day <= stop:
            start, end = day_bounds(day)
            if outage.start < end and outage.end > start:
                reasons = found.setdefault(day, [])
                if outage.reason not in reasons:
                    reasons.append(outage.reason)
            day += dt.timedelta(days=1)
    return {d: tuple(found[d]) for d in sorted(found)}
