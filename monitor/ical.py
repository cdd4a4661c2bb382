"""iCalendar (RFC 5545) without a library: events in, the bytes of a VCALENDAR out.

Text values are escaped (backslash, semicolon, comma, newline), lines end in CRLF and are
folded at 75 octets without splitting a UTF-8 character, instants are written in UTC
("…Z"). Pure: `now` (the DTSTAMP) is passed in.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass

PRODID = "-//Infrastrukturmonitor//kalender//DA"
MAX_OCTETS = 75


@dataclass(frozen=True)
class Event:
    """One VEVENT. `uid` must stay the same for the same event whatever its times."""

    uid: str
    summary: str
    start: dt.datetime
    end: dt.datetime | None = None
    description: str = ""
    url: str | None = None
    sequence: int = 0
    categories: tuple[str, ...] = ()
    transparent: bool = False


def escape(text: str) -> str:
    """A TEXT value (RFC 5545 3.3.11): backslash, semicolon, comma and newlines escaped."""
    return (text.replace("\\", "\\\\").replace(";", "\\;").replace(",", "\\,")
            .replace("\r\n", "\\n").replace("\n", "\\n").replace("\r", "\\n"))


def instant(t: dt.datetime) -> str:
    """A DATE-TIME in UTC form: 20201128T070000Z."""
    return t.astimezone(dt.UTC).strftime("%Y%m%dT%H%M%SZ")


def fold(line: str) -> bytes:
    """One content line as CRLF-terminated UTF-8, folded at 75 octets (3.1), never inside a character."""
    out = bytearray()
    width = 0
    limit = MAX_OCTETS
    for ch in line:
        b = ch.encode("utf-8")
        if width + len(b) > limit:
            out += b"\r\n "
            width = 0
            limit = MAX_OCTETS - 1  # the leading space of a continuation line counts
        out += b
        width += len(b)
    out += b"\r\n"
    return bytes(out)


def _event_lines(e: Event, now: dt.datetime) -> list[str]:
    lines = ["BEGIN:VEVENT", f"UID:{escape(e.uid)}", f"DTSTAMP:{instant(now)}", f"DTSTART:{instant(e.start)}"]
    if e.end is not None and e.end > e.start:
        lines.append(f"DTEND:{instant(e.end)}")
    lines += [f"SEQUENCE:{e.sequence}", f"SUMMARY:{escape(e.summary)}"]
    if e.description:
        lines.append(f"DESCRIPTION:{escape(e.description)}")
    if e.url:
        lines.append(f"URL:{e.url}")
    if e.categories:
        lines.append("CATEGORIES:" + ",".join(escape(c) for c in e.categories))
    lines.append("TRANSP:" + ("TRANSPARENT" if e.transparent else "OPAQUE"))
    lines.append("END:VEVENT")
    return lines


def calendar(events: Iterable[Event], now: dt.datetime, name: str) -> bytes:
    """The VCALENDAR holding `events`, as bytes ready to send (text/calendar; charset=utf-8)."""
    lines = ["BEGIN:VCALENDAR", "VERSION:2.0", f"PRODID:{PRODID}", "CALSCALE:GREGORIAN", "METHOD:PUBLISH",
             f"X-WR-CALNAME:{escape(name)}"]
    for e in events:
        lines += _event_lines(e, now)
    lines.append("END:VCALENDAR")
    return b"".join(fold(line) for line in lines)
