"""The pages an infrastructure lead opens: the overview of all 98 and one municipality.

Danish first (msgids are Danish), English through the catalogue. The rest of the pages live
in pages_info.py (method, accessibility) and pages_status.py (driftsstatus, cut-over, service
health); they register on this blueprint. Rendered pages are cached until their data changes
(pages_data.versions), so a page under load costs one small query and a dictionary look-up.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from flask import Blueprint, Response, abort, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_babel import ngettext

from ..rating.service import last_conclusive_scores, normalise_code
from . import csvexport, pages_charts, pages_format, run_summary, security
from .pages_data import (
    cache,
    cutover_document,
    municipality_document,
    notices_document,
    ratings_document,
    versions,
)
from .pages_format import locale_name
from .pages_queries import daily_calls, municipality_exists, scores_last_month
from .state import LANGUAGES, db_session, state

bp = Blueprint("pages", __name__)
security.init_app(bp)
pages_format.register(bp)
run_summary.register(bp)

LANG_COOKIE_DAYS = 365
PARTS = ("service_agreements", "calls_per_citizen", "it_systems_with_calls")
PART_LABELS = {"service_agreements": _l("Serviceaftaler"), "calls_per_citizen": _l("Kald pr. borger"),
               "it_systems_with_calls": _l("It-systemer med kald")}
REASONS = {"no_active_agreements": _l("Kommunen har ingen aktive serviceaftaler."),
           "no_population": _l("Kommunens indbyggertal er ukendt eller 0."),
           "call_data_incomplete": _l("Kaldsdata dækker ikke hele perioden.")}
SORT_KEYS = ("name", "code", "score", "change", *PARTS)
MISSING_DAYS_SHOWN = 10


@bp.app_context_processor
def layout_helpers() -> dict[str, Any]:
    """Helpers for base.html: the language, the switch link and the menu."""

    def lang_url(lang: str) -> str:
        args = request.args.to_dict(flat=False) if request else {}
        args["lang"] = [lang]
        return url_for(request.endpoint or "pages.overview", **(request.view_args or {}), **args)

    def nav_items() -> list[tuple[str, str, str]]:
        return [("pages.overview", url_for("pages.overview"), _("Oversigt")),
                ("pages.driftsstatus", url_for("pages.driftsstatus"), _("Driftsstatus")),
                ("pages.cutover", url_for("pages.cutover"), _("Skift af driftscenter")),
                ("pages.method", url_for("pages.method"), _("Metode")),
                ("subscribe", "/subscribe", _("Abonnér")),
                ("pages.service_health", url_for("pages.service_health"), _("Drift af tjenesten"))]

    return {"page_lang": locale_name, "lang_url": lang_url, "nav_items": nav_items,
            "part_labels": PART_LABELS, "parts": PARTS}


@bp.after_app_request
def remember_language(response: Response) -> Response:
    """?lang=en (or da) is remembered in the `lang` cookie that select_locale reads."""
    lang = request.args.get("lang")
    if lang in LANGUAGES and request.cookies.get("lang") != lang:
        response.set_cookie("lang", lang, max_age=LANG_COOKIE_DAYS * 86400, samesite="Lax",
                            secure=request.is_secure, httponly=True)
    return response


@bp.app_errorhandler(404)
def not_found(error: Exception) -> tuple[str, int] | Any:
    """A page that helps back on track; JSON for the API."""
    if request.path.startswith("/api/"):
        return {"error": "not found"}, 404
    return render_template("pages/not_found.html"), 404


def reason_text(rating: dict[str, Any], missing_days: list[str] | None = None) -> str:
    """Why a rating is inconclusive, in the page's language, its days in the page's date format."""
    reason = rating.get("reason")
    if reason == "call_data_incomplete" and missing_days:
        shown = [pages_format.day(d) for d in missing_days[:MISSING_DAYS_SHOWN]]
        if len(missing_days) > MISSING_DAYS_SHOWN:
            shown.append("…")
        return ngettext("Kaldsdata mangler for %(num)d dag i perioden: %(days)s.",
                        "Kaldsdata mangler for %(num)d dage i perioden: %(days)s.",
                        len(missing_days), days=", ".join(shown))
    if reason in REASONS:
        return str(REASONS[reason])
    return rating.get("reason_text") or reason or ""


def _missing_days(doc: dict[str, Any] | None) -> list[str]:
    return list(((doc or {}).get("coverage") or {}).get("missing_days") or [])


def overview_rows(doc: dict[str, Any], before: dict[str, float | None],
                  last: dict[str, dict[str, Any]] | None = None) -> list[dict[str, Any]]:
    """One row per municipality: score, parts, rank and the change since last month.

    An inconclusive row carries the newest earlier conclusive score (`last`) and its day.
    """
    rows = []
    last = last or {}
    missing = _missing_days(doc)
    for r in doc.get("ratings", []):
        code = r["municipality"]["code"]
        old = before.get(code)
        earlier = last.get(code) if r.get("score") is None else None
        rows.append({
            "code": code, "name": r["municipality"]["name"], "score": r.get("score"), "status": r.get("status"),
            "reason": reason_text(r, missing) if r.get("score") is None else "", "rank": r.get("rank"),
            "change": r["score"] - old if r.get("score") is not None and old is not None else None,
            **{p: (r.get("parts", {}).get(p) or {}).get("score") for p in PARTS},
            "last": ({"score": earlier["score"], "day": dt.date.fromisoformat(earlier["as_of"])}
                     if earlier else None),
        })
    return rows


def sort_rows(rows: list[dict[str, Any]], key: str, descending: bool) -> list[dict[str, Any]]:
    """Rows sorted by `key`; missing values always last, names in Danish alphabet order."""
    if key not in SORT_KEYS:
        key = "score"
    if key in ("name", "code"):
        return sorted(rows, key=lambda r: _danish(r[key]), reverse=descending)
    present = [r for r in rows if r[key] is not None]
    missing = [r for r in rows if r[key] is None]
    present.sort(key=lambda r: (r[key], _danish(r["name"])), reverse=descending)
    return present + sorted(missing, key=lambda r: _danish(r["name"]))


def _danish(text: str) -> str:
    # æ, ø, å sort after z in Danish; the private-use range keeps them there and in that order.
    return text.lower().replace("æ", "\ue001").replace("ø", "\ue002").replace("å", "\ue003").replace("aa", "\ue003")


def search_rows(rows: list[dict[str, Any]], query: str) -> list[dict[str, Any]]:
    """Rows whose name or code contains `query` ("0101" finds 101)."""
    q = query.strip().lower()
    if not q:
        return rows
    code = q.lstrip("0") if q.isdigit() else None
    return [r for r in rows if q in r["name"].lower() or (code is not None and code in r["code"])]


def overview_data(session: Any) -> tuple[dict[str, Any] | None, list[dict[str, Any]], dict[str, Any]]:
    """The ratings document, its rows with change since last month, and the version used."""
    st = state()
    v = versions(session)
    doc = ratings_document(session, st.settings, v["ratings"])
    if not doc:
        return None, [], v
    as_of = dt.date.fromisoformat(str(doc["as_of"]))
    before = cache().get_or_compute(("last_month", as_of, v["ratings"]),
                                    lambda: scores_last_month(session, as_of))
    last = (cache().get_or_compute(("last_conclusive", as_of, v["ratings"]),
                                   lambda: last_conclusive_scores(session, as_of))
            if any(r.get("score") is None for r in doc.get("ratings", [])) else {})
    return doc, overview_rows(doc, before, last), v


@bp.get("/")
def overview():  # type: ignore[no-untyped-def]
    """All municipalities with score and parts, sortable and searchable; open notices on top."""
    if request.args.get("format") == "csv":
        return overview_csv()
    session = db_session()
    v = versions(session)
    sort = request.args.get("sort", "score")
    sort = sort if sort in SORT_KEYS else "score"
    direction = "asc" if request.args.get("dir", "asc" if sort in ("name", "code") else "desc") == "asc" else "desc"
    query = request.args.get("q", "")
    if query.strip():  # a search is rendered from the cached documents, never kept per query
        return _render_overview(session, sort, direction, query)
    # Only the arguments that change the page are in the key: made-up ones cannot fill the cache.
    key = ("page", "overview", locale_name(), sort, direction, v["ratings"], v["notices"])
    return cache().get_or_compute(key, lambda: _render_overview(session, sort, direction, ""))


def _render_overview(session: Any, sort: str, direction: str, query: str) -> str:
    doc, rows, v = overview_data(session)
    shown = search_rows(sort_rows(rows, sort, direction == "desc"), query)
    open_notices = notices_document(session, "open", None, v["notices"])["notices"]
    chart = pages_charts.distribution(
        [r["score"] for r in rows], _("Fordeling af scorer for alle kommuner"), _("Score (1–10)"))
    bins = pages_charts.score_bins([r["score"] for r in rows])
    as_of = dt.date.fromisoformat(str(doc["as_of"])) if doc else None
    return render_template("pages/overview.html", doc=doc, rows=shown, total=len(rows), sort=sort,
                           direction=direction, query=query, notices=open_notices, chart=chart, bins=bins,
                           as_of=as_of, data_through=data_through(doc),
                           inconclusive=sum(1 for r in rows if r["score"] is None))


def data_through(doc: dict[str, Any] | None) -> dt.date | None:
    """The last day of call data behind a ratings document (the day before as_of)."""
    if not doc:
        return None
    if doc.get("data_through"):
        return dt.date.fromisoformat(str(doc["data_through"])[:10])
    return dt.date.fromisoformat(str(doc["as_of"])) - dt.timedelta(days=1)


CSV_COLUMNS = {"code": _l("Kode"), "name": _l("Kommune"), "score": _l("Score"), "status": _l("Status"),
               "rank": _l("Placering"), "change_since_last_month": _l("Ændring på en måned"), **PART_LABELS,
               "reason": _l("Begrundelse")}
CSV_STATUS = {"ok": _l("afgørende"), "inconclusive": _l("ikke afgørende")}


@bp.get("/oversigt.csv")
def overview_csv():  # type: ignore[no-untyped-def]
    """The overview as CSV in the page's language (Danish: `;`, decimal comma; English: `,`)."""
    session = db_session()
    v = versions(session)
    lang = locale_name()

    def build() -> bytes:
        _doc, rows, _v = overview_data(session)
        body = ([r["code"], r["name"], csvexport.number(r["score"], lang), str(CSV_STATUS.get(r["status"], r["status"])),
                 r["rank"] or "", csvexport.number(r["change"], lang),
                 *[csvexport.number(r[p], lang) for p in PARTS], r["reason"]]
                for r in sort_rows(rows, "code", False))
        return csvexport.table([str(label) for label in CSV_COLUMNS.values()], body, lang)

    body = cache().get_or_compute(("csv", "overview", lang, v["ratings"]), build)
    return Response(body, mimetype="text/csv", headers={
        "Content-Disposition": 'attachment; filename="oversigt.csv"', "Content-Language": lang})


@bp.get("/kommune/<code>")
def municipality(code: str):  # type: ignore[no-untyped-def]
    """One municipality: score and parts with inputs, peers, hints, history, agreements, price."""
    session = db_session()
    normal = normalise_code(code)  # the API's rule: "101" and "0101", nothing else
    if normal is None or not municipality_exists(session, normal):
        abort(404)
    code = normal
    v = versions(session)
    key = ("page", "municipality", code, locale_name(), v["ratings"], v["cutover"])
    return cache().get_or_compute(key, lambda: _render_municipality(session, code, v))


AGREEMENT_STATUS = {"active": _l("aktiv"), "pending": _l("afventer"), "rejected": _l("afvist"),
                    "inactive": _l("inaktiv")}
REDUNDANT_REASONS = {"no_calls": _l("ingen kald"), "duplicate": _l("dublet")}


@bp.get("/kommune/<code>/aftaler.csv")
def municipality_agreements_csv(code: str):  # type: ignore[no-untyped-def]
    """The municipality's agreements table as CSV in the page's language, redundant ones first."""
    session = db_session()
    code = code.lstrip("0").zfill(3) if code.isdigit() else code
    if not code.isdigit() or len(code) != 3 or not municipality_exists(session, code):
        abort(404)
    v = versions(session)
    lang = locale_name()
    days = state().settings.rating.redundant_after_days

    def build() -> bytes:
        doc = municipality_document(session, state().settings, code, v["ratings"]) or {}
        header = [_("Aftale"), _("It-system"), _("Leverandør"), _("Services"), _("Status"),
                  ngettext("Kald (%(num)d dag)", "Kald (%(num)d dage)", days), _("Overflødig"), _("Begrundelse")]
        rows = ([a["uuid"], a["it_system"].get("name") or a["it_system"].get("uuid") or "",
                 a["it_system"].get("supplier") or "", ", ".join(a.get("services") or []),
                 str(AGREEMENT_STATUS.get(a.get("status"), a.get("status") or "")), a.get("calls_recent") or 0,
                 _("Ja") if a.get("redundant") else _("Nej"),
                 ", ".join(str(REDUNDANT_REASONS.get(r, r)) for r in a.get("redundant_reasons") or [])]
                for a in sorted(doc.get("agreements", []), key=lambda a: not a.get("redundant")))
        return csvexport.table(header, rows, lang)

    body = cache().get_or_compute(("csv", "agreements", code, lang, v["ratings"]), build)
    return Response(body, mimetype="text/csv", headers={
        "Content-Disposition": f'attachment; filename="aftaler-{code}.csv"', "Content-Language": lang})


def _render_municipality(session: Any, code: str, v: dict[str, Any]) -> str:
    settings = state().settings
    doc = municipality_document(session, settings, code, v["ratings"]) or {}
    rating = doc.get("rating") or {}
    info = doc.get("municipality") or {}
    as_of = dt.date.fromisoformat(str(doc["as_of"])) if doc.get("as_of") else None
    history = [(dt.date.fromisoformat(str(h["as_of"])), h.get("score")) for h in doc.get("history", [])]
    last = (as_of or dt.date.today()) - dt.timedelta(days=1)
    series = daily_calls(session, code, last - dt.timedelta(days=89), last)
    from .auth import now as clock_now  # the app's clock (tests freeze it); auth imports this module

    cut = cutover_document(session, settings, clock_now(), v["cutover"])
    cut_row = next((m for m in (cut or {}).get("municipalities", []) if m.get("code") == code), None)
    english = locale_name() == "en"
    hints = [{"text": h.get("text_en") if english else h.get("text_da"), "gain": h.get("gain"),
              "kind": h.get("kind"), "uuids": h.get("items", [])}
             for h in rating.get("hints", [])]
    return render_template(
        "pages/municipality.html", code=code, info=info, rating=rating, doc=doc, as_of=as_of,
        data_through=data_through(doc) if doc else None, monthly_change=doc.get("change_since_last_month"),
        history=doc.get("history", []), history_chart=pages_charts.history(history, _("Scorens udvikling")),
        series=series, calls_chart=pages_charts.calls(series, _("Kald pr. dag, seneste 90 dage")),
        agreements=doc.get("agreements", []), it_systems=silent_first(doc.get("it_systems", [])),
        price=doc.get("price"), cut=cut_row, hints=hints,
        reason=reason_text(rating, _missing_days(doc)) if rating else "",
        last_conclusive=doc.get("last_conclusive"),
        # A stored result without hints (method 2020.11 dropped them when inconclusive) must not
        # say "nothing to do" above a table that marks agreements to close.
        to_fix=any(a.get("redundant") or a.get("status") == "pending" for a in doc.get("agreements", []))
        or any(s.get("active_agreements") and not s.get("with_calls") for s in doc.get("it_systems", [])),
        planned_days=[dt.date.fromisoformat(d) for d in rating.get("planned_outage_days", [])],
        redundant_after_days=settings.rating.redundant_after_days, window_days=settings.rating.window_days)


def silent_first(systems: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """IT systems with active agreements but no calls first, then those calling, then those without
    an active agreement; by name within each group (the caption on the page says so)."""
    def group(s: dict[str, Any]) -> int:
        if s.get("active_agreements") and not s.get("with_calls"):
            return 0
        return 1 if s.get("with_calls") else 2

    return sorted(systems, key=lambda s: (group(s), _danish(s.get("name") or ""), s.get("uuid") or ""))


from . import calendar, pages_cutover, pages_info, pages_status  # noqa: E402,F401  (they add their routes to bp)
