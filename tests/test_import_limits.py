"""Values out of range are rejected with their line and column; a file that crashes a parser is a bad file."""

from __future__ import annotations

import datetime as dt
import subprocess
import sys

import pytest
from import_helpers import A1, AGREEMENTS, counter, load, rows, snapshot
from sqlalchemy import select

from monitor import runs
from monitor.collectors.calls import importer, records
from monitor.collectors.calls.importer import process_inbox
from monitor.db import session_factory, session_scope
from monitor.models import CollectorRun, ImportedFile

CALLS = "period_start,agreement_uuid,calls,errors\n"
MUNI = "code,name,region,population,population_date\n"
AGR = "agreement_uuid,municipality_code,it_system_uuid,service,status,valid_from,valid_to\n"
U2 = "aaaaaaaa-0000-4000-8000-0000000000f2"
S2 = "5e000000-0000-4000-8000-0000000000f2"


@pytest.fixture
def agreements(engine, now):
    assert load(engine, "agreements", AGREEMENTS, now).outcome == "imported"


def only_problem(result):  # type: ignore[no-untyped-def]
    assert result.outcome == "rejected", result.report()
    assert len(result.problems) == 1, result.report()
    return result.problems[0]


@pytest.mark.parametrize("kind,content,line,column,reason", [
    ("calls", CALLS + f"2020-11-27,{A1},9223372036854775808,\n", 2, "calls", "larger than 9,007,199,254,740,992"),
    ("calls", CALLS + f"2020-11-27,{A1},9007199254740993,\n", 2, "calls", "larger than 9,007,199,254,740,992"),
    ("calls", CALLS + f"2020-11-26,{A1},1,\n2020-11-27,{A1},5,{'9' * 5000}\n", 3, "errors", "larger than"),
    ("calls", CALLS + f"2020-11-27,{A1},1e30,\n", 2, "calls", "not a whole number"),
    ("calls", CALLS + f"2020-11-27,{A1},-3,\n", 2, "calls", "cannot be negative"),
    ("calls", CALLS + f"0001-01-01,{A1},3,\n", 2, "period_start", "before 2000-01-01"),
    ("calls", CALLS + f"1999-12-31T23:00:00+00:00,{A1},3,\n", 2, "period_start", "before 2000-01-01"),
    ("calls", CALLS + f"0001-01-01T00:00:00+01:00,{A1},3,\n", 2, "period_start", "before 2000-01-01"),
    ("calls", CALLS + f"2099-01-01,{A1},3,\n", 2, "period_start", "more than one day in the future"),
    ("calls", CALLS + f"2020-11-30T00:00:00+01:00,{A1},3,\n", 2, "period_start", "after 2020-11-29"),
    ("calls", CALLS + f"9999-12-31T23:00:00-05:00,{A1},3,\n", 2, "period_start", "in the future"),
    ("municipalities", MUNI + "101,København,Region Hovedstaden,99999999999,2020-01-01\n", 2, "population",
     "larger than 10,000,000"),
    ("municipalities", MUNI + "101,København,Region Hovedstaden,10000001,2020-01-01\n", 2, "population",
     "larger than 10,000,000"),
    ("municipalities", MUNI + "101,København,Region Hovedstaden,600000,2099-01-01\n", 2, "population_date",
     "in the future"),
    ("municipalities", MUNI + "101,København,Region Hovedstaden,600000,1850-01-01\n", 2, "population_date",
     "before 2000-01-01"),
    ("municipalities", MUNI + "101,København,Region Hovedstaden,600000,2020-01-01\n999;Atlantis\n", 3, "", "fields"),
    ("municipalities", MUNI + "999,Atlantis,Region Hav,10,2020-01-01\n", 2, "code", "not one of the 98"),
    ("agreements", AGR + f"{U2},101,{S2},SF1520,active,0001-01-01,\n", 2, "valid_from", "before 2000-01-01"),
    ("agreements", AGR + f"{U2},101,{S2},SF1520,active,2020-01-01,2150-01-01\n", 2, "valid_to", "after 2099-12-31"),
])
def test_a_value_out_of_range_is_rejected_with_its_line_and_column(engine, agreements, now, kind, content, line,
                                                                   column, reason) -> None:
    before = snapshot(engine)
    problem = only_problem(load(engine, kind, content, now))
    assert (problem.line, problem.column) == (line, column) and reason in problem.reason
    assert snapshot(engine) == before


def test_counts_up_to_2_to_the_53_and_far_future_validity_are_accepted(engine, agreements, now) -> None:
    assert load(engine, "calls", CALLS + f"2020-11-28,{A1},9007199254740992,0\n", now).outcome == "imported"
    assert load(engine, "agreements", AGR + f"{U2},101,{S2},SF1520,active,2020-01-01,2099-12-31\n",
                now).outcome == "imported"
    assert rows(engine, "SELECT calls FROM daily_calls") == [(9007199254740992,)]


def test_deeply_nested_json_lines_are_rejected_naming_the_line(engine, agreements, now) -> None:
    nested = "[" * 100_000 + "]" * 100_000
    content = (f'{{"period_start": "2020-11-27", "agreement_uuid": "{A1}", "calls": 3}}\n'
               f'{{"period_start": "2020-11-27", "agreement_uuid": "{A1}", "calls": {nested}}}\n')
    problem = only_problem(load(engine, "calls", content, now))
    assert problem.line == 2 and "nested too deeply" in problem.reason


@pytest.mark.parametrize("digits", [4_301, 100_000])
def test_a_json_integer_beyond_pythons_4300_digits_is_rejected_with_its_line_and_column(
        engine, agreements, now, digits) -> None:
    content = (f'{{"period_start": "2020-11-26", "agreement_uuid": "{A1}", "calls": 3}}\n'
               f'{{"period_start": "2020-11-27", "agreement_uuid": "{A1}", "calls": {"9" * digits}}}\n')
    before = snapshot(engine)
    problem = only_problem(load(engine, "calls", content, now))
    assert (problem.line, problem.column) == (2, "calls") and "larger than 9,007,199,254,740,992" in problem.reason
    assert snapshot(engine) == before


def test_a_file_that_crashes_the_parser_is_rejected_in_the_ledger_and_moved_to_rejected(
        engine, settings, agreements, now, monkeypatch) -> None:
    def crash(table, now=None):  # type: ignore[no-untyped-def]
        raise MemoryError("a parser that gave up")

    monkeypatch.setattr(records, "parse_calls", crash)
    inbox = settings.path(settings.collectors.calls.inbox)
    inbox.mkdir(parents=True, exist_ok=True)
    (inbox / "bad.csv").write_text(CALLS + f"2020-11-27,{A1},3,\n", encoding="utf-8")
    first = process_inbox(engine, settings, now)
    assert [f.outcome for f in first.files] == ["rejected"]
    assert "could not be read (MemoryError: a parser that gave up)" in first.files[0].report()
    assert not (inbox / "bad.csv").exists() and (inbox / "rejected" / "bad.csv").exists()
    assert (inbox / "rejected" / "bad.csv.report.txt").exists()
    assert process_inbox(engine, settings, now).files == []  # not retried
    with session_factory(engine)() as s:
        ledger = s.scalars(select(ImportedFile).where(ImportedFile.kind == "calls")).all()
    assert [(f.name, f.status) for f in ledger] == [("bad.csv", "rejected")]
    assert counter(engine, "import_rows_total", "kind=calls,outcome=rejected") == 0


def test_the_issue_reproductions_are_rejected_not_crashed(engine, settings, agreements, now) -> None:
    inbox = settings.path(settings.collectors.calls.inbox)
    inbox.mkdir(parents=True, exist_ok=True)
    (inbox / "a.csv").write_text(CALLS + f"2020-11-27,{A1},1e30,\n", encoding="utf-8")
    (inbox / "b.csv").write_text(CALLS + f"2020-11-27,{A1},9223372036854775808,\n", encoding="utf-8")
    (inbox / "c.jsonl").write_text('{"period_start": "2020-11-27", "calls": ' + "[" * 50_000 + "]" * 50_000 +
                                   f', "agreement_uuid": "{A1}"}}\n', encoding="utf-8")
    result = process_inbox(engine, settings, now)
    assert [f.outcome for f in result.files] == ["rejected"] * 3
    assert all(f.problems and f.problems[0].line == 2 or f.name == "c.jsonl" for f in result.files)
    assert sorted(p.name for p in (inbox / "rejected").iterdir() if not p.name.endswith(".txt")) == [
        "a.csv", "b.csv", "c.jsonl"]


def test_a_run_left_running_by_a_killed_process_is_marked_failed_at_the_next_start(engine, now) -> None:
    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True,
                          text=True, check=True)
    dead_pid = int(gone.stdout)
    sessions = session_factory(engine)
    with session_scope(sessions) as s:
        killed = runs.start_run(s, "calls", now - dt.timedelta(minutes=5))
        s.flush()
        s.get(CollectorRun, killed.id).message = f"pid {dead_pid} on {runs.socket.gethostname()}"
        other = runs.start_run(s, "import", now - dt.timedelta(minutes=5))  # another collector: untouched
    with session_scope(sessions) as s:
        runs.start_run(s, "calls", now)
    with session_factory(engine)() as s:
        got = {r.id: (r.outcome, r.message) for r in s.scalars(select(CollectorRun))}
    assert got[killed.id][0] == "failure" and "interrupted" in got[killed.id][1]
    assert got[other.id][0] == "running"
    assert counter(engine, "collector_runs_total", "collector=calls,outcome=failure") == 1


def test_a_run_of_a_living_process_is_left_running(engine, now) -> None:
    sessions = session_factory(engine)
    with session_scope(sessions) as s:
        mine = runs.start_run(s, "calls", now)
    with session_scope(sessions) as s:
        runs.start_run(s, "calls", now)
    with session_factory(engine)() as s:
        assert s.get(CollectorRun, mine.id).outcome == "running"


def test_importer_rejects_a_value_the_database_refuses_instead_of_retrying_it(engine, agreements, now,
                                                                            monkeypatch) -> None:
    from sqlalchemy.exc import DataError

    def refuse(*args, **kwargs):  # type: ignore[no-untyped-def]
        raise DataError("INSERT", {}, Exception("numeric field overflow"))

    monkeypatch.setattr(importer.loaders, "store_counts", refuse)
    result = load(engine, "calls", CALLS + f"2020-11-27,{A1},3,\n", now)
    assert result.outcome == "rejected" and "numeric field overflow" in result.report()
