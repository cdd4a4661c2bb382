"""Operators' actions on /drift: looking a subscriber up, and deciding on held notices.

Looking up is the one place an operator sees a person's address in full: a POST (the address
stays out of URLs, logs and browser history), recorded in the audit trail with the address
masked. Notices held because one poll brought too many are released or discarded per
source, also audited.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from sqlalchemy import func, select

from .. import users
from ..models import Delivery, MethodInput, NoticeSource, Subscriber
from ..notify import held
from ..notify.mailqueue import queue_mail
from ..notify.subscriptions import AddressError, normalise_email
from ..privacy import mask_address
from ..rating import corrections, inputs
from .auth import actor, now, operator_required
from .state import db_session, state

bp = Blueprint("operator", __name__)
RECENT_DELIVERIES = 10


def lookup(address: str) -> dict[str, Any] | None:
    """A subscriber's record and their deliveries, or None when the address is unknown."""
    dbs = db_session()
    sub = dbs.scalars(select(Subscriber).where(Subscriber.channel == "email", Subscriber.address == address)).first()
    if sub is None:
        return None
    counts = dict(dbs.execute(select(Delivery.status, func.count()).where(Delivery.subscriber_id == sub.id)
                              .group_by(Delivery.status)).all())
    recent = dbs.scalars(select(Delivery).where(Delivery.subscriber_id == sub.id)
                         .order_by(Delivery.created_at.desc(), Delivery.id.desc()).limit(RECENT_DELIVERIES)).all()
    return {"subscriber": sub, "components": sorted(s.component_slug for s in sub.subscriptions),
            "counts": counts, "recent": recent}


@bp.post("/drift/abonnent")
@operator_required
def subscriber_lookup() -> tuple[str, int]:
    """Show the subscriber with the submitted address; the look-up is audited."""
    text = request.form.get("email", "")[:320]
    try:
        address = normalise_email(text)
    except AddressError:
        return render_template("pages/subscriber.html", address=text, found=None, invalid=True,
                               grace_days=state().settings.web.unsubscribe_grace_days), 400
    found = lookup(address)
    dbs = db_session()
    users.audit(dbs, actor(), "subscriber.lookup", mask_address(address), now())
    dbs.commit()
    return render_template("pages/subscriber.html", address=address, found=found, invalid=False,
                           grace_days=state().settings.web.unsubscribe_grace_days), 200


@bp.post("/drift/tilbageholdte")
@operator_required
def held_notices() -> ResponseReturnValue:
    """Release (queue their mail) or discard (mail nobody) the held updates of one source; audited."""
    action = request.form.get("action", "")
    source_id = request.form.get("source", "")
    dbs = db_session()
    source = dbs.get(NoticeSource, int(source_id)) if source_id.isdigit() and len(source_id) < 10 else None
    if action not in ("release", "discard") or source is None:
        return render_template("pages/held_refused.html"), 400
    if action == "release":
        updates, queued = held.release(dbs, source.id)
        detail = f"{source.name}: {updates} update(s), {queued} delivery(ies) queued"
    else:
        updates = held.discard(dbs, source.id)
        detail = f"{source.name}: {updates} update(s), nobody mailed"
    users.audit(dbs, actor(), f"notices.{action}", detail, now())
    dbs.commit()
    return redirect(url_for("pages.service_health") + "#tilbageholdte-meddelelser", 303)


@bp.post("/drift/input/<int:input_id>")
@operator_required
def answer_input(input_id: int) -> ResponseReturnValue:
    """Record the answer to an input and whether it is published (without the sender's address); audited."""
    dbs = db_session()
    row = dbs.get(MethodInput, input_id) if input_id < 2**31 else None
    if row is None:
        return render_template("pages/input_answer_refused.html", reason="unknown"), 404
    publish = request.form.get("publish") == "1"
    try:
        news = inputs.answer(row, request.form.get("answer", "")[:inputs.MAX_ANSWER * 2], publish, actor(), now())
    except inputs.InputRefused:
        dbs.rollback()
        return render_template("pages/input_answer_refused.html", reason="answer", max=inputs.MAX_ANSWER), 400
    if news:  # the asker hears of the answer, in the language they wrote in
        queue_mail(dbs, "method_answer", row.address, row.language, payload={"input": row.key})
    users.audit(dbs, actor(), "method_input.answer",
                f"input {row.id}: {'published' if publish else 'not published'}", now())
    dbs.commit()
    return redirect(url_for("pages.service_health") + f"#input-{row.id}", 303)


@bp.post("/drift/rettelse/<int:correction_id>/traek-tilbage")
@operator_required
def withdraw_correction(correction_id: int) -> ResponseReturnValue:
    """Withdraw a correction: the next rating counts the agreement as before; the row and its history stay."""
    dbs = db_session()
    try:
        correction = corrections.withdraw(dbs, correction_id, now())
    except corrections.WithdrawRefused as refused:
        dbs.rollback()
        return render_template("pages/input_answer_refused.html", reason=f"withdraw-{refused.reason}"), (
            404 if refused.reason == "unknown" else 409)
    users.audit(dbs, actor(), "rating.correct.withdraw",
                f"municipality {correction.municipality_code}: correction {correction.id} of agreement "
                f"{correction.agreement_uuid} withdrawn", now())
    dbs.commit()
    anchor = f"#input-{correction.input_id}" if correction.input_id else "#input"
    return redirect(url_for("pages.service_health") + anchor, 303)


@bp.post("/drift/input/<int:input_id>/rettelse")
@operator_required
def correct_rating(input_id: int) -> ResponseReturnValue:
    """Record that an agreement of the input's municipality is in use, with a reason; the next rating applies it."""
    dbs = db_session()
    row = dbs.get(MethodInput, input_id) if input_id < 2**31 else None
    if row is None or row.municipality_code is None:
        return render_template("pages/input_answer_refused.html", reason="unknown"), 404
    try:
        correction = corrections.record(dbs, row.municipality_code, request.form.get("agreement", "")[:100],
                                        request.form.get("reason", "")[:corrections.MAX_REASON * 2], actor(), now(),
                                        input_id=row.id)
    except corrections.CorrectionRefused:
        dbs.rollback()
        return render_template("pages/input_answer_refused.html", reason="correction",
                               max=corrections.MAX_REASON), 400
    users.audit(dbs, actor(), "rating.correct",
                f"municipality {row.municipality_code}: agreement {correction.agreement_uuid} in use (input {row.id})",
                now())
    dbs.commit()
    return redirect(url_for("pages.service_health") + f"#input-{row.id}", 303)
