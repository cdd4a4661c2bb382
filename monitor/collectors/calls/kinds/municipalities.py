"""Municipalities (`monitor import municipalities`): updates the 98 shipped with the package, never adds one."""

from __future__ import annotations

import datetime as dt

from sqlalchemy.orm import Session

from ....migrate import reference_municipalities
from ....vocabulary import N_
from .. import loaders, records
from ..parsing import Table
from .base import Stored

Parsed = tuple[dict[str, records.MunicipalityRecord], bool]


class MunicipalitiesKind:
    """Names, regions, populations and Adgangsstyring for brugere of the 98."""

    name = "municipalities"
    label = N_("kommuner")
    required = records.MUNICIPALITIES_REQUIRED
    optional = records.MUNICIPALITIES_OPTIONAL
    reads_municipalities = False  # the 98 codes come with the package

    def parse(self, table: Table, municipalities: set[str], now: dt.datetime) -> Parsed:
        return records.parse_municipalities(table, {r["code"] for r in reference_municipalities()}, now)

    def store(self, session: Session, parsed: Parsed, ledger_id: int, now: dt.datetime) -> Stored:
        rows, with_access = parsed
        loaders.store_municipalities(session, rows, with_access)
        return Stored(len(rows), len(rows), notes=[
            f"{len(rows):,} municipalit{'y' if len(rows) == 1 else 'ies'} updated"])


KIND = MunicipalitiesKind()
