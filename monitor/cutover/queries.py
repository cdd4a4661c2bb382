"""Cut-over health, the query part: gathers the inputs of `core.evaluate` with SQL aggregates.

Call rows are only ever summed in the database, per agreement, over the handful of observed
and baseline hours; what comes back is one row per agreement that had traffic.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from typing import Any

from sqlalchemy import DateTime, case, func, or_, select, type_coerce
from sqlalchemy.orm import Session

from ..models import (
    Agreement,
    AgreementService,
    CutoverAcknowledgement,
    CutoverTask,
    HourlyCallCount,
    ItSystem,
    Meta,
    Municipality,
    Service,
)
from ..settings import Settings
from . import core
from .core import HOUR, Acknowledgement, AgreementTraffic, FrozenZoneChange, Inputs, Task, Window, floor_hour
from .documents import CutoverDocument


def _parse_instant(value: Any) -> dt.datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        t = dt.datetime.fromisoformat(value)
    except ValueError:
        return None
    return t if t.tzinfo is not None else None  # an instant without offset is not guessed at


def window_for(session: Session, settings: Settings) -> Window:
    """The configured window; else the demo's (meta key "demo"); else none."""
    row = session.get(Meta, "demo") if settings.cutover.start is None and settings.cutover.end is None else None
    return window_from(settings, row.value if row is not None else None)


def window_from(settings: Settings, demo: Any) -> Window:
    """The configured window; else the one in `demo` (the meta row "demo"'s value); else none."""
    c = settings.cutover
    if c.start is not None or c.end is not None:
        return Window(c.start, c.end, c.frozen_zone_start, "config")
    demo = demo if isinstance(demo, dict) else None
    if demo and (_parse_instant(demo.get("cutover_start")) or _parse_instant(demo.get("cutover_end"))):
        return Window(_parse_instant(demo.get("cutover_start")), _parse_instant(demo.get("cutover_end")),
                      c.frozen_zone_start or _parse_instant(demo.get("frozen_zone_start")), "demo")
    return Window(frozen_zone_start=c.frozen_zone_start, source=None)


def newest_complete_hour(session: Session, now: dt.datetime) -> dt.datetime | None:
    """The start of the newest hour bucket with data that had ended by `now` (index on hour)."""
    return session.scalar(select(func.max(HourlyCallCount.hour)).where(HourlyCallCount.hour <= now - HOUR))


def _hours_with_data(session: Session, hours: set[dt.datetime]) -> set[dt.datetime]:
    """Which of `hours` have any call row at all (index on hour)."""
    if not hours:
        return set()
    h = HourlyCallCount
    return {floor_hour(t) for t in session.scalars(select(h.hour).where(h.hour.in_(sorted(hours))).distinct())}


def compared_hours(session: Session, settings: Settings, window: Window, observed: list[dt.datetime]
                   ) -> list[core.Comparison]:
    """The observed hours with the baseline hours they are compared with (`core.comparisons`):
    the window and the planned outages left out, and hours for which no data came at all."""
    left_out = window.spans() + [(o.start, o.end) for o in settings.rating.planned_outages]
    candidates = core.comparisons(observed, settings.cutover, left_out)
    with_data = _hours_with_data(session, {b for _, weeks in candidates for b in weeks})
    return core.comparisons(observed, settings.cutover, left_out, with_data)


def _traffic(session: Session, compared: list[core.Comparison]) -> dict[int, tuple[int, ...]]:
    """Per agreement: observed calls, errors, error calls, error rows, baseline calls, baseline rows."""
    if not compared:
        return {}
    h = HourlyCallCount
    observed = [o for o, _ in compared]
    in_obs = h.hour.in_(observed)
    stmt = (select(h.agreement_id,
                   func.sum(h.calls),
                   func.sum(func.coalesce(h.errors, 0)),
                   func.sum(case((h.errors.is_not(None), h.calls), else_=0)),
                   func.count(case((h.errors.is_not(None), 1))))
            .where(in_obs)
            .group_by(h.agreement_id))
    sums: dict[int, list[int]] = {row[0]: [int(v or 0) for v in row[1:]] for row in session.execute(stmt)}
    # The baseline needs each hour apart (a median per hour over the weeks): one row per
    # agreement and baseline hour, only for rows that exist.
    # They are many (agreements × baseline hours) and hold few distinct hours: each hour is read as
    # the stored naive UTC value and turned into the aware hour once, not once per row.
    base_hours = sorted({b for _, weeks in compared for b in weeks})
    calls: dict[int, dict[dt.datetime, int]] = defaultdict(dict)
    aware: dict[dt.datetime, dt.datetime] = {}
    stored_hour = type_coerce(h.hour, DateTime())
    for agreement_id, hour, n in session.connection().execute(
            select(h.agreement_id, stored_hour, h.calls).where(h.hour.in_(base_hours))):
        key = aware.get(hour)
        if key is None:
            key = aware[hour] = floor_hour(hour.replace(tzinfo=dt.UTC))
        calls[agreement_id][key] = int(n or 0)
    out = {}
    for agreement_id in sums.keys() | calls.keys():
        obs = sums.get(agreement_id, [0, 0, 0, 0])
        by_hour = calls.get(agreement_id, {})
        rows = sum(1 for _, weeks in compared for b in weeks if b in by_hour)
        out[agreement_id] = (*obs, core.agreement_baseline(by_hour, compared), rows)
    return out


def _agreement_info(session: Session, ids: list[int] | None = None) -> dict[int, dict[str, Any]]:
    stmt = (select(Agreement.id, Agreement.uuid, Agreement.municipality_code, Agreement.status,
                   Agreement.it_system_uuid, ItSystem.name, ItSystem.supplier,
                   Agreement.first_seen_at, Agreement.changed_at)
            .join(ItSystem, ItSystem.uuid == Agreement.it_system_uuid))
    services_stmt = select(AgreementService.agreement_id, AgreementService.service_id)
    if ids is not None:
        stmt = stmt.where(Agreement.id.in_(ids))
        services_stmt = services_stmt.where(AgreementService.agreement_id.in_(ids))
    services: dict[int, list[str]] = defaultdict(list)
    for agreement_id, service_id in session.execute(services_stmt):
        services[agreement_id].append(service_id)
    return {row.id: {"uuid": row.uuid, "municipality_code": row.municipality_code, "status": row.status,
                     "it_system_uuid": row.it_system_uuid, "it_system_name": row.name,
                     "supplier": row.supplier, "services": tuple(sorted(services[row.id])),
                     "first_seen_at": row.first_seen_at, "changed_at": row.changed_at}
            for row in session.execute(stmt)}


def _changes(session: Session, frozen_zone_start: dt.datetime | None, now: dt.datetime) -> list[FrozenZoneChange]:
    if frozen_zone_start is None:
        return []
    ids = list(session.scalars(select(Agreement.id).where(
        or_((Agreement.first_seen_at > frozen_zone_start) & (Agreement.first_seen_at <= now),
            (Agreement.changed_at > frozen_zone_start) & (Agreement.changed_at <= now)))))
    info = _agreement_info(session, ids) if ids else {}
    return [FrozenZoneChange(i["uuid"], i["municipality_code"], i["status"], i["it_system_uuid"],
                             i["it_system_name"], i["supplier"], i["services"], i["first_seen_at"],
                             i["changed_at"]) for i in info.values()]


def _tasks(session: Session) -> dict[str, tuple[int, int]]:
    stmt = (select(CutoverTask.municipality_code,
                   func.count(case((CutoverTask.done.is_(True), 1))), func.count())
            .group_by(CutoverTask.municipality_code))
    return {code: (int(done), int(total)) for code, done, total in session.execute(stmt)}


def _task_list(session: Session) -> list[Task]:
    return [Task(t.municipality_code, t.task, bool(t.done), t.deadline)
            for t in session.scalars(select(CutoverTask))]


def _acknowledgements(session: Session, settings: Settings, now: dt.datetime) -> list[Acknowledgement]:
    """The acknowledgements that may still hold at `now`: not ended, given within `ack_hours`."""
    since = now - dt.timedelta(hours=settings.cutover.ack_hours)
    rows = session.scalars(select(CutoverAcknowledgement).where(
        CutoverAcknowledgement.ended_at.is_(None), CutoverAcknowledgement.created_at > since,
        CutoverAcknowledgement.created_at <= now))
    return [Acknowledgement(r.id, r.municipality_code, r.agreement_uuid, r.note, r.operator, r.created_at,
                            r.status, r.ended_at) for r in rows]


def gather(session: Session, settings: Settings, now: dt.datetime) -> tuple[Inputs, list[dt.datetime]]:
    """The inputs of `core.evaluate` at `now`, and the observed hours."""
    now = now.astimezone(dt.UTC)
    window = window_for(session, settings)
    wm = core.watermark(newest_complete_hour(session, now), now)
    observed = core.observed_span(window, now, wm, settings.cutover.lookback_hours)
    compared = compared_hours(session, settings, window, observed)
    sums = _traffic(session, compared)
    info = _agreement_info(session, list(sums)) if sums else {}
    traffic = []
    for agreement_id, (obs, errs, err_calls, err_rows, base, base_rows) in sums.items():
        i = info.get(agreement_id)
        if i is None:  # deleted between the two queries
            continue
        traffic.append(AgreementTraffic(
            i["uuid"], i["municipality_code"], i["status"], i["it_system_uuid"], i["it_system_name"],
            i["supplier"], i["services"], observed_calls=obs, observed_errors=errs,
            observed_error_calls=err_calls, observed_error_rows=err_rows,
            baseline_calls=base, baseline_rows=base_rows))
    municipalities = [(m.code, m.name) for m in session.execute(select(Municipality.code, Municipality.name))]
    service_names = {sid: name for sid, name in session.execute(select(Service.id, Service.name))}
    inputs = Inputs(now=now, window=window, watermark=wm, municipalities=municipalities, traffic=traffic,
                    changes=_changes(session, window.frozen_zone_start, now), tasks=_tasks(session),
                    service_names=service_names, task_list=_task_list(session),
                    acknowledgements=_acknowledgements(session, settings, now), compared=compared)
    return inputs, observed


def cutover_document(session: Session, settings: Settings, now: dt.datetime) -> CutoverDocument:
    """The GET /api/v1/cutover document at `now` (an aware datetime)."""
    inputs, observed = gather(session, settings, now)
    return core.evaluate(inputs, settings.cutover, observed)
