"""Acknowledgements: an operator marks a red or yellow municipality (or one silent agreement) as known."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from prometheus_client import generate_latest
from sqlalchemy import select

from monitor import create_app
from monitor.cutover import core
from monitor.cutover.acks import AckRefused, acknowledge, end_stale, end_stale_job
from monitor.cutover.core import Acknowledgement, AgreementTraffic, Inputs, Window
from monitor.cutover.documents import public_document
from monitor.db import session_factory
from monitor.metrics import registry_for
from monitor.models import AuditEvent, CutoverAcknowledgement
from monitor.settings import CutoverSettings
from tests.auth_helpers import csrf, sign_in
from tests.conftest import make_settings
from tests.cutover_helpers import add_agreement, add_hours, hours

UTC = dt.UTC
CET = dt.timezone(dt.timedelta(hours=1))
SETTINGS = CutoverSettings()
WINDOW = Window(start=dt.datetime(2020, 11, 28, 7, tzinfo=UTC), end=dt.datetime(2020, 11, 29, 17, tzinfo=UTC),
                source="config")
NOW = dt.datetime(2020, 11, 29, 20, 30, tzinfo=UTC)
WM = dt.datetime(2020, 11, 29, 20, tzinfo=UTC)


def ack(status="red", *, at=NOW - dt.timedelta(hours=1), agreement=None, ended=None, code="101", ack_id=1):
    return Acknowledgement(ack_id, code, agreement, "Kendt: leverandøren genstarter", "drift@example.dk", at,
                           status, ended)


@pytest.mark.parametrize(("case", "a", "status", "silent", "holds"), [
    ("red, acknowledged an hour ago", ack("red"), "red", set(), True),
    ("red acknowledged, now yellow: better, still known", ack("red"), "yellow", set(), True),
    ("yellow acknowledged, now red: worse, not covered", ack("yellow"), "red", set(), False),
    ("turned green", ack("red"), "green", set(), False),
    ("pending again is neither red nor yellow", ack("red"), "pending", set(), False),
    ("12 hours old", ack("red", at=NOW - dt.timedelta(hours=12)), "red", set(), False),
    ("just under 12 hours old", ack("red", at=NOW - dt.timedelta(hours=11, minutes=59)), "red", set(), True),
    ("given in the future", ack("red", at=NOW + dt.timedelta(minutes=1)), "red", set(), False),
    ("marked ended", ack("red", ended=NOW - dt.timedelta(minutes=5)), "red", set(), False),
    ("one agreement, still silent", ack("yellow", agreement="a2"), "yellow", {"a2"}, True),
    ("one agreement, calling again", ack("yellow", agreement="a2"), "yellow", {"a3"}, False),
])
def test_an_acknowledgement_holds_only_while_its_rules_hold(case, a, status, silent, holds):
    assert core.ack_is_active(a, status, silent, SETTINGS, NOW) is holds, case


def traffic(uuid, observed, baseline):
    return AgreementTraffic(uuid, "101", "active", "s-" + uuid, "System " + uuid, "KMD", ("SF1520",),
                            observed_calls=observed, baseline_calls=baseline, baseline_rows=3)


def evaluate(rows, acks):
    inputs = Inputs(now=NOW, window=WINDOW, watermark=WM, municipalities=[("101", "København")], traffic=rows,
                    acknowledgements=acks)
    return inputs, core.evaluate(inputs, SETTINGS, core.observed_span(WINDOW, NOW, WM, SETTINGS.lookback_hours))


def test_the_document_carries_the_acknowledgement_and_its_public_form_masks_the_operator():
    _, doc = evaluate([traffic("a1", 0, 300)], [ack("red")])
    got = doc["municipalities"][0]["acknowledgement"]
    assert got["note"] == "Kendt: leverandøren genstarter"
    assert got["operator"] == "drift@example.dk"  # the core knows who; the public view masks it
    public = public_document(doc)
    assert public["municipalities"][0]["acknowledgement"]["operator"] == "d…t@example.dk"
    assert "drift@" not in str(public) and got["operator"] == "drift@example.dk"  # the original is untouched
    assert got["created_at"] == "2020-11-29T19:30:00+00:00" and got["expires_at"] == "2020-11-30T07:30:00+00:00"


def test_an_agreement_acknowledgement_sits_on_that_silent_agreement_only():
    _, doc = evaluate([traffic("a1", 300, 300), traffic("a2", 0, 40), traffic("a3", 0, 40)],
                      [ack("yellow", agreement="a2")])
    m = doc["municipalities"][0]
    assert m["acknowledgement"] is None
    by_uuid = {a["agreement_uuid"]: a["acknowledgement"] for a in m["silent_agreements"]}
    assert by_uuid["a2"]["note"] and by_uuid["a3"] is None


def test_acknowledgements_that_no_longer_hold_are_named_for_ending():
    acks = [ack("red", ack_id=1), ack("yellow", ack_id=2), ack("red", agreement="gone", ack_id=3)]
    inputs, doc = evaluate([traffic("a1", 0, 300)], acks)
    assert core.ending_acknowledgements(inputs, SETTINGS, doc) == [2, 3]


# --- stored, through the page, in the API and the metrics ------------------------------------

CUTOVER = {"start": dt.datetime(2020, 11, 28, 8, tzinfo=CET), "end": dt.datetime(2020, 11, 29, 18, tzinfo=CET)}


@pytest.fixture
def red_weekend(tmp_path, db_url):  # type: ignore[no-untyped-def]
    """157 is red (nothing came back), 147 yellow (one silent agreement), 101 green; the clock frozen."""
    settings = make_settings(tmp_path, db_url, cutover=CUTOVER)
    app = create_app(settings)
    app.config.update(TESTING=True, MONITOR_CLOCK=lambda: NOW)
    engine = app.extensions["monitor"].engine
    before = hours(dt.datetime(2020, 11, 22, 6, tzinfo=UTC), 14)
    after = hours(dt.datetime(2020, 11, 29, 17, tzinfo=UTC), 3)
    with session_factory(engine)() as s:
        for code, uuid, back in (("157", "a157", 0), ("147", "a147-ok", 50), ("101", "a101", 100)):
            a = add_agreement(s, uuid, code)
            add_hours(s, a, before, 50 if code == "147" else 100)
            add_hours(s, a, after, back)
        silent = add_agreement(s, "a147-silent", "147", supplier="Netcompany")
        add_hours(s, silent, before, 50)
        s.commit()
    yield app, settings
    engine.dispose()


def post_ack(client, **form):  # type: ignore[no-untyped-def]
    return client.post("/skift/ack", data={"csrf_token": csrf(client, "/skift"), **form})


def test_an_operator_acknowledges_a_red_municipality_and_it_shows_everywhere(red_weekend):
    app, _ = red_weekend
    client = sign_in(app.test_client())
    response = post_ack(client, municipality="157", note="IBM genstarter forbindelsen, ETA 22:00")
    assert response.status_code == 303 and response.headers["Location"].endswith("/skift#kommune-157")
    doc = client.get("/api/v1/cutover?now=2020-11-29T21:30:00%2B01:00").get_json()
    m = next(m for m in doc["municipalities"] if m["code"] == "157")
    assert m["status"] == "red"
    assert m["acknowledgement"]["note"] == "IBM genstarter forbindelsen, ETA 22:00"
    assert m["acknowledgement"]["operator"] == "d…t@example.dk"
    page = client.get("/skift").get_data(as_text=True)
    assert "IBM genstarter forbindelsen, ETA 22:00" in page and "29.11.2020 kl. 21:30 CET" in page
    municipality_page = app.test_client().get("/kommune/157").get_data(as_text=True)
    assert "IBM genstarter forbindelsen, ETA 22:00" in municipality_page
    registry = registry_for(app.extensions["monitor"].sessions, app.extensions["monitor"].settings, lambda: NOW)
    metrics = generate_latest(registry).decode()
    assert re.search(r'^fki_cutover_acknowledged\{municipality="157"\} 1\.0$', metrics, re.M)
    assert re.search(r'^fki_cutover_acknowledged\{municipality="147"\} 0\.0$', metrics, re.M)
    with app.extensions["monitor"].sessions() as s:
        assert s.scalars(select(AuditEvent.action).where(AuditEvent.action == "cutover.ack")).all() == ["cutover.ack"]


def test_one_silent_agreement_can_be_acknowledged_on_its_own(red_weekend):
    app, _ = red_weekend
    client = sign_in(app.test_client())
    assert post_ack(client, municipality="147", agreement="a147-silent", note="Systemet udfases").status_code == 303
    doc = client.get("/api/v1/cutover?now=2020-11-29T21:30:00%2B01:00").get_json()
    m = next(m for m in doc["municipalities"] if m["code"] == "147")
    assert m["acknowledgement"] is None
    assert m["silent_agreements"][0]["acknowledgement"]["note"] == "Systemet udfases"


@pytest.mark.parametrize(("form", "message"), [
    ({"municipality": "101", "note": "alt vel"}, "Kun en rød eller gul kommune"),
    ({"municipality": "157", "note": "   "}, "Skriv en note"),
    ({"municipality": "157", "note": "x" * 1001}, "højst være 1000 tegn"),
    ({"municipality": "999", "note": "hvem?"}, "Kommunen findes ikke"),
    ({"municipality": "147", "agreement": "a147-ok", "note": "den kalder"}, "ikke en af kommunens tavse"),
])
def test_a_refused_acknowledgement_says_why_and_stores_nothing(red_weekend, form, message):
    app, _ = red_weekend
    client = sign_in(app.test_client())
    response = post_ack(client, **form)
    assert response.status_code == 400
    assert message in response.get_data(as_text=True), response.get_data(as_text=True)[-1500:]
    with app.extensions["monitor"].sessions() as s:
        assert s.scalars(select(CutoverAcknowledgement)).all() == []


def test_signed_out_nobody_can_acknowledge_and_no_form_is_shown(red_weekend):
    app, _ = red_weekend
    client = app.test_client()
    assert 'action="/skift/ack"' not in client.get("/skift").get_data(as_text=True)
    response = client.post("/skift/ack", data={"csrf_token": csrf(client, "/login"), "municipality": "157",
                                                "note": "udefra"})
    assert response.status_code == 303 and "/login" in response.headers["Location"]
    with app.extensions["monitor"].sessions() as s:
        assert s.scalars(select(CutoverAcknowledgement)).all() == []


def test_a_signed_in_operator_sees_the_form_and_others_never_get_that_page_from_the_cache(red_weekend):
    app, _ = red_weekend
    operator = sign_in(app.test_client())
    assert 'action="/skift/ack"' in operator.get("/skift").get_data(as_text=True)
    assert 'action="/skift/ack"' not in app.test_client().get("/skift").get_data(as_text=True)


def test_an_acknowledgement_ends_for_good_once_the_municipality_is_green(red_weekend):
    app, settings = red_weekend
    with app.extensions["monitor"].sessions() as s, s.begin():
        acknowledge(s, settings, NOW, municipality="157", agreement=None, note="kendt", operator="drift@example.dk")
    with app.extensions["monitor"].sessions() as s, s.begin():
        assert end_stale(s, settings, NOW) == 0  # still red: it holds
    # The calls come back: 157 is green an hour later, and the acknowledgement is marked ended.
    later = NOW + dt.timedelta(hours=1)
    with app.extensions["monitor"].sessions() as s:
        from monitor.models import Agreement
        a = s.scalars(select(Agreement).where(Agreement.uuid == "a157")).one()
        add_hours(s, a, hours(dt.datetime(2020, 11, 29, 17, tzinfo=UTC), 4), 100)
        s.commit()
    end_stale_job(app.extensions["monitor"].engine, settings, later)  # the scheduler's job
    with app.extensions["monitor"].sessions() as s:
        row = s.scalars(select(CutoverAcknowledgement)).one()
        assert row.ended_at == later


def test_acknowledging_twice_keeps_both_and_shows_the_newest(red_weekend):
    app, settings = red_weekend
    with app.extensions["monitor"].sessions() as s, s.begin():
        acknowledge(s, settings, NOW - dt.timedelta(minutes=30), municipality="157", agreement=None,
                    note="første", operator="drift@example.dk")
        acknowledge(s, settings, NOW, municipality="0157", agreement=None, note="anden",
                    operator="vagt@example.dk")
    doc = app.test_client().get("/api/v1/cutover?now=2020-11-29T21:30:00%2B01:00").get_json()
    assert next(m for m in doc["municipalities"] if m["code"] == "157")["acknowledgement"]["note"] == "anden"


def test_the_refusal_reasons_are_codes_for_the_page():
    with pytest.raises(AckRefused) as refused:
        raise AckRefused("note_too_long", max=1000)
    assert refused.value.code == "note_too_long" and refused.value.numbers == {"max": 1000}


def test_the_scheduler_job_does_nothing_without_an_open_acknowledgement(red_weekend):
    app, settings = red_weekend
    end_stale_job(app.extensions["monitor"].engine, settings, NOW)
    with app.extensions["monitor"].sessions() as s:
        assert s.scalars(select(CutoverAcknowledgement)).all() == []


def test_an_acknowledgement_is_confirmed_on_the_page_and_can_be_withdrawn_with_an_audit_entry(red_weekend):
    app, _ = red_weekend
    client = sign_in(app.test_client())
    given = post_ack(client, municipality="157", note="IBM genstarter forbindelsen")
    assert "Gentofte er markeret som kendt." in client.get(given.headers["Location"]).get_data(as_text=True)
    assert "er markeret som kendt" not in client.get("/skift").get_data(as_text=True)  # said once
    withdrawn = post_ack(client, municipality="157", withdraw="1")
    assert withdrawn.status_code == 303 and withdrawn.headers["Location"].endswith("/skift#kommune-157")
    page = client.get(withdrawn.headers["Location"]).get_data(as_text=True)
    assert "Markeringen som kendt er trukket tilbage for Gentofte." in page
    assert "IBM genstarter forbindelsen" not in page
    doc = client.get("/api/v1/cutover?now=2020-11-29T21:30:00%2B01:00").get_json()
    assert next(m for m in doc["municipalities"] if m["code"] == "157")["acknowledgement"] is None
    with app.extensions["monitor"].sessions() as s:
        assert s.scalars(select(CutoverAcknowledgement.ended_at)).all() == [NOW]
        actions = s.scalars(select(AuditEvent.action).where(AuditEvent.action.like("cutover.%"))
                            .order_by(AuditEvent.id)).all()
        assert actions == ["cutover.ack", "cutover.withdraw"]


def test_withdrawing_one_silent_agreement_leaves_the_others(red_weekend):
    app, settings = red_weekend
    with app.extensions["monitor"].sessions() as s, s.begin():
        acknowledge(s, settings, NOW, municipality="147", agreement="a147-silent", note="udfases",
                    operator="drift@example.dk")
    client = sign_in(app.test_client())
    assert post_ack(client, municipality="147", withdraw="1").status_code == 400  # none for the whole municipality
    assert post_ack(client, municipality="147", agreement="a147-silent", withdraw="1").status_code == 303


def test_withdrawing_what_is_not_there_is_refused_and_changes_nothing(red_weekend):
    app, _ = red_weekend
    client = sign_in(app.test_client())
    response = post_ack(client, municipality="157", withdraw="1")
    assert response.status_code == 400
    assert "Der er ingen markering som kendt at trække tilbage." in response.get_data(as_text=True)
    with app.extensions["monitor"].sessions() as s:
        assert s.scalars(select(AuditEvent.action).where(AuditEvent.action == "cutover.withdraw")).all() == []


def test_signed_out_nobody_can_withdraw(red_weekend):
    app, settings = red_weekend
    with app.extensions["monitor"].sessions() as s, s.begin():
        acknowledge(s, settings, NOW, municipality="157", agreement=None, note="kendt", operator="drift@example.dk")
    client = app.test_client()
    response = client.post("/skift/ack", data={"csrf_token": csrf(client, "/login"), "municipality": "157",
                                                "withdraw": "1"})
    assert response.status_code == 303 and "/login" in response.headers["Location"]
    with app.extensions["monitor"].sessions() as s:
        assert s.scalars(select(CutoverAcknowledgement.ended_at)).all() == [None]


def test_a_yellow_row_has_one_form_in_which_its_silent_agreements_are_chosen(red_weekend):
    app, _ = red_weekend
    client = sign_in(app.test_client())
    page = client.get("/skift").get_data(as_text=True)
    row = re.search(r'<tr id="kommune-147"[^>]*>(.*?)</tr>', page, re.S).group(1)
    assert row.count('class="ack-form"') == 1
    assert '<input type="checkbox" name="agreement" value="a147-silent">' in row
    assert page.count('class="ack-form"') == 2  # 157 and 147: one per red or yellow row, none elsewhere
    response = post_ack(client, municipality="147", agreement="a147-silent", note="Systemet udfases")
    assert "1 tavs aftale i Frederiksberg er markeret som kendt." in client.get(
        response.headers["Location"]).get_data(as_text=True)


def test_one_agreement_that_is_not_silent_refuses_the_whole_form(red_weekend):
    app, _ = red_weekend
    client = sign_in(app.test_client())
    response = client.post("/skift/ack", data={"csrf_token": csrf(client, "/skift"), "municipality": "147",
                                                "agreement": ["a147-silent", "a147-ok"], "note": "begge"})
    assert response.status_code == 400
    with app.extensions["monitor"].sessions() as s:
        assert s.scalars(select(CutoverAcknowledgement)).all() == []


@pytest.mark.parametrize("one_by_one", [10, 0], ids=["own-rows", "whole-country"])
def test_ending_stale_acknowledgements_reads_only_their_municipalities_and_agrees_with_the_country(
        red_weekend, monkeypatch, one_by_one):
    app, settings = red_weekend
    with app.extensions["monitor"].sessions() as s, s.begin():
        for code in ("157", "147"):
            acknowledge(s, settings, NOW, municipality=code, agreement=None, note="kendt", operator="drift@example.dk")
    later = NOW + dt.timedelta(hours=1)
    with app.extensions["monitor"].sessions() as s:  # 157's calls come back; 147 keeps its silent agreement
        from monitor.models import Agreement
        a = s.scalars(select(Agreement).where(Agreement.uuid == "a157")).one()
        add_hours(s, a, hours(dt.datetime(2020, 11, 29, 17, tzinfo=UTC), 4), 100)
        s.commit()
    import monitor.cutover.acks as acks

    monkeypatch.setattr(acks, "ONE_BY_ONE", one_by_one)
    if one_by_one:
        def whole_country(*args, **kwargs):  # type: ignore[no-untyped-def]
            raise AssertionError("the whole country was evaluated for two municipalities")
        monkeypatch.setattr(core, "evaluate", whole_country)
    end_stale_job(app.extensions["monitor"].engine, settings, later)
    with app.extensions["monitor"].sessions() as s:
        ended = {row.municipality_code: row.ended_at for row in s.scalars(select(CutoverAcknowledgement))}
    assert ended == {"157": later, "147": None}
