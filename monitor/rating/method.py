"""The rating method (SPEC "Rating method", version 2020.12) as pure functions.

Plain values in (`MunicipalityInput`, `Parameters`), explained results out (`Rating`). No
database and no Flask here: the query layer (`queries.py`) gathers the inputs with aggregate
SQL and `service.py` stores and serves the results. Every number a result shows can be
recomputed by hand from its inputs and docs/rating.md.
"""

from __future__ import annotations

import bisect
import dataclasses
import datetime as dt
import math
import operator
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, NamedTuple

from ..settings import RatingSettings, RatingWeights

PARTS = ("service_agreements", "calls_per_citizen", "it_systems_with_calls")

REASON_NO_AGREEMENTS = "no_active_agreements"
REASON_NO_POPULATION = "no_population"
REASON_MISSING_DATA = "call_data_incomplete"
# The agreements part's sub-weights of volume, share in use and Adgangsstyring (this method's choice).
SUB_WEIGHTS = (0.4, 0.4, 0.2)

# Each method version and what changed, newest first (shown on the method page).
VERSIONS = (
    ("2020.12", "Planlagte nedetider: en dag i vinduet, der overlapper skiftet af driftscenter eller en anden "
                "planlagt nedetid, regnes som dækket, også uden kaldsdata; dens kald er dem, der blev registreret.",
     "Planned outages: a day of the window that overlaps the cut-over or another planned outage counts as "
     "covered, even without call data; its calls are those that were recorded."),
    ("2020.11", "Første version. En dag uden kaldsdata i vinduet gjorde alle resultater ikke afgørende, også "
                "under et planlagt skift.",
     "First version. A day without call data in the window made every result inconclusive, a planned "
     "cut-over included."),
)


@dataclass(frozen=True)
class Parameters:
    """Everything that changes a score; recorded with every stored run."""

    # The defaults are config.toml's ([rating] in settings.py), so `Parameters()` rates as an
    # unconfigured installation does.
    window_days: int = RatingSettings.window_days
    redundant_after_days: int = RatingSettings.redundant_after_days
    active_ref: float = RatingSettings.active_ref
    cpc_lo: float = RatingSettings.cpc_lo
    cpc_hi: float = RatingSettings.cpc_hi
    weights: dict[str, float] = field(default_factory=lambda: dataclasses.asdict(RatingWeights()))
    # 2020.12: days overlapping a planned outage are covered without data (2020.11: False).
    planned_outages_covered: bool = True
    # The agreements part's sub-weights (volume, share in use, Adgangsstyring): fixed by the
    # method version, not configured; only the what-if view (/metode/hvad-hvis) changes them.
    sub_weights: tuple[float, float, float] = SUB_WEIGHTS

    @classmethod
    def from_mapping(cls, data: dict[str, Any]) -> Parameters:
        """Parameters from `RatingSettings.parameters()` (or a stored run's copy of it)."""
        return cls(window_days=int(data["window_days"]), redundant_after_days=int(data["redundant_after_days"]),
                   active_ref=float(data["active_ref"]), cpc_lo=float(data["cpc_lo"]),
                   cpc_hi=float(data["cpc_hi"]), weights={k: float(v) for k, v in data["weights"].items()},
                   planned_outages_covered=bool(data.get("planned_outages_covered", False)))


class AgreementInput(NamedTuple):
    """One agreement that is active on the window's last day, with its call sums (a tuple: 30,000 are made)."""

    uuid: str
    it_system_uuid: str
    services: frozenset[str]
    valid_from: dt.date | None = None
    calls_window: int = 0  # calls in the window_days ending the day before as_of
    calls_recent: int = 0  # calls in the redundant_after_days ending the day before as_of
    it_system_name: str | None = None
    supplier: str | None = None


@dataclass(frozen=True)
class MunicipalityInput:
    """What the method needs to know about one municipality for one as_of."""

    code: str
    name: str
    population: int | None
    user_access_control: bool | None
    active: tuple[AgreementInput, ...] = ()
    # Calls in the window under all the municipality's agreements, active or not.
    calls_window: int = 0
    # Agreements waiting for the municipality's approval (status pending).
    pending: tuple[AgreementInput, ...] = ()
    # Agreements an operator agreed are in use though they made no calls (a correction): never "unused".
    in_use: frozenset[str] = frozenset()


class Redundant(NamedTuple):
    """An active agreement counted as redundant, once, with every reason that applies (a tuple:
    a frozen dataclass cost twice as much to make, and the country has a thousand)."""

    uuid: str
    it_system_uuid: str
    it_system_name: str | None
    services: tuple[str, ...]
    calls_recent: int
    reasons: tuple[str, ...]  # "no_calls" and/or "duplicate"
    kept: str | None = None  # for a duplicate: the agreement kept in its place
    supplier: str | None = None


@dataclass(frozen=True)
class Part:
    """One part of the rating: its score (1–10 or None), weight, reason and inputs (with x)."""

    score: float | None
    weight: float
    reason: str | None
    inputs: dict[str, Any]

    @property
    def x(self) -> float | None:
        """The part's value in [0, 1], or None when it cannot be computed."""
        return self.inputs.get("x")


@dataclass(frozen=True)
class Hint:
    """Something the municipality can do, and the points it would add to the total."""

    kind: str  # close_unused | close_duplicates | silent_it_systems | pending_approval | access_control
    count: int
    items: tuple[str, ...]
    gain: float | None
    text_da: str
    text_en: str


@dataclass(frozen=True)
class Rating:
    """One municipality's result for one as_of."""

    code: str
    name: str
    score: float | None
    reason: str | None
    reason_text: str | None
    parts: dict[str, Part]
    hints: tuple[Hint, ...] = ()
    percentile: float | None = None
    rank: int | None = None
    redundant: tuple[Redundant, ...] = ()
    planned_days: tuple[dt.date, ...] = ()  # the window's days that overlap a planned outage

    @property
    def status(self) -> str:
        return "ok" if self.score is not None else "inconclusive"


def scale(x: float) -> float:
    """x in [0, 1] on the 1–10 scale."""
    return 1.0 + 9.0 * x


def window(as_of: dt.date, days: int) -> tuple[dt.date, dt.date]:
    """The first and last day of `days` complete days ending the day before `as_of`."""
    return as_of - dt.timedelta(days=days), as_of - dt.timedelta(days=1)


def active_on(status: str, valid_from: dt.date | None, valid_to: dt.date | None, day: dt.date) -> bool:
    """Active on `day`: status active, and valid_from ≤ day < valid_to where those are given."""
    return (status == "active" and (valid_from is None or valid_from <= day)
            and (valid_to is None or day < valid_to))


def _by_system(active: Sequence[AgreementInput]) -> dict[str, list[AgreementInput]]:
    """IT system → its agreements; where it has two or more, most recent calls first, ties by the lowest uuid.

    Two stable sorts on the fields, without a key tuple per agreement. Leaving agreements out of
    a sorted group keeps it sorted, as sorting the rest would.
    """
    by_system: dict[str, list[AgreementInput]] = {}
    for a in active:
        group = by_system.get(a.it_system_uuid)
        if group is None:
            by_system[a.it_system_uuid] = [a]
        else:
            group.append(a)
    for group in by_system.values():
        if len(group) > 1:
            group.sort(key=_UUID)
            group.sort(key=_CALLS_RECENT, reverse=True)
    return by_system


def _unused(a: AgreementInput, grace_start: dt.date, in_use: frozenset[str]) -> bool:
    """No calls in the redundancy period, not agreed in use, and valid since before it began."""
    return a.calls_recent == 0 and a.uuid not in in_use and (a.valid_from is None or a.valid_from < grace_start)


def _redundancy(active: Sequence[AgreementInput], grace_start: dt.date, in_use: frozenset[str] = frozenset(),
                by_system: dict[str, list[AgreementInput]] | None = None) -> dict[str, tuple[list[str], str | None]]:
    """uuid → (reasons, the agreement kept instead) for the redundant ones only.

    `by_system` is `_by_system(active)` when the caller has it already.
    """
    found: dict[str, tuple[list[str], str | None]] = {
        a.uuid: (["no_calls"], None) for a in active if _unused(a, grace_start, in_use)}
    for group in (_by_system(active) if by_system is None else by_system).values():
        if len(group) < 2:
            continue
        kept: list[AgreementInput] = []
        covered: set[str] = set()  # the services of the kept ones: most agreements miss them all
        for a in group:
            if covered.isdisjoint(a.services):
                kept.append(a)
                covered |= a.services
                continue
            rival = next(k for k in kept if not k.services.isdisjoint(a.services))
            reasons = found[a.uuid][0] if a.uuid in found else []
            found[a.uuid] = ([*reasons, "duplicate"], rival.uuid)
    return found


_UUID = operator.itemgetter(0)  # AgreementInput.uuid
_CALLS_RECENT = operator.itemgetter(5)  # AgreementInput.calls_recent


def redundant_agreements(active: Sequence[AgreementInput], as_of: dt.date, params: Parameters,
                         in_use: frozenset[str] = frozenset()) -> tuple[Redundant, ...]:
    """The municipality's redundant agreements, each once, with all their reasons.

    Unused: no calls in the redundant_after_days before as_of, unless valid_from lies within
    those days. Duplicates: per IT system, agreements sorted by calls (most first, ties by
    the lowest uuid) are kept one by one unless they share a service with one already kept.
    `in_use` are agreements an operator agreed are in use (corrections): never unused.
    """
    return _redundant_records(active, _redundancy(active, window(as_of, params.redundant_after_days)[0], in_use))


def _redundant_records(active: Sequence[AgreementInput], found: dict[str, tuple[list[str], str | None]]
                       ) -> tuple[Redundant, ...]:
    """The `Redundant` of each agreement in `found` (`_redundancy`'s), by uuid."""
    return tuple(
        Redundant(a.uuid, a.it_system_uuid, a.it_system_name, tuple(sorted(a.services)), a.calls_recent,
                  tuple(found[a.uuid][0]), found[a.uuid][1], a.supplier)
        for a in sorted((a for a in active if a.uuid in found), key=lambda a: a.uuid))


def volume(active: int, redundant: int, active_ref: float) -> float:
    """volume = min(1, ln(1 + agreements in use) / ln(1 + active_ref))."""
    return min(1.0, math.log(1 + active - redundant) / math.log(1 + active_ref))


def service_agreements_x(active: int, redundant: int, access_control: bool | None, active_ref: float,
                         sub_weights: tuple[float, float, float] = SUB_WEIGHTS) -> float:
    """x = 0.4·volume + 0.4·(1 − redundant/active) + 0.2·access_control (active ≥ 1).

    An unknown access_control (None) counts as not implemented, as False does.
    """
    w_volume, w_in_use, w_access = sub_weights
    return (w_volume * volume(active, redundant, active_ref) + w_in_use * (1 - redundant / active)
            + w_access * (1.0 if access_control else 0.0))


def calls_per_citizen(calls: int, population: int, window_days: int) -> float:
    """Calls per citizen, scaled to 30 days."""
    return calls / population * 30 / window_days


def calls_per_citizen_x(cpc: float, lo: float, hi: float) -> float:
    """x = clip((log10 cpc − log10 lo) / (log10 hi − log10 lo), 0, 1); zero calls give 0."""
    if cpc <= 0:
        return 0.0
    x = (math.log10(cpc) - math.log10(lo)) / (math.log10(hi) - math.log10(lo))
    return min(1.0, max(0.0, x))


def _it_systems(active: Sequence[AgreementInput], by_system: dict[str, list[AgreementInput]] | None = None
                ) -> tuple[dict[str, AgreementInput], set[str]]:
    """IT system → its agreement with the lowest uuid (for names), and the systems that called.

    From `by_system` (`_by_system(active)`) when the caller has it.
    """
    if by_system is not None:
        return ({system: group[0] if len(group) == 1 else min(group, key=_UUID) for system, group in by_system.items()},
                {system for system, group in by_system.items() if any(a.calls_window > 0 for a in group)})
    systems: dict[str, AgreementInput] = {}
    calling: set[str] = set()
    for a in active:
        first = systems.get(a.it_system_uuid)
        if first is None or a.uuid < first.uuid:
            systems[a.it_system_uuid] = a
        if a.calls_window > 0:
            calling.add(a.it_system_uuid)
    return systems, calling


def _parts(m: MunicipalityInput, params: Parameters, redundant: Sequence[Redundant],
           calling_extra: int = 0, it_systems: tuple[dict[str, AgreementInput], set[str]] | None = None
           ) -> dict[str, Part]:
    """The three parts with their inputs; `calling_extra` more IT systems count as calling (for a hint).

    `it_systems` is `_it_systems(m.active)` when the caller has it already.
    """
    w = params.weights
    n_active, n_redundant = len(m.active), len(redundant)
    sa_inputs: dict[str, Any] = {
        "active": n_active, "redundant": n_redundant, "in_use": n_active - n_redundant,
        "active_ref": params.active_ref, "user_access_control": m.user_access_control,
        "redundant_after_days": params.redundant_after_days,
        "redundant_agreements": [
            {"uuid": r.uuid, "it_system": {"uuid": r.it_system_uuid, "name": r.it_system_name, "supplier": r.supplier},
             "services": list(r.services), "calls_recent": r.calls_recent, "reasons": list(r.reasons),
             "kept_instead": r.kept} for r in redundant],
        "pending_agreements": [
            {"uuid": a.uuid, "it_system": {"uuid": a.it_system_uuid, "name": a.it_system_name, "supplier": a.supplier},
             "services": sorted(a.services)} for a in sorted(m.pending, key=lambda a: a.uuid)],
    }
    if n_active:
        x_sa = service_agreements_x(n_active, n_redundant, m.user_access_control, params.active_ref,
                                    params.sub_weights)
        sa = Part(scale(x_sa), w["service_agreements"], None,
                  {**sa_inputs, "volume": volume(n_active, n_redundant, params.active_ref), "x": x_sa})
    else:
        sa = Part(None, w["service_agreements"], REASON_NO_AGREEMENTS, {**sa_inputs, "volume": None, "x": None})

    cpc_inputs: dict[str, Any] = {"calls": m.calls_window, "population": m.population,
                                  "window_days": params.window_days, "cpc_lo": params.cpc_lo,
                                  "cpc_hi": params.cpc_hi}
    if m.population:
        cpc = calls_per_citizen(m.calls_window, m.population, params.window_days)
        x_cpc = calls_per_citizen_x(cpc, params.cpc_lo, params.cpc_hi)
        cpc_part = Part(scale(x_cpc), w["calls_per_citizen"], None, {**cpc_inputs, "cpc": cpc, "x": x_cpc})
    else:
        cpc_part = Part(None, w["calls_per_citizen"], REASON_NO_POPULATION, {**cpc_inputs, "cpc": None, "x": None})

    systems, calling = _it_systems(m.active) if it_systems is None else it_systems
    silent = [systems[s] for s in sorted(systems, key=lambda s: (systems[s].it_system_name or "", s))
              if s not in calling]
    n_calling = min(len(systems), len(calling) + calling_extra)
    its_inputs: dict[str, Any] = {
        "systems": len(systems), "systems_with_calls": n_calling,
        "silent_it_systems": [{"uuid": a.it_system_uuid, "name": a.it_system_name, "supplier": a.supplier}
                              for a in silent]}
    if systems:
        x_its = n_calling / len(systems)
        its = Part(scale(x_its), w["it_systems_with_calls"], None, {**its_inputs, "x": x_its})
    else:
        its = Part(None, w["it_systems_with_calls"], REASON_NO_AGREEMENTS, {**its_inputs, "x": None})
    return {"service_agreements": sa, "calls_per_citizen": cpc_part, "it_systems_with_calls": its}


def total(parts: dict[str, Part]) -> float | None:
    """1 + 9·Σ w·x over the parts, or None when a part cannot be computed."""
    weighted = [p.weight * p.x for p in parts.values() if p.x is not None]
    if len(weighted) < len(parts):
        return None
    return scale(sum(weighted))


def _score(m: MunicipalityInput, as_of: dt.date, params: Parameters, calling_extra: int = 0,
           redundant: Sequence[Redundant] | None = None) -> float | None:
    """The total alone (what the hints recompute with a change applied), by the parts' formulas.

    `redundant` are the redundant agreements when the caller already knows them (the same
    active agreements); otherwise they are recomputed.
    """
    if redundant is None:
        redundant = redundant_agreements(m.active, as_of, params, m.in_use)
    return _total_of(m.active, len(redundant), m.user_access_control, m, params, calling_extra)


def _total_of(active: Sequence[AgreementInput], n_redundant: int, access_control: bool | None,
              m: MunicipalityInput, params: Parameters, calling_extra: int = 0) -> float | None:
    """`total(_parts(...))` of `m` with these active agreements, redundant ones and Adgangsstyring.

    The same values in the same order as the parts compute them, without building their inputs.
    """
    systems: set[str] = set()
    calling: set[str] = set()
    for a in active:
        systems.add(a.it_system_uuid)
        if a.calls_window > 0:
            calling.add(a.it_system_uuid)
    return _total_from(len(active), len(systems), len(calling), n_redundant, access_control, m, params,
                       calling_extra)


def _total_from(n_active: int, n_systems: int, n_calling: int, n_redundant: int, access_control: bool | None,
                m: MunicipalityInput, params: Parameters, calling_extra: int = 0) -> float | None:
    """`_total_of` from the counts: active agreements, their IT systems, those that called, redundant ones."""
    if not n_active or not m.population:
        return None
    w = params.weights
    x_sa = service_agreements_x(n_active, n_redundant, access_control, params.active_ref, params.sub_weights)
    x_cpc = calls_per_citizen_x(calls_per_citizen(m.calls_window, m.population, params.window_days),
                                params.cpc_lo, params.cpc_hi)
    x_its = min(n_systems, n_calling + calling_extra) / n_systems
    return scale(sum([w["service_agreements"] * x_sa, w["calls_per_citizen"] * x_cpc,
                      w["it_systems_with_calls"] * x_its]))


def _after_closing(by_system: dict[str, list[AgreementInput]], redundant: Sequence[Redundant],
                   closed: Sequence[Redundant]) -> tuple[int, int, int, int]:
    """What closing the `closed` ones leaves: (agreements closed, IT systems left without an
    agreement, calling IT systems left without a calling one, redundant ones among the rest).

    Whether an agreement is unused depends on it alone, and duplicates are found within one
    IT system: only the IT systems that lost an agreement are looked at again (their sorted
    groups less the closed ones, still in order); elsewhere the redundant agreements stay
    what they were. (Agreement uuids are unique: a closed uuid is in its own IT system.)
    """
    uuids = {r.uuid for r in closed}
    unused = {r.uuid for r in redundant if "no_calls" in r.reasons}  # unused they stay
    touched = {r.it_system_uuid for r in closed}
    n_redundant = sum(1 for r in redundant if r.it_system_uuid not in touched)
    n_closed = systems_lost = calling_lost = 0
    for system in touched:
        group = by_system[system]
        rest = [a for a in group if a.uuid not in uuids]
        n_closed += len(group) - len(rest)
        if not any(a.calls_window > 0 for a in rest):
            calling_lost += any(a.calls_window > 0 for a in group)
            if not rest:
                systems_lost += 1
                continue
        covered: set[str] = set()  # the services of the kept ones, as in `_redundancy`
        for a in rest:
            duplicate = not covered.isdisjoint(a.services)
            if not duplicate:
                covered |= a.services
            if duplicate or a.uuid in unused:
                n_redundant += 1
    return n_closed, systems_lost, calling_lost, n_redundant


def describe_systems(entries: Iterable[tuple[str, str | None, str | None, Iterable[str]]]) -> str:
    """Agreements as people know them: "SBSYS (Fujitsu): SF1470, SF1500; Nexus: SF1520".

    `entries` are (IT system uuid, IT system name, supplier, services); one group per IT
    system, services merged and sorted, the supplier in brackets where known. Agreement
    UUIDs are not part of the sentence (the pages show them in a detail).
    """
    systems: dict[str, tuple[str, str | None, set[str]]] = {}
    for system_uuid, name, supplier, services in entries:
        systems.setdefault(system_uuid, (name or system_uuid, supplier, set()))[2].update(services)
    out = []
    for label, supplier, services in sorted(systems.values(), key=lambda v: (v[0].casefold(), v[0])):
        head = f"{label} ({supplier})" if supplier else label
        out.append(f"{head}: {', '.join(sorted(services))}" if services else head)
    return "; ".join(out)


_CHOICE = re.compile(r"\{([^{}|]*)\|([^{}|]*)\}")


def counted(template: str, *, n: int, **values: object) -> str:
    """`template` with each `{one|many}` chosen by `n` (singular only for 1, as in Danish and
    English), then `{n}`, `{d}` and `{items}` filled in; `{d}` also picks its own `{dag|dage}`."""
    d = values.get("d")
    key = (template, n == 1, None if d is None else d == 1)
    chosen = _CHOSEN.get(key)
    if chosen is None:
        def choose(match: re.Match[str]) -> str:
            one, many = match.group(1), match.group(2)
            count = d if one in ("dag", "day") and d is not None else n
            return one if count == 1 else many

        chosen = _CHOSEN[key] = _CHOICE.sub(choose, template)
    return chosen.format(n=n, **values)


# A template's forms chosen, by (template, n is 1, d is 1 or None without d): the templates are
# the code's own, so this stays small.
_CHOSEN: dict[tuple[str, bool, bool | None], str] = {}


def _hints(m: MunicipalityInput, as_of: dt.date, params: Parameters, redundant: Sequence[Redundant],
           score: float | None, by_system: dict[str, list[AgreementInput]] | None = None,
           it_systems: tuple[dict[str, AgreementInput], set[str]] | None = None) -> list[Hint]:
    """What the municipality can do, each with its gain (the score after the change minus the score).

    `by_system` and `it_systems` are `_by_system(m.active)` and `_it_systems(m.active)` when the
    caller has them already.
    """
    if by_system is None:
        by_system = _by_system(m.active)
    systems, calling = _it_systems(m.active) if it_systems is None else it_systems

    def gain(other: float | None) -> float | None:
        return None if score is None or other is None else other - score

    hints: list[Hint] = []
    days = params.redundant_after_days
    # The last two hints keep the same active agreements, so their redundant ones are these.
    groups = (("close_unused", [r for r in redundant if "no_calls" in r.reasons],
               "{n} {aftale|aftaler} har ikke kaldt i {d} {dag|dage}: {items}. Luk {den|dem}.",
               "{n} {agreement has|agreements have} made no calls in {d} {day|days}: {items}. Close {it|them}."),
              ("close_duplicates", [r for r in redundant if "no_calls" not in r.reasons],
               "{n} {aftale|aftaler} overlapper en anden aftale for samme it-system og service: {items}. "
               "Luk {den|dem}.",
               "{n} {agreement overlaps|agreements overlap} another agreement of the same IT system and service: "
               "{items}. Close {it|them}."))
    for kind, rs, da, en in groups:
        if not rs:
            continue
        items = tuple(r.uuid for r in rs)
        names = describe_systems((r.it_system_uuid, r.it_system_name, r.supplier, r.services) for r in rs)
        after_score = None
        if score is not None:  # else there is no gain to tell
            n_closed, systems_lost, calling_lost, n_redundant = _after_closing(by_system, redundant, rs)
            after_score = _total_from(len(m.active) - n_closed, len(systems) - systems_lost,
                                      len(calling) - calling_lost, n_redundant, m.user_access_control, m, params)
        hints.append(Hint(kind, len(rs), items, gain(after_score),
                          counted(da, n=len(rs), d=days, items=names), counted(en, n=len(rs), d=days, items=names)))
    silent = sorted(s for s in systems if s not in calling)
    if silent:
        names = describe_systems((a.it_system_uuid, a.it_system_name, a.supplier, a.services)
                                 for a in m.active if a.it_system_uuid not in calling)
        after_score = (_total_from(len(m.active), len(systems), len(calling), len(redundant), m.user_access_control,
                                   m, params, len(silent)) if score is not None else None)
        hints.append(Hint(
            "silent_it_systems", len(silent), tuple(silent), gain(after_score),
            counted("{n} {it-system|it-systemer} med aktive aftaler har ikke kaldt i de seneste {d} {dag|dage}: "
                    "{items}. Få {det|dem} i brug, eller luk aftalerne.", n=len(silent), d=params.window_days,
                    items=names),
            counted("{n} {IT system|IT systems} with active agreements made no calls in the last {d} {day|days}: "
                    "{items}. Put {it|them} to use, or close their agreements.", n=len(silent),
                    d=params.window_days, items=names)))
    if m.pending:
        names = describe_systems((a.it_system_uuid, a.it_system_name, a.supplier, a.services) for a in m.pending)
        hints.append(Hint(
            "pending_approval", len(m.pending), tuple(sorted(a.uuid for a in m.pending)), None,
            counted("{n} {aftale venter|aftaler venter} på kommunens godkendelse: {items}. "
                    "{Godkend den, hvis den skal bruges, ellers afvis den|Godkend dem, der skal bruges, og afvis "
                    "resten}.", n=len(m.pending), items=names),
            counted("{n} {agreement is|agreements are} waiting for the municipality's approval: {items}. "
                    "{Approve it if it will be used, otherwise reject it|Approve those that will be used and "
                    "reject the rest}.", n=len(m.pending), items=names)))
    if m.user_access_control is not True and m.active:
        after_score = (_total_from(len(m.active), len(systems), len(calling), len(redundant), True, m, params)
                       if score is not None else None)
        unknown = m.user_access_control is None
        hints.append(Hint(
            "access_control", 1, (), gain(after_score),
            "Fælleskommunal Adgangsstyring for brugere er " + ("ikke oplyst" if unknown else "ikke implementeret")
            + ". Implementér den (og meld det ind).",
            "Fælleskommunal Adgangsstyring for brugere is " + ("not reported" if unknown else "not implemented")
            + ". Implement it (and report it)."))
    return hints


def uncovered_days(missing_days: Iterable[dt.date], planned_days: Iterable[dt.date], params: Parameters
                   ) -> list[dt.date]:
    """The days without data that make results inconclusive: all of them in 2020.11; from
    2020.12 those that overlap no planned outage (a planned-outage day is covered as it is)."""
    planned = set(planned_days) if params.planned_outages_covered else set()
    return sorted(d for d in set(missing_days) if d not in planned)


def rate_one(m: MunicipalityInput, as_of: dt.date, params: Parameters,
             missing_days: Sequence[dt.date] = (), planned_days: Sequence[dt.date] = ()) -> Rating:
    """Rate one municipality (percentile and rank are filled in by `rate_all`).

    `missing_days` are the window's days with no call data for any agreement, `planned_days`
    the window's days that overlap a planned outage. When data is missing outside planned
    outages the result is inconclusive, but it still carries every input and hint (hints
    without a gain: there is no score to add to).
    """
    by_system = _by_system(m.active)
    redundant = _redundant_records(m.active, _redundancy(m.active, window(as_of, params.redundant_after_days)[0],
                                                         m.in_use, by_system))
    it_systems = _it_systems(m.active, by_system)
    parts = _parts(m, params, redundant, it_systems=it_systems)
    planned = tuple(sorted(d for d in set(planned_days) if window(as_of, params.window_days)[0] <= d < as_of))
    uncovered = uncovered_days(missing_days, planned, params)
    if uncovered:
        listed = ", ".join(d.isoformat() for d in uncovered)
        parts = {k: replace(p, score=None, reason=p.reason or REASON_MISSING_DATA) for k, p in parts.items()}
        return Rating(m.code, m.name, None, REASON_MISSING_DATA,
                      counted("Kaldsdata mangler for {n} {dag|dage} i vinduet: {items}", n=len(uncovered),
                              items=listed),
                      parts, tuple(_hints(m, as_of, params, redundant, None, by_system, it_systems)),
                      redundant=redundant,
                      planned_days=planned)
    score = total(parts)
    reason = reason_text = None
    if not m.active:
        reason, reason_text = REASON_NO_AGREEMENTS, "Kommunen har ingen aktive serviceaftaler"
    elif not m.population:
        reason, reason_text = REASON_NO_POPULATION, "Kommunens indbyggertal er ukendt eller 0"
    return Rating(m.code, m.name, score, reason, reason_text, parts,
                  tuple(_hints(m, as_of, params, redundant, score, by_system, it_systems)), redundant=redundant,
                  planned_days=planned)


def rank_and_percentile(scores: Sequence[float | None]) -> list[tuple[int | None, float | None]]:
    """Rank (1 = best; ties share the better rank) and percentile among the non-null scores.

    The percentile is the share of the other conclusive results that score strictly lower,
    in percent; None when there are no others.
    """
    known = sorted(s for s in scores if s is not None)
    n = len(known)
    out: list[tuple[int | None, float | None]] = []
    for s in scores:
        if s is None:
            out.append((None, None))
            continue
        lower = bisect.bisect_left(known, s)
        higher = n - bisect.bisect_right(known, s)
        out.append((higher + 1, 100.0 * lower / (n - 1) if n > 1 else None))
    return out


def rate_all(inputs: Iterable[MunicipalityInput], as_of: dt.date, params: Parameters,
             missing_days: Sequence[dt.date] = (), planned_days: Sequence[dt.date] = ()) -> list[Rating]:
    """Rate every municipality, then rank them among the conclusive results (sorted by code)."""
    ratings = [rate_one(m, as_of, params, missing_days, planned_days) for m in sorted(inputs, key=lambda m: m.code)]
    ranked = rank_and_percentile([r.score for r in ratings])
    cpc_peers = rank_and_percentile([r.parts["calls_per_citizen"].inputs.get("cpc") if r.score is not None
                                     else None for r in ratings])
    out = []
    for r, (rank, pct), (_, cpc_pct) in zip(ratings, ranked, cpc_peers, strict=True):
        cpc = r.parts["calls_per_citizen"]
        parts = {**r.parts, "calls_per_citizen": replace(cpc, inputs={**cpc.inputs, "peer_percentile": cpc_pct})}
        out.append(replace(r, rank=rank, percentile=pct, parts=parts))
    return out
