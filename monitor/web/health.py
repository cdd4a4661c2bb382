"""Liveness and readiness: /healthz (process up) and /readyz (database reachable)."""

from __future__ import annotations

import logging

from flask import Blueprint, Response, jsonify, make_response, request
from flask.typing import ResponseReturnValue
from sqlalchemy import text
from sqlalchemy.exc import DataError, DBAPIError, InterfaceError, OperationalError, PendingRollbackError

from .state import state

bp = Blueprint("health", __name__)
log = logging.getLogger(__name__)


@bp.get("/healthz")
def healthz() -> ResponseReturnValue:
    """The process is up and answering."""
    return jsonify(status="ok")


@bp.get("/readyz")
def readyz() -> ResponseReturnValue:
    """The database answers; the status feed being down does not make this instance unready."""
    try:
        with state().engine.connect() as conn:
            conn.execute(text("SELECT 1"))
    except Exception as exc:  # any driver error means not ready
        return jsonify(status="unavailable", reason=type(exc).__name__), 503, {"Retry-After": "5"}
    return jsonify(status="ok")


def unavailable(exc: BaseException | None = None) -> Response:
    """503 with Retry-After: the database is down or restarting (a load balancer retries), not 500.

    Builds its answer from nothing that can fail: no template, no database, no translation.
    """
    orig = getattr(exc, "orig", None)
    log.warning("database unavailable: %s", type(orig or exc).__name__)
    if request.path.startswith("/api/") or request.accept_mimetypes.best == "application/json":
        response = jsonify(error="database unavailable", status=503)
    else:
        response = make_response("<!doctype html><title>503</title><p>Databasen svarer ikke lige nu. "
                                 "Prøv igen om lidt. / The database is not answering; try again shortly.</p>")
    response.status_code = 503
    response.headers["Retry-After"] = "5"
    return response


@bp.app_errorhandler(OperationalError)
@bp.app_errorhandler(InterfaceError)
@bp.app_errorhandler(PendingRollbackError)
def database_unavailable(exc: Exception) -> ResponseReturnValue:
    """The connection broke or the server is away (psycopg: OperationalError, InterfaceError)."""
    return unavailable(exc)


@bp.app_errorhandler(DataError)
def value_refused(exc: DataError) -> ResponseReturnValue:
    """The database refused a value taken from the request (out of range, a NUL): the caller's 400."""
    log.warning("the database refused a value: %s", type(exc.orig).__name__ if exc.orig else exc)
    if request.path.startswith("/api/"):
        return jsonify(error="a parameter is not valid", status=400), 400
    return make_response("<!doctype html><title>400</title><p>Ugyldig forespørgsel. / Bad request.</p>", 400)


@bp.app_errorhandler(DBAPIError)
def driver_error(exc: DBAPIError) -> ResponseReturnValue:
    """Any other driver error: 503 when it invalidated the connection, else the error it is."""
    if exc.connection_invalidated:
        return unavailable(exc)
    raise exc
