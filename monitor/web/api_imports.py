"""POST /api/v1/imports/calls: a supplier posts a call-count file with its bearer token.

The body is the file (CSV or JSON Lines, as in the inbox), checked, written and entered in the
ledger by the same importer as an inbox file, so the same content twice is a no-op on any web
node and no host owns the inbox. The answer is the file's report as JSON. A body over
`[collectors.calls] max_file_bytes` is answered 413 by web/guard.py before it is read; a
request without a valid token 401, before the body is read either. CSRF does not apply: the
route takes no cookie, only its bearer token.
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

from flask import Blueprint, jsonify, request
from flask.typing import ResponseReturnValue

from ..collectors.calls.importer import REPORT_PROBLEMS, FileResult, import_content
from ..db import session_scope, utcnow
from ..importtokens import authenticate
from ..settings import Settings
from .guard import body_limit, problem
from .state import csrf, state

log = logging.getLogger(__name__)
bp = Blueprint("api_imports", __name__)

STATUS = {"imported": ("imported", 200), "unchanged": ("already_imported", 200), "rejected": ("rejected", 422)}


def max_file_bytes(settings: Settings) -> int:
    """The bound on a posted file: `[collectors.calls] max_file_bytes`."""
    return settings.collectors.calls.max_file_bytes


def bearer_token() -> str:
    """The token of an `Authorization: Bearer TOKEN` header; empty when there is none."""
    scheme, _, token = request.headers.get("Authorization", "").strip().partition(" ")
    return token.strip() if scheme.lower() == "bearer" else ""


def unauthorised() -> ResponseReturnValue:
    """401 with the scheme to use; the body was not read."""
    response = problem(401, "a valid bearer token is required (Authorization: Bearer TOKEN, from "
                            "`monitor tokens add NAME`)")
    response.headers["WWW-Authenticate"] = 'Bearer realm="imports"'
    response.headers["Connection"] = "close"  # the body is left unread
    return response


def supplier_of(token: str, now: dt.datetime) -> str | None:
    """The name of the supplier whose token this is, noting the use; None for any other text."""
    with session_scope(state().sessions) as session:
        row = authenticate(session, token, now)
        return row.name if row is not None else None


def answer(result: FileResult) -> dict[str, Any]:
    """The file's report as the API's JSON document."""
    status, _ = STATUS[result.outcome]
    return {
        "status": status, "rows": result.rows, "stored": result.stored, "held": result.held,
        "format": result.format or None, "sha256": result.sha256,
        "errors": [{"line": p.line, "column": p.column, "value": p.value, "reason": p.reason}
                   for p in result.problems[:REPORT_PROBLEMS]],
        "error_count": len(result.problems),
        "warnings": [*result.warnings, *([f"{result.held} count(s) held for agreements not known yet"]
                                         if result.held else [])],
        "report": result.report(),
    }


@bp.post("/api/v1/imports/calls")
@csrf.exempt
@body_limit(max_file_bytes)
def import_calls() -> ResponseReturnValue:
    """Import the call-count file in the body; answer its report (200 imported or already, 422 rejected)."""
    now = utcnow()
    supplier = supplier_of(bearer_token(), now)
    if supplier is None:
        return unauthorised()
    data = request.get_data(cache=False)
    result = import_content(state().engine, "calls", f"POST /api/v1/imports/calls by {supplier}", data, now,
                            supplier=supplier)
    if result.outcome not in STATUS:  # pragma: no cover - import_content returns only these
        raise RuntimeError(f"unexpected import outcome {result.outcome!r}")
    log.log(logging.INFO if result.ok else logging.WARNING, "%s", result.report())
    return jsonify(answer(result)), STATUS[result.outcome][1]
