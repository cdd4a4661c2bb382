"""What a kind of import file is: its columns, how its rows are checked and how they are stored.

A kind is one module beside this one with a `KIND` of this shape, and one line naming that
module in `monitor/collector_kinds.py` (`FILE_KINDS`). What every kind shares (reading the table, the ledger by
content hash, all-or-nothing, the rejection report, the counters) stays in `importer.py`.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Protocol, TypeVar

from sqlalchemy.orm import Session

from ..parsing import Table

P = TypeVar("P")


@dataclass
class Stored:
    """What storing one file did, for its report and the counters."""

    rows: int
    stored: int
    held: int = 0
    held_agreements: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


class FileKind(Protocol[P]):
    """One kind of file: `monitor import NAME`, the ledger's kind and the `kind` label of the counters."""

    @property
    def name(self) -> str:
        """`monitor import NAME`."""
        ...

    @property
    def label(self) -> str:
        """What /drift calls the kind: Danish, marked with `vocabulary.N_` for the catalogue."""
        ...

    @property
    def required(self) -> tuple[str, ...]:
        """The columns a file of this kind must have."""
        ...

    @property
    def optional(self) -> tuple[str, ...]:
        """The columns it may have."""
        ...

    @property
    def reads_municipalities(self) -> bool:
        """Whether `parse` needs the municipality codes in the database (read before the write)."""
        ...

    def parse(self, table: Table, municipalities: set[str], now: dt.datetime) -> P:
        """Check every row; raise `parsing.Rejected` listing every bad line. Touches no database."""
        ...

    def store(self, session: Session, parsed: P, ledger_id: int, now: dt.datetime) -> Stored:
        """Write the checked rows in the caller's transaction (the file's ledger row is `ledger_id`)."""
        ...
