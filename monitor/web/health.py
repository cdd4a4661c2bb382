"""Liveness and readiness: /healthz (process up) and /readyz (database reachable)."""

from __future__ import annotations

from flask import Blueprint, jsonify
from sqlalchemy import text

from ..app import state

bp = Blueprint("health", __name__)


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
