"""The Statuspage JSON API (`/api/v2/incidents.json`, `scheduled-maintenances.json`,
`components.json`) into `ParsedNotice`s.

Here the status words, times, impact and components come as data, so nothing is guessed
from HTML; update bodies are plain text and are escaped before they are stored as HTML.
"""

from __future__ import annotations

import datetime as dt
import html as htmllib
import json
from typing import Any

from .feedparse import resolve_statuses
from .updatehtml import RawUpdate
from .upstream import (
    IMPACTS,
    MAINTENANCE_STATUSES,
    ParsedNotice,
    ParseResult,
    clean_text,
    resolved_time,
    safe_url,
    sanitize,
    status_word,
)

DOCUMENTS = ("incidents", "scheduled-maintenances", "components")


def endpoints(base: str) -> dict[str, str]:
    """The three document URLs under a status page's base URL (with or without /api/v2)."""
    base = base.rstrip("/")
    if base.endswith(".json"):
        base = base.rsplit("/", 1)[0]
    if not base.endswith("/api/v2"):
        base += "/api/v2"
    return {name: f"{base}/{name}.json" for name in DOCUMENTS}


def looks_like_statuspage(content: bytes) -> bool:
    """True when `content` is a JSON object with Statuspage's incident or component lists."""
    try:
        doc = json.loads(content)
    except (ValueError, UnicodeDecodeError):
        return False
    return isinstance(doc, dict) and any(k in doc for k in ("incidents", "scheduled_maintenances", "components"))


def _list(value: Any) -> list[Any]:
    """`value` when it is a JSON array, else an empty list (upstream may send anything)."""
    return value if isinstance(value, list) else []


def _time(value: Any) -> dt.datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        t = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    if t.tzinfo is None:
        return None
    try:
        return t.astimezone(dt.UTC)
    except OverflowError:  # "9999-12-31T23:59:59-14:00": beyond any date, which `admit` refuses
        return (dt.datetime.max if t.year > 1 else dt.datetime.min).replace(tzinfo=dt.UTC)


def _body_html(text: Any) -> str:
    lines = str(text or "").replace("\r\n", "\n").split("\n")
    return sanitize("<br>".join(htmllib.escape(line) for line in lines))


def parse_documents(documents: dict[str, bytes]) -> ParseResult:
    """Parse the fetched documents (by name: incidents, scheduled-maintenances, components).

    A document may also be a summary holding several lists. A document that is not JSON is
    reported and the others still count; an incident without id or name is left out.
    """
    result = ParseResult()
    lists: list[tuple[bool, list[Any]]] = []
    component_names: dict[str, str] = {}
    for name, content in documents.items():
        try:
            doc = json.loads(content)
        except (ValueError, UnicodeDecodeError) as exc:
            result.problems.append(f"{name}: not JSON ({exc})")
            continue
        if not isinstance(doc, dict):
            result.problems.append(f"{name}: expected a JSON object")
            continue
        for c in _list(doc.get("components")):
            if isinstance(c, dict) and c.get("id") and c.get("name"):
                component_names[str(c["id"])] = str(c["name"])
        if isinstance(doc.get("incidents"), list):
            lists.append((False, doc["incidents"]))
        if isinstance(doc.get("scheduled_maintenances"), list):
            lists.append((True, doc["scheduled_maintenances"]))
    if documents and len(result.problems) == len(documents):
        result.fatal = "; ".join(result.problems)
        result.problems.clear()
        return result
    by_id: dict[str, ParsedNotice] = {}
    for maintenance, items in lists:
        for position, item in enumerate(items, start=1):
            try:
                notice, problems = parse_incident(item, maintenance, component_names)
            except Exception as exc:  # a shape no check foresaw: this item is reported, the others stay
                notice, problems = None, [f"could not be read ({type(exc).__name__}): left out"]
            label = clean_text(str((item.get("id") if isinstance(item, dict) else None) or f"item {position}"))[:100]
            result.problems.extend(f"{label}: {p}" for p in problems)
            # incidents.json may list a maintenance too: the maintenance list's view wins.
            if notice is not None and (notice.upstream_id not in by_id or maintenance):
                by_id[notice.upstream_id] = notice
    result.notices = list(by_id.values())
    return result


def parse_incident(item: Any, maintenance: bool, component_names: dict[str, str]
                   ) -> tuple[ParsedNotice | None, list[str]]:
    """One incident or scheduled maintenance object, or None with the reason it was left out."""
    if not isinstance(item, dict):
        return None, ["not a JSON object: left out"]
    upstream_id, title = str(item.get("id") or "").strip(), " ".join(str(item.get("name") or "").split())
    if not upstream_id:
        return None, ["the incident has no id: left out"]
    if not title:
        return None, ["the incident has no name: left out"]
    problems: list[str] = []
    raw: list[RawUpdate] = []
    names = [str(c["name"]) for c in _list(item.get("components")) if isinstance(c, dict) and c.get("name")]
    for u in _list(item.get("incident_updates")):
        if not isinstance(u, dict):
            problems.append("an update is not a JSON object: left out")
            continue
        at = _time(u.get("display_at")) or _time(u.get("created_at"))
        if at is None:
            problems.append(f"update {u.get('id')!r} has no readable time: left out")
            continue
        states: list[tuple[str, str]] = []
        for c in _list(u.get("affected_components")):
            if isinstance(c, dict):
                name = c.get("name") or component_names.get(str(c.get("code")))
                if name and name not in names:
                    names.append(str(name))
                if name and isinstance(c.get("new_status"), str):
                    states.append((str(name), c["new_status"]))
        # An update without the key says nothing per component; with it (even empty) it does.
        listed = tuple(states) if isinstance(u.get("affected_components"), list) else None
        raw.append(RawUpdate(word=str(u.get("status") or ""), at=at, body_html=_body_html(u.get("body")),
                             components=listed))
    raw.sort(key=lambda r: r.at, reverse=True)
    scheduled_for = _time(item.get("scheduled_for"))
    is_maintenance = (maintenance or scheduled_for is not None
                      or str(item.get("status")) in MAINTENANCE_STATUSES)
    kind = "maintenance" if is_maintenance else "incident"
    updates = resolve_statuses(raw, kind)
    status = updates[0].status if updates else (status_word(str(item.get("status") or ""))
                                                 or ("scheduled" if is_maintenance else "investigating"))
    impact = item.get("impact") if item.get("impact") in IMPACTS else None
    text = " ".join([title, *(htmllib.unescape(u.body_html) for u in updates)])
    return ParsedNotice(
        upstream_id=upstream_id[:500], title=title, kind=kind, status=status,
        url=safe_url(item.get("shortlink")), impact=impact, component_names=names, text=text,
        updates=updates,
        started_at=_time(item.get("started_at")) or _time(item.get("created_at")) or (updates[-1].at if updates else None),
        updated_at=updates[0].at if updates else _time(item.get("updated_at")),
        resolved_at=(_time(item.get("resolved_at")) or resolved_time(status, updates)) if status in (
            "resolved", "postmortem", "completed") else None,
        scheduled_for=scheduled_for, scheduled_until=_time(item.get("scheduled_until")),
    ), problems
