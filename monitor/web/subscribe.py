"""Subscribe, confirm, manage and unsubscribe pages.

Every link in a mail lands on a page that only shows a button; the change happens on the
POST (mail scanners follow GET links). The answer to a subscribe request is the same page
and the same kind of mail whether or not the address was known; the mail goes into the
outbox in the same transaction, so the page answers at once whatever the mail server's
state. The one-click unsubscribe URL (RFC 8058) accepts a POST without a CSRF token: its
signed token authenticates it. The manage page also hands out everything held on the
subscriber (JSON) and erases it at once.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from flask import Blueprint, Response, current_app, render_template, request
from flask_babel import get_locale
from flask_babel import gettext as _
from flask_wtf.csrf import CSRFError

from ..models import Subscriber
from ..notify import invitations, privacy
from ..notify import subscriptions as subs
from ..notify.mailqueue import queue_mail
from ..notify.tokens import InvitationPayload, TokenError, TokenPayload, read_invitation_token, read_token
from ..notify.transport import smtputf8_available
from ..notify.wire import AddressNotSendable, wire_address
from .limits import ADDRESS_LIMIT, address_key, client_limit, limiter
from .security import private_link
from .state import csrf, db_session, state

log = logging.getLogger(__name__)
bp = Blueprint("subscribe", __name__)


bp.after_request(private_link)  # pages under signed links


def _secret() -> str:
    return str(current_app.secret_key)


def _address_error(address: str) -> str | None:
    """Why an otherwise valid address cannot be mailed from here, in words; None when it can."""
    try:
        wire = wire_address(address)
    except AddressNotSendable:
        return _("Adressens domæne kan ikke skrives, så mailsystemer forstår det. Tjek stavemåden.")
    if wire.smtputf8 and not smtputf8_available(state().settings):
        return _("Vores mailserver kan ikke sende til adresser med æ, ø, å eller andre særlige tegn før @. "
                 "Brug en adresse uden dem.")
    return None


def _form_values() -> tuple[dict[str, Any], dict[str, str]]:
    """The submitted email, components and language, with a message per bad field."""
    errors: dict[str, str] = {}
    raw_email = request.form.get("email", "")
    email = ""
    try:
        email = subs.normalise_email(raw_email)
    except subs.AddressError:
        errors["email"] = _("Skriv en gyldig e-mailadresse, fx navn@kommune.dk.")
    else:
        if problem := _address_error(email):
            errors["email"] = problem
    components: list[str] = []
    try:
        components = subs.check_components(db_session(), request.form.getlist("components"))
    except ValueError as exc:
        errors["components"] = _("Ukendt komponent: %(slugs)s", slugs=str(exc))
    language = request.form.get("language", "da")
    if language not in subs.LANGUAGES:
        errors["language"] = _("Vælg dansk eller engelsk.")
        language = "da"
    return {"email": email or raw_email.strip(), "components": components, "language": language}, errors


def _form_page(template: str, status: int = 200, **context: Any) -> tuple[str, int]:
    context.setdefault("values", {"email": "", "components": [], "language": str(get_locale() or "da")})
    context.setdefault("errors", {})
    context.setdefault("grace_days", state().settings.web.unsubscribe_grace_days)
    return render_template(template, all_components=subs.known_components(db_session()), **context), status


GONE = ("gone", "void")  # the link was good, but what it names is no more: 410


def _refused(reason: str) -> tuple[str, int]:
    return render_template("subscribe/invalid.html", reason=reason), 410 if reason in GONE else 400


def _payload(purpose: str, token: str) -> TokenPayload:
    max_age = state().settings.web.confirm_max_age_hours * 3600 if purpose == "confirm" else None
    return read_token(_secret(), purpose, token, max_age_seconds=max_age)


@bp.errorhandler(TokenError)
def token_refused(exc: TokenError) -> tuple[str, int]:
    """An expired, forged or voided link gets a page saying so, never a change."""
    db_session().rollback()
    return _refused(exc.reason)


@bp.errorhandler(429)
def too_many(exc: Exception) -> tuple[str, int]:
    """The rate limit: a page, not a stack of mails."""
    return render_template("subscribe/limited.html"), 429


@bp.errorhandler(CSRFError)
def csrf_failed(exc: CSRFError) -> tuple[str, int]:
    """A form without a valid CSRF token (or an expired session) is refused."""
    return render_template("subscribe/invalid.html", reason="csrf"), 400


@bp.get("/subscribe")
def subscribe_form() -> tuple[str, int]:
    """The subscription form."""
    return _form_page("subscribe/form.html")


@bp.post("/subscribe")
@limiter.limit(client_limit)
@limiter.limit(ADDRESS_LIMIT, key_func=address_key)
def subscribe_post() -> tuple[str, int]:
    """Record the request and mail a confirmation link (or, for a known address, a manage link)."""
    values, errors = _form_values()
    if errors:
        return _form_page("subscribe/form.html", 400, values=values, errors=errors)
    session = db_session()
    outcome = subs.subscribe(session, values["email"], values["components"], values["language"])
    # The mail is queued with the subscriber: both or neither, and the page never waits for it.
    queue_mail(session, outcome.mail, outcome.subscriber.address, outcome.subscriber.language,
               subscriber=outcome.subscriber)
    session.commit()
    return render_template("subscribe/sent.html", address=values["email"],
                           hours=state().settings.web.confirm_max_age_hours), 200


@bp.get("/confirm/<token>")
def confirm_page(token: str) -> tuple[str, int]:
    """A button that confirms; the GET itself changes nothing."""
    payload = _payload("confirm", token)
    sub = subs.subscriber_for(db_session(), payload)
    if sub.unsubscribed_at is not None:
        raise TokenError("invalid")
    return render_template("subscribe/confirm.html", address=payload.address or sub.address), 200


@bp.post("/confirm/<token>")
def confirm_post(token: str) -> tuple[str, int]:
    """Confirm the subscription (or the new address)."""
    session = db_session()
    sub = subs.confirm(session, _payload("confirm", token))
    privacy.unsuppress(session, sub.address)  # they asked for mail themselves
    session.commit()
    links = _links(sub)
    return render_template("subscribe/confirmed.html", address=sub.address, **links), 200


def _links(sub: Subscriber) -> dict[str, Any]:  # Any: it is spread into _form_page's **context
    from ..notify.mail import subscriber_links

    return subscriber_links(state().settings, _secret(), sub)


def _active_subscriber(token: str) -> Subscriber:
    sub = subs.subscriber_for(db_session(), _payload("manage", token))
    if not subs.is_active(sub):
        raise TokenError("invalid")
    return sub


@bp.get("/manage/<token>")
def manage_page(token: str) -> tuple[str, int]:
    """The preferences of the subscriber the link names."""
    sub = _active_subscriber(token)
    values = {"email": sub.address, "language": sub.language,
              "components": [s.component_slug for s in sub.subscriptions]}
    return _form_page("subscribe/manage.html", values=values, token=token, **_links(sub))


@bp.post("/manage/<token>")
@limiter.limit(client_limit)
def manage_post(token: str) -> tuple[str, int]:
    """Save components and language; a new address gets a confirmation mail first."""
    sub = _active_subscriber(token)
    values, errors = _form_values()
    if errors:
        return _form_page("subscribe/manage.html", 400, values=values, errors=errors, token=token, **_links(sub))
    session = db_session()
    subs.set_preferences(sub, values["components"], values["language"])
    new_address = values["email"] if values["email"] != sub.address else None
    if new_address:
        queue_mail(session, "confirm", new_address, sub.language, subscriber=sub)
    session.commit()
    return render_template("subscribe/managed.html", new_address=new_address, token=token), 200


def _unsubscribe_target(token: str) -> Subscriber | None:
    """The subscriber to unsubscribe, or None when the link's subscriber already is.

    A subscriber erased or deleted after the grace period is gone (410): the same id with
    another key is someone else's row, never theirs.
    """
    payload = _payload("unsubscribe", token)
    sub = db_session().get(Subscriber, payload.subscriber_id)
    if not payload.names(sub):
        raise TokenError("gone")
    assert sub is not None
    if sub.token_version != payload.version:
        if sub.unsubscribed_at is not None:
            return None
        raise TokenError("invalid")  # an old link of someone who subscribed again
    return sub


@bp.get("/u/<token>")
def unsubscribe_page(token: str) -> tuple[str, int]:
    """A button that unsubscribes; the GET itself changes nothing."""
    sub = _unsubscribe_target(token)
    grace = state().settings.web.unsubscribe_grace_days
    if sub is None:
        return render_template("subscribe/unsubscribed.html", grace_days=grace), 200
    return render_template("subscribe/unsubscribe.html", address=sub.address, grace_days=grace), 200


@bp.post("/u/<token>")
@csrf.exempt
def unsubscribe_post(token: str) -> tuple[str, int]:
    """Unsubscribe: the page's button, or RFC 8058 one-click (body ``List-Unsubscribe=One-Click``)."""
    sub = _unsubscribe_target(token)
    if sub is not None:
        session = db_session()
        subs.unsubscribe(session, sub)
        privacy.suppress(session, sub.address, "unsubscribed")
        session.commit()
        log.info("subscriber %s unsubscribed (%s)", sub.id,
                 "one-click" if request.form.get("List-Unsubscribe") == "One-Click" else "page")
    grace = state().settings.web.unsubscribe_grace_days
    return render_template("subscribe/unsubscribed.html", grace_days=grace), 200


@bp.post("/manage/<token>/data")
@limiter.limit(client_limit)
def my_data(token: str) -> Response:
    """Everything held on the subscriber, as a JSON download."""
    sub = _active_subscriber(token)
    document = privacy.export_data(db_session(), sub.address)
    body = json.dumps(document, ensure_ascii=False, indent=2) + "\n"
    return Response(body, mimetype="application/json",
                    headers={"Content-Disposition": 'attachment; filename="mine-data.json"'})


@bp.post("/manage/<token>/delete")
@limiter.limit(client_limit)
def delete_me(token: str) -> tuple[str, int]:
    """Erase the subscriber now (not after the grace period), once the box saying so is ticked;
    the address is never invited again."""
    sub = _active_subscriber(token)
    if request.form.get("confirm") != "yes":  # the page's second step, without any script
        values = {"email": sub.address, "language": sub.language,
                  "components": [s.component_slug for s in sub.subscriptions]}
        errors = {"confirm": _("Sæt hak i feltet for at bekræfte, at du vil slettes nu. Intet er slettet.")}
        return _form_page("subscribe/manage.html", 400, values=values, errors=errors, token=token, **_links(sub))
    session = db_session()
    privacy.erase(session, sub.address)
    session.commit()
    log.info("a subscriber erased their data from the manage page")
    return render_template("subscribe/deleted.html"), 200


def _invitation(token: str) -> InvitationPayload:
    max_age = invitations.INVITATION_MAX_AGE_DAYS * 86400
    return read_invitation_token(_secret(), token, max_age_seconds=max_age)


def _usable_invitation(token: str) -> InvitationPayload:
    """An invitation whose address has not unsubscribed, declined or been erased since (else 410)."""
    payload = _invitation(token)
    if invitations.void_reason(db_session(), payload.address):
        raise TokenError("void")
    return payload


@bp.get("/invitation/<token>")
def invitation_page(token: str) -> tuple[str, int]:
    """The invitation, its components and language pre-filled, and a button; the GET changes nothing."""
    payload = _usable_invitation(token)
    values = {"email": payload.address, "components": list(payload.components), "language": payload.language}
    return _form_page("subscribe/invitation.html", values=values, token=token)


@bp.post("/invitation/<token>")
@limiter.limit(client_limit)
def invitation_post(token: str) -> tuple[str, int]:
    """Accept: subscribed and confirmed at once (the link reached the mailbox)."""
    payload = _usable_invitation(token)
    _values, errors = _form_values()
    errors.pop("email", None)  # the address is the invitation's, not the form's
    values = {**_values, "email": payload.address}
    if errors:
        return _form_page("subscribe/invitation.html", 400, values=values, errors=errors, token=token)
    session = db_session()
    sub = invitations.accept(session, payload, values["components"], values["language"])
    session.commit()
    return render_template("subscribe/confirmed.html", address=sub.address, **_links(sub)), 200


@bp.get("/invitation/<token>/nej")
def invitation_decline_page(token: str) -> tuple[str, int]:
    """A button that stops further invitations; the GET changes nothing."""
    payload = _invitation(token)
    return render_template("subscribe/decline.html", address=payload.address), 200


@bp.post("/invitation/<token>/nej")
@csrf.exempt
def invitation_decline(token: str) -> tuple[str, int]:
    """No more invitations: the page's button, or RFC 8058 one-click from the invitation's header."""
    payload = _invitation(token)
    session = db_session()
    invitations.decline(session, payload.address)
    session.commit()
    return render_template("subscribe/declined.html"), 200
