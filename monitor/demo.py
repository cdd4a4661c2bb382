"""The demo country: municipalities' IT systems, agreements and a year of calls.

Deterministic for the same `seed`, `size` and `now`. Everything the demo writes replaces
what an earlier demo wrote (and any other agreements, calls and tasks: the demo is for a
demo database). Call rows are written in bulk (COPY on PostgreSQL), not one ORM object
each: the full country is a few million rows.

The story it tells: traffic in proportion to population, with a weekly and daily rhythm;
a cut-over window that ended a few hours before `now`, during which the platform carried
no calls (hours of the window have no rows, the days around it only their hours outside it);
most municipalities came back, some with integrations that stayed silent, one not at all, and
one supplier's systems returning errors; a handful of municipalities with unused or duplicate
agreements; traffic that rises and falls over the months, integrations that started or stopped
calling in the last two months (so ratings move, some up, some down); agreements waiting for
approval, among them at the smallest island municipality, which still has three active ones.
"""

from __future__ import annotations

import datetime as dt
import itertools
import math
import random
import typing
import uuid
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field

from sqlalchemy import Engine, delete, select
from sqlalchemy.orm import Session

from . import daytable, demo_feed, partitions, weektable
from .bulk import bulk_insert, storage_text
from .db import is_postgres
from .demo_inputs import add_demo_inputs
from .localtime import CPH
from .models import (
    AGREEMENTS_DELETABLE,
    Agreement,
    AgreementDay,
    AgreementEvent,
    AgreementService,
    CutoverTask,
    HeldCallCount,
    HourlyCallCount,
    ItSystem,
    Meta,
    MethodInput,
    Municipality,
    MunicipalityContact,
    RatingCorrection,
    RatingResult,
    RatingRun,
    Service,
    daily_key_order,
)
from .settings import Settings

SERVICES = {
    "SF1520": "CPR replika opslag",
    "SF1500": "Organisation – hent og søg",
    "SF1514": "Klassifikation – hent",
    "SF1470": "Sags- og Dokumentindeks – registrer",
    "SF1490": "Beskedfordeler – afsend besked",
    "SF1491": "Beskedfordeler – modtag besked",
    "SF1601": "Digital Post – afsend",
    "SF1560": "Ydelsesindeks – registrer ydelse",
    "SF0770": "CVR-opslag",
}

# (product, supplier, services it can use, relative traffic)
PRODUCTS = [
    ("KMD Momentum", "KMD", ("SF1520", "SF1500", "SF1601", "SF1560"), 3.0),
    ("Nexus", "Systematic", ("SF1520", "SF1500", "SF1514"), 3.0),
    ("Cura", "Systematic", ("SF1520", "SF1500"), 1.5),
    ("SBSYS", "Fujitsu", ("SF1470", "SF1520", "SF1500"), 1.5),
    ("Acadre", "Formpipe", ("SF1470", "SF1520", "SF1514"), 1.2),
    ("DUBU", "Netcompany", ("SF1520", "SF1490", "SF1470"), 1.2),
    ("Aula", "Netcompany", ("SF1500", "SF1520"), 2.0),
    ("Fasit", "Schultz", ("SF1520", "SF1601", "SF1470"), 1.0),
    ("KMD Opus Økonomi", "KMD", ("SF1500", "SF0770"), 0.8),
    ("EG Sensum Bosted", "EG", ("SF1520", "SF1470"), 0.8),
    ("EG TTA", "EG", ("SF1520",), 0.5),
    ("Tabulex", "EG", ("SF1520", "SF1500"), 0.7),
    ("Prisme", "Fujitsu", ("SF1500", "SF1520", "SF0770"), 0.6),
    ("Omada Identity", "Omada", ("SF1500", "SF1514"), 0.6),
    ("Digital Post-klient", "Netcompany", ("SF1601", "SF1491"), 1.0),
    ("Byg og Miljø", "Netcompany", ("SF1520", "SF0770"), 0.4),
    ("KMD Sag", "KMD", ("SF1470", "SF1520"), 0.8),
    ("Ydelsesrefusion", "KMD", ("SF1560", "SF1520"), 0.5),
    ("Bibliotekssystem FBS", "DBC", ("SF1520",), 0.6),
    ("Beskedfordeler-klient", "Netcompany", ("SF1490", "SF1491"), 0.9),
]

TASKS = [
    "Endpoint-adresser opdateret til det nye driftscenter",
    "Nye IP-adresser åbnet i kommunens firewall",
    "FOCES/OCES-certifikater testet mod det nye miljø",
    "Leverandører informeret om skiftweekenden",
    "Beredskab bemandet i skiftweekenden",
    "Kald verificeret efter skiftet",
]

# Share of a day's calls in each local hour (office hours, a little at night).
HOUR_SHAPE = [0.2, 0.15, 0.12, 0.12, 0.15, 0.3, 0.8, 2.0, 3.2, 3.5, 3.4, 3.0,
              2.8, 3.1, 3.0, 2.5, 1.6, 1.0, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3]
HOUR_WEIGHTS = [h / sum(HOUR_SHAPE) for h in HOUR_SHAPE]
WEEKDAY_FACTOR = [1.08, 1.1, 1.08, 1.05, 0.95, 0.3, 0.25]

# Days before today with a stored rating, so that history and "change since last month" show.
HISTORY = {"small": (30, 0), "full": (180, 150, 120, 90, 60, 35, 28, 21, 14, 7, 0)}

class Size(typing.TypedDict):
    systems: tuple[int, int]
    services: int
    days: int
    hourly_days: int


SIZES: dict[str, Size] = {
    # systems per municipality (min, max), services per system (max), days of daily counts,
    # days of hourly counts before today
    "small": {"systems": (2, 4), "services": 2, "days": 100, "hourly_days": 9},
    "full": {"systems": (6, 20), "services": 4, "days": 365, "hourly_days": 14},
}


@dataclass
class DemoAgreement:
    id: int
    uuid: str
    municipality: str
    system_uuid: str
    supplier: str
    services: tuple[str, ...]
    status: str = "active"
    valid_from: dt.date | None = None
    valid_to: dt.date | None = None
    daily_calls: float = 0.0  # mean calls on a weekday
    calls_until: dt.date | None = None  # no calls after this day (a forgotten agreement)
    calls_from: dt.date | None = None  # no calls before this day (an integration put to use lately)
    silent_after_cutover: bool = False
    error_rate: float = 0.002
    first_seen_at: dt.datetime | None = None
    extra: dict[str, object] = field(default_factory=dict)


@dataclass
class DemoPlan:
    """Everything the demo decided, before any row is written."""

    now: dt.datetime
    cutover_start: dt.datetime
    cutover_end: dt.datetime
    frozen_zone_start: dt.datetime
    systems: list[tuple[str, str, str]] = field(default_factory=list)  # uuid, name, supplier
    agreements: list[DemoAgreement] = field(default_factory=list)
    access_control: dict[str, bool | None] = field(default_factory=dict)
    tasks: list[tuple[str, str, bool]] = field(default_factory=list)
    # Per municipality: (amplitude, period in days, phase) of the slow swell of its traffic.
    trends: dict[str, tuple[float, float, float]] = field(default_factory=dict)


def _uuid(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def cutover_window(now: dt.datetime) -> tuple[dt.datetime, dt.datetime, dt.datetime]:
    """The demo's window: ended four whole hours before `now`, 34 hours long."""
    hour = now.astimezone(dt.UTC).replace(minute=0, second=0, microsecond=0)
    end = hour - dt.timedelta(hours=4)
    start = end - dt.timedelta(hours=34)
    return start, end, start - dt.timedelta(days=7)


MIN_ACTIVE = 3  # every municipality has at least this many active agreements (SPEC "The demo")


def trend(p: DemoPlan, code: str, day: dt.date) -> float:
    """The municipality's traffic on `day` relative to its mean: a slow swell over months."""
    amplitude, period, phase = p.trends.get(code, (0.0, 1.0, 0.0))
    return math.exp(amplitude * math.sin(2 * math.pi * day.toordinal() / period + phase))


Product = tuple[str, str, tuple[str, ...], float]  # one of PRODUCTS
System = tuple[Product, list[DemoAgreement]]  # a municipality's IT system and its agreements
ERRING_SUPPLIER = "Formpipe"  # its systems return errors


@dataclass(frozen=True)
class Stories:
    """The municipalities the seed chose for each story the demo tells."""

    forgotten: list[str]  # agreements that stopped calling long ago
    duplicates: list[str]  # a second agreement for the same system and service
    silent: list[str]  # one or two integrations silent after the cut-over
    dark: str  # every integration silent after the cut-over
    island: str  # the smallest: few agreements, one waiting for approval


def plan(municipalities: list[tuple[str, int]], seed: int, size: str, now: dt.datetime) -> DemoPlan:
    """Decide the demo country for `municipalities` [(code, population)]; no I/O."""
    rng = random.Random(seed)
    start, end, frozen = cutover_window(now)
    p = DemoPlan(now=now, cutover_start=start, cutover_end=end, frozen_zone_start=frozen)
    stories = _choose_stories(rng, municipalities)
    ids = itertools.count(1)
    for code, population in municipalities:
        _plan_municipality(rng, p, code, population, size, stories, ids)
    _approve_in_frozen_zone(rng, p.agreements, frozen)
    return p


def _choose_stories(rng: random.Random, municipalities: list[tuple[str, int]]) -> Stories:
    pops = dict(municipalities)
    codes = [c for c, _ in municipalities]
    story = rng.sample(sorted(codes, key=lambda c: -pops[c])[:60], 20)
    return Stories(forgotten=story[:6], duplicates=story[6:10], silent=story[10:17], dark=story[17],
                   island=min(codes, key=lambda c: pops[c]))


def _plan_municipality(rng: random.Random, p: DemoPlan, code: str, population: int, size: str,
                       stories: Stories, ids: Iterator[int]) -> None:
    """One municipality's access control, systems, agreements, their stories and its tasks."""
    today = p.now.astimezone(CPH).date()
    p.access_control[code] = rng.choices([True, False, None], [0.7, 0.2, 0.1])[0]
    mine, systems = _agreements(rng, p, code, population, size, ids)
    _move_history(rng, systems, today)
    _tell_stories(rng, code, mine, stories, today, ids)
    # A little churn: a rejected request, an inactive old one.
    if rng.random() < 0.3:
        rng.choice(mine).status = rng.choice(["rejected", "inactive"])
    if code == stories.island or rng.random() < 0.15:
        mine.append(_pending_request(rng, code, systems, today, next(ids)))
    p.agreements.extend(mine)
    for task in TASKS:
        p.tasks.append((code, task, rng.random() < 0.85))


def _agreements(rng: random.Random, p: DemoPlan, code: str, population: int, size: str,
                ids: Iterator[int]) -> tuple[list[DemoAgreement], list[System]]:
    """The municipality's systems and active agreements, its traffic shared among them by weight."""
    today = p.now.astimezone(CPH).date()
    lo, hi = SIZES[size]["systems"]
    n_systems = max(lo, min(hi, round(lo + (hi - lo) * math.log(max(population, 2000) / 2000) / math.log(320))))
    products = rng.sample(PRODUCTS, n_systems)
    cpc = math.exp(rng.uniform(math.log(0.6), math.log(40)))  # calls per citizen per 30 days
    # How well the municipality keeps its integrations in use: some systems never got going.
    diligence = rng.betavariate(4, 1.3)
    p.trends[code] = (rng.uniform(0.08, 0.4), rng.uniform(50, 200), rng.uniform(0, 2 * math.pi))
    mine: list[DemoAgreement] = []
    systems: list[System] = []
    unused_products = [pr for pr in PRODUCTS if pr not in products]
    # One more agreement than the minimum, so that the churn leaves MIN_ACTIVE active.
    while products or len(mine) <= MIN_ACTIVE:
        product = products.pop(0) if products else unused_products.pop(rng.randrange(len(unused_products)))
        sys_uuid = _uuid(rng)
        p.systems.append((sys_uuid, product[0], product[1]))
        never_called = rng.random() > diligence and len(mine) > 0
        system = _system_agreements(rng, code, sys_uuid, product, size, never_called, today, ids)
        mine.extend(system)
        systems.append((product, system))
    _share_traffic(mine, population * cpc / 30)
    return mine, systems


def _system_agreements(rng: random.Random, code: str, sys_uuid: str, product: Product, size: str,
                       never_called: bool, today: dt.date, ids: Iterator[int]) -> list[DemoAgreement]:
    """One agreement per service the system uses, its weight still relative (see _share_traffic)."""
    _, supplier, services, weight = product
    k = min(len(services), SIZES[size]["services"], 1 + int(rng.random() * 2.5 + (size == "full")))
    system = []
    for service in rng.sample(services, k):
        a = DemoAgreement(id=next(ids), uuid=_uuid(rng), municipality=code, system_uuid=sys_uuid,
                          supplier=supplier, services=(service,),
                          valid_from=today - dt.timedelta(days=rng.randint(400, 2000)))
        a.daily_calls = weight * (3.0 if service == "SF1520" else 1.0)
        a.error_rate = 0.08 if supplier == ERRING_SUPPLIER else rng.uniform(0.0005, 0.004)
        if never_called:
            a.calls_until = today - dt.timedelta(days=rng.randint(200, 900))
        system.append(a)
    return system


def _share_traffic(agreements: list[DemoAgreement], daily_total: float) -> None:
    """Turn relative weights into mean weekday calls that add up to `daily_total`."""
    total_weight = sum(a.daily_calls for a in agreements)
    for a in agreements:
        a.daily_calls = daily_total * a.daily_calls / total_weight
        assert a.valid_from is not None  # every agreement above was made with one
        a.first_seen_at = dt.datetime.combine(a.valid_from, dt.time(9), CPH)


def _move_history(rng: random.Random, systems: list[System], today: dt.date) -> None:
    """An integration put to use in the last month raises the score, one that stopped a month or two ago lowers it."""
    event = rng.random()
    if event < 0.3 and len(systems) > 1:
        for a in rng.choice(systems[1:])[1]:
            a.calls_until, a.calls_from = None, today - dt.timedelta(days=rng.randint(3, 25))
    elif event < 0.55 and len(systems) > 1:
        stop = today - dt.timedelta(days=rng.randint(32, 55))
        for a in rng.choice(systems[1:])[1]:
            a.calls_until = min(a.calls_until or stop, stop)


def _tell_stories(rng: random.Random, code: str, mine: list[DemoAgreement], stories: Stories, today: dt.date,
                  ids: Iterator[int]) -> None:
    """Forgotten agreements, a duplicate, integrations silent after the cut-over, as the seed chose."""
    if code in stories.forgotten:
        for a in rng.sample(mine, min(len(mine) - 1, rng.randint(1, 3))):
            a.calls_until = today - dt.timedelta(days=rng.randint(120, 400))
    if code in stories.duplicates:
        twin = rng.choice(mine)
        mine.append(DemoAgreement(id=next(ids), uuid=_uuid(rng), municipality=code, system_uuid=twin.system_uuid,
                                  supplier=twin.supplier, services=twin.services, valid_from=twin.valid_from,
                                  daily_calls=twin.daily_calls * 0.05, error_rate=twin.error_rate,
                                  first_seen_at=twin.first_seen_at))
    if code in stories.silent:
        for a in rng.sample(mine, min(len(mine), rng.randint(1, 2))):
            a.silent_after_cutover = True
    if code == stories.dark:
        for a in mine:
            a.silent_after_cutover = True


def _pending_request(rng: random.Random, code: str, systems: list[System], today: dt.date,
                     agreement_id: int) -> DemoAgreement:
    """An agreement waiting for the municipality's approval: a new request for a system it has."""
    product, agreements = rng.choice(systems)
    agreement_uuid, service = _uuid(rng), rng.choice(product[2])
    asked = dt.datetime.combine(today - dt.timedelta(days=rng.randint(2, 20)), dt.time(10), CPH)
    return DemoAgreement(id=agreement_id, uuid=agreement_uuid, municipality=code,
                         system_uuid=agreements[0].system_uuid, supplier=product[1], services=(service,),
                         status="pending", first_seen_at=asked)


def _approve_in_frozen_zone(rng: random.Random, agreements: list[DemoAgreement], frozen: dt.datetime) -> None:
    """Agreements approved in the frozen zone, each still waiting for its first call."""
    for a in rng.sample([a for a in agreements if a.status == "active"], 4):
        a.first_seen_at = frozen + dt.timedelta(hours=rng.randint(24, 150))
        a.valid_from = a.first_seen_at.astimezone(CPH).date()
        a.calls_until = a.valid_from - dt.timedelta(days=1)  # no calls yet: inside the grace period


def _hour_starts(first_day: dt.date, end: dt.datetime) -> list[tuple[dt.datetime, dt.date, int]]:
    """Every hour (UTC start, Copenhagen day, local hour) from `first_day` 00:00 local until `end`."""
    t = dt.datetime.combine(first_day, dt.time(0), CPH).astimezone(dt.UTC)
    out = []
    while t < end:
        local = t.astimezone(CPH)
        out.append((t, local.date(), local.hour))
        t += dt.timedelta(hours=1)
    return out


def _calls_on(a: DemoAgreement, day: dt.date) -> bool:
    if a.status != "active" or (a.calls_until and day > a.calls_until) or (a.calls_from and day < a.calls_from):
        return False
    return not (a.valid_from and day < a.valid_from)


def hour_calls(p: DemoPlan, a: DemoAgreement, t: dt.datetime, day: dt.date, local_hour: int,
               rng: random.Random) -> tuple[int, int] | None:
    """(calls, errors) of agreement `a` in the hour starting at `t` (UTC), or None for no row.

    The one model of the demo's traffic: the load writes its history with it and the live
    demo every hour after, so a demo left running looks like one loaded later. No calls in
    the window; integrations that went silent after it stay silent.
    """
    if not _calls_on(a, day) or p.cutover_start <= t < p.cutover_end:
        return None
    if a.silent_after_cutover and t >= p.cutover_end:
        return None
    mean = a.daily_calls * trend(p, a.municipality, day) * WEEKDAY_FACTOR[day.weekday()] * HOUR_WEIGHTS[local_hour]
    calls = int(mean * (0.8 + 0.4 * rng.random()) + rng.random())
    if calls == 0:
        return None  # a file leaves out an agreement that made no calls
    rate = a.error_rate if t >= p.cutover_end else min(a.error_rate, 0.004)
    return calls, int(calls * rate * (0.5 + rng.random()))


def generate_calls(p: DemoPlan, seed: int, size: str) -> Iterator[tuple[str, tuple[typing.Any, ...]]]:
    """Yield ('day'|'hour', row) for every call count of the plan."""
    rng = random.Random(seed + 1)
    sz = SIZES[size]
    now = p.now.astimezone(dt.UTC)
    today = now.astimezone(CPH).date()
    hourly_from = today - dt.timedelta(days=sz["hourly_days"])
    complete_until = now.replace(minute=0, second=0, microsecond=0)
    hours = _hour_starts(hourly_from, complete_until)
    text = {t: storage_text(t) for t, _, _ in hours}
    days = {today - dt.timedelta(days=i): storage_text(today - dt.timedelta(days=i)) for i in range(sz["days"] + 1)}
    for a in p.agreements:
        sums: dict[dt.date, list[int]] = defaultdict(lambda: [0, 0])
        for t, day, local_hour in hours:
            counted = hour_calls(p, a, t, day, local_hour, rng)
            if counted is None:
                continue
            calls, errors = counted
            yield "hour", (a.id, text[t], days[day], calls, errors)
            s = sums[day]
            s[0] += calls
            s[1] += errors
        for i in range(sz["days"], 0, -1):
            day = today - dt.timedelta(days=i)
            if day >= hourly_from:
                if day in sums:
                    yield "day", (a.id, days[day], sums[day][0], sums[day][1])
                continue
            if not _calls_on(a, day):
                continue
            mean = a.daily_calls * trend(p, a.municipality, day) * WEEKDAY_FACTOR[day.weekday()]
            calls = int(mean * (0.85 + 0.3 * rng.random()) + rng.random())
            if calls:
                yield "day", (a.id, days[day], calls, int(calls * a.error_rate * (0.5 + rng.random())))


def _clear(session: Session) -> None:
    """Delete what an earlier demo wrote: agreements too, which only the demo may (see `AGREEMENTS_DELETABLE`)."""
    session.add(Meta(key=AGREEMENTS_DELETABLE, value=True))  # the triggers let this transaction delete them
    session.flush()
    for model in (RatingCorrection, MethodInput, RatingResult, RatingRun, AgreementDay, HourlyCallCount,
                  HeldCallCount, AgreementEvent,
                  AgreementService, Agreement, ItSystem, CutoverTask):
        session.execute(delete(model))
    session.execute(delete(Meta).where(Meta.key == AGREEMENTS_DELETABLE))  # gone before the commit: never seen


def _demo_mailboxes(session: Session, codes: list[str]) -> None:
    """An infrastructure mailbox for every municipality (`@demo.invalid`), so the file outbox shows
    the alert mails, reports and digests of a demo weekend. Mailboxes already there are kept."""
    have = set(session.scalars(select(MunicipalityContact.municipality_code)))
    session.add_all(MunicipalityContact(municipality_code=code, address=f"infrastruktur-{code}@demo.invalid",
                                        language="en" if code == "101" else "da", stopped=[])
                    for code in codes if code not in have)
    session.flush()


def load_demo(engine: Engine, settings: Settings, *, seed: int, size: str, now: dt.datetime) -> str:
    """Write the demo country to the database and the demo status feed; returns a summary."""
    with Session(engine) as session, session.begin():
        munis = [(m.code, m.population or 0) for m in session.scalars(select(Municipality).order_by(Municipality.code))]
        p = plan(munis, seed, size, now)
        _clear(session)
        for code, value in p.access_control.items():
            session.get_one(Municipality, code).user_access_control = value
        existing = set(session.scalars(select(Service.id)))
        session.add_all(Service(id=s, name=n) for s, n in SERVICES.items() if s not in existing)
        session.flush()
        conn = session.connection()
        bulk_insert(conn, "it_systems", ("uuid", "name", "supplier"), p.systems)
        loaded = now.astimezone(dt.UTC)
        bulk_insert(conn, "agreements", ("id", "uuid", "municipality_code", "it_system_uuid", "status", "valid_from",
                                         "valid_to", "first_seen_at", "changed_at", "last_seen_at"),
                    ((a.id, a.uuid, a.municipality, a.system_uuid, a.status, a.valid_from, a.valid_to,
                      a.first_seen_at, a.first_seen_at, loaded) for a in p.agreements))
        bulk_insert(conn, "agreement_services", ("agreement_id", "service_id"),
                    ((a.id, s) for a in p.agreements for s in a.services))
        bulk_insert(conn, "agreement_events", ("agreement_id", "seen_at", "status", "services", "valid_from",
                                               "valid_to"),
                    ((a.id, a.first_seen_at, a.status, ",".join(a.services), a.valid_from, a.valid_to)
                     for a in p.agreements))
        if is_postgres(conn):
            from sqlalchemy import text

            conn.execute(text("SELECT setval(pg_get_serial_sequence('agreements', 'id'), "
                              "(SELECT max(id) FROM agreements))"))
        daily: list[tuple[typing.Any, ...]] = []
        hourly: list[tuple[typing.Any, ...]] = []
        for kind, row in generate_calls(p, seed, size):
            (hourly if kind == "hour" else daily).append(row)
        daily.sort(key=daily_key_order)  # the table's key order: appends at the right edge of its B-tree
        if is_postgres(conn):  # the months' partitions, made in this transaction (`conn` is bound)
            for month in sorted(partitions.months_of(dt.datetime.fromisoformat(row[1]) for row in hourly)
                                - set(partitions.existing(conn))):
                partitions.create(conn, month)
        n_hourly = bulk_insert(conn, "hourly_calls", ("agreement_id", "hour", "day", "calls", "errors"), hourly,
                               prepared=True)
        n_daily = bulk_insert(conn, "agreement_days", ("agreement_id", "day", "calls", "errors", "daily"),
                              (row + (True,) for row in daily), prepared=True)  # a daily count is its day's row
        daytable.refresh_days(session)  # the other days' rows: the sums of the hours just written
        weektable.refresh(session)  # the weeks of those day rows, for the rating
        bulk_insert(conn, "cutover_tasks", ("municipality_code", "task", "done", "updated_at"),
                    ((c, t, d, loaded) for c, t, d in p.tasks))
        _demo_mailboxes(session, [code for code, _ in munis])
        meta = session.get(Meta, "demo") or Meta(key="demo")
        meta.value = {
            "seed": seed, "size": size, "now": loaded.isoformat(),
            "cutover_start": p.cutover_start.isoformat(), "cutover_end": p.cutover_end.isoformat(),
            "frozen_zone_start": p.frozen_zone_start.isoformat(),
        }
        session.merge(meta)
    demo_feed.write_initial(settings, p.cutover_start, p.cutover_end, now)
    rated = store_history(engine, settings, now, HISTORY[size])
    inputs = add_demo_inputs(engine, settings, now)
    return (f"demo ({size}, seed {seed}): {len(munis)} municipalities, {len(p.systems)} IT systems, "
            f"{len(p.agreements)} agreements, {n_daily} daily and {n_hourly} hourly call counts, "
            f"{rated} rating snapshots, {inputs} inputs on the method; "
            f"cut-over window {p.cutover_start.astimezone(CPH):%Y-%m-%d %H:%M} – "
            f"{p.cutover_end.astimezone(CPH):%Y-%m-%d %H:%M %Z}; status feed {settings.path(settings.demo.feed_path)}")


def store_history(engine: Engine, settings: Settings, now: dt.datetime, days_back: tuple[int, ...]) -> int:
    """Store rating snapshots as the daily job would have, `days_back` days before today."""
    from .rating.service import store_snapshot

    today = now.astimezone(CPH).date()
    for back in sorted(days_back, reverse=True):
        store_snapshot(engine, settings, today - dt.timedelta(days=back), now=now)
    return len(days_back)


def loaded_plan(session: Session) -> DemoPlan | None:
    """The plan of the loaded demo, decided again from its seed, size and time (None without one)."""
    meta = session.get(Meta, "demo")
    if meta is None or not isinstance(meta.value, dict):
        return None
    v = meta.value
    munis = [(m.code, m.population or 0) for m in session.scalars(select(Municipality).order_by(Municipality.code))]
    return plan(munis, int(v["seed"]), str(v["size"]), dt.datetime.fromisoformat(v["now"]))


def demo_window(session: Session) -> tuple[dt.datetime, dt.datetime, dt.datetime] | None:
    """The loaded demo's cut-over window (start, end, frozen zone start), or None without a demo."""
    meta = session.get(Meta, "demo")
    if meta is None:
        return None
    v = meta.value
    return (dt.datetime.fromisoformat(v["cutover_start"]), dt.datetime.fromisoformat(v["cutover_end"]),
            dt.datetime.fromisoformat(v["frozen_zone_start"]))
