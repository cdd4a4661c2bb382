"""Call counts (`monitor import calls`, the inbox, `POST /api/v1/imports/calls`).

A row with a date is a day's count, one with a date-time an hour's: `records.parse_calls`
sorts them, `loaders` writes each to its table. Counts of agreements not known yet are held
and counted as soon as the agreement arrives.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy.orm import Session

from ....vocabulary import N_
from .. import loaders, records
from ..parsing import Problem, Rejected, Table, message
from .base import Stored


class CallsKind:
    """Call counts per agreement and day or hour."""

    name = "calls"
    label = N_("kaldstal")
    required = records.CALLS_REQUIRED
    optional = records.CALLS_OPTIONAL
    reads_municipalities = False

    def parse(self, table: Table, municipalities: set[str], now: dt.datetime) -> records.CallCounts:
        return records.parse_calls(table, now)

    def store(self, session: Session, parsed: records.CallCounts, ledger_id: int, now: dt.datetime) -> Stored:
        ids = loaders.agreement_ids(session)
        released, agreements = loaders.release_held(session, ids)
        daily, hourly, held = loaders.split_counts(parsed, ids)
        try:
            loaders.store_counts(session, daily, hourly)
        except loaders.UnknownAgreements as exc:
            raise Rejected(_lines_of(parsed, ids, set(exc.ids)), parsed.rows) from exc
        loaders.hold_counts(session, held, ledger_id, now)
        notes = [f"{len(daily):,} daily and {len(hourly):,} hourly count(s) stored"]
        if released:
            notes.append(f"{released:,} held count(s) of {agreements:,} agreement(s) counted now")
        return Stored(parsed.rows, len(daily) + len(hourly), len(held),
                      sorted({h["agreement_uuid"] for h in held}), notes)


def _lines_of(parsed: records.CallCounts, ids: dict[str, int], missing: set[int]) -> list[Problem]:
    """A problem for each line whose agreement id is among `missing`."""
    return [Problem(line, "agreement_uuid", uuid, message("agreement_gone", id=ids[uuid]))
            for counts in (parsed.daily, parsed.hourly)
            for (uuid, _), (_, _, line) in counts.items()
            if ids.get(uuid) in missing]


KIND = CallsKind()
