"""Liveness and readiness: /healthz (process up) and /readyz (database reachable)."""

from __future__ import annotations

import logging

from flask import Blueprint, jsonify, make_response, request
from sqlalchemy import text
from sqlalchemy.exc import OperationalError

from ..app import state

bp = Blueprint("health", __name__)
log = logging.getLogger(__name__)


@bp.get("/healthz")
def healthz():  # type: ignore[no-untyped-def]
    """The process is up and answering."""
    return jsonify(status="ok")


@bp.get("/readyz")
def readyz():  # type: ignore[no-untyped-def]
    """The database answers; the status feed being down does not make this instance unready."""
    try:
        with state().engine.connect() as conn:
            conn.execute(text("SELECT 1"))
    except Exception as exc:  # any driver error means not ready
        return jsonify(status="unavailable", reason=type(exc).__name__), 503
    return jsonify(status="ok")


@bp.app_errorhandler(OperationalError)
def database_unavailable(exc: OperationalError):  # type: ignore[no-untyped-def]
    """The database is down or restarting: answer 503 at once (a load balancer retries), not 500."""
    log.warning("database unavailable: %s", type(exc.orig).__name__ if exc.orig else exc)
    if request.path.startswith("/api/") or request.accept_mimetypes.best == "application/json":
        response = jsonify(error="database unavailable", status=503)
    else:
        response = make_response("<!doctype html><title>503</title><p>Databasen svarer ikke lige nu. "
                                 "Prøv igen om lidt. / The database is not answering; try again shortly.</p>")
    response.status_code = 503
    response.headers["Retry-After"] = "5"
    return response
