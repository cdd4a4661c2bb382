"""GET /api/v1/ratings and GET /api/v1/municipalities/CODE: the ratings, explained."""

from __future__ import annotations

import datetime as dt

from flask import Blueprint, jsonify, request

from ..app import db_session, state
from ..rating.service import municipality_document, ratings_document

bp = Blueprint("api_ratings", __name__, url_prefix="/api/v1")


def _as_of_argument(value: str | None) -> dt.date | None | str:
    """`?as_of=` as a date, None when absent, or an error message."""
    if not value:
        return None
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        return f"as_of: not an ISO date (YYYY-MM-DD): {value!r}"


@bp.get("/ratings")
def ratings():  # type: ignore[no-untyped-def]
    """Every municipality's rating for `?as_of=` (default: today in Copenhagen)."""
    as_of = _as_of_argument(request.args.get("as_of"))
    if isinstance(as_of, str):
        return jsonify(error=as_of), 400
    return jsonify(ratings_document(db_session(), state().settings, as_of))


@bp.get("/municipalities/<code>")
def municipality(code: str):  # type: ignore[no-untyped-def]
    """One municipality: rating, history, agreements, IT systems and price."""
    as_of = _as_of_argument(request.args.get("as_of"))
    if isinstance(as_of, str):
        return jsonify(error=as_of), 400
    doc = municipality_document(db_session(), state().settings, code, as_of)
    if doc is None:
        return jsonify(error=f"unknown municipality code: {code!r}"), 404
    return jsonify(doc)
