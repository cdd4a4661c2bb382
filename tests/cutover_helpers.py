"""Building hand-made agreements and hourly series for the cut-over and metrics tests."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

from sqlalchemy.orm import Session

from monitor import daytable, partitions
from monitor.localtime import CPH
from monitor.models import Agreement, AgreementService, HourlyCallCount, ItSystem, Service


def add_agreement(session: Session, uuid: str, municipality: str, *, services: Iterable[str] = ("SF1520",),
                  supplier: str = "KMD", status: str = "active",
                  first_seen_at: dt.datetime = dt.datetime(2020, 1, 1, tzinfo=dt.UTC),
                  changed_at: dt.datetime | None = None) -> Agreement:
    """An agreement with its own IT system ("System <uuid>") and the given services."""
    if session.get(ItSystem, "sys-" + uuid) is None:
        session.add(ItSystem(uuid="sys-" + uuid, name="System " + uuid, supplier=supplier))
    for sid in services:
        if session.get(Service, sid) is None:
            session.add(Service(id=sid, name="Service " + sid))
    session.flush()
    a = Agreement(uuid=uuid, municipality_code=municipality, it_system_uuid="sys-" + uuid, status=status,
                  first_seen_at=first_seen_at, changed_at=changed_at or first_seen_at, last_seen_at=first_seen_at)
    session.add(a)
    session.flush()
    for sid in services:
        session.add(AgreementService(agreement_id=a.id, service_id=sid))
    session.flush()
    return a


def add_hours(session: Session, agreement: Agreement, hours: Iterable[dt.datetime], calls: int,
              errors: int | None = None) -> None:
    """The same count in each of `hours` (UTC starts); their day rows follow, as after an import."""
    hours = list(hours)
    partitions.ensure_hourly(session, hours)  # PostgreSQL: the months' partitions, as a writer makes them
    days = set()
    for h in hours:
        session.merge(HourlyCallCount(agreement_id=agreement.id, hour=h, day=h.astimezone(CPH).date(),
                                      calls=calls, errors=errors))
        days.add(h.astimezone(CPH).date())
    session.flush()
    daytable.refresh(session, [(agreement.id, d) for d in days])


def hours(start: dt.datetime, count: int) -> list[dt.datetime]:
    """`count` consecutive UTC hour starts from `start`."""
    return [start + dt.timedelta(hours=i) for i in range(count)]
