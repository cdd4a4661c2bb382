"""A kind of import file or of notice source is one module and one line in its registry.

Each test adds a kind the project does not have to the registry alone, and the importer or
the notice collector, the command line and the guessing take it up with nothing else changed.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import httpx
import pytest
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from monitor import cli
from monitor.collectors.calls import importer
from monitor.collectors.calls import kinds as file_kinds
from monitor.collectors.calls.kinds import Stored
from monitor.collectors.calls.parsing import Problem, Rejected, Table
from monitor.collectors.notices import kinds as source_kinds
from monitor.collectors.notices.httpfetch import Fetched, FetchError, read_path
from monitor.collectors.notices.poll import SourceSpec, guess_kind, poll_sources
from monitor.collectors.notices.upstream import ParsedNotice, ParsedUpdate, ParseResult
from monitor.models import ImportedFile, Notice, NoticeSource, NoticeUpdate
from monitor.settings import ConfigError, Settings, from_mapping

FEEDS = Path(__file__).parent / "fixtures" / "feeds"
POSTED = dt.datetime(2020, 11, 28, 9, 0, tzinfo=dt.UTC)  # when every note of LinesKind was posted


class NotesKind:
    """A file of free-text notes: one column, no empty cell."""

    name = "notes"
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


@pytest.fixture
def notes_kind(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(file_kinds.KINDS, "notes", NotesKind())


def test_a_file_kind_added_to_the_registry_goes_through_the_ledger_and_the_report(
        engine: Engine, session: Session, notes_kind: None, now: dt.datetime) -> None:
    first = importer.import_content(engine, "notes", "n.csv", b"text\nhello\nworld\n", now)
    assert (first.outcome, first.rows, first.stored, first.notes) == ("imported", 2, 2, ["2 note(s) read"])
    again = importer.import_content(engine, "notes", "n2.csv", b"text\nhello\nworld\n", now)
    assert again.outcome == "unchanged"
    bad = importer.import_content(engine, "notes", "bad.csv", b"text\nhello\n  \n", now)
    assert bad.outcome == "rejected" and [(p.line, p.column, p.reason) for p in bad.problems] == [
        (3, "text", "empty note")]
    missing = importer.import_content(engine, "notes", "other.csv", b"title\nhello\n", now)
    assert missing.outcome == "rejected" and "text" in missing.report()
    ledger = session.execute(select(ImportedFile.status, func.count()).where(ImportedFile.kind == "notes")
                             .group_by(ImportedFile.status).order_by(ImportedFile.status)).all()
    assert [tuple(row) for row in ledger] == [("imported", 1), ("rejected", 2)]


def test_an_import_kind_outside_the_registry_is_refused(engine: Engine, now: dt.datetime) -> None:
    with pytest.raises(ValueError, match="unknown import kind 'notes'"):
        importer.import_content(engine, "notes", "n.csv", b"text\nhello\n", now)


def test_the_command_line_offers_exactly_the_registered_kinds() -> None:
    import_kinds = next(p for p in cli.import_.params if p.name == "kind").type
    source_kind = next(p for p in cli.collect_notices.params if p.name == "kind").type
    assert tuple(import_kinds.choices) == tuple(file_kinds.KINDS) == ("municipalities", "agreements", "calls", "tasks")
    assert tuple(source_kind.choices) == tuple(source_kinds.KINDS) == ("feed", "statuspage")


@pytest.mark.parametrize("kind", sorted(source_kinds.KINDS))
def test_the_configuration_accepts_every_registered_source_kind(kind: str) -> None:
    sources = [{"name": "s", "url": "https://status.example", "kind": kind}]
    assert from_mapping({"notices": {"sources": sources}}, ".", environ={}).notices.sources[0].kind == kind


def test_the_configuration_refuses_a_source_kind_outside_the_registry() -> None:
    with pytest.raises(ConfigError, match=r"notices\.sources\[0\]\.kind"):
        from_mapping({"notices": {"sources": [{"name": "s", "url": "https://status.example", "kind": "lines"}]}},
                     ".", environ={})


class LinesKind:
    """A text file of notices, `lines:` on the first line, then `id|title|status` a line."""

    name = "lines"

    def fetch(self, source: NoticeSource, location: str, client: httpx.Client, max_bytes: int
              ) -> source_kinds.Fetch:
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


@pytest.fixture
def lines_kind(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(source_kinds.KINDS, "lines", LinesKind())


def test_a_source_kind_added_to_the_registry_is_polled_backfilled_and_queued(
        engine: Engine, settings: Settings, session: Session, tmp_path: Path, lines_kind: None,
        now: dt.datetime) -> None:
    path = tmp_path / "status.txt"
    path.write_text("lines:\na|Nede|investigating\n", encoding="utf-8")
    queued: list[int] = []

    def queue(session: Session, update: NoticeUpdate) -> int:
        queued.append(update.id)
        return 1

    spec = SourceSpec("lines", str(path), "lines")
    [first] = poll_sources(engine, settings, [spec], queue=queue, now=now)
    assert first.ok and first.backfill and queued == []
    path.write_text("lines:\na|Nede|investigating\nb|Langsom|identified\nbroken\n", encoding="utf-8")
    [second] = poll_sources(engine, settings, [spec], queue=queue, now=now + dt.timedelta(minutes=1))
    assert second.state == "partly" and second.problems == ["line 4: expected id|title|status"]
    assert len(queued) == 1
    assert sorted(session.scalars(select(Notice.upstream_id))) == ["a", "b"]


def test_guessing_asks_the_registered_kinds_in_order(tmp_path: Path, lines_kind: None) -> None:
    text = tmp_path / "status.txt"
    text.write_text("lines:\na|Nede|investigating\n", encoding="utf-8")
    with httpx.Client() as client:
        assert guess_kind(str(FEEDS / "danish-status.rss"), client) == "feed"
        assert guess_kind(str(FEEDS / "discordstatus"), client) == "statuspage"
        assert guess_kind(str(FEEDS / "discordstatus" / "incidents.json"), client) == "statuspage"
        assert guess_kind(str(text), client) == "lines"


@pytest.mark.parametrize("content", [b"", b"just some text\n", b"{\"not\": \"statuspage\"}", b"\xff\xfe\x00garbage"])
def test_content_no_kind_recognises_is_refused_naming_the_kinds(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "status.bin"
    path.write_bytes(content)
    with httpx.Client() as client, pytest.raises(FetchError, match=r"feed, statuspage.*give --kind"):
        guess_kind(str(path), client)


def test_a_source_of_a_kind_nobody_registered_fails_its_poll_and_the_others_go_on(
        engine: Engine, settings: Settings, now: dt.datetime) -> None:
    unknown = SourceSpec("odd", str(FEEDS / "danish-status.rss"), "lines")
    good = SourceSpec("good", str(FEEDS / "danish-status.rss"), "feed")
    odd, fine = poll_sources(engine, settings, [unknown, good], queue=lambda s, u: 0, now=now)
    assert not odd.ok and "unknown kind 'lines'" in odd.summary
    assert fine.ok
