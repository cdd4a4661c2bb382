"""The one-click link that stops one kind of mail to a municipality's mailbox (RFC 8058).

The GET shows a button and changes nothing (mail scanners follow links); the POST, the
button's or a mail client's one-click one (body ``List-Unsubscribe=One-Click``), stops the
kind. The signed link names the mailbox by its id and its secret, so it is its own CSRF
protection, and a link to a mailbox removed since is refused (410), never applied to another.
"""

from __future__ import annotations

import logging

from flask import Blueprint, current_app, render_template, request
from flask_babel import gettext as _

from ..models import MunicipalityContact
from ..notify import contacts
from .security import private_link
from .state import csrf, db_session

log = logging.getLogger(__name__)
bp = Blueprint("mailbox", __name__)


bp.after_request(private_link)  # the page sits under a signed link


def _kind_name(kind: str) -> str:
    names = {"alert": _("alarmer"), "cutover_report": _("rapporter om skiftet"),
             "digest": _("ugentlige oversigter")}
    return names.get(kind, kind)


def _target(token: str) -> tuple[MunicipalityContact, str] | None:
    return contacts.contact_for_token(db_session(), str(current_app.secret_key), token)


@bp.get("/postkasse/stop/<token>")
def stop_page(token: str) -> tuple[str, int]:
    """A button that stops the kind of mail the link names; the GET itself changes nothing."""
    found = _target(token)
    if found is None:
        return render_template("mailbox/gone.html"), 410
    contact, kind = found
    return render_template("mailbox/stop.html", address=contact.address, kind=_kind_name(kind),
                           stopped=kind in (contact.stopped or [])), 200


@bp.post("/postkasse/stop/<token>")
@csrf.exempt
def stop_post(token: str) -> tuple[str, int]:
    """Stop the kind: the page's button, or RFC 8058 one-click."""
    found = _target(token)
    if found is None:
        return render_template("mailbox/gone.html"), 410
    contact, kind = found
    if contacts.stop(contact, kind):
        db_session().commit()
        log.info("mailbox %s stopped %s mails (%s)", contact.id, kind,
                 "one-click" if request.form.get("List-Unsubscribe") == "One-Click" else "page")
    return render_template("mailbox/stop.html", address=contact.address, kind=_kind_name(kind), stopped=True), 200
