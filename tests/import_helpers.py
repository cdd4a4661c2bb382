"""Helpers for the import tests: importing text, and a snapshot of every table an import writes."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Engine, select, text

from monitor.collectors.calls.importer import FileResult, import_content
from monitor.models import CounterValue

DATA_TABLES = ("municipalities", "it_systems", "services", "agreements", "agreement_services", "agreement_events",
               "hourly_calls", "agreement_days", "held_calls", "cutover_tasks")

AGREEMENTS = """agreement_uuid,municipality_code,it_system_uuid,it_system_name,service,service_name,supplier,status
aaaaaaaa-0000-4000-8000-000000000001,101,5e000000-0000-4000-8000-000000000001,Sag,SF1520,CPR,KMD,active
aaaaaaaa-0000-4000-8000-000000000001,101,5e000000-0000-4000-8000-000000000001,Sag,SF1601,Besked,KMD,active
aaaaaaaa-0000-4000-8000-000000000002,851,5e000000-0000-4000-8000-000000000002,Ydelse,SF1520,CPR,Netcompany,active
"""
A1 = "aaaaaaaa-0000-4000-8000-000000000001"
A2 = "aaaaaaaa-0000-4000-8000-000000000002"
A3 = "aaaaaaaa-0000-4000-8000-000000000003"


def load(engine: Engine, kind: str, content: str | bytes, now: dt.datetime | None = None,
         name: str = "file.csv") -> FileResult:
    """Import `content` (text is encoded as UTF-8) and return the result."""
    data = content.encode("utf-8") if isinstance(content, str) else content
    return import_content(engine, kind, name, data, now)


def snapshot(engine: Engine) -> dict[str, list[tuple]]:
    """Every row of every table an import writes to, sorted, for 'nothing changed' checks."""
    with engine.connect() as conn:
        return {t: sorted(tuple(r) for r in conn.execute(text(f"SELECT * FROM {t}"))) for t in DATA_TABLES}


def rows(engine: Engine, sql: str) -> list[tuple]:
    """The rows of a query, as tuples."""
    with engine.connect() as conn:
        return [tuple(r) for r in conn.execute(text(sql))]


def counter(engine: Engine, metric: str, labels: str) -> float:
    """A counter's value (0 when never incremented)."""
    with engine.connect() as conn:
        value = conn.scalar(select(CounterValue.value).where(CounterValue.metric == metric,
                                                             CounterValue.labels == labels))
    return value or 0.0
