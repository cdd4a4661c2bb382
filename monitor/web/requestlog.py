"""A request id for every request: taken from X-Request-ID when sane, else made; echoed back."""

from __future__ import annotations

import re
import uuid

from flask import Blueprint, Response, g, request

from ..logs import request_id

bp = Blueprint("requestlog", __name__)
SANE = re.compile(r"^[A-Za-z0-9._-]{1,64}$")


@bp.before_app_request
def assign_request_id() -> None:
    """Use the caller's X-Request-ID (from a load balancer) when sane, else a new one."""
    given = request.headers.get("X-Request-ID", "")
    rid = given if SANE.match(given) else uuid.uuid4().hex[:16]
    g.request_id = rid
    g.request_id_token = request_id.set(rid)


@bp.after_app_request
def echo_request_id(response: Response) -> Response:
    """Return the request id so a user's report can be found in the logs."""
    rid = g.get("request_id")
    if rid:
        response.headers["X-Request-ID"] = rid
    return response


@bp.teardown_app_request
def forget_request_id(exc: BaseException | None) -> None:
    token = g.pop("request_id_token", None)
    if token is not None:
        request_id.reset(token)
