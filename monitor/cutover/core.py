"""Cut-over health, the pure part: plain values and a `now` in, the API document out.

No database and no Flask here; `queries.py` gathers the inputs. The rules are SPEC
"Cut-over health"; the decisions it leaves open are in docs/cutover.md.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any
from zoneinfo import ZoneInfo

from ..settings import CutoverSettings

CPH = ZoneInfo("Europe/Copenhagen")
HOUR = dt.timedelta(hours=1)
# Every status a municipality can have, in the order the rules are tried.
STATUSES = ("unknown", "in_window", "pending", "red", "yellow", "green")


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
    silent: list[AgreementTraffic] = field(default_factory=list)

    def add(self, a: AgreementTraffic, silent: bool) -> None:
        self.observed_calls += a.observed_calls
        self.baseline_calls += a.baseline_calls
        self.errors += a.observed_errors
        self.error_calls += a.observed_error_calls
        self.error_rows += a.observed_error_rows
        self.baseline_rows += a.baseline_rows
        if silent:
            self.silent.append(a)

    def error_ratio(self) -> float | None:
        """errors / calls over the observed rows that carry an error count; None without any."""
        if self.error_rows == 0 or self.error_calls == 0:
            return None
        return self.errors / self.error_calls


def status(t: Tally, settings: CutoverSettings, window: Window, now: dt.datetime, wm: dt.datetime | None
           ) -> tuple[str, float | None, float | None]:
    """(status, call_ratio, error_ratio) of a tally; the first matching rule of SPEC wins."""
    call_ratio = ratio(t.observed_calls, t.baseline_calls, settings.min_municipality_baseline)
    error_ratio = t.error_ratio()
    if t.baseline_rows == 0:
        return "unknown", call_ratio, error_ratio
    if window.in_window(now):
        return "in_window", call_ratio, error_ratio
    if is_pending(window, now, wm):
        return "pending", call_ratio, error_ratio
    judged = call_ratio is not None
    if ((judged and t.observed_calls == 0) or (judged and call_ratio < settings.red_ratio)
            or (error_ratio is not None and error_ratio > settings.red_error_ratio)):
        return "red", call_ratio, error_ratio
    if (t.silent or (judged and call_ratio < settings.green_ratio)
            or (error_ratio is not None and error_ratio > settings.yellow_error_ratio)):
        return "yellow", call_ratio, error_ratio
    return "green", call_ratio, error_ratio


def is_silent(a: AgreementTraffic, settings: CutoverSettings) -> bool:
    """An active agreement with enough baseline calls and none observed."""
    return a.status == "active" and a.baseline_calls >= settings.min_baseline_calls and a.observed_calls == 0


def _system(uuid: str, name: str | None) -> dict[str, Any]:
    return {"uuid": uuid, "name": name}


def _silent_doc(a: AgreementTraffic) -> dict[str, Any]:
    return {"agreement_uuid": a.agreement_uuid, "it_system": _system(a.it_system_uuid, a.it_system_name),
            "supplier": a.supplier, "services": list(a.services), "baseline_calls": a.baseline_calls}


def _change_doc(c: FrozenZoneChange, frozen_zone_start: dt.datetime) -> dict[str, Any]:
    return {"agreement_uuid": c.agreement_uuid, "it_system": _system(c.it_system_uuid, c.it_system_name),
            "supplier": c.supplier, "status": c.status, "services": list(c.services),
            "change": "new" if c.first_seen_at > frozen_zone_start else "changed",
            "first_seen_at": iso(c.first_seen_at), "changed_at": iso(c.changed_at)}


def _group_doc(t: Tally, settings: CutoverSettings, window: Window, now: dt.datetime,
               wm: dt.datetime | None) -> dict[str, Any]:
    st, call_ratio, error_ratio = status(t, settings, window, now, wm)
    return {"status": st, "observed_calls": t.observed_calls, "baseline_calls": t.baseline_calls,
            "call_ratio": call_ratio, "error_ratio": error_ratio, "silent_agreements": len(t.silent)}


def evaluate(inputs: Inputs, settings: CutoverSettings, observed: Sequence[dt.datetime]) -> dict[str, Any]:
    """The GET /api/v1/cutover document for `inputs` (observed hours as given by `observed_span`)."""
    now, window, wm = inputs.now, inputs.window, inputs.watermark
    by_municipality: dict[str, Tally] = {code: Tally() for code, _ in inputs.municipalities}
    by_service: dict[str, Tally] = {}
    by_supplier: dict[str, Tally] = {}
    national = Tally()
    for a in inputs.traffic:
        silent = is_silent(a, settings)
        by_municipality.setdefault(a.municipality_code, Tally()).add(a, silent)
        national.add(a, silent)
        # An agreement with several services counts for each of them.
        for service in a.services:
            by_service.setdefault(service, Tally()).add(a, silent)
        by_supplier.setdefault(a.supplier or "", Tally()).add(a, silent)

    changes: dict[str, list[dict[str, Any]]] = {}
    if window.frozen_zone_start is not None:
        for c in sorted(inputs.changes, key=lambda c: (c.changed_at, c.agreement_uuid)):
            changes.setdefault(c.municipality_code, []).append(_change_doc(c, window.frozen_zone_start))

    municipalities = []
    counts = dict.fromkeys(STATUSES, 0)
    tasks_done = tasks_total = 0
    for code, name in sorted(inputs.municipalities):
        t = by_municipality[code]
        st, call_ratio, error_ratio = status(t, settings, window, now, wm)
        counts[st] += 1
        done, total = inputs.tasks.get(code, (0, 0))
        tasks_done += done
        tasks_total += total
        municipalities.append({
            "code": code, "name": name, "status": st,
            "observed_calls": t.observed_calls, "baseline_calls": t.baseline_calls,
            "call_ratio": call_ratio, "error_ratio": error_ratio,
            "silent_agreements": [_silent_doc(a) for a in
                                  sorted(t.silent, key=lambda a: (-a.baseline_calls, a.agreement_uuid))],
            "frozen_zone_changes": changes.get(code, []),
            "tasks_done": done, "tasks_total": total,
        })

    services = [{"id": sid, "name": inputs.service_names.get(sid), **_group_doc(t, settings, window, now, wm)}
                for sid, t in sorted(by_service.items(), key=lambda kv: (-kv[1].baseline_calls, kv[0]))]
    suppliers = [{"name": name or None, **_group_doc(t, settings, window, now, wm)}
                 for name, t in sorted(by_supplier.items(), key=lambda kv: (-kv[1].baseline_calls, kv[0]))]
    pairs = compared_hours(observed, settings.baseline_days)
    return {
        "now": iso(now),
        "watermark": iso(wm),
        "window": {
            "start": iso(window.start), "end": iso(window.end),
            "frozen_zone_start": iso(window.frozen_zone_start), "source": window.source,
            "in_window": window.in_window(now), "pending": is_pending(window, now, wm),
            "observed_from": iso(pairs[0][0]) if pairs else None,
            "observed_to": iso(pairs[-1][0] + HOUR) if pairs else None,
            "observed_hours": len(pairs),
            "baseline_hours": [iso(b) for _, b in pairs],
            "lookback_hours": settings.lookback_hours, "baseline_days": settings.baseline_days,
        },
        "national": {
            **_group_doc(national, settings, window, now, wm),
            "status_counts": counts,
            "tasks_done": tasks_done, "tasks_total": tasks_total,
            "services": services,
            "suppliers": suppliers,
        },
        "municipalities": municipalities,
    }
