"""Cut-over judgement that does not flap: the exact Poisson test and the reasons behind every status."""

from __future__ import annotations

import datetime as dt
import math
from decimal import Decimal, getcontext

import pytest
from hypothesis import given
from hypothesis import strategies as st

from monitor.cutover import core, poisson
from monitor.cutover.core import AgreementTraffic, Inputs, Window
from monitor.settings import CutoverSettings

UTC = dt.UTC
SETTINGS = CutoverSettings()
WINDOW = Window(start=dt.datetime(2020, 11, 28, 7, tzinfo=UTC), end=dt.datetime(2020, 11, 29, 17, tzinfo=UTC),
                frozen_zone_start=dt.datetime(2020, 11, 20, tzinfo=UTC), source="config")
AFTER = dt.datetime(2020, 11, 29, 20, 30, tzinfo=UTC)
AFTER_WM = dt.datetime(2020, 11, 29, 20, tzinfo=UTC)


def reference_cdf(k: int, mu: float) -> float:
    """P(X ≤ k) summed term by term in 60-digit decimal arithmetic: slow, plain and independent."""
    getcontext().prec = 60
    m = Decimal(repr(mu))
    term = total = Decimal(1)
    for i in range(1, k + 1):
        term = term * m / i
        total += term
    return float(total * (-m).exp())


@pytest.mark.parametrize(("k", "mu", "expected"), [
    (0, 2.0, math.exp(-2)),                      # P(X = 0) = e^−μ
    (1, 1.0, 2 / math.e),                        # e^−1 (1 + 1)
    (2, 3.0, 8.5 * math.exp(-3)),                # e^−3 (1 + 3 + 9/2)
    (3, 0.5, math.exp(-0.5) * (1 + 0.5 + 0.125 + 0.125 / 6)),
    (0, 0.0, 1.0),                               # a process that never fires stays at 0
])
def test_the_poisson_cdf_matches_hand_computed_sums(k, mu, expected):
    assert poisson.cdf(k, mu) == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize(("k", "mu"), [(58, 58.4), (937, 1262.4), (937, 789.0), (149, 150.0), (0, 15.0),
                                       (5000, 5200.0), (12000, 10000.0)])
def test_the_poisson_cdf_matches_a_60_digit_reference(k, mu):
    assert poisson.cdf(k, mu) == pytest.approx(reference_cdf(k, mu), rel=1e-10, abs=1e-300)


def test_a_million_calls_are_summed_without_overflow_and_near_the_normal_value():
    # One standard deviation (1000) below a mean of a million: Φ(−1) ≈ 0.1587, plus a little continuity.
    assert poisson.cdf(999_000, 1_000_000.0) == pytest.approx(0.1587, abs=0.001)


@given(st.integers(0, 400), st.floats(0.01, 500, allow_nan=False))
def test_the_poisson_cdf_agrees_with_the_reference_everywhere_small(k, mu):
    assert poisson.cdf(k, mu) == pytest.approx(reference_cdf(k, mu), rel=1e-9, abs=1e-280)


@given(st.integers(0, 5000), st.floats(0.01, 5000, allow_nan=False))
def test_the_poisson_cdf_is_a_probability_that_grows_with_the_count(k, mu):
    p, q = poisson.cdf(k, mu), poisson.cdf(k + 1, mu)
    assert 0.0 <= p <= q <= 1.0


@given(st.integers(0, 5000), st.floats(0.01, 5000, allow_nan=False), st.floats(1.0001, 3))
def test_the_poisson_cdf_falls_as_the_expected_count_rises(k, mu, factor):
    assert poisson.cdf(k, mu * factor) <= poisson.cdf(k, mu) + 1e-15


@given(st.integers(1, 3000), st.floats(0.5, 3000, allow_nan=False))
def test_consecutive_cdf_values_differ_by_the_probability_of_the_count(k, mu):
    diff = poisson.cdf(k, mu) - poisson.cdf(k - 1, mu)
    assert diff == pytest.approx(math.exp(poisson.log_pmf(k, mu)), rel=1e-6, abs=1e-12)


def traffic(observed: int, baseline: int, *, uuid: str = "a1", errors: int | None = None) -> AgreementTraffic:
    err = {} if errors is None else {"observed_errors": errors, "observed_error_calls": observed,
                                     "observed_error_rows": 3}
    return AgreementTraffic(uuid, "101", "active", "s-" + uuid, "System " + uuid, "KMD", ("SF1520",),
                            observed_calls=observed, baseline_calls=baseline, baseline_rows=3, **err)


def municipality(rows, now=AFTER, wm=AFTER_WM, settings=SETTINGS, window=WINDOW, **extra):
    inputs = Inputs(now=now, window=window, watermark=wm, municipalities=[("101", "København")], traffic=rows,
                    **extra)
    doc = core.evaluate(inputs, settings, core.observed_span(window, now, wm, settings.lookback_hours))
    return doc["municipalities"][0]


def codes(m) -> list[str]:
    return [r["code"] for r in m["reasons"]]


def test_58_calls_against_73_is_green_because_the_shortfall_is_noise():
    m = municipality([traffic(58, 73)])
    assert m["status"] == "green"
    assert m["call_ratio"] == pytest.approx(58 / 73)  # 79 %, under 80 %, but not significantly
    reason = m["reasons"][0]
    assert reason["code"] == "calls_not_significant"
    assert reason["threshold"] == 0.8
    assert reason["p_value"] == pytest.approx(reference_cdf(58, 0.8 * 73), rel=1e-9)
    assert reason["p_value"] > 0.01


def test_937_calls_against_1578_is_yellow_significantly_below_green_but_not_below_red():
    m = municipality([traffic(937, 1578)])
    assert m["status"] == "yellow"
    assert codes(m) == ["calls_below_green"]
    reason = m["reasons"][0]
    assert reason["p_value"] < 1e-20 and reason["significance"] == 0.01
    assert poisson.cdf(937, 0.5 * 1578) > 0.99  # nowhere near significantly below half


def test_one_quiet_hour_of_a_small_municipality_does_not_flap_it_to_yellow():
    before = municipality([traffic(73, 80)])            # 91 %
    after = municipality([traffic(73 + 58, 80 + 73)])   # one more hour, 58 against 73: 86 %
    alone = municipality([traffic(58, 73)])              # that hour on its own: 79 %
    assert before["status"] == after["status"] == alone["status"] == "green"


def test_a_stricter_significance_needs_a_larger_shortfall():
    strict = CutoverSettings(significance=1e-9)
    assert municipality([traffic(200, 300)])["status"] == "yellow"           # P ≈ 2e-4 < 0.01
    assert municipality([traffic(200, 300)], settings=strict)["status"] == "green"


@pytest.mark.parametrize(("rows", "status", "expected_codes"), [
    ([traffic(0, 300)], "red", ["no_calls", "silent_agreements"]),
    ([traffic(100, 300)], "red", ["calls_below_red"]),
    ([traffic(300, 300, errors=61)], "red", ["errors_above_red", "calls_normal"]),
    ([traffic(300, 300, errors=16)], "yellow", ["errors_above_yellow", "calls_normal"]),
    ([traffic(300, 300, uuid="a1"), traffic(0, 10, uuid="a2")], "yellow", ["silent_agreements", "calls_normal"]),
    ([traffic(1, 29)], "not_judged", ["baseline_too_small"]),
    ([traffic(0, 29)], "yellow", ["silent_agreements", "baseline_too_small"]),
    ([traffic(100, 300), traffic(0, 40, uuid="a2")], "red", ["calls_below_red", "silent_agreements"]),
    ([traffic(290, 300)], "green", ["calls_normal"]),
])
def test_every_status_carries_the_reasons_that_decided_it(rows, status, expected_codes):
    m = municipality(rows)
    assert (m["status"], codes(m)) == (status, expected_codes)


def test_the_reasons_carry_their_numbers():
    m = municipality([traffic(300, 300, uuid="a1", errors=16), traffic(0, 10, uuid="a2")])
    by_code = {r["code"]: r for r in m["reasons"]}
    assert by_code["silent_agreements"]["count"] == 1
    assert by_code["errors_above_yellow"]["error_ratio"] == pytest.approx(16 / 300)
    assert by_code["errors_above_yellow"]["threshold"] == 0.05


@pytest.mark.parametrize(("now", "wm", "rows", "code"), [
    (dt.datetime(2020, 11, 28, 12, tzinfo=UTC), dt.datetime(2020, 11, 28, 12, tzinfo=UTC), [traffic(0, 300)],
     "in_window"),
    (dt.datetime(2020, 11, 29, 17, 50, tzinfo=UTC), dt.datetime(2020, 11, 29, 17, tzinfo=UTC), [traffic(0, 300)],
     "pending"),
    (AFTER, AFTER_WM, [], "no_baseline"),
])
def test_a_status_that_is_not_judged_says_why(now, wm, rows, code):
    assert codes(municipality(rows, now=now, wm=wm)) == [code]


def test_the_national_view_services_and_suppliers_carry_reasons_too():
    inputs = Inputs(now=AFTER, window=WINDOW, watermark=AFTER_WM, municipalities=[("101", "København")],
                    traffic=[traffic(183, 300)])
    doc = core.evaluate(inputs, SETTINGS, core.observed_span(WINDOW, AFTER, AFTER_WM, SETTINGS.lookback_hours))
    assert doc["national"]["reasons"][0]["code"] == "calls_below_green"
    assert doc["national"]["services"][0]["id"] == "SF1520"
    assert doc["national"]["services"][0]["call_ratio"] == pytest.approx(0.61)
    assert doc["national"]["suppliers"][0]["reasons"][0]["code"] == "calls_below_green"
    assert doc["thresholds"]["significance"] == 0.01 and doc["thresholds"]["green_ratio"] == 0.8


@given(st.integers(1, 20_000), st.integers(30, 20_000), st.integers(1, 500))
def test_more_calls_observed_never_make_the_status_worse(observed, baseline, more):
    rank = {"green": 0, "yellow": 1, "red": 2}
    fewer = municipality([traffic(observed, baseline)])["status"]
    more_calls = municipality([traffic(observed + more, baseline)])["status"]
    assert rank[more_calls] <= rank[fewer]


@given(st.integers(0, 20_000), st.integers(30, 20_000))
def test_a_status_is_never_red_or_yellow_without_a_reason_of_that_colour(observed, baseline):
    m = municipality([traffic(observed, baseline)])
    effects = {r["effect"] for r in m["reasons"]}
    assert m["status"] in ("green", "not_judged") or m["status"] in effects
    assert (m["status"] == "not_judged") == ("not_judged" in effects and not effects & {"red", "yellow"})
