"""The cut-over document says only what it knows: its phase, nothing observed from before the
window, a grey not_judged, both thresholds in a reason, and services and suppliers judged on
the share of their agreements that went silent."""

from __future__ import annotations

import datetime as dt

import pytest

from monitor.cutover import core
from monitor.cutover.core import AgreementTraffic, Inputs, Window
from monitor.settings import CutoverSettings

UTC = dt.UTC
SETTINGS = CutoverSettings()  # silent_count 3, silent_share 0.05
WINDOW = Window(start=dt.datetime(2020, 11, 28, 7, tzinfo=UTC), end=dt.datetime(2020, 11, 29, 17, tzinfo=UTC),
                frozen_zone_start=dt.datetime(2020, 11, 20, tzinfo=UTC), source="config")
AFTER, AFTER_WM = dt.datetime(2020, 11, 29, 20, 30, tzinfo=UTC), dt.datetime(2020, 11, 29, 20, tzinfo=UTC)


def traffic(uuid: str, observed: int, baseline: int, *, code: str = "101", supplier: str = "KMD",
            services: tuple[str, ...] = ("SF1520",)) -> AgreementTraffic:
    return AgreementTraffic(uuid, code, "active", "s-" + uuid, "System " + uuid, supplier, services,
                            observed_calls=observed, baseline_calls=baseline, baseline_rows=3)


def evaluate(rows, now=AFTER, wm=AFTER_WM, window=WINDOW, settings=SETTINGS, municipalities=None):
    codes = sorted({r.municipality_code for r in rows}) or ["101"]
    inputs = Inputs(now=now, window=window, watermark=wm,
                    municipalities=municipalities or [(c, "Kommune " + c) for c in codes], traffic=rows)
    return core.evaluate(inputs, settings, core.observed_span(window, now, wm, settings.lookback_hours))


@pytest.mark.parametrize(("now", "wm", "phase"), [
    (dt.datetime(2020, 11, 27, 12, tzinfo=UTC), dt.datetime(2020, 11, 27, 12, tzinfo=UTC), "before"),
    (dt.datetime(2020, 11, 28, 7, tzinfo=UTC), dt.datetime(2020, 11, 28, 7, tzinfo=UTC), "in_window"),
    (dt.datetime(2020, 11, 29, 16, 59, tzinfo=UTC), dt.datetime(2020, 11, 28, 7, tzinfo=UTC), "in_window"),
    (dt.datetime(2020, 11, 29, 17, tzinfo=UTC), dt.datetime(2020, 11, 28, 7, tzinfo=UTC), "pending"),
    (dt.datetime(2020, 11, 29, 18, 30, tzinfo=UTC), dt.datetime(2020, 11, 29, 17, tzinfo=UTC), "pending"),
    (dt.datetime(2020, 11, 29, 18, 30, tzinfo=UTC), dt.datetime(2020, 11, 29, 18, tzinfo=UTC), "after"),
    (AFTER, AFTER_WM, "after"),
])
def test_the_phase_agrees_with_the_window_and_the_statuses(now, wm, phase):
    doc = evaluate([traffic("a1", 300, 300)], now=now, wm=wm)
    assert doc["phase"] == phase
    assert doc["window"]["in_window"] == (phase == "in_window") and doc["window"]["pending"] == (phase == "pending")
    if phase in ("in_window", "pending"):
        assert doc["municipalities"][0]["status"] == phase


def test_without_a_window_the_phase_is_after_and_statuses_are_judged():
    doc = evaluate([traffic("a1", 300, 300)], window=Window())
    assert doc["phase"] == "after" and doc["municipalities"][0]["status"] == "green"


def test_in_the_window_nothing_observed_before_it_is_shown_as_now():
    rows = [traffic("a1", 300, 300), traffic("a2", 0, 50, code="147"), traffic("a3", 0, 40, supplier="Netcompany")]
    now = dt.datetime(2020, 11, 28, 12, tzinfo=UTC)
    doc = evaluate(rows, now=now, wm=dt.datetime(2020, 11, 28, 7, tzinfo=UTC))
    assert doc["phase"] == "in_window"
    for m in doc["municipalities"]:
        assert (m["status"], m["observed_calls"], m["call_ratio"], m["silent_agreements"]) == (
            "in_window", None, None, [])
        assert m["reasons"] == [{"code": "in_window", "effect": "none", "start": "2020-11-28T07:00:00+00:00",
                                 "end": "2020-11-29T17:00:00+00:00"}]
    groups = [doc["national"], *doc["national"]["services"], *doc["national"]["suppliers"]]
    for g in groups:
        assert (g["status"], g["observed_calls"], g["call_ratio"], g["silent_agreements"]) == (
            "in_window", None, None, 0)


@pytest.mark.parametrize(("rows", "status"), [
    ([traffic("a1", 1, 4)], "not_judged"),               # Dragør at night: 1 call against a normal 4
    ([traffic("a1", 0, 4)], "not_judged"),               # even none: too little to say anything
    ([traffic("a1", 0, 20)], "yellow"),                  # a silent agreement still judges it
    ([traffic("a1", 40, 40)], "green"),                  # enough traffic: judged
])
def test_a_baseline_too_small_to_judge_is_not_judged_never_green(rows, status):
    doc = evaluate(rows)
    m = doc["municipalities"][0]
    assert m["status"] == status
    assert doc["national"]["status_counts"][status] == 1
    if status == "not_judged":
        assert doc["national"]["status_counts"]["green"] == 0
        assert m["reasons"][0] == {"code": "baseline_too_small", "effect": "not_judged",
                                   "baseline_calls": rows[0].baseline_calls, "min_baseline": 30}


def test_a_yellow_at_39_percent_says_both_thresholds_and_why_it_is_not_red():
    # 39 against 100: significantly under 80 %, under 50 % but within the noise of 50 %.
    reason = evaluate([traffic("a1", 39, 100)])["municipalities"][0]["reasons"][0]
    assert reason["code"] == "calls_below_green" and reason["effect"] == "yellow"
    assert (reason["green_ratio"], reason["red_ratio"]) == (0.8, 0.5)
    assert (reason["below_green_significant"], reason["below_red_significant"]) == (True, False)
    assert reason["threshold"] == 0.8 and reason["significance"] == 0.01


@pytest.mark.parametrize(("observed", "baseline", "code", "below_green", "below_red"), [
    (360, 1000, "calls_below_red", True, True),
    (790, 1000, "calls_not_significant", False, False),
    (300, 300, "calls_normal", False, False),
])
def test_every_calls_reason_carries_both_thresholds(observed, baseline, code, below_green, below_red):
    reason = evaluate([traffic("a1", observed, baseline)])["municipalities"][0]["reasons"][0]
    assert reason["code"] == code
    assert (reason["green_ratio"], reason["red_ratio"], reason["significance"]) == (0.8, 0.5, 0.01)
    assert (reason["below_green_significant"], reason["below_red_significant"]) == (below_green, below_red)


def supplier_rows(total: int, silent: int, supplier: str = "KMD") -> list[AgreementTraffic]:
    """`total` agreements of one supplier spread over municipalities, `silent` of them silent."""
    return [traffic(f"{supplier}-{i}", 0 if i < silent else 100, 100, code=f"{101 + i % 90:03d}", supplier=supplier)
            for i in range(total)]


@pytest.mark.parametrize(("total", "silent", "status", "effect"), [
    (100, 0, "green", None),
    (100, 1, "green", "none"),        # one silent agreement singles out a municipality, not the supplier
    (100, 2, "green", "none"),
    (100, 3, "green", "none"),        # 3 of 100 is under 5 %
    (100, 5, "yellow", "yellow"),     # 5 agreements, 5 %
    (40, 2, "green", "none"),         # 5 % but only 2 agreements
    (40, 3, "yellow", "yellow"),      # 3 agreements, 7.5 %
    (1000, 10, "green", "none"),      # 10 agreements, but 1 %
])
def test_a_supplier_is_yellow_only_for_a_share_of_silent_agreements(total, silent, status, effect):
    doc = evaluate(supplier_rows(total, silent))
    supplier = doc["national"]["suppliers"][0]
    service = doc["national"]["services"][0]
    for group in (supplier, service, doc["national"]):
        assert group["status"] == status
        assert group["silent_agreements"] == silent
        share = [r for r in group["reasons"] if r["code"] == "silent_share"]
        if effect is None:
            assert share == []
        else:
            assert share == [{"code": "silent_share", "effect": effect, "count": silent, "total": total,
                              "share": pytest.approx(silent / total), "min_share": 0.05, "min_count": 3}]
    # The municipalities with a silent agreement keep their colour: that is where the fault is.
    coloured = [m for m in doc["municipalities"] if m["status"] in ("red", "yellow")]
    assert len(coloured) == silent


def test_the_silent_share_is_of_the_agreements_that_could_go_silent():
    # Agreements with too little baseline traffic cannot be silent, so they do not dilute the share.
    rows = supplier_rows(60, 3) + [traffic(f"small-{i}", 0, 5, code="103") for i in range(60)]
    reason = [r for r in evaluate(rows)["national"]["suppliers"][0]["reasons"] if r["code"] == "silent_share"][0]
    assert (reason["count"], reason["total"], reason["effect"]) == (3, 60, "yellow")


def test_a_supplier_is_judged_on_its_own_calls_with_the_same_significance():
    # Every agreement calls, but only 60 % of normal: the supplier is yellow on its calls alone.
    rows = [traffic(f"a{i}", 600, 1000, code=f"{101 + i:03d}", supplier="Netcompany") for i in range(5)]
    supplier = evaluate(rows)["national"]["suppliers"][0]
    assert supplier["status"] == "yellow" and supplier["reasons"][0]["code"] == "calls_below_green"
