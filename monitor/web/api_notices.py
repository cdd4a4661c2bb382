"""JSON API routes under /api/v1 (filled in by its issue)."""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("api_notices", __name__, url_prefix="/api/v1")
