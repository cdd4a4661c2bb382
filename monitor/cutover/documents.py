"""The shapes of the cut-over document, as mypy checks them where they are read.

`core.evaluate` returns a `CutoverDocument`; the API, the pages, the metrics, the alerts and
the cut-over reports read it. Typed here, a reader asking for a key the core does not write
is a type error, not a `None` on /skift at three in the morning. Instants are ISO 8601 text
(UTC), as GET /api/v1/cutover gives them.

The document holds what the core knows, nothing shaped for a reader: an acknowledgement
names its operator by address, and whoever shows it to the public masks it
(`public_document`); words for the statuses and reasons are the pages' and the mails'.
"""

from __future__ import annotations

from typing import NotRequired, TypedDict

from ..privacy import mask_address


class Reason(TypedDict):
    """Why a status is what it is. `effect` is the colour it pushes towards, or "none"/"not_judged".

    Which numbers a reason carries depends on its `code` (docs/cutover.md lists them); the
    calls reasons always carry both thresholds.
    """

    code: str
    effect: str
    call_ratio: NotRequired[float]
    error_ratio: NotRequired[float]
    threshold: NotRequired[float]
    p_value: NotRequired[float | None]
    significance: NotRequired[float]
    green_ratio: NotRequired[float]
    red_ratio: NotRequired[float]
    below_green_significant: NotRequired[bool]
    below_red_significant: NotRequired[bool]
    baseline_calls: NotRequired[int]
    min_baseline: NotRequired[int]
    count: NotRequired[int]
    total: NotRequired[int]
    share: NotRequired[float]
    min_share: NotRequired[float]
    min_count: NotRequired[int]
    start: NotRequired[str | None]
    end: NotRequired[str | None]
    watermark: NotRequired[str | None]


class Judged(TypedDict):
    """What every judged thing carries: a municipality, a service, a supplier, the platform."""

    status: str
    observed_calls: int | None  # None in the window: the hours observed lie before it
    baseline_calls: int
    call_ratio: float | None
    error_ratio: float | None
    reasons: list[Reason]


class Group(Judged):
    """A service, a supplier or the platform, judged on its calls and its share of silent agreements."""

    silent_agreements: int


class ServiceStatus(Group):
    id: str
    name: str | None


class SupplierStatus(Group):
    name: str | None


class SystemRef(TypedDict):
    uuid: str
    name: str | None


class Acknowledgement(TypedDict):
    """An operator's "known": `operator` is an address here; `public_document` masks it."""

    id: int
    agreement_uuid: str | None
    note: str
    operator: str
    status: str
    created_at: str | None
    expires_at: str | None


class SilentAgreement(TypedDict):
    agreement_uuid: str
    it_system: SystemRef
    supplier: str | None
    services: list[str]
    baseline_calls: int
    acknowledgement: Acknowledgement | None


class FrozenZoneChange(TypedDict):
    agreement_uuid: str
    it_system: SystemRef
    supplier: str | None
    status: str
    services: list[str]
    change: str  # new | changed
    first_seen_at: str | None
    changed_at: str | None


class TaskDoc(TypedDict):
    task: str
    done: bool
    deadline: str | None


class MunicipalityStatus(Judged):
    code: str
    name: str
    silent_agreements: list[SilentAgreement]
    frozen_zone_changes: list[FrozenZoneChange]
    tasks_done: int
    tasks_total: int
    tasks: list[TaskDoc]
    acknowledgement: Acknowledgement | None


class WindowDoc(TypedDict):
    start: str | None
    end: str | None
    frozen_zone_start: str | None
    source: str | None
    in_window: bool
    pending: bool
    observed_from: str | None
    observed_to: str | None
    observed_hours: int
    baseline_hours: list[str | None]
    baseline_weeks_used: int
    lookback_hours: int
    baseline_days: int
    baseline_weeks: int


class Thresholds(TypedDict):
    green_ratio: float
    red_ratio: float
    yellow_error_ratio: float
    red_error_ratio: float
    significance: float
    min_baseline_calls: int
    min_municipality_baseline: int
    ack_hours: int
    silent_share: float
    silent_count: int


class National(Group):
    status_counts: dict[str, int]
    tasks_done: int
    tasks_total: int
    services: list[ServiceStatus]
    suppliers: list[SupplierStatus]


class CutoverDocument(TypedDict):
    """GET /api/v1/cutover."""

    now: str | None
    watermark: str | None
    window: WindowDoc
    phase: str  # before | in_window | pending | after
    thresholds: Thresholds
    support_url: str | None
    national: National
    municipalities: list[MunicipalityStatus]


def _public_ack(ack: Acknowledgement | None) -> Acknowledgement | None:
    return None if ack is None else {**ack, "operator": mask_address(ack["operator"])}


def public_municipality(m: MunicipalityStatus) -> MunicipalityStatus:
    """`m` with its operators' addresses masked (itself when it holds no acknowledgement)."""
    if m["acknowledgement"] is None and not any(a["acknowledgement"] for a in m["silent_agreements"]):
        return m
    silent: list[SilentAgreement] = [{**a, "acknowledgement": _public_ack(a["acknowledgement"])}
                                     for a in m["silent_agreements"]]
    return {**m, "acknowledgement": _public_ack(m["acknowledgement"]), "silent_agreements": silent}


def public_document(doc: CutoverDocument) -> CutoverDocument:
    """`doc` as the public pages and the API show it: every operator's address masked (a copy where needed)."""
    return {**doc, "municipalities": [public_municipality(m) for m in doc["municipalities"]]}
