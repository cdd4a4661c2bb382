"""The OpenAPI document describes the real API: every response on demo data validates
against its schema, and schemathesis finds no request the document allows that the API
mishandles."""

from __future__ import annotations

import jsonschema_rs
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.config import SchemathesisConfig

from monitor import create_app
from monitor.db import make_engine
from monitor.web.api import openapi_document
from tests.pages_helpers import demo_settings, load_demo_world

SCHEMA_PATHS = {
    "/api/v1/ratings": "Ratings",
    "/api/v1/ratings?as_of=2020-01-01": "Ratings",
    "/api/v1/municipalities/101": "Municipality",
    "/api/v1/municipalities/0860": "Municipality",
    "/api/v1/notices": "Notices",
    "/api/v1/notices?status=all": "Notices",
    "/api/v1/notices?status=all&component=serviceplatformen": "Notices",
    "/api/v1/components": "Components",
    "/api/v1/cutover": "Cutover",
    "/api/v1/components/serviceplatformen/availability": "Availability",
    "/api/v1/components/beskedfordeler/availability?days=366": "Availability",
    "/api/v1/components/serviceplatformen/availability?days=0": "Error",
    "/api/v1/components/ukendt/availability": "Error",
    "/api/v1/method": "MethodElements",
    "/api/v1/municipalities/999": "Error",
    "/api/v1/notices?status=sometimes": "Error",
}


def served_demo(tmp_path, url):  # type: ignore[no-untyped-def]
    """The app over the small demo world on the database at `url`."""
    settings_ = demo_settings(tmp_path, url)
    engine = make_engine(settings_.database.url)
    load_demo_world(engine, settings_)
    engine.dispose()
    app = create_app(settings_)
    app.config.update(TESTING=True)
    yield app
    app.extensions["monitor"].engine.dispose()


@pytest.fixture
def demo_app(tmp_path, sqlite_url):  # type: ignore[no-untyped-def]
    yield from served_demo(tmp_path, sqlite_url)


def _validator(doc: dict, name: str):  # type: ignore[no-untyped-def]
    return jsonschema_rs.Draft202012Validator({"$ref": f"#/components/schemas/{name}", **doc})


def test_the_document_lists_every_endpoint_of_the_interface(client):
    doc = client.get("/api/v1/openapi.json").get_json()
    assert doc["openapi"].startswith("3.1")
    assert set(doc["paths"]) == {"/api/v1/ratings", "/api/v1/municipalities/{code}", "/api/v1/method",
                                 "/api/v1/notices", "/api/v1/components", "/api/v1/cutover", "/api/v1/openapi.json",
                                 "/api/v1/components/{slug}/availability", "/api/v1/alertmanager",
                                 "/api/v1/imports/calls"}
    component = doc["paths"]["/api/v1/notices"]["get"]["parameters"][1]["schema"]
    assert "serviceplatformen" in component["enum"]


@pytest.mark.parametrize("path", sorted(SCHEMA_PATHS))
def test_real_responses_on_the_demo_match_their_schema(demo_app, path):
    client = demo_app.test_client()
    doc = client.get("/api/v1/openapi.json").get_json()
    response = client.get(path)
    body = response.get_json()
    validator = _validator(doc, SCHEMA_PATHS[path])
    errors = [e.message for e in validator.iter_errors(body)]
    assert not errors, errors[:5]
    if SCHEMA_PATHS[path] == "Ratings":
        assert len(body["ratings"]) == 98


def test_the_schemas_reject_a_response_that_breaks_the_contract():
    doc = openapi_document(["serviceplatformen"])
    broken = {"as_of": "2020-11-28", "method": {"version": "2020.11", "weights": {
        "service_agreements": 0.3, "calls_per_citizen": 0.2, "it_systems_with_calls": 0.5}},
        "ratings": [{"municipality": {"code": "0101", "name": "København"}, "score": 11.0, "status": "ok",
                     "reason": None, "parts": {}}]}
    messages = " ".join(e.message for e in _validator(doc, "Ratings").iter_errors(broken))
    assert "0101" in messages and "11.0" in messages and "service_agreements" in messages


# Examples per operation and mode: 6 operations x 2 modes x 2 databases. Enough to meet every
# parameter's edges (years 1 and 9999, NUL, long and non-ASCII strings) while the test stays
# near a minute per database.
EXAMPLES = 60
# What an invalid request may get: Schemathesis's default list, plus 414, which the API answers
# (and documents) for a query string over [web] max_query_bytes — a long enough invalid query
# is refused for its length before its values are read.
CHECKS = SchemathesisConfig.from_str(
    '[checks.negative_data_rejection]\nexpected-statuses = ["400", "401", "403", "404", "405", "406", "409", '
    '"414", "415", "422", "428", "429", "5xx"]\n')


@pytest.fixture
def any_db_demo_app(tmp_path, db_url):  # type: ignore[no-untyped-def]
    yield from served_demo(tmp_path, db_url)


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
def test_schemathesis_finds_no_request_the_api_mishandles(any_db_demo_app, mode):
    """Valid requests get a 2xx (or the documented 404) matching the schema; invalid ones a 4xx; none a 5xx."""
    schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", any_db_demo_app, config=CHECKS)
    labels = []
    for result in schema.get_all_operations():
        operation = result.ok()
        labels.append(operation.label)

        @given(case=operation.as_strategy(generation_mode=mode))
        @settings(max_examples=EXAMPLES, deadline=None, database=None,
                  suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much,
                                         HealthCheck.function_scoped_fixture])
        def check(case):  # type: ignore[no-untyped-def]
            case.call_and_validate()

        try:
            check()
        except Unsatisfiable:  # an operation without parameters has no invalid request to make
            assert mode is GenerationMode.NEGATIVE and not operation.query and not operation.path_parameters
    assert "GET /api/v1/ratings" in labels and "GET /api/v1/cutover" in labels
    assert "POST /api/v1/imports/calls" in labels


def test_a_rating_with_a_correction_is_described_and_a_broken_correction_is_refused():
    doc = openapi_document(["serviceplatformen"])
    part = {"score": 5.0, "weight": 0.5, "inputs": {"x": 0.5}}
    rating = {"municipality": {"code": "101", "name": "København"}, "score": 7.1, "status": "ok", "reason": None,
              "parts": {p: part for p in ("service_agreements", "calls_per_citizen", "it_systems_with_calls")},
              "correction": {"score_without": 6.4, "agreements": [
                  {"uuid": "b-silent", "reason": "Kaldes kun ved årsafslutningen.",
                   "recorded_at": "2020-11-28T11:00:00+00:00"}]}}
    validator = _validator(doc, "Rating")
    assert not [e.message for e in validator.iter_errors(rating)]
    assert "correction" in doc["components"]["schemas"]["Rating"]["properties"]
    rating["correction"] = {"score_without": 11, "agreements": []}
    messages = " ".join(e.message for e in validator.iter_errors(rating))
    assert "11" in messages and "[]" in messages
