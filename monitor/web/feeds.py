"""The Atom feed of notices: ``GET /notices.atom[?component=SLUG]``.

One entry per notice (read through `notices_document`), newest change first: its id is a tag URI that never changes, its
content the notice's update timeline (HTML sanitised again here), its categories the
components. Written with `xml.etree`, which escapes every text it is given.
"""

from __future__ import annotations

import datetime as dt
import html
from typing import Any
from urllib.parse import urlsplit
from xml.etree import ElementTree as ET

from flask import Blueprint, Response, abort, request
from flask_babel import get_locale
from flask_babel import gettext as _
from sqlalchemy import select
from sqlalchemy.orm import Session

from ..app import db_session, state
from ..collectors.upstream import sanitize
from ..models import Component
from ..notices import notices_document

bp = Blueprint("feeds", __name__)

ATOM = "http://www.w3.org/2005/Atom"
MAX_ENTRIES = 100
EPOCH = dt.datetime(2020, 1, 1, tzinfo=dt.UTC)  # "updated" of a feed with no entries yet


def _as_time(value: Any) -> dt.datetime | None:
    if value is None or isinstance(value, dt.datetime):
        return value
    return dt.datetime.fromisoformat(str(value))


def _notices(session: Session, slug: str | None) -> list[dict[str, Any]]:
    """Every notice (open and closed) in the shape of ``GET /api/v1/notices``."""
    return list(notices_document(session, status="all", component=slug)["notices"])


def _updated(notice: dict[str, Any]) -> dt.datetime:
    times = [_as_time(notice.get("updated_at")), _as_time(notice.get("started_at"))]
    times += [_as_time(u.get("at")) for u in notice.get("updates", [])]
    present = [t for t in times if t is not None]
    return max(present) if present else EPOCH


def _timeline(notice: dict[str, Any]) -> str:
    parts = []
    for u in sorted(notice.get("updates", []), key=lambda u: _as_time(u["at"]) or EPOCH, reverse=True):
        at = _as_time(u["at"])
        when = at.isoformat() if at else ""
        parts.append(f"<p><strong>{html.escape(u['status'])}</strong> ({html.escape(when)})</p>"
                     f"{sanitize(u.get('body_html') or '')}")
    return "".join(parts)


def _sub(parent: ET.Element, tag: str, text: str | None = None, **attrs: str) -> ET.Element:
    el = ET.SubElement(parent, tag, attrs)
    if text is not None:
        el.text = text
    return el


def atom_document(notices: list[dict[str, Any]], base_url: str, names: dict[str, str],
                  slug: str | None) -> bytes:
    """The Atom XML for `notices` (already filtered and sorted)."""
    host = urlsplit(base_url).hostname or "localhost"
    feed = ET.Element("feed", {"xmlns": ATOM, "xml:lang": str(get_locale() or "da")})
    title = _("Driftsmeddelelser")
    if slug:
        title += f" – {names.get(slug, slug)}"
    _sub(feed, "id", f"tag:{host},2020:notices" + (f":{slug}" if slug else ""))
    _sub(feed, "title", f"{title} · Infrastrukturmonitor")
    self_url = f"{base_url}/notices.atom" + (f"?component={slug}" if slug else "")
    _sub(feed, "link", rel="self", href=self_url, type="application/atom+xml")
    _sub(feed, "link", rel="alternate", href=f"{base_url}/driftsstatus", type="text/html")
    entries = sorted(notices, key=_updated, reverse=True)[:MAX_ENTRIES]
    _sub(feed, "updated", (_updated(entries[0]) if entries else EPOCH).isoformat())
    author = _sub(feed, "author")
    _sub(author, "name", "Infrastrukturmonitor")
    for n in entries:
        entry = _sub(feed, "entry")
        _sub(entry, "id", f"tag:{host},2020:notice-{n['id']}")
        _sub(entry, "title", f"{n['title']} ({n['status']})")
        _sub(entry, "updated", _updated(n).isoformat())
        started = _as_time(n.get("started_at"))
        if started:
            _sub(entry, "published", started.isoformat())
        _sub(entry, "link", rel="alternate", href=f"{base_url}/driftsstatus#notice-{n['id']}", type="text/html")
        if n.get("url"):
            _sub(entry, "link", rel="related", href=str(n["url"]))
        for c in n.get("components", []):
            _sub(entry, "category", term=c, label=names.get(c, c))
        _sub(entry, "content", _timeline(n), type="html")
    return ET.tostring(feed, encoding="utf-8", xml_declaration=True)


@bp.get("/notices.atom")
def notices_atom() -> Response:
    """The Atom feed of all notices, or of those concerning one component."""
    session = db_session()
    names = dict(session.execute(select(Component.slug, Component.name)).all())
    slug = request.args.get("component") or None
    if slug is not None and slug not in names:
        abort(404)
    base_url = state().settings.web.base_url.rstrip("/")
    body = atom_document(_notices(session, slug), base_url, names, slug)
    return Response(body, mimetype="application/atom+xml")
