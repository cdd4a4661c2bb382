"""The cut-over console's words and its one action: the reasons of a status in Danish or English,
and POST /skift/ack, by which an operator marks a red or yellow municipality (or some of its
silent agreements) as known, or withdraws that again.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import flash, has_request_context, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import ngettext
from sqlalchemy import select
from werkzeug.wrappers import Response

from ... import users
from ...cutover.acks import AckRefused, acknowledge_many, withdraw
from ...models import CutoverAcknowledgement, Municipality
from ..auth import actor, is_operator, operator_required
from ..auth import now as clock_now
from ..state import db_session, state
from .blueprint import bp
from .format import integer, percent, when


def _calls_text(r: dict[str, Any]) -> str:
    """A calls reason that names both thresholds, so a yellow at 39 % says why it is not red."""
    code, ratio = r["code"], r["call_ratio"]
    green = r.get("green_ratio") if r.get("green_ratio") is not None else r.get("threshold")
    red = r.get("red_ratio")
    if code == "calls_normal":
        return _("kald %(ratio)s af normalt (mindst %(threshold)s)", ratio=percent(ratio), threshold=percent(green))
    if red is None:  # a document without both thresholds: say the one it has
        if code == "calls_not_significant":
            return _("kald %(ratio)s af normalt: under %(threshold)s, men inden for det tilfældige udsving",
                     ratio=percent(ratio), threshold=percent(r["threshold"]))
        return _("kald %(ratio)s af normalt: signifikant under %(threshold)s", ratio=percent(ratio),
                 threshold=percent(r["threshold"]))
    if code == "calls_below_red":
        return _("kald %(ratio)s af normalt: signifikant under både %(green)s og %(red)s", ratio=percent(ratio),
                 green=percent(green), red=percent(red))
    if code == "calls_below_green":
        if ratio < red:
            return _("kald %(ratio)s af normalt: signifikant under %(green)s, under %(red)s men ikke signifikant",
                     ratio=percent(ratio), green=percent(green), red=percent(red))
        return _("kald %(ratio)s af normalt: signifikant under %(green)s, men ikke under %(red)s",
                 ratio=percent(ratio), green=percent(green), red=percent(red))
    if ratio < red:  # calls_not_significant below both
        return _("kald %(ratio)s af normalt: under %(green)s og %(red)s, men inden for det tilfældige udsving",
                 ratio=percent(ratio), green=percent(green), red=percent(red))
    return _("kald %(ratio)s af normalt: under %(threshold)s, men inden for det tilfældige udsving",
             ratio=percent(ratio), threshold=percent(green))


def _silent_share_text(r: dict[str, Any]) -> str:
    """How many of a service's or supplier's agreements went silent, and the rule that makes it yellow."""
    share = ngettext("%(num)d af %(total)s aftaler er tavs (%(share)s)",
                     "%(num)d af %(total)s aftaler er tavse (%(share)s)", r["count"], total=integer(r["total"]),
                     share=percent(r["share"], 1 if 0 < r["share"] < 0.1 else 0))
    rule = ngettext("gul fra %(num)d tavs aftale og %(min_share)s", "gul fra %(num)d tavse aftaler og %(min_share)s",
                    r["min_count"], min_share=percent(r["min_share"]))
    return f"{share}; {rule}"


def reason_text(r: dict[str, Any]) -> str:
    """One reason of the cut-over document in words, with its numbers."""
    code = r.get("code")
    if code == "silent_agreements":
        return ngettext("%(num)d tavs aftale", "%(num)d tavse aftaler", r["count"])
    if code == "silent_share":
        return _silent_share_text(r)
    if code == "no_calls":
        return _("ingen kald (normalt %(baseline)s)", baseline=integer(r["baseline_calls"]))
    if code in ("calls_below_red", "calls_below_green", "calls_not_significant", "calls_normal"):
        return _calls_text(r)
    if code == "errors_above_red" or code == "errors_above_yellow":
        return _("fejlandel %(ratio)s (over %(threshold)s)", ratio=percent(r["error_ratio"], 1),
                 threshold=percent(r["threshold"]))
    if code == "baseline_too_small":
        return ngettext("ikke bedømt: normalt kun %(num)d kald (under %(min)s)",
                        "ikke bedømt: normalt kun %(num)d kald (under %(min)s)",
                        r["baseline_calls"], min=integer(r["min_baseline"]))
    if code == "no_baseline":
        return _("ingen kaldsdata i sammenligningstimerne")
    if code == "in_window":
        return _("skiftet er i gang til %(end)s", end=when(r.get("end")))
    if code == "pending":
        return _("venter på den første hele time med data efter skiftet")
    return str(code)


REFUSALS: dict[str, Callable[[dict[str, Any]], str]] = {
    "unknown_municipality": lambda n: _("Kommunen findes ikke."),
    "empty_note": lambda n: _("Skriv en note: hvorfor er status kendt?"),
    "note_too_long": lambda n: ngettext("Noten må højst være %(num)d tegn.", "Noten må højst være %(num)d tegn.",
                                        n["max"]),
    "not_red_or_yellow": lambda n: _("Kun en rød eller gul kommune kan markeres som kendt."),
    "not_silent": lambda n: _("Aftalen er ikke en af kommunens tavse aftaler."),
    "nothing_to_withdraw": lambda n: _("Der er ingen markering som kendt at trække tilbage."),
}


@bp.app_context_processor
def cutover_helpers() -> dict[str, Any]:
    """`cutover_reason(r)` for the templates, and whether acknowledgement forms are shown."""
    return {"cutover_reason": reason_text, "operator": current_operator()}


def current_operator() -> str | None:
    """The signed-in operator's address, or None (then no acknowledgement form is shown)."""
    if not has_request_context():  # e.g. a mail rendered by the scheduler
        return None
    return actor() if is_operator() else None


@bp.post("/skift/ack")
@operator_required
def acknowledge_post() -> Response:
    """Acknowledge a red or yellow municipality, or some of its silent agreements, with a note; or,
    with `withdraw=1`, withdraw the acknowledgement of the municipality (or of one `agreement`).

    Operators only. Each is kept in the audit trail, and the page confirms it after the redirect.
    """
    operator = current_operator() or ""
    session = db_session()
    now = clock_now()
    municipality = request.form.get("municipality", "")
    agreements = request.form.getlist("agreement")
    settings = state().settings
    withdrawing = bool(request.form.get("withdraw"))
    try:
        if withdrawing:
            rows = withdraw(session, settings, now, municipality=municipality,
                            agreement=agreements[0] if agreements else None)
        else:
            rows = acknowledge_many(session, settings, now, municipality=municipality, agreements=agreements,
                                    note=request.form.get("note", ""), operator=operator)
    except AckRefused as refused:
        session.rollback()
        text = REFUSALS[refused.code](refused.numbers)
        return Response(render_template("pages/ack_refused.html", message=text), 400,
                        content_type="text/html; charset=utf-8")
    code = rows[0].municipality_code
    for row in rows:
        users.audit(session, operator, "cutover.withdraw" if withdrawing else "cutover.ack",
                    f"{row.municipality_code} {row.agreement_uuid or ''} ({row.status})".replace("  ", " "), now)
    name = session.scalar(select(Municipality.name).where(Municipality.code == code)) or code
    session.commit()
    flash(_confirmation(withdrawing, rows, name), "cutover")
    return redirect(url_for("pages.cutover") + f"#kommune-{code}", 303)


def _confirmation(withdrawn: bool, rows: list[CutoverAcknowledgement], name: str) -> str:
    """What the page says after the redirect, so the operator sees that it took."""
    if withdrawn:
        return ngettext("Markeringen som kendt er trukket tilbage for %(name)s.",
                        "%(num)d markeringer som kendt er trukket tilbage for %(name)s.", len(rows), name=name)
    if rows[0].agreement_uuid is None:
        return _("%(name)s er markeret som kendt.", name=name)
    return ngettext("%(num)d tavs aftale i %(name)s er markeret som kendt.",
                    "%(num)d tavse aftaler i %(name)s er markeret som kendt.", len(rows), name=name)
