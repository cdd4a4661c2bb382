"""The thin query layer: gathers the rating's inputs with aggregate SQL.

Call rows are summed in the database, grouped by agreement; Python only sees one row per
agreement. A day's calls for an agreement are its daily count when one exists, else the sum of
its hourly counts with that Copenhagen day: every query here reads them from `agreement_days`,
one row per agreement and day, kept so by every import (`monitor.daytable`), so a year of hourly
rows costs the rating what a month does. The rating's sums read the whole weeks of their span
from `agreement_weeks` instead, the sums of those day rows, and only the other days from
`agreement_days` (`monitor.weektable`): a third of the rows. The pages' charts of calls per day
read the day rows through `calls_by_day`.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass
from typing import Any, NamedTuple

from sqlalchemy import (
    BigInteger,
    BindParameter,
    ColumnElement,
    Date,
    FromClause,
    Integer,
    Select,
    and_,
    bindparam,
    case,
    cast,
    exists,
    func,
    or_,
    select,
    text,
    union_all,
)
from sqlalchemy.orm import Session

from .. import weektable
from ..db import is_postgres
from ..localtime import CPH
from ..models import (
    Agreement,
    AgreementDay,
    AgreementService,
    AgreementWeek,
    HourlyCallCount,
    ItSystem,
    Municipality,
)
from .method import AgreementInput, MunicipalityInput, Parameters, window

DAYS = AgreementDay.__table__
WEEKS = AgreementWeek.__table__


class CallSums(NamedTuple):
    """Calls of one agreement in the rating window and in the redundancy period."""

    window: int = 0
    recent: int = 0


class AgreementRow(NamedTuple):
    """An agreement as stored (any status), with its IT system and services."""

    id: int
    uuid: str
    municipality_code: str
    it_system_uuid: str
    it_system_name: str | None
    supplier: str | None
    status: str
    valid_from: dt.date | None
    valid_to: dt.date | None
    services: frozenset[str] = frozenset()


@dataclass(frozen=True)
class Gathered:
    """Everything the method needs for one as_of, plus what the pages show beside it."""

    inputs: list[MunicipalityInput]
    missing_days: list[dt.date]
    data_through: dt.date | None


def _span(as_of: dt.date, params: Parameters) -> tuple[dt.date, dt.date, dt.date, dt.date]:
    window_start, end = window(as_of, params.window_days)
    recent_start, _ = window(as_of, params.redundant_after_days)
    return min(window_start, recent_start), window_start, recent_start, end


def _sums(session: Session, as_of: dt.date, params: Parameters, municipality_code: str | None = None
          ) -> tuple[FromClause, ColumnElement[bool], dict[str, Any]]:
    """A FROM clause of each agreement's (window, recent) calls, its ON clause with `Agreement`,
    and the values of its parameters.

    The span's whole weeks (`agreement_weeks`) and other days (`agreement_days`) grouped by
    agreement (only `municipality_code`'s agreements' rows when given: the rows are filtered
    before the join), joined on the agreement's id. An agreement without rows in the span gets
    NULL sums.
    """
    return (*_sums_of(municipality_code), span_values(session, as_of, params))


def span_values(session: Session, as_of: dt.date, params: Parameters) -> dict[str, Any]:
    """The parameters of `_sums_of`'s statement for `as_of`: the weeks and days to read, the boundaries."""
    start, window_start, recent_start, end = _span(as_of, params)
    plan = weektable.span_plan(session, start, window_start, recent_start, end)
    return {"weeks": plan.weeks, "days": plan.days, "window_week": plan.window_week,
            "recent_week": plan.recent_week, "window_start": window_start, "recent_start": recent_start}


def _sums_of(municipality_code: str | None = None) -> tuple[FromClause, ColumnElement[bool]]:
    # `_sums`' statement; its parameters are `span_values`'.
    weeks: BindParameter[int] = bindparam("weeks", expanding=True)
    days = bindparam("days", expanding=True, type_=Date())
    window_week, recent_week = bindparam("window_week", type_=Integer()), bindparam("recent_week", type_=Integer())
    window_start, recent_start = (bindparam(name, type_=Date()) for name in ("window_start", "recent_start"))
    weekly = select(WEEKS.c.agreement_id.label("agreement_id"),
                    case((WEEKS.c.week >= window_week, WEEKS.c.calls), else_=0).label("window"),
                    case((WEEKS.c.week >= recent_week, WEEKS.c.calls), else_=0).label("recent")
                    ).where(WEEKS.c.week.in_(weeks))
    daily = select(DAYS.c.agreement_id, case((DAYS.c.day >= window_start, DAYS.c.calls), else_=0),
                   case((DAYS.c.day >= recent_start, DAYS.c.calls), else_=0)).where(DAYS.c.day.in_(days))
    if municipality_code is not None:
        own = select(Agreement.id).where(Agreement.municipality_code == municipality_code).correlate(None)
        weekly, daily = weekly.where(WEEKS.c.agreement_id.in_(own)), daily.where(DAYS.c.agreement_id.in_(own))
    rows = union_all(weekly, daily).subquery("span_rows")
    # As bigint: PostgreSQL's sum of a bigint is a numeric, read as a Decimal per value.
    in_span = (select(rows.c.agreement_id, cast(func.sum(rows.c.window), BigInteger).label("window"),
                      cast(func.sum(rows.c.recent), BigInteger).label("recent"))
               .group_by(rows.c.agreement_id).subquery("sums"))
    return in_span, in_span.c.agreement_id == Agreement.id


def call_sums(session: Session, as_of: dt.date, params: Parameters,
              municipality_code: str | None = None) -> dict[int, CallSums]:
    """Per agreement id with day rows in the span: calls in the window and in the redundant_after_days
    before as_of."""
    sums, on, values = _sums(session, as_of, params, municipality_code)
    q = select(Agreement.id, sums.c.window, sums.c.recent).join(sums, on)
    if municipality_code is not None:
        q = q.where(Agreement.municipality_code == municipality_code)
    return {agreement_id: CallSums(int(in_window or 0), int(recent or 0))
            for agreement_id, in_window, recent in session.connection().execute(q, values).all()
            if in_window is not None}


def calls_by_day(session: Session, municipality_code: str, first: dt.date, last: dt.date
                 ) -> list[tuple[dt.date, int]]:
    """(day, calls under all the municipality's agreements) for every day from first to last; 0 without data."""
    q = (select(DAYS.c.day, func.sum(DAYS.c.calls))
         .where(DAYS.c.day.between(first, last),
                DAYS.c.agreement_id.in_(select(Agreement.id).where(Agreement.municipality_code == municipality_code)))
         .group_by(DAYS.c.day))
    per_day = {day: int(calls or 0) for day, calls in session.execute(q)}
    return [(d, per_day.get(d, 0)) for d in (first + dt.timedelta(days=i) for i in range((last - first).days + 1))]


# The days that have day rows, each found by one probe of the key (day, agreement_id) after the
# one before: as many probes as days, in one static statement (compiled once).
PRESENT_DAYS = text("""
WITH RECURSIVE present(day) AS (
    SELECT min(day) FROM agreement_days WHERE day BETWEEN :start AND :end
    UNION ALL
    SELECT (SELECT min(later.day) FROM agreement_days AS later WHERE later.day > present.day AND later.day <= :end)
    FROM present WHERE present.day IS NOT NULL
)
SELECT day FROM present WHERE day IS NOT NULL
""").columns(day=Date)


def missing_days(session: Session, start: dt.date, end: dt.date) -> list[dt.date]:
    """Days from start to end (inclusive) with no count at all, daily or hourly, for any agreement."""
    days = [start + dt.timedelta(days=i) for i in range((end - start).days + 1)]
    if not days:
        return []
    present = set(session.scalars(PRESENT_DAYS, {"start": start, "end": end}))
    return [d for d in days if d not in present]


def data_through(session: Session) -> dt.date | None:
    """The last day with any call data (daily or hourly)."""
    return session.scalar(select(func.max(AgreementDay.day)))


def day_complete(session: Session, day: dt.date) -> bool:
    """Whether `day`'s calls are all in: a daily count for it, its last hour (23:00 Copenhagen), or a later day.

    Hourly files arrive in order, so a file for a later hour means the day before is whole.
    """
    last_hour = dt.datetime.combine(day, dt.time(23), CPH).astimezone(dt.UTC)
    days, hourly = AgreementDay.__table__, HourlyCallCount.__table__
    # Any day row after `day`, a daily count's or an hour's: every count has one.
    probes = [exists().where(days.c.day == day, days.c.daily), exists().where(hourly.c.hour == last_hour),
              exists().where(days.c.day > day)]
    return bool(session.execute(select(or_(*probes))).scalar())


SERVICE_SEPARATOR = "\x1f"  # the ASCII unit separator, a control character that service ids (SF1520) lack


def _agreements(municipality_code: str | None = None, active_on: dt.date | None = None) -> Select[Any]:
    """Agreements with IT system and services (joined into one string), optionally filtered."""
    services = (select(AgreementService.agreement_id.label("agreement_id"),
                       func.aggregate_strings(AgreementService.service_id, SERVICE_SEPARATOR).label("ids"))
                .group_by(AgreementService.agreement_id).subquery())
    q = (select(Agreement.id, Agreement.uuid, Agreement.municipality_code, Agreement.it_system_uuid,
                ItSystem.name, ItSystem.supplier, Agreement.status, Agreement.valid_from, Agreement.valid_to,
                services.c.ids)
         .join(ItSystem, ItSystem.uuid == Agreement.it_system_uuid)
         .outerjoin(services, services.c.agreement_id == Agreement.id))
    conditions = []
    if municipality_code is not None:
        conditions.append(Agreement.municipality_code == municipality_code)
    if active_on is not None:
        conditions += [Agreement.status == "active",
                       or_(Agreement.valid_from.is_(None), Agreement.valid_from <= active_on),
                       or_(Agreement.valid_to.is_(None), Agreement.valid_to > active_on)]
    if conditions:
        q = q.where(and_(*conditions))
    return q


def agreement_rows(session: Session, municipality_code: str | None = None,
                   active_on: dt.date | None = None) -> list[AgreementRow]:
    """Agreements with IT system and services; only those active on `active_on` when given.

    One query: each agreement's services are joined into one string in the database
    (string_agg / group_concat), so Python sees one row per agreement, not per service.
    """
    none: frozenset[str] = frozenset()
    split = SERVICE_SEPARATOR
    return [AgreementRow._make((*row[:9], frozenset(row[9].split(split)) if row[9] else none))
            for row in session.connection().execute(_agreements(municipality_code, active_on)).all()]


def gather(session: Session, as_of: dt.date, params: Parameters) -> Gathered:
    """The inputs of every municipality for `as_of`, the window's missing days and data_through."""
    window_start, end = window(as_of, params.window_days)
    span = span_values(session, as_of, params)
    active: dict[str, list[AgreementInput]] = defaultdict(list)
    pending: dict[str, list[AgreementInput]] = defaultdict(list)
    per_municipality: dict[str, int] = defaultdict(int)
    # Each set of services once (agreements share them), from its joined string; None or "": none.
    service_sets: dict[str | None, frozenset[str]] = {None: frozenset(), "": frozenset()}
    split = SERVICE_SEPARATOR
    make = AgreementInput._make
    # One row per agreement (not per call), with its sums: they were made in the database (as
    # integers; both NULL for an agreement without day rows in the span).
    for (_id, uuid, code, system, system_name, supplier, status, valid_from, valid_to, services,
         in_window, recent) in _serially(session, _GATHER, span):
        if in_window is None:
            in_window = recent = 0
        per_municipality[code] += in_window  # calls under every agreement, active or not
        # `method.active_on(status, valid_from, valid_to, end)`, written out: once per agreement.
        if status == "active" and (valid_from is None or valid_from <= end) and (valid_to is None or end < valid_to):
            into = active[code]
        elif status == "pending":
            into = pending[code]
        else:
            continue
        service_set = service_sets.get(services)
        if service_set is None:
            service_set = service_sets[services] = frozenset(services.split(split))
        into.append(make((uuid, system, service_set, valid_from, in_window, recent, system_name, supplier)))
    inputs = [MunicipalityInput(code, name, population, access, tuple(active.get(code, ())),
                                per_municipality.get(code, 0), tuple(pending.get(code, ())))
              for code, name, population, access in session.execute(
                  select(Municipality.code, Municipality.name, Municipality.population,
                         Municipality.user_access_control).order_by(Municipality.code))]
    return Gathered(inputs, missing_days(session, window_start, end), data_through(session))


def _serially(session: Session, statement: Select[Any], values: dict[str, Any]) -> list[Any]:
    """The rows of `statement`, run without parallel workers on PostgreSQL.

    The rating's sums read about a third of the span's day rows; starting two parallel workers
    costs more than they save: the same at a month of hourly rows, and 15 ms more (a quarter
    of the query) in a database with a year's partitions (docs/performance.md, "Rating").
    """
    conn = session.connection()
    if not is_postgres(session):
        return list(conn.execute(statement, values).all())
    conn.exec_driver_sql("SET LOCAL max_parallel_workers_per_gather = 0")
    rows = list(conn.execute(statement, values).all())  # a failure ends the transaction, and the SET with it
    conn.exec_driver_sql("SET LOCAL max_parallel_workers_per_gather TO DEFAULT")
    return rows


def _gather_statement() -> Select[Any]:
    sums, on = _sums_of()
    return _agreements().add_columns(sums.c.window, sums.c.recent).outerjoin(sums, on)


# The agreements with their sums, built once (the span's weeks and days are its parameters).
_GATHER = _gather_statement()


def access_control_known(session: Session) -> int:
    """How many municipalities have a known Adgangsstyring for brugere (implemented or not)."""
    return session.scalar(select(func.count()).select_from(Municipality)
                          .where(Municipality.user_access_control.is_not(None))) or 0
