"""Test data for the rating tests, written with plain SQLAlchemy inserts; the day rows of the counts
are brought up to date as an import does (`monitor.daytable`)."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import insert, select, update
from sqlalchemy.orm import Session

from monitor import daytable, partitions
from monitor.collectors.calls.loaders import store_counts
from monitor.localtime import CPH
from monitor.models import (
    Agreement,
    AgreementService,
    HourlyCallCount,
    ItSystem,
    Municipality,
    Service,
)

AS_OF = dt.date(2020, 11, 28)  # the window is 29 Oct – 27 Nov, the redundancy period 30 Aug – 27 Nov


def days_before(as_of: dt.date, n: int) -> list[dt.date]:
    """The n days ending the day before as_of."""
    return [as_of - dt.timedelta(days=i) for i in range(n, 0, -1)]


def add_agreement(session: Session, uuid: str, municipality: str = "101", it_system: str = "sys-a",
                  services: tuple[str, ...] = ("SF1520",), status: str = "active",
                  valid_from: dt.date | None = None, valid_to: dt.date | None = None) -> int:
    """Insert an agreement (and its IT system and services when new); returns its id."""
    if session.get(ItSystem, it_system) is None:
        session.execute(insert(ItSystem).values(uuid=it_system, name=f"System {it_system}", supplier="Leverandør A/S"))
    for s in services:
        if session.get(Service, s) is None:
            session.execute(insert(Service).values(id=s, name=s))
    agreement_id = session.execute(insert(Agreement).values(
        uuid=uuid, municipality_code=municipality, it_system_uuid=it_system, status=status,
        valid_from=valid_from, valid_to=valid_to).returning(Agreement.id)).scalar_one()
    session.execute(insert(AgreementService), [{"agreement_id": agreement_id, "service_id": s} for s in services])
    return agreement_id


def add_daily(session: Session, agreement_id: int, days: list[dt.date] | dt.date, calls: int) -> None:
    """A daily count of `calls` on each of `days`."""
    days = days if isinstance(days, list) else [days]
    store_counts(session, [(agreement_id, d, calls, None) for d in days], [])  # as an import writes them


def add_hourly(session: Session, agreement_id: int, local_hour: dt.datetime, calls: int) -> None:
    """An hourly count for the Copenhagen wall-clock hour `local_hour` (naive)."""
    start = local_hour.replace(tzinfo=CPH)
    partitions.ensure_hourly(session, [start])  # PostgreSQL: the month's partition, as a writer makes it
    session.execute(insert(HourlyCallCount).values(
        agreement_id=agreement_id, hour=start.astimezone(dt.UTC), day=start.date(), calls=calls))
    daytable.refresh(session, [(agreement_id, start.date())])


def cover_window(session: Session, as_of: dt.date = AS_OF, days: int = 90) -> int:
    """Give every day before as_of a (zero) count under an agreement of another municipality."""
    agreement_id = add_agreement(session, "cover-0000", municipality="860", it_system="sys-cover",
                                 status="inactive")
    add_daily(session, agreement_id, days_before(as_of, days), 0)
    return agreement_id


def set_municipality(session: Session, code: str, **values: object) -> None:
    """Change a reference municipality (population, user_access_control, ...)."""
    session.execute(update(Municipality).where(Municipality.code == code).values(**values))


def population(session: Session, code: str) -> int | None:
    return session.scalar(select(Municipality.population).where(Municipality.code == code))


def small_country(session):  # type: ignore[no-untyped-def]
    """København with 1,000 citizens: one agreement calling 100 a day, one silent; window covered."""
    set_municipality(session, "101", population=1000, user_access_control=True)
    busy = add_agreement(session, "a-busy", it_system="sys-1")
    add_agreement(session, "b-silent", it_system="sys-2")
    add_daily(session, busy, days_before(AS_OF, 90), 100)
    cover_window(session)
    session.commit()
    return session
