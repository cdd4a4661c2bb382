"""Bounds on every request, and a database that goes away answered with 503, never 500.

- A query string longer than `[web] max_query_bytes` is answered 414 before any view runs.
- A request body larger than `[web] max_body_bytes` (or a route's own bound, `body_limit`) is
  answered 413 before it is read: a declared `Content-Length` is checked first, before any
  hook reads the form, and a chunked body is cut off at the bound (Flask's
  `max_content_length`, which stops the stream there and answers 413).
- A NUL or other control character in a query value is answered 400: PostgreSQL refuses NUL
  in text, and no parameter of this service needs one.
- The request's database session is closed before the answer leaves, inside Flask's
  after-request hooks: a connection that dies while the session closes (its rollback fails)
  turns the answer into 503 with Retry-After instead of an error raised after the response,
  which the WSGI server would send as a bare 500.
"""

from __future__ import annotations

import io
import logging
import unicodedata
from collections.abc import Callable
from typing import Any, TypeVar

from flask import Flask, Response, current_app, g, jsonify, make_response, request
from werkzeug.exceptions import RequestEntityTooLarge

from .. import metrics
from ..settings import Settings
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


BODY_LIMIT_ATTRIBUTE = "max_body_bytes"
ViewT = TypeVar("ViewT", bound=Callable[..., Any])
BodyBound = int | Callable[[Settings], int]


def body_limit(max_bytes: BodyBound) -> Callable[[ViewT], ViewT]:
    """Give one view another bound on its request body than `[web] max_body_bytes`.

    For a route that takes a document as its body (an upload); the forms keep the default.
    The bound is a number of bytes, or a function of the settings that gives one (a key of
    `config.toml`). `monitor serve` lets waitress buffer up to the largest bound of any route.
    """
    def mark(view: ViewT) -> ViewT:
        setattr(view, BODY_LIMIT_ATTRIBUTE, max_bytes)
        return view

    return mark


def route_body_limit(app: Flask, endpoint: str | None, default: int) -> int:
    """The bound on the request body of `endpoint`: its own (`body_limit`), else `default`."""
    view = app.view_functions.get(endpoint or "")
    bound = getattr(view, BODY_LIMIT_ATTRIBUTE, None)
    if callable(bound):
        bound = bound(state(app).settings)
    return bound if isinstance(bound, int) else default


def largest_body_bytes(app: Flask, default: int) -> int:
    """The largest body any route of `app` accepts: what the WSGI server may buffer at most."""
    return max([default, *(route_body_limit(app, name, default) for name in app.view_functions)])


def check_body() -> Response | None:
    """Refuse a body over the route's bound before anything reads it; cut a chunked one off there."""
    limit = route_body_limit(current_app, request.endpoint, state().settings.web.max_body_bytes)
    request.max_content_length = limit  # the stream stops here too: a chunked body declares no length
    declared = request.content_length
    if declared is not None and declared > limit:
        log.warning("request body of %d bytes refused (limit %d)", declared, limit)
        return refused_body(limit)
    chunked = "chunked" in request.headers.get("Transfer-Encoding", "").lower()
    if declared is None and chunked and request.environ.get("wsgi.input_terminated"):
        # Chunked: werkzeug would silently parse only the first `limit` bytes. Read at most one
        # byte past the bound here, refuse the body if it is there, else hand on what was read.
        body = _read_at_most(request.environ["wsgi.input"], limit + 1)
        if len(body) > limit:
            log.warning("chunked request body over %d bytes refused", limit)
            return refused_body(limit)
        request.environ.update({"wsgi.input": io.BytesIO(body), "CONTENT_LENGTH": str(len(body))})
        request.environ.pop("HTTP_TRANSFER_ENCODING", None)
    return None


def _read_at_most(stream: Any, size: int) -> bytes:
    chunks, left = [], size
    while left > 0:
        chunk = stream.read(min(left, 65_536))
        if not chunk:
            break
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)


def refused_body(limit: int) -> Response:
    """`too_large`, counted in the request metrics: this hook runs before their timer starts."""
    endpoint = request.url_rule.rule if request.url_rule is not None else "unmatched"
    metrics.observe_request(request.method, endpoint, 413, 0.0)
    return too_large(limit)


def too_large(limit: int) -> Response:
    """413 for a body over `limit`; the connection is closed rather than the rest of the body read."""
    response = problem(413, f"the request body is larger than {limit:,} bytes; it was not read")
    response.headers["Connection"] = "close"
    return response


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
    # First of all before-request hooks: CSRF protection reads the form, so the body's bound
    # must be checked before it runs.
    app.before_request_funcs.setdefault(None, []).insert(0, check_body)
    app.register_error_handler(RequestEntityTooLarge, lambda exc: too_large(request.max_content_length or 0))
    app.before_request(check_request)  # after the request id and the metrics timer
    # after_request hooks run in reverse order of registration: this one runs first.
    app.after_request(close_session)
    app.teardown_appcontext(teardown_session)
