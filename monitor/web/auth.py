"""Operator sign-in: a mailed, signed, single-use link; Flask-Login holds the session.

`GET /login` shows a form for the address; `POST /login` answers every address alike and
mails a link only to known operators (after the answer has gone, so that its timing says
nothing either). The link lands on a page with a button: mail scanners follow GET links,
so only the POST signs in. `POST /logout` signs out. A session ends after `[web]
session_hours` however busy it is, and at once when its operator is removed.

`operator_required` guards a view: signed out, a page is redirected to /login and the API
answers 401 with JSON.
"""

from __future__ import annotations

import datetime as dt
import functools
import logging
import smtplib
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
from ..notify.mail import base_url, compose, render, translations
from ..notify.transport import open_mailer
from ..notify.wire import WireMessage
from .limits import ADDRESS_LIMIT, address_key, client_limit, limiter
from .state import db_session, state

log = logging.getLogger(__name__)
bp = Blueprint("auth", __name__)
login_manager = LoginManager()
# Flask-WTF's time limit: a form older than this is refused and must be reloaded.
CSRF_SECONDS = 3600
SIGNED_IN_AT = "signed_in_at"
NEXT = "after_sign_in"

View = TypeVar("View", bound=Callable[..., Any])


class Operator(UserMixin):
    """The signed-in operator as Flask-Login sees it (a snapshot of the `User` row)."""

    def __init__(self, user: User) -> None:
        self.user_id, self.email, self.role = user.id, user.email, user.role
        self.session_version = user.session_version or 0

    def get_id(self) -> str:
        # The version is part of the id: bumping it (or removing the user) ends the session.
        return f"{self.user_id}:{self.session_version}"


def now() -> dt.datetime:
    """The current instant; tests put a clock of their own in app.config["MONITOR_CLOCK"]."""
    clock: Callable[[], dt.datetime] = current_app.config.get("MONITOR_CLOCK", utcnow)
    return clock()


@login_manager.user_loader
def load_operator(user_id: str) -> Operator | None:
    """The operator of a session cookie, or None when the session is over or void."""
    try:
        uid, version = (int(part) for part in user_id.split(":"))
    except ValueError:
        return None
    signed_in_at = session.get(SIGNED_IN_AT)
    hours = state().settings.web.session_hours
    if not isinstance(signed_in_at, (int, float)) or now().timestamp() - signed_in_at > hours * 3600:
        return None
    user = db_session().get(User, uid)
    if user is None or (user.session_version or 0) != version:
        return None
    return Operator(user)


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


@bp.after_request
def private(response: Response) -> Response:
    """Sign-in pages are never cached and never leak the link to another site."""
    response.headers["Cache-Control"] = "no-store"
    response.headers["Referrer-Policy"] = "no-referrer"
    return response


@bp.errorhandler(CSRFError)
def csrf_failed(exc: CSRFError) -> tuple[str, int]:
    """An old or foreign form: reload and try again."""
    return render_template("auth/refused.html", reason="csrf"), 400


@bp.errorhandler(429)
def too_many(exc: Exception) -> tuple[str, int]:
    """The rate limit, the same for every address."""
    return render_template("auth/refused.html", reason="limited"), 429


@bp.get("/login")
def login_form() -> tuple[str, int]:
    """The sign-in form: an address, and a link is mailed."""
    return render_template("auth/login.html", signed_in=is_operator()), 200


def sign_in_message(link: str, to: str, minutes: int, language: str) -> WireMessage:
    """The sign-in mail: the link, how long it works, and what to do if it was not you.

    Built by the same wire writer as every other mail (valid headers as sent, CRLF), without
    List-Unsubscribe: it is not a list.
    """
    settings = state().settings
    context = {"link": link, "minutes": minutes}
    subject = translations(language).gettext("Log ind på Infrastrukturmonitor")
    return compose(settings, to, subject, render("login.txt", language, **context),
                   render("login.html", language, **context), unsubscribe_url=None)


def _send_later(message: WireMessage) -> Callable[[], None]:
    settings = state().settings

    def send() -> None:
        try:
            with open_mailer(settings) as mailer:
                mailer.send(message)
        except (smtplib.SMTPException, OSError):
            log.exception("could not send a sign-in mail")

    return send


@bp.post("/login")
@limiter.limit(client_limit)
@limiter.limit(ADDRESS_LIMIT, key_func=address_key)
def login_post() -> Response:
    """Mail a sign-in link to a known operator; every address gets the very same answer."""
    submitted = request.form.get("email", "")[:users.MAX_ADDRESS_LENGTH + 10]
    dbs = db_session()
    user = users.find_user(dbs, submitted)
    message = None
    if user is not None:
        settings = state().settings
        minutes = settings.web.login_link_minutes
        token = users.issue_link(dbs, str(current_app.secret_key), user, minutes, now())
        users.audit(dbs, user.email, "sign_in_link", "", now())
        dbs.commit()
        message = sign_in_message(f"{base_url(settings)}/login/{token}", user.email, minutes,
                                  str(get_locale() or "da"))
    response = Response(render_template("auth/sent.html", minutes=state().settings.web.login_link_minutes))
    if message is not None:
        response.call_on_close(_send_later(message))  # after the answer: its timing reveals nothing
    return response


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
    dbs.commit()
    target = _safe_next(session.get(NEXT))
    session.clear()  # a fresh session: nothing from before the sign-in carries over
    session.permanent = True
    session[SIGNED_IN_AT] = now().timestamp()
    login_user(Operator(user))
    log.info("operator %s signed in", user.id)
    return redirect(target, code=303)


@bp.post("/logout")
def logout() -> BaseResponse:
    """Sign out (also when the session has already ended)."""
    if is_operator():
        dbs = db_session()
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
