"""GET /metrics: names, labels and values read from the database, parsed as Prometheus parses them."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from monitor import create_app, metrics
from monitor.cutover import STATUSES
from tests.conftest import make_settings
from tests.cutover_helpers import add_agreement, add_hours, hours
from tests.metrics_helpers import fill

UTC = dt.UTC
DOCS = Path(__file__).parent.parent / "docs" / "metrics.md"
SPEC_NAMES = {
    "fki_rating_score": {"municipality", "name"}, "fki_rating_part_score": {"municipality", "part"},
    "fki_agreements": {"municipality", "state"}, "fki_cutover_call_ratio": {"municipality"},
    "fki_cutover_observed_calls": {"municipality"}, "fki_cutover_baseline_calls": {"municipality"},
    "fki_cutover_silent_agreements": {"municipality"}, "fki_cutover_status": {"municipality", "status"},
    "fki_cutover_watermark_timestamp_seconds": set(), "fki_notices_open": {"component", "kind"},
    "fki_component_status": {"component", "status"}, "fki_collector_last_success_timestamp_seconds": {"collector"},
    "fki_collector_runs_total": {"collector", "outcome"}, "fki_import_rows_total": {"kind", "outcome"},
    "fki_notifications_total": {"channel", "outcome"}, "fki_notification_queue_depth": set(),
    "fki_build_info": {"version", "rating_method"}, "fki_mail_sent_total": {"kind"},
}
UNBOUNDED = {"agreement", "agreement_uuid", "it_system", "notice", "notice_id", "id", "uuid", "email", "path"}


def samples(text: str) -> dict[str, dict[tuple[tuple[str, str], ...], float]]:
    """{sample name: {sorted label pairs: value}} of an exposition."""
    out: dict[str, dict] = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out.setdefault(s.name, {})[tuple(sorted(s.labels.items()))] = s.value
    return out


def families(text: str) -> dict[str, object]:
    return {f.name: f for f in text_string_to_metric_families(text)}


@pytest.fixture
def settings(tmp_path, db_url):
    """The test settings with the filled database's notice source configured by name."""
    return make_settings(tmp_path, db_url, notices={"sources": [
        {"name": "driftstatus", "url": "https://status.example.dk/history.rss", "kind": "feed"}]})


@pytest.fixture
def filled(session, now):
    """A database with a little of everything the metrics read."""
    fill(session, now)


def scrape(settings, now) -> str:
    app = create_app(settings)
    app.extensions["monitor_metrics"] = metrics.registry_for(app.extensions["monitor"].sessions, settings,
                                                            clock=lambda: now)
    try:
        response = app.test_client().get("/metrics")
        assert response.status_code == 200
        assert response.content_type == "text/plain; version=0.0.4; charset=utf-8"
        return response.get_data(as_text=True)
    finally:
        app.extensions["monitor"].engine.dispose()


def test_every_metric_of_the_spec_is_exported_with_its_labels(filled, settings, now):
    found = families(scrape(settings, now))
    for name, labels in SPEC_NAMES.items():
        family_name = name.removesuffix("_total")
        assert family_name in found, name
        for s in found[family_name].samples:
            assert set(s.labels) == labels, (name, s.labels)


def test_the_values_are_those_in_the_database(filled, settings, now):
    s = samples(scrape(settings, now))
    assert s["fki_rating_score"] == {(("municipality", "101"), ("name", "København")): 6.25}
    assert s["fki_rating_part_score"] == {
        (("municipality", "101"), ("part", "calls_per_citizen")): 1.0,
        (("municipality", "101"), ("part", "service_agreements")): 5.5}
    assert s["fki_agreements"][(("municipality", "101"), ("state", "active"))] == 1
    assert s["fki_agreements"][(("municipality", "101"), ("state", "pending"))] == 1
    assert s["fki_agreements"][(("municipality", "101"), ("state", "rejected"))] == 0
    assert s["fki_cutover_status"][(("municipality", "101"), ("status", "red"))] == 1
    assert s["fki_cutover_status"][(("municipality", "101"), ("status", "green"))] == 0
    assert s["fki_cutover_status"][(("municipality", "147"), ("status", "unknown"))] == 1
    assert s["fki_cutover_baseline_calls"][(("municipality", "101"),)] == 600
    assert s["fki_cutover_observed_calls"][(("municipality", "101"),)] == 0
    assert s["fki_cutover_call_ratio"] == {(("municipality", "101"),): 0.0}  # not judged elsewhere: absent
    assert s["fki_cutover_silent_agreements"][(("municipality", "101"),)] == 1
    assert s["fki_cutover_watermark_timestamp_seconds"] == {(): now.timestamp()}
    assert s["fki_cutover_service_baseline_calls"] == {(("service", "SF1520"),): 600}
    assert s["fki_notices_open"][(("component", "beskedfordeler"), ("kind", "incident"))] == 1
    assert s["fki_notices_open"][(("component", "organisation"), ("kind", "incident"))] == 0
    assert s["fki_component_status"][(("component", "beskedfordeler"), ("status", "degraded_performance"))] == 1
    assert s["fki_component_status"][(("component", "beskedfordeler"), ("status", "operational"))] == 0
    assert s["fki_component_status"][(("component", "organisation"), ("status", "operational"))] == 1
    assert s["fki_notice_source_consecutive_failures"] == {(("source", "driftstatus"),): 2}
    assert s["fki_collector_last_success_timestamp_seconds"] == {
        (("collector", "calls"),): (now - dt.timedelta(minutes=1)).timestamp()}
    assert s["fki_import_rows_total"] == {(("kind", "calls"), ("outcome", "imported")): 1200}
    assert s["fki_notifications_total"] == {(("channel", "email"), ("outcome", "sent")): 3}
    # Every kind from the start, at 0 until its first mail; what the database counted for the rest.
    assert s["fki_mail_sent_total"] == {
        (("kind", kind),): 3.0 if kind == "notice" else 0.0
        for kind in ("notice", "reminder", "digest", "cutover_report", "alert", "confirmation", "invitation", "login",
                     "answer")}
    assert s["fki_collector_runs_total"] == {(("collector", "calls"), ("outcome", "success")): 4}
    assert s["fki_notification_queue_depth"] == {(): 1}
    assert s["fki_import_held_rows"] == {(): 1}
    assert s["fki_build_info"] == {(("rating_method", "2020.12"), ("version", "0.1.0")): 1}
    assert s["fki_database_up"] == {(): 1}


def test_a_municipality_too_small_to_judge_has_its_own_not_judged_series_and_is_not_green(filled, session,
                                                                                          settings, now):
    a = add_agreement(session, "a151", "151")
    add_hours(session, a, hours(now - dt.timedelta(days=7, hours=6), 6), 2)  # a normal 12 calls
    add_hours(session, a, hours(now - dt.timedelta(hours=6), 6), 1)
    session.commit()
    text = scrape(settings, now)
    lines = [line for line in text.splitlines() if line.startswith('fki_cutover_status{municipality="151"')]
    assert 'fki_cutover_status{municipality="151",status="not_judged"} 1.0' in lines
    assert 'fki_cutover_status{municipality="151",status="green"} 0.0' in lines
    assert len(lines) == len(STATUSES) and sum(line.endswith(" 1.0") for line in lines) == 1
    assert not [line for line in text.splitlines() if line.startswith('fki_cutover_call_ratio{municipality="151"')]


def test_every_exported_metric_is_declared_and_documented(filled, settings, now):
    documented = set(re.findall(r"^\| `(fki_[a-z_]+)`", DOCS.read_text(encoding="utf-8"), re.MULTILINE))
    text = scrape(settings, now)
    for family in text_string_to_metric_families(text):
        name = family.name + ("_total" if family.type == "counter" else "")
        assert name in metrics.SPECS, name
        assert name in documented, f"{name} is not in docs/metrics.md"
    assert documented == set(metrics.SPECS)


def test_docs_name_the_labels_of_every_metric():
    rows = dict(re.findall(r"^\| `(fki_[a-z_]+)` \| [a-z]+ \| ([^|]*) \|", DOCS.read_text(encoding="utf-8"),
                           re.MULTILINE))
    for name, spec in metrics.SPECS.items():
        assert set(re.findall(r"`([a-z_]+)`", rows[name])) == set(spec.labels), name


def test_labels_stay_bounded(filled, settings, now):
    for spec in metrics.SPECS.values():
        assert not set(spec.labels) & UNBOUNDED, spec.name
    for family in text_string_to_metric_families(scrape(settings, now)):
        for s in family.samples:
            assert "a101" not in str(s.labels), s  # no agreement id leaks into a label value


def test_a_scrape_reuses_the_cutover_document_until_the_data_moves(filled, settings, session, now, monkeypatch):
    from monitor import doccache

    calls = []
    real = doccache.cutover_document
    monkeypatch.setattr(doccache, "cutover_document", lambda *a: calls.append(1) or real(*a))
    app = create_app(settings)
    app.extensions["monitor_metrics"] = metrics.registry_for(app.extensions["monitor"].sessions, settings,
                                                            clock=lambda: now)
    client = app.test_client()
    client.get("/metrics")
    client.get("/metrics")
    assert len(calls) == 1
    add_hours(session, session.get(metrics.Agreement, 1), [now - dt.timedelta(minutes=30)], 7)  # not complete
    session.commit()
    client.get("/metrics")
    assert len(calls) == 1
    later = now + dt.timedelta(hours=1)
    add_hours(session, session.get(metrics.Agreement, 1), [now], 80)
    # An hour is compared only when its baseline hour has data: give it one a week earlier.
    add_hours(session, session.get(metrics.Agreement, 1), [now - dt.timedelta(days=7)], 100)
    session.commit()
    app.extensions["monitor_metrics"] = metrics.registry_for(app.extensions["monitor"].sessions, settings,
                                                            clock=lambda: later)
    text = client.get("/metrics").get_data(as_text=True)
    assert samples(text)["fki_cutover_observed_calls"][(("municipality", "101"),)] == 80
    app.extensions["monitor"].engine.dispose()


def test_the_cutover_page_and_a_scrape_share_one_computed_cutover_document(filled, settings, now, monkeypatch):
    from monitor import doccache
    from monitor.web.pages.cache import cache_of

    calls = []
    real = doccache.cutover_document

    def counted(*args):  # type: ignore[no-untyped-def]
        calls.append(1)
        return real(*args)

    monkeypatch.setattr(doccache, "cutover_document", counted)  # what the pages and the collector compute through
    app = create_app(settings)
    app.config["MONITOR_CLOCK"] = lambda: now
    app.extensions["monitor_metrics"] = metrics.registry_for(app.extensions["monitor"].sessions, settings,
                                                            clock=lambda: now,
                                                            cache=cache_of(app))
    client = app.test_client()
    assert client.get("/skift").status_code == 200
    assert client.get("/metrics").status_code == 200
    assert len(calls) == 1
    app.extensions["monitor"].engine.dispose()


def test_request_durations_are_labelled_by_route_not_by_path(client):
    # The request metrics live in the process's registry, which other tests add to: compare
    # before and after, and look for the path itself in every label.
    api = (("endpoint", "/api/v1/cutover"), ("method", "GET"), ("status", "200"))
    unmatched = (("endpoint", "unmatched"), ("method", "GET"), ("status", "404"))
    before = samples(client.get("/metrics").get_data(as_text=True)).get("fki_http_requests_total", {})
    client.get("/api/v1/cutover?now=2020-11-28T12:00:00%2B01:00")
    client.get("/no/such/page/123")
    s = samples(client.get("/metrics").get_data(as_text=True))
    counts = s["fki_http_requests_total"]
    assert counts[api] - before.get(api, 0) == 1
    assert counts[unmatched] - before.get(unmatched, 0) == 1
    labels = {value for name in ("fki_http_requests_total", "fki_http_request_duration_seconds_bucket")
              for key in s[name] for _, value in key}
    assert not [v for v in labels if "/no/such" in v or "123" in v or "now=" in v or "2020" in v]
    assert any(k for k in s["fki_http_request_duration_seconds_bucket"] if ("endpoint", "/api/v1/cutover") in k)


def test_a_database_that_cannot_be_read_shows_as_fki_database_up_0(tmp_path):
    settings = make_settings(tmp_path, f"sqlite:///{tmp_path}/empty.db")  # never migrated: no tables
    app = create_app(settings)
    response = app.test_client().get("/metrics")
    s = samples(response.get_data(as_text=True))
    assert response.status_code == 200
    assert s["fki_database_up"] == {(): 0} and "fki_build_info" in s
    app.extensions["monitor"].engine.dispose()


def test_an_ad_hoc_source_is_labelled_cli_never_by_its_path_or_url(settings, session, now, tmp_path, monkeypatch):
    from tests.cli_helpers import run_cli

    feed = tmp_path / "secret-folder" / "status.rss"
    feed.parent.mkdir()
    feed.write_bytes((Path(__file__).parent / "fixtures" / "feeds" / "danish-status.rss").read_bytes())
    assert run_cli(monkeypatch, settings, "collect", "notices", "--source", str(feed)).exit_code == 0
    assert run_cli(monkeypatch, settings, "collect", "notices", "--source", "http://127.0.0.1:9/x.rss").exit_code != 0
    text = scrape(settings, now)
    s = samples(text)
    assert set(s["fki_notice_source_consecutive_failures"]) == {(("source", "cli"),)}
    assert set(s["fki_notice_source_last_success_timestamp_seconds"]) == {(("source", "cli"),)}
    assert "secret-folder" not in text and "127.0.0.1:9" not in text
