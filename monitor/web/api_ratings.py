"""GET /api/v1/ratings and GET /api/v1/municipalities/CODE: the ratings, explained."""

from __future__ import annotations

import datetime as dt
import json
import re

from flask import Blueprint, Response, jsonify, request
from flask.typing import ResponseReturnValue

from ..rating import queries as rating_queries
from ..rating.documents import MunicipalityDocument
from ..rating.elements import method_document
from ..rating.method import Parameters
from ..rating.service import municipality_document
from .pages import documents
from .pages.cache import cache
from .state import db_session, state

bp = Blueprint("api_ratings", __name__, url_prefix="/api/v1")
# The days a rating can be asked for: no call data predates 2000, and far-future windows
# would overflow the date arithmetic (year 1 minus 30 days) for no use to anyone.
EARLIEST_AS_OF = dt.date(2000, 1, 1)
LATEST_AS_OF = dt.date(2099, 12, 31)
DAY_RE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", re.ASCII)


def _as_of_argument(value: str | None) -> dt.date | None | str:
    """`?as_of=` as a date, None when absent, or an error message (an empty value is no date)."""
    if value is None:
        return None
    try:
        if not DAY_RE.fullmatch(value):  # fromisoformat would also take "2020-W01-1"
            raise ValueError(value)
        day = dt.date.fromisoformat(value)
    except ValueError:
        return f"as_of: not an ISO date (YYYY-MM-DD): {value[:40]!r}"
    if not EARLIEST_AS_OF <= day <= LATEST_AS_OF:
        return f"as_of: must lie between {EARLIEST_AS_OF} and {LATEST_AS_OF}, got {day}"
    return day


@bp.get("/ratings")
def ratings() -> ResponseReturnValue:
    """Every municipality's rating for `?as_of=` (default: today in Copenhagen)."""
    as_of = _as_of_argument(request.args.get("as_of"))
    if isinstance(as_of, str):
        return jsonify(error=as_of), 400
    session = db_session()
    version = documents.versions(session)["ratings"]
    # The document is cached with the pages' fingerprint of its data, and so are its JSON bytes
    # (encoded once, not on every request: the document is some 440 kB for the whole country).
    body = cache().get_or_compute(("ratings.json", as_of, version), lambda: json.dumps(
        documents.ratings_document(session, state().settings, version, as_of), ensure_ascii=False).encode("utf-8"))
    return Response(body, mimetype="application/json")


@bp.get("/municipalities/<code>")
def municipality(code: str) -> ResponseReturnValue:
    """One municipality: rating, history, agreements, IT systems and price."""
    as_of = _as_of_argument(request.args.get("as_of"))
    if isinstance(as_of, str):
        return jsonify(error=as_of), 400
    session = db_session()
    doc: MunicipalityDocument | None
    if as_of is None:
        version = documents.versions(session)["ratings"]
        doc = documents.municipality_document(session, state().settings, code, version)
        if doc is not None:  # its JSON bytes cached beside it, as the ratings' are
            found = doc
            body = cache().get_or_compute(("municipality.json", code, version), lambda: jsonify(found).get_data())
            return Response(body, mimetype="application/json")
    else:
        doc = municipality_document(session, state().settings, code, as_of)
    if doc is None:
        return jsonify(error=f"unknown municipality code: {code[:20]!r}"), 404
    return jsonify(doc)


@bp.get("/method")
def method() -> ResponseReturnValue:
    """The method version, its weights, and each parameter with its value, origin (given/chosen) and why."""
    rating = state().settings.rating
    known = rating_queries.access_control_known(db_session())
    return jsonify(method_document(rating.method_version, Parameters.from_mapping(rating.parameters()), known))
