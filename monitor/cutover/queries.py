"""Cut-over health, the query part: gathers the inputs of `core.evaluate` with SQL aggregates.

Call rows are only ever summed in the database, per agreement, over the handful of observed
and baseline hours; what comes back is one row per agreement that had traffic. For one
municipality (`municipality_status`) the same queries read only its agreements, tasks and
acknowledgements; the window, the watermark and the hours compared are the country's.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from typing import Any

from sqlalchemy import ColumnElement, DateTime, case, func, or_, select, true, type_coerce
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
from .documents import CutoverDocument, MunicipalityStatus


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


def _of(code: str | None) -> ColumnElement[bool]:
    """Agreements of the municipality `code`, or all of them for None."""
    return true() if code is None else Agreement.municipality_code == code


def _traffic(session: Session, compared: list[core.Comparison], code: str | None = None
             ) -> dict[int, tuple[int, ...]]:
    """Per agreement (of the municipality `code`, or of all): observed calls, errors, error calls,
    error rows, baseline calls, baseline rows."""
    if not compared:
        return {}
    h = HourlyCallCount
    # The primary key (agreement_id, hour) finds one municipality's rows without reading the hour's others.
    mine = true() if code is None else h.agreement_id.in_(select(Agreement.id).where(_of(code)))
    observed = [o for o, _ in compared]
    in_obs = h.hour.in_(observed)
    stmt = (select(h.agreement_id,
                   func.sum(h.calls),
                   func.sum(func.coalesce(h.errors, 0)),
                   func.sum(case((h.errors.is_not(None), h.calls), else_=0)),
                   func.count(case((h.errors.is_not(None), 1))))
            .where(in_obs, mine)
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
            select(h.agreement_id, stored_hour, h.calls).where(h.hour.in_(base_hours), mine)):
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


def _changes(session: Session, frozen_zone_start: dt.datetime | None, now: dt.datetime,
             code: str | None = None) -> list[FrozenZoneChange]:
    if frozen_zone_start is None:
        return []
    ids = list(session.scalars(select(Agreement.id).where(
        or_((Agreement.first_seen_at > frozen_zone_start) & (Agreement.first_seen_at <= now),
            (Agreement.changed_at > frozen_zone_start) & (Agreement.changed_at <= now)), _of(code))))
    info = _agreement_info(session, ids) if ids else {}
    return [FrozenZoneChange(i["uuid"], i["municipality_code"], i["status"], i["it_system_uuid"],
                             i["it_system_name"], i["supplier"], i["services"], i["first_seen_at"],
                             i["changed_at"]) for i in info.values()]


def _task_list(session: Session, code: str | None = None) -> list[Task]:
    stmt = select(CutoverTask)
    if code is not None:
        stmt = stmt.where(CutoverTask.municipality_code == code)
    return [Task(t.municipality_code, t.task, bool(t.done), t.deadline) for t in session.scalars(stmt)]


def _tasks(tasks: list[Task]) -> dict[str, tuple[int, int]]:
    """Per municipality: (tasks done, tasks)."""
    counts: dict[str, tuple[int, int]] = {}
    for t in tasks:
        done, total = counts.get(t.municipality_code, (0, 0))
        counts[t.municipality_code] = (done + t.done, total + 1)
    return counts


def _acknowledgements(session: Session, settings: Settings, now: dt.datetime,
                      code: str | None = None) -> list[Acknowledgement]:
    """The acknowledgements that may still hold at `now`: not ended, given within `ack_hours`."""
    since = now - dt.timedelta(hours=settings.cutover.ack_hours)
    a = CutoverAcknowledgement
    rows = session.scalars(select(a).where(
        a.ended_at.is_(None), a.created_at > since, a.created_at <= now,
        true() if code is None else a.municipality_code == code))
    return [Acknowledgement(r.id, r.municipality_code, r.agreement_uuid, r.note, r.operator, r.created_at,
                            r.status, r.ended_at) for r in rows]


def gather(session: Session, settings: Settings, now: dt.datetime, code: str | None = None
           ) -> tuple[Inputs, list[dt.datetime]]:
    """The inputs of `core.evaluate` at `now`, and the observed hours.

    With `code`, the inputs of that municipality alone: its agreements' traffic, its changes,
    tasks and acknowledgements, and no service names (only the national view uses them).
    """
    now = now.astimezone(dt.UTC)
    window = window_for(session, settings)
    wm = core.watermark(newest_complete_hour(session, now), now)
    observed = core.observed_span(window, now, wm, settings.cutover.lookback_hours)
    compared = compared_hours(session, settings, window, observed)
    sums = _traffic(session, compared, code)
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
    m = Municipality
    municipalities = [(row.code, row.name) for row in session.execute(
        select(m.code, m.name).where(true() if code is None else m.code == code))]
    service_names = ({} if code is not None
                     else {sid: name for sid, name in session.execute(select(Service.id, Service.name))})
    task_list = _task_list(session, code)
    inputs = Inputs(now=now, window=window, watermark=wm, municipalities=municipalities, traffic=traffic,
                    changes=_changes(session, window.frozen_zone_start, now, code), tasks=_tasks(task_list),
                    service_names=service_names, task_list=task_list,
                    acknowledgements=_acknowledgements(session, settings, now, code), compared=compared)
    return inputs, observed


def cutover_document(session: Session, settings: Settings, now: dt.datetime) -> CutoverDocument:
    """The GET /api/v1/cutover document at `now` (an aware datetime)."""
    inputs, observed = gather(session, settings, now)
    return core.evaluate(inputs, settings.cutover, observed)


def municipality_status(session: Session, settings: Settings, now: dt.datetime, code: str
                        ) -> MunicipalityStatus | None:
    """The municipality `code`'s element of `cutover_document(session, settings, now)`, read from
    its own rows only; None for an unknown code."""
    inputs, _ = gather(session, settings, now, code)
    return core.evaluate_municipality(inputs, settings.cutover, code)
