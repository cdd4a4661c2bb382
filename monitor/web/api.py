"""GET /api/v1/openapi.json: the OpenAPI 3.1 document of every /api/v1 endpoint.

The schemas name what SPEC "Interfaces" promises (required keys, types, nulls) and leave
room for more keys: the documents may grow, and a client must not break when they do.
tests/test_openapi.py validates real responses on a demo database against them.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, jsonify
from flask.typing import ResponseReturnValue

from ..cutover.core import PHASES as CUTOVER_PHASES
from ..cutover.core import STATUSES as CUTOVER_STATUSES
from ..rating.method import PARTS
from ..version import __version__
from .state import state

bp = Blueprint("api", __name__)


def _nullable(tp: str, **extra: Any) -> dict[str, Any]:
    return {"type": [tp, "null"], **extra}


def _obj(required: dict[str, Any], optional: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"type": "object", "required": list(required), "properties": {**required, **(optional or {})}}


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


DATE = {"type": "string", "format": "date"}
INSTANT = {"type": "string", "format": "date-time"}
CODE = {"type": "string", "pattern": "^[0-9]{3}$"}
SCORE = _nullable("number", minimum=1, maximum=10)
RATIO = _nullable("number", minimum=0)
SLUG = {"type": "string", "pattern": "^[a-z0-9-]+$"}

SCHEMAS: dict[str, Any] = {
    "Error": _obj({"error": {"type": "string"}}),
    "Part": _obj({"score": SCORE, "weight": {"type": "number", "minimum": 0, "maximum": 1},
                  "inputs": {"type": "object", "properties": {"x": _nullable("number", minimum=0, maximum=1)}}},
                 {"reason": _nullable("string")}),
    "Rating": _obj({
        "municipality": _obj({"code": CODE, "name": {"type": "string"}}),
        "score": SCORE,
        "status": {"enum": ["ok", "inconclusive"]},
        "reason": _nullable("string"),
        "parts": _obj({p: _ref("Part") for p in PARTS}),
    }, {"reason_text": _nullable("string"), "rank": _nullable("integer", minimum=1),
        "percentile": _nullable("number", minimum=0, maximum=100),
        "planned_outage_days": {"type": "array", "items": DATE},
        "hints": {"type": "array", "items": _obj({"kind": {"type": "string"}, "gain": _nullable("number")},
                                                 {"text_da": {"type": "string"}, "text_en": {"type": "string"}})},
        # Present when operators' corrections applied to this result (docs/rating.md "Dit input?").
        "correction": _obj({"score_without": SCORE,
                            "agreements": {"type": "array", "minItems": 1, "items": _obj(
                                {"uuid": {"type": "string"}, "reason": {"type": "string"},
                                 "recorded_at": INSTANT})}})}),
    "Method": _obj({"version": {"type": "string"},
                    "weights": _obj({p: {"type": "number", "minimum": 0, "maximum": 1} for p in PARTS})},
                   {"parameters": {"type": "object"}}),
    "MethodElements": _obj({
        "version": {"type": "string"},
        "weights": _obj({p: {"type": "number", "minimum": 0, "maximum": 1} for p in PARTS}),
        "parameters": {"type": "array", "items": _obj(
            {"name": {"type": "string"}, "value": {}, "origin": {"enum": ["given", "chosen"]},
             "why": {"type": "string"}},
            {"why_da": {"type": "string"}, "what_if": {"type": "boolean"}})}},
        {"missing_data": {"type": "array", "items": _obj({"name": {"type": "string"}, "text": {"type": "string"},
                                                          "how": {"type": "string"}})}}),
    "Ratings": _obj({"as_of": DATE, "method": _ref("Method"),
                     "ratings": {"type": "array", "items": _ref("Rating")}},
                    {"data_through": _nullable("string", format="date"), "stored": {"type": "boolean"},
                     "revision": _nullable("integer"), "computed_at": INSTANT,
                     "coverage": _obj({"complete": {"type": "boolean"},
                                       "missing_days": {"type": "array", "items": DATE}},
                                      {"planned_outage_days": {"type": "array", "items": _obj(
                                          {"day": DATE, "reasons": {"type": "array", "items": {"type": "string"}}},
                                          {"without_data": {"type": "boolean"}})}})}),
    "Municipality": _obj({
        "municipality": _obj({"code": CODE, "name": {"type": "string"}, "region": {"type": "string"},
                              "population": _nullable("integer", minimum=0)},
                             {"population_date": _nullable("string", format="date"),
                              "user_access_control": _nullable("boolean")}),
        "rating": _ref("Rating"),
        "history": {"type": "array", "items": _obj({"as_of": DATE, "score": SCORE,
                                                    "method_version": {"type": "string"}},
                                                   {"revision": {"type": "integer"}})},
    }, {"as_of": DATE, "change_since_last_month": _nullable("number"),
        "last_conclusive": {"type": ["object", "null"], "required": ["as_of", "score"],
                            "properties": {"as_of": DATE, "score": SCORE, "method_version": {"type": "string"}}},
        "agreements": {"type": "array", "items": _obj({"uuid": {"type": "string"}, "status": {"type": "string"},
                                                       "redundant": {"type": "boolean"}})},
        "it_systems": {"type": "array", "items": _obj({"uuid": {"type": "string"},
                                                       "with_calls": {"type": "boolean"}})},
        "price": _obj({"yearly": _nullable("number", minimum=0), "per_call": _nullable("number", minimum=0)})}),
    "NoticeUpdate": _obj({"status": {"type": "string"}, "body_html": {"type": "string"}, "at": INSTANT}),
    "Notice": _obj({
        "id": {"type": "integer"}, "title": {"type": "string"}, "kind": {"enum": ["incident", "maintenance"]},
        "status": {"type": "string"},
        "impact": {"enum": ["none", "minor", "major", "critical", None]},
        "components": {"type": "array", "items": SLUG},
        "url": _nullable("string"), "started_at": _nullable("string", format="date-time"),
        "updated_at": _nullable("string", format="date-time"),
        "resolved_at": _nullable("string", format="date-time"),
        "updates": {"type": "array", "items": _ref("NoticeUpdate")},
    }, {"scheduled_for": _nullable("string", format="date-time"),
        "scheduled_until": _nullable("string", format="date-time")}),
    "Notices": _obj({"notices": {"type": "array", "items": _ref("Notice")}}),
    "Components": _obj({"components": {"type": "array", "items": _obj({
        "slug": SLUG, "name": {"type": "string"},
        "status": {"enum": ["operational", "degraded_performance", "partial_outage", "major_outage",
                            "under_maintenance"]}})}}),
    "AvailabilityDay": _obj({
        "date": DATE, "major_minutes": {"type": "integer", "minimum": 0},
        "partial_minutes": {"type": "integer", "minimum": 0}, "degraded_minutes": {"type": "integer", "minimum": 0},
        "maintenance_minutes": {"type": "integer", "minimum": 0},
        "availability": _nullable("number", minimum=0, maximum=1)}, {"minutes": {"type": "integer", "minimum": 0}}),
    "Availability": _obj({
        "component": SLUG, "days": {"type": "array", "items": _ref("AvailabilityDay")},
        "availability": _obj({"30d": _nullable("number", minimum=0, maximum=1),
                              "90d": _nullable("number", minimum=0, maximum=1)})},
        {"now": INSTANT, "partial_weight": {"type": "number", "minimum": 0, "maximum": 1}}),
    "CutoverMunicipality": _obj({
        "code": CODE, "name": {"type": "string"},
        "status": {"enum": list(CUTOVER_STATUSES)},
        # Null in the window: the observed hours then lie before it.
        "observed_calls": _nullable("integer", minimum=0), "baseline_calls": {"type": "integer", "minimum": 0},
        "call_ratio": RATIO, "error_ratio": RATIO,
        "silent_agreements": {"type": "array", "items": _obj({"agreement_uuid": {"type": "string"}},
                                                             {"supplier": _nullable("string"),
                                                              "services": {"type": "array",
                                                                           "items": {"type": "string"}}})},
        "frozen_zone_changes": {"type": "array", "items": {"type": "object"}},
        "tasks_done": {"type": "integer", "minimum": 0}, "tasks_total": {"type": "integer", "minimum": 0},
    }, {
        "reasons": {"type": "array", "items": _ref("CutoverReason")},
        "tasks": {"type": "array", "items": _obj({"task": {"type": "string"}, "done": {"type": "boolean"},
                                                  "deadline": _nullable("string", format="date")})},
        "acknowledgement": {"oneOf": [{"type": "null"}, _ref("CutoverAcknowledgement")]},
    }),
    "CutoverReason": _obj({"code": {"enum": [
        "no_baseline", "in_window", "pending", "baseline_too_small", "no_calls", "calls_below_red",
        "calls_below_green", "calls_not_significant", "calls_normal", "errors_above_red", "errors_above_yellow",
        "silent_agreements", "silent_share"]},
        "effect": {"enum": ["red", "yellow", "not_judged", "none", "unknown", "pending"]}}, {
        # The calls reasons name both thresholds and whether the shortfall from each is significant.
        "call_ratio": {"type": "number", "minimum": 0}, "threshold": {"type": "number", "minimum": 0},
        "p_value": _nullable("number", minimum=0, maximum=1), "significance": {"type": "number"},
        "green_ratio": {"type": "number"}, "red_ratio": {"type": "number"},
        "below_green_significant": {"type": "boolean"}, "below_red_significant": {"type": "boolean"},
        "count": {"type": "integer", "minimum": 0}, "total": {"type": "integer", "minimum": 0},
        "share": {"type": "number", "minimum": 0, "maximum": 1}, "min_share": {"type": "number"},
        "min_count": {"type": "integer"}, "end": _nullable("string", format="date-time"),
    }),
    "CutoverAcknowledgement": _obj({"id": {"type": "integer"}, "agreement_uuid": _nullable("string"),
                                    "note": {"type": "string"}, "operator": {"type": "string"},
                                    "status": {"enum": ["red", "yellow"]}, "created_at": INSTANT,
                                    "expires_at": INSTANT}),
    "CutoverGroup": _obj({
        "status": {"enum": list(CUTOVER_STATUSES)},
        "observed_calls": _nullable("integer", minimum=0), "baseline_calls": {"type": "integer", "minimum": 0},
        "call_ratio": RATIO, "error_ratio": RATIO, "silent_agreements": {"type": "integer", "minimum": 0},
        "reasons": {"type": "array", "items": _ref("CutoverReason")},
    }),
    "CutoverNational": _obj({
        "status": {"enum": list(CUTOVER_STATUSES)},
        "observed_calls": _nullable("integer", minimum=0), "baseline_calls": {"type": "integer", "minimum": 0},
        "call_ratio": RATIO, "error_ratio": RATIO, "silent_agreements": {"type": "integer", "minimum": 0},
        "reasons": {"type": "array", "items": _ref("CutoverReason")},
        "status_counts": _obj({s: {"type": "integer", "minimum": 0} for s in CUTOVER_STATUSES}),
        "services": {"type": "array", "items": _ref("CutoverGroup")},
        "suppliers": {"type": "array", "items": _ref("CutoverGroup")},
    }),
    "Cutover": _obj({"now": INSTANT, "watermark": _nullable("string", format="date-time"),
                     "phase": {"enum": list(CUTOVER_PHASES)},
                     "window": _obj({"start": _nullable("string", format="date-time"),
                                     "end": _nullable("string", format="date-time"),
                                     "frozen_zone_start": _nullable("string", format="date-time")}),
                     "national": _ref("CutoverNational"),
                     "municipalities": {"type": "array", "items": _ref("CutoverMunicipality")}}),
    "AlertGroup": _obj({"version": {"type": "string"}, "groupKey": {"type": "string", "minLength": 1},
                        "status": {"enum": ["firing", "resolved"]},
                        "alerts": {"type": "array", "minItems": 1, "items": _obj(
                            {"labels": {"type": "object"}, "startsAt": {"type": "string", "format": "date-time"}})}},
                       {"groupLabels": {"type": "object"}, "commonLabels": {"type": "object"}}),
    "AlertOutcome": _obj({"result": {"enum": ["queued", "repeated", "acknowledged", "not_mailed", "no_mailbox",
                                              "no_municipality"]},
                          "mails": {"type": "integer", "minimum": 0}}),
    "ImportReport": _obj({
        "status": {"enum": ["imported", "already_imported", "rejected"]},
        "rows": {"type": "integer", "minimum": 0},
        "errors": {"type": "array", "items": _obj({"line": {"type": "integer", "minimum": 0},
                                                   "column": {"type": "string"}, "value": {"type": "string"},
                                                   "reason": {"type": "string"}})},
    }, {"stored": {"type": "integer", "minimum": 0}, "held": {"type": "integer", "minimum": 0},
        "format": _nullable("string"), "sha256": {"type": "string", "pattern": "^[0-9a-f]{64}$"},
        "error_count": {"type": "integer", "minimum": 0}, "warnings": {"type": "array", "items": {"type": "string"}},
        "report": {"type": "string"}}),
}


def _json(schema: str, description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": _ref(schema)}}}


BAD_REQUEST = _json("Error", "A parameter is not valid; the message names it.")
# Days and instants asked for lie in 2000–2099 (no call data predates 2000; see docs/limits.md).
DAY_IN_RANGE = {**DATE, "pattern": "^20[0-9]{2}-[0-9]{2}-[0-9]{2}$"}
INSTANT_IN_RANGE = {**INSTANT, "pattern": "^20[0-9]{2}-"}
AS_OF = {"name": "as_of", "in": "query", "required": False, "schema": DAY_IN_RANGE,
         "description": "The rating day, 2000-01-01 to 2099-12-31 (default: today in Copenhagen). A day "
                        "without a stored snapshot is computed without being stored."}


IMPORT_CALLS: dict[str, Any] = {
    "operationId": "importCalls", "summary": "Import a call-count file (CSV or JSON Lines) as a supplier",
    "description": "The body is the file, as an inbox file: UTF-8 CSV (comma or semicolon) or JSON Lines with the "
                   "columns period_start, agreement_uuid, calls and optionally errors; the format is read from the "
                   "content, whatever the Content-Type. The same validation, ledger and report as the inbox: a "
                   "file with any bad line is rejected whole (422, each bad line named); the same content twice "
                   "is already_imported. See docs/formats.md.",
    "security": [{"supplierToken": []}],
    "requestBody": {"required": True, "content": {
        "text/csv": {"schema": {"type": "string"}},
        "application/octet-stream": {"schema": {"type": "string", "format": "binary"}}}},
    "responses": {
        "200": _json("ImportReport", "Imported, or the same content was imported before (already_imported)"),
        "401": {**_json("Error", "No valid bearer token; the body was not read"),
                "headers": {"WWW-Authenticate": {"schema": {"type": "string"}}}},
        "413": _json("Error", "The body is larger than [collectors.calls] max_file_bytes; it was not read"),
        "422": _json("ImportReport", "Rejected: nothing was imported; errors names each bad line"),
    },
}


# Answers any operation can give: the request checks of web/guard.py and a database away.
COMMON_RESPONSES = {
    "400": BAD_REQUEST,
    "414": _json("Error", "The query string is longer than [web] max_query_bytes."),
    "503": {**_json("Error", "The database is not answering; retry after the seconds in Retry-After."),
            "headers": {"Retry-After": {"schema": {"type": "string"}}}},
}


def openapi_document(component_slugs: list[str] | None = None) -> dict[str, Any]:
    """The OpenAPI 3.1 document of the JSON API; `component_slugs` are the configured components."""
    doc = _document(component_slugs)
    for path in doc["paths"].values():
        for operation in path.values():
            for status, response in COMMON_RESPONSES.items():
                operation["responses"].setdefault(status, response)
    return doc


def _document(component_slugs: list[str] | None) -> dict[str, Any]:
    component = {**SLUG, "enum": component_slugs} if component_slugs else SLUG
    return {
        "openapi": "3.1.0",
        "info": {"title": "Infrastrukturmonitor API", "version": __version__,
                 "description": "Ratings of the 98 municipalities' use of the shared municipal infrastructure, "
                                "operational notices, availability per component and cut-over health. JSON in UTF-8; times are ISO 8601 "
                                "with offset; scores are unrounded floats on the 1–10 scale or null."},
        "servers": [{"url": "/"}],
        "paths": {
            "/api/v1/ratings": {"get": {
                "operationId": "ratings", "summary": "Every municipality's rating", "parameters": [AS_OF],
                "responses": {"200": _json("Ratings", "The ratings"), "400": BAD_REQUEST}}},
            "/api/v1/municipalities/{code}": {"get": {
                "operationId": "municipality", "summary": "One municipality: rating, history, agreements, price",
                "parameters": [{"name": "code", "in": "path", "required": True,
                                "schema": {"type": "string", "pattern": "^0?[0-9]{3}$"},
                                "description": "3-digit kommunekode (\"0101\" and \"101\" are the same)"}, AS_OF],
                "responses": {"200": _json("Municipality", "The municipality"), "400": BAD_REQUEST,
                              "404": _json("Error", "No municipality has that code")}}},
            "/api/v1/method": {"get": {
                "operationId": "method",
                "summary": "The rating method: version, weights, and each parameter given (KOMBIT) or chosen",
                "responses": {"200": _json("MethodElements", "The method")}}},
            "/api/v1/notices": {"get": {
                "operationId": "notices", "summary": "Operational notices with their updates",
                "parameters": [
                    {"name": "status", "in": "query", "required": False,
                     "schema": {"enum": ["open", "all"], "default": "open"}},
                    {"name": "component", "in": "query", "required": False, "schema": component,
                     "description": "Only notices concerning this component (and those naming none)"}],
                "responses": {"200": _json("Notices", "The notices, newest first"), "400": BAD_REQUEST}}},
            "/api/v1/components": {"get": {
                "operationId": "components", "summary": "Components and their status",
                "responses": {"200": _json("Components", "The configured components")}}},
            "/api/v1/components/{slug}/availability": {"get": {
                "operationId": "componentAvailability",
                "summary": "A component's availability per Copenhagen day, from the notices",
                "description": "availability = 1 − (major + partial_weight · partial) / (minutes − maintenance); "
                               "degraded performance is counted but not weighed; null where no minute is judged. "
                               "Today is counted up to now. See docs/notices.md.",
                "parameters": [
                    {"name": "slug", "in": "path", "required": True, "schema": component},
                    {"name": "days", "in": "query", "required": False,
                     "schema": {"type": "integer", "minimum": 1, "maximum": 366, "default": 90},
                     "description": "How many days, ending today (the 30d and 90d figures are always given)"}],
                "responses": {"200": _json("Availability", "The days, oldest first"), "400": BAD_REQUEST,
                              "404": _json("Error", "No component has that slug")}}},
            "/api/v1/cutover": {"get": {
                "operationId": "cutover", "summary": "Cut-over health per municipality and for the platform",
                "parameters": [{"name": "now", "in": "query", "required": False, "schema": INSTANT_IN_RANGE,
                                "description": "Evaluate at this instant, in the years 2000–2099 "
                                               "(default: the current time)"}],
                "responses": {"200": _json("Cutover", "Cut-over health"), "400": BAD_REQUEST}}},
            "/api/v1/alertmanager": {"post": {
                "operationId": "alertmanager",
                "summary": "Alertmanager's webhook: mails each municipality alert group to its mailboxes, once",
                "security": [{"bearer": []}],
                "requestBody": {"required": True, "content": {"application/json": {"schema": _ref("AlertGroup")}}},
                "responses": {"200": _json("AlertOutcome", "What was done with the notification"),
                              "400": _json("Error", "Not Alertmanager's webhook JSON, or an unknown municipality"),
                              "401": _json("Error", "No valid bearer token ([alerts] receiver_token)"),
                              "413": _json("Error", "The body is larger than [alerts] max_body_bytes")}}},
            "/api/v1/imports/calls": {"post": IMPORT_CALLS},
            "/api/v1/openapi.json": {"get": {
                "operationId": "openapi", "summary": "This document",
                "responses": {"200": {"description": "The OpenAPI document",
                                      "content": {"application/json": {"schema": {"type": "object"}}}}}}},
        },
        "components": {"schemas": SCHEMAS, "securitySchemes": {
            "bearer": {"type": "http", "scheme": "bearer", "description": "[alerts] receiver_token"},
            "supplierToken": {"type": "http", "scheme": "bearer",
                              "description": "A supplier's token from `monitor tokens add NAME`"}}},
    }


@bp.get("/api/v1/openapi.json")
def openapi() -> ResponseReturnValue:
    """The OpenAPI document of the JSON API."""
    response = jsonify(openapi_document(state().settings.component_slugs()))
    response.headers["Access-Control-Allow-Origin"] = "*"  # so that API explorers elsewhere can read it
    return response
