"""Bounds on every request, and a database that goes away answered with 503, never 500.

- A query string longer than `[web] max_query_bytes` is answered 414 before any view runs.
- A NUL or other control character in a query value is answered 400: PostgreSQL refuses NUL
  in text, and no parameter of this service needs one.
- The request's database session is closed before the answer leaves, inside Flask's
  after-request hooks: a connection that dies while the session closes (its rollback fails)
  turns the answer into 503 with Retry-After instead of an error raised after the response,
  which the WSGI server would send as a bare 500.
"""

from __future__ import annotations

import logging
import unicodedata

from flask import Flask, Response, g, jsonify, make_response, request

from .health import unavailable
from .state import state

log = logging.getLogger(__name__)


def problem(status: int, message: str) -> Response:
    """A 4xx answer: JSON for the API, a short bilingual text page otherwise."""
    if request.path.startswith("/api/") or request.accept_mimetypes.best == "application/json":
        response = jsonify(error=message, status=status)
    else:
        response = make_response(f"<!doctype html><title>{status}</title><p>{message}</p>")
    response.status_code = status
    return response


def _control_character(values: list[str]) -> str | None:
    for value in values:
        for ch in value:
            if ch in "\t\n\r":
                continue
            if unicodedata.category(ch) == "Cc":
                return f"U+{ord(ch):04X}"
    return None


def check_request() -> Response | None:
    """Refuse a request whose query string is too long or carries control characters."""
    limit = state().settings.web.max_query_bytes
    size = len(request.query_string)
    if size > limit:
        log.warning("query string of %d bytes refused (limit %d)", size, limit)
        return problem(414, f"the query string is {size} bytes; at most {limit} are accepted")
    values = [*request.args.keys(), *(v for vs in request.args.listvalues() for v in vs)]
    bad = _control_character(values)
    if bad is not None:
        return problem(400, f"a query parameter contains the control character {bad}")
    return None


def close_session(response: Response) -> Response:
    """Close the request's session now; a database gone meanwhile makes the answer 503."""
    session = g.pop("db_session", None)
    if session is None:
        return response
    try:
        session.close()
    except Exception as exc:  # the rollback on a dead connection: the database is away
        log.warning("closing the request's session failed: %s", type(exc).__name__)
        _discard(session)
        return unavailable(exc)
    return response


def _discard(session: object) -> None:
    """Forget a session whose connection broke; nothing raised here reaches the client."""
    try:
        session.invalidate()  # type: ignore[attr-defined]
    except Exception:  # already unusable: the pool replaces the connection on its next checkout
        log.debug("invalidating a broken session failed", exc_info=True)


def teardown_session(exc: BaseException | None) -> None:
    """Close a session opened after the answer was made (an after-request hook); never raises."""
    session = g.pop("db_session", None)
    if session is None:
        return
    try:
        session.close()
    except Exception:
        log.warning("closing a session after the request failed", exc_info=True)
        _discard(session)


def init_app(app: Flask) -> None:
    """Register the checks; call after the blueprints so the session closes before their hooks run."""
    app.before_request(check_request)  # after the request id and the metrics timer
    # after_request hooks run in reverse order of registration: this one runs first.
    app.after_request(close_session)
    app.teardown_appcontext(teardown_session)
