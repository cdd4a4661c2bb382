"""What /skift shows, shaped from the cut-over document: the phase, the statuses the page may
state, what needs action first, the chosen municipality, and the rest folded and searchable.

The document is the API's (`GET /api/v1/cutover`). Where a field of issue 23's contract is
missing (`phase`, `not_judged`, the two thresholds of a calls reason) it is derived here from
what the document does carry, so the page never says more than the document knows.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from .overview import danish_key, search_rows

PHASES = ("before", "in_window", "pending", "after")
# Red first: what needs attention comes before what is fine.
ORDER = ("red", "yellow", "pending", "in_window", "unknown", "not_judged", "green")
ACTION = ("red", "yellow")
GREY = ("unknown", "in_window", "pending", "not_judged")
# Folded away, in this order: nothing to do for them, but a lead may look one up.
FOLDED = ("unknown", "pending", "in_window", "not_judged", "green")
# Red rows are always shown; yellow ones beyond this many wait behind "show more".
ACTION_SHOWN = 10
QUERY_MAX_CHARS = 100
# Said once in the lead, never on each of 98 rows.
PHASE_REASONS = ("in_window", "pending")
CALLS_REASONS = ("calls_below_red", "calls_below_green", "calls_not_significant", "calls_normal")


@dataclass
class CutoverPage:
    """Everything the template needs, in the order the page shows it."""

    doc: dict[str, Any]
    phase: str | None
    rows: list[dict[str, Any]]
    counts: dict[str, int]
    action: list[dict[str, Any]]
    action_more: list[dict[str, Any]]
    chosen: dict[str, Any] | None
    folded: list[tuple[str, list[dict[str, Any]]]]
    query: str
    matches: int | None
    open_tasks: int
    municipalities_with_open_tasks: int
    silent_share_rule: dict[str, Any] | None = None
    task_rows: list[dict[str, Any]] = field(default_factory=list)  # open tasks first, then by name
    frozen_zone_started: bool = False
    first_hour: tuple[str, str] | None = None  # pending: the whole hour after the window that is awaited
    action_matches: list[dict[str, Any]] = field(default_factory=list)

    @property
    def show_calls(self) -> bool:
        """Whether a call count "now" means anything: not in the window, not before its first hour after."""
        return self.phase not in ("in_window", "pending")
    names: list[tuple[str, str]] = field(default_factory=list)


def _instant(text: str) -> dt.datetime:
    t = dt.datetime.fromisoformat(text)
    return t if t.tzinfo is not None else t.replace(tzinfo=dt.UTC)


def phase_of(doc: dict[str, Any], now: dt.datetime) -> str | None:
    """The document's `phase`, or the same derived from its window; None without a window."""
    if doc.get("phase") in PHASES:
        return str(doc["phase"])
    w = doc.get("window") or {}
    if not w.get("start") or not w.get("end"):
        return None
    at = _instant(doc["now"]) if doc.get("now") else now
    if at < _instant(w["start"]):
        return "before"
    if at < _instant(w["end"]):
        return "in_window"
    return "pending" if w.get("pending") else "after"


def _not_judged(status: str, reasons: list[dict[str, Any]]) -> bool:
    """A green whose ratio was not judged (too small a baseline) and that nothing else decided."""
    return (status == "green" and any(r.get("code") == "baseline_too_small" for r in reasons)
            and not any(r.get("effect") in ACTION for r in reasons))


def _reason(r: dict[str, Any], thresholds: dict[str, Any]) -> dict[str, Any]:
    """A reason with both thresholds of a calls reason, from the config when the core left them out."""
    if r.get("code") not in CALLS_REASONS:
        return r
    return {"green_ratio": thresholds.get("green_ratio"), "red_ratio": thresholds.get("red_ratio"), **r}


def shaped(item: dict[str, Any], thresholds: dict[str, Any], phase: str | None) -> dict[str, Any]:
    """A municipality, service, supplier or the nation as the page states it (a copy).

    Green with a baseline too small to judge is `not_judged`; in the window no call count is
    "now" (the platform is closed); the phase's own reason is said once in the lead instead.
    """
    reasons = list(item.get("reasons") or [])
    out = dict(item)
    if _not_judged(out.get("status", ""), reasons):
        out["status"] = "not_judged"
    if phase == "in_window":
        out["observed_calls"] = out["call_ratio"] = None
    out["reasons"] = [_reason(r, thresholds) for r in reasons if r.get("code") not in PHASE_REASONS]
    return out


def chosen_code(raw: str | None, codes: set[str]) -> str | None:
    """A kommunekode as typed ("0101", "101") that is one of `codes`, else None."""
    text = (raw or "").strip()
    if not text.isdigit() or len(text) > 4:
        return None
    code = text.lstrip("0").rjust(3, "0")
    return code if code in codes else None


def _order_key(m: dict[str, Any]) -> tuple[Any, ...]:
    ratio = m.get("call_ratio")
    return (ORDER.index(m["status"]) if m["status"] in ORDER else len(ORDER),
            ratio if ratio is not None else 9e9, danish_key(m["name"]))


def build(doc: dict[str, Any], now: dt.datetime, *, kommune: str | None = None, query: str = "") -> CutoverPage:
    """The page for `doc` at `now`, with municipality `kommune` first and the folded rows matching `query`."""
    phase = phase_of(doc, now)
    th = doc.get("thresholds") or {}
    rows = sorted((shaped(m, th, phase) for m in doc.get("municipalities", [])), key=_order_key)
    national = dict(doc.get("national") or {})
    if national:
        national.update(shaped(national, th, phase))
        for key in ("services", "suppliers"):
            national[key] = [shaped(g, th, phase) for g in national.get(key) or []]
    page_doc = {**doc, "national": national, "phase": phase}
    counts = {s: sum(1 for m in rows if m["status"] == s) for s in ORDER}

    action = [m for m in rows if m["status"] in ACTION]
    reds = sum(1 for m in action if m["status"] == "red")
    shown = max(reds, ACTION_SHOWN)
    query = query.strip()[:QUERY_MAX_CHARS]
    candidates = [m for m in rows if m["status"] not in ACTION]
    matching = search_rows(candidates, query) if query else candidates
    folded = [(s, sorted((m for m in matching if m["status"] == s), key=lambda m: danish_key(m["name"])))
              for s in FOLDED]
    folded += [("other", [m for m in matching if m["status"] not in ORDER])]
    code = chosen_code(kommune, {m["code"] for m in rows})
    open_tasks = sum(m.get("tasks_total", 0) - m.get("tasks_done", 0) for m in rows)
    groups = [g for key in ("services", "suppliers") for g in national.get(key) or []]
    rule = next((r for g in groups for r in g["reasons"] if r.get("code") == "silent_share"), None)
    first_hour = None
    if phase == "pending" and (doc.get("window") or {}).get("end"):
        end = _instant(doc["window"]["end"]).astimezone(dt.UTC)
        hour = end.replace(minute=0, second=0, microsecond=0)
        hour = hour if hour == end else hour + dt.timedelta(hours=1)
        first_hour = (hour.isoformat(), (hour + dt.timedelta(hours=1)).isoformat())
    w = doc.get("window") or {}
    at = _instant(doc["now"]) if doc.get("now") else now
    frozen: str | None = w.get("frozen_zone_start") or None
    return CutoverPage(
        doc=page_doc, phase=phase, rows=rows, counts=counts, action=action[:shown], action_more=action[shown:],
        chosen=next((m for m in rows if m["code"] == code), None),
        folded=[(s, ms) for s, ms in folded if ms], query=query,
        matches=sum(len(ms) for _, ms in folded) if query else None,
        open_tasks=open_tasks,
        municipalities_with_open_tasks=sum(1 for m in rows if m.get("tasks_total", 0) > m.get("tasks_done", 0)),
        silent_share_rule=rule, first_hour=first_hour,
        frozen_zone_started=frozen is not None and _instant(frozen) <= at,
        task_rows=sorted((m for m in rows if m.get("tasks")),
                         key=lambda m: (m.get("tasks_done", 0) >= m.get("tasks_total", 0), danish_key(m["name"]))),
        action_matches=search_rows(action, query) if query else [],
        names=sorted(((m["code"], m["name"]) for m in rows), key=lambda cn: danish_key(cn[1])))
