"""The shapes of the rating's documents, as mypy checks them where they are read.

The rating's results cross into the API, the snapshot store, the pages, the metrics and the
command line as these JSON-ready documents (a stored revision keeps them as they were, so
their shape is the contract of GET /api/v1/ratings and /api/v1/municipalities/CODE). Typed
here, a page or the metrics reading a key the rating does not write is a type error, not a
`None` on a page. A part's `inputs` differ per part and stay an open mapping.

`to_document` turns the pure maths' `Rating` into its document; `method.py` knows no JSON.
A hint's words (`text_da`, `text_en`) and `reason_text` are part of what a revision said and are
stored with it: a score's explanation must read the same later, even after the wording of a
newer method changed. The pages pick the reader's language from the two.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, NotRequired, TypedDict

if TYPE_CHECKING:
    from .method import Rating


class MunicipalityRef(TypedDict):
    code: str
    name: str


class PartDoc(TypedDict):
    score: float | None
    weight: float
    reason: str | None
    inputs: dict[str, Any]


class HintDoc(TypedDict):
    kind: str
    count: int
    items: list[Any]
    gain: float | None
    text_da: str
    text_en: str


class CorrectedAgreement(TypedDict):
    uuid: str
    reason: str
    recorded_at: str


class CorrectionDoc(TypedDict):
    """Present on a result that operators' corrections changed: the score it would have had without."""

    score_without: float | None
    agreements: list[CorrectedAgreement]


class RatingDoc(TypedDict):
    """One municipality's result, one element of RatingsDocument["ratings"]."""

    municipality: MunicipalityRef
    score: float | None
    status: str  # ok | inconclusive
    reason: str | None
    reason_text: str | None
    rank: int | None
    percentile: float | None
    parts: dict[str, PartDoc]
    planned_outage_days: list[str]
    hints: list[HintDoc]
    correction: NotRequired[CorrectionDoc]


class MethodDoc(TypedDict):
    version: str
    weights: dict[str, float]
    parameters: dict[str, Any]


class WindowDoc(TypedDict):
    first_day: str
    last_day: str


class PlannedDay(TypedDict):
    """A day of the window covered by a planned outage, and why."""

    day: str
    reasons: list[str]


class CoverageDoc(TypedDict):
    complete: bool
    missing_days: list[str]
    planned_outage_days: list[PlannedDay]


class RatingsDocument(TypedDict):
    """GET /api/v1/ratings: every municipality for one as_of, stored or computed."""

    as_of: str
    method: MethodDoc
    stored: bool
    revision: int | None
    computed_at: str
    window: WindowDoc
    data_through: str | None
    coverage: CoverageDoc
    ratings: list[RatingDoc]


class HistoryEntry(TypedDict):
    as_of: str
    score: float | None
    method_version: str
    revision: int
    parts: dict[str, float | None]


class ScoreOnDay(TypedDict):
    as_of: str
    score: float | None
    method_version: NotRequired[str]
    revision: NotRequired[int]


class MunicipalityInfo(TypedDict):
    code: str
    name: str
    region: str | None
    population: int | None
    population_date: str | None
    user_access_control: bool | None


class AgreementDoc(TypedDict):
    uuid: str
    it_system: dict[str, str | None]
    services: list[str]
    status: str
    active: bool
    valid_from: str | None
    valid_to: str | None
    calls_window: int
    calls_recent: int
    redundant: bool
    redundant_reasons: list[str]


class ItSystemDoc(TypedDict):
    uuid: str
    name: str | None
    supplier: str | None
    agreements: int
    active_agreements: int
    calls_window: int
    with_calls: bool


class MunicipalityDocument(TypedDict):
    """GET /api/v1/municipalities/CODE: one municipality's result with its agreements and history."""

    municipality: MunicipalityInfo
    as_of: str
    method: MethodDoc
    stored: bool
    revision: int | None
    window: WindowDoc
    coverage: CoverageDoc
    data_through: str | None
    rating: RatingDoc
    change_since_last_month: float | None
    compared_with: ScoreOnDay | None
    history: list[HistoryEntry]
    last_conclusive: ScoreOnDay | None
    agreements: list[AgreementDoc]
    it_systems: list[ItSystemDoc]
    price: dict[str, Any]


def to_document(r: Rating) -> RatingDoc:
    """One element of the "ratings" list of GET /api/v1/ratings (unrounded floats)."""
    return {
        "municipality": {"code": r.code, "name": r.name},
        "score": r.score,
        "status": r.status,
        "reason": r.reason,
        "reason_text": r.reason_text,
        "rank": r.rank,
        "percentile": r.percentile,
        "parts": {k: {"score": p.score, "weight": p.weight, "reason": p.reason, "inputs": p.inputs}
                  for k, p in r.parts.items()},
        "planned_outage_days": [d.isoformat() for d in r.planned_days],
        "hints": [{"kind": h.kind, "count": h.count, "items": list(h.items), "gain": h.gain,
                   "text_da": h.text_da, "text_en": h.text_en} for h in r.hints],
    }
