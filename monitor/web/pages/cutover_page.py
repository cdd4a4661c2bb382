"""What /skift shows, shaped from the cut-over document: the phase, the statuses the page may
state, what needs action first, the chosen municipality, and the rest folded and searchable.

The document is the API's (`GET /api/v1/cutover`, typed in `monitor.cutover.documents`); the
page shows it with every operator's address masked and says only what it holds.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any, TypeVar

from ...cutover.documents import (
    CutoverDocument,
    MunicipalityStatus,
    National,
    Reason,
    ServiceStatus,
    SupplierStatus,
    public_document,
)
from .overview import danish_key, search_rows

# Red first: what needs attention comes before what is fine.
ORDER = ("red", "yellow", "pending", "in_window", "unknown", "not_judged", "green")
ACTION = ("red", "yellow")
# Folded away, in this order: nothing to do for them, but a lead may look one up.
FOLDED = ("unknown", "pending", "in_window", "not_judged", "green")
# Red rows are always shown; yellow ones beyond this many wait behind "show more".
ACTION_SHOWN = 10
QUERY_MAX_CHARS = 100
# Said once in the lead, never on each of 98 rows.
PHASE_REASONS = ("in_window", "pending")

J = TypeVar("J", MunicipalityStatus, ServiceStatus, SupplierStatus, National)


@dataclass
class CutoverPage:
    """Everything the template needs, in the order the page shows it."""

    doc: CutoverDocument
    phase: str
    rows: list[MunicipalityStatus]
    counts: dict[str, int]
    action: list[MunicipalityStatus]
    action_more: list[MunicipalityStatus]
    chosen: MunicipalityStatus | None
    folded: list[tuple[str, list[MunicipalityStatus]]]
    query: str
    matches: int | None
    open_tasks: int
    municipalities_with_open_tasks: int
    silent_share_rule: Reason | None = None
    task_rows: list[MunicipalityStatus] = field(default_factory=list)  # open tasks first, then by name
    frozen_zone_started: bool = False
    first_hour: tuple[str, str] | None = None  # pending: the whole hour after the window that is awaited
    action_matches: list[MunicipalityStatus] = field(default_factory=list)

    @property
    def show_calls(self) -> bool:
        """Whether a call count "now" means anything: not in the window, not before its first hour after."""
        return self.phase not in ("in_window", "pending")
    names: list[tuple[str, str]] = field(default_factory=list)


def _instant(text: str) -> dt.datetime:
    t = dt.datetime.fromisoformat(text)
    return t if t.tzinfo is not None else t.replace(tzinfo=dt.UTC)


def shaped(item: J, phase: str) -> J:
    """A municipality, service, supplier or the nation as the page states it (a copy).

    In the window no call count is "now" (the platform is closed); the phase's own reason is
    said once in the lead instead.
    """
    out = item.copy()
    if phase == "in_window":
        out["observed_calls"] = out["call_ratio"] = None
    out["reasons"] = [r for r in item["reasons"] if r["code"] not in PHASE_REASONS]
    return out


def chosen_code(raw: str | None, codes: set[str]) -> str | None:
    """A kommunekode as typed ("0101", "101") that is one of `codes`, else None."""
    text = (raw or "").strip()
    if not text.isdigit() or len(text) > 4:
        return None
    code = text.lstrip("0").rjust(3, "0")
    return code if code in codes else None


def _order_key(m: MunicipalityStatus) -> tuple[Any, ...]:
    ratio = m["call_ratio"]
    return (ORDER.index(m["status"]) if m["status"] in ORDER else len(ORDER),
            ratio if ratio is not None else 9e9, danish_key(m["name"]))


def _first_hour_after(end: str) -> tuple[str, str]:
    """The whole hour after a window ending at `end`: the first one whose calls are awaited."""
    t = _instant(end).astimezone(dt.UTC)
    hour = t.replace(minute=0, second=0, microsecond=0)
    hour = hour if hour == t else hour + dt.timedelta(hours=1)
    return hour.isoformat(), (hour + dt.timedelta(hours=1)).isoformat()


def build(doc: CutoverDocument, now: dt.datetime, *, kommune: str | None = None, query: str = "") -> CutoverPage:
    """The page for `doc` at `now`, with municipality `kommune` first and the folded rows matching `query`."""
    doc = public_document(doc)  # the public page names no operator's address
    phase = doc["phase"]
    rows = sorted((shaped(m, phase) for m in doc["municipalities"]), key=_order_key)
    national = shaped(doc["national"], phase)
    national["services"] = [shaped(g, phase) for g in national["services"]]
    national["suppliers"] = [shaped(g, phase) for g in national["suppliers"]]
    page_doc: CutoverDocument = {**doc, "national": national}
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
    open_tasks = sum(m["tasks_total"] - m["tasks_done"] for m in rows)
    groups: list[ServiceStatus | SupplierStatus] = [*national["services"], *national["suppliers"]]
    rule = next((r for g in groups for r in g["reasons"] if r["code"] == "silent_share"), None)
    window = doc["window"]
    at = _instant(doc["now"]) if doc["now"] else now
    frozen = window["frozen_zone_start"]
    return CutoverPage(
        doc=page_doc, phase=phase, rows=rows, counts=counts, action=action[:shown], action_more=action[shown:],
        chosen=next((m for m in rows if m["code"] == code), None),
        folded=[(s, ms) for s, ms in folded if ms], query=query,
        matches=sum(len(ms) for _, ms in folded) if query else None,
        open_tasks=open_tasks,
        municipalities_with_open_tasks=sum(1 for m in rows if m["tasks_total"] > m["tasks_done"]),
        silent_share_rule=rule,
        first_hour=_first_hour_after(window["end"]) if phase == "pending" and window["end"] else None,
        frozen_zone_started=frozen is not None and _instant(frozen) <= at,
        task_rows=sorted((m for m in rows if m["tasks"]),
                         key=lambda m: (m["tasks_done"] >= m["tasks_total"], danish_key(m["name"]))),
        action_matches=search_rows(action, query) if query else [],
        names=sorted(((m["code"], m["name"]) for m in rows), key=lambda cn: danish_key(cn[1])))
