"""Cut-over health, the pure part: plain values and a `now` in, the API document out.

No database and no Flask here; `queries.py` gathers the inputs. The rules are SPEC
"Cut-over health"; the decisions it leaves open are in docs/cutover.md.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass, field

from ..localtime import CPH
from ..settings import CutoverSettings
from . import poisson
from .documents import Acknowledgement as AckDoc
from .documents import (
    CutoverDocument,
    Group,
    MunicipalityStatus,
    National,
    Reason,
    ServiceStatus,
    SilentAgreement,
    SupplierStatus,
    SystemRef,
    TaskDoc,
    Thresholds,
    WindowDoc,
)
from .documents import FrozenZoneChange as ChangeDoc

HOUR = dt.timedelta(hours=1)
# An observed hour with the baseline hours it is compared with, one for each week that counts.
Comparison = tuple[dt.datetime, tuple[dt.datetime, ...]]
# Every status a municipality can have, in the order the rules are tried.
STATUSES = ("unknown", "in_window", "pending", "red", "yellow", "not_judged", "green")
# The statuses that are no judgement of the calls: shown grey, never counted as green.
GREY = ("unknown", "in_window", "pending", "not_judged")
PHASES = ("before", "in_window", "pending", "after")


@dataclass(frozen=True)
class Window:
    """The planned switch-over window; any part may be missing."""

    start: dt.datetime | None = None
    end: dt.datetime | None = None
    frozen_zone_start: dt.datetime | None = None
    source: str | None = None  # "config" | "demo" | None

    def in_window(self, now: dt.datetime) -> bool:
        """True while `now` lies in [start, end)."""
        return self.start is not None and self.end is not None and self.start <= now < self.end

    def spans(self) -> list[tuple[dt.datetime, dt.datetime]]:
        """The window as a span [start, end) to leave out of baselines, when it has both ends."""
        return [(self.start, self.end)] if self.start is not None and self.end is not None else []


@dataclass(frozen=True)
class AgreementTraffic:
    """One agreement with its calls in the observed hours and in their baseline hours."""

    agreement_uuid: str
    municipality_code: str
    status: str
    it_system_uuid: str
    it_system_name: str | None
    supplier: str | None
    services: tuple[str, ...]
    observed_calls: int = 0
    observed_errors: int = 0
    observed_error_calls: int = 0  # calls in the observed rows that carry an error count
    observed_error_rows: int = 0
    baseline_calls: int = 0
    baseline_rows: int = 0


@dataclass(frozen=True)
class FrozenZoneChange:
    """An agreement first seen, or seen to change, after the frozen zone started."""

    agreement_uuid: str
    municipality_code: str
    status: str
    it_system_uuid: str
    it_system_name: str | None
    supplier: str | None
    services: tuple[str, ...]
    first_seen_at: dt.datetime
    changed_at: dt.datetime


@dataclass(frozen=True)
class Task:
    """One cut-over task of a municipality, as imported."""

    municipality_code: str
    task: str
    done: bool
    deadline: dt.date | None = None


@dataclass(frozen=True)
class Acknowledgement:
    """An operator's note that a red or yellow municipality (or one silent agreement) is known."""

    id: int
    municipality_code: str
    agreement_uuid: str | None
    note: str
    operator: str
    created_at: dt.datetime
    status: str  # the municipality's status when it was acknowledged
    ended_at: dt.datetime | None = None


@dataclass(frozen=True)
class Inputs:
    """Everything `evaluate` needs, gathered by the query layer."""

    now: dt.datetime
    window: Window
    watermark: dt.datetime | None
    municipalities: Sequence[tuple[str, str]]  # (code, name)
    traffic: Sequence[AgreementTraffic] = ()
    changes: Sequence[FrozenZoneChange] = ()
    tasks: dict[str, tuple[int, int]] = field(default_factory=dict)  # code -> (done, total)
    service_names: dict[str, str | None] = field(default_factory=dict)
    task_list: Sequence[Task] = ()
    acknowledgements: Sequence[Acknowledgement] = ()
    # The observed hours with their baseline hours; None: every week counts (see `comparisons`).
    compared: Sequence[Comparison] | None = None


def iso(t: dt.datetime | None) -> str | None:
    """An instant as ISO 8601 with its offset, in UTC."""
    return None if t is None else t.astimezone(dt.UTC).isoformat()


def floor_hour(t: dt.datetime) -> dt.datetime:
    """The start of the UTC hour `t` lies in."""
    return t.astimezone(dt.UTC).replace(minute=0, second=0, microsecond=0)


def ceil_hour(t: dt.datetime) -> dt.datetime:
    """The first UTC hour boundary at or after `t`."""
    f = floor_hour(t)
    return f if f == t else f + HOUR


def watermark(newest_complete_hour: dt.datetime | None, now: dt.datetime) -> dt.datetime | None:
    """The end of the newest complete hour with data, never later than `now`.

    `newest_complete_hour` is the start of the newest hour bucket that has data; an hour
    that has not ended at `now` is not complete, so it gives the hour before it.
    """
    if newest_complete_hour is None:
        return None
    end = floor_hour(newest_complete_hour) + HOUR
    return min(end, floor_hour(now))


def observed_span(window: Window, now: dt.datetime, wm: dt.datetime | None, lookback_hours: int
                  ) -> list[dt.datetime]:
    """The starts of the complete UTC hours observed at `now`.

    Normally the `lookback_hours` before the watermark. Once the window has ended and at
    least one complete hour after it has data, the hours before its end are left out:
    recovery is measured from the end, outage hours never count against anyone.
    """
    if wm is None:
        return []
    start = wm - lookback_hours * HOUR
    if window.end is not None and not pending_or_before_end(window, now, wm):
        start = max(start, ceil_hour(window.end))
    hours = []
    h = start
    while h + HOUR <= wm:
        hours.append(h)
        h += HOUR
    return hours


def pending_or_before_end(window: Window, now: dt.datetime, wm: dt.datetime | None) -> bool:
    """True until the window has ended and one complete hour after its end has data."""
    if window.end is None:
        return False
    return now < window.end or wm is None or wm < ceil_hour(window.end) + HOUR


def is_pending(window: Window, now: dt.datetime, wm: dt.datetime | None) -> bool:
    """The window has ended but less than one complete hour after it is observed."""
    return window.end is not None and now >= window.end and pending_or_before_end(window, now, wm)


def phase(window: Window, now: dt.datetime, wm: dt.datetime | None) -> str:
    """Where `now` lies against the window: "before", "in_window", "pending" or "after".

    Without a window (or with only its end) there is no "before": the statuses are judged as
    after a move, so the phase is "after".
    """
    if window.start is not None and now < window.start:
        return "before"
    if window.in_window(now):
        return "in_window"
    if is_pending(window, now, wm):
        return "pending"
    return "after"


def baseline_hour(hour: dt.datetime, baseline_days: int) -> dt.datetime | None:
    """The UTC start of the same Copenhagen wall-clock hour `baseline_days` earlier.

    The wall-clock hour is taken in Copenhagen and moved by calendar days, then converted
    back: across a DST change this is not 24·days hours earlier. A wall-clock hour that
    occurred twice (October) maps to its first occurrence; one that did not exist (March)
    has no baseline and gives None.
    """
    local = hour.astimezone(CPH).replace(tzinfo=None) - dt.timedelta(days=baseline_days)
    aware = local.replace(tzinfo=CPH, fold=0)
    utc = aware.astimezone(dt.UTC)
    if utc.astimezone(CPH).replace(tzinfo=None) != local:  # skipped by the spring change
        return None
    return utc


def compared_hours(observed: Iterable[dt.datetime], baseline_days: int) -> list[tuple[dt.datetime, dt.datetime]]:
    """Pairs (observed hour, baseline hour); hours without a baseline hour are left out of both."""
    pairs = []
    for h in observed:
        b = baseline_hour(h, baseline_days)
        if b is not None:
            pairs.append((h, b))
    return pairs


def comparisons(observed: Iterable[dt.datetime], settings: CutoverSettings,
                left_out: Sequence[tuple[dt.datetime, dt.datetime]] = (),
                hours_with_data: Collection[dt.datetime] | None = None) -> list[Comparison]:
    """Each observed hour with its baseline hours: the same wall-clock hour `baseline_days`,
    2 × `baseline_days`, … earlier, `baseline_weeks` times.

    A week's hour is left out when it never existed (the spring change), lies in one of the
    spans `left_out` ([start, end): the window, planned outages) or, given `hours_with_data`,
    the platform has no call data for it at all (before the data begins, or an hour never
    imported). An observed hour left with no baseline hour is left out of both sums.
    """
    out = []
    for h in observed:
        weeks = []
        for k in range(1, settings.baseline_weeks + 1):
            b = baseline_hour(h, k * settings.baseline_days)
            if b is None or any(start <= b < end for start, end in left_out):
                continue
            if hours_with_data is not None and b not in hours_with_data:
                continue
            weeks.append(b)
        if weeks:
            out.append((h, tuple(weeks)))
    return out


def median(values: Sequence[int]) -> float:
    """The middle value; for an even count the mean of the two middle ones."""
    ordered = sorted(values)
    mid = len(ordered) // 2
    return float(ordered[mid]) if len(ordered) % 2 else (ordered[mid - 1] + ordered[mid]) / 2


def agreement_baseline(calls: dict[dt.datetime, int], compared: Sequence[Comparison]) -> int:
    """An agreement's baseline: per observed hour the median over its weeks, summed, in whole calls.

    An hour of a counted week without a row for the agreement is 0 calls (files leave out
    agreements that made none). Halves round up.
    """
    total = sum(median([calls.get(b, 0) for b in weeks]) for _, weeks in compared)
    return int(total + 0.5)


def ratio(numerator: int, denominator: int, min_denominator: int) -> float | None:
    """numerator / denominator, or None when the denominator is too small to judge (never infinite)."""
    if denominator <= 0 or denominator < min_denominator:
        return None
    return numerator / denominator


@dataclass
class Tally:
    """Running sums for a municipality, a service, a supplier or the whole platform."""

    observed_calls: int = 0
    baseline_calls: int = 0
    errors: int = 0
    error_calls: int = 0
    error_rows: int = 0
    baseline_rows: int = 0
    judged_agreements: int = 0  # active, with enough baseline calls to be silent
    silent: list[AgreementTraffic] = field(default_factory=list)

    def add(self, a: AgreementTraffic, silent: bool, judged: bool = True) -> None:
        self.observed_calls += a.observed_calls
        self.baseline_calls += a.baseline_calls
        self.errors += a.observed_errors
        self.error_calls += a.observed_error_calls
        self.error_rows += a.observed_error_rows
        self.baseline_rows += a.baseline_rows
        self.judged_agreements += judged
        if silent:
            self.silent.append(a)

    def error_ratio(self) -> float | None:
        """errors / calls over the observed rows that carry an error count; None without any."""
        if self.error_rows == 0 or self.error_calls == 0:
            return None
        return self.errors / self.error_calls


@dataclass(frozen=True)
class Judgement:
    """A status with the ratios behind it and its reasons, the deciding ones first."""

    status: str
    call_ratio: float | None
    error_ratio: float | None
    reasons: tuple[Reason, ...]


def _calls_reason(code: str, effect: str, call_ratio: float, threshold: float, p_value: float | None,
                  settings: CutoverSettings, below_green: bool, below_red: bool) -> Reason:
    """A reason about the calls, with both thresholds and whether the shortfall from each is significant."""
    return {"code": code, "effect": effect, "call_ratio": call_ratio, "threshold": threshold,
            "p_value": p_value, "significance": settings.significance,
            "green_ratio": settings.green_ratio, "red_ratio": settings.red_ratio,
            "below_green_significant": below_green, "below_red_significant": below_red}


def _calls_reasons(t: Tally, settings: CutoverSettings, call_ratio: float | None) -> list[Reason]:
    """What the calls say: too few to judge, none, or a ratio against both thresholds."""
    if call_ratio is None:
        return [{"code": "baseline_too_small", "effect": "not_judged", "baseline_calls": t.baseline_calls,
                 "min_baseline": settings.min_municipality_baseline}]
    if t.observed_calls == 0:
        return [{"code": "no_calls", "effect": "red", "baseline_calls": t.baseline_calls}]
    if call_ratio >= settings.green_ratio:
        return [_calls_reason("calls_normal", "none", call_ratio, settings.green_ratio, None, settings,
                              False, False)]
    below_red, p_red = poisson.significantly_below(t.observed_calls, settings.red_ratio, t.baseline_calls,
                                                   settings.significance)
    below_green, p_green = poisson.significantly_below(t.observed_calls, settings.green_ratio,
                                                       t.baseline_calls, settings.significance)
    if below_red:
        return [_calls_reason("calls_below_red", "red", call_ratio, settings.red_ratio, p_red, settings,
                              below_green, below_red)]
    if below_green:
        return [_calls_reason("calls_below_green", "yellow", call_ratio, settings.green_ratio, p_green, settings,
                              below_green, below_red)]
    threshold, p = ((settings.red_ratio, p_red) if call_ratio < settings.red_ratio
                    else (settings.green_ratio, p_green))
    return [_calls_reason("calls_not_significant", "none", call_ratio, threshold, p, settings,
                          below_green, below_red)]


def _errors_reasons(error_ratio: float | None, settings: CutoverSettings) -> list[Reason]:
    if error_ratio is not None and error_ratio > settings.red_error_ratio:
        return [{"code": "errors_above_red", "effect": "red", "error_ratio": error_ratio,
                 "threshold": settings.red_error_ratio}]
    if error_ratio is not None and error_ratio > settings.yellow_error_ratio:
        return [{"code": "errors_above_yellow", "effect": "yellow", "error_ratio": error_ratio,
                 "threshold": settings.yellow_error_ratio}]
    return []


def silent_share_reason(t: Tally, settings: CutoverSettings) -> list[Reason]:
    """For a service, supplier or the platform: yellow only when enough of its agreements went silent.

    The share is of its judged agreements (active, with at least `min_baseline_calls` in the
    baseline): yellow when at least `silent_count` of them and at least `silent_share` of
    them are silent. One silent agreement of a large supplier singles out that municipality,
    not the supplier.
    """
    count = len(t.silent)
    if count == 0:
        return []
    share = count / t.judged_agreements if t.judged_agreements else 1.0
    yellow = count >= settings.silent_count and share >= settings.silent_share
    return [{"code": "silent_share", "effect": "yellow" if yellow else "none", "count": count,
             "total": t.judged_agreements, "share": share, "min_share": settings.silent_share,
             "min_count": settings.silent_count}]


# How much each effect weighs: the worst one present is the status.
_EFFECT_ORDER = {"red": 0, "yellow": 1, "not_judged": 2, "none": 3}


def judge(t: Tally, settings: CutoverSettings, window: Window, now: dt.datetime, wm: dt.datetime | None,
          *, aggregate: bool = False) -> Judgement:
    """The status of a tally and every reason for it; the first matching rule of SPEC wins.

    A call ratio below `red_ratio` or `green_ratio` only counts when it is significant: the
    chance of seeing at most the observed calls from a Poisson process at that ratio × the
    baseline is below `significance`. Each reason carries an `effect` (the colour it pushes
    towards, "not_judged" for a baseline too small to judge, or "none" for one that explains
    without deciding) and its numbers. A municipality is yellow for any silent agreement; an
    `aggregate` (a service, a supplier, the platform) only for a share of them. In the window
    nothing observed is judged or shown: those figures are from before it.
    """
    call_ratio = ratio(t.observed_calls, t.baseline_calls, settings.min_municipality_baseline)
    error_ratio = t.error_ratio()
    if t.baseline_rows == 0:
        return Judgement("unknown", call_ratio, error_ratio, ({"code": "no_baseline", "effect": "unknown"},))
    if window.in_window(now):
        return Judgement("in_window", None, None,
                         ({"code": "in_window", "effect": "none", "start": iso(window.start),
                           "end": iso(window.end)},))
    if is_pending(window, now, wm):
        return Judgement("pending", call_ratio, error_ratio,
                         ({"code": "pending", "effect": "pending", "end": iso(window.end), "watermark": iso(wm)},))
    reasons: list[Reason] = _calls_reasons(t, settings, call_ratio) + _errors_reasons(error_ratio, settings)
    if aggregate:
        reasons += silent_share_reason(t, settings)
    elif t.silent:
        reasons.append({"code": "silent_agreements", "effect": "yellow", "count": len(t.silent)})
    reasons.sort(key=lambda r: _EFFECT_ORDER[r["effect"]])  # stable: the rule order within a colour stays
    worst = reasons[0]["effect"] if reasons else "none"
    return Judgement("green" if worst == "none" else worst, call_ratio, error_ratio, tuple(reasons))


def status(t: Tally, settings: CutoverSettings, window: Window, now: dt.datetime, wm: dt.datetime | None
           ) -> tuple[str, float | None, float | None]:
    """(status, call_ratio, error_ratio) of a tally; see `judge` for the reasons."""
    j = judge(t, settings, window, now, wm)
    return j.status, j.call_ratio, j.error_ratio


def is_judged(a: AgreementTraffic, settings: CutoverSettings) -> bool:
    """An active agreement with enough baseline calls that its silence would mean something."""
    return a.status == "active" and a.baseline_calls >= settings.min_baseline_calls


def is_silent(a: AgreementTraffic, settings: CutoverSettings) -> bool:
    """An active agreement with enough baseline calls and none observed."""
    return is_judged(a, settings) and a.observed_calls == 0


def _system(uuid: str, name: str | None) -> SystemRef:
    return {"uuid": uuid, "name": name}


def _silent_doc(a: AgreementTraffic, ack: AckDoc | None) -> SilentAgreement:
    return {"agreement_uuid": a.agreement_uuid, "it_system": _system(a.it_system_uuid, a.it_system_name),
            "supplier": a.supplier, "services": list(a.services), "baseline_calls": a.baseline_calls,
            "acknowledgement": ack}


def _change_doc(c: FrozenZoneChange, frozen_zone_start: dt.datetime) -> ChangeDoc:
    return {"agreement_uuid": c.agreement_uuid, "it_system": _system(c.it_system_uuid, c.it_system_name),
            "supplier": c.supplier, "status": c.status, "services": list(c.services),
            "change": "new" if c.first_seen_at > frozen_zone_start else "changed",
            "first_seen_at": iso(c.first_seen_at), "changed_at": iso(c.changed_at)}


def _group_doc(t: Tally, settings: CutoverSettings, window: Window, now: dt.datetime,
               wm: dt.datetime | None) -> Group:
    j = judge(t, settings, window, now, wm, aggregate=True)
    observed = None if window.in_window(now) else t.observed_calls  # from before the window: not "now"
    return {"status": j.status, "observed_calls": observed, "baseline_calls": t.baseline_calls,
            "call_ratio": j.call_ratio, "error_ratio": j.error_ratio, "silent_agreements": len(t.silent),
            "reasons": list(j.reasons)}


# How bad a status is, for acknowledgements: one given for yellow does not cover red.
_SEVERITY = {"yellow": 1, "red": 2}


def ack_is_active(ack: Acknowledgement, status: str, silent_uuids: set[str], settings: CutoverSettings,
                  now: dt.datetime) -> bool:
    """Whether an acknowledgement still holds at `now`.

    It holds from when it was given for `ack_hours`, while the municipality is red or yellow
    and no worse than when it was given (a yellow acknowledged does not hide a later red),
    and, for one agreement, while that agreement is silent. Once ended it stays ended.
    """
    if ack.ended_at is not None and ack.ended_at <= now:
        return False
    if not ack.created_at <= now < ack.created_at + dt.timedelta(hours=settings.ack_hours):
        return False
    if status not in _SEVERITY or _SEVERITY[status] > _SEVERITY.get(ack.status, 0):
        return False
    return ack.agreement_uuid is None or ack.agreement_uuid in silent_uuids


def _ack_doc(ack: Acknowledgement, settings: CutoverSettings) -> AckDoc:
    return {"id": ack.id, "agreement_uuid": ack.agreement_uuid, "note": ack.note,
            "operator": ack.operator,  # an address: whoever shows it to the public masks it (public_document)
            "status": ack.status, "created_at": iso(ack.created_at),
            "expires_at": iso(ack.created_at + dt.timedelta(hours=settings.ack_hours))}


def ending_acknowledgements(inputs: Inputs, settings: CutoverSettings, doc: CutoverDocument) -> list[int]:
    """Ids of acknowledgements not yet marked ended that no longer hold in `doc`.

    The query layer stores their end, so that a municipality that turned green and then
    yellow again is not covered by an old note.
    """
    return _ending(inputs, settings, {m["code"]: m for m in doc["municipalities"]})


def ending_in_municipality(inputs: Inputs, settings: CutoverSettings, status: MunicipalityStatus) -> list[int]:
    """`ending_acknowledgements` for one municipality: `inputs` and its `status` (`evaluate_municipality`)."""
    return _ending(inputs, settings, {status["code"]: status})


def _ending(inputs: Inputs, settings: CutoverSettings, by_code: dict[str, MunicipalityStatus]) -> list[int]:
    ending = []
    for ack in inputs.acknowledgements:
        m = by_code.get(ack.municipality_code)
        if ack.ended_at is not None or m is None:
            continue
        silent = {a["agreement_uuid"] for a in m["silent_agreements"]}
        if not ack_is_active(ack, m["status"], silent, settings, inputs.now):
            ending.append(ack.id)
    return ending


def _task_doc(t: Task) -> TaskDoc:
    return {"task": t.task, "done": t.done, "deadline": t.deadline.isoformat() if t.deadline else None}


@dataclass
class Tallies:
    """The sums of the traffic per municipality, service and supplier, and for the whole platform."""

    municipalities: dict[str, Tally]
    services: dict[str, Tally] = field(default_factory=dict)
    suppliers: dict[str, Tally] = field(default_factory=dict)
    national: Tally = field(default_factory=Tally)


@dataclass(frozen=True)
class PerMunicipality:
    """What the inputs hold for each municipality beside its traffic."""

    changes: dict[str, list[ChangeDoc]]  # frozen-zone changes as documents, oldest first
    tasks: dict[str, list[Task]]
    acknowledgements: dict[str, list[Acknowledgement]]  # newest first


def evaluate(inputs: Inputs, settings: CutoverSettings, observed: Sequence[dt.datetime]) -> CutoverDocument:
    """The GET /api/v1/cutover document for `inputs` (observed hours as given by `observed_span`)."""
    now, window, wm = inputs.now, inputs.window, inputs.watermark
    tallies = _tally(inputs, settings)
    per = _per_municipality(inputs)
    municipalities = [_municipality_doc(code, name, tallies.municipalities[code], per, inputs, settings)
                      for code, name in sorted(inputs.municipalities)]
    return {
        "now": iso(now),
        "watermark": iso(wm),
        "window": _window_doc(inputs, settings, observed),
        "phase": phase(window, now, wm),
        "thresholds": _thresholds_doc(settings),
        "support_url": settings.support_url or None,
        "national": _national_doc(tallies, municipalities, inputs, settings),
        "municipalities": municipalities,
    }


def evaluate_municipality(inputs: Inputs, settings: CutoverSettings, code: str) -> MunicipalityStatus | None:
    """The element of `evaluate(...)["municipalities"]` for `code`; None when `inputs` do not list it.

    A municipality's status reads only its own tally (its agreements' traffic), its own
    frozen-zone changes, tasks and acknowledgements, and the window, the watermark and `now`:
    inputs holding only that municipality give the same element as the whole country's.
    """
    name = next((n for c, n in inputs.municipalities if c == code), None)
    if name is None:
        return None
    tallies = _tally(inputs, settings)
    return _municipality_doc(code, name, tallies.municipalities[code], _per_municipality(inputs), inputs, settings)


def _tally(inputs: Inputs, settings: CutoverSettings) -> Tallies:
    """Add each agreement's traffic to its municipality, its services, its supplier and the platform."""
    tallies = Tallies(municipalities={code: Tally() for code, _ in inputs.municipalities})
    # In the window the observed hours lie before it: nobody is silent for that.
    in_window = inputs.window.in_window(inputs.now)
    for a in inputs.traffic:
        silent, judged = not in_window and is_silent(a, settings), is_judged(a, settings)
        tallies.municipalities.setdefault(a.municipality_code, Tally()).add(a, silent, judged)
        tallies.national.add(a, silent, judged)
        # An agreement with several services counts for each of them.
        for service in a.services:
            tallies.services.setdefault(service, Tally()).add(a, silent, judged)
        tallies.suppliers.setdefault(a.supplier or "", Tally()).add(a, silent, judged)
    return tallies


def _per_municipality(inputs: Inputs) -> PerMunicipality:
    """The frozen-zone changes, tasks and acknowledgements, grouped by municipality code."""
    changes: dict[str, list[ChangeDoc]] = {}
    frozen_zone_start = inputs.window.frozen_zone_start
    if frozen_zone_start is not None:
        for c in sorted(inputs.changes, key=lambda c: (c.changed_at, c.agreement_uuid)):
            changes.setdefault(c.municipality_code, []).append(_change_doc(c, frozen_zone_start))
    tasks: dict[str, list[Task]] = {}
    for task in inputs.task_list:
        tasks.setdefault(task.municipality_code, []).append(task)
    acks: dict[str, list[Acknowledgement]] = {}
    for ack in sorted(inputs.acknowledgements, key=lambda a: (a.created_at, a.id), reverse=True):
        acks.setdefault(ack.municipality_code, []).append(ack)
    return PerMunicipality(changes, tasks, acks)


def _active_acknowledgements(acks: Sequence[Acknowledgement], status: str, silent: Sequence[AgreementTraffic],
                            settings: CutoverSettings, now: dt.datetime
                            ) -> tuple[Acknowledgement | None, dict[str, Acknowledgement]]:
    """The newest acknowledgement of the whole municipality that holds, and the newest per silent agreement."""
    silent_uuids = {a.agreement_uuid for a in silent}
    active = [a for a in acks if ack_is_active(a, status, silent_uuids, settings, now)]
    whole = next((a for a in active if a.agreement_uuid is None), None)
    per_agreement: dict[str, Acknowledgement] = {}
    for ack in active:
        if ack.agreement_uuid is not None:
            per_agreement.setdefault(ack.agreement_uuid, ack)  # the newest one per agreement
    return whole, per_agreement


def _municipality_doc(code: str, name: str, t: Tally, per: PerMunicipality, inputs: Inputs,
                     settings: CutoverSettings) -> MunicipalityStatus:
    """One element of the document's "municipalities": status, reasons, silent agreements, tasks."""
    now, window = inputs.now, inputs.window
    j = judge(t, settings, window, now, inputs.watermark)
    whole, per_agreement = _active_acknowledgements(per.acknowledgements.get(code, []), j.status, t.silent,
                                                   settings, now)
    silent_docs: list[SilentAgreement] = []
    for a in sorted(t.silent, key=lambda a: (-a.baseline_calls, a.agreement_uuid)):
        acked = per_agreement.get(a.agreement_uuid)
        silent_docs.append(_silent_doc(a, _ack_doc(acked, settings) if acked else None))
    done, total = inputs.tasks.get(code, (0, 0))
    tasks = sorted(per.tasks.get(code, []), key=lambda x: (x.done, x.deadline or dt.date.max, x.task))
    return {
        "code": code, "name": name, "status": j.status,
        "observed_calls": None if window.in_window(now) else t.observed_calls, "baseline_calls": t.baseline_calls,
        "call_ratio": j.call_ratio, "error_ratio": j.error_ratio,
        "reasons": list(j.reasons),
        "silent_agreements": silent_docs,
        "frozen_zone_changes": per.changes.get(code, []),
        "tasks_done": done, "tasks_total": total,
        "tasks": [_task_doc(task) for task in tasks],
        "acknowledgement": _ack_doc(whole, settings) if whole else None,
    }


def _window_doc(inputs: Inputs, settings: CutoverSettings, observed: Sequence[dt.datetime]) -> WindowDoc:
    """The document's "window": the window itself, the observed hours and the baseline hours they compare with."""
    now, window, wm = inputs.now, inputs.window, inputs.watermark
    compared = (inputs.compared if inputs.compared is not None
                else comparisons(observed, settings, window.spans()))
    return {
        "start": iso(window.start), "end": iso(window.end),
        "frozen_zone_start": iso(window.frozen_zone_start), "source": window.source,
        "in_window": window.in_window(now), "pending": is_pending(window, now, wm),
        "observed_from": iso(compared[0][0]) if compared else None,
        "observed_to": iso(compared[-1][0] + HOUR) if compared else None,
        "observed_hours": len(compared),
        "baseline_hours": [iso(b) for b in sorted({b for _, weeks in compared for b in weeks})],
        "baseline_weeks_used": max((len(weeks) for _, weeks in compared), default=0),
        "lookback_hours": settings.lookback_hours, "baseline_days": settings.baseline_days,
        "baseline_weeks": settings.baseline_weeks,
    }


def _thresholds_doc(settings: CutoverSettings) -> Thresholds:
    """The document's "thresholds": every setting a status was judged by."""
    return {
        "green_ratio": settings.green_ratio, "red_ratio": settings.red_ratio,
        "yellow_error_ratio": settings.yellow_error_ratio, "red_error_ratio": settings.red_error_ratio,
        "significance": settings.significance, "min_baseline_calls": settings.min_baseline_calls,
        "min_municipality_baseline": settings.min_municipality_baseline, "ack_hours": settings.ack_hours,
        "silent_share": settings.silent_share, "silent_count": settings.silent_count,
    }


def _national_doc(tallies: Tallies, municipalities: Sequence[MunicipalityStatus], inputs: Inputs,
                 settings: CutoverSettings) -> National:
    """The document's "national": the platform judged as one, the municipalities counted, services and suppliers."""
    now, window, wm = inputs.now, inputs.window, inputs.watermark
    counts = dict.fromkeys(STATUSES, 0)
    for m in municipalities:
        counts[m["status"]] += 1
    services: list[ServiceStatus] = [{"id": sid, "name": inputs.service_names.get(sid), **_group_doc(t, settings, window, now, wm)}
                for sid, t in sorted(tallies.services.items(), key=lambda kv: (-kv[1].baseline_calls, kv[0]))]
    suppliers: list[SupplierStatus] = [{"name": name or None, **_group_doc(t, settings, window, now, wm)}
                 for name, t in sorted(tallies.suppliers.items(), key=lambda kv: (-kv[1].baseline_calls, kv[0]))]
    return {
        **_group_doc(tallies.national, settings, window, now, wm),
        "status_counts": counts,
        "tasks_done": sum(m["tasks_done"] for m in municipalities),
        "tasks_total": sum(m["tasks_total"] for m in municipalities),
        "services": services,
        "suppliers": suppliers,
    }
