"""A kind of import file or of notice source is one module and one line in its registry.

Each test adds a kind the project does not have, its module in tests/kinds/ and its line in
`monitor/collector_kinds.py` alone, and the importer or the notice collector, the settings,
the command line, the guessing and /drift take it up with nothing else changed.
"""

from __future__ import annotations

import datetime as dt
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from monitor import cli, collector_kinds
from monitor.collectors.calls import importer
from monitor.collectors.calls import kinds as file_kinds
from monitor.collectors.notices import kinds as source_kinds
from monitor.collectors.notices.httpfetch import FetchError
from monitor.collectors.notices.poll import SourceSpec, guess_kind, poll_sources
from monitor.models import ImportedFile, Notice, NoticeUpdate
from monitor.settings import ConfigError, Settings, from_mapping
from tests.auth_helpers import sign_in

FEEDS = Path(__file__).parent / "fixtures" / "feeds"
ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def notes_kind(monkeypatch: pytest.MonkeyPatch) -> None:
    """The one line a new kind of file adds (tests/kinds/notes.py is its module)."""
    monkeypatch.setitem(collector_kinds.FILE_KINDS, "notes", "tests.kinds.notes")


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


def test_every_registry_line_names_a_module_whose_kind_has_that_name_and_a_catalogued_label() -> None:
    from babel.messages.pofile import read_po

    with (ROOT / "monitor/translations/en/LC_MESSAGES/messages.po").open("rb") as fh:
        catalogue = {m.id for m in read_po(fh)}
    for registry in (file_kinds.KINDS, source_kinds.KINDS):
        for name, kind in registry.items():
            assert kind.name == name
            assert kind.label in catalogue, f"{name}: its label is not in the catalogue"


def test_the_command_line_offers_exactly_the_registered_kinds() -> None:
    import_kinds = next(p for p in cli.import_.params if p.name == "kind").type
    source_kind = next(p for p in cli.collect_notices.params if p.name == "kind").type
    assert tuple(import_kinds.choices) == tuple(file_kinds.KINDS) == ("municipalities", "agreements", "calls", "tasks")
    assert tuple(source_kind.choices) == tuple(source_kinds.KINDS) == ("feed", "statuspage")


def test_the_command_line_offers_a_kind_added_to_the_registry(notes_kind: None, lines_kind: None) -> None:
    import_kinds = next(p for p in cli.import_.params if p.name == "kind").type
    source_kind = next(p for p in cli.collect_notices.params if p.name == "kind").type
    assert tuple(import_kinds.choices)[-1] == "notes" and tuple(source_kind.choices)[-1] == "lines"
    assert "tasks|notes}" in CliRunner().invoke(cli.cli, ["import", "--help"]).output


def test_the_command_line_names_the_kinds_when_given_an_unknown_one() -> None:
    runner = CliRunner()
    imported = runner.invoke(cli.cli, ["import", "minutes", "x.csv"])
    assert imported.exit_code == 2
    assert "'minutes' is not one of 'municipalities', 'agreements', 'calls', 'tasks'" in imported.output
    polled = runner.invoke(cli.cli, ["collect", "notices", "--kind", "rss"])
    assert polled.exit_code == 2 and "'rss' is not one of 'feed', 'statuspage'" in polled.output
    helped = runner.invoke(cli.cli, ["import", "--help"])
    assert "{municipalities|agreements|calls|tasks} FILES..." in " ".join(helped.output.split())
    assert "[feed|statuspage]" in runner.invoke(cli.cli, ["collect", "notices", "--help"]).output


def test_importing_the_command_line_loads_no_kind() -> None:
    code = ("import sys, monitor.cli; print(sorted(m for m in sys.modules if '.kinds.' in m "
            "or m.startswith('monitor.collectors')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         cwd=ROOT).stdout.strip()
    assert out == "[]", out


@pytest.mark.parametrize("kind", sorted(source_kinds.KINDS))
def test_the_configuration_accepts_every_registered_source_kind(kind: str) -> None:
    sources = [{"name": "s", "url": "https://status.example", "kind": kind}]
    assert from_mapping({"notices": {"sources": sources}}, ".", environ={}).notices.sources[0].kind == kind


def test_the_configuration_refuses_a_source_kind_outside_the_registry() -> None:
    with pytest.raises(ConfigError, match=r'notices\.sources\[0\]\.kind: expected "feed" or "statuspage"'):
        from_mapping({"notices": {"sources": [{"name": "s", "url": "https://status.example", "kind": "lines"}]}},
                     ".", environ={})


def test_the_configuration_accepts_a_kind_added_to_the_registry(lines_kind: None) -> None:
    sources = [{"name": "s", "url": "/srv/status.txt", "kind": "lines"}]
    assert from_mapping({"notices": {"sources": sources}}, ".", environ={}).notices.sources[0].kind == "lines"
    with pytest.raises(ConfigError, match=r'expected "feed", "statuspage" or "lines", got \'rss\''):
        from_mapping({"notices": {"sources": [{**sources[0], "kind": "rss"}]}}, ".", environ={})


@pytest.fixture
def lines_kind(monkeypatch: pytest.MonkeyPatch) -> None:
    """The one line a new kind of source adds (tests/kinds/lines.py is its module)."""
    monkeypatch.setitem(collector_kinds.SOURCE_KINDS, "lines", "tests.kinds.lines")


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


def test_drift_words_a_kind_added_to_the_registry_by_its_own_label(
        engine: Engine, settings: Settings, session: Session, client: FlaskClient, app: Flask, tmp_path: Path,
        notes_kind: None, lines_kind: None, now: dt.datetime) -> None:
    path = tmp_path / "status.txt"
    path.write_text("lines:\na|Nede|investigating\n", encoding="utf-8")
    [polled] = poll_sources(engine, settings, [SourceSpec("Tekst", str(path), "lines")], queue=lambda s, u: 0, now=now)
    assert polled.ok
    assert importer.import_content(engine, "notes", "bad.csv", b"text\n \n", now).outcome == "rejected"
    sign_in(client)
    html = client.get("/drift?lang=da").get_data(as_text=True)
    assert "tekstfil med linjer" in html and "noter fra leverandøren" in html
