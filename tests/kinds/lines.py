"""A made-up kind of notice source, for tests/test_collector_kinds.py: a text file of notices,
`lines:` on the first line, then `id|title|status` a line. It is registered by one line,
`"lines": "tests.kinds.lines"`."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import httpx

from monitor.collectors.notices.httpfetch import Fetched, read_path
from monitor.collectors.notices.kinds import Fetch
from monitor.collectors.notices.upstream import ParsedNotice, ParsedUpdate, ParseResult
from monitor.models import NoticeSource
from monitor.vocabulary import N_

POSTED = dt.datetime(2020, 11, 28, 9, 0, tzinfo=dt.UTC)  # when every notice of the file was posted


class LinesKind:
    """Notices as lines of text."""

    name = "lines"
    label = N_("tekstfil med linjer")

    def fetch(self, source: NoticeSource, location: str, client: httpx.Client, max_bytes: int) -> Fetch:
        got = read_path(Path(location), source.etag, max_bytes)
        return ({} if got.not_modified else {"lines": got.content or b""}), {"lines": got}

    def keep_validators(self, source: NoticeSource, fetched: dict[str, Fetched]) -> None:
        source.etag = fetched["lines"].etag

    def parse(self, documents: dict[str, bytes], now: dt.datetime) -> ParseResult:
        result = ParseResult()
        for n, line in enumerate(documents["lines"].decode().splitlines()[1:], start=2):
            parts = line.split("|")
            if len(parts) != 3:
                result.problems.append(f"line {n}: expected id|title|status")
                continue
            uid, title, status = parts
            result.notices.append(ParsedNotice(uid, title, "incident", status, updates=[
                ParsedUpdate(status, POSTED, f"<p>{title}</p>")]))
        return result

    def recognises(self, location: str, content: bytes | None, client: httpx.Client) -> bool:
        return content is not None and content.startswith(b"lines:")


KIND = LinesKind()
