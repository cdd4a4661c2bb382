"""The Atom feed of notices: ``GET /notices.atom[?component=SLUG][&lang=en]``.

One entry per notice (read through `noticeview.notices`), newest change first: its id is a tag
URI that never changes, its title the notice's title as the operator wrote it, its content the
update timeline with each status in words and each time in Copenhagen time with its zone (HTML
sanitised again here), its categories the components. Danish unless `?lang=en`: a feed reader
sends no cookie, so the address alone decides the language (docs/notices.md). Written with
`xml.etree`, which escapes every text it is given.
"""

from __future__ import annotations

import datetime as dt
import html
from typing import Any
from urllib.parse import urlsplit
from xml.etree import ElementTree as ET

from flask import Blueprint, Response, abort, request
from flask_babel import force_locale
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import select
from sqlalchemy.orm import Session

from ..collectors.notices.upstream import sanitize
from ..links import root as links_root
from ..models import Component
from ..noticeview import NoticeView, notices
from .pages.format import CPH, when
from .pages.status import KIND_WORDS, NOTICE_WORDS
from .state import db_session, state

bp = Blueprint("feeds", __name__)

ATOM = "http://www.w3.org/2005/Atom"
MAX_ENTRIES = 100
EPOCH = dt.datetime(2020, 1, 1, tzinfo=dt.UTC)  # "updated" of a feed with no entries yet
LANGUAGES = ("da", "en")
IMPACT_WORDS = {"minor": _l("mindre"), "major": _l("større"), "critical": _l("kritisk")}


def _notices(session: Session, slug: str | None) -> list[NoticeView]:
    """Every notice (open and closed), of one component or all."""
    return notices(session, status="all", component=slug)


def _updated(notice: NoticeView) -> dt.datetime:
    times = [notice.updated_at, notice.started_at, *(u.at for u in notice.updates)]
    present = [t for t in times if t is not None]
    return max(present) if present else EPOCH


def _word(table: dict[str, Any], code: str | None) -> str:
    return str(table.get(code or "", code or "–"))


def _local(value: dt.datetime) -> str:
    """An RFC 3339 instant with the Copenhagen offset, as the pages show it."""
    return value.astimezone(CPH).isoformat()


def _timeline(notice: NoticeView, names: dict[str, str], lang: str) -> str:
    """The entry's HTML: what the notice is, then each update, newest first, with its local time."""
    components = ", ".join(names.get(c, c) for c in notice.components) or _("Hele infrastrukturen")
    head = [_word(KIND_WORDS, notice.kind), _word(NOTICE_WORDS, notice.status), components]
    if notice.impact in IMPACT_WORDS:
        head.insert(2, _("påvirkning: %(impact)s", impact=_word(IMPACT_WORDS, notice.impact)))
    started, planned = notice.started_at, notice.scheduled_for
    if planned:  # a maintenance is planned from … to …; when it was announced is not when it starts
        until = notice.scheduled_until
        head.append(_("planlagt fra %(start)s til %(end)s", start=when(planned, lang), end=when(until, lang))
                    if until else _("planlagt fra %(start)s", start=when(planned, lang)))
    elif started:
        head.append(_("startet %(when)s", when=when(started, lang)))
    parts = ["<p>" + html.escape(" · ".join(head)) + "</p>"]
    for u in sorted(notice.updates, key=lambda u: u.at, reverse=True):
        stamp = f" · {html.escape(when(u.at, lang))}"
        parts.append(f"<p><strong>{html.escape(_word(NOTICE_WORDS, u.status))}</strong>{stamp}</p>"
                     f"{sanitize(u.body_html)}")
    return "".join(parts)


def _sub(parent: ET.Element, tag: str, text: str | None = None, **attrs: str) -> ET.Element:
    el = ET.SubElement(parent, tag, attrs)
    if text is not None:
        el.text = text
    return el


def atom_document(notices: list[NoticeView], base_url: str, names: dict[str, str],
                  slug: str | None, lang: str = "da") -> bytes:
    """The Atom XML for `notices` (already filtered and sorted), its text in `lang`."""
    with force_locale(lang):
        return _atom(notices, base_url, names, slug, lang)


def _atom(notices: list[NoticeView], base_url: str, names: dict[str, str], slug: str | None,
          lang: str) -> bytes:
    host = urlsplit(base_url).hostname or "localhost"
    feed = ET.Element("feed", {"xmlns": ATOM, "xml:lang": lang})
    title = _("Driftsmeddelelser")
    if slug:
        title += f" – {names.get(slug, slug)}"
    # The English feed is another document, so it gets its own id.
    _sub(feed, "id", f"tag:{host},2020:notices" + (f":{slug}" if slug else "") + ("" if lang == "da" else f":{lang}"))
    _sub(feed, "title", f"{title} · Infrastrukturmonitor")
    query = "&".join(([f"component={slug}"] if slug else []) + ([f"lang={lang}"] if lang != "da" else []))
    _sub(feed, "link", rel="self", href=f"{base_url}/notices.atom" + (f"?{query}" if query else ""),
         type="application/atom+xml")
    _sub(feed, "link", rel="alternate", href=f"{base_url}/driftsstatus" + (f"?lang={lang}" if lang != "da" else ""),
         type="text/html")
    entries = sorted(notices, key=_updated, reverse=True)[:MAX_ENTRIES]
    _sub(feed, "updated", _local(_updated(entries[0]) if entries else EPOCH))
    author = _sub(feed, "author")
    _sub(author, "name", "Infrastrukturmonitor")
    for n in entries:
        entry = _sub(feed, "entry")
        _sub(entry, "id", f"tag:{host},2020:notice-{n.id}")
        _sub(entry, "title", n.title)
        _sub(entry, "updated", _local(_updated(n)))
        if n.started_at:
            _sub(entry, "published", _local(n.started_at))
        _sub(entry, "link", rel="alternate", href=f"{base_url}/driftsstatus#notice-{n.id}", type="text/html")
        if n.url:
            _sub(entry, "link", rel="related", href=n.url)
        for c in n.components:
            _sub(entry, "category", term=c, label=names.get(c, c))
        _sub(entry, "content", _timeline(n, names, lang), type="html")
    body: bytes = ET.tostring(feed, encoding="utf-8", xml_declaration=True)
    return body


@bp.get("/notices.atom")
def notices_atom() -> Response:
    """The Atom feed of all notices, or of those concerning one component; Danish unless ?lang=en."""
    session = db_session()
    names = dict(session.execute(select(Component.slug, Component.name)).all())
    slug = request.args.get("component") or None
    if slug is not None and slug not in names:
        abort(404)
    lang = request.args.get("lang", "da") if request.args.get("lang") in LANGUAGES else "da"
    base_url = links_root(state().settings)  # never the request's Host: entry ids must stay stable
    body = atom_document(_notices(session, slug), base_url, names, slug, lang)
    return Response(body, mimetype="application/atom+xml", headers={"Content-Language": lang})
