"""What is broken right now: driftsstatus, the cut-over traffic lights and the service's own health."""

from __future__ import annotations

import datetime as dt
from typing import Any

from flask import abort, get_flashed_messages, make_response, render_template, request
from flask.typing import ResponseReturnValue
from flask_babel import lazy_gettext as _l
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ...integrity import table_sizes
from ...models import (
    Delivery,
    HeldCallCount,
    ImportedFile,
    Municipality,
    MunicipalityContact,
    NoticeSource,
)
from ...noticeview import split_upcoming
from ...notify.held import held_groups
from ...notify.outbox import queue_summary
from ...partitions import overview as partition_overview
from ...privacy import mask_address, mask_addresses, strip_paths, summarise_error
from ...rating import corrections, inputs
from ...runs import job_states
from ...users import recent_audit
from ...vocabulary import COMPONENT_STATUS, CUTOVER_STATUS, NOTICE_KIND, NOTICE_STATUS
from ..auth import is_operator, operator_required
from ..auth import now as clock_now
from ..guard import problem
from ..state import db_session, state
from .blueprint import bp, page_key
from .cache import cache
from .cutover_page import QUERY_MAX_CHARS, build, chosen_code
from .documents import closed_notices_page, components, cutover_document, notices, versions

CUTOVER_WORDS = {code: _l(word) for code, word in CUTOVER_STATUS.items()}
# Before the window nothing has come "back": the lights judge the ordinary traffic of the moment.
BEFORE_WORDS = {"green": _l("Grøn: trafik som normalt"), "yellow": _l("Gul: færre kald end normalt")}
# The lead's chosen municipality on /skift (`?kommune=101`), remembered for a year.
KOMMUNE_COOKIE = "skift_kommune"
KOMMUNE_COOKIE_DAYS = 365
# The one vocabulary (monitor/vocabulary.py, docs/glossary.md), translated when shown.
COMPONENT_WORDS = {**{code: _l(word) for code, word in COMPONENT_STATUS.items()},
                   "degraded": _l(COMPONENT_STATUS["degraded_performance"])}
NOTICE_WORDS = {code: _l(word) for code, word in NOTICE_STATUS.items()}
KIND_WORDS = {code: _l(word) for code, word in NOTICE_KIND.items()}
HISTORY_PAGE_SIZE = 50
# Far beyond any history (500,000 notices); a larger number is not a page and gets 404 unread.
MAX_HISTORY_PAGE = 10_000


def _words(table: dict[str, Any], value: str | None) -> str:
    return str(table.get(value or "", value or "–"))


@bp.app_context_processor
def status_words() -> dict[str, Any]:
    """Words for status values, so that no colour stands alone."""
    return {"cutover_word": lambda s: _words(CUTOVER_WORDS, s), "component_word": lambda s: _words(COMPONENT_WORDS, s),
            "notice_word": lambda s: _words(NOTICE_WORDS, s), "kind_word": lambda s: _words(KIND_WORDS, s)}


def last_poll(session: Session) -> dt.datetime | None:
    """When a notice source last answered."""
    return session.scalar(select(func.max(NoticeSource.last_success_at)))


def history_page() -> int:
    """The page of the history asked for by ``?side=N`` (1 when absent); 400 for anything but a page number."""
    raw = request.args.get("side")
    if raw is None:
        return 1
    if not (raw.isascii() and raw.isdigit() and 1 <= len(raw) <= len(str(MAX_HISTORY_PAGE))) or int(raw) < 1:
        abort(problem(400, "side: expected a page number from 1"))
    return int(raw)


@bp.get("/driftsstatus")
def driftsstatus() -> ResponseReturnValue:
    """Component status, open incidents and maintenance with their timelines, and the history, 50 a page."""
    session = db_session()
    now = clock_now()
    page = history_page()
    if page > MAX_HISTORY_PAGE:
        abort(404)
    v = versions(session, now)
    history, older = closed_notices_page(session, page, HISTORY_PAGE_SIZE, v["notices"])
    if page > 1 and not history:
        abort(404)  # past the last page
    key = page_key("driftsstatus", page, v["notices"], now.replace(second=0, microsecond=0))

    def render() -> str:
        listed = components(session, now, v["notices"])
        names = {c.slug: c.name for c in listed}
        names.update({c.slug: c.name for c in state().settings.components if c.slug not in names})
        open_, upcoming = split_upcoming(notices(session, "open", None, v["notices"]), now)
        return render_template("pages/driftsstatus.html", components=listed,
                               names=names, open_notices=open_, upcoming=upcoming, history=history,
                               polled=last_poll(session), page=page, older=older)

    return cache().get_or_compute(key, render)


@bp.get("/skift")
def cutover() -> ResponseReturnValue:
    """The cut-over console: what needs action first, then the chosen municipality, then the rest folded.

    `?kommune=CODE` shows that municipality first and is remembered in a cookie (an empty
    value forgets it); `?q=` filters the folded municipalities by name or code without
    JavaScript. A search or an unknown code, like an operator's page (it carries a CSRF token and the
    confirmation of what they just did), is rendered for that request alone, never cached.
    """
    session = db_session()
    now = clock_now()
    v = versions(session, now)
    signed_in = is_operator()
    asked = request.args.get("kommune")
    raw = (asked if asked is not None else request.cookies.get(KOMMUNE_COOKIE, ""))[:8]
    query = request.args.get("q", "")[:QUERY_MAX_CHARS].strip()
    doc = cutover_document(session, state().settings, now, v["cutover"])
    code = chosen_code(raw, {m["code"] for m in doc["municipalities"]})
    unknown_code = raw.strip() if raw.strip() and code is None and asked is not None else None

    def render() -> str:
        page = build(doc, now, kommune=code, query=query)
        notices = get_flashed_messages(category_filter=["cutover"]) if signed_in else []
        phase = page.phase
        return render_template("pages/cutover.html", page=page, doc=page.doc,
                               unknown_code=unknown_code, notices=notices,
                               status_word=lambda s: phase_word(s, phase))

    key = page_key("cutover", v["cutover"], code)
    html = render() if signed_in or query or unknown_code else cache().get_or_compute(key, render)
    response = make_response(html)
    if asked is not None and code is not None and request.cookies.get(KOMMUNE_COOKIE) != code:
        response.set_cookie(KOMMUNE_COOKIE, code, max_age=KOMMUNE_COOKIE_DAYS * 86400, samesite="Lax",
                            secure=request.is_secure, httponly=True)
    elif asked is not None and not asked.strip() and KOMMUNE_COOKIE in request.cookies:
        response.delete_cookie(KOMMUNE_COOKIE, samesite="Lax", secure=request.is_secure, httponly=True)
    return response


def phase_word(status: str | None, phase: str | None) -> str:
    """A cut-over status in words as the phase reads it ("tilbage som før" only once there was a move)."""
    if phase == "before" and status in BEFORE_WORDS:
        return str(BEFORE_WORDS[status])
    return _words(CUTOVER_WORDS, status)


@bp.get("/drift")
@operator_required
def service_health() -> ResponseReturnValue:
    """The operator's page: collectors and runs, notice sources, rejected files, held rows, outbox."""
    session = db_session()
    now = clock_now()
    rejected = session.scalars(select(ImportedFile).where(ImportedFile.status == "rejected")
                               .order_by(ImportedFile.imported_at.desc(), ImportedFile.id.desc()).limit(20)).all()
    held = session.execute(
        select(ImportedFile.name, func.count(HeldCallCount.id), func.min(HeldCallCount.held_at))
        .select_from(HeldCallCount).outerjoin(ImportedFile, ImportedFile.id == HeldCallCount.imported_file_id)
        .group_by(ImportedFile.name).order_by(func.min(HeldCallCount.held_at))).all()
    outbox = queue_summary(session)
    queue = outbox["counts"]
    oldest_queued = session.scalar(select(func.min(Delivery.created_at)).where(
        Delivery.status.in_(("queued", "waiting", "sending"))))
    imported = session.scalar(select(func.count()).select_from(ImportedFile).where(ImportedFile.status == "imported"))
    last_import = session.scalar(select(func.max(ImportedFile.imported_at)))
    recent_inputs = inputs.recent(session)
    return render_template(
        "pages/health.html", collectors=job_states(session, now),
        sources=session.scalars(select(NoticeSource).order_by(NoticeSource.name)).all(),
        rejected=rejected, held=held, held_total=sum(n for _, n, _ in held), queue=queue,
        queue_depth=outbox["depth"], queue_kinds=outbox["kinds"], failures=outbox["failures"], oldest_queued=oldest_queued,
        imported=imported, last_import=last_import, audit=recent_audit(session), audit_words=audit_words,
        held_notices=held_groups(session), max_new_per_poll=state().settings.notices.max_new_per_poll,
        method_inputs=recent_inputs, answer_max=inputs.MAX_ANSWER,
        input_corrections=corrections.for_inputs(session, [i.id for i in recent_inputs]),
        correction_max=corrections.MAX_REASON,
        municipality_names={c: n for c, n in session.execute(select(Municipality.code, Municipality.name))},
        contacts=mailbox_rows(session), table_sizes=table_sizes(session),
        partitions=partition_overview(session, now),
        hourly_days=state().settings.retention.hourly_days, now=now)


def mailbox_rows(session: Session) -> list[tuple[Municipality, MunicipalityContact]]:
    """The municipalities' mailboxes, by municipality code (for operators only)."""
    return [(m, c) for m, c in session.execute(
        select(Municipality, MunicipalityContact).join(MunicipalityContact,
                                                       MunicipalityContact.municipality_code == Municipality.code)
        .order_by(Municipality.code, MunicipalityContact.address))]


AUDIT_ACTIONS = {"sign_in": _l("loggede ind"), "sign_out": _l("loggede ud"),
                 "sign_in_link": _l("fik tilsendt et link til at logge ind"),
                 "sessions.revoke": _l("afsluttede sessioner"),
                 "users.add": _l("tilføjede en driftsansvarlig"), "users.remove": _l("fjernede en driftsansvarlig"),
                 "subscriber.lookup": _l("slog en abonnent op"),
                 "cutover.ack": _l("markerede en kommune som kendt på skiftesiden"),
                 "notices.release": _l("sendte tilbageholdte driftsmeddelelser"),
                 "notices.discard": _l("kasserede tilbageholdte driftsmeddelelser"),
                 "cutover.withdraw": _l("trak en markering som kendt tilbage på skiftesiden"),
                 "method_input.answer": _l("svarede på et input til metoden"),
                 "rating.correct": _l("rettede en kommunes vurdering"),
                 "rating.correct.withdraw": _l("trak en rettelse af en kommunes vurdering tilbage")}


def audit_words(action: str) -> str:
    """An audit action in words (unknown ones as they are stored)."""
    return _words(AUDIT_ACTIONS, action)


@bp.app_template_filter("mask_report")
def mask_report(text: str | None) -> str:
    """An import report for the page: addresses masked, paths shortened, bounded."""
    text = strip_paths(mask_addresses(text or ""))
    return text if len(text) <= 4000 else text[:3999] + "…"


@bp.app_template_filter("summary")
def summary_filter(text: str | None) -> str:
    """A raw error as the operator sees it: one line, addresses masked, paths shortened."""
    return summarise_error(text)


@bp.app_template_filter("masked")
def masked_filter(address: str | None) -> str:
    """An address as ``r…1@example.dk``."""
    return mask_address(address) if address and "@" in address else (address or "")
