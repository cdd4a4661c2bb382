"""Cut-over tasks (`monitor import tasks`): each municipality's tasks before the move, done or not."""

from __future__ import annotations

import datetime as dt

from sqlalchemy.orm import Session

from ....vocabulary import N_
from .. import loaders, records
from ..parsing import Table
from .base import Stored

Parsed = dict[tuple[str, str], tuple[bool, int, dt.date | None]]


class TasksKind:
    """Cut-over tasks per municipality."""

    name = "tasks"
    label = N_("opgaver")
    required = records.TASKS_REQUIRED
    optional = records.TASKS_OPTIONAL
    reads_municipalities = True

    def parse(self, table: Table, municipalities: set[str], now: dt.datetime) -> Parsed:
        return records.parse_tasks(table, municipalities)

    def store(self, session: Session, parsed: Parsed, ledger_id: int, now: dt.datetime) -> Stored:
        loaders.store_tasks(session, parsed, now)
        return Stored(len(parsed), len(parsed), notes=[f"{len(parsed):,} task(s) updated"])


KIND = TasksKind()
