"""POST /api/v1/alertmanager: Alertmanager's webhook, turned into mails to the municipality's mailboxes.

Nothing is accepted without the bearer token of `[alerts] receiver_token` (401; with no token
configured, nothing at all). The body is read up to `[alerts] max_body_bytes` (413 above it);
anything but Alertmanager's webhook JSON is a 400 naming what is wrong. What happens to a
valid notification is `notify.alerts.receive`'s: one mail per group and status, once.
"""

from __future__ import annotations

import hmac
import json
import logging

from flask import Blueprint, jsonify, request
from flask.typing import ResponseReturnValue

from ..notify.alerts import PayloadError, parse, receive
from .auth import now
from .state import csrf, db_session, state

log = logging.getLogger(__name__)
bp = Blueprint("api_alerts", __name__)


def _error(status: int, message: str) -> ResponseReturnValue:
    response = jsonify({"error": message})
    response.status_code = status
    if status == 401:
        response.headers["WWW-Authenticate"] = 'Bearer realm="alertmanager"'
    return response


def _authorised() -> bool:
    expected = state().settings.alerts.receiver_token
    given = request.headers.get("Authorization", "")
    scheme, _, token = given.partition(" ")
    return bool(expected) and scheme.lower() == "bearer" and hmac.compare_digest(
        token.strip().encode("utf-8", "replace"), expected.encode())


@bp.post("/api/v1/alertmanager")
@csrf.exempt
def alertmanager() -> ResponseReturnValue:
    """Receive one Alertmanager notification; answer what was done with it."""
    if not _authorised():
        return _error(401, "a valid bearer token is required")
    limit = state().settings.alerts.max_body_bytes
    if request.content_length is not None and request.content_length > limit:
        return _error(413, f"the body is larger than {limit} bytes")
    body = request.stream.read(limit + 1)
    if len(body) > limit:
        return _error(413, f"the body is larger than {limit} bytes")
    try:
        group = parse(json.loads(body.decode("utf-8")))
    except (UnicodeDecodeError, ValueError) as exc:  # PayloadError and JSONDecodeError are ValueErrors
        return _error(400, str(exc) if isinstance(exc, PayloadError) else "the body is not JSON in UTF-8")
    session = db_session()
    try:
        outcome = receive(session, state().settings, group, now())
    except PayloadError as exc:
        session.rollback()
        return _error(400, str(exc))
    session.commit()
    log.info("alert group %s %s for %s: %s (%d mails)", group.status, group.starts_at, group.municipality,
             outcome.result, outcome.mails)
    return jsonify({"result": outcome.result, "mails": outcome.mails})
