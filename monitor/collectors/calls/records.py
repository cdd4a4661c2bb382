"""Row checks per kind of import: a `Table` in, clean records out, or `Rejected` with every problem.

Nothing here touches the database; what the checks need from it (the known municipality
codes) is passed in. The call-count parser is the hot loop of a million-row file, so it
caches parsed periods and identifiers (a file has few distinct ones) and builds no object
per row beyond one tuple.
"""

from __future__ import annotations

import datetime as dt
import gc
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TypeVar, cast

from ...localtime import CPH
from . import columnar
from .parsing import (
    LATEST_VALIDITY,
    MAX_POPULATION,
    FieldError,
    Problem,
    Rejected,
    Table,
    check_day,
    check_plain,
    latest_day,
    message,
    parse_bool,
    parse_code,
    parse_count,
    parse_date,
    parse_period,
    parse_status,
    parse_text,
    parse_uuid,
)

CALLS_REQUIRED = ("period_start", "agreement_uuid", "calls")
CALLS_OPTIONAL = ("errors",)
AGREEMENTS_REQUIRED = ("agreement_uuid", "municipality_code", "it_system_uuid", "service", "status")
AGREEMENTS_OPTIONAL = ("it_system_name", "service_name", "supplier", "valid_from", "valid_to")
MUNICIPALITIES_REQUIRED = ("code", "name", "region", "population", "population_date")
MUNICIPALITIES_OPTIONAL = ("user_access_control",)
TASKS_REQUIRED = ("municipality_code", "task", "done")
TASKS_OPTIONAL = ("deadline",)

# A count: (calls, errors or None, line number).
Count = tuple[int, int | None, int]

T = TypeVar("T")


@contextmanager
def no_gc() -> Iterator[None]:
    """Pause the cyclic garbage collector: a million new tuples would trigger it thousands of times."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _field_count(line: int, row: list[str], expected: int) -> Problem:
    return Problem(line, "", ",".join(row), message("field_count", found=len(row), expected=expected))


# --- call counts --------------------------------------------------------------------------

@dataclass(eq=False)
class CallCounts:
    """The counts of a calls file, one per (agreement UUID, bucket); identical duplicates merged.

    A large file of daily counts only stays in columns (`columns`), as the large-file reader
    read it, on its way to the database; `daily` is then made from them only when asked for.
    """

    hourly: dict[tuple[str, dt.datetime], Count] = field(default_factory=dict)
    rows: int = 0
    columns: columnar.DailyColumns | None = None
    _daily: dict[tuple[str, dt.date], Count] | None = field(default=None, repr=False)

    @property
    def daily(self) -> dict[tuple[str, dt.date], Count]:
        if self._daily is None:
            self._daily = self.columns.as_dict() if self.columns is not None else {}
        return self._daily

    def __eq__(self, other: object) -> bool:  # the same counts, however they are held
        if not isinstance(other, CallCounts):
            return NotImplemented
        return (self.daily, self.hourly, self.rows) == (other.daily, other.hourly, other.rows)

    __hash__ = None  # type: ignore[assignment]  # mutable, as a dataclass with eq


def parse_calls(table: Table, now: dt.datetime | None = None) -> CallCounts:
    """Check every row of a calls file; raise `Rejected` listing every bad line.

    Periods before 2000-01-01 are refused, and with `now` given those after tomorrow too.
    """
    result = CallCounts()
    read = columnar.parse_calls(table, now)
    if isinstance(read, columnar.DailyColumns):
        return CallCounts(rows=read.rows, columns=read)
    if read is not None:
        result._daily, result.hourly, result.rows = read
        return result
    latest = latest_day(now) if now is not None else None
    ip, ia, ic = (table.index(c) for c in CALLS_REQUIRED)
    ie = table.index("errors")
    assert ip is not None and ia is not None and ic is not None
    width = len(table.columns)
    daily = result.daily
    # Keyed by datetimes, a subclass of date: the periods cache below holds both kinds as dates.
    hourly = cast("dict[tuple[str, dt.date], Count]", result.hourly)
    # Valid periods and identifiers as parsed, by their text: a file has few distinct ones.
    periods: dict[str, tuple[bool, dt.date]] = {}
    uuids: dict[str, str] = {}
    problems: list[Problem] = []
    rows = 0
    for line, row in table.rows:
        rows += 1
        # The fast path: values seen before and plain digits, as in nearly every row.
        if len(row) == width:
            period = periods.get(row[ip])
            uuid = uuids.get(row[ia])
            text = row[ic]
            etext = "" if ie is None else row[ie]
            if (period is not None and uuid is not None and text.isdigit() and text.isascii() and len(text) < 16
                    and (not etext or etext.isdigit() and etext.isascii() and len(etext) < 16)):
                calls = int(text)
                errors = int(etext) if etext else None
                if errors is None or errors <= calls:
                    count = (calls, errors, line)
                    earlier = (hourly if period[0] else daily).setdefault((uuid, period[1]), count)
                    if earlier is not count and (earlier[0] != calls or earlier[1] != errors):
                        problems.append(_conflict(line, text, earlier[2]))
                    continue
        checked = _check_call_row(line, row, width, (ip, ia, ic, ie), periods, uuids, problems, latest)
        if checked is not None:
            period, uuid, calls, errors = checked
            count = (calls, errors, line)
            earlier = (hourly if period[0] else daily).setdefault((uuid, period[1]), count)
            if earlier is not count and (earlier[0] != calls or earlier[1] != errors):
                problems.append(_conflict(line, row[ic], earlier[2]))
    result.rows = rows
    _finish(rows, problems)
    return result


def _conflict(line: int, value: str, earlier_line: int) -> Problem:
    return Problem(line, "calls", value, message("duplicate_conflict", line=earlier_line,
                                                 what="agreement_uuid and period_start"))


def _check_call_row(line: int, row: list[str], width: int, positions: tuple[int, int, int, int | None],
                    periods: dict[str, tuple[bool, dt.date]], uuids: dict[str, str], problems: list[Problem],
                    latest: dt.date | None = None) -> tuple[tuple[bool, dt.date], str, int, int | None] | None:
    """The slow path of `parse_calls`: parse each value, note every problem, fill the caches."""
    if len(row) != width:
        problems.append(_field_count(line, row, width))
        return None
    ip, ia, ic, ie = positions
    found = len(problems)
    period = uuid = calls = errors = None
    try:
        value = parse_period(row[ip])
        hourly = type(value) is dt.datetime
        check_day(value.astimezone(CPH).date() if isinstance(value, dt.datetime) else value, latest)
        period = periods[row[ip]] = (hourly, value)
    except FieldError as exc:
        problems.append(Problem(line, "period_start", row[ip], str(exc)))
    try:
        uuid = uuids[row[ia]] = parse_uuid(row[ia])
    except FieldError as exc:
        problems.append(Problem(line, "agreement_uuid", row[ia], str(exc)))
    try:
        calls = parse_count(row[ic])
    except FieldError as exc:
        problems.append(Problem(line, "calls", row[ic], str(exc)))
    if ie is not None:
        try:
            errors = parse_count(row[ie]) if check_plain(row[ie]).strip() else None
        except FieldError as exc:
            problems.append(Problem(line, "errors", row[ie], str(exc)))
        if errors is not None and calls is not None and errors > calls:
            problems.append(Problem(line, "errors", row[ie], message("errors_gt_calls", errors=errors, calls=calls)))
    if len(problems) > found:
        return None
    assert period is not None and uuid is not None and calls is not None  # no problem: each was parsed
    return period, uuid, calls, errors


# --- the slower kinds: a few thousand rows at most ----------------------------------------

class _RowChecker:
    """Collects the problems of one row: ``get(column, parser)`` returns None when it failed."""

    def __init__(self, table: Table, problems: list[Problem]):
        self.table, self.problems = table, problems
        self.positions = {c: i for i, c in enumerate(table.columns)}
        self.line = 0
        self.row: list[str] = []
        self.ok = True

    def start(self, line: int, row: list[str]) -> bool:
        self.line, self.row, self.ok = line, row, True
        if len(row) != len(self.table.columns):
            self.problems.append(_field_count(line, row, len(self.table.columns)))
            return False
        return True

    def text(self, column: str) -> str:
        i = self.positions.get(column)
        return "" if i is None else self.row[i]

    def get(self, column: str, parser: Callable[[str], T]) -> T | None:
        try:
            return parser(self.text(column))
        except FieldError as exc:
            self.fail(column, str(exc))
            return None

    def fail(self, column: str, reason: str) -> None:
        self.problems.append(Problem(self.line, column, self.text(column), reason))
        self.ok = False


def _finish(rows: int, problems: list[Problem]) -> None:
    if not rows and not problems:
        problems.append(Problem(2, "", "", message("no_rows")))
    if problems:
        raise Rejected(problems, rows)


@dataclass
class AgreementRecord:
    """One agreement as the file describes it, with the line each value was first seen on."""

    uuid: str
    municipality_code: str
    it_system_uuid: str
    status: str
    valid_from: dt.date | None
    valid_to: dt.date | None
    line: int
    services: set[str] = field(default_factory=set)


@dataclass
class AgreementFile:
    agreements: dict[str, AgreementRecord] = field(default_factory=dict)
    it_systems: dict[str, tuple[str | None, str | None]] = field(default_factory=dict)  # uuid -> (name, supplier)
    services: dict[str, str | None] = field(default_factory=dict)  # id -> name
    rows: int = 0


_SHARED = ("municipality_code", "it_system_uuid", "status", "valid_from", "valid_to")


def parse_agreements(table: Table, municipalities: set[str]) -> AgreementFile:
    """Check an agreements file: one row per service, the rows of an agreement consistent."""
    problems: list[Problem] = []
    out = AgreementFile()
    names: dict[tuple[str, str], tuple[str, int]] = {}  # (what, key) -> (value, line first seen)
    check = _RowChecker(table, problems)
    for line, row in table.rows:
        out.rows += 1
        if not check.start(line, row):
            continue
        uuid = check.get("agreement_uuid", parse_uuid)
        code = check.get("municipality_code", parse_code)
        if code is not None and code not in municipalities:
            check.fail("municipality_code", message("unknown_municipality"))
        system = check.get("it_system_uuid", parse_uuid)
        service = check.get("service", lambda t: parse_text(t, limit=50))
        status = check.get("status", parse_status)
        valid_from = check.get("valid_from", lambda t: _validity(parse_date(t, required=False)))
        valid_to = check.get("valid_to", lambda t: _validity(parse_date(t, required=False)))
        if valid_from and valid_to and valid_to <= valid_from:
            check.fail("valid_to", message("date_order", valid_from=valid_from))
        optional = {c: check.get(c, lambda t: parse_text(t, required=False))
                    for c in ("it_system_name", "supplier", "service_name")}
        if not check.ok:
            continue
        # The row is ok: every required value was parsed.
        assert uuid is not None and code is not None and system is not None and service is not None
        assert status is not None
        for what, key, column in (("it_system_name", system, "it_system_name"), ("supplier", system, "supplier"),
                                  ("service_name", service, "service_name")):
            value = optional[column]
            if value is None:
                continue
            earlier = names.setdefault((what, key), (value, line))
            if earlier[0] != value:
                label = "service" if what == "service_name" else "it_system_uuid"
                check.fail(column, message("duplicate_conflict", line=earlier[1], what=label))
        values = dict(zip(_SHARED, (code, system, status, valid_from, valid_to), strict=True))
        record = out.agreements.get(uuid)
        if record is None:
            record = AgreementRecord(uuid, code, system, status, valid_from, valid_to, line)
            out.agreements[uuid] = record
        else:
            for column in _SHARED:
                if getattr(record, column) != values[column]:
                    there = getattr(record, column)
                    check.fail(column, message("agreement_mismatch", line=record.line, column=column,
                                               value="" if there is None else str(there)))
        if not check.ok:
            continue
        record.services.add(service)
        name, supplier = out.it_systems.get(system, (None, None))
        out.it_systems[system] = (name or optional["it_system_name"], supplier or optional["supplier"])
        out.services[service] = out.services.get(service) or optional["service_name"]
    _finish(out.rows, problems)
    return out


def _validity(day: dt.date | None) -> dt.date | None:
    """A validity date: from 2000-01-01 to 2099-12-31 (an agreement may be valid for years ahead)."""
    if day is not None:
        check_day(day, LATEST_VALIDITY)
    return day


def _population(text: str) -> int:
    value = parse_count(text)
    if value > MAX_POPULATION:
        raise FieldError(message("population_too_large", limit=MAX_POPULATION))
    return value


@dataclass
class MunicipalityRecord:
    code: str
    name: str
    region: str
    population: int
    population_date: dt.date
    user_access_control: bool | None
    line: int


def parse_municipalities(table: Table, known: set[str] | None = None, now: dt.datetime | None = None
                         ) -> tuple[dict[str, MunicipalityRecord], bool]:
    """Check a municipalities file; also says whether it has the user_access_control column.

    With `known` (the 98 codes) a code outside it is an error: the file only updates them.
    With `now`, a population date after tomorrow is an error.
    """
    latest = latest_day(now) if now is not None else None

    def parse_population_date(text: str) -> dt.date:
        day = parse_date(text)
        assert day is not None  # required: parse_date raised otherwise
        check_day(day, latest)
        return day

    problems: list[Problem] = []
    out: dict[str, MunicipalityRecord] = {}
    check = _RowChecker(table, problems)
    has_access = "user_access_control" in table.columns
    rows = 0
    for line, row in table.rows:
        rows += 1
        if not check.start(line, row):
            continue
        code = check.get("code", parse_code)
        name = check.get("name", lambda t: parse_text(t, limit=100))
        region = check.get("region", lambda t: parse_text(t, limit=100))
        population = check.get("population", _population)
        population_date = check.get("population_date", parse_population_date)
        access = check.get("user_access_control", lambda t: parse_bool(t, required=False))
        if code is not None and known is not None and code not in known:
            check.fail("code", message("not_one_of_98"))
        if not check.ok:
            continue
        # The row is ok: every required value was parsed.
        assert code is not None and name is not None and region is not None
        assert population is not None and population_date is not None
        record = MunicipalityRecord(code, name, region, population, population_date, access, line)
        earlier = out.setdefault(record.code, record)
        if earlier is not record and (earlier.name, earlier.region, earlier.population, earlier.population_date,
                                      earlier.user_access_control) != (
                record.name, record.region, record.population, record.population_date, record.user_access_control):
            check.fail("code", message("duplicate_conflict", line=earlier.line, what="code"))
    _finish(rows, problems)
    return out, has_access


def parse_tasks(table: Table, municipalities: set[str]
                ) -> dict[tuple[str, str], tuple[bool, int, dt.date | None]]:
    """Check a cut-over tasks file: (municipality code, task) -> (done, line, deadline)."""
    problems: list[Problem] = []
    out: dict[tuple[str, str], tuple[bool, int, dt.date | None]] = {}
    check = _RowChecker(table, problems)
    rows = 0
    for line, row in table.rows:
        rows += 1
        if not check.start(line, row):
            continue
        code = check.get("municipality_code", parse_code)
        if code is not None and code not in municipalities:
            check.fail("municipality_code", message("unknown_municipality"))
        task = check.get("task", lambda t: parse_text(t, limit=200))
        done = check.get("done", parse_bool)
        deadline = check.get("deadline", lambda t: parse_date(t, required=False))
        if not check.ok:
            continue
        assert code is not None and task is not None and done is not None  # the row is ok: each was parsed
        earlier = out.setdefault((code, task), (done, line, deadline))
        if (earlier[0], earlier[2]) != (done, deadline):
            check.fail("done", message("duplicate_conflict", line=earlier[1], what="municipality_code and task"))
    _finish(rows, problems)
    return out
