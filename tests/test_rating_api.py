"""GET /api/v1/ratings and GET /api/v1/municipalities/CODE on both databases."""

from __future__ import annotations

import pytest

from monitor.rating.service import store_snapshot
from tests.rating_helpers import (
    AS_OF,
    small_country,
)


@pytest.fixture
def rated(session):
    return small_country(session)


def test_the_ratings_document_has_the_contract_shape(rated, client):
    response = client.get(f"/api/v1/ratings?as_of={AS_OF.isoformat()}")
    assert response.status_code == 200
    doc = response.get_json()
    assert doc["as_of"] == "2020-11-28"
    assert doc["method"]["version"] == "2020.12"
    assert doc["method"]["weights"] == {"service_agreements": 0.3, "calls_per_citizen": 0.2,
                                        "it_systems_with_calls": 0.5}
    assert len(doc["ratings"]) == 98
    assert all(len(r["municipality"]["code"]) == 3 for r in doc["ratings"])
    r = next(r for r in doc["ratings"] if r["municipality"]["code"] == "101")
    assert r["status"] == "ok" and isinstance(r["score"], float) and r["reason"] is None
    assert set(r["parts"]) == {"service_agreements", "calls_per_citizen", "it_systems_with_calls"}
    for part in r["parts"].values():
        assert set(part) >= {"score", "weight", "inputs"}
        assert 0 <= part["inputs"]["x"] <= 1
    assert r["rank"] == 1 and r["percentile"] is None  # the only conclusive result
    other = next(r for r in doc["ratings"] if r["municipality"]["code"] == "860")
    assert other["score"] is None and other["status"] == "inconclusive" and other["reason"]


def test_the_api_serves_the_newest_stored_revision(rated, client, engine, settings):
    store_snapshot(engine, settings, AS_OF)
    store_snapshot(engine, settings, AS_OF)
    doc = client.get(f"/api/v1/ratings?as_of={AS_OF.isoformat()}").get_json()
    assert (doc["stored"], doc["revision"]) == (True, 2)


@pytest.mark.parametrize("bad", ["yesterday", "2020-13-01", "28-11-2020"])
def test_a_bad_as_of_is_a_400_with_a_message(client, bad):
    for url in (f"/api/v1/ratings?as_of={bad}", f"/api/v1/municipalities/101?as_of={bad}"):
        response = client.get(url)
        assert response.status_code == 400
        assert "as_of" in response.get_json()["error"]


@pytest.mark.parametrize("code", ["999", "abc", "12345"])
def test_an_unknown_municipality_is_a_404_in_json(client, code):
    response = client.get(f"/api/v1/municipalities/{code}")
    assert response.status_code == 404
    assert response.is_json and "unknown municipality" in response.get_json()["error"]


def test_the_municipality_document_has_the_contract_shape(rated, client, engine, settings):
    store_snapshot(engine, settings, AS_OF)
    doc = client.get(f"/api/v1/municipalities/101?as_of={AS_OF.isoformat()}").get_json()
    assert doc["municipality"] == {"code": "101", "name": "København", "region": "Region Hovedstaden",
                                   "population": 1000, "population_date": "2020-01-01",
                                   "user_access_control": True}
    ratings = client.get(f"/api/v1/ratings?as_of={AS_OF.isoformat()}").get_json()
    assert doc["rating"] == next(r for r in ratings["ratings"] if r["municipality"]["code"] == "101")
    assert doc["history"] == [{"as_of": "2020-11-28", "score": doc["rating"]["score"], "method_version": "2020.12",
                               "revision": 1, "parts": {k: p["score"] for k, p in doc["rating"]["parts"].items()}}]
    assert doc["change_since_last_month"] is None
    assert {a["uuid"] for a in doc["agreements"]} == {"a-busy", "b-silent"}
    assert doc["price"]["per_call"] == pytest.approx(25_000 * 30 / 365 / 3000)
    assert client.get("/api/v1/municipalities/0101?as_of=2020-11-28").get_json()["municipality"]["code"] == "101"
