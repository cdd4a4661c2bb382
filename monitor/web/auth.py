"""Operator sign-in: a mailed, signed, single-use link; the session is kept on the server.

`GET /login` shows a form for the address; `POST /login` answers every address alike, never
429 for an address, and queues a sign-in mail for any well-formed address (at most one per
address per `[web] login_mail_seconds`): the mail queue sends the link to a known operator and
drops the others, so the request does the same work and takes the same time whoever asks.
The link lands on a page with a button: mail scanners follow GET links, so only the POST signs
in. Signing in opens a session row (`users.open_session`); the cookie holds its random token.
`POST /logout` ends that row, so a copy of the cookie is refused afterwards; a session also ends
after `[web] session_hours`, and at once when its operator is removed or it is revoked.

`operator_required` guards a view: signed out, a page is redirected to /login and the API
answers 401 with JSON.
"""

from __future__ import annotations

import datetime as dt
import functools
import logging
from collections.abc import Callable
from typing import Any, TypeVar
from urllib.parse import urlsplit

from flask import (
    Blueprint,
    Flask,
    Response,
    current_app,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_babel import get_locale
from flask_login import LoginManager, UserMixin, current_user, login_user, logout_user
from flask_wtf.csrf import CSRFError
from werkzeug.wrappers import Response as BaseResponse  # what redirect() returns

from .. import users
from ..db import utcnow
from ..models import User
from ..notify.mailqueue import queue_sign_in
from .limits import client_limit, limiter
from .security import private_link
from .state import db_session, state

log = logging.getLogger(__name__)
bp = Blueprint("auth", __name__)
login_manager = LoginManager()
# Flask-WTF's time limit: a form older than this is refused and must be reloaded.
CSRF_SECONDS = 3600
NEXT = "after_sign_in"

View = TypeVar("View", bound=Callable[..., Any])


class Operator(UserMixin):
    """The signed-in operator as Flask-Login sees it: a snapshot of the `User` row and the session's token."""

    def __init__(self, user: User, token: str) -> None:
        self.user_id, self.email, self.role = user.id, user.email, user.role
        self.token = token

    def get_id(self) -> str:
        # What the cookie keeps: the token of this session alone, never the row id of the user.
        return self.token


def now() -> dt.datetime:
    """The current instant; tests put a clock of their own in app.config["MONITOR_CLOCK"]."""
    clock: Callable[[], dt.datetime] = current_app.config.get("MONITOR_CLOCK", utcnow)
    return clock()


@login_manager.user_loader
def load_operator(token: str) -> Operator | None:
    """The operator of a session cookie, or None when the session ended, expired or never was."""
    if not isinstance(token, str):
        return None
    user = users.session_user(db_session(), token, now())
    return Operator(user, token) if user is not None else None


def _wants_json() -> bool:
    return request.path.startswith("/api/")


@login_manager.unauthorized_handler
def unauthorized() -> BaseResponse | tuple[dict[str, str], int, dict[str, str]]:
    """Signed out: the API answers 401; a page sends the visitor to /login and back afterwards."""
    if _wants_json():
        return ({"error": "sign-in required", "login": url_for("auth.login_form")}, 401,
                {"WWW-Authenticate": 'Cookie realm="Infrastrukturmonitor", form="/login"',
                 "Cache-Control": "no-store"})
    if request.method == "GET":
        session[NEXT] = request.full_path if request.query_string else request.path
    return redirect(url_for("auth.login_form"), code=303)


def is_operator() -> bool:
    """Whether the request comes from a signed-in operator."""
    return bool(current_user.is_authenticated and getattr(current_user, "role", None) == "operator")


def operator_required(view: View) -> View:
    """Serve `view` to signed-in operators only (see `unauthorized` for everyone else)."""

    @functools.wraps(view)
    def guarded(*args: Any, **kwargs: Any) -> Any:
        if not is_operator():
            return unauthorized()
        return view(*args, **kwargs)

    guarded.operator_only = True  # type: ignore[attr-defined]
    return guarded  # type: ignore[return-value]


def actor() -> str:
    """The signed-in operator's address, for the audit trail."""
    return str(getattr(current_user, "email", "") or "")


def _safe_next(target: object) -> str:
    """Only a path on this site: never an open redirect."""
    if not isinstance(target, str) or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return url_for("pages.service_health")
    parts = urlsplit(target)
    return target if not parts.scheme and not parts.netloc else url_for("pages.service_health")


bp.after_request(private_link)  # sign-in pages: never cached, the link never leaked


@bp.errorhandler(CSRFError)
def csrf_failed(exc: CSRFError) -> tuple[str, int]:
    """An old or foreign form: reload and try again."""
    return render_template("auth/refused.html", reason="csrf"), 400


@bp.errorhandler(429)
def too_many(exc: Exception) -> tuple[str, int]:
    """The per-client rate limit (an address never gets 429: see `login_post`)."""
    return render_template("auth/refused.html", reason="limited"), 429


@bp.get("/login")
def login_form() -> tuple[str, int]:
    """The sign-in form: an address, and a link is mailed."""
    return render_template("auth/login.html", signed_in=is_operator()), 200


@bp.post("/login")
@limiter.limit(client_limit)
def login_post() -> Response:
    """Queue a sign-in mail; every address gets the very same answer, however often it is asked for."""
    settings = state().settings
    submitted = request.form.get("email", "")[:users.MAX_ADDRESS_LENGTH + 10]
    try:
        address: str | None = users.normalise_address(submitted)
    except users.UserError:
        address = None
    if address is not None:
        dbs = db_session()
        queue_sign_in(dbs, address, str(get_locale() or "da"), now(), settings.web.login_mail_seconds)
        dbs.commit()
    return Response(render_template("auth/sent.html", minutes=settings.web.login_link_minutes))


def _link_refused(exc: users.LinkError) -> tuple[str, int]:
    db_session().rollback()
    return render_template("auth/refused.html", reason=exc.reason), 400 if exc.reason == "invalid" else 410


@bp.get("/login/<token>")
def link_page(token: str) -> tuple[str, int]:
    """The landing page of a mailed link: a button; the GET itself signs nobody in."""
    try:
        checked = users.check_link(db_session(), str(current_app.secret_key), token, now())
    except users.LinkError as exc:
        return _link_refused(exc)
    from ..privacy import mask_address

    return render_template("auth/link.html", address=mask_address(checked.user.email)), 200


@bp.post("/login/<token>")
def link_post(token: str) -> BaseResponse | tuple[str, int]:
    """Spend the link and sign in; a second use says the link has been used."""
    dbs = db_session()
    try:
        user = users.use_link(dbs, str(current_app.secret_key), token, now())
    except users.LinkError as exc:
        return _link_refused(exc)
    token = users.open_session(dbs, user, state().settings.web.session_hours, now())
    dbs.commit()
    target = _safe_next(session.get(NEXT))
    session.clear()  # a fresh session: nothing from before the sign-in carries over
    session.permanent = True
    login_user(Operator(user, token))
    log.info("operator %s signed in", user.id)
    return redirect(target, code=303)


@bp.post("/logout")
def logout() -> BaseResponse:
    """Sign out (also when the session has already ended)."""
    if is_operator():
        dbs = db_session()
        users.end_session(dbs, current_user.token, now())  # a copy of the cookie is refused from now on
        users.audit(dbs, actor(), "sign_out", "", now())
        dbs.commit()
    logout_user()
    session.clear()
    return redirect(url_for("auth.login_form", signed_out=1), code=303)


def init_app(app: Flask) -> None:
    """Flask-Login and the cookie rules: HttpOnly, SameSite=Lax, Secure under https."""
    settings = state(app).settings
    app.config.update(
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=settings.web.base_url.lower().startswith("https://"),
        PERMANENT_SESSION_LIFETIME=dt.timedelta(hours=settings.web.session_hours),
        WTF_CSRF_TIME_LIMIT=CSRF_SECONDS,
    )
    login_manager.init_app(app)
    login_manager.session_protection = "basic"
