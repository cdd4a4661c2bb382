"""One municipality's page: score and parts with their inputs, peers, hints, history, agreements; its CSV."""

from __future__ import annotations

import datetime as dt
from typing import Any

from flask import Response, abort, render_template
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_babel import ngettext
from flask_wtf.csrf import generate_csrf

from ...cutover.documents import public_municipality
from ...rating import inputs
from ...rating import queries as rating_queries
from ...rating.documents import ItSystemDoc
from ...rating.service import normalise_code
from .. import csvexport
from ..auth import now as clock_now
from ..state import db_session, state
from . import charts
from .blueprint import bp, page_key
from .cache import cache
from .documents import cutover_municipality, municipality_document, versions
from .format import locale_name
from .overview import danish_key, data_through, missing_days_of, reason_text
from .queries import municipality_codes


@bp.get("/kommune/<code>")
def municipality(code: str) -> ResponseReturnValue:
    """One municipality: score and parts with inputs, peers, hints, history, agreements, price."""
    session = db_session()
    v = versions(session)
    code = _known_code(session, code, v)
    key = page_key("municipality", code, v["ratings"], v["cutover"], v["answers"])
    page: str = cache().get_or_compute(key, lambda: _render_municipality(session, code, v))
    # The cached page is everyone's; the input form's CSRF token is this visitor's.
    return page.replace(CSRF_SLOT, generate_csrf())


CSRF_SLOT = "csrf-slot-of-the-cached-page"


def _known_code(session: Any, code: str, v: dict[str, Any]) -> str:
    """`code` as stored ("0101" is 101: the API's rule, nothing else), or a 404 when no such municipality."""
    normal = normalise_code(code)
    known = cache().get_or_compute(("municipality_codes", v["ratings"]), lambda: municipality_codes(session))
    if normal is None or normal not in known:
        abort(404)
    return normal


AGREEMENT_STATUS = {"active": _l("aktiv"), "pending": _l("afventer"), "rejected": _l("afvist"),
                    "inactive": _l("inaktiv")}
REDUNDANT_REASONS = {"no_calls": _l("ingen kald"), "duplicate": _l("dublet")}


@bp.get("/kommune/<code>/aftaler.csv")
def municipality_agreements_csv(code: str) -> ResponseReturnValue:
    """The municipality's agreements table as CSV in the page's language, redundant ones first."""
    session = db_session()
    v = versions(session)
    code = _known_code(session, code, v)
    lang = locale_name()
    days = state().settings.rating.redundant_after_days

    def build() -> bytes:
        doc = municipality_document(session, state().settings, code, v["ratings"])
        header = [_("Aftale"), _("It-system"), _("Leverandør"), _("Services"), _("Status"),
                  ngettext("Kald (%(num)d dag)", "Kald (%(num)d dage)", days), _("Overflødig"), _("Begrundelse")]
        rows = ([a["uuid"], a["it_system"].get("name") or a["it_system"].get("uuid") or "",
                 a["it_system"].get("supplier") or "", ", ".join(a.get("services") or []),
                 str(AGREEMENT_STATUS.get(a.get("status"), a.get("status") or "")), a.get("calls_recent") or 0,
                 _("Ja") if a.get("redundant") else _("Nej"),
                 ", ".join(str(REDUNDANT_REASONS.get(r, r)) for r in a.get("redundant_reasons") or [])]
                for a in sorted(doc["agreements"] if doc else [], key=lambda a: not a["redundant"]))
        return csvexport.table(header, rows, lang)

    body = cache().get_or_compute(("csv", "agreements", code, lang, v["ratings"]), build)
    return Response(body, mimetype="text/csv", headers={
        "Content-Disposition": f'attachment; filename="aftaler-{code}.csv"', "Content-Language": lang})


def _render_municipality(session: Any, code: str, v: dict[str, Any]) -> str:
    settings = state().settings
    doc = municipality_document(session, settings, code, v["ratings"])
    if doc is None:  # the code was known a moment ago: the municipality went meanwhile
        abort(404)
    rating = doc["rating"]
    info = doc["municipality"]
    as_of = dt.date.fromisoformat(doc["as_of"])
    history = [(dt.date.fromisoformat(h["as_of"]), h["score"]) for h in doc["history"]]
    last = as_of - dt.timedelta(days=1)
    series = rating_queries.calls_by_day(session, code, last - dt.timedelta(days=89), last)

    cut = cutover_municipality(session, settings, clock_now(), code, v["cutover"])
    cut_row = public_municipality(cut) if cut is not None else None
    english = locale_name() == "en"
    hints = [{"text": h["text_en"] if english else h["text_da"], "gain": h["gain"], "kind": h["kind"],
              "uuids": h["items"]}
             for h in rating.get("hints", [])]  # a result stored by method 2020.11 may have none
    return render_template(
        "pages/municipality.html", code=code, info=info, rating=rating, doc=doc, as_of=as_of,
        data_through=data_through(doc), monthly_change=doc["change_since_last_month"],
        history=doc["history"], history_chart=charts.history(history, _("Scorens udvikling")),
        series=series, calls_chart=charts.calls(series, _("Kald pr. dag, seneste 90 dage")),
        agreements=doc["agreements"], it_systems=silent_first(doc["it_systems"]),
        agreements_by_uuid={a["uuid"]: a for a in doc["agreements"]},
        price=doc["price"], cut=cut_row, hints=hints,
        reason=reason_text(rating, missing_days_of(doc)),
        last_conclusive=doc["last_conclusive"],
        # A stored result without hints (method 2020.11 dropped them when inconclusive) must not
        # say "nothing to do" above a table that marks agreements to close.
        to_fix=any(a["redundant"] or a["status"] == "pending" for a in doc["agreements"])
        or any(s["active_agreements"] and not s["with_calls"] for s in doc["it_systems"]),
        planned_days=[dt.date.fromisoformat(d) for d in rating.get("planned_outage_days", [])],
        access_control_known=rating_queries.access_control_known(session),
        redundant_after_days=settings.rating.redundant_after_days, window_days=settings.rating.window_days,
        csrf_value=CSRF_SLOT, answers=inputs.published(session, code))


def silent_first(systems: list[ItSystemDoc]) -> list[ItSystemDoc]:
    """IT systems with active agreements but no calls first, then those calling, then those without
    an active agreement; by name within each group (the caption on the page says so)."""
    def group(s: ItSystemDoc) -> int:
        if s["active_agreements"] and not s["with_calls"]:
            return 0
        return 1 if s["with_calls"] else 2

    return sorted(systems, key=lambda s: (group(s), danish_key(s.get("name") or ""), s.get("uuid") or ""))


