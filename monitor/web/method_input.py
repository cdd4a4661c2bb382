""""Dit input?": the form on each municipality page and on /metode, and the mailed confirmation.

The input is stored with its confirmation mail in one transaction, and the page answers at
once. The mailed link carries the row's own random key; the GET shows a button and only the
POST confirms (mail scanners follow GET links). Until then operators see it as unconfirmed.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from flask import Blueprint, render_template, request
from flask_babel import get_locale
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_wtf.csrf import CSRFError

from ..models import MethodInput
from ..notify import subscriptions as subs
from ..notify.mailqueue import queue_mail
from ..rating import inputs
from .auth import now as clock_now
from .limits import ADDRESS_LIMIT, address_key, client_limit, limiter
from .pages.info import municipality_choices
from .security import private_link
from .state import db_session, state
from .subscribe import _address_error

bp = Blueprint("method_input", __name__)

PART_WORDS = {"service_agreements": _l("Serviceaftaler"), "calls_per_citizen": _l("Kald pr. borger"),
              "it_systems_with_calls": _l("It-systemer med kald"), "method": _l("Metoden generelt")}


@bp.app_context_processor
def input_words() -> dict[str, Any]:
    """The parts a lead can choose between, in words, for the form and the published answers."""
    return {"input_parts": [(p, PART_WORDS[p]) for p in inputs.INPUT_PARTS],
            "input_part_word": lambda p: str(PART_WORDS.get(p, p)), "input_max_text": inputs.MAX_TEXT}


bp.after_request(private_link)  # the confirmation page sits under a secret link


@bp.errorhandler(429)
def too_many(exc: Exception) -> tuple[str, int]:
    """The rate limit: a page, not a stack of mails."""
    return render_template("subscribe/limited.html"), 429


@bp.errorhandler(CSRFError)
def csrf_failed(exc: CSRFError) -> tuple[str, int]:
    """A form without a valid CSRF token (or an expired session) is refused, and nothing is stored."""
    return render_template("pages/input_refused.html", reason="csrf"), 400


FIELD_MESSAGES = {"municipality": _l("Vælg en kommune fra listen, eller lad feltet stå tomt."),
                  "part": _l("Vælg, hvilken del inputtet handler om."),
                  "text": _l("Skriv dit input (højst %(num)d tegn).")}


def _values() -> tuple[dict[str, str], dict[str, str]]:
    """The submitted fields (bounded as the form bounds them) and a message per bad field."""
    form = request.form
    values = {"municipality": form.get("municipality", "")[:10], "part": form.get("part", "")[:40],
              "text": form.get("text", "")[:inputs.MAX_TEXT * 2], "email": form.get("email", "")[:320]}
    errors: dict[str, str] = {}
    try:
        code, part, text = inputs.check(db_session(), values["municipality"], values["part"], values["text"])
    except inputs.InputRefused as exc:
        errors[exc.field] = str(FIELD_MESSAGES[exc.field]) % {"num": inputs.MAX_TEXT}
    else:
        values.update(municipality=code or "", part=part, text=text)
    try:
        values["email"] = subs.normalise_email(values["email"])
    except subs.AddressError:
        errors["email"] = _("Skriv en gyldig e-mailadresse, fx navn@kommune.dk.")
    else:
        if problem := _address_error(values["email"]):
            errors["email"] = problem
    return values, errors


def _form_page(status: int, values: dict[str, str], errors: dict[str, str]) -> tuple[str, int]:
    return render_template("pages/input_form.html", values=values, errors=errors,
                           municipalities=municipality_choices(db_session())), status


@bp.get("/metode/input")
def input_form() -> tuple[str, int]:
    """The form on a page of its own (`?kommune=CODE` chooses the municipality)."""
    code = request.args.get("kommune", "")[:10]
    return _form_page(200, {"municipality": code, "part": "", "text": "", "email": ""}, {})


@bp.post("/metode/input")
@limiter.limit(client_limit)
@limiter.limit(ADDRESS_LIMIT, key_func=address_key)
def input_post() -> tuple[str, int]:
    """Store the input unconfirmed and queue the mail with its confirmation link."""
    values, errors = _values()
    if errors:
        return _form_page(400, values, errors)
    session = db_session()
    language = str(get_locale() or "da")
    row = inputs.submit(session, values["municipality"] or None, values["part"], values["text"], values["email"],
                        language, clock_now())
    mail = queue_mail(session, "method_input", row.address, language)
    row.mail_id = mail.id
    session.commit()
    return render_template("pages/input_sent.html", address=values["email"],
                           hours=state().settings.web.confirm_max_age_hours), 200


def _confirmable(key: str) -> MethodInput | tuple[str, int]:
    row = inputs.by_key(db_session(), key)
    if row is None:
        return render_template("pages/input_refused.html", reason="invalid"), 404
    max_age = dt.timedelta(hours=state().settings.web.confirm_max_age_hours)
    if row.confirmed_at is None and clock_now() - row.created_at > max_age:
        return render_template("pages/input_refused.html", reason="expired"), 410
    return row


@bp.get("/metode/input/<key>")
def confirm_page(key: str) -> tuple[str, int]:
    """A button that confirms the input; the GET itself changes nothing."""
    row = _confirmable(key)
    if isinstance(row, tuple):
        return row
    return render_template("pages/input_confirm.html", row=row), 200


@bp.post("/metode/input/<key>")
@limiter.limit(client_limit)
def confirm_post(key: str) -> tuple[str, int]:
    """Confirm the input (a second confirmation changes nothing)."""
    row = _confirmable(key)
    if isinstance(row, tuple):
        return row
    inputs.confirm(row, clock_now())
    db_session().commit()
    return render_template("pages/input_confirmed.html", row=row), 200
