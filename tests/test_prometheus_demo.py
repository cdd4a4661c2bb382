"""A real Prometheus scraping the app over the demo answers every query of every dashboard panel."""

from __future__ import annotations

import datetime as dt
import json
import re
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from monitor import create_app
from monitor.db import make_engine
from monitor.demo import load_demo
from monitor.localtime import CPH
from monitor.notify.collect import poll_all
from monitor.rating.service import store_snapshot
from tests.conftest import make_settings
from tests.prometheus_helpers import running_prometheus, served

DEPLOY = Path(__file__).parent.parent / "deploy"
# Grafana's built-in variables, as a dashboard over the last hour would expand them. With a
# scrape every second a minute holds enough samples for rate() and friends.
BUILT_IN = {"__rate_interval": "1m", "__interval": "15s", "__interval_ms": "15000", "__range": "1h",
            "__range_s": "3600", "__range_ms": "3600000"}
VARIABLE_RE = re.compile(r"\$\{(\w+)(?::\w+)?\}|\[\[(\w+)\]\]|\$(\w+)")

# Queries that rightly return nothing on the demo as loaded here, each with why, and a
# witness: a query over the same series that must return something, so that an empty answer
# means "nothing to show" and not "a metric or label that does not exist".
RIGHTLY_EMPTY = {
    # The window annotation marks the hours when a municipality is in the window; the demo's
    # window ended a few hours before it was loaded, so no municipality is in_window now.
    ("fki-cutover", "Cut-over-vindue", 'max(fki_cutover_status{status="in_window"}) == 1'):
        'max(fki_cutover_status{status="in_window"}) == 0',
}


def dashboards() -> dict[str, dict]:
    return {doc["uid"]: doc for doc in (json.loads(p.read_text(encoding="utf-8"))
                                        for p in sorted((DEPLOY / "grafana" / "dashboards").glob("*.json")))}


def variable_values(doc: dict) -> dict[str, str]:
    """The dashboard's own template variables at their saved values, then Grafana's built-in ones."""
    values = {v["name"]: str(v["current"]["value"]) for v in doc["templating"]["list"]}
    return {**values, **BUILT_IN}


def expand(expr: str, values: dict[str, str]) -> str:
    """`expr` with $var, ${var}, ${var:format} and [[var]] replaced; an unknown variable is an error."""
    def one(m: re.Match[str]) -> str:
        name = m.group(1) or m.group(2) or m.group(3)
        assert name in values, f"variable {name} in {expr!r} is not defined"
        return values[name]

    return VARIABLE_RE.sub(one, expr)


def panel_queries() -> list[tuple[str, str, str]]:
    """(dashboard uid, panel or annotation title, expanded expression) of every query."""
    out = []
    for uid, doc in dashboards().items():
        values = variable_values(doc)
        for panel in doc["panels"]:
            out += [(uid, panel["title"], expand(t["expr"], values)) for t in panel["targets"]]
        out += [(uid, a["name"], expand(a["expr"], values)) for a in doc["annotations"]["list"] if "expr" in a]
    return out


def test_the_variables_of_a_query_are_expanded_the_way_grafana_does():
    values = {"municipality": "101", **BUILT_IN}
    assert expand('rate(x{m="$municipality"}[$__rate_interval])', values) == 'rate(x{m="101"}[1m])'
    assert expand('x{m="${municipality}"} + y{m="[[municipality]]"}', values) == 'x{m="101"} + y{m="101"}'
    with pytest.raises(AssertionError, match="variable nowhere"):
        expand("x{m=\"$nowhere\"}", values)


def test_every_query_argued_empty_is_still_on_a_dashboard():
    # A stale entry would let a renamed panel's empty query through unnoticed.
    assert set(RIGHTLY_EMPTY) <= set(panel_queries())


def query(base: str, expr: str) -> list[dict]:
    url = f"{base}/api/v1/query?" + urllib.parse.urlencode({"query": expr})
    with urllib.request.urlopen(url, timeout=60) as response:
        doc = json.loads(response.read())
    assert doc["status"] == "success", (expr, doc)
    return doc["data"]["result"]


@pytest.fixture
def demo_app(tmp_path: Path, sqlite_url: str) -> Iterator[str]:
    """The small demo, rated and its feed polled, served by waitress on a free port."""
    feed = tmp_path / "demo-status.rss"
    settings = make_settings(tmp_path, sqlite_url, demo={"feed_path": str(feed)},
                             notices={"sources": [{"name": "Demo", "url": str(feed), "kind": "feed"}]})
    now = dt.datetime.now(dt.UTC)  # the real time: the demo's window must be recent for Prometheus
    engine = make_engine(sqlite_url)
    load_demo(engine, settings, seed=1, size="small", now=now)
    store_snapshot(engine, settings, now.astimezone(CPH).date(), now=now)
    poll_all(engine, settings, now=now)
    engine.dispose()
    with served(create_app(settings)) as address:
        yield address


@pytest.fixture
def prometheus(tmp_path: Path, demo_app: str) -> Iterator[str]:
    """A Prometheus scraping the demo every second, with the project's rules loaded."""
    # Rates need two samples, and the recording rules one evaluation after them.
    def ready(base: str) -> bool:
        return bool(query(base, "count_over_time(fki_build_info[1m]) >= 3")
                    and query(base, "fki:cutover_municipalities:count_by_status"))

    with running_prometheus(tmp_path, demo_app, ready) as base:
        yield base


@pytest.mark.prometheus
def test_every_dashboard_query_returns_series_from_prometheus_scraping_the_demo(prometheus):
    empty = []
    for uid, title, expr in panel_queries():
        if query(prometheus, expr):
            continue
        witness = RIGHTLY_EMPTY.get((uid, title, expr))
        assert witness is not None, f"{uid} / {title}: no series for {expr}"
        assert query(prometheus, witness), f"{uid} / {title}: empty, and so is its witness {witness}"
        empty.append(expr)
    # Only the queries argued above may be empty; a demo that shows everything is fine too.
    assert set(empty) <= {e for _, _, e in RIGHTLY_EMPTY}


@pytest.mark.prometheus
def test_the_template_variables_offer_the_value_the_panels_were_checked_with(prometheus):
    for uid, doc in dashboards().items():
        for var in doc["templating"]["list"]:
            m = re.fullmatch(r"label_values\((.+),\s*(\w+)\)", var["definition"])
            assert m, f"{uid} / {var['name']}: only label_values(metric, label) is checked here"
            offered = {s["metric"][m.group(2)] for s in query(prometheus, m.group(1))}
            assert str(var["current"]["value"]) in offered, (uid, var["name"], sorted(offered)[:10])


@pytest.mark.prometheus
def test_the_demo_shows_municipalities_that_did_not_come_back(prometheus):
    # The demo's story after the cut-over: some integrations stay silent; the panels that
    # answer "who has not come back, and why" must have something to show.
    by_status = {r["metric"]["status"]: float(r["value"][1])
                 for r in query(prometheus, "fki:cutover_municipalities:count_by_status")}
    assert sum(by_status.values()) == 98
    assert by_status.get("red", 0) + by_status.get("yellow", 0) > 0, by_status
    assert query(prometheus, "fki_cutover_silent_agreements > 0")
