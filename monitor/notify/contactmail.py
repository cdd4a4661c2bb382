"""Mails rendered when sent from the payload they were queued with: to a municipality's mailbox
(alerts, cut-over reports, digests) or to a subscriber (maintenance reminders).

`mailqueue` asks `message()` for each mail of these kinds. The recipient's language is the
mail's. A mail to a mailbox carries the one-click link (RFC 8058) that stops its kind for that
mailbox, and one to a subscriber the subscriber's own manage and unsubscribe links; a mail to
a mailbox or subscriber gone (or stopped) since it was queued is cancelled, not sent. Each
kind renders its own templates (`templates/mail/<kind>.txt|html`).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

from babel.numbers import format_decimal
from sqlalchemy.orm import Session

from ..models import Mail, MunicipalityContact, Subscriber
from ..settings import Settings
from ..vocabulary import CUTOVER_STATUS_SHORT
from .contacts import stop_token
from .mail import mail_link, rendered, subscriber_links, translations, when
from .subscriptions import is_active
from .wire import WireMessage

STATUS_WORDS = CUTOVER_STATUS_SHORT


def percent(value: float | None, language: str, digits: int = 0) -> str:
    """A ratio (0.42) as '42 %' in Danish and '42%' in English."""
    if value is None:
        return "–"
    text = format_decimal(round(value * 100, digits), format="#,##0" + ("." + "0" * digits if digits else ""),
                          locale=language)
    return f"{text}\u00a0%" if language == "da" else f"{text}%"


def integer(value: float | None, language: str) -> str:
    """A whole number with its thousands grouped in `language`."""
    return "–" if value is None else format_decimal(round(value), format="#,##0", locale=language)


def reason_text(r: dict[str, Any], language: str) -> str:
    """One reason of the cut-over document in words (the words of /skift), in `language`."""
    t = translations(language)
    code = r.get("code")
    if code == "silent_agreements":
        return t.ngettext("%(num)d tavs aftale", "%(num)d tavse aftaler", r["count"]) % {"num": r["count"]}
    if code == "no_calls":
        return t.gettext("ingen kald (normalt %(baseline)s)") % {"baseline": integer(r.get("baseline_calls"),
                                                                                      language)}
    if code in ("calls_below_red", "calls_below_green"):
        return t.gettext("kald %(ratio)s af normalt (signifikant under %(threshold)s)") % {
            "ratio": percent(r.get("call_ratio"), language), "threshold": percent(r.get("threshold"), language)}
    if code == "calls_not_significant":
        return t.gettext("kald %(ratio)s af normalt: under %(threshold)s, men inden for det tilfældige udsving") % {
            "ratio": percent(r.get("call_ratio"), language), "threshold": percent(r.get("threshold"), language)}
    if code == "calls_normal":
        return t.gettext("kald %(ratio)s af normalt (mindst %(threshold)s)") % {
            "ratio": percent(r.get("call_ratio"), language), "threshold": percent(r.get("threshold"), language)}
    if code == "baseline_too_small":
        n = int(r.get("baseline_calls") or 0)
        return t.ngettext("forholdet bedømmes ikke: normalt kun %(num)d kald (under %(min)s)",
                          "forholdet bedømmes ikke: normalt kun %(num)d kald (under %(min)s)", n) % {
            "num": n, "min": integer(r.get("min_baseline"), language)}
    if code in ("errors_above_red", "errors_above_yellow"):
        return t.gettext("fejlandel %(ratio)s (over %(threshold)s)") % {
            "ratio": percent(r.get("error_ratio"), language, 1), "threshold": percent(r.get("threshold"), language)}
    if code == "no_baseline":
        return t.gettext("ingen kaldsdata i sammenligningstimerne")
    if code == "pending":
        return t.gettext("venter på den første hele time med data efter skiftet")
    return str(code)


def status_word(status: str | None, language: str) -> str:
    """A cut-over status in words."""
    return translations(language).gettext(STATUS_WORDS.get(status or "", status or "–"))


def _instant(value: Any) -> dt.datetime | None:
    try:
        return dt.datetime.fromisoformat(value) if isinstance(value, str) else None
    except ValueError:
        return None


def alert_mail(settings: Settings, mail: Mail, links: dict[str, str]) -> tuple[str, str, dict[str, Any]]:
    """The template, subject and context of an alert mail (firing or resolved)."""
    p, language = mail.payload or {}, mail.language
    t = translations(language)
    firing = p.get("status") == "firing"
    subject = (t.gettext("Alarm: %(name)s – kaldene efter skiftet er ikke normale") if firing
               else t.gettext("Afmeldt alarm: %(name)s – kaldene er normale igen")) % {"name": p.get("name", "")}
    since = _instant(p.get("since"))
    return "alert", subject, {
        "firing": firing, "name": p.get("name", ""), "code": p.get("code", ""),
        "status": status_word(p.get("cutover_status"), language),
        "since": when(since, language) if since else None,
        "reasons": [reason_text(r, language) for r in p.get("reasons", []) if isinstance(r, dict)],
        "link": mail_link(settings, f"/skift?kommune={p.get('code', '')}", mail.language), **links}


def report_mail(settings: Settings, mail: Mail, links: dict[str, str]) -> tuple[str, str, dict[str, Any]]:
    """The template, subject and context of a cut-over report."""
    p, language = mail.payload or {}, mail.language
    t = translations(language)
    subject = t.gettext("Skiftet af Serviceplatformen: %(name)s er %(status)s") % {
        "name": p.get("name", ""), "status": status_word(p.get("status"), language)}
    return "cutover_report", subject, {
        "name": p.get("name", ""), "code": p.get("code", ""), "status": status_word(p.get("status"), language),
        "green": p.get("status") == "green",
        "reasons": [reason_text(r, language) for r in p.get("reasons", []) if isinstance(r, dict)],
        "silent": [s for s in p.get("silent", []) if isinstance(s, dict)],
        "open_tasks": [task for task in p.get("open_tasks", []) if isinstance(task, dict)],
        "tasks_total": p.get("tasks_total", 0), "support_url": p.get("support_url"),
        "link": mail_link(settings, f"/skift?kommune={p.get('code', '')}", mail.language), **links}


def reminder_mail(settings: Settings, mail: Mail, links: dict[str, str]) -> tuple[str, str, dict[str, Any]]:
    """The template, subject and context of a maintenance reminder, or of the news that its time moved."""
    p, language = mail.payload or {}, mail.language
    t = translations(language)
    start, end, previous = _instant(p.get("start")), _instant(p.get("end")), _instant(p.get("previous_start"))
    hours = int(p.get("hours") or 0)
    moved = p.get("what") == "moved"
    title = str(p.get("title", ""))
    if moved:
        subject = t.gettext("Nyt tidspunkt for planlagt vedligeholdelse: %(title)s") % {"title": title}
    else:
        subject = t.ngettext("Om %(num)d time: %(title)s", "Om %(num)d timer: %(title)s", hours) % {
            "num": hours, "title": title}
    return "reminder", subject, {
        "title": title, "moved": moved, "hours": hours, "start": when(start, language) if start else "–",
        "end": when(end, language) if end else None, "previous": when(previous, language) if previous else None,
        "notice_url": mail_link(settings, f"/driftsstatus#notice-{p.get('notice_id', '')}", mail.language), **links}


def score_text(value: float | None, language: str) -> str:
    """A score on the 1–10 scale with one decimal, or "–"."""
    return "–" if value is None else format_decimal(round(value, 1), format="0.0", locale=language)


def digest_mail(settings: Settings, mail: Mail, links: dict[str, str]) -> tuple[str, str, dict[str, Any]]:
    """The template, subject and context of a weekly digest."""
    p, language = mail.payload or {}, mail.language
    t = translations(language)
    score, previous = p.get("score"), p.get("previous")
    change = None
    if score is not None and previous is not None:
        delta = round(score, 1) - round(previous, 1)
        change = ("+" if delta > 0 else "") + score_text(delta, language) if abs(delta) >= 0.05 else None
    subject = t.gettext("Ugens oversigt for %(name)s: score %(score)s") % {
        "name": p.get("name", ""), "score": score_text(score, language)}
    text_key = "text_en" if language == "en" else "text_da"
    planned = []
    for item in p.get("maintenance", []):
        start = _instant(item.get("start"))
        planned.append({"title": item.get("title", ""), "start": when(start, language) if start else "–"})
    return "digest", subject, {
        "name": p.get("name", ""), "code": p.get("code", ""), "score": score_text(score, language),
        "previous": score_text(previous, language) if previous is not None else None, "change": change,
        "silent": [s for s in p.get("silent_it_systems", []) if isinstance(s, dict)],
        "hints": [{"text": h.get(text_key) or h.get("text_da") or "",
                   "gain": score_text(h.get("gain"), language) if h.get("gain") is not None else None}
                  for h in p.get("hints", []) if isinstance(h, dict)],
        "planned": planned, "link": mail_link(settings, f"/kommune/{p.get('code', '')}", mail.language), **links}


# A kind's renderer: (settings, mail, links) → (template, subject, context).
RENDERERS: dict[str, Callable[[Settings, Mail, dict[str, str]], tuple[str, str, dict[str, Any]]]] = {
    "alert": alert_mail,
    "cutover_report": report_mail,
    "reminder": reminder_mail,
    "digest": digest_mail,
}


def message(session: Session, settings: Settings, secret: str, mail: Mail, msg_id: str,
            now: dt.datetime) -> WireMessage | str:
    """The message of a mail to a mailbox or a subscriber, or why it must not be sent any more."""
    if mail.subscriber_id is not None:
        sub = session.get(Subscriber, mail.subscriber_id)
        if sub is None or not is_active(sub) or mail.address is None or mail.address != sub.address:
            return "subscriber no longer there"
        links = subscriber_links(settings, secret, sub)
        template, subject, context = RENDERERS[mail.kind](settings, mail, {})
        return rendered(settings, template, mail.language, subject, **context).message(mail.address, links, msg_id,
                                                                                        now)
    contact = session.get(MunicipalityContact, mail.contact_id) if mail.contact_id is not None else None
    if contact is None or mail.address is None:
        return "mailbox no longer there"
    if mail.kind in (contact.stopped or []):
        return f"mailbox stopped {mail.kind} mails"
    stop = mail_link(settings, f"/postkasse/stop/{stop_token(secret, contact, mail.kind)}", mail.language)
    template, subject, context = RENDERERS[mail.kind](settings, mail, {"stop": stop})
    mail_rendered = rendered(settings, template, mail.language, subject, **context)
    return mail_rendered.message(mail.address, {"unsubscribe": stop}, msg_id, now)
