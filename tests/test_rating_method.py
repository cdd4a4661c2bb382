"""The rating maths without a database: hand-computed cases, the rules, and properties."""

from __future__ import annotations

import dataclasses
import datetime as dt

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from monitor.rating.method import (
    REASON_MISSING_DATA,
    REASON_NO_AGREEMENTS,
    REASON_NO_POPULATION,
    AgreementInput,
    MunicipalityInput,
    Parameters,
    _parts,
    _score,
    active_on,
    calls_per_citizen,
    calls_per_citizen_x,
    rank_and_percentile,
    rate_all,
    rate_one,
    redundant_agreements,
    scale,
    service_agreements_x,
    window,
)

AS_OF = dt.date(2020, 11, 28)
P = Parameters()


def agreement(uuid: str, system: str = "sys-1", services: tuple[str, ...] = ("SF1520",), calls: int = 0,
              recent: int | None = None, valid_from: dt.date | None = None) -> AgreementInput:
    return AgreementInput(uuid, system, frozenset(services), valid_from, calls, calls if recent is None else recent,
                          f"System {system}")


def municipality(*active: AgreementInput, population: int | None = 1000, access: bool | None = True,
                 calls: int | None = None) -> MunicipalityInput:
    total = sum(a.calls_window for a in active) if calls is None else calls
    return MunicipalityInput("101", "København", population, access, tuple(active), total)


@pytest.mark.parametrize(("active", "redundant", "access", "expected"), [
    (1, 0, None, 5.070523549612209),   # volume ln2/ln201; access unknown counts 0
    (200, 0, True, 10.0),              # active_ref in use gives full volume
    (300, 0, False, 8.2),              # volume is capped at 1
    (4, 4, False, 1.0),                # nothing in use
    (10, 2, True, 7.1715243636831225),
])
def test_the_service_agreements_part_matches_hand_computed_scores(active, redundant, access, expected):
    assert scale(service_agreements_x(active, redundant, access, 200.0)) == pytest.approx(expected, abs=1e-12)


@pytest.mark.parametrize(("calls", "population", "window_days", "expected"), [
    (3_000, 1_000, 30, 4.5016806267263965),
    (10_000, 1_000, 60, 5.5),  # 5 calls per citizen per 30 days, halfway on the log scale
    (500, 1_000, 30, 1.0),     # at cpc_lo
    (50_000, 1_000, 30, 10.0),  # at cpc_hi
    (900_000, 1_000, 30, 10.0),  # clipped above
    (10, 1_000, 30, 1.0),      # clipped below
    (0, 1_000, 30, 1.0),       # zero calls: x = 0, not an error
])
def test_the_calls_per_citizen_part_matches_hand_computed_scores(calls, population, window_days, expected):
    cpc = calls_per_citizen(calls, population, window_days)
    assert scale(calls_per_citizen_x(cpc, 0.5, 50.0)) == pytest.approx(expected, abs=1e-12)


@pytest.mark.parametrize(("calling", "silent", "expected"), [(3, 1, 7.75), (0, 2, 1.0), (2, 0, 10.0)])
def test_the_it_systems_part_is_the_share_of_systems_that_called(calling, silent, expected):
    active = [agreement(f"c{i}", f"call-{i}", calls=5) for i in range(calling)]
    active += [agreement(f"s{i}", f"silent-{i}", calls=0, recent=5) for i in range(silent)]
    part = rate_one(municipality(*active), AS_OF, P).parts["it_systems_with_calls"]
    assert part.score == pytest.approx(expected)
    assert part.inputs["systems"] == calling + silent
    assert [s["uuid"] for s in part.inputs["silent_it_systems"]] == [f"silent-{i}" for i in range(silent)]


def test_the_total_matches_a_hand_computed_example():
    # One agreement calling 3,000 times, one silent for 90 days, 1,000 citizens, access control.
    r = rate_one(municipality(agreement("a", "sys-1", calls=3000), agreement("b", "sys-2")), AS_OF, P)
    assert r.score == pytest.approx(5.171493190228942, abs=1e-12)
    assert r.status == "ok"
    assert r.parts["service_agreements"].inputs["redundant"] == 1
    assert r.parts["calls_per_citizen"].inputs["cpc"] == pytest.approx(3.0)
    assert r.parts["it_systems_with_calls"].x == 0.5


def test_hints_name_the_unused_agreements_and_the_points_closing_them_adds():
    r = rate_one(municipality(agreement("a", "sys-1", calls=3000), agreement("b", "sys-2")), AS_OF, P)
    by_kind = {h.kind: h for h in r.hints}
    assert by_kind["close_unused"].items == ("b",)
    # The sentence names the IT system and its services; the agreement UUID is only in `items`.
    assert by_kind["close_unused"].text_da == "1 aftale har ikke kaldt i 90 dage: System sys-2: SF1520. Luk den."
    assert by_kind["close_unused"].text_en == "1 agreement has made no calls in 90 days: System sys-2: SF1520. Close it."
    assert by_kind["close_unused"].gain == pytest.approx(7.961493190228942 - 5.171493190228942)
    assert by_kind["silent_it_systems"].items == ("sys-2",)
    assert by_kind["silent_it_systems"].gain == pytest.approx(9 * 0.5 * 0.5)
    assert "access_control" not in by_kind


def test_a_municipality_without_access_control_gets_a_hint_worth_its_weight():
    r = rate_one(municipality(agreement("a", calls=3000), access=False), AS_OF, P)
    hint = next(h for h in r.hints if h.kind == "access_control")
    assert hint.gain == pytest.approx(9 * 0.3 * 0.2)
    assert "ikke implementeret" in hint.text_da


@pytest.mark.parametrize(("agreements", "redundant"), [
    # same IT system, same service: the one with fewer calls goes
    ([agreement("a", calls=10), agreement("b", calls=5)], {"b": ("duplicate",)}),
    # a tie keeps the lowest uuid
    ([agreement("b", calls=5), agreement("a", calls=5)], {"b": ("duplicate",)}),
    # different IT systems may share a service
    ([agreement("a", "sys-1", calls=5), agreement("b", "sys-2", calls=5)], {}),
    # the same IT system with different services is no duplicate
    ([agreement("a", services=("SF1520",), calls=5), agreement("b", services=("SF1601",), calls=5)], {}),
    # only agreements that overlap a kept one go: a and c share nothing, b overlaps both
    ([agreement("a", services=("S1",), calls=100), agreement("b", services=("S1", "S2"), calls=50),
      agreement("c", services=("S2",), calls=80)], {"b": ("duplicate",)}),
    # silent and a duplicate: one redundant agreement with both reasons
    ([agreement("a", calls=10), agreement("b", calls=0)], {"b": ("no_calls", "duplicate")}),
])
def test_the_duplicate_rule(agreements, redundant):
    found = redundant_agreements(agreements, AS_OF, P)
    assert {r.uuid: r.reasons for r in found} == redundant
    r = rate_one(municipality(*agreements), AS_OF, P)
    assert r.parts["service_agreements"].inputs["redundant"] == len(redundant)


@pytest.mark.parametrize(("valid_from", "is_redundant"), [
    (AS_OF - dt.timedelta(days=10), False),  # new: time to start calling
    (AS_OF - dt.timedelta(days=90), False),  # the first day of the 90 days is within them
    (AS_OF - dt.timedelta(days=91), True),
    (None, True),
])
def test_a_new_agreement_gets_a_grace_period(valid_from, is_redundant):
    found = redundant_agreements([agreement("a", calls=0, valid_from=valid_from)], AS_OF, P)
    assert bool(found) is is_redundant


def test_an_agreement_with_calls_in_the_90_days_but_none_in_the_window_is_not_redundant():
    assert redundant_agreements([agreement("a", calls=0, recent=1)], AS_OF, P) == ()


@pytest.mark.parametrize(("status", "valid_from", "valid_to", "expected"), [
    ("active", None, None, True),
    ("pending", None, None, False),
    ("active", dt.date(2020, 11, 27), None, True),
    ("active", dt.date(2020, 11, 28), None, False),
    ("active", None, dt.date(2020, 11, 27), False),  # valid_to is exclusive
    ("active", None, dt.date(2020, 11, 28), True),
])
def test_active_on_a_date(status, valid_from, valid_to, expected):
    assert active_on(status, valid_from, valid_to, dt.date(2020, 11, 27)) is expected


def test_the_window_is_the_complete_days_before_as_of():
    assert window(AS_OF, 30) == (dt.date(2020, 10, 29), dt.date(2020, 11, 27))


def test_no_active_agreements_is_inconclusive_not_one():
    r = rate_one(municipality(calls=500), AS_OF, P)
    assert (r.score, r.status, r.reason) == (None, "inconclusive", REASON_NO_AGREEMENTS)
    assert r.parts["service_agreements"].score is None
    assert r.parts["it_systems_with_calls"].score is None
    assert r.parts["calls_per_citizen"].score == pytest.approx(1.0)  # still computable


@pytest.mark.parametrize("population", [None, 0])
def test_no_population_is_inconclusive(population):
    r = rate_one(municipality(agreement("a", calls=5), population=population), AS_OF, P)
    assert (r.score, r.reason) == (None, REASON_NO_POPULATION)
    assert r.parts["calls_per_citizen"].score is None
    assert r.parts["it_systems_with_calls"].score == 10.0


def test_missing_call_data_makes_every_result_inconclusive_and_names_the_days():
    days = [dt.date(2020, 11, 3), dt.date(2020, 11, 4)]
    results = rate_all([municipality(agreement("a", calls=5))], AS_OF, P, days)
    assert [r.score for r in results] == [None]
    assert results[0].reason == REASON_MISSING_DATA
    assert "2020-11-03, 2020-11-04" in results[0].reason_text
    assert all(p.score is None for p in results[0].parts.values())


def test_a_municipality_whose_systems_made_no_calls_scores_low_but_conclusively():
    r = rate_one(municipality(agreement("a", valid_from=AS_OF - dt.timedelta(days=3))), AS_OF, P)
    assert r.status == "ok"
    assert r.score == pytest.approx(1 + 9 * 0.3 * (0.4 * 0.130700 / 1 + 0.4 + 0.2), abs=1e-4)


def test_ties_share_the_better_rank_and_percentile_counts_the_others_below():
    assert rank_and_percentile([5.0, 7.0, 7.0, None, 3.0]) == [
        (3, pytest.approx(100 / 3)), (1, pytest.approx(200 / 3)), (1, pytest.approx(200 / 3)), (None, None),
        (4, 0.0)]
    assert rank_and_percentile([4.0]) == [(1, None)]


# Properties ---------------------------------------------------------------------------------

agreements_st = st.lists(st.builds(
    agreement,
    uuid=st.uuids().map(str),
    system=st.sampled_from(["s1", "s2", "s3", "s4"]),
    services=st.lists(st.sampled_from(["A", "B", "C"]), min_size=1, max_size=3, unique=True).map(tuple),
    calls=st.integers(0, 10**7),
    recent=st.one_of(st.none(), st.integers(0, 10**7)),
    valid_from=st.one_of(st.none(), st.dates(dt.date(2019, 1, 1), dt.date(2020, 11, 27))),
), max_size=12, unique_by=lambda a: a.uuid)

municipalities_st = st.builds(
    lambda active, population, access, extra: municipality(
        *active, population=population, access=access, calls=sum(a.calls_window for a in active) + extra),
    agreements_st, st.one_of(st.none(), st.integers(0, 2_000_000)), st.one_of(st.none(), st.booleans()),
    st.integers(0, 10**6))

params_st = st.builds(
    lambda window_days, after, ref, lo, factor, w1, w2: Parameters(
        window_days, after, ref, lo, lo * factor,
        {"service_agreements": w1 / (w1 + w2 + 1), "calls_per_citizen": w2 / (w1 + w2 + 1),
         "it_systems_with_calls": 1 / (w1 + w2 + 1)}),
    st.integers(1, 365), st.integers(1, 365), st.floats(1, 10_000), st.floats(0.001, 100), st.floats(1.01, 1000),
    st.floats(0, 5), st.floats(0, 5))


@given(municipalities_st, params_st)
@settings(max_examples=300)
def test_every_score_is_between_one_and_ten_or_null(m, params):
    r = rate_one(m, AS_OF, params)
    for score in [r.score, *(p.score for p in r.parts.values())]:
        assert score is None or 1.0 <= score <= 10.0 + 1e-9
    assert (r.score is None) == (r.reason is not None)


@given(municipalities_st, params_st)
@settings(max_examples=200)
def test_the_score_is_the_weighted_sum_of_the_part_scores_the_result_shows(m, params):
    r = rate_one(m, AS_OF, params)
    parts = _parts(m, params, redundant_agreements(m.active, AS_OF, params))
    assert {k: (p.score, p.weight, p.x) for k, p in parts.items()} == {
        k: (p.score, p.weight, p.x) for k, p in r.parts.items()}
    # What the hints recompute is the same number.
    assert _score(m, AS_OF, params) == r.score
    if r.score is None:
        assert any(p.score is None for p in parts.values())
    else:
        assert r.score == pytest.approx(sum(p.weight * p.score for p in parts.values()), abs=1e-9)


@given(municipalities_st, st.integers(1, 10**6))
def test_one_more_it_system_that_calls_never_lowers_the_score(m, calls):
    before = rate_one(m, AS_OF, P).score
    newcomer = agreement("zz-new", "brand-new-system", ("A",), calls=calls)
    after = rate_one(dataclasses.replace(m, active=(*m.active, newcomer), calls_window=m.calls_window + calls),
                     AS_OF, P).score
    if before is not None:
        assert after is not None and after >= before - 1e-12


@given(municipalities_st, st.sampled_from(["s1", "s2", "new"]), st.sampled_from(["A", "B", "Z"]))
def test_a_redundant_agreement_never_raises_the_score(m, system, service):
    before = rate_one(m, AS_OF, P).score
    unused = agreement("00-unused", system, (service,), calls=0)  # silent for 90 days: redundant
    after_m = dataclasses.replace(m, active=(*m.active, unused))
    assert any(r.uuid == "00-unused" for r in redundant_agreements(after_m.active, AS_OF, P))
    after = rate_one(after_m, AS_OF, P).score
    if before is not None and after is not None:
        assert after <= before + 1e-12


@given(st.integers(0, 10**8), st.integers(0, 10**8), st.integers(1, 2_000_000), st.integers(1, 365))
def test_more_calls_never_lower_calls_per_citizen(calls, more, population, window_days):
    lower = calls_per_citizen_x(calls_per_citizen(calls, population, window_days), 0.5, 50.0)
    higher = calls_per_citizen_x(calls_per_citizen(calls + more, population, window_days), 0.5, 50.0)
    assert higher >= lower


def test_hints_choose_singular_and_plural_forms_by_their_count():
    two = rate_one(municipality(agreement("a", "sys-1", calls=3000), agreement("b", "sys-2"), agreement("c", "sys-3")),
                   AS_OF, P)
    by_kind = {h.kind: h for h in two.hints}
    assert by_kind["close_unused"].text_da.startswith("2 aftaler har ikke kaldt i 90 dage: ")
    assert by_kind["close_unused"].text_da.endswith("Luk dem.")
    assert by_kind["silent_it_systems"].text_da.startswith("2 it-systemer med aktive aftaler har ikke kaldt i de seneste 30 dage")
    assert by_kind["silent_it_systems"].text_en.startswith("2 IT systems with active agreements made no calls")


AGREEMENTS = st.lists(
    st.tuples(st.sampled_from(["sys-1", "sys-2", "sys-3"]), st.sets(st.sampled_from(["SF1520", "SF1470", "SF1500"]),
                                                                   min_size=1, max_size=2),
              st.integers(0, 5000), st.integers(0, 5000)),
    min_size=1, max_size=8)


@settings(deadline=None, max_examples=150)
@given(AGREEMENTS, st.sampled_from([None, False, True]))
def test_a_closing_hints_gain_is_the_score_after_closing_minus_the_score_before(rows, access):
    active = [agreement(f"a{i}", system, tuple(sorted(services)), calls=min(window_calls, recent), recent=recent)
              for i, (system, services, window_calls, recent) in enumerate(rows)]
    calls = sum(a.calls_window for a in active)
    before = rate_one(municipality(*active, access=access), AS_OF, P)
    for hint in before.hints:
        if hint.kind not in ("close_unused", "close_duplicates") or hint.gain is None:
            continue
        closed = set(hint.items)
        # The IT system goes on calling through the agreement kept: the municipality's calls stay.
        after = rate_one(municipality(*(a for a in active if a.uuid not in closed), access=access, calls=calls),
                         AS_OF, P)
        assert after.score is not None and before.score is not None
        assert hint.gain == pytest.approx(after.score - before.score, abs=1e-9), hint.kind
