"""What a kind of notice source is: how its documents are fetched, remembered, recognised and parsed.

A kind is one module beside this one with a `KIND` of this shape, and one line naming that
module in `monitor/collector_kinds.py` (`SOURCE_KINDS`); its name is the `kind` of `[[notices.sources]]` and of
`monitor collect notices --kind`. What every kind shares (backoff, the backfill, limits,
storing, the run record) stays in `poll.py`.
"""

from __future__ import annotations

import datetime as dt
from typing import Protocol

import httpx

from ....models import NoticeSource
from ..httpfetch import Fetched
from ..upstream import ParseResult

# The changed documents by name (none when nothing changed), and every document's new validators.
Fetch = tuple[dict[str, bytes], dict[str, Fetched]]


class SourceKind(Protocol):
    """One kind of source, such as an RSS/Atom feed or a Statuspage JSON API."""

    @property
    def name(self) -> str:
        """The `kind` of `[[notices.sources]]` and of `monitor collect notices --kind`."""
        ...

    @property
    def label(self) -> str:
        """What /drift calls the kind: Danish, marked with `vocabulary.N_` for the catalogue."""
        ...

    def fetch(self, source: NoticeSource, location: str, client: httpx.Client, max_bytes: int) -> Fetch:
        """The documents at `location`, conditional on the validators kept on `source`; raises `FetchError`."""
        ...

    def keep_validators(self, source: NoticeSource, fetched: dict[str, Fetched]) -> None:
        """Remember the validators of a clean poll on `source`, for the next conditional GET."""
        ...

    def parse(self, documents: dict[str, bytes], now: dt.datetime) -> ParseResult:
        """Every complete item of the documents; problems and a fatal error reported in the result."""
        ...

    def recognises(self, location: str, content: bytes | None, client: httpx.Client) -> bool:
        """Whether `location` is of this kind, from its `content` (None for a folder)."""
        ...
