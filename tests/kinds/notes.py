"""A made-up kind of import file, for tests/test_collector_kinds.py: a file of free-text notes,
one column, no empty cell. It is registered by one line, `"notes": "tests.kinds.notes"`."""

from __future__ import annotations

import datetime as dt

from sqlalchemy.orm import Session

from monitor.collectors.calls.kinds import Stored
from monitor.collectors.calls.parsing import Problem, Rejected, Table
from monitor.vocabulary import N_


class NotesKind:
    """Free-text notes."""

    name = "notes"
    label = N_("noter fra leverandøren")
    required = ("text",)
    optional = ()
    reads_municipalities = False

    def parse(self, table: Table, municipalities: set[str], now: dt.datetime) -> list[str]:
        i = table.index("text")
        assert i is not None
        problems, texts = [], []
        for line, row in table.rows:
            if row[i].strip():
                texts.append(row[i].strip())
            else:
                problems.append(Problem(line, "text", row[i], "empty note"))
        if problems or not texts:
            raise Rejected(problems or [Problem(2, "", "", "no notes")], len(texts) + len(problems))
        return texts

    def store(self, session: Session, parsed: list[str], ledger_id: int, now: dt.datetime) -> Stored:
        return Stored(len(parsed), len(parsed), notes=[f"{len(parsed)} note(s) read"])


KIND = NotesKind()
