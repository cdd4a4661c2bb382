"""Blueprint 'pages' (filled in by its issue)."""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("pages", __name__)
