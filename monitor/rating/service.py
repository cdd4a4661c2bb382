"""Ratings as a service: snapshots (appended revisions), the API documents and `monitor rate`.

The maths is in `method.py`, the inputs come from `queries.py`. A stored run records the
method version and every parameter; a run is never changed after it is stored, and a new
run for the same as_of is a new revision beside the old ones.
"""

from __future__ import annotations

import datetime as dt
import gc
import json
import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from typing import Any, cast

from sqlalchemy import Engine, and_, func, select
from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from sqlalchemy.orm import Session

from .. import runs, weektable
from ..cutover.queries import window_for
from ..db import session_factory, session_scope, utcnow
from ..localtime import CPH
from ..models import Municipality, RatingResult, RatingRun
from ..settings import ConfigError, Settings
from . import corrections, queries
from .documents import (
    AgreementDoc,
    CorrectionDoc,
    HistoryEntry,
    ItSystemDoc,
    MunicipalityDocument,
    RatingDoc,
    RatingsDocument,
    ScoreOnDay,
    WindowDoc,
    to_document,
)
from .method import (
    PARTS,
    MunicipalityInput,
    Parameters,
    Rating,
    active_on,
    rate_all,
    rate_one,
    uncovered_days,
    window,
)
from .outages import CUTOVER_REASON, Outage, outage_days

HISTORY_DAYS = 400  # about 13 months of history on the municipality page
LAST_MONTH_DAYS = 30
LAST_MONTH_SLACK_DAYS = 14  # compare with a run at most this much older than 30 days

log = logging.getLogger(__name__)


class MethodChanged(ConfigError):
    """Stored results carry the configured method_version with other parameters."""


def today(now: dt.datetime | None = None) -> dt.date:
    """Today in Copenhagen (of `now`, default the current time)."""
    return (now or utcnow()).astimezone(CPH).date()


def _normalised(parameters: dict[str, Any]) -> dict[str, Any]:
    # A JSON round trip, so that 200 and 200.0 or tuple and list compare equal.
    normal: dict[str, Any] = json.loads(json.dumps(parameters, sort_keys=True))
    return normal


def check_method(session: Session, settings: Settings) -> None:
    """Raise `MethodChanged` when a stored run has this method_version with other parameters."""
    version = settings.rating.method_version
    wanted = _normalised(settings.rating.parameters())
    for stored in session.scalars(select(RatingRun.parameters).where(RatingRun.method_version == version)):
        if _normalised(stored) != wanted:
            raise MethodChanged(
                f"rating.method_version: stored ratings with method_version {version!r} were computed "
                f"with other parameters ({json.dumps(stored, sort_keys=True)}) than config.toml's "
                f"({json.dumps(wanted, sort_keys=True)}); change rating.method_version when you change "
                "a rating parameter")


def assert_method_consistent(engine: Engine, settings: Settings) -> None:
    """Refuse to start (MethodChanged, a ConfigError) when the method changed under the same version."""
    with session_factory(engine)() as session:
        check_method(session, settings)


def planned_outages(session: Session, settings: Settings) -> list[Outage]:
    """Every planned outage: `[rating.planned_outages]` and the cut-over window.

    The cut-over window is `[cutover] start`–`end`, or the loaded demo's window when config
    names none (as on the cut-over page).
    """
    outages = [Outage(o.start, o.end, o.reason) for o in settings.rating.planned_outages]
    w = window_for(session, settings)
    if w.start is not None and w.end is not None:
        outages.append(Outage(w.start, w.end, CUTOVER_REASON))
    return outages


def _summary(gathered: queries.Gathered, planned: dict[dt.date, tuple[str, ...]], params: Parameters
             ) -> dict[str, Any]:
    missing = uncovered_days(gathered.missing_days, planned, params)
    without_data = set(gathered.missing_days)
    return {"data_through": gathered.data_through.isoformat() if gathered.data_through else None,
            "missing_days": [d.isoformat() for d in missing],
            "planned_outage_days": [{"day": d.isoformat(), "reasons": list(reasons), "without_data": d in without_data}
                                    for d, reasons in planned.items()]}


def _document(as_of: dt.date, version: str, parameters: dict[str, Any], summary: dict[str, Any],
              ratings: list[RatingDoc], revision: int | None, computed_at: dt.datetime) -> RatingsDocument:
    return {
        "as_of": as_of.isoformat(),
        "method": {"version": version, "weights": parameters["weights"], "parameters": parameters},
        "stored": revision is not None,
        "revision": revision,
        "computed_at": computed_at.isoformat(),
        "window": _window(as_of, parameters["window_days"]),
        "data_through": summary.get("data_through"),
        "coverage": {"complete": not summary.get("missing_days"), "missing_days": summary.get("missing_days", []),
                     "planned_outage_days": summary.get("planned_outage_days", [])},
        "ratings": ratings,
    }


def rate(session: Session, settings: Settings, params: Parameters, as_of: dt.date
         ) -> tuple[list[Rating], dict[str, Any]]:
    """Rate every municipality for `as_of` with `params` from the stored inputs: (ratings, summary).

    What `monitor rate`, the daily run and the what-if view (with other parameters) all use.
    Operators' corrections apply; the summary's "corrections" names them per municipality with
    the score it would have had without them.
    """
    with gc_paused():
        # The collector is back on once `_rate` has returned: its inputs (a tuple per agreement)
        # are gone by then, and only the results are left for it to look at.
        return _rate(session, settings, params, as_of)


def _rate(session: Session, settings: Settings, params: Parameters, as_of: dt.date
          ) -> tuple[list[Rating], dict[str, Any]]:
    first, last = window(as_of, params.window_days)
    planned = outage_days(planned_outages(session, settings), first, last) if params.planned_outages_covered else {}
    in_force = corrections.in_force(session)
    gathered = queries.gather(session, as_of, params)
    inputs = [replace(m, in_use=frozenset(c.agreement_uuid for c in in_force[m.code])) if m.code in in_force
              else m for m in gathered.inputs]
    ratings = rate_all(inputs, as_of, params, gathered.missing_days, list(planned))
    summary = _summary(gathered, planned, params)
    if in_force:
        summary["corrections"] = _corrected(gathered.inputs, in_force, as_of, params, gathered.missing_days,
                                            list(planned))
    return ratings, summary


def _corrected(inputs: list[MunicipalityInput], in_force: dict[str, list[corrections.InForce]], as_of: dt.date,
               params: Parameters, missing_days: list[dt.date], planned: list[dt.date]) -> dict[str, Any]:
    """Per corrected municipality: its corrections and the score without them."""
    out: dict[str, Any] = {}
    for m in inputs:
        if m.code in in_force:
            before = rate_one(m, as_of, params, missing_days, planned).score
            out[m.code] = {"score_without": before,
                           "agreements": [{"uuid": c.agreement_uuid, "reason": c.reason,
                                           "recorded_at": c.recorded_at.isoformat()} for c in in_force[m.code]]}
    return out


def compute(session: Session, settings: Settings, as_of: dt.date) -> tuple[list[RatingDoc], dict[str, Any]]:
    """Rate every municipality for `as_of` with the configured method: (rating documents, summary)."""
    with gc_paused():
        # As in `rate`: the collector is back on once the ratings are documents.
        return _documents(*rate(session, settings, Parameters.from_mapping(settings.rating.parameters()), as_of))


def _documents(ratings: list[Rating], summary: dict[str, Any]) -> tuple[list[RatingDoc], dict[str, Any]]:
    corrected = summary.get("corrections", {})
    return [_with_correction(to_document(r), corrected.get(r.code)) for r in ratings], summary


def _with_correction(document: RatingDoc, correction: CorrectionDoc | None) -> RatingDoc:
    # A result that used a correction names it, with the score it would have had without.
    if correction is not None:
        document["correction"] = correction
    return document


@contextmanager
def gc_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector while building many small acyclic objects.

    Rating the country builds one tuple per agreement (30,000) and thousands of small dicts;
    the collector's passes over them cost more than the work itself (see docs/performance.md).
    Nothing built here forms reference cycles, and the collector is re-enabled afterwards.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def _same_as_stored(run: RatingRun, settings: Settings, ratings: list[RatingDoc], summary: dict[str, Any]) -> bool:
    """Whether a new revision would say exactly what `run` says: same method, parameters, summary and results."""
    def text(value: Any) -> str:
        return json.dumps(value, sort_keys=True, default=str)

    stored = sorted((r.document for r in run.results), key=lambda d: d["municipality"]["code"])
    fresh = sorted(ratings, key=lambda d: d["municipality"]["code"])
    return (run.method_version == settings.rating.method_version
            and text(run.parameters) == text(settings.rating.parameters())
            and text(run.summary or {}) == text(summary) and text(stored) == text(fresh))


def store_snapshot(engine: Engine, settings: Settings, as_of: dt.date, now: dt.datetime | None = None,
                   run: runs.JobRun | None = None, *, unless_unchanged: bool = False) -> int:
    """Compute and store a new revision for `as_of`; returns the revision number.

    With a `run`, its record is finished in the transaction that stores the revision. With
    `unless_unchanged`, a computation that says exactly what the newest revision of `as_of` says
    stores nothing and returns that revision: a scheduled run after the catch-up adds no copy
    to the history.
    """
    factory = session_factory(engine)
    refresh_weeks(factory)
    for attempt in range(3):
        try:
            with session_scope(factory) as session:
                check_method(session, settings)
                ratings, summary = compute(session, settings, as_of)
                newest = _newest_run(session, as_of) if unless_unchanged else None
                if newest is not None and _same_as_stored(newest, settings, ratings, summary):
                    if run is not None:
                        run.finish(session, True, f"as_of {as_of} revision {newest.revision} unchanged",
                                   details={"as_of": as_of.isoformat(), "revision": newest.revision,
                                            "unchanged": 1})
                    return newest.revision
                revision = 1 + (session.scalar(select(func.max(RatingRun.revision))
                                               .where(RatingRun.as_of == as_of)) or 0)
                stored = RatingRun(as_of=as_of, revision=revision, method_version=settings.rating.method_version,
                                   parameters=settings.rating.parameters(), summary=summary,
                                   computed_at=now or utcnow())
                stored.results = [RatingResult(municipality_code=r["municipality"]["code"], score=r["score"],
                                               status=r["status"], document=r) for r in ratings]
                session.add(stored)
                if run is not None:
                    run.finish(session, True, f"as_of {as_of} revision {revision}",
                               details=runs.RatingDetails(as_of=as_of.isoformat(), revision=revision))
            return revision
        except IntegrityError:
            # Another process stored the same revision number first: take the next one.
            if attempt == 2:
                raise
    raise AssertionError("unreachable")  # pragma: no cover


def refresh_weeks(factory: Callable[[], Session]) -> None:
    """Recompute the weeks written since the last run (`weektable.refresh`), in a transaction of its own.

    Only the speed of the rating depends on it (a stale week is read from its days): a failure
    is logged and the rating goes on.
    """
    try:
        with session_scope(factory) as session:
            weeks = weektable.refresh(session)
        if weeks:
            log.info("recomputed %d stale weeks of agreement_weeks", len(weeks))
    except SQLAlchemyError:
        log.exception("could not recompute the stale weeks of agreement_weeks; the rating reads their days")


def _stored_document(run: RatingRun) -> RatingsDocument:
    # A stored result is the RatingDoc it was when stored (the JSON column is untyped).
    ratings = cast(list[RatingDoc], sorted((r.document for r in run.results), key=lambda d: d["municipality"]["code"]))
    return _document(run.as_of, run.method_version, run.parameters, run.summary or {}, ratings,
                     run.revision, run.computed_at)


def _newest_run(session: Session, as_of: dt.date) -> RatingRun | None:
    return session.scalars(select(RatingRun).where(RatingRun.as_of == as_of)
                           .order_by(RatingRun.revision.desc()).limit(1)).first()


def stored_document(session: Session, latest: dt.date, earliest: dt.date) -> RatingsDocument | None:
    """The newest stored revision with an as_of from `earliest` to `latest`, or None (nothing computed)."""
    run = session.scalars(select(RatingRun).where(RatingRun.as_of.between(earliest, latest))
                          .order_by(RatingRun.as_of.desc(), RatingRun.revision.desc()).limit(1)).first()
    return _stored_document(run) if run is not None else None


def _window(as_of: dt.date, days: int) -> WindowDoc:
    first, last = window(as_of, days)
    return {"first_day": first.isoformat(), "last_day": last.isoformat()}


def _latest_run(session: Session, latest: dt.date) -> RatingRun | None:
    return session.scalars(select(RatingRun).where(RatingRun.as_of <= latest)
                           .order_by(RatingRun.as_of.desc(), RatingRun.revision.desc()).limit(1)).first()


def ratings_document(session: Session, settings: Settings, as_of: dt.date | None = None) -> RatingsDocument:
    """The document of GET /api/v1/ratings and the pages: a stored snapshot whenever there is one.

    Without `as_of`: the newest stored revision of the newest as_of up to today, with its own
    as_of and computed_at, so the pages say which day they show and never compute on a request
    (the scheduler's catch-up job stores today's as soon as yesterday's data is in). Only an
    installation that has stored nothing yet computes today's, unstored. With `as_of`: that
    day's newest revision, else computed unstored (an explicit question about a day).
    """
    run = _latest_run(session, today()) if as_of is None else _newest_run(session, as_of)
    if run is not None:
        return _stored_document(run)
    as_of = as_of or today()
    ratings, summary = compute(session, settings, as_of)
    return _document(as_of, settings.rating.method_version, settings.rating.parameters(), summary, ratings,
                     None, utcnow())


def yearly_price(population: int, per_citizen: float, half_above: int) -> float:
    """KOMBIT's price: `per_citizen` kr per citizen a year, half for each citizen above `half_above`."""
    return per_citizen * min(population, half_above) + per_citizen / 2 * max(0, population - half_above)


def price(population: int | None, calls: int, window_days: int, settings: Settings) -> dict[str, Any]:
    """What the municipality pays per year and for the window, and per call in the window."""
    r = settings.rating
    base = {"price_per_citizen": r.price_per_citizen, "price_half_above": r.price_half_above,
            "window_days": window_days, "window_calls": calls}
    if not population:
        return {**base, "yearly": None, "window": None, "per_call": None}
    yearly = yearly_price(population, r.price_per_citizen, r.price_half_above)
    in_window = yearly * window_days / 365
    return {**base, "yearly": yearly, "window": in_window, "per_call": in_window / calls if calls else None}


def _part_scores(document: RatingDoc) -> dict[str, float | None]:
    parts = document["parts"]
    return {k: parts[k]["score"] if k in parts else None for k in PARTS}


def history(session: Session, code: str, as_of: dt.date) -> list[HistoryEntry]:
    """The newest stored revision per as_of up to `as_of` (about 13 months), oldest first."""
    first = as_of - dt.timedelta(days=HISTORY_DAYS)
    newest = (select(RatingRun.as_of, func.max(RatingRun.revision).label("revision"))
              .where(RatingRun.as_of.between(first, as_of)).group_by(RatingRun.as_of).subquery())
    q = (select(RatingRun.as_of, RatingRun.revision, RatingRun.method_version, RatingResult.score,
                RatingResult.document)
         .join(newest, and_(RatingRun.as_of == newest.c.as_of, RatingRun.revision == newest.c.revision))
         .join(RatingResult, RatingResult.run_id == RatingRun.id)
         .where(RatingResult.municipality_code == code).order_by(RatingRun.as_of))
    return [{"as_of": day.isoformat(), "score": score, "method_version": version, "revision": revision,
             "parts": _part_scores(document)}
            for day, revision, version, score, document in session.execute(q)]


def last_conclusive(history_rows: list[HistoryEntry], as_of: dt.date) -> ScoreOnDay | None:
    """The newest conclusive entry of `history` (as `history()` returns it) before `as_of`."""
    for h in reversed(history_rows):
        if h["score"] is not None and h["as_of"] < as_of.isoformat():
            return {"as_of": h["as_of"], "score": h["score"], "method_version": h["method_version"]}
    return None


def last_conclusive_scores(session: Session, as_of: dt.date) -> dict[str, ScoreOnDay]:
    """Per municipality: the newest stored conclusive score before `as_of` (about 13 months back).

    What the pages show beside today's "ikke afgørende"; one query over the scores only.
    """
    q = (select(RatingResult.municipality_code, RatingRun.as_of, RatingResult.score, RatingRun.method_version)
         .join(RatingResult, RatingResult.run_id == RatingRun.id)
         .where(RatingResult.score.is_not(None),
                RatingRun.as_of.between(as_of - dt.timedelta(days=HISTORY_DAYS), as_of - dt.timedelta(days=1)))
         .order_by(RatingRun.as_of.desc(), RatingRun.revision.desc()))
    found: dict[str, ScoreOnDay] = {}
    for code, day, score, version in session.execute(q):
        found.setdefault(code, {"as_of": day.isoformat(), "score": score, "method_version": version})
    return found


def _last_month(session: Session, code: str, as_of: dt.date) -> ScoreOnDay | None:
    target = as_of - dt.timedelta(days=LAST_MONTH_DAYS)
    q = (select(RatingRun.as_of, RatingRun.revision, RatingResult.score)
         .join(RatingResult, RatingResult.run_id == RatingRun.id)
         .where(RatingResult.municipality_code == code,
                RatingRun.as_of.between(target - dt.timedelta(days=LAST_MONTH_SLACK_DAYS), target))
         .order_by(RatingRun.as_of.desc(), RatingRun.revision.desc()).limit(1))
    row = session.execute(q).first()
    return None if row is None else {"as_of": row[0].isoformat(), "revision": row[1], "score": row[2]}


def normalise_code(code: str) -> str | None:
    """A 3-digit kommunekode from "101" or "0101"; None when it is no code at all.

    Only ASCII digits, nothing around them: "101 ", "00101" and "١٠١" are not codes, so the
    pages and the API answer alike.
    """
    if not (code.isascii() and code.isdigit()) or len(code) not in (3, 4) or (len(code) == 4 and code[0] != "0"):
        return None
    return code[-3:]


def municipality_document(session: Session, settings: Settings, code: str,
                          as_of: dt.date | None = None) -> MunicipalityDocument | None:
    """The document of GET /api/v1/municipalities/CODE, or None for an unknown code."""
    norm = normalise_code(code)
    m = session.get(Municipality, norm) if norm else None
    if m is None:
        return None
    doc = ratings_document(session, settings, as_of)
    as_of = dt.date.fromisoformat(doc["as_of"])  # the snapshot's day when none was asked for
    rating = next(r for r in doc["ratings"] if r["municipality"]["code"] == m.code)
    params = Parameters.from_mapping(doc["method"]["parameters"])
    window_end = window(as_of, params.window_days)[1]
    sums = queries.call_sums(session, as_of, params, municipality_code=m.code)
    redundant = {r["uuid"]: r for r in rating["parts"]["service_agreements"]["inputs"]["redundant_agreements"]}
    agreements: list[AgreementDoc] = []
    systems: dict[str, ItSystemDoc] = {}
    for a in sorted(queries.agreement_rows(session, municipality_code=m.code),
                    key=lambda a: (a.it_system_name or "", a.uuid)):
        s = sums.get(a.id, queries.CallSums())
        active = active_on(a.status, a.valid_from, a.valid_to, window_end)
        red = redundant.get(a.uuid)
        agreements.append({
            "uuid": a.uuid, "it_system": {"uuid": a.it_system_uuid, "name": a.it_system_name, "supplier": a.supplier},
            "services": sorted(a.services), "status": a.status, "active": active,
            "valid_from": a.valid_from.isoformat() if a.valid_from else None,
            "valid_to": a.valid_to.isoformat() if a.valid_to else None,
            "calls_window": s.window, "calls_recent": s.recent,
            "redundant": red is not None, "redundant_reasons": red["reasons"] if red else []})
        system = systems.setdefault(a.it_system_uuid, {
            "uuid": a.it_system_uuid, "name": a.it_system_name, "supplier": a.supplier,
            "agreements": 0, "active_agreements": 0, "calls_window": 0, "with_calls": False})
        system["agreements"] += 1
        system["calls_window"] += s.window
        if active:
            system["active_agreements"] += 1
            system["with_calls"] = system["with_calls"] or s.window > 0
    then = _last_month(session, m.code, as_of)
    past = history(session, m.code, as_of)
    change = (rating["score"] - then["score"]
              if then and then["score"] is not None and rating["score"] is not None else None)
    calls = rating["parts"]["calls_per_citizen"]["inputs"]["calls"]
    return {
        "municipality": {"code": m.code, "name": m.name, "region": m.region, "population": m.population,
                         "population_date": m.population_date.isoformat() if m.population_date else None,
                         "user_access_control": m.user_access_control},
        "as_of": doc["as_of"],
        "method": doc["method"],
        "stored": doc["stored"],
        "revision": doc["revision"],
        "window": doc["window"],
        "coverage": doc["coverage"],
        "data_through": doc["data_through"],
        "rating": rating,
        "change_since_last_month": change,
        "compared_with": then,
        "history": past,
        "last_conclusive": last_conclusive(past, as_of) if rating["score"] is None else None,
        "agreements": agreements,
        "it_systems": sorted(systems.values(), key=lambda s: (not s["with_calls"], s["name"] or "", s["uuid"])),
        "price": price(m.population, calls, params.window_days, settings),
    }


@dataclass(frozen=True)
class SnapshotScore:
    """One municipality's score in the newest stored run (for the metrics)."""

    code: str
    name: str
    score: float | None
    parts: dict[str, float | None]


def latest_snapshot_scores(session: Session) -> list[SnapshotScore]:
    """Scores and part scores of the newest revision of the newest stored as_of; no recomputation."""
    run_id = session.scalar(select(RatingRun.id).order_by(RatingRun.as_of.desc(), RatingRun.revision.desc())
                            .limit(1))
    if run_id is None:
        return []
    q = (select(RatingResult.municipality_code, Municipality.name, RatingResult.score, RatingResult.document)
         .join(Municipality, Municipality.code == RatingResult.municipality_code)
         .where(RatingResult.run_id == run_id).order_by(RatingResult.municipality_code))
    return [SnapshotScore(code, name, score, _part_scores(document))
            for code, name, score, document in session.execute(q)]


def rate_and_store(engine: Engine, settings: Settings, as_of: dt.date | None = None) -> RatingsDocument:
    """`monitor rate`: store a new revision for `as_of` (default today) and return its document.

    Raises `MethodChanged` when stored ratings carry this method version with other parameters.
    """
    assert_method_consistent(engine, settings)
    as_of = as_of or today()
    with runs.recorded_run(session_factory(engine), "rating") as run:
        store_snapshot(engine, settings, as_of, run=run)
    with session_factory(engine)() as session:
        return ratings_document(session, settings, as_of)


def catch_up(engine: Engine, settings: Settings, now: dt.datetime | None = None) -> int | None:
    """The scheduler's catch-up job: store today's snapshot as soon as yesterday's calls are all in.

    Nothing when today has a snapshot already or yesterday is not complete yet (see
    `queries.day_complete`); the daily run at [rating] daily_at stores one in any case. Returns
    the revision stored, or None.
    """
    as_of = today(now)
    with session_factory(engine)() as session:
        if _newest_run(session, as_of) is not None:
            return None
        if not queries.day_complete(session, as_of - dt.timedelta(days=1)):
            return None
    with runs.recorded_run(session_factory(engine), "rating", now) as run:
        return store_snapshot(engine, settings, as_of, now, run=run)


def run_daily(engine: Engine, settings: Settings, now: dt.datetime | None = None) -> int:
    """The scheduler's daily job: store a snapshot for today's as_of; returns its revision.

    When the catch-up stored today's already and nothing has changed since, no second copy is
    stored (the run is recorded as unchanged).

    The run record is finished in the snapshot's transaction; a failed run leaves no snapshot.
    """
    with runs.recorded_run(session_factory(engine), "rating", now) as run:
        return store_snapshot(engine, settings, today(run.started_at), now, run=run, unless_unchanged=True)
