"""GET /api/v1/components/SLUG/availability: a component's daily availability figures."""

from __future__ import annotations

import datetime as dt

from flask import Blueprint, jsonify, request
from flask.typing import ResponseReturnValue

from .. import availability as av
from .auth import now as clock_now
from .pages.cache import cache
from .pages.documents import versions
from .state import db_session, state

bp = Blueprint("api_availability", __name__, url_prefix="/api/v1")
DEFAULT_DAYS = 90


def _ratio(value: float | None) -> float | None:
    return None if value is None else round(value, 6)


def day_json(day: av.DayFigures, weight: float) -> dict[str, object]:
    """One day in the shape of GET /api/v1/components/SLUG/availability."""
    return {"date": day.day.isoformat(), "minutes": day.minutes, "major_minutes": day.major,
            "partial_minutes": day.partial, "degraded_minutes": day.degraded,
            "maintenance_minutes": day.maintenance, "availability": _ratio(day.availability(weight))}


def component_document(record: av.ComponentRecord, weight: float, now: dt.datetime, days: int) -> dict[str, object]:
    """The document of GET /api/v1/components/SLUG/availability: the last `days` days and the 30 and 90 days."""
    windows = {f"{n}d": _ratio(av.availability(record.last(n), weight)) for n in (30, 90)}
    return {"component": record.slug, "now": now.astimezone(dt.UTC).isoformat(), "partial_weight": weight,
            "days": [day_json(d, weight) for d in record.last(days)], "availability": windows}


@bp.get("/components/<slug>/availability")
def component_availability(slug: str) -> ResponseReturnValue:
    """The last ``?days=N`` (1–366, default 90) Copenhagen days of one component, and its 30 and 90 days."""
    raw = request.args.get("days", str(DEFAULT_DAYS))
    if not (raw.isascii() and raw.isdigit() and len(raw) <= 3 and 1 <= int(raw) <= av.MAX_DAYS):
        return jsonify(error=f"days: expected a whole number from 1 to {av.MAX_DAYS}, got {raw[:20]!r}"), 400
    days = int(raw)
    settings = state().settings
    if slug not in settings.component_slugs():
        return jsonify(error=f"component: unknown component {slug[:60]!r}"), 404
    session = db_session()
    now = clock_now()
    key = ("availability-api", slug, days, versions(session, now)["notices"], now.replace(second=0, microsecond=0))

    def compute() -> dict[str, object] | None:
        record = av.component_record(session, settings, slug, now, days)
        return None if record is None else component_document(record, settings.availability.partial_weight, now, days)

    return jsonify(cache().get_or_compute(key, compute))
