"""`monitor db upgrade`: Alembic migrations, then reference data (idempotent)."""

from __future__ import annotations

import csv
import datetime as dt
from importlib import resources
from pathlib import Path
from typing import TypedDict

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from .models import Component, Municipality
from .settings import Settings

MIGRATIONS = Path(__file__).parent / "migrations"


def alembic_config(connection: object) -> Config:
    """An Alembic config pointing at the packaged migrations, bound to `connection`."""
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.attributes["connection"] = connection
    return cfg


def upgrade(engine: Engine, settings: Settings) -> None:
    """Bring the schema to the newest revision and load the reference data.

    On SQLite the foreign keys are off while the migrations run (a table rebuilt in batch mode
    is dropped and recreated, and with them on the drop would cascade to the rows that refer
    to it) and checked before the transaction commits.
    """
    sqlite = engine.dialect.name == "sqlite"
    with engine.connect() as conn:
        if sqlite:
            conn.exec_driver_sql("PRAGMA foreign_keys=OFF")  # outside a transaction, or SQLite ignores it
            conn.commit()
        try:
            with conn.begin():
                command.upgrade(alembic_config(conn), "head")
                if sqlite and (broken := conn.exec_driver_sql("PRAGMA foreign_key_check").all()):
                    raise RuntimeError(f"the migration left rows with dangling foreign keys: {broken[:5]}")
        finally:
            if sqlite:
                conn.exec_driver_sql("PRAGMA foreign_keys=ON")
                conn.commit()
    with Session(engine) as session, session.begin():
        load_reference_municipalities(session)
        sync_components(session, settings)


class ReferenceMunicipality(TypedDict):
    code: str
    name: str
    region: str
    population: int
    population_date: dt.date


def reference_municipalities() -> list[ReferenceMunicipality]:
    """The 98 municipalities shipped in the package (population on 1 January 2020)."""
    text = resources.files("monitor").joinpath("data/municipalities.csv").read_text("utf-8")
    rows: list[ReferenceMunicipality] = []
    for r in csv.DictReader(text.splitlines()):
        rows.append({"code": r["code"].zfill(3), "name": r["name"], "region": r["region"],
                     "population": int(r["population"]),
                     "population_date": dt.date.fromisoformat(r["population_date"])})
    return rows


def load_reference_municipalities(session: Session) -> int:
    """Insert the reference municipalities that are missing; existing rows are left as imported."""
    have = set(session.scalars(select(Municipality.code)))
    added = 0
    for row in reference_municipalities():
        if row["code"] not in have:
            session.add(Municipality(**row))
            added += 1
    return added


def sync_components(session: Session, settings: Settings) -> None:
    """Make the components table match the configured components (names, keywords, order)."""
    existing = {c.slug: c for c in session.scalars(select(Component))}
    for position, comp in enumerate(settings.components):
        row = existing.get(comp.slug)
        if row is None:
            session.add(Component(slug=comp.slug, name=comp.name, position=position, keywords=list(comp.keywords)))
        else:
            row.name, row.position, row.keywords = comp.name, position, list(comp.keywords)
