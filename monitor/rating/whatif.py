"""What if the weights or this method's choices were different? (/metode/hvad-hvis)

The 98 scores are recomputed from the same stored inputs by the rating's own functions
(`service.rate`, as `monitor rate` does) with the other parameters, and set beside today's
stored scores and ranks: Kendall's tau of the two rankings and the largest rank changes.
Nothing is stored. The form's values are checked here against fixed bounds, so that a
request can neither fail nor make the database sum more than a year of calls.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import NamedTuple

from sqlalchemy.orm import Session

from ..settings import Settings
from .documents import RatingsDocument
from .method import PARTS, Parameters, Rating
from .service import rate

WEIGHT_SUM_TOLERANCE = 0.001  # weights typed by hand: 0.33 + 0.33 + 0.34 is fine
MAX_VALUE_CHARS = 20
LARGEST_CHANGES = 10


class Bound(NamedTuple):
    """The values a what-if parameter may take (inclusive), and whether it is a whole number."""

    low: float
    high: float
    integer: bool = False


SUB_WEIGHT_NAMES = ("sub_weight_volume", "sub_weight_in_use", "sub_weight_access_control")
BOUNDS: dict[str, Bound] = {
    **{p: Bound(0, 1) for p in PARTS},
    **{n: Bound(0, 1) for n in SUB_WEIGHT_NAMES},
    "active_ref": Bound(1, 100_000),
    "cpc_lo": Bound(0.001, 100_000),
    "cpc_hi": Bound(0.001, 100_000),
    "redundant_after_days": Bound(1, 365, integer=True),
    "window_days": Bound(1, 90, integer=True),
}


class Invalid(NamedTuple):
    """A form value that cannot be used: `problem` is not_a_number, not_whole, out_of_range, weights_sum,
    sub_weights_sum or cpc_order."""

    name: str
    value: str
    problem: str


def current_values(params: Parameters) -> dict[str, float]:
    """The what-if parameters' values under `params`, by name."""
    return {**params.weights, **dict(zip(SUB_WEIGHT_NAMES, params.sub_weights, strict=True)),
            "active_ref": params.active_ref, "cpc_lo": params.cpc_lo, "cpc_hi": params.cpc_hi,
            "redundant_after_days": params.redundant_after_days, "window_days": params.window_days}


def _number(text: str, bound: Bound) -> float | str:
    """The value of `text` (a decimal comma is a point), or the problem with it."""
    text = text.strip().replace(",", ".")
    if not text or len(text) > MAX_VALUE_CHARS:
        return "not_a_number"
    try:
        value = float(text)
    except ValueError:
        return "not_a_number"
    if not math.isfinite(value):
        return "not_a_number"
    if bound.integer and value != int(value):
        return "not_whole"
    if not bound.low <= value <= bound.high:
        return "out_of_range"
    return value


def parameters_from(form: Mapping[str, str], base: Parameters) -> tuple[Parameters, list[Invalid]]:
    """`base` with the form's values where given, and what is wrong with the form (nothing: [])."""
    values = current_values(base)
    invalid = []
    for name, bound in BOUNDS.items():
        text = form.get(name)
        if text is None or text.strip() == "":
            continue
        parsed = _number(text, bound)
        if isinstance(parsed, str):
            invalid.append(Invalid(name, text[:MAX_VALUE_CHARS], parsed))
        else:
            values[name] = parsed
    if invalid:
        return base, invalid
    if abs(sum(values[p] for p in PARTS) - 1) > WEIGHT_SUM_TOLERANCE:
        invalid.append(Invalid("weights", "", "weights_sum"))
    if abs(sum(values[n] for n in SUB_WEIGHT_NAMES) - 1) > WEIGHT_SUM_TOLERANCE:
        invalid.append(Invalid("sub_weights", "", "sub_weights_sum"))
    if not values["cpc_lo"] < values["cpc_hi"]:
        invalid.append(Invalid("cpc_lo", str(values["cpc_lo"]), "cpc_order"))
    if invalid:
        return base, invalid
    return dataclasses.replace(
        base, weights={p: values[p] for p in PARTS},
        sub_weights=(values["sub_weight_volume"], values["sub_weight_in_use"], values["sub_weight_access_control"]),
        active_ref=values["active_ref"], cpc_lo=values["cpc_lo"], cpc_hi=values["cpc_hi"],
        redundant_after_days=int(values["redundant_after_days"]), window_days=int(values["window_days"])), []


def kendall_tau(xs: Sequence[float], ys: Sequence[float]) -> float | None:
    """Kendall's tau-b of two paired sequences (ties allowed); None when either has no two different values."""
    concordant = discordant = ties_x = ties_y = 0
    n = len(xs)
    for i in range(n):
        for j in range(i + 1, n):
            dx, dy = xs[i] - xs[j], ys[i] - ys[j]
            if dx == 0 and dy == 0:
                continue
            if dx == 0:
                ties_x += 1
            elif dy == 0:
                ties_y += 1
            elif (dx > 0) == (dy > 0):
                concordant += 1
            else:
                discordant += 1
    denominator = math.sqrt((concordant + discordant + ties_x) * (concordant + discordant + ties_y))
    return None if denominator == 0 else (concordant - discordant) / denominator


@dataclass(frozen=True)
class Row:
    """One municipality today and under the what-if parameters; `moved` > 0 is a better rank."""

    code: str
    name: str
    score_today: float | None
    rank_today: int | None
    score: float | None
    rank: int | None

    @property
    def moved(self) -> int | None:
        return None if self.rank is None or self.rank_today is None else self.rank_today - self.rank


@dataclass(frozen=True)
class WhatIf:
    """The recomputed ratings beside today's: every row by code, tau, and the largest rank changes."""

    as_of: dt.date
    params: Parameters
    rows: list[Row]
    tau: float | None
    compared: int  # municipalities conclusive both today and under the what-if parameters
    largest: list[Row]


def compare(today: Mapping[str, tuple[float | None, int | None]], ratings: Sequence[Rating], as_of: dt.date,
            params: Parameters) -> WhatIf:
    """Set `ratings` beside `today` (code → (score, rank)), ranked by `ratings`' own ranks."""
    rows = []
    for r in ratings:
        score_today, rank_today = today.get(r.code, (None, None))
        rows.append(Row(r.code, r.name, score_today, rank_today, r.score, r.rank))
    both = [row for row in rows if row.score is not None and row.score_today is not None]
    tau = kendall_tau([row.score_today for row in both if row.score_today is not None],
                      [row.score for row in both if row.score is not None])
    largest = sorted((row for row in both if row.moved), key=lambda row: (-abs(row.moved or 0), row.code))
    return WhatIf(as_of, params, rows, tau, len(both), largest[:LARGEST_CHANGES])


def what_if(session: Session, settings: Settings, params: Parameters, today_document: RatingsDocument) -> WhatIf:
    """Recompute the ratings of `today_document`'s as_of with `params`, beside its scores and ranks. Stores nothing."""
    as_of = dt.date.fromisoformat(today_document["as_of"])
    today = {d["municipality"]["code"]: (d["score"], d["rank"]) for d in today_document["ratings"]}
    ratings, _summary = rate(session, settings, params, as_of)
    return compare(today, ratings, as_of, params)
