"""The cut-over console's words and its one action: the reasons of a status in Danish or English,
and POST /skift/ack, by which an operator marks a red or yellow municipality as known.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import has_request_context, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import ngettext
from werkzeug.wrappers import Response

from ... import users
from ...cutover.acks import AckRefused, acknowledge
from ..auth import actor, is_operator, operator_required
from ..auth import now as clock_now
from ..state import db_session, state
from .blueprint import bp
from .format import integer, percent, when


def _p_value(r: dict[str, Any]) -> str:
    return percent(r["significance"], 0 if r["significance"] >= 0.01 else 2)


def reason_text(r: dict[str, Any]) -> str:
    """One reason of the cut-over document in words, with its numbers."""
    code = r.get("code")
    if code == "silent_agreements":
        return ngettext("%(num)d tavs aftale", "%(num)d tavse aftaler", r["count"])
    if code == "no_calls":
        return _("ingen kald (normalt %(baseline)s)", baseline=integer(r["baseline_calls"]))
    if code == "calls_below_red" or code == "calls_below_green":
        return _("kald %(ratio)s af normalt (signifikant under %(threshold)s)", ratio=percent(r["call_ratio"]),
                 threshold=percent(r["threshold"]))
    if code == "calls_not_significant":
        return _("kald %(ratio)s af normalt: under %(threshold)s, men inden for det tilfældige udsving",
                 ratio=percent(r["call_ratio"]), threshold=percent(r["threshold"]))
    if code == "calls_normal":
        return _("kald %(ratio)s af normalt (mindst %(threshold)s)", ratio=percent(r["call_ratio"]),
                 threshold=percent(r["threshold"]))
    if code == "errors_above_red" or code == "errors_above_yellow":
        return _("fejlandel %(ratio)s (over %(threshold)s)", ratio=percent(r["error_ratio"], 1),
                 threshold=percent(r["threshold"]))
    if code == "baseline_too_small":
        return ngettext("forholdet bedømmes ikke: normalt kun %(num)d kald (under %(min)s)",
                        "forholdet bedømmes ikke: normalt kun %(num)d kald (under %(min)s)",
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
    """Acknowledge a red or yellow municipality, or one silent agreement, with a note (operators only)."""
    operator = current_operator() or ""
    session = db_session()
    now = clock_now()
    try:
        row = acknowledge(session, state().settings, now,
                          municipality=request.form.get("municipality", ""),
                          agreement=request.form.get("agreement"), note=request.form.get("note", ""),
                          operator=operator)
    except AckRefused as refused:
        session.rollback()
        text = REFUSALS[refused.code](refused.numbers)
        return Response(render_template("pages/ack_refused.html", message=text), 400,
                        content_type="text/html; charset=utf-8")
    users.audit(session, operator, "cutover.ack",
                f"{row.municipality_code} {row.agreement_uuid or ''} ({row.status})".replace("  ", " "), now)
    session.commit()
    return redirect(url_for("pages.cutover") + f"#kommune-{row.municipality_code}", 303)
