"""The method page and the accessibility statement: text pages built from the configuration."""

from __future__ import annotations

import datetime as dt
from typing import Any

from flask import render_template
from flask.typing import ResponseReturnValue
from sqlalchemy import select

from ...models import Municipality, RatingRun
from ...rating import inputs
from ...rating import queries as rating_queries
from ...rating.elements import Element, elements
from ...rating.method import VERSIONS, Parameters
from ...rating.service import planned_outages
from ..state import db_session, state
from .blueprint import bp
from .format import integer, locale_name, number

# The day of the last check of the pages against WCAG 2.1 AA that the statement rests on: axe-core
# on every page in both languages (tests/test_accessibility.py, which also runs in every CI run)
# and a person looking at every page at 390 px and with the keyboard. Change it when a person
# checks again (docs/pages.md).
ACCESSIBILITY_CHECKED = dt.date(2026, 11, 29)


@bp.get("/metode")
def method() -> ResponseReturnValue:
    """The rating formula, weights, bounds and version, in plain Danish."""
    rating = state().settings.rating
    newest = db_session().execute(
        select(RatingRun.as_of, RatingRun.method_version, RatingRun.computed_at)
        .order_by(RatingRun.as_of.desc(), RatingRun.revision.desc()).limit(1)).first()
    english = locale_name() == "en"
    versions = [{"version": v, "text": en if english else da} for v, da, en in VERSIONS]
    marks = [{"name": e.name, "origin": e.origin, "label": e.label_en if english else e.label_da,
              "value": shown_value(e, english), "why": e.why_en if english else e.why_da}
             for e in elements(Parameters.from_mapping(rating.parameters()))]
    return render_template("pages/method.html", r=rating, w=rating.weights, newest=newest,
                           price_half=rating.price_per_citizen / 2, versions=versions, marks=marks,
                           access_control_known=rating_queries.access_control_known(db_session()),
                           municipalities=municipality_choices(db_session()),
                           answers=inputs.published(db_session(), None),
                           outages=sorted(planned_outages(db_session(), state().settings), key=lambda o: o.start))


def municipality_choices(session: Any) -> list[tuple[str, str]]:
    """(code, name) of every municipality by name, for the input form's choice."""
    return [(c, n) for c, n in session.execute(select(Municipality.code, Municipality.name)
                                               .order_by(Municipality.name, Municipality.code))]


WORDS = {"service_agreements": ("serviceaftaler", "service agreements"),
         "calls_per_citizen": ("kald pr. borger", "calls per citizen"),
         "it_systems_with_calls": ("it-systemer med kald", "IT systems with calls"),
         "active_agreements": ("aktive aftaler", "active agreements"),
         "redundant_agreements": ("overflødige aftaler", "redundant agreements"),
         "user_access_control": ("Adgangsstyring for brugere", "Adgangsstyring for brugere"),
         "share": ("en andel", "a share")}
WHOLE = ("active_ref", "redundant_after_days", "window_days", "unknown_access_control")


def shown_value(e: Element, english: bool) -> str:
    """An element's value as the method page shows it."""
    value: Any = e.value
    if e.name == "scale":
        return "1–10"
    if isinstance(value, list):
        return ", ".join(WORDS.get(v, (v, v))[int(english)] for v in value)
    if isinstance(value, str):
        return WORDS.get(value, (value, value))[int(english)]
    return integer(value) if e.name in WHOLE else number(value, 2)


@bp.get("/tilgaengelighed")
def accessibility() -> ResponseReturnValue:
    """The accessibility statement (tilgængelighedserklæring) required of Danish public-sector sites."""
    return render_template("pages/accessibility.html", checked=ACCESSIBILITY_CHECKED,
                           contact=state().settings.web.accessibility_contact)
