"""`monitor db check`: counts the rows that point at nothing, finds none on a clean demo, finds an
orphan slipped in past the foreign keys, and finds day rows that disagree with their counts."""

from __future__ import annotations

import pytest
from sqlalchemy import Connection, Engine, text

from monitor.demo import load_demo
from tests.cli_helpers import printed, run_cli


@pytest.fixture
def demo(engine, settings, now):  # type: ignore[no-untyped-def]
    load_demo(engine, settings, seed=1, size="small", now=now)
    return engine


def without_foreign_keys(engine: Engine, *statements: str) -> None:
    """Run `statements` with the foreign keys not enforced, as a bulk load or a manual fix might."""
    with engine.connect() as conn:
        if engine.dialect.name == "sqlite":
            conn.exec_driver_sql("PRAGMA foreign_keys=OFF")
        else:
            conn.exec_driver_sql("SET session_replication_role = replica")
        _run(conn, statements)
        if engine.dialect.name == "sqlite":
            conn.exec_driver_sql("PRAGMA foreign_keys=ON")
        else:
            conn.exec_driver_sql("SET session_replication_role = DEFAULT")


def _run(conn: Connection, statements: tuple[str, ...]) -> None:
    for statement in statements:
        conn.execute(text(statement))
    conn.commit()


def counts(lines: list[str]) -> dict[str, int]:
    """Each problem kind the command printed, with its count."""
    found = {}
    for line in lines:
        if ":" in line and line.strip()[0].isdigit():
            number, _, rest = line.strip().partition("  ")
            found[rest.split(":")[0]] = int(number.replace(",", ""))
    return found


def test_a_clean_demo_has_no_integrity_problems(monkeypatch, settings, demo):
    result = run_cli(monkeypatch, settings, "db", "check")
    assert result.exit_code == 0, result.output
    lines = printed(result)
    found = counts(lines)
    assert "daily_calls_without_agreement" in found and "agreements_without_municipality" in found
    assert set(found.values()) == {0}
    assert lines[-1] == "no integrity problems found"


def test_an_orphan_count_and_an_agreement_without_municipality_are_found_and_fail_the_check(
        monkeypatch, settings, demo):
    without_foreign_keys(
        demo,
        "INSERT INTO agreement_days (agreement_id, day, calls, errors, daily) VALUES (987654, '2020-11-20', 5, 0, true)",
        "INSERT INTO agreement_days (agreement_id, day, calls, errors, daily) VALUES (987654, '2020-11-21', 6, 0, true)",
        "INSERT INTO hourly_calls (agreement_id, hour, day, calls, errors) "
        "VALUES (987655, '2020-11-20 10:00:00', '2020-11-20', 5, 9)",
        "UPDATE agreements SET municipality_code = '999' WHERE id = (SELECT min(id) FROM agreements)",
    )
    result = run_cli(monkeypatch, settings, "db", "check")
    assert result.exit_code == 1
    found = counts(printed(result))
    assert found["daily_calls_without_agreement"] == 2
    assert found["hourly_calls_without_agreement"] == 1
    assert found["hourly_calls_impossible"] == 1  # 9 errors among 5 calls
    assert found["agreements_without_municipality"] == 1
    assert found["daily_calls_impossible"] == 0 and found["agreement_services_without_agreement"] == 0
    assert found["agreement_days_disagreeing"] == 1  # hours written past the import have no day row
    if demo.dialect.name == "sqlite":
        assert found["agreement_weeks_disagreeing"] == 0  # the triggers marked the week stale
        assert "6 row(s) with integrity problems, of 5 kind(s)" in result.output
    else:  # replica mode skips every trigger, the one that marks the written weeks stale too
        assert found["agreement_weeks_disagreeing"] == 1
        assert "7 row(s) with integrity problems, of 6 kind(s)" in result.output


def test_a_week_that_disagrees_with_its_days_is_found_and_a_refresh_of_a_stale_week_mends_it(
        monkeypatch, settings, demo):
    with demo.begin() as conn:  # past the triggers' marks: the week's sum changed behind them
        conn.execute(text("UPDATE agreement_weeks SET calls = calls + 1 WHERE agreement_id = "
                          "(SELECT min(agreement_id) FROM agreement_weeks) AND week = "
                          "(SELECT max(week) FROM agreement_weeks)"))
    found = counts(printed(run_cli(monkeypatch, settings, "db", "check")))
    assert found["agreement_weeks_disagreeing"] == 2  # the stored row, and the sum it should be
    with demo.begin() as conn:  # a write to one of the week's days marks it stale: read from its days
        conn.execute(text("UPDATE agreement_days SET calls = calls WHERE day = (SELECT max(day) FROM agreement_days) "
                          "AND agreement_id = (SELECT min(agreement_id) FROM agreement_days)"))
    assert counts(printed(run_cli(monkeypatch, settings, "db", "check")))["agreement_weeks_disagreeing"] == 0


def test_day_rows_that_disagree_with_their_counts_are_found_and_fail_the_check(monkeypatch, settings, demo):
    with demo.begin() as conn:
        # Rows of days without a daily count (the sums of their hours): today's, which has no daily count yet.
        hours_day = "(SELECT max(day) FROM agreement_days WHERE NOT daily)"
        conn.execute(text(f"UPDATE agreement_days SET calls = calls + 1 WHERE day = {hours_day} AND agreement_id = "
                          f"(SELECT min(agreement_id) FROM agreement_days WHERE NOT daily AND day = {hours_day})"))
        conn.execute(text(f"DELETE FROM agreement_days WHERE day = {hours_day} AND agreement_id = "
                          f"(SELECT max(agreement_id) FROM agreement_days WHERE NOT daily AND day = {hours_day})"))
        # A daily count is its own source: changing one is no disagreement.
        conn.execute(text("UPDATE agreement_days SET calls = calls + 1 WHERE daily AND day = "
                          "(SELECT min(day) FROM agreement_days WHERE daily)"))
        conn.execute(text("INSERT INTO agreement_days (day, agreement_id, calls) "
                          "VALUES ('2001-01-01', (SELECT min(id) FROM agreements), 3)"))
    result = run_cli(monkeypatch, settings, "db", "check")
    assert result.exit_code == 1
    found = counts(printed(result))
    assert found["agreement_days_disagreeing"] == 3  # a wrong value, a missing row, a row with no count
    assert {kind for kind, n in found.items() if n} == {"agreement_days_disagreeing"}


def test_the_check_changes_nothing(monkeypatch, settings, demo):
    from tests.import_helpers import snapshot

    before = snapshot(demo)
    run_cli(monkeypatch, settings, "db", "check")
    assert snapshot(demo) == before
