"""The call-count inbox and the URL source (SQLite and PostgreSQL)."""

from __future__ import annotations

import dataclasses

import httpx
import pytest
from import_helpers import A1, A2, AGREEMENTS, counter, load, rows, snapshot
from sqlalchemy import select

from monitor.collectors.calls import importer
from monitor.collectors.calls.importer import inbox_files, process_inbox
from monitor.db import session_factory
from monitor.models import CollectorRun
from monitor.settings import CallsCollectorSettings, CollectorsSettings
from tests.cli_helpers import printed, run_cli

HEADER = "period_start,agreement_uuid,calls,errors\n"


@pytest.fixture
def inbox(settings):
    path = settings.path(settings.collectors.calls.inbox)
    path.mkdir(parents=True, exist_ok=True)
    return path


@pytest.fixture
def agreements(engine, now):
    assert load(engine, "agreements", AGREEMENTS, now).outcome == "imported"


def drop(inbox, name, content):
    """Write a file the way writers should: under a temporary name, then renamed."""
    tmp = inbox / f"{name}.tmp"
    tmp.write_text(content, encoding="utf-8")
    tmp.rename(inbox / name)


def runs(engine):
    with session_factory(engine)() as s:
        return [(r.collector, r.outcome) for r in s.scalars(select(CollectorRun).order_by(CollectorRun.id))]


def test_an_imported_file_moves_to_the_archive_and_the_run_is_recorded(engine, settings, inbox, agreements, now):
    drop(inbox, "calls-20201128T10.csv", HEADER + f"2020-11-28T10:00:00+01:00,{A1},42,0\n")
    result = process_inbox(engine, settings, now)
    assert result.ok and [f.outcome for f in result.files] == ["imported"]
    assert not (inbox / "calls-20201128T10.csv").exists()
    assert (inbox / "archive" / "calls-20201128T10.csv").exists()
    assert rows(engine, "SELECT calls FROM hourly_calls") == [(42,)]
    assert runs(engine)[-1] == ("calls", "success")
    assert counter(engine, "collector_runs_total", "collector=calls,outcome=success") == 1


def test_a_rejected_file_moves_to_rejected_with_its_report_beside_it(engine, settings, inbox, agreements, now):
    drop(inbox, "calls-bad.csv", HEADER + f"2020-11-28,{A1},5,9\n")
    before = snapshot(engine)
    result = process_inbox(engine, settings, now)
    assert not result.ok and result.files[0].outcome == "rejected"
    assert (inbox / "rejected" / "calls-bad.csv").exists() and not (inbox / "calls-bad.csv").exists()
    report = (inbox / "rejected" / "calls-bad.csv.report.txt").read_text(encoding="utf-8")
    assert "line 2, column errors, value '9': errors (9) exceed calls (5)" in report
    assert snapshot(engine) == before
    assert runs(engine)[-1] == ("calls", "failure")


def test_unfinished_files_and_dotfiles_are_left_alone(engine, settings, inbox, agreements, now):
    (inbox / "calls-1.csv.tmp").write_text(HEADER + f"2020-11-28,{A1},5,0\n", encoding="utf-8")
    (inbox / ".calls-2.csv").write_text(HEADER + f"2020-11-28,{A1},6,0\n", encoding="utf-8")
    (inbox / "half.tmp").write_text("period_st", encoding="utf-8")
    assert inbox_files(inbox) == []
    result = process_inbox(engine, settings, now)
    assert result.files == [] and result.ok
    assert sorted(p.name for p in inbox.iterdir()) == [".calls-2.csv", "calls-1.csv.tmp", "half.tmp"]
    assert rows(engine, "SELECT count(*) FROM daily_calls") == [(0,)]


def test_files_are_taken_in_name_order_so_the_later_file_wins_a_bucket(engine, settings, inbox, agreements, now):
    drop(inbox, "calls-20201128T11.csv", HEADER + f"2020-11-28T10:00:00+01:00,{A1},7,0\n")
    drop(inbox, "calls-20201128T10.csv", HEADER + f"2020-11-28T10:00:00+01:00,{A1},3,0\n")
    result = process_inbox(engine, settings, now)
    assert [f.name for f in result.files] == ["calls-20201128T10.csv", "calls-20201128T11.csv"]
    assert rows(engine, "SELECT calls FROM hourly_calls") == [(7,)]


def test_a_file_seen_before_is_archived_under_a_free_name_and_changes_nothing(engine, settings, inbox, agreements,
                                                                            now):
    content = HEADER + f"2020-11-28,{A1},5,0\n"
    drop(inbox, "calls.csv", content)
    process_inbox(engine, settings, now)
    before = snapshot(engine)
    drop(inbox, "calls.csv", content)
    result = process_inbox(engine, settings, now)
    assert [f.outcome for f in result.files] == ["unchanged"] and result.ok
    assert sorted(p.name for p in (inbox / "archive").iterdir()) == ["calls-2.csv", "calls.csv"]
    assert snapshot(engine) == before


def test_counts_for_an_agreement_not_known_yet_are_held_not_rejected(engine, settings, inbox, now):
    drop(inbox, "calls.csv", HEADER + f"2020-11-28,{A1},5,0\n2020-11-28,{A2},6,0\n")
    result = process_inbox(engine, settings, now)
    assert result.ok and result.files[0].held == 2
    assert (inbox / "archive" / "calls.csv").exists()
    load(engine, "agreements", AGREEMENTS, now)
    assert sorted(rows(engine, "SELECT calls FROM daily_calls")) == [(5,), (6,)]


def test_a_file_that_fails_for_another_reason_stays_for_the_next_pass(engine, settings, inbox, agreements, now,
                                                                      monkeypatch):
    drop(inbox, "calls.csv", HEADER + f"2020-11-28,{A1},5,0\n")

    def database_away(*args, **kwargs):
        raise ConnectionError("database unreachable")

    monkeypatch.setattr(importer, "import_content", database_away)
    result = process_inbox(engine, settings, now)
    assert [f.outcome for f in result.files] == ["failed"] and not result.ok
    assert (inbox / "calls.csv").exists()
    monkeypatch.undo()
    assert process_inbox(engine, settings, now).ok
    assert rows(engine, "SELECT calls FROM daily_calls") == [(5,)]


def test_garbage_in_the_inbox_is_reported_never_raised(engine, settings, inbox, agreements, now):
    (inbox / "photo.jpg").write_bytes(b"\xff\xd8\xff\xe0\x00\x10JFIF\x00")
    (inbox / "empty.csv").write_bytes(b"")
    result = process_inbox(engine, settings, now)
    assert [(f.name, f.outcome) for f in result.files] == [("empty.csv", "rejected"), ("photo.jpg", "rejected")]
    assert "the file is empty" in (inbox / "rejected" / "empty.csv.report.txt").read_text(encoding="utf-8")
    assert "not UTF-8" in (inbox / "rejected" / "photo.jpg.report.txt").read_text(encoding="utf-8")


def test_the_demo_files_hourly_with_the_demo_header_are_imported(engine, settings, inbox, agreements, now):
    content = "period_start,agreement_uuid,calls,errors\n" + "".join(
        f"2020-11-28T{h:02d}:00:00+01:00,{a},{h * 10},{h}\n" for h in range(24) for a in (A1, A2))
    drop(inbox, "calls-20201128T23.csv", content)
    assert process_inbox(engine, settings, now).ok
    assert rows(engine, "SELECT count(*), sum(calls) FROM hourly_calls") == [(48, 2 * sum(h * 10 for h in range(24)))]


def test_the_command_reports_each_file_and_exits_non_zero_when_one_was_rejected(engine, settings, inbox, agreements,
                                                                                 monkeypatch):
    result = run_cli(monkeypatch, settings, "collect", "calls")
    assert result.exit_code == 0
    assert printed(result) == [f"no files waiting in {inbox}"]
    drop(inbox, "a.csv", HEADER + f"2020-11-28,{A1},5,0\n")
    drop(inbox, "b.csv", HEADER + f"2020-11-28,{A1},-5,0\n")
    result = run_cli(monkeypatch, settings, "collect", "calls")
    assert result.exit_code == 1
    out = printed(result)
    assert out[0].startswith("a.csv: imported") and any(line.startswith("b.csv: rejected") for line in out)


# --- the URL source -----------------------------------------------------------------------

def with_url(settings, url):
    return dataclasses.replace(settings, collectors=CollectorsSettings(
        calls=CallsCollectorSettings(inbox=settings.collectors.calls.inbox, url=url)))


def client_serving(body: bytes, status: int = 200) -> httpx.Client:
    return httpx.Client(transport=httpx.MockTransport(lambda request: httpx.Response(status, content=body)))


def test_the_url_source_goes_through_the_same_checks_and_a_repeat_is_a_no_op(engine, settings, agreements, now):
    url_settings = with_url(settings, "https://example.invalid/calls.csv")
    body = (HEADER.replace(",", ";") + f"2020-11-28;{A1};5;0\n").encode()
    first = process_inbox(engine, url_settings, now, client=client_serving(body))
    second = process_inbox(engine, url_settings, now, client=client_serving(body))
    assert [f.outcome for f in first.files] == ["imported"] and [f.outcome for f in second.files] == ["unchanged"]
    assert rows(engine, "SELECT calls FROM daily_calls") == [(5,)]


def test_a_bad_response_from_the_url_is_reported_and_counted_once(engine, settings, agreements, now):
    url_settings = with_url(settings, "https://example.invalid/calls.csv")
    body = (HEADER + f"2020-11-28,{A1},x,0\n").encode()
    first = process_inbox(engine, url_settings, now, client=client_serving(body))
    second = process_inbox(engine, url_settings, now, client=client_serving(body))
    assert first.files[0].outcome == "rejected" and not second.files and not second.ok
    assert "same content as rejected" in second.errors[0]
    assert counter(engine, "import_rows_total", "kind=calls,outcome=rejected") == 1


def test_an_unreachable_url_fails_the_run_without_raising(engine, settings, now):
    url_settings = with_url(settings, "https://example.invalid/calls.csv")
    result = process_inbox(engine, url_settings, now, client=client_serving(b"down", status=503))
    assert not result.ok and "503" in result.errors[0]
    assert runs(engine)[-1] == ("calls", "failure")
