"""The page an infrastructure lead opens first: the overview of all 98 municipalities, and its CSV.

Danish first (msgids are Danish), English through the catalogue. Rendered pages are cached
until their data changes (documents.versions), so a page under load costs one small query
and a dictionary look-up.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any, TypeVar

from flask import Response, render_template, request
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_babel import ngettext

from ...noticeview import NoticeView, split_upcoming
from ...rating.documents import MunicipalityDocument, RatingDoc, RatingsDocument, ScoreOnDay
from ...rating.method import PARTS
from ...rating.service import last_conclusive_scores
from .. import csvexport
from ..auth import now as clock_now
from ..state import db_session, state
from . import charts
from .blueprint import PART_LABELS, bp, page_key
from .cache import cache
from .documents import notices, ratings_document, versions
from .format import day, locale_name
from .queries import scores_last_month

REASONS = {"no_active_agreements": _l("Kommunen har ingen aktive serviceaftaler."),
           "no_population": _l("Kommunens indbyggertal er ukendt eller 0."),
           "call_data_incomplete": _l("Kaldsdata dækker ikke hele perioden.")}
SORT_KEYS = ("name", "code", "score", "change", *PARTS)
MISSING_DAYS_SHOWN = 10


def reason_text(rating: RatingDoc, missing_days: list[str] | None = None) -> str:
    """Why a rating is inconclusive, in the page's language, its days in the page's date format."""
    reason = rating["reason"]
    if reason == "call_data_incomplete" and missing_days:
        shown = [day(d) for d in missing_days[:MISSING_DAYS_SHOWN]]
        if len(missing_days) > MISSING_DAYS_SHOWN:
            shown.append("…")
        return ngettext("Kaldsdata mangler for %(num)d dag i perioden: %(days)s.",
                        "Kaldsdata mangler for %(num)d dage i perioden: %(days)s.",
                        len(missing_days), days=", ".join(shown))
    if reason in REASONS:
        return str(REASONS[reason])
    return rating.get("reason_text") or reason or ""  # a result stored before reason_text has none


def missing_days_of(doc: RatingsDocument | MunicipalityDocument | None) -> list[str]:
    """The days without call data behind a ratings document, as ISO dates."""
    return list(doc["coverage"]["missing_days"]) if doc else []


def overview_rows(doc: RatingsDocument, before: dict[str, float | None],
                  last: dict[str, ScoreOnDay] | None = None) -> list[dict[str, Any]]:
    """One row per municipality: score, parts, rank and the change since last month.

    An inconclusive row carries the newest earlier conclusive score (`last`) and its day; its
    `shown_score` (what it sorts and charts by) is that score, marked as such on the page.
    """
    rows = []
    last = last or {}
    missing = missing_days_of(doc)
    for r in doc["ratings"]:
        code = r["municipality"]["code"]
        old = before.get(code)
        score = r["score"]
        earlier = last.get(code) if score is None else None
        rows.append({
            "code": code, "name": r["municipality"]["name"], "score": score, "status": r["status"],
            "reason": reason_text(r, missing) if score is None else "", "rank": r["rank"],
            "change": score - old if score is not None and old is not None else None,
            **{p: r["parts"][p]["score"] if p in r["parts"] else None for p in PARTS},
            "last": ({"score": earlier["score"], "day": dt.date.fromisoformat(earlier["as_of"])}
                     if earlier else None),
            "shown_score": score if score is not None else (earlier["score"] if earlier else None),
        })
    return rows


def sort_rows(rows: list[dict[str, Any]], key: str, descending: bool) -> list[dict[str, Any]]:
    """Rows sorted by `key`; missing values always last, names in Danish alphabet order.

    By score, an inconclusive row sorts by its newest conclusive score (`shown_score`).
    """
    if key not in SORT_KEYS:
        key = "score"
    if key in ("name", "code"):
        return sorted(rows, key=lambda r: danish_key(r[key]), reverse=descending)
    if key == "score":
        key = "shown_score"
    present = [r for r in rows if r[key] is not None]
    missing = [r for r in rows if r[key] is None]
    present.sort(key=lambda r: (r[key], danish_key(r["name"])), reverse=descending)
    return present + sorted(missing, key=lambda r: danish_key(r["name"]))


def danish_key(text: str) -> str:
    """A sort key in Danish alphabet order."""
    # æ, ø, å sort after z in Danish; the private-use range keeps them there and in that order.
    return text.lower().replace("æ", "\ue001").replace("ø", "\ue002").replace("å", "\ue003").replace("aa", "\ue003")


Row = TypeVar("Row", bound=Mapping[str, Any])


def search_rows(rows: list[Row], query: str) -> list[Row]:
    """Rows whose name or code contains `query` ("0101" finds 101)."""
    q = query.strip().lower()
    if not q:
        return rows
    code = q.lstrip("0") if q.isdigit() else None
    return [r for r in rows if q in r["name"].lower() or (code is not None and code in r["code"])]


def overview_data(session: Any) -> tuple[RatingsDocument | None, list[dict[str, Any]], dict[str, Any]]:
    """The ratings document, its rows with change since last month, and the version used."""
    st = state()
    v = versions(session)
    doc = ratings_document(session, st.settings, v["ratings"])
    if not doc:
        return None, [], v
    as_of = dt.date.fromisoformat(doc["as_of"])
    before = cache().get_or_compute(("last_month", as_of, v["ratings"]),
                                    lambda: scores_last_month(session, as_of))
    last = (cache().get_or_compute(("last_conclusive", as_of, v["ratings"]),
                                   lambda: last_conclusive_scores(session, as_of))
            if any(r["score"] is None for r in doc["ratings"]) else {})
    return doc, overview_rows(doc, before, last), v


@bp.get("/")
def overview() -> ResponseReturnValue:
    """All municipalities with score and parts, sortable and searchable; open notices on top."""
    if request.args.get("format") == "csv":
        return overview_csv()
    session = db_session()
    v = versions(session)
    sort = request.args.get("sort", "score")
    sort = sort if sort in SORT_KEYS else "score"
    direction = "asc" if request.args.get("dir", "asc" if sort in ("name", "code") else "desc") == "asc" else "desc"
    query = request.args.get("q", "")
    # A planned maintenance moves from "planned" to the open notices when its window begins.
    listed = split_upcoming(notices(session, "open", None, v["notices"]), clock_now())
    if query.strip():  # a search is rendered from the cached documents, never kept per query
        return _render_overview(session, sort, direction, query, listed)
    # Only the arguments that change the page are in the key: made-up ones cannot fill the cache.
    key = page_key("overview", sort, direction, v["ratings"], v["notices"],
                   tuple(n.id for n in listed[1]))
    return cache().get_or_compute(key, lambda: _render_overview(session, sort, direction, "", listed))


def _render_overview(session: Any, sort: str, direction: str, query: str,
                     notices: tuple[list[NoticeView], list[NoticeView]]) -> str:
    doc, rows, v = overview_data(session)
    shown = search_rows(sort_rows(rows, sort, direction == "desc"), query)
    open_notices, upcoming = notices
    chart = charts.distribution(
        [r["shown_score"] for r in rows], _("Fordeling af scorer for alle kommuner"), _("Score (1–10)"))
    bins = charts.score_bins([r["shown_score"] for r in rows])
    as_of = dt.date.fromisoformat(str(doc["as_of"])) if doc else None
    return render_template("pages/overview.html", doc=doc, rows=shown, total=len(rows), sort=sort,
                           direction=direction, query=query, notices=open_notices, upcoming=upcoming, chart=chart,
                           bins=bins,
                           as_of=as_of, data_through=data_through(doc),
                           inconclusive=sum(1 for r in rows if r["score"] is None),
                           earlier=sum(1 for r in rows if r["score"] is None and r["shown_score"] is not None),
                           missing_days=missing_days_of(doc), imported=any_agreements(doc))


def any_agreements(doc: RatingsDocument | None) -> bool:
    """Whether any municipality has an active agreement: data (or the demo) is loaded."""
    return any(r["parts"]["service_agreements"]["inputs"].get("active")
               for r in (doc["ratings"] if doc else []) if "service_agreements" in r["parts"])


def data_through(doc: RatingsDocument | MunicipalityDocument | None) -> dt.date | None:
    """The last day of call data behind a ratings document (the day before as_of)."""
    if not doc:
        return None
    if doc["data_through"]:
        return dt.date.fromisoformat(doc["data_through"][:10])
    return dt.date.fromisoformat(doc["as_of"]) - dt.timedelta(days=1)


CSV_COLUMNS = {"code": _l("Kode"), "name": _l("Kommune"), "score": _l("Score"), "status": _l("Status"),
               "rank": _l("Placering"), "change_since_last_month": _l("Ændring på en måned"), **PART_LABELS,
               "reason": _l("Begrundelse"), "last_conclusive_score": _l("Seneste afgørende score"),
               "last_conclusive_day": _l("Beregnet for")}
CSV_STATUS = {"ok": _l("afgørende"), "inconclusive": _l("ikke afgørende")}


@bp.get("/oversigt.csv")
def overview_csv() -> ResponseReturnValue:
    """The overview as CSV in the page's language (Danish: `;`, decimal comma; English: `,`)."""
    session = db_session()
    v = versions(session)
    lang = locale_name()

    def build() -> bytes:
        _doc, rows, _v = overview_data(session)
        body = ([r["code"], r["name"], csvexport.number(r["score"], lang), str(CSV_STATUS.get(r["status"], r["status"])),
                 r["rank"] or "", csvexport.number(r["change"], lang),
                 *[csvexport.number(r[p], lang) for p in PARTS], r["reason"],
                 csvexport.number(r["last"]["score"], lang) if r["last"] else "",
                 r["last"]["day"].isoformat() if r["last"] else ""]
                for r in sort_rows(rows, "code", False))
        return csvexport.table([str(label) for label in CSV_COLUMNS.values()], body, lang)

    body = cache().get_or_compute(("csv", "overview", lang, v["ratings"]), build)
    return Response(body, mimetype="text/csv", headers={
        "Content-Disposition": 'attachment; filename="oversigt.csv"', "Content-Language": lang})
