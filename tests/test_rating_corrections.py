"""Corrections: an operator agrees that an agreement was wrongly counted as unused, and the next rating uses it."""

from __future__ import annotations

import datetime as dt

import pytest
import time_machine
from flask.testing import FlaskClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from monitor.models import RatingCorrection, RatingRun
from monitor.rating import corrections, inputs
from monitor.rating.method import Parameters
from monitor.rating.service import rate, ratings_document, store_snapshot
from monitor.rating.whatif import what_if
from monitor.settings import Settings
from monitor.users import recent_audit
from tests.auth_helpers import csrf, sign_in
from tests.cli_helpers import run_cli
from tests.rating_helpers import AS_OF, add_agreement, small_country

NOW = dt.datetime(2020, 11, 28, 11, 0, tzinfo=dt.UTC)


@pytest.fixture
def country(session: Session) -> Session:
    """København: "a-busy" calls 100 a day, "b-silent" never calls (so it counts as unused)."""
    small_country(session)
    add_agreement(session, "z-other", municipality="147", it_system="sys-9")
    session.commit()
    return session


def objection(session: Session) -> int:
    row = inputs.submit(session, "101", "service_agreements", "b-silent bruges kun ved årsafslutning.",
                        "leder@kommune.dk", "da", NOW)
    session.commit()
    return row.id


def correct(operator: FlaskClient, input_id: int, agreement: str, reason: str):  # type: ignore[no-untyped-def]
    return operator.post(f"/drift/input/{input_id}/rettelse",
                         data={"agreement": agreement, "reason": reason, "csrf_token": csrf(operator, "/drift")})


def runs_of(session: Session) -> list[RatingRun]:
    session.expire_all()
    return list(session.scalars(select(RatingRun).where(RatingRun.as_of == AS_OF).order_by(RatingRun.revision)))


def score(run: RatingRun, code: str = "101") -> float | None:
    return next(r.score for r in run.results if r.municipality_code == code)


def test_the_next_monitor_rate_uses_a_correction_and_the_history_keeps_the_score_before_and_after(
        country: Session, app, settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    assert run_cli(monkeypatch, settings, "rate", "--as-of", AS_OF.isoformat()).exit_code == 0
    operator = sign_in(app.test_client())
    response = correct(operator, objection(country), "b-silent", "Kaldes kun ved årsafslutningen.")
    assert response.status_code == 303

    assert run_cli(monkeypatch, settings, "rate", "--as-of", AS_OF.isoformat()).exit_code == 0
    first, second = runs_of(country)
    assert score(second) is not None and score(first) is not None and score(second) > score(first)
    document = next(r.document for r in second.results if r.municipality_code == "101")
    assert document["correction"]["score_without"] == score(first)
    assert document["correction"]["agreements"][0]["uuid"] == "b-silent"
    assert document["parts"]["service_agreements"]["inputs"]["redundant"] == 0
    assert "correction" not in next(r.document for r in first.results if r.municipality_code == "101")
    assert score(second, "147") == score(first, "147")  # no other municipality moved
    assert "rating.correct" in [e.action for e in recent_audit(country)]

    with time_machine.travel(NOW, tick=False):  # the pages show "today"
        page = app.test_client().get("/kommune/101").get_data(as_text=True)
    assert "Rettet efter input:" in page and "Kaldes kun ved årsafslutningen." in page
    corrected = page[page.index('id="rettelse"'):page.index("</ul>", page.index('id="rettelse"'))]
    assert "tælles som i brug" in corrected and "Aftale b-silent" not in corrected  # named, not by its id
    assert 'title="b-silent"' in corrected  # the whole id in the reference's title
    assert f"{score(first):.1f}".replace(".", ",") in page and f"{score(second):.1f}".replace(".", ",") in page


def test_the_what_if_view_with_todays_parameters_sees_the_correction_as_monitor_rate_does(
        country: Session, engine, settings: Settings) -> None:  # type: ignore[no-untyped-def]
    corrections.record(country, "101", "b-silent", "i brug", "drift@example.dk", NOW)
    country.commit()
    store_snapshot(engine, settings, AS_OF)
    params = Parameters.from_mapping(settings.rating.parameters())
    ratings, summary = rate(country, settings, params, AS_OF)
    corrected = next(r.score for r in ratings if r.code == "101")
    assert corrected is not None and summary["corrections"]["101"]["score_without"] < corrected
    view = what_if(country, settings, params, ratings_document(country, settings, AS_OF))
    row = next(r for r in view.rows if r.code == "101")
    assert row.score == row.score_today == corrected


@pytest.mark.parametrize(("agreement", "reason"), [
    ("findes-ikke", "en grund"),
    ("z-other", "en anden kommunes aftale"),
    ("b-silent", "   "),
    ("b-silent", "r" * (corrections.MAX_REASON + 1)),
    ("b" * 500, "for lang"),
])
def test_a_correction_of_an_agreement_not_the_municipalitys_or_without_a_reason_is_refused(
        country: Session, app, agreement: str, reason: str) -> None:  # type: ignore[no-untyped-def]
    operator = sign_in(app.test_client())
    response = correct(operator, objection(country), agreement, reason)
    assert response.status_code == 400 and "Intet ændret" in response.get_data(as_text=True)
    assert country.scalar(select(func.count()).select_from(RatingCorrection)) == 0


def test_a_correction_needs_an_input_about_a_municipality_and_an_operator(
        country: Session, app, client: FlaskClient) -> None:  # type: ignore[no-untyped-def]
    general = inputs.submit(country, None, "method", "Generelt", "leder@kommune.dk", "da", NOW)
    country.commit()
    assert correct(sign_in(app.test_client()), general.id, "b-silent", "grund").status_code == 404
    stranger = client.post(f"/drift/input/{objection(country)}/rettelse",
                           data={"agreement": "b-silent", "reason": "x", "csrf_token": csrf(client, "/metode")})
    assert stranger.status_code in (302, 303, 401, 403)
    assert country.scalar(select(func.count()).select_from(RatingCorrection)) == 0


def test_an_operator_withdraws_a_correction_and_the_next_rating_counts_the_agreement_as_before(
        country: Session, app, settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    assert run_cli(monkeypatch, settings, "rate", "--as-of", AS_OF.isoformat()).exit_code == 0
    operator = sign_in(app.test_client())
    input_id = objection(country)
    assert correct(operator, input_id, "b-silent", "Kaldes kun ved årsafslutningen.").status_code == 303
    assert run_cli(monkeypatch, settings, "rate", "--as-of", AS_OF.isoformat()).exit_code == 0
    [row] = country.scalars(select(RatingCorrection)).all()
    page = operator.get("/drift").get_data(as_text=True)
    assert f'action="/drift/rettelse/{row.id}/traek-tilbage"' in page

    withdrawn = operator.post(f"/drift/rettelse/{row.id}/traek-tilbage", data={"csrf_token": csrf(operator, "/drift")})
    assert withdrawn.status_code == 303 and withdrawn.headers["Location"].endswith(f"#input-{input_id}")
    again = operator.post(f"/drift/rettelse/{row.id}/traek-tilbage", data={"csrf_token": csrf(operator, "/drift")})
    assert again.status_code == 409 and "allerede trukket tilbage" in again.get_data(as_text=True)
    unknown = operator.post(f"/drift/rettelse/{row.id + 1000}/traek-tilbage", data={"csrf_token": csrf(operator, "/drift")})
    assert unknown.status_code == 404
    page = operator.get("/drift").get_data(as_text=True)
    assert f'action="/drift/rettelse/{row.id}/traek-tilbage"' not in page and "Trukket tilbage" in page
    assert "rating.correct.withdraw" in [e.action for e in recent_audit(country)]

    assert run_cli(monkeypatch, settings, "rate", "--as-of", AS_OF.isoformat()).exit_code == 0
    first, corrected, after = runs_of(country)
    assert score(after) == score(first) and score(corrected) > score(first)  # type: ignore[operator]
    assert "correction" not in next(r.document for r in after.results if r.municipality_code == "101")
    assert "correction" in next(r.document for r in corrected.results if r.municipality_code == "101")  # kept
    assert country.scalar(select(func.count()).select_from(RatingCorrection)) == 1  # the row stays


def test_withdrawing_needs_an_operator(country: Session, client: FlaskClient) -> None:
    row = corrections.record(country, "101", "b-silent", "i brug", "drift@example.dk", NOW)
    country.commit()
    stranger = client.post(f"/drift/rettelse/{row.id}/traek-tilbage", data={"csrf_token": csrf(client, "/metode")})
    assert stranger.status_code in (302, 303, 401, 403)
    country.expire_all()
    assert country.get(RatingCorrection, row.id).withdrawn_at is None  # type: ignore[union-attr]


def test_monitor_corrections_lists_and_withdraws_once(
        country: Session, settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    row = corrections.record(country, "101", "b-silent", "Kaldes kun ved årsafslutningen.", "drift@example.dk", NOW)
    country.commit()
    listed = run_cli(monkeypatch, settings, "corrections", "list")
    assert listed.exit_code == 0
    [line] = listed.stdout.splitlines()
    assert line.split("\t")[:3] == [str(row.id), "101", "b-silent"] and "in force" in line
    done = run_cli(monkeypatch, settings, "corrections", "withdraw", str(row.id))
    assert done.exit_code == 0 and "withdrawn" in done.stdout
    twice = run_cli(monkeypatch, settings, "corrections", "withdraw", str(row.id))
    assert twice.exit_code == 1 and "withdrawn already" in twice.output
    unknown = run_cli(monkeypatch, settings, "corrections", "withdraw", "999")
    assert unknown.exit_code == 1 and "no correction 999" in unknown.output
    assert run_cli(monkeypatch, settings, "corrections", "withdraw", "0").exit_code == 2  # not an id at all
    assert run_cli(monkeypatch, settings, "corrections", "list").stdout.strip() == "no corrections in force"
    assert "withdrawn 20" in run_cli(monkeypatch, settings, "corrections", "list", "--all").stdout
    assert corrections.in_force(country) == {}
    assert "rating.correct.withdraw" in [e.action for e in recent_audit(country)]
