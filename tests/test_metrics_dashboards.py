"""Grafana dashboards lint clean, and a real Prometheus scraping the app answers every panel's query."""

from __future__ import annotations

import datetime as dt
import json
import re
import urllib.parse
import urllib.request
from pathlib import Path

import pytest
import yaml

from monitor import create_app, metrics
from monitor.db import make_engine, session_factory
from tests.conftest import make_settings
from tests.metrics_helpers import fill
from tests.prometheus_helpers import running_prometheus, served
from tests.waiting import wait_until

DEPLOY = Path(__file__).parent.parent / "deploy"
DASHBOARDS = {"fki-cutover": "Skift af driftscenter", "fki-ratings": "Kommunernes scorer"}
DATASOURCE = {"type": "prometheus", "uid": "fki-prometheus"}
MAY_BE_EMPTY = "Tom når alt er godt."
VARIABLES = {"$municipality": "101"}
CET = dt.timezone(dt.timedelta(hours=1))


def dashboards() -> dict[str, dict]:
    out = {}
    for path in sorted((DEPLOY / "grafana" / "dashboards").glob("*.json")):
        doc = json.loads(path.read_text(encoding="utf-8"))
        out[doc["uid"]] = doc
    return out


def queries() -> list[tuple[str, str, str, bool]]:
    """(dashboard uid, panel or annotation title, expression with variables expanded, may be empty)."""
    out = []
    for uid, doc in dashboards().items():
        for p in doc["panels"]:
            for t in p["targets"]:
                expr = t["expr"]
                for var, value in VARIABLES.items():
                    expr = expr.replace(var, value)
                out.append((uid, p["title"], expr, p.get("description", "").startswith(MAY_BE_EMPTY)))
        for a in doc["annotations"]["list"]:
            out.append((uid, a["name"], a["expr"], True))  # the window annotation is empty outside it
    return out


def recorded_names() -> set[str]:
    names = set()
    for path in (DEPLOY / "prometheus" / "rules").glob("*.yml"):
        for group in yaml.safe_load(path.read_text(encoding="utf-8"))["groups"]:
            names |= {r["record"] for r in group["rules"] if "record" in r}
    return names


def test_the_dashboards_have_their_fixed_uids_and_titles():
    assert {uid: d["title"] for uid, d in dashboards().items()} == DASHBOARDS


def test_the_provisioned_datasource_has_the_uid_the_panels_use():
    provisioning = yaml.safe_load((DEPLOY / "grafana" / "provisioning" / "datasources" / "prometheus.yml").read_text())
    assert [(d["uid"], d["type"]) for d in provisioning["datasources"]] == [("fki-prometheus", "prometheus")]
    provider = yaml.safe_load((DEPLOY / "grafana" / "provisioning" / "dashboards" / "infrastrukturmonitor.yml")
                              .read_text())
    assert provider["providers"][0]["type"] == "file"


@pytest.mark.parametrize("uid", DASHBOARDS)
def test_a_dashboard_lints_clean(uid):
    doc = dashboards()[uid]
    ids = [p["id"] for p in doc["panels"]]
    assert len(ids) == len(set(ids)), "duplicate panel ids"
    for p in doc["panels"]:
        assert p["title"].strip(), p["id"]
        assert p["fieldConfig"]["defaults"].get("unit"), p["title"]
        assert p["datasource"] == DATASOURCE, p["title"]
        assert p["targets"], p["title"]
        for t in p["targets"]:
            assert t["datasource"] == DATASOURCE and t["expr"].strip(), p["title"]
    for var in doc["templating"]["list"]:
        assert var["datasource"] == DATASOURCE


def unknown_metrics(exprs: list[tuple[str, str, str]]) -> list[str]:
    """`uid / title: name` for every fki_ metric in `exprs` that neither the app nor a
    recording rule defines."""
    known = set(metrics.SPECS) | recorded_names()
    histograms = {n for n, s in metrics.SPECS.items() if s.kind == "histogram"}
    known |= {h + suffix for h in histograms for suffix in ("_bucket", "_sum", "_count")}
    return [f"{uid} / {title}: {name}" for uid, title, expr in exprs
            for name in re.findall(r"\bfki[_:][a-z0-9_:]+", expr) if name not in known]


def test_every_query_uses_only_metrics_that_exist():
    assert unknown_metrics([(uid, title, expr) for uid, title, expr, _ in queries()]) == []


def test_the_lint_notices_a_metric_that_does_not_exist():
    exprs = [("d", "ok", "sum(fki_cutover_status)"), ("d", "typo", "rate(fki_cutover_no_such_thing[5m])"),
             ("d", "rule", "fki:cutover_municipalities:count_by_status"), ("d", "hist", "fki_http_request_duration_seconds_bucket")]
    assert unknown_metrics(exprs) == ["d / typo: fki_cutover_no_such_thing"]


def _get_json(url: str) -> dict:
    with urllib.request.urlopen(url, timeout=30) as response:
        return json.loads(response.read())


@pytest.fixture
def served_app(tmp_path, sqlite_url):
    """The app on a free port, over a database holding a little of everything."""
    settings = make_settings(tmp_path, sqlite_url, cutover={
        "start": dt.datetime(2020, 11, 28, 8, tzinfo=CET), "end": dt.datetime(2020, 11, 29, 18, tzinfo=CET)})
    engine = make_engine(sqlite_url)
    with session_factory(engine)() as session:
        fill(session, dt.datetime(2020, 11, 28, 11, tzinfo=dt.UTC))
    engine.dispose()
    with served(create_app(settings)) as address:
        yield address


@pytest.fixture
def prometheus(tmp_path, served_app):
    with running_prometheus(tmp_path, served_app, lambda base: query(base, "count_over_time(fki_build_info[1m]) >= 2")["result"]) as base:
        yield base


def query(base: str, expr: str) -> dict:
    doc = _get_json(f"{base}/api/v1/query?" + urllib.parse.urlencode({"query": expr}))
    assert doc["status"] == "success", (expr, doc)
    return doc["data"]


@pytest.mark.prometheus
def test_prometheus_scrapes_the_app_and_every_panel_gets_series(prometheus):
    build = query(prometheus, "fki_build_info")["result"]
    assert build[0]["metric"]["rating_method"] == "2020.12"
    for uid, title, expr, may_be_empty in queries():
        result = query(prometheus, expr)["result"]
        assert may_be_empty or result, f"{uid} / {title}: no series for {expr}"
    # The recording rules evaluate too.
    wait_until(lambda: query(prometheus, "fki:cutover_municipalities:count_by_status")["result"],
               "the recording rules to evaluate", every=0.5)
    # The window ended long ago but the data stops before its end: 101 waits as pending.
    pending = query(prometheus, 'fki:cutover_municipalities:count_by_status{status="pending"}')["result"]
    assert pending[0]["value"][1] == "1"
    assert query(prometheus, "sum(fki:cutover_municipalities:count_by_status)")["result"][0]["value"][1] == "98"


def test_every_panel_showing_a_status_code_shows_the_glossarys_danish_word_for_it():
    from monitor.cutover import STATUSES
    from tests.test_glossary import glossary

    words = glossary()
    component_codes = ("operational", "degraded_performance", "partial_outage", "major_outage", "under_maintenance")
    checked = 0
    for p in dashboards()["fki-cutover"]["panels"]:
        exprs = " ".join(t["expr"] for t in p["targets"])
        codes = STATUSES if "fki_cutover_status" in exprs else component_codes if "fki_component_status" in exprs else ()
        if not codes:
            continue
        config = p["fieldConfig"]
        shown = {c: m["text"] for mapping in config["defaults"].get("mappings", []) for c, m in mapping["options"].items()}
        for override in config["overrides"]:
            names = [prop["value"] for prop in override["properties"] if prop["id"] == "displayName"]
            if override["matcher"]["id"] == "byName" and names:
                shown[override["matcher"]["options"]] = names[0]
        assert {c: shown.get(c) for c in codes} == {c: words[c][0] for c in codes}, p["title"]
        checked += 1
    assert checked == 3
