"""GET /api/v1/cutover: cut-over health of every municipality and of the whole platform."""

from __future__ import annotations

import datetime as dt

from flask import Blueprint, jsonify, request

from ..app import db_session, state
from ..cutover import cutover_document
from . import pages_data

bp = Blueprint("api_cutover", __name__, url_prefix="/api/v1")


def _now_argument(value: str | None) -> dt.datetime | str:
    """`?now=` as an aware instant, or an error message."""
    if not value:
        return dt.datetime.now(dt.UTC)
    try:
        t = dt.datetime.fromisoformat(value.replace(" ", "+"))  # a '+' in a query string arrives as a space
    except ValueError:
        return f"now: not an ISO 8601 date-time: {value!r}"
    if t.tzinfo is None:
        return f"now: give an offset, e.g. {value}+01:00"
    return t.astimezone(dt.UTC)


@bp.get("/cutover")
def cutover():  # type: ignore[no-untyped-def]
    """Cut-over health at `?now=` (default: the current time, computed at most once a minute per process)."""
    if not request.args.get("now"):
        session = db_session()
        now = dt.datetime.now(dt.UTC)
        return jsonify(pages_data.cutover_document(session, state().settings, now,
                                                   pages_data.versions(session, now)["cutover"]))
    now = _now_argument(request.args.get("now"))
    if isinstance(now, str):
        return jsonify(error=now), 400
    return jsonify(cutover_document(db_session(), state().settings, now))
