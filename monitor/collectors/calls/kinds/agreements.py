"""Service agreements (`monitor import agreements`): one row per service, upserted by agreement UUID."""

from __future__ import annotations

import datetime as dt

from sqlalchemy.orm import Session

from ....vocabulary import N_
from .. import loaders, records
from ..parsing import Table
from .base import Stored


class AgreementsKind:
    """Service agreements with their IT systems and services."""

    name = "agreements"
    label = N_("serviceaftaler")
    required = records.AGREEMENTS_REQUIRED
    optional = records.AGREEMENTS_OPTIONAL
    reads_municipalities = True

    def parse(self, table: Table, municipalities: set[str], now: dt.datetime) -> records.AgreementFile:
        return records.parse_agreements(table, municipalities)

    def store(self, session: Session, parsed: records.AgreementFile, ledger_id: int, now: dt.datetime) -> Stored:
        counts = loaders.store_agreements(session, parsed, now, ledger_id)
        released, agreements = loaders.release_held(session)
        notes = [f"{len(parsed.agreements):,} agreement(s): {counts['created']:,} new, "
                 f"{counts['changed']:,} changed, {counts['unchanged']:,} unchanged"]
        if released:
            notes.append(f"{released:,} held count(s) of {agreements:,} agreement(s) counted now")
        return Stored(parsed.rows, parsed.rows, notes=notes)


KIND = AgreementsKind()
