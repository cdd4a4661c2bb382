"""Which parts of the method KOMBIT gave and which this method version chose, and why.

One list, read by the method page (/metode), GET /api/v1/method and the what-if view
(/metode/hvad-hvis): each element has a name, its value under the given parameters, its
origin ("given": KOMBIT's; "chosen": this method version's) and one sentence on why, with
what changing it would do. The texts come in Danish and English, as the method's other
explanations do (`method.VERSIONS`, the hints).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .method import PARTS, Parameters

GIVEN = "given"
CHOSEN = "chosen"


@dataclass(frozen=True)
class Element:
    """One element of the method: its value, whether it is given or chosen, and why."""

    name: str
    value: Any
    origin: str
    label_da: str
    label_en: str
    why_da: str
    why_en: str
    # Whether the what-if view takes it as a form parameter of the same name.
    what_if: bool = False


def elements(params: Parameters) -> list[Element]:
    """The method's elements under `params`, KOMBIT's first, then this version's choices."""
    w = params.weights
    sw_volume, sw_in_use, sw_access = params.sub_weights
    return [
        Element("parts", list(PARTS), GIVEN, "De tre dele", "The three parts",
                "KOMBIT bedømmer kommunerne på serviceaftaler, kald pr. borger og it-systemer med kald.",
                "KOMBIT rates the municipalities on service agreements, calls per citizen and IT systems with "
                "calls."),
        Element("service_agreements", w["service_agreements"], GIVEN, "Vægt: serviceaftaler",
                "Weight: service agreements",
                "KOMBITs vægt (30 %); prøv en anden i hvad-hvis-visningen.",
                "KOMBIT's weight (30 %); try another in the what-if view.", what_if=True),
        Element("calls_per_citizen", w["calls_per_citizen"], GIVEN, "Vægt: kald pr. borger",
                "Weight: calls per citizen",
                "KOMBITs vægt (20 %); prøv en anden i hvad-hvis-visningen.",
                "KOMBIT's weight (20 %); try another in the what-if view.", what_if=True),
        Element("it_systems_with_calls", w["it_systems_with_calls"], GIVEN, "Vægt: it-systemer med kald",
                "Weight: IT systems with calls",
                "KOMBITs vægt (50 %); prøv en anden i hvad-hvis-visningen.",
                "KOMBIT's weight (50 %); try another in the what-if view.", what_if=True),
        Element("scale", [1, 10], GIVEN, "Skalaen 1–10", "The 1–10 scale",
                "KOMBIT giver en score fra 1 til 10; hver del giver x mellem 0 og 1, og scoren er 1 + 9·x.",
                "KOMBIT gives a score from 1 to 10; each part gives x between 0 and 1, and the score is 1 + 9·x."),
        Element("qualification", ["active_agreements", "redundant_agreements", "user_access_control"], GIVEN,
                "Serviceaftalernes tre kvalifikationer", "The three qualifications of the agreements",
                "KOMBIT kvalificerer serviceaftalerne ved antal aktive aftaler, overflødige aftaler og "
                "Adgangsstyring for brugere og beder kommunerne om input til dem.",
                "KOMBIT qualifies the agreements by the number of active agreements, redundant agreements and "
                "Adgangsstyring for brugere, and asks the municipalities for their input on them."),
        Element("sub_weight_volume", sw_volume, CHOSEN, "Delvægt: volumen", "Sub-weight: volume",
                "Antallet af aftaler i brug vejer lige så meget som andelen i brug, fordi begge er KOMBITs "
                "kvalifikationer; en højere delvægt belønner store kommuner mere.",
                "The number of agreements in use weighs as much as the share in use, since both are KOMBIT's "
                "qualifications; a higher sub-weight rewards large municipalities more.", what_if=True),
        Element("sub_weight_in_use", sw_in_use, CHOSEN, "Delvægt: andel i brug", "Sub-weight: share in use",
                "En ubrugt aftale giver adgang til persondata uden grund; en højere delvægt straffer "
                "overflødige aftaler hårdere.",
                "An unused agreement grants access to personal data for no reason; a higher sub-weight "
                "punishes redundant agreements harder.", what_if=True),
        Element("sub_weight_access_control", sw_access, CHOSEN, "Delvægt: Adgangsstyring for brugere",
                "Sub-weight: Adgangsstyring for brugere",
                "Adgangsstyring er én ja/nej-oplysning og vejer derfor halvt så meget som de to tællinger; "
                "en højere delvægt gør oplysningen vigtigere.",
                "Adgangsstyring is one yes/no fact and so weighs half as much as the two counts; a higher "
                "sub-weight makes that fact count for more.", what_if=True),
        Element("active_ref", params.active_ref, CHOSEN, "Aftaler for fuld volumen", "Agreements for full volume",
                "Omtrent det antal aftaler i brug, som en stor kommune har; højere gør det sværere at få fuld "
                "volumen, lavere giver flere kommuner fuld volumen.",
                "About the number of agreements in use of a large municipality; higher makes full volume "
                "harder to reach, lower gives more municipalities full volume.", what_if=True),
        Element("cpc_lo", params.cpc_lo, CHOSEN, "Kald pr. borger, nedre grænse", "Calls per citizen, lower bound",
                "Under en halv kald pr. borger pr. 30 dage bruges platformen næsten ikke; en højere grænse "
                "giver flere kommuner x = 0.",
                "Below half a call per citizen per 30 days the platform is hardly used; a higher bound gives "
                "more municipalities x = 0.", what_if=True),
        Element("cpc_hi", params.cpc_hi, CHOSEN, "Kald pr. borger, øvre grænse", "Calls per citizen, upper bound",
                "Faste grænser betyder, at en score betyder det samme næste måned; en lavere øvre grænse giver "
                "flere kommuner x = 1.",
                "Fixed bounds mean a score means the same next month; a lower upper bound gives more "
                "municipalities x = 1.", what_if=True),
        Element("redundant_after_days", params.redundant_after_days, CHOSEN, "Overflødig efter (dage uden kald)",
                "Redundant after (days without calls)",
                "90 dage dækker et kvartal, så aftaler til kvartalskørsler ikke tæller som ubrugte; færre dage "
                "gør flere aftaler overflødige.",
                "90 days cover a quarter, so agreements used by quarterly runs do not count as unused; fewer "
                "days make more agreements redundant.", what_if=True),
        Element("window_days", params.window_days, CHOSEN, "Periode (dage)", "Window (days)",
                "30 dage udjævner ugedage og helligdage og følger en måned; en kortere periode reagerer "
                "hurtigere, men svinger mere.",
                "30 days smooth out weekdays and holidays and follow a month; a shorter window reacts faster "
                "but moves more.", what_if=True),
        Element("it_systems_share", "share", CHOSEN, "It-systemer med kald som andel",
                "IT systems with calls as a share",
                "\"It-systemer med kald\" læses som andelen af it-systemer med aktive aftaler, der har kaldt, "
                "så små og store kommuner kan sammenlignes; et antal ville belønne store kommuner.",
                "\"IT systems with calls\" is read as the share of IT systems with active agreements that "
                "called, so small and large municipalities compare; a count would reward large ones."),
        Element("unknown_access_control", 0, CHOSEN, "Ukendt Adgangsstyring", "Unknown Adgangsstyring",
                "Er det ikke oplyst, om kommunen har implementeret Adgangsstyring for brugere, tæller det som "
                "ikke implementeret (0), så ingen score ændres, før oplysningen er importeret.",
                "When it is not known whether the municipality has implemented Adgangsstyring for brugere, it "
                "counts as not implemented (0), so no score changes until the fact is imported."),
    ]


def method_document(version: str, params: Parameters, access_control_known: int) -> dict[str, Any]:
    """The document of GET /api/v1/method.

    `access_control_known` is the number of municipalities whose Adgangsstyring is known:
    with none, the document says the data is missing and how to import it.
    """
    missing = [] if access_control_known else [{
        "name": "user_access_control",
        "text": "No municipality has data on Adgangsstyring for brugere: it counts as not implemented (0) "
                "for all of them.",
        "how": "monitor import municipalities FILE, with a column user_access_control (true/false/ja/nej); "
               "see docs/formats.md",
    }]
    return {
        "version": version,
        "weights": dict(params.weights),
        "parameters": [{"name": e.name, "value": e.value, "origin": e.origin, "why": e.why_en, "why_da": e.why_da,
                        "what_if": e.what_if} for e in elements(params)],
        "missing_data": missing,
    }
