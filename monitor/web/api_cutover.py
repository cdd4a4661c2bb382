"""GET /api/v1/cutover: cut-over health of every municipality and of the whole platform."""

from __future__ import annotations

import datetime as dt

from flask import Blueprint, jsonify, request
from flask.typing import ResponseReturnValue

from ..cutover import cutover_document
from ..cutover.core import iso
from ..cutover.documents import public_document
from .pages import documents
from .state import db_session, state

bp = Blueprint("api_cutover", __name__, url_prefix="/api/v1")
# The years an instant may be written in (the arithmetic on hours and baselines needs room).
EARLIEST_YEAR, LATEST_YEAR = 2000, 2099


def _now_argument(value: str | None) -> dt.datetime | str:
    """`?now=` as an aware instant, or an error message (an empty value is no instant)."""
    if value is None:
        return dt.datetime.now(dt.UTC)
    shown = value[:40]
    try:
        if not value.isascii():
            raise ValueError(value)
        t = dt.datetime.fromisoformat(value.replace(" ", "+"))  # a '+' in a query string arrives as a space
    except ValueError:
        return f"now: not an ISO 8601 date-time with offset: {shown!r}"
    if t.tzinfo is None:
        return f"now: give an offset, e.g. {shown}+01:00"
    # Checked before converting: 9999-12-31T23:59:59-14:00 is past the last UTC instant.
    if not EARLIEST_YEAR <= t.year <= LATEST_YEAR:
        return f"now: must lie in the years {EARLIEST_YEAR}–{LATEST_YEAR}, got {shown!r}"
    return t.astimezone(dt.UTC)


@bp.get("/cutover")
def cutover() -> ResponseReturnValue:
    """Cut-over health at `?now=` (default: the current time, computed once per fingerprint of its data)."""
    if "now" not in request.args:
        session = db_session()
        now = dt.datetime.now(dt.UTC)
        doc = documents.cutover_document(session, state().settings, now, documents.versions(session, now)["cutover"])
        # The same fingerprint gives the same document at any instant: only its time is this request's.
        return jsonify({**public_document(doc), "now": iso(now)})
    at = _now_argument(request.args.get("now"))
    if isinstance(at, str):
        return jsonify(error=at), 400
    return jsonify(public_document(cutover_document(db_session(), state().settings, at)))
