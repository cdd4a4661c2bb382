"""The updates inside a Statuspage-shaped item: ``<small>Time</small><br><strong>Status</strong> - text``.

One RSS/Atom item per incident carries its whole timeline as HTML, newest first. Times have
no year ("Nov 24, 09:12 CET"): the year is the one that puts the time nearest the item's
own date, so an update of 31 December in an item dated 1 January lands in the old year.
"""

from __future__ import annotations

import datetime as dt
import html as htmllib
import re
from dataclasses import dataclass

from .upstream import AFFECTED_RE, sanitize

# Zone abbreviations seen on status pages; the offset in minutes east of UTC.
ZONES = {
    "UTC": 0, "GMT": 0, "Z": 0, "WET": 0, "WEST": 60, "BST": 60, "CET": 60, "CEST": 120,
    "MET": 60, "MEST": 120, "EET": 120, "EEST": 180, "MSK": 180,
    "PST": -480, "PDT": -420, "MST": -420, "MDT": -360, "CST": -360, "CDT": -300,
    "EST": -300, "EDT": -240, "AKST": -540, "AKDT": -480, "HST": -600,
    "JST": 540, "KST": 540, "SGT": 480, "AEST": 600, "AEDT": 660, "NZST": 720, "NZDT": 780,
}
MONTHS = {"jan": 1, "feb": 2, "mar": 3, "apr": 4, "may": 5, "maj": 5, "mai": 5, "jun": 6,
          "jul": 7, "aug": 8, "sep": 9, "oct": 10, "okt": 10, "nov": 11, "dec": 12}

SMALL_RE = re.compile(r"<small\b[^>]*>(.*?)</small\s*>", re.IGNORECASE | re.DOTALL)
STRONG_RE = re.compile(r"^(?:\s|<br\s*/?>|</?p\b[^>]*>)*<strong\b[^>]*>(.*?)</strong\s*>",
                       re.IGNORECASE | re.DOTALL)
TAG_RE = re.compile(r"<[^>]*>")
TIME_RE = re.compile(r"(?<!\d)(\d{1,2})[:.](\d{2})(?:[:.](\d{2}))?(?!\d)")
ZONE_RE = re.compile(r"^\s*([A-Za-z]{1,5})?\s*(?:([+-])(\d{1,2})(?::?(\d{2}))?)?")
LEAD_RE = re.compile(r"^\s*[-–—]\s*")
TRAIL_RE = re.compile(r"(?:\s|</p\s*>|<p\b[^>]*>|<br\s*/?>)*$", re.IGNORECASE)


@dataclass(frozen=True)
class RawUpdate:
    """An update as written upstream: the status word as shown, the instant, sanitised body."""

    word: str
    at: dt.datetime
    body_html: str
    components: tuple[tuple[str, str], ...] | None = None  # (name, status) where the source lists them


def plain(fragment: str) -> str:
    """Text of an HTML fragment: tags dropped, entities decoded, whitespace collapsed."""
    return " ".join(htmllib.unescape(TAG_RE.sub(" ", fragment)).split())


def parse_time(text: str, reference: dt.datetime, fallback: dt.tzinfo) -> dt.datetime | None:
    """The aware instant of an update time such as "Nov 24, 09:12 CET" or "24. nov. 2020 09.12".

    Without a year, the year nearest `reference` (the item's date) is taken. An unknown
    zone falls back to `fallback`. Returns None when no day, month and time can be read.
    """
    tm = TIME_RE.search(text)
    if tm is None:
        return None
    hour, minute, second = int(tm.group(1)), int(tm.group(2)), int(tm.group(3) or 0)
    if hour > 23 or minute > 59 or second > 59:
        return None
    tz = _zone(text[tm.end():], fallback)
    date_part = text[:tm.start()]
    month = next((MONTHS[w[:3]] for w in re.findall(r"[a-zæøå]+", date_part.lower()) if w[:3] in MONTHS), None)
    numbers = re.findall(r"\d+", date_part)
    years = [int(n) for n in numbers if len(n) == 4]
    days = [int(n) for n in numbers if len(n) <= 2]
    if month is None or not days:
        return None
    day = days[0]
    if years:
        candidates = [years[0]]
    else:
        ref_year = reference.astimezone(tz).year
        candidates = [ref_year - 1, ref_year, ref_year + 1]
    best: dt.datetime | None = None
    for year in candidates:
        try:
            t = dt.datetime(year, month, day, hour, minute, second, tzinfo=tz)
        except ValueError:  # 31 November, or 29 February of a common year
            continue
        if best is None or abs(t - reference) < abs(best - reference):
            best = t
    return best.astimezone(dt.UTC) if best else None


def _zone(rest: str, fallback: dt.tzinfo) -> dt.tzinfo:
    m = ZONE_RE.match(rest)
    if m is None:
        return fallback
    name, sign, hours, minutes = m.groups()
    base = ZONES.get(name.upper()) if name else None
    if name and base is None:
        return fallback
    if sign:
        offset = int(hours) * 60 + int(minutes or 0)
        if offset > 14 * 60:
            return fallback
        base = (base or 0) + (offset if sign == "+" else -offset)
    if base is None:
        return fallback
    return dt.timezone(dt.timedelta(minutes=base))


def parse_updates(html: str, reference: dt.datetime, fallback: dt.tzinfo = dt.UTC
                  ) -> tuple[list[RawUpdate], list[str]]:
    """The updates in an item's HTML, in document order (newest first), and the problems seen.

    A paragraph whose time or status cannot be read is reported and left out: nothing is
    invented. Bodies are sanitised; an "… affected: …" line is not part of any body.
    """
    updates: list[RawUpdate] = []
    problems: list[str] = []
    smalls = list(SMALL_RE.finditer(html))
    for i, m in enumerate(smalls):
        end = smalls[i + 1].start() if i + 1 < len(smalls) else len(html)
        segment = html[m.end():end]
        when_text = plain(m.group(1))
        strong = STRONG_RE.match(segment)
        if strong is None:
            problems.append(f"update {when_text!r}: no <strong>status</strong> after the time")
            continue
        at = parse_time(when_text, reference, fallback)
        if at is None:
            problems.append(f"update {when_text!r}: the time cannot be read")
            continue
        word = plain(strong.group(1))
        body = LEAD_RE.sub("", segment[strong.end():], count=1)
        body = AFFECTED_RE.sub("", body)
        body = TRAIL_RE.sub("", body)
        updates.append(RawUpdate(word=word, at=at, body_html=sanitize(body)))
    return updates, problems


SCHEDULED_RE = re.compile(r"THIS IS A SCHEDULED EVENT\s+(.+?)\s*[-–—]\s*(.+)$", re.IGNORECASE)
ZONE_TAIL_RE = re.compile(r"\s+([A-Za-z]{1,5}(?:\s*[+-]\d{1,2}(?::?\d{2})?)?)\s*$")


def scheduled_window(html: str, reference: dt.datetime, fallback: dt.tzinfo = dt.UTC
                     ) -> tuple[dt.datetime | None, dt.datetime | None]:
    """(start, end) of the "THIS IS A SCHEDULED EVENT Apr 7, 13:00 - 23:00 UTC" line Statuspage
    writes at the top of a maintenance item, or (None, None) without one.

    The end may name its own day ("Mar 19, 22:00 - Mar 20, 02:00 UTC"); without one it is on
    the start's day, or the next day when its time is earlier. The zone written at the end
    applies to both; the year is the one nearest the item's date, as for update times.
    """
    strong = re.search(r"<strong\b[^>]*>(.*?)</strong\s*>", html, re.IGNORECASE | re.DOTALL)
    line = plain(strong.group(1)) if strong else ""
    m = SCHEDULED_RE.match(line)
    if m is None:
        return None, None
    start_text, end_text = m.group(1).strip(), m.group(2).strip()
    zone = ZONE_TAIL_RE.search(end_text)
    zone_text = zone.group(1) if zone else ""
    start = parse_time(f"{start_text} {zone_text}", reference, fallback)
    if start is None:
        return None, None
    if re.search(r"[A-Za-zæøå]{3}.*\d", end_text[:zone.start()] if zone else end_text):
        end = parse_time(end_text, start, fallback)
    else:
        tm = TIME_RE.search(end_text)
        if tm is None or int(tm.group(1)) > 23 or int(tm.group(2)) > 59:
            return start, None
        tz = _zone(" " + zone_text if zone_text else "", fallback)
        local = start.astimezone(tz)
        end = local.replace(hour=int(tm.group(1)), minute=int(tm.group(2)), second=0)
        if end <= local:
            end += dt.timedelta(days=1)
        end = end.astimezone(dt.UTC)
    return start, end if end is not None and start is not None and end > start else None
