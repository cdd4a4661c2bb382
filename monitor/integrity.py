"""The database's own health: rows that point at nothing (`monitor db check`), and table sizes (/drift).

The count tables are the service's largest and have no foreign key (agreements are never
deleted, and the import checks its ids in one query); `check` is what says that they still
hold together. Each check is one
set-based query that counts; none changes anything.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import and_, exists, func, not_, or_, select, table, text
from sqlalchemy.orm import InstrumentedAttribute, Session
from sqlalchemy.sql import ColumnElement, Select, TextClause

from . import daytable, weektable
from .db import Base, is_postgres
from .models import (
    Agreement,
    AgreementDay,
    AgreementEvent,
    AgreementService,
    HourlyCallCount,
    ItSystem,
    Municipality,
    Service,
)


@dataclass(frozen=True)
class Finding:
    """One kind of problem and how many rows have it."""

    kind: str
    description: str
    count: int


def _orphans(table: type[Base], column: InstrumentedAttribute[Any], key: InstrumentedAttribute[Any],
             *where: ColumnElement[bool]) -> Select[int]:
    """Rows of `table` (those matching `where`) whose `column` names no row by `key` (another table's key column)."""
    return select(func.count()).select_from(table).where(*where, not_(exists().where(key == column)))


def _bad_counts(table: type[AgreementDay] | type[HourlyCallCount], *where: ColumnElement[bool]) -> Select[int]:
    return select(func.count()).select_from(table).where(*where, or_(
        table.calls < 0, table.errors < 0, and_(table.errors.is_not(None), table.errors > table.calls)))


# Each check: its kind, what it counts, and the count's query (or, where the SQL depends on the
# database, a function of the session that runs it).
CHECKS: tuple[tuple[str, str, Select[int] | TextClause | Callable[[Session], int]], ...] = (
    ("daily_calls_without_agreement", "daily counts whose agreement does not exist",
     _orphans(AgreementDay, AgreementDay.agreement_id, Agreement.id, AgreementDay.daily.is_(True))),
    ("hourly_calls_without_agreement", "hourly counts whose agreement does not exist",
     _orphans(HourlyCallCount, HourlyCallCount.agreement_id, Agreement.id)),
    ("agreements_without_municipality", "agreements whose municipality does not exist",
     _orphans(Agreement, Agreement.municipality_code, Municipality.code)),
    ("agreements_without_it_system", "agreements whose IT system does not exist",
     _orphans(Agreement, Agreement.it_system_uuid, ItSystem.uuid)),
    ("agreement_services_without_agreement", "agreement services whose agreement does not exist",
     _orphans(AgreementService, AgreementService.agreement_id, Agreement.id)),
    ("agreement_services_without_service", "agreement services whose service does not exist",
     _orphans(AgreementService, AgreementService.service_id, Service.id)),
    ("agreement_events_without_agreement", "agreement history rows whose agreement does not exist",
     _orphans(AgreementEvent, AgreementEvent.agreement_id, Agreement.id)),
    ("daily_calls_impossible", "daily counts with negative calls or errors, or more errors than calls",
     _bad_counts(AgreementDay, AgreementDay.daily.is_(True))),
    ("hourly_calls_impossible", "hourly counts with negative calls or errors, or more errors than calls",
     _bad_counts(HourlyCallCount)),
    ("agreement_days_disagreeing", "day rows of hours (agreement_days, no daily count) other than the sum of their hours",
     daytable.MISMATCH_COUNT),
    ("agreement_weeks_disagreeing", "weekly sums (agreement_weeks, weeks not stale) other than the sum of their "
     "day rows", weektable.mismatches),
)


def check(session: Session) -> list[Finding]:
    """Every check with its count of offending rows (0 when the data holds together)."""
    return [Finding(kind, description, query(session) if callable(query) else session.scalar(query) or 0)
            for kind, description, query in CHECKS]


# The tables that grow with the data, largest first as a rule; /drift shows their sizes.
SIZED_TABLES = ("hourly_calls", "agreement_days", "agreement_weeks", "held_calls", "agreements", "imported_files",
                "rating_results", "notice_updates", "deliveries", "mails", "collector_runs")


@dataclass(frozen=True)
class TableSize:
    """A table's row count; `estimated` when PostgreSQL's statistics gave it rather than a count."""

    table: str
    rows: int
    estimated: bool = False


def table_sizes(session: Session) -> list[TableSize]:
    """The row count of each table in `SIZED_TABLES`.

    On PostgreSQL the planner's estimate (`pg_class.reltuples`, kept by autovacuum's ANALYZE,
    summed over the partitions of a partitioned table), which costs nothing where counting a
    year of hourly rows would read them all; a table never analysed is counted. On SQLite every table is counted.
    """
    estimates: dict[str, int] = {}
    if is_postgres(session):
        # Only tables analysed at least once: before that, reltuples is -1 (PostgreSQL 14+) or 0 (13).
        # A partitioned table (hourly_calls) holds no rows itself: its partitions are summed, and
        # it counts as estimated only when every partition has been analysed.
        found = session.execute(text(
            "SELECT p.relname, sum(c.reltuples)::bigint, "
            "bool_and(coalesce(s.last_analyze, s.last_autoanalyze) IS NOT NULL) "
            "FROM pg_class p "
            "JOIN pg_namespace n ON n.oid = p.relnamespace AND n.nspname = current_schema() "
            "CROSS JOIN LATERAL (SELECT relid FROM pg_partition_tree(p.oid) WHERE isleaf "
            "                    UNION ALL SELECT p.oid WHERE p.relkind = 'r') t "
            "JOIN pg_class c ON c.oid = t.relid "
            "JOIN pg_stat_all_tables s ON s.relid = c.oid "
            "WHERE p.relkind IN ('r', 'p') AND p.relname = ANY(:names) "
            "GROUP BY p.relname"), {"names": list(SIZED_TABLES)})
        estimates = {name: int(n) for name, n, analysed in found if analysed and n is not None and n >= 0}
    sizes = []
    for name in SIZED_TABLES:
        if name in estimates:
            sizes.append(TableSize(name, estimates[name], estimated=True))
        else:
            sizes.append(TableSize(name, session.scalar(select(func.count()).select_from(table(name))) or 0))
    return sizes
