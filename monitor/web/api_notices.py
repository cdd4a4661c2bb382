"""GET /api/v1/notices and GET /api/v1/components: operational notices and component status."""

from __future__ import annotations

import datetime as dt
from typing import Any

from flask import Blueprint, jsonify, request
from flask.typing import ResponseReturnValue
from sqlalchemy import select

from .. import noticeview
from ..models import Component
from ..noticeview import ComponentView, NoticeView
from .state import db_session

bp = Blueprint("api_notices", __name__, url_prefix="/api/v1")


def _iso(t: dt.datetime | None) -> str | None:
    return t.isoformat() if t else None


def notice_json(notice: NoticeView) -> dict[str, Any]:
    """One notice in the shape of GET /api/v1/notices (updates newest first)."""
    return {
        "id": notice.id, "title": notice.title, "kind": notice.kind, "status": notice.status,
        "impact": notice.impact, "components": list(notice.components), "url": notice.url,
        "started_at": _iso(notice.started_at), "updated_at": _iso(notice.updated_at),
        "resolved_at": _iso(notice.resolved_at), "scheduled_for": _iso(notice.scheduled_for),
        "scheduled_until": _iso(notice.scheduled_until),
        "updates": [{"status": u.status, "body_html": u.body_html, "at": _iso(u.at)} for u in notice.updates],
    }


def notices_document(views: list[NoticeView]) -> dict[str, Any]:
    """The document of GET /api/v1/notices: ``{"notices": [...]}``."""
    return {"notices": [notice_json(n) for n in views]}


def components_document(views: list[ComponentView]) -> dict[str, Any]:
    """The document of GET /api/v1/components: ``{"components": [{"slug", "name", "status"}]}``."""
    return {"components": [{"slug": c.slug, "name": c.name, "status": c.status} for c in views]}


@bp.get("/notices")
def notices() -> ResponseReturnValue:
    """Open notices (``?status=all`` for history too), optionally for one ``?component=SLUG``."""
    status = request.args.get("status", "open")
    if status not in ("open", "all"):
        return jsonify(error=f"status: expected \"open\" or \"all\", got {status!r}"), 400
    component = request.args.get("component")
    if component == "":
        return jsonify(error="component: empty; leave the parameter out for every component"), 400
    session = db_session()
    if component is not None and session.get(Component, component) is None:
        slugs = ", ".join(session.scalars(select(Component.slug).order_by(Component.position)))
        return jsonify(error=f"component: unknown component {component!r} (known: {slugs})"), 400
    return jsonify(notices_document(noticeview.notices(session, status=status, component=component)))


@bp.get("/components")
def components() -> ResponseReturnValue:
    """Every configured component with its status derived from the open notices."""
    return jsonify(components_document(noticeview.components(db_session())))
