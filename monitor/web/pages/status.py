"""What is broken right now: driftsstatus, the cut-over traffic lights and the service's own health."""

from __future__ import annotations

import datetime as dt
from typing import Any

from flask import render_template
from flask.typing import ResponseReturnValue
from flask_babel import lazy_gettext as _l
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ...models import CollectorRun, Delivery, HeldCallCount, ImportedFile, Municipality, MunicipalityContact, NoticeSource
from ...notify.held import held_groups
from ...notify.outbox import queue_summary
from ...privacy import mask_address, mask_addresses, strip_paths, summarise_error
from ...users import recent_audit
from ..auth import is_operator, operator_required
from ..auth import now as clock_now
from ..state import db_session, state
from .blueprint import bp
from .cache import cache
from .documents import components_document, cutover_document, notices_document, versions
from .format import locale_name

# Red first: what needs attention comes before what is fine.
CUTOVER_ORDER = ("red", "yellow", "pending", "in_window", "unknown", "green")
CUTOVER_WORDS = {"red": _l("Rød: kald mangler"), "yellow": _l("Gul: delvist tilbage"),
                 "green": _l("Grøn: tilbage som før"), "pending": _l("Afventer data"),
                 "in_window": _l("Skiftet er i gang"), "unknown": _l("Ukendt: ingen sammenligning")}
COMPONENT_WORDS = {"operational": _l("Kører normalt"), "degraded_performance": _l("Nedsat ydelse"),
                   "degraded": _l("Nedsat ydelse"), "partial_outage": _l("Delvist nede"),
                   "major_outage": _l("Nede"), "under_maintenance": _l("Under vedligehold")}
NOTICE_WORDS = {"investigating": _l("Undersøges"), "identified": _l("Årsag fundet"),
                "monitoring": _l("Overvåges"), "resolved": _l("Løst"), "postmortem": _l("Efterfølgende analyse"),
                "scheduled": _l("Planlagt"), "in_progress": _l("I gang"), "verifying": _l("Verificeres"),
                "completed": _l("Afsluttet")}
KIND_WORDS = {"incident": _l("Hændelse"), "maintenance": _l("Vedligehold")}
HISTORY_LIMIT = 50


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


@bp.get("/driftsstatus")
def driftsstatus() -> ResponseReturnValue:
    """Component status, open incidents and maintenance with their timelines, and the history."""
    session = db_session()
    now = dt.datetime.now(dt.UTC)
    v = versions(session, now)
    key = ("page", "driftsstatus", locale_name(), v["notices"], now.replace(second=0, microsecond=0))

    def render() -> str:
        components = components_document(session, now, v["notices"])
        names = {c["slug"]: c["name"] for c in (components or {}).get("components", [])}
        names.update({c.slug: c.name for c in state().settings.components if c.slug not in names})
        open_ = notices_document(session, "open", None, v["notices"])["notices"]
        open_ids = {n["id"] for n in open_}
        everything = notices_document(session, "all", None, v["notices"])["notices"]
        closed = [n for n in everything if n["id"] not in open_ids][:HISTORY_LIMIT]
        return render_template("pages/driftsstatus.html", components=(components or {}).get("components", []),
                               names=names, open_notices=open_, history=closed, polled=last_poll(session),
                               history_limit=HISTORY_LIMIT)

    return cache().get_or_compute(key, render)


@bp.get("/skift")
def cutover() -> ResponseReturnValue:
    """Traffic lights for every municipality after the data-centre move, red first."""
    session = db_session()
    now = clock_now()
    v = versions(session, now)
    signed_in = is_operator()
    key = ("page", "cutover", locale_name(), v["cutover"])

    def render() -> str:
        doc = cutover_document(session, state().settings, now, v["cutover"])
        rows = sorted((doc or {}).get("municipalities", []),
                      key=lambda m: (CUTOVER_ORDER.index(m["status"]) if m["status"] in CUTOVER_ORDER else 9,
                                     m.get("call_ratio") if m.get("call_ratio") is not None else 9e9, m["name"]))
        counts = {s: sum(1 for m in rows if m["status"] == s) for s in CUTOVER_ORDER}
        return render_template("pages/cutover.html", doc=doc, rows=rows, counts=counts, order=CUTOVER_ORDER)

    if signed_in:  # an operator's page carries forms with a per-session CSRF token: never shared
        return render()
    return cache().get_or_compute(key, render)


def collector_state(session: Session) -> list[dict[str, Any]]:
    """Per collector: its newest run, its last success and its last failure."""
    out = []
    for (name,) in session.execute(select(CollectorRun.collector).distinct().order_by(CollectorRun.collector)):
        def newest(*conditions: Any, collector: str = name) -> CollectorRun | None:
            return session.scalars(select(CollectorRun).where(CollectorRun.collector == collector, *conditions)
                                   .order_by(CollectorRun.started_at.desc(), CollectorRun.id.desc()).limit(1)).first()

        out.append({"name": name, "last": newest(), "success": newest(CollectorRun.outcome == "success"),
                    "failure": newest(CollectorRun.outcome == "failure"),
                    "runs_24h": session.scalar(select(func.count()).select_from(CollectorRun).where(
                        CollectorRun.collector == name,
                        CollectorRun.started_at >= dt.datetime.now(dt.UTC) - dt.timedelta(hours=24)))})
    return out


@bp.get("/drift")
@operator_required
def service_health() -> ResponseReturnValue:
    """The operator's page: collectors and runs, notice sources, rejected files, held rows, outbox."""
    session = db_session()
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
    return render_template(
        "pages/health.html", collectors=collector_state(session),
        sources=session.scalars(select(NoticeSource).order_by(NoticeSource.name)).all(),
        rejected=rejected, held=held, held_total=sum(n for _, n, _ in held), queue=queue,
        queue_depth=outbox["depth"], failures=outbox["failures"], oldest_queued=oldest_queued,
        imported=imported, last_import=last_import, audit=recent_audit(session), audit_words=audit_words,
        held_notices=held_groups(session), max_new_per_poll=state().settings.notices.max_new_per_poll,
        contacts=mailbox_rows(session), now=dt.datetime.now(dt.UTC))


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
                 "notices.discard": _l("kasserede tilbageholdte driftsmeddelelser")}


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
