"""Composing the mails: confirmation, "manage your subscription", invitations and notices.

Every mail is plain text and HTML, wholly in the recipient's language, rendered from
`templates/mail/` by a Jinja environment per language with the project's Babel catalogues
(no Flask: the scheduler, which has no request, renders exactly what the web process
would), and written to the wire by `wire.py`.

A mail is rendered once per (kind, update, language) with placeholders where each
recipient's links go (`Rendered`); `Rendered.message()` fills them in and adds the
per-recipient headers to a precompiled header block. Upstream HTML is sanitised again for
mail with images dropped (tracking pixels) and only http, https and mailto links kept.
"""

from __future__ import annotations

import datetime as dt
import functools
import html
import re
import secrets
import uuid
from dataclasses import dataclass
from typing import Any, Protocol

import jinja2
import nh3
from babel import Locale
from babel.dates import format_date as babel_date
from babel.dates import format_datetime as babel_datetime
from babel.dates import get_timezone
from babel.support import NullTranslations, Translations
from markupsafe import Markup

from .. import links
from ..db import utcnow
from ..localtime import CPH, TIMEZONE
from ..models import Notice, NoticeUpdate
from ..resources import PACKAGE, templates_folder
from ..settings import Settings
from ..vocabulary import NOTICE_KIND, NOTICE_STATUS
from .tokens import LinkHolder, make_token
from .wire import HeaderBlock, WireMessage, build

# Placeholders for per-recipient links, unguessable so that upstream text cannot contain them.
_MARK = secrets.token_hex(6)
FILL_NAMES = ("confirm", "manage", "unsubscribe", "accept", "optout", "address", "page")
PLACEHOLDERS = {name: f"https://fki-{_MARK}.invalid/{name}" for name in FILL_NAMES}
MAIL_TAGS = frozenset(nh3.ALLOWED_TAGS) - {"img", "picture", "source", "video", "audio", "iframe"}
MAIL_SCHEMES = frozenset({"http", "https", "mailto"})


def N_(message: str) -> str:  # noqa: N802 (gettext's name for "mark for translation, translate later")
    """Mark `message` for the catalogue; it is translated where the language is known."""
    return message


# The words of the one vocabulary (docs/glossary.md), as the pages and the feed use them.
KIND_LABELS = NOTICE_KIND
STATUS_LABELS = NOTICE_STATUS
ZONE = get_timezone(TIMEZONE)
# What the invitation tells the people who got the old notices: where the notices come from
# now, and from which day the old sender stops (the cut-over's operators announced both).
NOTICES_SOURCE = "driftstatus.kombit.dk"
OLD_SENDER = "serviceplatformen.dk"
OLD_NOTICES_END = dt.date(2020, 11, 30)


@functools.cache
def translations(language: str) -> NullTranslations:
    """The catalogue of `language` (Danish is the source language: it has none)."""
    return Translations.load(str(PACKAGE / "translations"), [language], "messages")


def translate(language: str, message: str) -> str:
    """`message` (Danish source text) in `language`."""
    return translations(language).gettext(message)


@functools.cache
def environment(language: str) -> jinja2.Environment:
    """The Jinja environment that renders mail in `language`: `_`, `gettext` and `ngettext` from
    its catalogue, `get_locale()` and the `when` filter, HTML escaped and text not."""
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(templates_folder()),
                             autoescape=jinja2.select_autoescape(["html"], default_for_string=False),
                             extensions=["jinja2.ext.i18n"])
    env.install_gettext_translations(translations(language), newstyle=True)  # type: ignore[attr-defined]
    locale = Locale.parse(language)
    env.globals["get_locale"] = lambda: locale
    env.filters["when"] = functools.partial(when, language=language)
    return env


def when(value: dt.datetime, language: str = "da") -> str:
    """A time in Copenhagen with its zone's name (CET/CEST in both languages), minutes precision.

    The zone is written from the zone itself: Babel's `zzz` gives "CET" in Danish but "+0100"
    in English, which would make the two mails of one notice disagree with the pages.
    """
    local = (value if value.tzinfo else value.replace(tzinfo=dt.UTC)).astimezone(CPH)
    pattern = "d. MMMM y 'kl.' HH:mm" if language == "da" else "d MMMM y, HH:mm"
    return f"{babel_datetime(local, pattern, tzinfo=ZONE, locale=language)} {local.tzname()}"


def render(template: str, language: str, **context: Any) -> str:
    """Render `templates/mail/<template>` in `language`."""
    return environment(language).get_template(f"mail/{template}").render(**context)


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


def in_language(url: str, language: str) -> str:
    """`url` with `lang=<language>` in its query (before any #fragment), so the page it opens
    answers in the language of the mail that carried it (and remembers it in the cookie)."""
    address, hash_, fragment = url.partition("#")
    joiner = "&" if "?" in address else "?"
    return f"{address}{joiner}lang={language}{hash_}{fragment}"


def mail_link(settings: Settings, path: str, language: str) -> str:
    """An absolute link for a mail to `language`'s reader: base URL, `path`, `?lang=`."""
    return in_language(f"{links.root(settings)}{path}", language)


class Reader(LinkHolder, Protocol):
    """A subscriber as a notice needs one: links, address and language (a row, or the outbox's plain copy)."""

    @property
    def address(self) -> str: ...
    @property
    def language(self) -> str: ...


def subscriber_links(settings: Settings, secret: str, subscriber: Reader) -> dict[str, str]:
    """The manage and one-click unsubscribe links of `subscriber`, in the subscriber's language."""
    lang = subscriber.language
    return {"manage": mail_link(settings, f"/manage/{make_token(secret, 'manage', subscriber)}", lang),
            "unsubscribe": mail_link(settings, f"/u/{make_token(secret, 'unsubscribe', subscriber)}", lang)}


def mail_domain(settings: Settings) -> str:
    """The sender's domain (IDNA), the right-hand side of our Message-IDs."""
    return header_block(settings.mail.sender, "", "da").domain


@functools.lru_cache(maxsize=256)
def header_block(sender: str, subject: str, language: str) -> HeaderBlock:
    """The shared, encoded headers of one mail (cached: the same for every recipient)."""
    return HeaderBlock.make(sender, subject, language)


def message_id(settings: Settings, install: str, local: str) -> str:
    """`<32 hex digits@sender-domain>`: a UUID named by `local` ("mail-7", "summary-12") within this
    installation's `install` UUID, so a mail keeps its id on every attempt and no other
    installation (a reinstall on a fresh database too) ever sends the same one."""
    return f"<{uuid.uuid5(uuid.UUID(install), local).hex}@{mail_domain(settings)}>"


@dataclass(frozen=True)
class Rendered:
    """A mail rendered once, with placeholders for each recipient's links."""

    block: HeaderBlock
    subject: str
    text: str
    html: str

    def message(self, to: str, links: dict[str, str], msg_id: str, now: dt.datetime | None = None) -> WireMessage:
        """The finished message for one recipient: links filled in, per-recipient headers added."""
        text, body = self.text, self.html
        for name, value in {**links, "address": to}.items():
            text = text.replace(PLACEHOLDERS[name], value)
            body = body.replace(PLACEHOLDERS[name], html.escape(value))
        return build(self.block, to, date=now or utcnow(), message_id=msg_id, text=text, html=body,
                     unsubscribe_url=links.get("unsubscribe") or links.get("optout"), subject=self.subject)


def rendered(settings: Settings, template: str, language: str, subject: Any, **context: Any) -> Rendered:
    """Render `mail/<template>.txt` and `.html` and the subject in `language`, links as placeholders."""
    context = {**PLACEHOLDERS, **context}
    subject_text = one_line(str(subject))
    text = render(f"{template}.txt", language, **context)
    body = render(f"{template}.html", language, **context)
    return Rendered(header_block(settings.mail.sender, subject_text, language), subject_text, text, body)


def compose(settings: Settings, to: str, subject: str, text: str, html_body: str, unsubscribe_url: str | None,
            message_id: str | None = None) -> WireMessage:
    """A finished two-part mail to `to` (with the RFC 8058 headers when `unsubscribe_url` is given)."""
    block = header_block(settings.mail.sender, one_line(subject), "da")
    msg_id = message_id or f"<{uuid.uuid4().hex}@{block.domain}>"
    return build(block, to, date=utcnow(), message_id=msg_id, text=text, html=html_body,
                 unsubscribe_url=unsubscribe_url, subject=one_line(subject))


def confirmation_mail(settings: Settings, language: str, hours: int, change: bool) -> Rendered:
    """The double opt-in mail (or, with `change`, the confirmation of a new address)."""
    gettext = translations(language).gettext
    subject = gettext("Bekræft din tilmelding til driftsmeddelelser")
    return rendered(settings, "confirm", language, subject, hours=hours, change=change)


def method_input_mail(settings: Settings, language: str, hours: int) -> Rendered:
    """The mail that confirms a lead's input on the method ("dit input?"); its link goes in as "confirm"."""
    gettext = translations(language).gettext
    subject = gettext("Bekræft dit input til Infrastrukturmonitors metode")
    return rendered(settings, "method_input", language, subject, hours=hours)


def method_answer_mail(settings: Settings, language: str, question: str, answer: str, published: bool) -> Rendered:
    """The operators' answer to a lead's confirmed input; the page where a published answer shows goes in as "page"."""
    gettext = translations(language).gettext
    subject = gettext("Svar på dit input til Infrastrukturmonitors metode")
    return rendered(settings, "method_answer", language, subject, question=question, answer=answer,
                    published=published)


def manage_mail(settings: Settings, language: str) -> Rendered:
    """The "you are already subscribed, here is the link to manage it" mail."""
    gettext = translations(language).gettext
    subject = gettext("Din tilmelding til driftsmeddelelser")
    return rendered(settings, "manage", language, subject)


def invitation_mail(settings: Settings, language: str) -> Rendered:
    """The invitation to subscribe anew (for the people who got the operators' old notices)."""
    gettext = translations(language).gettext
    subject = gettext("Invitation: få driftsmeddelelser om den fælleskommunale infrastruktur")
    pattern = "d. MMMM y" if language == "da" else "d MMMM y"
    return rendered(settings, "invitation", language, subject, source=NOTICES_SOURCE, old_sender=OLD_SENDER,
                    old_notices_end=babel_date(OLD_NOTICES_END, pattern, locale=language))


def sign_in_mail(settings: Settings, link: str, to: str, minutes: int, language: str,
                 msg_id: str | None = None) -> WireMessage:
    """The sign-in mail: the link, how long it works, and what to do if it was not you.

    Without List-Unsubscribe: it is not a list.
    """
    context = {"link": link, "minutes": minutes}
    subject = translations(language).gettext("Log ind på Infrastrukturmonitor")
    return compose(settings, to, subject, render("login.txt", language, **context),
                   render("login.html", language, **context), unsubscribe_url=None, message_id=msg_id)


def mail_html(fragment: str) -> str:
    """Upstream HTML for a mail: sanitised again, images dropped, only http(s) and mailto links."""
    return nh3.clean(fragment or "", tags=set(MAIL_TAGS), url_schemes=set(MAIL_SCHEMES))


def notice_context(settings: Settings, notice: Notice, update: NoticeUpdate,
                   component_names: list[str], language: str) -> dict[str, Any]:
    """What a notice mail (or webhook text) shows, in `language`."""
    body = mail_html(update.body_html or "")  # sanitised when stored; cleaned again for the mail
    return {"title": one_line(notice.title, 500), "kind": translate(language, KIND_LABELS.get(notice.kind, notice.kind)),
            "status": translate(language, STATUS_LABELS.get(update.status, update.status)), "at": update.at,
            "body_html": Markup(body), "body_text": html_to_text(body), "components": component_names,
            # A maintenance says when it is planned: when it was announced is not when it starts.
            "planned_from": notice.scheduled_for if notice.kind == "maintenance" else None,
            "planned_until": notice.scheduled_until if notice.kind == "maintenance" else None,
            "notice_url": mail_link(settings, f"/driftsstatus#notice-{notice.id}", language)}


def notice_mail(settings: Settings, language: str, notice: Notice, update: NoticeUpdate,
                component_names: list[str]) -> Rendered:
    """A notice update rendered once for every subscriber of `language`."""
    context = notice_context(settings, notice, update, component_names, language)
    subject = f"[{context['kind']}] {context['title']} – {context['status']}"
    return rendered(settings, "notice", language, subject, **context)
