"""GET /api/v1/notices and GET /api/v1/components: operational notices and component status."""

from __future__ import annotations

from flask import Blueprint, jsonify, request
from flask.typing import ResponseReturnValue
from sqlalchemy import select

from ..models import Component
from ..noticeview import components_document, notices_document
from .state import db_session

bp = Blueprint("api_notices", __name__, url_prefix="/api/v1")


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
    return jsonify(notices_document(session, status=status, component=component))


@bp.get("/components")
def components() -> ResponseReturnValue:
    """Every configured component with its status derived from the open notices."""
    return jsonify(components_document(db_session()))
