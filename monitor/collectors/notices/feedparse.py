"""RSS and Atom status feeds (Atlassian Statuspage shape) into `ParsedNotice`s, via feedparser.

A broken document still gives every item that was complete: feedparser's loose parser
recovers what it can, and an item counts only when its closing tag is in the bytes (a feed
cut off in the middle of an item would otherwise yield that item with half its timeline).
"""

from __future__ import annotations

import calendar
import datetime as dt
import email.utils
import html as htmllib
import re
from typing import Any

import feedparser

from .updatehtml import RawUpdate, parse_updates, plain, scheduled_window
from .upstream import (
    MAINTENANCE_STATUSES,
    ParsedNotice,
    ParsedUpdate,
    ParseResult,
    affected_names,
    clean_text,
    resolved_time,
    safe_url,
    sanitize,
    status_word,
)

ITEM_END_RE = re.compile(rb"</(?:[A-Za-z0-9_]+:)?(?:item|entry)\s*>", re.IGNORECASE)


ITEM_START_RE = re.compile(rb"<(?:[A-Za-z0-9_]+:)?(?:item|entry)\b[^>]*>", re.IGNORECASE)
ID_RE = re.compile(rb"<(?:[A-Za-z0-9_]+:)?(guid|id|link)\b([^>]*)>(.*?)</(?:[A-Za-z0-9_]+:)?\1\s*>",
                   re.IGNORECASE | re.DOTALL)
HREF_RE = re.compile(rb"<(?:[A-Za-z0-9_]+:)?link\b[^>]*\bhref\s*=\s*[\"']([^\"']*)[\"']", re.IGNORECASE)
CDATA_RE = re.compile(rb"^\s*<!\[CDATA\[(.*)\]\]>\s*$", re.DOTALL)


def _identifiers(block: bytes) -> set[str]:
    """The ids, guids and links written in one raw item, as feedparser would read them."""
    found = set()
    for m in ID_RE.finditer(block):
        raw = m.group(3)
        cdata = CDATA_RE.match(raw)
        text = (cdata.group(1) if cdata else raw).decode("utf-8", "replace")
        found.add(htmllib.unescape(text).strip())
    found.update(htmllib.unescape(m.group(1).decode("utf-8", "replace")).strip() for m in HREF_RE.finditer(block))
    return found - {""}


def complete_entries(content: bytes, entries: list[Any]) -> list[Any]:
    """The entries whose item is complete in the bytes: from its start tag to its end tag, with no
    other item starting in between. A broken item is left out; the complete ones after it stay.
    """
    starts = [m.start() for m in ITEM_START_RE.finditer(content)]
    complete: set[str] = set()
    for i, start in enumerate(starts):
        stop = starts[i + 1] if i + 1 < len(starts) else len(content)
        block = content[start:stop]
        if ITEM_END_RE.search(block):
            complete |= _identifiers(block)
    return [e for e in entries if (e.get("id") or e.get("link") or "").strip() in complete]


def looks_like_feed(content: bytes) -> bool:
    """True when `content` parses as RSS or Atom (used to guess a source's kind)."""
    parsed = feedparser.parse(content)
    return bool(parsed.get("version")) or bool(parsed.entries)


def parse_feed(content: bytes, now: dt.datetime) -> ParseResult:
    """Parse a fetched feed; `now` stands in for an item without a date when inferring years."""
    result = ParseResult()
    if not content.strip():
        result.fatal = "the feed is empty"
        return result
    parsed = feedparser.parse(content)
    entries = list(parsed.entries)
    if parsed.get("bozo"):
        exc = parsed.get("bozo_exception")
        if isinstance(exc, feedparser.CharacterEncodingOverride):
            result.problems.append(f"wrong encoding: {exc}")
        else:
            kept = complete_entries(content, entries)
            if len(kept) < len(entries):
                result.problems.append(
                    f"{len(entries) - len(kept)} item(s) cut off or broken (not complete) were left out")
                entries = kept
            result.problems.append(f"the feed is malformed: {exc}")
    if not parsed.get("version") and not entries:
        result.fatal = "not an RSS or Atom feed" + (f" ({result.problems[-1]})" if result.problems else "")
        result.problems.clear()
        return result
    for position, entry in enumerate(entries, start=1):
        try:
            notice, problems = parse_entry(entry, now)
        except (ArithmeticError, ValueError) as exc:  # e.g. a date that overflows: this item only
            notice, problems = None, [f"could not be read ({type(exc).__name__}): left out"]
        label = clean_text(str(entry.get("id") or entry.get("title") or f"item {position}"))[:100]
        result.problems.extend(f"{label}: {p}" for p in problems)
        if notice is not None:
            result.notices.append(notice)
    return result


def _entry_date(entry: Any) -> tuple[dt.datetime | None, dt.tzinfo]:
    """The item's date (UTC) and the offset it was written with (for times in unknown zones)."""
    for key in ("updated", "published"):
        struct = entry.get(f"{key}_parsed")
        if struct is None:
            continue
        at = dt.datetime.fromtimestamp(calendar.timegm(struct), dt.UTC)
        raw = entry.get(key) or ""
        try:
            written = email.utils.parsedate_to_datetime(raw)
        except (TypeError, ValueError, IndexError):
            try:
                written = dt.datetime.fromisoformat(raw.replace("Z", "+00:00"))
            except ValueError:
                written = at
        return at, (written.tzinfo if written.tzinfo else dt.UTC)
    return None, dt.UTC


def _entry_html(entry: Any) -> str:
    for content in entry.get("content") or []:
        if content.get("value"):
            return str(content["value"])
    return str(entry.get("summary") or "")


def parse_entry(entry: Any, now: dt.datetime) -> tuple[ParsedNotice | None, list[str]]:
    """One feed item as a notice, or None (with the reason) when it cannot be stored whole."""
    upstream_id = (entry.get("id") or entry.get("link") or "").strip()
    title = " ".join((entry.get("title") or "").split())
    if not upstream_id:
        return None, ["the item has no id (guid) and no link: left out"]
    if not title:
        return None, ["the item has no title: left out"]
    item_date, written_tz = _entry_date(entry)
    reference = item_date or now
    html = _entry_html(entry)
    raw, problems = parse_updates(html, reference, written_tz)
    names, maintenance_line = affected_names(plain(html))
    text = f"{title} {plain(html)}"
    words = [status_word(u.word) for u in raw]
    scheduled_for, scheduled_until = scheduled_window(html, reference, written_tz)
    maintenance = maintenance_line or scheduled_for is not None or any(w in MAINTENANCE_STATUSES for w in words)
    kind = "maintenance" if maintenance else "incident"
    if not raw:
        raw = [_single_update(html, text, reference)]
    updates = resolve_statuses(raw, kind)
    status = updates[0].status
    return ParsedNotice(
        upstream_id=upstream_id[:500], title=title, kind=kind, status=status,
        url=safe_url(entry.get("link")), component_names=names, text=text, updates=updates,
        started_at=updates[-1].at, updated_at=updates[0].at,
        resolved_at=resolved_time(status, updates),
        scheduled_for=scheduled_for, scheduled_until=scheduled_until,
    ), problems


def _single_update(html: str, text: str, at: dt.datetime) -> RawUpdate:
    """An item from another generator, without a timeline: one update, status from its words."""
    found = ""
    lowered = text.lower()
    for word in ("resolved", "løst", "completed", "afsluttet", "monitoring", "overvåger",
                 "identified", "identificeret", "in progress", "i gang", "scheduled", "planlagt"):
        if re.search(rf"\b{word}\b", lowered):
            found = word
            break
    return RawUpdate(word=found, at=at, body_html=sanitize(html))


def resolve_statuses(raw: list[RawUpdate], kind: str) -> list[ParsedUpdate]:
    """Canonical statuses, newest first: a word that defines none keeps the previous status.

    Two updates with the same status and minute (upstream posts several "Update"s at once)
    would be the same update by identity; the later ones are set a microsecond apart, in
    upstream order, so each is stored once and a re-poll finds each again.
    """
    current = "scheduled" if kind == "maintenance" else "investigating"
    seen: set[tuple[str, dt.datetime]] = set()
    oldest_first: list[ParsedUpdate] = []
    for u in reversed(raw):
        # "Update"/"Opdatering", and any word upstream does not define, keep the status.
        word = status_word(u.word)
        if word is not None:
            current = word
        at = u.at
        while (current, at) in seen:
            at += dt.timedelta(microseconds=1)
        seen.add((current, at))
        oldest_first.append(ParsedUpdate(status=current, at=at, body_html=u.body_html, components=u.components))
    return list(reversed(oldest_first))
