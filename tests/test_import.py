"""Imports into the database (SQLite and PostgreSQL): upserts, history, held rows, ledger, rejections."""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from import_helpers import A1, A2, A3, AGREEMENTS, counter, load, rows, snapshot
from sqlalchemy import select, text

from monitor.collectors.calls import importer, loaders
from monitor.collectors.calls.parsing import MESSAGES
from monitor.db import session_factory
from monitor.models import Agreement, CollectorRun, ImportedFile, ItSystem
from tests.cli_helpers import printed, run_cli

LATER = dt.datetime(2020, 11, 29, 9, 0, tzinfo=dt.UTC)
# One database for every example of a property (the fixture is made once per test).
settings_for_db = hypothesis_settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


@pytest.fixture
def agreements(engine, now):
    result = load(engine, "agreements", AGREEMENTS, now)
    assert result.outcome == "imported", result.report()
    return result


def agreement(engine, uuid: str) -> Agreement:
    with session_factory(engine)() as s:
        return s.scalars(select(Agreement).where(Agreement.uuid == uuid)).one()


# --- agreements ---------------------------------------------------------------------------

def test_an_agreements_file_creates_agreements_with_their_services_it_systems_and_first_history(engine, agreements,
                                                                                             now):
    a1 = agreement(engine, A1)
    assert (a1.municipality_code, a1.status, a1.it_system.name, a1.it_system.supplier) == ("101", "active", "Sag", "KMD")
    assert sorted(s.service_id for s in a1.services) == ["SF1520", "SF1601"]
    assert a1.first_seen_at == now and a1.changed_at == now
    assert rows(engine, "SELECT id, name FROM services ORDER BY id") == [("SF1520", "CPR"), ("SF1601", "Besked")]
    assert rows(engine, "SELECT status, services FROM agreement_events ORDER BY agreement_id") == [
        ("active", "SF1520,SF1601"), ("active", "SF1520")]


def test_danish_status_words_a_semicolon_a_bom_and_a_four_digit_code_are_understood(engine, now):
    content = ("\ufeffAGREEMENT_UUID;Municipality_Code;it_system_uuid;service;Status;valid_from;valid_to\n"
               f"{A1.upper()};0101;S1;SF1520;Godkendt;2020-01-01;2021-01-01\n"
               f"{A2};0851;S2;SF1520;AFVENTER;;\n"
               f"{A3};147;S2;SF1520;afvist;;\n")
    result = load(engine, "agreements", content, now)
    assert result.outcome == "imported", result.report()
    assert result.format == "CSV, semicolon-separated"
    got = rows(engine, "SELECT uuid, municipality_code, it_system_uuid, status, valid_from FROM agreements ORDER BY uuid")
    assert [(u, c, s, st) for u, c, s, st, _ in got] == [(A1, "101", "s1", "active"), (A2, "851", "s2", "pending"),
                                                         (A3, "147", "s2", "rejected")]
    assert str(got[0][4]) == "2020-01-01"


def test_a_change_of_status_or_services_is_kept_as_history_with_the_time_it_was_seen(engine, agreements, now):
    changed = AGREEMENTS.replace("SF1601,Besked,KMD,active", "SF1601,Besked,KMD,inactive").replace(
        "SF1520,CPR,KMD,active", "SF1520,CPR,KMD,inactive")
    changed = "\n".join(line for line in changed.splitlines() if "Netcompany" not in line) + "\n" + (
        f"{A2},851,5e000000-0000-4000-8000-000000000002,Ydelse,SF1500,,Netcompany,active\n")
    result = load(engine, "agreements", changed, LATER)
    assert result.outcome == "imported", result.report()
    a1, a2 = agreement(engine, A1), agreement(engine, A2)
    assert (a1.status, a1.first_seen_at, a1.changed_at) == ("inactive", now, LATER)
    assert sorted(s.service_id for s in a2.services) == ["SF1500"]
    assert a2.changed_at == LATER
    history = rows(engine, "SELECT a.uuid, e.status, e.services FROM agreement_events e "
                           "JOIN agreements a ON a.id = e.agreement_id ORDER BY a.uuid, e.id")
    assert history == [(A1, "active", "SF1520,SF1601"), (A1, "inactive", "SF1520,SF1601"),
                       (A2, "active", "SF1520"), (A2, "active", "SF1500")]


def test_an_agreement_seen_again_unchanged_keeps_its_change_time_and_history(engine, agreements, now):
    again = AGREEMENTS + f"{A3},147,5e000000-0000-4000-8000-000000000002,,SF1520,,,pending\n"
    load(engine, "agreements", again, LATER)
    a1 = agreement(engine, A1)
    assert (a1.changed_at, a1.last_seen_at) == (now, LATER)
    assert agreement(engine, A3).first_seen_at == LATER
    assert len(rows(engine, "SELECT * FROM agreement_events")) == 3


def test_a_change_of_validity_moves_the_change_time(engine, agreements, now):
    content = AGREEMENTS.replace("status\n", "status,valid_to\n").replace("KMD,active\n", "KMD,active,2021-01-01\n")
    content = content.replace("Netcompany,active\n", "Netcompany,active,\n")
    load(engine, "agreements", content, LATER)
    assert agreement(engine, A1).changed_at == LATER
    assert agreement(engine, A2).changed_at == now


# --- call counts --------------------------------------------------------------------------

def test_daily_and_hourly_counts_are_stored_each_in_its_table_hours_in_utc_with_their_copenhagen_day(
        engine, agreements, now):
    content = ("period_start,agreement_uuid,calls,errors\n"
               f"2020-11-27,{A1},1000,3\n"
               f"2020-11-28T00:00:00+01:00,{A1},40,\n"
               f"2020-11-28T10:00:00Z,{A2},7,1\n")
    result = load(engine, "calls", content, now)
    assert result.outcome == "imported", result.report()
    a1, a2 = agreement(engine, A1).id, agreement(engine, A2).id
    assert [(a, str(d), c, e) for a, d, c, e in rows(engine, "SELECT agreement_id, day, calls, errors FROM daily_calls")
            ] == [(a1, "2020-11-27", 1000, 3)]
    with session_factory(engine)() as s:
        from monitor.models import HourlyCallCount

        hours = [(h.agreement_id, h.hour, h.day, h.calls, h.errors)
                 for h in s.scalars(select(HourlyCallCount).order_by(HourlyCallCount.hour))]
    assert hours == [(a1, dt.datetime(2020, 11, 27, 23, tzinfo=dt.UTC), dt.date(2020, 11, 28), 40, None),
                     (a2, dt.datetime(2020, 11, 28, 10, tzinfo=dt.UTC), dt.date(2020, 11, 28), 7, 1)]


def test_a_later_file_for_the_same_bucket_replaces_the_count_and_never_adds(engine, agreements, now):
    header = "period_start,agreement_uuid,calls,errors\n"
    load(engine, "calls", header + f"2020-11-27,{A1},100,1\n2020-11-27T10:00:00+01:00,{A1},5,0\n", now)
    load(engine, "calls", header + f"2020-11-27,{A1},120,\n2020-11-27T10:00:00+01:00,{A1},6,0\n", LATER)
    assert rows(engine, "SELECT calls, errors FROM daily_calls") == [(120, None)]
    assert rows(engine, "SELECT calls, errors FROM hourly_calls") == [(6, 0)]


def test_a_second_import_of_the_same_file_changes_nothing_and_says_so(engine, agreements, now):
    content = f"period_start,agreement_uuid,calls\n2020-11-27,{A1},100\n"
    first = load(engine, "calls", content, now)
    before = snapshot(engine)
    second = load(engine, "calls", content, LATER)
    assert (first.outcome, second.outcome) == ("imported", "unchanged")
    assert "already imported" in second.report() and "nothing to do" in second.report()
    assert snapshot(engine) == before
    assert counter(engine, "import_rows_total", "kind=calls,outcome=imported") == 1


def test_identical_duplicate_rows_in_one_file_count_once(engine, agreements, now):
    content = f"period_start,agreement_uuid,calls\n2020-11-27,{A1},100\n2020-11-27,{A1},100\n"
    assert load(engine, "calls", content, now).outcome == "imported"
    assert rows(engine, "SELECT calls FROM daily_calls") == [(100,)]


def test_json_lines_with_the_same_fields_are_imported(engine, agreements, now):
    content = "\n".join(json.dumps(r) for r in [
        {"period_start": "2020-11-27", "agreement_uuid": A1, "calls": 10, "errors": None},
        {"Period_Start": "2020-11-27T10:00:00+01:00", "agreement_uuid": A2, "calls": "11", "errors": 2}]) + "\n"
    result = load(engine, "calls", content, now, name="calls.jsonl")
    assert (result.outcome, result.format) == ("imported", "JSON Lines"), result.report()
    assert rows(engine, "SELECT calls, errors FROM daily_calls") == [(10, None)]
    assert rows(engine, "SELECT calls, errors FROM hourly_calls") == [(11, 2)]


def test_counts_for_an_unknown_agreement_are_held_with_a_warning_and_counted_when_it_arrives(engine, now):
    content = ("period_start,agreement_uuid,calls\n"
               f"2020-11-27,{A1},100\n2020-11-28T10:00:00+01:00,{A1},9\n2020-11-27,{A3},5\n")
    result = load(engine, "calls", content, now)
    assert (result.outcome, result.held, result.held_agreements) == ("imported", 3, [A1, A3])
    assert "held for 2 agreement(s) not known yet" in result.report()
    assert rows(engine, "SELECT count(*) FROM daily_calls") == [(0,)]
    assert counter(engine, "import_rows_total", "kind=calls,outcome=held") == 3

    arrived = load(engine, "agreements", AGREEMENTS, LATER)
    assert "3" not in arrived.notes[-1] or "counted now" in arrived.notes[-1]
    assert "2 held count(s) of 1 agreement(s) counted now" in arrived.report()
    a1 = agreement(engine, A1).id
    assert rows(engine, "SELECT agreement_id, calls FROM daily_calls") == [(a1, 100)]
    assert rows(engine, "SELECT agreement_id, calls FROM hourly_calls") == [(a1, 9)]
    assert rows(engine, "SELECT agreement_uuid FROM held_calls") == [(A3,)]


def test_held_counts_are_replaced_by_a_later_file_for_the_same_bucket(engine, now):
    header = "period_start,agreement_uuid,calls\n"
    load(engine, "calls", header + f"2020-11-27,{A1},100\n", now)
    load(engine, "calls", header + f"2020-11-27,{A1},150\n", LATER)
    load(engine, "agreements", AGREEMENTS, LATER)
    assert rows(engine, "SELECT calls FROM daily_calls") == [(150,)]
    assert rows(engine, "SELECT count(*) FROM held_calls") == [(0,)]


def test_held_counts_are_counted_by_the_next_calls_import_when_the_agreement_appeared_another_way(engine, now):
    load(engine, "calls", f"period_start,agreement_uuid,calls\n2020-11-27T10:00:00+01:00,{A1},100\n", now)
    with session_factory(engine)() as s, s.begin():  # as the demo does: straight into the tables
        s.add(ItSystem(uuid="s9", name="Direkte"))
        s.flush()
        s.add(Agreement(uuid=A1, municipality_code="101", it_system_uuid="s9", status="active"))
    result = load(engine, "calls", f"period_start,agreement_uuid,calls\n2020-11-27,{A1},7\n", LATER)
    assert "1 held count(s) of 1 agreement(s) counted now" in result.report()
    assert rows(engine, "SELECT calls FROM hourly_calls") == [(100,)]
    assert rows(engine, "SELECT calls FROM daily_calls") == [(7,)]
    assert rows(engine, "SELECT count(*) FROM held_calls") == [(0,)]


@pytest.mark.parametrize("db_url", [pytest.param("postgresql", marks=pytest.mark.postgres)], indirect=True)
def test_a_large_import_leaves_its_connection_to_be_replaced_and_a_small_one_does_not(db_url, engine, agreements, now,
                                                                                    monkeypatch):
    """The PostgreSQL server process that wrote a large file stays slower afterwards: the pool opens
    a new one after it. One connection in the pool, so the next checkout is the import's own."""
    from monitor.db import make_engine

    monkeypatch.setattr(importer, "RECYCLE_AFTER_ROWS", 3)
    alone = make_engine(db_url, pool_size=1, max_overflow=0)
    try:
        def backend() -> int:
            with alone.connect() as conn:
                return int(conn.execute(text("SELECT pg_backend_pid()")).scalar_one())

        header = "period_start,agreement_uuid,calls\n"
        first = backend()
        load(alone, "calls", header + f"2020-11-27,{A1},5\n2020-11-27,{A2},6\n", now)  # two rows: kept
        assert backend() == first
        load(alone, "calls", header + f"2020-11-26,{A1},5\n2020-11-26,{A2},6\n2020-11-25,{A1},7\n", now)
        assert backend() != first
        assert rows(alone, "SELECT count(*) FROM agreement_days") == [(5,)]  # the import committed
    finally:
        alone.dispose()


def test_a_large_daily_file_read_by_columns_is_stored_as_the_rows_reader_stores_it(engine, agreements, now,
                                                                                    monkeypatch):
    """The large-file reader keeps a file of daily counts in columns down to the database (PostgreSQL: CSV
    written by pyarrow for COPY; SQLite: rows from the columns): new rows, a replaced and an unchanged one,
    counts of an unknown agreement held, an empty errors field a NULL. The same files read row by row must
    leave the same tables."""
    from monitor.collectors.calls import columnar

    header = "period_start,agreement_uuid,calls,errors\n"
    first = header + (f"2020-11-27,{A1},5,1\n2020-11-27,{A2.upper()},6,\n2020-11-26,{A1},7,0\n"
                      f"2020-11-27,{A3},9,\n2020-11-25,{A2},0,0\n")
    second = header + f"2020-11-27,{A1},8,\n2020-11-26,{A1},7,0\n2020-11-28,{A2},4,2\n"
    columns_used = []
    split = columnar.DailyColumns.split
    monkeypatch.setattr(columnar.DailyColumns, "split", lambda self, ids: columns_used.append(1) or split(self, ids))
    stored = {}
    for by_columns in (True, False):
        monkeypatch.setattr(columnar, "MIN_BYTES", 0 if by_columns else 1 << 62)
        with engine.begin() as conn:
            conn.execute(text("DELETE FROM agreement_days"))
            conn.execute(text("DELETE FROM held_calls"))
        results = [load(engine, "calls", content + "\n" * (not by_columns), when)  # another sha256
                   for content, when in ((first, now), (second, LATER))]
        assert [(r.outcome, r.rows, r.stored, r.held) for r in results] == [("imported", 5, 4, 1),
                                                                            ("imported", 3, 3, 0)], results
        stored[by_columns] = (rows(engine, "SELECT a.uuid, d.day, d.calls, d.errors, d.daily FROM agreement_days d "
                                           "JOIN agreements a ON a.id = d.agreement_id ORDER BY a.uuid, d.day"),
                              rows(engine, "SELECT agreement_uuid, period_start, calls, errors FROM held_calls"))
    assert len(columns_used) == 2  # both files of the first round went by columns, none of the second
    days, held = stored[True]
    assert [(u, str(d), c, e, bool(f)) for u, d, c, e, f in days] == [
        (A1, "2020-11-26", 7, 0, True), (A1, "2020-11-27", 8, None, True),
        (A2, "2020-11-25", 0, 0, True), (A2, "2020-11-27", 6, None, True), (A2, "2020-11-28", 4, 2, True)]
    assert held == [(A3, "2020-11-27", 9, None)]
    assert stored[True] == stored[False]


# --- municipalities and tasks -------------------------------------------------------------

def test_municipalities_are_upserted_and_access_control_is_kept_when_the_column_is_absent(engine, now):
    load(engine, "municipalities", "code,name,region,population,population_date,user_access_control\n"
                                   "0101,København,Region Hovedstaden,632340,2020-01-01,Ja\n"
                                   "147,Frederiksberg,Region Hovedstaden,104305,2020-01-01,\n", now)
    load(engine, "municipalities", "code,name,region,population,population_date\n"
                                   "101,København,Region Hovedstaden,640000,2020-11-01\n", LATER)
    got = rows(engine, "SELECT code, population, user_access_control FROM municipalities "
                       "WHERE code IN ('101', '147') ORDER BY code")
    assert [(c, p, bool(u) if u is not None else None) for c, p, u in got] == [("101", 640000, True),
                                                                              ("147", 104305, None)]


def test_cutover_tasks_are_upserted_and_their_time_moves_only_when_done_changes(engine, now):
    load(engine, "tasks", "municipality_code;task;done\n101;Test af SF1520;nej\n101;Opdater certifikat;1\n", now)
    load(engine, "tasks", "municipality_code;task;done\n0101;Test af SF1520;JA\n101;Opdater certifikat;true\n",
         LATER)
    got = rows(engine, "SELECT task, done, updated_at FROM cutover_tasks ORDER BY task")
    assert [(t, bool(d)) for t, d, _ in got] == [("Opdater certifikat", True), ("Test af SF1520", True)]
    assert str(got[0][2]).startswith("2020-11-28 11:00") and str(got[1][2]).startswith("2020-11-29 09:00")


def test_a_task_deadline_is_optional_kept_and_replaced_by_the_newest_file(engine, now):
    load(engine, "tasks", "municipality_code;task;done;deadline\n101;Test af SF1520;nej;2020-11-27\n"
                          "101;Kontaktperson meldt;ja;\n", now)
    got = rows(engine, "SELECT task, deadline FROM cutover_tasks ORDER BY task")
    assert [(t, d and str(d)) for t, d in got] == [("Kontaktperson meldt", None), ("Test af SF1520", "2020-11-27")]
    load(engine, "tasks", "municipality_code;task;done;deadline\n101;Test af SF1520;nej;2020-11-26\n"
                          "101;Kontaktperson meldt;ja;2020-11-25\n", LATER)
    got = rows(engine, "SELECT task, deadline, updated_at FROM cutover_tasks ORDER BY task")
    assert [(t, str(d)) for t, d, _ in got] == [("Kontaktperson meldt", "2020-11-25"),
                                                ("Test af SF1520", "2020-11-26")]
    assert all(str(u).startswith("2020-11-28 11:00") for _, _, u in got)  # done did not change


# --- bad input ----------------------------------------------------------------------------

CALLS = "period_start,agreement_uuid,calls,errors\n"
AGR = "agreement_uuid,municipality_code,it_system_uuid,service,status\n"


@pytest.mark.parametrize("kind, content, line, column, reason", [
    ("calls", "", 1, "", MESSAGES["empty_file"]),
    ("calls", "  \n\n", 1, "", MESSAGES["empty_file"]),
    ("calls", CALLS, 2, "", MESSAGES["no_rows"]),
    ("calls", "period;agreement_uuid;calls\n2020-11-27;x;1\n", 1, "period_start", "missing required column(s) period_start"),
    ("calls", CALLS + f"2020-11-27,{A1},-5,\n", 2, "calls", MESSAGES["negative"]),
    ("calls", CALLS + f"2020-11-27,{A1},12.5,\n", 2, "calls", MESSAGES["not_integer"]),
    ("calls", CALLS + f"2020-11-27,{A1},12,x\n", 2, "errors", MESSAGES["not_integer"]),
    ("calls", CALLS + f"2020-11-27,{A1},,\n", 2, "calls", MESSAGES["required"]),
    ("calls", CALLS + f"2020-11-27,{A1},5,7\n", 2, "errors", "errors (7) exceed calls (5)"),
    ("calls", CALLS + f"27/11/2020,{A1},5,\n", 2, "period_start", MESSAGES["bad_period"]),
    ("agreements", AGR + "a-1,101,s-1,SF\x1f1520,aktiv\n", 2, "service",
     "contains the control character U+001F"),
    ("calls", CALLS + f"2020-11-27T10:00:00,{A1},5,\n", 2, "period_start", MESSAGES["no_offset"]),
    ("calls", CALLS + f"2020-11-27T10:30:00+01:00,{A1},5,\n", 2, "period_start", MESSAGES["not_whole_hour"]),
    ("calls", CALLS + f"2020-11-27,{A1},5,0\n2020-11-27,{A1},6,0\n", 3, "calls", "conflicts with line 2"),
    ("calls", CALLS + f"2020-11-27,{A1},5\n", 2, "", "the line has 3 fields, the header has 4"),
    ("calls", CALLS.encode() + b"2020-11-27,\xe6,5,\n", 2, "", "not UTF-8 text (byte 0xe6)"),
    ("calls", CALLS + f'2020-11-27,{A1},5,\n2020-11-27,"{A2},5,' + "x" * 200_000 + "\n", 3, "",
     "not readable as CSV"),
    ("calls", '{"period_start": "2020-11-27", "agreement_uuid": "x", "calls": 1}\n{"period_start": ', 2, "",
     "not a JSON object"),
    ("calls", json.dumps({"period_start": "2020-11-27", "agreement_uuid": A1, "calls": [1]}), 1, "calls",
     MESSAGES["not_plain"]),
    ("agreements", AGR + f"{A1},999,s1,SF1520,active\n", 2, "municipality_code", MESSAGES["unknown_municipality"]),
    ("agreements", AGR + f"{A1},KBH,s1,SF1520,active\n", 2, "municipality_code", MESSAGES["bad_code"]),
    ("agreements", AGR + f"{A1},101,s1,SF1520,maybe\n", 2, "status", "unknown status"),
    ("agreements", AGR + f"{A1},101,s1,SF1520,active\n{A1},101,s1,SF1601,pending\n", 3, "status",
     "differs from line 2 of the same agreement ('active' there)"),
    ("agreements", AGR + f"{A1},101,s1,SF1520,active\n{A1},147,s1,SF1601,active\n", 3, "municipality_code",
     "every row of an agreement must agree on municipality_code"),
    ("agreements", AGR.replace("status", "status,valid_from") + f"{A1},101,s1,SF1520,active,1.1.2020\n", 2,
     "valid_from", MESSAGES["bad_date"]),
    ("agreements", AGR.replace("status", "status,valid_from,valid_to") +
     f"{A1},101,s1,SF1520,active,2020-02-01,2020-01-01\n", 2, "valid_to", "valid_to must be after valid_from"),
    ("agreements", AGR.replace("status", "status,it_system_name") +
     f"{A1},101,s1,SF1520,active,Sag\n{A2},101,s1,SF1520,active,Sagssystem\n", 3, "it_system_name",
     "conflicts with line 2: same it_system_uuid"),
    ("agreements", AGR.replace("service,", "service,service,") + f"{A1},101,s1,SF1520,SF1520,active\n", 1, "service",
     MESSAGES["duplicate_column"]),
    ("municipalities", "code,name,region,population,population_date\n101,Kbh,Hovedstaden,-3,2020-01-01\n", 2,
     "population", MESSAGES["negative"]),
    ("municipalities", "code,name,region,population,population_date,user_access_control\n"
                       "101,Kbh,Hovedstaden,3,2020-01-01,måske\n", 2, "user_access_control", MESSAGES["bad_bool"]),
    ("municipalities", "code,name,region,population,population_date\n101,Kbh,Hovedstaden,3,2020-01-01\n"
                       "0101,København,Hovedstaden,3,2020-01-01\n", 3, "code", "conflicts with line 2: same code"),
    ("tasks", "municipality_code,task,done\n101,Test,måske\n", 2, "done", MESSAGES["bad_bool"]),
    ("tasks", "municipality_code,task,done\n101,Test,ja\n101,Test,nej\n", 3, "done", "conflicts with line 2"),
    ("tasks", "municipality_code,task,done\n998,Test,ja\n", 2, "municipality_code", MESSAGES["unknown_municipality"]),
    ("tasks", "municipality_code,task,done,deadline\n101,Test,ja,fredag\n", 2, "deadline", MESSAGES["bad_date"]),
    ("tasks", "municipality_code,task,done,deadline\n101,Test,ja,2020-11-27\n101,Test,ja,2020-11-26\n", 3, "done",
     "conflicts with line 2"),
])
def test_bad_input_is_rejected_whole_with_line_column_and_reason_and_the_database_is_unchanged(
        engine, agreements, now, kind, content, line, column, reason):
    before = snapshot(engine)
    result = load(engine, kind, content, LATER)
    assert result.outcome == "rejected"
    assert any(p.line == line and p.column == column and reason in p.reason for p in result.problems), \
        result.report()
    assert snapshot(engine) == before
    with session_factory(engine)() as s:
        ledger = s.scalars(select(ImportedFile).where(ImportedFile.status == "rejected")).one()
    assert ledger.kind == kind and f"line {line}" in ledger.report


def test_every_bad_row_of_a_file_is_reported_not_just_the_first(engine, agreements, now):
    content = CALLS + f"2020-11-26,{A1},1,\n2020-11-27,{A1},-1,\n2020-11-27,{A2},x,\nyesterday,{A1},1,\n"
    before = snapshot(engine)
    result = load(engine, "calls", content, now)
    assert [(p.line, p.column) for p in result.problems] == [(3, "calls"), (4, "calls"), (5, "period_start")]
    assert snapshot(engine) == before  # the good first row is not kept either
    assert counter(engine, "import_rows_total", "kind=calls,outcome=rejected") == 4


def test_the_command_prints_each_bad_line_exits_non_zero_and_leaves_the_file_where_it_is(
        engine, settings, agreements, tmp_path, monkeypatch):
    bad = tmp_path / "bad.csv"
    bad.write_text(CALLS + f"2020-11-27,{A1},-5,\n", encoding="utf-8")
    good = tmp_path / "good.csv"
    good.write_text(CALLS + f"2020-11-27,{A1},5,\n", encoding="utf-8")
    result = run_cli(monkeypatch, settings, "import", "calls", str(good), str(bad))
    assert result.exit_code == 1
    text = result.stdout
    assert "good.csv: imported 1 rows" in text
    assert "bad.csv: rejected" in text and "line 2, column calls, value '-5': a count cannot be negative" in text
    assert bad.exists() and good.exists()
    assert rows(engine, "SELECT calls FROM daily_calls") == [(5,)]
    with session_factory(engine)() as s:
        run = s.scalars(select(CollectorRun).where(CollectorRun.collector == "import")).one()
    assert run.outcome == "failure" and "bad.csv: rejected" in run.message


def test_the_command_exits_zero_when_every_file_was_imported_or_seen_before(engine, settings, agreements, tmp_path,
                                                                           monkeypatch):
    good = tmp_path / "good.csv"
    good.write_text(CALLS + f"2020-11-27,{A1},5,\n", encoding="utf-8")
    result = run_cli(monkeypatch, settings, "import", "calls", str(good), str(good))
    assert result.exit_code == 0
    assert "good.csv: already imported" in printed(result)[-1]
    assert counter(engine, "collector_runs_total", "collector=import,outcome=success") == 1


def test_the_command_prints_each_file_s_report_before_it_imports_the_next(engine, settings, agreements, tmp_path,
                                                                         monkeypatch):
    from monitor import cli

    first, second = tmp_path / "first.csv", tmp_path / "second.csv"
    first.write_text(CALLS + f"2020-11-27,{A1},5,\n", encoding="utf-8")
    second.write_text(CALLS + f"2020-11-28,{A1},6,\n", encoding="utf-8")
    events: list[str] = []
    real_import, real_echo = importer._safe_import, cli.echo_lines

    def importing(engine_, kind, name, data, now):
        events.append(f"import {Path(name).name}")
        return real_import(engine_, kind, name, data, now)

    def echoing(lines):
        events.extend(f"print {line.split(':')[0].rsplit('/', 1)[-1]}" for line in lines)
        real_echo(lines)

    monkeypatch.setattr(importer, "_safe_import", importing)
    monkeypatch.setattr(cli, "echo_lines", echoing)
    result = run_cli(monkeypatch, settings, "import", "calls", str(first), str(second))
    assert result.exit_code == 0, result.stdout
    assert events == ["import first.csv", "print first.csv", "import second.csv", "print second.csv"]


def test_an_earlier_file_sent_again_changes_nothing_and_with_a_blank_line_added_restores_its_counts(
        engine, agreements, now):
    first = CALLS + f"2020-11-27,{A1},5,\n"
    assert load(engine, "calls", first, now).outcome == "imported"
    assert load(engine, "calls", CALLS + f"2020-11-27,{A1},6,\n", now).outcome == "imported"
    again = load(engine, "calls", first, now)
    assert again.outcome == "unchanged" and "nothing to do" in again.report()
    assert rows(engine, "SELECT calls FROM daily_calls") == [(6,)]
    assert load(engine, "calls", first + "\n", now).outcome == "imported"  # docs/formats.md says how
    assert rows(engine, "SELECT calls FROM daily_calls") == [(5,)]


def test_a_missing_file_on_the_command_line_is_reported_and_exits_non_zero(engine, settings, tmp_path, monkeypatch):
    result = run_cli(monkeypatch, settings, "import", "calls", str(tmp_path / "missing.csv"))
    assert result.exit_code == 1
    assert "missing.csv: failed" in result.stdout and "cannot read the file" in result.stdout


# --- atomicity ----------------------------------------------------------------------------

def test_a_failure_after_some_rows_were_written_leaves_nothing_half_written(engine, agreements, now, monkeypatch):
    real = loaders.store_counts

    def write_half_then_fail(session, daily, hourly):
        real(session, daily[: len(daily) // 2], hourly)
        assert rows_in_transaction(session) > 0  # some rows really were written
        raise RuntimeError("disk full")

    def rows_in_transaction(session):
        from sqlalchemy import func

        from monitor.models import AgreementDay
        return session.scalar(select(func.count()).select_from(AgreementDay).where(AgreementDay.daily))

    monkeypatch.setattr(loaders, "store_counts", write_half_then_fail)
    before = snapshot(engine)
    content = CALLS + "".join(f"2020-11-{d:02d},{A1},{d},\n" for d in range(1, 21))
    result = importer._safe_import(engine, "calls", "calls.csv", content.encode(), now)
    assert result.outcome == "failed" and "disk full" in result.report()
    assert snapshot(engine) == before
    with session_factory(engine)() as s:
        assert s.scalars(select(ImportedFile).where(ImportedFile.kind == "calls")).all() == []
    monkeypatch.setattr(loaders, "store_counts", real)
    assert load(engine, "calls", content, now).outcome == "imported"  # and it can be retried


KILL_SCRIPT = """
import os, sys
from monitor.collectors.calls import importer, loaders
from monitor.db import make_engine
real = loaders.store_counts
def killed(session, daily, hourly):
    real(session, daily[:len(daily) // 2], hourly)
    session.flush()
    os._exit(9)  # the process dies mid-transaction, as under kill -9
loaders.store_counts = killed
importer.import_content(make_engine(sys.argv[1]), "calls", "calls.csv", open(sys.argv[2], "rb").read())
"""


def test_a_process_killed_in_the_middle_of_a_file_leaves_nothing_half_written(engine, settings, agreements,
                                                                               tmp_path):
    path = tmp_path / "calls.csv"
    path.write_text(CALLS + "".join(f"2020-11-{d:02d},{A1},{d},\n" for d in range(1, 29)), encoding="utf-8")
    before = snapshot(engine)
    done = subprocess.run([sys.executable, "-c", KILL_SCRIPT, settings.database.url, str(path)], check=False)
    assert done.returncode == 9
    assert snapshot(engine) == before
    assert rows(engine, "SELECT count(*) FROM imported_files") == [(1,)]  # the agreements file only


# --- docs/formats.md cannot drift -----------------------------------------------------------

DOC = Path(__file__).parent.parent / "docs" / "formats.md"


def doc_examples() -> list[tuple[str, str]]:
    """The fenced examples of docs/formats.md whose info string is ``csv import=KIND`` (or jsonl)."""
    examples = []
    lines = DOC.read_text(encoding="utf-8").splitlines()
    i = 0
    while i < len(lines):
        if lines[i].startswith("```") and "import=" in lines[i]:
            kind = lines[i].split("import=", 1)[1].strip()
            j = lines.index("```", i + 1)
            examples.append((kind, "\n".join(lines[i + 1:j]) + "\n"))
            i = j
        i += 1
    return examples


def test_every_message_an_operator_can_see_is_documented():
    doc = DOC.read_text(encoding="utf-8")
    for key, template in MESSAGES.items():
        assert f"`{key}`" in doc and template.split("{")[0].strip() in doc, key


def test_the_examples_in_the_format_documentation_import_in_their_order(engine, now):
    examples = doc_examples()
    assert [k for k, _ in examples][:4] == ["municipalities", "agreements", "calls", "tasks"]
    for kind, content in examples:
        result = load(engine, kind, content, now, name=f"example-{kind}")
        assert result.outcome == "imported" and not result.held, result.report()
    assert rows(engine, "SELECT count(*) FROM daily_calls")[0][0] > 0
    assert rows(engine, "SELECT count(*) FROM hourly_calls")[0][0] > 0


# --- files as spreadsheets save them --------------------------------------------------------

FIXTURES = Path(__file__).parent / "fixtures" / "import"


def test_a_file_saved_by_a_danish_spreadsheet_as_csv_utf8_is_imported(engine, agreements, now):
    data = (FIXTURES / "calls-excel-csv-utf8.csv").read_bytes()
    assert data.startswith(b"\xef\xbb\xbf") and b";" in data and b"\r\n" in data
    result = load(engine, "calls", data, now)
    assert (result.outcome, result.format) == ("imported", "CSV, semicolon-separated"), result.report()
    assert rows(engine, "SELECT calls, errors FROM daily_calls") == [(1200, 3)]
    assert rows(engine, "SELECT calls, errors FROM hourly_calls") == [(75, None)]


def test_a_file_saved_as_windows_1252_is_rejected_naming_the_line_of_the_first_bad_byte(engine, now):
    before = snapshot(engine)
    result = load(engine, "agreements", (FIXTURES / "agreements-excel-windows-1252.csv").read_bytes(), now)
    assert result.outcome == "rejected"
    assert [(p.line, p.reason) for p in result.problems] == [
        (2, 'not UTF-8 text (byte 0xf8); save the file as UTF-8 ("CSV UTF-8" in spreadsheets)')]
    assert snapshot(engine) == before


# PostgreSQL only: the binary COPY is its own.
@pytest.mark.parametrize("db_url", [pytest.param("postgresql", marks=pytest.mark.postgres)], indirect=True)
@settings_for_db
@given(st.lists(st.tuples(st.integers(1, 2**31 - 1), st.dates(dt.date(1970, 1, 1), dt.date(2100, 12, 31)),
                          st.integers(0, 10**15), st.none() | st.integers(0, 10**15)),
                unique_by=lambda r: (r[1], r[0]), max_size=40),
       st.integers(1, 7))
def test_daily_rows_in_binary_copy_read_back_as_they_were(engine, rows_in, chunk):
    """`columnar.binary_chunks` against the server: every value, NULL errors among them, in chunks of any size."""
    import pyarrow as pa

    from monitor.collectors.calls import columnar

    ordered = sorted(rows_in, key=lambda r: (r[1], r[0]))
    table = pa.table({"agreement_id": pa.array([r[0] for r in ordered], pa.int32()),
                      "day": pa.array([r[1] for r in ordered], pa.date32()),
                      "calls": pa.array([r[2] for r in ordered], pa.int64()),
                      "errors": pa.array([r[3] for r in ordered], pa.int64())})
    with engine.connect() as conn:
        dbapi = conn.connection.driver_connection
        with dbapi.cursor() as cur:
            cur.execute("CREATE TEMP TABLE copied (agreement_id integer, day date, calls bigint, errors bigint, "
                        "daily boolean)")
            loaders._copy(cur, "copied", "agreement_id, day, calls, errors, daily",
                          lambda: columnar.binary_chunks(table, chunk), binary=True)
            cur.execute("SELECT agreement_id, day, calls, errors, daily FROM copied ORDER BY day, agreement_id")
            back = cur.fetchall()
        conn.rollback()
    assert back == [(*r, True) for r in ordered]
