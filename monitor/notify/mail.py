"""Composing the mails: confirmation, "manage your subscription" and notices.

Every mail is plain text and HTML (`email.message.EmailMessage`), in the subscriber's
language, rendered from `templates/mail/` by a small Flask app of its own (so the scheduler,
which has no request, renders exactly what the web process would), and carries the RFC 8058
one-click unsubscribe headers.
"""

from __future__ import annotations

import datetime as dt
import functools
import html
import re
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid, parseaddr
from pathlib import Path
from typing import Any

import nh3
from flask import Flask, render_template
from flask_babel import Babel, force_locale, get_locale
from flask_babel import format_datetime as babel_datetime
from flask_babel import lazy_gettext as _l
from markupsafe import Markup

from ..collectors.upstream import sanitize
from ..db import utcnow
from ..models import Notice, NoticeUpdate, Subscriber
from ..settings import Settings
from .tokens import make_token

KIND_LABELS = {"incident": _l("Driftsforstyrrelse"), "maintenance": _l("Planlagt vedligeholdelse")}
STATUS_LABELS = {
    "investigating": _l("Undersøges"), "identified": _l("Årsagen er fundet"), "monitoring": _l("Overvåges"),
    "resolved": _l("Løst"), "postmortem": _l("Efterfølgende analyse"), "scheduled": _l("Planlagt"),
    "in_progress": _l("I gang"), "verifying": _l("Kontrolleres"), "completed": _l("Afsluttet"),
}


@functools.cache
def mail_app() -> Flask:
    """A Flask app used only to render mail templates with Flask-Babel, in any process."""
    app = Flask("monitor", root_path=str(Path(__file__).resolve().parent.parent))
    app.config.update(BABEL_DEFAULT_LOCALE="da", BABEL_DEFAULT_TIMEZONE="Europe/Copenhagen")
    Babel(app)
    app.jinja_env.globals["get_locale"] = get_locale
    app.jinja_env.filters["when"] = when
    return app


def when(value: dt.datetime) -> str:
    """A time in Copenhagen with its zone, minutes precision, in the current language."""
    locale = get_locale()
    pattern = "d. MMMM y 'kl.' HH:mm zzz" if locale is None or locale.language == "da" else "d MMMM y, HH:mm zzz"
    return babel_datetime(value, pattern)


def render(template: str, language: str, **context: Any) -> str:
    """Render `templates/mail/<template>` in `language`."""
    with mail_app().app_context(), force_locale(language):
        return render_template(f"mail/{template}", **context)


def one_line(text: str, limit: int = 200) -> str:
    """Header-safe text: no line breaks (header injection), collapsed spaces, bounded length."""
    text = " ".join((text or "").split())
    return text if len(text) <= limit else text[:limit - 1] + "…"


def html_to_text(fragment: str) -> str:
    """Plain text of sanitised HTML: paragraphs and line breaks kept, tags dropped."""
    fragment = re.sub(r"(?i)<br\s*/?>", "\n", fragment or "")
    fragment = re.sub(r"(?i)</(p|div|li|h[1-6])>", "\n\n", fragment)
    text = html.unescape(nh3.clean(fragment, tags=set()))
    return re.sub(r"\n{3,}", "\n\n", "\n".join(line.strip() for line in text.splitlines())).strip()


def base_url(settings: Settings) -> str:
    """`[web] base_url` without a trailing slash."""
    return settings.web.base_url.rstrip("/")


def subscriber_links(settings: Settings, secret: str, subscriber: Subscriber) -> dict[str, str]:
    """The manage and one-click unsubscribe links of `subscriber`."""
    root = base_url(settings)
    return {"manage": f"{root}/manage/{make_token(secret, 'manage', subscriber)}",
            "unsubscribe": f"{root}/u/{make_token(secret, 'unsubscribe', subscriber)}"}


def compose(settings: Settings, to: str, subject: str, text: str, html_body: str, unsubscribe_url: str,
            message_id: str | None = None) -> EmailMessage:
    """An EmailMessage with both parts and the RFC 8058 headers."""
    msg = EmailMessage()
    msg["Subject"] = one_line(subject)
    msg["From"] = settings.mail.sender
    msg["To"] = Address(addr_spec=to)
    msg["Date"] = format_datetime(utcnow())
    domain = parseaddr(settings.mail.sender)[1].rpartition("@")[2] or "localhost"
    msg["Message-ID"] = message_id or make_msgid(domain=domain)
    msg["List-Unsubscribe"] = f"<{unsubscribe_url}>"
    msg["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    msg["Auto-Submitted"] = "auto-generated"
    msg.set_content(text)
    msg.add_alternative(html_body, subtype="html")
    return msg


def confirmation_message(settings: Settings, secret: str, subscriber: Subscriber,
                         new_address: str | None = None) -> EmailMessage:
    """The double opt-in mail: a signed, expiring link to a page with a confirm button.

    With `new_address` it confirms a change of address and goes to the new address.
    """
    to = new_address or subscriber.address
    token = make_token(secret, "confirm", subscriber, address=new_address)
    context = {"confirm_url": f"{base_url(settings)}/confirm/{token}",
               "hours": settings.web.confirm_max_age_hours, "address": to,
               "change": new_address is not None, **subscriber_links(settings, secret, subscriber)}
    with mail_app().app_context(), force_locale(subscriber.language):
        subject = str(_l("Bekræft din tilmelding til driftsmeddelelser"))
    return compose(settings, to, subject, render("confirm.txt", subscriber.language, **context),
                   render("confirm.html", subscriber.language, **context), context["unsubscribe"])


def manage_message(settings: Settings, secret: str, subscriber: Subscriber) -> EmailMessage:
    """Sent when someone subscribes an address that is already subscribed: a link to manage it."""
    context = {"address": subscriber.address, **subscriber_links(settings, secret, subscriber)}
    with mail_app().app_context(), force_locale(subscriber.language):
        subject = str(_l("Din tilmelding til driftsmeddelelser"))
    return compose(settings, subscriber.address, subject, render("manage.txt", subscriber.language, **context),
                   render("manage.html", subscriber.language, **context), context["unsubscribe"])


def notice_context(settings: Settings, notice: Notice, update: NoticeUpdate,
                   component_names: list[str]) -> dict[str, Any]:
    """What a notice mail (or webhook text) shows."""
    body = sanitize(update.body_html or "")  # sanitised when stored; cleaned again for the mail
    return {"title": one_line(notice.title, 500), "kind": KIND_LABELS.get(notice.kind, notice.kind),
            "status": STATUS_LABELS.get(update.status, update.status), "at": update.at,
            "body_html": Markup(body), "body_text": html_to_text(body), "components": component_names,
            "notice_url": f"{base_url(settings)}/driftsstatus#notice-{notice.id}"}


def notice_message(settings: Settings, secret: str, subscriber: Subscriber, notice: Notice,
                   update: NoticeUpdate, component_names: list[str], delivery_id: int) -> EmailMessage:
    """The mail for one delivery; its Message-ID is the delivery's, so a resend can be recognised."""
    lang = subscriber.language
    context = {**notice_context(settings, notice, update, component_names),
               **subscriber_links(settings, secret, subscriber)}
    with mail_app().app_context(), force_locale(lang):
        subject = f"[{context['kind']}] {context['title']} – {context['status']}"
    domain = parseaddr(settings.mail.sender)[1].rpartition("@")[2] or "localhost"
    return compose(settings, subscriber.address, subject, render("notice.txt", lang, **context),
                   render("notice.html", lang, **context), context["unsubscribe"],
                   message_id=f"<delivery-{delivery_id}.update-{update.id}@{domain}>")
